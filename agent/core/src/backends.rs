//! The real model backends (`ossa-model`) and tool sandbox (`ossa-sandbox`) behind the
//! agent's [`Model`], [`Codec`] and [`ToolExecutor`] traits.

use std::path::Path;
use std::sync::Arc;

use crate::model::{Codec, Model};
use crate::tools::ToolExecutor;

/// The o200k_harmony vocabulary (no model file needed): tokenizes cassettes and
/// replayed prompts the way gpt-oss does.
pub fn harmony_codec() -> anyhow::Result<Arc<dyn Codec>> {
    anyhow::bail!("the o200k_harmony tokenizer is not wired in yet")
}

/// Settings of a local or remote model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelOptions {
    /// Context size in tokens (default: the backend's choice).
    pub ctx_size: Option<u32>,
    /// CPU threads (llama.cpp).
    pub threads: Option<u32>,
    /// Layers offloaded to the GPU: `all`, `none` or a number.
    pub gpu_layers: Option<String>,
    /// Sampler seed.
    pub seed: Option<u32>,
}

/// A GGUF model run in-process by llama.cpp.
pub fn llama_model(path: &Path, _options: &ModelOptions) -> anyhow::Result<Box<dyn Model>> {
    anyhow::bail!("--model {} is not wired in yet", path.display())
}

/// A remote engine over HTTP (llama-server, vLLM, SGLang).
pub fn http_model(url: &str, _options: &ModelOptions) -> anyhow::Result<Box<dyn Model>> {
    anyhow::bail!("--server {url} is not wired in yet")
}

/// The sandboxed built-in and user tools, working on `workspace`.
pub async fn sandbox_tools(workspace: &Path) -> anyhow::Result<Box<dyn ToolExecutor>> {
    anyhow::bail!(
        "the sandboxed tools are not wired in yet ({})",
        workspace.display()
    )
}
