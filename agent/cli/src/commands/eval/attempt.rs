//! One attempt at one task: a scratch copy of the workspace, setup, an agent session
//! recorded to its own transcript, then the check, confined, in that copy.
//!
//! Files of attempt `r` of task `t` live in `OUT/attempts/t/r/`: `transcript.jsonl`,
//! `setup.log`, `check.log` and `workspace/` (removed after a pass unless
//! `--keep-workspaces`, kept after a failure for inspection).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context as _;
use ossa_agent::event::{ToolStatus, Toolset};
use ossa_agent::{Agent, AgentParts, Cancel, Event, EventSink, Outcome, TranscriptWriter};
use ossa_model::Backend;
use ossa_wiring::ExecOptions;

use super::command::{self, Confinement};
use super::progress::Live;
use super::results::{AttemptRecord, Stop, Tokens, Verdict};
use super::suite::Task;
use crate::commands::session;
use crate::config::Config;

/// What every attempt of a run shares.
pub struct RunContext {
    /// The output directory (absolute).
    pub out: PathBuf,
    /// The effective settings.
    pub config: Config,
    /// The toolset.
    pub toolset: Toolset,
    /// What `container.exec` may do.
    pub exec: ExecOptions,
    /// The sandboxed Python, when the python tool is on.
    pub python: Option<ossa_sandbox::SharedPythonRuntime>,
    /// How setup and check run.
    pub confinement: Confinement,
    /// Keep the workspaces of passed attempts.
    pub keep_workspaces: bool,
    /// Ctrl-C: stops every session.
    pub cancel: Cancel,
    /// Live counters for the progress line.
    pub live: Arc<Live>,
}

/// One planned attempt.
#[derive(Clone)]
pub struct Planned {
    /// The task.
    pub task: Arc<Task>,
    /// The pristine workspace folder to copy.
    pub source: PathBuf,
    /// Which repeat, from 0.
    pub repeat: u32,
}

/// How an attempt ended.
pub enum AttemptEnd {
    /// It finished: record it.
    Recorded(Box<AttemptRecord>),
    /// Ctrl-C stopped it: nothing is recorded and its files are removed.
    Interrupted,
}

/// What the session's events add up to besides the turn report.
#[derive(Debug, Default)]
struct SessionStats {
    tokens: Tokens,
    tool_calls: u32,
    tool_errors: u32,
    decode_ms: f64,
    last_error: Option<String>,
}

/// Counts events for the record and feeds the live token counter.
struct StatsSink {
    stats: Arc<Mutex<SessionStats>>,
    live: Arc<Live>,
}

impl EventSink for StatsSink {
    fn emit(&mut self, event: &Event) -> std::io::Result<()> {
        let Ok(mut stats) = self.stats.lock() else {
            return Ok(());
        };
        match event {
            Event::Delta(delta) if !delta.text.is_empty() => match delta.channel.as_deref() {
                Some("analysis") => stats.tokens.analysis += 1,
                Some("commentary") => stats.tokens.commentary += 1,
                Some("final") => stats.tokens.final_ += 1,
                _ => {}
            },
            Event::Completion(completion) => {
                if let Some(usage) = &completion.usage {
                    stats.decode_ms += usage.decode_ms;
                    self.live
                        .generated
                        .fetch_add(usage.completion_tokens as u64, Ordering::Relaxed);
                }
            }
            Event::ToolCall(_) => stats.tool_calls += 1,
            Event::ToolResult(result) if result.status == ToolStatus::Error => {
                stats.tool_errors += 1;
            }
            Event::Error(error) => stats.last_error = Some(error.message.clone()),
            _ => {}
        }
        Ok(())
    }
}

/// The directory of an attempt's files, relative to the output directory.
pub fn attempt_dir(task: &str, repeat: u32) -> PathBuf {
    Path::new("attempts").join(task).join(repeat.to_string())
}

