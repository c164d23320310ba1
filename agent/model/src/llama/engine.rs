//! One llama.cpp context and the tokens whose KV state it holds: prefill with prefix
//! reuse, then sample until a stop token.
//!
//! Prefix reuse: the engine remembers every token decoded into sequence 0. A new prompt
//! keeps the longest common prefix, drops the rest of the cache (`seq_rm`) and decodes only
//! the new suffix. The context is created with `swa_full = true`, so the sliding-window
//! layers keep every position and a rollback to any depth is exact (with `swa_full =
//! false` llama.cpp prunes SWA cells outside the window, and a rollback deeper than the
//! window silently gives wrong logits). As a guard, the cache's position range is checked after each
//! rollback; a mismatch falls back to a full re-decode.

use std::time::Instant;

use llama_cpp_2::DecodeError;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use crate::ModelError;
use crate::backend::{Generation, SamplerSettings, StopReason, Timings};
use crate::tokenizer::TokenId;

/// Stop tokens and what they mean.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StopIds {
    pub(crate) ret: TokenId,
    pub(crate) call: TokenId,
    pub(crate) end_of_text: TokenId,
}

impl StopIds {
    fn reason(&self, id: TokenId) -> Option<StopReason> {
        if id == self.ret {
            Some(StopReason::Return)
        } else if id == self.call {
            Some(StopReason::Call)
        } else if id == self.end_of_text {
            Some(StopReason::EndOfText)
        } else {
            None
        }
    }
}

/// How a prompt was brought into the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefillStats {
    /// Prompt tokens whose KV state was kept from before.
    pub reused: u32,
    /// Prompt tokens decoded now.
    pub prefilled: u32,
}

pub(crate) struct Engine<'m> {
    ctx: LlamaContext<'m>,
    /// Tokens whose KV state is in sequence 0, at positions 0..len.
    cached: Vec<LlamaToken>,
    batch: LlamaBatch<'static>,
    n_batch: usize,
    n_ctx: usize,
    stops: StopIds,
}

