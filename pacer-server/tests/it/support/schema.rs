//! A small JSON-Schema checker for GitHub's REST API: the fake GitHub checks what Pacer sends,
//! and its own answers, against the dereferenced operations in
//! `testdata/github-api/operations` (type, required, properties, items, minItems,
//! maxItems, enum, allOf, oneOf, anyOf).

use serde_json::Value;

/// Every way `value` breaks `schema`, with JSON paths.
pub fn violations(schema: &Value, value: &Value, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        out.extend(violations(part, value, path));
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(choices) = schema[key].as_array()
            && !choices.iter().any(|choice| violations(choice, value, path).is_empty())
        {
            out.push(format!("{path}: matches none of {key}"));
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let nullable = schema["nullable"].as_bool().unwrap_or(false);
    if value.is_null() && (nullable || types.contains(&"null")) {
        return out;
    }
    let matches = |t: &str| match t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => true,
    };
    if !types.is_empty() && !types.iter().any(|t| matches(t)) {
        out.push(format!("{path}: expected {types:?}, got {value}"));
        return out;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        out.push(format!("{path}: {value} not in {allowed:?}"));
    }
    if let Some(object) = value.as_object() {
        for required in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !object.contains_key(required) {
                out.push(format!("{path}: missing required {required}"));
            }
        }
        if let Some(properties) = schema["properties"].as_object() {
            for (key, item) in object {
                match properties.get(key) {
                    Some(sub) => out.extend(violations(sub, item, &format!("{path}.{key}"))),
                    None if schema["additionalProperties"] == Value::Bool(false) => {
                        out.push(format!("{path}: unexpected property {key}"))
                    }
                    None => {}
                }
            }
        }
    }
    if let Some(items) = value.as_array() {
        if let Some(min) = schema["minItems"].as_u64()
            && (items.len() as u64) < min
        {
            out.push(format!("{path}: {} items, at least {min}", items.len()));
        }
        if let Some(max) = schema["maxItems"].as_u64()
            && (items.len() as u64) > max
        {
            out.push(format!("{path}: {} items, at most {max}", items.len()));
        }
        for (i, item) in items.iter().enumerate() {
            out.extend(violations(&schema["items"], item, &format!("{path}[{i}]")));
        }
    }
    out
}

/// The schema of a dereferenced operation's answer with `status`.
pub fn response_schema<'a>(operation: &'a Value, status: &str) -> &'a Value {
    &operation["responses"][status]["content"]["application/json"]["schema"]
}

/// The request-body schema of a dereferenced operation file.
pub fn request_schema(operation: &Value) -> &Value {
    &operation["requestBody"]["content"]["application/json"]["schema"]
}

#[test]
fn the_checker_catches_shape_errors() {
    let schema = serde_json::json!({
        "type": "object", "required": ["name", "labels"],
        "properties": {"name": {"type": "string"}, "labels": {"type": "array", "minItems": 1, "items": {"type": "string"}}}
    });
    assert!(violations(&schema, &serde_json::json!({"name": "x", "labels": ["a"]}), "$").is_empty());
    assert_eq!(violations(&schema, &serde_json::json!({"labels": []}), "$").len(), 2);
    assert_eq!(violations(&schema, &serde_json::json!({"name": 1, "labels": [2]}), "$").len(), 2);
}
