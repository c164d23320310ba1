//! The loop: render → generate → parse → act, until a final answer or a limit.
//!
//! The system message (date fixed for the session) and the developer message
//! (instructions, AGENTS.md, tool declarations) are built once; every step only appends
//! to the conversation, so the backend's prefix reuse hits. Analysis messages stay in
//! the conversation; the renderer drops them per the harmony rule, which only fires
//! once a turn has ended in a final answer.
//!
//! Nothing here prints: everything goes out as [`Event`]s to one [`EventSink`].

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use ossa_model::{Backend, GenerateRequest, SamplerSettings, StopReason, TokenId, encode_rendered};

use ossa_prompts::{
    Author, Conversation, Message, ReasoningEffort, RenderError, RenderOptions, Role, Terminator,
    render_conversation_for_completion,
};
use serde_json::Value;

use crate::arguments::ArgumentChecker;
use crate::budget::{cap_output, shorten_old_output};
use crate::completion::{Action, CompletionParser, RetryReason, classify};
use crate::declare::{developer_message, read_agents_md, system_message};
use crate::dispatch::{self, Target};
use crate::event::{
    Cleared, Completion, ErrorEvent, Event, FinalAnswer, ModelRecord, Notice, NoticeKind, Outcome,
    ParsedMessage, PromptRecord, ReasoningChanged, SessionHeader, StepStarted, StepUsage,
    TRANSCRIPT_FORMAT, TRANSCRIPT_VERSION, ToolCall, ToolFailureKind, ToolRecord, ToolResult,
    ToolStatus, Toolset, TurnCompleted, TurnUsage, UserMessage,
};
use crate::model::{Cancel, decode, literal_text};
use crate::sink::EventSink;
use crate::tools::{ToolExecutor, ToolInvocation, ToolOutcome};
use crate::transcript::Transcript;

/// Limits and knobs of the loop.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSettings {
    /// Reasoning effort written in the system message.
    pub reasoning: ReasoningEffort,
    /// Most steps (completions) per turn.
    pub max_steps: u32,
    /// Most tokens per completion.
    pub max_tokens: u32,
    /// Sampling settings for every completion.
    pub sampler: SamplerSettings,
    /// Cap on one tool output, in bytes.
    pub tool_output_limit: usize,
    /// How many unusable completions in a row are answered with feedback before the
    /// turn stops.
    pub max_retries: u32,
    /// After this many identical calls with identical results, a corrective note is
    /// added to the result.
    pub repeat_threshold: u32,
    /// How the tools are declared to the model (recorded in the transcript header).
    pub toolset: Toolset,
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings {
            reasoning: ReasoningEffort::Medium,
            max_steps: 40,
            max_tokens: 8192,
            sampler: SamplerSettings::default(),
            tool_output_limit: crate::budget::DEFAULT_TOOL_OUTPUT_LIMIT,
            max_retries: 2,
            repeat_threshold: 3,
            toolset: Toolset::default(),
        }
    }
}

/// The user's answer to "run this tool?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    /// Run it.
    Allow,
    /// Do not run it; the model is told the user declined.
    Deny,
}

/// Asks before tools that write or run commands (`ossa chat`).
pub trait Approver: Send {
    /// Whether `tool` may run with `arguments`.
    fn approve(&mut self, tool: &ToolRecord, arguments: &Value) -> Approval;
}

/// What a session is made of: an id, a model, tools, a sink for events and, optionally,
/// someone to approve writing tools.
pub struct AgentParts {
    /// The session id ([`crate::paths::new_session_id`]); transcripts are named by it.
    pub session_id: String,
    /// The model.
    pub backend: Arc<dyn Backend>,
    /// The tools.
    pub tools: Box<dyn ToolExecutor>,
    /// Where events go.
    pub sink: Box<dyn EventSink>,
    /// Asked before each call to a tool that writes or runs commands; `None` runs them
    /// without asking.
    pub approver: Option<Box<dyn Approver>>,
}

/// How a turn ended.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnReport {
    /// The outcome.
    pub outcome: Outcome,
    /// The final answer, when there is one.
    pub answer: Option<String>,
    /// Steps taken.
    pub steps: u32,
    /// Token totals.
    pub usage: TurnUsage,
}

/// The least room for a reply a prompt must leave in the context window, in tokens
/// (fewer when `--max-tokens` is lower).
pub const MIN_REPLY_ROOM: usize = 2048;

