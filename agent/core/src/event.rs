//! The agent's protocol: every [`Event`] the loop reports, in order.
//!
//! The loop never prints. Front ends (the human printer, the `--json` stream, the REPL)
//! and the transcript writer all consume these events. A transcript is these events as
//! JSON lines, so the types here are also the transcript format (see `transcript.rs`):
//! change them only with a bump of [`TRANSCRIPT_VERSION`].
//!
//! Fields that a hand-written cassette may leave out carry `#[serde(default)]`, so a
//! cassette is just a transcript with only `user_message` and `completion` lines.

use std::collections::BTreeMap;

pub use ossa_model::{SamplerSettings, StopReason};
use ossa_prompts::{Message, Terminator};
use serde::{Deserialize, Serialize};

/// The `format` value in every transcript header.
pub const TRANSCRIPT_FORMAT: &str = "ossa-transcript";
/// The transcript format version written by this build, and the only one it reads.
pub const TRANSCRIPT_VERSION: u32 = 1;

/// One thing that happened in a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// The session's fixed setup; always the first line of a transcript.
    SessionStarted(Box<SessionHeader>),
    /// The user's message that opens a turn.
    UserMessage(UserMessage),
    /// The loop is about to render a prompt and generate (one step of a turn).
    StepStarted(StepStarted),
    /// Streamed text of the message being generated. Not written to transcripts.
    Delta(Delta),
    /// One model completion, exactly as generated.
    Completion(Completion),
    /// One message parsed out of a completion.
    Message(ParsedMessage),
    /// The model called a tool.
    ToolCall(ToolCall),
    /// A tool call finished (with output or an error); `output` is what the model sees.
    ToolResult(ToolResult),
    /// Something went wrong and the loop recovered (or tried to); never silent.
    Notice(Notice),
    /// The model's final answer for the turn.
    FinalAnswer(FinalAnswer),
    /// A turn ended, successfully or not.
    TurnCompleted(TurnCompleted),
    /// An error that ends the turn.
    Error(ErrorEvent),
    /// The user cleared the conversation (`/clear`): later turns start fresh.
    Cleared(Cleared),
    /// The user changed the reasoning effort (`/reasoning`).
    ReasoningChanged(ReasoningChanged),
}

impl Event {
    /// Whether this event belongs in a transcript (streaming deltas do not).
    pub fn is_recorded(&self) -> bool {
        !matches!(self, Event::Delta(_))
    }
}

/// The transcript header: everything needed to reproduce the session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionHeader {
    /// Always [`TRANSCRIPT_FORMAT`].
    pub format: String,
    /// The format version, [`TRANSCRIPT_VERSION`] for files this build writes.
    pub version: u32,
    /// A unique id for the session.
    pub session_id: String,
    /// The ossa version that recorded the session.
    pub ossa_version: String,
    /// When the session started (RFC 3339, UTC).
    pub started_at: String,
    /// The workspace directory the tools were given.
    #[serde(default)]
    pub workspace: Option<String>,
    /// Which model and backend produced the completions.
    pub model: ModelRecord,
    /// Sampler settings, seed included.
    pub sampler: SamplerSettings,
    /// The most tokens one completion may have.
    pub max_tokens: u32,
    /// The most steps per turn.
    #[serde(default)]
    pub max_steps: u32,
    /// The cap on one tool output, in bytes.
    #[serde(default)]
    pub tool_output_limit: usize,
    /// The reasoning effort at the start of the session.
    #[serde(default)]
    pub reasoning: Option<ossa_prompts::ReasoningEffort>,
    /// Which toolset the model was shown (transcripts from before the native toolset
    /// used `functions`).
    #[serde(default = "legacy_toolset")]
    pub toolset: Toolset,
    /// The tools offered to the model.
    pub tools: Vec<ToolRecord>,
    /// The system message (identity, dates, reasoning effort).
    pub system: Message,
    /// The developer message (instructions, AGENTS.md, tool declarations).
    pub developer: Message,
    /// The transcript this session replays, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derived_from: Option<String>,
}

