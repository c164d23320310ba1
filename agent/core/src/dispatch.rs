//! From the recipient the model wrote to the tool it meant.
//!
//! gpt-oss does not always write a declared recipient exactly: it leaves words after it
//! (`repo_browser.search code`), calls its trained tools by their bare names
//! (`apply_patch`) or in the `functions` namespace (`functions.apply_patch`) whatever
//! was declared, and calls `container.exec` when no command tool was offered. The rules,
//! in order:
//!
//! 1. junk after the recipient is cut: it ends at the first character that cannot be in
//!    a tool name (`a-z A-Z 0-9 _ - .`);
//! 2. a declared recipient matches exactly;
//! 3. `functions.X` and bare `X` match the user tool `X` in `functions`, else the one
//!    tool of another namespace named `X` (so a user tool always wins a name clash, and a
//!    name shared by two native namespaces is not guessed).

use crate::declare::CONTAINER_EXEC;
use crate::event::{FUNCTIONS_NAMESPACE, ToolRecord};

/// What a recipient refers to.
#[derive(Debug, PartialEq)]
pub(crate) enum Target {
    /// A tool on offer (`exact` is false when the model wrote it another way).
    Tool { tool: Box<ToolRecord>, exact: bool },
    /// The native command tool, which this session does not offer.
    ExecNotGranted,
    /// Nothing on offer.
    Unknown,
}

/// The recipient as the model wrote it, without junk after the name.
pub(crate) fn clean_recipient(recipient: &str) -> &str {
    let trimmed = recipient.trim();
    let end = trimmed
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        .unwrap_or(trimmed.len());
    trimmed[..end].trim_end_matches('.')
}

/// The tool `recipient` refers to among `tools`.
pub(crate) fn resolve(recipient: &str, tools: &[ToolRecord]) -> Target {
    let cleaned = clean_recipient(recipient);
    if let Some(tool) = tools.iter().find(|tool| tool.recipient() == cleaned) {
        return Target::Tool {
            tool: Box::new(tool.clone()),
            exact: cleaned == recipient,
        };
    }
    let bare = cleaned
        .strip_prefix(FUNCTIONS_NAMESPACE)
        .and_then(|rest| rest.strip_prefix('.'))
        .unwrap_or(cleaned);
    let function = tools
        .iter()
        .find(|tool| tool.namespace == FUNCTIONS_NAMESPACE && tool.name == bare);
    if let Some(tool) = function {
        return Target::Tool {
            tool: Box::new(tool.clone()),
            exact: false,
        };
    }
    let mut native = tools
        .iter()
        .filter(|tool| tool.namespace != FUNCTIONS_NAMESPACE && tool.name == bare);
    if let (Some(tool), None) = (native.next(), native.next()) {
        return Target::Tool {
            tool: Box::new(tool.clone()),
            exact: false,
        };
    }
    if cleaned == CONTAINER_EXEC || bare == "exec" {
        return Target::ExecNotGranted;
    }
    Target::Unknown
}

/// The recipients on offer, for messages to the model.
pub(crate) fn available(tools: &[ToolRecord]) -> String {
    tools
        .iter()
        .map(ToolRecord::recipient)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::event::ArgumentFormat;

    fn tool(namespace: &str, name: &str) -> ToolRecord {
        ToolRecord {
            name: name.into(),
            namespace: namespace.into(),
            description: String::new(),
            parameters: Value::Null,
            input: ArgumentFormat::Json,
            aliases: Default::default(),
            version: "1".into(),
            hash: String::new(),
            writes: false,
            executes: false,
            policy: Value::Null,
        }
    }

    fn resolved(recipient: &str, tools: &[ToolRecord]) -> Option<(String, bool)> {
        match resolve(recipient, tools) {
            Target::Tool { tool, exact } => Some((tool.recipient(), exact)),
            _ => None,
        }
    }

    #[test]
    fn native_recipients_resolve_as_the_model_writes_them() {
        let tools = [
            tool("repo_browser", "open_file"),
            tool("repo_browser", "apply_patch"),
            tool("container", "exec"),
            tool("", "python"),
        ];
        let open = Some(("repo_browser.open_file".to_string(), true));
        assert_eq!(resolved("repo_browser.open_file", &tools), open);
        let inexact = Some(("repo_browser.open_file".to_string(), false));
        for junk in [
            "repo_browser.open_file code",
            "repo_browser.open_file<|constrain|>json",
            " repo_browser.open_file",
            "repo_browser.open_file.",
            "functions.open_file",
            "open_file",
        ] {
            assert_eq!(resolved(junk, &tools), inexact, "{junk:?}");
        }
        assert_eq!(
            resolved("functions.apply_patch", &tools),
            Some(("repo_browser.apply_patch".to_string(), false))
        );
        assert_eq!(
            resolved("python", &tools),
            Some(("python".to_string(), true))
        );
        assert_eq!(resolve("browser.search", &tools), Target::Unknown);
        assert_eq!(resolve("repo_browser.read_file", &tools), Target::Unknown);
    }

    #[test]
    fn a_user_tool_wins_a_name_clash() {
        let tools = [tool("repo_browser", "search"), tool("functions", "search")];
        assert_eq!(
            resolved("search", &tools),
            Some(("functions.search".to_string(), false))
        );
        assert_eq!(
            resolved("repo_browser.search", &tools),
            Some(("repo_browser.search".to_string(), true))
        );
    }

    #[test]
    fn an_ambiguous_bare_name_is_not_guessed() {
        let tools = [tool("repo_browser", "list"), tool("container", "list")];
        assert_eq!(resolve("list", &tools), Target::Unknown);
    }

    #[test]
    fn exec_without_the_grant_is_named_as_such() {
        let tools = [tool("repo_browser", "open_file")];
        assert_eq!(resolve("container.exec", &tools), Target::ExecNotGranted);
        assert_eq!(
            resolve("container.exec code", &tools),
            Target::ExecNotGranted
        );
        assert_eq!(resolve("functions.exec", &tools), Target::ExecNotGranted);
    }
}
