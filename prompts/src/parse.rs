//! The streaming parser: harmony tokens (special tokens and text bytes) to messages.
//!
//! It is vocabulary-agnostic: a backend maps each sampled id to a [`SpecialToken`]
//! (`push_special`) or to its bytes (`push_bytes`). It follows openai-harmony's
//! `StreamableParser`, so every well-formed completion gives
//! the reference's messages, with these fixes:
//!
//! - each message records what ended it ([`Terminator`]);
//! - a lone header word starting with `<|constrain|>` is the content type, never the
//!   recipient (reference bug harmony#84), and `<|constrain|>` may be glued to the
//!   recipient or spaced from its value;
//! - `user:alice` and a bare tool name (`<|start|>functions.f<|message|>`) parse back;
//! - stray terminators after a message are ignored; a message that is never closed
//!   before the next `<|start|>` or `<|channel|>` is closed there;
//! - UTF-8 split across tokens is reassembled; invalid bytes become U+FFFD;
//! - headers real gpt-oss output gets wrong are repaired (`crate::header` has the
//!   rules): prose written where a header belongs, a tool name written as a channel
//!   (`<|channel|>container.exec<|channel|>analysis code`), several channels;
//! - in lenient mode (the default) nothing is fatal and no text is dropped: every
//!   problem becomes a [`ParseError`] item carrying the raw text, next to whatever
//!   message could be recovered. Strict mode returns the first problem as an error.
//!
//! # Text outside any message
//!
//! The model's words are never left only in an error. Text where a header should be
//! (a completion with no harmony markup at all, `Some text <|channel|>analysis…`, text
//! after `<|call|>`) becomes an *implied message*: the role the header would have had
//! (assistant, in a completion), no channel, no recipient, the text trimmed of the
//! whitespace at its ends; a [`ParseErrorKind::TextOutsideMessage`] item (whose `raw` is
//! the same text) comes just before it. Which part of a header is prose and which is
//! header is decided by the rule in `crate::header` (`to=functions.f` before a
//! `<|channel|>` is header; `Some text` is prose). Ends of a header:
//!
//! - at `<|message|>`, prose in front of the header is split off; the rest is the header;
//! - at a terminator, `<|start|>` or the end of the stream, the same split, then what is
//!   left after the role and first channel is the content of a recovered message (with
//!   a terminator, always, as the reference's non-strict mode does; otherwise only when
//!   it holds a word that is not a header keyword, so a header cut short by the token
//!   limit gives no message).
//!
//! [`unaccounted_words`](crate::unaccounted_words) states the promise as a check.
//!
//! Work per token is proportional to the token's size (headers are parsed once, when
//! they end), and content is appended to one growing string.

use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::header::{
    Header, RoleHint, has_plain_word, parse_header, recover_unfinished_header, split_leaked_prose,
};
use crate::tokens::SpecialToken;
use crate::types::{Author, Content, Message, Role};

/// Parser options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParseOptions {
    /// Return the first problem as an `Err` from `push_*`/`finish` instead of
    /// recording it as a [`ParseItem::Error`] and recovering. Default: false (lenient).
    pub strict: bool,
}

impl ParseOptions {
    /// Lenient parsing (the default): recover and record problems as items.
    pub const fn lenient() -> Self {
        ParseOptions { strict: false }
    }

    /// Strict parsing: the first problem is returned as an error.
    pub const fn strict() -> Self {
        ParseOptions { strict: true }
    }
}

/// Why the token stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FinishReason {
    /// The model stopped (a stop token was sampled, or the input simply ended).
    EndOfStream,
    /// Generation hit a length limit.
    Truncated,
    /// The caller stopped generation.
    Cancelled,
}