/// Runs one attempt to its end.
pub async fn run(ctx: &RunContext, planned: &Planned, backend: Arc<dyn Backend>) -> AttemptEnd {
    let start = Instant::now();
    let relative = attempt_dir(planned.task.id.as_str(), planned.repeat);
    let dir = ctx.out.join(&relative);
    let mut record = AttemptRecord {
        task: planned.task.id.to_string(),
        repeat: planned.repeat,
        verdict: Verdict::Error,
        stop: None,
        steps: 0,
        tokens: Tokens::default(),
        tool_calls: 0,
        tool_errors: 0,
        check: None,
        confined: ctx.confinement.is_confined(),
        wall_s: 0.0,
        agent_s: 0.0,
        decode_s: 0.0,
        error: None,
        transcript: None,
        finished_at: String::new(),
    };
    let end = attempt(ctx, planned, backend, &dir, &relative, &mut record).await;
    let end = match end {
        Ok(end) => end,
        Err(err) => {
            record.verdict = Verdict::Error;
            record.error = Some(format!("{err:#}"));
            Step::Done
        }
    };
    match end {
        Step::Interrupted => {
            let _ = std::fs::remove_dir_all(&dir);
            // The task's folder too, when this was its only attempt.
            if let Some(task_dir) = dir.parent() {
                let _ = std::fs::remove_dir(task_dir);
            }
            AttemptEnd::Interrupted
        }
        Step::Done => {
            if record.verdict == Verdict::Pass && !ctx.keep_workspaces {
                let _ = std::fs::remove_dir_all(dir.join("workspace"));
            }
            record.wall_s = start.elapsed().as_secs_f64();
            record.finished_at = ossa_agent::time::rfc3339_now();
            AttemptEnd::Recorded(Box::new(record))
        }
    }
}

enum Step {
    Done,
    Interrupted,
}

