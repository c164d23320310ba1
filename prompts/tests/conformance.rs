//! Conformance with openai-harmony 0.0.8, on vectors it generated
//! (tests/scripts/harmony/gen_vectors.py): hand-written render cases for every rule,
//! hundreds of random conversations, JSON it accepts or rejects, completions it parsed,
//! and the malformed corpus with the recovery ossa promises.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use ossa_prompts::{
    Conversation, FinishReason, ParseErrorKind, ParseItem, ParseOptions, RenderOptions, Role,
    SpecialToken, StreamParser, parse_completion_text, render_conversation,
    render_conversation_for_completion, render_conversation_for_training, unaccounted_words,
};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/harmony")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json_lines(name: &str) -> Vec<Value> {
    fixture(name)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// All five renders of a conversation, or the first error.
fn our_renders(conversation: &Conversation, role: Role) -> Result<[String; 5], String> {
    let drop = RenderOptions::default();
    let keep = RenderOptions {
        auto_drop_analysis: false,
    };
    let s = |r: Result<ossa_prompts::Rendered, ossa_prompts::RenderError>| {
        r.map(|r| r.to_literal_string()).map_err(|e| e.to_string())
    };
    Ok([
        s(render_conversation(conversation, &drop))?,
        s(render_conversation(conversation, &keep))?,
        s(render_conversation_for_training(conversation, &drop))?,
        s(render_conversation_for_training(conversation, &keep))?,
        s(render_conversation_for_completion(
            conversation,
            role,
            &drop,
        ))?,
    ])
}

