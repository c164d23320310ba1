//! gpt-oss in-process through llama.cpp (`llama-cpp-2`).
//!
//! [`LlamaCppBackend::load`] validates the GGUF in Rust first ([`crate::gguf`]), loads it
//! with a progress bar, and starts one worker thread that owns the llama.cpp context.
//! Requests are queued to that thread; tokens stream back as they are sampled. The KV
//! cache persists between requests, so an agent loop that appends to its conversation
//! only prefills the new tokens (see [`engine`]).
//!
//! llama.cpp allows one backend per process: [`shared_backend`] initialises it once and
//! keeps it for the life of the process, so any number of models may be loaded.

mod engine;
mod logs;
mod vocab;

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use ossa_prompts::SpecialToken;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc as tokio_mpsc;

pub use engine::{PrefillStats, argmax};
pub use vocab::LlamaTokenizer;

use crate::ModelError;
use crate::backend::{
    Backend, BackendInfo, BackendKind, CancellationToken, GenerateRequest, Generation,
    SamplerSettings, check_prompt,
};
use crate::gguf::{GptOssSummary, inspect_gpt_oss};
use crate::tokenizer::{TokenId, Tokenizer};
use engine::{Engine, StopIds};

/// How many layers to offload to the GPU (only meaningful in a GPU build).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GpuLayers {
    /// Every layer (llama.cpp's default).
    #[default]
    All,
    /// None: run on the CPU.
    None,
    /// The first `n` layers.
    Count(u32),
}

impl GpuLayers {
    /// Whether any layer is asked to go to the GPU (`Count(0)` is the CPU, as `None`).
    pub fn offloads(self) -> bool {
        !matches!(self, GpuLayers::None | GpuLayers::Count(0))
    }
}

impl std::str::FromStr for GpuLayers {
    type Err = ModelError;

    /// Parses `all`, `none` or a number.
    fn from_str(s: &str) -> Result<GpuLayers, ModelError> {
        match s.trim() {
            "all" => Ok(GpuLayers::All),
            "none" => Ok(GpuLayers::None),
            n => n.parse().map(GpuLayers::Count).map_err(|_| {
                ModelError::InvalidSetting(format!(
                    "--gpu-layers takes 'all', 'none' or a number, not '{s}'"
                ))
            }),
        }
    }
}

/// Flash attention setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlashAttention {
    /// Off when the model runs on the CPU only (see [`attention_plan`]); where layers are
    /// offloaded to a GPU, llama.cpp decides (it turns it on where the GPU supports it).
    #[default]
    Auto,
    /// Always on.
    On,
    /// Always off.
    Off,
}

/// How to load and run a GGUF.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LlamaOptions {
    /// GPU offload.
    pub gpu_layers: GpuLayers,
    /// Threads for generation and prompt processing; `None` = [`default_threads`].
    pub threads: Option<u32>,
    /// Context window in tokens; `None` = [`default_context_size`].
    pub ctx_size: Option<u32>,
    /// Flash attention.
    pub flash_attention: FlashAttention,
    /// Draw a progress bar on stderr while loading (only when stderr is a terminal).
    pub progress: bool,
}

impl Default for LlamaOptions {
    fn default() -> Self {
        LlamaOptions {
            gpu_layers: GpuLayers::All,
            threads: None,
            ctx_size: None,
            flash_attention: FlashAttention::Auto,
            progress: true,
        }
    }
}

/// Threads used when none are given: half the logical CPUs (about the physical cores),
/// at least 1. Using every core makes ggml's spin-waiting threads collapse to ~1% speed
/// when anything else runs on the machine (each thread busy-waits for the others at every
/// graph node, so one descheduled thread stalls them all).
pub fn default_threads() -> u32 {
    let logical = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    logical.div_ceil(2).max(1)
}

