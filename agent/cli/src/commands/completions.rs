//! `ossa completions SHELL` and `ossa man`: shell completions (clap_complete) and manual
//! pages (clap_mangen) generated from the same clap definitions as `--help`, so they
//! cannot drift from it.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::CommandFactory as _;

/// Arguments of `ossa completions`.
#[derive(Debug, clap::Args)]
#[command(after_help = COMPLETIONS_HELP)]
pub struct Args {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

const COMPLETIONS_HELP: &str = "Install, for example:
  bash: ossa completions bash > ~/.local/share/bash-completion/completions/ossa
  zsh:  ossa completions zsh > ~/.zfunc/_ossa   (with fpath+=~/.zfunc before compinit)
  fish: ossa completions fish > ~/.config/fish/completions/ossa.fish";

/// Runs `ossa completions`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut crate::Cli::command(), "ossa", &mut out);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&out)?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `ossa man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write a page per command (ossa.1, ossa-run.1, …) into DIR instead of printing
    /// ossa.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Runs `ossa man`.
pub async fn man(args: ManArgs) -> anyhow::Result<ExitCode> {
    let command = crate::Cli::command();
    match args.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(command, &dir)
                .with_context(|| format!("cannot write the manual pages to {}", dir.display()))?;
            eprintln!("manual pages written to {}", dir.display());
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(command).render(&mut out)?;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&out)?;
            stdout.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
