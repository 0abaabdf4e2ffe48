//! `${VAR}` interpolation of compose files, with Compose's syntax:
//! `$VAR`, `${VAR}`, `${VAR:-default}` (unset or empty), `${VAR-default}` (unset),
//! `${VAR:?error}` / `${VAR?error}` (required), `${VAR:+alt}` / `${VAR+alt}`, and `$$`
//! for a literal `$`. Defaults may nest (`${A:-${B:-x}}`). Only values are interpolated,
//! never keys. An unset variable without a default becomes "" and a warning, like
//! Compose's "The "X" variable is not set. Defaulting to a blank string."

use serde_json::Value;

use crate::error::{ComposeError, Result};

/// Expands strings against a variable lookup, collecting warnings.
pub struct Interpolator<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    /// Variables that were used while unset (each once, in order).
    pub unset: Vec<String>,
}

impl<'a> Interpolator<'a> {
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Interpolator {
            lookup,
            unset: Vec::new(),
        }
    }

    /// Warnings for the unset variables seen so far, worded like Compose's.
    pub fn warnings(&self) -> Vec<String> {
        self.unset
            .iter()
            .map(|v| format!("The \"{v}\" variable is not set. Defaulting to a blank string."))
            .collect()
    }

    /// Interpolates every string value of a tree in place; `path` names the root in
    /// error messages (e.g. `services.web.image`).
    pub fn value(&mut self, v: &mut Value, path: &str) -> Result<()> {
        match v {
            Value::String(s) => {
                *s = self.expand(s).map_err(|e| e.at(path, s))?;
            }
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.value(item, &format!("{path}[{i}]"))?;
                }
            }
            Value::Object(map) => {
                for (k, item) in map.iter_mut() {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    self.value(item, &p)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Expands one string.
    pub fn expand(&mut self, s: &str) -> std::result::Result<String, TemplateError> {
        let mut out = String::with_capacity(s.len());
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let Some(off) = s[i..].find('$') else {
                out.push_str(&s[i..]);
                break;
            };
            out.push_str(&s[i..i + off]);
            i += off + 1;
            match b.get(i) {
                Some(b'$') => {
                    out.push('$');
                    i += 1;
                }
                Some(b'{') => {
                    let end = closing_brace(s, i + 1).ok_or(TemplateError::Invalid)?;
                    let inner = &s[i + 1..end];
                    out.push_str(&self.braced(inner)?);
                    i = end + 1;
                }
                Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                    let len = s[i..]
                        .bytes()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                        .count();
                    let name = &s[i..i + len];
                    out.push_str(&self.get_or_blank(name));
                    i += len;
                }
                _ => return Err(TemplateError::Invalid),
            }
        }
        Ok(out)
    }

    fn get_or_blank(&mut self, name: &str) -> String {
        match (self.lookup)(name) {
            Some(v) => v,
            None => {
                if !self.unset.iter().any(|u| u == name) {
                    self.unset.push(name.to_string());
                }
                String::new()
            }
        }
    }

    /// The inside of `${…}`.
    fn braced(&mut self, inner: &str) -> std::result::Result<String, TemplateError> {
        let len = inner
            .bytes()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
            .count();
        let (name, rest) = inner.split_at(len);
        if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
            return Err(TemplateError::Invalid);
        }
        let value = (self.lookup)(name);
        let set = value.is_some();
        let nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
        let (op, arg) = if let Some(a) = rest.strip_prefix(":-") {
            (":-", a)
        } else if let Some(a) = rest.strip_prefix(":?") {
            (":?", a)
        } else if let Some(a) = rest.strip_prefix(":+") {
            (":+", a)
        } else if rest.is_empty() {
            ("", "")
        } else {
            rest.split_at_checked(1).ok_or(TemplateError::Invalid)?
        };
        match op {
            "" => Ok(self.get_or_blank(name)),
            ":-" if !nonempty => self.expand(arg),
            "-" if !set => self.expand(arg),
            ":-" | "-" => Ok(value.unwrap_or_default()),
            ":?" | "?" if (op == ":?" && !nonempty) || !set => {
                let msg = self.expand(arg)?;
                Err(TemplateError::Required(name.to_string(), msg))
            }
            ":?" | "?" => Ok(value.unwrap_or_default()),
            ":+" if nonempty => self.expand(arg),
            "+" if set => self.expand(arg),
            ":+" | "+" => Ok(String::new()),
            _ => Err(TemplateError::Invalid),
        }
    }
}

/// Index of the `}` closing a `${` whose content starts at `from`, skipping nested
/// `${…}` in defaults.
fn closing_brace(s: &str, from: usize) -> Option<usize> {
    let b = s.as_bytes();
    let mut depth = 0usize;
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'$' if b.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 2;
                continue;
            }
            b'$' if b.get(i + 1) == Some(&b'$') => {
                i += 2;
                continue;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Why a string could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    Invalid,
    /// `${NAME:?message}` with NAME unset (or empty).
    Required(String, String),
}

