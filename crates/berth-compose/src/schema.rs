//! Validation of a compose file against the Compose specification's JSON schema,
//! embedded in the binary. A small validator for the subset of JSON Schema draft-07
//! the specification uses (`type`, `enum`, `properties`, `patternProperties`,
//! `additionalProperties`, `required`, `items`, `uniqueItems`, `oneOf`/`anyOf`/`allOf`,
//! `$ref`, `minimum`/`maximum`, `pattern`); see docs/adr/0011. Regular expressions are
//! matched by a table of the few patterns the schema contains (a test checks that the
//! table covers every pattern of the embedded file), so no regex engine is needed.
//!
//! Errors name the key path as Compose does, e.g.
//! `services.web additional properties 'foo' not allowed`.

use std::sync::OnceLock;

use serde_json::Value;

/// The Compose specification schema (public reference data, copied verbatim).
pub const SCHEMA_JSON: &str = include_str!("../schema/compose-spec.json");

fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        // The embedded file is checked by a unit test; a parse failure is a build defect.
        serde_json::from_str(SCHEMA_JSON).unwrap_or(Value::Bool(true))
    })
}

/// Validates one (interpolated) compose document; the error names the path.
pub fn validate(doc: &Value) -> Result<(), String> {
    let root = schema();
    check(root, root, doc, "").map_err(|e| e.message)
}

#[derive(Debug)]
struct Failure {
    message: String,
    /// How deep into the value the failure is: deeper failures explain a `oneOf`
    /// mismatch better than shallow "wrong type" ones.
    depth: usize,
}

