//! Loop tests with a scripted model (a cassette through [`ReplayBackend`] over a byte-level
//! vocabulary) and in-memory tools: every recovery path, the prompt's growth, and
//! resume. End-to-end tests with the real tools live in the `ossa-tests` crate.

use std::path::Path;
use std::sync::{Arc, Mutex};

use ossa_prompts::{Message, Role, SpecialToken};
use serde_json::{Value, json};

use super::*;
use crate::event::{NoticeKind, Outcome, ToolStatus};
use ossa_model::{Backend, BackendInfo, Decoded, GenerateRequest, ModelError, TokenId, Tokenizer};

use crate::event::ToolFailureKind;
use crate::replay::ReplayBackend;
use crate::sink::Collector;
use crate::tools::{BoxFuture, ToolExecutor, ToolInvocation, ToolOutcome};
use crate::transcript::Transcript;

/// One id per byte, plus the harmony specials at their o200k ids.
struct ByteTokenizer;

impl Tokenizer for ByteTokenizer {
    fn special_id(&self, token: SpecialToken) -> TokenId {
        token.o200k_id()
    }
    fn encode_text(&self, text: &str) -> Vec<TokenId> {
        text.bytes().map(u32::from).collect()
    }
    fn decode(&self, id: TokenId) -> Result<Decoded, ModelError> {
        Ok(match SpecialToken::from_o200k_id(id) {
            Some(token) => Decoded::Special(token),
            None => Decoded::Bytes(vec![id as u8]),
        })
    }
    fn vocab_size(&self) -> u32 {
        201_088
    }
}

fn replay(transcript: &Transcript) -> Arc<ReplayBackend> {
    Arc::new(ReplayBackend::new(transcript, Arc::new(ByteTokenizer), false).unwrap())
}

/// `read_file` answers with the path it was given; `write_file` writes (asks first).
struct FakeTools {
    specs: Vec<ToolRecord>,
    calls: Arc<Mutex<Vec<(String, Value)>>>,
}

impl FakeTools {
    fn new() -> FakeTools {
        let tool = |name: &str, writes: bool, schema: Value| ToolRecord {
            name: name.into(),
            namespace: "functions".into(),
            description: format!("The {name} tool."),
            parameters: schema,
            input: crate::event::ArgumentFormat::Json,
            aliases: Default::default(),
            version: "1.0.0".into(),
            hash: "0".into(),
            writes,
            executes: false,
            policy: Value::Null,
        };
        FakeTools {
            specs: vec![
                tool(
                    "read_file",
                    false,
                    json!({"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}),
                ),
                tool(
                    "write_file",
                    true,
                    json!({"type":"object","properties":{"path":{"type":"string"},"content":{"type":"string"}},"required":["path","content"]}),
                ),
            ],
            calls: Arc::default(),
        }
    }
}

impl FakeTools {
    /// The native dialect: `repo_browser.open_file` (with the `file_path` alias),
    /// `repo_browser.apply_patch` (writes) and a user tool `functions.word_count`.
    fn native() -> FakeTools {
        let tool = |namespace: &str, name: &str, writes: bool, schema: Value| ToolRecord {
            name: name.into(),
            namespace: namespace.into(),
            description: format!("The {name} tool."),
            parameters: schema,
            input: crate::event::ArgumentFormat::Json,
            aliases: Default::default(),
            version: "1.0.0".into(),
            hash: "0".into(),
            writes,
            executes: false,
            policy: Value::Null,
        };
        let path_schema = json!({"type":"object","properties":{"path":{"type":"string"}},"required":["path"],"additionalProperties":false});
        let mut open_file = tool("repo_browser", "open_file", false, path_schema.clone());
        open_file
            .aliases
            .insert("file_path".to_string(), "path".to_string());
        FakeTools {
            specs: vec![
                open_file,
                tool(
                    "repo_browser",
                    "apply_patch",
                    true,
                    json!({"type":"object","properties":{"patch":{"type":"string"}},"required":["patch"]}),
                ),
                tool("functions", "word_count", false, path_schema),
            ],
            calls: Arc::default(),
        }
    }
}

impl ToolExecutor for FakeTools {
    fn tools(&self) -> &[ToolRecord] {
        &self.specs
    }
    fn call<'a>(&'a self, call: ToolInvocation<'a>) -> BoxFuture<'a, ToolOutcome> {
        let arguments = call.arguments;
        if let Ok(mut calls) = self.calls.lock() {
            calls.push((call.tool.name.clone(), arguments.clone()));
        }
        let outcome = match arguments["path"].as_str() {
            Some("big.txt") => ToolOutcome::Output("x".repeat(10_000)),
            Some("missing.txt") => ToolOutcome::Failed {
                kind: ToolFailureKind::Failed,
                message: "missing.txt does not exist".into(),
                detail: Some("ENOENT".into()),
            },
            Some(path) => ToolOutcome::Output(format!("contents of {path}")),
            None => ToolOutcome::Output(String::new()),
        };
        Box::pin(async move { outcome })
    }
}

struct Run {
    report: TurnReport,
    events: Vec<Event>,
    agent: Agent,
    calls: Vec<(String, Value)>,
}

impl Run {
    fn notices(&self) -> Vec<NoticeKind> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Notice(n) => Some(n.kind),
                _ => None,
            })
            .collect()
    }

    fn tool_results(&self) -> Vec<&crate::event::ToolResult> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::ToolResult(r) => Some(r),
                _ => None,
            })
            .collect()
    }
}

