//! What `ossa run`, `ossa chat` and `ossa replay` share: the model and loop flags, and
//! building a model, tools and sinks from them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use ossa_agent::event::{SamplerSettings, Toolset};
use ossa_agent::{AgentSettings, EventSink, Outcome, ToolExecutor, TranscriptWriter};
use ossa_model::{Backend, FlashAttention, GpuLayers, HttpApi};
use ossa_prompts::ReasoningEffort;
use ossa_wiring::{ModelSource, RuntimeOptions, SandboxTools, ServerSpec};

use super::{EXIT_CANCELLED, EXIT_LIMIT, EXIT_MODEL};

/// Where completions come from: exactly one of these.
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct ModelArgs {
    /// A gpt-oss GGUF file, run in-process with llama.cpp.
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// A running llama-server, or an OpenAI-compatible engine (vLLM, SGLang) serving
    /// gpt-oss (a URL ending in /v1 selects the OpenAI protocol; OSSA_API_KEY, when set,
    /// is sent as a bearer token).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Replay the completions of a transcript or hand-written cassette instead of a model.
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,
}

/// How to talk to `--server`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Protocol of --server (default: detected).
    #[arg(long, value_enum, requires = "server")]
    pub api: Option<Api>,
    /// Model name sent to an OpenAI-compatible server (default: the first it lists).
    #[arg(long, value_name = "NAME", requires = "server")]
    pub server_model: Option<String>,
}

/// `--api` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Api {
    /// llama-server's native /completion.
    LlamaServer,
    /// OpenAI-compatible /v1/completions.
    Openai,
}

/// `--flash-attn` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Flash {
    /// llama.cpp decides.
    Auto,
    /// Always on.
    On,
    /// Always off.
    Off,
}

impl ModelArgs {
    /// The model source these flags name. The API key comes from `OSSA_API_KEY` (never
    /// from the command line, where other users could read it).
    pub fn source(&self, server: &ServerArgs) -> anyhow::Result<ModelSource> {
        if let Some(path) = &self.replay {
            return Ok(ModelSource::Replay(path.clone()));
        }
        if let Some(path) = &self.model {
            return Ok(ModelSource::Gguf(path.clone()));
        }
        if let Some(url) = &self.server {
            return Ok(ModelSource::Server(ServerSpec {
                url: url.clone(),
                api: server.api.map(|api| match api {
                    Api::LlamaServer => HttpApi::LlamaServer,
                    Api::Openai => HttpApi::OpenAiCompletions,
                }),
                model: server.server_model.clone(),
                api_key: std::env::var("OSSA_API_KEY").ok().filter(|k| !k.is_empty()),
            }));
        }
        anyhow::bail!("give one of --model PATH, --server URL or --replay FILE")
    }
}

/// Model runtime settings (llama.cpp and HTTP backends).
#[derive(Debug, Clone, clap::Args)]
pub struct RuntimeArgs {
    /// Context size in tokens (default: sized to the model and the machine).
    #[arg(long, value_name = "TOKENS")]
    pub ctx_size: Option<u32>,
    /// CPU threads for llama.cpp (default: half the logical CPUs).
    #[arg(long, value_name = "N")]
    pub threads: Option<u32>,
    /// Layers to offload to the GPU: all, none or a number (needs a GPU build).
    #[arg(long, value_name = "all|none|N", default_value = "all")]
    pub gpu_layers: GpuLayers,
    /// Flash attention (llama.cpp).
    #[arg(long, value_enum, default_value = "auto")]
    pub flash_attn: Flash,
    /// Sampler seed.
    #[arg(long, value_name = "N")]
    pub seed: Option<u32>,
    #[command(flatten)]
    pub server: ServerArgs,
}

impl RuntimeArgs {
    /// The runtime options these flags describe.
    pub fn options(&self) -> RuntimeOptions {
        RuntimeOptions {
            ctx_size: self.ctx_size,
            threads: self.threads,
            gpu_layers: self.gpu_layers,
            flash_attention: match self.flash_attn {
                Flash::Auto => FlashAttention::Auto,
                Flash::On => FlashAttention::On,
                Flash::Off => FlashAttention::Off,
            },
        }
    }
}

