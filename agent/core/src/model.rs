//! The glue between the loop and `ossa-model`'s [`Backend`]: cancellation that can be
//! reset between turns, and turning generated ids back into harmony text.

use std::sync::{Arc, Mutex};

use ossa_model::{CancellationToken, Decoded, TokenId, Tokenizer};

/// A request to stop generating, shared between the loop and whoever cancels (Ctrl-C).
/// Unlike a bare [`CancellationToken`] it can be reset for the next turn.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<Mutex<CancellationToken>>);

impl Cancel {
    /// A fresh, unset flag.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Asks the current generation to stop.
    pub fn cancel(&self) {
        if let Ok(token) = self.0.lock() {
            token.cancel();
        }
    }

    /// Whether a stop was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.0
            .lock()
            .map(|token| token.is_cancelled())
            .unwrap_or(true)
    }

    /// Clears the flag before the next turn.
    pub fn reset(&self) {
        if let Ok(mut token) = self.0.lock() {
            *token = CancellationToken::new();
        }
    }

    /// The token to hand to a backend request.
    pub fn token(&self) -> CancellationToken {
        self.0.lock().map(|token| token.clone()).unwrap_or_default()
    }
}

/// What `id` stands for; ids the vocabulary does not know decode as U+FFFD.
pub fn decode(tokenizer: &dyn Tokenizer, id: TokenId) -> Decoded {
    tokenizer
        .decode(id)
        .unwrap_or_else(|_| Decoded::Bytes("\u{FFFD}".as_bytes().to_vec()))
}

/// Generated ids as harmony text, special tokens written as their literal strings.
pub fn literal_text(tokenizer: &dyn Tokenizer, ids: &[TokenId]) -> String {
    let mut bytes = Vec::new();
    for &id in ids {
        match decode(tokenizer, id) {
            Decoded::Special(token) => bytes.extend_from_slice(token.literal().as_bytes()),
            Decoded::Bytes(piece) => bytes.extend_from_slice(&piece),
            Decoded::OtherSpecial(literal) => bytes.extend_from_slice(literal.as_bytes()),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Harmony text with special tokens written as `<|…|>` (a cassette's completion) as the
/// ids a model would have generated: the inverse of [`literal_text`].
pub fn encode_literal(tokenizer: &dyn Tokenizer, text: &str) -> Vec<TokenId> {
    let mut ids = Vec::new();
    for piece in crate::completion::literal_pieces(text) {
        match piece {
            Decoded::Special(token) => ids.push(tokenizer.special_id(token)),
            Decoded::Bytes(bytes) => {
                ids.extend(tokenizer.encode_text(&String::from_utf8_lossy(&bytes)))
            }
            Decoded::OtherSpecial(literal) => ids.extend(tokenizer.encode_text(&literal)),
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_resets_for_the_next_turn() {
        let cancel = Cancel::new();
        let token = cancel.token();
        cancel.cancel();
        assert!(cancel.is_cancelled() && token.is_cancelled());
        cancel.reset();
        assert!(!cancel.is_cancelled() && !cancel.token().is_cancelled());
    }
}
