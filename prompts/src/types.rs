//! Conversation types that read and write the same JSON as openai-harmony 0.0.8.
//!
//! The serde attributes mirror the reference shape exactly:
//! the author is flattened into the message (`"role"`, `"name"`), `"content"` is a
//! string or a list of `"type"`-tagged items, missing optional fields are `None` (not
//! the [`SystemContent::new`] defaults), and reasoning effort is `"Low"`, `"Medium"` or
//! `"High"`. JSON the reference rejects is rejected here too, with serde's message.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The end user.
    User,
    /// The model.
    Assistant,
    /// The system message (model identity, reasoning effort, channels, built-in tools).
    System,
    /// The developer message (instructions, function tools).
    Developer,
    /// A tool's output; the author name says which tool (`functions.get_weather`).
    Tool,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Role::User,
        Role::Assistant,
        Role::System,
        Role::Developer,
        Role::Tool,
    ];

    /// The lowercase wire word: `"user"`, `"assistant"`, …
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::System => "system",
            Role::Developer => "developer",
            Role::Tool => "tool",
        }
    }

    /// The role whose wire word is exactly `word`.
    pub fn from_word(word: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == word)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::from_word(s).ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// A word that is not one of the five role names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`: expected user, assistant, system, developer or tool")]
pub struct UnknownRole(pub String);

/// The author of a message: a role and an optional name (`user:alice`, or the tool
/// name for role tool).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    /// The role.
    pub role: Role,
    /// The name; required for role tool (`functions.get_weather`, `python`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Author {
    /// An author with a role and a name.
    pub fn new(role: Role, name: impl Into<String>) -> Self {
        Author {
            role,
            name: Some(name.into()),
        }
    }
}

impl From<Role> for Author {
    fn from(role: Role) -> Self {
        Author { role, name: None }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Role and name, flattened into the message's JSON object.
    #[serde(flatten)]
    pub author: Author,
    /// Who the message is for: a tool (`functions.f`) for a call, `assistant` for a
    /// tool result; `None` means everyone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// The content items, concatenated with no separator when rendered. In JSON a
    /// single text item is written as a plain string.
    #[serde(
        deserialize_with = "content_from_string_or_list",
        serialize_with = "content_to_string_or_list"
    )]
    pub content: Vec<Content>,
    /// The channel (`analysis`, `commentary`, `final`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The content type (`json`, `code`, or `<|constrain|>json`, kept verbatim).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

impl Message {
    /// A message from `author` with one content item.
    pub fn from_author_and_content(author: Author, content: impl Into<Content>) -> Self {
        Message {
            author,
            recipient: None,
            content: vec![content.into()],
            channel: None,
            content_type: None,
        }
    }

    /// A message from `role` (no name) with one content item.
    pub fn from_role_and_content(role: Role, content: impl Into<Content>) -> Self {
        Message::from_author_and_content(Author::from(role), content)
    }

    /// A message from `role` (no name) with several content items.
    pub fn from_role_and_contents(role: Role, contents: impl IntoIterator<Item = Content>) -> Self {
        Message {
            author: Author::from(role),
            recipient: None,
            content: contents.into_iter().collect(),
            channel: None,
            content_type: None,
        }
    }

    /// Appends a content item.
    pub fn adding_content(mut self, content: impl Into<Content>) -> Self {
        self.content.push(content.into());
        self
    }

    /// Sets the author name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.author.name = Some(name.into());
        self
    }

    /// Sets the channel.
    pub fn with_channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = Some(channel.into());
        self
    }

    /// Sets the recipient.
    pub fn with_recipient(mut self, recipient: impl Into<String>) -> Self {
        self.recipient = Some(recipient.into());
        self
    }

    /// Sets the content type.
    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// The concatenated text items (system and developer contents are skipped).
    pub fn text(&self) -> String {
        let mut out = String::new();
        for item in &self.content {
            if let Content::Text(text) = item {
                out.push_str(&text.text);
            }
        }
        out
    }
}

