//! Prefix reuse at long contexts (`cargo bench -p ossa-model --bench reuse`).
//!
//! For each cached length (1k, 8k and 32k tokens): the time to first token of a prompt that
//! extends what the cache holds by one agent step (~50 new tokens, the size of a tool
//! result), against a fresh prefill of the same whole prompt, on the same backend in the same
//! run. A step's cost must follow its new tokens, not the cache: the ratio reuse/fresh at 8k
//! should be ≤ 0.1.
//!
//! It also prints the decode speed after the whole prompt (the tiny model often stops at
//! once, so only the o200k model's figure means much).
//!
//! Environment: `OSSA_BENCH_THREADS` (default 1), `OSSA_BENCH_RUNS` (default 3),
//! `OSSA_BENCH_LENGTHS` (default `1024,8192,32768`), `OSSA_BENCH_MODEL` (`tiny`, `o200k` or
//! both, the default), `OSSA_BENCH_FLASH_ATTN` (`on`, `off`; default `auto`, which is off on
//! the CPU): run it with `on` and without to compare.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use ossa_model::{
    Backend, GenerateRequest, LlamaCppBackend, LlamaOptions, SamplerSettings, TokenId,
};
use ossa_tiny_gguf::Spec;

/// New tokens per step: a tool result and the next assistant header.
const STEP_TOKENS: usize = 50;

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Wall time of a one-token generation: prefill plus sampling the first token.
fn time_to_first_token(
    rt: &tokio::runtime::Runtime,
    backend: &LlamaCppBackend,
    prompt: &[TokenId],
) -> (Duration, u32) {
    let request = GenerateRequest {
        sampler: SamplerSettings {
            seed: Some(1),
            ..SamplerSettings::default()
        },
        max_new_tokens: 1,
        ..GenerateRequest::new(prompt)
    };
    let start = Instant::now();
    let generation = rt
        .block_on(backend.generate(&request, &mut |_| {}))
        .unwrap();
    (start.elapsed(), generation.prompt_reused)
}

/// Decode speed (tokens/s) of `n` new tokens after `prompt`, whose prefill is not timed.
fn decode_speed(
    rt: &tokio::runtime::Runtime,
    backend: &LlamaCppBackend,
    prompt: &[TokenId],
    n: u32,
) -> f64 {
    let request = GenerateRequest {
        sampler: SamplerSettings {
            seed: Some(1),
            ..SamplerSettings::default()
        },
        max_new_tokens: n,
        ..GenerateRequest::new(prompt)
    };
    let generation = rt
        .block_on(backend.generate(&request, &mut |_| {}))
        .unwrap();
    generation.decode_tokens_per_second()
}

/// `n` tokens of ordinary text (repeated prose, tokenized by the model's own vocabulary).
fn text_tokens(backend: &LlamaCppBackend, n: usize) -> Vec<TokenId> {
    let prose = "The agent reads the failing test, opens src/lib.rs at line 42, and runs cargo \
                 test again; 17 passed, 1 failed (overflow in checked_add). ";
    let mut tokens = Vec::with_capacity(n);
    while tokens.len() < n {
        tokens.extend(backend.tokenizer().encode_text(prose));
    }
    tokens.truncate(n);
    tokens
}

fn main() {
    let threads = env_u32("OSSA_BENCH_THREADS", 1);
    let runs = env_u32("OSSA_BENCH_RUNS", 3).max(1);
    let lengths: Vec<usize> = std::env::var("OSSA_BENCH_LENGTHS")
        .unwrap_or_else(|_| "1024,8192,32768".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let which = std::env::var("OSSA_BENCH_MODEL").unwrap_or_default();
    let longest = lengths.iter().copied().max().unwrap_or(1024);
    let ctx = u32::try_from(longest + 4 * STEP_TOKENS).unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "prefix reuse at long contexts: {threads} thread(s), {runs} runs, context {ctx}, \
         {STEP_TOKENS} new tokens per step"
    );
    for (name, spec) in [("tiny", Spec::tiny()), ("o200k", Spec::o200k())] {
        if !which.is_empty() && which != name {
            continue;
        }
        let path = ossa_tiny_gguf::ensure(&spec, dir).unwrap();
        let options = LlamaOptions {
            threads: Some(threads),
            ctx_size: Some(ctx),
            progress: false,
            flash_attention: match std::env::var("OSSA_BENCH_FLASH_ATTN").as_deref() {
                Ok("on") => ossa_model::FlashAttention::On,
                Ok("off") => ossa_model::FlashAttention::Off,
                _ => ossa_model::FlashAttention::Auto,
            },
            ..LlamaOptions::default()
        };
        let backend = LlamaCppBackend::load(&path, &options).unwrap();
        for &cached in &lengths {
            let all = text_tokens(&backend, cached + STEP_TOKENS);
            let (before, _) = all.split_at(cached);
            let mut fresh = Vec::new();
            let mut reuse = Vec::new();
            for _ in 0..runs {
                backend.reset_cache().unwrap();
                let (time, reused) = time_to_first_token(&rt, &backend, &all);
                assert_eq!(reused, 0);
                fresh.push(time);
                backend.reset_cache().unwrap();
                time_to_first_token(&rt, &backend, before);
                let (time, reused) = time_to_first_token(&rt, &backend, &all);
                assert!(reused as usize >= cached - 1, "reused {reused} of {cached}");
                reuse.push(time);
            }
            let (fresh, reuse) = (median(fresh), median(reuse));
            let decode = decode_speed(&rt, &backend, &all, 32);
            println!(
                "{name:6} cached {cached:>6}  fresh prefill of {:>6} tokens {:9.1} ms   \
                 reuse (+{STEP_TOKENS} tokens) {:8.1} ms   ratio {:.3}   then decode {decode:7.1} tok/s",
                all.len(),
                fresh.as_secs_f64() * 1000.0,
                reuse.as_secs_f64() * 1000.0,
                reuse.as_secs_f64() / fresh.as_secs_f64()
            );
        }
    }
}