fn legacy_toolset() -> Toolset {
    Toolset::Functions
}

/// Where completions came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    /// The backend: `llama_cpp`, `llama_server`, `open_ai_completions` or `replay`.
    pub backend: String,
    /// The model: a file path, the name a server reports, or the replayed file.
    pub name: String,
    /// The model file, when it is local.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// SHA-256 of the model file, hex (when known at the start of the session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The context size in tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_size: Option<u32>,
}

impl ModelRecord {
    /// The record of what a backend runs.
    pub fn from_info(info: &ossa_model::BackendInfo) -> ModelRecord {
        let backend = match &info.kind {
            ossa_model::BackendKind::Other(name) => name.clone(),
            kind => serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
        };
        ModelRecord {
            backend,
            name: info.model.clone(),
            path: info.model_path.as_ref().map(|p| p.display().to_string()),
            sha256: info.model_sha256.clone(),
            context_size: Some(info.context_size),
        }
    }
}

/// A tool as offered in a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolRecord {
    /// The tool's own name, without the namespace (`open_file`, `read_file`, `python`).
    pub name: String,
    /// The namespace the model calls it in: `functions` (declared in the developer
    /// message), a native namespace declared in the system message (`repo_browser`,
    /// `container`), or empty for a namespace that is itself the tool (`python`).
    #[serde(default = "functions_namespace")]
    pub namespace: String,
    /// The description shown to the model.
    pub description: String,
    /// JSON Schema of the arguments (for [`ArgumentFormat::Json`] tools).
    pub parameters: serde_json::Value,
    /// How the model writes the arguments.
    #[serde(default, skip_serializing_if = "ArgumentFormat::is_json")]
    pub input: ArgumentFormat,
    /// Other names the model uses for parameters (`file_path` for `path`): renamed to the
    /// canonical name before the arguments are checked.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aliases: BTreeMap<String, String>,
    /// The tool's own version string.
    pub version: String,
    /// Hash of the tool's component (hex), so a replay can tell the tool changed.
    pub hash: String,
    /// Whether the tool can write to the workspace (it asks for confirmation in chat).
    pub writes: bool,
    /// Whether the tool runs commands on the host (it asks for confirmation in chat).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub executes: bool,
    /// The tool's sandbox policy, as the sandbox describes it.
    pub policy: serde_json::Value,
}

fn functions_namespace() -> String {
    FUNCTIONS_NAMESPACE.to_string()
}

/// The namespace of the tools declared in the developer message.
pub const FUNCTIONS_NAMESPACE: &str = "functions";

impl ToolRecord {
    /// The recipient the model writes to call the tool: `functions.read_file`,
    /// `repo_browser.open_file`, `python`.
    pub fn recipient(&self) -> String {
        if self.namespace.is_empty() {
            self.name.clone()
        } else {
            format!("{}.{}", self.namespace, self.name)
        }
    }

    /// Whether `ossa chat` asks before running it.
    pub fn needs_approval(&self) -> bool {
        self.writes || self.executes
    }
}

/// How a tool's arguments are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArgumentFormat {
    /// A JSON object matching the tool's schema.
    #[default]
    Json,
    /// Raw text given to the tool as it is: the code of a `python` call.
    Text,
}

impl ArgumentFormat {
    fn is_json(&self) -> bool {
        *self == ArgumentFormat::Json
    }
}

/// Which tools the model is shown, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Toolset {
    /// gpt-oss's own coding tools, declared in the system message as the namespaces
    /// `repo_browser` and `container` (plus `python`), called on the analysis channel with
    /// plain-text replies: the dialect the model was trained on. User tools stay in
    /// `functions`.
    #[default]
    Native,
    /// Every tool as a function in the developer message's `functions` namespace
    /// (`read_file`, `grep`, `list_dir`, `write_file`, `apply_patch`), called with JSON on
    /// the commentary channel: the generic OpenAI function-calling surface.
    Functions,
}

impl Toolset {
    /// The word used on the command line and in transcripts.
    pub fn as_str(self) -> &'static str {
        match self {
            Toolset::Native => "native",
            Toolset::Functions => "functions",
        }
    }
}

