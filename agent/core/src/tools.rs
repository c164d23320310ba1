//! The tools the loop can call: anything implementing [`ToolExecutor`] (the sandboxed
//! tools that `ossa-wiring` builds), or the outputs recorded in a transcript
//! ([`RecordedTools`], `ossa replay --tools recorded`).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use serde_json::Value;

use crate::event::{ToolFailureKind, ToolRecord, ToolStatus};
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
        /// What kind of failure.
        kind: ToolFailureKind,
        /// What the model is told.
        message: String,
        /// Details for the user's log (limits hit, the guest's stderr).
        detail: Option<String>,
    },
}

impl ToolOutcome {
    /// A failure with no details for the log.
    pub fn failed(kind: ToolFailureKind, message: impl Into<String>) -> ToolOutcome {
        ToolOutcome::Failed {
            kind,
            message: message.into(),
            detail: None,
        }
    }
}

/// One call, as the loop hands it to a [`ToolExecutor`].
#[derive(Debug, Clone, Copy)]
pub struct ToolInvocation<'a> {
    /// The call's id in the session (`t{turn}s{step}`).
    pub call_id: &'a str,
    /// The tool, one of [`ToolExecutor::tools`].
    pub tool: &'a ToolRecord,
    /// The arguments, cleaned up and checked against the schema: a JSON object, or a
    /// string for [`crate::event::ArgumentFormat::Text`] tools.
    pub arguments: &'a Value,
}

/// Runs tool calls.
pub trait ToolExecutor: Send + Sync {
    /// The tools on offer, in the order they are declared to the model.
    fn tools(&self) -> &[ToolRecord];

    /// Runs one call.
    fn call<'a>(&'a self, call: ToolInvocation<'a>) -> BoxFuture<'a, ToolOutcome>;

    /// Forgets per-session state (a stateful interpreter's variables), as `/clear` does.
    /// Stateless tools have nothing to do.
    fn reset(&self) {}
}

/// Replays the tool results recorded in a transcript instead of running tools: the call
/// with id `t2s3` gets the result recorded for `t2s3`.
#[derive(Debug)]
pub struct RecordedTools {
    specs: Vec<ToolRecord>,
    results: Mutex<HashMap<String, (String, ToolOutcome)>>,
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
        let results = transcript
            .tool_results()
            .map(|result| {
                let outcome = match result.status {
                    ToolStatus::Ok => ToolOutcome::Output(result.output.clone()),
                    ToolStatus::Error => ToolOutcome::Failed {
                        kind: result.kind.unwrap_or(ToolFailureKind::Failed),
                        message: result.output.clone(),
                        detail: result.detail.clone(),
                    },
                };
                (result.call_id.clone(), (result.name.clone(), outcome))
            })
            .collect();
        Ok(RecordedTools {
            specs: header.tools.clone(),
            results: Mutex::new(results),
        })
    }
}

impl ToolExecutor for RecordedTools {
    fn tools(&self) -> &[ToolRecord] {
        &self.specs
    }

    fn call<'a>(&'a self, call: ToolInvocation<'a>) -> BoxFuture<'a, ToolOutcome> {
        let recorded = match self.results.lock() {
            Ok(mut results) => results.remove(call.call_id),
            Err(_) => None,
        };
        let name = &call.tool.name;
        let outcome = match recorded {
            Some((recorded, outcome)) if recorded == *name => outcome,
            Some((recorded, _)) => ToolOutcome::failed(
                ToolFailureKind::ReplayMismatch,
                format!(
                    "replay diverged: the recorded call {} is to `{recorded}`, not `{name}`",
                    call.call_id
                ),
            ),
            None => ToolOutcome::failed(
                ToolFailureKind::ReplayMismatch,
                format!(
                    "replay diverged: the transcript has no tool result for call {} (to `{name}`)",
                    call.call_id
                ),
            ),
        };
        Box::pin(async move { outcome })
    }
}
