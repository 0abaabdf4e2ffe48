//! YAML text ↔ JSON values. Compose files are parsed into `serde_json::Value` (order
//! kept) so that interpolation, validation, merging and normalization all work on one
//! plain tree; `<<` merge keys are applied and non-string keys become strings, as
//! Compose does. The `config` command prints the final model back as YAML.

use serde_json::{Map, Number, Value};

use crate::error::{ComposeError, Result};

/// Parses one compose file's text. An empty file is an empty mapping.
pub fn parse(file: &str, text: &str) -> Result<Value> {
    let err = |message: String| ComposeError::Yaml {
        file: file.to_string(),
        message,
    };
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let mut v: serde_norway::Value =
        serde_norway::from_str(text).map_err(|e| err(e.to_string()))?;
    v.apply_merge().map_err(|e| err(e.to_string()))?;
    let json = to_json(v);
    match json {
        Value::Object(_) => Ok(json),
        Value::Null => Ok(Value::Object(Map::new())),
        _ => Err(err("top-level object must be a mapping".into())),
    }
}

fn to_json(v: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Number(i.into())
            } else if let Some(u) = n.as_u64() {
                Value::Number(u.into())
            } else {
                n.as_f64()
                    .and_then(Number::from_f64)
                    .map(Value::Number)
                    // NaN and infinities have no JSON form; keep their YAML spelling.
                    .unwrap_or_else(|| Value::String(n.to_string()))
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(seq) => Value::Array(seq.into_iter().map(to_json).collect()),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                out.insert(key_string(k), to_json(v));
            }
            Value::Object(out)
        }
        Y::Tagged(t) => to_json(t.value),
    }
}

/// Mapping keys that YAML parsed as numbers or booleans (`80: 80`, `true: x`) are
/// strings in Compose.
fn key_string(k: serde_norway::Value) -> String {
    use serde_norway::Value as Y;
    match k {
        Y::String(s) => s,
        Y::Bool(b) => b.to_string(),
        Y::Number(n) => n.to_string(),
        Y::Null => "null".to_string(),
        other => serde_norway::to_string(&other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// Prints a value as YAML (the `config` command).
pub fn to_yaml(v: &Value) -> String {
    // Serializing a JSON value cannot fail: every key is a string.
    serde_norway::to_string(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_keys_anchors_and_merge_keys() {
        let text = "x-base: &b\n  image: busybox\n  restart: always\nservices:\n  web:\n    <<: *b\n    restart: \"no\"\n    ports:\n      - 80\n    labels:\n      1: true\n";
        let v = parse("f.yml", text).unwrap();
        assert_eq!(v["services"]["web"]["image"], json!("busybox"));
        assert_eq!(v["services"]["web"]["restart"], json!("no"));
        assert_eq!(v["services"]["web"]["ports"], json!([80]));
        assert_eq!(v["services"]["web"]["labels"]["1"], json!(true));
    }

    #[test]
    fn empty_and_bad_files() {
        assert_eq!(parse("f", "").unwrap(), json!({}));
        assert_eq!(parse("f", "# only a comment\n").unwrap(), json!({}));
        let e = parse("f.yml", "- a\n- b\n").unwrap_err().to_string();
        assert!(e.contains("top-level object must be a mapping"), "{e}");
        let e = parse("f.yml", "services: [\n").unwrap_err().to_string();
        assert!(e.starts_with("yaml: f.yml:"), "{e}");
    }

    #[test]
    fn yaml_round_trip() {
        let v = json!({"services": {"a": {"image": "x", "ports": [{"target": 80}]}}});
        let text = to_yaml(&v);
        assert_eq!(parse("f", &text).unwrap(), v);
    }
}
