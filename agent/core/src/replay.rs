//! The replay backend: completions come from a transcript or a hand-written cassette
//! instead of a model.
//!
//! Recorded token ids are replayed as they are; a cassette's harmony text is tokenized
//! with the o200k_harmony vocabulary (special tokens written literally become their
//! ids). With `check` on, every prompt the loop renders is compared with the recorded
//! one, and the first difference stops the run with a readable diff
//! ([`ReplayReport::divergence`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use ossa_prompts::Rendered;

use crate::completion::literal_pieces;
use crate::event::{
    Completion, ModelRecord, SamplerRecord, StepUsage, StopKind, common_prefix_len,
};
use crate::model::{Cancel, Codec, Generation, Model, TokenPiece, tokenize_rendered};
use crate::transcript::Transcript;

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

/// What a replay did, readable after the run.
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

/// A [`Model`] that replays recorded completions.
pub struct ReplayModel {
    codec: Arc<dyn Codec>,
    completions: VecDeque<Completion>,
    check: bool,
    recorded_prompt: Vec<u32>,
    cached_prompt: Vec<u32>,
    record: ModelRecord,
    sampler: SamplerRecord,
    report: Arc<Mutex<ReplayReport>>,
}

impl ReplayModel {
    /// Replays the completions of `transcript`. `check` compares prompts (it needs a
    /// transcript recorded by ossa: cassettes have no prompts).
    pub fn new(
        transcript: &Transcript,
        codec: Arc<dyn Codec>,
        check: bool,
    ) -> anyhow::Result<ReplayModel> {
        let completions: VecDeque<Completion> = transcript.completions().cloned().collect();
        if completions.is_empty() {
            anyhow::bail!(
                "{} has no `completion` lines: a cassette needs the model's completions as harmony text, e.g. {{\"type\":\"completion\",\"text\":\"<|channel|>final<|message|>Done.<|return|>\"}}",
                transcript.path.display()
            );
        }
        if check && completions.iter().any(|c| c.prompt.is_none()) {
            anyhow::bail!(
                "{} does not record the prompts (a hand-written cassette?): --check needs a transcript recorded by ossa, e.g. by `ossa run --replay {} --transcript FILE`",
                transcript.path.display(),
                transcript.path.display()
            );
        }
        let sampler = transcript
            .header
            .as_ref()
            .map(|h| h.sampler.clone())
            .unwrap_or(SamplerRecord {
                temperature: 1.0,
                top_p: 1.0,
                min_p: 0.0,
                seed: 0,
            });
        let context_size = transcript
            .header
            .as_ref()
            .and_then(|h| h.model.context_size);
        let report = ReplayReport {
            total: completions.len(),
            ..ReplayReport::default()
        };
        Ok(ReplayModel {
            codec,
            completions,
            check,
            recorded_prompt: Vec::new(),
            cached_prompt: Vec::new(),
            record: ModelRecord {
                backend: "replay".into(),
                path: Some(transcript.path.display().to_string()),
                context_size,
                ..ModelRecord::default()
            },
            sampler,
            report: Arc::new(Mutex::new(report)),
        })
    }

    /// A handle to the report, readable while and after the model is used.
    pub fn report(&self) -> Arc<Mutex<ReplayReport>> {
        Arc::clone(&self.report)
    }

    fn update(&self, change: impl FnOnce(&mut ReplayReport)) {
        if let Ok(mut report) = self.report.lock() {
            change(&mut report);
        }
    }

    fn tokens_of(&self, completion: &Completion) -> anyhow::Result<Vec<u32>> {
        if !completion.tokens.is_empty() {
            return Ok(completion.tokens.clone());
        }
        let mut ids = Vec::new();
        for piece in literal_pieces(&completion.text) {
            match piece {
                TokenPiece::Special(token) => ids.push(self.codec.special_id(token)),
                TokenPiece::Bytes(bytes) => {
                    ids.extend(self.codec.encode_text(&String::from_utf8_lossy(&bytes))?)
                }
            }
        }
        Ok(ids)
    }