/// The agent: one session's conversation and everything it drives.
pub struct Agent {
    backend: Arc<dyn Backend>,
    tools: Box<dyn ToolExecutor>,
    arguments: ArgumentChecker,
    sink: Box<dyn EventSink>,
    approver: Option<Box<dyn Approver>>,
    settings: AgentSettings,
    conversation: Conversation,
    turn: u32,
    previous_prompt: Vec<u32>,
    session_id: String,
    /// Whether a transcript line already carries the model file's hash.
    model_hash_recorded: bool,
}

/// Per-turn bookkeeping.
#[derive(Default)]
struct TurnState {
    steps: u32,
    usage: TurnUsage,
    failures: u32,
    /// The token limit of the last completion.
    reply_limit: u32,
    // (tool, arguments) → (output, times seen in a row with that output)
    repeats: HashMap<(String, String), (String, u32)>,
}

enum Step {
    Continue,
    Done(Outcome, Option<String>),
}

/// What a generation step produced.
enum Generated {
    /// A completion (possibly cancelled), its tokens fed to the parser.
    Completion {
        stop: StopReason,
        parser: Box<CompletionParser>,
    },
    /// The turn cannot go on; the error event was emitted.
    Ended(Outcome),
}

/// A prompt that fits the context, and what was shortened to make it fit.
struct FittedPrompt {
    tokens: Vec<u32>,
    notices: Vec<Notice>,
}

/// Why no prompt can be sent.
#[derive(Debug, thiserror::Error)]
enum PromptError {
    /// The conversation cannot be rendered (a bug, or a corrupt resumed transcript).
    #[error("cannot render the prompt: {0}")]
    Render(#[from] RenderError),
    /// Nothing is left to shorten and the prompt still does not fit.
    #[error(
        "the conversation needs {prompt} prompt tokens plus {reserve} for the reply, more than the {context}-token context window; start a new session (or /clear in chat) or use a larger context"
    )]
    ContextFull {
        prompt: usize,
        reserve: usize,
        context: usize,
    },
}

impl PromptError {
    fn outcome(&self) -> Outcome {
        match self {
            PromptError::Render(_) => Outcome::ModelFailed,
            PromptError::ContextFull { .. } => Outcome::ContextFull,
        }
    }
}

/// A call the loop answers itself, without running the tool.
struct Refusal {
    kind: ToolFailureKind,
    /// What the model is told.
    message: String,
    /// What the user is told (a notice), when it differs from `message`.
    notice: Option<(NoticeKind, String)>,
}

impl Agent {
    /// Starts a new session on `workspace`: builds the system and developer messages and
    /// emits `session_started`.
    pub fn new(parts: AgentParts, settings: AgentSettings, workspace: &Path) -> io::Result<Agent> {
        let (system, developer) = fresh_messages(&parts, &settings, Some(workspace));
        Agent::start(parts, settings, system, developer, Some(workspace), None)
    }

    /// Starts a session that replays `transcript`: its recorded system and developer
    /// messages are used as they are (so prompts can match the recording token for
    /// token); a cassette without a header gets fresh ones, as [`Agent::new`] does.
    pub fn replaying(
        parts: AgentParts,
        settings: AgentSettings,
        transcript: &Transcript,
        workspace: Option<&Path>,
    ) -> io::Result<Agent> {
        let source = Some(transcript.path.display().to_string());
        match &transcript.header {
            Some(header) => {
                let (system, developer) = (header.system.clone(), header.developer.clone());
                let settings = AgentSettings {
                    toolset: header.toolset,
                    ..settings
                };
                Agent::start(parts, settings, system, developer, workspace, source)
            }
            None => {
                let (system, developer) = fresh_messages(&parts, &settings, workspace);
                Agent::start(parts, settings, system, developer, workspace, source)
            }
        }
    }

