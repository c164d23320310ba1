//! `ossa replay FILE`: run a recorded transcript or a hand-written cassette again.
//!
//! The model's completions come from the file. Tools run again in the sandbox on
//! `--workspace DIR`, or their recorded results are used (`--tools recorded`).
//! `--check` verifies that every prompt ossa renders is token for token the recorded
//! one and reports the first difference as a readable diff.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use ossa_agent::event::Toolset;
use ossa_agent::{
    Agent, AgentParts, AgentSettings, Cancel, EventSink, RecordedTools, ReplayBackend,
};
use ossa_wiring::ExecOptions;

use super::session;

/// Where tool results come from during a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ToolSource {
    /// Run the tools again in the sandbox, on `--workspace`.
    Run,
    /// Use the results recorded in the transcript.
    Recorded,
}

/// Arguments of `ossa replay`.
#[derive(Debug, clap::Args)]
#[command(after_help = super::EXIT_CODES_HELP)]
pub struct Args {
    /// A transcript recorded by ossa, or a hand-written cassette (JSONL with
    /// `user_message` and `completion` lines).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The directory the tools run on (a copy of the recorded workspace: tools that
    /// write change it).
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Run the tools again, or use their recorded results.
    #[arg(long, value_enum, default_value = "run")]
    pub tools: ToolSource,
    /// Check that every prompt is token for token the recorded one; exit 5 on the first
    /// difference.
    #[arg(long)]
    pub check: bool,
    /// Print a JSONL event stream on stdout instead of progress and the answer.
    #[arg(long)]
    pub json: bool,
    /// Record the replay as a new transcript at PATH (then `replay --check PATH` works
    /// for a cassette too).
    #[arg(long, value_name = "PATH")]
    pub transcript: Option<PathBuf>,
    /// The toolset a hand-written cassette was written for (a recorded transcript says
    /// which it used).
    #[arg(long, value_name = "native|functions", default_value = "native")]
    pub toolset: Toolset,
    /// Offer the python tool to a hand-written cassette (a recorded transcript says
    /// whether it had one).
    #[arg(long)]
    pub python: bool,
}

/// The vocabulary the recorded tokens are in: that of the local model the session ran on
/// when it is still there (a model with its own vocabulary, such as ossa-nano, records
/// its own ids), else o200k_harmony, every gpt-oss's.
fn recorded_vocabulary(
    transcript: &ossa_agent::Transcript,
) -> anyhow::Result<std::sync::Arc<dyn ossa_model::Tokenizer>> {
    let model = transcript
        .header
        .as_ref()
        .filter(|header| header.model.backend == "llama_cpp")
        .and_then(|header| header.model.path.as_deref())
        .map(std::path::Path::new)
        .filter(|path| path.is_file());
    match model {
        Some(path) => Ok(std::sync::Arc::new(ossa_model::LlamaTokenizer::from_file(
            path,
        )?)),
        None => Ok(ossa_agent::harmony_tokenizer()),
    }
}

/// Runs `ossa replay`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let transcript = ossa_agent::Transcript::read(&args.file)?;
    let backend = ReplayBackend::new(&transcript, recorded_vocabulary(&transcript)?, args.check)?;
    let toolset = transcript
        .header
        .as_ref()
        .map_or(args.toolset, |header| header.toolset);
    let report = session::ReplayHandle(backend.report());
    let (tools, workspace) = match (args.tools, &args.workspace) {
        (ToolSource::Recorded, _) => (
            Box::new(RecordedTools::from_transcript(&transcript)?)
                as Box<dyn ossa_agent::ToolExecutor>,
            None,
        ),
        (ToolSource::Run, Some(dir)) => {
            let dir = session::workspace_dir(Some(dir))?;
            {
                // The recording had commands if it offered container.exec; a cassette may use
                // them wherever the kernel can confine them.
                let exec = ExecOptions {
                    allow: transcript.header.as_ref().is_none_or(|header| {
                        header
                            .tools
                            .iter()
                            .any(|tool| tool.recipient() == ossa_agent::CONTAINER_EXEC)
                    }),
                    ..ExecOptions::default()
                };
                let python = match &transcript.header {
                    Some(header) => header.tools.iter().any(|tool| tool.recipient() == "python"),
                    None => args.python,
                };
                (
                    session::open_tools(&dir, toolset, &exec, python).await?,
                    Some(dir),
                )
            }
        }
        (ToolSource::Run, None) => {
            eprintln!(
                "error: replay runs the recorded tool calls again: give --workspace DIR (a copy of the workspace, since tools may write) or --tools recorded"
            );
            return Ok(super::EXIT_USAGE.into());
        }
    };
    let settings = match &transcript.header {
        Some(header) => AgentSettings {
            sampler: header.sampler,
            reasoning: header
                .reasoning
                .unwrap_or(AgentSettings::default().reasoning),
            max_tokens: header.max_tokens,
            max_steps: if header.max_steps > 0 {
                header.max_steps
            } else {
                AgentSettings::default().max_steps
            },
            tool_output_limit: if header.tool_output_limit > 0 {
                header.tool_output_limit
            } else {
                AgentSettings::default().tool_output_limit
            },
            toolset,
            ..AgentSettings::default()
        },
        None => AgentSettings {
            toolset,
            ..AgentSettings::default()
        },
    };

    let session_id = ossa_agent::paths::new_session_id();
    let mut sinks: Vec<Box<dyn EventSink>> = vec![session::progress_sink(args.json, false)];
    if let Some(path) = &args.transcript {
        sinks.insert(
            0,
            Box::new(session::transcript_writer(Some(path), &session_id)?),
        );
    }
    let parts = AgentParts {
        session_id,
        backend: std::sync::Arc::new(backend),
        tools,
        sink: Box::new(sinks),
        approver: None,
    };
    let mut agent = Agent::replaying(parts, settings, &transcript, workspace.as_deref())?;

    let cancel = Cancel::new();
    let reports = agent.replay_turns(&transcript, &cancel).await?;
    let Some(last) = reports.last() else {
        eprintln!(
            "error: {} has no `user_message` line to replay",
            args.file.display()
        );
        return Ok(super::EXIT_FAILURE.into());
    };
    if !args.json
        && let Some(answer) = &last.answer
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", answer.trim_end())?;
        stdout.flush()?;
    }

    let report = report.report();
    if let Some(divergence) = &report.divergence {
        eprintln!("replay --check failed: {divergence}");
        return Ok(super::EXIT_CHECK.into());
    }
    if report.used < report.total {
        let unused = report.total - report.used;
        if args.check {
            eprintln!(
                "replay --check failed: {unused} of {} recorded completions were never asked for (the run ended earlier than the recording)",
                report.total
            );
            return Ok(super::EXIT_CHECK.into());
        }
        eprintln!(
            "warning: {unused} of {} completions in {} were not used",
            report.total,
            args.file.display()
        );
    }
    if args.check {
        eprintln!(
            "replay --check passed: {} prompts match the recording token for token",
            report.prompts_checked
        );
    }
    Ok(session::exit_code(last.outcome))
}
