#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `ossa complete` as a user runs it: the real binary, the tiny gpt-oss GGUF, greedy
//! sampling, and the files a misconfigured setup really has (a missing model, a file
//! that is not a GGUF).

use std::path::Path;
use std::process::{Command, Output};

use super::text;

const OSSA: &str = env!("CARGO_BIN_EXE_ossa");

const CONVERSATION: &str = r#"{"messages":[
  {"role":"system","content":[{"type":"system_content","model_identity":"You are a test.","reasoning_effort":"Low","channel_config":{"valid_channels":["analysis","commentary","final"],"channel_required":true}}]},
  {"role":"user","content":"Say hello."}
]}"#;

fn complete(dir: &Path, args: &[&str]) -> Output {
    let conversation = dir.join("conversation.json");
    std::fs::write(&conversation, CONVERSATION).unwrap();
    Command::new(OSSA)
        .arg("complete")
        .arg(&conversation)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn complete_generates_one_turn_from_a_gguf_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let model = ossa_tiny_gguf::ensure(&ossa_tiny_gguf::Spec::tiny(), dir.path()).unwrap();
    let args = [
        "--model",
        model.to_str().unwrap(),
        "--json",
        "--temperature",
        "0",
        "--max-tokens",
        "24",
        "--threads",
        "1",
        "--ctx-size",
        "4096",
    ];
    let out = complete(dir.path(), &args);
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|err| panic!("stdout is not one JSON object ({err}):\n{stderr}"));

    let tokens = report["tokens"].as_array().unwrap();
    assert!(!tokens.is_empty() && tokens.len() <= 24, "{report}");
    assert!(report["prompt_tokens"].as_u64().unwrap() > 0);
    assert_eq!(report["prompt_reused"], 0, "a fresh process reuses nothing");
    assert!(report["completion"].is_string());
    assert!(report["messages"].is_array() && report["parse_errors"].is_array());
    // Random weights rarely stop by themselves; whatever the reason, it is one of the
    // documented ones.
    let stop = report["stop"].as_str().unwrap();
    assert!(
        ["return", "call", "end_of_text", "length"].contains(&stop),
        "{stop}"
    );
    // Greedy decoding of the same prompt on the same model is deterministic.
    let again: serde_json::Value =
        serde_json::from_slice(&complete(dir.path(), &args).stdout).unwrap();
    assert_eq!(again["tokens"], report["tokens"]);
}

#[test]
fn complete_names_the_problem_with_a_bad_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.gguf");
    let out = complete(dir.path(), &["--model", missing.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("missing.gguf"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let not_gguf = dir.path().join("notes.gguf");
    std::fs::write(&not_gguf, "these are not model weights").unwrap();
    let out = complete(dir.path(), &["--model", not_gguf.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("GGUF"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
