//! o200k_harmony equals openai-harmony token for token: plain text, and whole rendered
//! conversations (ossa-prompts renderer + this crate's tokenizer vs the reference's
//! `render_conversation_for_completion`). Checked for the standalone tokenizer and for
//! llama.cpp's vocabulary of the tiny model that carries the full o200k_harmony vocabulary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use ossa_model::{O200kHarmony, Tokenizer, encode_rendered};
use ossa_prompts::{Conversation, RenderOptions, Role, render_conversation_for_completion};

fn check_texts(tokenizer: &dyn Tokenizer, label: &str) {
    let texts = common::vectors()["texts"].as_array().unwrap();
    assert!(texts.len() > 50);
    let mut failures = Vec::new();
    for case in texts {
        let text = case["text"].as_str().unwrap();
        let expected = common::ids(&case["tokens"]);
        let got = tokenizer.encode_text(text);
        if got != expected {
            failures.push(format!("{text:?}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{label}: {} texts differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn check_conversations(tokenizer: &dyn Tokenizer, label: &str) {
    let convs = common::vectors()["conversations"].as_array().unwrap();
    assert!(convs.len() > 100);
    let mut failures = Vec::new();
    for case in convs {
        let name = case["name"].as_str().unwrap();
        let conversation: Conversation =
            serde_json::from_value(case["conversation"].clone()).unwrap();
        let rendered = render_conversation_for_completion(
            &conversation,
            Role::Assistant,
            &RenderOptions::default(),
        )
        .unwrap();
        let got = encode_rendered(tokenizer, &rendered);
        let expected = common::ids(&case["tokens"]);
        if got != expected {
            let at = got
                .iter()
                .zip(&expected)
                .take_while(|(a, b)| a == b)
                .count();
            failures.push(format!("{name}: first difference at token {at}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{label}: {} conversations differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn o200k_harmony_texts_match_openai_harmony() {
    check_texts(&O200kHarmony::new(), "o200k_harmony");
}

#[test]
fn o200k_harmony_conversations_match_openai_harmony() {
    check_conversations(&O200kHarmony::new(), "o200k_harmony");
}

/// The o200k model's tokenizer with text encoded by llama.cpp itself (the backend's own
/// `encode_text` switches to bpe-openai for this vocabulary).
struct LlamaCppOnly<'a>(&'a ossa_model::LlamaTokenizer);

impl Tokenizer for LlamaCppOnly<'_> {
    fn special_id(&self, token: ossa_prompts::SpecialToken) -> u32 {
        self.0.special_id(token)
    }
    fn encode_text(&self, text: &str) -> Vec<u32> {
        self.0.encode_text_with_llama_cpp(text)
    }
    fn decode(&self, id: u32) -> Result<ossa_model::Decoded, ossa_model::ModelError> {
        self.0.decode(id)
    }
    fn vocab_size(&self) -> u32 {
        self.0.vocab_size()
    }
}

#[test]
fn llama_cpp_tokenization_of_the_o200k_model_matches_openai_harmony() {
    let tokenizer = common::o200k_backend().llama_tokenizer();
    assert_eq!(tokenizer.vocab_size(), 201_088);
    let llama_cpp = LlamaCppOnly(tokenizer);
    check_texts(&llama_cpp, "llama.cpp o200k vocab");
    check_conversations(&llama_cpp, "llama.cpp o200k vocab");
}

#[test]
fn the_o200k_model_encodes_with_bpe_openai_and_the_same_ids() {
    let tokenizer = common::o200k_backend().llama_tokenizer();
    assert!(tokenizer.uses_o200k_encoder());
    assert!(
        !common::tiny_backend()
            .llama_tokenizer()
            .uses_o200k_encoder()
    );
    check_texts(tokenizer, "o200k model, bpe-openai path");
    check_conversations(tokenizer, "o200k model, bpe-openai path");
}
