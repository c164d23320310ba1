//! JSON Schema → the TypeScript-like tool declarations gpt-oss was trained on.
//!
//! This follows openai-harmony 0.0.8's converter rule for rule, quirks included
//! (tests/conformance.rs checks it on the reference's outputs): an object's description
//! is written twice when it is a property, `"x" | "y"[]` loses its parentheses, a
//! multi-line description continues without `//`, `anyOf`/`$ref`/`allOf`/`const` and
//! type-less schemas become `any`, and property order is the JSON input order. Do not
//! "fix" any of it: the model expects exactly this text.

use std::fmt::Write as _;

use serde_json::Value;

use crate::types::ToolNamespaceConfig;

/// Writes one namespace section (`## name\n\n…`), as it appears inside `# Tools`.
pub(crate) fn write_namespace(out: &mut String, ns: &ToolNamespaceConfig) {
    // The reference joins these lines with "\n"; the first line is "## name\n".
    let _ = writeln!(out, "## {}", ns.name);
    if let Some(description) = &ns.description {
        for line in description.lines() {
            out.push('\n');
            if !ns.tools.is_empty() {
                out.push_str("// ");
            }
            out.push_str(line);
        }
    }
    if ns.tools.is_empty() {
        return;
    }
    let _ = write!(out, "\nnamespace {} {{\n", ns.name);
    for tool in &ns.tools {
        for line in tool.description.lines() {
            let _ = write!(out, "\n// {line}");
        }
        match &tool.parameters {
            Some(parameters) => {
                let _ = write!(
                    out,
                    "\ntype {} = (_: {}) => any;\n",
                    tool.name,
                    schema_to_typescript(parameters, "")
                );
            }
            None => {
                let _ = write!(out, "\ntype {} = () => any;\n", tool.name);
            }
        }
    }
    let _ = write!(out, "\n}} // namespace {}", ns.name);
}

/// Writes the whole tools section: `# Tools`, then each namespace in key order.
pub(crate) fn write_tools_section<'a>(
    out: &mut String,
    namespaces: impl IntoIterator<Item = &'a ToolNamespaceConfig>,
) {
    out.push_str("# Tools");
    for ns in namespaces {
        out.push_str("\n\n");
        write_namespace(out, ns);
    }
}

/// Converts a JSON Schema to the reference's TypeScript-like type at `indent`.
pub(crate) fn schema_to_typescript(schema: &Value, indent: &str) -> String {
    if let Some(Value::Array(variants)) = schema.get("oneOf") {
        return one_of_inline(variants, indent);
    }
    if let Some(Value::Array(types)) = schema.get("type") {
        let names: Vec<&str> = types
            .iter()
            .filter_map(Value::as_str)
            .map(|t| if t == "integer" { "number" } else { t })
            .collect();
        if !names.is_empty() {
            return names.join(" | ");
        }
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => object(schema, indent),
        Some("string") => {
            if let Some(Value::Array(values)) = schema.get("enum") {
                let quoted: Vec<String> = values
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|s| format!("\"{s}\""))
                    .collect();
                if !quoted.is_empty() {
                    return quoted.join(" | ");
                }
            }
            "string".to_owned()
        }
        Some("number" | "integer") => "number".to_owned(),
        Some("boolean") => "boolean".to_owned(),
        Some("array") => match schema.get("items") {
            Some(items) => format!("{}[]", schema_to_typescript(items, indent)),
            None => "Array<any>".to_owned(),
        },
        // Any other type name, no type at all, or a `oneOf` that is not an array.
        _ => "any".to_owned(),
    }
}

/// A `oneOf` that is not a property: every variant on its own ` | ` line, with its
/// comments, and nothing after the last one.
fn one_of_inline(variants: &[Value], indent: &str) -> String {
    let variant_indent = format!("{indent}   ");
    let mut out = String::new();
    for variant in variants {
        let _ = write!(out, "\n{indent} | ");
        out.push_str(&with_nullable(
            variant,
            schema_to_typescript(variant, &variant_indent),
        ));
        let mut comments = Vec::new();
        if let Some(description) = variant.get("description").and_then(Value::as_str) {
            comments.push(description.to_owned());
        }
        if let Some(default) = variant.get("default") {
            // At this level an enum's string default keeps its JSON quotes.
            comments.push(match default.as_str() {
                Some(s) if !is_enum(variant) => format!("default: \"{s}\""),
                _ => format!("default: {}", compact_json(default)),
            });
        }
        if !comments.is_empty() {
            let _ = write!(out, " // {}", comments.join(" "));
        }
    }
    out
}

