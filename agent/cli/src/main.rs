//! `ossa`: run gpt-oss as a coding agent with sandboxed WebAssembly tools.
//!
//! This file only parses the command line and dispatches; every subcommand lives in
//! its own module under `commands/` and returns the process exit code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;
mod config;

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
    /// Run a suite of tasks, many sessions at once, and compare runs.
    Eval(commands::eval::Args),
    /// Download a model from the Hugging Face Hub into the shared cache.
    Pull(commands::pull::Args),
    /// Show the effective settings and where each came from.
    Config(commands::config::Args),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions(commands::completions::Args),
    /// Print the manual page (roff), or write one per command with --dir.
    Man(commands::completions::ManArgs),
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
            Command::Eval(args) => commands::eval::run(args).await,
            Command::Pull(args) => commands::pull::run(args).await,
            Command::Config(args) => commands::config::run(args).await,
            Command::Completions(args) => commands::completions::run(args).await,
            Command::Man(args) => commands::completions::man(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => commands::report_error(&err),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use clap::CommandFactory as _;

    use super::Cli;

    fn subcommands() -> Vec<String> {
        Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect()
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
        assert!(subcommands().len() >= 11, "{:?}", subcommands());
    }

    #[test]
    fn defaults_written_in_the_help_are_the_real_ones() {
        let defaults = ossa_agent::AgentSettings::default();
        let sampler = ossa_model::SamplerSettings::default();
        let command = Cli::command();
        let run = command.find_subcommand("run").unwrap();
        let help = |id: &str| {
            run.get_arguments()
                .find(|a| a.get_id() == id)
                .and_then(|a| a.get_help())
                .map(|h| h.to_string())
                .unwrap_or_default()
        };
        for (id, default) in [
            ("max_steps", defaults.max_steps.to_string()),
            ("max_tokens", defaults.max_tokens.to_string()),
            ("tool_output_limit", defaults.tool_output_limit.to_string()),
            ("reasoning", defaults.reasoning.as_str().to_string()),
            ("temperature", format!("{:?}", sampler.temperature)),
            ("top_p", format!("{:?}", sampler.top_p)),
            ("min_p", format!("{}", sampler.min_p)),
        ] {
            assert!(
                help(id).contains(&format!("(default {default}")),
                "--{id}: {}",
                help(id)
            );
        }
    }

    #[test]
    fn completions_mention_every_subcommand_and_flag() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "ossa", &mut out);
            let script = String::from_utf8(out).unwrap();
            for name in subcommands() {
                assert!(script.contains(&name), "{shell}: no {name}");
            }
            for flag in ["hf", "temperature", "top-p", "min-p", "workspace"] {
                assert!(script.contains(flag), "{shell}: no --{flag}");
            }
        }
    }

    #[test]
    fn the_man_page_renders_with_every_subcommand() {
        let mut out = Vec::new();
        clap_mangen::Man::new(Cli::command())
            .render(&mut out)
            .unwrap();
        let page = String::from_utf8(out).unwrap();
        assert!(page.contains(".TH ossa 1"), "{page}");
        assert!(
            page.contains(".SH NAME") && page.contains(".SH SUBCOMMANDS"),
            "{page}"
        );
        for name in subcommands() {
            assert!(
                page.contains(&format!("ossa\\-{name}")),
                "no {name}:\n{page}"
            );
        }
    }
}
