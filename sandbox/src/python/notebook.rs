//! The pieces an agent wraps into its `python` tool: the process's runtime obtained on
//! first use ([`SharedPythonRuntime`]), and one session's notebook callable through
//! `&self` ([`PythonNotebook`]), which is what a tool executor shared between tasks
//! needs.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::dist::WheelSource;
use super::policy::PythonPolicy;
use super::runtime::{PythonError, PythonRuntime};
use super::session::{CellOutput, PythonSession};
use crate::toolbox::OssaHome;

/// The process's [`PythonRuntime`], made on first use: the first caller fetches and
/// compiles the interpreter if needed (minutes, once per machine) while the others
/// wait; a failure is returned to that caller and tried again by the next. Clone it
/// into every place that may need Python; call [`SharedPythonRuntime::get`] early in a
/// background task to have it ready before the model's first call.
#[derive(Clone)]
pub struct SharedPythonRuntime {
    inner: Arc<SharedInner>,
}

struct SharedInner {
    python_dir: PathBuf,
    artifacts_dir: PathBuf,
    source: WheelSource,
    runtime: tokio::sync::Mutex<Option<PythonRuntime>>,
}

impl std::fmt::Debug for SharedPythonRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedPythonRuntime")
            .field("python_dir", &self.inner.python_dir)
            .field("artifacts_dir", &self.inner.artifacts_dir)
            .finish_non_exhaustive()
    }
}

/// The environment variable naming a directory that holds the interpreter
/// (`python/`) and its compiled form (`artifacts/`) instead of ossa's cache: tests that
/// run `ossa` with a fresh `OSSA_HOME` point it at one shared, already compiled copy
/// (the sandbox's tests keep theirs in `target/tmp/ossa-sandbox-tests`).
pub const PYTHON_CACHE_ENV: &str = "OSSA_PYTHON_CACHE";

impl SharedPythonRuntime {
    /// The runtime under ossa's directories (or `$OSSA_PYTHON_CACHE`), with the wheel
    /// from [`WheelSource::from_env`].
    pub fn new(home: &OssaHome) -> Self {
        let (python_dir, artifacts_dir) = cache_dirs(home, std::env::var_os(PYTHON_CACHE_ENV));
        Self::with_dirs(&python_dir, &artifacts_dir, WheelSource::from_env())
    }