/// One content item of a message, tagged by `"type"` in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Content {
    /// Plain text, written verbatim (never scanned for special tokens).
    Text(TextContent),
    /// The system message's structured content.
    SystemContent(SystemContent),
    /// The developer message's structured content.
    DeveloperContent(DeveloperContent),
}

impl<T: Into<String>> From<T> for Content {
    fn from(text: T) -> Self {
        Content::Text(TextContent { text: text.into() })
    }
}

impl From<SystemContent> for Content {
    fn from(content: SystemContent) -> Self {
        Content::SystemContent(content)
    }
}

impl From<DeveloperContent> for Content {
    fn from(content: DeveloperContent) -> Self {
        Content::DeveloperContent(content)
    }
}

/// A text content item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextContent {
    /// The text.
    pub text: String,
}

/// How hard the model should think: `"Low"`, `"Medium"` or `"High"` in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReasoningEffort {
    /// `Reasoning: low`.
    Low,
    /// `Reasoning: medium`.
    Medium,
    /// `Reasoning: high`.
    High,
}

impl ReasoningEffort {
    /// The lowercase word written in the system message.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReasoningEffort::Low => "low",
            ReasoningEffort::Medium => "medium",
            ReasoningEffort::High => "high",
        }
    }
}

impl fmt::Display for ReasoningEffort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ReasoningEffort {
    type Err = UnknownReasoningEffort;

    /// `low`, `medium` or `high`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(ReasoningEffort::Low),
            "medium" => Ok(ReasoningEffort::Medium),
            "high" => Ok(ReasoningEffort::High),
            _ => Err(UnknownReasoningEffort(s.to_owned())),
        }
    }
}

/// A word that is not a reasoning effort.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown reasoning effort `{0}`: use low, medium or high")]
pub struct UnknownReasoningEffort(pub String);

/// The channels the model may write to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChannelConfig {
    /// The valid channels; when empty the `# Valid channels` line is left out.
    pub valid_channels: Vec<String>,
    /// Whether every assistant message must name a channel.
    pub channel_required: bool,
}

impl ChannelConfig {
    /// These channels, required.
    pub fn require_channels<I, T>(channels: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        ChannelConfig {
            valid_channels: channels.into_iter().map(Into::into).collect(),
            channel_required: true,
        }
    }
}

/// A namespace of tools (`functions`, `browser`, `python`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolNamespaceConfig {
    /// The name written in `## name` and `namespace name {`.
    pub name: String,
    /// Text written before the tools (as `// ` comments when there are tools).
    pub description: Option<String>,
    /// The tools.
    pub tools: Vec<ToolDescription>,
}

impl ToolNamespaceConfig {
    /// A namespace with a name, an optional description and tools.
    pub fn new(
        name: impl Into<String>,
        description: Option<String>,
        tools: Vec<ToolDescription>,
    ) -> Self {
        ToolNamespaceConfig {
            name: name.into(),
            description,
            tools,
        }
    }

    /// The built-in `browser` namespace (search, open, find), as openai-harmony defines it.
    pub fn browser() -> Self {
        crate::builtin::browser()
    }

    /// The built-in `python` namespace (a description and no tools), as openai-harmony
    /// defines it.
    pub fn python() -> Self {
        crate::builtin::python()
    }
}

/// One tool: a name, a description and a JSON Schema for its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDescription {
    /// The tool's name inside its namespace.
    pub name: String,
    /// Written as `// ` comment lines above the declaration.
    pub description: String,
    /// The parameters' JSON Schema; `None` declares `() => any`.
    pub parameters: Option<serde_json::Value>,
}

impl ToolDescription {
    /// A tool description.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: Option<serde_json::Value>,
    ) -> Self {
        ToolDescription {
            name: name.into(),
            description: description.into(),
            parameters,
        }
    }
}

/// Tool namespaces keyed by name; rendered in key order.
pub type ToolNamespaces = BTreeMap<String, ToolNamespaceConfig>;

