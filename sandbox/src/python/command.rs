//! `python3 ...` as a command, for `container.exec` when host processes are not
//! granted: a fresh interpreter per command, `sys.argv` and the working directory set
//! as a shell would, stdout and stderr merged, an exit status.

use std::path::Path;
use std::time::{Duration, Instant};

use super::capture::Capture;
use super::instance::{Interpreter, Report, Restart, Streams, TurnEnd};
use super::mounts::{self, Cwd, Scratch};
use super::policy::PythonPolicy;
use super::runtime::{PythonError, PythonRuntime};

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandStatus {
    /// It exited with this status (0 to 255), as `$?` would show.
    Exited(i32),
    /// It ran past the time limit and was stopped.
    TimedOut(Duration),
    /// The interpreter was stopped for another reason (a crash, a stack overflow);
    /// the output ends with a line saying which.
    Killed(String),
}

impl CommandStatus {
    /// The status as a shell reports it: the exit status, 124 for a timeout (as
    /// `timeout(1)`), 137 for a kill.
    pub fn code(&self) -> i32 {
        match self {
            CommandStatus::Exited(code) => *code,
            CommandStatus::TimedOut(_) => 124,
            CommandStatus::Killed(_) => 137,
        }
    }

    /// True for `Exited(0)`.
    pub fn success(&self) -> bool {
        *self == CommandStatus::Exited(0)
    }
}

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// How it ended.
    pub status: CommandStatus,
    /// stdout and stderr merged in the order written (stdout is line-buffered),
    /// clipped to the policy's output limit (head and tail).
    pub output: String,
    /// Bytes left out by the output limit.
    pub left_out_bytes: u64,
    /// Wall time, starting the interpreter included.
    pub duration: Duration,
}

/// True when `program` (a command's `argv[0]`) names a Python interpreter this
/// runtime can stand in for: `python`, `python3` or `python3.N`, with or without a
/// directory.
pub fn is_python_command(program: &str) -> bool {
    let name = program.rsplit('/').next().unwrap_or(program);
    name == "python"
        || name == "python3"
        || name
            .strip_prefix("python3.")
            .is_some_and(|minor| !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit()))
}

impl PythonRuntime {
    /// Runs `argv` (`python3 script.py ARGS`, `python3 -c CODE`, `python3 -m MODULE
    /// ARGS`, with the usual options) in a fresh interpreter whose working directory
    /// is `cwd` (a directory inside `workspace`, by its host path or under
    /// `/mnt/data`). The workspace is mounted per `policy`, as for a session.
    ///
    /// `Err` when the command cannot be run at all (not a Python command, a working
    /// directory outside the workspace, an interpreter that does not start); what the
    /// program does, failing included, is in the [`CommandOutput`].
    pub async fn run_command(
        &self,
        argv: &[String],
        cwd: &Path,
        workspace: &Path,
        policy: &PythonPolicy,
    ) -> Result<CommandOutput, PythonError> {
        let started = Instant::now();
        let Some((program, args)) = argv.split_first() else {
            return Err(PythonError::NotPython("the command is empty".to_owned()));
        };
        if !is_python_command(program) {
            return Err(PythonError::NotPython(format!(
                "`{program}` is not a Python interpreter; the sandbox runs only python3"
            )));
        }
        let scratch = Scratch::new()?;
        let mounts = mounts::plan(policy, Some(workspace), &scratch, Cwd::Host(cwd))?;
        let merged = Capture::new(policy.output_limit_bytes);
        let streams = Streams {
            stdout: merged.clone(),
            stderr: merged.clone(),
        };
        let mut interpreter = Interpreter::start(
            &self.inner,
            &mounts,
            &streams,
            policy.memory_bytes(),
            policy.output_limit_bytes,
            false,
        )
        .await?;
        merged.take();
        let end = interpreter.command(args, policy.timeout).await;
        let memory_limit_hit = interpreter.memory_limit_hit();
        drop(interpreter);
        let status = match end {
            TurnEnd::Reported(Report::Command { exit }) => CommandStatus::Exited(exit),
            TurnEnd::Reported(other) => {
                CommandStatus::Killed(format!("the interpreter reported {other:?}"))
            }
            TurnEnd::Died(Restart::Exit(status)) => CommandStatus::Exited(status & 0xFF),
            TurnEnd::Died(Restart::Timeout(limit)) => {
                merged.write(
                    format!(
                        "\n[python3 was stopped after the {} s time limit]\n",
                        limit.as_secs_f64()
                    )
                    .as_bytes(),
                );
                CommandStatus::TimedOut(limit)
            }
            TurnEnd::Died(other) => {
                let why = match &other {
                    Restart::StackOverflow => {
                        "the interpreter ran out of stack (recursion too deep in C code)".to_owned()
                    }
                    other => format!("the interpreter crashed ({other:?})"),
                };
                merged.write(format!("\n[python3 was stopped: {why}]\n").as_bytes());
                CommandStatus::Killed(why)
            }
        };
        if memory_limit_hit {
            merged.write(
                format!(
                    "[the sandbox's memory limit of {} MiB was reached]\n",
                    policy.memory_mib
                )
                .as_bytes(),
            );
        }
        let output = merged.take();
        drop(scratch);
        Ok(CommandOutput {
            status,
            output: output.text,
            left_out_bytes: output.left_out,
            duration: started.elapsed(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_commands_are_recognised() {
        for yes in ["python", "python3", "/usr/bin/python3", "python3.12"] {
            assert!(is_python_command(yes), "{yes}");
        }
        for no in [
            "python2",
            "pythonw",
            "python3.",
            "python3.x",
            "pip",
            "pytest",
            "",
        ] {
            assert!(!is_python_command(no), "{no}");
        }
    }
}