    /// The runtime unpacked in `python_dir` and compiled into `artifacts_dir`.
    pub fn with_dirs(python_dir: &Path, artifacts_dir: &Path, source: WheelSource) -> Self {
        SharedPythonRuntime {
            inner: Arc::new(SharedInner {
                python_dir: python_dir.to_path_buf(),
                artifacts_dir: artifacts_dir.to_path_buf(),
                source,
                runtime: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// The runtime, made now if no call made it yet.
    pub async fn get(&self) -> Result<PythonRuntime, PythonError> {
        let mut runtime = self.inner.runtime.lock().await;
        if let Some(runtime) = runtime.as_ref() {
            return Ok(runtime.clone());
        }
        let made = PythonRuntime::with_source(
            &self.inner.python_dir,
            &self.inner.artifacts_dir,
            &self.inner.source,
        )
        .await?;
        *runtime = Some(made.clone());
        Ok(made)
    }

    /// The runtime if it is made already (never waits).
    pub fn ready(&self) -> Option<PythonRuntime> {
        self.inner
            .runtime
            .try_lock()
            .ok()
            .and_then(|runtime| runtime.clone())
    }
}

/// Where the interpreter and its artifact go: under `override_dir` when set and not
/// empty, else ossa's cache.
fn cache_dirs(home: &OssaHome, override_dir: Option<OsString>) -> (PathBuf, PathBuf) {
    match override_dir.filter(|dir| !dir.is_empty()) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            (dir.join("python"), dir.join("artifacts"))
        }
        None => (home.python_dir(), home.artifacts_dir()),
    }
}

/// One agent session's `python` tool: a notebook whose interpreter starts at the first
/// cell. Cells run one at a time (a second waits for the first); [`PythonNotebook::reset`]
/// can be called from synchronous code (`/clear`).
pub struct PythonNotebook {
    runtime: SharedPythonRuntime,
    workspace: Option<PathBuf>,
    policy: PythonPolicy,
    session: tokio::sync::Mutex<Option<PythonSession>>,
    /// Set by `reset` when a cell was running: the next cell starts afresh.
    reset_requested: AtomicBool,
}

impl std::fmt::Debug for PythonNotebook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PythonNotebook")
            .field("workspace", &self.workspace)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl PythonNotebook {
    /// A notebook on `workspace` under `policy`. Checks the policy now; the workspace
    /// and the runtime at the first cell.
    pub fn new(
        runtime: SharedPythonRuntime,
        workspace: Option<&Path>,
        policy: PythonPolicy,
    ) -> Result<Self, PythonError> {
        policy.validate().map_err(PythonError::Policy)?;
        Ok(PythonNotebook {
            runtime,
            workspace: workspace.map(Path::to_path_buf),
            policy,
            session: tokio::sync::Mutex::new(None),
            reset_requested: AtomicBool::new(false),
        })
    }

    /// The notebook's grants and limits.
    pub fn policy(&self) -> &PythonPolicy {
        &self.policy
    }

    /// Runs one cell (see [`PythonSession::run_cell`]). `Err` when the interpreter
    /// cannot be obtained or started: the message says why and what to do (e.g. the
    /// download URL and `OSSA_PYTHON_WHEEL` when offline).
    pub async fn run(&self, code: &str) -> Result<CellOutput, PythonError> {
        let mut session = self.session.lock().await;
        if self.reset_requested.swap(false, Ordering::SeqCst) {
            *session = None;
        }
        let session = match session.as_mut() {
            Some(session) => session,
            None => {
                let runtime = self.runtime.get().await?;
                session.insert(runtime.session(self.workspace.as_deref(), self.policy.clone())?)
            }
        };
        session.run_cell(code).await
    }

    /// Forgets the interpreter's state: the next cell starts a new interpreter. If a
    /// cell is running, it finishes first.
    pub fn reset(&self) {
        match self.session.try_lock() {
            Ok(mut session) => *session = None,
            Err(_) => self.reset_requested.store(true, Ordering::SeqCst),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_can_be_shared_through_the_environment() {
        let home = OssaHome::at(Path::new("/home/u/ossa"));
        assert_eq!(
            cache_dirs(&home, None),
            (
                PathBuf::from("/home/u/ossa/cache/python"),
                PathBuf::from("/home/u/ossa/cache/artifacts")
            )
        );
        assert_eq!(
            cache_dirs(&home, Some(OsString::new())),
            cache_dirs(&home, None)
        );
        assert_eq!(
            cache_dirs(&home, Some(OsString::from("/srv/py"))),
            (
                PathBuf::from("/srv/py/python"),
                PathBuf::from("/srv/py/artifacts")
            )
        );
    }
}

/// Compile-time checks: an agent runs tools from spawned tasks, so the futures must be
/// `Send` and the notebook shareable.
#[cfg(test)]
#[allow(dead_code)]
mod send_checks {
    use super::*;

    fn send<T: Send>(_: &T) {}
    fn shared<T: Send + Sync>() {}

    fn futures_are_send(
        runtime: &PythonRuntime,
        session: &mut PythonSession,
        notebook: &PythonNotebook,
    ) {
        send(&runtime.run_command(
            &[],
            Path::new("/"),
            Path::new("/"),
            &PythonPolicy::default(),
        ));
        send(&notebook.run(""));
        send(&session.run_cell(""));
        shared::<PythonNotebook>();
        shared::<PythonRuntime>();
        shared::<SharedPythonRuntime>();
    }
}