/// A `Collector` shared with the test, so events can be read after the agent took it.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Collector>>);

impl EventSink for Shared {
    fn emit(&mut self, event: &Event) -> std::io::Result<()> {
        match self.0.lock() {
            Ok(mut collector) => collector.emit(event),
            Err(_) => Ok(()),
        }
    }
}

fn cassette(completions: &[&str]) -> Transcript {
    let mut text = String::from("{\"type\":\"user_message\",\"text\":\"task\"}\n");
    for completion in completions {
        text.push_str(&json!({"type": "completion", "text": completion}).to_string());
        text.push('\n');
    }
    Transcript::parse(Path::new("test.jsonl"), &text).unwrap()
}

/// Parts with the fake tools and no approver.
fn fake_tool_parts(
    session_id: &str,
    backend: Arc<dyn Backend>,
    sink: impl EventSink + 'static,
) -> AgentParts {
    AgentParts {
        session_id: session_id.into(),
        backend,
        tools: Box::new(FakeTools::new()),
        sink: Box::new(sink),
        approver: None,
    }
}

async fn run_with(
    completions: &[&str],
    settings: AgentSettings,
    approver: Option<Box<dyn Approver>>,
) -> Run {
    let transcript = cassette(completions);
    let backend = replay(&transcript);
    let tools = FakeTools::new();
    let calls = Arc::clone(&tools.calls);
    let sink = Shared::default();
    let parts = AgentParts {
        session_id: "test".into(),
        backend,
        tools: Box::new(tools),
        sink: Box::new(sink.clone()),
        approver,
    };
    let mut agent = Agent::replaying(parts, settings, &transcript, None).unwrap();
    let report = agent.run_turn("task", &Cancel::new()).await.unwrap();
    let events = sink.0.lock().unwrap().events.clone();
    let calls = calls.lock().unwrap().clone();
    Run {
        report,
        events,
        agent,
        calls,
    }
}

/// Settings for the `functions` dialect these loop tests are written in.
fn functions_settings() -> AgentSettings {
    AgentSettings {
        toolset: Toolset::Functions,
        ..AgentSettings::default()
    }
}

async fn run(completions: &[&str]) -> Run {
    run_with(completions, functions_settings(), None).await
}

/// A run of the native dialect with [`FakeTools::native`] on the workspace `/work/repo`.
async fn run_native(completions: &[&str]) -> Run {
    let transcript = cassette(completions);
    let tools = FakeTools::native();
    let calls = Arc::clone(&tools.calls);
    let sink = Shared::default();
    let parts = AgentParts {
        session_id: "native".into(),
        backend: replay(&transcript),
        tools: Box::new(tools),
        sink: Box::new(sink.clone()),
        approver: None,
    };
    let workspace = Path::new("/work/repo");
    let mut agent = Agent::replaying(
        parts,
        AgentSettings::default(),
        &transcript,
        Some(workspace),
    )
    .unwrap();
    let report = agent.run_turn("task", &Cancel::new()).await.unwrap();
    let events = sink.0.lock().unwrap().events.clone();
    let calls = calls.lock().unwrap().clone();
    Run {
        report,
        events,
        agent,
        calls,
    }
}

