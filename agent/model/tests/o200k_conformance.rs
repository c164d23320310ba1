//! o200k_harmony equals openai-harmony token for token: plain text, and whole rendered
//! conversations (ossa-prompts renderer + this crate's tokenizer vs the reference's
//! `render_conversation_for_completion`). Checked for the standalone tokenizer and for
//! llama.cpp's vocabulary of the tiny model that carries the full o200k_harmony vocabulary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

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

#[test]
fn llama_vocab_of_the_o200k_model_matches_openai_harmony() {
    let backend = common::o200k_backend();
    let tokenizer = ossa_model::Backend::tokenizer(backend);
    assert_eq!(tokenizer.vocab_size(), 201_088);
    check_texts(tokenizer, "llama.cpp o200k vocab");
    check_conversations(tokenizer, "llama.cpp o200k vocab");
}
