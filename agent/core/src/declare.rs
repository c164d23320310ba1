//! The session's fixed messages: the system message (identity, dates, reasoning effort,
//! and with the native toolset the tool namespaces gpt-oss was trained with) and the
//! developer message (instructions, AGENTS.md, user tools in `functions`).

use std::collections::BTreeMap;
use std::path::Path;

use ossa_prompts::templates::{self, CommandAccess};
use ossa_prompts::{
    DeveloperContent, Message, ReasoningEffort, Role, SystemContent, ToolDescription,
    ToolNamespaceConfig,
};

use crate::event::{ArgumentFormat, FUNCTIONS_NAMESPACE, ToolRecord, Toolset};

/// The knowledge cutoff gpt-oss was trained with.
pub const KNOWLEDGE_CUTOFF: &str = "2024-06";

/// The largest AGENTS.md that is put in the prompt, in bytes.
pub const AGENTS_MD_LIMIT: usize = 32 * 1024;

/// The native namespace of the repository tools.
pub const REPO_BROWSER: &str = "repo_browser";
/// The native namespace of `exec`.
pub const CONTAINER: &str = "container";
/// The recipient of the native command tool.
pub const CONTAINER_EXEC: &str = "container.exec";

/// The system message: identity, knowledge cutoff, the session's date, reasoning effort,
/// and every tool namespace that is not `functions` (declared here, where gpt-oss looks
/// for its built-in tools).
pub fn system_message(reasoning: ReasoningEffort, date: &str, tools: &[ToolRecord]) -> Message {
    let mut content = SystemContent::new()
        .with_knowledge_cutoff(KNOWLEDGE_CUTOFF)
        .with_conversation_start_date(date)
        .with_reasoning_effort(reasoning);
    for namespace in system_namespaces(tools) {
        content = content.with_tools(namespace);
    }
    Message::from_role_and_content(Role::System, content)
}

/// The developer message: the coding-agent instructions for `toolset` (naming the
/// repository at `workspace`), the workspace's AGENTS.md, and the tools in the
/// `functions` namespace.
pub fn developer_message(
    toolset: Toolset,
    tools: &[ToolRecord],
    workspace: Option<&Path>,
    agents_md: Option<&str>,
) -> Message {
    let instructions = match toolset {
        Toolset::Functions => templates::coding_agent_instructions(agents_md),
        Toolset::Native => {
            let workspace = workspace
                .map(|path| path.display().to_string())
                .unwrap_or_else(|| ".".to_string());
            templates::native_agent_instructions(&workspace, command_access(tools), agents_md)
        }
    };
    let functions = function_tools(tools);
    let mut content = DeveloperContent::new().with_instructions(instructions);
    if !functions.is_empty() {
        content = content.with_function_tools(functions);
    }
    Message::from_role_and_content(Role::Developer, content)
}

/// The tools declared in the developer message's `functions` namespace.
pub fn function_tools(tools: &[ToolRecord]) -> Vec<ToolDescription> {
    tools
        .iter()
        .filter(|tool| tool.namespace == FUNCTIONS_NAMESPACE)
        .map(|tool| {
            ToolDescription::new(&tool.name, &tool.description, Some(tool.parameters.clone()))
        })
        .collect()
}

/// The workspace's `AGENTS.md`, if it has a readable one (capped at
/// [`AGENTS_MD_LIMIT`]).
pub fn read_agents_md(workspace: &Path) -> Option<String> {
    let text = std::fs::read_to_string(workspace.join("AGENTS.md")).ok()?;
    Some(crate::budget::cap_output(&text, AGENTS_MD_LIMIT).0)
}

/// What `container.exec` can run, as the instructions must say: host commands when the
/// tool executes them, only Python when it is offered without that, nothing otherwise.
fn command_access(tools: &[ToolRecord]) -> CommandAccess {
    match tools.iter().find(|tool| tool.recipient() == CONTAINER_EXEC) {
        Some(exec) if exec.executes => CommandAccess::Granted,
        Some(_) => CommandAccess::PythonOnly,
        None => CommandAccess::NotGranted,
    }
}

/// The namespaces declared in the system message, grouped from the tools in order (what
/// `ossa tools list` shows next to the `functions` namespace of the developer message).
pub fn system_namespaces(tools: &[ToolRecord]) -> Vec<ToolNamespaceConfig> {
    let mut namespaces: BTreeMap<String, ToolNamespaceConfig> = BTreeMap::new();
    for tool in tools
        .iter()
        .filter(|tool| tool.namespace != FUNCTIONS_NAMESPACE)
    {
        if tool.namespace.is_empty() {
            // A namespace that is itself the tool (`python`): its description is the
            // tool's, and it declares no functions.
            namespaces.insert(
                tool.name.clone(),
                ToolNamespaceConfig::new(&tool.name, Some(tool.description.clone()), Vec::new()),
            );
            continue;
        }
        let namespace = namespaces.entry(tool.namespace.clone()).or_insert_with(|| {
            ToolNamespaceConfig::new(
                &tool.namespace,
                namespace_description(&tool.namespace),
                Vec::new(),
            )
        });
        let parameters = match tool.input {
            ArgumentFormat::Json => Some(tool.parameters.clone()),
            ArgumentFormat::Text => None,
        };
        namespace.tools.push(ToolDescription::new(
            &tool.name,
            &tool.description,
            parameters,
        ));
    }
    namespaces.into_values().collect()
}

fn namespace_description(namespace: &str) -> Option<String> {
    match namespace {
        REPO_BROWSER => Some(templates::REPO_BROWSER_DESCRIPTION.to_string()),
        CONTAINER => Some(templates::CONTAINER_DESCRIPTION.to_string()),
        _ => None,
    }
}
