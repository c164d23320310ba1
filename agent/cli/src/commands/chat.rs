//! `ossa chat` (issue #4).

use std::process::ExitCode;

/// Arguments of `ossa chat`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `ossa chat`.
pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`ossa chat` is not built yet (issue #4)")
}
