#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `ossa chat` in a real terminal (tmux), driven the way a person types (Ctrl-C included,
//! during a generation that never ends by itself), and a chat
//! killed with SIGKILL mid-turn leaving a readable transcript.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ossa_tests::{copy_dir, fixtures};

const OSSA: &str = env!("CARGO_BIN_EXE_ossa");
const TASK: &str = "The test `adds` in this crate fails. Find the bug and fix it.";

/// The compiled-tool cache, shared by all tests.
fn shared_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("ossa-cache")
}

/// Polls `check` every 50 ms for up to 60 s.
fn wait_for(what: &str, mut check: impl FnMut() -> Option<String>) -> String {
    let start = Instant::now();
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Tests run in parallel: each tmux server gets its own socket.
static NEXT_SOCKET: AtomicUsize = AtomicUsize::new(0);

struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `command` (one shell command line, or a program and its arguments) in a
    /// 160x60 tmux session of its own.
    fn start(command: &[&str]) -> Tmux {
        let tmux = Tmux {
            socket: format!(
                "ossa-test-{}-{}",
                std::process::id(),
                NEXT_SOCKET.fetch_add(1, Ordering::Relaxed)
            ),
        };
        let mut args = vec!["new-session", "-d", "-s", "chat", "-x", "160", "-y", "60"];
        args.extend_from_slice(command);
        tmux.run(&args);
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap_or_else(|err| {
                panic!("cannot run tmux ({err}): the chat tests need it (apt-get install tmux)")
            });
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-J", "-S", "-200", "-t", "chat"])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "chat"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    fn wait_screen(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "timed out waiting for {needle:?} on the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

#[test]
fn chat_in_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    copy_dir(&fixtures().join("workspaces/calc"), &work).unwrap();
    let home = dir.path().join("home");
    let cassette = fixtures().join("cassettes/fix_add.jsonl");
    let command = format!(
        "env -u OSSA_HOME XDG_DATA_HOME={} XDG_CACHE_HOME={} TERM=xterm {OSSA} chat --replay {} --toolset functions --workspace {} --confirm apply_patch; echo EXITED $?; sleep 60",
        home.display(),
        shared_cache().display(),
        cassette.display(),
        work.display()
    );
    let tmux = Tmux::start(&[&command]);
    tmux.wait_screen("ossa> ");

    tmux.keys(&["/tools", "Enter"]);
    tmux.wait_screen("apply_patch");

    // Ctrl-C at the prompt clears the line and keeps the session.
    tmux.keys(&["half typed", "C-c"]);
    // The line editor drops what is typed before its next prompt is up.
    tmux.wait_screen("ossa> half typed\nossa>");
    tmux.keys(&["/reasoning high", "Enter"]);
    // Each wait also waits for the next prompt, so no keys are typed between prompts.
    tmux.wait_screen("reasoning: high (from the next message)\nossa>");

    tmux.keys(&[TASK, "Enter"]);
    let screen = tmux.wait_screen("[a]lways for functions.apply_patch");
    assert!(
        screen.contains("thinking: I should find the add function first."),
        "{screen}"
    );
    assert!(screen.contains("→ functions.grep"), "{screen}");
    assert!(screen.contains("✓ read_file"), "{screen}");
    assert!(
        std::fs::read_to_string(work.join("src/lib.rs"))
            .unwrap()
            .contains("a - b"),
        "not yet approved"
    );
    tmux.keys(&["y", "Enter"]);
    let screen = tmux.wait_screen("reused)\nossa>");
    assert!(screen.contains("Fixed `add` in src/lib.rs"), "{screen}");
    assert!(screen.contains("✓ apply_patch"), "{screen}");
    assert!(
        std::fs::read_to_string(work.join("src/lib.rs"))
            .unwrap()
            .contains("a + b")
    );

    // Multi-line input; the cassette is used up, so the turn fails and the REPL stays.
    tmux.keys(&["first line \\", "Enter"]);
    tmux.keys(&["second line", "Enter"]);
    let screen = tmux.wait_screen("the model backend failed\nossa>");
    assert!(screen.contains("no completion left"), "{screen}");
    tmux.keys(&[
        "/save ",
        &dir.path().join("copy.jsonl").display().to_string(),
        "Enter",
    ]);
    tmux.wait_screen("saved the transcript");
    tmux.wait_screen("jsonl\nossa>");
    tmux.keys(&["/exit", "Enter"]);
    tmux.wait_screen("EXITED");

    let copy = std::fs::read_to_string(dir.path().join("copy.jsonl")).unwrap();
    assert!(
        copy.contains("\"text\":\"first line \\nsecond line\""),
        "multi-line input joined: {copy}"
    );
    let history = std::fs::read_to_string(home.join("ossa/history.txt")).unwrap();
    assert!(history.contains("/reasoning high"), "{history}");
}

/// A llama-server that answers `/props` and then never sends a token: a generation
/// against it runs until it is cancelled. The flag says a completion was requested.
fn stalling_server() -> (String, Arc<AtomicBool>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let generating = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&generating);
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 65536];
            let n = stream.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]);
            let response = if request.starts_with("GET /props") {
                let body =
                    r#"{"model_path":"stall.gguf","default_generation_settings":{"n_ctx":16384}}"#;
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else if request.starts_with("POST /completion") {
                flag.store(true, Ordering::SeqCst);
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n".to_owned()
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_owned()
            };
            let _ = stream.write_all(response.as_bytes());
            // Keep every connection open: the stream of tokens never comes.
            held.push(stream);
        }
    });
    (url, generating)
}

