//! Prompt templates for the coding agent, kept as files under `prompts/templates/` so
//! they can be read and reviewed as prose.

/// The coding agent's developer instructions (`templates/coding-agent.md`).
pub const CODING_AGENT_INSTRUCTIONS: &str = include_str!("../templates/coding-agent.md");

/// The section that carries the workspace's AGENTS.md (`templates/agents-md.md`);
/// `{agents_md}` is replaced by the file's text.
pub const AGENTS_MD_SECTION: &str = include_str!("../templates/agents-md.md");

/// The coding agent's developer instructions for the native toolset
/// (`templates/native-agent.md`); `{workspace}` is the repository's path and `{commands}`
/// one of the command templates below.
pub const NATIVE_AGENT_INSTRUCTIONS: &str = include_str!("../templates/native-agent.md");

/// The `{commands}` line when `container.exec` runs commands on the host.
const COMMANDS_GRANTED: &str = include_str!("../templates/commands-granted.md");
/// The `{commands}` line when `container.exec` runs only Python, in WebAssembly.
const COMMANDS_PYTHON_ONLY: &str = include_str!("../templates/commands-python-only.md");
/// The `{commands}` line when nothing can be run.
const COMMANDS_NOT_GRANTED: &str = include_str!("../templates/commands-not-granted.md");

/// The description of the native `repo_browser` namespace.
pub const REPO_BROWSER_DESCRIPTION: &str = "Tools to browse, search and edit the repository.";

/// The description of the native `container` namespace.
pub const CONTAINER_DESCRIPTION: &str =
    "Runs commands in the repository, confined by the operating system.";

/// The `python` namespace's description as ossa provides the tool: openai-harmony's text
/// (what gpt-oss was trained on) with its facts made true: the time limit, what
/// `/mnt/data` is, and that there is no internet access.
pub fn python_description(timeout_secs: f64, workspace_writable: bool) -> String {
    let trained = crate::ToolNamespaceConfig::python()
        .description
        .unwrap_or_default();
    let drive = if workspace_writable {
        "The drive at '/mnt/data' is the repository you work on: files saved there persist."
    } else {
        "The drive at '/mnt/data' is the repository you work on, read-only: read its files there, and change them with repo_browser.apply_patch."
    };
    trained
        .replace(
            "time out after 120.0 seconds",
            &format!("time out after {timeout_secs:.1} seconds"),
        )
        .replace(
            "The drive at '/mnt/data' can be used to save and persist user files.",
            drive,
        )
        .replace(
            "Internet access for this session is UNKNOWN. Depends on the cluster.",
            "Internet access for this session is disabled.",
        )
}

/// What `container.exec` can run in a session, which the instructions state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandAccess {
    /// Any command, natively, confined to the workspace.
    Granted,
    /// Only `python3` commands, in the WebAssembly interpreter.
    PythonOnly,
    /// No commands at all.
    NotGranted,
}

/// The developer instructions for the coding agent with the `functions` toolset: the
/// template, then the workspace's AGENTS.md when it has one. Trailing whitespace is
/// trimmed so the rendered developer message does not depend on how the files end.
pub fn coding_agent_instructions(agents_md: Option<&str>) -> String {
    with_agents_md(CODING_AGENT_INSTRUCTIONS.trim_end().to_string(), agents_md)
}

/// The developer instructions for the coding agent with the native toolset, for the
/// repository at `workspace`, then the workspace's AGENTS.md when it has one.
pub fn native_agent_instructions(
    workspace: &str,
    commands: CommandAccess,
    agents_md: Option<&str>,
) -> String {
    let commands = match commands {
        CommandAccess::Granted => COMMANDS_GRANTED,
        CommandAccess::PythonOnly => COMMANDS_PYTHON_ONLY,
        CommandAccess::NotGranted => COMMANDS_NOT_GRANTED,
    };
    let instructions = NATIVE_AGENT_INSTRUCTIONS
        .trim_end()
        .replace("{commands}", commands.trim_end())
        .replace("{workspace}", workspace);
    with_agents_md(instructions, agents_md)
}

fn with_agents_md(mut instructions: String, agents_md: Option<&str>) -> String {
    if let Some(agents_md) = agents_md.map(str::trim).filter(|text| !text.is_empty()) {
        instructions.push_str("\n\n");
        instructions.push_str(
            AGENTS_MD_SECTION
                .trim_end()
                .replace("{agents_md}", agents_md)
                .as_str(),
        );
    }
    instructions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_md_is_appended_when_present() {
        let plain = coding_agent_instructions(None);
        assert!(plain.starts_with("You are ossa"));
        assert!(!plain.ends_with('\n'));
        assert_eq!(coding_agent_instructions(Some("  \n")), plain);
        let with = coding_agent_instructions(Some("Use tabs.\n"));
        assert!(with.starts_with(&plain));
        assert!(
            with.ends_with("The project's AGENTS.md file says:\n\nUse tabs."),
            "{with}"
        );
    }

    #[test]
    fn the_python_description_states_what_ossa_provides() {
        let text = python_description(90.0, false);
        assert!(text.starts_with("Use this tool to execute Python code in your chain of thought."));
        assert!(
            text.contains("stateful Jupyter notebook environment"),
            "{text}"
        );
        assert!(text.contains("time out after 90.0 seconds"), "{text}");
        assert!(text.contains("read-only"), "{text}");
        assert!(
            text.contains("Internet access for this session is disabled."),
            "{text}"
        );
        // Every trained sentence that is not true here was replaced.
        assert!(
            !text.contains("120.0") && !text.contains("UNKNOWN"),
            "{text}"
        );
        assert!(!text.contains("persist user files"), "{text}");
        assert!(python_description(120.0, true).contains("files saved there persist"));
    }

    #[test]
    fn native_instructions_name_the_workspace_and_what_can_run() {
        let granted = native_agent_instructions("/home/u/proj", CommandAccess::Granted, None);
        assert!(granted.contains("`/home/u/proj`"), "{granted}");
        assert!(granted.contains("container.exec"), "{granted}");
        assert!(!granted.contains('{'), "a placeholder is left: {granted}");
        let none = native_agent_instructions("/w", CommandAccess::NotGranted, Some("Use tabs."));
        assert!(none.contains("cannot run commands"), "{none}");
        assert!(none.ends_with("Use tabs."), "{none}");
        let python = native_agent_instructions("/w", CommandAccess::PythonOnly, None);
        assert!(python.contains("python3 -m unittest"), "{python}");
        assert!(!python.contains('{'), "{python}");
    }
}
