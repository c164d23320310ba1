//! `exec`: runs a command in the workspace through the host's `process` capability and
//! shows the model its exit status and output as plain text.
//!
//! This component only turns the model's arguments into a command and the result into
//! text; the host decides whether commands may run at all and confines them (see
//! `ossa_sandbox::exec`). The agent declares it to the model as `container.exec`.

mod argv;
mod report;

use ossa_tool_sdk::process::{self, RunError};
use ossa_tool_sdk::{Tool, ToolError};
use schemars::JsonSchema;
use serde::Deserialize;

pub use argv::{CommandLine, command_argv, timeout_ms};
pub use report::{format_completed, format_spawn_failure};

/// Arguments of `exec`.
#[derive(Deserialize, JsonSchema)]
pub struct Args {
    /// The command as an argument vector, e.g. `["bash", "-lc", "cargo test 2>&1 | tail"]`.
    #[schemars(with = "Vec<String>")]
    pub command: CommandLine,
    /// Directory to run in: relative to the workspace root, or absolute inside the
    /// workspace. Default: the workspace root.
    pub workdir: Option<String>,
    /// Time limit in milliseconds. Default and maximum: the limit the user granted.
    pub timeout: Option<f64>,
}

/// The tool.
pub struct Exec;

impl Tool for Exec {
    type Args = Args;
    const NAME: &'static str = "exec";
    const DESCRIPTION: &'static str = "Runs a command in the workspace and returns its exit \
code and output (stdout and stderr together; long output keeps its beginning and end).\n\
- `command` is passed to execvp(); prefix shell commands with [\"bash\", \"-lc\"].\n\
- Set `workdir` instead of using `cd`.\n\
- The command may write only inside the workspace and a private temporary directory, \
and has no network access unless the user allowed it.";
    const ALIASES: &'static [(&'static str, &'static str)] =
        &[("cmd", "command"), ("commands", "command")];

    fn call(args: Args) -> Result<String, ToolError> {
        let argv = command_argv(args.command)?;
        let program = argv.first().cloned().unwrap_or_default();
        let command = process::Command {
            argv,
            workdir: args.workdir.unwrap_or_default(),
            timeout_ms: args.timeout.map(timeout_ms).transpose()?,
        };
        match process::run(&command) {
            Ok(completed) => Ok(format_completed(&completed)),
            Err(RunError::SpawnFailed(reason)) => Ok(format_spawn_failure(&program, &reason)),
            Err(RunError::NotGranted(message)) => Err(ToolError::Denied(message)),
            Err(RunError::Invalid(message)) => Err(ToolError::InvalidArgs(message)),
            Err(RunError::Sandbox(message)) => Err(ToolError::Failed(message)),
        }
    }
}

ossa_tool_sdk::export_tool!(Exec);
