//! What an eval run writes: one [`AttemptRecord`] per finished attempt, appended to
//! `OUT/results.jsonl` as it finishes (so an interrupted run keeps what it finished and a
//! rerun skips it), one [`RunRecord`] per invocation in `OUT/runs.jsonl`, and the
//! settings the results were made with in `OUT/eval.json`.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// The results file in an output directory.
pub const RESULTS_FILE: &str = "results.jsonl";
/// The per-invocation file in an output directory.
pub const RUNS_FILE: &str = "runs.jsonl";
/// The settings file in an output directory.
pub const SETTINGS_FILE: &str = "eval.json";
/// The Markdown summary in an output directory.
pub const SUMMARY_FILE: &str = "summary.md";

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The check command exited with 0.
    Pass,
    /// The check command failed (non-zero exit, a signal, its time limit).
    Fail,
    /// The attempt could not be judged: setup failed, the model backend failed, the
    /// workspace or the check could not be set up.
    Error,
}

impl Verdict {
    /// The word in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
        }
    }
}

/// Why the agent stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// It gave a final answer.
    Final,
    /// The step limit.
    StepLimit,
    /// Completions kept hitting the token limit.
    TokenLimit,
    /// The conversation outgrew the context window.
    ContextFull,
    /// The model kept producing unusable output.
    MalformedOutput,
    /// The backend failed.
    ModelFailed,
    /// The task's `timeout_s` ran out.
    Timeout,
}

impl Stop {
    /// The stop for a turn's outcome (`None` for a cancelled turn, which is not a result).
    pub fn from_outcome(outcome: ossa_agent::Outcome) -> Option<Stop> {
        use ossa_agent::Outcome;
        Some(match outcome {
            Outcome::Final => Stop::Final,
            Outcome::StepLimit => Stop::StepLimit,
            Outcome::TokenLimit => Stop::TokenLimit,
            Outcome::ContextFull => Stop::ContextFull,
            Outcome::MalformedOutput => Stop::MalformedOutput,
            Outcome::ModelFailed => Stop::ModelFailed,
            Outcome::Cancelled => return None,
        })
    }
}

/// How the check command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandEnd {
    /// It exited with this code.
    Exit(i32),
    /// A signal ended it.
    Signal(i32),
    /// It ran past its time limit and was killed.
    TimedOut,
}

impl CommandEnd {
    /// Whether it succeeded.
    pub fn success(self) -> bool {
        self == CommandEnd::Exit(0)
    }
}

impl std::fmt::Display for CommandEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandEnd::Exit(code) => write!(f, "exit {code}"),
            CommandEnd::Signal(signal) => write!(f, "killed by signal {signal}"),
            CommandEnd::TimedOut => f.write_str("timed out"),
        }
    }
}

/// Token counts of an attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    /// Prompt tokens over all steps.
    pub prompt: u64,
    /// Prompt tokens the engine prefilled (decoded).
    pub prefilled: u64,
    /// Prompt tokens the engine reused from its KV cache.
    pub reused: u64,
    /// Tokens generated.
    pub generated: u64,
    /// Generated tokens that streamed text on the analysis channel.
    pub analysis: u64,
    /// Generated tokens that streamed text on the commentary channel.
    pub commentary: u64,
    /// Generated tokens that streamed text on the final channel.
    #[serde(rename = "final")]
    pub final_: u64,
}

/// The result of one attempt: one line of `results.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// The task's name.
    pub task: String,
    /// Which repeat, from 0.
    pub repeat: u32,
    /// Pass, fail or error.
    pub verdict: Verdict,
    /// Why the agent stopped (`None` when it did not run: setup failed).
    pub stop: Option<Stop>,
    /// Model completions.
    pub steps: u32,
    /// Token counts.
    pub tokens: Tokens,
    /// Tool calls the model made.
    pub tool_calls: u32,
    /// Those that failed (bad arguments, a denied path, a failing tool).
    pub tool_errors: u32,
    /// How the check ended, when it ran.
    pub check: Option<CommandEnd>,
    /// Whether setup and check ran confined by the kernel.
    pub confined: bool,
    /// Wall time of the whole attempt, in seconds.
    pub wall_s: f64,
    /// Wall time of the agent session, in seconds.
    pub agent_s: f64,
    /// Time the engine spent generating, in seconds (as it reports it).
    pub decode_s: f64,
    /// What went wrong, for errors (and failed checks: the end of its output).
    pub error: Option<String>,
    /// The transcript, relative to the output directory.
    pub transcript: Option<PathBuf>,
    /// When the attempt finished (RFC 3339, UTC).
    pub finished_at: String,
}

