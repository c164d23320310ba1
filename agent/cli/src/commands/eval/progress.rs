//! The progress of a run on stderr: on a terminal, a live line (done, running, passed,
//! failed, errors, tokens/s across sessions) under one line per finished attempt;
//! elsewhere (CI logs, pipes), only the plain lines.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::results::{AttemptRecord, Verdict};

/// Counts shared with the sessions: tokens generated so far (updated after each
/// completion) and sessions running.
#[derive(Debug, Default)]
pub struct Live {
    /// Tokens generated in this run.
    pub generated: AtomicU64,
    /// Attempts in flight.
    pub running: AtomicU64,
}

/// The display.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    live: Arc<Live>,
    start: Instant,
    total: u64,
    done: u64,
    passed: u64,
    failed: u64,
    errors: u64,
}

impl Progress {
    /// A display for `total` attempts; live when stderr is a terminal.
    pub fn new(total: u64, live: Arc<Live>) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            let style = indicatif::ProgressStyle::with_template("{bar:24} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(500));
            bar
        });
        let progress = Progress {
            bar,
            live,
            start: Instant::now(),
            total,
            done: 0,
            passed: 0,
            failed: 0,
            errors: 0,
        };
        progress.refresh();
        progress
    }

    /// Generated tokens per second of wall time, across sessions.
    pub fn tokens_per_second(&self) -> f64 {
        let secs = self.start.elapsed().as_secs_f64();
        if secs > 0.0 {
            self.live.generated.load(Ordering::Relaxed) as f64 / secs
        } else {
            0.0
        }
    }

    /// Redraws the live line (call every second or so).
    pub fn refresh(&self) {
        if let Some(bar) = &self.bar {
            bar.set_position(self.done);
            bar.set_message(self.status());
        }
    }

    fn status(&self) -> String {
        format!(
            "done · {} running · {} passed · {} failed · {} errors · {:.1} tokens/s",
            self.live.running.load(Ordering::Relaxed),
            self.passed,
            self.failed,
            self.errors,
            self.tokens_per_second()
        )
    }

    /// Counts a finished attempt and prints its line.
    pub fn finished(&mut self, record: &AttemptRecord) {
        self.done += 1;
        match record.verdict {
            Verdict::Pass => self.passed += 1,
            Verdict::Fail => self.failed += 1,
            Verdict::Error => self.errors += 1,
        }
        let mut line = format!(
            "[{}/{}] {:<5} {} #{} ({} step{}, {} tokens, {:.1} s)",
            self.done,
            self.total,
            record.verdict.as_str(),
            record.task,
            record.repeat,
            record.steps,
            if record.steps == 1 { "" } else { "s" },
            record.tokens.generated,
            record.wall_s
        );
        if let Some(error) = record
            .error
            .as_deref()
            .filter(|_| record.verdict == Verdict::Error)
        {
            let first = error.lines().next().unwrap_or_default();
            line.push_str(&format!(": {first}"));
        }
        match &self.bar {
            Some(bar) => {
                bar.println(line);
                self.refresh();
            }
            None => eprintln!(
                "{line} · {} running · {:.1} tokens/s",
                self.live.running.load(Ordering::Relaxed),
                self.tokens_per_second()
            ),
        }
    }

    /// Removes the live line.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
