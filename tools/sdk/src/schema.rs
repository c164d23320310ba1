//! The JSON Schema of a tool's arguments, in the plain form models handle best.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

/// The JSON Schema of `A`, cleaned for a model's tool list: no `$schema`, `title`,
/// root description (the tool's description says it) or integer `format` noise,
/// subschemas inlined, descriptions unwrapped to one line per paragraph, and optional
/// fields written as their plain type (left out of `required`) rather than as a union
/// with `null`.
pub fn parameters_schema<A: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft2020_12()
        .with(|settings| {
            settings.meta_schema = None;
            settings.inline_subschemas = true;
        })
        .into_generator();
    let mut schema = generator.into_root_schema_for::<A>().to_value();
    if let Value::Object(root) = &mut schema {
        root.remove("title");
        root.remove("$schema");
        root.remove("description");
    }
    clean(&mut schema);
    schema
}

fn clean(value: &mut Value) {
    let Value::Object(map) = value else {
        return;
    };
    if let Some(Value::String(format)) = map.get("format")
        && (format.starts_with("int") || format.starts_with("uint"))
    {
        map.remove("format");
    }
    drop_null_from_type(map);
    if let Some(Value::String(description)) = map.get_mut("description") {
        *description = unwrap_lines(description);
    }
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        for property in properties.values_mut() {
            clean(property);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = map.get_mut(key) {
            clean(child);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(children)) = map.get_mut(key) {
            children.iter_mut().for_each(clean);
        }
    }
}

/// Doc comments wrap lines; a schema description should not (tool declarations put
/// each description on comment lines of their own).
fn unwrap_lines(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| paragraph.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// `{"type": ["integer", "null"]}` → `{"type": "integer"}`; `{"anyOf": [X, {"type":
/// "null"}]}` → `X`. Optionality is already expressed by `required`.
fn drop_null_from_type(map: &mut Map<String, Value>) {
    if let Some(Value::Array(types)) = map.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let single = types.remove(0);
            map.insert("type".to_owned(), single);
        }
    }
    if let Some(Value::Array(options)) = map.get("anyOf") {
        let non_null: Vec<&Value> = options
            .iter()
            .filter(|option| option.get("type").is_none_or(|t| t != "null"))
            .collect();
        if non_null.len() == 1
            && options.len() == 2
            && let Value::Object(inner) = non_null[0].clone()
        {
            map.remove("anyOf");
            for (key, value) in inner {
                map.entry(key).or_insert(value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    /// Arguments.
    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Args {
        /// The path,
        /// relative.
        path: String,
        /// First line.
        offset: Option<u32>,
    }

    #[test]
    fn optional_fields_are_plain_and_not_required() {
        let schema = parameters_schema::<Args>();
        let order: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        assert_eq!(order, ["path", "offset"], "declaration order");
        assert_eq!(
            schema,
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "The path, relative."},
                    "offset": {"type": "integer", "description": "First line.", "minimum": 0}
                },
                "required": ["path"]
            })
        );
    }
}
