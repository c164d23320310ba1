//! `ossa tools` (issue #3).

use std::process::ExitCode;

/// Arguments of `ossa tools`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `ossa tools`.
pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`ossa tools` is not built yet (issue #3)")
}
