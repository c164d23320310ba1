//! `ossa eval`: run a suite of agent tasks, many sessions at once against one engine,
//! and judge each by its check command (docs/eval.md).
//!
//! - [`suite`]: the suite format;
//! - [`attempt`]: one attempt (scratch workspace, setup, session, check);
//! - [`command`]: setup and check commands, confined like `container.exec`;
//! - [`results`]: `results.jsonl` and the other files of an output directory;
//! - [`summary`] and [`compare`]: the tables;
//! - [`progress`]: the live line.

mod attempt;
mod command;
mod compare;
mod progress;
mod results;
mod suite;
mod summary;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context as _, bail};
use ossa_agent::Cancel;
use ossa_model::Backend;
use ossa_wiring::ExecOptions;

use self::attempt::{AttemptEnd, Planned, RunContext};
use self::command::Confinement;
use self::progress::{Live, Progress};
use self::results::{
    AttemptRecord, RESULTS_FILE, RUNS_FILE, Results, RunRecord, RunSettings, SETTINGS_FILE,
    SUMMARY_FILE,
};
use self::suite::{Suite, Task, WorkspaceSource};
use super::session::{self, LoopArgs, ModelArgs, RuntimeArgs, SamplingArgs, ToolArgs};
use crate::config::{Config, ModelChoice};

/// Arguments of `ossa eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: EvalCommand,
}

#[derive(Debug, clap::Subcommand)]
enum EvalCommand {
    /// Run every task of a suite (in parallel against a server), check each, and write
    /// the results and a summary.
    Run(Box<RunArgs>),
    /// Compare two runs task by task: fixed, broken, unchanged.
    Compare(compare::CompareArgs),
    /// Print the summary of a run's output directory again.
    Summary(SummaryArgs),
}

/// Arguments of `ossa eval run`.
#[derive(Debug, clap::Args)]
#[command(after_help = EVAL_HELP)]
pub struct RunArgs {
    /// The suite: a directory with one folder per task, each with a task.toml (see
    /// docs/eval.md), or one task's folder.
    #[arg(value_name = "SUITE")]
    pub suite: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Sessions in flight at once (with --server; an in-process model runs one).
    #[arg(long, short = 'j', value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub parallel: u32,
    /// Attempts per task, for pass@k (k = this number).
    #[arg(long, value_name = "K", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeat: u32,
    /// The output directory: results.jsonl, summary.md, one folder per attempt
    /// (default: ossa-eval/SUITE-NAME). A rerun with the same directory resumes.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Run only this task (repeatable).
    #[arg(long = "task", value_name = "NAME")]
    pub tasks: Vec<String>,
    /// Where the kernel cannot confine commands (no Landlock, not Linux), run setup and
    /// check commands unconfined instead of refusing: they run whatever the model wrote
    /// into the workspace, as you.
    #[arg(long)]
    pub allow_unconfined_check: bool,
    /// Keep the workspaces of passed attempts too (failed ones are always kept).
    #[arg(long)]
    pub keep_workspaces: bool,
    /// Run again the attempts recorded as errors (setup failed, the engine went away):
    /// their new results replace the old ones.
    #[arg(long)]
    pub retry_errors: bool,
    #[command(flatten)]
    pub loop_args: LoopArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    #[command(flatten)]
    pub tool_args: ToolArgs,
}

/// Arguments of `ossa eval summary`.
#[derive(Debug, clap::Args)]
pub struct SummaryArgs {
    /// The output directory of a run.
    #[arg(value_name = "DIR")]
    pub out: PathBuf,
}

const EVAL_HELP: &str = "Results are appended to OUT/results.jsonl as each attempt finishes; \
Ctrl-C stops every session, records nothing half-done, and the same command run again \
resumes with the attempts not yet recorded.

Exit codes:
  0    every planned attempt is recorded (whatever the pass rate)
  1    failure: bad suite, unreachable model, unwritable output (the message says which)
  2    bad usage
  130  interrupted with Ctrl-C (run the same command again to resume)";

/// Runs `ossa eval`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        EvalCommand::Run(args) => run_suite(*args).await,
        EvalCommand::Compare(args) => compare::run(&args),
        EvalCommand::Summary(args) => print_summary(&args.out),
    }
}

/// `1 task`, `3 tasks`.
fn count(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The output directory when `--out` is not given.
fn default_out(suite: &Suite) -> PathBuf {
    let name = suite
        .root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "suite".into());
    Path::new("ossa-eval").join(name)
}