impl AttemptRecord {
    /// The key a rerun skips it by.
    pub fn key(&self) -> (String, u32) {
        (self.task.clone(), self.repeat)
    }
}

/// One invocation of `ossa eval run`: a line of `runs.jsonl`, for throughput across runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// Sessions in flight at once.
    pub parallel: u32,
    /// Attempts it recorded.
    pub attempts: u32,
    /// Tokens generated by those attempts.
    pub generated: u64,
    /// Its wall time, in seconds.
    pub wall_s: f64,
    /// Whether Ctrl-C stopped it.
    pub interrupted: bool,
}

/// The settings results were made with; a rerun into the same directory must use the
/// same ones, or its results would mix two experiments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// The suite directory.
    pub suite: PathBuf,
    /// The model as named on the command line or in the config.
    pub model: String,
    /// Reasoning effort.
    pub reasoning: String,
    /// Toolset.
    pub toolset: String,
    /// Sampling temperature.
    pub temperature: f32,
    /// Nucleus sampling.
    pub top_p: f32,
    /// min-p sampling.
    pub min_p: f32,
    /// The seed, when one was set.
    pub seed: Option<u32>,
    /// Step limit (before the tasks' own).
    pub max_steps: u32,
    /// Token limit per completion (before the tasks' own).
    pub max_tokens: u32,
}

/// A setting that differs between two runs: its name and its values in each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The setting.
    pub key: String,
    /// Its value in this run (JSON).
    pub this: String,
    /// Its value in the other run (JSON).
    pub other: String,
}

impl RunSettings {
    /// The settings that differ from `other`.
    pub fn differences(&self, other: &RunSettings) -> Vec<Difference> {
        let (a, b) = (
            serde_json::to_value(self).unwrap_or_default(),
            serde_json::to_value(other).unwrap_or_default(),
        );
        let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
            return Vec::new();
        };
        a.iter()
            .filter(|(key, value)| b.get(*key) != Some(*value))
            .map(|(key, value)| Difference {
                key: key.clone(),
                this: value.to_string(),
                other: b.get(key).cloned().unwrap_or_default().to_string(),
            })
            .collect()
    }
}

/// The results of a run so far.
#[derive(Debug, Default)]
pub struct Results {
    /// Every record, in file order; a later record of the same attempt wins.
    pub records: Vec<AttemptRecord>,
    /// Lines that could not be read (a line cut by a crash), by number.
    pub unreadable: Vec<usize>,
}

impl Results {
    /// Reads `path` (a results file, or an output directory holding one). A missing
    /// file is an empty run when `missing_ok`.
    pub fn read(path: &Path, missing_ok: bool) -> anyhow::Result<Results> {
        let file = if path.is_dir() {
            path.join(RESULTS_FILE)
        } else {
            path.to_path_buf()
        };
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(err) if missing_ok && err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Results::default());
            }
            Err(err) => {
                return Err(err).with_context(|| {
                    format!(
                        "cannot read the results {} (give an eval output directory or its {RESULTS_FILE})",
                        file.display()
                    )
                });
            }
        };
        let mut results = Results::default();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<AttemptRecord>(line) {
                Ok(record) => {
                    results.records.retain(|r| r.key() != record.key());
                    results.records.push(record);
                }
                Err(_) => results.unreadable.push(index + 1),
            }
        }
        Ok(results)
    }

    /// The attempts recorded, those with an error result left out when `except_errors`
    /// (they are to run again).
    pub fn done(&self, except_errors: bool) -> BTreeSet<(String, u32)> {
        self.records
            .iter()
            .filter(|r| !(except_errors && r.verdict == Verdict::Error))
            .map(AttemptRecord::key)
            .collect()
    }
}

