//! `ossa complete` (issue #5).

use std::process::ExitCode;

/// Arguments of `ossa complete`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `ossa complete`.
pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`ossa complete` is not built yet (issue #5)")
}
