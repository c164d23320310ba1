//! `ossa chat`: the interactive REPL.
//!
//! rustyline gives history (kept in the data directory), editing, and multi-line input
//! (end a line with `\`, or open a block with `"""`). Output streams as it is generated,
//! each channel styled differently. Ctrl-C during a turn stops generation and returns
//! to the prompt; at the prompt it clears the line; Ctrl-D or `/exit` leaves.

mod approval;
mod slash;

use std::borrow::Cow;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use ossa_agent::event::Outcome;
use ossa_agent::output::ChatPrinter;
use ossa_agent::{Agent, AgentParts, Approver, Cancel, EventSink, TranscriptWriter};
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Editor, Helper};

use self::approval::{ChatApprover, ConfirmPolicy};
use super::session::{self, LoopArgs, ModelArgs, RuntimeArgs, SamplingArgs, ToolArgs};

/// Arguments of `ossa chat`.
#[derive(Debug, clap::Args)]
#[command(after_help = super::EXIT_CODES_HELP)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The directory the tools work in (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    #[command(flatten)]
    pub loop_args: LoopArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    #[command(flatten)]
    pub tool_args: ToolArgs,
    /// Show the model's analysis (dimmed) as it streams; `--show-reasoning false` hides it.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub show_reasoning: bool,
    /// When to ask before a tool that writes or runs commands: `always`, `never`, or a
    /// comma-separated list of tools to ask for.
    #[arg(long, value_name = "always|never|TOOL,…", default_value = "always")]
    pub confirm: ConfirmPolicy,
    /// Continue a recorded session (its transcript is appended to).
    #[arg(long, value_name = "FILE")]
    pub resume: Option<PathBuf>,
    /// Where to write the transcript (default: a new file under `$OSSA_HOME/sessions/`).
    #[arg(long, value_name = "PATH", conflicts_with = "resume")]
    pub transcript: Option<PathBuf>,
}

/// Runs `ossa chat`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let workspace = session::workspace_dir(args.workspace.as_deref())?;
    let flags = session::flag_layer(
        &args.model,
        &args.runtime,
        &args.sampling,
        Some(&args.loop_args),
        Some(&args.tool_args),
    );
    let config = session::load_config(Some(&workspace), flags)?;
    let backend = session::open_backend(&config, &args.runtime).await?;
    // A resumed session keeps the toolset it was recorded with.
    let resumed = match &args.resume {
        Some(path) => Some(ossa_agent::Transcript::read(path)?),
        None => None,
    };
    let toolset = resumed
        .as_ref()
        .and_then(|transcript| transcript.header.as_ref())
        .map_or(config.toolset(), |header| header.toolset);
    let tools =
        session::open_tools(&workspace, toolset, &config.exec_grant(), config.python()).await?;
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let printer = ChatPrinter::new(std::io::stdout(), color, args.show_reasoning);
    let cancel = Cancel::new();
    let approver = ChatApprover::new(args.confirm.clone(), cancel.clone())
        .map(|approver| Box::new(approver) as Box<dyn Approver>);
    let session_id = ossa_agent::paths::new_session_id();
    let settings = config.agent_settings();

    let (mut agent, transcript_path) = match (&args.resume, &resumed) {
        (Some(path), Some(transcript)) => {
            let writer = TranscriptWriter::append(path)?;
            let sinks: Vec<Box<dyn EventSink>> = vec![Box::new(writer), Box::new(printer)];
            let parts = AgentParts {
                session_id,
                backend,
                tools,
                sink: Box::new(sinks),
                approver,
            };
            (Agent::resume(parts, settings, transcript)?, path.clone())
        }
        _ => {
            let writer = session::transcript_writer(args.transcript.as_deref(), &session_id)?;
            let path = writer.path().to_path_buf();
            let sinks: Vec<Box<dyn EventSink>> = vec![Box::new(writer), Box::new(printer)];
            let parts = AgentParts {
                session_id,
                backend,
                tools,
                sink: Box::new(sinks),
                approver,
            };
            (Agent::new(parts, settings, &workspace)?, path)
        }
    };
    println!(
        "ossa chat · workspace {} · {} tools · transcript {}\n/help for commands, Ctrl-D to leave.",
        workspace.display(),
        agent.tools().len(),
        transcript_path.display()
    );

    let mut editor: Editor<ChatHelper, rustyline::history::DefaultHistory> =
        Editor::new().context("cannot start the line editor")?;
    editor.set_helper(Some(ChatHelper));
    let history = ossa_agent::paths::data_dir()?.join("history.txt");
    if let Some(parent) = history.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let _ = editor.load_history(&history);

    // One listener for the whole session: rustyline reads Ctrl-C itself at the prompt
    // (raw mode), so a SIGINT only arrives while a turn is running.
    {
        let cancel = cancel.clone();
        super::on_ctrl_c(move || cancel.cancel())?;
    }
    let mut last = Outcome::Final;
    loop {
        let line = match editor.readline("ossa> ") {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(err) => return Err(err).context("cannot read input"),
        };
        let input = join_continued_lines(&line);
        if input.trim().is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(line.as_str());
        if let Some(command) = input.trim().strip_prefix('/') {
            match slash::run(command, &mut agent, &transcript_path) {
                Ok(true) => break,
                Ok(false) => {}
                Err(err) => eprintln!("error: {err:#}"),
            }
            continue;
        }
        cancel.reset();
        let report = agent.run_turn(&input, &cancel).await?;
        if report.outcome == Outcome::Cancelled {
            println!("(stopped)");
        }
        last = report.outcome;
    }
    if let Err(err) = editor.save_history(&history) {
        eprintln!(
            "warning: cannot save the history to {}: {err}",
            history.display()
        );
    }
    Ok(if last == Outcome::Final {
        ExitCode::SUCCESS
    } else {
        session::exit_code(last)
    })
}

/// The message typed, with `\` line continuations and `"""` block markers removed.
fn join_continued_lines(input: &str) -> String {
    let joined = input.replace("\\\n", "\n");
    let trimmed = joined.trim();
    match trimmed
        .strip_prefix("\"\"\"")
        .and_then(|t| t.strip_suffix("\"\"\""))
    {
        Some(block) => block.trim_matches('\n').to_string(),
        None => joined,
    }
}

/// Line-editor helper: multi-line validation and slash-command completion.
struct ChatHelper;

impl Validator for ChatHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        let input = ctx.input();
        let open_block = input.matches("\"\"\"").count() % 2 == 1;
        if input.ends_with('\\') || open_block {
            Ok(ValidationResult::Incomplete)
        } else {
            Ok(ValidationResult::Valid(None))
        }
    }
}

impl Completer for ChatHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let typed = &line[..pos];
        if !typed.starts_with('/') || typed.contains(char::is_whitespace) {
            return Ok((0, Vec::new()));
        }
        let matches = slash::COMMANDS
            .iter()
            .filter(|c| c.starts_with(typed))
            .map(|c| c.to_string())
            .collect();
        Ok((0, matches))
    }
}

impl Hinter for ChatHelper {
    type Hint = String;
}

impl Highlighter for ChatHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        default: bool,
    ) -> Cow<'b, str> {
        let _ = default;
        Cow::Borrowed(prompt)
    }
}

impl Helper for ChatHelper {}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn continued_lines_and_blocks_are_joined() {
        assert_eq!(join_continued_lines("a\\\nb"), "a\nb");
        assert_eq!(
            join_continued_lines("\"\"\"\nline 1\nline 2\n\"\"\""),
            "line 1\nline 2"
        );
        assert_eq!(join_continued_lines("plain"), "plain");
    }
}
