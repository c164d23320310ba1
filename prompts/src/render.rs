//! The renderer: conversations and messages to harmony pieces, byte-identical to
//! openai-harmony 0.0.8 (tests/conformance.rs checks it on the reference's outputs).
//!
//! Text from users, tools and the model is copied into text pieces as is and never
//! scanned for special-token strings, so it cannot inject structure.

use crate::rendered::Rendered;
use crate::tokens::SpecialToken;
use crate::types::{Content, Conversation, DeveloperContent, Message, Role, SystemContent};
use crate::typescript;

/// How a conversation is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    /// Drop `analysis` messages before the first `final` message when the last
    /// assistant message is `final` (the reference default). Turn it off to keep the
    /// chain of thought, e.g. to train on it.
    pub auto_drop_analysis: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            auto_drop_analysis: true,
        }
    }
}

/// Why a conversation cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// A tool message has no author name, so its header would be empty.
    #[error(
        "{}a tool message needs an author \"name\": the tool that answered, e.g. \"functions.get_weather\" or \"python\"",
        at(*.message)
    )]
    ToolWithoutName {
        /// Index of the message in the conversation (`None` for a lone message).
        message: Option<usize>,
    },
    /// System content in a message whose role is not system.
    #[error(
        "{}system_content may only appear in a system message, found in a {role} message",
        at(*.message)
    )]
    SystemContentOutsideSystem {
        /// Index of the message in the conversation (`None` for a lone message).
        message: Option<usize>,
        /// The message's role.
        role: Role,
    },
    /// Developer content in a message whose role is not developer.
    #[error(
        "{}developer_content may only appear in a developer message, found in a {role} message",
        at(*.message)
    )]
    DeveloperContentOutsideDeveloper {
        /// Index of the message in the conversation (`None` for a lone message).
        message: Option<usize>,
        /// The message's role.
        role: Role,
    },
}

fn at(message: Option<usize>) -> String {
    message
        .map(|i| format!("message {i}: "))
        .unwrap_or_default()
}

impl RenderError {
    fn in_message(self, index: usize) -> Self {
        match self {
            RenderError::ToolWithoutName { .. } => RenderError::ToolWithoutName {
                message: Some(index),
            },
            RenderError::SystemContentOutsideSystem { role, .. } => {
                RenderError::SystemContentOutsideSystem {
                    message: Some(index),
                    role,
                }
            }
            RenderError::DeveloperContentOutsideDeveloper { role, .. } => {
                RenderError::DeveloperContentOutsideDeveloper {
                    message: Some(index),
                    role,
                }
            }
        }
    }
}

/// Renders a conversation, applying the analysis drop rule of `options`.
pub fn render_conversation(
    conversation: &Conversation,
    options: &RenderOptions,
) -> Result<Rendered, RenderError> {
    let mut out = Rendered::new();
    render_messages_into(&mut out, &conversation.messages, options)?;
    Ok(out)
}

/// Renders a conversation and then `<|start|>{next_role}`, the prompt for the model to
/// write the next message. Parse the completion with the role implied.
pub fn render_conversation_for_completion(
    conversation: &Conversation,
    next_role: Role,
    options: &RenderOptions,
) -> Result<Rendered, RenderError> {
    let mut out = render_conversation(conversation, options)?;
    out.push_special(SpecialToken::Start);
    out.push_text(next_role.as_str());
    Ok(out)
}

/// Renders a conversation for training: like [`render_conversation`], but when the last
/// message is an assistant message on channel `final`, it ends with `<|return|>`.
pub fn render_conversation_for_training(
    conversation: &Conversation,
    options: &RenderOptions,
) -> Result<Rendered, RenderError> {
    let mut out = render_conversation(conversation, options)?;
    if let Some(last) = conversation.messages.last()
        && last.author.role == Role::Assistant
        && last.channel.as_deref() == Some("final")
    {
        out.replace_last_special(SpecialToken::Return);
    }
    Ok(out)
}

/// Renders one message. `conversation_has_function_tools` adds the "Calls to these
/// tools must go to the commentary channel" line to a system message; compute it with
/// [`conversation_has_function_tools`].
pub fn render_message(
    message: &Message,
    conversation_has_function_tools: bool,
) -> Result<Rendered, RenderError> {
    let mut out = Rendered::new();
    render_message_into(&mut out, message, conversation_has_function_tools)?;
    Ok(out)
}

/// Appends the rendered messages to `out` (drop rule included); the incremental twin
/// of [`render_conversation`].
pub fn render_messages_into(
    out: &mut Rendered,
    messages: &[Message],
    options: &RenderOptions,
) -> Result<(), RenderError> {
    let has_function_tools = conversation_has_function_tools(messages);
    let drop_before = analysis_drop_limit(messages, options);
    for (index, message) in messages.iter().enumerate() {
        let dropped = index < drop_before && message.channel.as_deref() == Some("analysis");
        if dropped {
            continue;
        }
        render_message_into(out, message, has_function_tools).map_err(|e| e.in_message(index))?;
    }
    Ok(())
}

