//! The parser on other projects' corpora: 92 gpt-oss completions from the test suites
//! of openai-harmony, llama.cpp, vLLM, sglang and ollama (and real gpt-oss-20b output),
//! ollama's header cases, and 40 real gpt-oss-20b calls to its native tools.
//!
//! The corpora are reference material outside the repository (`shared/peers/`, found
//! next to an ancestor of this crate, or at `$OSSA_PEERS_DIR`); each test says so and
//! passes when they are absent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::path::PathBuf;

use ossa_prompts::{
    Message, ParseErrorKind, ParseItem, ParseOptions, Role, Terminator, parse_completion_text,
    unaccounted_words,
};
use serde_json::{Value, json};

/// The records of a peers corpus file, or `None` (after saying so) when it is absent.
fn corpus(file: &str) -> Option<Vec<Value>> {
    let dir = std::env::var_os("OSSA_PEERS_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .map(|a| a.join("shared/peers"))
                .find(|d| d.is_dir())
        });
    let Some(path) = dir.map(|d| d.join(file)).filter(|p| p.is_file()) else {
        // Straight to stderr, past the test harness's capture, so the skip is seen.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: the peers corpus {file} was not found (shared/peers/ next to an \
             ancestor of {}, or $OSSA_PEERS_DIR)",
            env!("CARGO_MANIFEST_DIR")
        );
        return None;
    };
    let text = std::fs::read_to_string(&path).unwrap();
    Some(
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    )
}

/// A message in the peers' harmony vocabulary (absent fields omitted).
fn as_reference(m: &Message) -> Value {
    let mut v = json!({"role": m.author.role.as_str(), "content": m.text()});
    for (key, field) in [
        ("name", &m.author.name),
        ("channel", &m.channel),
        ("recipient", &m.recipient),
        ("content_type", &m.content_type),
    ] {
        if let Some(value) = field {
            v[key] = json!(value);
        }
    }
    v
}

fn problems(items: &[ParseItem]) -> Vec<&ParseErrorKind> {
    items
        .iter()
        .filter_map(ParseItem::as_error)
        .map(|e| &e.kind)
        .collect()
}

/// Lenient parsing never fails and drops no word of any completion (the invariant of
/// `unaccounted_words`: every word outside special tokens is in a message's content or
/// header fields, or in a problem's raw text); text outside messages is the content of
/// the message right after its problem; and where ossa reports no problem, it gives
/// exactly openai-harmony 0.0.8's messages.
#[test]
fn peer_completions_lose_no_text() {
    let Some(records) = corpus("harmony-completions.jsonl") else {
        return;
    };
    assert_eq!(records.len(), 92);
    let (mut compared, mut recovered) = (0, 0);
    for record in &records {
        let id = record["id"].as_str().unwrap();
        let text = record["completion"].as_str().unwrap();
        // As the reference was called: after `<|start|>assistant`, or from `<|start|>`.
        let role = record["openai_harmony_0_0_8_parse"]["role_arg"]
            .as_str()
            .map(|r| r.parse::<Role>().unwrap());
        let items = parse_completion_text(text, role, ParseOptions::lenient())
            .unwrap_or_else(|e| panic!("{id}: lenient parsing failed: {e}"));
        let lost = unaccounted_words(text, &items);
        assert!(lost.is_empty(), "{id}: lost {lost:?}\nitems: {items:#?}");
        for (i, item) in items.iter().enumerate() {
            let Some(error) = item.as_error() else {
                continue;
            };
            if error.kind == ParseErrorKind::TextOutsideMessage {
                let next = items.get(i + 1).and_then(ParseItem::as_message);
                assert_eq!(
                    next.map(|m| m.message.text()),
                    Some(error.raw.clone()),
                    "{id}: the text outside messages is not the next message"
                );
                let next = next.unwrap();
                assert_eq!(
                    (&next.message.channel, &next.message.recipient),
                    (&None, &None)
                );
            }
        }
        let reference = &record["openai_harmony_0_0_8_parse"]["strict"];
        if problems(&items).is_empty() {
            let want = reference
                .as_array()
                .unwrap_or_else(|| panic!("{id}: the reference refused it, ossa did not"));
            let ours: Vec<Value> = items
                .iter()
                .filter_map(ParseItem::as_message)
                .map(|m| as_reference(&m.message))
                .collect();
            assert_eq!(&ours, want, "{id}");
            compared += 1;
        } else {
            recovered += 1;
        }
    }
    eprintln!("{compared} completions equal to the reference's parse, {recovered} recovered");
    assert!(compared > 60, "{compared}");
}

/// The completions whose text the peers expect as plain content (sglang's
/// `normal_text`, harmony's non-strict messages): the text is in a message, not only
/// in a problem.
#[test]
fn text_outside_messages_is_kept_as_messages() {
    let Some(records) = corpus("harmony-completions.jsonl") else {
        return;
    };
    let mut checked = 0;
    for record in &records {
        let id = record["id"].as_str().unwrap();
        let Some(normal) = record["expect"]["normal_text"].as_str() else {
            continue;
        };
        let text = record["completion"].as_str().unwrap();
        let items =
            parse_completion_text(text, Some(Role::Assistant), ParseOptions::lenient()).unwrap();
        let contents: Vec<String> = items
            .iter()
            .filter_map(ParseItem::as_message)
            .map(|m| m.message.text())
            .collect();
        assert!(
            contents.iter().any(|c| c == normal.trim()),
            "{id}: {normal:?} is in no message: {contents:?}"
        );
        checked += 1;
    }
    assert!(checked >= 3, "{checked}");
}

