//! `ossa replay` (issue #4).

use std::process::ExitCode;

/// Arguments of `ossa replay`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `ossa replay`.
pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`ossa replay` is not built yet (issue #4)")
}