const CALL_README: &str = "<|channel|>commentary to=functions.read_file <|constrain|>json<|message|>{\"path\":\"README.md\"}<|call|>";
const FINAL: &str = "<|channel|>final<|message|>All done.<|return|>";

#[tokio::test]
async fn a_tool_loop_ends_with_the_final_answer() {
    let run = run(&[
        &format!(
            "<|channel|>analysis<|message|>Read it first.<|end|><|start|>assistant{CALL_README}"
        ),
        FINAL,
    ])
    .await;
    assert_eq!(run.report.outcome, Outcome::Final);
    assert_eq!(run.report.answer.as_deref(), Some("All done."));
    assert_eq!(run.report.steps, 2);
    assert_eq!(
        run.calls,
        vec![("read_file".to_string(), json!({"path": "README.md"}))]
    );
    // The tool's answer went back authored by the tool, to the assistant, on the call's channel.
    let messages = run.agent.messages();
    let tool = messages
        .iter()
        .find(|m| m.author.role == Role::Tool)
        .unwrap();
    assert_eq!(tool.author.name.as_deref(), Some("functions.read_file"));
    assert_eq!(tool.recipient.as_deref(), Some("assistant"));
    assert_eq!(tool.channel.as_deref(), Some("commentary"));
    assert_eq!(tool.text(), "contents of README.md");
    // The analysis is kept through the tool loop.
    assert!(
        messages
            .iter()
            .any(|m| m.channel.as_deref() == Some("analysis"))
    );
    assert!(run.notices().is_empty(), "{:?}", run.notices());
}

#[tokio::test]
async fn each_step_only_appends_to_the_prompt() {
    let run = run(&[
        CALL_README,
        CALL_README.replace("README", "LICENSE").as_str(),
        FINAL,
    ])
    .await;
    let prompts: Vec<_> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Completion(c) => c.prompt.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(prompts.len(), 3);
    assert_eq!(prompts[0].kept, 0);
    // Later prompts keep the whole previous prompt: the conversation only grew.
    for pair in prompts.windows(2) {
        assert_eq!(
            pair[1].kept, pair[0].len,
            "prompt prefix changed between steps"
        );
    }
}

#[tokio::test]
async fn an_unknown_tool_gets_an_error_naming_the_available_tools() {
    let run = run(&[
        "<|channel|>commentary to=functions.run_shell <|constrain|>json<|message|>{\"cmd\":\"ls\"}<|call|>",
        FINAL,
    ])
    .await;
    assert_eq!(run.report.outcome, Outcome::Final);
    let result = run.tool_results()[0];
    assert_eq!(result.status, ToolStatus::Error);
    assert_eq!(result.kind, Some(ToolFailureKind::UnknownTool));
    assert!(
        result
            .output
            .contains("functions.read_file, functions.write_file"),
        "{}",
        result.output
    );
    assert!(run.calls.is_empty());
    assert_eq!(run.notices(), vec![NoticeKind::UnknownTool]);
}

#[tokio::test]
async fn bad_json_and_schema_violations_quote_the_schema() {
    let run = run(&[
        "<|channel|>commentary to=functions.read_file <|constrain|>json<|message|>{path: README}<|call|>",
        "<|channel|>commentary to=functions.read_file <|constrain|>json<|message|>{\"file\":\"README\"}<|call|>",
        FINAL,
    ])
    .await;
    let results = run.tool_results();
    assert!(
        results[0].output.contains("not valid JSON"),
        "{}",
        results[0].output
    );
    assert!(
        results[1]
            .output
            .contains("\"path\" is a required property"),
        "{}",
        results[1].output
    );
    for result in &results {
        assert_eq!(result.kind, Some(ToolFailureKind::InvalidArguments));
        assert!(
            result.output.contains("\"required\":[\"path\"]"),
            "schema not quoted: {}",
            result.output
        );
    }
    assert!(run.calls.is_empty());
    assert_eq!(run.report.outcome, Outcome::Final);
}

