//! From generated tokens to what the loop does next.
//!
//! [`CompletionParser`] feeds tokens to the harmony stream parser as they arrive (for
//! streaming deltas); [`classify`] then decides: a final answer, a tool call, or a
//! retry with feedback. The rules are tolerant where the model's intent is clear (a
//! `to=` recipient on any channel is a call) and never turn an unusable completion
//! into a silent success.

use ossa_prompts::{
    FinishReason, Message, ParseItem, ParseOptions, Role, SpecialToken, StreamParser, Terminator,
};

use ossa_model::{Decoded, StopReason};

use crate::event::Delta;

/// Parses one completion as it streams.
pub(crate) struct CompletionParser {
    parser: StreamParser,
}

/// The parser's verdict on a whole completion.
#[derive(Debug, Default)]
pub(crate) struct ParsedCompletion {
    pub messages: Vec<(Message, Terminator)>,
    pub problems: Vec<String>,
}

impl CompletionParser {
    /// A parser for a completion that follows a prompt ending in `<|start|>assistant`.
    pub fn new() -> CompletionParser {
        CompletionParser {
            parser: StreamParser::new(Some(Role::Assistant), ParseOptions::lenient()),
        }
    }

    /// Feeds one token; returns the content text it added, if any.
    pub fn push(&mut self, piece: &Decoded) -> Option<Delta> {
        // Lenient mode records problems as items instead of failing.
        let _ = match piece {
            Decoded::Special(token) => self.parser.push_special(*token),
            Decoded::Bytes(bytes) => self.parser.push_bytes(bytes),
            Decoded::OtherSpecial(literal) => self.parser.push_bytes(literal.as_bytes()),
        };
        let text = self.parser.last_content_delta()?.to_string();
        Some(Delta {
            channel: self.parser.current_channel().map(str::to_string),
            recipient: self.parser.current_recipient().map(str::to_string),
            text,
        })
    }

    /// Ends the completion.
    pub fn finish(mut self, stop: StopReason) -> ParsedCompletion {
        let _ = self.parser.finish(FinishReason::from(stop));
        let mut parsed = ParsedCompletion::default();
        for item in self.parser.into_items() {
            match item {
                ParseItem::Message(message) => {
                    parsed.messages.push((message.message, message.terminator));
                }
                ParseItem::Error(error) => parsed.problems.push(shorten(&error.to_string())),
            }
        }
        parsed
    }
}

/// Parse errors quote the raw text; a few hundred characters are enough to say what
/// went wrong, to the user and back to the model.
fn shorten(problem: &str) -> String {
    const LIMIT: usize = 300;
    match problem.char_indices().nth(LIMIT) {
        Some((end, _)) => format!("{}…", &problem[..end]),
        None => problem.to_string(),
    }
}

/// Why a completion cannot be acted on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RetryReason {
    /// It is not valid harmony.
    Malformed(String),
    /// It was cut by the token limit.
    Truncated,
    /// It is valid but has no tool call and no final answer.
    NoAction(String),
}

/// What to do with a completion. `messages` go into the conversation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// The last message is the final answer.
    Final {
        messages: Vec<(Message, Terminator)>,
        answer: String,
        problems: Vec<String>,
    },
    /// The last message calls a tool.
    Call {
        messages: Vec<(Message, Terminator)>,
        call: Message,
        problems: Vec<String>,
    },
    /// Tell the model what went wrong and generate again.
    Retry {
        messages: Vec<(Message, Terminator)>,
        reason: RetryReason,
    },
}