async fn run_suite(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut suite = Suite::load(&args.suite)?;
    suite.select(&args.tasks)?;
    let flags = session::flag_layer(
        &args.model,
        &args.runtime,
        &args.sampling,
        Some(&args.loop_args),
        Some(&args.tool_args),
    );
    let config = session::load_config(None, flags)?;
    let mut parallel = args.parallel;
    let in_process = match config.model() {
        Some(ModelChoice::Replay(_)) => {
            return Err(super::UsageError(
                "ossa eval needs a model (--server, --model or --hf): --replay replays one recorded session, not a suite".into(),
            )
            .into());
        }
        Some(ModelChoice::Path(_) | ModelChoice::Hf(_)) => true,
        Some(ModelChoice::Server(_)) => false,
        None => return Err(super::UsageError(super::pull::NO_MODEL.into()).into()),
    };
    if in_process && parallel > 1 {
        eprintln!(
            "note: an in-process model runs one session at a time; --parallel {parallel} is for --server (running 1)"
        );
        parallel = 1;
    }

    let confinement = match ossa_sandbox::exec_support() {
        Ok(_) => Confinement::Confined {
            read: config.exec_grant().read,
        },
        Err(why) if args.allow_unconfined_check => {
            eprintln!(
                "warning: setup and check commands run UNCONFINED ({why}): they run what the model wrote into the workspace, as you"
            );
            Confinement::Unconfined
        }
        Err(why) => bail!(
            "cannot confine the check commands: {why}. They run after the model has written to the workspace, so ossa runs them in the sandbox of container.exec; pass --allow-unconfined-check to run them unconfined instead"
        ),
    };

    // The output directory, and what it already holds.
    let out = args.out.clone().unwrap_or_else(|| default_out(&suite));
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create the output directory {}", out.display()))?;
    let out = out
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", out.display()))?;
    let settings = run_settings(&suite, &config);
    check_settings(&out, &settings)?;
    let previous = Results::read(&out, true)?;
    if !previous.unreadable.is_empty() {
        eprintln!(
            "note: {} has unreadable lines {:?} (cut by a crash?); those attempts run again",
            out.join(RESULTS_FILE).display(),
            previous.unreadable
        );
    }
    let done = previous.done(args.retry_errors);
    let planned_total = suite.tasks.len() as u64 * u64::from(args.repeat);

    // Git workspaces are cloned once, before any session starts.
    let mut sources = HashMap::new();
    for task in &suite.tasks {
        let source = match &task.workspace {
            WorkspaceSource::Folder(folder) => folder.clone(),
            WorkspaceSource::Git { url, commit } => prepare_git(&out, task, url, commit).await?,
        };
        sources.insert(task.id.clone(), source);
    }
    let mut queue = VecDeque::new();
    for repeat in 0..args.repeat {
        for task in &suite.tasks {
            if done.contains(&(task.id.to_string(), repeat)) {
                continue;
            }
            queue.push_back(Planned {
                task: Arc::new(task.clone()),
                source: sources[&task.id].clone(),
                repeat,
            });
        }
    }
    let kept = planned_total - queue.len() as u64;
    eprintln!(
        "suite: {} ({} × {} = {planned_total} attempts; {kept} already recorded, {} to run)",
        suite.root.display(),
        count(suite.tasks.len(), "task"),
        args.repeat,
        queue.len()
    );
    eprintln!("results: {}", out.join(RESULTS_FILE).display());
    if queue.is_empty() {
        eprintln!("nothing to run: every attempt is recorded");
        let (summary, _) = write_summary(&out, &suite, args.repeat)?;
        print!("{summary}");
        return Ok(ExitCode::SUCCESS);
    }

    // The engine: one backend per session, each pinned to a slot of its own when the
    // server has enough of them.
    let sessions = parallel.min(u32::try_from(queue.len()).unwrap_or(u32::MAX));
    let backends = open_backends(&config, &args.runtime, sessions).await?;
    let cancel = Cancel::new();
    let live = Arc::new(Live::default());
    let python = if config.python() {
        Some(session::python_runtime()?)
    } else {
        None
    };
    let toolset = config.toolset();
    let exec = config.exec_grant();
    describe_tools(toolset, &exec).await;
    eprintln!(
        "setup and check: {}",
        if confinement.is_confined() {
            "confined like container.exec (workspace only, no network)"
        } else {
            "UNCONFINED"
        }
    );
    let ctx = Arc::new(RunContext {
        out: out.clone(),
        config,
        toolset,
        exec,
        python,
        confinement,
        keep_workspaces: args.keep_workspaces,
        cancel: cancel.clone(),
        live: Arc::clone(&live),
    });

    let watcher = {
        let cancel = cancel.clone();
        super::on_ctrl_c(move || {
            if cancel.is_cancelled() {
                eprintln!("\ninterrupted again: exiting now");
                std::process::exit(i32::from(super::EXIT_CANCELLED));
            }
            eprintln!("\ninterrupted: stopping the sessions (Ctrl-C again to exit at once)");
            cancel.cancel();
        })?
    };
    let started_at = ossa_agent::time::rfc3339_now();
    let start = Instant::now();
    let to_run = queue.len() as u64;
    let queue = Arc::new(Mutex::new(queue));
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let mut workers = tokio::task::JoinSet::new();
    for backend in backends {
        let (ctx, queue, sender) = (Arc::clone(&ctx), Arc::clone(&queue), sender.clone());
        workers.spawn(worker(ctx, backend, queue, sender));
    }
    drop(sender);

    let mut progress = Progress::new(to_run, Arc::clone(&live));
    let mut recorded = 0u32;
    let mut generated = 0u64;
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(1));
    let results_file = out.join(RESULTS_FILE);
    loop {
        tokio::select! {
            end = receiver.recv() => match end {
                Some(AttemptEnd::Recorded(record)) => {
                    if let Err(err) = results::append_line(&results_file, &record) {
                        cancel.cancel();
                        progress.finish();
                        return Err(err);
                    }
                    recorded += 1;
                    generated += record.tokens.generated;
                    progress.finished(&record);
                }
                Some(AttemptEnd::Interrupted) => {}
                None => break,
            },
            _ = ticker.tick() => progress.refresh(),
        }
    }
    while workers.join_next().await.is_some() {}
    watcher.abort();
    progress.finish();
    let interrupted = cancel.is_cancelled();
    let run = RunRecord {
        started_at,
        parallel: sessions,
        attempts: recorded,
        generated,
        wall_s: start.elapsed().as_secs_f64(),
        interrupted,
    };
    results::append_line(&out.join(RUNS_FILE), &run)?;
    let (summary, recorded_in_all) = write_summary(&out, &suite, args.repeat)?;
    print!("{summary}");
    if interrupted {
        let left = planned_total.saturating_sub(recorded_in_all as u64);
        eprintln!(
            "interrupted: {recorded_in_all} attempts recorded in {}, {left} left; run the same command again to resume",
            results_file.display()
        );
        return Ok(super::EXIT_CANCELLED.into());
    }
    Ok(ExitCode::SUCCESS)
}