/// Context size used when none is given: the model's training context, capped at 32,768
/// tokens and at what a quarter of the available memory holds (F16 KV cache with every
/// layer full-size), never below 4,096 (or the training context if smaller).
pub fn default_context_size(summary: &GptOssSummary) -> u32 {
    let per_token = summary.kv_bytes_per_token().max(1);
    let budget = available_memory_bytes().map_or(u64::MAX, |m| m / 4);
    let fits = (budget / per_token).min(u64::from(u32::MAX)) as u32;
    let floor = 4096.min(summary.n_ctx_train);
    summary.n_ctx_train.min(32_768).min(fits).max(floor)
}

fn available_memory_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The process-wide llama.cpp backend, initialised on first use with logs routed to
/// `tracing`. It is never freed: llama.cpp allows one per process.
pub fn shared_backend() -> Result<&'static LlamaBackend, ModelError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            logs::install();
            load_dynamic_backends();
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| ModelError::Load {
            action: "initialise the backend for",
            path: PathBuf::new(),
            detail: e.clone(),
        })
}

/// With the `dynamic-backends` feature, ggml's backends (CPU variants, CUDA, …) are shared
/// libraries loaded at start: from `OSSA_GGML_BACKENDS_DIR` when set, else from the
/// executable's folder, else from the build's own backends folder.
#[cfg(feature = "dynamic-backends")]
fn load_dynamic_backends() {
    use llama_cpp_2::llama_backend::{load_backends, load_backends_from_path};
    if let Some(dir) = std::env::var_os("OSSA_GGML_BACKENDS_DIR") {
        load_backends_from_path(Path::new(&dir));
        return;
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        && std::fs::read_dir(&dir).is_ok_and(|mut entries| {
            entries
                .any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libggml-")))
        })
    {
        load_backends_from_path(&dir);
        return;
    }
    load_backends();
}

#[cfg(not(feature = "dynamic-backends"))]
fn load_dynamic_backends() {}

enum Job {
    Generate {
        prompt: Vec<TokenId>,
        sampler: SamplerSettings,
        max_new_tokens: u32,
        cancel: CancellationToken,
        events: tokio_mpsc::UnboundedSender<Event>,
    },
    Logits {
        prompt: Vec<TokenId>,
        reply: std_mpsc::SyncSender<Result<(Vec<f32>, PrefillStats), ModelError>>,
    },
    Reset {
        reply: std_mpsc::SyncSender<()>,
    },
}

enum Event {
    Tokens(Vec<TokenId>),
    Done(Result<Generation, ModelError>),
}

/// Tokens are handed to the caller at most this often. Models slower than 250 tokens/s
/// (every real one) hand over each token as it comes; faster ones hand them over in small
/// groups, so cross-thread wake-ups cost under 1% of decode time even on the tiny test model.
const STREAM_INTERVAL: std::time::Duration = std::time::Duration::from_millis(4);

/// A gpt-oss GGUF running in this process.
pub struct LlamaCppBackend {
    model: Arc<LlamaModel>,
    tokenizer: LlamaTokenizer,
    jobs: Option<std_mpsc::Sender<Job>>,
    worker: Option<JoinHandle<()>>,
    summary: GptOssSummary,
    context_size: u32,
    threads: u32,
    sha256: Arc<OnceLock<String>>,
}

impl std::fmt::Debug for LlamaCppBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlamaCppBackend")
            .field("model", &self.summary.path)
            .field("context_size", &self.context_size)
            .field("threads", &self.threads)
            .finish()
    }
}