/// Decides what a parsed completion means.
pub(crate) fn classify(parsed: ParsedCompletion, stop: StopReason) -> Action {
    if stop == StopReason::Length {
        return Action::Retry {
            messages: Vec::new(),
            reason: RetryReason::Truncated,
        };
    }
    let ParsedCompletion { messages, problems } = parsed;
    let usable = |terminator: &Terminator| {
        !matches!(terminator, Terminator::Truncated | Terminator::Cancelled)
    };
    let action_at = messages
        .iter()
        .position(|(message, terminator)| {
            message.author.role == Role::Assistant
                && usable(terminator)
                && (is_call(message) || message.channel.as_deref() == Some("final"))
        })
        .or_else(|| {
            // Text the model wrote with no harmony header (the parser's implied message,
            // its problem in `problems`) ends the turn as the answer.
            let last = messages.iter().rposition(|(_, t)| usable(t))?;
            let (message, _) = messages.get(last)?;
            is_headerless_text(message).then_some(last)
        });
    let Some(index) = action_at else {
        if let Some(problem) = problems.into_iter().next() {
            return Action::Retry {
                messages: Vec::new(),
                reason: RetryReason::Malformed(problem),
            };
        }
        let detail = match messages.last() {
            None => "the reply was empty".to_string(),
            Some((message, _)) => format!(
                "the last message was on the {} channel with no recipient",
                message.channel.as_deref().unwrap_or("(missing)")
            ),
        };
        // Complete assistant messages stay, so the model sees what it already wrote.
        let kept = messages
            .into_iter()
            .filter(|(m, t)| m.author.role == Role::Assistant && usable(t))
            .collect();
        return Action::Retry {
            messages: kept,
            reason: RetryReason::NoAction(detail),
        };
    };
    let mut kept: Vec<(Message, Terminator)> = messages
        .into_iter()
        .take(index + 1)
        .filter(|(m, t)| m.author.role == Role::Assistant && usable(t))
        .collect();
    let Some((action, _)) = kept.last().cloned() else {
        return Action::Retry {
            messages: Vec::new(),
            reason: RetryReason::Malformed("no message".into()),
        };
    };
    if is_call(&action) {
        // History renders a call ending in <|call|> whatever ended it in the stream.
        if let Some(last) = kept.last_mut() {
            last.1 = Terminator::Call;
        }
        Action::Call {
            messages: kept,
            call: action,
            problems,
        }
    } else {
        // Header-less text goes into history as the answer it is, so the next turn's
        // render drops this turn's reasoning as it does before any final answer.
        if let Some((last, _)) = kept.last_mut()
            && last.channel.is_none()
        {
            last.channel = Some("final".to_string());
        }
        Action::Final {
            answer: action.text(),
            messages: kept,
            problems,
        }
    }
}

/// An assistant message with no channel and no recipient, and some text.
fn is_headerless_text(message: &Message) -> bool {
    message.author.role == Role::Assistant
        && message.channel.is_none()
        && message.recipient.is_none()
        && !message.text().trim().is_empty()
}

fn is_call(message: &Message) -> bool {
    message.recipient.as_deref().is_some_and(|recipient| {
        !recipient.is_empty() && recipient != "all" && recipient != "assistant"
    })
}

