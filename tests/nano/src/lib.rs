//! ossa-nano: a tiny model with gpt-oss's architecture, trained on ossa's own rendering of
//! the native tool dialect. This crate makes its training data (tasks played through
//! ossa's agent loop with real sandboxed tools), its vocabulary, and its GGUF; the
//! trainer is `train.py` next to it. See README.md in this folder.
#![deny(missing_docs)]

pub mod episodes;
pub mod model;
pub mod tasks;
pub mod vocab;
