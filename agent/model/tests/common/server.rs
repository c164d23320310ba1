//! Starts a real llama-server (built by scripts/llama-server.sh) on 127.0.0.1 for tests and
//! benchmarks, and kills it on drop.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The llama-server binary from `OSSA_LLAMA_SERVER`. When it is unset this says so loudly
/// and returns `None`, unless `OSSA_REQUIRE_LLAMA_SERVER=1` (CI), where it fails.
pub fn llama_server_binary(what: &str) -> Option<PathBuf> {
    match std::env::var_os("OSSA_LLAMA_SERVER") {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "OSSA_LLAMA_SERVER={} is not a file",
                path.display()
            );
            Some(path)
        }
        _ => {
            let required = std::env::var("OSSA_REQUIRE_LLAMA_SERVER").is_ok_and(|v| v == "1");
            let msg = format!(
                "{what}: NOT RUN: OSSA_LLAMA_SERVER is not set. Build llama-server with \
                 scripts/llama-server.sh and export OSSA_LLAMA_SERVER=<path to llama-server>."
            );
            if required {
                panic!("{msg} (OSSA_REQUIRE_LLAMA_SERVER=1 makes this a failure)");
            }
            // Straight to the stderr handle: the test harness captures eprintln!, and this
            // must show even when the test passes.
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "\n*** {msg} ***\n");
            None
        }
    }
}

/// A running llama-server; killed when dropped.
pub struct Server {
    child: Child,
    pub url: String,
    log: PathBuf,
}

impl Server {
    /// Serves `model` with 1 thread, one slot, `ctx` tokens, full-size SWA cache (so
    /// prompt-cache reuse is exact, as in ossa's own backend) and special tokens in text.
    pub fn start(binary: &Path, model: &Path, ctx: u32, threads: u32) -> Server {
        Server::start_with_slots(binary, model, ctx, threads, 1)
    }

    /// [`Server::start`] with `slots` parallel slots sharing the `ctx` tokens.
    pub fn start_with_slots(
        binary: &Path,
        model: &Path,
        ctx: u32,
        threads: u32,
        slots: u32,
    ) -> Server {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let log = std::env::temp_dir().join(format!("ossa-llama-server-{port}.log"));
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(binary)
            .args(["-m"])
            .arg(model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "-t",
                &threads.to_string(),
                "-c",
                &ctx.to_string(),
                "-np",
                &slots.to_string(),
            ])
            .args(["--swa-full", "--special", "-ngl", "0"])
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap();
        let mut server = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        server.wait_ready(Duration::from_secs(60));
        server
    }

    fn wait_ready(&mut self, limit: Duration) {
        let start = Instant::now();
        let addr = self.url.trim_start_matches("http://").to_string();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "llama-server exited with {status}; log:\n{}",
                    self.log_tail()
                );
            }
            if health_ok(&addr) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "llama-server not ready after {limit:?}; log:\n{}",
            self.log_tail()
        );
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// A bare HTTP/1.1 GET /health, so the check needs no async runtime.
fn health_ok(addr: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200")
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
