//! Prompt templates for the coding agent, kept as files under `prompts/templates/` so
//! they can be read and reviewed as prose.

/// The coding agent's developer instructions (`templates/coding-agent.md`).
pub const CODING_AGENT_INSTRUCTIONS: &str = include_str!("../templates/coding-agent.md");

/// The section that carries the workspace's AGENTS.md (`templates/agents-md.md`);
/// `{agents_md}` is replaced by the file's text.
pub const AGENTS_MD_SECTION: &str = include_str!("../templates/agents-md.md");

/// The developer instructions for the coding agent: the template, then the workspace's
/// AGENTS.md when it has one. Trailing whitespace is trimmed so the rendered developer
/// message does not depend on how the files end.
pub fn coding_agent_instructions(agents_md: Option<&str>) -> String {
    let mut instructions = CODING_AGENT_INSTRUCTIONS.trim_end().to_string();
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
}
