#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Coding tasks solved end to end from cassettes, with the real sandboxed tools on a
//! temporary copy of a fixture workspace; then the recorded transcript is replayed with
//! `--check`-style prompt comparison.

use ossa_agent::event::NoticeKind;
use std::sync::Arc;

use ossa_agent::event::ToolFailureKind;
use ossa_agent::{
    AgentSettings, Event, Outcome, RecordedTools, ReplayBackend, ReplayReport, Transcript,
};
use ossa_tests::{CassetteRun, copy_dir, fixtures};

#[tokio::test(flavor = "multi_thread")]
async fn fixes_a_failing_function_with_grep_read_file_and_apply_patch() {
    let run = CassetteRun::functions("fix_add", "calc").await.unwrap();
    assert_eq!(run.outcome(), Some(Outcome::Final));
    assert!(
        run.answer()
            .unwrap()
            .starts_with("Fixed `add` in src/lib.rs")
    );
    assert_eq!(run.tool_calls(), ["grep", "read_file", "apply_patch"]);
    assert!(run.tool_errors().is_empty(), "{:?}", run.tool_errors());
    let lib = run.file("src/lib.rs");
    assert!(
        lib.contains("pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}"),
        "{lib}"
    );
    assert!(lib.contains("a * b"), "the rest of the file is untouched");
    // grep found the function; read_file showed it to the model.
    let results = run.tool_results();
    assert!(
        results[0].output.contains("src/lib.rs"),
        "{}",
        results[0].output
    );
    assert!(results[1].output.contains("a - b"), "{}", results[1].output);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_patch_is_reported_and_the_model_recovers() {
    let run = CassetteRun::functions("patch_retry", "calc").await.unwrap();
    assert_eq!(run.outcome(), Some(Outcome::Final));
    assert_eq!(
        run.tool_calls(),
        ["apply_patch", "read_file", "apply_patch"]
    );
    let errors = run.tool_errors();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].output.starts_with("Error: "),
        "{}",
        errors[0].output
    );
    assert!(run.file("src/lib.rs").contains("    a + b\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn creates_a_file_after_listing_the_workspace() {
    let run = CassetteRun::functions("add_changelog", "calc")
        .await
        .unwrap();
    assert_eq!(run.outcome(), Some(Outcome::Final));
    assert_eq!(run.tool_calls(), ["list_dir", "write_file"]);
    assert!(
        run.tool_results()[0].output.contains("src"),
        "{}",
        run.tool_results()[0].output
    );
    assert!(run.file("CHANGELOG.md").starts_with("# Changelog\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_recovery_path_with_the_real_tools() {
    let run = CassetteRun::functions("recoveries", "calc").await.unwrap();
    assert_eq!(
        run.outcome(),
        Some(Outcome::Final),
        "the run still ends with a final answer"
    );
    let errors = run.tool_errors();
    let kinds: Vec<_> = errors.iter().map(|e| e.kind.unwrap()).collect();
    assert_eq!(
        kinds,
        [
            ToolFailureKind::UnknownTool,
            ToolFailureKind::InvalidArguments,
            ToolFailureKind::InvalidArguments
        ]
    );
    assert!(
        errors[0].output.contains("functions.read_file"),
        "names the tools: {}",
        errors[0].output
    );
    assert!(errors[1].output.contains("not valid JSON"));
    assert!(errors[2].output.contains("\"path\" is a required property"));
    assert!(
        errors[2].output.contains("\"path\""),
        "quotes the schema: {}",
        errors[2].output
    );
    let notices: Vec<NoticeKind> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Notice(n) => Some(n.kind),
            _ => None,
        })
        .collect();
    assert_eq!(
        notices,
        [
            NoticeKind::UnknownTool,
            NoticeKind::InvalidArguments,
            NoticeKind::InvalidArguments,
            NoticeKind::NoAction,
            NoticeKind::RepeatedCall,
        ]
    );
    // The call made on the analysis channel is recorded with its channel.
    let tool_channels: Vec<_> = ossa_agent::Transcript::read(&run.transcript)
        .unwrap()
        .events
        .iter()
        .filter_map(|e| match e {
            Event::ToolCall(c) => c.channel.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(tool_channels[3], "analysis");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recorded_transcript_replays_token_for_token() {
    let run = CassetteRun::functions("fix_add", "calc").await.unwrap();
    let recorded = Transcript::read(&run.transcript).unwrap();
    assert!(recorded.header.is_some());
    assert_eq!(recorded.completions().count(), 4);
    assert!(
        recorded
            .completions()
            .all(|c| c.prompt.is_some() && !c.tokens.is_empty())
    );

    // Tools replayed from the recording.
    let (replay, report) = replay_with_recorded_tools(&recorded).await;
    assert_eq!(replay.outcome(), Some(Outcome::Final));
    assert_eq!(report.divergence, None);
    assert_eq!(
        (report.prompts_checked, report.used, report.total),
        (4, 4, 4)
    );

    // Tools run again on a fresh copy of the workspace.
    let (replay, report, fresh) = replay_on_fresh_calc(&recorded).await;
    assert_eq!(replay.outcome(), Some(Outcome::Final));
    assert_eq!(report.divergence, None);
    assert!(
        std::fs::read_to_string(fresh.path().join("src/lib.rs"))
            .unwrap()
            .contains("a + b")
    );
}

/// Replays `recorded`, checking every prompt, with the tool results from the recording.
async fn replay_with_recorded_tools(recorded: &Transcript) -> (CassetteRun, ReplayReport) {
    let tools = Box::new(RecordedTools::from_transcript(recorded).unwrap());
    let dir = tempfile::tempdir().unwrap();
    replay_checked(recorded, tools, dir.path()).await
}

/// Replays `recorded`, checking every prompt, with the tools run again on a fresh copy of
/// the calc workspace (returned, for checking its files).
async fn replay_on_fresh_calc(
    recorded: &Transcript,
) -> (CassetteRun, ReplayReport, tempfile::TempDir) {
    let fresh = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("workspaces/calc"), fresh.path()).unwrap();
    let toolset = recorded.header.as_ref().unwrap().toolset;
    let tools = Box::new(
        ossa_wiring::SandboxTools::open(fresh.path(), toolset, &Default::default())
            .await
            .unwrap(),
    );
    let (run, report) = replay_checked(recorded, tools, fresh.path()).await;
    (run, report, fresh)
}

async fn replay_checked(
    recorded: &Transcript,
    tools: Box<dyn ossa_agent::ToolExecutor>,
    workspace: &std::path::Path,
) -> (CassetteRun, ReplayReport) {
    let tokenizer = ossa_agent::harmony_tokenizer();
    let backend = Arc::new(ReplayBackend::new(recorded, tokenizer, true).unwrap());
    let report = backend.report();
    let dir = tempfile::tempdir().unwrap();
    let run = CassetteRun::run(
        dir,
        workspace.to_path_buf(),
        recorded,
        backend,
        tools,
        AgentSettings::default(),
    )
    .await
    .unwrap();
    let report = report.lock().unwrap().clone();
    (run, report)
}

/// A transcript recorded by an earlier ossa: today's loop, renderer and tokenizer must
/// still produce its prompts token for token, and today's tools its results.
#[tokio::test(flavor = "multi_thread")]
async fn the_checked_in_transcript_still_replays_token_for_token() {
    let recorded = Transcript::read(&fixtures().join("transcripts/fix_add.jsonl")).unwrap();
    let header = recorded.header.as_ref().unwrap();
    assert_eq!(header.version, ossa_agent::event::TRANSCRIPT_VERSION);

    let (replay, report) = replay_with_recorded_tools(&recorded).await;
    assert_eq!(replay.outcome(), Some(Outcome::Final));
    assert_eq!(report.divergence, None);

    let (replay, report, _fresh) = replay_on_fresh_calc(&recorded).await;
    assert_eq!(
        replay.outcome(),
        Some(Outcome::Final),
        "{:?}\n{:#?}",
        report.divergence.as_ref().map(|d| d.to_string()),
        replay.tool_results()
    );
    assert_eq!(
        report.divergence,
        None,
        "{}",
        report
            .divergence
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_default()
    );
    assert_eq!(report.prompts_checked, 4);
}

/// Whether commands can run confined here; prints why not (the test then checks less).
fn commands_run_here(test: &str) -> bool {
    match ossa_sandbox::exec_support() {
        Ok(_) => true,
        Err(why) => {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "\n*** {test}: container.exec NOT CHECKED: {why} ***\n"
            );
            false
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn native_dialect_search_open_and_patch_without_commands() {
    let run = CassetteRun::new("native_fix_add", "calc").await.unwrap();
    assert_eq!(run.outcome(), Some(Outcome::Final));
    assert_eq!(run.tool_calls(), ["search", "open_file", "apply_patch"]);
    assert!(run.tool_errors().is_empty(), "{:?}", run.tool_errors());
    let results = run.tool_results();
    assert!(
        results[0].output.contains("src/lib.rs:4:pub fn add"),
        "{}",
        results[0].output
    );
    // `file_path`, `start_line` and `end_line` are the model's own names for the range.
    assert!(results[1].output.contains("a - b"), "{}", results[1].output);
    assert!(!results[1].output.contains("mod tests"), "only lines 1-12");
    assert!(run.file("src/lib.rs").contains("    a + b\n"));
    // Replies come back as the model expects them: from the tool, on the call's channel.
    let transcript = Transcript::read(&run.transcript).unwrap();
    let header = transcript.header.as_ref().unwrap();
    assert_eq!(header.toolset, ossa_agent::event::Toolset::Native);
}

#[tokio::test(flavor = "multi_thread")]
async fn native_dialect_runs_the_tests_sees_them_fail_fixes_again_and_passes() {
    let test = "native_dialect_runs_the_tests_sees_them_fail_fixes_again_and_passes";
    let run = CassetteRun::new("native_fix_twice", "temps").await.unwrap();
    assert_eq!(run.outcome(), Some(Outcome::Final));
    assert_eq!(
        run.tool_calls(),
        [
            "exec",
            "open_file",
            "apply_patch",
            "exec",
            "apply_patch",
            "exec"
        ]
    );
    let lib = run.file("src/lib.rs");
    assert!(lib.contains("c * 9.0 / 5.0 + 32.0"), "{lib}");
    assert!(lib.contains("(f - 32.0) * 5.0 / 9.0"), "{lib}");
    let results = run.tool_results();
    if !commands_run_here(test) {
        assert_eq!(results[0].kind, Some(ToolFailureKind::NotGranted));
        return;
    }
    let runs: Vec<&str> = [0, 3, 5]
        .iter()
        .map(|&i| results[i].output.as_str())
        .collect();
    assert!(
        runs[0].contains("2 failed") || runs[0].contains("FAILED"),
        "both tests fail at first:\n{}",
        runs[0]
    );
    assert!(
        runs[1].contains("water_boils_at_100_c") && runs[1].contains("1 failed"),
        "one bug left after the first patch:\n{}",
        runs[1]
    );
    assert!(
        runs[2].contains("test result: ok. 2 passed"),
        "passing after the second patch:\n{}",
        runs[2]
    );
}

fn tmpdir() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
}

#[tokio::test(flavor = "multi_thread")]
async fn python_keeps_its_state_between_calls_on_the_analysis_channel() {
    let Some(run) = CassetteRun::native(
        "python_compute",
        "calc",
        ossa_wiring::ExecOptions::default(),
        Some(tmpdir()),
    )
    .await
    .unwrap() else {
        return;
    };
    assert_eq!(run.outcome(), Some(Outcome::Final));
    assert_eq!(run.tool_calls(), ["python", "python"]);
    let results = run.tool_results();
    assert!(run.tool_errors().is_empty(), "{:?}", run.tool_errors());
    // A final expression is echoed, as a notebook shows it; `primes` survives the call.
    assert_eq!(results[0].output.trim(), "15", "{}", results[0].output);
    assert_eq!(results[1].output.trim(), "328", "{}", results[1].output);
    let transcript = Transcript::read(&run.transcript).unwrap();
    let header = transcript.header.as_ref().unwrap();
    let python = header.tools.iter().find(|t| t.name == "python").unwrap();
    assert_eq!(python.input, ossa_agent::event::ArgumentFormat::Text);
    let system = serde_json::to_string(&header.system).unwrap();
    assert!(system.contains("stateful Jupyter notebook"), "{system}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_python_project_is_fixed_and_tested_entirely_in_webassembly() {
    // No native commands: container.exec runs `python3 -m unittest` in the sandboxed CPython.
    let no_commands = ossa_wiring::ExecOptions {
        allow: false,
        ..Default::default()
    };
    let Some(run) = CassetteRun::native("python_project", "pyproj", no_commands, Some(tmpdir()))
        .await
        .unwrap()
    else {
        return;
    };
    assert_eq!(run.outcome(), Some(Outcome::Final));
    assert_eq!(
        run.tool_calls(),
        ["exec", "open_file", "apply_patch", "exec"]
    );
    let results = run.tool_results();
    assert!(
        results[0].output.contains("FAILED") && results[0].output.contains("test_even_length"),
        "{}",
        results[0].output
    );
    assert!(results[3].output.contains("OK"), "{}", results[3].output);
    assert!(
        run.file("stats.py")
            .contains("(ordered[middle - 1] + ordered[middle]) / 2")
    );
    let transcript = Transcript::read(&run.transcript).unwrap();
    let developer = serde_json::to_string(&transcript.header.as_ref().unwrap().developer).unwrap();
    assert!(developer.contains("runs only Python"), "{developer}");
}

/// The 40 real gpt-oss-20b tool calls recorded by another harness (`../shared/peers`),
/// each in the header shape the model wrote, through ossa's real dispatch, argument
/// clean-up and tools: none may be an unknown tool or bad arguments (the paths point
/// into django, so the tools may fail to find files; that is not the point).
#[tokio::test(flavor = "multi_thread")]
async fn real_gpt_oss_calls_reach_the_native_tools() {
    let peers = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/peers/harmonyagent-calls.jsonl");
    let Ok(text) = std::fs::read_to_string(&peers) else {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED real_gpt_oss_calls_reach_the_native_tools: {} is absent ***\n",
            peers.display()
        );
        return;
    };
    let mut cassette =
        String::from("{\"type\":\"user_message\",\"text\":\"Explore the repository.\"}\n");
    let mut calls = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let call: serde_json::Value = serde_json::from_str(line).unwrap();
        let completion = format!(
            "<|channel|>{} to={} {}<|message|>{}<|call|>",
            call["channel"].as_str().unwrap(),
            call["recipient"].as_str().unwrap(),
            call["content_type"].as_str().unwrap(),
            call["arguments"].as_str().unwrap()
        );
        cassette
            .push_str(&serde_json::json!({"type": "completion", "text": completion}).to_string());
        cassette.push('\n');
        calls += 1;
    }
    cassette.push_str(
        "{\"type\":\"completion\",\"text\":\"<|channel|>final<|message|>Done.<|return|>\"}\n",
    );
    assert_eq!(calls, 40);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calls.jsonl");
    std::fs::write(&path, cassette).unwrap();
    let transcript = Transcript::read(&path).unwrap();
    let work = dir.path().join("workspace");
    copy_dir(&fixtures().join("workspaces/calc"), &work).unwrap();
    let tools = ossa_wiring::SandboxTools::open(
        &work,
        ossa_agent::event::Toolset::Native,
        &ossa_wiring::ExecOptions::default(),
    )
    .await
    .unwrap();
    let backend =
        Arc::new(ReplayBackend::new(&transcript, ossa_agent::harmony_tokenizer(), false).unwrap());
    let settings = AgentSettings {
        max_steps: 50,
        ..AgentSettings::default()
    };
    let run = CassetteRun::run(
        tempfile::tempdir().unwrap(),
        work,
        &transcript,
        backend,
        Box::new(tools),
        settings,
    )
    .await
    .unwrap();
    assert_eq!(run.outcome(), Some(Outcome::Final));
    let results = run.tool_results();
    assert_eq!(results.len(), 40);
    for result in results {
        assert!(
            !matches!(
                result.kind,
                Some(ToolFailureKind::UnknownTool | ToolFailureKind::InvalidArguments)
            ),
            "{}: {:?} {}",
            result.name,
            result.kind,
            result.output
        );
    }
}
