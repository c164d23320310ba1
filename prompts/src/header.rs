//! What the text of a message header means: the role, channel, recipient and content
//! type written between `<|start|>` and `<|message|>`, and the repairs for the headers
//! real gpt-oss output gets wrong.
//!
//! # Well-formed headers: openai-harmony's reading
//!
//! 1. The first `<|channel|>` is followed by the channel, which runs to whitespace or `<`.
//! 2. The other words (ASCII whitespace separates them; `<|constrain|>` starts a word and
//!    is joined to the value after it): the role, unless it is implied, or a tool's name
//!    (`functions.f to=assistant`); then, from what is left, a last word starting with
//!    `to=` is the recipient; a single word is the recipient (a bare tool name); otherwise
//!    the last word is the content type and the one before it the recipient.
//!
//! ossa differs only where the reference reads nonsense: a lone word starting with
//! `<|constrain|>` is the content type (harmony#84), `user:alice` and a bare tool name
//! parse back, and the repairs below, which only fire on headers the renderer never
//! writes.
//!
//! # Repairs (each one is reported as a problem)
//!
//! - **Leaked prose** ([`split_leaked_prose`]). When the role is implied (the prompt
//!   ended with `<|start|>assistant`, or the model skipped `<|start|>`), the text before
//!   the first `<|channel|>` (all of it when there is none) is the *prefix*; a
//!   well-formed prefix holds at most a role word, `to=RECIPIENT` and a content type.
//!   The prefix is prose when, once its trailing run of *field words* (a role,
//!   `role:name`, `to=…`, `<|constrain|>…`) is set aside, what remains has two or more
//!   *plain words*, or one plain word that is not *name-like*. Plain words are the words
//!   that are neither field words nor harmony keywords (`analysis`, `commentary`,
//!   `final`, `json`, `code`); name-like means ASCII letters, digits and `_ - . / : @`,
//!   starting and ending with a letter, digit or `_` (`functions.f`, `python`,
//!   `text/plain`). So `Some text`, `Let me check.` and `Hola, ¿qué tal?` are prose, while
//!   `to=functions.f`, `json` and `<|constrain|>xml extra` are header. The prose becomes
//!   a message of its own (the implied role: assistant in a completion) with no
//!   channel; the field words stay the header.
//!   A single name-like word is read as the reference reads it (a bare recipient): it
//!   cannot be told from a tool name.
//! - **Several `<|channel|>`** ([`take_channels`]), when at least one names a harmony
//!   channel (`analysis`, `commentary`, `final`): the message goes to the most private of
//!   those (analysis, then commentary, then final), so text whose channel is unclear is
//!   never shown as more public than the model may have meant. Each other channel value
//!   is a tool name written as a channel when it looks like one (`namespace.tool` or
//!   `python`) and no `to=` names the recipient (`<|channel|>container.exec<|channel|>analysis code`
//!   calls `container.exec`); otherwise it is an extra header word
//!   (`<|channel|>assistant to=repo_browser.open_file<|channel|>analysis code`). When no
//!   value is a harmony channel, the first one is the channel, as in the reference.
//! - **A channel made of harmony channels** (`<|channel|>commentary:analysis`): the most
//!   private of them, by the same rule.
//!
//! A custom channel alone (`<|channel|>custom`) is never touched: the channel list is only
//! used on headers that are malformed already.

use crate::parse::ParseErrorKind;
use crate::types::{Author, Role};

/// The `<|channel|>` literal.
pub(crate) const CHANNEL: &str = "<|channel|>";
/// The `<|constrain|>` literal.
pub(crate) const CONSTRAIN: &str = "<|constrain|>";

/// Harmony's channels, most private first (gpt-oss's system message declares these).
const HARMONY_CHANNELS: [&str; 3] = ["analysis", "commentary", "final"];

