//! The ossa agent: the loop that renders prompts, generates, parses and dispatches
//! tool calls, plus transcripts and replay.
//!
//! - [`Agent`] runs turns: render → generate → parse → act, until a final answer or a
//!   limit, recovering from bad model output with feedback (never a silent stop).
//! - Everything that happens is an [`Event`] delivered to an [`EventSink`]: the
//!   printers in [`output`], the [`TranscriptWriter`], or a test [`Collector`].
//! - [`Transcript`] reads transcripts and hand-written cassettes; [`ReplayBackend`]
//!   replays their completions, and [`RecordedTools`] their tool results.
//!
//! This crate never prints and never reads the terminal; the `ossa` binary does.
#![deny(missing_docs)]

mod agent;
mod arguments;
pub mod budget;
mod completion;
mod declare;
mod dispatch;
pub mod event;
mod model;
pub mod output;
pub mod paths;
mod replay;
mod sink;
pub mod time;
mod tools;
mod transcript;

pub use agent::{Agent, AgentParts, AgentSettings, Approval, Approver, TurnReport};
pub use arguments::{ArgumentError, prepare_arguments};
pub use completion::literal_pieces;
pub use declare::{
    AGENTS_MD_LIMIT, CONTAINER, CONTAINER_EXEC, KNOWLEDGE_CUTOFF, REPO_BROWSER, developer_message,
    function_tools, read_agents_md, system_message, system_namespaces,
};
pub use event::{Event, Outcome};
pub use model::{Cancel, encode_literal, literal_text};
pub use replay::{
    CASSETTE_CONTEXT_SIZE, Divergence, ReplayBackend, ReplayReport, harmony_tokenizer,
    stop_from_text,
};
pub use sink::{Collector, EventSink, FnSink};
pub use tools::{BoxFuture, RecordedTools, ToolExecutor, ToolInvocation, ToolOutcome};
pub use transcript::{Transcript, TranscriptError, TranscriptWriter};
