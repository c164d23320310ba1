//! `ossa run` (issue #4).

use std::process::ExitCode;

/// Arguments of `ossa run`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `ossa run`.
pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`ossa run` is not built yet (issue #4)")
}