#[test]
fn ctrl_c_stops_a_generation_and_keeps_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    copy_dir(&fixtures().join("workspaces/calc"), &work).unwrap();
    let transcript = dir.path().join("t.jsonl");
    let (url, generating) = stalling_server();
    // The pane runs bash itself, not through `sh -c`: Ctrl-C signals the whole
    // foreground group, and bash (unlike dash) outlives a child that handles SIGINT.
    let script = format!(
        "env -u OSSA_HOME XDG_DATA_HOME={} XDG_CACHE_HOME={} TERM=xterm {OSSA} chat --server {url} --workspace {} --transcript {}; echo EXITED $?; sleep 60",
        dir.path().join("home").display(),
        shared_cache().display(),
        work.display(),
        transcript.display()
    );
    let tmux = Tmux::start(&["bash", "-c", &script]);
    tmux.wait_screen("ossa> ");
    tmux.keys(&[TASK, "Enter"]);
    wait_for("the completion request", || {
        generating.load(Ordering::SeqCst).then(String::new)
    });
    tmux.keys(&["C-c"]);
    tmux.wait_screen("(stopped)\nossa>");

    // The session goes on: a command works, and leaving reports the cancelled turn.
    tmux.keys(&["/tools", "Enter"]);
    tmux.wait_screen("apply_patch");
    tmux.keys(&["/exit", "Enter"]);
    tmux.wait_screen("EXITED 130");

    let recorded = ossa_agent::Transcript::read(&transcript).unwrap();
    assert_eq!(recorded.user_messages().collect::<Vec<_>>(), [TASK]);
    let text = std::fs::read_to_string(&transcript).unwrap();
    assert!(
        text.contains(r#""type":"turn_completed","turn":1,"outcome":"cancelled""#),
        "{text}"
    );
}

#[test]
fn a_transcript_survives_kill_9_mid_turn() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    copy_dir(&fixtures().join("workspaces/calc"), &work).unwrap();
    let transcript = dir.path().join("t.jsonl");
    let mut child = Command::new(OSSA)
        .args(["chat", "--toolset", "functions", "--replay"])
        .arg(fixtures().join("cassettes/fix_add.jsonl"))
        .arg("--workspace")
        .arg(&work)
        .arg("--transcript")
        .arg(&transcript)
        .env_remove("OSSA_HOME")
        .env("XDG_DATA_HOME", dir.path().join("home"))
        .env("XDG_CACHE_HOME", shared_cache())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{TASK}").unwrap();
    stdin.flush().unwrap();
    // The chat stops to ask before apply_patch: kill it there, mid-turn.
    wait_for("the apply_patch call in the transcript", || {
        let text = std::fs::read_to_string(&transcript).ok()?;
        text.contains("\"recipient\":\"functions.apply_patch\"")
            .then_some(text)
    });
    child.kill().unwrap();
    child.wait().unwrap();

    let recorded = ossa_agent::Transcript::read(&transcript).unwrap();
    assert!(recorded.header.is_some());
    assert_eq!(recorded.user_messages().collect::<Vec<_>>(), [TASK]);
    assert_eq!(recorded.completions().count(), 3);
    assert_eq!(
        recorded.tool_results().count(),
        2,
        "grep and read_file finished"
    );
    assert!(recorded.final_answer().is_none());
    assert!(
        std::fs::read_to_string(work.join("src/lib.rs"))
            .unwrap()
            .contains("a - b")
    );
}
