//! The harmony special tokens and their o200k_harmony ids.
//!
//! Only these nine tokens are ever emitted or recognised as structure. Everything
//! else (header words, message text) is ordinary text, so a user string containing
//! `<|end|>` is never mistaken for the token.

use std::fmt;

/// A structural special token of the harmony format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SpecialToken {
    /// `<|startoftext|>` (199998); not used by harmony rendering.
    StartOfText,
    /// `<|endoftext|>` (199999); not used by harmony rendering.
    EndOfText,
    /// `<|return|>` (200002): end of the final message, sampling is done.
    Return,
    /// `<|constrain|>` (200003): starts the constrained content type of a header.
    Constrain,
    /// `<|channel|>` (200005): starts the channel part of a header.
    Channel,
    /// `<|start|>` (200006): begins a message; the header follows.
    Start,
    /// `<|end|>` (200007): ends a message.
    End,
    /// `<|message|>` (200008): ends the header; the content follows.
    Message,
    /// `<|call|>` (200012): ends an assistant message addressed to a tool.
    Call,
}

impl SpecialToken {
    /// Every special token, in id order.
    pub const ALL: [SpecialToken; 9] = [
        SpecialToken::StartOfText,
        SpecialToken::EndOfText,
        SpecialToken::Return,
        SpecialToken::Constrain,
        SpecialToken::Channel,
        SpecialToken::Start,
        SpecialToken::End,
        SpecialToken::Message,
        SpecialToken::Call,
    ];

    /// The tokens that end a message: `<|return|>`, `<|end|>` and `<|call|>`.
    pub const MESSAGE_TERMINATORS: [SpecialToken; 3] =
        [SpecialToken::Return, SpecialToken::End, SpecialToken::Call];

    /// The tokens to stop sampling on: `<|return|>` and `<|call|>`.
    ///
    /// `<|end|>` must not stop sampling: the model writes
    /// `<|end|><|start|>assistant…` between its analysis and its final answer.
    pub const STOP_SAMPLING: [SpecialToken; 2] = [SpecialToken::Return, SpecialToken::Call];

    /// The literal text of the token, e.g. `"<|start|>"`.
    pub const fn literal(self) -> &'static str {
        match self {
            SpecialToken::StartOfText => "<|startoftext|>",
            SpecialToken::EndOfText => "<|endoftext|>",
            SpecialToken::Return => "<|return|>",
            SpecialToken::Constrain => "<|constrain|>",
            SpecialToken::Channel => "<|channel|>",
            SpecialToken::Start => "<|start|>",
            SpecialToken::End => "<|end|>",
            SpecialToken::Message => "<|message|>",
            SpecialToken::Call => "<|call|>",
        }
    }

    /// The token's id in the o200k_harmony vocabulary (gpt-oss).
    pub const fn o200k_id(self) -> u32 {
        match self {
            SpecialToken::StartOfText => 199_998,
            SpecialToken::EndOfText => 199_999,
            SpecialToken::Return => 200_002,
            SpecialToken::Constrain => 200_003,
            SpecialToken::Channel => 200_005,
            SpecialToken::Start => 200_006,
            SpecialToken::End => 200_007,
            SpecialToken::Message => 200_008,
            SpecialToken::Call => 200_012,
        }
    }

    /// The token whose literal text is exactly `literal`.
    pub fn from_literal(literal: &str) -> Option<SpecialToken> {
        SpecialToken::ALL
            .into_iter()
            .find(|t| t.literal() == literal)
    }

    /// The token with this o200k_harmony id.
    pub fn from_o200k_id(id: u32) -> Option<SpecialToken> {
        SpecialToken::ALL.into_iter().find(|t| t.o200k_id() == id)
    }

    /// True for `<|end|>`, `<|return|>` and `<|call|>`.
    pub const fn ends_message(self) -> bool {
        matches!(
            self,
            SpecialToken::End | SpecialToken::Return | SpecialToken::Call
        )
    }

    /// The special token whose literal starts `text`, if any.
    pub fn strip_prefix_of(text: &str) -> Option<(SpecialToken, &str)> {
        if !text.starts_with("<|") {
            return None;
        }
        SpecialToken::ALL
            .into_iter()
            .find_map(|t| text.strip_prefix(t.literal()).map(|rest| (t, rest)))
    }
}

impl fmt::Display for SpecialToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.literal())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_ids_round_trip() {
        for token in SpecialToken::ALL {
            assert_eq!(SpecialToken::from_literal(token.literal()), Some(token));
            assert_eq!(SpecialToken::from_o200k_id(token.o200k_id()), Some(token));
        }
        assert_eq!(SpecialToken::from_literal("<|reserved_200014|>"), None);
        assert_eq!(SpecialToken::from_o200k_id(200_001), None);
        assert_eq!(SpecialToken::Start.o200k_id(), 200_006);
        assert_eq!(SpecialToken::Call.literal(), "<|call|>");
    }

    #[test]
    fn strip_prefix_finds_the_token() {
        assert_eq!(
            SpecialToken::strip_prefix_of("<|end|>x"),
            Some((SpecialToken::End, "x"))
        );
        assert_eq!(SpecialToken::strip_prefix_of("<|en"), None);
        assert_eq!(SpecialToken::strip_prefix_of("end"), None);
    }
}
