//! The native confined runner (Linux): one command in its own user, PID, IPC and
//! (without a network grant) network namespaces, under Landlock, seccomp and rlimits,
//! supervised from a blocking thread. See the [`exec` module](crate::exec) for the
//! threat model.

mod cgroup;
mod child;
pub(crate) mod rules;

use std::fs;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::pipe::PipeFlags;
use rustix::process::{PidfdFlags, Resource};

use self::cgroup::ProcessLimit;
use self::child::{
    ChildPlan, KIND_SETUP_FAILED, KIND_STATUS, KIND_TIMED_OUT, MESSAGE_BYTES, Stage,
};
use super::capture::OutputCapture;
use super::runner::{
    CommandExit, CommandOutcome, CommandRequest, CommandRunner, RunError, RunFuture,
};

/// How long after the time limit the supervisor stops waiting for the watcher (which
/// enforces the limit itself) and kills it.
const BACKSTOP: Duration = Duration::from_secs(2);
/// How long to keep reading output after the sandbox is gone.
const DRAIN: Duration = Duration::from_secs(1);
/// The two processes ossa adds to each sandbox (watcher and init), counted against the
/// process limit.
const HELPER_PROCESSES: u64 = 2;

/// Runs commands natively under the kernel's confinement (Linux only). Stateless: one
/// value serves every tool and call.
#[derive(Debug, Clone, Copy, Default)]
pub struct NativeConfined;

impl CommandRunner for NativeConfined {
    fn run(&self, request: CommandRequest) -> RunFuture<'_> {
        Box::pin(async move {
            // Dropping this future (the call was cancelled or timed out) closes the
            // write end; the supervisor sees it and kills the sandbox.
            let (cancel_read, cancel_write) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC)
                .map_err(|err| RunError::Sandbox(format!("cannot create a pipe: {err}")))?;
            let supervisor =
                tokio::task::spawn_blocking(move || run_blocking(&request, Some(cancel_read)));
            let outcome = supervisor.await.map_err(|err| {
                RunError::Sandbox(format!("the command's supervisor stopped: {err}"))
            });
            drop(cancel_write);
            outcome?
        })
    }
}