/// Appends one JSON line to `path` in a single write, then flushes it to disk, so a
/// crash leaves whole lines (at worst the last one cut, which readers skip). A cut last
/// line is ended first, so the new line stays whole.
pub fn append_line<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let mut line = serde_json::to_string(value).context("cannot encode a result")?;
    line.push('\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    if ends_cut(&mut file).with_context(|| format!("cannot read {}", path.display()))? {
        line.insert(0, '\n');
    }
    file.write_all(line.as_bytes())
        .and_then(|()| file.sync_data())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Whether the file has bytes after its last line break.
fn ends_cut(file: &mut std::fs::File) -> std::io::Result<bool> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    if file.metadata()?.len() == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// Reads the runs recorded in `dir` (none when the file is missing; unreadable lines are
/// skipped).
pub fn read_runs(dir: &Path) -> Vec<RunRecord> {
    std::fs::read_to_string(dir.join(RUNS_FILE))
        .map(|text| {
            text.lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn record(task: &str, repeat: u32, verdict: Verdict) -> AttemptRecord {
        AttemptRecord {
            task: task.into(),
            repeat,
            verdict,
            stop: Some(Stop::Final),
            steps: 2,
            tokens: Tokens {
                generated: 100,
                ..Tokens::default()
            },
            tool_calls: 1,
            tool_errors: 0,
            check: Some(CommandEnd::Exit(if verdict == Verdict::Pass {
                0
            } else {
                1
            })),
            confined: true,
            wall_s: 1.5,
            agent_s: 1.0,
            decode_s: 0.5,
            error: None,
            transcript: None,
            finished_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn records_append_and_read_back_skipping_a_cut_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(RESULTS_FILE);
        append_line(&file, &record("a", 0, Verdict::Pass)).unwrap();
        append_line(&file, &record("b", 0, Verdict::Fail)).unwrap();
        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push_str("{\"task\":\"c\",\"rep");
        std::fs::write(&file, text).unwrap();
        let results = Results::read(dir.path(), false).unwrap();
        assert_eq!(results.records.len(), 2);
        assert_eq!(results.unreadable, [3]);
        // The next record starts on a line of its own.
        append_line(&file, &record("c", 0, Verdict::Pass)).unwrap();
        let results = Results::read(dir.path(), false).unwrap();
        assert_eq!(results.records.len(), 3);
        assert_eq!(results.unreadable, [3]);
        assert!(results.done(false).contains(&("b".to_string(), 0)));
        append_line(&file, &record("e", 0, Verdict::Error)).unwrap();
        let with_error = Results::read(dir.path(), false).unwrap();
        assert!(with_error.done(false).contains(&("e".to_string(), 0)));
        assert!(!with_error.done(true).contains(&("e".to_string(), 0)));
        // A later record of the same attempt replaces the earlier one.
        append_line(&file, &record("e", 0, Verdict::Pass)).unwrap();
        let replaced = Results::read(dir.path(), false).unwrap();
        let e: Vec<_> = replaced.records.iter().filter(|r| r.task == "e").collect();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].verdict, Verdict::Pass);
        let line = std::fs::read_to_string(&file).unwrap();
        assert!(line.contains(r#""verdict":"pass""#), "{line}");
        assert!(line.contains(r#""check":{"exit":0}"#), "{line}");
        assert!(line.contains(r#""final":0"#), "{line}");

        assert!(
            Results::read(&dir.path().join("none"), true)
                .unwrap()
                .records
                .is_empty()
        );
        assert!(Results::read(&dir.path().join("none"), false).is_err());
    }

    #[test]
    fn settings_differences_name_the_fields() {
        let a = RunSettings {
            suite: "s".into(),
            model: "http://a".into(),
            reasoning: "medium".into(),
            toolset: "native".into(),
            temperature: 1.0,
            top_p: 1.0,
            min_p: 0.0,
            seed: None,
            max_steps: 40,
            max_tokens: 8192,
        };
        let b = RunSettings {
            model: "http://b".into(),
            ..a.clone()
        };
        assert!(a.differences(&a).is_empty());
        assert_eq!(
            a.differences(&b),
            [Difference {
                key: "model".into(),
                this: "\"http://a\"".into(),
                other: "\"http://b\"".into()
            }]
        );
    }
}
