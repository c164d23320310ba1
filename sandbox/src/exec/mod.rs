//! Running commands for a tool: the `process` capability of the `exec-tool` world,
//! granted by a policy's `[exec]` table, and the confined runner behind it.
//!
//! # How it fits together
//!
//! The built-in `exec` tool (`tools/builtin/exec`, declared to the model as
//! `container.exec`) is an ordinary WebAssembly component: it parses the model's
//! arguments and formats the result. To run anything it calls the host's
//! `ossa:tool/process.run`. The host links that import only into a component whose
//! policy has an [`ExecGrant`] (any other component importing it fails to load), and
//! passes each command to a [`CommandRunner`]:
//!
//! - mode `off` (the built-in's default): [`NotGranted`], which answers every command
//!   with [`EXEC_NOT_GRANTED`];
//! - mode `confined`: [`NativeConfined`] on Linux when [`exec_support`] says the kernel
//!   enforces it;
//! - or a runner the agent plugs in with [`Tool::with_command_runner`](crate::Tool::with_command_runner)
//!   (e.g. Python in WebAssembly when native commands are not granted).
//!
//! # Threat model
//!
//! The commands are written by the model, which reads untrusted text (the repository,
//! tool output, web pages): treat them as hostile. They run as the user who runs ossa
//! (often root in CI and containers). The confinement must keep them from: reading the
//! user's files outside the workspace (`~/.ssh`, `~/.aws`, other projects, `/etc/shadow`);
//! writing outside the workspace; reaching the network; gaining privileges; outliving the
//! call or exhausting the machine; reading ossa's secrets (its environment, its memory);
//! and reaching host services that would do any of that for them.
//!
//! # What confines what (Linux, [`NativeConfined`])
//!
//! - **Files — Landlock** (ABI 3 or newer required; ABI 5–6 rights used when present).
//!   Read-write: the workspace, a private temporary directory created for the call (the
//!   command's `HOME` and `TMPDIR`, removed afterwards) and the grant's `write` entries.
//!   Read and execute: `/usr`, `/bin`, `/sbin`, `/lib*`, `/proc`, the CPU and cgroup
//!   parts of `/sys`, an allowlist of `/etc` entries (loader, users and groups, name
//!   resolution, certificates, shell profiles; not `shadow`, `sudoers`, `ssh/`,
//!   `ssl/private`), `/dev/null`-like devices, and the grant's `read` entries
//!   (toolchains). Everything else, the rest of `$HOME` included, cannot be opened,
//!   listed, executed or changed; this holds through symlinks, which Landlock resolves
//!   before checking. Landlock also stops the command from ptracing or reading
//!   `/proc/<pid>/environ` of processes outside its sandbox, and (ABI 6) from signalling
//!   them or reaching their abstract Unix sockets.
//! - **Privileges — `no_new_privs` and a user namespace.** setuid and file
//!   capabilities are ignored on exec. The command runs as the same uid inside a new user
//!   namespace where that uid is the only one mapped: it has no capability outside it
//!   (a root ossa's commands cannot override permissions, load modules, mount, or change
//!   the system).
//! - **Network — a network namespace** with only a private loopback, unless the grant
//!   says `net = true`. **Unix sockets — seccomp**: `socket(AF_UNIX)` is refused (the
//!   Docker or systemd socket would mean root on the host; Landlock before ABI 9 does not
//!   govern connecting to one); `socketpair` still works. seccomp also refuses io_uring
//!   (it performs opens and connects seccomp never sees), the kernel keyring (the
//!   session keyring is inherited), `TIOCSTI`, and x32 system calls.
//! - **Lifetime — a PID namespace.** A small init process (PID 1) starts the command
//!   and reaps orphans; when the command exits, or when the watcher kills init at the time
//!   limit, the kernel kills every process left in the namespace — including ones that
//!   ignore `SIGTERM`, called `setsid` or double-forked. A process group would miss the
//!   last two; a cgroup kill would need a delegated cgroup v2 hierarchy that is not
//!   always there. The sandbox is also tied to the ossa thread that forked it
//!   (`PR_SET_PDEATHSIG`), so it dies with ossa. The command has no controlling terminal
//!   (`setsid`).
//! - **Resources — a pids cgroup and rlimits.** Processes and threads: a child cgroup
//!   of ossa's own with `pids.max` (cgroup v1: one shared by the commands running at the
//!   same time, which every sandbox is forked into; v2: one per command), plus
//!   `RLIMIT_NPROC` (counted per user namespace). The kernel exempts the global root from
//!   `RLIMIT_NPROC` even inside a user namespace, so a root ossa refuses to run commands
//!   without the cgroup; for other users the rlimit alone contains a fork bomb. Per
//!   process: private writable memory (`RLIMIT_DATA`), file size, open files, no core
//!   dumps. And the wall-clock limit.
//! - **Output**: stdout and stderr share one pipe (their order is kept); the supervisor
//!   keeps the first and last halves of the grant's output budget and only counts the
//!   middle, so a flood costs CPU time, not memory.
//! - **Environment**: rebuilt from scratch: `PATH` (grant's directories, then the
//!   system's), `HOME` and `TMPDIR` (the private directory), `LANG=C.UTF-8`, `TERM=dumb`,
//!   the variables the grant names, and its fixed `vars`. Nothing else of ossa's
//!   environment (API keys, tokens) reaches the command. Descriptors ossa holds are closed
//!   before the exec.
//!
//! # What is not confined
//!
//! - Metadata: Landlock does not restrict `stat` or path lookup, so a command can learn
//!   whether a path outside its grants exists (not read it or list its directory).
//! - Other processes' public `/proc` entries: `/proc` is the host's, so a command can
//!   list the machine's processes and read their command lines (not their environment or
//!   memory, which need ptrace rights Landlock denies). A fresh procfs in a mount
//!   namespace of the sandbox's own would hide them (future work).
//! - Files the command leaves in the workspace (git hooks, build scripts) run unconfined
//!   if the user runs them later outside ossa.
//! - Total memory and disk: limits are per process and per file; many processes or many
//!   files can still use a lot (a memory cgroup would bound the sum). The private
//!   temporary directory is on the host's temporary file system.
//! - CPU time within the time limit, and kernel bugs (the kernel is the boundary).
//! - With `net = true`, the network is the host's, loopback services included.
//! - `/dev/shm` and ptys are not available to commands.
//!
//! # Other systems
//!
//! Confined mode needs Linux. [`exec_support`] refuses elsewhere with a reason, and
//! exec stays off. On macOS, `sandbox-exec` profiles (file and network rules) with a
//! process-group or job-based kill would be the counterpart; that is future work.

