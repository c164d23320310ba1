//! The REPL's slash commands.

use std::path::Path;

use anyhow::Context as _;
use ossa_agent::Agent;
use ossa_prompts::ReasoningEffort;

/// Every slash command, for completion.
pub const COMMANDS: [&str; 6] = ["/help", "/tools", "/reasoning", "/save", "/clear", "/exit"];

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

/// Runs `/COMMAND` (given without the slash); `Ok(true)` means leave.
pub fn run(command: &str, agent: &mut Agent, transcript: &Path) -> anyhow::Result<bool> {
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
                let effect = if tool.executes {
                    " (runs commands)"
                } else if tool.writes {
                    " (writes)"
                } else {
                    ""
                };
                println!("  {} {}{effect}: {summary}", tool.recipient(), tool.version);
            }
        }
        "reasoning" => {
            if rest.is_empty() {
                println!("reasoning: {}", agent.settings().reasoning);
            } else {
                let effort: ReasoningEffort = rest.parse()?;
                agent.set_reasoning(effort)?;
                println!("reasoning: {effort} (from the next message)");
            }
        }
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
