//! `ossa run "TASK"`: one task, non-interactively, until a final answer or a limit.
//!
//! The final answer goes to stdout; progress goes to stderr (or, with `--json`, a JSONL
//! event stream goes to stdout). Every session is recorded to a transcript.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use ossa_agent::{Agent, AgentParts, Cancel, EventSink, Outcome};

use super::session::{self, LoopArgs, ModelArgs, RuntimeArgs, SamplingArgs, ToolArgs};

/// Arguments of `ossa run`.
#[derive(Debug, clap::Args)]
#[command(after_help = super::EXIT_CODES_HELP)]
pub struct Args {
    /// The task, in plain words (`-` reads it from stdin).
    #[arg(value_name = "TASK")]
    pub task: String,
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
    /// Print a JSONL event stream on stdout instead of progress and the answer.
    #[arg(long)]
    pub json: bool,
    /// Print the model's analysis in full in the progress output.
    #[arg(long)]
    pub show_reasoning: bool,
    /// Where to write the transcript (default: a new file in ossa's data directory,
    /// `$OSSA_HOME/sessions/`).
    #[arg(long, value_name = "PATH")]
    pub transcript: Option<PathBuf>,
}

/// Runs `ossa run`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let task = if args.task == "-" {
        let mut task = String::new();
        std::io::stdin()
            .read_to_string(&mut task)
            .context("cannot read the task from stdin")?;
        task
    } else {
        args.task.clone()
    };
    if task.trim().is_empty() {
        eprintln!(
            "error: the task is empty; say what ossa should do, e.g. ossa run \"fix the failing test\""
        );
        return Ok(super::EXIT_USAGE.into());
    }
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
    let tools = session::open_tools(
        &workspace,
        config.toolset(),
        &config.exec_grant(),
        config.python(),
    )
    .await?;
    let session_id = ossa_agent::paths::new_session_id();
    let writer = session::transcript_writer(args.transcript.as_deref(), &session_id)?;
    let transcript_path = writer.path().to_path_buf();
    let sinks: Vec<Box<dyn EventSink>> = vec![
        Box::new(writer),
        session::progress_sink(args.json, args.show_reasoning),
    ];
    let parts = AgentParts {
        session_id,
        backend,
        tools,
        sink: Box::new(sinks),
        approver: None,
    };
    let mut agent = Agent::new(parts, config.agent_settings(), &workspace)?;
    if !args.json {
        eprintln!("transcript: {}", transcript_path.display());
    }

    let cancel = Cancel::new();
    let watcher = {
        let cancel = cancel.clone();
        super::on_ctrl_c(move || cancel.cancel())?
    };
    let report = agent.run_turn(&task, &cancel).await;
    watcher.abort();
    let report = report?;
    if !args.json {
        if let Some(answer) = &report.answer {
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{}", answer.trim_end())?;
            stdout.flush()?;
        } else if report.outcome != Outcome::Final {
            eprintln!(
                "ossa: {} (transcript: {})",
                report.outcome.describe(),
                transcript_path.display()
            );
        }
    }
    Ok(session::exit_code(report.outcome))
}
