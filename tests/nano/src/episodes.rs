//! Episodes as ossa really runs them: a [`Task`] is played through ossa's own agent loop
//! (its prompts, its parser, the sandboxed tools on a real workspace) by a backend that
//! writes the task's scripted completions, and the token ids the model would have seen and
//! written are recorded.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use ossa_agent::event::{ToolRecord, ToolStatus, Toolset};
use ossa_agent::{Agent, AgentParts, AgentSettings, Cancel, Event, FnSink};
use ossa_model::{
    Backend, BackendInfo, BackendKind, GenerateRequest, Generation, ModelError, SamplerSettings,
    StopReason, Timings, TokenId, Tokenizer, encode_rendered,
};
use ossa_prompts::{Conversation, Message, ReasoningEffort, RenderOptions, render_conversation};
use ossa_wiring::{ExecOptions, SandboxTools};
use serde::{Deserialize, Serialize};

use crate::tasks::{Kind, Task};

/// One episode's tokens after the shared prefix, and which of them the model writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    /// Token ids after the prefix (system and developer messages).
    pub tokens: Vec<TokenId>,
    /// Half-open ranges of `tokens` the model generated (its completions).
    pub targets: Vec<[usize; 2]>,
    /// The task kind.
    pub kind: Kind,
}

/// The system and developer messages of a session, exactly as [`Agent::new`] builds them
/// for the native toolset, with a given date and workspace path.
pub fn prefix_messages(records: &[ToolRecord], date: &str, workspace: &str) -> (Message, Message) {
    let system = ossa_agent::system_message(ReasoningEffort::Medium, date, records);
    let developer =
        ossa_agent::developer_message(Toolset::Native, records, Some(Path::new(workspace)), None);
    (system, developer)
}

/// The token ids of the system and developer messages.
pub fn prefix_tokens(
    tokenizer: &dyn Tokenizer,
    system: Message,
    developer: Message,
) -> anyhow::Result<Vec<u32>> {
    let conversation = Conversation::from_messages([system, developer]);
    let rendered = render_conversation(&conversation, &RenderOptions::default())?;
    Ok(encode_rendered(tokenizer, &rendered))
}

/// The tool outputs of the running episode, in order (filled from the agent's events).
type Outputs = Arc<Mutex<Vec<String>>>;

/// A backend that writes a task's completions and records what it was asked.
struct ScriptedBackend {
    tokenizer: Arc<dyn Tokenizer>,
    task: Task,
    outputs: Outputs,
    /// (prompt, completion) of every request.
    requests: Mutex<Vec<(Vec<TokenId>, Vec<TokenId>)>>,
    /// Set when the task could not continue (an unexpected tool output).
    failure: Mutex<Option<String>>,
}

#[async_trait::async_trait]
impl Backend for ScriptedBackend {
    fn tokenizer(&self) -> &dyn Tokenizer {
        self.tokenizer.as_ref()
    }

    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: BackendKind::Other("ossa-nano script".into()),
            model: "script".into(),
            model_path: None,
            model_sha256: None,
            context_size: 16_384,
        }
    }

    async fn generate(
        &self,
        request: &GenerateRequest<'_>,
        on_token: &mut (dyn FnMut(TokenId) + Send),
    ) -> Result<Generation, ModelError> {
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        let step = requests.len();
        let last = self
            .outputs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last()
            .cloned();
        let text = match self.task.completion(step, last.as_deref()) {
            Some(text) => text,
            None => {
                *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(format!(
                    "no completion for step {step} after tool output {last:?}"
                ));
                // End the turn: a final answer the caller discards.
                "<|channel|>final<|message|>unusable<|return|>".to_string()
            }
        };
        let tokens = ossa_agent::encode_literal(self.tokenizer.as_ref(), &text);
        for id in &tokens {
            on_token(*id);
        }
        let stop = if text.ends_with("<|call|>") {
            StopReason::Call
        } else {
            StopReason::Return
        };
        requests.push((request.prompt.to_vec(), tokens.clone()));
        Ok(Generation {
            tokens,
            stop,
            prompt_reused: 0,
            prompt_prefilled: request.prompt.len() as u32,
            timings: Timings::default(),
        })
    }
}

/// Plays tasks through ossa's agent loop with real sandboxed tools.
pub struct Player {
    tokenizer: Arc<dyn Tokenizer>,
    exec: ExecOptions,
}

