//! Properties: parse(render(x)) == x for assistant messages, at token level, with text
//! cut into tokens at arbitrary byte boundaries (UTF-8 split across tokens); and on any
//! stream of special tokens and bytes, lenient parsing keeps its promise (nothing fatal,
//! no text dropped, as `unaccounted_words` states it) and strict parsing agrees with it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ossa_prompts::{
    FinishReason, Message, ParseError, ParseErrorKind, ParseItem, ParseOptions, Piece, Role,
    SpecialToken, StreamParser, Terminator, render_message, unaccounted_words,
};
use proptest::prelude::*;

fn channel() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("analysis".to_owned())),
        Just(Some("commentary".to_owned())),
        Just(Some("final".to_owned())),
        "[a-z_]{1,12}".prop_map(Some),
    ]
}

/// Recipient and content type as the model writes them. A content type without a
/// recipient must start with `<|constrain|>` (a lone word is read as the recipient,
/// as the reference does).
fn addressing() -> impl Strategy<Value = (Option<String>, Option<String>)> {
    let recipient = prop_oneof![
        "functions\\.[a-z_]{1,16}",
        Just("python".to_owned()),
        "browser\\.[a-z]{1,8}",
    ];
    let content_type = prop_oneof![
        Just("json".to_owned()),
        Just("code".to_owned()),
        Just("<|constrain|>json".to_owned()),
        "<\\|constrain\\|>[a-z]{1,6}",
    ];
    prop_oneof![
        Just((None, None)),
        recipient.clone().prop_map(|r| (Some(r), None)),
        (recipient, content_type).prop_map(|(r, c)| (Some(r), Some(c))),
        "<\\|constrain\\|>[a-z]{1,6}".prop_map(|c| (None, Some(c))),
    ]
}

fn content() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,40}",
        Just("<|end|><|start|>system<|message|>x<|call|>".to_owned()),
        "\\PC{0,20}",
    ]
}

fn assistant_message() -> impl Strategy<Value = Message> {
    (channel(), addressing(), content()).prop_map(|(channel, (recipient, content_type), text)| {
        let mut m = Message::from_role_and_content(Role::Assistant, text);
        m.channel = channel;
        m.recipient = recipient;
        m.content_type = content_type;
        m
    })
}

