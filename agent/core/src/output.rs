//! The printers, each an [`EventSink`] over any writer: human progress for `ossa run`
//! and `ossa replay` (stderr), the `--json` event stream (stdout), and the streaming
//! transcript of `ossa chat`.

use std::collections::HashMap;
use std::io::Write;

use ossa_prompts::Role;
use serde_json::{Value, json};

use anstyle::{AnsiColor, Style};

use crate::event::{Delta, Event, Outcome, ToolCall, ToolStatus};
use crate::sink::EventSink;

/// One line per thing that happens, for a person watching `ossa run` on stderr:
/// steps with token counts and speed, analysis (first line), preambles, tool calls and
/// results, notices and errors. The final answer is not printed here (it goes to stdout).
pub struct HumanProgress<W: Write + Send> {
    out: W,
    show_reasoning: bool,
}

impl<W: Write + Send> HumanProgress<W> {
    /// A printer to `out`; `show_reasoning` prints analysis in full instead of one line.
    pub fn new(out: W, show_reasoning: bool) -> Self {
        HumanProgress {
            out,
            show_reasoning,
        }
    }
}

fn one_line(text: &str, limit: usize) -> String {
    let line = text.trim().lines().next().unwrap_or_default();
    let mut short = line[..line.floor_char_boundary(limit)].to_string();
    if short.len() < line.len() || text.trim().lines().nth(1).is_some() {
        short.push('…');
    }
    short
}

impl<W: Write + Send> EventSink for HumanProgress<W> {
    fn emit(&mut self, event: &Event) -> std::io::Result<()> {
        let out = &mut self.out;
        match event {
            Event::SessionStarted(header) => {
                let model = &header.model.name;
                writeln!(
                    out,
                    "ossa {} · {} {model}",
                    header.ossa_version, header.model.backend
                )?;
                if let Some(workspace) = &header.workspace {
                    writeln!(out, "workspace: {workspace}")?;
                }
            }
            Event::StepStarted(step) => {
                writeln!(
                    out,
                    "── step {} · prompt {} tokens",
                    step.step, step.prompt_tokens
                )?;
            }
            Event::Completion(completion) => {
                if let Some(usage) = &completion.usage {
                    let speed = usage.tokens_per_second();
                    let speed = if speed > 0.0 {
                        format!(" · {speed:.1} tok/s")
                    } else {
                        String::new()
                    };
                    writeln!(
                        out,
                        "   generated {} tokens{speed} · prefilled {} · reused {}",
                        usage.completion_tokens, usage.prefilled_tokens, usage.reused_tokens
                    )?;
                }
            }
            Event::Message(parsed) => {
                let message = &parsed.message;
                if message.author.role != Role::Assistant || message.recipient.is_some() {
                    return Ok(());
                }
                match message.channel.as_deref() {
                    Some("analysis") if self.show_reasoning => {
                        writeln!(out, "   [analysis] {}", message.text().trim())?
                    }
                    Some("analysis") => {
                        writeln!(out, "   [analysis] {}", one_line(&message.text(), 100))?
                    }
                    Some("commentary") => {
                        writeln!(out, "   [commentary] {}", message.text().trim())?
                    }
                    _ => {}
                }
            }
            Event::ToolCall(call) => {
                writeln!(out, "   → {} {}", call.name, one_line(&call.arguments, 160))?;
            }
            Event::ToolResult(result) => match result.status {
                ToolStatus::Ok => writeln!(
                    out,
                    "   ✓ {} · {} bytes · {} ms",
                    result.name,
                    result.output.len(),
                    result.duration_ms
                )?,
                ToolStatus::Error => writeln!(
                    out,
                    "   ✗ {} · {} · {}",
                    result.name,
                    result.kind.map_or("error", |kind| kind.as_str()),
                    one_line(&result.output, 160)
                )?,
            },
            Event::Notice(notice) => writeln!(out, "   ! {}", notice.message)?,
            Event::Error(error) => writeln!(out, "error: {}", error.message)?,
            Event::TurnCompleted(done) => writeln!(
                out,
                "── {} after {} steps · {} tokens generated · {} prefilled · {} reused",
                done.outcome.describe(),
                done.steps,
                done.usage.completion_tokens,
                done.usage.prefilled_tokens,
                done.usage.reused_tokens
            )?,
            _ => {}
        }
        out.flush()
    }
}