#[tokio::test]
async fn a_malformed_completion_gets_feedback_and_a_bounded_retry() {
    let run = run(&[
        "<|channel|>analysis<|message|>Just thinking.<|return|>",
        FINAL,
    ])
    .await;
    assert_eq!(run.report.outcome, Outcome::Final);
    assert_eq!(run.notices(), vec![NoticeKind::NoAction]);
    let feedback = run.agent.messages().iter().any(|m| {
        m.author.role == Role::Developer
            && m.text().contains("without a tool call or a final answer")
    });
    assert!(feedback, "the model is told what went wrong");

    let garbage = "<|channel|>analysis<|message|>Hmm.<|return|>";
    let again = super::tests::run(&[garbage, garbage, garbage, FINAL]).await;
    assert_eq!(
        again.report.outcome,
        Outcome::MalformedOutput,
        "three strikes must end the turn"
    );
    assert_eq!(again.report.steps, 3);
    assert!(again.report.answer.is_none());
    assert!(again.events.iter().any(|e| matches!(e, Event::Error(_))));
}

#[tokio::test]
async fn output_cut_by_the_token_limit_is_recorded_as_truncated() {
    let settings = AgentSettings {
        max_tokens: 20,
        max_retries: 0,
        ..functions_settings()
    };
    let run = run_with(
        &["<|channel|>final<|message|>A very long answer that does not fit.<|return|>"],
        settings,
        None,
    )
    .await;
    assert_eq!(run.report.outcome, Outcome::TokenLimit);
    assert!(run.report.answer.is_none(), "a cut answer is not a success");
    assert_eq!(run.notices(), vec![NoticeKind::TruncatedCompletion]);
    let stop = run.events.iter().find_map(|e| match e {
        Event::Completion(c) => c.stop,
        _ => None,
    });
    assert_eq!(stop, Some(ossa_model::StopReason::Length));
}

#[tokio::test]
async fn the_same_call_three_times_gets_a_corrective_note() {
    let run = run(&[CALL_README, CALL_README, CALL_README, FINAL]).await;
    let results = run.tool_results();
    assert!(!results[1].output.contains("[ossa:"));
    assert!(
        results[2]
            .output
            .contains("returned this exact result 3 times"),
        "{}",
        results[2].output
    );
    assert_eq!(run.notices(), vec![NoticeKind::RepeatedCall]);
}

#[tokio::test]
async fn the_step_limit_ends_the_turn_without_success() {
    let settings = AgentSettings {
        max_steps: 2,
        ..functions_settings()
    };
    let run = run_with(&[CALL_README, CALL_README, FINAL], settings, None).await;
    assert_eq!(run.report.outcome, Outcome::StepLimit);
    assert!(run.report.answer.is_none());
}

#[tokio::test]
async fn a_cassette_that_runs_out_is_a_model_failure() {
    let run = run(&[CALL_README]).await;
    assert_eq!(run.report.outcome, Outcome::ModelFailed);
    let error = run.events.iter().find_map(|e| match e {
        Event::Error(e) => Some(e.message.clone()),
        _ => None,
    });
    assert!(error.is_some_and(|m| m.contains("no completion left")));
}

#[tokio::test]
async fn long_outputs_are_capped_with_a_note() {
    let big = "<|channel|>commentary to=functions.read_file <|constrain|>json<|message|>{\"path\":\"big.txt\"}<|call|>";
    let settings = AgentSettings {
        tool_output_limit: 1000,
        ..functions_settings()
    };
    let run = run_with(&[big, FINAL], settings, None).await;
    let result = run.tool_results()[0];
    assert_eq!(result.truncated_from, Some(10_000));
    assert!(result.output.len() < 1300 && result.output.contains("bytes omitted"));
    assert_eq!(run.notices(), vec![NoticeKind::ToolOutputCapped]);
}