impl LlamaCppBackend {
    /// Validates and loads a gpt-oss GGUF and creates its context. Blocking (seconds for a
    /// real model): call it from `spawn_blocking` in async code.
    pub fn load(path: &Path, options: &LlamaOptions) -> Result<LlamaCppBackend, ModelError> {
        let summary = inspect_gpt_oss(path)?;
        let backend = shared_backend()?;
        let threads = options.threads.unwrap_or_else(default_threads).max(1);
        let context_size = match options.ctx_size {
            Some(0) => {
                return Err(ModelError::InvalidSetting(
                    "--ctx-size must be at least 1".into(),
                ));
            }
            Some(n) => n,
            None => default_context_size(&summary),
        };
        let model = Arc::new(load_model(backend, path, options)?);
        let tokenizer = LlamaTokenizer::new(Arc::clone(&model))?;
        let stops = StopIds {
            ret: tokenizer.special_id(SpecialToken::Return),
            call: tokenizer.special_id(SpecialToken::Call),
            end_of_text: tokenizer.special_id(SpecialToken::EndOfText),
        };
        let on_gpu = backend.supports_gpu_offload() && options.gpu_layers.offloads();
        let plan = attention_plan(options.flash_attention, on_gpu, context_size, &summary);
        let ctx_params = context_params(context_size, threads, plan);
        let (jobs, job_rx) = std_mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = std_mpsc::sync_channel::<Result<u32, ModelError>>(1);
        let worker_model = Arc::clone(&model);
        let worker_path = path.to_path_buf();
        let worker = std::thread::Builder::new()
            .name("ossa-llama".into())
            .spawn(move || {
                run_worker(
                    &worker_model,
                    backend,
                    ctx_params,
                    stops,
                    worker_path,
                    ready_tx,
                    job_rx,
                )
            })
            .map_err(|e| ModelError::WorkerGone(format!("cannot start the model thread: {e}")))?;
        let n_ctx = ready_rx.recv().map_err(|_| {
            ModelError::WorkerGone("the model thread exited while starting".into())
        })??;
        let sha256 = Arc::new(OnceLock::new());
        spawn_hasher(path.to_path_buf(), Arc::clone(&sha256));
        tracing::info!(
            model = %path.display(),
            n_ctx,
            threads,
            layers = summary.n_layer,
            "model loaded"
        );
        Ok(LlamaCppBackend {
            model,
            tokenizer,
            jobs: Some(jobs),
            worker: Some(worker),
            summary,
            context_size: n_ctx,
            threads,
            sha256,
        })
    }

    /// The underlying llama.cpp model (for benchmarks that drive llama-cpp-2 directly).
    pub fn llama_model(&self) -> &LlamaModel {
        &self.model
    }

    /// The model's tokenizer, with llama.cpp-specific extras.
    pub fn llama_tokenizer(&self) -> &LlamaTokenizer {
        &self.tokenizer
    }

    /// The validated hyperparameters of the file.
    pub fn summary(&self) -> &GptOssSummary {
        &self.summary
    }

    /// Threads used for decoding.
    pub fn threads(&self) -> u32 {
        self.threads
    }

    fn send(&self, job: Job) -> Result<(), ModelError> {
        self.jobs
            .as_ref()
            .and_then(|jobs| jobs.send(job).ok())
            .ok_or_else(|| ModelError::WorkerGone("the model thread has stopped".into()))
    }

    /// Prefills `prompt` (reusing the cached prefix, like [`Backend::generate`]) and
    /// returns the logits of its last token. Blocking. For tests and diagnostics: this is
    /// how prefix reuse is proven equal to a fresh run.
    pub fn logits_after_prefill(
        &self,
        prompt: &[TokenId],
    ) -> Result<(Vec<f32>, PrefillStats), ModelError> {
        check_prompt(prompt, self.tokenizer.vocab_size())?;
        let (reply, rx) = std_mpsc::sync_channel(1);
        self.send(Job::Logits {
            prompt: prompt.to_vec(),
            reply,
        })?;
        rx.recv()
            .map_err(|_| ModelError::WorkerGone("the model thread stopped".into()))?
    }

    /// Forgets the cached KV state, so the next request prefills from scratch. Blocking.
    pub fn reset_cache(&self) -> Result<(), ModelError> {
        let (reply, rx) = std_mpsc::sync_channel(1);
        self.send(Job::Reset { reply })?;
        rx.recv()
            .map_err(|_| ModelError::WorkerGone("the model thread stopped".into()))
    }
}

