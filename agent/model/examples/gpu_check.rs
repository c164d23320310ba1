//! Greedy generation through ossa's llama.cpp backend, printed as one JSON object, for
//! comparing a GPU run with a CPU run of the same model (scripts/gpu-check.sh).
//!
//! `gpu_check MODEL GPU_LAYERS [TOKENS] [THREADS]`; GPU_LAYERS is all, none or a number.
//! Built with `--features dynamic-backends`, ggml's backends are loaded from
//! `OSSA_GGML_BACKENDS_DIR`, so the same binary runs on the CPU or with a CUDA backend.
//! Logs go to stderr, filtered by `OSSA_LOG`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Instant;

use ossa_model::{
    Backend, GenerateRequest, LlamaCppBackend, LlamaOptions, SamplerSettings, Tokenizer,
    encode_rendered,
};
use ossa_prompts::{
    Conversation, Message, RenderOptions, Role, render_conversation_for_completion,
};

fn main() {
    // llama.cpp's log goes through tracing; OSSA_LOG=llama.cpp=debug shows it on stderr
    // (the "offloaded N/N layers to GPU" line is at that level).
    let filter = tracing_subscriber::EnvFilter::try_from_env("OSSA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: gpu_check MODEL GPU_LAYERS [TOKENS] [THREADS]");
        std::process::exit(2);
    }
    let model = PathBuf::from(&args[0]);
    let gpu_layers = args[1].parse().unwrap();
    let tokens: u32 = args.get(2).map_or(128, |s| s.parse().unwrap());
    let threads: u32 = args.get(3).map_or(4, |s| s.parse().unwrap());
    let options = LlamaOptions {
        gpu_layers,
        threads: Some(threads),
        ctx_size: Some(4096),
        progress: false,
        ..LlamaOptions::default()
    };
    let load_start = Instant::now();
    let backend = LlamaCppBackend::load(&model, &options).unwrap();
    let load_ms = load_start.elapsed().as_secs_f64() * 1000.0;
    let devices: Vec<String> = ossa_model::llama_cpp_2::list_llama_ggml_backend_devices()
        .iter()
        .map(|d| format!("{} ({:?}): {}", d.name, d.device_type, d.description))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut runs = Vec::new();
    for i in 0..4 {
        let prompt = user_prompt(
            backend.tokenizer(),
            &format!("Write a long story, number {i}."),
        );
        backend.reset_cache().unwrap();
        let request = GenerateRequest {
            sampler: SamplerSettings::greedy(),
            max_new_tokens: tokens,
            ..GenerateRequest::new(&prompt)
        };
        let g = rt
            .block_on(backend.generate(&request, &mut |_| {}))
            .unwrap();
        runs.push(serde_json::json!({
            "prompt_tokens": prompt.len(),
            "tokens": g.tokens,
            "stop": g.stop,
            "prefill_ms": g.timings.prefill.as_secs_f64() * 1000.0,
            "decode_tokens_per_second": g.decode_tokens_per_second(),
        }));
    }
    let report = serde_json::json!({
        "model": model,
        "gpu_layers": args[1],
        "threads": threads,
        "devices": devices,
        "load_ms": load_ms,
        "runs": runs,
    });
    println!("{report}");
}

fn user_prompt(tokenizer: &dyn Tokenizer, user_text: &str) -> Vec<u32> {
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
