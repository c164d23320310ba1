//! The pluggable point behind the `process` capability: a [`CommandRunner`] runs one
//! command for a tool. ossa has two: [`NotGranted`] (refuses everything) and the native
//! confined runner (Linux). The agent may plug in another, e.g. one that runs `python3`
//! in WebAssembly when native exec is not granted ([`Tool::with_command_runner`]).
//!
//! [`Tool::with_command_runner`]: crate::Tool::with_command_runner

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use super::capture::CapturedText;
use super::grant::ExecGrant;

/// The message the model gets when it calls `exec` and running commands is not
/// granted. Kept in one place so the agent's wording (flag names, tool names) can change
/// here.
pub const EXEC_NOT_GRANTED: &str = "Running commands is not enabled in this session. Read \
and change files with the repo_browser tools (print_tree, list_dir, search, open_file, \
apply_patch) instead. If the task needs commands (builds, tests), say so in your answer: the \
user can allow them by starting ossa with --allow-exec.";

/// One command, checked and resolved by the host.
#[derive(Debug, Clone)]
pub struct CommandRequest {
    /// Program and arguments (at least the program).
    pub argv: Vec<String>,
    /// The workspace, canonical.
    pub workspace: PathBuf,
    /// The directory to run in: the workspace or a directory inside it, canonical.
    pub workdir: PathBuf,
    /// The time limit (already capped at the grant's).
    pub timeout: Duration,
    /// The tool's grant: extra directories, environment, network, limits.
    pub grant: ExecGrant,
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandExit {
    /// It exited with this code.
    Code(i32),
    /// This signal ended it.
    Signal(i32),
    /// It ran past the time limit; it and everything it started were killed.
    TimedOut,
}

/// A command that ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutcome {
    /// How it ended.
    pub exit: CommandExit,
    /// Its merged stdout and stderr, head and tail.
    pub output: CapturedText,
    /// Wall time.
    pub duration: Duration,
    /// The time limit that applied.
    pub timeout: Duration,
}

/// Why a command did not run. Messages are written for the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// Running commands is not granted.
    #[error("{0}")]
    NotGranted(String),
    /// The request is unusable (bad working directory, empty argv).
    #[error("{0}")]
    Invalid(String),
    /// The program could not be started.
    #[error("{0}")]
    SpawnFailed(String),
    /// The sandbox could not be set up.
    #[error("{0}")]
    Sandbox(String),
}

/// The future a [`CommandRunner`] returns. Dropping it must stop the command and
/// everything it started.
pub type RunFuture<'a> =
    Pin<Box<dyn Future<Output = Result<CommandOutcome, RunError>> + Send + 'a>>;

/// Runs commands for tools that import the `process` capability.
pub trait CommandRunner: Send + Sync {
    /// Runs one command to completion or to its time limit.
    fn run(&self, request: CommandRequest) -> RunFuture<'_>;
}

/// Refuses every command with [`EXEC_NOT_GRANTED`]: the runner of mode `off`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotGranted;

impl CommandRunner for NotGranted {
    fn run(&self, _request: CommandRequest) -> RunFuture<'_> {
        Box::pin(async { Err(RunError::NotGranted(EXEC_NOT_GRANTED.to_owned())) })
    }
}
