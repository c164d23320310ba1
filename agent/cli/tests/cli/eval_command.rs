#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `ossa eval` as a user runs it: the real binary on the bundled suite
//! (`examples/eval`), against a fake engine on 127.0.0.1 (OpenAI-compatible, or
//! llama-server's protocol with slots) that answers each task with fixed harmony
//! completions: fix-typo and count-lines are solved with `repo_browser.apply_patch`,
//! fix-sum is given up on (its check fails).

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ossa_model::{Decoded, O200kHarmony, Tokenizer as _, decode_to_text};
use serde_json::{Value, json};

use super::text;

fn suite() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/eval")
}

/// The task and the `id_slot` of each completion request, in order.
type RequestLog = Mutex<Vec<(String, Option<u64>)>>;

/// A fake engine: `/v1/models` and streamed `/v1/completions` (OpenAI-compatible), or
/// `/props` with `slots` and streamed `/completion` with token ids (llama-server), whose
/// text depends on the task in the prompt. Completions for the task matching `stall` are
/// never answered while it is set.
struct FakeEngine {
    url: String,
    log: Arc<RequestLog>,
    stall: Arc<Mutex<Option<&'static str>>>,
    stalled: Arc<AtomicBool>,
}

impl FakeEngine {
    /// An OpenAI-compatible engine (the URL ends in `/v1`).
    fn start() -> FakeEngine {
        FakeEngine::serve_with(None)
    }

    /// A llama-server with `slots` slots.
    fn llama_server(slots: u32) -> FakeEngine {
        FakeEngine::serve_with(Some(slots))
    }

    fn serve_with(slots: Option<u32>) -> FakeEngine {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let url = match slots {
            Some(_) => format!("http://{address}"),
            None => format!("http://{address}/v1"),
        };
        let engine = FakeEngine {
            url,
            log: Arc::default(),
            stall: Arc::default(),
            stalled: Arc::default(),
        };
        let (log, stall, stalled) = (
            Arc::clone(&engine.log),
            Arc::clone(&engine.stall),
            Arc::clone(&engine.stalled),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (log, stall, stalled) =
                    (Arc::clone(&log), Arc::clone(&stall), Arc::clone(&stalled));
                std::thread::spawn(move || serve(stream, slots, &log, &stall, &stalled));
            }
        });
        engine
    }

    /// The task of each completion request, in order.
    fn requests(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|(task, _)| task.clone())
            .collect()
    }

    /// The task and slot of each completion request, in order.
    fn slots(&self) -> Vec<(String, Option<u64>)> {
        self.log.lock().unwrap().clone()
    }
}

fn serve(
    mut stream: TcpStream,
    slots: Option<u32>,
    log: &RequestLog,
    stall: &Mutex<Option<&'static str>>,
    stalled: &AtomicBool,
) {
    let Some((head, body)) = read_request(&mut stream) else {
        return;
    };
    let not_found = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let response = if head.starts_with("GET /props") {
        match slots {
            Some(slots) => http(
                "application/json",
                &json!({"model_path": "fake.gguf", "total_slots": slots,
                        "default_generation_settings": {"n_ctx": 32768}})
                .to_string(),
            ),
            None => not_found.to_string(),
        }
    } else if head.starts_with("GET /v1/models") && slots.is_none() {
        http(
            "application/json",
            &json!({"data": [{"id": "fake-gpt-oss", "max_model_len": 32768}]}).to_string(),
        )
    } else if head.starts_with("POST /v1/completions") || head.starts_with("POST /completion ") {
        let request: Value = serde_json::from_slice(&body).unwrap();
        let ids: Vec<u32> = request["prompt"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_u64().unwrap() as u32)
            .collect();
        let prompt = decode_to_text(&O200kHarmony::new(), &ids).unwrap();
        let (task, completion) = reply(&prompt);
        if stall
            .lock()
            .unwrap()
            .is_some_and(|marker| prompt.contains(marker))
        {
            stalled.store(true, Ordering::SeqCst);
            // Hold the connection until the client goes away.
            let mut buf = [0u8; 1024];
            while stream.read(&mut buf).is_ok_and(|n| n > 0) {}
            return;
        }
        log.lock()
            .unwrap()
            .push((task.to_string(), request["id_slot"].as_u64()));
        let events = if slots.is_some() {
            let chunk = json!({"tokens": encode(&completion), "stop": false});
            let last = json!({"tokens": [], "stop": true, "stop_type": "eos",
                              "timings": {"cache_n": 0, "prompt_n": ids.len(),
                                          "prompt_ms": 1.0, "predicted_ms": 1.0}});
            format!("data: {chunk}\n\ndata: {last}\n\n")
        } else {
            let chunk =
                json!({"choices": [{"index": 0, "text": completion, "finish_reason": null}]});
            let last = json!({
                "choices": [{"index": 0, "text": "", "finish_reason": "stop"}],
                "usage": {"prompt_tokens": ids.len(), "completion_tokens": 20,
                          "prompt_tokens_details": {"cached_tokens": 0}}
            });
            format!("data: {chunk}\n\ndata: {last}\n\ndata: [DONE]\n\n")
        };
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n{events}"
        )
    } else {
        not_found.to_string()
    };
    let _ = stream.write_all(response.as_bytes());
}

