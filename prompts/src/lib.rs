//! The harmony format spoken by gpt-oss: conversation types, an exact renderer,
//! a tolerant streaming parser and JSON-Schema → TypeScript tool declarations.
//!
//! This crate does no I/O and knows no vocabulary: rendering produces a sequence of
//! pieces (structural special tokens and plain text) that a tokenizer turns into ids,
//! and parsing consumes special tokens and text bytes that a backend decoded.
//!
//! - [`render_conversation`], [`render_conversation_for_completion`] and
//!   [`render_conversation_for_training`] are byte-identical to openai-harmony 0.0.8
//!   (and token-identical when each [`Piece::Text`] is tokenized on its own).
//! - [`StreamParser`] follows openai-harmony's parser on well-formed completions and
//!   recovers from the ways real gpt-oss output deviates, never dropping text.
//! - The types read and write openai-harmony's JSON.
//!
//! ```
//! use ossa_prompts::{
//!     Conversation, FinishReason, Message, ParseOptions, RenderOptions, Role, SpecialToken,
//!     StreamParser, SystemContent, Terminator, render_conversation_for_completion,
//! };
//!
//! let conversation = Conversation::from_messages([
//!     Message::from_role_and_content(Role::System, SystemContent::new()),
//!     Message::from_role_and_content(Role::User, "What is 2 + 2?"),
//! ]);
//! let prompt = render_conversation_for_completion(
//!     &conversation,
//!     Role::Assistant,
//!     &RenderOptions::default(),
//! )?;
//! assert!(prompt.to_literal_string().ends_with("<|start|>user<|message|>What is 2 + 2?<|end|><|start|>assistant"));
//!
//! // The model's reply, token by token (a backend maps ids to specials or bytes).
//! let mut parser = StreamParser::new(Some(Role::Assistant), ParseOptions::lenient());
//! parser.push_special(SpecialToken::Channel)?;
//! parser.push_text("final")?;
//! parser.push_special(SpecialToken::Message)?;
//! parser.push_text("4")?;
//! parser.push_special(SpecialToken::Return)?;
//! parser.finish(FinishReason::EndOfStream)?;
//! let reply = parser.messages().next().expect("one message");
//! assert_eq!(reply.message.channel.as_deref(), Some("final"));
//! assert_eq!(reply.message.text(), "4");
//! assert_eq!(reply.terminator, Terminator::Return);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod accounting;
mod builtin;
mod header;
mod parse;
mod render;
mod rendered;
mod tokens;
mod types;
mod typescript;

pub mod templates;

pub use accounting::unaccounted_words;
pub use parse::{
    FinishReason, ParseError, ParseErrorKind, ParseItem, ParseOptions, ParsedMessage, ParserState,
    Position, StreamParser, Terminator, parse_completion_text,
};
pub use render::{
    RenderError, RenderOptions, conversation_has_function_tools, render_conversation,
    render_conversation_for_completion, render_conversation_for_training, render_message,
    render_message_into, render_messages_into, render_tool_namespace,
};
pub use rendered::{Piece, Rendered};
pub use tokens::SpecialToken;
pub use types::{
    Author, ChannelConfig, Content, Conversation, DeveloperContent, Message, ReasoningEffort, Role,
    SystemContent, TextContent, ToolDescription, ToolNamespaceConfig, ToolNamespaces,
    UnknownReasoningEffort, UnknownRole,
};
