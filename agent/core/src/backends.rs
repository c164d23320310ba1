//! The model backends (`ossa-model`) and the tool sandbox (`ossa-sandbox`) the CLI and
//! the tests use.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ossa_model::{
    Backend, GpuLayers, HttpBackend, HttpOptions, LlamaCppBackend, LlamaOptions, O200kHarmony,
    Tokenizer,
};
use ossa_sandbox::{OssaHome, Tool, ToolHost, Toolbox};
use serde_json::Value;

use crate::event::ToolRecord;
use crate::tools::{BoxFuture, ToolExecutor, ToolOutcome};

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

/// A GGUF model run in-process by llama.cpp (loaded off the async threads).
pub async fn llama_backend(
    path: &Path,
    options: &ModelOptions,
) -> anyhow::Result<Arc<dyn Backend>> {
    let gpu_layers: GpuLayers = match &options.gpu_layers {
        Some(text) => text.parse()?,
        None => GpuLayers::default(),
    };
    let llama = LlamaOptions {
        gpu_layers,
        threads: options.threads,
        ctx_size: options.ctx_size,
        ..LlamaOptions::default()
    };
    let path = path.to_path_buf();
    let backend =
        tokio::task::spawn_blocking(move || LlamaCppBackend::load(&path, &llama)).await??;
    Ok(Arc::new(backend))
}

/// A remote engine over HTTP (llama-server, vLLM, SGLang).
pub async fn http_backend(url: &str, options: &ModelOptions) -> anyhow::Result<Arc<dyn Backend>> {
    let http = HttpOptions {
        context_size: options.ctx_size,
        ..HttpOptions::default()
    };
    Ok(Arc::new(HttpBackend::connect(url, http).await?))
}

/// The sandboxed built-in and user tools (from ossa's data directory), working on
/// `workspace`.
pub async fn sandbox_tools(workspace: &Path) -> anyhow::Result<Box<dyn ToolExecutor>> {
    Ok(Box::new(SandboxTools::open(workspace).await?))
}

/// One wasmtime engine per process: the first call's cache directory is kept.
static HOST: OnceLock<ToolHost> = OnceLock::new();

/// The wasm tools of a [`Toolbox`], bound to one workspace.
pub struct SandboxTools {
    tools: Vec<Tool>,
    records: Vec<ToolRecord>,
    workspace: PathBuf,
}

impl SandboxTools {
    /// Loads the built-in tools and the user's installed tools.
    pub async fn open(workspace: &Path) -> anyhow::Result<SandboxTools> {
        let home = OssaHome::from_env()?;
        let host = match HOST.get() {
            Some(host) => host.clone(),
            None => {
                let host = ToolHost::new(&home.artifacts_dir())?;
                HOST.get_or_init(|| host).clone()
            }
        };
        let toolbox = Toolbox::open(&host, &home).await?;
        for problem in toolbox.problems() {
            tracing::warn!("skipping an installed tool: {problem}");
        }
        let tools: Vec<Tool> = toolbox.tools().cloned().collect();
        let records = tools
            .iter()
            .map(|tool| {
                let info = tool.info();
                ToolRecord {
                    name: info.name.clone(),
                    description: info.description.clone(),
                    parameters: info.parameters.clone(),
                    version: info.version.clone(),
                    hash: tool.sha256().to_string(),
                    writes: tool.policy().can_write(),
                    policy: serde_json::to_value(tool.policy()).unwrap_or_default(),
                }
            })
            .collect();
        Ok(SandboxTools {
            tools,
            records,
            workspace: workspace.to_path_buf(),
        })
    }
}

impl ToolExecutor for SandboxTools {
    fn tools(&self) -> &[ToolRecord] {
        &self.records
    }

    fn call<'a>(&'a self, name: &'a str, arguments: &'a Value) -> BoxFuture<'a, ToolOutcome> {
        Box::pin(async move {
            let Some(tool) = self.tools.iter().find(|tool| tool.name() == name) else {
                return ToolOutcome::Failed {
                    kind: "unknown_tool".into(),
                    message: format!("there is no tool `{name}`"),
                    detail: None,
                };
            };
            match tool.call(&arguments.to_string(), &self.workspace).await {
                Ok(output) => {
                    if !output.log.is_empty() {
                        tracing::debug!(tool = name, log = %output.log, "tool output log");
                    }
                    ToolOutcome::Output(output.text)
                }
                Err(failure) => ToolOutcome::Failed {
                    kind: failure.kind.as_str().to_string(),
                    message: failure.message,
                    detail: Some(failure.detail).filter(|detail| !detail.is_empty()),
                },
            }
        })
    }
}
