//! Adapters from the model backends (`ossa-model`) and the tool sandbox
//! (`ossa-sandbox`) to the agent's `Model`, `Codec` and `ToolExecutor`.

use std::path::Path;
use std::sync::Arc;

use ossa_agent::{Codec, Model, ToolExecutor};

use super::session::RuntimeArgs;

/// The o200k_harmony vocabulary (no model file needed).
pub fn harmony_codec() -> anyhow::Result<Arc<dyn Codec>> {
    anyhow::bail!("the o200k_harmony tokenizer is not wired in yet")
}

/// A GGUF model run in-process by llama.cpp.
pub fn llama_model(path: &Path, _runtime: &RuntimeArgs) -> anyhow::Result<Box<dyn Model>> {
    anyhow::bail!("--model {} is not wired in yet", path.display())
}

/// A remote engine over HTTP.
pub fn http_model(url: &str, _runtime: &RuntimeArgs) -> anyhow::Result<Box<dyn Model>> {
    anyhow::bail!("--server {url} is not wired in yet")
}

/// The sandboxed tools on `workspace`.
pub fn sandbox_tools(workspace: &Path) -> anyhow::Result<Box<dyn ToolExecutor>> {
    anyhow::bail!(
        "the sandboxed tools are not wired in yet ({})",
        workspace.display()
    )
}
