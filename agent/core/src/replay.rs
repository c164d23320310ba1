//! The replay backend: completions come from a transcript or a hand-written cassette
//! instead of a model. It is an ordinary `ossa-model` [`Backend`], so the loop runs
//! exactly as it does with a real model.
//!
//! Recorded token ids are replayed as they are; a cassette's harmony text is tokenized
//! with the tokenizer given (o200k_harmony for gpt-oss), literal special tokens
//! becoming their ids. With `check` on, every prompt the loop sends is compared with the
//! recorded one, and the first difference stops the run with a readable diff
//! ([`ReplayReport::divergence`]).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ossa_model::{
    Backend, BackendInfo, BackendKind, GenerateRequest, Generation, ModelError, StopReason,
    Timings, TokenId, Tokenizer,
};

use crate::event::{Completion, common_prefix_len};
use crate::model::literal_text;
use crate::transcript::Transcript;

/// The o200k_harmony vocabulary (no model file needed): tokenizes cassettes and replayed
/// prompts the way gpt-oss does.
pub fn harmony_tokenizer() -> Arc<dyn Tokenizer> {
    Arc::new(ossa_model::O200kHarmony::new())
}

/// The context size assumed for a cassette without a header: gpt-oss's own.
pub const CASSETTE_CONTEXT_SIZE: u32 = 131_072;

/// The first prompt that differs from the recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Divergence {
    /// 1-based index of the completion whose prompt differs.
    pub completion: usize,
    /// Index of the first differing token.
    pub token: usize,
    /// Length of the recorded prompt.
    pub recorded_len: usize,
    /// Length of the rendered prompt.
    pub rendered_len: usize,
    /// A readable diff around the first difference (decoded text).
    pub diff: String,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the prompt for completion {} differs from the recording at token {} (recorded {} tokens, rendered {}):\n{}",
            self.completion, self.token, self.recorded_len, self.rendered_len, self.diff
        )
    }
}

/// What a replay did, readable during and after the run.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ReplayReport {
    /// Completions handed out.
    pub used: usize,
    /// Completions in the file.
    pub total: usize,
    /// Prompts compared with the recording (`check` mode).
    pub prompts_checked: usize,
    /// The first prompt difference, if any.
    pub divergence: Option<Divergence>,
}

struct State {
    completions: VecDeque<Completion>,
    recorded_prompt: Vec<TokenId>,
    cached_prompt: Vec<TokenId>,
}

/// A [`Backend`] that replays recorded completions.
pub struct ReplayBackend {
    tokenizer: Arc<dyn Tokenizer>,
    check: bool,
    path: PathBuf,
    context_size: u32,
    state: Mutex<State>,
    report: Arc<Mutex<ReplayReport>>,
}

impl ReplayBackend {
    /// Replays the completions of `transcript`. `check` compares prompts (it needs a
    /// transcript recorded by ossa: cassettes have no prompts).
    pub fn new(
        transcript: &Transcript,
        tokenizer: Arc<dyn Tokenizer>,
        check: bool,
    ) -> anyhow::Result<ReplayBackend> {
        let completions: VecDeque<Completion> = transcript.completions().cloned().collect();
        let path = transcript.path.display();
        if completions.is_empty() {
            anyhow::bail!(
                "{path} has no `completion` lines: a cassette needs the model's completions as harmony text, e.g. {{\"type\":\"completion\",\"text\":\"<|channel|>final<|message|>Done.<|return|>\"}}"
            );
        }
        if check && completions.iter().any(|c| c.prompt.is_none()) {
            anyhow::bail!(
                "{path} does not record the prompts (a hand-written cassette?): --check needs a transcript recorded by ossa, e.g. with `ossa run --replay {path} --transcript FILE`"
            );
        }
        let context_size = transcript
            .header
            .as_ref()
            .and_then(|h| h.model.context_size)
            .unwrap_or(CASSETTE_CONTEXT_SIZE);
        let report = ReplayReport {
            total: completions.len(),
            ..ReplayReport::default()
        };
        Ok(ReplayBackend {
            tokenizer,
            check,
            path: transcript.path.clone(),
            context_size,
            state: Mutex::new(State {
                completions,
                recorded_prompt: Vec::new(),
                cached_prompt: Vec::new(),
            }),
            report: Arc::new(Mutex::new(report)),
        })
    }

    /// A handle to the report, readable while and after the backend is used.
    pub fn report(&self) -> Arc<Mutex<ReplayReport>> {
        Arc::clone(&self.report)
    }

    fn update(&self, change: impl FnOnce(&mut ReplayReport)) {
        if let Ok(mut report) = self.report.lock() {
            change(&mut report);
        }
    }