/// The loop's limits.
#[derive(Debug, Clone, clap::Args)]
pub struct LoopArgs {
    /// Reasoning effort written in the system message: low, medium or high.
    #[arg(long, value_name = "low|medium|high", default_value = "medium")]
    pub reasoning: ReasoningEffort,
    /// Most model completions per turn before giving up.
    #[arg(long, value_name = "N", default_value_t = AgentSettings::default().max_steps)]
    pub max_steps: u32,
    /// Most tokens in one completion.
    #[arg(long, value_name = "N", default_value_t = AgentSettings::default().max_tokens)]
    pub max_tokens: u32,
    /// Cap on one tool output given to the model, in bytes (longer outputs keep their head
    /// and tail with a note).
    #[arg(long, value_name = "BYTES", default_value_t = AgentSettings::default().tool_output_limit)]
    pub tool_output_limit: usize,
}

/// Which tools the model gets.
#[derive(Debug, Clone, clap::Args)]
pub struct ToolArgs {
    /// native: gpt-oss's own repo_browser and container tools, declared in the system
    /// message (what the model was trained on); functions: generic read_file, grep,
    /// list_dir, write_file and apply_patch functions in the developer message. Tools
    /// added with `ossa tools add` are functions in both.
    #[arg(long, value_name = "native|functions", default_value = "native")]
    pub toolset: Toolset,
}

impl LoopArgs {
    /// The agent settings these flags describe.
    pub fn settings(&self, runtime: &RuntimeArgs, tools: &ToolArgs) -> AgentSettings {
        let defaults = AgentSettings::default();
        AgentSettings {
            // A seed is always chosen (and so recorded) to make a session reproducible.
            sampler: SamplerSettings {
                seed: Some(runtime.seed.unwrap_or_else(fresh_seed)),
                ..defaults.sampler
            },
            reasoning: self.reasoning,
            max_steps: self.max_steps,
            max_tokens: self.max_tokens,
            tool_output_limit: self.tool_output_limit,
            toolset: tools.toolset,
            ..defaults
        }
    }
}

/// A seed from the clock, for sessions started without `--seed`.
fn fresh_seed() -> u32 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.subsec_nanos() ^ (now.as_secs() as u32)
}

/// The exit code for a turn's outcome.
pub fn exit_code(outcome: Outcome) -> ExitCode {
    match outcome {
        Outcome::Final => ExitCode::SUCCESS,
        Outcome::StepLimit | Outcome::TokenLimit | Outcome::ContextFull => EXIT_LIMIT.into(),
        Outcome::MalformedOutput | Outcome::ModelFailed => EXIT_MODEL.into(),
        Outcome::Cancelled => EXIT_CANCELLED.into(),
    }
}

/// The workspace directory, made absolute; it must exist.
pub fn workspace_dir(dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = match dir {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    dir.canonicalize().with_context(|| {
        format!(
            "the workspace {} does not exist (give an existing directory with --workspace)",
            dir.display()
        )
    })
}

/// Opens the model the flags name.
pub async fn open_backend(
    model: &ModelArgs,
    runtime: &RuntimeArgs,
) -> anyhow::Result<Arc<dyn Backend>> {
    ossa_wiring::open_backend(&model.source(&runtime.server)?, &runtime.options()).await
}

/// Access to a replay's report after the run.
#[derive(Clone)]
pub struct ReplayHandle(pub Arc<std::sync::Mutex<ossa_agent::ReplayReport>>);

impl ReplayHandle {
    /// A copy of the report as it is now.
    pub fn report(&self) -> ossa_agent::ReplayReport {
        self.0.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// The sandboxed built-in and user tools of `toolset`, working on `workspace`.
pub async fn open_tools(
    workspace: &Path,
    toolset: Toolset,
) -> anyhow::Result<Box<dyn ToolExecutor>> {
    Ok(Box::new(SandboxTools::open(workspace, toolset).await?))
}

/// The transcript writer: `path` if given, else a new file under the data directory.
pub fn transcript_writer(
    path: Option<&Path>,
    session_id: &str,
) -> anyhow::Result<TranscriptWriter> {
    let path = match path {
        Some(path) => path.to_path_buf(),
        None => ossa_agent::paths::default_transcript_path(
            session_id,
            &ossa_agent::time::rfc3339_now(),
        )?,
    };
    TranscriptWriter::create(&path)
}

/// The printer for `run`/`replay`: JSONL on stdout with `--json`, else progress on
/// stderr.
pub fn progress_sink(json: bool, show_reasoning: bool) -> Box<dyn EventSink> {
    if json {
        Box::new(ossa_agent::output::JsonStream::new(std::io::stdout()))
    } else {
        Box::new(ossa_agent::output::HumanProgress::new(
            std::io::stderr(),
            show_reasoning,
        ))
    }
}
