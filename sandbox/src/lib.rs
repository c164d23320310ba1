//! The wasmtime host for ossa's tools: every tool is an untrusted WebAssembly
//! component run with least privilege under an explicit per-tool policy.
#![deny(missing_docs)]
