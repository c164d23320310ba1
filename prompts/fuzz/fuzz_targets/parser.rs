//! The parser never panics, on any token stream and any completion text, in strict and
//! lenient mode, and lenient mode is never fatal and never loses text: every word of
//! the input is in a message or in an error's raw text (`unaccounted_words` is empty).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ossa_prompts::{
    FinishReason, ParseItem, ParseOptions, Role, SpecialToken, StreamParser, parse_completion_text,
    unaccounted_words,
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
    let mut literal = Vec::new();
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        let index = usize::from(op % 16);
        let result = if let Some(&token) = SpecialToken::ALL.get(index) {
            literal.extend_from_slice(token.literal().as_bytes());
            parser.push_special(token)
        } else {
            let len = usize::from(op >> 4).min(rest.len());
            let (bytes, tail) = rest.split_at(len);
            rest = tail;
            literal.extend_from_slice(bytes);
            parser.push_bytes(bytes)
        };
        assert!(options.strict || result.is_ok(), "lenient mode failed");
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
    let finished = parser.finish(reason);
    assert!(options.strict || finished.is_ok(), "lenient mode failed");
    for item in parser.items() {
        if let ParseItem::Message(m) = item {
            let _ = serde_json::to_string(m);
        }
    }
    if !options.strict {
        let text = String::from_utf8_lossy(&literal);
        let lost = unaccounted_words(&text, parser.items());
        assert!(lost.is_empty(), "lost {lost:?} of {text:?}");
    }

    // As completion text with literal special tokens.
    if let Ok(text) = std::str::from_utf8(data) {
        match parse_completion_text(text, implied, ParseOptions::lenient()) {
            Ok(items) => {
                let lost = unaccounted_words(text, &items);
                assert!(lost.is_empty(), "lost {lost:?} of {text:?}");
            }
            Err(error) => panic!("lenient mode failed: {error}"),
        }
        let _ = parse_completion_text(text, implied, ParseOptions::strict());
    }
});