/// The content of the system message.
///
/// [`SystemContent::new`] gives openai-harmony's defaults; a JSON object with missing
/// fields gives `None` for them (the reference does the same).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemContent {
    /// The first line, e.g. `You are ChatGPT, a large language model trained by OpenAI.`
    pub model_identity: Option<String>,
    /// Written as `Reasoning: {effort}`.
    pub reasoning_effort: Option<ReasoningEffort>,
    /// Built-in tool namespaces (browser, python).
    pub tools: Option<ToolNamespaces>,
    /// Written as `Current date: {date}`.
    pub conversation_start_date: Option<String>,
    /// Written as `Knowledge cutoff: {cutoff}`.
    pub knowledge_cutoff: Option<String>,
    /// The `# Valid channels` line.
    pub channel_config: Option<ChannelConfig>,
}

impl Default for SystemContent {
    fn default() -> Self {
        SystemContent {
            model_identity: Some(
                "You are ChatGPT, a large language model trained by OpenAI.".to_owned(),
            ),
            reasoning_effort: Some(ReasoningEffort::Medium),
            tools: None,
            conversation_start_date: None,
            knowledge_cutoff: Some("2024-06".to_owned()),
            channel_config: Some(ChannelConfig::require_channels([
                "analysis",
                "commentary",
                "final",
            ])),
        }
    }
}

impl SystemContent {
    /// openai-harmony's defaults: ChatGPT identity, medium effort, cutoff 2024-06, no
    /// date, required channels analysis/commentary/final, no tools.
    pub fn new() -> Self {
        SystemContent::default()
    }

    /// Sets the model identity.
    pub fn with_model_identity(mut self, identity: impl Into<String>) -> Self {
        self.model_identity = Some(identity.into());
        self
    }

    /// Sets the reasoning effort.
    pub fn with_reasoning_effort(mut self, effort: ReasoningEffort) -> Self {
        self.reasoning_effort = Some(effort);
        self
    }

    /// Adds (or replaces) a tool namespace, keyed by its name.
    pub fn with_tools(mut self, namespace: ToolNamespaceConfig) -> Self {
        self.tools
            .get_or_insert_with(BTreeMap::new)
            .insert(namespace.name.clone(), namespace);
        self
    }

    /// Sets the conversation start date.
    pub fn with_conversation_start_date(mut self, date: impl Into<String>) -> Self {
        self.conversation_start_date = Some(date.into());
        self
    }

    /// Sets the knowledge cutoff.
    pub fn with_knowledge_cutoff(mut self, cutoff: impl Into<String>) -> Self {
        self.knowledge_cutoff = Some(cutoff.into());
        self
    }

    /// Sets the channel configuration.
    pub fn with_channel_config(mut self, config: ChannelConfig) -> Self {
        self.channel_config = Some(config);
        self
    }

    /// Requires these channels.
    pub fn with_required_channels<I, T>(mut self, channels: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.channel_config = Some(ChannelConfig::require_channels(channels));
        self
    }

    /// Adds the built-in browser namespace.
    pub fn with_browser_tool(self) -> Self {
        self.with_tools(ToolNamespaceConfig::browser())
    }

    /// Adds the built-in python namespace.
    pub fn with_python_tool(self) -> Self {
        self.with_tools(ToolNamespaceConfig::python())
    }
}

/// The content of the developer message: instructions and function tools.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DeveloperContent {
    /// Written after `# Instructions`.
    pub instructions: Option<String>,
    /// Tool namespaces (usually `functions`).
    pub tools: Option<ToolNamespaces>,
}

impl DeveloperContent {
    /// Empty developer content.
    pub fn new() -> Self {
        DeveloperContent::default()
    }

    /// Sets the instructions.
    pub fn with_instructions(mut self, instructions: impl Into<String>) -> Self {
        self.instructions = Some(instructions.into());
        self
    }