/// Harmony text (specials as literals) as o200k_harmony token ids.
fn encode(text: &str) -> Vec<u32> {
    let tokenizer = O200kHarmony::new();
    let mut ids = Vec::new();
    for piece in ossa_agent::literal_pieces(text) {
        match piece {
            Decoded::Special(token) => ids.push(tokenizer.special_id(token)),
            Decoded::Bytes(bytes) => {
                ids.extend(tokenizer.encode_text(&String::from_utf8_lossy(&bytes)));
            }
            Decoded::OtherSpecial(literal) => ids.extend(tokenizer.encode_text(&literal)),
        }
    }
    ids
}

fn http(content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The request head and its `Content-Length` bytes of body.
fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut data = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).into_owned();
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                return Some((head, data[end + 4..end + 4 + length].to_vec()));
            }
        }
    }
}

/// What the fake model says: the task it recognised and the completion.
fn reply(prompt: &str) -> (&'static str, String) {
    // The last user message is the task; a tool result after it means the patch is done.
    let task_text = prompt
        .rsplit("<|start|>user<|message|>")
        .next()
        .unwrap_or("");
    let patched = task_text.contains("<|start|>repo_browser.apply_patch to=assistant");
    let patch = |patch: &str| {
        format!(
            "<|channel|>analysis<|message|>I will patch it.<|end|><|start|>assistant<|channel|>analysis to=repo_browser.apply_patch code<|message|>{}<|call|>",
            json!({ "patch": patch })
        )
    };
    let answer = |text: &str| format!("<|channel|>final<|message|>{text}<|return|>");
    if task_text.contains("hello.txt has a typo") {
        let completion = if patched {
            answer("Fixed the typo in hello.txt.")
        } else {
            patch(
                "*** Begin Patch\n*** Update File: hello.txt\n@@\n-Helo, world!\n+Hello, world!\n*** End Patch\n",
            )
        };
        ("fix-typo", completion)
    } else if task_text.contains("numbers.txt") {
        let completion = if patched {
            answer("count.txt holds the count.")
        } else {
            patch("*** Begin Patch\n*** Add File: count.txt\n+250\n*** End Patch\n")
        };
        ("count-lines", completion)
    } else if task_text.contains("sum.sh") {
        ("fix-sum", answer("I could not find the bug."))
    } else {
        ("other", answer("Done."))
    }
}

/// A temporary data directory and output directory for one test.
struct Scene {
    dir: tempfile::TempDir,
}

impl Scene {
    fn new() -> Scene {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        Scene { dir }
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = super::isolated_ossa(self.dir.path(), args);
        command.stdin(Stdio::null());
        command
    }

    /// `ossa eval run SUITE --server URL --out OUT --allow-unconfined-check EXTRA…`.
    fn eval(&self, suite: &Path, url: &str, extra: &[&str]) -> Output {
        let out = self.out();
        let mut args = vec![
            "eval",
            "run",
            suite.to_str().unwrap(),
            "--server",
            url,
            "--out",
            out.to_str().unwrap(),
            "--allow-unconfined-check",
        ];
        args.extend_from_slice(extra);
        self.command(&args).output().unwrap()
    }