mod capture;
#[cfg(target_os = "linux")]
mod confined;
mod grant;
mod probe;
mod runner;

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::HasData;

pub use capture::CapturedText;
#[cfg(target_os = "linux")]
pub use confined::NativeConfined;
pub use grant::{ExecGrant, ExecMode, MAX_EXEC_TIMEOUT_SECS};
pub use probe::{ExecSupport, Unsupported, exec_support};
pub use runner::{
    CommandExit, CommandOutcome, CommandRequest, CommandRunner, EXEC_NOT_GRANTED, NotGranted,
    RunError, RunFuture,
};

use crate::bindings::guest_process as wit;
use crate::policy::WORKSPACE_GUEST_PATH;

/// The name under which components import the capability.
pub(crate) const PROCESS_INTERFACE: &str = "ossa:tool/process";

/// The runner for a grant when the agent plugged in none.
pub(crate) fn default_runner(grant: &ExecGrant) -> Arc<dyn CommandRunner> {
    match grant.mode {
        ExecMode::Off => Arc::new(NotGranted),
        #[cfg(target_os = "linux")]
        ExecMode::Confined => Arc::new(NativeConfined),
        #[cfg(not(target_os = "linux"))]
        ExecMode::Confined => Arc::new(Unavailable),
    }
}

/// Confined mode on a system without its confinement.
#[cfg(not(target_os = "linux"))]
struct Unavailable;