    /// Continues a recorded session: the conversation is rebuilt from the transcript's
    /// events and new events follow them. Emits no new header; the sink is expected to
    /// append to the same transcript.
    pub fn resume(
        parts: AgentParts,
        settings: AgentSettings,
        transcript: &Transcript,
    ) -> anyhow::Result<Agent> {
        let Some(header) = &transcript.header else {
            anyhow::bail!(
                "{} has no session header: only transcripts recorded by ossa can be resumed",
                transcript.path.display()
            );
        };
        let mut messages = vec![header.system.clone(), header.developer.clone()];
        let mut turn = 0;
        // call id → (the tool's author name, the call's channel)
        let mut calls: HashMap<String, (String, Option<String>)> = HashMap::new();
        for event in &transcript.events {
            match event {
                Event::UserMessage(user) => {
                    turn += 1;
                    messages.push(Message::from_role_and_content(
                        Role::User,
                        user.text.as_str(),
                    ));
                }
                Event::Message(parsed) => messages.push(parsed.message.clone()),
                Event::Cleared(_) => messages.truncate(2),
                Event::ReasoningChanged(change) => set_effort(&mut messages, change.reasoning),
                Event::ToolCall(call) => {
                    calls.insert(
                        call.call_id.clone(),
                        (reply_author(call), call.channel.clone()),
                    );
                }
                Event::ToolResult(result) => {
                    let (author, channel) = calls
                        .get(&result.call_id)
                        .cloned()
                        .unwrap_or_else(|| (format!("functions.{}", result.name), None));
                    messages.push(tool_message(&author, channel.as_deref(), &result.output));
                }
                _ => {}
            }
        }
        // The effort in force is the one in the (possibly changed) system message.
        let reasoning = messages
            .first()
            .into_iter()
            .flat_map(|m| &m.content)
            .find_map(|c| match c {
                ossa_prompts::Content::SystemContent(system) => system.reasoning_effort,
                _ => None,
            });
        let settings = AgentSettings {
            reasoning: reasoning.unwrap_or(settings.reasoning),
            toolset: header.toolset,
            ..settings
        };
        let mut agent = Agent::assemble(parts, settings, messages);
        agent.session_id = header.session_id.clone();
        agent.turn = turn;
        agent.emit(&Event::Notice(Notice {
            kind: NoticeKind::Info,
            message: format!(
                "resumed session {} from {} ({turn} earlier turns)",
                header.session_id,
                transcript.path.display()
            ),
        }))?;
        Ok(agent)
    }

    fn start(
        parts: AgentParts,
        settings: AgentSettings,
        system: Message,
        developer: Message,
        workspace: Option<&Path>,
        derived_from: Option<String>,
    ) -> io::Result<Agent> {
        let session_id = parts.session_id.clone();
        let header = SessionHeader {
            format: TRANSCRIPT_FORMAT.into(),
            version: TRANSCRIPT_VERSION,
            session_id: session_id.clone(),
            ossa_version: env!("CARGO_PKG_VERSION").into(),
            started_at: crate::time::rfc3339_now(),
            workspace: workspace.map(|w| w.display().to_string()),
            model: ModelRecord::from_info(&parts.backend.info()),
            sampler: settings.sampler,
            max_tokens: settings.max_tokens,
            max_steps: settings.max_steps,
            tool_output_limit: settings.tool_output_limit,
            reasoning: Some(settings.reasoning),
            toolset: settings.toolset,
            tools: parts.tools.tools().to_vec(),
            system: system.clone(),
            developer: developer.clone(),
            derived_from,
        };
        let mut agent = Agent::assemble(parts, settings, vec![system, developer]);
        agent.model_hash_recorded = header.model.sha256.is_some() || header.model.path.is_none();
        agent.emit(&Event::SessionStarted(Box::new(header)))?;
        Ok(agent)
    }

    fn assemble(parts: AgentParts, settings: AgentSettings, messages: Vec<Message>) -> Agent {
        Agent {
            session_id: parts.session_id,
            backend: parts.backend,
            arguments: ArgumentChecker::new(parts.tools.tools()),
            tools: parts.tools,
            sink: parts.sink,
            approver: parts.approver,
            settings,
            conversation: Conversation::from_messages(messages),
            turn: 0,
            previous_prompt: Vec::new(),
            model_hash_recorded: false,
        }
    }

    /// The session id.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The conversation so far (system and developer messages first).
    pub fn messages(&self) -> &[Message] {
        &self.conversation.messages
    }

    /// The tools on offer.
    pub fn tools(&self) -> &[ToolRecord] {
        self.tools.tools()
    }

    /// The settings in force.
    pub fn settings(&self) -> &AgentSettings {
        &self.settings
    }

    /// The model's description (for `/status`-like displays).
    pub fn model_record(&self) -> ModelRecord {
        ModelRecord::from_info(&self.backend.info())
    }

    /// Changes the reasoning effort from the next step on (rewrites the system message,
    /// so the next prompt is prefilled from the start).
    pub fn set_reasoning(&mut self, reasoning: ReasoningEffort) -> io::Result<()> {
        self.settings.reasoning = reasoning;
        set_effort(&mut self.conversation.messages, reasoning);
        self.emit(&Event::ReasoningChanged(ReasoningChanged { reasoning }))
    }

