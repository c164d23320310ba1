//! One module per subcommand. Each exposes `Args` (clap) and `async fn run(Args)`.

use std::io::ErrorKind;
use std::process::ExitCode;

pub mod chat;
pub mod complete;
pub mod parse;
pub mod render;
pub mod replay;
pub mod run;
pub mod tools;

/// The command failed (bad input, a model or tool failure); the message says why.
pub const EXIT_FAILURE: u8 = 1;

/// Logs go to stderr through `tracing`, filtered by `OSSA_LOG` (default: warnings).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("OSSA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

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
    EXIT_FAILURE.into()
}