#[cfg(not(target_os = "linux"))]
impl CommandRunner for Unavailable {
    fn run(&self, _request: CommandRequest) -> RunFuture<'_> {
        Box::pin(async {
            Err(RunError::Sandbox(match exec_support() {
                Err(unsupported) => unsupported.to_string(),
                Ok(_) => "confined commands are not available on this system".to_owned(),
            }))
        })
    }
}

/// Whether a component's imports include the `process` capability.
pub(crate) fn imports_process<'a>(mut import_names: impl Iterator<Item = &'a str>) -> bool {
    import_names.any(|name| {
        name.strip_prefix(PROCESS_INTERFACE)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('@'))
    })
}

/// What one call of a tool with an exec grant needs to run commands.
pub(crate) struct ExecCall {
    /// The call's workspace (canonical), if it has one.
    pub(crate) workspace: Option<PathBuf>,
    pub(crate) grant: ExecGrant,
    pub(crate) runner: Arc<dyn CommandRunner>,
}

/// The `process` interface as the linker sees it: a view of the call's [`ExecCall`].
pub(crate) struct ProcessHost;

impl HasData for ProcessHost {
    type Data<'a> = ProcessView<'a>;
}

/// One call's access to the `process` capability.
pub(crate) struct ProcessView<'a> {
    pub(crate) call: Option<&'a ExecCall>,
}

impl wit::Host for ProcessView<'_> {
    async fn run(&mut self, command: wit::Command) -> Result<wit::Completed, wit::RunError> {
        let Some(call) = self.call else {
            // The loader refuses such components; this is a second line.
            return Err(wit::RunError::NotGranted(EXEC_NOT_GRANTED.to_owned()));
        };
        let outcome = match prepare(call, command) {
            Ok(request) => call.runner.run(request).await,
            Err(err) => Err(err),
        };
        match outcome {
            Ok(outcome) => Ok(to_wit(outcome)),
            Err(RunError::NotGranted(message)) => Err(wit::RunError::NotGranted(message)),
            Err(RunError::Invalid(message)) => Err(wit::RunError::Invalid(message)),
            Err(RunError::SpawnFailed(message)) => Err(wit::RunError::SpawnFailed(message)),
            Err(RunError::Sandbox(message)) => Err(wit::RunError::Sandbox(message)),
        }
    }
}

/// Checks the guest's request and resolves it against the call's workspace and grant.
fn prepare(call: &ExecCall, command: wit::Command) -> Result<CommandRequest, RunError> {
    if command
        .argv
        .first()
        .is_none_or(|program| program.is_empty())
    {
        return Err(RunError::Invalid(
            "the command is empty; give the program and its arguments".to_owned(),
        ));
    }
    if command.argv.iter().any(|arg| arg.contains('\0')) {
        return Err(RunError::Invalid(
            "the command contains a NUL character".to_owned(),
        ));
    }
    let workspace = call.workspace.clone().ok_or_else(|| {
        RunError::Sandbox("this call has no workspace to run commands in".to_owned())
    })?;
    let workdir = resolve_workdir(&workspace, &command.workdir)?;
    let limit = call.grant.timeout();
    let timeout = match command.timeout_ms {
        Some(ms) if ms > 0 => limit.min(Duration::from_millis(ms)),
        _ => limit,
    };
    Ok(CommandRequest {
        argv: command.argv,
        workspace,
        workdir,
        timeout,
        grant: call.grant.clone(),
    })
}