    /// Forgets every turn, keeping the system and developer messages, and resets the
    /// tools' session state (a stateful interpreter starts afresh).
    pub fn clear(&mut self) -> io::Result<()> {
        self.conversation.messages.truncate(2);
        self.tools.reset();
        self.emit(&Event::Cleared(Cleared { turns: self.turn }))
    }

    /// Runs the user turns of a transcript or cassette in order, applying its recorded
    /// `/clear` and `/reasoning` changes between them, as `ossa replay` does. Stops after
    /// a turn whose model failed (a replay that diverged or ran out of completions).
    pub async fn replay_turns(
        &mut self,
        transcript: &Transcript,
        cancel: &Cancel,
    ) -> io::Result<Vec<TurnReport>> {
        let mut reports = Vec::new();
        for event in &transcript.events {
            match event {
                Event::UserMessage(user) => {
                    let report = self.run_turn(&user.text, cancel).await?;
                    let failed = report.outcome == Outcome::ModelFailed;
                    reports.push(report);
                    if failed {
                        break;
                    }
                }
                Event::Cleared(_) => self.clear()?,
                Event::ReasoningChanged(change) => self.set_reasoning(change.reasoning)?,
                _ => {}
            }
        }
        Ok(reports)
    }

    /// Runs one user turn to its end. `Err` only when events cannot be delivered (the
    /// transcript cannot be written, stdout is closed); every other failure is an
    /// outcome in the report.
    pub async fn run_turn(&mut self, text: &str, cancel: &Cancel) -> io::Result<TurnReport> {
        self.turn += 1;
        let turn = self.turn;
        self.emit(&Event::UserMessage(UserMessage {
            text: text.to_string(),
        }))?;
        self.conversation
            .messages
            .push(Message::from_role_and_content(Role::User, text));
        let mut state = TurnState::default();
        let (outcome, answer) = loop {
            if cancel.is_cancelled() {
                break (Outcome::Cancelled, None);
            }
            if state.steps >= self.settings.max_steps {
                let message = format!(
                    "no final answer after {} steps (the --max-steps limit); the task may need more steps or a simpler request",
                    self.settings.max_steps
                );
                self.emit(&Event::Error(ErrorEvent {
                    outcome: Outcome::StepLimit,
                    message,
                }))?;
                break (Outcome::StepLimit, None);
            }
            state.steps += 1;
            match self.step(turn, &mut state, cancel).await? {
                Step::Continue => {}
                Step::Done(outcome, answer) => break (outcome, answer),
            }
        };
        let model_sha256 = if self.model_hash_recorded {
            None
        } else {
            self.backend.info().model_sha256
        };
        self.model_hash_recorded |= model_sha256.is_some();
        self.emit(&Event::TurnCompleted(TurnCompleted {
            turn,
            outcome,
            steps: state.steps,
            usage: state.usage.clone(),
            model_sha256,
        }))?;
        Ok(TurnReport {
            outcome,
            answer,
            steps: state.steps,
            usage: state.usage,
        })
    }

    /// One step: a completion, then what it asks for.
    async fn step(
        &mut self,
        turn: u32,
        state: &mut TurnState,
        cancel: &Cancel,
    ) -> io::Result<Step> {
        match self.generate(turn, state, cancel).await? {
            Generated::Ended(outcome) => Ok(Step::Done(outcome, None)),
            Generated::Completion {
                stop: StopReason::Cancelled,
                ..
            } => Ok(Step::Done(Outcome::Cancelled, None)),
            Generated::Completion { stop, parser } => {
                self.act(turn, state, classify(parser.finish(stop), stop))
                    .await
            }
        }
    }