    fn tokens_of(&self, completion: &Completion) -> Vec<TokenId> {
        if !completion.tokens.is_empty() {
            return completion.tokens.clone();
        }
        crate::model::encode_literal(self.tokenizer.as_ref(), &completion.text)
    }

    /// Compares the prompt with the recorded one; `Err` describes the first difference.
    fn compare(
        &self,
        state: &mut State,
        index: usize,
        completion: &Completion,
        prompt: &[TokenId],
    ) -> Result<(), String> {
        let Some(record) = &completion.prompt else {
            return Ok(());
        };
        let Some(expected) = record.rebuild(&state.recorded_prompt) else {
            return Err(format!(
                "the transcript's prompt record for completion {index} does not fit the previous prompt"
            ));
        };
        state.recorded_prompt = expected.clone();
        self.update(|r| r.prompts_checked += 1);
        if expected == prompt {
            return Ok(());
        }
        let divergence = Divergence {
            completion: index,
            token: common_prefix_len(&expected, prompt),
            recorded_len: expected.len(),
            rendered_len: prompt.len(),
            diff: self.diff(&expected, prompt),
        };
        let summary = format!(
            "replay --check: the prompt for completion {index} differs from the recording at token {}",
            divergence.token
        );
        self.update(|r| r.divergence = Some(divergence));
        Err(summary)
    }

    /// Decoded context before the first difference, then both continuations.
    fn diff(&self, expected: &[TokenId], actual: &[TokenId]) -> String {
        const BEFORE: usize = 24;
        const AFTER: usize = 40;
        let at = common_prefix_len(expected, actual);
        let text = |ids: &[TokenId]| {
            literal_text(self.tokenizer.as_ref(), ids)
                .escape_debug()
                .to_string()
        };
        let more = |ids: &[TokenId]| if ids.len() > at + AFTER { "…" } else { "" };
        format!(
            "  same:     …{}\n  recorded: {}{}\n  rendered: {}{}",
            text(&expected[at.saturating_sub(BEFORE)..at]),
            text(&expected[at..(at + AFTER).min(expected.len())]),
            more(expected),
            text(&actual[at..(at + AFTER).min(actual.len())]),
            more(actual),
        )
    }
}

/// How a hand-written completion stopped: by its last special token.
pub fn stop_from_text(text: &str) -> StopReason {
    let text = text.trim_end();
    if text.ends_with("<|call|>") {
        StopReason::Call
    } else if text.ends_with("<|return|>") {
        StopReason::Return
    } else if text.ends_with("<|endoftext|>") {
        StopReason::EndOfText
    } else {
        StopReason::Length
    }
}

#[async_trait::async_trait]
impl Backend for ReplayBackend {
    fn tokenizer(&self) -> &dyn Tokenizer {
        self.tokenizer.as_ref()
    }

    fn info(&self) -> BackendInfo {
        BackendInfo {
            kind: BackendKind::Other("replay".into()),
            model: self.path.display().to_string(),
            model_path: Some(self.path.clone()),
            model_sha256: None,
            context_size: self.context_size,
        }
    }

    async fn generate(
        &self,
        request: &GenerateRequest<'_>,
        on_token: &mut (dyn FnMut(TokenId) + Send),
    ) -> Result<Generation, ModelError> {
        let prompt = request.prompt;
        let index = self.report.lock().map(|r| r.used).unwrap_or_default() + 1;
        let fail = |detail: String| ModelError::Protocol {
            url: self.path.display().to_string(),
            detail,
        };
        let mut state = self
            .state
            .lock()
            .map_err(|_| fail("the replay state is poisoned".into()))?;
        let Some(completion) = state.completions.pop_front() else {
            return Err(fail(format!(
                "no completion left for step {index} (the file has {} in all); the run went further than the recording",
                index - 1
            )));
        };
        self.update(|r| r.used = index);
        if self.check {
            self.compare(&mut state, index, &completion, prompt)
                .map_err(fail)?;
        }
        let mut tokens = self.tokens_of(&completion);
        let mut stop = completion
            .stop
            .unwrap_or_else(|| stop_from_text(&completion.text));
        if tokens.len() > request.max_new_tokens as usize {
            tokens.truncate(request.max_new_tokens as usize);
            stop = StopReason::Length;
        }
        let reused = common_prefix_len(&state.cached_prompt, prompt);
        state.cached_prompt = prompt.to_vec();
        drop(state);
        let mut generated = Vec::with_capacity(tokens.len());
        for id in tokens {
            if request.cancel.is_cancelled() {
                stop = StopReason::Cancelled;
                break;
            }
            on_token(id);
            generated.push(id);
        }
        Ok(Generation {
            tokens: generated,
            stop,
            prompt_reused: reused as u32,
            prompt_prefilled: (prompt.len() - reused) as u32,
            // A replay has no model time to report.
            timings: Timings::default(),
        })
    }
}