fn object(schema: &Value, indent: &str) -> String {
    let mut out = String::new();
    if let Some(description) = schema.get("description").and_then(Value::as_str) {
        let _ = writeln!(out, "{indent}// {description}");
    }
    out.push_str("{\n");
    if let Some(Value::Object(properties)) = schema.get("properties") {
        let required: Vec<&str> = match schema.get("required") {
            Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        for (name, property) in properties {
            let optional = if required.contains(&name.as_str()) {
                ""
            } else {
                "?"
            };
            property_comments(&mut out, property, indent);
            if let Some(Value::Array(variants)) = property.get("oneOf") {
                one_of_property(&mut out, name, optional, property, variants, indent);
                continue;
            }
            let _ = write!(out, "{indent}{name}{optional}: ");
            let value_indent = format!("{indent}    ");
            out.push_str(&with_nullable(
                property,
                schema_to_typescript(property, &value_indent),
            ));
            out.push(',');
            if property.get("oneOf").is_none()
                && let Some(default) = property.get("default")
            {
                let _ = write!(out, " // {}", default_comment(default, is_enum(property)));
            }
            out.push('\n');
        }
    }
    let _ = write!(out, "{indent}}}");
    out
}

/// Title, description (unless the property has a `oneOf`) and string examples.
fn property_comments(out: &mut String, property: &Value, indent: &str) {
    if let Some(title) = property.get("title").and_then(Value::as_str) {
        let _ = write!(out, "{indent}// {title}\n{indent}//\n");
    }
    if property.get("oneOf").is_none()
        && let Some(description) = property.get("description").and_then(Value::as_str)
    {
        let _ = writeln!(out, "{indent}// {description}");
    }
    if let Some(Value::Array(examples)) = property.get("examples")
        && !examples.is_empty()
    {
        let _ = writeln!(out, "{indent}// Examples:");
        for example in examples.iter().filter_map(Value::as_str) {
            let _ = writeln!(out, "{indent}// - \"{example}\"");
        }
    }
}

fn one_of_property(
    out: &mut String,
    name: &str,
    optional: &str,
    property: &Value,
    variants: &[Value],
    indent: &str,
) {
    let property_description = property.get("description").and_then(Value::as_str);
    let first_variant_description = variants
        .first()
        .and_then(|v| v.get("description"))
        .and_then(Value::as_str);
    let mut description_above = false;
    if let Some(description) = property_description
        && first_variant_description != Some(description)
    {
        let _ = writeln!(out, "{indent}// {description}");
        description_above = true;
    }
    if let Some(default) = property.get("default") {
        let _ = writeln!(
            out,
            "{indent}// {}",
            default_comment(default, is_enum(property))
        );
    }
    let _ = writeln!(out, "{indent}{name}{optional}:");
    let variant_indent = format!("{indent}   ");
    for (i, variant) in variants.iter().enumerate() {
        let _ = write!(out, "{indent} | ");
        out.push_str(&with_nullable(
            variant,
            schema_to_typescript(variant, &variant_indent),
        ));
        let mut comments = Vec::new();
        if !(i == 0 && description_above)
            && let Some(description) = variant.get("description").and_then(Value::as_str)
            && Some(description) != property_description
        {
            comments.push(description.to_owned());
        }
        if let Some(default) = variant.get("default") {
            comments.push(default_comment(default, is_enum(variant)));
        }
        if !comments.is_empty() {
            let _ = write!(out, " // {}", comments.join(" "));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "{indent},");
}

/// `default: "x"` for a plain string, `default: x` for an enum's string, compact JSON
/// for anything else.
fn default_comment(default: &Value, enum_schema: bool) -> String {
    match default.as_str() {
        Some(s) if enum_schema => format!("default: {s}"),
        Some(s) => format!("default: \"{s}\""),
        None => format!("default: {}", compact_json(default)),
    }
}

/// Compact JSON as openai-harmony 0.0.8 wrote it. Its serde_json printed floats with
/// ryu (`1e20`, `1.5e-7`); newer serde_json writes `1e+20`, so floats are formatted
/// here rather than with `Value`'s `Display`.
fn compact_json(value: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, value);
    out
}

fn write_json(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                let _ = write!(out, "{i}");
            } else if let Some(u) = n.as_u64() {
                let _ = write!(out, "{u}");
            } else if let Some(f) = n.as_f64() {
                out.push_str(ryu::Buffer::new().format(f));
            }
        }
        Value::String(s) => write_json_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, key);
                out.push(':');
                write_json(out, item);
            }
            out.push('}');
        }
    }
}