/// Appends one rendered message to `out`.
pub fn render_message_into(
    out: &mut Rendered,
    message: &Message,
    conversation_has_function_tools: bool,
) -> Result<(), RenderError> {
    out.push_special(SpecialToken::Start);
    let role = message.author.role;
    if role == Role::Tool {
        // A tool message's header is the tool's name alone.
        match &message.author.name {
            Some(name) => out.push_text(name),
            None => return Err(RenderError::ToolWithoutName { message: None }),
        }
    } else {
        out.push_text(role.as_str());
        if let Some(name) = &message.author.name {
            out.push_text_parts(&[":", name]);
        }
    }
    if let Some(recipient) = &message.recipient
        && recipient != "all"
    {
        out.push_text_parts(&[" to=", recipient]);
    }
    if let Some(channel) = &message.channel {
        out.push_special(SpecialToken::Channel);
        out.push_text(channel);
    }
    if let Some(content_type) = &message.content_type {
        match content_type.strip_prefix(SpecialToken::Constrain.literal()) {
            Some(rest) => {
                out.push_text(" ");
                out.push_special(SpecialToken::Constrain);
                out.push_text(rest);
            }
            None => out.push_text_parts(&[" ", content_type]),
        }
    }
    out.push_special(SpecialToken::Message);
    for content in &message.content {
        match content {
            Content::Text(text) => out.push_text(&text.text),
            Content::SystemContent(system) => {
                if role != Role::System {
                    return Err(RenderError::SystemContentOutsideSystem {
                        message: None,
                        role,
                    });
                }
                out.push_text_with(|buf| {
                    write_system_content(buf, system, conversation_has_function_tools)
                });
            }
            Content::DeveloperContent(developer) => {
                if role != Role::Developer {
                    return Err(RenderError::DeveloperContentOutsideDeveloper {
                        message: None,
                        role,
                    });
                }
                out.push_text_with(|buf| write_developer_content(buf, developer));
            }
        }
    }
    // A quirk kept for compatibility: recipient "all" is not written but still makes
    // an assistant message a call.
    if role == Role::Assistant && message.recipient.is_some() {
        out.push_special(SpecialToken::Call);
    } else {
        out.push_special(SpecialToken::End);
    }
    Ok(())
}

/// True when a developer message has a `functions` namespace with at least one tool;
/// only then does the system message say where tool calls go.
pub fn conversation_has_function_tools(messages: &[Message]) -> bool {
    messages.iter().any(|message| {
        message.content.iter().any(|content| match content {
            Content::DeveloperContent(developer) => developer
                .tools
                .as_ref()
                .and_then(|tools| tools.get("functions"))
                .is_some_and(|ns| !ns.tools.is_empty()),
            _ => false,
        })
    })
}

/// Messages with an index below the returned limit are dropped when on `analysis`.
/// The reference rule: only when the last assistant message is `final`, and only the
/// analysis before the first `final` message of any role.
fn analysis_drop_limit(messages: &[Message], options: &RenderOptions) -> usize {
    if !options.auto_drop_analysis {
        return 0;
    }
    let last_assistant_is_final = messages
        .iter()
        .rev()
        .find(|m| m.author.role == Role::Assistant)
        .is_some_and(|m| m.channel.as_deref() == Some("final"));
    if !last_assistant_is_final {
        return 0;
    }
    messages
        .iter()
        .position(|m| m.channel.as_deref() == Some("final"))
        .unwrap_or(0)
}

/// Sections joined by a blank line; a section is written even when its text is empty.
struct Sections<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Sections<'a> {
    fn new(out: &'a mut String) -> Self {
        Sections { out, first: true }
    }

    fn next(&mut self) -> &mut String {
        if !self.first {
            self.out.push_str("\n\n");
        }
        self.first = false;
        self.out
    }
}

fn write_system_content(out: &mut String, system: &SystemContent, has_function_tools: bool) {
    let mut sections = Sections::new(out);
    let identity = system.model_identity.as_deref();
    let cutoff = system.knowledge_cutoff.as_deref();
    let date = system.conversation_start_date.as_deref();
    if identity.is_some() || cutoff.is_some() || date.is_some() {
        let section = sections.next();
        let mut lines = 0;
        let mut line = |section: &mut String, parts: &[&str]| {
            if lines > 0 {
                section.push('\n');
            }
            lines += 1;
            parts.iter().for_each(|p| section.push_str(p));
        };
        if let Some(identity) = identity {
            line(section, &[identity]);
        }
        if let Some(cutoff) = cutoff {
            line(section, &["Knowledge cutoff: ", cutoff]);
        }
        if let Some(date) = date {
            line(section, &["Current date: ", date]);
        }
    }
    if let Some(effort) = system.reasoning_effort {
        let section = sections.next();
        section.push_str("Reasoning: ");
        section.push_str(effort.as_str());
    }
    if let Some(tools) = system.tools.as_ref().filter(|t| !t.is_empty()) {
        typescript::write_tools_section(sections.next(), tools.values());
    }
    if let Some(config) = &system.channel_config
        && !config.valid_channels.is_empty()
    {
        let section = sections.next();
        section.push_str("# Valid channels: ");
        for (i, channel) in config.valid_channels.iter().enumerate() {
            if i > 0 {
                section.push_str(", ");
            }
            section.push_str(channel);
        }
        section.push('.');
        if config.channel_required {
            section.push_str(" Channel must be included for every message.");
        }
        if has_function_tools {
            section
                .push_str("\nCalls to these tools must go to the commentary channel: 'functions'.");
        }
    }
}

fn write_developer_content(out: &mut String, developer: &DeveloperContent) {
    let mut sections = Sections::new(out);
    if let Some(instructions) = &developer.instructions {
        sections.next().push_str("# Instructions");
        sections.next().push_str(instructions);
    }
    if let Some(tools) = developer.tools.as_ref().filter(|t| !t.is_empty()) {
        typescript::write_tools_section(sections.next(), tools.values());
    }
}

/// The text of one tool namespace as it appears inside `# Tools` (`## name\n\n…`).
pub fn render_tool_namespace(namespace: &crate::types::ToolNamespaceConfig) -> String {
    let mut out = String::new();
    typescript::write_namespace(&mut out, namespace);
    out
}