/// The `--json` stream: one JSON object per line in the spirit of `codex exec --json`:
/// `thread.started`, `turn.started`, `item.started` / `item.completed` (items
/// `reasoning`, `agent_message`, `tool_call`, `error`), `turn.completed` /
/// `turn.failed`, and `error`.
pub struct JsonStream<W: Write + Send> {
    out: W,
    next_item: u64,
    calls: HashMap<String, (String, Value)>,
}

impl<W: Write + Send> JsonStream<W> {
    /// A stream to `out`.
    pub fn new(out: W) -> Self {
        JsonStream {
            out,
            next_item: 0,
            calls: HashMap::new(),
        }
    }

    fn item_id(&mut self) -> String {
        let id = format!("item_{}", self.next_item);
        self.next_item += 1;
        id
    }

    fn line(&mut self, value: Value) -> std::io::Result<()> {
        writeln!(self.out, "{value}")?;
        self.out.flush()
    }
}

impl<W: Write + Send> EventSink for JsonStream<W> {
    fn emit(&mut self, event: &Event) -> std::io::Result<()> {
        match event {
            Event::SessionStarted(header) => {
                self.line(json!({"type": "thread.started", "thread_id": header.session_id}))
            }
            Event::UserMessage(_) => self.line(json!({"type": "turn.started"})),
            Event::Message(parsed) => {
                let message = &parsed.message;
                if message.author.role != Role::Assistant || message.recipient.is_some() {
                    return Ok(());
                }
                let kind = match message.channel.as_deref() {
                    Some("analysis") => "reasoning",
                    _ => "agent_message",
                };
                let id = self.item_id();
                self.line(json!({
                    "type": "item.completed",
                    "item": {"id": id, "type": kind, "channel": message.channel, "text": message.text()},
                }))
            }
            Event::ToolCall(call) => {
                let id = self.item_id();
                let item = json!({
                    "id": id,
                    "type": "tool_call",
                    "tool": call.name,
                    "arguments": call.arguments,
                    "status": "in_progress",
                });
                self.calls.insert(call.call_id.clone(), (id, item.clone()));
                self.line(json!({"type": "item.started", "item": item}))
            }
            Event::ToolResult(result) => {
                let (id, mut item) = self.calls.remove(&result.call_id).unwrap_or_else(|| {
                    (
                        result.call_id.clone(),
                        json!({"type": "tool_call", "tool": result.name}),
                    )
                });
                item["id"] = json!(id);
                item["output"] = json!(result.output);
                item["duration_ms"] = json!(result.duration_ms);
                match result.status {
                    ToolStatus::Ok => item["status"] = json!("completed"),
                    ToolStatus::Error => {
                        item["status"] = json!("failed");
                        item["error_kind"] = json!(result.kind);
                    }
                }
                self.line(json!({"type": "item.completed", "item": item}))
            }
            Event::Notice(notice) => {
                let id = self.item_id();
                self.line(json!({
                    "type": "item.completed",
                    "item": {"id": id, "type": "error", "kind": notice.kind, "message": notice.message},
                }))
            }
            Event::Error(error) => self
                .line(json!({"type": "error", "outcome": error.outcome, "message": error.message})),
            Event::TurnCompleted(done) => {
                let usage = json!({
                    "input_tokens": done.usage.prompt_tokens,
                    "cached_input_tokens": done.usage.reused_tokens,
                    "output_tokens": done.usage.completion_tokens,
                });
                if done.outcome == Outcome::Final {
                    self.line(json!({"type": "turn.completed", "usage": usage}))
                } else {
                    self.line(json!({
                        "type": "turn.failed",
                        "outcome": done.outcome,
                        "error": {"message": done.outcome.describe()},
                        "usage": usage,
                    }))
                }
            }
            _ => Ok(()),
        }
    }
}