/// Runs one command, supervising it from the calling thread. The sandbox is forked by
/// this thread or by the shared spawner thread (see `cgroup`), and is killed if that
/// thread exits first: this one stays alive until the function returns. `cancel`: a pipe
/// whose write end closing stops the command.
pub(crate) fn run_blocking(
    request: &CommandRequest,
    cancel: Option<OwnedFd>,
) -> Result<CommandOutcome, RunError> {
    let sandbox_error = |what: &str, err: &dyn std::fmt::Display| {
        RunError::Sandbox(format!("cannot set up the sandbox: {what}: {err}"))
    };
    let private_tmp = tempfile::Builder::new()
        .prefix("ossa-exec-")
        .tempdir()
        .map_err(|err| sandbox_error("creating the private temporary directory", &err))?;
    let environment = rules::environment(&request.grant, private_tmp.path());
    // Models run their commands as `bash -lc …`: a login shell, whose /etc/profile resets
    // PATH. The private HOME's own profile, read next, sets the granted PATH again.
    std::fs::write(
        private_tmp.path().join(".profile"),
        rules::login_profile(&environment),
    )
    .map_err(|err| sandbox_error("writing the login profile", &err))?;
    let ruleset = rules::landlock_ruleset(&request.workspace, private_tmp.path(), &request.grant)
        .map_err(RunError::Sandbox)?;
    let seccomp = rules::seccomp_filters().map_err(RunError::Sandbox)?;
    let (status_read, status_write) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC)
        .map_err(|err| sandbox_error("creating the status pipe", &err))?;
    let (output_read, output_write) =
        io::pipe().map_err(|err| sandbox_error("creating the output pipe", &err))?;
    let output_write_copy = output_write
        .try_clone()
        .map_err(|err| sandbox_error("creating the output pipe", &err))?;

    let grant = &request.grant;
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    let max_tasks = u64::from(grant.processes) + HELPER_PROCESSES;
    // RLIMIT_NPROC does not hold for root (see `cgroup`): root needs the cgroup.
    let limit = ProcessLimit::for_command(max_tasks, uid == 0).map_err(|err| {
        RunError::Sandbox(format!(
            "cannot limit the command's processes: running as root, ossa needs a pids \
             cgroup it can create (the process rlimit does not apply to root): {err}"
        ))
    })?;
    let mut plan = ChildPlan {
        parent: rustix::process::getpid(),
        status: status_write,
        cgroup_procs: limit.procs_fd(),
        uid_map: format!("{uid} {uid} 1\n").into_bytes(),
        gid_map: format!("{gid} {gid} 1\n").into_bytes(),
        private_network: !grant.net,
        timeout_ms: request.timeout.as_millis().try_into().unwrap_or(u64::MAX),
        rlimits: vec![
            (Resource::Data, u64::from(grant.memory_mib) << 20),
            (Resource::Fsize, u64::from(grant.file_size_mib) << 20),
            (Resource::Nofile, u64::from(grant.open_files)),
            (Resource::Nproc, max_tasks),
            (Resource::Core, 0),
        ],
        ruleset: Some(ruleset),
        seccomp,
    };
    let mut command = Command::new(&request.argv[0]);
    command
        .args(&request.argv[1..])
        .current_dir(&request.workdir)
        .env_clear()
        .envs(environment)
        .stdin(Stdio::null())
        .stdout(output_write_copy)
        .stderr(output_write);
    // SAFETY: the hook only runs async-signal-safe code on memory prepared above (see
    // `child`).
    unsafe {
        command.pre_exec(move || plan.run());
    }

    let started = Instant::now();
    // Also closes ossa's copies of the pipes' write ends (and the ruleset), so that end
    // of file means the sandbox is gone.
    let spawned = limit.spawn(command);
    let mut status_read = fs::File::from(status_read);
    let child = match spawned {
        Ok(child) => child,
        Err(err) => {
            // std has waited for the watcher; every writer of the status pipe is gone.
            let report = read_status(&mut status_read);
            limit.finish();
            return Err(match report.setup_failure {
                Some(failure) => RunError::Sandbox(failure),
                None => spawn_error(&request.argv[0], &err, grant),
            });
        }
    };
    let supervised = supervise(child, output_read, cancel, request, started);
    let report = read_status(&mut status_read);
    limit.finish();
    remove_private_dir(private_tmp);
    let (capture, watcher_killed) = supervised?;
    if let Some(failure) = report.setup_failure {
        return Err(RunError::Sandbox(failure));
    }
    let exit = if report.timed_out || (watcher_killed && report.status.is_none()) {
        CommandExit::TimedOut
    } else {
        match report.status {
            Some(status) if libc::WIFEXITED(status) => CommandExit::Code(libc::WEXITSTATUS(status)),
            Some(status) if libc::WIFSIGNALED(status) => {
                CommandExit::Signal(libc::WTERMSIG(status))
            }
            _ => {
                return Err(RunError::Sandbox(
                    "the sandbox ended without reporting the command's exit status".to_owned(),
                ));
            }
        }
    };
    Ok(CommandOutcome {
        exit,
        output: capture.finish(),
        duration: started.elapsed(),
        timeout: request.timeout,
    })
}