/// How the role of the header being read is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RoleHint {
    /// Read the role from the first header word.
    None,
    /// The role is known (the prompt ended with `<|start|>{role}`).
    Implied(Role),
    /// Recovery: use the first word if it is a role, otherwise this role.
    Fallback(Role),
}

impl RoleHint {
    /// The role a header with no role word gets, if any.
    pub(crate) fn default_role(self) -> Option<Role> {
        match self {
            RoleHint::None => None,
            RoleHint::Implied(role) | RoleHint::Fallback(role) => Some(role),
        }
    }
}

/// A parsed header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub author: Author,
    pub recipient: Option<String>,
    pub channel: Option<String>,
    pub content_type: Option<String>,
}

/// A header and the problems found reading it.
pub(crate) struct ParsedHeader {
    pub header: Header,
    pub problems: Vec<ParseErrorKind>,
}

/// Parses a complete header (the text between `<|start|>` and `<|message|>`). Problems
/// are returned next to a best-effort header.
pub(crate) fn parse_header(text: &str, hint: RoleHint) -> ParsedHeader {
    let mut problems = Vec::new();
    let Channels {
        channel,
        recipient: channel_recipient,
        rest,
    } = take_channels(text, &mut problems);
    // A `<|channel|>` still left is never a recipient or a content type (the reference
    // would take it as one).
    let (stray, words): (Vec<String>, Vec<String>) = header_words(&rest)
        .into_iter()
        .partition(|w| w.contains(CHANNEL));
    if !stray.is_empty() {
        problems.push(ParseErrorKind::ExtraHeaderWords(stray.join(" ")));
    }
    let (author, used) = header_author(&words, hint).unwrap_or_else(|problem| {
        problems.push(problem);
        (Author::from(Role::Assistant), 0)
    });
    let mut remaining = &words[used.min(words.len())..];
    let mut recipient = None;
    let mut content_type = None;
    let addressed = remaining.iter().any(|w| w.starts_with("to="));
    match channel_recipient {
        Some(name) if !addressed => {
            // `<|channel|>container.exec<|channel|>analysis code`: the tool is the
            // recipient and a word left is the content type.
            problems.push(ParseErrorKind::RecipientAsChannel(name.clone()));
            recipient = Some(name);
            if let Some((last, before)) = remaining.split_last() {
                content_type = Some(last.clone());
                remaining = before;
            }
        }
        unused => {
            if let Some(name) = unused {
                problems.push(ParseErrorKind::ExtraHeaderWords(format!("{CHANNEL}{name}")));
            }
            if let Some((last, before)) = remaining.split_last() {
                if let Some(to) = last.strip_prefix("to=") {
                    recipient = Some(to.to_owned());
                    remaining = before;
                } else if before.is_empty() {
                    if last.starts_with(CONSTRAIN) {
                        content_type = Some(last.clone());
                    } else {
                        recipient = Some(last.clone());
                    }
                    remaining = before;
                } else {
                    content_type = Some(last.clone());
                    if let Some((raw_recipient, rest)) = before.split_last() {
                        let name = raw_recipient.strip_prefix("to=").unwrap_or(raw_recipient);
                        recipient = Some(name.to_owned());
                        remaining = rest;
                    }
                }
            }
        }
    }
    if !remaining.is_empty() {
        problems.push(ParseErrorKind::ExtraHeaderWords(remaining.join(" ")));
    }
    ParsedHeader {
        header: Header {
            author,
            recipient,
            channel,
            content_type,
        },
        problems,
    }
}

/// A header cut short before `<|message|>` (by a terminator, `<|start|>` or the end of
/// the stream): the role, the channel, and the text after them.
pub(crate) struct RecoveredHeader {
    pub author: Author,
    pub channel: Option<String>,
    /// What follows the role and channel, verbatim but for the ends' whitespace.
    pub content: String,
    /// Whether the role was read from a word of the text (not implied).
    pub role_from_text: bool,
    pub problems: Vec<ParseErrorKind>,
}

