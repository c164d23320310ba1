//! What a tool says about itself: its name, description, argument schema and aliases,
//! checked before the tool is offered to a model.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a tool says about itself (its `describe` export).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    /// The name the model calls it by.
    pub name: String,
    /// Prose for the model.
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
    /// The tool's version.
    pub version: String,
    /// Other names the model may use for arguments: alias → canonical name. Tools list
    /// them in their schema under `x-ossa-aliases`, which is removed from `parameters`;
    /// the agent renames alias keys before validating and calling.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aliases: BTreeMap<String, String>,
}

/// The root schema key under which a tool lists its argument aliases.
pub(crate) const ALIASES_KEY: &str = "x-ossa-aliases";

/// Longest description accepted: apply_patch's, the longest built-in, is ~3 KiB.
const MAX_DESCRIPTION_BYTES: usize = 32 * 1024;

impl ToolInfo {
    pub(crate) fn validate(&self) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !name_ok {
            return Err(format!(
                "the tool's name {:?} is not 1 to 64 characters of a-z, A-Z, 0-9, `_` and `-`",
                self.name
            ));
        }
        if self.description.len() > MAX_DESCRIPTION_BYTES {
            return Err(format!(
                "the description of {} is longer than 32 KiB",
                self.name
            ));
        }
        if self.parameters.get("type").and_then(Value::as_str) != Some("object") {
            return Err(format!(
                "the parameters schema of {} must be a JSON Schema object with \"type\": \"object\"",
                self.name
            ));
        }
        if self.version.is_empty() || self.version.len() > 64 {
            return Err(format!(
                "the version of {} must be 1 to 64 characters",
                self.name
            ));
        }
        if self.parameters.get(ALIASES_KEY).is_some() {
            return Err(format!(
                "the parameters schema of {} still holds {ALIASES_KEY}",
                self.name
            ));
        }
        let properties = self.parameters.get("properties").and_then(Value::as_object);
        let declared = |name: &str| properties.is_some_and(|p| p.contains_key(name));
        for (alias, canonical) in &self.aliases {
            if !declared(canonical) {
                return Err(format!(
                    "the alias {alias:?} of {} names {canonical:?}, which is not one of its parameters",
                    self.name
                ));
            }
            if alias.is_empty() || declared(alias) {
                return Err(format!(
                    "the alias {alias:?} of {} is empty or is itself one of its parameters",
                    self.name
                ));
            }
        }
        Ok(())
    }
}

/// Removes the `x-ossa-aliases` object from a schema's root and returns it.
pub(crate) fn take_aliases(schema: &mut Value) -> Result<BTreeMap<String, String>, String> {
    let Some(aliases) = schema
        .as_object_mut()
        .and_then(|root| root.remove(ALIASES_KEY))
    else {
        return Ok(BTreeMap::new());
    };
    let bad = || {
        format!("`{ALIASES_KEY}` in the parameters schema must map alias names to argument names")
    };
    let Value::Object(aliases) = aliases else {
        return Err(bad());
    };
    aliases
        .into_iter()
        .map(|(alias, canonical)| match canonical {
            Value::String(canonical) if !alias.is_empty() && alias != canonical => {
                Ok((alias, canonical))
            }
            _ => Err(bad()),
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn info(parameters: Value) -> ToolInfo {
        ToolInfo {
            name: "open".into(),
            description: "Opens.".into(),
            parameters,
            version: "1".into(),
            aliases: BTreeMap::new(),
        }
    }
    #[test]
    fn aliases_are_taken_out_of_the_schema() {
        let mut schema = serde_json::json!({
            "type": "object",
            "properties": {"command": {"type": "array"}},
            "x-ossa-aliases": {"cmd": "command"}
        });
        let aliases = take_aliases(&mut schema).unwrap();
        assert_eq!(aliases, BTreeMap::from([("cmd".into(), "command".into())]));
        assert!(schema.get(ALIASES_KEY).is_none());
        let mut bad = serde_json::json!({"type": "object", "x-ossa-aliases": ["cmd"]});
        assert!(take_aliases(&mut bad).is_err());
    }
    #[test]
    fn aliases_must_name_parameters_and_survive_the_cache() {
        let mut parameters = serde_json::json!({
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "x-ossa-aliases": {"file_path": "path"}
        });
        let aliases = take_aliases(&mut parameters).unwrap();
        assert_eq!(aliases.get("file_path").map(String::as_str), Some("path"));
        assert!(parameters.get(ALIASES_KEY).is_none());
        let mut good = info(parameters.clone());
        good.aliases = aliases;
        good.validate().unwrap();
        let text = serde_json::to_string(&good).unwrap();
        assert!(
            text.contains("\"aliases\":{\"file_path\":\"path\"}"),
            "{text}"
        );
        let plain = serde_json::to_string(&info(parameters.clone())).unwrap();
        assert!(
            !plain.contains("aliases"),
            "empty aliases are left out: {plain}"
        );
        assert_eq!(
            serde_json::from_str::<ToolInfo>(&plain).unwrap(),
            info(parameters.clone())
        );

        let mut unknown = info(parameters.clone());
        unknown.aliases.insert("file".into(), "name".into());
        assert!(
            unknown
                .validate()
                .unwrap_err()
                .contains("not one of its parameters")
        );
        let mut shadowing = info(parameters.clone());
        shadowing.aliases.insert("path".into(), "path".into());
        assert!(shadowing.validate().is_err());
        let mut left_in = parameters.clone();
        left_in[ALIASES_KEY] = serde_json::json!({});
        assert!(
            info(left_in).validate().is_err(),
            "a cached schema must be re-described"
        );
    }
}