    fn results(&self) -> Vec<Value> {
        std::fs::read_to_string(self.out().join("results.jsonl"))
            .unwrap_or_default()
            .lines()
            // A line being written while a test polls may be incomplete: not yet a result.
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

fn verdicts(results: &[Value]) -> Vec<(String, u64, String)> {
    let mut all: Vec<_> = results
        .iter()
        .map(|r| {
            (
                r["task"].as_str().unwrap().to_string(),
                r["repeat"].as_u64().unwrap(),
                r["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    all.sort();
    all
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_bundled_suite_runs_in_parallel_and_a_rerun_runs_nothing() {
    let engine = FakeEngine::start();
    let scene = Scene::new();
    let out = scene.eval(&suite(), &engine.url, &["--parallel", "2"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");

    let results = scene.results();
    assert_eq!(
        verdicts(&results),
        [
            ("count-lines".into(), 0, "pass".into()),
            ("fix-sum".into(), 0, "fail".into()),
            ("fix-typo".into(), 0, "pass".into()),
        ],
        "stderr:\n{stderr}"
    );
    let by_task = |name: &str| results.iter().find(|r| r["task"] == name).unwrap().clone();
    let sum = by_task("fix-sum");
    assert_eq!(sum["check"], json!({"exit": 1}), "{sum}");
    assert_eq!(sum["stop"], "final");
    assert!(
        sum["error"]
            .as_str()
            .unwrap()
            .contains("sum.sh 2 3: expected 5, got -1"),
        "{sum}"
    );
    let typo = by_task("fix-typo");
    assert_eq!(typo["steps"], 2);
    assert_eq!(typo["tool_calls"], 1);
    assert_eq!(typo["tool_errors"], 0);
    assert_eq!(typo["check"], json!({"exit": 0}));
    assert!(typo["tokens"]["generated"].as_u64().unwrap() > 0, "{typo}");
    assert!(typo["tokens"]["final"].as_u64().unwrap() > 0, "{typo}");
    assert!(typo["tokens"]["analysis"].as_u64().unwrap() > 0, "{typo}");
    assert!(typo["tokens"]["prompt"].as_u64().unwrap() > 0, "{typo}");
    // Every attempt has its own transcript, with the task as its user message.
    for result in &results {
        let transcript = scene.out().join(result["transcript"].as_str().unwrap());
        let recorded = ossa_agent::Transcript::read(&transcript).unwrap();
        assert_eq!(
            recorded.user_messages().count(),
            1,
            "{}",
            transcript.display()
        );
    }
    // A passed attempt's workspace is removed; a failed one's is kept to look at.
    assert!(!scene.out().join("attempts/fix-typo/0/workspace").exists());
    assert!(
        scene
            .out()
            .join("attempts/fix-sum/0/workspace/sum.sh")
            .exists()
    );
    assert!(scene.out().join("attempts/fix-sum/0/check.log").exists());
    assert!(
        std::fs::read_to_string(scene.out().join("attempts/count-lines/0/setup.log"))
            .unwrap()
            .contains("seq 1 250")
    );

    // The table on stdout and in summary.md.
    for table in [
        stdout.clone(),
        std::fs::read_to_string(scene.out().join("summary.md")).unwrap(),
    ] {
        assert!(
            table.contains("| count-lines | 1/1      | 1    | 0    | 0     | 100.0%"),
            "{table}"
        );
        assert!(
            table.contains("| fix-sum     | 1/1      | 0    | 1    | 0     | 0.0%"),
            "{table}"
        );
        assert!(
            table.contains("| fix-typo    | 1/1      | 1    | 0    | 0     | 100.0%"),
            "{table}"
        );
        assert!(
            table.contains("3 of 3 attempts over 3 tasks: 2 passed, 1 failed, 0 errors"),
            "{table}"
        );
        assert!(table.contains("pass@1: 66.7%"), "{table}");
        assert!(table.contains("with up to 2 sessions at once"), "{table}");
    }
    let requests = engine.requests();
    assert_eq!(requests.len(), 5, "{requests:?}");

    // The same command again: everything is recorded, nothing runs.
    let again = scene.eval(&suite(), &engine.url, &["--parallel", "2"]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        text(&again.stderr).contains("nothing to run"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(engine.requests().len(), 5);
    assert_eq!(scene.results().len(), 3);
    assert!(text(&again.stdout).contains("pass@1: 66.7%"));

    // More repeats of one task add just those attempts.
    let more = scene.eval(
        &suite(),
        &engine.url,
        &["--repeat", "2", "--task", "fix-typo"],
    );
    assert!(more.status.success(), "{}", text(&more.stderr));
    assert!(
        text(&more.stderr).contains("(1 task × 2 = 2 attempts; 1 already recorded, 1 to run)"),
        "{}",
        text(&more.stderr)
    );
    assert_eq!(engine.requests().len(), 7);
    assert!(verdicts(&scene.results()).contains(&("fix-typo".into(), 1, "pass".into())));
    assert!(
        text(&more.stdout).contains("pass@2: 100.0%"),
        "{}",
        text(&more.stdout)
    );

    // Other settings into the same directory would mix two experiments.
    let other = scene.eval(&suite(), &engine.url, &["--reasoning", "high"]);
    assert_eq!(other.status.code(), Some(1));
    assert!(
        text(&other.stderr).contains("reasoning: \"high\" now, \"medium\" before"),
        "{}",
        text(&other.stderr)
    );

    // The summary again, from the directory alone.
    let summary = scene
        .command(&["eval", "summary", scene.out().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(summary.status.success());
    assert!(
        text(&summary.stdout).contains("pass@1: 66.7%"),
        "{}",
        text(&summary.stdout)
    );
}

#[test]
fn ctrl_c_keeps_finished_attempts_and_a_rerun_runs_only_the_rest() {
    let engine = FakeEngine::start();
    // fix-typo is the last task in name order: the first two finish, it hangs.
    *engine.stall.lock().unwrap() = Some("hello.txt has a typo");
    let scene = Scene::new();
    let out = scene.out();
    let suite = suite();
    let child = scene
        .command(&[
            "eval",
            "run",
            suite.to_str().unwrap(),
            "--server",
            &engine.url,
            "--out",
            out.to_str().unwrap(),
            "--allow-unconfined-check",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the hanging completion and two results", || {
        engine.stalled.load(Ordering::SeqCst) && scene.results().len() == 2
    });
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let output = child.wait_with_output().unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "stderr:\n{stderr}");
    assert!(
        stderr.contains("run the same command again to resume"),
        "{stderr}"
    );
    assert!(stderr.contains("1 left"), "{stderr}");
    assert_eq!(
        verdicts(&scene.results()),
        [
            ("count-lines".into(), 0, "pass".into()),
            ("fix-sum".into(), 0, "fail".into()),
        ]
    );
    assert!(
        !out.join("attempts/fix-typo").exists(),
        "nothing half-done is kept"
    );
    let runs = std::fs::read_to_string(out.join("runs.jsonl")).unwrap();
    assert!(runs.contains("\"interrupted\":true"), "{runs}");

    // The rerun runs fix-typo only.
    *engine.stall.lock().unwrap() = None;
    let before = engine.requests().len();
    let again = scene.eval(&suite, &engine.url, &[]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        text(&again.stderr).contains("2 already recorded, 1 to run"),
        "{}",
        text(&again.stderr)
    );
    let rerun: Vec<String> = engine.requests()[before..].to_vec();
    assert_eq!(rerun, ["fix-typo", "fix-typo"]);
    assert_eq!(scene.results().len(), 3);
    assert!(
        text(&again.stdout).contains("2 passed, 1 failed"),
        "{}",
        text(&again.stdout)
    );
}

#[test]
fn setup_failures_are_errors_and_failing_checks_are_failures() {
    let engine = FakeEngine::start();
    let scene = Scene::new();
    let suite = scene.dir.path().join("suite");
    let task = |name: &str, toml: &str| {
        std::fs::create_dir_all(suite.join(name).join("workspace")).unwrap();
        std::fs::write(suite.join(name).join("workspace/f.txt"), "x").unwrap();
        std::fs::write(suite.join(name).join("task.toml"), toml).unwrap();
    };
    task(
        "bad-setup",
        "task = \"anything\"\nsetup = \"echo no database >&2; exit 3\"\ncheck = \"true\"\n",
    );
    task(
        "slow-check",
        "task = \"anything\"\ncheck = \"sleep 60\"\ncheck_timeout_s = 0.5\n",
    );
    task("false-check", "task = \"anything\"\ncheck = \"exit 7\"\n");
    task(
        "true-check",
        "task = \"anything\"\ncheck = \"test -f f.txt\"\n",
    );
    let out = scene.eval(&suite, &engine.url, &["--repeat", "2", "-j", "3"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("2 attempts ended in an error")
            && text(&out.stderr).contains("--retry-errors"),
        "{}",
        text(&out.stderr)
    );
    let results = scene.results();
    assert_eq!(results.len(), 8);
    for result in &results {
        let (task, verdict) = (result["task"].as_str().unwrap(), &result["verdict"]);
        match task {
            "bad-setup" => {
                assert_eq!(verdict, "error", "{result}");
                assert_eq!(result["stop"], Value::Null, "the agent did not run");
                let error = result["error"].as_str().unwrap();
                assert!(error.contains("setup failed (exit 3)"), "{error}");
                assert!(error.contains("no database"), "{error}");
            }
            "slow-check" => {
                assert_eq!(verdict, "fail", "{result}");
                assert_eq!(result["check"], "timed_out");
            }
            "false-check" => {
                assert_eq!(verdict, "fail", "{result}");
                assert_eq!(result["check"], json!({"exit": 7}));
            }
            "true-check" => assert_eq!(verdict, "pass", "{result}"),
            other => panic!("unexpected task {other}"),
        }
    }
    assert!(
        stdout.contains("8 of 8 attempts over 4 tasks: 2 passed, 4 failed, 2 errors"),
        "{stdout}"
    );
    assert!(
        stdout.contains("pass@1: 25.0% (mean over tasks), pass@2: 25.0%"),
        "{stdout}"
    );
    // Only the agent sessions that ran asked the engine (not bad-setup's).
    assert_eq!(engine.requests().len(), 6);

    // The setup fixed, --retry-errors runs the two error attempts again, and only those;
    // their new results replace the old ones.
    task(
        "bad-setup",
        "task = \"anything\"\nsetup = \"true\"\ncheck = \"true\"\n",
    );
    let plain = scene.eval(&suite, &engine.url, &["--repeat", "2"]);
    assert!(
        text(&plain.stderr).contains("nothing to run"),
        "{}",
        text(&plain.stderr)
    );
    let retry = scene.eval(&suite, &engine.url, &["--repeat", "2", "--retry-errors"]);
    let stdout = text(&retry.stdout);
    assert!(retry.status.success(), "{}", text(&retry.stderr));
    assert!(
        text(&retry.stderr).contains("6 already recorded, 2 to run"),
        "{}",
        text(&retry.stderr)
    );
    assert_eq!(engine.requests().len(), 8);
    assert!(
        stdout.contains("8 of 8 attempts over 4 tasks: 4 passed, 4 failed, 0 errors"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| bad-setup   | 2/2      | 2    | 0    | 0"),
        "{stdout}"
    );
}

#[test]
fn compare_shows_what_changed_task_by_task() {
    let scene = Scene::new();
    let line = |task: &str, verdict: &str| {
        json!({
            "task": task, "repeat": 0, "verdict": verdict, "stop": "final", "steps": 3,
            "tokens": {"prompt": 10, "prefilled": 10, "reused": 0, "generated": 100,
                       "analysis": 50, "commentary": 0, "final": 20},
            "tool_calls": 1, "tool_errors": 0, "check": {"exit": 0}, "confined": true,
            "wall_s": 1.0, "agent_s": 1.0, "decode_s": 0.5, "error": null,
            "transcript": null, "finished_at": "2026-01-01T00:00:00Z"
        })
        .to_string()
    };
    let a = scene.dir.path().join("a.jsonl");
    let b_dir = scene.dir.path().join("b");
    std::fs::create_dir(&b_dir).unwrap();
    std::fs::write(
        &a,
        [
            line("fix-sum", "fail"),
            line("fix-typo", "pass"),
            line("count-lines", "pass"),
        ]
        .join("\n"),
    )
    .unwrap();
    std::fs::write(
        b_dir.join("results.jsonl"),
        [
            line("fix-sum", "pass"),
            line("fix-typo", "fail"),
            line("count-lines", "pass"),
        ]
        .join("\n"),
    )
    .unwrap();
    let out = scene
        .command(&[
            "eval",
            "compare",
            a.to_str().unwrap(),
            b_dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains("| fix-sum     | 0/1    | 1/1    | fixed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| fix-typo    | 1/1    | 0/1    | broken"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| count-lines | 1/1    | 1/1    | unchanged"),
        "{stdout}"
    );
    assert!(
        stdout.contains("fixed: 1, broken: 1, unchanged: 1"),
        "{stdout}"
    );
    assert!(!stdout.contains("settings"), "A has no eval.json: {stdout}");

    // Two output directories with their settings: what differs is named.
    let a_dir = scene.dir.path().join("a");
    std::fs::create_dir(&a_dir).unwrap();
    std::fs::copy(&a, a_dir.join("results.jsonl")).unwrap();
    let settings = |reasoning: &str| {
        json!({"suite": "/s", "model": "server http://x", "reasoning": reasoning,
               "toolset": "native", "temperature": 1.0, "top_p": 1.0, "min_p": 0.0,
               "seed": null, "max_steps": 40, "max_tokens": 8192})
        .to_string()
    };
    std::fs::write(a_dir.join("eval.json"), settings("medium")).unwrap();
    std::fs::write(b_dir.join("eval.json"), settings("high")).unwrap();
    let out = scene
        .command(&[
            "eval",
            "compare",
            a_dir.to_str().unwrap(),
            b_dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("settings (A → B): reasoning: \"medium\" → \"high\""),
        "{stdout}"
    );

    let missing = scene
        .command(&["eval", "compare", a.to_str().unwrap(), "/nonexistent/x"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stderr).contains("cannot read the results"),
        "{}",
        text(&missing.stderr)
    );
}

#[test]
fn eval_refuses_what_it_cannot_do_well() {
    let scene = Scene::new();
    let suite = suite();
    let out = scene.out();
    // A replayed session is not a model for a suite.
    let replay = scene
        .command(&[
            "eval",
            "run",
            suite.to_str().unwrap(),
            "--replay",
            "x.jsonl",
            "--out",
            out.to_str().unwrap(),
            "--allow-unconfined-check",
        ])
        .output()
        .unwrap();
    assert_eq!(replay.status.code(), Some(2), "{}", text(&replay.stderr));
    assert!(text(&replay.stderr).contains("--replay replays one recorded session"));
    // No model at all: a usage error, and the output directory is not claimed.
    let none = scene
        .command(&[
            "eval",
            "run",
            suite.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(2), "{}", text(&none.stderr));
    assert!(!out.join("eval.json").exists());

    // Without kernel confinement, checks run only when the user says so.
    if ossa_sandbox::exec_support().is_err() {
        let engine = FakeEngine::start();
        let refused = scene
            .command(&[
                "eval",
                "run",
                suite.to_str().unwrap(),
                "--server",
                &engine.url,
                "--out",
                out.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert_eq!(refused.status.code(), Some(1));
        assert!(
            text(&refused.stderr).contains("--allow-unconfined-check"),
            "{}",
            text(&refused.stderr)
        );
        assert!(engine.requests().is_empty());
    }

    let unknown = scene
        .command(&[
            "eval",
            "run",
            suite.to_str().unwrap(),
            "--task",
            "nope",
            "--server",
            "http://127.0.0.1:9",
        ])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stderr).contains("the suite has no task `nope`"));
}

#[test]
fn an_in_process_model_runs_one_session_at_a_time() {
    // The tiny GGUF has random weights: whatever the session does, the check
    // (hello.txt untouched) fails. What matters: one session, a clean record.
    let scene = Scene::new();
    let model = ossa_tiny_gguf::ensure(&ossa_tiny_gguf::Spec::tiny(), scene.dir.path()).unwrap();
    let suite = suite();
    let out = scene.out();
    let output = scene
        .command(&[
            "eval",
            "run",
            suite.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
            "--task",
            "fix-typo",
            "--parallel",
            "3",
            "--threads",
            "1",
            "--ctx-size",
            "8192",
            "--seed",
            "7",
            "--max-tokens",
            "64",
            "--max-steps",
            "2",
            "--out",
            out.to_str().unwrap(),
            "--allow-unconfined-check",
        ])
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("an in-process model runs one session at a time"),
        "{stderr}"
    );
    assert!(stderr.contains("; one session at a time"), "{stderr}");
    let results = scene.results();
    assert_eq!(results.len(), 1);
    let result = &results[0];
    assert_eq!(result["verdict"], "fail", "{result}");
    // The agent ran (the task's own max_steps = 10 is over --max-steps).
    assert!(result["stop"].is_string(), "{result}");
    assert!(result["steps"].as_u64().unwrap() >= 1, "{result}");
    assert!(
        result["tokens"]["generated"].as_u64().unwrap() > 0,
        "{result}"
    );
    let runs = std::fs::read_to_string(out.join("runs.jsonl")).unwrap();
    assert!(runs.contains("\"parallel\":1"), "{runs}");
}

#[test]
fn each_session_keeps_its_own_llama_server_slot() {
    let scene = Scene::new();
    // As many slots as sessions: each session pins its requests to its own slot.
    let engine = FakeEngine::llama_server(2);
    let out = scene.eval(&suite(), &engine.url, &["--parallel", "2"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("pinned to a slot of its own (2 of the server's 2)"),
        "{stderr}"
    );
    assert_eq!(verdicts(&scene.results()).len(), 3);
    let slots = engine.slots();
    assert_eq!(slots.len(), 5, "{slots:?}");
    for (task, slot) in &slots {
        assert!(matches!(slot, Some(0 | 1)), "{task}: {slot:?}");
        // Both requests of a two-step task come from one session, so one slot.
        let same: Vec<_> = slots.iter().filter(|(t, _)| t == task).collect();
        assert!(same.iter().all(|(_, s)| s == slot), "{slots:?}");
    }

    // More sessions than slots: the server chooses, nothing is pinned.
    let scene = Scene::new();
    let engine = FakeEngine::llama_server(1);
    let out = scene.eval(&suite(), &engine.url, &["--parallel", "2"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("more sessions than slots"), "{stderr}");
    assert!(
        engine.slots().iter().all(|(_, slot)| slot.is_none()),
        "{:?}",
        engine.slots()
    );
}

/// A real llama-server (built by scripts/llama-server.sh, path in OSSA_LLAMA_SERVER)
/// serving `model` with `slots` slots; killed on drop.
pub(crate) struct LlamaServer {
    child: std::process::Child,
    pub(crate) url: String,
}

impl LlamaServer {
    pub(crate) fn start(binary: &Path, model: &Path, slots: u32) -> LlamaServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(binary)
            .arg("-m")
            .arg(model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["-t", "1", "-np", &slots.to_string()])
            .args(["-c", &(8192 * slots).to_string(), "--swa-full", "-ngl", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut server = LlamaServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let address = format!("127.0.0.1:{port}");
        wait_for("llama-server to load the model", || {
            assert!(
                server.child.try_wait().unwrap().is_none(),
                "llama-server exited"
            );
            let Ok(mut stream) = TcpStream::connect(&address) else {
                return false;
            };
            let request =
                format!("GET /health HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
            let mut response = String::new();
            stream.write_all(request.as_bytes()).is_ok()
                && stream.read_to_string(&mut response).is_ok()
                && response.starts_with("HTTP/1.1 200")
        });
        server
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_bundled_suite_runs_against_a_real_llama_server() {
    let Some(binary) = std::env::var_os("OSSA_LLAMA_SERVER").filter(|p| !p.is_empty()) else {
        let required = std::env::var("OSSA_REQUIRE_LLAMA_SERVER").is_ok_and(|v| v == "1");
        let message = "eval against llama-server: NOT RUN: OSSA_LLAMA_SERVER is not set \
                       (build it with scripts/llama-server.sh and export its path)";
        assert!(
            !required,
            "{message} (OSSA_REQUIRE_LLAMA_SERVER=1 makes this a failure)"
        );
        let _ = writeln!(std::io::stderr(), "\n*** {message} ***\n");
        return;
    };
    let scene = Scene::new();
    let model = ossa_tiny_gguf::ensure(&ossa_tiny_gguf::Spec::o200k(), scene.dir.path()).unwrap();
    let server = LlamaServer::start(Path::new(&binary), &model, 2);
    // Random weights: no task is solved; every attempt must still end in a clean record.
    let out = scene.eval(
        &suite(),
        &server.url,
        &["--parallel", "2", "--max-tokens", "32", "--seed", "1"],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("2 sessions, each pinned to a slot of its own (2 of the server's 2)"),
        "{stderr}"
    );
    let results = scene.results();
    assert_eq!(results.len(), 3, "{stderr}");
    for result in &results {
        assert_eq!(result["verdict"], "fail", "{result}");
        assert!(
            result["tokens"]["generated"].as_u64().unwrap() > 0,
            "{result}"
        );
    }
    // The slot's cache carries over between the steps of a session (and between the
    // tasks it runs one after the other: the system prompt is the same).
    let reused: u64 = results
        .iter()
        .map(|r| r["tokens"]["reused"].as_u64().unwrap())
        .sum();
    assert!(reused > 0, "{results:?}");
    assert!(stdout.contains("with up to 2 sessions at once"), "{stdout}");
    drop(server);
}

#[test]
fn a_task_time_limit_stops_the_agent_and_the_check_still_decides() {
    let engine = FakeEngine::start();
    *engine.stall.lock().unwrap() = Some("STALL-ME");
    let scene = Scene::new();
    let suite = scene.dir.path().join("suite");
    std::fs::create_dir_all(suite.join("hang/workspace")).unwrap();
    std::fs::write(suite.join("hang/workspace/f.txt"), "x").unwrap();
    std::fs::write(
        suite.join("hang/task.toml"),
        "task = \"STALL-ME\"\ncheck = \"test -f f.txt\"\ntimeout_s = 1\n",
    )
    .unwrap();
    let out = scene.eval(&suite, &engine.url, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(engine.stalled.load(Ordering::SeqCst));
    let results = scene.results();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["stop"], "timeout", "{}", results[0]);
    assert_eq!(results[0]["verdict"], "pass", "{}", results[0]);
}

#[test]
fn a_git_task_runs_on_its_pinned_commit() {
    let engine = FakeEngine::start();
    let scene = Scene::new();
    let repo = scene.dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    };
    git(&["init", "--quiet"]);
    std::fs::write(repo.join("f.txt"), "one\n").unwrap();
    git(&["add", "f.txt"]);
    git(&["commit", "--quiet", "-m", "one"]);
    let pinned = git(&["rev-parse", "HEAD"]);
    std::fs::write(repo.join("f.txt"), "two\n").unwrap();
    git(&["commit", "--quiet", "-am", "two"]);

    let suite = scene.dir.path().join("suite");
    std::fs::create_dir_all(suite.join("pinned")).unwrap();
    std::fs::write(
        suite.join("pinned/task.toml"),
        format!(
            "task = \"anything\"\ncheck = \"test \\\"$(cat f.txt)\\\" = one && test -d .git\"\ngit = \"{}\"\ncommit = \"{pinned}\"\n",
            repo.display()
        ),
    )
    .unwrap();
    let out = scene.eval(&suite, &engine.url, &["--repeat", "2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("cloning"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        verdicts(&scene.results()),
        [
            ("pinned".into(), 0, "pass".into()),
            ("pinned".into(), 1, "pass".into())
        ]
    );
}
