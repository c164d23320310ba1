//! `container.exec` overhead: a command run through the built-in `exec` tool (guest
//! component, `process` capability, confined sandbox: namespaces, Landlock, seccomp,
//! rlimits, private temporary directory, output capture) against a bare
//! `std::process::Command` spawn of the same command, measured in the same run,
//! interleaved. Also the confined runner alone, without the component.
//!
//! `cargo bench -p ossa-sandbox --bench exec` (add `-- --quick` for fewer iterations).
//! Target (issue #8): at most 5 ms added at p50.
//!
//! A confined command costs three forks of this process (watcher, init, command) and
//! three exits, against one vfork-spawn for the bare command. Each fork and exit takes
//! the kernel's global `cgroup_threadgroup_rwsem` for reading, so on a machine where
//! other processes are being moved between cgroups (container runtimes, systemd) they may
//! wait for an RCU grace period: the times are then bimodal, and p50 says more about the
//! machine than about ossa. The "forked" baseline shows what one such fork costs here.

use std::hint::black_box;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ossa_sandbox::exec::{CommandRequest, CommandRunner, NativeConfined};
use ossa_sandbox::{ExecGrant, ToolHost, ToolPolicy, exec_support};

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let iterations = if quick { 40 } else { 300 };
    if let Err(unsupported) = exec_support() {
        println!("SKIPPED: {unsupported}");
        return;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
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
    let workspace = std::fs::canonicalize(scratch.path()).map_err(|err| err.to_string())?;
    let host = ToolHost::new(&workspace.join(".cache")).map_err(|err| err.to_string())?;
    let component = ossa_builtin_tools::BUILTINS
        .iter()
        .find(|c| c.name == "exec")
        .ok_or("exec is not built in")?;
    let grant = ExecGrant::confined(Vec::new());
    let tool = host
        .load(
            component.wasm.to_vec(),
            ToolPolicy::exec_tool(grant.clone()),
        )
        .await
        .map_err(|err| err.to_string())?;

    println!("{iterations} iterations each, interleaved; times are wall-clock per command");
    for argv in [&["true"][..], &["echo", "hi"][..]] {
        let args = serde_json::json!({ "command": argv }).to_string();
        let expected = if argv[0] == "echo" {
            "Output:\nhi\n"
        } else {
            "Output: (none)\n"
        };
        let mut bare = Vec::with_capacity(iterations);
        let mut forked = Vec::with_capacity(iterations);
        let mut runner = Vec::with_capacity(iterations);
        let mut through_tool = Vec::with_capacity(iterations);
        for round in 0..iterations + 5 {
            let started = Instant::now();
            let output = Command::new(argv[0])
                .args(&argv[1..])
                .current_dir(&workspace)
                .stdin(Stdio::null())
                .output()
                .map_err(|err| err.to_string())?;
            let bare_time = started.elapsed();
            black_box(output);

            // The same with a (no-op) pre_exec hook, which makes std fork instead of
            // vfork-spawn: the price of copying this process's page tables.
            let mut command = Command::new(argv[0]);
            command
                .args(&argv[1..])
                .current_dir(&workspace)
                .stdin(Stdio::null());
            // SAFETY: the hook does nothing.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut command, || Ok(()));
            }
            let started = Instant::now();
            let output = command.output().map_err(|err| err.to_string())?;
            let forked_time = started.elapsed();
            black_box(output);

            let request = CommandRequest {
                argv: argv.iter().map(|arg| (*arg).to_owned()).collect(),
                workspace: workspace.clone(),
                workdir: workspace.clone(),
                timeout: Duration::from_secs(30),
                grant: grant.clone(),
            };
            let started = Instant::now();
            let outcome = NativeConfined
                .run(request)
                .await
                .map_err(|err| err.to_string())?;
            let runner_time = started.elapsed();
            black_box(outcome);

            let started = Instant::now();
            let output = tool
                .call(&args, &workspace)
                .await
                .map_err(|err| err.to_string())?;
            let tool_time = started.elapsed();
            if !output.text.ends_with(expected) {
                return Err(format!("unexpected output: {}", output.text));
            }
            // The first rounds warm caches (page cache, the compiled seccomp filter).
            if round >= 5 {
                bare.push(bare_time);
                forked.push(forked_time);
                runner.push(runner_time);
                through_tool.push(tool_time);
            }
        }
        let bare = Stats::of(&mut bare);
        let forked = Stats::of(&mut forked);
        let runner = Stats::of(&mut runner);
        let through_tool = Stats::of(&mut through_tool);
        let command = argv.join(" ");
        println!("\n`{command}`");
        bare.print("bare std::process::Command");
        forked.print("bare, forked (empty pre_exec)");
        runner.print("confined runner (no component)");
        through_tool.print("exec tool (component + sandbox)");
        println!(
            "  added at p50: {:.2} ms by the sandbox, {:.2} ms by the tool in all ({:.1}x the bare spawn)",
            ms(runner.p50.saturating_sub(bare.p50)),
            ms(through_tool.p50.saturating_sub(bare.p50)),
            through_tool.p50.as_secs_f64() / bare.p50.as_secs_f64().max(1e-9)
        );
    }
    let _ = Path::new(&workspace);
    Ok(())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

struct Stats {
    p50: Duration,
    p99: Duration,
}

impl Stats {
    fn of(samples: &mut [Duration]) -> Stats {
        samples.sort();
        let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
        Stats {
            p50: at(0.5),
            p99: at(0.99),
        }
    }

    fn print(&self, label: &str) {
        println!(
            "  {label:<34} p50 {:>7.2} ms  p99 {:>7.2} ms",
            ms(self.p50),
            ms(self.p99)
        );
    }
}