/// The pieces of a literal harmony text (special tokens written as `<|…|>`), for
/// hand-written cassettes.
pub fn literal_pieces(text: &str) -> Vec<Decoded> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find("<|") {
            Some(0) => match SpecialToken::strip_prefix_of(rest) {
                Some((token, after)) => {
                    pieces.push(Decoded::Special(token));
                    rest = after;
                }
                None => {
                    let next = rest[2..].find("<|").map_or(rest.len(), |i| i + 2);
                    pieces.push(Decoded::Bytes(rest.as_bytes()[..next].to_vec()));
                    rest = &rest[next..];
                }
            },
            Some(at) => {
                pieces.push(Decoded::Bytes(rest.as_bytes()[..at].to_vec()));
                rest = &rest[at..];
            }
            None => {
                pieces.push(Decoded::Bytes(rest.as_bytes().to_vec()));
                rest = "";
            }
        }
    }
    pieces
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn run(text: &str, stop: StopReason) -> Action {
        let mut parser = CompletionParser::new();
        for piece in literal_pieces(text) {
            parser.push(&piece);
        }
        classify(parser.finish(stop), stop)
    }

    #[test]
    fn a_final_answer_after_analysis() {
        let action = run(
            "<|channel|>analysis<|message|>Think.<|end|><|start|>assistant<|channel|>final<|message|>Done.<|return|>",
            StopReason::Return,
        );
        let Action::Final {
            messages,
            answer,
            problems,
        } = action
        else {
            panic!("{action:?}")
        };
        assert_eq!(answer, "Done.");
        assert_eq!(messages.len(), 2);
        assert!(problems.is_empty());
    }

    #[test]
    fn a_call_on_the_analysis_channel_is_still_a_call() {
        let action = run(
            "<|channel|>analysis to=functions.read_file code<|message|>{\"path\":\"a\"}<|call|>",
            StopReason::Call,
        );
        let Action::Call { call, messages, .. } = action else {
            panic!("{action:?}")
        };
        assert_eq!(call.recipient.as_deref(), Some("functions.read_file"));
        assert_eq!(call.text(), "{\"path\":\"a\"}");
        assert_eq!(messages.last().map(|m| m.1), Some(Terminator::Call));
    }

    #[test]
    fn truncated_output_is_a_retry() {
        let action = run("<|channel|>final<|message|>Half an ans", StopReason::Length);
        assert_eq!(
            action,
            Action::Retry {
                messages: vec![],
                reason: RetryReason::Truncated
            }
        );
    }

    #[test]
    fn analysis_alone_is_no_action() {
        let action = run(
            "<|channel|>analysis<|message|>Hmm.<|return|>",
            StopReason::Return,
        );
        let Action::Retry {
            reason: RetryReason::NoAction(detail),
            messages,
        } = action
        else {
            panic!("{action:?}")
        };
        assert!(detail.contains("analysis"), "{detail}");
        assert_eq!(messages.len(), 1);
    }

    #[test]
    fn garbage_is_malformed() {
        let action = run("<|message|><|end|><|message|>", StopReason::EndOfText);
        assert!(
            matches!(
                action,
                Action::Retry {
                    reason: RetryReason::Malformed(_) | RetryReason::NoAction(_),
                    ..
                }
            ),
            "{action:?}"
        );
    }

    #[test]
    fn long_problems_are_shortened() {
        let garbage = format!(
            "<|channel|>analysis<|message|>a<|end|><|channel|>{}<|message|><|return|>",
            "x".repeat(5000)
        );
        let action = run(&garbage, StopReason::Return);
        let Action::Retry {
            reason: RetryReason::Malformed(detail),
            ..
        } = action
        else {
            panic!("{action:?}")
        };
        assert!(
            detail.chars().count() <= 301 && detail.ends_with('…'),
            "{detail}"
        );
    }

    #[test]
    fn text_without_harmony_markup_is_the_answer() {
        let action = run("The answer is 4.\n", StopReason::EndOfText);
        let Action::Final {
            answer,
            messages,
            problems,
        } = action
        else {
            panic!("{action:?}")
        };
        assert_eq!(answer, "The answer is 4.");
        assert_eq!(messages.len(), 1);
        // The recovery is reported, never silent.
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("text outside any message"),
            "{problems:?}"
        );
    }

    #[test]
    fn headerless_text_after_reasoning_is_the_answer() {
        let long = "y".repeat(5000);
        let action = run(
            &format!("<|channel|>analysis<|message|>Think.<|end|>{long}<|return|>"),
            StopReason::Return,
        );
        let Action::Final {
            answer,
            messages,
            problems,
        } = action
        else {
            panic!("{action:?}")
        };
        assert_eq!(answer, long);
        assert_eq!(messages.len(), 2);
        // Kept in history as a final answer.
        assert_eq!(messages[1].0.channel.as_deref(), Some("final"));
        assert_eq!(problems.len(), 1);
        assert!(problems[0].ends_with('…'), "problems are shortened");
    }

    #[test]
    fn headerless_text_before_a_call_stays_in_the_history() {
        let action = run(
            "Let me look.<|start|>assistant<|channel|>commentary to=functions.f json<|message|>{}<|call|>",
            StopReason::Call,
        );
        let Action::Call {
            call,
            messages,
            problems,
        } = action
        else {
            panic!("{action:?}")
        };
        assert_eq!(call.recipient.as_deref(), Some("functions.f"));
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].0.text(), "Let me look.");
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn headerless_text_is_no_answer_when_reasoning_follows() {
        let action = run(
            "Some words first <|channel|>analysis<|message|>Hmm.<|end|>",
            StopReason::EndOfText,
        );
        assert!(
            matches!(
                action,
                Action::Retry {
                    reason: RetryReason::Malformed(_),
                    ..
                }
            ),
            "{action:?}"
        );
    }

    #[test]
    fn literal_pieces_split_specials_from_text() {
        assert_eq!(
            literal_pieces("a<|end|>b<|x"),
            vec![
                Decoded::Bytes(b"a".to_vec()),
                Decoded::Special(SpecialToken::End),
                Decoded::Bytes(b"b".to_vec()),
                Decoded::Bytes(b"<|x".to_vec()),
            ]
        );
    }
}
