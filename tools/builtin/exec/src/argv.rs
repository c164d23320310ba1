//! The model's `command` and `timeout` turned into what the host runs.

use ossa_tool_sdk::ToolError;
use serde::Deserialize;

/// The `command` argument: an argument vector, or (leniently) one string of shell.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum CommandLine {
    /// `["bash", "-lc", "make test"]` or `["ls", "-la"]`.
    Argv(Vec<String>),
    /// `"make test"`.
    Script(String),
}

/// The argument vector to run.
///
/// A real argument vector is kept as it is (no re-quoting, so arguments with spaces
/// survive). Shell text is run with `bash -lc`: a plain string, or a one-element vector
/// whose element is not a single word (models sometimes send `["cd src && make"]`).
pub fn command_argv(command: CommandLine) -> Result<Vec<String>, ToolError> {
    let argv = match command {
        CommandLine::Script(script) => shell(script),
        CommandLine::Argv(argv) => match argv.as_slice() {
            [single] if is_shell_text(single) => shell(single.clone()),
            _ => argv,
        },
    };
    match argv.first() {
        Some(program) if !program.trim().is_empty() => Ok(argv),
        _ => Err(ToolError::InvalidArgs(
            "`command` is empty; send the argument vector to run, e.g. \
             [\"bash\", \"-lc\", \"ls\"]"
                .to_owned(),
        )),
    }
}

fn shell(script: String) -> Vec<String> {
    if script.trim().is_empty() {
        return Vec::new();
    }
    vec!["bash".to_owned(), "-lc".to_owned(), script]
}

fn is_shell_text(text: &str) -> bool {
    text.trim().contains(char::is_whitespace)
        || text.contains([';', '|', '&', '>', '<', '$', '`', '(', '*'])
}

/// Milliseconds from the model's `timeout`.
///
/// The model's training dialect gives milliseconds (recorded calls carry `10000` and
/// `100000`); a value under 1000 cannot be a useful limit in milliseconds and is taken as
/// seconds (`"timeout": 30`).
pub fn timeout_ms(timeout: f64) -> Result<u64, ToolError> {
    if !timeout.is_finite() || timeout <= 0.0 {
        return Err(ToolError::InvalidArgs(format!(
            "`timeout` must be a positive number of milliseconds, not {timeout}"
        )));
    }
    let ms = if timeout < 1000.0 {
        timeout * 1000.0
    } else {
        timeout
    };
    // Saturating: the host caps it at the granted limit anyway.
    Ok(ms.min(u64::MAX as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(items: &[&str]) -> CommandLine {
        CommandLine::Argv(items.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn argument_vectors_are_kept() {
        assert_eq!(
            command_argv(argv(&["bash", "-lc", "ls -la"])).unwrap(),
            ["bash", "-lc", "ls -la"]
        );
        assert_eq!(
            command_argv(argv(&["grep", "-rn", "two words", "src"])).unwrap(),
            ["grep", "-rn", "two words", "src"]
        );
        assert_eq!(command_argv(argv(&["ls"])).unwrap(), ["ls"]);
    }

    #[test]
    fn shell_text_runs_through_bash() {
        assert_eq!(
            command_argv(CommandLine::Script("cargo test | tail".into())).unwrap(),
            ["bash", "-lc", "cargo test | tail"]
        );
        assert_eq!(
            command_argv(argv(&["cd src && make"])).unwrap(),
            ["bash", "-lc", "cd src && make"]
        );
        assert_eq!(
            command_argv(argv(&["echo>out"])).unwrap(),
            ["bash", "-lc", "echo>out"]
        );
    }

    #[test]
    fn empty_commands_are_invalid() {
        for command in [argv(&[]), argv(&[""]), CommandLine::Script("  ".into())] {
            assert!(matches!(
                command_argv(command),
                Err(ToolError::InvalidArgs(_))
            ));
        }
    }

    #[test]
    fn timeouts_are_milliseconds_or_small_seconds() {
        assert_eq!(timeout_ms(10000.0).unwrap(), 10_000);
        assert_eq!(timeout_ms(30.0).unwrap(), 30_000);
        assert_eq!(timeout_ms(0.5).unwrap(), 500);
        assert!(timeout_ms(0.0).is_err());
        assert!(timeout_ms(f64::NAN).is_err());
    }
}
