//! The ossa agent: the loop that renders prompts, generates, parses and dispatches
//! tool calls, plus transcripts and replay.
#![deny(missing_docs)]
