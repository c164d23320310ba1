//! `ossa parse`: harmony completion text (special tokens as literal strings) to a JSON
//! array of messages in openai-harmony's shape, each with its `"terminator"`.
//!
//! Malformed input is parsed leniently: the messages that could be recovered are
//! printed, every problem is reported on standard error with its raw text, and the
//! exit code is non-zero.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use ossa_prompts::{ParseItem, ParseOptions, Role, parse_completion_text};

use super::EXIT_FAILURE;
use super::render::read_input;

/// Arguments of `ossa parse`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The completion text; `-` or nothing reads standard input.
    #[arg(value_name = "FILE|-")]
    pub file: Option<PathBuf>,
    /// The role the prompt already opened: `assistant` (the prompt ended with
    /// `<|start|>assistant`), another role, or `none` (the text starts with
    /// `<|start|>`).
    #[arg(long, value_name = "ROLE|none", default_value = "assistant", value_parser = parse_role)]
    pub role: ImpliedRole,
}

/// The `--role` value: a role, or none.
#[derive(Debug, Clone, Copy)]
pub struct ImpliedRole(Option<Role>);

fn parse_role(value: &str) -> Result<ImpliedRole, String> {
    if value == "none" {
        return Ok(ImpliedRole(None));
    }
    value
        .parse::<Role>()
        .map(|role| ImpliedRole(Some(role)))
        .map_err(|_| {
            format!("`{value}` is not a role: use user, assistant, system, developer, tool or none")
        })
}

/// Runs `ossa parse`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (source, text) = read_input(args.file.as_ref())?;
    let items = parse_completion_text(&text, args.role.0, ParseOptions::lenient())?;
    let mut messages = Vec::new();
    let mut problems = 0usize;
    for item in &items {
        match item {
            ParseItem::Message(message) => messages.push(message),
            ParseItem::Error(error) => {
                problems += 1;
                eprintln!("error: {source}: {error}");
            }
        }
    }
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &messages)?;
    stdout.write_all(b"\n")?;
    stdout.flush()?;
    if problems > 0 {
        eprintln!(
            "error: {source} is not well-formed harmony ({problems} problem{}); \
             the messages above are what could be recovered",
            if problems == 1 { "" } else { "s" }
        );
        return Ok(EXIT_FAILURE.into());
    }
    Ok(ExitCode::SUCCESS)
}
