//! What `ossa run`, `ossa chat` and `ossa replay` share: the model, runtime, sampling,
//! loop and tool flags (the top layer of the config, see `crate::config`), and building a
//! model, tools and sinks from the effective settings.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use ossa_agent::event::Toolset;
use ossa_agent::{EventSink, Outcome, ToolExecutor, TranscriptWriter};
use ossa_model::hub::HubRef;
use ossa_model::{Backend, FlashAttention, GpuLayers, HttpApi};
use ossa_prompts::ReasoningEffort;
use ossa_wiring::{ExecOptions, ModelSource, RuntimeOptions, SandboxTools, ServerSpec};

use crate::config::{self, Config, Key, Layer, ModelChoice};

use super::{EXIT_CANCELLED, EXIT_LIMIT, EXIT_MODEL};

/// Where completions come from: at most one of these; without one, `model.path`,
/// `model.hf` or `model.server` from the config (`ossa config show`).
#[derive(Debug, Clone, clap::Args)]
#[group(multiple = false)]
pub struct ModelArgs {
    /// A gpt-oss GGUF file, run in-process with llama.cpp (a split model: its first part).
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// A gpt-oss GGUF from the Hugging Face Hub, e.g. ggml-org/gpt-oss-20b-GGUF: downloaded
    /// (resumable, checksummed) into the shared Hub cache, then run with llama.cpp. QUANT
    /// picks the file whose name contains it (e.g. :Q4_K_M), FILE names one exactly.
    #[arg(long, value_name = "REPO[:QUANT|FILE]", value_parser = parse_hub_ref)]
    pub hf: Option<HubRef>,
    /// A running llama-server, or an OpenAI-compatible engine (vLLM, SGLang) serving
    /// gpt-oss (a URL ending in /v1 selects the OpenAI protocol; OSSA_API_KEY, when set,
    /// is sent as a bearer token).
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
    /// Flash attention (llama.cpp). `auto`: off when the model runs on the CPU only, where
    /// llama.cpp's flash kernels make each agent step over a long cache several times
    /// slower; llama.cpp's choice when layers are on a GPU.
    #[arg(long, value_enum, default_value = "auto")]
    pub flash_attn: Flash,
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
    /// Off on the CPU only, llama.cpp's choice on a GPU.
    Auto,
    /// Always on.
    On,
    /// Always off.
    Off,
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
    /// Reasoning effort written in the system message: low, medium or high (default
    /// medium).
    #[arg(long, value_name = "low|medium|high")]
    pub reasoning: Option<ReasoningEffort>,
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

/// Which tools the model gets.
#[derive(Debug, Clone, clap::Args)]
pub struct ToolArgs {
    /// native (default): gpt-oss's own repo_browser and container tools, declared in the
    /// system message, as the model was trained; functions: generic read_file, grep,
    /// list_dir, write_file and apply_patch functions in the developer message. Tools
    /// added with `ossa tools add` are functions in both.
    #[arg(long, value_name = "native|functions")]
    pub toolset: Option<Toolset>,
    /// Let container.exec run commands, confined to the workspace by the kernel (the
    /// default where the kernel can enforce it: Linux with Landlock); --allow-exec=false
    /// turns commands off.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub allow_exec: Option<bool>,
    /// Offer gpt-oss's python tool: a stateful notebook in CPython compiled to
    /// WebAssembly, with the workspace read-only at /mnt/data and no network (the first
    /// use downloads 94 MiB from PyPI and compiles it once, about two minutes).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub python: Option<bool>,
}

/// The settings the flags give: the highest-precedence layer of the config.
pub fn flag_layer(
    model: &ModelArgs,
    runtime: &RuntimeArgs,
    sampling: &SamplingArgs,
    loop_args: Option<&LoopArgs>,
    tools: Option<&ToolArgs>,
) -> Layer {
    let mut layer = Layer::default();
    let choice = [
        model
            .model
            .clone()
            .map(|p| ("--model", ModelChoice::Path(p))),
        model.hf.clone().map(|r| ("--hf", ModelChoice::Hf(r))),
        model
            .server
            .clone()
            .map(|u| ("--server", ModelChoice::Server(u))),
        model
            .replay
            .clone()
            .map(|p| ("--replay", ModelChoice::Replay(p))),
    ];
    if let Some((flag, choice)) = choice.into_iter().flatten().next() {
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
        layer.reasoning = loop_args.reasoning;
        layer.max_steps = loop_args.max_steps;
        layer.max_tokens = loop_args.max_tokens;
        layer.tool_output_limit = loop_args.tool_output_limit;
    }
    if let Some(tools) = tools {
        layer.toolset = tools.toolset;
        if let Some(allow) = tools.allow_exec {
            layer.exec_allow = Some(allow);
            layer.mark_flag(Key::ExecAllow, "--allow-exec");
        }
        if let Some(python) = tools.python {
            layer.python_allow = Some(python);
            layer.mark_flag(Key::PythonAllow, "--python");
        }
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

impl RuntimeArgs {
    /// How to talk to `url`: the protocol and model flags, and the API key from
    /// `OSSA_API_KEY` (never from the command line, where other users could read it).
    fn server(&self, url: &str) -> ServerSpec {
        ServerSpec {
            url: url.to_string(),
            api: self.api.map(|api| match api {
                Api::LlamaServer => HttpApi::LlamaServer,
                Api::Openai => HttpApi::OpenAiCompletions,
            }),
            model: self.server_model.clone(),
            api_key: std::env::var("OSSA_API_KEY").ok().filter(|k| !k.is_empty()),
            slot: None,
        }
    }
}

/// Opens the model the config names (flags first): a GGUF, a Hub model (downloaded
/// first if the cache lacks it), a server, or a replay.
pub async fn open_backend(
    config: &Config,
    runtime: &RuntimeArgs,
) -> anyhow::Result<Arc<dyn Backend>> {
    open_backend_pinned(config, runtime, None).await
}

/// [`open_backend`], with every request to a llama-server pinned to `slot` (one session
/// per slot keeps its prefix cache; see [`ServerSpec::slot`]). Other models ignore it.
pub async fn open_backend_pinned(
    config: &Config,
    runtime: &RuntimeArgs,
    slot: Option<u32>,
) -> anyhow::Result<Arc<dyn Backend>> {
    let source = match config.model() {
        Some(ModelChoice::Replay(path)) => ModelSource::Replay(path.clone()),
        Some(ModelChoice::Path(path)) => ModelSource::Gguf(path.clone()),
        Some(ModelChoice::Hf(reference)) => ModelSource::Gguf(super::pull::fetch(reference).await?),
        Some(ModelChoice::Server(url)) => ModelSource::Server(ServerSpec {
            slot,
            ..runtime.server(url)
        }),
        None => return Err(super::UsageError(super::pull::NO_MODEL.into()).into()),
    };
    let options = RuntimeOptions {
        ctx_size: config.ctx_size(),
        threads: config.threads(),
        gpu_layers: config.gpu_layers(),
        flash_attention: match runtime.flash_attn {
            Flash::Auto => FlashAttention::Auto,
            Flash::On => FlashAttention::On,
            Flash::Off => FlashAttention::Off,
        },
    };
    ossa_wiring::open_backend(&source, &options).await
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

/// The sandboxed built-in and user tools of `toolset`, working on `workspace`, with
/// `container.exec` as `exec` grants it and gpt-oss's `python` tool when `python`. Says on
/// stderr what commands and Python can do.
pub async fn open_tools(
    workspace: &Path,
    toolset: Toolset,
    exec: &ExecOptions,
    python: bool,
) -> anyhow::Result<Box<dyn ToolExecutor>> {
    let python_runtime = if python {
        Some(python_runtime()?)
    } else {
        None
    };
    let tools = sandbox_tools(workspace, toolset, exec, python_runtime).await?;
    if toolset == Toolset::Native {
        eprintln!("{}", tools.exec_status());
        if python {
            eprintln!(
                "python: CPython in WebAssembly, a notebook that keeps its state; the workspace is read-only at /mnt/data, no network"
            );
        }
    }
    Ok(Box::new(tools))
}

/// The sandboxed Python interpreter of ossa's data directory (fetched and compiled on
/// first use), to share between the sessions of one process.
pub fn python_runtime() -> anyhow::Result<ossa_sandbox::SharedPythonRuntime> {
    Ok(ossa_sandbox::SharedPythonRuntime::new(
        &ossa_sandbox::OssaHome::from_env()?,
    ))
}

/// The tools of [`open_tools`] without the lines on stderr (for commands that run many
/// sessions and say it once): gpt-oss's `python` tool when `python` is given.
pub async fn sandbox_tools(
    workspace: &Path,
    toolset: Toolset,
    exec: &ExecOptions,
    python: Option<ossa_sandbox::SharedPythonRuntime>,
) -> anyhow::Result<SandboxTools> {
    let tools = SandboxTools::open(workspace, toolset, exec).await?;
    match python {
        Some(runtime) => tools.with_python(toolset, runtime),
        None => Ok(tools),
    }
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
