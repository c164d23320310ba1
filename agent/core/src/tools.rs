//! The tools the loop can call: the sandboxed wasm tools on a workspace
//! ([`crate::sandbox_tools`]), or the outputs recorded in a transcript ([`RecordedTools`],
//! `ossa replay --tools recorded`).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use serde_json::Value;

use crate::event::{ToolRecord, ToolStatus};
use crate::transcript::Transcript;

/// A boxed future, so [`ToolExecutor`] stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How a tool call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolOutcome {
    /// The tool's output text.
    Output(String),
    /// The call failed.
    Failed {
        /// A short stable kind (`invalid_args`, `denied`, `timeout`, `trap`, …).
        kind: String,
        /// What the model is told.
        message: String,
        /// Details for the user's log (limits hit, the guest's stderr).
        detail: Option<String>,
    },
}

/// Runs tool calls.
pub trait ToolExecutor: Send + Sync {
    /// The tools on offer, in the order they are declared to the model.
    fn tools(&self) -> &[ToolRecord];

    /// Runs `name` with `arguments` (a JSON object already checked against the schema).
    fn call<'a>(&'a self, name: &'a str, arguments: &'a Value) -> BoxFuture<'a, ToolOutcome>;
}

/// Replays the tool results recorded in a transcript, in order, instead of running tools.
#[derive(Debug)]
pub struct RecordedTools {
    specs: Vec<ToolRecord>,
    results: Mutex<VecDeque<(String, ToolOutcome)>>,
}

impl RecordedTools {
    /// The recorded tools and results of `transcript`; an error for a hand-written
    /// cassette, which has no tool results.
    pub fn from_transcript(transcript: &Transcript) -> anyhow::Result<RecordedTools> {
        let Some(header) = &transcript.header else {
            anyhow::bail!(
                "{} is a hand-written cassette with no recorded tool results; replay it with --workspace DIR so the tools run",
                transcript.path.display()
            );
        };
        let specs = header.tools.clone();
        let results = transcript
            .tool_results()
            .filter(|result| {
                // Results the loop made up itself (unknown tool, bad arguments, declined)
                // are made again on replay; only real calls are queued.
                !matches!(
                    result.kind.as_deref(),
                    Some("unknown_tool" | "invalid_arguments" | "declined")
                )
            })
            .map(|result| {
                let outcome = match result.status {
                    ToolStatus::Ok => ToolOutcome::Output(result.output.clone()),
                    ToolStatus::Error => ToolOutcome::Failed {
                        kind: result.kind.clone().unwrap_or_else(|| "failed".into()),
                        message: result.output.clone(),
                        detail: result.detail.clone(),
                    },
                };
                (result.name.clone(), outcome)
            })
            .collect();
        Ok(RecordedTools {
            specs,
            results: Mutex::new(results),
        })
    }
}

impl ToolExecutor for RecordedTools {
    fn tools(&self) -> &[ToolRecord] {
        &self.specs
    }

    fn call<'a>(&'a self, name: &'a str, _arguments: &'a Value) -> BoxFuture<'a, ToolOutcome> {
        let next = match self.results.lock() {
            Ok(mut results) => results.pop_front(),
            Err(_) => None,
        };
        let outcome = match next {
            Some((recorded, outcome)) if recorded == name => outcome,
            Some((recorded, _)) => ToolOutcome::Failed {
                kind: "replay_mismatch".into(),
                message: format!(
                    "replay diverged: the transcript's next tool call is `{recorded}`, not `{name}`"
                ),
                detail: None,
            },
            None => ToolOutcome::Failed {
                kind: "replay_mismatch".into(),
                message: format!(
                    "replay diverged: the transcript has no more tool results (call to `{name}`)"
                ),
                detail: None,
            },
        };
        Box::pin(async move { outcome })
    }
}