/// Takes attempts from the queue until it is empty or the run is cancelled.
async fn worker(
    ctx: Arc<RunContext>,
    backend: Arc<dyn Backend>,
    queue: Arc<Mutex<VecDeque<Planned>>>,
    sender: tokio::sync::mpsc::UnboundedSender<AttemptEnd>,
) {
    use std::sync::atomic::Ordering;
    loop {
        if ctx.cancel.is_cancelled() {
            return;
        }
        let next = queue.lock().ok().and_then(|mut queue| queue.pop_front());
        let Some(planned) = next else { return };
        ctx.live.running.fetch_add(1, Ordering::Relaxed);
        let end = attempt::run(&ctx, &planned, Arc::clone(&backend)).await;
        ctx.live.running.fetch_sub(1, Ordering::Relaxed);
        if sender.send(end).is_err() {
            return;
        }
    }
}

/// `sessions` backends: for a llama-server with at least that many slots, one per
/// session pinned to its own slot; otherwise one shared by all.
async fn open_backends(
    config: &Config,
    runtime: &RuntimeArgs,
    sessions: u32,
) -> anyhow::Result<Vec<Arc<dyn Backend>>> {
    let first = session::open_backend(config, runtime).await?;
    let info = first.info();
    let kind = ossa_agent::event::ModelRecord::from_info(&info).backend;
    let slots = first.parallel_slots();
    let pin = matches!(config.model(), Some(ModelChoice::Server(_)))
        && info.kind == ossa_model::BackendKind::LlamaServer
        && slots.is_some_and(|slots| slots >= sessions);
    let plan = match (pin, slots) {
        (true, Some(slots)) => format!(
            "{sessions} sessions, each pinned to a slot of its own ({sessions} of the server's {slots}) for prefix reuse"
        ),
        (false, Some(slots)) if sessions > 1 => format!(
            "{sessions} sessions on the server's {slots} slots (more sessions than slots: requests queue, the server picks slots)"
        ),
        _ if sessions > 1 => format!("{sessions} sessions at once"),
        _ => "one session at a time".to_string(),
    };
    eprintln!(
        "model: {} ({kind}, {}-token context); {plan}",
        info.model, info.context_size
    );
    if !pin {
        return Ok(vec![first; sessions as usize]);
    }
    drop(first);
    let mut backends = Vec::new();
    for slot in 0..sessions {
        backends.push(session::open_backend_pinned(config, runtime, Some(slot)).await?);
    }
    Ok(backends)
}

