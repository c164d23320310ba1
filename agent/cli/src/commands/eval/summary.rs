//! The summary of a run: a per-task table (Markdown, aligned so it also reads on a
//! terminal), pass@1 and pass@k, tokens, tool calls and throughput.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::results::{AttemptRecord, RunRecord, Tokens, Verdict};

/// The unbiased pass@k estimate for a task with `n` attempts of which `c` passed (the
/// probability that at least one of `k` attempts drawn without replacement passes):
/// `1 - C(n-c, k) / C(n, k)`. `None` when `k` is 0 or more than `n`.
pub fn pass_at_k(n: u32, c: u32, k: u32) -> Option<f64> {
    if k == 0 || k > n {
        return None;
    }
    if n - c < k {
        return Some(1.0);
    }
    let mut miss = 1.0;
    for i in (n - c + 1)..=n {
        miss *= 1.0 - f64::from(k) / f64::from(i);
    }
    Some(1.0 - miss)
}

/// One task's attempts, added up.
#[derive(Debug, Default, Clone)]
pub struct TaskTally {
    /// Attempts recorded.
    pub attempts: u32,
    /// Passes.
    pub passed: u32,
    /// Failures.
    pub failed: u32,
    /// Errors.
    pub errors: u32,
    /// Steps over all attempts.
    pub steps: u64,
    /// Tokens over all attempts.
    pub tokens: Tokens,
    /// Tool calls over all attempts.
    pub tool_calls: u64,
    /// Failed tool calls over all attempts.
    pub tool_errors: u64,
    /// Wall time over all attempts, in seconds.
    pub wall_s: f64,
}

impl TaskTally {
    fn add(&mut self, record: &AttemptRecord) {
        self.attempts += 1;
        match record.verdict {
            Verdict::Pass => self.passed += 1,
            Verdict::Fail => self.failed += 1,
            Verdict::Error => self.errors += 1,
        }
        self.steps += u64::from(record.steps);
        let t = &mut self.tokens;
        let r = &record.tokens;
        t.prompt += r.prompt;
        t.prefilled += r.prefilled;
        t.reused += r.reused;
        t.generated += r.generated;
        t.analysis += r.analysis;
        t.commentary += r.commentary;
        t.final_ += r.final_;
        self.tool_calls += u64::from(record.tool_calls);
        self.tool_errors += u64::from(record.tool_errors);
        self.wall_s += record.wall_s;
    }

    /// Passes over attempts (0 without attempts).
    pub fn pass_rate(&self) -> f64 {
        if self.attempts == 0 {
            0.0
        } else {
            f64::from(self.passed) / f64::from(self.attempts)
        }
    }
}

/// Tallies `records` by task name.
pub fn tally(records: &[AttemptRecord]) -> BTreeMap<String, TaskTally> {
    let mut tallies: BTreeMap<String, TaskTally> = BTreeMap::new();
    for record in records {
        tallies.entry(record.task.clone()).or_default().add(record);
    }
    tallies
}

/// pass@1 (mean pass rate over the tasks with attempts) and pass@k over the tasks with
/// at least `k` attempts (`None` when none has).
pub fn pass_rates(tallies: &BTreeMap<String, TaskTally>, k: u32) -> (Option<f64>, Option<f64>) {
    let mean = |values: Vec<f64>| {
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    };
    let at = |k: u32| {
        mean(
            tallies
                .values()
                .filter_map(|t| pass_at_k(t.attempts, t.passed, k))
                .collect(),
        )
    };
    (at(1), at(k))
}

/// A percentage with one decimal.
pub fn percent(value: f64) -> String {
    format!("{:.1}%", value * 100.0)
}

/// Rows as a Markdown table with padded columns.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    out.push_str(&line(widths.iter().map(|w| "-".repeat(*w)).collect()));
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

/// What a summary covers.
pub struct SummaryInput<'a> {
    /// The tasks of the run, in order (tasks without attempts get a row too).
    pub tasks: &'a [String],
    /// Attempts planned per task.
    pub repeat: u32,
    /// The attempts recorded.
    pub records: &'a [AttemptRecord],
    /// Every invocation so far, this one last.
    pub runs: &'a [RunRecord],
}