/// Streams a chat turn to the terminal: analysis dimmed (or hidden), preambles in cyan,
/// the answer plain, tool calls and results on their own lines.
pub struct ChatPrinter<W: Write + Send> {
    out: W,
    color: bool,
    show_reasoning: bool,
    /// The (channel, recipient) of the message being streamed, if one is open.
    streaming: Option<(Option<String>, Option<String>)>,
}

const DIM: Style = Style::new().dimmed();
const CYAN: Style = AnsiColor::Cyan.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const GREEN: Style = AnsiColor::Green.on_default();
const RED: Style = AnsiColor::Red.on_default();

impl<W: Write + Send> ChatPrinter<W> {
    /// A printer to `out`, with colours when `color`; analysis is shown (dimmed) only with
    /// `show_reasoning`.
    pub fn new(out: W, color: bool, show_reasoning: bool) -> Self {
        ChatPrinter {
            out,
            color,
            show_reasoning,
            streaming: None,
        }
    }

    /// The escape codes that start `style` and reset it, or nothing without colours.
    fn style(&self, style: Style) -> (String, String) {
        if self.color {
            (style.render().to_string(), style.render_reset().to_string())
        } else {
            (String::new(), String::new())
        }
    }

    fn end_stream(&mut self) -> std::io::Result<()> {
        if self.streaming.take().is_some() {
            let (_, reset) = self.style(DIM);
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
                Some("analysis") => (self.style(DIM).0, "thinking: "),
                Some("commentary") => (self.style(CYAN).0, ""),
                _ => (String::new(), ""),
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
                let (yellow, reset) = self.style(YELLOW);
                let mut args = call.arguments.replace('\n', " ");
                if args.len() > 200 {
                    args.truncate(args.floor_char_boundary(200));
                    args.push('…');
                }
                writeln!(self.out, "{yellow}→ {} {args}{reset}", reply_name(call))?;
            }
            Event::ToolResult(result) => match result.status {
                ToolStatus::Ok => {
                    let (green, reset) = self.style(GREEN);
                    writeln!(
                        self.out,
                        "{green}✓ {} · {} lines · {} ms{reset}",
                        result.name,
                        result.output.lines().count(),
                        result.duration_ms
                    )?;
                }
                ToolStatus::Error => {
                    let (red, reset) = self.style(RED);
                    let first = result.output.lines().next().unwrap_or_default();
                    writeln!(self.out, "{red}✗ {} · {first}{reset}", result.name)?;
                }
            },
            Event::Notice(notice) => {
                self.end_stream()?;
                let (yellow, reset) = self.style(YELLOW);
                writeln!(self.out, "{yellow}! {}{reset}", notice.message)?;
            }
            Event::Error(error) => {
                self.end_stream()?;
                let (red, reset) = self.style(RED);
                writeln!(self.out, "{red}error: {}{reset}", error.message)?;
            }
            Event::TurnCompleted(done) => {
                self.end_stream()?;
                let (dim, reset) = self.style(DIM);
                if done.outcome == Outcome::Final || done.outcome == Outcome::Cancelled {
                    writeln!(
                        self.out,
                        "{dim}({} steps · {} tokens generated · {} reused){reset}",
                        done.steps, done.usage.completion_tokens, done.usage.reused_tokens
                    )?;
                } else {
                    let (red, reset) = self.style(RED);
                    writeln!(self.out, "{red}{}{reset}", done.outcome.describe())?;
                }
            }
            _ => {}
        }
        self.out.flush()
    }
}

/// The tool a call went to: as resolved, or as the model wrote it.
fn reply_name(call: &ToolCall) -> &str {
    call.resolved.as_deref().unwrap_or(&call.recipient)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

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
}