/// Says once what `container.exec` can do in the sessions.
async fn describe_tools(toolset: ossa_agent::event::Toolset, exec: &ExecOptions) {
    if toolset != ossa_agent::event::Toolset::Native {
        return;
    }
    let scratch = std::env::temp_dir();
    match ossa_wiring::SandboxTools::open(&scratch, toolset, exec).await {
        Ok(tools) => eprintln!("{}", tools.exec_status()),
        Err(err) => eprintln!("warning: the tools cannot be loaded: {err:#}"),
    }
}

/// The settings that must match for a rerun to add to the same results.
fn run_settings(suite: &Suite, config: &Config) -> RunSettings {
    let settings = config.agent_settings();
    RunSettings {
        suite: suite.root.clone(),
        model: config
            .model()
            .map(|m| format!("{} {}", m.kind(), m.value_text()))
            .unwrap_or_default(),
        reasoning: settings.reasoning.as_str().to_string(),
        toolset: settings.toolset.to_string(),
        temperature: settings.sampler.temperature,
        top_p: settings.sampler.top_p,
        min_p: settings.sampler.min_p,
        seed: config.sampler().seed,
        max_steps: settings.max_steps,
        max_tokens: settings.max_tokens,
    }
}

/// Writes `eval.json` for a new output directory, or checks that an existing one was
/// made with the same settings.
fn check_settings(out: &Path, settings: &RunSettings) -> anyhow::Result<()> {
    let file = out.join(SETTINGS_FILE);
    match std::fs::read_to_string(&file) {
        Ok(text) => {
            let before: RunSettings = serde_json::from_str(&text)
                .with_context(|| format!("{} is not an ossa eval settings file", file.display()))?;
            let differences: Vec<String> = settings
                .differences(&before)
                .into_iter()
                .map(|d| format!("{}: {} now, {} before", d.key, d.this, d.other))
                .collect();
            if !differences.is_empty() {
                bail!(
                    "{} holds results made with other settings ({}); give another --out, or the same settings to resume",
                    out.display(),
                    differences.join("; ")
                );
            }
            Ok(())
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let text = serde_json::to_string_pretty(settings)?;
            std::fs::write(&file, text + "\n")
                .with_context(|| format!("cannot write {}", file.display()))
        }
        Err(err) => Err(err).with_context(|| format!("cannot read {}", file.display())),
    }
}

/// Renders the summary of the attempts `OUT/results.jsonl` holds for the suite's tasks
/// and `repeat` (the latest record of each), writes it to `OUT/summary.md`, and returns it
/// with the number of attempts it covers.
fn write_summary(out: &Path, suite: &Suite, repeat: u32) -> anyhow::Result<(String, usize)> {
    let tasks: Vec<String> = suite.tasks.iter().map(|t| t.id.to_string()).collect();
    let records: Vec<AttemptRecord> = Results::read(out, true)?
        .records
        .into_iter()
        .filter(|r| tasks.contains(&r.task) && r.repeat < repeat)
        .collect();
    let runs = results::read_runs(out);
    let text = summary::render(&summary::SummaryInput {
        tasks: &tasks,
        repeat,
        records: &records,
        runs: &runs,
    });
    let mut markdown = format!("# ossa eval: {}\n\n", suite.root.display());
    if let Ok(settings) = std::fs::read_to_string(out.join(SETTINGS_FILE)) {
        markdown.push_str(&format!(
            "Settings:\n\n```json\n{}\n```\n\n",
            settings.trim()
        ));
    }
    // The table as it is; the totals as a list, one line each.
    let (table, totals) = text.split_once("\n\n").unwrap_or((&text, ""));
    markdown.push_str(table);
    markdown.push_str("\n\n");
    for line in totals.lines().filter(|l| !l.is_empty()) {
        markdown.push_str(&format!("- {line}\n"));
    }
    let file = out.join(SUMMARY_FILE);
    std::fs::write(&file, markdown).with_context(|| format!("cannot write {}", file.display()))?;
    let errors = records
        .iter()
        .filter(|r| r.verdict == results::Verdict::Error)
        .count();
    if errors > 0 {
        eprintln!(
            "{errors} attempts ended in an error (see their `error` in {}); once the cause is fixed, run again with --retry-errors",
            out.join(RESULTS_FILE).display()
        );
    }
    Ok((text, records.len()))
}

