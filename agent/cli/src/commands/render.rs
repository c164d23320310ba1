//! `ossa render` (issue #2).

use std::process::ExitCode;

/// Arguments of `ossa render`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `ossa render`.
pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`ossa render` is not built yet (issue #2)")
}
