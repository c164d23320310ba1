//! One module per subcommand. Each exposes `Args` (clap) and `async fn run(Args)`.

use std::io::ErrorKind;
use std::process::ExitCode;

pub mod chat;
pub mod complete;
pub mod completions;
pub mod config;
pub mod eval;
pub mod parse;
pub mod pull;
pub mod render;
pub mod replay;
pub mod run;
mod session;
pub mod tools;

/// The command failed (bad input, a model or tool failure); the message says why.
pub const EXIT_FAILURE: u8 = 1;
/// The command line was wrong (clap uses 2 for its own usage errors too).
pub const EXIT_USAGE: u8 = 2;
/// The agent stopped at a limit (steps, tokens, context) without a final answer.
pub const EXIT_LIMIT: u8 = 3;
/// The model failed: the backend errored, or its output stayed unusable after retries.
pub const EXIT_MODEL: u8 = 4;
/// `ossa replay --check` found a prompt that differs from the recording.
pub const EXIT_CHECK: u8 = 5;
/// The user interrupted the run (Ctrl-C).
pub const EXIT_CANCELLED: u8 = 130;

/// The exit codes of the agent commands, for their `--help`.
pub const EXIT_CODES_HELP: &str = "Exit codes:
  0    success: the model gave a final answer
  1    failure: bad input file, I/O or tool host error (the message says which)
  2    bad usage: wrong or missing arguments
  3    limit reached: --max-steps, --max-tokens or the context window, with no final answer
  4    model failure: the backend failed, or its output stayed unusable after retries
  5    replay --check: a prompt differs from the recording
  130  interrupted with Ctrl-C";

/// Logs go to stderr through `tracing`, filtered by `OSSA_LOG` (default: warnings).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("OSSA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// A mistake in how ossa was called that only shows after parsing (no model named by
/// the flags or the config): reported like clap's usage errors, with exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Prints `error: …` with one `Caused by:` line per cause and picks the exit code.
/// A closed stdout (e.g. `ossa parse | head`) is not an error.
pub fn report_error(err: &anyhow::Error) -> ExitCode {
    let broken_pipe = err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return ExitCode::SUCCESS;
    }
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  Caused by: {cause}");
    }
    if err.downcast_ref::<UsageError>().is_some() {
        return EXIT_USAGE.into();
    }
    EXIT_FAILURE.into()
}

/// Runs `on_interrupt` on every Ctrl-C (SIGINT) until the returned task is aborted.
///
/// The handler is installed before this returns, not when the task first runs:
/// rustyline saves the SIGINT disposition when a prompt opens and restores it when the
/// prompt closes, so a handler installed while a prompt is open would be undone and the
/// next Ctrl-C would kill the process.
pub fn on_ctrl_c(
    on_interrupt: impl Fn() + Send + 'static,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    #[cfg(unix)]
    {
        use anyhow::Context as _;
        let mut interrupts =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                .context("cannot listen for Ctrl-C")?;
        Ok(tokio::spawn(async move {
            while interrupts.recv().await.is_some() {
                on_interrupt();
            }
        }))
    }
    #[cfg(not(unix))]
    Ok(tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            on_interrupt();
        }
    }))
}