fn fail(path: &str, what: String) -> Failure {
    let shown = if path.is_empty() { "(root)" } else { path };
    Failure {
        message: format!("{shown} {what}"),
        depth: path.matches('.').count() + usize::from(!path.is_empty()),
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Compose's words for JSON types.
fn type_word(t: &str) -> &str {
    match t {
        "object" => "mapping",
        "array" => "list",
        other => other,
    }
}

fn type_ok(want: &str, v: &Value) -> bool {
    let have = type_name(v);
    want == have
        || (want == "number" && have == "integer")
        || (want == "integer" && v.as_f64().is_some_and(|f| f.fract() == 0.0))
}

fn check(root: &Value, s: &Value, v: &Value, path: &str) -> Result<(), Failure> {
    let Value::Object(s) = s else {
        // `true`/`{}` accept anything; `false` accepts nothing.
        return if s.as_bool() == Some(false) {
            Err(fail(path, "is not allowed".into()))
        } else {
            Ok(())
        };
    };
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let target = resolve(root, r).ok_or_else(|| fail(path, format!("bad $ref {r}")))?;
        check(root, target, v, path)?;
    }
    if let Some(t) = s.get("type") {
        let wanted: Vec<&str> = match t {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !wanted.is_empty() && !wanted.iter().any(|w| type_ok(w, v)) {
            let words: Vec<&str> = wanted.iter().map(|w| type_word(w)).collect();
            return Err(fail(path, format!("must be a {}", words.join(" or "))));
        }
    }
    if let Some(Value::Array(options)) = s.get("enum") {
        if !options.contains(v) {
            let list: Vec<String> = options.iter().map(|o| o.to_string()).collect();
            return Err(fail(path, format!("must be one of {}", list.join(", "))));
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(branches)) = s.get(key) {
            // Treated as anyOf: the specification's alternatives never overlap in
            // practice, and accepting an overlap is kinder than a confusing error.
            let mut best: Option<Failure> = None;
            let mut ok = false;
            for b in branches {
                match check(root, b, v, path) {
                    Ok(()) => {
                        ok = true;
                        break;
                    }
                    Err(f) => {
                        if best.as_ref().is_none_or(|x| f.depth > x.depth) {
                            best = Some(f);
                        }
                    }
                }
            }
            if !ok {
                return Err(best.unwrap_or_else(|| fail(path, "matches no alternative".into())));
            }
        }
    }
    if let Some(Value::Array(all)) = s.get("allOf") {
        for b in all {
            check(root, b, v, path)?;
        }
    }
    match v {
        Value::Object(map) => check_object(root, s, map, path)?,
        Value::Array(items) => {
            if let Some(item_schema) = s.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(root, item_schema, item, &format!("{path}.{i}"))?;
                }
            }
            if s.get("uniqueItems").and_then(Value::as_bool) == Some(true) {
                for (i, a) in items.iter().enumerate() {
                    if items[..i].contains(a) {
                        return Err(fail(path, format!("has duplicate item {a}")));
                    }
                }
            }
        }
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(0.0);
            if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
                if f < min {
                    return Err(fail(path, format!("must be >= {min}")));
                }
            }
            if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
                if f > max {
                    return Err(fail(path, format!("must be <= {max}")));
                }
            }
        }
        Value::String(text) => {
            if let Some(p) = s.get("pattern").and_then(Value::as_str) {
                if !pattern_matches(p, text) {
                    return Err(fail(path, format!("does not match pattern {p:?}")));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn check_object(
    root: &Value,
    s: &serde_json::Map<String, Value>,
    map: &serde_json::Map<String, Value>,
    path: &str,
) -> Result<(), Failure> {
    let props = s.get("properties").and_then(Value::as_object);
    let patterns = s.get("patternProperties").and_then(Value::as_object);
    if let Some(Value::Array(req)) = s.get("required") {
        for r in req.iter().filter_map(Value::as_str) {
            if !map.contains_key(r) {
                return Err(fail(path, format!("missing property '{r}'")));
            }
        }
    }
    let mut extra: Vec<&str> = Vec::new();
    for (k, val) in map {
        let p = child(path, k);
        let mut known = false;
        if let Some(ps) = props.and_then(|ps| ps.get(k)) {
            known = true;
            check(root, ps, val, &p)?;
        }
        for (pat, ps) in patterns.into_iter().flatten() {
            if pattern_matches(pat, k) {
                known = true;
                check(root, ps, val, &p)?;
            }
        }
        if !known {
            match s.get("additionalProperties") {
                Some(Value::Bool(false)) => extra.push(k),
                Some(add @ Value::Object(_)) => check(root, add, val, &p)?,
                _ => {}
            }
        }
    }
    if !extra.is_empty() {
        let names: Vec<String> = extra.iter().map(|k| format!("'{k}'")).collect();
        let what = if extra.len() == 1 {
            "property"
        } else {
            "properties"
        };
        return Err(Failure {
            depth: usize::MAX,
            ..fail(
                path,
                format!("additional {what} {} not allowed", names.join(", ")),
            )
        });
    }
    Ok(())
}

fn resolve<'a>(root: &'a Value, r: &str) -> Option<&'a Value> {
    let pointer = r.strip_prefix('#')?;
    root.pointer(pointer)
}

/// Matches the regular expressions that occur in the specification. An unknown
/// pattern matches everything (the `every_pattern_is_known` test keeps the table
/// complete for the embedded file).
fn pattern_matches(pattern: &str, s: &str) -> bool {
    let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    match pattern {
        "^x-" => s.starts_with("x-"),
        "^[a-zA-Z0-9._-]+$" => !s.is_empty() && s.chars().all(name_char),
        "^.+$" | ".+" => !s.is_empty() && !s.contains('\n'),
        "^[a-z]+$" => !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase()),
        "[a-zA-Z0-9][a-zA-Z0-9_.-]+" => {
            let c: Vec<char> = s.chars().collect();
            c.windows(2)
                .any(|w| w[0].is_ascii_alphanumeric() && name_char(w[1]))
        }
        p if p.starts_with("always|never|build|") => {
            let words = [
                "always",
                "never",
                "build",
                "if_not_present",
                "missing",
                "refresh",
                "daily",
                "weekly",
            ];
            words.iter().any(|w| s.contains(w)) || every_duration(s)
        }
        _ => true,
    }
}

