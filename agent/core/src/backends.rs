//! The model backends (`ossa-model`) and the tool sandbox (`ossa-sandbox`) the CLI and
//! the tests use.

use std::path::Path;
use std::sync::Arc;

use ossa_model::{Backend, O200kHarmony, Tokenizer};

use crate::tools::ToolExecutor;

/// The o200k_harmony vocabulary (no model file needed): tokenizes cassettes and
/// replayed prompts the way gpt-oss does.
pub fn harmony_tokenizer() -> Arc<dyn Tokenizer> {
    Arc::new(O200kHarmony::new())
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
}

/// A GGUF model run in-process by llama.cpp.
pub async fn llama_backend(
    path: &Path,
    _options: &ModelOptions,
) -> anyhow::Result<Arc<dyn Backend>> {
    anyhow::bail!("--model {} is not wired in yet", path.display())
}

/// A remote engine over HTTP (llama-server, vLLM, SGLang).
pub async fn http_backend(url: &str, _options: &ModelOptions) -> anyhow::Result<Arc<dyn Backend>> {
    anyhow::bail!("--server {url} is not wired in yet")
}

/// The sandboxed built-in and user tools, working on `workspace`.
pub async fn sandbox_tools(workspace: &Path) -> anyhow::Result<Box<dyn ToolExecutor>> {
    anyhow::bail!(
        "the sandboxed tools are not wired in yet ({})",
        workspace.display()
    )
}