/// What ended a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Terminator {
    /// `<|end|>`.
    End,
    /// `<|call|>`: the message is a tool call.
    Call,
    /// `<|return|>`: the final answer, sampling is done.
    Return,
    /// The stream ended inside the content with no terminator.
    EndOfStream,
    /// Generation hit a length limit inside the content.
    Truncated,
    /// Generation was cancelled inside the content.
    Cancelled,
    /// The next message began (`<|start|>` or `<|channel|>`; for an implied message,
    /// the next header) with no terminator in between; a problem item reports it
    /// ([`ParseErrorKind::MissingEnd`], or [`ParseErrorKind::TextOutsideMessage`]).
    MissingEnd,
}

impl Terminator {
    /// The terminator for a message-ending special token.
    pub fn from_special(token: SpecialToken) -> Option<Terminator> {
        match token {
            SpecialToken::End => Some(Terminator::End),
            SpecialToken::Call => Some(Terminator::Call),
            SpecialToken::Return => Some(Terminator::Return),
            _ => None,
        }
    }

    /// The special token written for this terminator, if it was a token.
    pub fn special(self) -> Option<SpecialToken> {
        match self {
            Terminator::End => Some(SpecialToken::End),
            Terminator::Call => Some(SpecialToken::Call),
            Terminator::Return => Some(SpecialToken::Return),
            _ => None,
        }
    }
}

/// A completed message and what ended it. In JSON, the message's fields plus
/// `"terminator"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParsedMessage {
    /// The message; its content is one text item.
    #[serde(flatten)]
    pub message: Message,
    /// What ended it.
    pub terminator: Terminator,
}

/// One output of the parser, in stream order.
#[derive(Debug, Clone, PartialEq)]
pub enum ParseItem {
    /// A completed message.
    Message(ParsedMessage),
    /// A problem, with the raw text involved. In lenient mode a recovered message may
    /// follow it.
    Error(ParseError),
}

impl ParseItem {
    /// The message, if this item is one.
    pub fn as_message(&self) -> Option<&ParsedMessage> {
        match self {
            ParseItem::Message(m) => Some(m),
            ParseItem::Error(_) => None,
        }
    }

    /// The error, if this item is one.
    pub fn as_error(&self) -> Option<&ParseError> {
        match self {
            ParseItem::Message(_) => None,
            ParseItem::Error(e) => Some(e),
        }
    }
}

