//! Benchmarks of the model runtime (a bench binary: `cargo bench -p ossa-model --bench model`).
//!
//! 1. Tokenizing a 512 KiB base64 run (one unbroken piece, the quadratic case of
//!    tiktoken/openai-harmony) with o200k_harmony and with llama.cpp's vocabularies.
//! 2. Decode tokens/s through `LlamaCppBackend::generate` (measured by the caller, so the
//!    worker thread, channel and callback are included) vs a bare llama-cpp-2 decode loop on
//!    the same model, threads and context settings, alternating in the same process; and vs
//!    `llama-bench` when `OSSA_LLAMA_BENCH` (or `OSSA_LLAMA_SERVER`'s folder) has it.
//! 3. A 10-step scripted tool loop: tokens prefilled per step with prefix reuse vs a fresh
//!    prompt each step, and the same loop against llama-server when `OSSA_LLAMA_SERVER` is set.
//!
//! Environment: `OSSA_BENCH_THREADS` (default 1), `OSSA_BENCH_TOKENS` (default 256),
//! `OSSA_BENCH_RUNS` (default 5).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/server.rs"]
mod server;

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ossa_model::llama_cpp_2::context::params::LlamaContextParams;
use ossa_model::llama_cpp_2::llama_batch::LlamaBatch;
use ossa_model::llama_cpp_2::sampling::LlamaSampler;
use ossa_model::llama_cpp_2::token::LlamaToken;
use ossa_model::{
    Backend, FlashAttention, GenerateRequest, HttpBackend, HttpOptions, LlamaCppBackend,
    LlamaOptions, O200kHarmony, SamplerSettings, StopReason, TokenId, Tokenizer, encode_rendered,
};
use ossa_prompts::{
    Conversation, Message, RenderOptions, Rendered, Role, SpecialToken,
    render_conversation_for_completion,
};
use ossa_tiny_gguf::Spec;

