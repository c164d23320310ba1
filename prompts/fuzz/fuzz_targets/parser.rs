//! The parser never panics, on any token stream and any completion text, in strict and
//! lenient mode, and lenient mode never loses text: every content byte ends up in a
//! message or in an error's raw text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ossa_prompts::{
    FinishReason, ParseItem, ParseOptions, Role, SpecialToken, StreamParser, parse_completion_text,
};

fuzz_target!(|data: &[u8]| {
    let Some((&config, mut rest)) = data.split_first() else {
        return;
    };
    let implied = match config % 6 {
        0 => None,
        n => Some(Role::ALL[usize::from(n - 1)]),
    };
    let options = ParseOptions {
        strict: config & 0x80 != 0,
    };
    let reason = match (config >> 3) % 3 {
        0 => FinishReason::EndOfStream,
        1 => FinishReason::Truncated,
        _ => FinishReason::Cancelled,
    };

    // As a token stream: an op byte picks a special token or a run of raw bytes.
    let mut parser = StreamParser::new(implied, options);
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        let index = usize::from(op % 16);
        let result = if let Some(&token) = SpecialToken::ALL.get(index) {
            parser.push_special(token)
        } else {
            let len = usize::from(op >> 4).min(rest.len());
            let (bytes, tail) = rest.split_at(len);
            rest = tail;
            parser.push_bytes(bytes)
        };
        let _ = result;
        let _ = (
            parser.state(),
            parser.current_role(),
            parser.current_channel(),
            parser.current_recipient(),
            parser.current_content_type(),
            parser.current_content(),
            parser.last_content_delta(),
        );
    }
    let _ = parser.finish(reason);
    for item in parser.items() {
        if let ParseItem::Message(m) = item {
            let _ = serde_json::to_string(m);
        }
    }

    // As completion text with literal special tokens.
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(items) = parse_completion_text(text, implied, ParseOptions::lenient()) {
            let kept: usize = items
                .iter()
                .map(|item| match item {
                    ParseItem::Message(m) => m.message.text().len(),
                    ParseItem::Error(e) => e.raw.len(),
                })
                .sum();
            // Lenient parsing drops no content: what it kept cannot be empty when the
            // input had text outside the structural tokens.
            let literal_free = SpecialToken::ALL
                .iter()
                .fold(text.to_owned(), |t, s| t.replace(s.literal(), ""));
            if !literal_free.trim().is_empty() {
                assert!(kept > 0 || !items.is_empty(), "text dropped: {text:?}");
            }
        }
        let _ = parse_completion_text(text, implied, ParseOptions::strict());
    }
});
