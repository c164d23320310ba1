//! `ossa render`: a conversation in openai-harmony's JSON shape to harmony text.
//!
//! The output is byte-identical to openai-harmony 0.0.8, with special tokens written
//! as their literal strings and nothing added (no trailing newline).

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use ossa_prompts::{
    Conversation, RenderOptions, Role, render_conversation, render_conversation_for_completion,
    render_conversation_for_training,
};

/// Arguments of `ossa render`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The conversation JSON (`{"messages": [...]}`, openai-harmony's shape); `-` or
    /// nothing reads standard input.
    #[arg(value_name = "FILE|-")]
    pub file: Option<PathBuf>,
    /// Render a prompt for the next message: append `<|start|>ROLE` (user, assistant,
    /// system, developer or tool). Default: no generation prompt.
    #[arg(long, value_name = "ROLE", conflicts_with = "training")]
    pub next_role: Option<Role>,
    /// Render for training: a last assistant message on channel `final` ends with
    /// `<|return|>`.
    #[arg(long)]
    pub training: bool,
    /// Keep every `analysis` message (by default, analysis before the first `final`
    /// message is dropped once the last assistant message is `final`).
    #[arg(long)]
    pub keep_analysis: bool,
}

/// Runs `ossa render`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (source, json) = read_input(args.file.as_ref())?;
    let conversation: Conversation = serde_json::from_str(&json).with_context(|| {
        format!(
            "{source} is not a conversation in openai-harmony's JSON shape \
             ({{\"messages\": [{{\"role\": \"user\", \"content\": \"Hi\"}}, ...]}})"
        )
    })?;
    let options = RenderOptions {
        auto_drop_analysis: !args.keep_analysis,
    };
    let rendered = if args.training {
        render_conversation_for_training(&conversation, &options)
    } else if let Some(role) = args.next_role {
        render_conversation_for_completion(&conversation, role, &options)
    } else {
        render_conversation(&conversation, &options)
    }
    .with_context(|| format!("cannot render the conversation in {source}"))?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(rendered.to_literal_string().as_bytes())?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Reads FILE, or standard input for `-` or no FILE; returns a name for messages and
/// the text.
pub(crate) fn read_input(file: Option<&PathBuf>) -> anyhow::Result<(String, String)> {
    match file {
        Some(path) if path.as_os_str() != "-" => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Ok((path.display().to_string(), text))
        }
        _ => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read standard input as UTF-8 text")?;
            Ok(("standard input".to_owned(), text))
        }
    }
}
