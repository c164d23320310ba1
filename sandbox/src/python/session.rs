//! A notebook session: one interpreter kept across cells, as gpt-oss's `python` tool
//! expects ("a stateful Jupyter notebook environment").

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::capture::{Capture, clip};
use super::instance::{Interpreter, Mounts, Report, Streams, TurnEnd};
use super::mounts::{self, Cwd, Scratch};
use super::policy::PythonPolicy;
use super::runtime::{PythonError, PythonRuntime};

pub use super::instance::Restart;

/// What a cell shows, as a notebook would: what it printed, the value of its final
/// expression, its traceback. Each part is clipped to the policy's output limit (head
/// and tail).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CellOutput {
    /// What the cell printed to stdout.
    pub stdout: String,
    /// What the cell printed to stderr (warnings, logging).
    pub stderr: String,
    /// `repr` of the cell's final expression, unless it is `None` or the cell ends
    /// with `;`.
    pub value: Option<String>,
    /// The traceback of the exception that ended the cell (a `SyntaxError` included).
    pub error: Option<String>,
    /// Set when the interpreter stopped during this cell (or, for
    /// [`Restart::Interrupted`], before it) and was restarted: everything defined
    /// before is gone.
    pub restart: Option<Restart>,
    /// The memory limit in MiB, when an allocation was refused during the cell.
    pub memory_limit_hit_mib: Option<u32>,
    /// Bytes of stdout and stderr left out by the output limit.
    pub left_out_bytes: u64,
    /// Wall time of the cell, starting the interpreter included.
    pub duration: Duration,
}

impl CellOutput {
    /// The cell as plain text for the model: stdout, stderr, the value, the
    /// traceback, then a note on a restart or the memory limit. Empty when the cell
    /// showed nothing.
    pub fn text(&self) -> String {
        let mut text = String::new();
        let mut add = |part: &str| {
            if part.is_empty() {
                return;
            }
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(part);
        };
        if let Some(restart @ Restart::Interrupted) = &self.restart {
            add(&format!("[{}]\n", restart.message()));
        }
        add(&self.stdout);
        add(&self.stderr);
        if let Some(value) = &self.value {
            add(value);
        }
        if let Some(error) = &self.error {
            add(error);
        }
        if let Some(mib) = self.memory_limit_hit_mib {
            add(&format!(
                "[the sandbox's memory limit of {mib} MiB was reached]"
            ));
        }
        match &self.restart {
            None | Some(Restart::Interrupted) => {}
            Some(restart) => add(&format!("[{}]", restart.message())),
        }
        text
    }

    /// True when the cell raised or the interpreter stopped.
    pub fn failed(&self) -> bool {
        self.error.is_some() || matches!(&self.restart, Some(r) if *r != Restart::Interrupted)
    }
}

impl Restart {
    /// One sentence for the model saying what happened and that the state is gone.
    pub fn message(&self) -> String {
        const GONE: &str = "variables defined before are gone";
        match self {
            Restart::Timeout(limit) => format!(
                "the interpreter was restarted after a {} s timeout; {GONE}",
                seconds(*limit)
            ),
            Restart::Exit(status) => {
                format!("the interpreter exited with status {status} and was restarted; {GONE}")
            }
            Restart::StackOverflow => format!(
                "the interpreter ran out of stack (recursion too deep in C code) and was restarted; {GONE}"
            ),
            Restart::Crash(_) | Restart::NoReport(_) => {
                format!("the interpreter crashed and was restarted; {GONE}")
            }
            Restart::Interrupted => format!(
                "the previous cell was interrupted, so the interpreter was restarted; {GONE}"
            ),
        }
    }
}

fn seconds(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs.fract() == 0.0 {
        format!("{secs:.0}")
    } else {
        format!("{secs}")
    }
}

/// One agent session's interpreter. Cells run one at a time (`&mut self`); globals,
/// imports and files in `/tmp` persist between them until [`PythonSession::reset`] or
/// a restart. The interpreter starts at the first cell (or [`PythonSession::start`]).
///
/// Dropping a [`PythonSession::run_cell`] future mid-cell (the user cancelled the
/// turn) loses the interpreter; the next cell starts a new one and says so.
pub struct PythonSession {
    runtime: PythonRuntime,
    policy: PythonPolicy,
    mounts: Mounts,
    streams: Streams,
    interpreter: Option<Interpreter>,
    /// Set while a cell runs; still set at the next call when that cell's future was
    /// dropped.
    running: bool,
    // Last: removed after the interpreter that mounts it is dropped.
    scratch: Scratch,
}

impl std::fmt::Debug for PythonSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PythonSession")
            .field("policy", &self.policy)
            .field("started", &self.interpreter.is_some())
            .finish_non_exhaustive()
    }
}