    fn compare(
        &mut self,
        index: usize,
        completion: &Completion,
        prompt: &[u32],
    ) -> anyhow::Result<()> {
        let Some(record) = &completion.prompt else {
            return Ok(());
        };
        let Some(expected) = record.rebuild(&self.recorded_prompt) else {
            anyhow::bail!("the transcript's prompt record for completion {index} is inconsistent");
        };
        self.recorded_prompt = expected.clone();
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
        anyhow::bail!(summary)
    }

    /// Decoded context before the first difference, then both continuations.
    fn diff(&self, expected: &[u32], actual: &[u32]) -> String {
        let at = common_prefix_len(expected, actual);
        let text = |ids: &[u32]| -> String {
            let mut bytes = Vec::new();
            for &id in ids {
                match self.codec.piece(id) {
                    TokenPiece::Special(token) => {
                        bytes.extend_from_slice(token.literal().as_bytes())
                    }
                    TokenPiece::Bytes(piece) => bytes.extend_from_slice(&piece),
                }
            }
            String::from_utf8_lossy(&bytes).into_owned()
        };
        const CONTEXT: usize = 24;
        const AFTER: usize = 40;
        let before = text(&expected[at.saturating_sub(CONTEXT)..at]);
        let recorded = text(&expected[at..(at + AFTER).min(expected.len())]);
        let rendered = text(&actual[at..(at + AFTER).min(actual.len())]);
        format!(
            "  same:     …{}\n  recorded: {}{}\n  rendered: {}{}",
            before.escape_debug(),
            recorded.escape_debug(),
            if expected.len() > at + AFTER {
                "…"
            } else {
                ""
            },
            rendered.escape_debug(),
            if actual.len() > at + AFTER { "…" } else { "" },
        )
    }
}

impl Model for ReplayModel {
    fn tokenize(&self, rendered: &Rendered) -> anyhow::Result<Vec<u32>> {
        tokenize_rendered(self.codec.as_ref(), rendered)
    }

    fn piece(&self, id: u32) -> TokenPiece {
        self.codec.piece(id)
    }

    fn generate(
        &mut self,
        prompt: &[u32],
        max_tokens: u32,
        on_token: &mut dyn FnMut(u32, &TokenPiece),
        cancel: &Cancel,
    ) -> anyhow::Result<Generation> {
        let index = self.report.lock().map(|r| r.used).unwrap_or_default() + 1;
        let Some(completion) = self.completions.pop_front() else {
            anyhow::bail!(
                "the replayed file has no completion left for step {index} (it has {} in all); the run went further than the recording",
                index - 1
            );
        };
        self.update(|r| r.used = index);
        if self.check {
            self.compare(index, &completion, prompt)?;
        }
        let mut tokens = self.tokens_of(&completion)?;
        let mut stop = completion
            .stop
            .unwrap_or_else(|| StopKind::from_completion_text(&completion.text));
        if tokens.len() > max_tokens as usize {
            tokens.truncate(max_tokens as usize);
            stop = StopKind::Length;
        }
        let reused = common_prefix_len(&self.cached_prompt, prompt);
        self.cached_prompt = prompt.to_vec();
        let mut generated = Vec::with_capacity(tokens.len());
        for id in tokens {
            if cancel.is_cancelled() {
                stop = StopKind::Cancelled;
                break;
            }
            on_token(id, &self.codec.piece(id));
            generated.push(id);
        }
        let usage = StepUsage {
            prompt_tokens: prompt.len(),
            reused_tokens: reused,
            prefilled_tokens: prompt.len() - reused,
            completion_tokens: generated.len(),
            ..StepUsage::default()
        };
        Ok(Generation {
            tokens: generated,
            stop,
            usage,
        })
    }

    fn context_size(&self) -> Option<usize> {
        self.record.context_size.map(|size| size as usize)
    }

    fn record(&self) -> ModelRecord {
        self.record.clone()
    }

    fn sampler(&self) -> SamplerRecord {
        self.sampler.clone()
    }
}
