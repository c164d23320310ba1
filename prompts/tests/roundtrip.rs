//! Property: parse(render(x)) == x for assistant messages, at token level, with text
//! cut into tokens at arbitrary byte boundaries (UTF-8 split across tokens).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ossa_prompts::{
    FinishReason, Message, ParseItem, ParseOptions, Piece, Role, SpecialToken, StreamParser,
    Terminator, render_message,
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
    fn arbitrary_token_streams_never_panic(
        tokens in prop::collection::vec(
            prop_oneof![
                prop::sample::select(SpecialToken::ALL.to_vec()).prop_map(Ok),
                prop::collection::vec(any::<u8>(), 0..6).prop_map(Err),
            ],
            0..40,
        ),
        implied in prop::option::of(prop::sample::select(Role::ALL.to_vec())),
        strict in any::<bool>(),
    ) {
        let mut parser = StreamParser::new(implied, ParseOptions { strict });
        for token in &tokens {
            let _ = match token {
                Ok(special) => parser.push_special(*special),
                Err(bytes) => parser.push_bytes(bytes),
            };
            let _ = (parser.current_channel(), parser.last_content_delta(), parser.current_content());
        }
        let _ = parser.finish(FinishReason::Truncated);
    }
}
