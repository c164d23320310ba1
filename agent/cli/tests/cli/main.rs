//! The `ossa` binary's integration tests, one test binary for all of them: each links
//! llama.cpp and wasmtime, so one link instead of one per file.

mod agent_commands;
mod chat_terminal;
mod complete_command;
mod eval_command;
mod hub_config;
mod nano;
mod tools_command;
