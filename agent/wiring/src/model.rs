//! Opening the model a session runs on.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use ossa_agent::{ReplayBackend, Transcript, harmony_tokenizer};
use ossa_model::{
    Backend, FlashAttention, GpuLayers, HttpApi, HttpBackend, HttpOptions, LlamaCppBackend,
    LlamaOptions,
};

/// Where completions come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSource {
    /// A gpt-oss GGUF file, run in-process with llama.cpp.
    Gguf(PathBuf),
    /// A running engine over HTTP (llama-server, vLLM, SGLang).
    Server(ServerSpec),
    /// The completions of a recorded transcript or a hand-written cassette.
    Replay(PathBuf),
}

/// A remote engine and how to talk to it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServerSpec {
    /// The server's base URL.
    pub url: String,
    /// The protocol; `None` detects it.
    pub api: Option<HttpApi>,
    /// The model name for OpenAI-compatible servers; `None` takes the first listed.
    pub model: Option<String>,
    /// Sent as a bearer token when set (`OSSA_API_KEY`).
    pub api_key: Option<String>,
    /// llama-server only: the slot this session's requests are pinned to, so its KV
    /// cache stays its own while other sessions use the server (see
    /// [`HttpOptions::slot`]); `None` lets the server choose.
    pub slot: Option<u32>,
}

/// Runtime settings of a local or remote model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuntimeOptions {
    /// Context size in tokens (default: the backend's choice).
    pub ctx_size: Option<u32>,
    /// CPU threads (llama.cpp).
    pub threads: Option<u32>,
    /// Layers offloaded to the GPU (llama.cpp).
    pub gpu_layers: GpuLayers,
    /// Flash attention (llama.cpp).
    pub flash_attention: FlashAttention,
}

/// Opens the model `source` names. A GGUF is loaded off the async threads (it can take
/// seconds), with a progress bar when stderr is a terminal.
pub async fn open_backend(
    source: &ModelSource,
    runtime: &RuntimeOptions,
) -> anyhow::Result<Arc<dyn Backend>> {
    match source {
        ModelSource::Replay(path) => {
            let transcript = Transcript::read(path)?;
            Ok(Arc::new(ReplayBackend::new(
                &transcript,
                harmony_tokenizer(),
                false,
            )?))
        }
        ModelSource::Gguf(path) => {
            let options = LlamaOptions {
                gpu_layers: runtime.gpu_layers,
                threads: runtime.threads,
                ctx_size: runtime.ctx_size,
                flash_attention: runtime.flash_attention,
                progress: true,
            };
            let path = path.clone();
            let backend =
                tokio::task::spawn_blocking(move || LlamaCppBackend::load(&path, &options))
                    .await
                    .context("the model loading task failed")??;
            Ok(Arc::new(backend))
        }
        ModelSource::Server(server) => {
            let options = HttpOptions {
                api: server.api,
                model: server.model.clone(),
                api_key: server.api_key.clone(),
                context_size: runtime.ctx_size,
                slot: server.slot,
                ..HttpOptions::default()
            };
            Ok(Arc::new(HttpBackend::connect(&server.url, options).await?))
        }
    }
}
