//! The `ossa` binary's integration tests, one test binary for all of them: each links
//! llama.cpp and wasmtime, so one link instead of one per file.

mod agent_commands;
mod chat_terminal;
mod complete_command;
mod eval_command;
mod hub_config;
mod nano;
mod nano_e2e;
mod tools_command;

use std::path::Path;
use std::process::Command;

/// `ossa` with `args`, isolated from the user's setup: data and configuration under `dir`,
/// the tests' shared download cache, no colour, none of the user's OSSA_* settings.
fn isolated_ossa(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ossa"));
    command
        .args(args)
        .env_remove("OSSA_HOME")
        .env_remove("OSSA_SERVER")
        .env_remove("OSSA_API_KEY")
        .env("XDG_DATA_HOME", dir.join("home"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env(
            "XDG_CACHE_HOME",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("ossa-cache"),
        )
        .env("NO_COLOR", "1");
    command
}

/// A process's output as text (lossy: tests quote it in messages).
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