impl Drop for LlamaCppBackend {
    fn drop(&mut self) {
        // Closing the queue ends the worker after its current job; join so the context is
        // freed before the model.
        self.jobs.take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[async_trait::async_trait]
impl Backend for LlamaCppBackend {
    fn tokenizer(&self) -> &dyn Tokenizer {
        &self.tokenizer
    }

    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: BackendKind::LlamaCpp,
            model: self.summary.path.display().to_string(),
            model_path: Some(self.summary.path.clone()),
            model_sha256: self.sha256.get().cloned(),
            context_size: self.context_size,
        }
    }

    async fn generate(
        &self,
        request: &GenerateRequest<'_>,
        on_token: &mut (dyn FnMut(TokenId) + Send),
    ) -> Result<Generation, ModelError> {
        request.sampler.validate()?;
        check_prompt(request.prompt, self.tokenizer.vocab_size())?;
        // Dropping this future (the caller gave up) cancels the job.
        let cancel = request.cancel.child_token();
        let _cancel_on_drop = cancel.clone().drop_guard();
        let (events, mut rx) = tokio_mpsc::unbounded_channel();
        self.send(Job::Generate {
            prompt: request.prompt.to_vec(),
            sampler: request.sampler,
            max_new_tokens: request.max_new_tokens,
            cancel,
            events,
        })?;
        while let Some(event) = rx.recv().await {
            match event {
                Event::Tokens(ids) => ids.into_iter().for_each(&mut *on_token),
                Event::Done(result) => return result,
            }
        }
        Err(ModelError::WorkerGone(
            "the model thread stopped during generation".into(),
        ))
    }
}

fn load_model(
    backend: &LlamaBackend,
    path: &Path,
    options: &LlamaOptions,
) -> Result<LlamaModel, ModelError> {
    let n_gpu_layers = match options.gpu_layers {
        GpuLayers::All => u32::MAX,
        GpuLayers::None => 0,
        GpuLayers::Count(n) => n,
    };
    let mut params = LlamaModelParams::default().with_n_gpu_layers(n_gpu_layers);
    let bar = options.progress.then(|| progress_bar(path)).flatten();
    if let Some(bar) = bar.clone() {
        params = params.with_progress_callback(move |p| {
            bar.set_position((p * 1000.0) as u64);
            true
        });
    }
    let mark = logs::mark();
    let loaded = LlamaModel::load_from_file(backend, path, &params);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    loaded.map_err(|err| {
        let logged = logs::since(mark);
        ModelError::Load {
            action: "load",
            path: path.to_path_buf(),
            detail: if logged.is_empty() {
                err.to_string()
            } else {
                logged
            },
        }
    })
}

fn progress_bar(path: &Path) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(1000);
    let style = indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {percent}%")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    bar.set_message(format!("loading {name}"));
    Some(bar)
}

/// How the context computes attention: whether with llama.cpp's flash-attention kernels,
/// and how many tokens one compute batch (`n_ubatch`) holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionPlan {
    /// Flash attention as llama.cpp is asked for it.
    pub flash: FlashAttention,
    /// Tokens per compute batch.
    pub n_ubatch: u32,
}

/// The largest compute batch, as llama.cpp's default.
const MAX_UBATCH: u32 = 512;
/// Without flash attention, each compute batch materialises its attention scores
/// (`n_ubatch × n_ctx × n_head` f32, and the softmax of it): this bounds them.
const SCORES_BUDGET_BYTES: u64 = 1 << 30;

