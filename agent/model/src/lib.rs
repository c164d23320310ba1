//! Model backends for ossa: turn rendered harmony pieces into token ids and generate
//! from them, in-process through llama.cpp or remotely over HTTP.
//!
//! * [`Tokenizer`] and [`encode_rendered`]: renderer pieces → ids, injection-proof;
//!   [`O200kHarmony`] is gpt-oss's vocabulary without a model file, [`LlamaTokenizer`] is
//!   the vocabulary of a loaded GGUF.
//! * [`Backend`]: generate from ids with streaming, cancellation, stop reasons, prefix-reuse
//!   accounting and timings. Implemented by [`LlamaCppBackend`] (llama.cpp in-process, KV
//!   prefix reuse across calls) and [`HttpBackend`] (llama-server `/completion`, or an
//!   OpenAI-compatible `/v1/completions` such as vLLM).
//! * [`gguf`]: reads and checks a GGUF's metadata in Rust before llama.cpp sees the file.
//!
//! The llama.cpp parts ([`LlamaCppBackend`], [`LlamaTokenizer`], [`gguf`]) are behind the
//! default `llama` feature; without it the crate is the backend interface, the HTTP engines
//! and the o200k tokenizer, with no C++ to build.
//!
//! Environment variables read by this crate, its tests and its benchmark:
//! * `HF_ENDPOINT`, `HF_TOKEN`, `HF_HOME`, `HF_HUB_CACHE`, `HF_HUB_OFFLINE`: the Hub client
//!   ([`hub::HubOptions::from_env`]);
//! * `OSSA_GGML_BACKENDS_DIR`: where ggml's backend libraries are (only with the
//!   `dynamic-backends` feature);
//! * `OSSA_LLAMA_SERVER`: a llama-server binary (scripts/llama-server.sh builds one) for
//!   the HTTP test and benchmark; without it they say loudly that they did not run, and
//!   `OSSA_REQUIRE_LLAMA_SERVER=1` turns that into a failure;
//! * `OSSA_LLAMA_BENCH`: a llama-bench binary for the decode comparison (default: next to
//!   `OSSA_LLAMA_SERVER`);
//! * `OSSA_BENCH_THREADS`, `OSSA_BENCH_TOKENS`, `OSSA_BENCH_RUNS`, `OSSA_BENCH_CTX`: benchmark
//!   settings.
#![deny(missing_docs)]

mod backend;
mod error;
#[cfg(feature = "llama")]
pub mod gguf;
mod http;
pub mod hub;
#[cfg(feature = "llama")]
mod llama;
mod o200k;
mod tokenizer;

pub use backend::{
    Backend, BackendInfo, BackendKind, CancellationToken, GenerateRequest, Generation,
    SamplerSettings, StopReason, Timings, stop_reason_for,
};
pub use error::ModelError;
pub use http::{HttpApi, HttpBackend, HttpOptions};
#[cfg(feature = "llama")]
pub use llama::{
    AttentionPlan, FlashAttention, GpuLayers, LlamaCppBackend, LlamaOptions, LlamaTokenizer,
    PrefillStats, argmax, attention_plan, default_context_size, default_threads, shared_backend,
};
pub use o200k::{O200K_HARMONY_VOCAB_SIZE, O200kHarmony};
pub use tokenizer::{
    Decoded, TokenId, Tokenizer, Utf8Stream, decode_to_text, encode_pieces, encode_rendered,
};

/// The llama.cpp bindings this crate is built on, for benchmarks that drive them directly.
#[cfg(feature = "llama")]
pub use llama_cpp_2;