    /// Renders the prompt and generates one completion, streaming deltas and recording
    /// it.
    async fn generate(
        &mut self,
        turn: u32,
        state: &mut TurnState,
        cancel: &Cancel,
    ) -> io::Result<Generated> {
        let step = state.steps;
        let prompt = match self.fit_prompt() {
            Ok(fitted) => {
                for notice in fitted.notices {
                    self.emit(&Event::Notice(notice))?;
                }
                fitted.tokens
            }
            Err(err) => {
                let outcome = err.outcome();
                self.emit(&Event::Error(ErrorEvent {
                    outcome,
                    message: err.to_string(),
                }))?;
                return Ok(Generated::Ended(outcome));
            }
        };
        self.emit(&Event::StepStarted(StepStarted {
            turn,
            step,
            prompt_tokens: prompt.len(),
        }))?;
        let record = PromptRecord::new(&self.previous_prompt, &prompt);

        // The reply may use whatever room the context has left, up to --max-tokens.
        let room = (self.backend.info().context_size as usize).saturating_sub(prompt.len());
        let reply_limit = self
            .settings
            .max_tokens
            .min(u32::try_from(room).unwrap_or(u32::MAX));
        state.reply_limit = reply_limit;
        let mut parser = CompletionParser::new();
        let generated = {
            let Agent {
                backend,
                sink,
                settings,
                ..
            } = self;
            let tokenizer = backend.tokenizer();
            let mut sink_error = None;
            let mut on_token = |id: TokenId| {
                if let Some(delta) = parser.push(&decode(tokenizer, id))
                    && sink_error.is_none()
                    && let Err(err) = sink.emit(&Event::Delta(delta))
                {
                    sink_error = Some(err);
                }
            };
            let request = GenerateRequest {
                prompt: &prompt,
                sampler: settings.sampler,
                max_new_tokens: reply_limit,
                cancel: cancel.token(),
            };
            let result = backend.generate(&request, &mut on_token).await;
            if let Some(err) = sink_error {
                return Err(err);
            }
            result
        };
        let prompt_tokens = prompt.len();
        let generation = match generated {
            Ok(generation) => generation,
            Err(err) => {
                self.emit(&Event::Error(ErrorEvent {
                    outcome: Outcome::ModelFailed,
                    message: format!("the model failed: {err}"),
                }))?;
                return Ok(Generated::Ended(Outcome::ModelFailed));
            }
        };
        let usage = StepUsage {
            prompt_tokens,
            reused_tokens: generation.prompt_reused as usize,
            prefilled_tokens: generation.prompt_prefilled as usize,
            completion_tokens: generation.tokens.len(),
            prefill_ms: generation.timings.prefill.as_secs_f64() * 1000.0,
            decode_ms: generation.timings.decode.as_secs_f64() * 1000.0,
        };
        state.usage.add(&usage);
        // Prompts are recorded relative to the last recorded one, so only now.
        self.previous_prompt = prompt;
        let text = literal_text(self.backend.tokenizer(), &generation.tokens);
        self.emit(&Event::Completion(Completion {
            turn,
            step,
            text,
            tokens: generation.tokens,
            stop: Some(generation.stop),
            prompt: Some(record),
            usage: Some(usage),
        }))?;
        Ok(Generated::Completion {
            stop: generation.stop,
            parser: Box::new(parser),
        })
    }

    /// Does what a parsed completion asks for: end the turn with the answer, call a
    /// tool, or tell the model what went wrong.
    async fn act(&mut self, turn: u32, state: &mut TurnState, action: Action) -> io::Result<Step> {
        let step = state.steps;
        match action {
            Action::Final {
                messages,
                answer,
                problems,
            } => {
                state.failures = 0;
                self.report_recovered(problems)?;
                self.keep(turn, step, messages)?;
                self.emit(&Event::FinalAnswer(FinalAnswer {
                    turn,
                    text: answer.clone(),
                }))?;
                Ok(Step::Done(Outcome::Final, Some(answer)))
            }
            Action::Call {
                messages,
                call,
                problems,
            } => {
                state.failures = 0;
                self.report_recovered(problems)?;
                self.keep(turn, step, messages)?;
                self.call_tool(turn, step, state, &call).await?;
                Ok(Step::Continue)
            }
            Action::Retry { messages, reason } => {
                self.keep(turn, step, messages)?;
                self.retry(state, reason)
            }
        }
    }

    /// Renders and tokenizes the prompt; shortens old tool outputs while it does not fit.
    fn fit_prompt(&mut self) -> Result<FittedPrompt, PromptError> {
        let mut notices = Vec::new();
        loop {
            let rendered = render_conversation_for_completion(
                &self.conversation,
                Role::Assistant,
                &RenderOptions::default(),
            )?;
            let tokens = encode_rendered(self.backend.tokenizer(), &rendered);
            let context = self.backend.info().context_size as usize;
            let reserve = self.reply_reserve();
            if tokens.len() + reserve <= context {
                return Ok(FittedPrompt { tokens, notices });
            }
            let Some(index) = self.oldest_shortenable_output() else {
                return Err(PromptError::ContextFull {
                    prompt: tokens.len(),
                    reserve,
                    context,
                });
            };
            let message = &mut self.conversation.messages[index];
            let before = message.text().len();
            if let Some(short) = shorten_old_output(&message.text()) {
                message.content = vec![short.into()];
            }
            notices.push(Notice {
                kind: NoticeKind::ContextShortened,
                message: format!(
                    "shortened an older tool output ({before} bytes) to fit the {context}-token context"
                ),
            });
        }
    }