/// The working directory the model asked for: `""`/`.` (the workspace root), a path
/// relative to the root, or an absolute path inside the workspace (its real path, or
/// the `/workspace` path the file tools show). It must exist and, symlinks resolved,
/// stay inside the workspace.
pub(crate) fn resolve_workdir(workspace: &Path, requested: &str) -> Result<PathBuf, RunError> {
    let requested = requested.trim();
    let outside = || {
        RunError::Invalid(format!(
            "workdir {requested:?} is outside the workspace ({}); use a directory inside it, \
             relative to its root",
            workspace.display()
        ))
    };
    let relative: &Path = if Path::new(requested).is_absolute() {
        let guest_relative = Path::new(requested)
            .strip_prefix(WORKSPACE_GUEST_PATH)
            .ok()
            .filter(|_| !workspace.starts_with(WORKSPACE_GUEST_PATH));
        match guest_relative.or_else(|| Path::new(requested).strip_prefix(workspace).ok()) {
            Some(relative) => relative,
            None => return Err(outside()),
        }
    } else {
        Path::new(requested)
    };
    let mut joined = workspace.to_path_buf();
    for component in relative.components() {
        match component {
            Component::Normal(part) => joined.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if joined == workspace || !joined.pop() {
                    return Err(outside());
                }
            }
            Component::RootDir | Component::Prefix(_) => return Err(outside()),
        }
    }
    let canonical = std::fs::canonicalize(&joined)
        .map_err(|err| RunError::Invalid(format!("workdir {requested:?} cannot be used: {err}")))?;
    if !canonical.starts_with(workspace) {
        return Err(outside());
    }
    if !canonical.is_dir() {
        return Err(RunError::Invalid(format!(
            "workdir {requested:?} is not a directory"
        )));
    }
    Ok(canonical)
}

fn to_wit(outcome: CommandOutcome) -> wit::Completed {
    let millis = |duration: Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    wit::Completed {
        exit: match outcome.exit {
            CommandExit::Code(code) => wit::Exit::Code(code),
            CommandExit::Signal(signal) => wit::Exit::Signal(signal),
            CommandExit::TimedOut => wit::Exit::TimedOut,
        },
        head: outcome.output.head,
        tail: outcome.output.tail,
        omitted_bytes: outcome.output.omitted_bytes,
        omitted_lines: outcome.output.omitted_lines,
        duration_ms: millis(outcome.duration),
        timeout_ms: millis(outcome.timeout),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn process_imports_are_recognised() {
        assert!(imports_process(
            ["wasi:cli/environment@0.2.0", "ossa:tool/process@0.1.0"].into_iter()
        ));
        assert!(!imports_process(
            ["ossa:tool/processes@0.1.0", "wasi:io/streams@0.2.0"].into_iter()
        ));
    }

    #[test]
    fn workdirs_stay_inside_the_workspace() {
        let root = tempfile::tempdir().unwrap();
        let workspace = std::fs::canonicalize(root.path()).unwrap().join("ws");
        std::fs::create_dir_all(workspace.join("src/deep")).unwrap();
        std::fs::create_dir_all(root.path().join("other")).unwrap();
        let ok = |requested: &str| resolve_workdir(&workspace, requested).unwrap();
        assert_eq!(ok(""), workspace);
        assert_eq!(ok("."), workspace);
        assert_eq!(ok("src"), workspace.join("src"));
        assert_eq!(ok("src/deep/.."), workspace.join("src"));
        assert_eq!(ok("/workspace/src"), workspace.join("src"));
        assert_eq!(
            ok(&workspace.join("src/deep").to_string_lossy()),
            workspace.join("src/deep")
        );
        for bad in [
            "..",
            "src/../..",
            "/etc",
            "/workspacefoo",
            "missing",
            &root.path().join("other").to_string_lossy(),
        ] {
            assert!(
                matches!(resolve_workdir(&workspace, bad), Err(RunError::Invalid(_))),
                "{bad}"
            );
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(root.path().join("other"), workspace.join("out")).unwrap();
            assert!(matches!(
                resolve_workdir(&workspace, "out"),
                Err(RunError::Invalid(_))
            ));
        }
    }
}
