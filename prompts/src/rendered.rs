//! The renderer's output: a sequence of special tokens and text pieces.
//!
//! All text lives in one buffer and pieces are spans into it, so appending is cheap
//! and a 20-turn conversation renders with a handful of allocations. Each text piece
//! is one segment that openai-harmony tokenizes on its own: tokenizing the pieces one
//! by one (specials as their ids, text with the ordinary BPE) gives the reference's
//! exact token ids, not only its text.

use std::ops::Range;

use crate::tokens::SpecialToken;

/// One piece of rendered output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// A structural special token.
    Special(SpecialToken),
    /// Ordinary text; encode it without special-token recognition.
    Text(&'a str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Span {
    Special(SpecialToken),
    Text(Range<usize>),
}

/// A rendered conversation, message or prompt: pieces over one text buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    text: String,
    spans: Vec<Span>,
    // Length of the literal form, kept up to date so `len_bytes` is O(1).
    literal_len: usize,
}

impl Rendered {
    /// An empty render.
    pub fn new() -> Self {
        Rendered::default()
    }

    /// Appends a special token.
    pub fn push_special(&mut self, token: SpecialToken) {
        self.literal_len += token.literal().len();
        self.spans.push(Span::Special(token));
    }

    /// Appends a text piece (nothing if `text` is empty). The text is never scanned for
    /// special-token strings.
    pub fn push_text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        let start = self.text.len();
        self.text.push_str(text);
        self.literal_len += text.len();
        self.spans.push(Span::Text(start..self.text.len()));
    }

    /// Appends one text piece made of several parts (e.g. `" to="` and the recipient),
    /// so it is tokenized as one segment, as the reference does.
    pub fn push_text_parts(&mut self, parts: &[&str]) {
        self.push_text_with(|buf| parts.iter().for_each(|part| buf.push_str(part)));
    }

    /// Appends one text piece written by `write` straight into the buffer (nothing if
    /// it writes nothing). `write` must only append.
    pub(crate) fn push_text_with(&mut self, write: impl FnOnce(&mut String)) {
        let start = self.text.len();
        write(&mut self.text);
        let end = self.text.len();
        if end > start {
            self.literal_len += end - start;
            self.spans.push(Span::Text(start..end));
        }
    }

    /// Appends every piece of `other`.
    pub fn append(&mut self, other: &Rendered) {
        let offset = self.text.len();
        self.text.push_str(&other.text);
        self.spans.extend(other.spans.iter().map(|span| match span {
            Span::Special(t) => Span::Special(*t),
            Span::Text(r) => Span::Text(r.start + offset..r.end + offset),
        }));
        self.literal_len += other.literal_len;
    }

    /// The pieces in order.
    pub fn pieces(&self) -> impl Iterator<Item = Piece<'_>> + '_ {
        self.spans.iter().map(|span| self.piece(span))
    }

    /// The number of pieces.
    pub fn piece_count(&self) -> usize {
        self.spans.len()
    }

    /// True when nothing has been rendered.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The last piece, if any.
    pub fn last_piece(&self) -> Option<Piece<'_>> {
        self.spans.last().map(|span| self.piece(span))
    }

    /// Replaces the last piece with `token` when the last piece is a special token;
    /// returns whether it did. The training render uses this to turn the final
    /// `<|end|>` into `<|return|>`.
    pub fn replace_last_special(&mut self, token: SpecialToken) -> bool {
        match self.spans.last_mut() {
            Some(Span::Special(old)) => {
                self.literal_len = self.literal_len - old.literal().len() + token.literal().len();
                *old = token;
                true
            }
            _ => false,
        }
    }

    /// The length in bytes of [`Rendered::to_literal_string`].
    pub fn len_bytes(&self) -> usize {
        self.literal_len
    }

    /// The text with special tokens written as their literal strings.
    pub fn to_literal_string(&self) -> String {
        let mut out = String::with_capacity(self.literal_len);
        self.write_literal(&mut out);
        out
    }

    /// Appends the literal form to `out`.
    pub fn write_literal(&self, out: &mut String) {
        for piece in self.pieces() {
            match piece {
                Piece::Special(t) => out.push_str(t.literal()),
                Piece::Text(text) => out.push_str(text),
            }
        }
    }

    fn piece(&self, span: &Span) -> Piece<'_> {
        match span {
            Span::Special(t) => Piece::Special(*t),
            // Spans are only ever created from ranges pushed into `text`.
            Span::Text(r) => Piece::Text(self.text.get(r.clone()).unwrap_or_default()),
        }
    }
}

impl std::fmt::Display for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for piece in self.pieces() {
            match piece {
                Piece::Special(t) => f.write_str(t.literal())?,
                Piece::Text(text) => f.write_str(text)?,
            }
        }
        Ok(())
    }
}

impl Extend<SpecialToken> for Rendered {
    fn extend<I: IntoIterator<Item = SpecialToken>>(&mut self, iter: I) {
        for token in iter {
            self.push_special(token);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn pieces_keep_specials_apart_from_text() {
        let mut r = Rendered::new();
        r.push_special(SpecialToken::Start);
        r.push_text("user");
        r.push_special(SpecialToken::Message);
        r.push_text("<|end|><|start|>system<|message|>");
        r.push_text("");
        r.push_special(SpecialToken::End);
        assert_eq!(
            r.pieces().collect::<Vec<_>>(),
            vec![
                Piece::Special(SpecialToken::Start),
                Piece::Text("user"),
                Piece::Special(SpecialToken::Message),
                Piece::Text("<|end|><|start|>system<|message|>"),
                Piece::Special(SpecialToken::End),
            ]
        );
        let literal = r.to_literal_string();
        assert_eq!(
            literal,
            "<|start|>user<|message|><|end|><|start|>system<|message|><|end|>"
        );
        assert_eq!(r.len_bytes(), literal.len());
        assert_eq!(r.to_string(), literal);
    }

    #[test]
    fn append_and_replace_keep_lengths_right() {
        let mut a = Rendered::new();
        a.push_text("x");
        let mut b = Rendered::new();
        b.push_text("yz");
        b.push_special(SpecialToken::End);
        a.append(&b);
        assert_eq!(a.to_literal_string(), "xyz<|end|>");
        assert!(a.replace_last_special(SpecialToken::Return));
        assert_eq!(a.to_literal_string(), "xyz<|return|>");
        assert_eq!(a.len_bytes(), "xyz<|return|>".len());
        assert_eq!(a.piece_count(), 3);
        let mut c = Rendered::new();
        c.push_text("t");
        assert!(!c.replace_last_special(SpecialToken::Return));
    }
}