/// A played episode: the full token sequence and where the model's completions are.
pub struct Played {
    /// Every token of the final prompt and the last completion.
    pub tokens: Vec<TokenId>,
    /// Half-open ranges of `tokens` the model generated.
    pub targets: Vec<[usize; 2]>,
    /// The tools the session declared (for rendering other prefixes).
    pub records: Vec<ToolRecord>,
    /// The workspace the session's own prefix names.
    pub workspace: String,
}

impl Player {
    /// A player encoding with `tokenizer`; commands run as `ossa run` runs them by default.
    pub fn new(tokenizer: Arc<dyn Tokenizer>) -> Player {
        Player {
            tokenizer,
            exec: ExecOptions::default(),
        }
    }

    /// Plays `task` in a fresh workspace under `scratch` and checks that it ended as it
    /// should: every tool call succeeded, the answer is the scripted one, the files are
    /// as the task expects.
    pub async fn play(&self, task: &Task, scratch: &Path) -> anyhow::Result<Played> {
        let dir = tempfile::Builder::new()
            .prefix("ws")
            .tempdir_in(scratch)
            .context("cannot create a workspace")?;
        let workspace = dir.path().to_path_buf();
        task.write_files(&workspace)?;
        let tools = SandboxTools::open(&workspace, Toolset::Native, &self.exec).await?;
        let records = ossa_agent::ToolExecutor::tools(&tools).to_vec();
        let outputs: Outputs = Arc::default();
        let backend = Arc::new(ScriptedBackend {
            tokenizer: self.tokenizer.clone(),
            task: task.clone(),
            outputs: outputs.clone(),
            requests: Mutex::default(),
            failure: Mutex::default(),
        });
        let failed_calls: Arc<Mutex<VecDeque<String>>> = Arc::default();
        let sink = {
            let outputs = outputs.clone();
            let failed_calls = failed_calls.clone();
            FnSink(move |event: &Event| {
                if let Event::ToolResult(result) = event {
                    outputs
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(result.output.clone());
                    if result.status != ToolStatus::Ok {
                        failed_calls
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push_back(format!("{}: {}", result.name, result.output));
                    }
                }
                Ok(())
            })
        };
        let parts = AgentParts {
            session_id: "nano".into(),
            backend: backend.clone(),
            tools: Box::new(tools),
            sink: Box::new(sink),
            approver: None,
        };
        let settings = AgentSettings {
            max_steps: 6,
            max_tokens: 1024,
            sampler: SamplerSettings::default(),
            ..AgentSettings::default()
        };
        let mut agent = Agent::new(parts, settings, &workspace)?;
        let report = tokio::time::timeout(
            Duration::from_secs(60),
            agent.run_turn(&task.request, &Cancel::new()),
        )
        .await
        .context("the episode took over a minute")??;
        if let Some(failure) = backend
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            bail!("{failure}");
        }
        if let Some(call) = failed_calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
        {
            bail!("a tool call failed: {call}");
        }
        ensure!(
            report.outcome.is_success(),
            "the episode ended with {:?}",
            report.outcome
        );
        let answer = report.answer.unwrap_or_default();
        for expected in &task.answer_contains {
            ensure!(
                answer.contains(expected.as_str()),
                "the answer {answer:?} lacks {expected:?}"
            );
        }
        if let Some((path, content)) = &task.creates {
            let written = std::fs::read_to_string(workspace.join(path))
                .with_context(|| format!("{path} was not created"))?;
            ensure!(&written == content, "{path} holds {written:?}");
        }

        let requests = backend
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let (last_prompt, last_completion) = requests.last().context("no request")?;
        let mut tokens = last_prompt.clone();
        tokens.extend_from_slice(last_completion);
        let mut targets = Vec::new();
        for (prompt, completion) in &requests {
            let end = prompt.len() + completion.len();
            if !(tokens.len() >= end
                && tokens[..prompt.len()] == prompt[..]
                && tokens[prompt.len()..end] == completion[..])
            {
                let text = |ids: &[TokenId]| ossa_agent::literal_text(self.tokenizer.as_ref(), ids);
                let later = &tokens[prompt.len().min(tokens.len())..end.min(tokens.len())];
                bail!(
                    "a later prompt does not continue an earlier prompt and completion token for token: the model wrote {:?}, the next prompt has {:?}",
                    text(completion),
                    text(later)
                );
            }
            targets.push([prompt.len(), end]);
        }
        Ok(Played {
            tokens,
            targets,
            records,
            workspace: workspace.display().to_string(),
        })
    }
}