/// Where in the stream a problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Position {
    /// Index of the token (push call) that started the problem.
    pub token: usize,
    /// Byte offset of that token in the literal text form of the stream.
    pub byte: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "token {}, byte {}", self.token, self.byte)
    }
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// Text where a header was expected (no harmony markup, prose before a header,
    /// text after a message). The text is in `raw`, and in lenient mode also in the
    /// implied message (no channel, no recipient) that follows this item.
    TextOutsideMessage,
    /// A header began without `<|start|>` (recovered when `<|message|>` followed).
    MissingStart,
    /// A stray `<|end|>`, `<|return|>` or `<|call|>` between messages (strict mode only;
    /// lenient mode ignores it).
    StrayTerminator(SpecialToken),
    /// A header was ended by a terminator instead of `<|message|>`. With a known role
    /// the header text after the channel is recovered as the content.
    MissingMessageToken,
    /// A `<|start|>` arrived inside a header; the unfinished header is in `raw`.
    UnterminatedHeader,
    /// The stream ended inside a header (or before any header at all).
    TruncatedHeader,
    /// A message was not closed before the next one began.
    MissingEnd,
    /// `<|channel|>` with no channel name after it.
    EmptyChannel,
    /// The header names no role, or an unknown one.
    UnknownRole(String),
    /// Words left over in the header after role, recipient and content type.
    ExtraHeaderWords(String),
    /// The header bytes are not valid UTF-8 (decoded with U+FFFD).
    InvalidHeaderUtf8,
    /// A tool's name written as a channel next to a harmony channel
    /// (`<|channel|>container.exec<|channel|>analysis code`); read as the recipient.
    RecipientAsChannel(String),
    /// A channel value made of several harmony channels (`commentary:analysis`); the
    /// most private one is used (analysis, then commentary, then final).
    AmbiguousChannel(String),
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseErrorKind::TextOutsideMessage => f.write_str(
                "text outside any message (no harmony header); kept as a message with no channel",
            ),
            ParseErrorKind::MissingStart => f.write_str("a message header began without <|start|>"),
            ParseErrorKind::StrayTerminator(t) => {
                write!(f, "stray {t} between messages (expected <|start|>)")
            }
            ParseErrorKind::MissingMessageToken => {
                f.write_str("a message header ended without <|message|>")
            }
            ParseErrorKind::UnterminatedHeader => {
                f.write_str("<|start|> inside an unfinished message header")
            }
            ParseErrorKind::TruncatedHeader => {
                f.write_str("the completion ended inside a message header, before <|message|>")
            }
            ParseErrorKind::MissingEnd => f.write_str(
                "a message was not closed with <|end|>, <|call|> or <|return|> before the next one",
            ),
            ParseErrorKind::EmptyChannel => f.write_str("<|channel|> with no channel name"),
            ParseErrorKind::UnknownRole(word) => write!(f, "unknown role {word:?} in header"),
            ParseErrorKind::ExtraHeaderWords(words) => {
                write!(f, "unexpected words in message header: {words:?}")
            }
            ParseErrorKind::InvalidHeaderUtf8 => f.write_str("message header is not valid UTF-8"),
            ParseErrorKind::RecipientAsChannel(name) => write!(
                f,
                "the tool {name:?} was written as a channel (<|channel|>{name}); read as the recipient"
            ),
            ParseErrorKind::AmbiguousChannel(value) => write!(
                f,
                "the header names several channels ({value:?}); read as the most private one"
            ),
        }
    }
}

/// A parse problem: what, where, and the raw text involved (never dropped).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at {position}; raw text: {raw:?}")]
pub struct ParseError {
    /// What went wrong.
    pub kind: ParseErrorKind,
    /// Where.
    pub position: Position,
    /// The raw text of the part that could not be parsed (header text, stray text).
    pub raw: String,
}

/// Where the parser is in the message grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParserState {
    /// Between messages: the next token should be `<|start|>`.
    ExpectStart,
    /// Reading a header, up to `<|message|>`.
    Header,
    /// Reading a message's content, up to its terminator.
    Content,
}

#[derive(Debug)]
enum State {
    ExpectStart,
    Header(OpenHeader),
    Content { header: Header },
}

/// A header being read.
#[derive(Debug, Clone, Copy)]
struct OpenHeader {
    /// How its role is decided.
    hint: RoleHint,
    /// Where it began.
    start: Position,
    /// It began without `<|start|>`.
    missing_start: bool,
}

/// What ended a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeaderEnd {
    /// `<|message|>`: the header is complete.
    Message,
    /// A terminator arrived before `<|message|>`.
    Terminator(SpecialToken),
    /// `<|start|>` arrived before `<|message|>`.
    Start,
    /// The stream ended.
    Finish(FinishReason),
}

impl HeaderEnd {
    /// The terminator of a message that this ending closes.
    fn terminator(self) -> Terminator {
        match self {
            HeaderEnd::Message | HeaderEnd::Start => Terminator::MissingEnd,
            HeaderEnd::Terminator(token) => {
                Terminator::from_special(token).unwrap_or(Terminator::End)
            }
            HeaderEnd::Finish(FinishReason::EndOfStream) => Terminator::EndOfStream,
            HeaderEnd::Finish(FinishReason::Truncated) => Terminator::Truncated,
            HeaderEnd::Finish(FinishReason::Cancelled) => Terminator::Cancelled,
        }
    }
}

