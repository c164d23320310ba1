//! Checks tool arguments against the tool's JSON Schema before the call, so the model
//! gets an error naming the problem and quoting the schema instead of a tool crash.
//!
//! This is the subset of JSON Schema that tool schemas (schemars output) use: `type`
//! (one name or a list), `properties`, `required`, `additionalProperties: false`,
//! `enum`, `const`, `items`, `minimum`/`maximum`, `anyOf`/`oneOf`, and local `$ref`s
//! (`#/$defs/…`, `#/definitions/…`). Other keywords are not checked; the tool itself
//! still validates what it receives.

use serde_json::Value;

/// Every problem found in `value` against `schema`, as sentences; empty when it fits.
pub fn check(value: &Value, schema: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    check_at(value, schema, schema, "arguments", &mut problems, 0);
    problems
}

// Recursive `$ref`s could loop forever; real tool schemas are far shallower.
const MAX_DEPTH: usize = 32;

fn check_at(
    value: &Value,
    schema: &Value,
    root: &Value,
    at: &str,
    problems: &mut Vec<String>,
    depth: usize,
) {
    let Some(schema) = schema.as_object() else {
        return;
    };
    if depth > MAX_DEPTH {
        return;
    }
    if let Some(Value::String(reference)) = schema.get("$ref") {
        match resolve(root, reference) {
            Some(target) => check_at(value, target, root, at, problems, depth + 1),
            None => problems.push(format!(
                "the schema's $ref `{reference}` cannot be resolved"
            )),
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = schema.get(key) {
            let fits = options.iter().any(|option| {
                let mut scratch = Vec::new();
                check_at(value, option, root, at, &mut scratch, depth + 1);
                scratch.is_empty()
            });
            if !fits {
                problems.push(format!("{at} matches none of the allowed forms"));
            }
        }
    }
    if let Some(expected) = schema.get("type") {
        let names: Vec<&str> = match expected {
            Value::String(name) => vec![name.as_str()],
            Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !names.is_empty() && !names.iter().any(|name| has_type(value, name)) {
            problems.push(format!(
                "{at} must be {}, not {}",
                names.join(" or "),
                type_name(value)
            ));
            return;
        }
    }
    if let Some(Value::Array(allowed)) = schema.get("enum")
        && !allowed.contains(value)
    {
        problems.push(format!(
            "{at} must be one of {}",
            Value::Array(allowed.clone())
        ));
    }
    if let Some(constant) = schema.get("const")
        && constant != value
    {
        problems.push(format!("{at} must be {constant}"));
    }
    if let Some(number) = value.as_f64() {
        if let Some(minimum) = schema.get("minimum").and_then(Value::as_f64)
            && number < minimum
        {
            problems.push(format!("{at} must be at least {minimum}"));
        }
        if let Some(maximum) = schema.get("maximum").and_then(Value::as_f64)
            && number > maximum
        {
            problems.push(format!("{at} must be at most {maximum}"));
        }
    }
    if let Value::Object(fields) = value {
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(required)) = schema.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if !fields.contains_key(name) {
                    problems.push(format!("{at} is missing the required property `{name}`"));
                }
            }
        }
        for (name, field) in fields {
            match properties.and_then(|p| p.get(name)) {
                Some(field_schema) => check_at(
                    field,
                    field_schema,
                    root,
                    &format!("`{name}`"),
                    problems,
                    depth + 1,
                ),
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    problems.push(format!("{at} has an unknown property `{name}`"));
                }
                None => {}
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (index, item) in items.iter().enumerate() {
            check_at(
                item,
                item_schema,
                root,
                &format!("{at}[{index}]"),
                problems,
                depth + 1,
            );
        }
    }
}

fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    root.pointer(pointer)
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|n| n.fract() == 0.0)
        }
        _ => true,
    }
}

fn type_name(value: &Value) -> &'static str {
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
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read_file_schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "offset": {"type": ["integer", "null"], "minimum": 0},
                "mode": {"$ref": "#/$defs/Mode"}
            },
            "required": ["path"],
            "additionalProperties": false,
            "$defs": {"Mode": {"type": "string", "enum": ["text", "hex"]}}
        })
    }

    #[test]
    fn valid_arguments_have_no_problems() {
        assert!(check(&json!({"path": "a.rs"}), &read_file_schema()).is_empty());
        assert!(
            check(
                &json!({"path": "a.rs", "offset": null, "mode": "hex"}),
                &read_file_schema()
            )
            .is_empty()
        );
    }

    #[test]
    fn every_problem_is_named() {
        let problems = check(
            &json!({"offset": -1, "mode": "raw", "extra": 1}),
            &read_file_schema(),
        );
        assert_eq!(
            problems,
            [
                "arguments is missing the required property `path`",
                "`offset` must be at least 0",
                "`mode` must be one of [\"text\",\"hex\"]",
                "arguments has an unknown property `extra`",
            ]
        );
        assert_eq!(
            check(&json!("a.rs"), &read_file_schema()),
            ["arguments must be object, not a string"]
        );
        assert_eq!(
            check(&json!({"path": 3}), &read_file_schema()),
            ["`path` must be string, not a number"]
        );
    }

    #[test]
    fn any_of_and_items() {
        let schema =
            json!({"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}});
        assert!(check(&json!(["a", 1]), &schema).is_empty());
        assert_eq!(
            check(&json!(["a", true]), &schema),
            ["arguments[1] matches none of the allowed forms"]
        );
    }
}