/// Encodes a text, returning the number of tokens.
type Encoder<'a> = dyn Fn(&str) -> usize + 'a;

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let threads = env_u32("OSSA_BENCH_THREADS", 1);
    let n_tokens = env_u32("OSSA_BENCH_TOKENS", 256);
    let runs = env_u32("OSSA_BENCH_RUNS", 5).max(1);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let tiny = ossa_tiny_gguf::ensure(&Spec::tiny(), dir).unwrap();
    let o200k = ossa_tiny_gguf::ensure(&Spec::o200k(), dir).unwrap();
    let options = LlamaOptions {
        threads: Some(threads),
        ctx_size: Some(env_u32("OSSA_BENCH_CTX", 4096)),
        flash_attention: match std::env::var("OSSA_BENCH_FLASH_ATTN").as_deref() {
            Ok("on") => FlashAttention::On,
            Ok("off") => FlashAttention::Off,
            _ => FlashAttention::Auto,
        },
        progress: false,
        ..LlamaOptions::default()
    };
    println!(
        "ossa-model benchmarks: {threads} thread(s), {n_tokens} tokens per decode run, {runs} runs"
    );
    println!("cpu: {}", cpu_name());

    let tiny_backend = LlamaCppBackend::load(&tiny, &options).unwrap();
    let o200k_backend = LlamaCppBackend::load(&o200k, &options).unwrap();

    println!("\n## 1. Tokenizing one 512 KiB base64 run (target ≤ 100 ms)");
    let b64 = base64_run(512 * 1024);
    let o200k_tok = O200kHarmony::new();
    o200k_tok.encode_text("warm up the tables");
    let encoders: [(&str, &Encoder); 4] = [
        ("O200kHarmony (bpe-openai)", &|t| {
            o200k_tok.encode_text(t).len()
        }),
        ("LlamaTokenizer, o200k model", &|t| {
            o200k_backend.tokenizer().encode_text(t).len()
        }),
        ("  llama.cpp's own tokenizer", &|t| {
            o200k_backend
                .llama_tokenizer()
                .encode_text_with_llama_cpp(t)
                .len()
        }),
        ("LlamaTokenizer, tiny model", &|t| {
            tiny_backend.tokenizer().encode_text(t).len()
        }),
    ];
    for (name, encode) in encoders {
        let mut times = Vec::new();
        let mut count = 0;
        for _ in 0..3 {
            let start = Instant::now();
            count = encode(&b64);
            times.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        println!(
            "{name:32} {count:>7} tokens  median {:8.1} ms",
            median(times)
        );
    }

    println!(
        "\n## 2. Decode tokens/s: ossa backend vs bare llama-cpp-2 loop (same model, threads, context)"
    );
    let mut llama_bench_rows = Vec::new();
    for (name, backend, path) in [
        ("tiny (472 tokens)", &tiny_backend, &tiny),
        ("o200k (201,088 tokens)", &o200k_backend, &o200k),
    ] {
        let prompt = find_long_greedy_prompt(backend, n_tokens);
        let mut ossa = Vec::new();
        let mut ossa_inside = Vec::new();
        let mut bare = Vec::new();
        let mut bare_sampler = Vec::new();
        let mut produced = 0;
        let stops = stop_ids(backend);
        for _ in 0..runs {
            let (tps, inside, n) = ossa_decode(backend, &prompt, n_tokens);
            ossa.push(tps);
            ossa_inside.push(inside);
            produced = n;
            bare.push(bare_decode(
                backend,
                &prompt,
                n_tokens,
                threads,
                &stops,
                Pick::Argmax,
            ));
            bare_sampler.push(bare_decode(
                backend,
                &prompt,
                n_tokens,
                threads,
                &stops,
                Pick::LlamaGreedy,
            ));
        }
        let (o, oi, b, bs) = (
            median(ossa),
            median(ossa_inside),
            median(bare),
            median(bare_sampler),
        );
        println!(
            "{name:24} ossa {o:8.1} tok/s   bare loop {b:8.1} tok/s   ratio {:.3}   \
             (ossa's own decode timing {oi:8.1} tok/s; bare loop with LlamaSampler::greedy \
             {bs:8.1} tok/s; {produced} tokens, prompt {})",
            o / b,
            prompt.len()
        );
        if let Some(tps) = llama_bench(path, threads, n_tokens) {
            llama_bench_rows.push((name, o, tps));
        }
    }
    if llama_bench_rows.is_empty() {
        println!(
            "llama-bench: not run (set OSSA_LLAMA_BENCH or OSSA_LLAMA_SERVER; see scripts/llama-server.sh)"
        );
    }
    for (name, o, tps) in llama_bench_rows {
        println!(
            "{name:24} llama-bench tg{n_tokens} {tps:8.1} tok/s   ossa/llama-bench {:.3}",
            o / tps
        );
    }

    println!("\n## 3. 10-step scripted tool loop: prompt tokens prefilled per step");
    for (name, backend) in [("tiny", &tiny_backend), ("o200k", &o200k_backend)] {
        let reuse = tool_loop_local(backend, false);
        let fresh = tool_loop_local(backend, true);
        print_loop(&format!("{name}, prefix reuse"), &reuse);
        print_loop(&format!("{name}, fresh prompt"), &fresh);
    }
    match server::llama_server_binary("tool loop against llama-server") {
        Some(binary) => {
            let srv = server::Server::start(&binary, &o200k, 4096, threads);
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let http = rt
                .block_on(HttpBackend::connect(&srv.url, HttpOptions::default()))
                .unwrap();
            let steps = tool_loop(&rt, &http, || {});
            print_loop("o200k, llama-server /completion", &steps);
        }
        None => println!("llama-server: not run"),
    }
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn base64_run(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET[(x % 64) as usize] as char
        })
        .collect()
}