    /// Adds (or replaces) a tool namespace, keyed by its name.
    pub fn with_tools(mut self, namespace: ToolNamespaceConfig) -> Self {
        self.tools
            .get_or_insert_with(BTreeMap::new)
            .insert(namespace.name.clone(), namespace);
        self
    }

    /// Sets the `functions` namespace to these tools.
    pub fn with_function_tools(self, tools: Vec<ToolDescription>) -> Self {
        self.with_tools(ToolNamespaceConfig::new("functions", None, tools))
    }
}

/// A list of messages.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Conversation {
    /// The messages, in order.
    pub messages: Vec<Message>,
}

impl Conversation {
    /// A conversation made of these messages.
    pub fn from_messages(messages: impl IntoIterator<Item = Message>) -> Self {
        Conversation {
            messages: messages.into_iter().collect(),
        }
    }
}

impl<'a> IntoIterator for &'a Conversation {
    type Item = &'a Message;
    type IntoIter = std::slice::Iter<'a, Message>;

    fn into_iter(self) -> Self::IntoIter {
        self.messages.iter()
    }
}

fn content_from_string_or_list<'de, D>(deserializer: D) -> Result<Vec<Content>, D::Error>
where
    D: Deserializer<'de>,
{
    struct StringOrList;

    impl<'de> Visitor<'de> for StringOrList {
        type Value = Vec<Content>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("string or list of content")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            Ok(vec![Content::from(text)])
        }

        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Deserialize::deserialize(de::value::SeqAccessDeserializer::new(seq))
        }
    }

    deserializer.deserialize_any(StringOrList)
}

fn content_to_string_or_list<S: Serializer>(
    content: &[Content],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match content {
        [Content::Text(text)] => serializer.serialize_str(&text.text),
        items => items.serialize(serializer),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn message_json_matches_the_reference_shape() {
        let call = Message::from_role_and_content(Role::Assistant, "{\"a\":1}")
            .with_recipient("functions.f")
            .with_channel("commentary")
            .with_content_type("<|constrain|>json");
        assert_eq!(
            serde_json::to_string(&call).unwrap(),
            r#"{"role":"assistant","recipient":"functions.f","content":"{\"a\":1}","channel":"commentary","content_type":"<|constrain|>json"}"#
        );
        let back: Message = serde_json::from_str(&serde_json::to_string(&call).unwrap()).unwrap();
        assert_eq!(back, call);
    }

    #[test]
    fn content_accepts_string_or_list() {
        let a: Message = serde_json::from_str(r#"{"role":"user","content":"hi"}"#).unwrap();
        let b: Message =
            serde_json::from_str(r#"{"role":"user","content":[{"type":"text","text":"hi"}]}"#)
                .unwrap();
        assert_eq!(a, b);
        let two: Message = serde_json::from_str(
            r#"{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}"#,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&two).unwrap(),
            r#"{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}"#
        );
    }

    #[test]
    fn missing_system_fields_are_none_not_defaults() {
        let m: Message =
            serde_json::from_str(r#"{"role":"system","content":[{"type":"system_content"}]}"#)
                .unwrap();
        let Content::SystemContent(sys) = &m.content[0] else {
            panic!("not system content: {m:?}");
        };
        assert_eq!(sys.model_identity, None);
        assert_eq!(sys.reasoning_effort, None);
    }

    #[test]
    fn rejects_what_the_reference_rejects() {
        let lowercase_effort =
            r#"{"role":"system","content":[{"type":"system_content","reasoning_effort":"high"}]}"#;
        let err = serde_json::from_str::<Message>(lowercase_effort).unwrap_err();
        assert!(err.to_string().contains("unknown variant `high`"), "{err}");
        assert!(serde_json::from_str::<Message>(r#"{"role":"robot","content":"x"}"#).is_err());
        assert!(serde_json::from_str::<Message>(r#"{"role":"user"}"#).is_err());
        assert!(serde_json::from_str::<Message>(r#"{"role":"user","content":null}"#).is_err());
    }
}