/// Resolves [`FlashAttention::Auto`] for this machine and sizes the compute batch.
///
/// On the CPU, llama.cpp's flash-attention kernels are fast for a big batch over a short
/// cache (a fresh prompt) but slow for a small batch over a long one, which is what an agent
/// step is with prefix reuse (50–500 new tokens after thousands of cached ones): `cargo
/// bench -p ossa-model --bench reuse` measured a 50-token step after 8k cached tokens at
/// 258 ms with flash attention and 36 ms without (a fresh 8k prefill: 2.1 s with, 3.3 s
/// without), and decode after a long prompt faster without too. So a CPU-only run turns it
/// off and keeps the attention scores within [`SCORES_BUDGET_BYTES`] with a smaller compute
/// batch. With layers on a GPU, llama.cpp's own choice stands.
pub fn attention_plan(
    flash: FlashAttention,
    on_gpu: bool,
    n_ctx: u32,
    summary: &GptOssSummary,
) -> AttentionPlan {
    let flash = match flash {
        FlashAttention::Auto if !on_gpu => FlashAttention::Off,
        other => other,
    };
    let n_ubatch = match flash {
        FlashAttention::Off => {
            // Scores and their softmax: two f32 matrices per compute batch.
            let per_token = 2 * 4 * u64::from(n_ctx.max(1)) * u64::from(summary.n_head.max(1));
            let fits = (SCORES_BUDGET_BYTES / per_token).clamp(32, u64::from(MAX_UBATCH)) as u32;
            // A power of two, as llama.cpp's kernels prefer.
            1 << fits.ilog2()
        }
        FlashAttention::Auto | FlashAttention::On => MAX_UBATCH,
    };
    AttentionPlan { flash, n_ubatch }
}

fn context_params(n_ctx: u32, threads: u32, plan: AttentionPlan) -> LlamaContextParams {
    let flash = match plan.flash {
        FlashAttention::Auto => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_AUTO,
        FlashAttention::On => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_ENABLED,
        FlashAttention::Off => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED,
    };
    let threads = i32::try_from(threads).unwrap_or(i32::MAX);
    LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx))
        .with_n_batch(2048)
        .with_n_ubatch(plan.n_ubatch)
        .with_n_seq_max(1)
        .with_n_threads(threads)
        .with_n_threads_batch(threads)
        .with_flash_attention_policy(flash)
        // Exact prefix reuse needs every sliding-window layer to keep all positions.
        .with_swa_full(true)
}

#[allow(clippy::too_many_arguments)]
fn run_worker(
    model: &LlamaModel,
    backend: &LlamaBackend,
    params: LlamaContextParams,
    stops: StopIds,
    path: PathBuf,
    ready: std_mpsc::SyncSender<Result<u32, ModelError>>,
    jobs: std_mpsc::Receiver<Job>,
) {
    let mark = logs::mark();
    let ctx = match model.new_context(backend, params) {
        Ok(ctx) => ctx,
        Err(err) => {
            let logged = logs::since(mark);
            let _ = ready.send(Err(ModelError::Load {
                action: "create a context for",
                path,
                detail: if logged.is_empty() {
                    err.to_string()
                } else {
                    format!("{err}: {logged}")
                },
            }));
            return;
        }
    };
    let mut engine = Engine::new(ctx, stops);
    let _ = ready.send(Ok(engine.n_ctx() as u32));
    for job in jobs {
        match job {
            Job::Generate {
                prompt,
                sampler,
                max_new_tokens,
                cancel,
                events,
            } => {
                let cancelled = || cancel.is_cancelled() || events.is_closed();
                let mut pending = Vec::new();
                let mut last_send: Option<std::time::Instant> = None;
                let result = {
                    let mut emit = |id| {
                        pending.push(id);
                        if last_send.is_none_or(|t| t.elapsed() >= STREAM_INTERVAL) {
                            let _ = events.send(Event::Tokens(std::mem::take(&mut pending)));
                            last_send = Some(std::time::Instant::now());
                        }
                    };
                    engine.generate(&prompt, &sampler, max_new_tokens, &cancelled, &mut emit)
                };
                if !pending.is_empty() {
                    let _ = events.send(Event::Tokens(pending));
                }
                let _ = events.send(Event::Done(result));
            }
            Job::Logits { prompt, reply } => {
                let result = engine
                    .prefill(&prompt, &|| false)
                    .map(|stats| (engine.last_logits(), stats));
                let _ = reply.send(result);
            }
            Job::Reset { reply } => {
                engine.reset();
                let _ = reply.send(());
            }
        }
    }
}