fn user_prompt(tokenizer: &dyn Tokenizer, user_text: &str) -> Vec<TokenId> {
    let conversation =
        Conversation::from_messages([Message::from_role_and_content(Role::User, user_text)]);
    let rendered = render_conversation_for_completion(
        &conversation,
        Role::Assistant,
        &RenderOptions::default(),
    )
    .expect("a user message renders");
    encode_rendered(tokenizer, &rendered)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A prompt whose greedy continuation runs `n` tokens without a stop token, so both decode
/// loops do the same amount of work.
fn find_long_greedy_prompt(backend: &LlamaCppBackend, n: u32) -> Vec<TokenId> {
    let rt = runtime();
    for i in 0..200 {
        let prompt = user_prompt(
            backend.tokenizer(),
            &format!("Write a long story, number {i}."),
        );
        let request = GenerateRequest {
            sampler: SamplerSettings::greedy(),
            max_new_tokens: n,
            ..GenerateRequest::new(&prompt)
        };
        let g = rt
            .block_on(backend.generate(&request, &mut |_| {}))
            .unwrap();
        if g.stop == StopReason::Length {
            return prompt;
        }
    }
    panic!("no prompt found whose greedy run lasts {n} tokens");
}

/// (caller-side tokens/s, the backend's own decode tokens/s, tokens)
fn ossa_decode(backend: &LlamaCppBackend, prompt: &[TokenId], n: u32) -> (f64, f64, usize) {
    backend.reset_cache().unwrap();
    let rt = runtime();
    let request = GenerateRequest {
        sampler: SamplerSettings::greedy(),
        max_new_tokens: n,
        ..GenerateRequest::new(prompt)
    };
    let mut streamed = 0usize;
    let start = Instant::now();
    let g = rt
        .block_on(backend.generate(&request, &mut |_| streamed += 1))
        .unwrap();
    let wall = start.elapsed();
    assert_eq!(streamed, g.tokens.len());
    // Caller-side time after the prefill: includes the worker hand-off and the callback.
    let decode = wall.saturating_sub(g.timings.prefill);
    (
        g.tokens.len() as f64 / decode.as_secs_f64(),
        g.decode_tokens_per_second(),
        g.tokens.len(),
    )
}

struct Stops([TokenId; 3]);

fn stop_ids(backend: &LlamaCppBackend) -> Stops {
    let t = backend.tokenizer();
    Stops([
        t.special_id(SpecialToken::Return),
        t.special_id(SpecialToken::Call),
        t.special_id(SpecialToken::EndOfText),
    ])
}

/// How the bare loop picks the next token.
#[derive(Clone, Copy)]
enum Pick {
    /// A scan of the logits, as ossa's greedy sampler does: the same work as ossa.
    Argmax,
    /// llama-cpp-2's `LlamaSampler::greedy()`, the obvious way to write the loop.
    LlamaGreedy,
}

/// The same work with llama-cpp-2 directly: prefill, then greedy sample + decode one token
/// at a time, stopping on the same stop tokens.
fn bare_decode(
    backend: &LlamaCppBackend,
    prompt: &[TokenId],
    n: u32,
    threads: u32,
    stops: &Stops,
    pick: Pick,
) -> f64 {
    let model = backend.llama_model();
    let llama = ossa_model::shared_backend().unwrap();
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(env_u32("OSSA_BENCH_CTX", 4096)))
        .with_swa_full(true)
        .with_n_batch(2048)
        .with_n_ubatch(512)
        .with_n_threads(threads as i32)
        .with_n_threads_batch(threads as i32);
    let mut ctx = model.new_context(llama, params).unwrap();
    let mut batch = LlamaBatch::new(2048, 1);
    for (i, t) in prompt.iter().enumerate() {
        batch
            .add(LlamaToken(*t as i32), i as i32, &[0], i + 1 == prompt.len())
            .unwrap();
    }
    ctx.decode(&mut batch).unwrap();
    let mut sampler = LlamaSampler::greedy();
    let mut pos = prompt.len() as i32;
    let mut produced = 0u32;
    let start = Instant::now();
    loop {
        let tok = match pick {
            Pick::Argmax => LlamaToken(ossa_model::argmax(ctx.get_logits_ith(-1)) as i32),
            Pick::LlamaGreedy => sampler.sample(&ctx, -1),
        };
        produced += 1;
        if stops.0.contains(&(tok.0 as TokenId)) || produced >= n {
            break;
        }
        batch.clear();
        batch.add(tok, pos, &[0], true).unwrap();
        ctx.decode(&mut batch).unwrap();
        pos += 1;
    }
    f64::from(produced) / start.elapsed().as_secs_f64()
}