/// The attempt's stages; `Err` is an error result (the setup of the attempt failed).
async fn attempt(
    ctx: &RunContext,
    planned: &Planned,
    backend: Arc<dyn Backend>,
    dir: &Path,
    relative: &Path,
    record: &mut AttemptRecord,
) -> anyhow::Result<Step> {
    let task = &planned.task;
    // A directory left by an interrupted run is started afresh.
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let workspace = dir.join("workspace");
    {
        let (from, to) = (planned.source.clone(), workspace.clone());
        tokio::task::spawn_blocking(move || copy_tree(&from, &to))
            .await
            .context("the copying task failed")??;
    }
    let workspace = workspace
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", workspace.display()))?;
    let global = ctx.cancel.token();

    if let Some(setup) = &task.setup {
        let ran = tokio::select! {
            ran = command::run(&ctx.confinement, setup, &workspace, task.check_timeout, task.setup_net) => ran,
            () = global.cancelled() => return Ok(Step::Interrupted),
        };
        let ran = ran.map_err(|err| anyhow::anyhow!("setup could not run: {err}"))?;
        write_log(&dir.join("setup.log"), setup, &ran)?;
        if !ran.end.success() {
            anyhow::bail!(
                "setup failed ({}): {} (see {})",
                ran.end,
                command::last_lines(&ran.output, 5),
                relative.join("setup.log").display()
            );
        }
    }

    // The agent session.
    let mut settings = ctx.config.agent_settings();
    if let Some(seed) = ctx.config.sampler().seed {
        settings.sampler.seed = Some(seed.wrapping_add(planned.repeat));
    }
    if let Some(steps) = task.limits.max_steps {
        settings.max_steps = steps;
    }
    if let Some(tokens) = task.limits.max_tokens {
        settings.max_tokens = tokens;
    }
    let tools =
        session::sandbox_tools(&workspace, ctx.toolset, &ctx.exec, ctx.python.clone()).await?;
    let transcript = dir.join("transcript.jsonl");
    let writer = TranscriptWriter::create(&transcript)?;
    record.transcript = Some(relative.join("transcript.jsonl"));
    let stats = Arc::new(Mutex::new(SessionStats::default()));
    let sinks: Vec<Box<dyn EventSink>> = vec![
        Box::new(writer),
        Box::new(StatsSink {
            stats: Arc::clone(&stats),
            live: Arc::clone(&ctx.live),
        }),
    ];
    let parts = AgentParts {
        session_id: ossa_agent::paths::new_session_id(),
        backend,
        tools: Box::new(tools),
        sink: Box::new(sinks),
        approver: None,
    };
    let agent_start = Instant::now();
    let mut agent = Agent::new(parts, settings, &workspace)
        .with_context(|| format!("cannot write {}", transcript.display()))?;
    let session_cancel = Cancel::new();
    let timed_out = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (session_cancel, timed_out, global) = (
            session_cancel.clone(),
            Arc::clone(&timed_out),
            global.clone(),
        );
        let limit = task.limits.timeout;
        tokio::spawn(async move {
            match limit {
                Some(limit) => tokio::select! {
                    () = global.cancelled() => {}
                    () = tokio::time::sleep(limit) => timed_out.store(true, Ordering::SeqCst),
                },
                None => global.cancelled().await,
            }
            session_cancel.cancel();
        })
    };
    let report = agent.run_turn(&task.text, &session_cancel).await;
    watcher.abort();
    drop(agent);
    let report = report.with_context(|| format!("cannot write {}", transcript.display()))?;
    record.agent_s = agent_start.elapsed().as_secs_f64();
    if let Ok(stats) = stats.lock() {
        record.tokens = stats.tokens;
        record.tool_calls = stats.tool_calls;
        record.tool_errors = stats.tool_errors;
        record.decode_s = stats.decode_ms / 1000.0;
        record.error = stats.last_error.clone();
    }
    record.steps = report.steps;
    record.tokens.prompt = report.usage.prompt_tokens as u64;
    record.tokens.prefilled = report.usage.prefilled_tokens as u64;
    record.tokens.reused = report.usage.reused_tokens as u64;
    record.tokens.generated = report.usage.completion_tokens as u64;
    record.stop = match report.outcome {
        Outcome::Cancelled if timed_out.load(Ordering::SeqCst) => Some(Stop::Timeout),
        Outcome::Cancelled => return Ok(Step::Interrupted),
        outcome => Stop::from_outcome(outcome),
    };
    if report.outcome == Outcome::ModelFailed {
        // Says nothing about the model's ability: an error, not a failure.
        record.verdict = Verdict::Error;
        record.error = Some(
            record
                .error
                .take()
                .unwrap_or_else(|| "the model backend failed".into()),
        );
        return Ok(Step::Done);
    }

    // The check, on what the model left, with the restored paths put back.
    for path in &task.restore {
        restore(&planned.source, &workspace, path)?;
    }
    let ran = tokio::select! {
        ran = command::run(&ctx.confinement, &task.check, &workspace, task.check_timeout, false) => ran,
        () = global.cancelled() => return Ok(Step::Interrupted),
    };
    let ran = ran.map_err(|err| anyhow::anyhow!("the check could not run: {err}"))?;
    write_log(&dir.join("check.log"), &task.check, &ran)?;
    record.check = Some(ran.end);
    if ran.end.success() {
        record.verdict = Verdict::Pass;
        record.error = None;
    } else {
        record.verdict = Verdict::Fail;
        let tail = command::last_lines(&ran.output, 5);
        record.error = Some(if tail.is_empty() {
            format!("check {}", ran.end)
        } else {
            format!("check {}: {tail}", ran.end)
        });
    }
    Ok(Step::Done)
}