    /// Room a prompt must leave for the reply: `--max-tokens`, but at most
    /// [`MIN_REPLY_ROOM`] so a long conversation can still use the context it has.
    fn reply_reserve(&self) -> usize {
        (self.settings.max_tokens as usize).min(MIN_REPLY_ROOM)
    }

    /// The oldest tool message that can still be shortened, never the latest one (the
    /// model has not answered it yet).
    fn oldest_shortenable_output(&self) -> Option<usize> {
        let messages = &self.conversation.messages;
        let last_tool = messages.iter().rposition(|m| m.author.role == Role::Tool)?;
        messages[..last_tool]
            .iter()
            .position(|m| m.author.role == Role::Tool && shorten_old_output(&m.text()).is_some())
    }

    /// Parse problems the loop worked around are reported, never silent.
    fn report_recovered(&mut self, problems: Vec<String>) -> io::Result<()> {
        if problems.is_empty() {
            return Ok(());
        }
        self.emit(&Event::Notice(Notice {
            kind: NoticeKind::MalformedCompletion,
            message: format!("recovered from malformed output: {}", problems.join("; ")),
        }))
    }

    fn keep(
        &mut self,
        turn: u32,
        step: u32,
        messages: Vec<(Message, Terminator)>,
    ) -> io::Result<()> {
        for (message, terminator) in messages {
            self.emit(&Event::Message(ParsedMessage {
                turn,
                step,
                message: message.clone(),
                terminator,
            }))?;
            self.conversation.messages.push(message);
        }
        Ok(())
    }

    fn retry(&mut self, state: &mut TurnState, reason: RetryReason) -> io::Result<Step> {
        state.failures += 1;
        // How to call a tool, in the dialect the tools were declared in.
        let how_to_call = match self.settings.toolset {
            Toolset::Functions => "call tools on the commentary channel",
            Toolset::Native => "call a tool by writing to=TOOL in the header",
        };
        let (kind, outcome, notice, feedback) = match reason {
            RetryReason::Malformed(detail) => (
                NoticeKind::MalformedCompletion,
                Outcome::MalformedOutput,
                format!("the completion is not valid harmony: {detail}"),
                format!(
                    "Your last reply could not be parsed ({detail}). Write each message as <|channel|>CHANNEL<|message|>TEXT, {how_to_call}, and put your answer on the final channel."
                ),
            ),
            RetryReason::Truncated => (
                NoticeKind::TruncatedCompletion,
                Outcome::TokenLimit,
                format!(
                    "the completion was cut at the {}-token limit (recorded as truncated)",
                    state.reply_limit
                ),
                format!(
                    "Your last reply was cut off at the limit of {} tokens and was discarded. Think more briefly, and split large edits into several smaller tool calls.",
                    state.reply_limit
                ),
            ),
            RetryReason::NoAction(detail) => (
                NoticeKind::NoAction,
                Outcome::MalformedOutput,
                format!("the completion ended without a tool call or a final answer: {detail}"),
                format!(
                    "Your last reply ended without a tool call or a final answer ({detail}). Call a tool, or give your answer on the final channel."
                ),
            ),
        };
        let exhausted = state.failures > self.settings.max_retries;
        let notice = if exhausted {
            format!("{notice}; giving up after {} attempts", state.failures)
        } else {
            format!("{notice}; the model was told and will retry")
        };
        self.emit(&Event::Notice(Notice {
            kind,
            message: notice.clone(),
        }))?;
        if exhausted {
            self.emit(&Event::Error(ErrorEvent {
                outcome,
                message: notice,
            }))?;
            return Ok(Step::Done(outcome, None));
        }
        let message = Message::from_role_and_content(Role::Developer, feedback);
        self.emit(&Event::Message(ParsedMessage {
            turn: self.turn,
            step: state.steps,
            message: message.clone(),
            terminator: Terminator::End,
        }))?;
        self.conversation.messages.push(message);
        Ok(Step::Continue)
    }

