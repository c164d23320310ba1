//! Builds what an ossa session runs on from typed settings: the model backend
//! ([`open_backend`]: llama.cpp in-process, an HTTP engine, or a replayed transcript) and
//! the sandboxed tools ([`SandboxTools`]).
//!
//! This is the one place that knows both the agent loop (`ossa-agent`, which works against
//! the `Backend` and `ToolExecutor` traits alone) and the concrete runtimes behind those
//! traits (llama.cpp through `ossa-model`, wasmtime through `ossa-sandbox`). The `ossa`
//! binary and the integration tests build sessions through it.
#![deny(missing_docs)]

mod model;
mod tools;

pub use model::{ModelSource, RuntimeOptions, ServerSpec, open_backend};
pub use tools::{ExecOptions, ExecStatus, SandboxTools, failure_kind, record};