/// The incremental harmony parser. Feed it one token at a time.
#[derive(Debug)]
pub struct StreamParser {
    options: ParseOptions,
    state: State,
    /// Raw header bytes (special tokens inside a header are kept as their literals).
    header: Vec<u8>,
    /// Decoded content of the current message.
    content: String,
    /// Bytes of a UTF-8 sequence split across tokens.
    pending: Vec<u8>,
    delta: Option<Range<usize>>,
    items: Vec<ParseItem>,
    /// Role of the last message, used to recover a message that lost its `<|start|>`.
    last_role: Role,
    position: Position,
}

impl StreamParser {
    /// A parser. With `Some(role)` the prompt ended with `<|start|>{role}` (the usual
    /// case after [`crate::render_conversation_for_completion`]); do not feed that
    /// `<|start|>` again. With `None` the stream starts with `<|start|>`.
    pub fn new(implied_role: Option<Role>, options: ParseOptions) -> Self {
        let state = match implied_role {
            Some(role) => State::Header(OpenHeader {
                hint: RoleHint::Implied(role),
                start: Position::default(),
                missing_start: false,
            }),
            None => State::ExpectStart,
        };
        StreamParser {
            options,
            state,
            header: Vec::new(),
            content: String::new(),
            pending: Vec::new(),
            delta: None,
            items: Vec::new(),
            last_role: implied_role.unwrap_or(Role::Assistant),
            position: Position::default(),
        }
    }

    /// Feeds one special token.
    pub fn push_special(&mut self, token: SpecialToken) -> Result<(), ParseError> {
        let at = self.advance(token.literal().len());
        let first_new = self.items.len();
        self.on_special(token, at);
        self.strict_check(first_new)
    }

    /// Feeds one token's bytes. A UTF-8 character may be split across calls.
    pub fn push_bytes(&mut self, bytes: &[u8]) -> Result<(), ParseError> {
        let at = self.advance(bytes.len());
        let first_new = self.items.len();
        match self.state {
            State::ExpectStart => {
                if !bytes.is_empty() {
                    self.begin_recovered_header(at);
                    self.header.extend_from_slice(bytes);
                }
            }
            State::Header(_) => self.header.extend_from_slice(bytes),
            State::Content { .. } => self.append_content(bytes),
        }
        self.strict_check(first_new)
    }

    /// Feeds text (same as [`StreamParser::push_bytes`] with its UTF-8 bytes).
    pub fn push_text(&mut self, text: &str) -> Result<(), ParseError> {
        self.push_bytes(text.as_bytes())
    }

    /// Ends the stream: closes an open message with the terminator `reason` implies,
    /// and reports an unfinished header. The parser then expects a new `<|start|>`.
    pub fn finish(&mut self, reason: FinishReason) -> Result<(), ParseError> {
        self.delta = None;
        let first_new = self.items.len();
        let at = self.position;
        match self.state {
            State::ExpectStart => {}
            State::Header(_) => self.end_header(HeaderEnd::Finish(reason), at),
            State::Content { .. } => {
                if let State::Content { header } =
                    std::mem::replace(&mut self.state, State::ExpectStart)
                {
                    self.close_message(header, HeaderEnd::Finish(reason).terminator());
                }
            }
        }
        self.state = State::ExpectStart;
        self.strict_check(first_new)
    }

    /// Where the parser is in the message grammar.
    pub fn state(&self) -> ParserState {
        match self.state {
            State::ExpectStart => ParserState::ExpectStart,
            State::Header(_) => ParserState::Header,
            State::Content { .. } => ParserState::Content,
        }
    }

    /// The role of the message being read: known in its content, or implied.
    pub fn current_role(&self) -> Option<Role> {
        match &self.state {
            State::Content { header } => Some(header.author.role),
            State::Header(OpenHeader {
                hint: RoleHint::Implied(role),
                ..
            }) => Some(*role),
            _ => None,
        }
    }

    /// The channel of the message being read (known once `<|message|>` arrived).
    pub fn current_channel(&self) -> Option<&str> {
        match &self.state {
            State::Content { header } => header.channel.as_deref(),
            _ => None,
        }
    }

