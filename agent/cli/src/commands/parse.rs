//! `ossa parse` (issue #2).

use std::process::ExitCode;

/// Arguments of `ossa parse`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `ossa parse`.
pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`ossa parse` is not built yet (issue #2)")
}
