//! `ossa chat`: the interactive REPL.
//!
//! rustyline gives history (kept in the data directory), editing, and multi-line input
//! (end a line with `\`, or open a block with `"""`). Output streams as it is generated,
//! each channel styled differently. Ctrl-C during a turn stops generation and returns
//! to the prompt; at the prompt it clears the line; Ctrl-D or `/exit` leaves.

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::{BufRead as _, IsTerminal as _, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use ossa_agent::event::{Delta, Outcome, ToolRecord, ToolStatus};
use ossa_agent::{
    Agent, AgentParts, Approval, Approver, Cancel, Event, EventSink, TranscriptWriter,
};
use ossa_prompts::{ReasoningEffort, Role};
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Editor, Helper};
use serde_json::Value;

use super::session::{self, LoopArgs, ModelSource, RuntimeArgs, SamplingArgs};

/// Arguments of `ossa chat`.
#[derive(Debug, clap::Args)]
#[command(after_help = super::EXIT_CODES_HELP)]
pub struct Args {
    #[command(flatten)]
    pub source: ModelSource,
    /// The directory the tools work in (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    #[command(flatten)]
    pub loop_args: LoopArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Show the model's analysis (dimmed) as it streams; `--show-reasoning false` hides it.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub show_reasoning: bool,
    /// When to ask before a tool that writes: `always`, `never`, or a comma-separated
    /// list of tools to ask for.
    #[arg(long, value_name = "always|never|TOOL,…", default_value = "always")]
    pub confirm: String,
    /// Continue a recorded session (its transcript is appended to).
    #[arg(long, value_name = "FILE")]
    pub resume: Option<PathBuf>,
    /// Where to write the transcript (default: a new file under `$OSSA_HOME/sessions/`).
    #[arg(long, value_name = "PATH", conflicts_with = "resume")]
    pub transcript: Option<PathBuf>,
}

const HELP: &str =
    "Type a message and press Enter. End a line with \\ to continue it, or wrap a block in \"\"\".
Commands:
  /help                     this help
  /tools                    the tools the model can call
  /reasoning [low|medium|high]  show or set the reasoning effort
  /save PATH                copy the transcript to PATH
  /clear                    forget the conversation (keeps the tools and settings)
  /exit                     leave (or Ctrl-D)
Ctrl-C stops the current generation.";