/// Hashes the model file in the background; [`Backend::info`] reports it once done.
fn spawn_hasher(path: PathBuf, slot: Arc<OnceLock<String>>) {
    let spawned = std::thread::Builder::new()
        .name("ossa-sha256".into())
        .spawn(move || {
            use sha2::{Digest, Sha256};
            use std::io::Read;
            let Ok(mut file) = std::fs::File::open(&path) else {
                return;
            };
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => hasher.update(&buf[..n]),
                    Err(_) => return,
                }
            }
            let hex: String = hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let _ = slot.set(hex);
        });
    if let Err(err) = spawned {
        tracing::debug!("cannot hash the model file: {err}");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn summary(n_ctx_train: u32, n_layer: u32) -> GptOssSummary {
        GptOssSummary {
            path: PathBuf::from("m.gguf"),
            name: None,
            n_layer,
            n_embd: 2880,
            n_head: 64,
            n_head_kv: 8,
            head_dim: 64,
            n_expert: 32,
            n_expert_used: 4,
            n_vocab: 201_088,
            n_ctx_train,
            n_swa: 128,
            file_size: 0,
        }
    }

    #[test]
    fn gpu_layers_parse() {
        assert_eq!("all".parse::<GpuLayers>().unwrap(), GpuLayers::All);
        assert_eq!("none".parse::<GpuLayers>().unwrap(), GpuLayers::None);
        assert_eq!("12".parse::<GpuLayers>().unwrap(), GpuLayers::Count(12));
        assert!(GpuLayers::All.offloads() && GpuLayers::Count(12).offloads());
        assert!(!GpuLayers::None.offloads() && !GpuLayers::Count(0).offloads());
        let err = "most".parse::<GpuLayers>().unwrap_err().to_string();
        assert!(err.contains("'all', 'none' or a number"), "{err}");
    }

    #[test]
    fn default_context_is_capped_and_floored() {
        // gpt-oss-20b: 24 layers × 8 KV heads × 64 × (K+V) × 2 bytes = 48 KiB per token.
        assert_eq!(summary(131_072, 24).kv_bytes_per_token(), 48 * 1024);
        let ctx = default_context_size(&summary(131_072, 24));
        assert!((4096..=32_768).contains(&ctx), "{ctx}");
        // Never above the training context.
        assert_eq!(default_context_size(&summary(2048, 2)), 2048);
    }

    #[test]
    fn attention_on_the_cpu_goes_without_flash_kernels_within_a_scores_budget() {
        let model = summary(131_072, 24);
        let plan = |flash, on_gpu, n_ctx| attention_plan(flash, on_gpu, n_ctx, &model);
        // 2 × 4 bytes × 4096 × 64 heads = 2 MiB per token of batch: 512 fit in 1 GiB.
        assert_eq!(
            plan(FlashAttention::Auto, false, 4096),
            AttentionPlan {
                flash: FlashAttention::Off,
                n_ubatch: 512
            }
        );
        assert_eq!(plan(FlashAttention::Auto, false, 32_768).n_ubatch, 64);
        assert_eq!(plan(FlashAttention::Auto, false, 20_000).n_ubatch, 64);
        assert_eq!(
            plan(FlashAttention::Off, true, 1 << 20).n_ubatch,
            32,
            "floor"
        );
        // On a GPU, or when asked for, llama.cpp's flash attention with full batches.
        for (flash, on_gpu) in [
            (FlashAttention::Auto, true),
            (FlashAttention::On, false),
            (FlashAttention::On, true),
        ] {
            assert_eq!(
                plan(flash, on_gpu, 32_768),
                AttentionPlan {
                    flash,
                    n_ubatch: 512
                }
            );
        }
    }
}
