//! What the sandboxed interpreter may see and how far it may go: the grants (the
//! workspace, read-only library directories, environment variables) and the limits
//! (time per cell or command, memory, output).

use std::path::PathBuf;
use std::time::Duration;

use crate::policy::Access;

/// Where the workspace appears inside the interpreter, as gpt-oss's `python` tool
/// promises ("the drive at '/mnt/data'"). It is also mounted at its own host path.
pub const PYTHON_DATA_DIR: &str = "/mnt/data";

/// The default wall-time limit of one cell or command: what gpt-oss was trained with.
pub const DEFAULT_PYTHON_TIMEOUT: Duration = Duration::from_secs(120);

/// Largest memory limit: a 32-bit WebAssembly memory cannot grow past 4 GiB.
pub const MAX_PYTHON_MEMORY_MIB: u32 = 4096;

/// The grants and limits of a Python session or command. Everything not granted is
/// denied; [`PythonPolicy::default`] grants read access to the workspace only.
///
/// There is no network grant: the interpreter is a WASI 0.1 program, and WASI 0.1 has
/// no way to open a socket (`socket.socket()` fails), so no setting could allow one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonPolicy {
    /// Access to the workspace, mounted at [`PYTHON_DATA_DIR`] and at its own path.
    /// `Access::None` mounts nothing (the interpreter then starts in `/tmp`).
    pub workspace: Access,
    /// Host directories mounted read-only at their own paths and appended to
    /// `sys.path`, with every `*.whl` file directly inside them (pure-Python wheels
    /// import from the archive). For packages the interpreter lacks, e.g. pytest.
    pub library: Vec<PathBuf>,
    /// Environment variables given to the interpreter, by value (nothing is inherited
    /// from ossa's environment), set in `os.environ`. `PYTHONPATH` is honoured: its
    /// entries are put at the front of `sys.path`. Variables CPython reads only while
    /// starting (`PYTHONHASHSEED`, `PYTHONUTF8`, ...) have no effect: the interpreter
    /// was started ahead of time.
    pub env: Vec<(String, String)>,
    /// Wall-time limit of one cell or command. A cell that runs past it stops the
    /// interpreter, which is restarted with its variables lost.
    pub timeout: Duration,
    /// Limit on the interpreter's memory, in MiB (at most [`MAX_PYTHON_MEMORY_MIB`]).
    /// Allocations past it raise `MemoryError` in Python.
    pub memory_mib: u32,
    /// Limit on what one cell or command shows, per stream (stdout, stderr, the value
    /// of a cell, its traceback): past it the head and the tail are kept, the middle
    /// replaced by a line saying how much was left out.
    pub output_limit_bytes: usize,
}

impl Default for PythonPolicy {
    fn default() -> Self {
        PythonPolicy {
            workspace: Access::Read,
            library: Vec::new(),
            env: Vec::new(),
            timeout: DEFAULT_PYTHON_TIMEOUT,
            memory_mib: 1024,
            output_limit_bytes: 64 * 1024,
        }
    }
}

impl PythonPolicy {
    /// The default policy with the workspace at `access`.
    pub fn with_workspace(access: Access) -> Self {
        PythonPolicy {
            workspace: access,
            ..PythonPolicy::default()
        }
    }

    /// The memory limit in bytes.
    pub fn memory_bytes(&self) -> usize {
        (self.memory_mib as usize) << 20
    }

    /// Checks ranges and shapes; host paths are checked when an interpreter starts.
    pub fn validate(&self) -> Result<(), String> {
        if self.memory_mib < 64 || self.memory_mib > MAX_PYTHON_MEMORY_MIB {
            return Err(format!(
                "the Python memory limit must be between 64 and {MAX_PYTHON_MEMORY_MIB} MiB, not {}",
                self.memory_mib
            ));
        }
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(24 * 3600) {
            return Err(format!(
                "the Python timeout must be above 0 and at most a day, not {:?}",
                self.timeout
            ));
        }
        if self.output_limit_bytes < 256 {
            return Err(format!(
                "the Python output limit must be at least 256 bytes, not {}",
                self.output_limit_bytes
            ));
        }
        for dir in &self.library {
            if !dir.is_absolute() {
                return Err(format!(
                    "the Python library directory {} must be an absolute path",
                    dir.display()
                ));
            }
        }
        for (name, value) in &self.env {
            if name.is_empty() || name.contains(['=', '\0']) || value.contains('\0') {
                return Err(format!(
                    "the environment variable {name:?} is not a valid name and value"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        PythonPolicy::default().validate().unwrap();
        let policy = PythonPolicy {
            memory_mib: 8192,
            ..PythonPolicy::default()
        };
        assert!(policy.validate().unwrap_err().contains("8192"));
        let policy = PythonPolicy {
            library: vec![PathBuf::from("relative/dir")],
            ..PythonPolicy::default()
        };
        assert!(policy.validate().unwrap_err().contains("relative/dir"));
        let policy = PythonPolicy {
            env: vec![("A=B".to_owned(), "x".to_owned())],
            ..PythonPolicy::default()
        };
        assert!(policy.validate().is_err());
    }
}