/// `every_([0-9]+[wdhms])+` somewhere in `s`.
fn every_duration(s: &str) -> bool {
    s.match_indices("every_").any(|(i, _)| {
        let rest = &s.as_bytes()[i + 6..];
        let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        digits > 0 && rest.get(digits).is_some_and(|c| b"wdhms".contains(c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn embedded_schema_parses_and_every_pattern_is_known() {
        let v: Value = serde_json::from_str(SCHEMA_JSON).unwrap();
        let mut pats = Vec::new();
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    for (k, x) in m {
                        if k == "patternProperties" {
                            out.extend(x.as_object().unwrap().keys().cloned());
                        }
                        if k == "pattern" {
                            out.push(x.as_str().unwrap().to_string());
                        }
                        walk(x, out);
                    }
                }
                Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        walk(&v, &mut pats);
        assert!(pats.len() > 10);
        for p in pats {
            // A known pattern must reject something: unknown ones accept everything.
            let rejects = ["", "A B", "\n", "Zz", "x"]
                .iter()
                .any(|s| !pattern_matches(&p, s));
            assert!(rejects, "pattern {p:?} is not in the table");
        }
    }

    #[test]
    fn accepts_a_realistic_file() {
        let doc = json!({
            "name": "demo",
            "services": {
                "web": {
                    "image": "busybox",
                    "command": ["httpd", "-f"],
                    "ports": ["8080:80", {"target": 81, "published": "8081"}],
                    "environment": {"A": 1, "B": null, "C": true},
                    "depends_on": {"db": {"condition": "service_healthy"}},
                    "healthcheck": {"test": ["CMD", "true"], "interval": "1s", "retries": 3},
                    "deploy": {"resources": {"limits": {"cpus": "0.5", "memory": "64M"}}},
                    "volumes": ["data:/data", {"type": "bind", "source": ".", "target": "/src"}],
                    "networks": {"front": {"aliases": ["w"]}},
                    "x-custom": {"anything": 1},
                    "pull_policy": "if_not_present"
                },
                "db": {"image": "busybox", "environment": ["X=1"], "networks": ["front"]}
            },
            "networks": {"front": {"driver": "bridge", "ipam": {"config": [{"subnet": "10.9.0.0/24"}]}}},
            "volumes": {"data": {"driver_opts": {"type": "none"}}, "ext": {"external": true}},
            "x-top": [1, 2]
        });
        validate(&doc).unwrap();
    }

    #[test]
    fn unknown_keys_name_their_path() {
        let e = validate(&json!({"services": {"web": {"image": "x", "imagee": "y"}}})).unwrap_err();
        assert_eq!(e, "services.web additional property 'imagee' not allowed");
        let e = validate(&json!({"servicess": {}})).unwrap_err();
        assert_eq!(e, "(root) additional property 'servicess' not allowed");
        let e = validate(&json!({"services": {"w": {"healthcheck": {"tst": []}}}})).unwrap_err();
        assert_eq!(
            e,
            "services.w.healthcheck additional property 'tst' not allowed"
        );
        let e = validate(&json!({"services": {"w": {"ports": [{"target": 1, "bogus": 2}]}}}))
            .unwrap_err();
        assert!(
            e.contains("services.w.ports.0") && e.contains("'bogus'"),
            "{e}"
        );
    }

    #[test]
    fn types_enums_and_required() {
        let e = validate(&json!({"services": {"w": {"ports": "80:80"}}})).unwrap_err();
        assert_eq!(e, "services.w.ports must be a list");
        let e = validate(&json!({"services": {"w": {"read_only": []}}})).unwrap_err();
        assert!(
            e.starts_with("services.w.read_only must be a boolean"),
            "{e}"
        );
        let e =
            validate(&json!({"services": {"w": {"depends_on": {"db": {"condition": "ready"}}}}}))
                .unwrap_err();
        assert!(
            e.starts_with("services.w.depends_on.db.condition must be one of"),
            "{e}"
        );
        let e = validate(&json!({"services": {"w": {"depends_on": {"db": {"required": true}}}}}))
            .unwrap_err();
        assert_eq!(e, "services.w.depends_on.db missing property 'condition'");
        let e = validate(&json!({"services": {"bad name": {"image": "x"}}})).unwrap_err();
        assert!(e.contains("'bad name'"), "{e}");
        let e = validate(&json!({"services": {"w": {"cap_add": ["A", "A"]}}})).unwrap_err();
        assert!(e.contains("duplicate"), "{e}");
    }

    #[test]
    fn pattern_table() {
        assert!(pattern_matches("^x-", "x-a"));
        assert!(!pattern_matches("^x-", "ax-"));
        assert!(pattern_matches("^[a-zA-Z0-9._-]+$", "web_1.a-b"));
        assert!(!pattern_matches("^[a-zA-Z0-9._-]+$", "we b"));
        assert!(every_duration("every_12h"));
        assert!(!every_duration("every_h"));
    }
}