/// The table and totals.
pub fn render(input: &SummaryInput<'_>) -> String {
    let tallies = tally(input.records);
    let empty = TaskTally::default();
    let mut rows = Vec::new();
    for task in input.tasks {
        let t = tallies.get(task).unwrap_or(&empty);
        let mean = |total: f64| {
            if t.attempts == 0 {
                "-".to_string()
            } else {
                format!("{:.1}", total / f64::from(t.attempts))
            }
        };
        rows.push(vec![
            task.clone(),
            format!("{}/{}", t.attempts, input.repeat),
            t.passed.to_string(),
            t.failed.to_string(),
            t.errors.to_string(),
            if t.attempts == 0 {
                "-".into()
            } else {
                percent(t.pass_rate())
            },
            mean(t.steps as f64),
            mean(t.tokens.generated as f64),
            mean(t.wall_s),
        ]);
    }
    let mut out = table(
        &[
            "task",
            "attempts",
            "pass",
            "fail",
            "error",
            "pass rate",
            "steps",
            "gen tokens",
            "wall s",
        ],
        &rows,
    );
    let mut total = TaskTally::default();
    for record in input.records {
        total.add(record);
    }
    let planned = input.tasks.len() as u64 * u64::from(input.repeat);
    let _ = writeln!(
        out,
        "\n{} of {planned} attempts over {} tasks: {} passed, {} failed, {} errors",
        total.attempts,
        input.tasks.len(),
        total.passed,
        total.failed,
        total.errors
    );
    let (pass1, passk) = pass_rates(&tallies, input.repeat);
    if let Some(pass1) = pass1 {
        let _ = write!(out, "pass@1: {} (mean over tasks)", percent(pass1));
        if input.repeat > 1 {
            match passk {
                Some(passk) => {
                    let _ = write!(out, ", pass@{}: {}", input.repeat, percent(passk));
                }
                None => {
                    let _ = write!(
                        out,
                        ", pass@{}: not yet (no task has {} attempts)",
                        input.repeat, input.repeat
                    );
                }
            }
        }
        out.push('\n');
    }
    let t = &total.tokens;
    let _ = writeln!(
        out,
        "tokens: {} generated (content: analysis {}, commentary {}, final {}); {} prompt ({} prefilled, {} reused from the cache)",
        t.generated, t.analysis, t.commentary, t.final_, t.prompt, t.prefilled, t.reused
    );
    let _ = writeln!(
        out,
        "tool calls: {} ({} failed)",
        total.tool_calls, total.tool_errors
    );
    if let Some(run) = input.runs.last() {
        let _ = writeln!(out, "{}", throughput("this run", run));
    }
    if input.runs.len() > 1 {
        let all = RunRecord {
            started_at: String::new(),
            parallel: input.runs.iter().map(|r| r.parallel).max().unwrap_or(1),
            attempts: input.runs.iter().map(|r| r.attempts).sum(),
            generated: input.runs.iter().map(|r| r.generated).sum(),
            wall_s: input.runs.iter().map(|r| r.wall_s).sum(),
            interrupted: false,
        };
        let _ = writeln!(
            out,
            "{}",
            throughput(&format!("all {} runs", input.runs.len()), &all)
        );
    }
    out
}

/// `LABEL: N attempts, T tokens in S s with P sessions: R tokens/s`.
fn throughput(label: &str, run: &RunRecord) -> String {
    let rate = if run.wall_s > 0.0 {
        run.generated as f64 / run.wall_s
    } else {
        0.0
    };
    let sessions = if run.parallel == 1 {
        "one session at a time".to_string()
    } else {
        format!("up to {} sessions at once", run.parallel)
    };
    format!(
        "{label}: {} attempts, {} tokens generated in {:.1} s with {sessions}: {rate:.1} tokens/s",
        run.attempts, run.generated, run.wall_s
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::results::tests::record;
    use super::*;

    #[test]
    fn pass_at_k_is_the_unbiased_estimate() {
        assert_eq!(pass_at_k(1, 1, 1), Some(1.0));
        assert_eq!(pass_at_k(1, 0, 1), Some(0.0));
        assert_eq!(pass_at_k(2, 1, 1), Some(0.5));
        assert_eq!(pass_at_k(2, 1, 2), Some(1.0));
        assert_eq!(pass_at_k(2, 0, 2), Some(0.0));
        // n = 5, c = 2, k = 2: 1 - C(3,2)/C(5,2) = 1 - 3/10.
        assert!((pass_at_k(5, 2, 2).unwrap() - 0.7).abs() < 1e-12);
        assert_eq!(pass_at_k(1, 1, 2), None);
        assert_eq!(pass_at_k(3, 1, 0), None);
    }

    #[test]
    fn the_summary_counts_each_verdict() {
        let records = vec![
            record("a", 0, Verdict::Pass),
            record("a", 1, Verdict::Fail),
            record("b", 0, Verdict::Fail),
            record("b", 1, Verdict::Error),
        ];
        let tasks = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let runs = vec![RunRecord {
            started_at: String::new(),
            parallel: 2,
            attempts: 4,
            generated: 400,
            wall_s: 2.0,
            interrupted: false,
        }];
        let text = render(&SummaryInput {
            tasks: &tasks,
            repeat: 2,
            records: &records,
            runs: &runs,
        });
        assert!(
            text.contains("| a    | 2/2      | 1    | 1    | 0     | 50.0%"),
            "{text}"
        );
        assert!(
            text.contains("| b    | 2/2      | 0    | 1    | 1     | 0.0%"),
            "{text}"
        );
        assert!(
            text.contains("| c    | 0/2      | 0    | 0    | 0     | -"),
            "{text}"
        );
        assert!(
            text.contains("4 of 6 attempts over 3 tasks: 1 passed, 2 failed, 1 errors"),
            "{text}"
        );
        assert!(text.contains("pass@1: 25.0%"), "{text}");
        assert!(text.contains("pass@2: 50.0%"), "{text}");
        assert!(text.contains("400 tokens generated in 2.0 s"), "{text}");
        assert!(text.contains("200.0 tokens/s"), "{text}");
    }
}