#[tokio::test]
async fn tool_failures_reach_the_model_as_errors() {
    let call = "<|channel|>commentary to=functions.read_file <|constrain|>json<|message|>{\"path\":\"missing.txt\"}<|call|>";
    let run = run(&[call, FINAL]).await;
    let result = run.tool_results()[0];
    assert_eq!(result.status, ToolStatus::Error);
    assert_eq!(result.output, "Error: missing.txt does not exist");
    assert_eq!(result.detail.as_deref(), Some("ENOENT"));
}

struct Deny;
impl Approver for Deny {
    fn approve(&mut self, _: &ToolRecord, _: &Value) -> Approval {
        Approval::Deny
    }
}

#[tokio::test]
async fn writing_tools_ask_first() {
    let write = "<|channel|>commentary to=functions.write_file <|constrain|>json<|message|>{\"path\":\"a\",\"content\":\"b\"}<|call|>";
    let run = run_with(
        &[CALL_README, write, FINAL],
        functions_settings(),
        Some(Box::new(Deny)),
    )
    .await;
    assert_eq!(
        run.calls.len(),
        1,
        "read_file runs without asking, write_file was declined"
    );
    assert_eq!(run.tool_results()[1].kind, Some(ToolFailureKind::Declined));
}

#[tokio::test]
async fn a_small_context_shortens_old_outputs_then_fails_clearly() {
    let big = "<|channel|>commentary to=functions.read_file <|constrain|>json<|message|>{\"path\":\"big.txt\"}<|call|>";
    // Byte-level tokens: each 10 000-byte output is ~10 000 tokens.
    let mut transcript = cassette(&[big, big, FINAL]);
    transcript.header = None;
    let settings = AgentSettings {
        max_tokens: 100,
        tool_output_limit: 20_000,
        ..functions_settings()
    };
    let sink = Shared::default();
    let parts = fake_tool_parts(
        "t",
        Arc::new(ContextLimited {
            inner: replay(&transcript),
            context: 16_000,
        }),
        sink.clone(),
    );
    let mut agent = Agent::replaying(parts, settings, &transcript, None).unwrap();
    let report = agent.run_turn("task", &Cancel::new()).await.unwrap();
    let events = sink.0.lock().unwrap().events.clone();
    let shortened = events
        .iter()
        .any(|e| matches!(e, Event::Notice(n) if n.kind == NoticeKind::ContextShortened));
    assert!(shortened, "the first output should have been shortened");
    assert_eq!(report.outcome, Outcome::Final);

    // A single output larger than the window cannot be shortened: a clear error.
    let mut transcript = cassette(&[big, FINAL]);
    transcript.header = None;
    let sink = Shared::default();
    let parts = fake_tool_parts(
        "t",
        Arc::new(ContextLimited {
            inner: replay(&transcript),
            context: 8_000,
        }),
        sink.clone(),
    );
    let mut agent = Agent::replaying(parts, settings_for_context(), &transcript, None).unwrap();
    let report = agent.run_turn("task", &Cancel::new()).await.unwrap();
    assert_eq!(report.outcome, Outcome::ContextFull);
    let events = sink.0.lock().unwrap().events.clone();
    let message = events.iter().find_map(|e| match e {
        Event::Error(e) => Some(e.message.clone()),
        _ => None,
    });
    assert!(message.is_some_and(|m| m.contains("context window")));
}

fn settings_for_context() -> AgentSettings {
    AgentSettings {
        max_tokens: 100,
        tool_output_limit: 20_000,
        ..functions_settings()
    }
}

/// A replay backend with a small context window.
struct ContextLimited {
    inner: Arc<ReplayBackend>,
    context: u32,
}

#[async_trait::async_trait]
impl Backend for ContextLimited {
    fn tokenizer(&self) -> &dyn Tokenizer {
        self.inner.tokenizer()
    }
    fn info(&self) -> BackendInfo {
        BackendInfo {
            context_size: self.context,
            ..self.inner.info()
        }
    }
    async fn generate(
        &self,
        request: &GenerateRequest<'_>,
        on_token: &mut (dyn FnMut(TokenId) + Send),
    ) -> Result<ossa_model::Generation, ModelError> {
        let needed = request.prompt.len() + request.max_new_tokens as usize;
        if needed > self.context as usize {
            return Err(ModelError::PromptTooLong {
                prompt: needed,
                context: self.context,
            });
        }
        self.inner.generate(request, on_token).await
    }
}

