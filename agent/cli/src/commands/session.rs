//! What `ossa run`, `ossa chat` and `ossa replay` share: the model, sampling and loop
//! flags (the top layer of the config, see `crate::config`), and building a model, tools
//! and sinks from the effective settings.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use ossa_agent::backends::ModelOptions;
use ossa_agent::{EventSink, Outcome, ReplayBackend, ToolExecutor, Transcript, TranscriptWriter};
use ossa_model::hub::HubRef;
use ossa_model::{Backend, GpuLayers};
use ossa_prompts::ReasoningEffort;

use crate::config::{self, Config, Key, Layer, ModelChoice};

use super::{EXIT_CANCELLED, EXIT_LIMIT, EXIT_MODEL};

/// Where completions come from: at most one of these; without one, `model.path`,
/// `model.hf` or `model.server` from the config (`ossa config show`).
#[derive(Debug, Clone, clap::Args)]
#[group(multiple = false)]
pub struct ModelSource {
    /// A gpt-oss GGUF file, run in-process with llama.cpp (a split model: its first part).
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// A gpt-oss GGUF from the Hugging Face Hub, e.g. ggml-org/gpt-oss-20b-GGUF: downloaded
    /// (resumable, checksummed) into the shared Hub cache, then run with llama.cpp. QUANT
    /// picks the file whose name contains it (e.g. :Q4_K_M), FILE names one exactly.
    #[arg(long, value_name = "REPO[:QUANT|FILE]", value_parser = parse_hub_ref)]
    pub hf: Option<HubRef>,
    /// A running llama-server or OpenAI-compatible engine (vLLM, SGLang) serving gpt-oss.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Replay the completions of a transcript or hand-written cassette instead of a model.
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,
}

/// `--hf` values, checked when the command line is parsed.
pub fn parse_hub_ref(text: &str) -> Result<HubRef, String> {
    text.parse()
        .map_err(|err: ossa_model::hub::HubError| err.to_string())
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
    /// Layers to offload to the GPU: all, none or a number (needs a GPU build; default all).
    #[arg(long, value_name = "all|none|N", value_parser = config::parse_gpu_layers)]
    pub gpu_layers: Option<GpuLayers>,
}

/// Sampling. The defaults are OpenAI's recommendation for gpt-oss.
#[derive(Debug, Clone, clap::Args)]
pub struct SamplingArgs {
    /// Sampling temperature; 0 is greedy (default 1.0).
    #[arg(long, value_name = "T")]
    pub temperature: Option<f32>,
    /// Nucleus sampling: keep the most likely tokens up to this total probability
    /// (default 1.0, off).
    #[arg(long, value_name = "P")]
    pub top_p: Option<f32>,
    /// Drop tokens less likely than this fraction of the most likely one (default 0, off).
    #[arg(long, value_name = "P")]
    pub min_p: Option<f32>,
    /// Sampler seed (default: a fresh one per session, recorded in the transcript).
    #[arg(long, value_name = "N")]
    pub seed: Option<u32>,
}

/// The loop's limits.
#[derive(Debug, Clone, clap::Args)]
pub struct LoopArgs {
    /// Reasoning effort written in the system message (default medium).
    #[arg(long, value_enum)]
    pub reasoning: Option<Reasoning>,
    /// Most model completions per turn before giving up (default 40).
    #[arg(long, value_name = "N")]
    pub max_steps: Option<u32>,
    /// Most tokens in one completion (default 8192).
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u32>,
    /// Cap on one tool output given to the model, in bytes (default 16384; longer outputs
    /// keep their head and tail with a note).
    #[arg(long, value_name = "BYTES")]
    pub tool_output_limit: Option<usize>,
}

/// `--reasoning` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Reasoning {
    /// Short analysis.
    Low,
    /// The default.
    Medium,
    /// Long analysis.
    High,
}

impl From<Reasoning> for ReasoningEffort {
    fn from(reasoning: Reasoning) -> Self {
        match reasoning {
            Reasoning::Low => ReasoningEffort::Low,
            Reasoning::Medium => ReasoningEffort::Medium,
            Reasoning::High => ReasoningEffort::High,
        }
    }
}

/// The settings the flags give: the highest-precedence layer of the config.
pub fn flag_layer(
    source: &ModelSource,
    runtime: &RuntimeArgs,
    sampling: &SamplingArgs,
    loop_args: Option<&LoopArgs>,
) -> Layer {
    let mut layer = Layer::default();
    let model = [
        source
            .model
            .clone()
            .map(|p| ("--model", ModelChoice::Path(p))),
        source.hf.clone().map(|r| ("--hf", ModelChoice::Hf(r))),
        source
            .server
            .clone()
            .map(|u| ("--server", ModelChoice::Server(u))),
        source
            .replay
            .clone()
            .map(|p| ("--replay", ModelChoice::Replay(p))),
    ];
    if let Some((flag, choice)) = model.into_iter().flatten().next() {
        layer.model = Some(choice);
        layer.mark_flag(Key::Model, flag);
    }
    layer.ctx_size = runtime.ctx_size;
    layer.threads = runtime.threads;
    layer.gpu_layers = runtime.gpu_layers;
    layer.temperature = sampling.temperature;
    layer.top_p = sampling.top_p;
    layer.min_p = sampling.min_p;
    layer.seed = sampling.seed;
    if let Some(loop_args) = loop_args {
        layer.reasoning = loop_args.reasoning.map(Into::into);
        layer.max_steps = loop_args.max_steps;
        layer.max_tokens = loop_args.max_tokens;
        layer.tool_output_limit = loop_args.tool_output_limit;
    }
    layer
}

/// The effective settings for `workspace` under the flags; warnings (a workspace config
/// asking for more than the user grants) go to stderr.
pub fn load_config(workspace: Option<&Path>, flags: Layer) -> anyhow::Result<Config> {
    let config = Config::load_for(workspace, flags)?;
    config.warn();
    Ok(config)
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

/// Opens the model the config names (flags first): a GGUF, a Hub model (downloaded
/// first if the cache lacks it), a server, or a replay.
pub async fn open_backend(config: &Config) -> anyhow::Result<Arc<dyn Backend>> {
    let options = ModelOptions {
        ctx_size: config.ctx_size(),
        threads: config.threads(),
        gpu_layers: Some(match config.gpu_layers() {
            GpuLayers::All => "all".to_string(),
            GpuLayers::None => "none".to_string(),
            GpuLayers::Count(n) => n.to_string(),
        }),
    };
    match config.model() {
        Some(ModelChoice::Replay(path)) => {
            let transcript = Transcript::read(path)?;
            let tokenizer = ossa_agent::backends::harmony_tokenizer();
            Ok(Arc::new(ReplayBackend::new(&transcript, tokenizer, false)?))
        }
        Some(ModelChoice::Path(path)) => ossa_agent::backends::llama_backend(path, &options).await,
        Some(ModelChoice::Hf(reference)) => {
            let path = super::pull::fetch(reference).await?;
            ossa_agent::backends::llama_backend(&path, &options).await
        }
        Some(ModelChoice::Server(url)) => ossa_agent::backends::http_backend(url, &options).await,
        None => Err(super::UsageError(super::pull::NO_MODEL.into()).into()),
    }
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

/// The sandboxed built-in and user tools, working on `workspace`.
pub async fn open_tools(workspace: &Path) -> anyhow::Result<Box<dyn ToolExecutor>> {
    ossa_agent::backends::sandbox_tools(workspace).await
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
        let _ = std::io::stderr().is_terminal();
        Box::new(ossa_agent::output::HumanProgress::new(
            std::io::stderr(),
            show_reasoning,
        ))
    }
}