    /// The recipient of the message being read (known once `<|message|>` arrived).
    pub fn current_recipient(&self) -> Option<&str> {
        match &self.state {
            State::Content { header } => header.recipient.as_deref(),
            _ => None,
        }
    }

    /// The content type of the message being read (known once `<|message|>` arrived).
    pub fn current_content_type(&self) -> Option<&str> {
        match &self.state {
            State::Content { header } => header.content_type.as_deref(),
            _ => None,
        }
    }

    /// The content decoded so far of the message being read.
    pub fn current_content(&self) -> &str {
        match self.state {
            State::Content { .. } => &self.content,
            _ => "",
        }
    }

    /// The content text decoded by the last push, if it added any (a split UTF-8
    /// character gives `None` until it completes).
    pub fn last_content_delta(&self) -> Option<&str> {
        self.delta.clone().and_then(|r| self.content.get(r))
    }

    /// Messages and errors produced so far, in order.
    pub fn items(&self) -> &[ParseItem] {
        &self.items
    }

    /// Takes the items produced so far, leaving none.
    pub fn take_items(&mut self) -> Vec<ParseItem> {
        std::mem::take(&mut self.items)
    }

    /// The completed messages so far.
    pub fn messages(&self) -> impl Iterator<Item = &ParsedMessage> + '_ {
        self.items.iter().filter_map(ParseItem::as_message)
    }

    /// Consumes the parser, returning its items.
    pub fn into_items(self) -> Vec<ParseItem> {
        self.items
    }
}

impl StreamParser {
    /// Counts a token and returns the position where it starts.
    fn advance(&mut self, len: usize) -> Position {
        let at = self.position;
        self.position.token += 1;
        self.position.byte += len;
        self.delta = None;
        at
    }

    fn on_special(&mut self, token: SpecialToken, at: Position) {
        match &self.state {
            State::ExpectStart => match token {
                SpecialToken::Start => self.begin_header(RoleHint::None, at),
                SpecialToken::End | SpecialToken::Return | SpecialToken::Call => {
                    // Fine-tunes end samples with `<|end|><|return|>`; a stray
                    // terminator loses nothing, so lenient mode ignores it.
                    if self.options.strict {
                        self.error(
                            ParseErrorKind::StrayTerminator(token),
                            at,
                            token.literal().to_owned(),
                        );
                    }
                }
                SpecialToken::Channel | SpecialToken::Message => {
                    // The model skipped `<|start|>{role}`: read a header anyway.
                    self.begin_recovered_header(at);
                    self.on_special(token, at);
                }
                SpecialToken::Constrain | SpecialToken::StartOfText | SpecialToken::EndOfText => {
                    self.begin_recovered_header(at);
                    self.header.extend_from_slice(token.literal().as_bytes());
                }
            },
            State::Header(_) => {
                match token {
                    SpecialToken::Message => self.end_header(HeaderEnd::Message, at),
                    SpecialToken::Start => {
                        if String::from_utf8_lossy(&self.header).trim().is_empty() {
                            // A repeated `<|start|>` (the prompt already ended with
                            // `<|start|>assistant`) loses nothing: keep the implied role.
                            let hint = match self.state {
                                State::Header(OpenHeader {
                                    hint,
                                    missing_start: false,
                                    ..
                                }) => hint,
                                _ => RoleHint::None,
                            };
                            self.begin_header(hint, at);
                        } else {
                            self.end_header(HeaderEnd::Start, at);
                            self.begin_header(RoleHint::None, at);
                        }
                    }
                    SpecialToken::End | SpecialToken::Return | SpecialToken::Call => {
                        self.end_header(HeaderEnd::Terminator(token), at);
                    }
                    SpecialToken::Channel
                    | SpecialToken::Constrain
                    | SpecialToken::StartOfText
                    | SpecialToken::EndOfText => {
                        self.header.extend_from_slice(token.literal().as_bytes());
                    }
                }
            }
            State::Content { header } => match token {
                SpecialToken::End | SpecialToken::Return | SpecialToken::Call => {
                    if let State::Content { header } =
                        std::mem::replace(&mut self.state, State::ExpectStart)
                    {
                        let terminator = Terminator::from_special(token).unwrap_or(Terminator::End);
                        self.close_message(header, terminator);
                    }
                }
                SpecialToken::Start | SpecialToken::Channel => {
                    // The model began the next message without closing this one.
                    let role = header.author.role;
                    self.error(ParseErrorKind::MissingEnd, at, token.literal().to_owned());
                    if let State::Content { header } =
                        std::mem::replace(&mut self.state, State::ExpectStart)
                    {
                        self.close_message(header, Terminator::MissingEnd);
                    }
                    if token == SpecialToken::Start {
                        self.begin_header(RoleHint::None, at);
                    } else {
                        self.begin_header(RoleHint::Fallback(role), at);
                        self.header.extend_from_slice(token.literal().as_bytes());
                    }
                }
                // The reference keeps any other special token inside content as text.
                SpecialToken::Message
                | SpecialToken::Constrain
                | SpecialToken::StartOfText
                | SpecialToken::EndOfText => self.append_content(token.literal().as_bytes()),
            },
        }
    }