#[tokio::test]
async fn a_transcript_resumes_to_the_same_conversation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.jsonl");
    let transcript = cassette(&[CALL_README, FINAL]);
    let writer = crate::transcript::TranscriptWriter::create(&path).unwrap();
    let parts = fake_tool_parts("s1", replay(&transcript), writer);
    let mut agent = Agent::replaying(parts, functions_settings(), &transcript, None).unwrap();
    agent.run_turn("task", &Cancel::new()).await.unwrap();
    let recorded = Transcript::read(&path).unwrap();
    assert!(recorded.header.is_some());

    let parts = fake_tool_parts("ignored", replay(&transcript), Collector::default());
    let resumed = Agent::resume(parts, functions_settings(), &recorded).unwrap();
    assert_eq!(resumed.messages(), agent.messages());
    assert_eq!(resumed.session_id(), "s1");
}

#[tokio::test]
async fn resume_replays_clear_and_reasoning_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.jsonl");
    let transcript = cassette(&[FINAL, FINAL]);
    let parts = fake_tool_parts(
        "s2",
        replay(&transcript),
        crate::transcript::TranscriptWriter::create(&path).unwrap(),
    );
    let mut agent = Agent::replaying(parts, functions_settings(), &transcript, None).unwrap();
    agent.run_turn("first", &Cancel::new()).await.unwrap();
    agent.clear().unwrap();
    agent
        .set_reasoning(ossa_prompts::ReasoningEffort::High)
        .unwrap();
    agent.run_turn("second", &Cancel::new()).await.unwrap();
    assert_eq!(
        agent.messages().len(),
        4,
        "system, developer, second question, answer"
    );

    let recorded = Transcript::read(&path).unwrap();
    let parts = fake_tool_parts("x", replay(&transcript), Collector::default());
    let resumed = Agent::resume(parts, functions_settings(), &recorded).unwrap();
    assert_eq!(resumed.messages(), agent.messages());
    assert_eq!(
        resumed.settings().reasoning,
        ossa_prompts::ReasoningEffort::High
    );
}

/// Writes a few analysis tokens, then waits until the request is cancelled.
struct UntilCancelled;

#[async_trait::async_trait]
impl Backend for UntilCancelled {
    fn tokenizer(&self) -> &dyn Tokenizer {
        &ByteTokenizer
    }
    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: ossa_model::BackendKind::Other("test".into()),
            model: "until-cancelled".into(),
            model_path: None,
            model_sha256: None,
            context_size: 131_072,
        }
    }
    async fn generate(
        &self,
        request: &GenerateRequest<'_>,
        on_token: &mut (dyn FnMut(TokenId) + Send),
    ) -> Result<ossa_model::Generation, ModelError> {
        let mut tokens = vec![SpecialToken::Channel.o200k_id()];
        tokens.extend(b"analysis".iter().map(|&b| u32::from(b)));
        tokens.push(SpecialToken::Message.o200k_id());
        tokens.extend(b"Thinking".iter().map(|&b| u32::from(b)));
        for &id in &tokens {
            on_token(id);
        }
        request.cancel.cancelled().await;
        Ok(ossa_model::Generation {
            tokens,
            stop: ossa_model::StopReason::Cancelled,
            prompt_reused: 0,
            prompt_prefilled: request.prompt.len() as u32,
            timings: ossa_model::Timings::default(),
        })
    }
}