impl PythonRuntime {
    /// A new session with `workspace` (mounted per `policy`). Checks the policy and
    /// the directories; the interpreter itself starts at the first cell.
    pub fn session(
        &self,
        workspace: Option<&Path>,
        policy: PythonPolicy,
    ) -> Result<PythonSession, PythonError> {
        let scratch = Scratch::new()?;
        let mounts = mounts::plan(&policy, workspace, &scratch, Cwd::Notebook)?;
        let limit = policy.output_limit_bytes;
        Ok(PythonSession {
            runtime: self.clone(),
            streams: Streams {
                stdout: Capture::new(limit),
                stderr: Capture::new(limit),
            },
            policy,
            mounts,
            interpreter: None,
            running: false,
            scratch,
        })
    }
}

impl PythonSession {
    /// The session's grants and limits.
    pub fn policy(&self) -> &PythonPolicy {
        &self.policy
    }

    /// The host directory the interpreter sees as `/tmp` (removed with the session).
    pub fn scratch_dir(&self) -> PathBuf {
        self.scratch.tmp()
    }

    /// Starts the interpreter now if it is not running (so the first cell does not pay
    /// for it).
    pub async fn start(&mut self) -> Result<(), PythonError> {
        if self.interpreter.is_none() || self.running {
            self.running = false;
            self.interpreter = Some(
                start_interpreter(&self.runtime, &self.mounts, &self.streams, &self.policy).await?,
            );
        }
        Ok(())
    }

    /// Forgets everything: the next cell runs in a new interpreter (`/clear`, a new
    /// conversation). Files written to the workspace or `/tmp` stay.
    pub fn reset(&mut self) {
        self.interpreter = None;
        self.running = false;
    }

    /// Runs one cell. `Err` only when no interpreter could be started (a mount went
    /// away, the host is out of memory); everything the code does, including
    /// crashing the interpreter, is reported in the [`CellOutput`].
    pub async fn run_cell(&mut self, code: &str) -> Result<CellOutput, PythonError> {
        let started = Instant::now();
        let mut restart = None;
        if self.running {
            self.interpreter = None;
            restart = Some(Restart::Interrupted);
        }
        self.running = false;
        let mut interpreter = match self.interpreter.take() {
            Some(interpreter) => interpreter,
            None => {
                start_interpreter(&self.runtime, &self.mounts, &self.streams, &self.policy).await?
            }
        };
        self.running = true;
        let end = interpreter.cell(code, self.policy.timeout).await;
        self.running = false;
        self.scratch.empty_dev_null();
        let stdout = self.streams.stdout.take();
        let stderr = self.streams.stderr.take();
        let memory_limit_hit = interpreter.memory_limit_hit();
        let limit = self.policy.output_limit_bytes;
        let mut output = CellOutput {
            stdout: stdout.text,
            stderr: stderr.text,
            left_out_bytes: stdout.left_out + stderr.left_out,
            memory_limit_hit_mib: memory_limit_hit.then_some(self.policy.memory_mib),
            restart,
            ..CellOutput::default()
        };
        match end {
            TurnEnd::Reported(Report::Cell { value, error }) => {
                output.value = value.map(|value| clip(&value, limit));
                output.error = error.map(|error| clip(&error, limit));
                self.interpreter = Some(interpreter);
            }
            TurnEnd::Reported(other) => {
                drop(interpreter);
                output.restart = Some(Restart::NoReport(format!(
                    "the cell ended with {other:?} instead of a cell report"
                )));
                self.restart_now().await;
            }
            TurnEnd::Died(death) => {
                tracing::info!(?death, "the sandboxed Python stopped during a cell");
                drop(interpreter);
                output.restart = Some(death);
                self.restart_now().await;
            }
        }
        output.duration = started.elapsed();
        Ok(output)
    }

    /// Starts a new interpreter after one died, so the next cell finds it ready; a
    /// failure is left for the next cell to report.
    async fn restart_now(&mut self) {
        match start_interpreter(&self.runtime, &self.mounts, &self.streams, &self.policy).await {
            Ok(interpreter) => self.interpreter = Some(interpreter),
            Err(err) => tracing::warn!(%err, "cannot restart the sandboxed Python yet"),
        }
    }
}

/// A new interpreter for a session. Takes the session's fields, not `&PythonSession`:
/// a shared borrow of the session held across an await would make the caller's future
/// need `PythonSession: Sync`, which a store is not.
async fn start_interpreter(
    runtime: &PythonRuntime,
    mounts: &Mounts,
    streams: &Streams,
    policy: &PythonPolicy,
) -> Result<Interpreter, PythonError> {
    let interpreter = Interpreter::start(
        &runtime.inner,
        mounts,
        streams,
        policy.memory_bytes(),
        policy.output_limit_bytes,
        true,
    )
    .await;
    // Whatever the start-up printed is not the next cell's.
    streams.stdout.take();
    streams.stderr.take();
    interpreter
}