/// Reads output until the sandbox is gone, and waits for the watcher. Returns the
/// output and whether the supervisor had to kill the watcher (time limit backstop).
fn supervise(
    mut child: Child,
    output: io::PipeReader,
    cancel: Option<OwnedFd>,
    request: &CommandRequest,
    started: Instant,
) -> Result<(OutputCapture, bool), RunError> {
    let mut capture = OutputCapture::new(request.grant.output_bytes());
    let watcher = rustix::process::Pid::from_child(&child);
    // The watcher is our unreaped child, so its pid cannot be reused before we wait.
    let watcher_fd = rustix::process::pidfd_open(watcher, PidfdFlags::empty()).ok();
    let backstop = started + request.timeout + BACKSTOP;
    let mut drain_until: Option<Instant> = None;
    let mut output_open = true;
    let mut watcher_running = watcher_fd.is_some();
    let mut killed = false;
    let mut buffer = vec![0u8; 64 << 10];
    while output_open || watcher_running {
        let deadline = drain_until.unwrap_or(backstop);
        let Some(remaining) = deadline.checked_duration_since(Instant::now()) else {
            if drain_until.is_some() {
                break;
            }
            let _ = child.kill();
            killed = true;
            drain_until = Some(Instant::now() + DRAIN);
            continue;
        };
        let mut fds = Vec::with_capacity(3);
        if output_open {
            fds.push(PollFd::new(&output, PollFlags::IN));
        }
        if let (true, Some(fd)) = (watcher_running, &watcher_fd) {
            fds.push(PollFd::new(fd, PollFlags::IN));
        }
        if let Some(cancel) = &cancel {
            fds.push(PollFd::new(cancel, PollFlags::IN));
        }
        let timeout = Timespec::try_from(remaining).unwrap_or(Timespec {
            tv_sec: 1,
            tv_nsec: 0,
        });
        match poll(&mut fds, Some(&timeout)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::Sandbox(format!(
                    "cannot watch the command: {err}"
                )));
            }
        }
        let ready = |fd: &dyn AsFd| {
            fds.iter().any(|polled| {
                polled.as_fd().as_raw_fd() == fd.as_fd().as_raw_fd() && !polled.revents().is_empty()
            })
        };
        let output_ready = output_open && ready(&output);
        let watcher_done = watcher_running && watcher_fd.as_ref().is_some_and(|fd| ready(fd));
        let cancelled = cancel.as_ref().is_some_and(|fd| ready(fd));
        drop(fds);
        if cancelled {
            let _ = child.kill();
            let _ = child.wait();
            return Err(RunError::Sandbox("the call was cancelled".to_owned()));
        }
        if output_ready {
            match (&output).read(&mut buffer) {
                Ok(0) => output_open = false,
                Ok(read) => capture.push(&buffer[..read]),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => output_open = false,
            }
        }
        if watcher_done {
            watcher_running = false;
            // The sandbox is gone: what is left in the pipe is all there is.
            drain_until.get_or_insert(Instant::now() + DRAIN);
        }
    }
    child
        .wait()
        .map_err(|err| RunError::Sandbox(format!("cannot wait for the sandbox: {err}")))?;
    Ok((capture, killed))
}

/// What the children reported on the status pipe.
#[derive(Debug, Default)]
struct StatusReport {
    status: Option<i32>,
    timed_out: bool,
    setup_failure: Option<String>,
}

/// Reads the status pipe to its end (every writer has exited by now).
fn read_status(pipe: &mut fs::File) -> StatusReport {
    let mut bytes = Vec::new();
    let _ = pipe.read_to_end(&mut bytes);
    let mut report = StatusReport::default();
    for message in bytes.chunks_exact(MESSAGE_BYTES) {
        let field = |index: usize| {
            let mut raw = [0u8; 4];
            raw.copy_from_slice(&message[index * 4..index * 4 + 4]);
            i32::from_ne_bytes(raw)
        };
        match field(0) {
            KIND_STATUS => report.status = Some(field(2)),
            KIND_TIMED_OUT => report.timed_out = true,
            KIND_SETUP_FAILED if report.setup_failure.is_none() => {
                let stage = Stage::from_raw(field(1)).map_or("an unknown step", Stage::describe);
                let err = io::Error::from_raw_os_error(field(2));
                report.setup_failure =
                    Some(format!("cannot set up the sandbox: {stage} failed: {err}"));
            }
            _ => {}
        }
    }
    report
}

fn spawn_error(program: &str, err: &io::Error, grant: &super::grant::ExecGrant) -> RunError {
    match err.kind() {
        io::ErrorKind::NotFound if !program.contains('/') => RunError::SpawnFailed(format!(
            "command not found (PATH is {})",
            rules::environment(grant, Path::new("/tmp"))
                .into_iter()
                .find(|(name, _)| name == "PATH")
                .map(|(_, path)| path)
                .unwrap_or_default()
        )),
        io::ErrorKind::NotFound => RunError::SpawnFailed("no such file".to_owned()),
        io::ErrorKind::PermissionDenied => RunError::SpawnFailed(
            "permission denied (not executable, or outside what commands may run)".to_owned(),
        ),
        _ => RunError::SpawnFailed(err.to_string()),
    }
}

/// Removes the private temporary directory, first making everything in it writable
/// (a command may have left read-only directories behind).
fn remove_private_dir(dir: tempfile::TempDir) {
    let path = dir.path().to_path_buf();
    if dir.close().is_ok() {
        return;
    }
    let mut pending = vec![path.clone()];
    while let Some(next) = pending.pop() {
        let _ = fs::set_permissions(&next, fs::Permissions::from_mode(0o700));
        if let Ok(entries) = fs::read_dir(&next) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                    pending.push(entry.path());
                }
            }
        }
    }
    if let Err(err) = fs::remove_dir_all(&path) {
        tracing::warn!(path = %path.display(), %err, "cannot remove a command's temporary directory");
    }
}