    fn begin_header(&mut self, hint: RoleHint, start: Position) {
        self.header.clear();
        self.state = State::Header(OpenHeader {
            hint,
            start,
            missing_start: false,
        });
    }

    fn begin_recovered_header(&mut self, start: Position) {
        self.header.clear();
        self.state = State::Header(OpenHeader {
            hint: RoleHint::Fallback(self.last_role),
            start,
            missing_start: true,
        });
    }

    /// A header ended (see [`HeaderEnd`]): split off leaked prose as an implied
    /// message, then open the content, or recover what the cut-short header carried.
    fn end_header(&mut self, end: HeaderEnd, at: Position) {
        let State::Header(open) = self.state else {
            return;
        };
        self.state = State::ExpectStart;
        let (raw, utf8_ok) = match std::str::from_utf8(&self.header) {
            Ok(text) => (text.to_owned(), true),
            Err(_) => (String::from_utf8_lossy(&self.header).into_owned(), false),
        };
        self.header.clear();
        let mut text = raw.as_str();
        if let Some(role) = open.hint.default_role()
            && let Some((prose, rest)) = split_leaked_prose(text)
        {
            let header_follows = end == HeaderEnd::Message || !rest.trim().is_empty();
            let terminator = if header_follows {
                Terminator::MissingEnd
            } else {
                end.terminator()
            };
            self.implied_message(role, prose, open.start, terminator);
            if !header_follows {
                return;
            }
            text = rest;
        }
        match end {
            HeaderEnd::Message => self.open_content(open, text, utf8_ok),
            HeaderEnd::Terminator(token) => self.header_cut_by_terminator(open, text, token, at),
            HeaderEnd::Start | HeaderEnd::Finish(_) => self.header_cut(open, text, end),
        }
    }

    /// Text that belongs to no header: a [`ParseErrorKind::TextOutsideMessage`] item
    /// and a message with no channel.
    fn implied_message(&mut self, role: Role, text: &str, at: Position, terminator: Terminator) {
        self.error(ParseErrorKind::TextOutsideMessage, at, text.to_owned());
        self.last_role = role;
        let message = Message::from_role_and_content(role, text);
        self.items.push(ParseItem::Message(ParsedMessage {
            message,
            terminator,
        }));
    }