#[tokio::test]
async fn cancelling_stops_generation_and_the_next_turn_runs() {
    let sink = Shared::default();
    let parts = fake_tool_parts("c", Arc::new(UntilCancelled), sink.clone());
    let mut agent = Agent::new(parts, functions_settings(), Path::new("/nonexistent")).unwrap();
    let cancel = Cancel::new();
    let canceller = {
        let cancel = cancel.clone();
        let sink = sink.clone();
        tokio::spawn(async move {
            // Cancel once the model has started streaming.
            loop {
                let streaming = sink
                    .0
                    .lock()
                    .unwrap()
                    .events
                    .iter()
                    .any(|e| matches!(e, Event::Delta(_)));
                if streaming {
                    cancel.cancel();
                    return;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let report = agent.run_turn("task", &cancel).await.unwrap();
    canceller.await.unwrap();
    assert_eq!(report.outcome, Outcome::Cancelled);
    assert!(report.answer.is_none());
    let delta: String = sink
        .0
        .lock()
        .unwrap()
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Delta(d) => Some(d.text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(delta, "Thinking");
    // The cut message is not kept: the conversation ends with the user's message.
    assert_eq!(agent.messages().last().unwrap().author.role, Role::User);
    cancel.reset();
    assert!(!cancel.token().is_cancelled());
}

#[tokio::test]
async fn the_reply_gets_the_room_left_in_a_small_context() {
    // --max-tokens larger than the whole window: each reply gets what is left instead.
    let transcript = cassette(&[CALL_README, FINAL]);
    let parts = fake_tool_parts(
        "small",
        Arc::new(ContextLimited {
            inner: replay(&transcript),
            context: 6_000,
        }),
        Collector::default(),
    );
    let settings = AgentSettings {
        max_tokens: 100_000,
        ..functions_settings()
    };
    let mut agent = Agent::replaying(parts, settings, &transcript, None).unwrap();
    let report = agent.run_turn("task", &Cancel::new()).await.unwrap();
    assert_eq!(report.outcome, Outcome::Final);
}

#[tokio::test]
async fn arguments_in_a_code_fence_are_accepted() {
    let fenced = "<|channel|>commentary to=functions.read_file <|constrain|>json<|message|>```json\n{\"path\":\"README.md\"}\n```<|call|>";
    let run = run(&[fenced, FINAL]).await;
    assert_eq!(
        run.calls,
        vec![("read_file".to_string(), json!({"path": "README.md"}))]
    );
}

#[tokio::test]
async fn a_chat_session_with_clear_and_reasoning_replays_with_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.jsonl");
    let transcript = cassette(&[CALL_README, FINAL, FINAL]);
    let parts = fake_tool_parts(
        "chat",
        replay(&transcript),
        crate::transcript::TranscriptWriter::create(&path).unwrap(),
    );
    let mut agent = Agent::replaying(parts, functions_settings(), &transcript, None).unwrap();
    agent.run_turn("first", &Cancel::new()).await.unwrap();
    agent.clear().unwrap();
    agent
        .set_reasoning(ossa_prompts::ReasoningEffort::Low)
        .unwrap();
    agent.run_turn("second", &Cancel::new()).await.unwrap();

    let recorded = Transcript::read(&path).unwrap();
    let backend = Arc::new(ReplayBackend::new(&recorded, Arc::new(ByteTokenizer), true).unwrap());
    let report = backend.report();
    let parts = AgentParts {
        session_id: "again".into(),
        backend,
        tools: Box::new(crate::tools::RecordedTools::from_transcript(&recorded).unwrap()),
        sink: Box::new(Collector::default()),
        approver: None,
    };
    let mut replayed = Agent::replaying(parts, functions_settings(), &recorded, None).unwrap();
    let reports = replayed
        .replay_turns(&recorded, &Cancel::new())
        .await
        .unwrap();
    assert_eq!(
        reports.iter().map(|r| r.outcome).collect::<Vec<_>>(),
        [Outcome::Final, Outcome::Final]
    );
    let report = report.lock().unwrap().clone();
    assert_eq!(report.divergence, None);
    assert_eq!(
        (report.prompts_checked, report.used, report.total),
        (3, 3, 3)
    );
}

#[tokio::test]
async fn the_native_toolset_is_declared_where_gpt_oss_looks_for_it() {
    let run = run_native(&[FINAL]).await;
    let messages = run.agent.messages();
    let literal = |message: &Message| {
        let mut rendered = ossa_prompts::Rendered::new();
        ossa_prompts::render_message_into(&mut rendered, message, true).unwrap();
        rendered.to_literal_string()
    };
    let system = literal(&messages[0]);
    assert!(system.contains("## repo_browser\n"), "{system}");
    assert!(system.contains("namespace repo_browser {"), "{system}");
    assert!(system.contains("type open_file = "), "{system}");
    assert!(
        !system.contains("word_count"),
        "user tools stay functions: {system}"
    );
    let developer = literal(&messages[1]);
    assert!(developer.contains("`/work/repo`"), "{developer}");
    assert!(developer.contains("namespace functions {"), "{developer}");
    assert!(developer.contains("type word_count = "), "{developer}");
    assert!(!developer.contains("open_file ="), "{developer}");
    assert!(
        developer.contains("cannot run commands"),
        "no container.exec, so the instructions say commands cannot run: {developer}"
    );
    let Some(Event::SessionStarted(header)) = run.events.first() else {
        panic!("no header");
    };
    assert_eq!(header.toolset, Toolset::Native);
}

#[tokio::test]
async fn analysis_channel_code_calls_run_and_the_reply_comes_back_on_analysis() {
    let run = run_native(&[
        "<|channel|>analysis to=repo_browser.open_file code<|message|>{\"file_path\": \"src/a.rs\"}<|call|>",
        // Recipient before the channel, as the model writes after re-rendered turns.
        " to=repo_browser.open_file<|channel|>analysis code<|message|>{\"path\": \"src/b.rs\"}<|call|>",
        FINAL,
    ])
    .await;
    assert_eq!(run.report.outcome, Outcome::Final);
    assert_eq!(
        run.calls,
        vec![
            ("open_file".to_string(), json!({"path": "src/a.rs"})),
            ("open_file".to_string(), json!({"path": "src/b.rs"})),
        ]
    );
    let replies: Vec<&Message> = run
        .agent
        .messages()
        .iter()
        .filter(|m| m.author.role == Role::Tool)
        .collect();
    assert_eq!(replies.len(), 2);
    for reply in replies {
        assert_eq!(reply.author.name.as_deref(), Some("repo_browser.open_file"));
        assert_eq!(reply.recipient.as_deref(), Some("assistant"));
        assert_eq!(reply.channel.as_deref(), Some("analysis"));
    }
    assert!(run.notices().is_empty(), "{:?}", run.notices());
}

#[tokio::test]
async fn trained_names_resolve_to_the_declared_tools() {
    let run = run_native(&[
        "<|channel|>analysis to=functions.apply_patch code<|message|>{\"patch\": \"*** Begin Patch\\n*** End Patch\"}<|call|>",
        "<|channel|>commentary to=word_count <|constrain|>json<|message|>{\"path\": \"a\"}<|call|>",
        FINAL,
    ])
    .await;
    let calls: Vec<(&str, Option<&str>)> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Event::ToolCall(call) => Some((call.recipient.as_str(), call.resolved.as_deref())),
            _ => None,
        })
        .collect();
    assert_eq!(
        calls,
        [
            ("functions.apply_patch", Some("repo_browser.apply_patch")),
            ("word_count", Some("functions.word_count")),
        ]
    );
    assert_eq!(run.calls.len(), 2);
    let authors: Vec<_> = run
        .agent
        .messages()
        .iter()
        .filter(|m| m.author.role == Role::Tool)
        .map(|m| m.author.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        authors,
        ["repo_browser.apply_patch", "functions.word_count"]
    );
}

#[tokio::test]
async fn exec_without_the_grant_says_so_and_names_the_tools() {
    let run = run_native(&[
        "<|channel|>analysis to=container.exec code<|message|>{\"command\": [\"bash\", \"-lc\", \"ls\"]}<|call|>",
        FINAL,
    ])
    .await;
    assert_eq!(run.report.outcome, Outcome::Final);
    assert!(run.calls.is_empty());
    let result = run.tool_results()[0];
    assert_eq!(result.kind, Some(ToolFailureKind::NotGranted));
    assert!(
        result.output.contains("not allowed running commands"),
        "{}",
        result.output
    );
    assert!(
        result.output.contains("repo_browser.open_file"),
        "{}",
        result.output
    );
    assert_eq!(run.notices(), vec![NoticeKind::ExecNotGranted]);
}
