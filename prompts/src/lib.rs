//! The harmony format spoken by gpt-oss: conversation types, an exact renderer,
//! a tolerant streaming parser and JSON-Schema → TypeScript tool declarations.
//!
//! This crate does no I/O and knows no vocabulary: rendering produces a sequence of
//! pieces (structural special tokens and plain text) that a tokenizer turns into ids.
#![deny(missing_docs)]
