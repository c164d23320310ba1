//! From the argument text the model wrote to what a tool receives: the one place where
//! arguments are cleaned up and checked.
//!
//! Models wrap arguments in Markdown fences, send the JSON object as a JSON string, send
//! nothing for a tool without parameters, use another name for a parameter (`file_path`
//! for `path`), or write `"5"` for a number. Each of these has one rule here, applied in
//! this order:
//!
//! 1. a Markdown code fence around the text is removed;
//! 2. for a [`ArgumentFormat::Text`] tool (`python`) the text is the input, as it is;
//! 3. empty text is `{}`; a JSON string holding a JSON object is that object;
//! 4. parameter aliases the tool declares are renamed to their canonical names;
//! 5. top-level values are coerced where the schema leaves no doubt: a string where an
//!    array of strings is expected becomes a one-element array, a numeric string a
//!    number, `"true"`/`"false"` a boolean, and `null` for an optional parameter is
//!    dropped;
//! 6. the result is validated against the tool's JSON Schema (the `jsonschema` crate).
//!
//! Anything else is an [`ArgumentError`] whose text tells the model what to send.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::event::{ArgumentFormat, ToolRecord};

/// Why arguments were refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArgumentError {
    /// The text is not JSON.
    #[error("the arguments are not valid JSON ({0})")]
    NotJson(String),
    /// The JSON is not an object.
    #[error("the arguments must be one JSON object, not {0}")]
    NotAnObject(&'static str),
    /// The object does not fit the schema.
    #[error("the arguments do not match the schema: {}", .0.join("; "))]
    Schema(Vec<String>),
}

/// The arguments `raw` (as the model wrote them) for `tool`, cleaned up and checked, as
/// the loop would give them to the tool (`ossa tools call` uses this).
pub fn prepare_arguments(raw: &str, tool: &ToolRecord) -> Result<Value, ArgumentError> {
    ArgumentChecker::new(std::slice::from_ref(tool)).prepare(raw, tool)
}

/// Compiled schemas of a session's tools, keyed by recipient.
pub(crate) struct ArgumentChecker {
    validators: HashMap<String, jsonschema::Validator>,
}

impl ArgumentChecker {
    /// Compiles the schema of every JSON tool. A schema that does not compile is not
    /// checked here (the tool still validates what it receives) and is logged.
    pub fn new(tools: &[ToolRecord]) -> ArgumentChecker {
        let mut validators = HashMap::new();
        for tool in tools
            .iter()
            .filter(|tool| tool.input == ArgumentFormat::Json)
        {
            match jsonschema::validator_for(&tool.parameters) {
                Ok(validator) => {
                    validators.insert(tool.recipient(), validator);
                }
                Err(err) => tracing::warn!(
                    tool = %tool.recipient(),
                    "the tool's parameter schema is not valid JSON Schema, so its arguments are not checked before the call: {err}"
                ),
            }
        }
        ArgumentChecker { validators }
    }

    /// The arguments `raw` (as generated) for `tool`, cleaned up and checked.
    pub fn prepare(&self, raw: &str, tool: &ToolRecord) -> Result<Value, ArgumentError> {
        let text = strip_code_fence(raw.trim());
        if tool.input == ArgumentFormat::Text {
            return Ok(Value::String(text.to_string()));
        }
        let mut object = parse_object(text)?;
        rename_aliases(&mut object, tool);
        coerce(&mut object, &tool.parameters);
        let value = Value::Object(object);
        if let Some(validator) = self.validators.get(&tool.recipient()) {
            let problems: Vec<String> = validator
                .iter_errors(&value)
                .map(|error| {
                    let at = error.instance_path().to_string();
                    if at.is_empty() {
                        error.to_string()
                    } else {
                        format!("`{}`: {error}", at.trim_start_matches('/'))
                    }
                })
                .collect();
            if !problems.is_empty() {
                return Err(ArgumentError::Schema(problems));
            }
        }
        Ok(value)
    }
}

