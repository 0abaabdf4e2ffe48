//! `.env` / `env_file` parsing: `KEY=VALUE` lines, `export ` prefixes, `#` comments,
//! single quotes (literal), double quotes (escapes, may span lines) and unquoted values
//! (trailing ` # comment` dropped). Values other than single-quoted ones are
//! interpolated against the variables defined earlier in the file and then `lookup`.
//! A bare `KEY` line takes the value from `lookup` (left out when unset).

use crate::error::{ComposeError, Result};
use crate::interp::Interpolator;

/// Parses the text of an env file into ordered pairs.
pub fn parse(
    file: &str,
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let trimmed = trimmed
            .strip_prefix("export ")
            .unwrap_or(trimmed)
            .trim_start();
        let bad = |why: &str| {
            ComposeError::invalid(format!("failed to read {file}: line {}: {why}", n + 1))
        };
        let Some((key, raw)) = trimmed.split_once('=') else {
            let key = trimmed.trim();
            if !valid_key(key) {
                return Err(bad(&format!(
                    "unexpected character in variable name {key:?}"
                )));
            }
            if let Some(v) = lookup(key) {
                set(&mut out, key, v);
            }
            continue;
        };
        let key = key.trim();
        if !valid_key(key) {
            return Err(bad(&format!(
                "unexpected character in variable name {key:?}"
            )));
        }
        let raw = raw.trim_start();
        let value = if let Some(rest) = raw.strip_prefix('\'') {
            match rest.find('\'') {
                Some(end) => rest[..end].to_string(),
                None => return Err(bad("unterminated quoted value")),
            }
        } else if let Some(rest) = raw.strip_prefix('"') {
            let mut body = rest.to_string();
            let text = loop {
                if let Some(end) = closing_quote(&body) {
                    break body[..end].to_string();
                }
                match lines.next() {
                    Some((_, more)) => {
                        body.push('\n');
                        body.push_str(more);
                    }
                    None => return Err(bad("unterminated quoted value")),
                }
            };
            let unescaped = unescape(&text);
            expand(&out, lookup, &unescaped).map_err(|_| bad("invalid interpolation"))?
        } else {
            let v = match raw.find(" #") {
                Some(i) => &raw[..i],
                None => raw,
            };
            expand(&out, lookup, v.trim_end()).map_err(|_| bad("invalid interpolation"))?
        };
        set(&mut out, key, value);
    }
    Ok(out)
}

fn set(out: &mut Vec<(String, String)>, key: &str, value: String) {
    match out.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value,
        None => out.push((key.to_string(), value)),
    }
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Index of the first `"` not escaped by a backslash.
fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn expand(
    earlier: &[(String, String)],
    lookup: &dyn Fn(&str) -> Option<String>,
    s: &str,
) -> std::result::Result<String, crate::interp::TemplateError> {
    // Variables of the process environment win over ones defined earlier in the file.
    let chained = |k: &str| {
        lookup(k).or_else(|| {
            earlier
                .iter()
                .find(|(ek, _)| ek == k)
                .map(|(_, v)| v.clone())
        })
    };
    Interpolator::new(&chained).expand(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Vec<(String, String)> {
        let lookup = |k: &str| (k == "HOSTVAR").then(|| "fromhost".to_string());
        parse(".env", text, &lookup).unwrap()
    }

    #[test]
    fn forms_of_values() {
        let got = p("# comment\n\nA=1\nexport B = two words # note\nC='lit ${A} $$'\nD=\"q\\n${A}\"\nE=\nF=x#y\nHOSTVAR\nNOTSET\n");
        let want: Vec<(String, String)> = vec![
            ("A", "1"),
            ("B", "two words"),
            ("C", "lit ${A} $$"),
            ("D", "q\n1"),
            ("E", ""),
            ("F", "x#y"),
            ("HOSTVAR", "fromhost"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn multiline_and_override() {
        let got = p("K=\"a\nb\"\nK=again\nM=${K}-${HOSTVAR}\n");
        assert_eq!(got[0], ("K".to_string(), "again".to_string()));
        assert_eq!(got[1], ("M".to_string(), "again-fromhost".to_string()));
    }

    #[test]
    fn errors_name_the_line() {
        let lookup = |_: &str| None;
        let e = parse("x.env", "A=1\nB C=2\n", &lookup)
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.env: line 2"), "{e}");
        let e = parse("x.env", "A=\"open\n", &lookup)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unterminated"), "{e}");
    }
}