fn write_log(path: &Path, script: &str, ran: &command::Ran) -> anyhow::Result<()> {
    let text = format!(
        "$ {script}\n{}\n[{}, {:.1} s]\n",
        ran.output.trim_end(),
        ran.end,
        ran.duration.as_secs_f64()
    );
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Puts `path` (relative) of `source` back into `workspace`, replacing whatever is there.
/// Links and files the model put where a parent directory was are removed first, so the
/// copy never follows a link out of the workspace.
fn restore(source: &Path, workspace: &Path, path: &Path) -> anyhow::Result<()> {
    let mut parent = workspace.to_path_buf();
    let parts: Vec<_> = path.components().collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        parent.push(part);
        match std::fs::symlink_metadata(&parent) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => std::fs::remove_file(&parent)
                .with_context(|| format!("cannot remove {}", parent.display()))?,
            Err(_) => {}
        }
    }
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let target = workspace.join(path);
    match std::fs::symlink_metadata(&target) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&target),
        Ok(_) => std::fs::remove_file(&target),
        Err(_) => Ok(()),
    }
    .with_context(|| format!("cannot remove {} to restore it", target.display()))?;
    let from = source.join(path);
    if std::fs::symlink_metadata(&from).is_ok_and(|m| m.is_dir()) {
        copy_tree(&from, &target)
    } else {
        copy_entry(&from, &target)
    }
}

/// Copies the directory `from` to `to` (created): files with their permissions, links
/// as links; other kinds of file (sockets, devices) are skipped.
pub fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    let entries =
        std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", from.display()))?;
        let target = to.join(entry.file_name());
        let kind = entry
            .file_type()
            .with_context(|| format!("cannot read {}", entry.path().display()))?;
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            copy_entry(&entry.path(), &target)?;
        }
    }
    Ok(())
}

fn copy_entry(from: &Path, to: &Path) -> anyhow::Result<()> {
    let meta = std::fs::symlink_metadata(from)
        .with_context(|| format!("cannot read {}", from.display()))?;
    if meta.file_type().is_symlink() {
        let link =
            std::fs::read_link(from).with_context(|| format!("cannot read {}", from.display()))?;
        #[cfg(unix)]
        std::os::unix::fs::symlink(&link, to)
            .with_context(|| format!("cannot create {}", to.display()))?;
        #[cfg(not(unix))]
        let _ = link;
    } else if meta.is_file() {
        std::fs::copy(from, to).with_context(|| format!("cannot copy {}", from.display()))?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_keeps_files_links_and_restores_paths() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("tests")).unwrap();
        std::fs::write(src.join("tests/t.sh"), "exit 0").unwrap();
        std::fs::write(src.join("a.txt"), "a").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("a.txt", src.join("link")).unwrap();
        let copy = dir.path().join("copy");
        copy_tree(&src, &copy).unwrap();
        assert_eq!(
            std::fs::read_to_string(copy.join("tests/t.sh")).unwrap(),
            "exit 0"
        );
        #[cfg(unix)]
        assert_eq!(
            std::fs::read_link(copy.join("link")).unwrap(),
            PathBuf::from("a.txt")
        );

        // The model rewrote the test and added a file; restore puts the test back.
        std::fs::write(copy.join("tests/t.sh"), "exit 1").unwrap();
        std::fs::write(copy.join("tests/extra"), "x").unwrap();
        restore(&src, &copy, Path::new("tests")).unwrap();
        assert_eq!(
            std::fs::read_to_string(copy.join("tests/t.sh")).unwrap(),
            "exit 0"
        );
        assert!(!copy.join("tests/extra").exists());
        // A file the model deleted comes back.
        std::fs::remove_file(copy.join("a.txt")).unwrap();
        restore(&src, &copy, Path::new("a.txt")).unwrap();
        assert_eq!(std::fs::read_to_string(copy.join("a.txt")).unwrap(), "a");
        // A parent replaced by a link out of the workspace is not followed.
        #[cfg(unix)]
        {
            let outside = dir.path().join("outside");
            std::fs::create_dir_all(&outside).unwrap();
            std::fs::remove_dir_all(copy.join("tests")).unwrap();
            std::os::unix::fs::symlink(&outside, copy.join("tests")).unwrap();
            restore(&src, &copy, Path::new("tests/t.sh")).unwrap();
            assert!(
                std::fs::symlink_metadata(copy.join("tests"))
                    .unwrap()
                    .is_dir()
            );
            assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
        }
    }
}
