//! The lenient parser's promise, as a check anyone can run: no text is dropped.

use std::collections::HashMap;

use crate::parse::ParseItem;
use crate::tokens::SpecialToken;

/// The words of a completion that the parsed `items` do not account for. Lenient
/// parsing promises there are none; tests and fuzz targets check it.
///
/// `text` is the completion in text form (special tokens as their literals, invalid
/// UTF-8 decoded with U+FFFD as [`String::from_utf8_lossy`] does). A *word* is a maximal
/// run of characters that are neither whitespace nor `<`, once every special-token
/// literal is replaced by a space (a channel name ends at `<`, so `final<x` is two
/// words). The items *supply* words: each message's content, its role, author name
/// (also as `role:name`), channel, recipient (also as `to=RECIPIENT`) and content type,
/// and each error's raw text. Every word of `text` must be matched by a distinct
/// supplied word (multiset inclusion); whitespace and special tokens are markup and need
/// no match. The words left unmatched are returned, in input order.
pub fn unaccounted_words(text: &str, items: &[ParseItem]) -> Vec<String> {
    let mut supply: HashMap<String, usize> = HashMap::new();
    let mut add = |s: &str| {
        for word in words(s) {
            *supply.entry(word).or_default() += 1;
        }
    };
    for item in items {
        match item {
            ParseItem::Message(parsed) => {
                let m = &parsed.message;
                add(&m.text());
                add(m.author.role.as_str());
                if let Some(name) = &m.author.name {
                    add(name);
                    add(&format!("{}:{name}", m.author.role));
                }
                for field in [&m.channel, &m.content_type].into_iter().flatten() {
                    add(field);
                }
                if let Some(recipient) = &m.recipient {
                    add(recipient);
                    add(&format!("to={recipient}"));
                }
            }
            ParseItem::Error(error) => add(&error.raw),
        }
    }
    words(text)
        .into_iter()
        .filter(|word| match supply.get_mut(word) {
            Some(count) if *count > 0 => {
                *count -= 1;
                false
            }
            _ => true,
        })
        .collect()
}

/// The words of `text`, as [`unaccounted_words`] defines them.
fn words(text: &str) -> Vec<String> {
    let mut spaced = text.to_owned();
    for token in SpecialToken::ALL {
        if spaced.contains(token.literal()) {
            spaced = spaced.replace(token.literal(), " ");
        }
    }
    spaced
        .split(|c: char| c.is_whitespace() || c == '<')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::parse::{ParseError, ParseErrorKind, ParsedMessage, Position, Terminator};
    use crate::types::{Message, Role};

    fn message(text: &str) -> ParseItem {
        let message = Message::from_role_and_content(Role::Assistant, text)
            .with_channel("final")
            .with_recipient("functions.f");
        ParseItem::Message(ParsedMessage {
            message,
            terminator: Terminator::End,
        })
    }

    #[test]
    fn markup_and_header_fields_need_no_match_but_text_does() {
        let items = [message("Hello, world")];
        let text =
            "<|start|>assistant to=functions.f<|channel|>final<|message|>Hello, world<|end|>";
        assert!(unaccounted_words(text, &items).is_empty());
        // A word that is in no item is reported, once per missing copy.
        let text = "<|channel|>final<|message|>Hello, world world<|end|>";
        assert_eq!(unaccounted_words(text, &items), vec!["world".to_owned()]);
        // An error's raw text accounts for what it quotes.
        let error = ParseItem::Error(ParseError {
            kind: ParseErrorKind::ExtraHeaderWords("world".into()),
            position: Position::default(),
            raw: "world".into(),
        });
        assert!(unaccounted_words(text, &[items[0].clone(), error]).is_empty());
    }
}
