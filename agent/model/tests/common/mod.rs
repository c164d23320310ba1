//! Shared fixtures: the tiny models (generated once into the target dir) and one loaded
//! backend per model per test process (llama.cpp allows one backend per process; loading
//! once keeps the tests fast). Everything runs on 1 thread: parallel tests with more
//! threads than cores make ggml's spin-waits collapse.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ossa_model::{LlamaCppBackend, LlamaOptions, Tokenizer, encode_rendered};
use ossa_prompts::{
    Conversation, Message, RenderOptions, Role, render_conversation_for_completion,
};
use ossa_tiny_gguf::Spec;

pub const TEST_CTX: u32 = 2048;

fn model_dir() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

/// The 2-layer model with the tiny 472-token vocabulary.
pub fn tiny_model_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| ossa_tiny_gguf::ensure(&Spec::tiny(), model_dir()).unwrap())
        .clone()
}

/// The same architecture with the full o200k_harmony vocabulary (about 55 MiB).
pub fn o200k_model_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| ossa_tiny_gguf::ensure(&Spec::o200k(), model_dir()).unwrap())
        .clone()
}

/// A broken variant of the tiny model, written to a fresh temp file.
pub fn broken_model(spec: &Spec, dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    ossa_tiny_gguf::write(spec, &path).unwrap();
    path
}

pub fn test_options() -> LlamaOptions {
    LlamaOptions {
        threads: Some(1),
        ctx_size: Some(TEST_CTX),
        progress: false,
        ..LlamaOptions::default()
    }
}

/// The tiny model, loaded once per test process.
pub fn tiny_backend() -> &'static LlamaCppBackend {
    static BACKEND: OnceLock<LlamaCppBackend> = OnceLock::new();
    BACKEND.get_or_init(|| LlamaCppBackend::load(&tiny_model_path(), &test_options()).unwrap())
}

/// The o200k-vocabulary model, loaded once per test process.
pub fn o200k_backend() -> &'static LlamaCppBackend {
    static BACKEND: OnceLock<LlamaCppBackend> = OnceLock::new();
    BACKEND.get_or_init(|| LlamaCppBackend::load(&o200k_model_path(), &test_options()).unwrap())
}

/// The conformance vectors from openai-harmony (see fixtures/gen_o200k_vectors.py).
pub fn vectors() -> &'static serde_json::Value {
    static V: OnceLock<serde_json::Value> = OnceLock::new();
    V.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/o200k_vectors.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    })
}

pub fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// The prompt for the assistant's answer to one user message, as the renderer makes it.
pub fn prompt(tokenizer: &dyn Tokenizer, user_text: &str) -> Vec<u32> {
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