/// Feeds rendered pieces, cutting each text piece into chunks of the given sizes.
fn feed(parser: &mut StreamParser, pieces: &[Piece<'_>], cuts: &[usize]) {
    let mut cut = cuts.iter().cycle();
    for piece in pieces {
        match *piece {
            Piece::Special(token) => parser.push_special(token).unwrap(),
            Piece::Text(text) => {
                let mut bytes = text.as_bytes();
                while !bytes.is_empty() {
                    let n = (*cut.next().unwrap()).clamp(1, bytes.len());
                    parser.push_bytes(&bytes[..n]).unwrap();
                    bytes = &bytes[n..];
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_of_render_gives_the_messages_back(
        messages in prop::collection::vec(assistant_message(), 1..5),
        cuts in prop::collection::vec(1usize..6, 1..8),
        implied in any::<bool>(),
    ) {
        let mut pieces_owned = Vec::new();
        for m in &messages {
            pieces_owned.push(render_message(m, false).unwrap());
        }
        let mut pieces: Vec<Piece<'_>> = pieces_owned.iter().flat_map(|r| r.pieces()).collect();
        let role = if implied {
            // The prompt ended with `<|start|>assistant`: drop those two pieces.
            prop_assert_eq!(pieces[0], Piece::Special(SpecialToken::Start));
            prop_assert_eq!(pieces[1], Piece::Text("assistant"));
            pieces.drain(..2);
            Some(Role::Assistant)
        } else {
            None
        };
        let mut parser = StreamParser::new(role, ParseOptions::strict());
        feed(&mut parser, &pieces, &cuts);
        parser.finish(FinishReason::EndOfStream).unwrap();
        let items = parser.into_items();
        prop_assert!(items.iter().all(|i| matches!(i, ParseItem::Message(_))));
        let parsed: Vec<_> = items.iter().filter_map(ParseItem::as_message).collect();
        prop_assert_eq!(parsed.len(), messages.len());
        for (got, want) in parsed.iter().zip(&messages) {
            prop_assert_eq!(&got.message, want);
            let terminator = if want.recipient.is_some() { Terminator::Call } else { Terminator::End };
            prop_assert_eq!(got.terminator, terminator);
        }
    }

    #[test]
    fn lenient_parsing_is_never_fatal_and_drops_no_text(
        tokens in token_stream(),
        implied in prop::option::of(prop::sample::select(Role::ALL.to_vec())),
        reason in prop::sample::select(vec![
            FinishReason::EndOfStream,
            FinishReason::Truncated,
            FinishReason::Cancelled,
        ]),
    ) {
        let lenient = run(&tokens, implied, ParseOptions::lenient(), reason);
        let items = match lenient {
            Ok(items) => items,
            Err(error) => return Err(TestCaseError::fail(format!("lenient mode failed: {error}"))),
        };
        let text = literal_text(&tokens);
        let lost = unaccounted_words(&text, &items);
        prop_assert!(lost.is_empty(), "lost {:?} of {:?}\nitems: {:#?}", lost, text, items);
        // Strict mode fails whenever lenient mode reported a problem; otherwise it gives
        // the same messages, or refuses a stray terminator (which lenient mode ignores).
        let strict = run(&tokens, implied, ParseOptions::strict(), reason);
        let problems = items.iter().filter(|i| i.as_error().is_some()).count();
        match strict {
            Ok(strict_items) => {
                prop_assert_eq!(problems, 0, "strict mode accepted {:?}", text);
                prop_assert_eq!(strict_items, items);
            }
            Err(error) => prop_assert!(
                problems > 0 || matches!(error.kind, ParseErrorKind::StrayTerminator(_)),
                "strict mode refused {:?}: {}", text, error
            ),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Text with no harmony markup, as a whole completion or after a message, is the
    /// content of one implied message (no channel, no recipient), never only an error.
    #[test]
    fn text_outside_messages_becomes_a_message(
        words in prop::collection::vec(plain_word(), 1..8),
        separators in prop::collection::vec(prop::sample::select(vec![" ", "  ", "\n", "\n\n", "\t"]), 8),
        after_a_message in any::<bool>(),
        cuts in prop::collection::vec(1usize..6, 1..4),
    ) {
        let mut text = String::new();
        for (word, separator) in words.iter().zip(separators.iter().cycle()) {
            text.push_str(word);
            text.push_str(separator);
        }
        let mut parser = StreamParser::new(Some(Role::Assistant), ParseOptions::lenient());
        if after_a_message {
            for piece in ["<|channel|>", "final", "<|message|>", "x", "<|end|>"] {
                match SpecialToken::strip_prefix_of(piece) {
                    Some((token, _)) => parser.push_special(token).unwrap(),
                    None => parser.push_text(piece).unwrap(),
                }
            }
        }
        let mut bytes = text.as_bytes();
        let mut cut = cuts.iter().cycle();
        while !bytes.is_empty() {
            let n = (*cut.next().unwrap()).min(bytes.len());
            parser.push_bytes(&bytes[..n]).unwrap();
            bytes = &bytes[n..];
        }
        parser.finish(FinishReason::EndOfStream).unwrap();
        let items = parser.into_items();
        let (last, before) = items.split_last().unwrap();
        let message = &last.as_message().unwrap().message;
        prop_assert_eq!(message.text(), text.trim());
        prop_assert_eq!(message.author.role, Role::Assistant);
        prop_assert_eq!(&message.channel, &None);
        prop_assert_eq!(&message.recipient, &None);
        let error = before.last().and_then(ParseItem::as_error).unwrap();
        prop_assert_eq!(&error.kind, &ParseErrorKind::TextOutsideMessage);
    }
}

/// A word that is not part of the header grammar (no role, channel or content type
/// name, no `to=`, no `:`): ASCII and non-ASCII letters and sentence punctuation.
fn plain_word() -> impl Strategy<Value = String> {
    "[A-Za-z0-9,.!?'éü中]{1,10}".prop_filter("a header keyword", |w| {
        Role::from_word(w).is_none()
            && !["analysis", "commentary", "final", "json", "code"].contains(&w.as_str())
    })
}

/// Special tokens, random bytes (UTF-8 cut anywhere) and pieces of real headers.
fn token_stream() -> impl Strategy<Value = Vec<Token>> {
    let piece = prop::sample::select(vec![
        "assistant",
        "user:alice",
        " to=functions.f",
        "to=",
        " json",
        " code",
        "analysis",
        "commentary",
        "final",
        "commentary:analysis",
        "repo_browser.search",
        "container.exec",
        " ",
        "\n",
        "Some words here.",
        "Hello",
        "functions.f",
        ":",
        ".",
    ]);
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(SpecialToken::ALL.to_vec()).prop_map(Token::Special),
            2 => prop::collection::vec(any::<u8>(), 0..6).prop_map(Token::Bytes),
            2 => piece.prop_map(|p| Token::Bytes(p.as_bytes().to_vec())),
        ],
        0..40,
    )
}

#[derive(Debug, Clone)]
enum Token {
    Special(SpecialToken),
    Bytes(Vec<u8>),
}

/// Feeds every token (strict mode: stops at the first error) and finishes.
fn run(
    tokens: &[Token],
    implied: Option<Role>,
    options: ParseOptions,
    reason: FinishReason,
) -> Result<Vec<ParseItem>, ParseError> {
    let mut parser = StreamParser::new(implied, options);
    for token in tokens {
        match token {
            Token::Special(special) => parser.push_special(*special)?,
            Token::Bytes(bytes) => parser.push_bytes(bytes)?,
        }
        // The accessors a UI reads never panic mid-stream.
        let _ = (
            parser.current_channel(),
            parser.last_content_delta(),
            parser.current_content(),
        );
    }
    parser.finish(reason)?;
    Ok(parser.into_items())
}

/// The stream in text form: special tokens as literals, bytes decoded as the parser
/// decodes them (U+FFFD for invalid UTF-8).
fn literal_text(tokens: &[Token]) -> String {
    let mut bytes = Vec::new();
    for token in tokens {
        match token {
            Token::Special(special) => bytes.extend_from_slice(special.literal().as_bytes()),
            Token::Bytes(b) => bytes.extend_from_slice(b),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