/// Recovers a header that never reached `<|message|>`: the role (implied, or the first
/// word), the first channel, and the rest as content. `None` when no role can be told.
pub(crate) fn recover_unfinished_header(text: &str, hint: RoleHint) -> Option<RecoveredHeader> {
    let mut problems = Vec::new();
    let Channels { channel, rest, .. } = take_first_channel(text, &mut problems);
    let words = words_with_offsets(&rest);
    let names: Vec<String> = words.iter().map(|&(_, w)| w.to_owned()).collect();
    let (author, used) = match hint {
        RoleHint::None => (author_from_word(names.first()?, true)?, 1),
        RoleHint::Implied(_) | RoleHint::Fallback(_) => header_author(&names, hint).ok()?,
    };
    let content = words
        .get(used)
        .map_or("", |&(at, _)| rest[at..].trim_end())
        .to_owned();
    Some(RecoveredHeader {
        author,
        channel,
        content,
        role_from_text: used > 0,
        problems,
    })
}

/// Splits leaked prose off the front of a header whose role is implied (the rule is in
/// the module docs): `Some text <|channel|>analysis` gives `("Some text",
/// "<|channel|>analysis")`. `None` when the header holds no prose.
pub(crate) fn split_leaked_prose(text: &str) -> Option<(&str, &str)> {
    let prefix_end = text.find(CHANNEL).unwrap_or(text.len());
    let words = words_with_offsets(&text[..prefix_end]);
    let mut header_from = words.len();
    while header_from > 0
        && words
            .get(header_from - 1)
            .is_some_and(|w| is_field_word(w.1))
    {
        header_from -= 1;
    }
    let mut plain = words[..header_from]
        .iter()
        .map(|&(_, w)| w)
        .filter(|w| !is_keyword(w));
    let prose = match (plain.next(), plain.next()) {
        (None, _) => false,
        (Some(word), None) => !is_name_like(word),
        (Some(_), Some(_)) => true,
    };
    if !prose {
        return None;
    }
    let split = words.get(header_from).map_or(prefix_end, |&(at, _)| at);
    Some((text[..split].trim(), &text[split..]))
}

/// Whether `text` has a word that is not part of the header grammar (a plain word, in
/// the module docs' terms): a header cut short with such a word was carrying text.
pub(crate) fn has_plain_word(text: &str) -> bool {
    words_with_offsets(text)
        .iter()
        .any(|&(_, w)| !is_keyword(w) && !w.contains(CHANNEL))
}

/// A word that can only be header: a role, `role:name`, `to=…` or `<|constrain|>…`.
fn is_field_word(word: &str) -> bool {
    word.starts_with("to=") || word.starts_with(CONSTRAIN) || author_from_word(word, true).is_some()
}

/// A field word, a harmony channel name, or a common content type.
fn is_keyword(word: &str) -> bool {
    is_field_word(word) || HARMONY_CHANNELS.contains(&word) || matches!(word, "json" | "code")
}

/// ASCII letters, digits and `_ - . / : @`, starting and ending with a letter, digit or
/// `_`: how tool names, recipients and content types look.
fn is_name_like(word: &str) -> bool {
    let edge = |c: char| c.is_ascii_alphanumeric() || c == '_';
    word.starts_with(edge)
        && word.ends_with(edge)
        && word
            .chars()
            .all(|c| edge(c) || matches!(c, '-' | '.' | '/' | ':' | '@'))
}

/// A tool name written where a channel belongs: `namespace.tool` (every harmony tool
/// recipient but the builtin `python` has a namespace) or `python`.
fn is_tool_name(value: &str) -> bool {
    is_name_like(value) && (value.contains('.') || value == "python")
}