    /// One tool call: find the tool, check the arguments, ask the user when the tool
    /// writes or runs commands, run it, and give its output (capped, with a note when
    /// the same call keeps returning the same thing) back to the model.
    async fn call_tool(
        &mut self,
        turn: u32,
        step: u32,
        state: &mut TurnState,
        call: &Message,
    ) -> io::Result<()> {
        let recipient = call.recipient.clone().unwrap_or_default();
        let arguments = call.text();
        let call_id = format!("t{turn}s{step}");
        let target = dispatch::resolve(&recipient, self.tools.tools());
        let tool = match &target {
            Target::Tool { tool, .. } => Some(tool.as_ref().clone()),
            _ => None,
        };
        let record = ToolCall {
            call_id: call_id.clone(),
            recipient: recipient.clone(),
            name: tool.as_ref().map_or_else(
                || bare_name(dispatch::clean_recipient(&recipient)).to_string(),
                |tool| tool.name.clone(),
            ),
            resolved: match &target {
                Target::Tool { tool, exact: false } => Some(tool.recipient()),
                _ => None,
            },
            arguments: arguments.clone(),
            channel: call.channel.clone(),
        };
        self.emit(&Event::ToolCall(record.clone()))?;

        let mut started = Instant::now();
        let outcome = match self.authorise(&target, &arguments) {
            Err(refusal) => {
                let (kind, notice) = refusal
                    .notice
                    .unwrap_or_else(|| (notice_kind(refusal.kind), refusal.message.clone()));
                self.emit(&Event::Notice(Notice {
                    kind,
                    message: notice,
                }))?;
                ToolOutcome::failed(refusal.kind, refusal.message)
            }
            Ok((tool, args)) => {
                // Time the tool, not the user's answer.
                started = Instant::now();
                let invocation = ToolInvocation {
                    call_id: &call_id,
                    tool: &tool,
                    arguments: &args,
                };
                match self.tools.call(invocation).await {
                    ToolOutcome::Failed {
                        kind,
                        message,
                        detail,
                    } => ToolOutcome::Failed {
                        kind,
                        message: format!("Error: {message}"),
                        detail,
                    },
                    output => output,
                }
            }
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        let (status, kind, output, detail) = match outcome {
            ToolOutcome::Output(output) => (ToolStatus::Ok, None, output, None),
            ToolOutcome::Failed {
                kind,
                message,
                detail,
            } => (ToolStatus::Error, Some(kind), message, detail),
        };
        let (output, truncated_from) = self.shape_output(state, &record, &output)?;
        self.emit(&Event::ToolResult(ToolResult {
            call_id,
            name: record.name.clone(),
            status,
            kind,
            output: output.clone(),
            detail,
            duration_ms,
            truncated_from,
        }))?;
        self.conversation.messages.push(tool_message(
            &reply_author(&record),
            call.channel.as_deref(),
            &output,
        ));
        Ok(())
    }

    /// Whether the call may run: a tool on offer, arguments that fit it, and the user's
    /// consent for a tool that writes or runs commands. `Ok` carries the tool and the
    /// arguments it receives.
    fn authorise(
        &mut self,
        target: &Target,
        arguments: &str,
    ) -> Result<(ToolRecord, Value), Refusal> {
        let tools = self.tools.tools();
        let tool = match target {
            Target::Tool { tool, .. } => tool,
            Target::ExecNotGranted => {
                return Err(Refusal {
                    kind: ToolFailureKind::NotGranted,
                    message: format!(
                        "Error: container.exec is not available: the user has not allowed running commands in this session. Use the tools you have ({}), or say in your answer what the user should run.",
                        dispatch::available(tools)
                    ),
                    notice: Some((
                        NoticeKind::ExecNotGranted,
                        "the model tried to run a command, but running commands was not granted for this session".to_string(),
                    )),
                });
            }
            Target::Unknown => {
                return Err(Refusal {
                    kind: ToolFailureKind::UnknownTool,
                    message: format!(
                        "Error: there is no such tool. The available tools are: {}. Call one of them, or give your final answer.",
                        dispatch::available(tools)
                    ),
                    notice: None,
                });
            }
        };
        let args = self
            .arguments
            .prepare(arguments, tool)
            .map_err(|err| Refusal {
                kind: ToolFailureKind::InvalidArguments,
                message: format!(
                    "Error: {err} for `{}`. The parameters are:\n{}",
                    tool.recipient(),
                    serde_json::to_string(&tool.parameters).unwrap_or_default()
                ),
                notice: None,
            })?;
        let tool = ToolRecord::clone(tool);
        if let Some(approver) = self.approver.as_mut()
            && tool.needs_approval()
            && approver.approve(&tool, &args) == Approval::Deny
        {
            return Err(Refusal {
                kind: ToolFailureKind::Declined,
                message: format!(
                    "Error: the user declined this call to `{}`. Do not retry it; ask the user or try another way.",
                    tool.recipient()
                ),
                notice: Some((
                    NoticeKind::ToolDeclined,
                    format!("declined the call to `{}`", tool.recipient()),
                )),
            });
        }
        Ok((tool, args))
    }

    /// The output as the model sees it: capped, and with a corrective note when the same
    /// call has returned the same output several times in a row.
    fn shape_output(
        &mut self,
        state: &mut TurnState,
        call: &ToolCall,
        output: &str,
    ) -> io::Result<(String, Option<usize>)> {
        let (mut output, truncated_from) = cap_output(output, self.settings.tool_output_limit);
        if let Some(original) = truncated_from {
            self.emit(&Event::Notice(Notice {
                kind: NoticeKind::ToolOutputCapped,
                message: format!(
                    "`{}` returned {original} bytes; the model sees the first and last parts (cap: {} bytes)",
                    call.name, self.settings.tool_output_limit
                ),
            }))?;
        }
        let key = (call.name.clone(), canonical_arguments(&call.arguments));
        let entry = state
            .repeats
            .entry(key)
            .or_insert_with(|| (output.clone(), 0));
        if entry.0 == output {
            entry.1 += 1;
        } else {
            *entry = (output.clone(), 1);
        }
        let repeats = entry.1;
        if repeats >= self.settings.repeat_threshold {
            output.push_str(&format!(
                "\n\n[ossa: this exact call has now returned this exact result {repeats} times. Repeating it will not change anything: use the result, try a different call, or give your final answer.]"
            ));
            self.emit(&Event::Notice(Notice {
                kind: NoticeKind::RepeatedCall,
                message: format!(
                    "`{}` was called {repeats} times with the same arguments and result; a corrective note was added",
                    call.name
                ),
            }))?;
        }
        Ok((output, truncated_from))
    }

    fn emit(&mut self, event: &Event) -> io::Result<()> {
        self.sink.emit(event)
    }
}

/// The system and developer messages of a new session with these tools and settings.
fn fresh_messages(
    parts: &AgentParts,
    settings: &AgentSettings,
    workspace: Option<&Path>,
) -> (Message, Message) {
    let tools = parts.tools.tools();
    let system = system_message(settings.reasoning, &crate::time::today(), tools);
    let agents_md = workspace.and_then(read_agents_md);
    let developer = developer_message(settings.toolset, tools, workspace, agents_md.as_deref());
    (system, developer)
}

/// Sets the reasoning effort in the system message (the first message).
fn set_effort(messages: &mut [Message], reasoning: ReasoningEffort) {
    if let Some(first) = messages.first_mut() {
        for content in &mut first.content {
            if let ossa_prompts::Content::SystemContent(system) = content {
                system.reasoning_effort = Some(reasoning);
            }
        }
    }
}

fn notice_kind(kind: ToolFailureKind) -> NoticeKind {
    match kind {
        ToolFailureKind::UnknownTool => NoticeKind::UnknownTool,
        _ => NoticeKind::InvalidArguments,
    }
}

/// The last dot-separated part of a recipient (`open_file` of `repo_browser.open_file`).
fn bare_name(recipient: &str) -> &str {
    recipient.rsplit('.').next().unwrap_or(recipient)
}

/// Who the tool's reply is from: the tool it was dispatched to, or the recipient as
/// written (without junk) when no tool matched.
fn reply_author(call: &ToolCall) -> String {
    match &call.resolved {
        Some(resolved) => resolved.clone(),
        None => dispatch::clean_recipient(&call.recipient).to_string(),
    }
}

/// A tool's answer: authored by the tool, addressed to the assistant, on the call's
/// channel.
fn tool_message(author: &str, channel: Option<&str>, output: &str) -> Message {
    let mut message = Message::from_author_and_content(Author::new(Role::Tool, author), output)
        .with_recipient("assistant");
    message.channel = channel.map(str::to_string);
    message
}

/// Arguments compared for repetition: parsed and re-serialized when they are JSON, so
/// spacing does not hide a repeat.
fn canonical_arguments(arguments: &str) -> String {
    serde_json::from_str::<Value>(arguments)
        .map(|value| value.to_string())
        .unwrap_or_else(|_| arguments.trim().to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
#[path = "agent_tests.rs"]
mod tests;