/// ollama's header cases: channel and recipient. (The role-less `to=X<|channel|>…`
/// after a bare `<|start|>` is left out: ollama reads role tool, openai-harmony a tool
/// *named* `to=X`, and ossa follows the reference there; after a prompt ending in
/// `<|start|>assistant` ossa reads it as the recipient, as llama.cpp does.)
#[test]
fn ollama_header_cases() {
    let Some(records) = corpus("harmony-headers.jsonl") else {
        return;
    };
    let mut checked = 0;
    for record in &records {
        let header = record["header"].as_str().unwrap();
        if header.starts_with("to=") {
            continue;
        }
        let text = format!("<|start|>{header}<|message|>{{}}<|end|>");
        let items = parse_completion_text(&text, None, ParseOptions::lenient()).unwrap();
        let message = &items
            .iter()
            .find_map(ParseItem::as_message)
            .unwrap()
            .message;
        let expect = &record["expect"];
        assert_eq!(message.author.role.as_str(), expect["role"], "{header}");
        assert_eq!(
            message.channel.as_deref(),
            expect["channel"].as_str(),
            "{header}"
        );
        let recipient = expect["recipient"].as_str().filter(|r| !r.is_empty());
        assert_eq!(message.recipient.as_deref(), recipient, "{header}");
        checked += 1;
    }
    assert_eq!(checked, 8);
}

/// A header shape: its name, the completion, the implied role, the terminator and the
/// problems expected.
type Shape<'a> = (&'a str, String, Option<Role>, Terminator, &'a [&'a str]);

/// gpt-oss-20b's 40 real calls to its native tools, written in every header shape the
/// model was seen to use (channel first, recipient first, and the malformed shapes it
/// also writes): each gives the call's recipient, channel, content type and arguments,
/// with a problem item exactly for the malformed shapes.
#[test]
fn native_tool_calls_in_every_header_shape() {
    let Some(calls) = corpus("harmonyagent-calls.jsonl") else {
        return;
    };
    assert_eq!(calls.len(), 40);
    for call in &calls {
        let recipient = call["recipient"].as_str().unwrap();
        let channel = call["channel"].as_str().unwrap();
        let content_type = call["content_type"].as_str();
        let args = call["arguments"].as_str().unwrap();
        let ct = content_type.map_or(String::new(), |c| format!(" {c}"));
        let assistant = Some(Role::Assistant);
        let shapes: [Shape<'_>; 7] = [
            (
                "channel first",
                format!("<|channel|>{channel} to={recipient}{ct}<|message|>{args}<|call|>"),
                assistant,
                Terminator::Call,
                &[],
            ),
            (
                "recipient first",
                format!(" to={recipient}<|channel|>{channel}{ct}<|message|>{args}<|call|>"),
                assistant,
                Terminator::Call,
                &[],
            ),
            (
                "recipient first after <|start|>",
                format!(
                    "<|start|>assistant to={recipient}<|channel|>{channel}{ct}<|message|>{args}<|call|>"
                ),
                None,
                Terminator::Call,
                &[],
            ),
            (
                "after reasoning, stop token stripped by the server",
                format!(
                    "<|channel|>analysis<|message|>Look first.<|end|><|start|>assistant\
                     <|channel|>{channel} to={recipient}{ct}<|message|>{args}"
                ),
                assistant,
                Terminator::EndOfStream,
                &[],
            ),
            (
                "recipient written as a channel",
                format!("<|channel|>{recipient}<|channel|>{channel}{ct}<|message|>{args}<|call|>"),
                assistant,
                Terminator::Call,
                &["RecipientAsChannel"],
            ),
            (
                "role written as a channel",
                format!(
                    "<|channel|>assistant to={recipient}<|channel|>{channel}{ct}<|message|>{args}<|call|>"
                ),
                assistant,
                Terminator::Call,
                &["ExtraHeaderWords"],
            ),
            (
                "prose before the header",
                format!(
                    "I will use the tool now. to={recipient}<|channel|>{channel}{ct}<|message|>{args}<|call|>"
                ),
                assistant,
                Terminator::Call,
                &["TextOutsideMessage"],
            ),
        ];
        for (shape, text, role, terminator, want_problems) in shapes {
            let items = parse_completion_text(&text, role, ParseOptions::lenient()).unwrap();
            let parsed = items.iter().rev().find_map(ParseItem::as_message).unwrap();
            let m = &parsed.message;
            let what = format!("{recipient} ({shape}): {text:?}");
            assert_eq!(m.recipient.as_deref(), Some(recipient), "{what}");
            assert_eq!(m.channel.as_deref(), Some(channel), "{what}");
            assert_eq!(m.content_type.as_deref(), content_type, "{what}");
            assert_eq!(m.text(), args, "{what}");
            assert_eq!(parsed.terminator, terminator, "{what}");
            let kinds: Vec<String> = problems(&items)
                .iter()
                .map(|k| format!("{k:?}").split('(').next().unwrap().to_owned())
                .collect();
            assert_eq!(kinds, want_problems, "{what}");
            assert!(unaccounted_words(&text, &items).is_empty(), "{what}");
        }
    }
}