/// A harmony channel, or a channel made of them (`commentary:analysis`, read as the most
/// private part). `None` for any other value.
fn harmony_channel(value: &str) -> Option<&'static str> {
    value
        .split(':')
        .map(|part| HARMONY_CHANNELS.iter().position(|c| *c == part))
        .try_fold(None, |most_private: Option<usize>, rank| {
            let rank = rank?;
            Some(Some(most_private.map_or(rank, |m| m.min(rank))))
        })
        .flatten()
        .and_then(|rank| HARMONY_CHANNELS.get(rank).copied())
}

/// The channel, a recipient written as a channel, and the header text without them.
struct Channels {
    channel: Option<String>,
    recipient: Option<String>,
    rest: String,
}

/// One `<|channel|>` marker: its byte range with the value, and the value.
struct ChannelMarker<'a> {
    start: usize,
    end: usize,
    value: &'a str,
}

fn channel_markers(text: &str) -> Vec<ChannelMarker<'_>> {
    text.match_indices(CHANNEL)
        .map(|(at, _)| {
            let after = &text[at + CHANNEL.len()..];
            let len = after
                .find(|c: char| c.is_whitespace() || c == '<')
                .unwrap_or(after.len());
            ChannelMarker {
                start: at,
                end: at + CHANNEL.len() + len,
                value: &after[..len],
            }
        })
        .collect()
}

/// Takes the channel out of the header (the repairs for several markers are in the
/// module docs).
fn take_channels(text: &str, problems: &mut Vec<ParseErrorKind>) -> Channels {
    let markers = channel_markers(text);
    let chosen = if markers.len() > 1 {
        markers
            .iter()
            .enumerate()
            .filter_map(|(i, m)| harmony_channel(m.value).map(|c| (i, c)))
            .min_by_key(|&(_, c)| HARMONY_CHANNELS.iter().position(|h| *h == c))
    } else {
        None
    };
    let Some((chosen_index, channel)) = chosen else {
        return take_first_channel(text, problems);
    };
    let mut rest = String::with_capacity(text.len());
    let mut recipient = None;
    let mut copied = 0;
    for (i, marker) in markers.iter().enumerate() {
        rest.push_str(&text[copied..marker.start]);
        rest.push(' ');
        copied = marker.end;
        if i == chosen_index {
            if marker.value != channel {
                problems.push(ParseErrorKind::AmbiguousChannel(marker.value.to_owned()));
            }
        } else if recipient.is_none() && is_tool_name(marker.value) {
            recipient = Some(marker.value.to_owned());
        } else {
            problems.push(ParseErrorKind::ExtraHeaderWords(format!(
                "{CHANNEL}{}",
                marker.value
            )));
        }
    }
    rest.push_str(&text[copied..]);
    Channels {
        channel: Some(channel.to_owned()),
        recipient,
        rest,
    }
}

/// Takes the first `<|channel|>NAME` out of the header, as the reference does; a channel
/// made of harmony channels (`commentary:analysis`) is repaired.
fn take_first_channel(text: &str, problems: &mut Vec<ParseErrorKind>) -> Channels {
    let Some(marker) = channel_markers(text).into_iter().next() else {
        return Channels {
            channel: None,
            recipient: None,
            rest: text.to_owned(),
        };
    };
    let mut rest = String::with_capacity(text.len());
    rest.push_str(&text[..marker.start]);
    rest.push_str(&text[marker.end..]);
    let channel = match harmony_channel(marker.value) {
        _ if marker.value.is_empty() => {
            problems.push(ParseErrorKind::EmptyChannel);
            None
        }
        Some(channel) if channel != marker.value => {
            problems.push(ParseErrorKind::AmbiguousChannel(marker.value.to_owned()));
            Some(channel.to_owned())
        }
        _ => Some(marker.value.to_owned()),
    };
    Channels {
        channel,
        recipient: None,
        rest,
    }
}