fn check_render_vector(vector: &Value) {
    let name = vector["name"].as_str().unwrap();
    let expected = &vector["expected"];
    let parsed = serde_json::from_value::<Conversation>(vector["conversation"].clone());
    if let Some(error) = expected.get("error") {
        let ours = parsed
            .map_err(|e| e.to_string())
            .and_then(|c| our_renders(&c, Role::User));
        assert!(
            ours.is_err(),
            "{name}: the reference rejects this conversation ({error}) but ossa rendered it"
        );
        return;
    }
    let conversation = parsed.unwrap_or_else(|e| panic!("{name}: ossa rejects the JSON: {e}"));
    let role: Role = expected["completion_role"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let [render, keep, training, training_keep, completion] = our_renders(&conversation, role)
        .unwrap_or_else(|e| panic!("{name}: the reference renders it, ossa fails: {e}"));
    let want = |key: &str, base: &str| -> String {
        expected[key]
            .as_str()
            .map_or_else(|| base.to_owned(), str::to_owned)
    };
    let want_render = expected["render"].as_str().unwrap().to_owned();
    assert_eq!(render, want_render, "{name}: render");
    let want_keep = want("render_keep_analysis", &want_render);
    assert_eq!(keep, want_keep, "{name}: render, keep analysis");
    assert_eq!(training, want("training", &want_render), "{name}: training");
    assert_eq!(
        training_keep,
        want("training_keep_analysis", &want_keep),
        "{name}: training, keep analysis"
    );
    let completion_base = format!("{want_render}<|start|>{role}");
    assert_eq!(
        completion,
        want("completion", &completion_base),
        "{name}: completion"
    );
}

#[test]
fn render_cases_match_the_reference() {
    let vectors: Vec<Value> = serde_json::from_str(&fixture("render_cases.json")).unwrap();
    assert!(vectors.len() > 80);
    for vector in &vectors {
        check_render_vector(vector);
    }
}

#[test]
fn random_conversations_match_the_reference() {
    let vectors = json_lines("render_random.jsonl");
    assert!(vectors.len() >= 300);
    for vector in &vectors {
        check_render_vector(vector);
    }
}

#[test]
fn json_accepted_and_rejected_like_the_reference() {
    let vectors: Vec<Value> = serde_json::from_str(&fixture("json_cases.json")).unwrap();
    for vector in &vectors {
        let name = vector["name"].as_str().unwrap();
        let raw = vector["json"].as_str().unwrap();
        let ours = serde_json::from_str::<Conversation>(raw)
            .map_err(|e| e.to_string())
            .and_then(|c| {
                render_conversation(&c, &RenderOptions::default())
                    .map(|r| r.to_literal_string())
                    .map_err(|e| e.to_string())
            });
        if vector["accepted"].as_bool().unwrap() {
            assert_eq!(
                ours.as_deref(),
                Ok(vector["reference"].as_str().unwrap()),
                "{name}: accepted by the reference"
            );
        } else {
            assert!(
                ours.is_err(),
                "{name}: the reference rejects it ({}), ossa gave {ours:?}",
                vector["reference"]
            );
        }
    }
}

fn decode_hex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// Feeds ["S", literal] / ["T", text] / ["B", hex] pieces, one token each.
fn parse_pieces(pieces: &[Value], role: Option<Role>) -> Vec<ParseItem> {
    let mut parser = StreamParser::new(role, ParseOptions::lenient());
    for piece in pieces {
        let kind = piece[0].as_str().unwrap();
        let value = piece[1].as_str().unwrap();
        match kind {
            "S" => parser
                .push_special(SpecialToken::from_literal(value).unwrap())
                .unwrap(),
            "T" => parser.push_text(value).unwrap(),
            "B" => parser.push_bytes(&decode_hex(value)).unwrap(),
            other => panic!("unknown piece kind {other}"),
        }
    }
    parser.finish(FinishReason::EndOfStream).unwrap();
    parser.into_items()
}

/// Messages as reference-shaped JSON (no terminator) plus the terminators.
fn split_items(items: &[ParseItem]) -> (Vec<Value>, Vec<String>, Vec<String>) {
    let mut messages = Vec::new();
    let mut terminators = Vec::new();
    let mut errors = Vec::new();
    for item in items {
        match item {
            ParseItem::Message(m) => {
                messages.push(serde_json::to_value(&m.message).unwrap());
                terminators.push(
                    serde_json::to_value(m.terminator)
                        .unwrap()
                        .as_str()
                        .unwrap()
                        .to_owned(),
                );
            }
            ParseItem::Error(e) => errors.push(e.to_string()),
        }
    }
    (messages, terminators, errors)
}

/// The one documented difference on well-formed input: a lone `<|constrain|>X` header
/// word is the content type, where the reference takes it as the recipient (#84).
fn with_constrain_fix(mut message: Value) -> Value {
    let lone_constrain = message.get("content_type").is_none()
        && message
            .get("recipient")
            .and_then(Value::as_str)
            .is_some_and(|r| r.starts_with("<|constrain|>"));
    if lone_constrain {
        let object = message.as_object_mut().unwrap();
        let recipient = object.shift_remove("recipient").unwrap();
        object.insert("content_type".to_owned(), recipient);
    }
    message
}

#[test]
fn completions_parse_like_the_reference() {
    let vectors = json_lines("parse_vectors.jsonl");
    assert!(vectors.len() >= 200);
    let mut compared = 0;
    for vector in &vectors {
        let name = vector["name"].as_str().unwrap();
        let terminators: Vec<String> =
            serde_json::from_value(vector["terminators"].clone()).unwrap();
        for run in vector["runs"].as_array().unwrap() {
            let role = match run["role"].as_str().unwrap() {
                "none" => None,
                word => Some(word.parse::<Role>().unwrap()),
            };
            let pieces = run["pieces"].as_array().unwrap();
            let items = parse_pieces(pieces, role);
            let (messages, ours_terminators, errors) = split_items(&items);
            let reference = &run["reference"];
            if reference.get("error").is_some() {
                continue;
            }
            compared += 1;
            let want: Vec<Value> = reference
                .as_array()
                .unwrap()
                .iter()
                .cloned()
                .map(with_constrain_fix)
                .collect();
            assert_eq!(errors, Vec::<String>::new(), "{name} role {role:?}: errors");
            assert_eq!(messages, want, "{name} role {role:?}: messages");
            assert_eq!(
                ours_terminators, terminators,
                "{name} role {role:?}: terminators"
            );

            // The text form gives the same result unless content spells a special token.
            let text: String = pieces
                .iter()
                .map(|p| match p[0].as_str().unwrap() {
                    "B" => {
                        String::from_utf8_lossy(&decode_hex(p[1].as_str().unwrap())).into_owned()
                    }
                    _ => p[1].as_str().unwrap().to_owned(),
                })
                .collect();
            // Literal special-token text in content spans several text tokens.
            let has_literal_in_content = pieces.split(|p| p[0] == "S").any(|run| {
                run.iter()
                    .map(|p| p[1].as_str().unwrap())
                    .collect::<String>()
                    .contains("<|")
            });
            let has_split_utf8 = pieces.iter().any(|p| p[0] == "B");
            if !has_literal_in_content && !has_split_utf8 {
                let items = parse_completion_text(&text, role, ParseOptions::strict())
                    .unwrap_or_else(|e| panic!("{name}: text form: {e}"));
                let (text_messages, text_terminators, _) = split_items(&items);
                assert_eq!(text_messages, want, "{name} role {role:?}: text form");
                assert_eq!(unaccounted_words(&text, &items), Vec::<String>::new());
                assert_eq!(
                    text_terminators, terminators,
                    "{name}: text form terminators"
                );
            }
        }
    }
    assert!(compared >= 300, "only {compared} runs compared");
}

fn error_kind_name(item: &ParseItem) -> Option<String> {
    item.as_error().map(|e| {
        let debug = format!("{:?}", e.kind);
        debug.split('(').next().unwrap_or_default().to_owned()
    })
}

#[test]
fn malformed_corpus_recovers_as_promised() {
    let cases: Vec<Value> = serde_json::from_str(&fixture("malformed.json")).unwrap();
    assert!(cases.len() >= 30);
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let role = case["role"].as_str().map(|r| r.parse::<Role>().unwrap());
        let text = case["text"].as_str().unwrap();
        let items = parse_completion_text(text, role, ParseOptions::lenient()).unwrap();
        let messages: Vec<Value> = items
            .iter()
            .filter_map(ParseItem::as_message)
            .map(|m| serde_json::to_value(m).unwrap())
            .collect();
        let errors: Vec<String> = items.iter().filter_map(error_kind_name).collect();
        assert_eq!(Value::Array(messages), case["messages"], "{name}: messages");
        assert_eq!(json!(errors), case["errors"], "{name}: problems");
        for error in items.iter().filter_map(ParseItem::as_error) {
            // Every problem carries enough to show the user what went wrong.
            assert!(!error.to_string().is_empty());
        }
        // No word is dropped, and text outside messages is the very next message.
        let lost = unaccounted_words(text, &items);
        assert!(lost.is_empty(), "{name}: lost {lost:?}");
        for pair in items.windows(2) {
            if let [ParseItem::Error(error), next] = pair
                && error.kind == ParseErrorKind::TextOutsideMessage
            {
                let next = next.as_message().map(|m| m.message.text());
                assert_eq!(next.as_ref(), Some(&error.raw), "{name}: implied message");
            }
        }
        assert!(
            !matches!(items.last(), Some(ParseItem::Error(e)) if e.kind == ParseErrorKind::TextOutsideMessage),
            "{name}: text outside messages with no message after it"
        );
        // Strict mode reports the first problem as an error instead.
        if !errors.is_empty() {
            let strict = parse_completion_text(text, role, ParseOptions::strict());
            assert!(strict.is_err(), "{name}: strict mode accepted it");
        }
    }
}

#[test]
fn render_pieces_tokenize_to_the_reference_ids() {
    // Each text piece is one segment the reference tokenizes on its own, so encoding the
    // pieces one by one with o200k gives openai-harmony's exact token ids.
    let bpe = bpe_openai::o200k_base();
    let vectors: Vec<Value> = serde_json::from_str(&fixture("render_cases.json")).unwrap();
    let mut checked = 0;
    for vector in &vectors {
        let Some(want) = vector["expected"]["render_tokens"].as_str() else {
            continue;
        };
        let name = vector["name"].as_str().unwrap();
        let want: Vec<u32> = want
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        let conversation: Conversation =
            serde_json::from_value(vector["conversation"].clone()).unwrap();
        let rendered = render_conversation(&conversation, &RenderOptions::default()).unwrap();
        let mut ids = Vec::new();
        for piece in rendered.pieces() {
            match piece {
                ossa_prompts::Piece::Special(t) => ids.push(t.o200k_id()),
                ossa_prompts::Piece::Text(text) => ids.extend(bpe.encode(text)),
            }
        }
        assert_eq!(ids, want, "{name}: token ids");
        checked += 1;
    }
    assert!(checked > 70);
}
