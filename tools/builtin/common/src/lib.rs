//! Code shared by ossa's built-in tools (a plain library, not a component): how the
//! workspace is walked, the line search behind `grep` and `search`, and text helpers.
#![deny(missing_docs)]

pub mod search;
pub mod text;
pub mod walk;