    /// `<|message|>` arrived: parse the header and start the content.
    fn open_content(&mut self, open: OpenHeader, text: &str, utf8_ok: bool) {
        let OpenHeader {
            hint,
            start,
            missing_start,
        } = open;
        let parsed = parse_header(text, hint);
        if missing_start {
            self.error(ParseErrorKind::MissingStart, start, text.to_owned());
        }
        if !utf8_ok {
            self.error(ParseErrorKind::InvalidHeaderUtf8, start, text.to_owned());
        }
        for problem in parsed.problems {
            self.error(problem, start, text.to_owned());
        }
        self.last_role = parsed.header.author.role;
        self.content.clear();
        self.pending.clear();
        self.state = State::Content {
            header: parsed.header,
        };
    }

    /// A terminator arrived before `<|message|>`. Like the reference's non-strict
    /// mode, keep the channel and turn the rest of the header into the content.
    fn header_cut_by_terminator(
        &mut self,
        open: OpenHeader,
        text: &str,
        token: SpecialToken,
        at: Position,
    ) {
        let OpenHeader {
            hint,
            start,
            missing_start,
        } = open;
        if text.trim().is_empty() {
            if !missing_start {
                self.error(ParseErrorKind::MissingMessageToken, start, text.to_owned());
            } else if self.options.strict {
                self.error(
                    ParseErrorKind::StrayTerminator(token),
                    at,
                    token.literal().to_owned(),
                );
            }
            return;
        }
        self.error(ParseErrorKind::MissingMessageToken, start, text.to_owned());
        if let Some(recovered) = recover_unfinished_header(text, hint) {
            for problem in recovered.problems {
                self.error(problem, start, text.to_owned());
            }
            let terminator = HeaderEnd::Terminator(token).terminator();
            self.recovered_message(
                recovered.author,
                recovered.channel,
                recovered.content,
                terminator,
            );
        }
    }

    /// `<|start|>` or the end of the stream cut a header short: report it, and keep
    /// the text it carried as a message when there is any.
    fn header_cut(&mut self, open: OpenHeader, text: &str, end: HeaderEnd) {
        let OpenHeader {
            hint,
            start,
            missing_start,
        } = open;
        if text.trim().is_empty() {
            // Whitespace between messages is fine; an empty completion is not.
            if !missing_start && matches!(end, HeaderEnd::Finish(_)) {
                self.error(ParseErrorKind::TruncatedHeader, start, text.to_owned());
            }
            return;
        }
        let recovered =
            recover_unfinished_header(text, hint).filter(|r| has_plain_word(&r.content));
        // Text with no channel and no role word was no header at all.
        let headerless = recovered
            .as_ref()
            .is_some_and(|r| r.channel.is_none() && !r.role_from_text);
        if headerless {
            self.error(
                ParseErrorKind::TextOutsideMessage,
                start,
                text.trim().to_owned(),
            );
        } else if end == HeaderEnd::Start {
            self.error(ParseErrorKind::UnterminatedHeader, start, text.to_owned());
        } else {
            self.error(ParseErrorKind::TruncatedHeader, start, text.to_owned());
        }
        if let Some(recovered) = recovered {
            for problem in recovered.problems {
                self.error(problem, start, text.to_owned());
            }
            self.recovered_message(
                recovered.author,
                recovered.channel,
                recovered.content,
                end.terminator(),
            );
        }
    }

    /// A message recovered from a header that never reached `<|message|>`.
    fn recovered_message(
        &mut self,
        author: Author,
        channel: Option<String>,
        content: String,
        terminator: Terminator,
    ) {
        self.last_role = author.role;
        let message = Message {
            author,
            recipient: None,
            content: vec![Content::from(content)],
            channel,
            content_type: None,
        };
        self.items.push(ParseItem::Message(ParsedMessage {
            message,
            terminator,
        }));
    }

    fn close_message(&mut self, header: Header, terminator: Terminator) {
        if !self.pending.is_empty() {
            // An incomplete UTF-8 sequence at the end becomes one U+FFFD.
            self.content
                .push_str(&String::from_utf8_lossy(&self.pending));
            self.pending.clear();
        }
        let text = std::mem::take(&mut self.content);
        let message = Message {
            author: header.author,
            recipient: header.recipient,
            content: vec![Content::from(text)],
            channel: header.channel,
            content_type: header.content_type,
        };
        self.items.push(ParseItem::Message(ParsedMessage {
            message,
            terminator,
        }));
        self.state = State::ExpectStart;
        self.delta = None;
    }

