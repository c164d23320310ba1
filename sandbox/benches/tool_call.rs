//! Tool-call latency: warm `read_file` calls, cold starts from the cached artifact, and
//! a native Rust read of the same file as the baseline, all in one run.
//!
//! `cargo bench -p ossa-sandbox --bench tool_call` (add `-- --quick` for fewer
//! iterations). Targets (issue #3): warm p50 ≤ 200 µs, cold ≤ 30 ms.
//!
//! The breakdown comes from a second series of warm calls made with
//! `Tool::call_timed`, which reads the clock between the phases of a call (a few
//! `Instant::now()` calls, tens of nanoseconds); each phase's p50 is printed next to that
//! series' total p50. The phases' p50s need not add up to the total exactly.
//!
//! `-- --warm-only` makes only warm calls (20 000 of them, no breakdown, no cold starts),
//! for profilers: `perf record --call-graph dwarf <bench binary> --warm-only` (the first
//! load compiles the component; `perf report --time 30%-100%` leaves that out). Guest
//! frames are named `wasm[0]::function[N]` in the compiled artifact; the names are in
//! the component when the guests are built with `CARGO_PROFILE_RELEASE_STRIP=false`.

use std::fmt::Write as _;
use std::fs;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use ossa_sandbox::{CallPhases, ToolHost, builtin_policy};

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let warm_only = std::env::args().any(|arg| arg == "--warm-only");
    let (warm_iterations, cold_iterations) = match (warm_only, quick) {
        (true, _) => (20_000, 0),
        (false, true) => (200, 5),
        (false, false) => (2000, 30),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return eprintln!("cannot start tokio: {err}"),
    };
    if let Err(err) = runtime.block_on(run(warm_iterations, cold_iterations)) {
        eprintln!("benchmark failed: {err}");
        std::process::exit(1);
    }
}