/// The text inside a Markdown code fence (```json … ```); other text as it is.
fn strip_code_fence(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("```") else {
        return text;
    };
    let Some(body) = rest.strip_suffix("```") else {
        return text;
    };
    // The opening line may carry an info string (`json`, `python`).
    match body.split_once('\n') {
        Some((info, inner)) if !info.contains('{') => inner.trim_end(),
        _ => body.trim(),
    }
}

fn parse_object(text: &str) -> Result<Map<String, Value>, ArgumentError> {
    if text.is_empty() {
        return Ok(Map::new());
    }
    let value: Value =
        serde_json::from_str(text).map_err(|err| ArgumentError::NotJson(err.to_string()))?;
    match value {
        Value::Object(object) => Ok(object),
        Value::String(inner) => match serde_json::from_str::<Value>(&inner) {
            Ok(Value::Object(object)) => Ok(object),
            _ => Err(ArgumentError::NotAnObject("a string")),
        },
        other => Err(ArgumentError::NotAnObject(json_kind(&other))),
    }
}

/// Renames alias keys to their canonical names; a canonical key already present wins.
fn rename_aliases(object: &mut Map<String, Value>, tool: &ToolRecord) {
    for (alias, canonical) in &tool.aliases {
        if let Some(value) = object.remove(alias)
            && !object.contains_key(canonical)
        {
            object.insert(canonical.clone(), value);
        }
    }
}

/// Top-level coercions the schema makes unambiguous (see the module docs).
fn coerce(object: &mut Map<String, Value>, schema: &Value) {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let keys: Vec<String> = object.keys().cloned().collect();
    for key in keys {
        let Some(property) = properties.get(&key) else {
            continue;
        };
        let types = declared_types(property);
        let Some(value) = object.get_mut(&key) else {
            continue;
        };
        match value {
            Value::Null if !types.contains(&"null") && !required.contains(&key.as_str()) => {
                object.remove(&key);
            }
            Value::String(text) => {
                if let Some(coerced) = coerce_string(text, &types, property) {
                    *value = coerced;
                }
            }
            _ => {}
        }
    }
}

fn coerce_string(text: &str, types: &[&str], property: &Value) -> Option<Value> {
    if types.contains(&"string") {
        return None;
    }
    let trimmed = text.trim();
    if types.contains(&"integer")
        && let Ok(n) = trimmed.parse::<i64>()
    {
        return Some(Value::from(n));
    }
    if types.contains(&"number")
        && let Ok(n) = trimmed.parse::<f64>()
        && let Some(number) = serde_json::Number::from_f64(n)
    {
        return Some(Value::Number(number));
    }
    if types.contains(&"boolean") {
        match trimmed {
            "true" => return Some(Value::Bool(true)),
            "false" => return Some(Value::Bool(false)),
            _ => {}
        }
    }
    let items_are_strings = property
        .get("items")
        .is_some_and(|items| declared_types(items).contains(&"string"));
    if types.contains(&"array") && items_are_strings {
        return Some(Value::Array(vec![Value::String(text.to_string())]));
    }
    None
}

fn declared_types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(name)) => vec![name.as_str()],
        Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// "a string", "an array", … for messages.
pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tool(parameters: Value, aliases: &[(&str, &str)]) -> ToolRecord {
        ToolRecord {
            name: "open_file".into(),
            namespace: "repo_browser".into(),
            description: String::new(),
            parameters,
            input: ArgumentFormat::Json,
            aliases: aliases
                .iter()
                .map(|(a, c)| (a.to_string(), c.to_string()))
                .collect(),
            version: "1".into(),
            hash: String::new(),
            writes: false,
            executes: false,
            policy: Value::Null,
        }
    }

    fn open_file() -> ToolRecord {
        tool(
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "line_start": {"type": ["integer", "null"], "minimum": 1},
                    "line_numbers": {"type": ["boolean", "null"]}
                },
                "required": ["path"],
                "additionalProperties": false
            }),
            &[("file_path", "path"), ("start_line", "line_start")],
        )
    }

    fn prepare(raw: &str, tool: &ToolRecord) -> Result<Value, ArgumentError> {
        ArgumentChecker::new(std::slice::from_ref(tool)).prepare(raw, tool)
    }

    #[test]
    fn fences_strings_and_empty_input_are_cleaned_up() {
        let t = tool(json!({"type": "object", "properties": {}}), &[]);
        assert_eq!(prepare("", &t).unwrap(), json!({}));
        assert_eq!(prepare("  \n", &t).unwrap(), json!({}));
        let t = open_file();
        for raw in [
            r#"{"path": "a.rs"}"#,
            "```json\n{\"path\": \"a.rs\"}\n```",
            "```\n{\"path\": \"a.rs\"}\n```",
            r#""{\"path\": \"a.rs\"}""#,
            "```{\"path\": \"a.rs\"}```",
            " {\"path\":\"a.rs\"}\n",
        ] {
            assert_eq!(prepare(raw, &t).unwrap(), json!({"path": "a.rs"}), "{raw}");
        }
    }

    #[test]
    fn aliases_are_renamed_and_the_canonical_name_wins() {
        let t = open_file();
        assert_eq!(
            prepare(r#"{"file_path": "a.rs", "start_line": 3}"#, &t).unwrap(),
            json!({"path": "a.rs", "line_start": 3})
        );
        assert_eq!(
            prepare(r#"{"path": "a.rs", "file_path": "b.rs"}"#, &t).unwrap(),
            json!({"path": "a.rs"})
        );
    }

    #[test]
    fn values_are_coerced_only_where_the_schema_is_clear() {
        let t = open_file();
        assert_eq!(
            prepare(
                r#"{"path": "a.rs", "line_start": "7", "line_numbers": "true"}"#,
                &t
            )
            .unwrap(),
            json!({"path": "a.rs", "line_start": 7, "line_numbers": true})
        );
        // A string stays a string where a string is allowed.
        assert_eq!(
            prepare(r#"{"path": "12"}"#, &t).unwrap(),
            json!({"path": "12"})
        );
        // A number that is not a number is refused by the schema, not guessed.
        let err = prepare(r#"{"path": "a.rs", "line_start": "seven"}"#, &t).unwrap_err();
        assert!(
            matches!(&err, ArgumentError::Schema(p) if p[0].contains("line_start")),
            "{err}"
        );
        let exec = tool(
            json!({"type": "object", "properties": {"command": {"type": "array", "items": {"type": "string"}}}, "required": ["command"]}),
            &[("cmd", "command")],
        );
        assert_eq!(
            prepare(r#"{"cmd": "ls -la"}"#, &exec).unwrap(),
            json!({"command": ["ls -la"]})
        );
    }

    #[test]
    fn null_for_an_optional_parameter_is_dropped() {
        let t = tool(
            json!({"type": "object", "properties": {"path": {"type": "string"}, "depth": {"type": "integer"}}, "required": ["path"]}),
            &[],
        );
        assert_eq!(
            prepare(r#"{"path": "", "depth": null}"#, &t).unwrap(),
            json!({"path": ""})
        );
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        let t = open_file();
        assert!(matches!(
            prepare("{path: a.rs}", &t),
            Err(ArgumentError::NotJson(_))
        ));
        assert_eq!(
            prepare("[1, 2]", &t),
            Err(ArgumentError::NotAnObject("an array"))
        );
        assert_eq!(
            prepare(r#""just text""#, &t),
            Err(ArgumentError::NotAnObject("a string"))
        );
        let err = prepare(r#"{"line_start": 1}"#, &t).unwrap_err();
        assert!(err.to_string().contains("\"path\""), "{err}");
        let err = prepare(r#"{"path": "a", "colour": "red"}"#, &t).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn text_tools_get_the_text() {
        let mut python = open_file();
        python.input = ArgumentFormat::Text;
        assert_eq!(
            prepare("```python\nprint(1)\n```", &python).unwrap(),
            json!("print(1)")
        );
        assert_eq!(prepare("x = 1\nx", &python).unwrap(), json!("x = 1\nx"));
    }
}
