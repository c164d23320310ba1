//! Real gpt-oss-20b calls of its `repo_browser` tools, recorded by another harness on
//! django and saved in `../shared/peers/harmonyagent-calls.jsonl` (outside the
//! repository; set `OSSA_SHARED_DIR` to its `shared` folder if it lives elsewhere).
//! Each one must be accepted by the built-in tool of that name: its arguments, after
//! alias renaming as the agent does it, fit the tool's schema, and the component takes
//! them. The fixture workspace holds the paths the calls name, so the reading tools
//! also succeed; the two patches fail on their context, as they are django's.

use std::fs;
use std::path::{Path, PathBuf};

use ossa_sandbox::{FailureKind, ToolInfo};
use serde_json::{Map, Value};

use crate::support::builtin;

fn calls_file() -> PathBuf {
    let shared = std::env::var_os("OSSA_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    shared.join("peers/harmonyagent-calls.jsonl")
}

/// One recorded call: the tool's name in `repo_browser` and its arguments.
struct Call {
    tool: String,
    arguments: Map<String, Value>,
}

fn recorded_calls(text: &str) -> (Vec<Call>, usize) {
    let mut calls = Vec::new();
    let mut other = 0;
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let record: Value = serde_json::from_str(line).unwrap();
        let recipient = record["recipient"].as_str().unwrap();
        let Some(tool) = recipient.strip_prefix("repo_browser.") else {
            other += 1;
            continue;
        };
        let arguments = record["arguments"].as_str().unwrap().trim();
        let Value::Object(arguments) = serde_json::from_str(arguments).unwrap() else {
            panic!("{recipient}: the arguments are not an object: {arguments}");
        };
        calls.push(Call {
            tool: tool.to_owned(),
            arguments,
        });
    }
    (calls, other)
}

/// What the agent does before validating: each alias key becomes its canonical name
/// unless that name is already there.
fn rename_aliases(arguments: &mut Map<String, Value>, info: &ToolInfo) {
    for (alias, canonical) in &info.aliases {
        if !arguments.contains_key(canonical)
            && let Some(value) = arguments.remove(alias)
        {
            arguments.insert(canonical.clone(), value);
        }
    }
}

/// The ways `arguments` break `schema` (a flat object schema, as the built-ins have).
fn schema_problems(arguments: &Map<String, Value>, schema: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let properties = schema["properties"].as_object().unwrap();
    for required in schema["required"].as_array().into_iter().flatten() {
        let name = required.as_str().unwrap();
        if !arguments.contains_key(name) {
            problems.push(format!("missing `{name}`"));
        }
    }
    for (name, value) in arguments {
        let Some(property) = properties.get(name) else {
            problems.push(format!("unknown `{name}`"));
            continue;
        };
        let fits = match property["type"].as_str() {
            Some("string") => value.is_string(),
            Some("integer") => value.is_u64() || value.is_i64(),
            Some("boolean") => value.is_boolean(),
            _ => true,
        };
        if !fits {
            problems.push(format!("`{name}` = {value} is not a {}", property["type"]));
        }
    }
    problems
}

/// A workspace with every path the calls name: the files opened, and the directories
/// (or files, when they have an extension) searched or drawn.
fn fixture(calls: &[Call]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let last_line = calls
        .iter()
        .flat_map(|call| ["line_start", "line_end"].map(|key| call.arguments.get(key)))
        .filter_map(|value| value.and_then(Value::as_u64))
        .max()
        .unwrap_or(0);
    let text: String = (1..=last_line + 10)
        .map(|n| format!("# line {n}: ordering group_by ManyToManyRel\n"))
        .collect();
    for call in calls {
        let Some(path) = call.arguments.get("path").and_then(Value::as_str) else {
            continue;
        };
        let target = dir.path().join(path);
        let is_file = call.tool == "open_file" || Path::new(path).extension().is_some();
        if is_file {
            fs::create_dir_all(target.parent().unwrap()).unwrap();
            fs::write(&target, &text).unwrap();
        } else {
            fs::create_dir_all(&target).unwrap();
        }
    }
    dir
}

#[tokio::test]
async fn every_recorded_repo_browser_call_is_accepted() {
    let path = calls_file();
    let Ok(text) = fs::read_to_string(&path) else {
        eprintln!(
            "SKIPPED every_recorded_repo_browser_call_is_accepted: {} is absent (set OSSA_SHARED_DIR)",
            path.display()
        );
        return;
    };
    let (calls, other) = recorded_calls(&text);
    assert!(calls.len() >= 30, "only {} repo_browser calls", calls.len());
    let workspace = fixture(&calls);
    let mut problems = Vec::new();
    for (index, call) in calls.iter().enumerate() {
        let tool = builtin(&call.tool).await;
        let mut arguments = call.arguments.clone();
        rename_aliases(&mut arguments, tool.info());
        for problem in schema_problems(&arguments, &tool.info().parameters) {
            problems.push(format!("call {index} ({}): {problem}", call.tool));
        }
        let args = Value::Object(arguments).to_string();
        match tool.call(&args, workspace.path()).await {
            Ok(_) => {}
            Err(failure) if call.tool == "apply_patch" && failure.kind == FailureKind::Failed => {}
            Err(failure) => problems.push(format!(
                "call {index} ({} {args}) failed: {failure:?}",
                call.tool
            )),
        }
    }
    eprintln!(
        "replayed {} repo_browser calls ({} calls to other tools left out)",
        calls.len(),
        other
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
