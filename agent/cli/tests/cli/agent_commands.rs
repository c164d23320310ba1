#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `ossa run`, `ossa replay` and `ossa chat` as a user runs them: the real binary, the
//! real wasm tools on a temporary copy of a fixture workspace, and a hand-written
//! cassette instead of a model.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ossa_tests::{copy_dir, fixtures};

use super::text;

const OSSA: &str = env!("CARGO_BIN_EXE_ossa");

/// A temporary home (data directory) and a copy of the `calc` workspace.
struct Scene {
    dir: tempfile::TempDir,
}

impl Scene {
    fn new() -> Scene {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(
            &fixtures().join("workspaces/calc"),
            &dir.path().join("work"),
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        Scene { dir }
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `ossa run` of [`TASK`] on the fix_add cassette in this workspace, with `extra` flags.
    fn run_fix_add(&self, extra: &[&str]) -> Output {
        let cassette = cassette("fix_add.jsonl");
        let work = self.work();
        let mut args = vec![
            "run",
            "--replay",
            &cassette,
            "--toolset",
            "functions",
            "--workspace",
            work.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.push(TASK);
        self.ossa(&args)
    }

    fn ossa(&self, args: &[&str]) -> Output {
        // Data (sessions, history) per test; the compiled-tool cache shared by all tests.
        Command::new(OSSA)
            .args(args)
            .env_remove("OSSA_HOME")
            .env("XDG_DATA_HOME", self.path("home"))
            .env(
                "XDG_CACHE_HOME",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("ossa-cache"),
            )
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

fn cassette(name: &str) -> String {
    fixtures()
        .join("cassettes")
        .join(name)
        .display()
        .to_string()
}

const TASK: &str = "The test `adds` in this crate fails. Find the bug and fix it.";

#[test]
fn run_fixes_the_bug_and_replay_check_passes() {
    let scene = Scene::new();
    let transcript = scene.path("session.jsonl");
    let work = scene.work();
    let out = scene.run_fix_add(&["--transcript", transcript.to_str().unwrap()]);
    assert!(out.status.success(), "stderr:\n{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("Fixed `add` in src/lib.rs"),
        "stdout: {}",
        text(&out.stdout)
    );
    let stderr = text(&out.stderr);
    for expected in ["→ grep", "→ read_file", "→ apply_patch", "✓ apply_patch"] {
        assert!(
            stderr.contains(expected),
            "progress lacks {expected:?}:\n{stderr}"
        );
    }
    let fixed = std::fs::read_to_string(work.join("src/lib.rs")).unwrap();
    assert!(
        fixed.contains("    a + b\n") && !fixed.contains("a - b"),
        "{fixed}"
    );

    // The recording replays with the tools' recorded results, prompts identical...
    let out = scene.ossa(&[
        "replay",
        transcript.to_str().unwrap(),
        "--tools",
        "recorded",
        "--check",
    ]);
    assert!(out.status.success(), "stderr:\n{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("replay --check passed: 4 prompts match"),
        "{}",
        text(&out.stderr)
    );

    // ...and with the tools run again on a fresh copy of the workspace.
    let fresh = scene.path("fresh");
    copy_dir(&fixtures().join("workspaces/calc"), &fresh).unwrap();
    let out = scene.ossa(&[
        "replay",
        transcript.to_str().unwrap(),
        "--workspace",
        fresh.to_str().unwrap(),
        "--check",
    ]);
    assert!(out.status.success(), "stderr:\n{}", text(&out.stderr));
    assert!(
        std::fs::read_to_string(fresh.join("src/lib.rs"))
            .unwrap()
            .contains("a + b")
    );
}

#[test]
fn replay_check_reports_the_first_divergence() {
    let scene = Scene::new();
    let transcript = scene.path("session.jsonl");
    let out = scene.run_fix_add(&["--transcript", transcript.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Change what read_file returned: the next prompt can no longer match.
    let recorded = std::fs::read_to_string(&transcript).unwrap();
    let tampered = recorded.replace("Multiplies two numbers.", "Divides two numbers.");
    assert_ne!(recorded, tampered);
    std::fs::write(&transcript, tampered).unwrap();
    let out = scene.ossa(&[
        "replay",
        transcript.to_str().unwrap(),
        "--tools",
        "recorded",
        "--check",
    ]);
    assert_eq!(out.status.code(), Some(5), "stderr:\n{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("differs from the recording at token"),
        "{stderr}"
    );
    assert!(
        stderr.contains("recorded:") && stderr.contains("Multiplies"),
        "{stderr}"
    );
    assert!(
        stderr.contains("rendered:") && stderr.contains("Divides"),
        "{stderr}"
    );
}

#[test]
fn json_stream_has_thread_turn_and_item_events() {
    let scene = Scene::new();
    let out = scene.run_fix_add(&["--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"thread.started"));
    assert_eq!(types.get(1), Some(&"turn.started"));
    assert_eq!(types.last(), Some(&"turn.completed"));
    let calls: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "item.completed" && e["item"]["type"] == "tool_call")
        .map(|e| e["item"]["tool"].as_str().unwrap())
        .collect();
    assert_eq!(calls, ["grep", "read_file", "apply_patch"]);
    let answer = events
        .iter()
        .find(|e| e["item"]["type"] == "agent_message" && e["item"]["channel"] == "final");
    assert!(answer.is_some_and(|e| e["item"]["text"].as_str().unwrap().starts_with("Fixed")));
    // The default transcript went to the data directory's sessions/.
    let sessions: Vec<_> = std::fs::read_dir(scene.path("home/ossa/sessions"))
        .unwrap()
        .collect();
    assert_eq!(sessions.len(), 1);
}

#[test]
fn exit_codes_tell_limits_from_model_failures() {
    let scene = Scene::new();
    let work = scene.work();
    let out = scene.run_fix_add(&["--max-steps", "2"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "step limit: {}",
        text(&out.stderr)
    );
    assert!(
        out.stdout.is_empty(),
        "no answer on stdout without a final message"
    );

    let scene2 = Scene::new();
    let short = scene2.path("short.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(cassette("fix_add.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.contains("final"))
        .map(str::to_string)
        .collect();
    std::fs::write(&short, lines.join("\n")).unwrap();
    let work2 = scene2.work();
    let out = scene2.ossa(&[
        "run",
        "--replay",
        short.to_str().unwrap(),
        "--toolset",
        "functions",
        "--workspace",
        work2.to_str().unwrap(),
        TASK,
    ]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "exhausted cassette: {}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("no completion left"),
        "{}",
        text(&out.stderr)
    );

    let out = scene.ossa(&["run", "--workspace", work.to_str().unwrap(), TASK]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "no model source is a usage error"
    );
    let out = scene.ossa(&["run", "--replay", "/nonexistent.jsonl", TASK]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("/nonexistent.jsonl"),
        "{}",
        text(&out.stderr)
    );
    let out = scene.ossa(&["run", "--help"]);
    assert!(text(&out.stdout).contains("Exit codes:"));
}

#[test]
fn run_against_a_tiny_random_model_ends_cleanly() {
    // The tiny gpt-oss GGUF has random weights: it writes random tokens, so the run must
    // end on its own, with a complete transcript and no panic: at a limit (3), on a model
    // failure (4), or with random text outside any harmony message taken as the answer
    // (0, with the recovery noted), as the parser keeps every word the model wrote.
    let scene = Scene::new();
    let model = ossa_tiny_gguf::ensure(&ossa_tiny_gguf::Spec::tiny(), scene.dir.path()).unwrap();
    let transcript = scene.path("tiny.jsonl");
    let work = scene.work();
    let out = scene.ossa(&[
        "run",
        "--model",
        model.to_str().unwrap(),
        "--workspace",
        work.to_str().unwrap(),
        "--threads",
        "1",
        "--ctx-size",
        "8192",
        "--seed",
        "7",
        "--max-tokens",
        "64",
        "--max-steps",
        "3",
        "--transcript",
        transcript.to_str().unwrap(),
        TASK,
    ]);
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let recorded = ossa_agent::Transcript::read(&transcript).unwrap();
    assert!(!recorded.truncated_tail);
    let header = recorded.header.as_ref().unwrap();
    assert_eq!(header.model.backend, "llama_cpp");
    assert!(recorded.completions().count() >= 1);
    assert!(
        recorded
            .completions()
            .all(|c| !c.tokens.is_empty() && c.prompt.is_some())
    );
    let last = recorded.events.last().unwrap();
    let Some(ossa_agent::Event::TurnCompleted(done)) = recorded.events.last() else {
        panic!("the transcript ends with {last:?}");
    };
    match out.status.code() {
        Some(0) => {
            assert!(done.outcome.is_success(), "{last:?}");
            assert!(!out.stdout.is_empty(), "the answer is printed");
            assert!(
                stderr.contains("recovered from malformed output"),
                "random text is an answer only through the noted recovery:\n{stderr}"
            );
        }
        Some(3 | 4) => {
            assert!(!done.outcome.is_success(), "{last:?}");
            assert!(out.stdout.is_empty(), "no final answer, nothing on stdout");
        }
        other => panic!("expected 0, 3 or 4, got {other:?}:\n{stderr}"),
    }
    // Its tokens are ids of the tiny model's own vocabulary, not o200k_harmony's: replay
    // reads the recorded model's vocabulary, so every prompt matches token for token.
    let replay = scene.ossa(&[
        "replay",
        transcript.to_str().unwrap(),
        "--tools",
        "recorded",
        "--check",
    ]);
    assert_eq!(
        replay.status.code(),
        out.status.code(),
        "{}",
        text(&replay.stderr)
    );
}

#[test]
fn chat_resumes_a_recorded_session() {
    let scene = Scene::new();
    let transcript = scene.path("session.jsonl");
    let work = scene.work();
    let out = scene.run_fix_add(&["--transcript", transcript.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let follow_up = scene.path("follow_up.jsonl");
    std::fs::write(
        &follow_up,
        r#"{"type":"completion","text":"<|channel|>final<|message|>I changed `a - b` to `a + b` in src/lib.rs.<|return|>"}"#,
    )
    .unwrap();
    let mut child = Command::new(OSSA)
        .args(["chat", "--resume", transcript.to_str().unwrap(), "--replay"])
        .arg(&follow_up)
        .arg("--workspace")
        .arg(&work)
        .env_remove("OSSA_HOME")
        .env("XDG_DATA_HOME", scene.path("home"))
        .env(
            "XDG_CACHE_HOME",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("ossa-cache"),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "What did you change?\n/exit").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("resumed session"), "{stdout}");
    assert!(stdout.contains("I changed `a - b` to `a + b`"), "{stdout}");

    // One file, one header, both turns; the resumed prompt carries the first turn.
    let recorded = ossa_agent::Transcript::read(&transcript).unwrap();
    assert_eq!(
        recorded.user_messages().collect::<Vec<_>>(),
        [TASK, "What did you change?"]
    );
    let tokenizer = ossa_agent::harmony_tokenizer();
    let mut prompt = Vec::new();
    for completion in recorded.completions() {
        prompt = completion
            .prompt
            .as_ref()
            .unwrap()
            .rebuild(&prompt)
            .unwrap();
    }
    let last_prompt = ossa_agent::literal_text(tokenizer.as_ref(), &prompt);
    assert!(
        last_prompt.contains(TASK),
        "the first turn is in the resumed prompt"
    );
    assert!(last_prompt.contains("to=functions.apply_patch"));
    assert!(
        last_prompt.ends_with("What did you change?<|end|><|start|>assistant"),
        "{last_prompt}"
    );
}

/// The README's demo (examples/fix-bug): the native dialect with `cargo test` run through
/// container.exec, confined to the copy; then the transcript replays with --check.
#[test]
fn the_bundled_example_fixes_the_bug_and_runs_the_tests() {
    let scene = Scene::new();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/fix-bug");
    let work = scene.path("example");
    copy_dir(&example.join("workspace"), &work).unwrap();
    let transcript = scene.path("example.jsonl");
    let out = scene.ossa(&[
        "run",
        "--replay",
        example.join("cassette.jsonl").to_str().unwrap(),
        "--allow-exec",
        "--workspace",
        work.to_str().unwrap(),
        "--transcript",
        transcript.to_str().unwrap(),
        TASK,
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "stderr:\n{stderr}");
    let fixed = std::fs::read_to_string(work.join("src/lib.rs")).unwrap();
    assert!(fixed.contains("    a + b\n"), "{fixed}");
    for tool in ["→ exec", "→ search", "→ open_file", "→ apply_patch"] {
        assert!(stderr.contains(tool), "progress lacks {tool:?}:\n{stderr}");
    }
    match ossa_sandbox::exec_support() {
        Ok(_) => {
            assert!(stderr.contains("container.exec runs commands"), "{stderr}");
            let recorded = ossa_agent::Transcript::read(&transcript).unwrap();
            let runs: Vec<&str> = recorded
                .tool_results()
                .filter(|result| result.name == "exec")
                .map(|result| result.output.as_str())
                .collect();
            assert_eq!(runs.len(), 2);
            assert!(
                runs[0].contains("adds") && runs[0].contains("FAILED"),
                "{}",
                runs[0]
            );
            assert!(runs[1].contains("test result: ok"), "{}", runs[1]);
        }
        Err(why) => {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "\n*** the bundled example: cargo test NOT RUN: {why} ***\n"
            );
            assert!(stderr.contains("container.exec is off"), "{stderr}");
        }
    }
    let out = scene.ossa(&[
        "replay",
        transcript.to_str().unwrap(),
        "--tools",
        "recorded",
        "--check",
    ]);
    assert!(out.status.success(), "stderr:\n{}", text(&out.stderr));
}