impl TemplateError {
    /// The error with the key path and the offending text, worded like Compose.
    pub fn at(self, path: &str, text: &str) -> ComposeError {
        match self {
            TemplateError::Invalid => ComposeError::Interpolation(format!(
                "invalid interpolation format for {path}.\nYou may need to escape any $ with another $.\n{text}"
            )),
            TemplateError::Required(name, msg) => ComposeError::Interpolation(format!(
                "required variable {name} is missing a value: {msg}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    fn run(s: &str) -> std::result::Result<String, TemplateError> {
        let env: HashMap<&str, &str> = [("A", "alpha"), ("EMPTY", ""), ("N", "3")]
            .into_iter()
            .collect();
        let lookup = move |k: &str| env.get(k).map(|v| v.to_string());
        Interpolator::new(&lookup).expand(s)
    }

    #[test]
    fn plain_and_braced() {
        assert_eq!(run("x $A y").unwrap(), "x alpha y");
        assert_eq!(run("${A}b").unwrap(), "alphab");
        assert_eq!(run("$A_B").unwrap(), "");
        assert_eq!(run("no vars").unwrap(), "no vars");
        assert_eq!(run("").unwrap(), "");
    }

    #[test]
    fn defaults_distinguish_unset_and_empty() {
        assert_eq!(run("${EMPTY:-d}").unwrap(), "d");
        assert_eq!(run("${EMPTY-d}").unwrap(), "");
        assert_eq!(run("${MISSING-d}").unwrap(), "d");
        assert_eq!(run("${MISSING:-d}").unwrap(), "d");
        assert_eq!(run("${A:-d}").unwrap(), "alpha");
        assert_eq!(run("${MISSING:-${A}-${N}}").unwrap(), "alpha-3");
        assert_eq!(run("${MISSING:-${OTHER:-deep}}").unwrap(), "deep");
        assert_eq!(run("${MISSING:-}").unwrap(), "");
    }

    #[test]
    fn alternates() {
        assert_eq!(run("${A:+yes}").unwrap(), "yes");
        assert_eq!(run("${EMPTY:+yes}").unwrap(), "");
        assert_eq!(run("${EMPTY+yes}").unwrap(), "yes");
        assert_eq!(run("${MISSING+yes}").unwrap(), "");
    }

    #[test]
    fn required_variables() {
        assert_eq!(
            run("${MISSING:?set it}"),
            Err(TemplateError::Required("MISSING".into(), "set it".into()))
        );
        assert!(run("${EMPTY:?e}").is_err());
        assert_eq!(run("${EMPTY?e}").unwrap(), "");
        assert!(run("${MISSING?e}").is_err());
        assert_eq!(run("${A:?e}").unwrap(), "alpha");
        let e = TemplateError::Required("X".into(), "need X".into()).at("services.a.image", "");
        assert_eq!(
            e.to_string(),
            "required variable X is missing a value: need X"
        );
    }

    #[test]
    fn dollar_escapes_and_invalid_templates() {
        assert_eq!(run("$$A costs $$5").unwrap(), "$A costs $5");
        assert_eq!(
            run("sh -c 'echo $${HOME}'").unwrap(),
            "sh -c 'echo ${HOME}'"
        );
        assert_eq!(run("${A"), Err(TemplateError::Invalid));
        assert_eq!(run("${}"), Err(TemplateError::Invalid));
        assert_eq!(run("$1"), Err(TemplateError::Invalid));
        assert_eq!(run("end$"), Err(TemplateError::Invalid));
        assert_eq!(run("${A!x}"), Err(TemplateError::Invalid));
        let e = TemplateError::Invalid.at("services.a.command", "echo $1");
        assert!(e
            .to_string()
            .contains("invalid interpolation format for services.a.command"));
    }

    #[test]
    fn walks_values_not_keys_and_warns_once() {
        let lookup = |k: &str| (k == "TAG").then(|| "1.2".to_string());
        let mut i = Interpolator::new(&lookup);
        let mut v = json!({"services": {"$KEY": {"image": "busybox:${TAG}", "command": ["$U", "${U}"], "n": 3}}});
        i.value(&mut v, "").unwrap();
        assert_eq!(v["services"]["$KEY"]["image"], json!("busybox:1.2"));
        assert_eq!(v["services"]["$KEY"]["command"], json!(["", ""]));
        assert_eq!(v["services"]["$KEY"]["n"], json!(3));
        assert_eq!(i.unset, vec!["U".to_string()]);
        assert!(i.warnings()[0].contains("\"U\" variable is not set"));
        let mut bad = json!({"services": {"a": {"image": "${"}}});
        let e = i.value(&mut bad, "").unwrap_err().to_string();
        assert!(e.contains("services.a.image"), "{e}");
    }
}