impl std::fmt::Display for Toolset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Toolset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "native" => Ok(Toolset::Native),
            "functions" => Ok(Toolset::Functions),
            other => Err(format!(
                "unknown toolset `{other}`: use `native` (gpt-oss's own repo_browser and container tools) or `functions`"
            )),
        }
    }
}

/// The user's message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserMessage {
    /// The text as typed.
    pub text: String,
}

/// A step is about to generate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepStarted {
    /// The turn, from 1.
    pub turn: u32,
    /// The step within the turn, from 1.
    pub step: u32,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
}

/// Text streamed while a message is generated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// The message's channel, once its header is known.
    #[serde(default)]
    pub channel: Option<String>,
    /// The message's recipient (a tool call), once its header is known.
    #[serde(default)]
    pub recipient: Option<String>,
    /// The new text.
    pub text: String,
}

/// A prompt, stored as a change from the previous prompt of the session so that a
/// transcript grows linearly: the first `kept` tokens of the previous prompt, then
/// `appended`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptRecord {
    /// Total tokens in the prompt.
    pub len: usize,
    /// Tokens shared with the previous prompt of the session.
    pub kept: usize,
    /// The tokens after those.
    pub appended: Vec<u32>,
}

impl PromptRecord {
    /// Records `prompt` relative to `previous`.
    pub fn new(previous: &[u32], prompt: &[u32]) -> PromptRecord {
        let kept = common_prefix_len(previous, prompt);
        PromptRecord {
            len: prompt.len(),
            kept,
            appended: prompt[kept..].to_vec(),
        }
    }

    /// Rebuilds the prompt from the previous one; `None` if the record does not fit it.
    pub fn rebuild(&self, previous: &[u32]) -> Option<Vec<u32>> {
        if self.kept > previous.len() || self.kept + self.appended.len() != self.len {
            return None;
        }
        let mut prompt = previous[..self.kept].to_vec();
        prompt.extend_from_slice(&self.appended);
        Some(prompt)
    }
}

/// Length of the longest common prefix of two token sequences.
pub fn common_prefix_len(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Token counts and timings of one completion.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepUsage {
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Prompt tokens whose KV cache entries were reused from the previous call.
    pub reused_tokens: usize,
    /// Prompt tokens that had to be decoded (prefilled).
    pub prefilled_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// Time spent prefilling, in milliseconds.
    pub prefill_ms: f64,
    /// Time spent generating, in milliseconds.
    pub decode_ms: f64,
}

impl StepUsage {
    /// Generation speed in tokens per second (0 when nothing was timed).
    pub fn tokens_per_second(&self) -> f64 {
        if self.decode_ms > 0.0 {
            self.completion_tokens as f64 * 1000.0 / self.decode_ms
        } else {
            0.0
        }
    }
}

/// One model completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// The turn, from 1 (0 in hand-written cassettes).
    #[serde(default)]
    pub turn: u32,
    /// The step within the turn, from 1 (0 in hand-written cassettes).
    #[serde(default)]
    pub step: u32,
    /// The completion as harmony text, special tokens written as their literal strings.
    pub text: String,
    /// The generated token ids (absent in hand-written cassettes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<u32>,
    /// Why generation stopped (implied by the text's last token when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<StopReason>,
    /// The prompt that produced it (absent in hand-written cassettes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<PromptRecord>,
    /// Token counts and timings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<StepUsage>,
}

/// A message parsed out of a completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParsedMessage {
    /// The turn, from 1.
    pub turn: u32,
    /// The step, from 1.
    pub step: u32,
    /// The message in openai-harmony's JSON shape.
    pub message: Message,
    /// How the message ended in the completion.
    pub terminator: Terminator,
}

/// A tool call as the model made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Unique within the session: `t{turn}s{step}`.
    pub call_id: String,
    /// The recipient as written by the model (`functions.read_file`).
    pub recipient: String,
    /// The name of the tool it was dispatched to, without the namespace (the recipient's
    /// last part when no tool matched).
    pub name: String,
    /// The declared recipient the call was dispatched to, when the model wrote it
    /// differently (`functions.apply_patch` → `repo_browser.apply_patch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<String>,
    /// The argument text as generated.
    pub arguments: String,
    /// The channel the call was made on (the result goes back on it).
    #[serde(default)]
    pub channel: Option<String>,
}