/// serde_json's escaping: quote, backslash and control characters only.
fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn with_nullable(schema: &Value, mut ts: String) -> String {
    let nullable = schema
        .get("nullable")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if nullable && !ts.contains("null") {
        ts.push_str(" | null");
    }
    ts
}

fn is_enum(schema: &Value) -> bool {
    matches!(schema.get("enum"), Some(Value::Array(values)) if !values.is_empty())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn ts(schema: Value) -> String {
        schema_to_typescript(&schema, "")
    }

    #[test]
    fn compact_json_matches_serde_json_with_ryu() {
        let value = json!({"a": [1, -2, 1.5, 1e20, 1e-7, 0.001, 1000.0, null, true],
            "s": "q\"\\\n\u{1}é/"});
        assert_eq!(
            compact_json(&value),
            r#"{"a":[1,-2,1.5,1e20,1e-7,0.001,1000.0,null,true],"s":"q\"\\\n\u0001é/"}"#
        );
    }

    #[test]
    fn scalar_and_array_types() {
        assert_eq!(ts(json!({"type": "integer"})), "number");
        assert_eq!(ts(json!({"type": ["string", "null"]})), "string | null");
        assert_eq!(
            ts(json!({"type": "array", "items": {"type": "string", "enum": ["x", "y"]}})),
            "\"x\" | \"y\"[]"
        );
        assert_eq!(ts(json!({"type": "array"})), "Array<any>");
        assert_eq!(ts(json!({"anyOf": [{"type": "string"}]})), "any");
        assert_eq!(ts(json!({"properties": {"a": {"type": "string"}}})), "any");
        assert_eq!(ts(json!({"type": []})), "any");
        assert_eq!(ts(json!({"type": "string", "enum": [1, 2]})), "string");
    }

    #[test]
    fn object_with_defaults_and_required() {
        let schema = json!({"type":"object","properties":{
            "a":{"type":"string","description":"A desc"},
            "b":{"type":"integer"},
            "c":{"type":"number","default":1.5},
            "d":{"type":"boolean","default":true},
            "s":{"type":"string","enum":["x","y"],"default":"x"},
            "sd":{"type":"string","default":"hello"},
            "od":{"type":"object","default":{"k":[1,2]}}},
            "required":["a"]});
        assert_eq!(
            ts(schema),
            "{\n// A desc\na: string,\nb?: number,\nc?: number, // default: 1.5\nd?: boolean, // default: true\n\
             s?: \"x\" | \"y\", // default: x\nsd?: string, // default: \"hello\"\nod?: {\n    }, // default: {\"k\":[1,2]}\n}"
        );
    }

    #[test]
    fn one_of_property_drops_duplicate_descriptions() {
        let schema = json!({"type":"object","properties":{
            "v":{"oneOf":[{"type":"string","description":"as text"},{"type":"integer","nullable":true}],"description":"value"},
            "w":{"oneOf":[{"type":"string","description":"same"},{"type":"number"}],"description":"same"}},
            "required":["v"]});
        assert_eq!(
            ts(schema),
            "{\n// value\nv:\n | string\n | number | null\n,\nw?:\n | string\n | number\n,\n}"
        );
    }
}
