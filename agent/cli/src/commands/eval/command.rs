//! Running a task's `setup` and `check` commands in an attempt's workspace.
//!
//! The check runs after the model has had the workspace to itself, so it runs whatever
//! the model left there (a patched test script, a build script, a `.cargo/config.toml`):
//! it is confined exactly as `container.exec` confines the model's own commands
//! (ossa_sandbox's native runner: Landlock, namespaces, seccomp, rlimits; writes only to
//! the workspace and a private temporary directory, no network, none of ossa's
//! environment). Where the kernel cannot confine it, `ossa eval` refuses to run unless
//! `--allow-unconfined-check` says to run setup and check as plain child processes.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::results::CommandEnd;

/// How setup and check commands run.
#[derive(Debug, Clone, PartialEq)]
pub enum Confinement {
    /// In the kernel sandbox of `container.exec`, also reading these directories (the
    /// Rust toolchain is added).
    Confined {
        /// Extra readable directories (`tools.exec.read`).
        read: Vec<PathBuf>,
    },
    /// As plain child processes of ossa (only with `--allow-unconfined-check`).
    Unconfined,
}

impl Confinement {
    /// Whether commands are confined.
    pub fn is_confined(&self) -> bool {
        matches!(self, Confinement::Confined { .. })
    }
}

/// A command that ran.
#[derive(Debug, Clone)]
pub struct Ran {
    /// How it ended.
    pub end: CommandEnd,
    /// Its output (stdout and stderr), head and tail when long.
    pub output: String,
    /// Its wall time.
    pub duration: Duration,
}

/// Output kept per command, in KiB.
const OUTPUT_KIB: u32 = 64;

/// Runs `script` with `bash -c` in `workspace` (canonical) within `timeout`. `Err` when
/// it could not be started.
pub async fn run(
    confinement: &Confinement,
    script: &str,
    workspace: &Path,
    timeout: Duration,
    net: bool,
) -> Result<Ran, String> {
    match confinement {
        Confinement::Confined { read } => {
            confined(read.clone(), script, workspace, timeout, net).await
        }
        Confinement::Unconfined => unconfined(script, workspace, timeout).await,
    }
}

#[cfg(target_os = "linux")]
async fn confined(
    read: Vec<PathBuf>,
    script: &str,
    workspace: &Path,
    timeout: Duration,
    net: bool,
) -> Result<Ran, String> {
    use ossa_sandbox::exec::{CommandExit, CommandRequest, CommandRunner as _, NativeConfined};
    let mut grant = ossa_sandbox::ExecGrant::confined(read).with_rust_toolchain();
    grant.net = net;
    grant.timeout_secs = timeout.as_secs_f64();
    grant.output_kib = OUTPUT_KIB;
    grant.validate()?;
    let request = CommandRequest {
        argv: vec!["bash".into(), "-c".into(), script.into()],
        workspace: workspace.to_path_buf(),
        workdir: workspace.to_path_buf(),
        timeout,
        grant,
    };
    let outcome = NativeConfined
        .run(request)
        .await
        .map_err(|err| err.to_string())?;
    let mut output = outcome.output.head;
    if outcome.output.omitted_bytes > 0 {
        output.push_str(&format!(
            "\n[… {} bytes ({} lines) left out …]\n",
            outcome.output.omitted_bytes, outcome.output.omitted_lines
        ));
        output.push_str(&outcome.output.tail);
    }
    Ok(Ran {
        end: match outcome.exit {
            CommandExit::Code(code) => CommandEnd::Exit(code),
            CommandExit::Signal(signal) => CommandEnd::Signal(signal),
            CommandExit::TimedOut => CommandEnd::TimedOut,
        },
        output,
        duration: outcome.duration,
    })
}

#[cfg(not(target_os = "linux"))]
async fn confined(
    _read: Vec<PathBuf>,
    _script: &str,
    _workspace: &Path,
    _timeout: Duration,
    _net: bool,
) -> Result<Ran, String> {
    Err("confined commands need Linux".into())
}

/// A plain child process in its own process group, killed with its group at the time
/// limit (or when the attempt is dropped), without ossa's API keys.
async fn unconfined(script: &str, workspace: &Path, timeout: Duration) -> Result<Ran, String> {
    let start = Instant::now();
    let mut command = tokio::process::Command::new("bash");
    command
        .arg("-c")
        .arg(script)
        .current_dir(workspace)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("OSSA_API_KEY")
        .env_remove("HF_TOKEN")
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    let child = command
        .spawn()
        .map_err(|err| format!("cannot start bash: {err}"))?;
    let group = GroupGuard(child.id());
    let waited = tokio::time::timeout(timeout, child.wait_with_output()).await;
    let ran = match waited {
        Err(_) => Ran {
            end: CommandEnd::TimedOut,
            output: String::new(),
            duration: start.elapsed(),
        },
        Ok(Err(err)) => return Err(format!("cannot wait for the command: {err}")),
        Ok(Ok(output)) => {
            let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&output.stderr));
            Ran {
                end: exit_of(output.status),
                output: keep_ends(text, (OUTPUT_KIB as usize) << 10),
                duration: start.elapsed(),
            }
        }
    };
    drop(group);
    Ok(ran)
}

/// Kills a process group when dropped (whatever the command left running).
struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.0.and_then(|pid| i32::try_from(pid).ok()) {
            // SAFETY: killpg only sends a signal; a group that is gone gives ESRCH.
            unsafe {
                libc::killpg(pid, libc::SIGKILL);
            }
        }
    }
}

fn exit_of(status: std::process::ExitStatus) -> CommandEnd {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(signal) = status.signal() {
            return CommandEnd::Signal(signal);
        }
    }
    CommandEnd::Exit(status.code().unwrap_or(-1))
}

/// `text` with its middle left out when longer than `limit` bytes.
fn keep_ends(text: String, limit: usize) -> String {
    if text.len() <= limit {
        return text;
    }
    let head = text.floor_char_boundary(limit / 2);
    let tail = text.ceil_char_boundary(text.len() - limit / 2);
    format!(
        "{}\n[… {} bytes left out …]\n{}",
        &text[..head],
        tail - head,
        &text[tail..]
    )
}

/// The last `lines` lines of `output`, for a one-line reason in the results.
pub fn last_lines(output: &str, lines: usize) -> String {
    let all: Vec<&str> = output.trim_end().lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..].join("\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unconfined_commands_report_exit_output_and_timeouts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.txt"), "hello\n").unwrap();
        let ran = run(
            &Confinement::Unconfined,
            "cat f.txt; echo oops >&2; exit 3",
            dir.path(),
            Duration::from_secs(30),
            false,
        )
        .await
        .unwrap();
        assert_eq!(ran.end, CommandEnd::Exit(3));
        assert!(ran.output.contains("hello") && ran.output.contains("oops"));
        let slow = run(
            &Confinement::Unconfined,
            "sleep 30",
            dir.path(),
            Duration::from_millis(200),
            false,
        )
        .await
        .unwrap();
        assert_eq!(slow.end, CommandEnd::TimedOut);
    }

    #[test]
    fn long_output_keeps_its_ends() {
        let text = format!("{}{}", "a".repeat(1000), "b".repeat(1000));
        let kept = keep_ends(text, 100);
        assert!(kept.starts_with("aaaa") && kept.ends_with("bbbb"), "{kept}");
        assert!(kept.contains("1900 bytes left out"), "{kept}");
        assert_eq!(last_lines("1\n2\n3\n", 2), "2\n3");
    }
}