/// Whether a tool call produced output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    /// The tool ran and returned output.
    Ok,
    /// The call failed; `kind` says how.
    Error,
}

/// Why a tool call produced no output. One spelling everywhere (snake_case); the
/// spellings of older transcripts (`invalid-args`, `memory-limit`, …) still read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolFailureKind {
    /// The model called a tool that is not on offer.
    UnknownTool,
    /// The arguments were not valid JSON, or did not fit the tool's schema.
    #[serde(alias = "invalid_args", alias = "invalid-args")]
    InvalidArguments,
    /// The user declined the call.
    Declined,
    /// The tool is on offer but the user has not granted what it needs (host exec).
    NotGranted,
    /// A replay with recorded tool results met a call the recording does not have.
    ReplayMismatch,
    /// The tool tried to touch something outside its grants.
    Denied,
    /// The tool reported an ordinary failure.
    Failed,
    /// The call ran past its wall-time limit.
    Timeout,
    /// The tool needed more memory than allowed.
    #[serde(alias = "memory-limit")]
    MemoryLimit,
    /// The tool's output exceeded the limit.
    #[serde(alias = "output-limit")]
    OutputLimit,
    /// The tool wrote more than allowed.
    #[serde(alias = "write-limit")]
    WriteLimit,
    /// The tool recursed too deeply.
    #[serde(alias = "stack-overflow")]
    StackOverflow,
    /// The tool panicked.
    Panic,
    /// The tool exited instead of returning.
    Exit,
    /// The tool crashed with another trap.
    Trap,
    /// The harness could not run the tool.
    Host,
}

impl ToolFailureKind {
    /// The serialized word (`invalid_arguments`, `memory_limit`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ToolFailureKind::UnknownTool => "unknown_tool",
            ToolFailureKind::InvalidArguments => "invalid_arguments",
            ToolFailureKind::Declined => "declined",
            ToolFailureKind::NotGranted => "not_granted",
            ToolFailureKind::ReplayMismatch => "replay_mismatch",
            ToolFailureKind::Denied => "denied",
            ToolFailureKind::Failed => "failed",
            ToolFailureKind::Timeout => "timeout",
            ToolFailureKind::MemoryLimit => "memory_limit",
            ToolFailureKind::OutputLimit => "output_limit",
            ToolFailureKind::WriteLimit => "write_limit",
            ToolFailureKind::StackOverflow => "stack_overflow",
            ToolFailureKind::Panic => "panic",
            ToolFailureKind::Exit => "exit",
            ToolFailureKind::Trap => "trap",
            ToolFailureKind::Host => "host",
        }
    }
}

impl std::fmt::Display for ToolFailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of a tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResult {
    /// The [`ToolCall::call_id`] this answers.
    pub call_id: String,
    /// The tool name.
    pub name: String,
    /// Ok or error.
    pub status: ToolStatus,
    /// For errors: what kind of failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ToolFailureKind>,
    /// Exactly the text the model sees as the tool message.
    pub output: String,
    /// For errors: details for the user's log, not shown to the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Wall time of the call in milliseconds.
    pub duration_ms: u64,
    /// Bytes of output before it was capped, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated_from: Option<usize>,
}

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NoticeKind {
    /// A completion could not be parsed as harmony; the model was told and retried.
    MalformedCompletion,
    /// A completion was cut by the token limit.
    TruncatedCompletion,
    /// A completion ended without a final answer or a tool call.
    NoAction,
    /// The model called a tool that does not exist.
    UnknownTool,
    /// Tool arguments were not valid JSON or did not fit the schema.
    InvalidArguments,
    /// The same call gave the same result several times; a corrective note was added.
    RepeatedCall,
    /// A tool's output was longer than the cap and was cut.
    ToolOutputCapped,
    /// Older tool outputs were shortened to fit the context.
    ContextShortened,
    /// The user declined a tool call.
    ToolDeclined,
    /// The model tried to run a command without the grant to do so.
    ExecNotGranted,
    /// Anything else worth knowing (resume, leftover cassette completions).
    Info,
}

