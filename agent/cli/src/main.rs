//! `ossa`: run gpt-oss as a coding agent with sandboxed WebAssembly tools.
//!
//! This file only parses the command line and dispatches; every subcommand lives in
//! its own module under `commands/` and returns the process exit code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;

/// Run OpenAI's open-weight gpt-oss models as a coding agent, with tools sandboxed in
/// WebAssembly.
#[derive(Debug, Parser)]
#[command(name = "ossa", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Render a conversation (openai-harmony JSON) to harmony text.
    Render(commands::render::Args),
    /// Parse harmony completion text into messages (JSON).
    Parse(commands::parse::Args),
    /// Manage and call the sandboxed tools.
    Tools(commands::tools::Args),
    /// Generate one assistant turn for a conversation and show the raw completion.
    Complete(commands::complete::Args),
    /// Run a task non-interactively until the model gives a final answer.
    Run(commands::run::Args),
    /// Chat with the agent interactively.
    Chat(commands::chat::Args),
    /// Replay a recorded transcript or a hand-written cassette.
    Replay(commands::replay::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    commands::init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return commands::EXIT_FAILURE.into();
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Render(args) => commands::render::run(args).await,
            Command::Parse(args) => commands::parse::run(args).await,
            Command::Tools(args) => commands::tools::run(args).await,
            Command::Complete(args) => commands::complete::run(args).await,
            Command::Run(args) => commands::run::run(args).await,
            Command::Chat(args) => commands::chat::run(args).await,
            Command::Replay(args) => commands::replay::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => commands::report_error(&err),
    }
}
