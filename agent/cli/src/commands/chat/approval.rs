//! Asking the user before a tool that writes or runs commands (`--confirm`).

use std::collections::{BTreeSet, HashSet};
use std::str::FromStr;

use ossa_agent::event::ToolRecord;
use ossa_agent::{Approval, Approver, Cancel};
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;
use serde_json::Value;

/// When to ask, as `--confirm` says: before every tool that writes or runs commands,
/// never, or only before the tools listed (by recipient or bare name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmPolicy {
    /// Ask before every tool that writes or runs commands.
    Always,
    /// Never ask.
    Never,
    /// Ask only before these tools.
    Tools(BTreeSet<String>),
}

impl FromStr for ConfirmPolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "always" | "" => Ok(ConfirmPolicy::Always),
            "never" => Ok(ConfirmPolicy::Never),
            list => {
                let tools: BTreeSet<String> = list
                    .split(',')
                    .map(|tool| tool.trim().to_string())
                    .filter(|tool| !tool.is_empty())
                    .collect();
                if tools.is_empty() {
                    return Err("give always, never, or a comma-separated list of tools".into());
                }
                Ok(ConfirmPolicy::Tools(tools))
            }
        }
    }
}

impl ConfirmPolicy {
    fn covers(&self, tool: &ToolRecord) -> bool {
        match self {
            ConfirmPolicy::Always => true,
            ConfirmPolicy::Never => false,
            ConfirmPolicy::Tools(names) => {
                names.contains(&tool.name) || names.contains(&tool.recipient())
            }
        }
    }
}

/// Asks on the terminal. Ctrl-C at the question declines the call and stops the turn,
/// as Ctrl-C during generation does.
pub struct ChatApprover {
    policy: ConfirmPolicy,
    /// Tools allowed or refused for the rest of the session.
    always: HashSet<String>,
    never: HashSet<String>,
    /// The turn's cancel flag, set by Ctrl-C at the question.
    cancel: Cancel,
}

impl ChatApprover {
    /// An approver that asks as `policy` says; `None` when it never asks.
    pub fn new(policy: ConfirmPolicy, cancel: Cancel) -> Option<ChatApprover> {
        (policy != ConfirmPolicy::Never).then(|| ChatApprover {
            policy,
            always: HashSet::new(),
            never: HashSet::new(),
            cancel,
        })
    }
}

impl Approver for ChatApprover {
    fn approve(&mut self, tool: &ToolRecord, arguments: &Value) -> Approval {
        let name = tool.recipient();
        if !self.policy.covers(tool) || self.always.contains(&name) {
            return Approval::Allow;
        }
        if self.never.contains(&name) {
            return Approval::Deny;
        }
        let question = format!(
            "{name} {}\n  run it? [y]es, [n]o, [a]lways for {name}, ne[v]er for {name}: ",
            describe_call(arguments)
        );
        // The question blocks this worker thread until the user answers; the line
        // editor reads Ctrl-C itself (raw mode), so it can be answered with one too.
        let mut editor = match DefaultEditor::new() {
            Ok(editor) => editor,
            Err(_) => return Approval::Deny,
        };
        loop {
            let answer = tokio::task::block_in_place(|| editor.readline(&question));
            match answer {
                Ok(answer) => match answer.trim().to_lowercase().as_str() {
                    "y" | "yes" => return Approval::Allow,
                    "n" | "no" => return Approval::Deny,
                    "a" | "always" => {
                        self.always.insert(name);
                        return Approval::Allow;
                    }
                    "v" | "never" => {
                        self.never.insert(name);
                        return Approval::Deny;
                    }
                    _ => println!("  please answer y, n, a or v"),
                },
                Err(ReadlineError::Interrupted) => {
                    self.cancel.cancel();
                    return Approval::Deny;
                }
                Err(_) => return Approval::Deny,
            }
        }
    }
}

/// The call as the user should judge it: a command line for a command, else the
/// arguments as JSON (shortened).
fn describe_call(arguments: &Value) -> String {
    if let Some(argv) = arguments.get("command").and_then(Value::as_array) {
        let words: Vec<&str> = argv.iter().filter_map(Value::as_str).collect();
        if words.len() == argv.len() {
            return format!("$ {}", shell_words(&words));
        }
    }
    let mut text = arguments.to_string();
    if text.len() > 400 {
        text.truncate(text.floor_char_boundary(400));
        text.push('…');
    }
    text
}

/// `argv` as a shell would read it back: words with spaces or quotes single-quoted.
fn shell_words(argv: &[&str]) -> String {
    argv.iter()
        .map(|word| {
            let plain = !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
            if plain {
                word.to_string()
            } else {
                format!("'{}'", word.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn confirm_policy_parses() {
        assert_eq!("never".parse(), Ok(ConfirmPolicy::Never));
        assert_eq!("always".parse(), Ok(ConfirmPolicy::Always));
        assert_eq!(
            "write_file, repo_browser.apply_patch".parse(),
            Ok(ConfirmPolicy::Tools(
                [
                    "write_file".to_string(),
                    "repo_browser.apply_patch".to_string()
                ]
                .into()
            ))
        );
        assert!(" , ".parse::<ConfirmPolicy>().is_err());
    }

    #[test]
    fn commands_are_shown_as_command_lines() {
        assert_eq!(
            describe_call(&json!({"command": ["bash", "-lc", "cargo test -q"]})),
            "$ bash -lc 'cargo test -q'"
        );
        assert_eq!(
            describe_call(&json!({"command": ["echo", "it's"]})),
            r"$ echo 'it'\''s'"
        );
        assert_eq!(describe_call(&json!({"path": "a"})), r#"{"path":"a"}"#);
    }
}