/// Words split on ASCII whitespace and before each `<|constrain|>`, with their byte
/// offsets.
fn words_with_offsets(text: &str) -> Vec<(usize, &str)> {
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        if c.is_ascii_whitespace() {
            if let Some(from) = start.take() {
                words.push((from, &text[from..i]));
            }
            continue;
        }
        match start {
            Some(from) if c == '<' && text[i..].starts_with(CONSTRAIN) => {
                words.push((from, &text[from..i]));
                start = Some(i);
            }
            Some(_) => {}
            None => start = Some(i),
        }
    }
    if let Some(from) = start {
        words.push((from, &text[from..]));
    }
    words
}

/// Header words with `<|constrain|>` split off the word it is glued to and joined to
/// the value that follows it when spaced (`to=f <|constrain|> json`).
fn header_words(rest: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut glue_next = false;
    for (_, word) in words_with_offsets(rest) {
        match words.last_mut() {
            Some(last) if glue_next => last.push_str(word),
            _ => words.push(word.to_owned()),
        }
        glue_next = word == CONSTRAIN;
    }
    words
}

/// `user`, `assistant`, … or `user:alice`. Role tool keeps the word as its name, as
/// the reference does.
fn author_from_word(word: &str, allow_name: bool) -> Option<Author> {
    if let Some(role) = Role::from_word(word) {
        let name = (role == Role::Tool).then(|| word.to_owned());
        return Some(Author { role, name });
    }
    if allow_name
        && let Some((role, name)) = word.split_once(':')
        && let Some(role) = Role::from_word(role)
        && !name.is_empty()
    {
        return Some(Author::new(role, name));
    }
    None
}

