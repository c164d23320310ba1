//! Shared helpers for ossa's integration tests (see `tests/`).
//!
//! [`CassetteRun`] turns an agent test into a few lines: a cassette (the user's task and
//! the model's completions as harmony text) and a workspace fixture go in; the run
//! happens with the real sandboxed tools on a temporary copy of the workspace; the test
//! then asserts on the answer, the tool calls and the files.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! let run = ossa_tests::CassetteRun::new("fix_add", "calc").await?;
//! assert_eq!(run.tool_calls(), ["grep", "read_file", "apply_patch"]);
//! assert!(run.file("src/lib.rs").contains("a + b"));
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use ossa_agent::event::Toolset;
use ossa_agent::event::{ToolResult, ToolStatus};
use ossa_agent::harmony_tokenizer;
use ossa_agent::{
    Agent, AgentParts, AgentSettings, Cancel, Collector, Event, EventSink, Outcome, ReplayBackend,
    ToolExecutor, Transcript, TranscriptWriter, TurnReport,
};
use ossa_model::Backend;
use ossa_sandbox::SharedPythonRuntime;
use ossa_wiring::ExecOptions;

/// The fixtures folder, `tests/fixtures/`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A hand-written cassette, `tests/fixtures/cassettes/NAME.jsonl`.
pub fn cassette_path(name: &str) -> PathBuf {
    fixtures().join("cassettes").join(format!("{name}.jsonl"))
}