/// `ossa eval summary OUT`.
fn print_summary(out: &Path) -> anyhow::Result<ExitCode> {
    let results = Results::read(out, false)?;
    let settings: Option<RunSettings> = std::fs::read_to_string(out.join(SETTINGS_FILE))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    let mut tasks: Vec<String> = results.records.iter().map(|r| r.task.clone()).collect();
    tasks.sort();
    tasks.dedup();
    let repeat = results
        .records
        .iter()
        .map(|r| r.repeat + 1)
        .max()
        .unwrap_or(1);
    if let Some(settings) = settings {
        println!(
            "suite: {}\nmodel: {}\n",
            settings.suite.display(),
            settings.model
        );
    }
    print!(
        "{}",
        summary::render(&summary::SummaryInput {
            tasks: &tasks,
            repeat,
            records: &results.records,
            runs: &results::read_runs(out),
        })
    );
    Ok(ExitCode::SUCCESS)
}

/// Clones a task's repository into `OUT/.cache/git/TASK` once and checks out `commit`
/// there; attempts copy that checkout. Runs the host's git (the suite's own URL).
async fn prepare_git(out: &Path, task: &Task, url: &str, commit: &str) -> anyhow::Result<PathBuf> {
    let dir = out.join(".cache/git").join(task.id.as_str());
    let stamp = out.join(".cache/git").join(format!("{}.commit", task.id));
    if dir.is_dir() && std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == commit) {
        return Ok(dir);
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    std::fs::create_dir_all(out.join(".cache/git"))?;
    eprintln!("{}: cloning {url} at {commit}", task.id);
    let git = |args: Vec<&std::ffi::OsStr>| {
        let mut command = tokio::process::Command::new("git");
        command.args(args).stdin(std::process::Stdio::null());
        command
    };
    let output = git(vec![
        "clone".as_ref(),
        "--quiet".as_ref(),
        "--no-checkout".as_ref(),
        "--".as_ref(),
        url.as_ref(),
        dir.as_os_str(),
    ])
    .output()
    .await
    .context("cannot run git (is it installed?)")?;
    if !output.status.success() {
        bail!(
            "task {}: git clone {url} failed: {}",
            task.id,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let output = git(vec![
        "-C".as_ref(),
        dir.as_os_str(),
        "checkout".as_ref(),
        "--quiet".as_ref(),
        "--detach".as_ref(),
        commit.as_ref(),
    ])
    .output()
    .await
    .context("cannot run git")?;
    if !output.status.success() {
        bail!(
            "task {}: commit {commit} cannot be checked out from {url}: {}",
            task.id,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    std::fs::write(&stamp, commit).with_context(|| format!("cannot write {}", stamp.display()))?;
    Ok(dir)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_git_task_is_checked_out_at_its_commit() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        let git = |args: &[&str]| {
            let status = std::process::Command::new("git")
                .args(["-C", repo.to_str().unwrap()])
                .args(["-c", "user.name=t", "-c", "user.email=t@t"])
                .args(args)
                .output()
                .unwrap();
            assert!(status.status.success(), "{status:?}");
            String::from_utf8(status.stdout).unwrap()
        };
        git(&["init", "--quiet"]);
        std::fs::write(repo.join("f.txt"), "one").unwrap();
        git(&["add", "f.txt"]);
        git(&["commit", "--quiet", "-m", "one"]);
        let first = git(&["rev-parse", "HEAD"]).trim().to_string();
        std::fs::write(repo.join("f.txt"), "two").unwrap();
        git(&["commit", "--quiet", "-am", "two"]);

        let suite_dir = dir.path().join("suite/t");
        std::fs::create_dir_all(&suite_dir).unwrap();
        std::fs::write(
            suite_dir.join("task.toml"),
            format!(
                "task = \"x\"\ncheck = \"true\"\ngit = \"{}\"\ncommit = \"{first}\"\n",
                repo.display()
            ),
        )
        .unwrap();
        let suite = Suite::load(&dir.path().join("suite")).unwrap();
        let out = dir.path().join("out");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (url, commit) = match &suite.tasks[0].workspace {
            WorkspaceSource::Git { url, commit } => (url.clone(), commit.clone()),
            other => panic!("{other:?}"),
        };
        let checkout = rt
            .block_on(prepare_git(&out, &suite.tasks[0], &url, &commit))
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(checkout.join("f.txt")).unwrap(),
            "one"
        );
        // Prepared once: a second call reuses the checkout.
        std::fs::write(checkout.join("marker"), "").unwrap();
        let again = rt
            .block_on(prepare_git(&out, &suite.tasks[0], &url, &commit))
            .unwrap();
        assert!(again.join("marker").exists());
    }
}
