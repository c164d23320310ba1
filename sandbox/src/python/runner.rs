//! `container.exec` without native commands: `python3 …` runs in the sandboxed CPython,
//! every other program is refused with a message that says what does run.

use std::time::Duration;

use crate::exec::{
    CapturedText, CommandExit, CommandOutcome, CommandRequest, CommandRunner, RunError, RunFuture,
};

use super::command::{CommandStatus, is_python_command};
use super::notebook::SharedPythonRuntime;
use super::policy::PythonPolicy;

/// What the model is told when it runs anything but Python in this mode.
pub const ONLY_PYTHON: &str = "only Python runs in this session, inside a WebAssembly sandbox: \
`python3 script.py`, `python3 -c CODE`, `python3 -m unittest`, `python3 -m pytest` (from the \
repository or a wheel in it); other programs, pipes and shell syntax are not available. Use \
the repo_browser tools to read, search and edit files.";

/// Runs `python3 …` commands in fresh sandboxed interpreters.
#[derive(Clone)]
pub struct PythonCommands {
    runtime: SharedPythonRuntime,
    policy: PythonPolicy,
}

impl std::fmt::Debug for PythonCommands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PythonCommands")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl PythonCommands {
    /// Commands run by `runtime` under `policy` (its timeout is the command's, capped by
    /// the request's).
    pub fn new(runtime: SharedPythonRuntime, policy: PythonPolicy) -> Self {
        PythonCommands { runtime, policy }
    }
}

/// The Python command in `argv`: as it is, or inside `bash -c`/`bash -lc`/`sh -c` when
/// the script is one plain command (no pipes, redirections, substitutions or `&&`).
pub fn python_argv(argv: &[String]) -> Option<Vec<String>> {
    let program = argv.first()?;
    if is_python_command(program) {
        return Some(argv.to_vec());
    }
    let shell = program.rsplit('/').next().unwrap_or(program);
    let [_, flag, script] = argv else {
        return None;
    };
    if !matches!(shell, "bash" | "sh") || !matches!(flag.as_str(), "-c" | "-lc") {
        return None;
    }
    if script.contains(['|', '&', ';', '<', '>', '$', '`', '\n', '(', ')']) {
        return None;
    }
    let words = shlex::split(script)?;
    words
        .first()
        .is_some_and(|word| is_python_command(word))
        .then_some(words)
}

impl CommandRunner for PythonCommands {
    fn run(&self, request: CommandRequest) -> RunFuture<'_> {
        Box::pin(async move {
            let Some(argv) = python_argv(&request.argv) else {
                return Err(RunError::NotGranted(ONLY_PYTHON.to_owned()));
            };
            let runtime = self
                .runtime
                .get()
                .await
                .map_err(|err| RunError::Sandbox(err.to_string()))?;
            let policy = PythonPolicy {
                timeout: self.policy.timeout.min(request.timeout),
                ..self.policy.clone()
            };
            let output = runtime
                .run_command(&argv, &request.workdir, &request.workspace, &policy)
                .await
                .map_err(|err| RunError::Invalid(err.to_string()))?;
            let exit = match output.status {
                CommandStatus::Exited(code) => CommandExit::Code(code),
                CommandStatus::TimedOut(_) => CommandExit::TimedOut,
                // Reported like a shell reports a killed process; the output's last line
                // says why.
                CommandStatus::Killed(_) => CommandExit::Signal(9),
            };
            Ok(CommandOutcome {
                exit,
                output: CapturedText {
                    total_bytes: output.output.len() as u64 + output.left_out_bytes,
                    omitted_bytes: output.left_out_bytes,
                    omitted_lines: 0,
                    head: output.output,
                    tail: String::new(),
                },
                duration: output.duration,
                timeout: policy
                    .timeout
                    .min(Duration::from_secs_f64(request.grant.timeout_secs.max(0.0))),
            })
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn python_commands_are_found_as_the_model_writes_them() {
        assert_eq!(
            python_argv(&argv(&["python3", "-m", "pytest", "-q"])),
            Some(argv(&["python3", "-m", "pytest", "-q"]))
        );
        assert_eq!(
            python_argv(&argv(&[
                "bash",
                "-lc",
                "python3 -m unittest -v 'tests/test a.py'"
            ])),
            Some(argv(&[
                "python3",
                "-m",
                "unittest",
                "-v",
                "tests/test a.py"
            ]))
        );
        assert_eq!(
            python_argv(&argv(&["/usr/bin/python", "x.py"])),
            Some(argv(&["/usr/bin/python", "x.py"]))
        );
        for other in [
            &["bash", "-lc", "ls -la"][..],
            &["bash", "-lc", "python3 x.py | tail"],
            &["bash", "-lc", "cd src && python3 x.py"],
            &["cargo", "test"],
            &["bash", "-lc", "python3 -c \"print($HOME)\""],
        ] {
            assert_eq!(python_argv(&argv(other)), None, "{other:?}");
        }
    }
}
