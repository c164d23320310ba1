//! How a tool call can fail: a stable kind, a short message for the model and the
//! details for the user's log.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a tool call produced no output. The string forms are stable: transcripts and
/// logs store them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FailureKind {
    /// The arguments were not valid for the tool (the tool said so, or they were not
    /// a JSON object).
    InvalidArgs,
    /// The tool tried to touch something outside its grants.
    Denied,
    /// The tool reported an ordinary failure.
    Failed,
    /// The call ran past the policy's wall-time limit.
    Timeout,
    /// The tool asked for more memory than the policy allows.
    MemoryLimit,
    /// The returned text, stdout or stderr exceeded the output limit.
    OutputLimit,
    /// The tool wrote more bytes to disk than the policy allows per call.
    WriteLimit,
    /// The tool recursed too deeply.
    StackOverflow,
    /// The tool panicked (a Rust panic, or an abort with a message on stderr).
    Panic,
    /// The tool called `exit` instead of returning.
    Exit,
    /// The tool crashed with another trap.
    Trap,
    /// The harness could not run the tool (a bad workspace, a missing mount, a full
    /// instance pool).
    Host,
}

impl FailureKind {
    /// The stable string form, e.g. `memory-limit`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::InvalidArgs => "invalid-args",
            FailureKind::Denied => "denied",
            FailureKind::Failed => "failed",
            FailureKind::Timeout => "timeout",
            FailureKind::MemoryLimit => "memory-limit",
            FailureKind::OutputLimit => "output-limit",
            FailureKind::WriteLimit => "write-limit",
            FailureKind::StackOverflow => "stack-overflow",
            FailureKind::Panic => "panic",
            FailureKind::Exit => "exit",
            FailureKind::Trap => "trap",
            FailureKind::Host => "host",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolFailure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// A short message for the model: what happened and, where it helps, what to do.
    /// Stable for a given failure so that transcripts stay comparable.
    pub message: String,
    /// Everything known for the user's log: which limit fired, the trap and its wasm
    /// backtrace, the tool's stderr and stdout, the accesses that were refused.
    pub detail: String,
}

impl ToolFailure {
    pub(crate) fn new(
        kind: FailureKind,
        message: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        ToolFailure {
            kind,
            message: message.into(),
            detail: detail.into(),
        }
    }
}

impl fmt::Display for ToolFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.kind)
    }
}

impl std::error::Error for ToolFailure {}
