//! Go's default formatting (`fmt`'s `%v`) of JSON values: strings bare, `<nil>` for
//! null, `<no value>` for a missing map key, `[a b]` for slices, `map[k:v]` for maps
//! with sorted keys, floats like Go's `%v` (integral ones without a fraction).

use serde_json::{Number, Value};

/// A template value: JSON, or "no value" (a missing map key, as Go's invalid
/// `reflect.Value`).
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Missing,
    J(Value),
    /// A JSON `null` the caller knows to be an empty Go slice or map: prints as the
    /// given text (`[]`, `map[]`) but is `null` to `json` and empty to `range`/`len`.
    TypedNil(&'static str),
}

static NULL: Value = Value::Null;

impl Val {
    pub fn json(&self) -> Value {
        match self {
            Val::Missing | Val::TypedNil(_) => Value::Null,
            Val::J(v) => v.clone(),
        }
    }

    pub fn as_json(&self) -> Option<&Value> {
        match self {
            Val::Missing => None,
            Val::TypedNil(_) => Some(&NULL),
            Val::J(v) => Some(v),
        }
    }

    pub fn str(s: impl Into<String>) -> Val {
        Val::J(Value::String(s.into()))
    }
}

/// Go's notion of truth for `if`, `with`, `and`, `or`, `not`.
pub fn truth(v: &Val) -> bool {
    match v {
        Val::Missing | Val::TypedNil(_) => false,
        Val::J(v) => match v {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
        },
    }
}

/// `%v` of a template value.
pub fn print_val(v: &Val) -> String {
    match v {
        Val::Missing => "<no value>".to_string(),
        Val::TypedNil(repr) => repr.to_string(),
        Val::J(v) => print_value(v),
    }
}

/// `%v` of a JSON value.
pub fn print_value(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&format_number(n)),
        Value::String(s) => out.push_str(s),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_value(out, e);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push_str("map[");
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_value(out, &m[k]);
            }
            out.push(']');
        }
    }
}

/// Integers as integers; integral floats without `.0` (and without an exponent);
/// other floats like Go's `%v` (shortest digits, exponent form when the exponent is
/// below -4 or at least 6 — Go's `%g` rule for the shortest precision).
pub fn format_number(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    format_float(n.as_f64().unwrap_or(0.0))
}

pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f.fract() == 0.0 && f.abs() < 1e21 {
        return format!("{f:.0}");
    }
    // Shortest round-trip digits, then Go's %g layout choice.
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

/// Go's name of a value's dynamic type, for error messages.
pub fn go_type(v: &Val) -> &'static str {
    match v {
        Val::Missing | Val::TypedNil(_) => "<nil>",
        Val::J(v) => match v {
            Value::Null => "<nil>",
            Value::Bool(_) => "bool",
            Value::Number(n) if n.is_f64() => "float64",
            Value::Number(_) => "int",
            Value::String(_) => "string",
            Value::Array(_) => "[]interface {}",
            Value::Object(_) => "map[string]interface {}",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_default_formats() {
        assert_eq!(
            print_value(&json!({"b": 1, "a": [1, "x", null]})),
            "map[a:[1 x <nil>] b:1]"
        );
        assert_eq!(print_value(&json!(true)), "true");
        assert_eq!(print_value(&json!(2.0)), "2");
        assert_eq!(print_value(&json!(1.5)), "1.5");
        assert_eq!(print_value(&json!(12345678901234u64)), "12345678901234");
        assert_eq!(print_value(&json!(1e22)), "1e+22");
        assert_eq!(print_value(&json!(0.00001)), "1e-05");
        assert_eq!(print_value(&json!(0.0001)), "0.0001");
        assert_eq!(print_value(&json!(-3.25)), "-3.25");
        assert_eq!(print_value(&json!(1234567.5)), "1.2345675e+06");
        assert_eq!(print_val(&Val::Missing), "<no value>");
        assert_eq!(print_value(&json!(null)), "<nil>");
        assert_eq!(print_value(&json!([])), "[]");
        assert_eq!(print_value(&json!({})), "map[]");
    }
}
