//! Token ids for harmony pieces, and back.
//!
//! Structural tokens come only from the renderer's [`Piece::Special`]s; text is encoded with
//! [`Tokenizer::encode_text`], which never yields a special id whatever the text contains.
//! That is what makes a prompt injection-proof: a user or a tool writing `<|start|>system`
//! gets ordinary text tokens, not a new message.

use ossa_prompts::{Piece, Rendered, SpecialToken};

use crate::ModelError;

/// A token id in the model's vocabulary.
pub type TokenId = u32;

/// What one token id stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A harmony structural token.
    Special(SpecialToken),
    /// Raw text bytes. Byte-level BPE tokens may hold part of a UTF-8 character; join
    /// consecutive tokens (see [`Utf8Stream`]) before decoding text.
    Bytes(Vec<u8>),
    /// A special token harmony does not use (`<|reserved_200004|>`, …), by its literal.
    OtherSpecial(String),
}

/// A vocabulary: harmony special ids, injection-proof text encoding, decoding.
///
/// Object-safe; backends hand out `&dyn Tokenizer`.
pub trait Tokenizer: Send + Sync {
    /// The id of a harmony special token.
    fn special_id(&self, token: SpecialToken) -> TokenId;

    /// Encodes plain text. Never yields a special id, whatever the text contains:
    /// `"<|end|>"` in a tool output becomes ordinary text tokens.
    fn encode_text(&self, text: &str) -> Vec<TokenId>;

    /// What `id` stands for.
    fn decode(&self, id: TokenId) -> Result<Decoded, ModelError>;

    /// Number of ids in the vocabulary (valid ids are `0..vocab_size`).
    fn vocab_size(&self) -> u32;

    /// The harmony special token with this id, if it is one.
    fn special_token(&self, id: TokenId) -> Option<SpecialToken> {
        SpecialToken::ALL
            .into_iter()
            .find(|t| self.special_id(*t) == id)
    }
}

/// Encodes renderer pieces: each special becomes its id, each text piece is encoded on its
/// own with [`Tokenizer::encode_text`] (openai-harmony also encodes each piece separately).
pub fn encode_pieces<'a>(
    tokenizer: &dyn Tokenizer,
    pieces: impl IntoIterator<Item = Piece<'a>>,
) -> Vec<TokenId> {
    let mut ids = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Special(token) => ids.push(tokenizer.special_id(token)),
            Piece::Text(text) => ids.extend(tokenizer.encode_text(text)),
        }
    }
    ids
}

/// Encodes a whole render; see [`encode_pieces`].
pub fn encode_rendered(tokenizer: &dyn Tokenizer, rendered: &Rendered) -> Vec<TokenId> {
    encode_pieces(tokenizer, rendered.pieces())
}

/// Joins byte pieces into text, holding back an incomplete UTF-8 sequence until the next
/// token completes it. Invalid bytes become U+FFFD.
#[derive(Debug, Default, Clone)]
pub struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    /// An empty stream.
    pub fn new() -> Utf8Stream {
        Utf8Stream::default()
    }

    /// Adds bytes; returns the text that is complete so far.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(text) => {
                    out.push_str(text);
                    self.pending.clear();
                    return out;
                }
                Err(err) => {
                    let valid = err.valid_up_to();
                    // Only the prefix is known valid UTF-8.
                    out.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match err.error_len() {
                        // An invalid sequence: replace it and go on.
                        Some(bad) => {
                            out.push('\u{fffd}');
                            self.pending.drain(..valid + bad);
                        }
                        // A sequence cut short: wait for more bytes.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                    }
                }
            }
        }
    }

    /// Ends the stream; a trailing incomplete sequence becomes U+FFFD.
    pub fn finish(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }
}

/// Decodes ids to text with specials written as their literals (`<|start|>` …): the
/// "raw completion" view of a token sequence.
pub fn decode_to_text(tokenizer: &dyn Tokenizer, ids: &[TokenId]) -> Result<String, ModelError> {
    let mut stream = Utf8Stream::new();
    let mut out = String::new();
    for id in ids {
        match tokenizer.decode(*id)? {
            Decoded::Bytes(bytes) => out.push_str(&stream.push(&bytes)),
            Decoded::Special(token) => {
                out.push_str(&stream.finish());
                out.push_str(token.literal());
            }
            Decoded::OtherSpecial(literal) => {
                out.push_str(&stream.finish());
                out.push_str(&literal);
            }
        }
    }
    out.push_str(&stream.finish());
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn utf8_stream_holds_back_partial_characters() {
        let mut s = Utf8Stream::new();
        let euro = "€".as_bytes();
        assert_eq!(s.push(b"a"), "a");
        assert_eq!(s.push(&euro[..1]), "");
        assert_eq!(s.push(&euro[1..2]), "");
        assert_eq!(s.push(&euro[2..]), "€");
        assert_eq!(s.push(&[0xff, b'b']), "\u{fffd}b");
        assert_eq!(s.push(&euro[..2]), "");
        assert_eq!(s.finish(), "\u{fffd}");
        assert_eq!(s.finish(), "");
    }
}
