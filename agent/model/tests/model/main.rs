//! ossa-model's integration tests, one test binary for all of them (each links llama.cpp).

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/server.rs"]
mod server;

mod http_errors;
mod hub;
mod llama_backend;
mod llama_server;
mod o200k_conformance;