/// A recovered problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// What it is about.
    pub kind: NoticeKind,
    /// A sentence for the user.
    pub message: String,
}

/// The final answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalAnswer {
    /// The turn, from 1.
    pub turn: u32,
    /// The answer text.
    pub text: String,
}

/// How a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The model gave a final answer.
    Final,
    /// The step limit was reached without a final answer.
    StepLimit,
    /// Completions kept hitting the token limit.
    TokenLimit,
    /// The conversation no longer fits the context window.
    ContextFull,
    /// The model kept producing output that could not be used.
    MalformedOutput,
    /// The backend failed (load error, HTTP error, exhausted cassette).
    ModelFailed,
    /// The user cancelled the turn.
    Cancelled,
}

impl Outcome {
    /// Whether the turn ended with a final answer.
    pub fn is_success(self) -> bool {
        self == Outcome::Final
    }

    /// A short description for people.
    pub fn describe(self) -> &'static str {
        match self {
            Outcome::Final => "finished with a final answer",
            Outcome::StepLimit => "stopped: step limit reached without a final answer",
            Outcome::TokenLimit => "stopped: completions kept hitting the token limit",
            Outcome::ContextFull => "stopped: the conversation no longer fits the context window",
            Outcome::MalformedOutput => "stopped: the model kept producing unusable output",
            Outcome::ModelFailed => "stopped: the model backend failed",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// Token totals of a turn.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TurnUsage {
    /// Prompt tokens over all steps.
    pub prompt_tokens: usize,
    /// Prompt tokens reused from the KV cache.
    pub reused_tokens: usize,
    /// Prompt tokens prefilled.
    pub prefilled_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
}

impl TurnUsage {
    /// Adds one step's counts.
    pub fn add(&mut self, step: &StepUsage) {
        self.prompt_tokens += step.prompt_tokens;
        self.reused_tokens += step.reused_tokens;
        self.prefilled_tokens += step.prefilled_tokens;
        self.completion_tokens += step.completion_tokens;
    }
}

/// The end of a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnCompleted {
    /// The turn, from 1.
    pub turn: u32,
    /// How it ended.
    pub outcome: Outcome,
    /// Steps taken.
    pub steps: u32,
    /// Token totals.
    pub usage: TurnUsage,
    /// SHA-256 of the model file, the first time it is known when the header could not
    /// have it yet (large files are hashed in the background).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_sha256: Option<String>,
}

/// The conversation was cleared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cleared {
    /// Turns before the clear.
    pub turns: u32,
}

/// The reasoning effort changed from the next step on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReasoningChanged {
    /// The new effort.
    pub reasoning: ossa_prompts::ReasoningEffort,
}

/// An error that ended a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEvent {
    /// The turn's outcome this error caused.
    pub outcome: Outcome,
    /// What went wrong and what to do about it.
    pub message: String,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn prompt_record_rebuilds_the_prompt() {
        let previous = [1, 2, 3, 4, 5];
        let prompt = [1, 2, 3, 9, 9, 9];
        let record = PromptRecord::new(&previous, &prompt);
        assert_eq!(record.kept, 3);
        assert_eq!(record.appended, vec![9, 9, 9]);
        assert_eq!(record.rebuild(&previous), Some(prompt.to_vec()));
        assert_eq!(record.rebuild(&[1]), None);
    }

    #[test]
    fn a_cassette_completion_needs_only_text() {
        let event: Event = serde_json::from_str(
            r#"{"type":"completion","text":"<|channel|>final<|message|>hi<|return|>"}"#,
        )
        .unwrap();
        let Event::Completion(completion) = event else {
            panic!("not a completion: {event:?}")
        };
        assert_eq!(completion.turn, 0);
        assert!(completion.tokens.is_empty());
        assert_eq!(completion.stop, None);
    }
}
