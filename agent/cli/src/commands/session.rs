//! What `ossa run`, `ossa chat` and `ossa replay` share: the model and loop flags, and
//! building a model, tools and sinks from them.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use ossa_agent::backends::ModelOptions;
use ossa_agent::event::SamplerSettings;
use ossa_agent::{
    AgentSettings, EventSink, Outcome, ReplayBackend, ToolExecutor, Transcript, TranscriptWriter,
};
use ossa_model::Backend;
use ossa_prompts::ReasoningEffort;

use super::{EXIT_CANCELLED, EXIT_LIMIT, EXIT_MODEL};

/// Where completions come from: exactly one of these.
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct ModelSource {
    /// A gpt-oss GGUF file, run in-process with llama.cpp.
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// A running llama-server or OpenAI-compatible engine (vLLM, SGLang) serving gpt-oss.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Replay the completions of a transcript or hand-written cassette instead of a model.
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,
}

/// Model runtime settings (llama.cpp and HTTP backends).
#[derive(Debug, Clone, clap::Args)]
pub struct RuntimeArgs {
    /// Context size in tokens (default: sized to the model and the machine).
    #[arg(long, value_name = "TOKENS")]
    pub ctx_size: Option<u32>,
    /// CPU threads for llama.cpp (default: the physical cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<u32>,
    /// Layers to offload to the GPU: all, none or a number (needs a GPU build).
    #[arg(long, value_name = "all|none|N")]
    pub gpu_layers: Option<String>,
    /// Sampler seed.
    #[arg(long, value_name = "N")]
    pub seed: Option<u32>,
}

/// The loop's limits.
#[derive(Debug, Clone, clap::Args)]
pub struct LoopArgs {
    /// Reasoning effort written in the system message.
    #[arg(long, value_enum, default_value = "medium")]
    pub reasoning: Reasoning,
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

impl LoopArgs {
    /// The agent settings these flags describe.
    pub fn settings(&self, runtime: &RuntimeArgs) -> AgentSettings {
        let defaults = AgentSettings::default();
        AgentSettings {
            // A seed is always chosen (and so recorded) to make a session reproducible.
            sampler: SamplerSettings {
                seed: Some(runtime.seed.unwrap_or_else(fresh_seed)),
                ..defaults.sampler
            },
            reasoning: self.reasoning.into(),
            max_steps: self.max_steps,
            max_tokens: self.max_tokens,
            tool_output_limit: self.tool_output_limit,
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

impl RuntimeArgs {
    fn options(&self) -> ModelOptions {
        ModelOptions {
            ctx_size: self.ctx_size,
            threads: self.threads,
            gpu_layers: self.gpu_layers.clone(),
        }
    }
}

/// Opens the model the flags name.
pub async fn open_backend(
    source: &ModelSource,
    runtime: &RuntimeArgs,
) -> anyhow::Result<Arc<dyn Backend>> {
    if let Some(path) = &source.replay {
        let transcript = Transcript::read(path)?;
        let tokenizer = ossa_agent::backends::harmony_tokenizer();
        return Ok(Arc::new(ReplayBackend::new(&transcript, tokenizer, false)?));
    }
    if let Some(path) = &source.model {
        return ossa_agent::backends::llama_backend(path, &runtime.options()).await;
    }
    if let Some(url) = &source.server {
        return ossa_agent::backends::http_backend(url, &runtime.options()).await;
    }
    anyhow::bail!("give one of --model PATH, --server URL or --replay FILE")
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
