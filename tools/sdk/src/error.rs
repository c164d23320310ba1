//! The error a tool returns to the model.

use std::fmt;
use std::io;

use crate::bindings;

/// Why a tool call failed. The message is shown to the model: say what went wrong and
/// what to do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolError {
    /// The arguments were malformed; the model should fix them and retry.
    InvalidArgs(String),
    /// The call tried to touch something outside the tool's grants.
    Denied(String),
    /// Anything else.
    Failed(String),
}

impl ToolError {
    /// A failure while working on `path`, classified from the I/O error: a refused
    /// access becomes [`ToolError::Denied`], anything else [`ToolError::Failed`].
    pub fn io(path: &str, err: &io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::PermissionDenied => ToolError::Denied(format!(
                "{path}: permission denied: the path is outside what this tool may access \
                 (paths are relative to the workspace root)"
            )),
            io::ErrorKind::NotFound => {
                ToolError::Failed(format!("{path}: no such file or directory"))
            }
            _ => ToolError::Failed(format!("{path}: {err}")),
        }
    }

    /// The message without the kind.
    pub fn message(&self) -> &str {
        match self {
            ToolError::InvalidArgs(msg) | ToolError::Denied(msg) | ToolError::Failed(msg) => msg,
        }
    }

    pub(crate) fn into_wit(self) -> bindings::ToolError {
        match self {
            ToolError::InvalidArgs(msg) => bindings::ToolError::InvalidArgs(msg),
            ToolError::Denied(msg) => bindings::ToolError::Denied(msg),
            ToolError::Failed(msg) => bindings::ToolError::Failed(msg),
        }
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ToolError {}