/// Decides the author from the header words; returns it and how many words it used.
fn header_author(words: &[String], hint: RoleHint) -> Result<(Author, usize), ParseErrorKind> {
    let first = words.first().map(String::as_str);
    let (author, mut used) = match (hint, first) {
        (RoleHint::Implied(role), _) => (Author::from(role), 0),
        (RoleHint::Fallback(role), None) => (Author::from(role), 0),
        (RoleHint::None, None) => return Err(ParseErrorKind::UnknownRole(String::new())),
        (RoleHint::Fallback(role), Some(word)) => match author_from_word(word, true) {
            Some(author) if author.name.is_some() && author.role != Role::Tool => (author, 1),
            Some(author) => (author, 0),
            None => (Author::from(role), 0),
        },
        (RoleHint::None, Some(word)) => {
            let single = words.len() == 1 && !word.starts_with("to=");
            match author_from_word(word, single) {
                Some(author) if author.name.is_some() && author.role != Role::Tool => (author, 1),
                Some(author) => (author, 0),
                // An unknown first word is a tool's name (`functions.f to=assistant`);
                // the reference refuses a lone one, which is the renderer's own
                // output for a tool message with no recipient, so accept it.
                None => (Author::new(Role::Tool, word), 1),
            }
        }
    };
    if words.get(used).map(String::as_str) == Some(author.role.as_str()) {
        used += 1;
    }
    Ok((author, used))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn header(text: &str, hint: RoleHint) -> (Header, Vec<ParseErrorKind>) {
        let parsed = parse_header(text, hint);
        (parsed.header, parsed.problems)
    }

    /// Role, name, channel, recipient, content type.
    type Fields<'a> = (
        Role,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
    );

    fn fields(h: &Header) -> Fields<'_> {
        (
            h.author.role,
            h.author.name.as_deref(),
            h.channel.as_deref(),
            h.recipient.as_deref(),
            h.content_type.as_deref(),
        )
    }

    const A: RoleHint = RoleHint::Implied(Role::Assistant);
    const N: RoleHint = RoleHint::None;

    #[test]
    fn header_shapes_models_write() {
        let cases: [(&str, RoleHint, Fields<'_>); 9] = [
            (
                "<|channel|>commentary to=functions.f <|constrain|>json",
                A,
                (
                    Role::Assistant,
                    None,
                    Some("commentary"),
                    Some("functions.f"),
                    Some("<|constrain|>json"),
                ),
            ),
            (
                "<|channel|>commentary to=functions.f<|constrain|>json",
                A,
                (
                    Role::Assistant,
                    None,
                    Some("commentary"),
                    Some("functions.f"),
                    Some("<|constrain|>json"),
                ),
            ),
            (
                "assistant to=functions.f<|channel|>commentary json",
                N,
                (
                    Role::Assistant,
                    None,
                    Some("commentary"),
                    Some("functions.f"),
                    Some("json"),
                ),
            ),
            (
                "assistant to=functions.f <|constrain|>json<|channel|>commentary",
                N,
                (
                    Role::Assistant,
                    None,
                    Some("commentary"),
                    Some("functions.f"),
                    Some("<|constrain|>json"),
                ),
            ),
            (
                "<|channel|>commentary functions.f",
                A,
                (
                    Role::Assistant,
                    None,
                    Some("commentary"),
                    Some("functions.f"),
                    None,
                ),
            ),
            (
                "functions.f to=assistant<|channel|>commentary",
                N,
                (
                    Role::Tool,
                    Some("functions.f"),
                    Some("commentary"),
                    Some("assistant"),
                    None,
                ),
            ),
            (
                "<|channel|>final <|constrain|>json",
                A,
                (
                    Role::Assistant,
                    None,
                    Some("final"),
                    None,
                    Some("<|constrain|>json"),
                ),
            ),
            (
                "<|channel|>final json",
                A,
                (Role::Assistant, None, Some("final"), Some("json"), None),
            ),
            (
                "<|channel|>commentaryto=functions.f",
                A,
                (
                    Role::Assistant,
                    None,
                    Some("commentaryto=functions.f"),
                    None,
                    None,
                ),
            ),
        ];
        for (text, hint, want) in cases {
            let (h, problems) = header(text, hint);
            assert_eq!(fields(&h), want, "{text}");
            assert!(problems.is_empty(), "{text}: {problems:?}");
        }
        let (_, problems) = header(
            "assistant to=functions.f<|channel|>commentary to=functions.f json",
            N,
        );
        assert_eq!(
            problems,
            vec![ParseErrorKind::ExtraHeaderWords(
                "to=functions.f".to_owned()
            )]
        );
        let (_, problems) = header("<|channel|>", A);
        assert_eq!(problems, vec![ParseErrorKind::EmptyChannel]);
        let (_, problems) = header("", N);
        assert_eq!(problems, vec![ParseErrorKind::UnknownRole(String::new())]);
    }

    #[test]
    fn native_tool_headers_are_repaired() {
        let call = |channel, recipient| {
            (
                Role::Assistant,
                None,
                Some(channel),
                Some(recipient),
                Some("code"),
            )
        };
        let cases: [(&str, Fields<'_>, Vec<ParseErrorKind>); 6] = [
            (
                "<|channel|>repo_browser.search<|channel|>analysis code",
                call("analysis", "repo_browser.search"),
                vec![ParseErrorKind::RecipientAsChannel(
                    "repo_browser.search".into(),
                )],
            ),
            (
                "<|channel|>container.exec<|channel|>analysis code",
                call("analysis", "container.exec"),
                vec![ParseErrorKind::RecipientAsChannel("container.exec".into())],
            ),
            (
                "<|channel|>assistant to=repo_browser.open_file<|channel|>analysis code",
                call("analysis", "repo_browser.open_file"),
                vec![ParseErrorKind::ExtraHeaderWords(
                    "<|channel|>assistant".into(),
                )],
            ),
            (
                // The analysis channel wins over final, whatever the order.
                "<|channel|>final<|channel|>analysis to=python code",
                call("analysis", "python"),
                vec![ParseErrorKind::ExtraHeaderWords("<|channel|>final".into())],
            ),
            (
                // `to=` names the recipient: the tool-like channel is an extra word.
                "<|channel|>browser.search to=functions.f<|channel|>analysis code",
                call("analysis", "functions.f"),
                vec![ParseErrorKind::ExtraHeaderWords(
                    "<|channel|>browser.search".into(),
                )],
            ),
            (
                "<|channel|>commentary:analysis to=functions.f code",
                call("analysis", "functions.f"),
                vec![ParseErrorKind::AmbiguousChannel(
                    "commentary:analysis".into(),
                )],
            ),
        ];
        for (text, want, want_problems) in cases {
            let (h, problems) = header(text, A);
            assert_eq!(fields(&h), want, "{text}");
            assert_eq!(problems, want_problems, "{text}");
        }
    }

    #[test]
    fn well_formed_and_custom_channels_are_left_alone() {
        for (text, channel) in [
            ("<|channel|>custom", "custom"),
            ("<|channel|>repo_browser.search", "repo_browser.search"),
            ("<|channel|>commentary:custom", "commentary:custom"),
            ("<|channel|>final:", "final:"),
        ] {
            let (h, problems) = header(text, A);
            assert_eq!(h.channel.as_deref(), Some(channel), "{text}");
            assert!(problems.is_empty(), "{text}: {problems:?}");
        }
        // Two markers, neither a harmony channel: the reference's reading (the first).
        let (h, problems) = header("<|channel|>a<|channel|>b", A);
        assert_eq!(h.channel.as_deref(), Some("a"));
        assert_eq!(
            problems,
            vec![ParseErrorKind::ExtraHeaderWords("<|channel|>b".into())]
        );
    }

    #[test]
    fn prose_is_told_from_header_words() {
        let prose = [
            (
                "Some text <|channel|>analysis",
                "Some text",
                "<|channel|>analysis",
            ),
            ("Let me check.", "Let me check.", ""),
            ("Hello there", "Hello there", ""),
            ("OK.", "OK.", ""),
            ("你好", "你好", ""),
            (
                "I'll look. to=functions.f<|channel|>commentary json",
                "I'll look.",
                "to=functions.f<|channel|>commentary json",
            ),
            (
                "Thinking\nhard assistant<|channel|>final",
                "Thinking\nhard",
                "assistant<|channel|>final",
            ),
            // A trailing keyword that is not a field word stays with the prose.
            ("The answer is final", "The answer is final", ""),
        ];
        for (text, want_prose, want_rest) in prose {
            assert_eq!(
                split_leaked_prose(text),
                Some((want_prose, want_rest)),
                "{text:?}"
            );
        }
        for header in [
            "",
            " to=functions.f",
            " to=functions.f json",
            " json",
            " text/plain",
            " <|constrain|>xml extra",
            " to=x <|constrain|>xml extra",
            "assistant",
            "assistant to=functions.f",
            "user:alice",
            "commentary",
            "functions.f",
            "Hello",
            "to=functions.f<|channel|>commentary Some words here.",
        ] {
            assert_eq!(split_leaked_prose(header), None, "{header:?}");
        }
    }

    #[test]
    fn recovered_headers_keep_the_text_verbatim() {
        let r = recover_unfinished_header("<|channel|>analysis I  must\nrefuse ", A).unwrap();
        assert_eq!(r.channel.as_deref(), Some("analysis"));
        assert_eq!(r.content, "I  must\nrefuse");
        assert!(!r.role_from_text);
        let r = recover_unfinished_header("assistant<|channel|>final Sorry", N).unwrap();
        assert_eq!(r.content, "Sorry");
        assert!(r.role_from_text);
        assert!(recover_unfinished_header("Hello world", N).is_none());
    }

    #[test]
    fn harmony_channels_are_ranked_most_private_first() {
        assert_eq!(harmony_channel("final"), Some("final"));
        assert_eq!(harmony_channel("commentary:analysis"), Some("analysis"));
        assert_eq!(harmony_channel("final:commentary"), Some("commentary"));
        assert_eq!(harmony_channel("commentary:custom"), None);
        assert_eq!(harmony_channel("custom"), None);
        assert_eq!(harmony_channel(""), None);
    }
}