/// Copies the directory `from` to `to` (created), recursively.
pub fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))?
    {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// A finished cassette run: its events, reports, transcript and workspace.
pub struct CassetteRun {
    /// Holds the workspace copy and the transcript; deleted on drop.
    pub dir: tempfile::TempDir,
    /// The workspace the tools ran on.
    pub workspace: PathBuf,
    /// The transcript written during the run.
    pub transcript: PathBuf,
    /// Every event, in order.
    pub events: Vec<Event>,
    /// One report per user message of the cassette.
    pub reports: Vec<TurnReport>,
}

/// A sink that also keeps the events for the test.
struct Keep(std::sync::Arc<std::sync::Mutex<Collector>>);

impl EventSink for Keep {
    fn emit(&mut self, event: &Event) -> std::io::Result<()> {
        match self.0.lock() {
            Ok(mut collector) => collector.emit(event),
            Err(_) => Err(std::io::Error::other("the event collector is poisoned")),
        }
    }
}

impl CassetteRun {
    /// Runs `tests/fixtures/cassettes/CASSETTE.jsonl` on a copy of
    /// `tests/fixtures/workspaces/WORKSPACE/` with the real tools and default settings.
    pub async fn new(cassette: &str, workspace: &str) -> anyhow::Result<CassetteRun> {
        CassetteRun::with_settings(cassette, workspace, AgentSettings::default()).await
    }

    /// [`CassetteRun::new`] for a cassette written in the `functions` dialect (generic
    /// functions in the developer message, JSON calls on the commentary channel).
    pub async fn functions(cassette: &str, workspace: &str) -> anyhow::Result<CassetteRun> {
        let settings = AgentSettings {
            toolset: ossa_agent::event::Toolset::Functions,
            ..AgentSettings::default()
        };
        CassetteRun::with_settings(cassette, workspace, settings).await
    }

    /// A native-dialect cassette with commands as `exec` allows and, with `python` (the
    /// test's `CARGO_TARGET_TMPDIR`), the python tool: the interpreter compiled once into
    /// that directory, shared with the sandbox's tests. `None` when the interpreter
    /// cannot be obtained and `OSSA_REQUIRE_PYTHON` is unset (it said so on stderr).
    pub async fn native(
        cassette: &str,
        workspace: &str,
        exec: ExecOptions,
        python: Option<&Path>,
    ) -> anyhow::Result<Option<CassetteRun>> {
        let dir = tempfile::tempdir()?;
        let work = dir.path().join("workspace");
        copy_dir(&fixtures().join("workspaces").join(workspace), &work)?;
        let mut tools = ossa_wiring::SandboxTools::open(&work, Toolset::Native, &exec).await?;
        if let Some(tmpdir) = python {
            let Some(runtime) = python_runtime(tmpdir).await else {
                return Ok(None);
            };
            tools = tools.with_python(Toolset::Native, runtime)?;
        }
        let transcript = Transcript::read(&cassette_path(cassette))?;
        let backend = Arc::new(ReplayBackend::new(&transcript, harmony_tokenizer(), false)?);
        let settings = AgentSettings::default();
        CassetteRun::run(dir, work, &transcript, backend, Box::new(tools), settings)
            .await
            .map(Some)
    }

    /// [`CassetteRun::new`] with other settings.
    pub async fn with_settings(
        cassette: &str,
        workspace: &str,
        settings: AgentSettings,
    ) -> anyhow::Result<CassetteRun> {
        let dir = tempfile::tempdir()?;
        let work = dir.path().join("workspace");
        copy_dir(&fixtures().join("workspaces").join(workspace), &work)?;
        let tools = Box::new(
            ossa_wiring::SandboxTools::open(&work, settings.toolset, &ExecOptions::default())
                .await?,
        );
        let transcript = Transcript::read(&cassette_path(cassette))?;
        let tokenizer = ossa_agent::harmony_tokenizer();
        let backend = Arc::new(ReplayBackend::new(&transcript, tokenizer, false)?);
        CassetteRun::run(dir, work, &transcript, backend, tools, settings).await
    }

    /// Runs every user message of `transcript` (a cassette or a recording) with the
    /// model and tools given, recording a new transcript in `dir`.
    pub async fn run(
        dir: tempfile::TempDir,
        workspace: PathBuf,
        transcript: &Transcript,
        backend: Arc<dyn Backend>,
        tools: Box<dyn ToolExecutor>,
        settings: AgentSettings,
    ) -> anyhow::Result<CassetteRun> {
        let path = dir.path().join("transcript.jsonl");
        let collector = std::sync::Arc::new(std::sync::Mutex::new(Collector::default()));
        let sinks: Vec<Box<dyn EventSink>> = vec![
            Box::new(TranscriptWriter::create(&path)?),
            Box::new(Keep(std::sync::Arc::clone(&collector))),
        ];
        let parts = AgentParts {
            session_id: "test".into(),
            backend,
            tools,
            sink: Box::new(sinks),
            approver: None,
        };
        let mut agent = Agent::replaying(parts, settings, transcript, Some(&workspace))?;
        let reports = agent.replay_turns(transcript, &Cancel::new()).await?;
        let events = collector
            .lock()
            .map_err(|_| anyhow::anyhow!("the event collector is poisoned"))?
            .events
            .clone();
        Ok(CassetteRun {
            dir,
            workspace,
            transcript: path,
            events,
            reports,
        })
    }

    /// How the last turn ended.
    pub fn outcome(&self) -> Option<Outcome> {
        self.reports.last().map(|report| report.outcome)
    }

    /// The last turn's final answer.
    pub fn answer(&self) -> Option<&str> {
        self.reports
            .last()
            .and_then(|report| report.answer.as_deref())
    }

    /// The names of the tools called, in order.
    pub fn tool_calls(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|event| match event {
                Event::ToolCall(call) => Some(call.name.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The tool results, in order.
    pub fn tool_results(&self) -> Vec<&ToolResult> {
        self.events
            .iter()
            .filter_map(|event| match event {
                Event::ToolResult(result) => Some(result),
                _ => None,
            })
            .collect()
    }

    /// The tool results that were errors.
    pub fn tool_errors(&self) -> Vec<&ToolResult> {
        self.tool_results()
            .into_iter()
            .filter(|r| r.status == ToolStatus::Error)
            .collect()
    }

    /// A workspace file's text after the run ("" if it does not exist).
    pub fn file(&self, path: &str) -> String {
        std::fs::read_to_string(self.workspace.join(path)).unwrap_or_default()
    }
}

/// The sandboxed Python for tests: unpacked and compiled into
/// `TMPDIR/ossa-sandbox-tests`, where `TMPDIR` is cargo's `CARGO_TARGET_TMPDIR` (the
/// sandbox's tests use the same copy), so once per machine. `None`, after saying so on stderr, when it cannot be obtained and
/// `OSSA_REQUIRE_PYTHON` is unset; with it set (CI), that is a panic instead.
pub async fn python_runtime(tmpdir: &Path) -> Option<SharedPythonRuntime> {
    let dir = tmpdir.join("ossa-sandbox-tests");
    let runtime = SharedPythonRuntime::with_dirs(
        &dir.join("python"),
        &dir.join("artifacts"),
        ossa_sandbox::python::WheelSource::from_env(),
    );
    match runtime.get().await {
        Ok(_) => Some(runtime),
        Err(err) if std::env::var_os("OSSA_REQUIRE_PYTHON").is_none() => {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED: the sandboxed Python is unavailable (OSSA_REQUIRE_PYTHON=1 makes this an error): {err} ***\n"
            );
            None
        }
        Err(err) => {
            panic!("OSSA_REQUIRE_PYTHON is set but the sandboxed Python is unavailable: {err}")
        }
    }
}