    /// Appends content bytes, decoding complete UTF-8 and keeping a split tail.
    fn append_content(&mut self, bytes: &[u8]) {
        let before = self.content.len();
        if self.pending.is_empty() {
            decode_lossy(&mut self.content, &mut self.pending, bytes);
        } else {
            let mut joined = std::mem::take(&mut self.pending);
            joined.extend_from_slice(bytes);
            decode_lossy(&mut self.content, &mut self.pending, &joined);
        }
        let after = self.content.len();
        self.delta = (after > before).then_some(before..after);
    }

    fn error(&mut self, kind: ParseErrorKind, position: Position, raw: String) {
        self.items.push(ParseItem::Error(ParseError {
            kind,
            position,
            raw,
        }));
    }

    /// In strict mode, errors recorded by this push are returned instead (the first
    /// one); recovered messages stay.
    fn strict_check(&mut self, first_new: usize) -> Result<(), ParseError> {
        let new_items = self.items.get(first_new..).unwrap_or_default();
        if !self.options.strict || !new_items.iter().any(|i| i.as_error().is_some()) {
            return Ok(());
        }
        let mut first_error = None;
        let mut index = 0;
        self.items.retain(|item| {
            let keep = index < first_new || !matches!(item, ParseItem::Error(_));
            if !keep && first_error.is_none() {
                first_error = item.as_error().cloned();
            }
            index += 1;
            keep
        });
        match first_error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// Decodes `input` into `out`, replacing each invalid sequence with U+FFFD (as
/// `String::from_utf8_lossy` does) and keeping an incomplete trailing sequence in
/// `pending` for the next token.
fn decode_lossy(out: &mut String, pending: &mut Vec<u8>, mut input: &[u8]) {
    loop {
        match std::str::from_utf8(input) {
            Ok(text) => {
                out.push_str(text);
                return;
            }
            Err(error) => {
                let (valid, rest) = input.split_at(error.valid_up_to());
                if let Ok(text) = std::str::from_utf8(valid) {
                    out.push_str(text);
                }
                match error.error_len() {
                    Some(len) => {
                        out.push('\u{FFFD}');
                        input = rest.get(len..).unwrap_or_default();
                    }
                    None => {
                        pending.extend_from_slice(rest);
                        return;
                    }
                }
            }
        }
    }
}

/// Parses completion text whose special tokens are written as their literal strings
/// (`<|channel|>final<|message|>Hi<|end|>`), then finishes with end-of-stream.
///
/// Text form is ambiguous where content itself contains a literal special-token
/// string; token streams are not, so prefer [`StreamParser`] when you have ids.
pub fn parse_completion_text(
    text: &str,
    implied_role: Option<Role>,
    options: ParseOptions,
) -> Result<Vec<ParseItem>, ParseError> {
    let mut parser = StreamParser::new(implied_role, options);
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find("<|") {
            Some(at) => {
                if at > 0 {
                    parser.push_text(&rest[..at])?;
                    rest = &rest[at..];
                }
                match SpecialToken::strip_prefix_of(rest) {
                    Some((token, after)) => {
                        parser.push_special(token)?;
                        rest = after;
                    }
                    None => {
                        // "<|" that starts no special token is text.
                        let next = rest[2..].find("<|").map_or(rest.len(), |i| i + 2);
                        parser.push_text(&rest[..next])?;
                        rest = &rest[next..];
                    }
                }
            }
            None => {
                parser.push_text(rest)?;
                rest = "";
            }
        }
    }
    parser.finish(FinishReason::EndOfStream)?;
    Ok(parser.into_items())
}
