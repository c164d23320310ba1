//! How a call ended, classified: output, a limit hit, a denial, a timeout, a trap, a
//! panic or a runaway recursion, each a [`ToolFailure`] with a message for the model
//! and details for the user's log.

use std::time::Duration;

use wasmtime::{Trap, WasmBacktrace};
use wasmtime_wasi::I32Exit;

use super::ToolOutput;
use crate::bindings::GuestError;
use crate::failure::{FailureKind, ToolFailure};
use crate::monitor::CallMonitor;
use crate::policy::ToolPolicy;

/// A backtrace at least this deep, whose innermost frames cycle through a few
/// functions, is taken for a runaway recursion.
const RECURSION_FRAMES: usize = 100;
const RECURSION_MAX_FUNCTIONS: usize = 4;

/// Everything known when a call ends, turned into its outcome.
pub(super) struct Report<'a> {
    pub(super) name: &'a str,
    pub(super) policy: &'a ToolPolicy,
    pub(super) monitor: &'a CallMonitor,
    pub(super) stdout: String,
    pub(super) stderr: String,
    pub(super) memory_limit_hit: bool,
}

impl Report<'_> {
    pub(super) fn success(
        self,
        text: String,
        duration: Duration,
    ) -> Result<ToolOutput, ToolFailure> {
        if let Some(failure) = self.limit_failure() {
            return Err(failure);
        }
        if text.len() > self.policy.output_limit_bytes() {
            return Err(self.failure(
                FailureKind::OutputLimit,
                format!(
                    "tool `{}` returned more than {} KiB; ask for less (a smaller range or a narrower search)",
                    self.name, self.policy.output_limit_kib
                ),
                format!("the returned text was {} bytes", text.len()),
            ));
        }
        if let Some(failure) = self.denied(None) {
            return Err(failure);
        }
        Ok(ToolOutput {
            text,
            log: self.log(),
            duration,
        })
    }

    pub(super) fn guest_error(self, error: GuestError) -> ToolFailure {
        if let Some(failure) = self.limit_failure() {
            return failure;
        }
        let (kind, message) = match error {
            GuestError::InvalidArgs(message) => (FailureKind::InvalidArgs, message),
            GuestError::Denied(message) => (FailureKind::Denied, message),
            GuestError::Failed(message) => (FailureKind::Failed, message),
        };
        if let Some(failure) = self.denied(Some(&message)) {
            return failure;
        }
        self.failure(kind, message, "the tool returned an error")
    }

    pub(super) fn timeout(self) -> ToolFailure {
        self.failure(
            FailureKind::Timeout,
            format!(
                "tool `{}` timed out after {} s and was stopped",
                self.name,
                self.policy.call_timeout().as_secs_f64()
            ),
            format!(
                "wall-time limit of {} s reached",
                self.policy.call_timeout().as_secs_f64()
            ),
        )
    }

    pub(super) fn trap(self, err: &wasmtime::Error) -> ToolFailure {
        if let Some(failure) = self.limit_failure() {
            return failure;
        }
        let name = self.name;
        let detail = shorten_lines(&format!("{err:?}"), 60);
        if let Some(exit) = err.downcast_ref::<I32Exit>() {
            return self.failure(
                FailureKind::Exit,
                format!(
                    "tool `{name}` exited with code {} instead of returning a result",
                    exit.0
                ),
                detail,
            );
        }
        let recursion = err
            .downcast_ref::<WasmBacktrace>()
            .is_some_and(looks_like_recursion);
        match err.downcast_ref::<Trap>() {
            // Languages with a stack in linear memory (Rust, C) overflow it before the
            // wasm stack: the stack pointer wraps and the next access is out of bounds,
            // thousands of frames deep.
            Some(Trap::MemoryOutOfBounds) if recursion => self.failure(
                FailureKind::StackOverflow,
                format!("tool `{name}` crashed: stack overflow (recursion too deep)"),
                format!("out-of-bounds access deep in a recursion\n{detail}"),
            ),
            Some(Trap::StackOverflow) => self.failure(
                FailureKind::StackOverflow,
                format!("tool `{name}` crashed: stack overflow (recursion too deep)"),
                detail,
            ),
            Some(Trap::Interrupt) => self.timeout(),
            Some(Trap::UnreachableCodeReached) if self.stderr.contains("panicked at") => {
                let panic = panic_message(&self.stderr);
                self.failure(
                    FailureKind::Panic,
                    format!("tool `{name}` crashed (panic): {panic}"),
                    detail,
                )
            }
            Some(trap) => {
                let message = format!("tool `{name}` crashed: {trap}");
                self.failure(FailureKind::Trap, message, detail)
            }
            None => self.failure(
                FailureKind::Host,
                format!("tool `{name}` could not run"),
                detail,
            ),
        }
    }

    /// The failure of a limit that fired, if any: these explain any trap or error that
    /// followed.
    fn limit_failure(&self) -> Option<ToolFailure> {
        let name = self.name;
        let policy = self.policy;
        if CallMonitor::flag(&self.monitor.write_limit_hit) {
            return Some(self.failure(
                FailureKind::WriteLimit,
                format!(
                    "tool `{name}` was stopped: it tried to write more than {} MiB in one call",
                    policy.write_limit_mib
                ),
                format!("write limit of {} MiB reached", policy.write_limit_mib),
            ));
        }
        if self.memory_limit_hit {
            return Some(self.failure(
                FailureKind::MemoryLimit,
                format!(
                    "tool `{name}` was stopped: it needed more than {} MiB of memory",
                    policy.memory_mib
                ),
                format!("memory limit of {} MiB reached", policy.memory_mib),
            ));
        }
        if CallMonitor::flag(&self.monitor.output_limit_hit) {
            return Some(self.failure(
                FailureKind::OutputLimit,
                format!(
                    "tool `{name}` was stopped: it printed more than {} KiB",
                    policy.output_limit_kib
                ),
                format!(
                    "output limit of {} KiB reached on stdout or stderr",
                    policy.output_limit_kib
                ),
            ));
        }
        if CallMonitor::flag(&self.monitor.timed_out) {
            return Some(self.failure(
                FailureKind::Timeout,
                format!(
                    "tool `{name}` timed out after {} s and was stopped",
                    policy.call_timeout().as_secs_f64()
                ),
                format!(
                    "wall-time limit of {} s reached",
                    policy.call_timeout().as_secs_f64()
                ),
            ));
        }
        None
    }

    /// A `denied` failure when the sandbox refused any access during the call.
    fn denied(&self, guest_message: Option<&str>) -> Option<ToolFailure> {
        let violations = self.monitor.violations();
        let first = violations.first()?;
        let message = match guest_message {
            Some(message) => message.to_owned(),
            None => format!(
                "tool `{}` tried to {first}, which is outside its grants; the call was refused",
                self.name
            ),
        };
        Some(self.failure(
            FailureKind::Denied,
            message,
            format!("refused accesses:\n  {}", violations.join("\n  ")),
        ))
    }

    fn failure(
        &self,
        kind: FailureKind,
        message: String,
        detail: impl Into<String>,
    ) -> ToolFailure {
        let mut detail = detail.into();
        let written = self.monitor.bytes_written();
        if written > 0 {
            detail.push_str(&format!("\nbytes written: {written}"));
        }
        let log = self.log();
        if !log.is_empty() {
            detail.push('\n');
            detail.push_str(&log);
        }
        ToolFailure::new(kind, message, detail)
    }

    fn log(&self) -> String {
        let mut log = String::new();
        for (label, text) in [("stderr", &self.stderr), ("stdout", &self.stdout)] {
            if !text.is_empty() {
                log.push_str(&format!("--- {label} ---\n{}\n", text.trim_end()));
            }
        }
        log
    }
}

