//! The backend interface: generate from token ids, stream tokens, say why it stopped.
//!
//! Implemented by the in-process llama.cpp backend and the HTTP backends of this crate;
//! other crates implement it too (a replay backend, say), so everything here is public
//! and the trait is object-safe.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use tokio_util::sync::CancellationToken;

use crate::ModelError;
use crate::tokenizer::{TokenId, Tokenizer};

/// Sampling settings. The defaults are OpenAI's recommendation for gpt-oss: temperature 1.0,
/// top_p 1.0 (no nucleus cut), no min_p.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplerSettings {
    /// Softmax temperature; 0 means greedy (always the most likely token).
    pub temperature: f32,
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches `top_p`.
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the most likely one (0 disables).
    pub min_p: f32,
    /// Seed of the random choice; `None` picks a fresh one for each request.
    pub seed: Option<u32>,
}

impl Default for SamplerSettings {
    fn default() -> Self {
        SamplerSettings {
            temperature: 1.0,
            top_p: 1.0,
            min_p: 0.0,
            seed: None,
        }
    }
}

impl SamplerSettings {
    /// Always the most likely token (deterministic).
    pub fn greedy() -> SamplerSettings {
        SamplerSettings {
            temperature: 0.0,
            ..SamplerSettings::default()
        }
    }

    /// Rejects values no sampler can use.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |what: &str| Err(ModelError::InvalidSetting(what.to_string()));
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return bad("temperature must be a finite number ≥ 0");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p must be in (0, 1]");
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad("min_p must be in [0, 1]");
        }
        Ok(())
    }
}

/// One generation request.
#[derive(Debug, Clone)]
pub struct GenerateRequest<'a> {
    /// The prompt, already tokenized (see [`crate::encode_rendered`]).
    pub prompt: &'a [TokenId],
    /// Sampling settings.
    pub sampler: SamplerSettings,
    /// Stop after this many new tokens ([`StopReason::Length`]).
    pub max_new_tokens: u32,
    /// Cancel from anywhere (another task, a Ctrl-C handler): generation stops at the next
    /// token with [`StopReason::Cancelled`].
    pub cancel: CancellationToken,
}

/// Refuses a prompt no model can take (empty) or this one cannot (an id outside its
/// vocabulary of `vocab_size` tokens), before anything is sent or decoded.
pub(crate) fn check_prompt(prompt: &[TokenId], vocab_size: u32) -> Result<(), ModelError> {
    if prompt.is_empty() {
        return Err(ModelError::EmptyPrompt);
    }
    match prompt.iter().find(|id| **id >= vocab_size) {
        Some(id) => Err(ModelError::UnknownToken {
            id: *id,
            vocab_size,
        }),
        None => Ok(()),
    }
}

impl<'a> GenerateRequest<'a> {
    /// A request with default sampling, at most 4096 new tokens and a fresh cancellation
    /// token.
    pub fn new(prompt: &'a [TokenId]) -> GenerateRequest<'a> {
        GenerateRequest {
            prompt,
            sampler: SamplerSettings::default(),
            max_new_tokens: 4096,
            cancel: CancellationToken::new(),
        }
    }
}

/// Why generation stopped. `<|end|>` never stops generation: it only ends a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model wrote `<|return|>`: the final answer is complete.
    Return,
    /// The model wrote `<|call|>`: run the tool call it just wrote.
    Call,
    /// The model wrote `<|endoftext|>`.
    EndOfText,
    /// `max_new_tokens` was reached, or the context window is full.
    Length,
    /// The request's cancellation token fired.
    Cancelled,
}

impl From<StopReason> for ossa_prompts::FinishReason {
    /// How the harmony parser should end a completion that stopped this way: a stop
    /// token or end-of-text is a normal end of stream.
    fn from(stop: StopReason) -> Self {
        match stop {
            StopReason::Return | StopReason::Call | StopReason::EndOfText => {
                ossa_prompts::FinishReason::EndOfStream
            }
            StopReason::Length => ossa_prompts::FinishReason::Truncated,
            StopReason::Cancelled => ossa_prompts::FinishReason::Cancelled,
        }
    }
}

/// Where the time went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Processing the prompt tokens that were not reused (until the first new token could
    /// be sampled).
    pub prefill: Duration,
    /// Generating the new tokens.
    pub decode: Duration,
}

/// The result of one generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// The new tokens, including the stop token (`<|return|>`, `<|call|>`,
    /// `<|endoftext|>`) when there is one.
    pub tokens: Vec<TokenId>,
    /// Why generation stopped.
    pub stop: StopReason,
    /// Prompt tokens whose KV state was reused from an earlier request.
    pub prompt_reused: u32,
    /// Prompt tokens that were processed for this request.
    pub prompt_prefilled: u32,
    /// Timings.
    pub timings: Timings,
}

impl Generation {
    /// New tokens per second of decode time (0 when nothing was timed).
    pub fn decode_tokens_per_second(&self) -> f64 {
        let secs = self.timings.decode.as_secs_f64();
        if secs > 0.0 {
            self.tokens.len() as f64 / secs
        } else {
            0.0
        }
    }
}

/// Which kind of backend produced the tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// llama.cpp linked into this process.
    LlamaCpp,
    /// llama-server's native `/completion` endpoint.
    LlamaServer,
    /// An OpenAI-compatible `/v1/completions` endpoint (vLLM, SGLang, …).
    OpenAiCompletions,
    /// Anything else (a replay backend, a test double), by name.
    Other(String),
}

/// What a backend runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendInfo {
    /// The kind of backend.
    pub kind: BackendKind,
    /// The model: a file path, or the model name a server reports.
    pub model: String,
    /// The model file, when it is local.
    pub model_path: Option<PathBuf>,
    /// SHA-256 of the model file (hex), when known. Large files are hashed in the
    /// background after loading, so this can be `None` for a while.
    pub model_sha256: Option<String>,
    /// Context window in tokens.
    pub context_size: u32,
}

/// A model that generates from token ids.
///
/// Implementations must be `Send + Sync`: one backend is shared by the tasks of an agent.
/// Requests may be issued concurrently; backends serialise them as they need.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// The vocabulary prompts must be encoded with.
    fn tokenizer(&self) -> &dyn Tokenizer;

    /// What this backend runs.
    fn info(&self) -> BackendInfo;

    /// Generates until a stop token (`<|return|>`, `<|call|>`, `<|endoftext|>`),
    /// `max_new_tokens`, or cancellation. `on_token` sees every new token as soon as it is
    /// sampled, the stop token included.
    async fn generate(
        &self,
        request: &GenerateRequest<'_>,
        on_token: &mut (dyn FnMut(TokenId) + Send),
    ) -> Result<Generation, ModelError>;

    /// How many requests the engine serves at once, when it says (llama-server's
    /// `total_slots`); `None` when unknown or not applicable. Callers that run several
    /// sessions use it to give each its own slot ([`crate::HttpOptions::slot`]).
    fn parallel_slots(&self) -> Option<u32> {
        None
    }
}

/// The stop reason for a token, if it is one of the stop tokens.
pub fn stop_reason_for(tokenizer: &dyn Tokenizer, id: TokenId) -> Option<StopReason> {
    use ossa_prompts::SpecialToken;
    match tokenizer.special_token(id)? {
        SpecialToken::Return => Some(StopReason::Return),
        SpecialToken::Call => Some(StopReason::Call),
        SpecialToken::EndOfText => Some(StopReason::EndOfText),
        _ => None,
    }
}
