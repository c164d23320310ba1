//! Integration tests of ossa-sandbox, one binary (so wasmtime is linked once and one
//! host with one artifact cache serves every test).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod apply_patch_scenarios;
mod attacks;
mod builtins;
mod exec;
mod exec_attacks;
mod python;
mod recorded_calls;
mod support;
mod toolbox;