fn looks_like_recursion(trace: &WasmBacktrace) -> bool {
    let frames = trace.frames();
    if frames.len() < RECURSION_FRAMES {
        return false;
    }
    let mut functions: Vec<u32> = frames[..RECURSION_FRAMES]
        .iter()
        .map(|frame| frame.func_index())
        .collect();
    functions.sort_unstable();
    functions.dedup();
    functions.len() <= RECURSION_MAX_FUNCTIONS
}

/// `text` with at most `max` lines: the first ones and the last ten, the middle
/// replaced by a count (wasm backtraces of a stack overflow have thousands of frames).
fn shorten_lines(text: &str, max: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= max {
        return text.to_owned();
    }
    let tail = 10;
    let head = max - tail;
    format!(
        "{}\n    … {} lines left out …\n{}",
        lines[..head].join("\n"),
        lines.len() - head - tail,
        lines[lines.len() - tail..].join("\n")
    )
}

/// The message of a Rust panic from the stderr text the panic hook printed.
fn panic_message(stderr: &str) -> String {
    let mut lines = stderr
        .lines()
        .skip_while(|line| !line.contains("panicked at"));
    let header = lines.next().unwrap_or_default();
    let message = lines
        .next()
        .filter(|line| !line.starts_with("note:"))
        .unwrap_or(header);
    let message: String = message.chars().take(300).collect();
    message.trim().to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn long_details_are_shortened() {
        let text: Vec<String> = (0..100).map(|n| format!("frame {n}")).collect();
        let short = shorten_lines(&text.join("\n"), 20);
        assert_eq!(short.lines().count(), 21);
        assert!(
            short.contains("… 80 lines left out …") && short.ends_with("frame 99"),
            "{short}"
        );
    }
    #[test]
    fn panic_messages_are_extracted() {
        let stderr = "\nthread '<unnamed>' panicked at src/lib.rs:3:5:\nboom here\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(panic_message(stderr), "boom here");
    }
}