async fn run(warm_iterations: usize, cold_iterations: usize) -> Result<(), String> {
    let scratch = tempfile::tempdir().map_err(|err| err.to_string())?;
    let workspace = scratch.path().join("workspace");
    fs::create_dir_all(&workspace).map_err(|err| err.to_string())?;
    let mut text = String::new();
    for line in 1..=40 {
        let _ = writeln!(
            text,
            "line {line}: the quick brown fox jumps over the lazy dog"
        );
    }
    fs::write(workspace.join("small.txt"), &text).map_err(|err| err.to_string())?;
    let cache = scratch.path().join("artifacts");
    let component = ossa_builtin_tools::BUILTINS
        .iter()
        .find(|c| c.name == "read_file")
        .ok_or("read_file is not built in")?;
    let policy = builtin_policy("read_file");
    let args = r#"{"path": "small.txt"}"#;

    // First load compiles and fills the cache; not measured.
    let host = ToolHost::new(&cache).map_err(|err| err.to_string())?;
    let started = Instant::now();
    let tool = host
        .load(component.wasm.to_vec(), policy.clone())
        .await
        .map_err(|err| err.to_string())?;
    let compile = started.elapsed();
    let expected = tool
        .call(args, &workspace)
        .await
        .map_err(|err| err.to_string())?
        .text;

    let mut warm = Vec::with_capacity(warm_iterations);
    for _ in 0..warm_iterations {
        let started = Instant::now();
        let output = tool
            .call(args, &workspace)
            .await
            .map_err(|err| err.to_string())?;
        warm.push(started.elapsed());
        black_box(output);
    }
    if cold_iterations == 0 {
        let stats = Stats::of(&mut warm);
        println!(
            "warm call            p50 {:>10.1?}  p99 {:>10.1?}",
            stats.p50, stats.p99
        );
        return Ok(());
    }

    let mut phases = Vec::with_capacity(warm_iterations);
    for _ in 0..warm_iterations {
        let mut phase = CallPhases::default();
        let started = Instant::now();
        let output = tool
            .call_timed(args, &workspace, &mut phase)
            .await
            .map_err(|err| err.to_string())?;
        phases.push((started.elapsed(), phase));
        black_box(output);
    }

    let mut native = Vec::with_capacity(warm_iterations);
    for _ in 0..warm_iterations {
        let started = Instant::now();
        let output = native_read_file(&workspace, "small.txt")?;
        native.push(started.elapsed());
        black_box(output);
    }
    if native_read_file(&workspace, "small.txt")? != expected {
        return Err("the native baseline does not produce read_file's output".to_owned());
    }

    // Cold start on the running engine: map the cached artifact, link, read the cached
    // description, first call.
    let mut cold = Vec::with_capacity(cold_iterations);
    for _ in 0..cold_iterations {
        let started = Instant::now();
        let tool = host
            .load(component.wasm.to_vec(), policy.clone())
            .await
            .map_err(|err| err.to_string())?;
        tool.call(args, &workspace)
            .await
            .map_err(|err| err.to_string())?;
        cold.push(started.elapsed());
    }

    // Cold start of a new process's host: engine and instance pool too.
    let mut cold_host = Vec::with_capacity(cold_iterations);
    for _ in 0..cold_iterations {
        let started = Instant::now();
        let host = ToolHost::new(&cache).map_err(|err| err.to_string())?;
        let tool = host
            .load(component.wasm.to_vec(), policy.clone())
            .await
            .map_err(|err| err.to_string())?;
        tool.call(args, &workspace)
            .await
            .map_err(|err| err.to_string())?;
        cold_host.push(started.elapsed());
    }

    let warm_stats = Stats::of(&mut warm);
    let native_stats = Stats::of(&mut native);
    println!(
        "read_file on a 40-line file ({} bytes); {warm_iterations} warm calls, {cold_iterations} cold starts",
        text.len()
    );
    println!("first load (compile + cache):          {compile:>10.1?}");
    println!(
        "warm call            p50 {:>10.1?}  p99 {:>10.1?}",
        warm_stats.p50, warm_stats.p99
    );
    println!(
        "native baseline      p50 {:>10.1?}  p99 {:>10.1?}",
        native_stats.p50, native_stats.p99
    );
    println!(
        "warm / native        p50 {:>9.0}x",
        warm_stats.p50.as_secs_f64() / native_stats.p50.as_secs_f64().max(1e-9)
    );
    println!("breakdown of {warm_iterations} timed warm calls, p50 of each phase:");
    let columns: [(&str, Phase); 7] = [
        ("prepare (args, workspace check)", |p| p.prepare),
        ("WASI context (pipes, preopens)", |p| p.wasi),
        ("store", |p| p.store),
        ("instantiate", |p| p.instantiate),
        ("guest call", |p| p.run),
        ("drop store", |p| p.teardown),
        ("report", |p| p.report),
    ];
    let mut totals: Vec<Duration> = phases.iter().map(|(total, _)| *total).collect();
    for (label, field) in columns {
        let mut samples: Vec<Duration> = phases.iter().map(|(_, p)| field(p)).collect();
        println!("  {label:<34} {:>10.1?}", Stats::of(&mut samples).p50);
    }
    println!(
        "  {:<34} {:>10.1?}",
        "total (timed calls)",
        Stats::of(&mut totals).p50
    );
    let cold_stats = Stats::of(&mut cold);
    let cold_host_stats = Stats::of(&mut cold_host);
    println!(
        "cold (cached, same engine)  p50 {:>10.1?}  max {:>10.1?}",
        cold_stats.p50, cold_stats.max
    );
    println!(
        "cold (cached, new host)     p50 {:>10.1?}  max {:>10.1?}",
        cold_host_stats.p50, cold_host_stats.max
    );
    Ok(())
}

/// What read_file does, natively: read the file and number its lines.
fn native_read_file(workspace: &Path, path: &str) -> Result<String, String> {
    let text = fs::read_to_string(workspace.join(path)).map_err(|err| err.to_string())?;
    let mut out = String::with_capacity(text.len() + 8 * 64);
    for (index, line) in text.lines().enumerate() {
        let _ = writeln!(out, "{:>6}\t{line}", index + 1);
    }
    Ok(out)
}

/// One phase of [`CallPhases`].
type Phase = fn(&CallPhases) -> Duration;

struct Stats {
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl Stats {
    fn of(samples: &mut [Duration]) -> Stats {
        samples.sort();
        let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
        Stats {
            p50: at(0.5),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}
