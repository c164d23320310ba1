//! The repo_browser tools on a generated repository (3,000 Python-like files in 150
//! packages), warm calls, against the system's `grep -rn` and `find` run on the same
//! tree in the same run (process start included: that is what a harness shelling out
//! pays too).
//!
//! `cargo bench -p ossa-sandbox --bench repo_browser` (add `-- --quick` for fewer
//! iterations).

use std::fmt::Write as _;
use std::fs;
use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ossa_sandbox::{Tool, ToolHost, builtin_policy};

const PACKAGES: usize = 150;
const MODULES: usize = 20;

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let iterations = if quick { 5 } else { 25 };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return eprintln!("cannot start tokio: {err}"),
    };
    if let Err(err) = runtime.block_on(run(iterations)) {
        eprintln!("benchmark failed: {err}");
        std::process::exit(1);
    }
}

async fn run(iterations: usize) -> Result<(), String> {
    let scratch = tempfile::tempdir().map_err(|err| err.to_string())?;
    let workspace = scratch.path().join("repo");
    let bytes = generate(&workspace)?;
    let host = ToolHost::new(&scratch.path().join("artifacts")).map_err(|err| err.to_string())?;
    println!(
        "a generated repository: {} files, {:.1} MB; {iterations} warm calls each, p50",
        PACKAGES * MODULES,
        bytes as f64 / 1e6
    );

    let search = load(&host, "search").await?;
    // A rare name: the whole tree is read, as in a real search.
    let args = r#"{"path": "", "query": "def handler_77_7_19\\(", "max_results": 20}"#;
    let tool = measure(iterations, || call(&search, args, &workspace)).await?;
    let native = measure_native(iterations, || {
        Command::new("grep")
            .args(["-rnE", "def handler_77_7_19\\(", "."])
            .current_dir(&workspace)
            .output()
    })?;
    report("search, one rare match", tool, "grep -rnE", native);
    let grep = load(&host, "grep").await?;
    let args = r#"{"pattern": "def handler_77_7_19\\(", "max_results": 20}"#;
    let builtin_grep = measure(iterations, || call(&grep, args, &workspace)).await?;
    report(
        "  the same with the grep built-in",
        builtin_grep,
        "grep -rnE",
        native,
    );
    let one_package =
        r#"{"path": "pkg_077", "query": "def handler_77_7_19\\(", "max_results": 20}"#;
    let package = measure(iterations, || call(&search, one_package, &workspace)).await?;
    report(
        "  the same in one package (20 files)",
        package,
        "grep -rnE",
        native,
    );

    let args = r#"{"path": "", "query": "return value", "max_results": 20}"#;
    let tool = measure(iterations, || call(&search, args, &workspace)).await?;
    let native = measure_native(iterations, || {
        Command::new("sh")
            .args(["-c", "grep -rn 'return value' . | head -n 20"])
            .current_dir(&workspace)
            .output()
    })?;
    report(
        "search, 60,000 matches (20 shown, 10,000 counted)",
        tool,
        "grep -rn | head -20",
        native,
    );

    let print_tree = load(&host, "print_tree").await?;
    let args = r#"{"path": "", "depth": 3}"#;
    let tool = measure(iterations, || call(&print_tree, args, &workspace)).await?;
    let native = measure_native(iterations, || {
        Command::new("find")
            .args([".", "-maxdepth", "3"])
            .current_dir(&workspace)
            .output()
    })?;
    report("print_tree depth 3", tool, "find -maxdepth 3", native);

    let open_file = load(&host, "open_file").await?;
    let args = r#"{"path": "pkg_077/module_07.py", "line_start": 10, "line_end": 60, "line_numbers": true}"#;
    let tool = measure(iterations, || call(&open_file, args, &workspace)).await?;
    let native = measure_native(iterations, || {
        Command::new("sed")
            .args(["-n", "10,60p", "pkg_077/module_07.py"])
            .current_dir(&workspace)
            .output()
    })?;
    report("open_file 51 lines", tool, "sed -n", native);
    Ok(())
}

/// Writes the repository; returns its size in bytes.
fn generate(root: &Path) -> Result<usize, String> {
    let mut total = 0;
    for package in 0..PACKAGES {
        let dir = root.join(format!("pkg_{package:03}"));
        fs::create_dir_all(&dir).map_err(|err| err.to_string())?;
        for module in 0..MODULES {
            let mut text = String::from("import os\nimport sys\n\n");
            for function in 0..20 {
                let _ = write!(
                    text,
                    "def handler_{package}_{module}_{function}(value):\n    \"\"\"Handles one value.\"\"\"\n    if value is None:\n        return None\n    return value\n\n"
                );
            }
            total += text.len();
            fs::write(dir.join(format!("module_{module:02}.py")), text)
                .map_err(|err| err.to_string())?;
        }
    }
    Ok(total)
}

async fn load(host: &ToolHost, name: &str) -> Result<Tool, String> {
    let component = ossa_builtin_tools::BUILTINS
        .iter()
        .find(|c| c.name == name)
        .ok_or(format!("{name} is not built in"))?;
    host.load(component.wasm.to_vec(), builtin_policy(name))
        .await
        .map_err(|err| err.to_string())
}

async fn call(tool: &Tool, args: &str, workspace: &Path) -> Result<String, String> {
    tool.call(args, workspace)
        .await
        .map(|output| output.text)
        .map_err(|failure| failure.message)
}

async fn measure<F, Fut>(iterations: usize, mut run: F) -> Result<Duration, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<String, String>>,
{
    black_box(run().await?);
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        black_box(run().await?);
        samples.push(started.elapsed());
    }
    Ok(median(samples))
}

fn measure_native(
    iterations: usize,
    mut run: impl FnMut() -> std::io::Result<std::process::Output>,
) -> Result<Duration, String> {
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        let output = run().map_err(|err| format!("cannot run the native baseline: {err}"))?;
        samples.push(started.elapsed());
        black_box(output);
    }
    Ok(median(samples))
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn report(what: &str, tool: Duration, baseline: &str, native: Duration) {
    println!(
        "{what:<48} {tool:>10.1?}   {baseline:<20} {native:>10.1?}   ratio {:.2}x",
        tool.as_secs_f64() / native.as_secs_f64().max(1e-9)
    );
}