fn llama_bench(model: &Path, threads: u32, n: u32) -> Option<f64> {
    let binary = std::env::var_os("OSSA_LLAMA_BENCH")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("OSSA_LLAMA_SERVER")
                .map(|s| PathBuf::from(s).with_file_name("llama-bench"))
        })
        .filter(|p| p.is_file())?;
    let out = std::process::Command::new(binary)
        .arg("-m")
        .arg(model)
        .args([
            "-t",
            &threads.to_string(),
            "-p",
            "0",
            "-n",
            &n.to_string(),
            "-r",
            "3",
            "-o",
            "json",
        ])
        .output()
        .ok()?;
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    rows.as_array()?.iter().find_map(|r| r["avg_ts"].as_f64())
}

struct Step {
    prompt: usize,
    prefilled: u32,
    reused: u32,
    prefill: Duration,
}

fn tool_result(tok: &dyn Tokenizer, step: usize) -> Vec<TokenId> {
    let mut r = Rendered::new();
    r.push_special(SpecialToken::Start);
    r.push_text("functions.run_tests to=assistant");
    r.push_special(SpecialToken::Channel);
    r.push_text("commentary");
    r.push_special(SpecialToken::Message);
    r.push_text(&format!(
        "{{\"exit_code\": {}, \"stdout\": \"test result: {} passed; {} failed\"}}",
        step % 2,
        40 + step,
        step % 3
    ));
    r.push_special(SpecialToken::End);
    r.push_special(SpecialToken::Start);
    r.push_text("assistant");
    encode_rendered(tok, &r)
}

fn tool_loop(
    rt: &tokio::runtime::Runtime,
    backend: &dyn Backend,
    before_step: impl Fn(),
) -> Vec<Step> {
    let tok = backend.tokenizer();
    let task =
        "You are in a Rust repository. Run the tests, read the failures, fix the bug. ".repeat(20);
    let mut conversation = user_prompt(tok, &task);
    let mut steps = Vec::new();
    for step in 0..10 {
        before_step();
        let request = GenerateRequest {
            sampler: SamplerSettings {
                seed: Some(step as u32),
                ..SamplerSettings::default()
            },
            max_new_tokens: 24,
            ..GenerateRequest::new(&conversation)
        };
        let g = rt
            .block_on(backend.generate(&request, &mut |_| {}))
            .unwrap();
        steps.push(Step {
            prompt: conversation.len(),
            prefilled: g.prompt_prefilled,
            reused: g.prompt_reused,
            prefill: g.timings.prefill,
        });
        conversation.extend(&g.tokens);
        conversation.extend(tool_result(tok, step));
    }
    steps
}

fn tool_loop_local(backend: &LlamaCppBackend, fresh: bool) -> Vec<Step> {
    backend.reset_cache().unwrap();
    let rt = runtime();
    tool_loop(&rt, backend, || {
        if fresh {
            backend.reset_cache().unwrap();
        }
    })
}

fn print_loop(name: &str, steps: &[Step]) {
    let prefilled: u32 = steps.iter().map(|s| s.prefilled).sum();
    let reused: u32 = steps.iter().map(|s| s.reused).sum();
    let time: Duration = steps.iter().map(|s| s.prefill).sum();
    let per_step: Vec<String> = steps
        .iter()
        .map(|s| format!("{}:{:.1}ms", s.prefilled, s.prefill.as_secs_f64() * 1000.0))
        .collect();
    println!(
        "{name:34} prefilled {prefilled:>6} reused {reused:>6} (last prompt {} tokens)  prefill time {:8.1} ms  per step [{}]",
        steps.last().map_or(0, |s| s.prompt),
        time.as_secs_f64() * 1000.0,
        per_step.join(" ")
    );
}
