//! `ossa config show`: every effective setting and where it came from;
//! `ossa config paths`: the config files ossa reads.

use std::path::PathBuf;
use std::process::ExitCode;

use super::session::{self, LoopArgs, ModelArgs, RuntimeArgs, SamplingArgs, ToolArgs};
use crate::config::ConfigPaths;

/// Arguments of `ossa config`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

/// `ossa config` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the effective settings as TOML, each with where it came from (flag,
    /// environment OSSA_*, workspace config, user config or default). Takes the same
    /// flags as `ossa run`, to show what they change.
    #[command(after_help = PRECEDENCE_HELP)]
    Show(Box<ShowArgs>),
    /// Print the paths of the user and workspace config files.
    Paths {
        /// The workspace (default: the current directory).
        #[arg(long, value_name = "DIR")]
        workspace: Option<PathBuf>,
    },
}

/// Arguments of `ossa config show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The workspace whose .ossa/config.toml applies (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    #[command(flatten)]
    pub loop_args: LoopArgs,
    #[command(flatten)]
    pub tool_args: ToolArgs,
}

const PRECEDENCE_HELP: &str = "Precedence, highest first: flag > environment (OSSA_*) > \
workspace config (WORKSPACE/.ossa/config.toml) > user config \
($XDG_CONFIG_HOME/ossa/config.toml, default ~/.config/ossa/config.toml) > default.

A workspace config comes with the repository, so it can only narrow the tool grants \
([tools.exec], [tools.net]) the user config allows, and it cannot set model.server.";

/// Runs `ossa config`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Show(show) => {
            let workspace = session::workspace_dir(show.workspace.as_deref())?;
            let flags = session::flag_layer(
                &show.model,
                &show.runtime,
                &show.sampling,
                Some(&show.loop_args),
                Some(&show.tool_args),
            );
            let config = crate::config::Config::load_for(Some(&workspace), flags)?;
            print!("{}", config.render());
        }
        Command::Paths { workspace } => {
            let workspace = session::workspace_dir(workspace.as_deref())?;
            let var = |name: &str| std::env::var(name).ok();
            let paths = ConfigPaths::discover(Some(&workspace), &var);
            let show = |path: Option<PathBuf>| match path {
                Some(path) if path.is_file() => path.display().to_string(),
                Some(path) => format!("{} (not found)", path.display()),
                None => "none (HOME and XDG_CONFIG_HOME are unset)".into(),
            };
            println!("user:      {}", show(paths.user));
            println!("workspace: {}", show(paths.workspace));
        }
    }
    Ok(ExitCode::SUCCESS)
}
