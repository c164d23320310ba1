//! Golden scenarios of the built-in apply_patch, run through the sandbox: each folder
//! of `tools/builtin/apply_patch/scenarios/` holds `input/` (the workspace before),
//! `patch.txt` (the `input` argument), `expected/` (the workspace after) and, for a
//! patch that must fail, `error.txt` (lines the failure message must contain; the
//! workspace must then be unchanged, so `expected/` equals `input/`).

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::support::{builtin, snapshot};

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/builtin/apply_patch/scenarios")
}

/// Copies a scenario tree, leaving out the `.keep` files that keep empty folders in git.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    let Ok(entries) = fs::read_dir(from) else {
        return;
    };
    for entry in entries {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else if entry.file_name() != ".keep" {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The scenario's expected tree, as a snapshot (directories left implicit).
fn files_of(dir: &Path) -> Vec<(PathBuf, String)> {
    let scratch = tempfile::tempdir().unwrap();
    copy_tree(dir, scratch.path());
    snapshot(scratch.path())
        .into_iter()
        .filter(|(_, value)| value != "dir")
        .collect()
}

#[tokio::test]
async fn golden_scenarios() {
    let tool = builtin("apply_patch").await;
    let mut names: Vec<PathBuf> = fs::read_dir(scenarios_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    assert!(names.len() >= 25, "scenarios are missing: {names:?}");
    let mut failures = Vec::new();
    for scenario in names {
        let name = scenario.file_name().unwrap().to_string_lossy().into_owned();
        let workspace = tempfile::tempdir().unwrap();
        copy_tree(&scenario.join("input"), workspace.path());
        let patch = fs::read_to_string(scenario.join("patch.txt")).unwrap();
        let result = tool
            .call(&json!({ "input": patch }).to_string(), workspace.path())
            .await;
        match (fs::read_to_string(scenario.join("error.txt")), result) {
            (Ok(expected), Err(failure)) => {
                for line in expected.lines().filter(|line| !line.is_empty()) {
                    if !failure.message.contains(line) {
                        failures.push(format!(
                            "{name}: message lacks {line:?}:\n{}",
                            failure.message
                        ));
                    }
                }
            }
            (Ok(_), Ok(output)) => {
                failures.push(format!("{name}: expected a failure, got {:?}", output.text))
            }
            (Err(_), Err(failure)) => failures.push(format!("{name}: failed: {}", failure.message)),
            (Err(_), Ok(_)) => {}
        }
        let actual: Vec<(PathBuf, String)> = snapshot(workspace.path())
            .into_iter()
            .filter(|(_, value)| value != "dir")
            .collect();
        let expected = files_of(&scenario.join("expected"));
        if actual != expected {
            failures.push(format!(
                "{name}: workspace differs\n  expected {expected:?}\n  actual   {actual:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// openai/codex's own apply_patch scenarios (`../shared/peers/codex-apply-patch`, when
/// present): gpt-oss was trained with codex's tool, so ossa's must leave the same files.
/// One deliberate difference: codex keeps the files a failing patch already changed,
/// ossa changes nothing (all or nothing).
#[tokio::test]
async fn codex_scenarios_leave_the_same_files() {
    let peers = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/peers/codex-apply-patch");
    let Ok(entries) = fs::read_dir(&peers) else {
        eprintln!(
            "\n*** SKIPPED codex_scenarios_leave_the_same_files: {} is absent ***\n",
            peers.display()
        );
        return;
    };
    let atomic_instead = ["015_failure_after_partial_success_leaves_changes"];
    let tool = builtin("apply_patch").await;
    let mut scenarios: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    scenarios.sort();
    assert!(scenarios.len() >= 20, "{scenarios:?}");
    let mut failures = Vec::new();
    for scenario in scenarios {
        let name = scenario.file_name().unwrap().to_string_lossy().into_owned();
        let workspace = tempfile::tempdir().unwrap();
        copy_tree(&scenario.join("input"), workspace.path());
        let patch = fs::read_to_string(scenario.join("patch.txt")).unwrap();
        let result = tool
            .call(&json!({ "patch": patch }).to_string(), workspace.path())
            .await;
        let expected = match atomic_instead.contains(&name.as_str()) {
            true => files_of(&scenario.join("input")),
            false => files_of(&scenario.join("expected")),
        };
        let actual: Vec<(PathBuf, String)> = snapshot(workspace.path())
            .into_iter()
            .filter(|(_, value)| value != "dir")
            .collect();
        if actual != expected {
            failures.push(format!(
                "{name}: workspace differs ({result:?})\n  expected {expected:?}\n  actual   {actual:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