/// Runs `ossa chat`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let workspace = session::workspace_dir(args.workspace.as_deref())?;
    let flags = session::flag_layer(
        &args.source,
        &args.runtime,
        &args.sampling,
        Some(&args.loop_args),
    );
    let config = session::load_config(Some(&workspace), flags)?;
    let backend = session::open_backend(&config).await?;
    let tools = session::open_tools(&workspace).await?;
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let printer = ChatPrinter::new(std::io::stdout(), color, args.show_reasoning);
    let approver = ConfirmPolicy::parse(&args.confirm).map(|policy| {
        Box::new(ChatApprover {
            policy,
            always: HashSet::new(),
            never: HashSet::new(),
        }) as Box<dyn Approver>
    });
    let session_id = ossa_agent::paths::new_session_id();
    let settings = config.agent_settings();

    let (mut agent, transcript_path) = match &args.resume {
        Some(path) => {
            let transcript = ossa_agent::Transcript::read(path)?;
            let writer = TranscriptWriter::append(path)?;
            let sinks: Vec<Box<dyn EventSink>> = vec![Box::new(writer), Box::new(printer)];
            let parts = AgentParts {
                session_id,
                backend,
                tools,
                sink: Box::new(sinks),
                approver,
            };
            (Agent::resume(parts, settings, &transcript)?, path.clone())
        }
        None => {
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

    let cancel = Cancel::new();
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
            match slash_command(command, &mut agent, &transcript_path) {
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

/// Runs a slash command; `Ok(true)` means leave.
fn slash_command(
    command: &str,
    agent: &mut Agent,
    transcript: &std::path::Path,
) -> anyhow::Result<bool> {
    let (name, rest) = command
        .split_once(char::is_whitespace)
        .unwrap_or((command, ""));
    let rest = rest.trim();
    match name {
        "exit" | "quit" => return Ok(true),
        "help" => println!("{HELP}"),
        "tools" => {
            for tool in agent.tools() {
                let first_line = tool.description.lines().next().unwrap_or_default();
                let summary = match first_line.find(". ") {
                    Some(end) => &first_line[..=end],
                    None => first_line,
                };
                let writes = if tool.writes { " (writes)" } else { "" };
                println!("  {} {}{writes}: {summary}", tool.name, tool.version);
            }
        }
        "reasoning" => match rest {
            "" => println!("reasoning: {}", agent.settings().reasoning.as_str()),
            "low" | "medium" | "high" => {
                let effort = match rest {
                    "low" => ReasoningEffort::Low,
                    "high" => ReasoningEffort::High,
                    _ => ReasoningEffort::Medium,
                };
                agent.set_reasoning(effort)?;
                println!("reasoning: {rest} (from the next message)");
            }
            other => anyhow::bail!("unknown reasoning effort `{other}`: use low, medium or high"),
        },
        "save" => {
            if rest.is_empty() {
                println!(
                    "the transcript is being written to {}; /save PATH copies it",
                    transcript.display()
                );
            } else {
                std::fs::copy(transcript, rest)
                    .with_context(|| format!("cannot copy the transcript to {rest}"))?;
                println!("saved the transcript to {rest}");
            }
        }
        "clear" => {
            agent.clear()?;
            println!("conversation cleared");
        }
        other => anyhow::bail!("unknown command /{other}; /help lists the commands"),
    }
    Ok(false)
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

const COMMANDS: [&str; 6] = ["/help", "/tools", "/reasoning", "/save", "/clear", "/exit"];

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
        let matches = COMMANDS
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

/// When to confirm writing tools.
#[derive(Debug, Clone, PartialEq)]
enum ConfirmPolicy {
    Always,
    Tools(HashSet<String>),
}

impl ConfirmPolicy {
    /// `None` for `never`.
    fn parse(text: &str) -> Option<ConfirmPolicy> {
        match text.trim() {
            "never" => None,
            "always" | "" => Some(ConfirmPolicy::Always),
            list => Some(ConfirmPolicy::Tools(
                list.split(',').map(|t| t.trim().to_string()).collect(),
            )),
        }
    }
}

/// Asks on the terminal before writing tools run.
struct ChatApprover {
    policy: ConfirmPolicy,
    always: HashSet<String>,
    never: HashSet<String>,
}

impl Approver for ChatApprover {
    fn approve(&mut self, tool: &ToolRecord, arguments: &Value) -> Approval {
        if let ConfirmPolicy::Tools(names) = &self.policy
            && !names.contains(&tool.name)
        {
            return Approval::Allow;
        }
        if self.always.contains(&tool.name) {
            return Approval::Allow;
        }
        if self.never.contains(&tool.name) {
            return Approval::Deny;
        }
        let mut args = arguments.to_string();
        if args.len() > 400 {
            let cut = (0..=400)
                .rev()
                .find(|&i| args.is_char_boundary(i))
                .unwrap_or(0);
            args.truncate(cut);
            args.push('…');
        }
        loop {
            print!(
                "Run {} {args}?\n  [y]es, [n]o, [a]lways for {}, ne[v]er for {}: ",
                tool.name, tool.name, tool.name
            );
            let _ = std::io::stdout().flush();
            let mut answer = String::new();
            if std::io::stdin().lock().read_line(&mut answer).unwrap_or(0) == 0 {
                return Approval::Deny;
            }
            match answer.trim().to_lowercase().as_str() {
                "y" | "yes" => return Approval::Allow,
                "n" | "no" => return Approval::Deny,
                "a" | "always" => {
                    self.always.insert(tool.name.clone());
                    return Approval::Allow;
                }
                "v" | "never" => {
                    self.never.insert(tool.name.clone());
                    return Approval::Deny;
                }
                _ => println!("  please answer y, n, a or v"),
            }
        }
    }
}

/// Streams a chat turn to the terminal: analysis dimmed (or hidden), preambles in cyan,
/// the answer plain, tool calls and results on their own lines.
struct ChatPrinter<W: Write + Send> {
    out: W,
    color: bool,
    show_reasoning: bool,
    /// The (channel, recipient) of the message being streamed, if one is open.
    streaming: Option<(Option<String>, Option<String>)>,
}

const DIM: &str = "\x1b[2m";
const CYAN: &str = "\x1b[36m";
const YELLOW: &str = "\x1b[33m";
const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const RESET: &str = "\x1b[0m";

impl<W: Write + Send> ChatPrinter<W> {
    fn new(out: W, color: bool, show_reasoning: bool) -> Self {
        ChatPrinter {
            out,
            color,
            show_reasoning,
            streaming: None,
        }
    }

    fn style(&self, style: &'static str) -> &'static str {
        if self.color { style } else { "" }
    }

    fn end_stream(&mut self) -> std::io::Result<()> {
        if self.streaming.take().is_some() {
            let reset = self.style(RESET);
            writeln!(self.out, "{reset}")?;
        }
        Ok(())
    }

    fn delta(&mut self, delta: &Delta) -> std::io::Result<()> {
        if delta.recipient.is_some() {
            return Ok(()); // tool arguments: shown whole on the tool call line
        }
        let channel = delta.channel.as_deref();
        if channel == Some("analysis") && !self.show_reasoning {
            return Ok(());
        }
        let key = (delta.channel.clone(), delta.recipient.clone());
        if self.streaming.as_ref() != Some(&key) {
            self.end_stream()?;
            let (style, label) = match channel {
                Some("analysis") => (self.style(DIM), "thinking: "),
                Some("commentary") => (self.style(CYAN), ""),
                _ => ("", ""),
            };
            write!(self.out, "{style}{label}")?;
            self.streaming = Some(key);
        }
        write!(self.out, "{}", delta.text)?;
        self.out.flush()
    }
}

impl<W: Write + Send> EventSink for ChatPrinter<W> {
    fn emit(&mut self, event: &Event) -> std::io::Result<()> {
        match event {
            Event::Delta(delta) => return self.delta(delta),
            Event::Message(parsed) if parsed.message.author.role == Role::Assistant => {
                self.end_stream()?
            }
            Event::Completion(_) => self.end_stream()?,
            Event::ToolCall(call) => {
                self.end_stream()?;
                let (yellow, reset) = (self.style(YELLOW), self.style(RESET));
                let mut args = call.arguments.replace('\n', " ");
                if args.chars().count() > 200 {
                    args = args.chars().take(200).collect::<String>() + "…";
                }
                writeln!(self.out, "{yellow}→ {} {args}{reset}", call.name)?;
            }
            Event::ToolResult(result) => {
                let reset = self.style(RESET);
                match result.status {
                    ToolStatus::Ok => {
                        let green = self.style(GREEN);
                        writeln!(
                            self.out,
                            "{green}✓ {} · {} lines · {} ms{reset}",
                            result.name,
                            result.output.lines().count(),
                            result.duration_ms
                        )?;
                    }
                    ToolStatus::Error => {
                        let red = self.style(RED);
                        let first = result.output.lines().next().unwrap_or_default();
                        writeln!(self.out, "{red}✗ {} · {first}{reset}", result.name)?;
                    }
                }
            }
            Event::Notice(notice) => {
                self.end_stream()?;
                let (yellow, reset) = (self.style(YELLOW), self.style(RESET));
                writeln!(self.out, "{yellow}! {}{reset}", notice.message)?;
            }
            Event::Error(error) => {
                self.end_stream()?;
                let (red, reset) = (self.style(RED), self.style(RESET));
                writeln!(self.out, "{red}error: {}{reset}", error.message)?;
            }
            Event::TurnCompleted(done) => {
                self.end_stream()?;
                let (dim, reset) = (self.style(DIM), self.style(RESET));
                if done.outcome == Outcome::Final || done.outcome == Outcome::Cancelled {
                    writeln!(
                        self.out,
                        "{dim}({} steps · {} tokens generated · {} reused){reset}",
                        done.steps, done.usage.completion_tokens, done.usage.reused_tokens
                    )?;
                } else {
                    let red = self.style(RED);
                    writeln!(self.out, "{red}{}{reset}", done.outcome.describe())?;
                }
            }
            _ => {}
        }
        self.out.flush()
    }
}

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

    fn delta(channel: &str, recipient: Option<&str>, text: &str) -> Event {
        Event::Delta(Delta {
            channel: Some(channel.into()),
            recipient: recipient.map(str::to_string),
            text: text.into(),
        })
    }

    fn printed(show_reasoning: bool) -> String {
        let mut printer = ChatPrinter::new(Vec::new(), false, show_reasoning);
        for event in [
            delta("analysis", None, "Let me "),
            delta("analysis", None, "look."),
            delta("commentary", Some("functions.read_file"), "{\"path\":"),
            delta("final", None, "Done."),
        ] {
            printer.emit(&event).unwrap();
        }
        String::from_utf8(printer.out).unwrap()
    }

    #[test]
    fn channels_stream_apart_and_reasoning_can_be_hidden() {
        assert_eq!(printed(true), "thinking: Let me look.\nDone.");
        assert_eq!(printed(false), "Done.");
    }

    #[test]
    fn confirm_policy_parses() {
        assert_eq!(ConfirmPolicy::parse("never"), None);
        assert_eq!(ConfirmPolicy::parse("always"), Some(ConfirmPolicy::Always));
        assert_eq!(
            ConfirmPolicy::parse("write_file, apply_patch"),
            Some(ConfirmPolicy::Tools(
                ["write_file".to_string(), "apply_patch".to_string()].into()
            ))
        );
    }
}
