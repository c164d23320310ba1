//! The wasmtime host for ossa's tools: every tool is an untrusted WebAssembly
//! component run with least privilege under an explicit per-tool policy.
//!
//! A tool exports the `ossa:tool` world (`sandbox/wit/tool.wit`): `describe()` gives
//! its name, description, JSON Schema and version; `call(args-json)` runs it. The host
//! side:
//!
//! - [`ToolHost`]: one per process. One wasmtime engine (component model, pooling
//!   allocator, epoch deadlines driven by a ticker thread), one linker (WASI 0.2 with a
//!   guarded file system), and an on-disk cache of compiled components.
//! - [`ToolPolicy`]: what one tool may do (workspace and extra mounts, read-only or
//!   read-write; environment variables by name; network destinations) and its limits
//!   (memory, wall time, output, bytes written per call). Stored as TOML.
//! - [`Tool`]: a loaded tool. [`Tool::call`] runs it in a fresh store and returns
//!   [`ToolOutput`] or a [`ToolFailure`] with a stable [`FailureKind`].
//! - [`Toolbox`]: the built-in tools plus those installed under [`OssaHome`].
//! - [`read_workspace_file`]: host-side reads that never follow symlinks.
//! - [`exec`]: the `process` capability of the built-in `exec` tool, its [`ExecGrant`],
//!   the [`CommandRunner`] behind it and the confined native runner; [`exec_support`]
//!   says whether this kernel can confine commands.
//! - [`python`]: the sandboxed CPython behind gpt-oss's `python` tool (a stateful
//!   notebook session) and `python3` commands for `container.exec`.
//!
//! This crate must not trust tool code, tool output or cached artifacts it did not
//! write, and must not follow symlinks in a workspace.
#![deny(missing_docs)]

mod bindings;
mod cache;
pub mod exec;
mod failure;
mod guarded_fs;
mod host;
mod monitor;
mod output;
mod policy;
pub mod python;
mod tool;
mod toolbox;
mod workspace;

pub use exec::{
    CommandExit, CommandOutcome, CommandRequest, CommandRunner, EXEC_NOT_GRANTED, ExecGrant,
    ExecMode, ExecSupport, RunError, Unsupported, exec_support,
};
pub use failure::{FailureKind, ToolFailure};
pub use host::{HostError, LoadError, ToolHost};
pub use policy::{
    Access, MAX_MEMORY_MIB, MAX_TIMEOUT_SECS, Mount, PolicyError, ToolPolicy, WORKSPACE_DIR_ENV,
    WORKSPACE_GUEST_PATH,
};
pub use python::{
    CellOutput, PythonCommands, PythonNotebook, PythonPolicy, PythonRuntime, PythonSession,
    SharedPythonRuntime,
};
pub use tool::{CallPhases, Tool, ToolInfo, ToolOutput};
pub use toolbox::{OssaHome, ToolSource, Toolbox, ToolboxError, builtin_policy};
pub use workspace::{WorkspaceError, check_workspace, read_workspace_file};