impl<'m> Engine<'m> {
    pub(crate) fn new(ctx: LlamaContext<'m>, stops: StopIds) -> Engine<'m> {
        let n_batch = ctx.n_batch().max(1) as usize;
        let n_ctx = ctx.n_ctx() as usize;
        Engine {
            ctx,
            cached: Vec::new(),
            batch: LlamaBatch::new(n_batch, 1),
            n_batch,
            n_ctx,
            stops,
        }
    }

    pub(crate) fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    /// Forgets everything cached.
    pub(crate) fn reset(&mut self) {
        self.ctx.clear_kv_cache();
        self.cached.clear();
    }

    /// Brings `prompt` into the cache, reusing the longest common prefix, and leaves the
    /// logits of its last token ready for sampling.
    pub(crate) fn prefill(
        &mut self,
        prompt: &[TokenId],
        cancelled: &dyn Fn() -> bool,
    ) -> Result<PrefillStats, ModelError> {
        if prompt.is_empty() {
            return Err(ModelError::EmptyPrompt);
        }
        if prompt.len() > self.n_ctx {
            return Err(ModelError::PromptTooLong {
                prompt: prompt.len(),
                context: self.n_ctx as u32,
            });
        }
        let prompt: Vec<LlamaToken> = prompt.iter().map(|t| LlamaToken(*t as i32)).collect();
        let mut keep = self
            .cached
            .iter()
            .zip(&prompt)
            .take_while(|(a, b)| a == b)
            .count();
        // The last prompt token is always decoded again: its logits are needed to sample.
        keep = keep.min(prompt.len() - 1);
        if keep < self.cached.len() {
            let removed = self
                .ctx
                .clear_kv_cache_seq(Some(0), Some(keep as u32), None)
                .unwrap_or(false);
            let expected_max = keep as i32 - 1;
            if !removed || self.ctx.kv_cache_seq_pos_max(0) != expected_max {
                tracing::debug!(
                    keep,
                    "cache rollback not exact; decoding the prompt from scratch"
                );
                self.ctx.clear_kv_cache();
                keep = 0;
            }
            self.cached.truncate(keep);
        }
        let mut pos = keep;
        for chunk in prompt[keep..].chunks(self.n_batch) {
            if cancelled() {
                break;
            }
            self.batch.clear();
            let last_chunk = pos + chunk.len() == prompt.len();
            for (i, tok) in chunk.iter().enumerate() {
                let want_logits = last_chunk && i + 1 == chunk.len();
                self.batch
                    .add(*tok, (pos + i) as i32, &[0], want_logits)
                    .map_err(|e| ModelError::Decode(e.to_string()))?;
            }
            if let Err(err) = self.ctx.decode(&mut self.batch) {
                // The cache state is unknown after a failed decode: start clean next time.
                self.reset();
                return Err(decode_error(err, prompt.len(), self.n_ctx));
            }
            self.cached.extend_from_slice(chunk);
            pos += chunk.len();
        }
        Ok(PrefillStats {
            reused: keep as u32,
            // Less than the whole suffix only when cancelled part-way.
            prefilled: (pos - keep) as u32,
        })
    }

    /// The logits of the last prefilled token.
    pub(crate) fn last_logits(&self) -> Vec<f32> {
        self.ctx.get_logits_ith(-1).to_vec()
    }

    /// Prefill `prompt`, then sample up to `max_new_tokens`.
    pub(crate) fn generate(
        &mut self,
        prompt: &[TokenId],
        settings: &SamplerSettings,
        max_new_tokens: u32,
        cancelled: &dyn Fn() -> bool,
        on_token: &mut dyn FnMut(TokenId),
    ) -> Result<Generation, ModelError> {
        let start = Instant::now();
        let stats = self.prefill(prompt, cancelled)?;
        let prefill = start.elapsed();
        let mut sampler = build_sampler(settings);
        let mut tokens = Vec::new();
        let decode_start = Instant::now();
        let stop = loop {
            if cancelled() {
                break StopReason::Cancelled;
            }
            if tokens.len() >= max_new_tokens as usize {
                break StopReason::Length;
            }
            let tok = sampler.sample(&self.ctx);
            let id = tok.0 as TokenId;
            tokens.push(id);
            on_token(id);
            if let Some(reason) = self.stops.reason(id) {
                break reason;
            }
            if tokens.len() >= max_new_tokens as usize {
                break StopReason::Length;
            }
            if self.cached.len() >= self.n_ctx {
                break StopReason::Length;
            }
            self.batch.clear();
            self.batch
                .add(tok, self.cached.len() as i32, &[0], true)
                .map_err(|e| ModelError::Decode(e.to_string()))?;
            match self.ctx.decode(&mut self.batch) {
                Ok(()) => self.cached.push(tok),
                Err(DecodeError::NoKvCacheSlot) => {
                    self.reset();
                    break StopReason::Length;
                }
                Err(err) => {
                    self.reset();
                    return Err(decode_error(err, self.cached.len(), self.n_ctx));
                }
            }
        };
        Ok(Generation {
            tokens,
            stop,
            prompt_reused: stats.reused,
            prompt_prefilled: stats.prefilled,
            timings: Timings {
                prefill,
                decode: decode_start.elapsed(),
            },
        })
    }
}

fn decode_error(err: DecodeError, tokens: usize, n_ctx: usize) -> ModelError {
    match err {
        DecodeError::NoKvCacheSlot => ModelError::PromptTooLong {
            prompt: tokens,
            context: n_ctx as u32,
        },
        other => ModelError::Decode(other.to_string()),
    }
}

/// How the next token is chosen.
pub(crate) enum Sampler {
    /// The most likely token, by a scan of the logits. llama.cpp's greedy sampler first
    /// copies the whole vocabulary into a freshly allocated candidate array (2.4 MB for
    /// gpt-oss), which costs more than the scan itself.
    Greedy,
    /// A llama.cpp sampler chain (its candidate buffer is reused between tokens).
    Chain(LlamaSampler),
}

impl Sampler {
    fn sample(&mut self, ctx: &LlamaContext<'_>) -> LlamaToken {
        match self {
            Sampler::Greedy => LlamaToken(argmax(ctx.get_logits_ith(-1)) as i32),
            // Sampling already accepts the token into the chain's state.
            Sampler::Chain(chain) => chain.sample(ctx, -1),
        }
    }
}

/// Index of the first largest value (llama.cpp's greedy rule); NaNs never win.
///
/// Two passes the compiler vectorises (a lane-wise maximum, then the first position of
/// it) instead of one branchy scan: 201,088 logits are scanned for every token.
pub fn argmax(logits: &[f32]) -> usize {
    const LANES: usize = 16;
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let mut chunks = logits.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            if *v > *lane {
                *lane = *v;
            }
        }
    }
    let mut max = lanes
        .iter()
        .fold(f32::NEG_INFINITY, |m, v| if *v > m { *v } else { m });
    for v in chunks.remainder() {
        if *v > max {
            max = *v;
        }
    }
    logits.iter().position(|v| *v == max).unwrap_or(0)
}

/// The sampler for `settings`: greedy at temperature 0, else the chain
/// top-p → min-p → temperature → seeded draw.
pub(crate) fn build_sampler(settings: &SamplerSettings) -> Sampler {
    if settings.temperature <= 0.0 {
        return Sampler::Greedy;
    }
    let mut chain = Vec::with_capacity(4);
    if settings.top_p < 1.0 {
        chain.push(LlamaSampler::top_p(settings.top_p, 1));
    }
    if settings.min_p > 0.0 {
        chain.push(LlamaSampler::min_p(settings.min_p, 1));
    }
    chain.push(LlamaSampler::temp(settings.temperature));
    // llama.cpp's LLAMA_DEFAULT_SEED (u32::MAX) draws a random seed.
    chain.push(LlamaSampler::dist(settings.seed.unwrap_or(u32::MAX)));
    Sampler::Chain(LlamaSampler::chain_simple(chain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_maximum_and_skips_nan() {
        assert_eq!(argmax(&[0.5, 2.0, 2.0, -1.0]), 1);
        assert_eq!(argmax(&[f32::NAN, -3.0, -2.0]), 2);
        assert_eq!(argmax(&[]), 0);
        // Longer than one vector of lanes, maximum in the remainder, then tied in a lane.
        let mut v: Vec<f32> = (0..37).map(|i| (i % 7) as f32).collect();
        v[35] = 9.0;
        assert_eq!(argmax(&v), 35);
        v[3] = 9.0;
        assert_eq!(argmax(&v), 3);
    }
}
