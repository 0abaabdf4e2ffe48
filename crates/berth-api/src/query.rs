//! Query strings: percent-decoding, Docker's boolean and integer conventions, and the
//! `filters` JSON parameter.

use crate::error::ApiError;
use std::collections::BTreeMap;

/// The decoded query parameters of one request, in order; a key may repeat.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

/// Docker's filter map: `{"status":["running"],"label":["a=b"]}`.
pub type Filters = BTreeMap<String, Vec<String>>;

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let mut pairs = Vec::new();
        for part in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((decode(k), decode(v)));
        }
        Query { pairs }
    }

    /// Every pair in request order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key` (e.g. repeated `changes=` on import).
    pub fn all(&self, key: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A non-empty string value.
    pub fn str(&self, key: &str) -> Option<String> {
        self.get(key).filter(|v| !v.is_empty()).map(str::to_string)
    }

    /// Docker's boolean: absent, empty, `0`, `no`, `false`, `none` are false; anything
    /// else is true.
    pub fn bool(&self, key: &str) -> bool {
        match self.get(key) {
            None => false,
            Some(v) => !matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "" | "0" | "no" | "false" | "none"
            ),
        }
    }

    /// A boolean with a default when the key is absent or empty.
    pub fn bool_or(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            None | Some("") => default,
            Some(_) => self.bool(key),
        }
    }

    /// An integer; absent or empty is `None`, garbage is a 400.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid value for {key}: strconv.ParseInt: parsing {v:?}: invalid syntax"
                ))
            }),
        }
    }

    /// The `filters` parameter (absent → empty).
    pub fn filters(&self) -> Result<Filters, ApiError> {
        parse_filters(self.get("filters").unwrap_or(""))
    }
}

/// Parse Docker's filters JSON. Both shapes are accepted: the current
/// `{"key":["v1","v2"]}` and the legacy `{"key":{"v1":true}}`.
pub fn parse_filters(text: &str) -> Result<Filters, ApiError> {
    let mut out = Filters::new();
    if text.trim().is_empty() {
        return Ok(out);
    }
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("invalid filter: {e}")))?;
    let serde_json::Value::Object(map) = value else {
        return Err(ApiError::bad_request(
            "invalid filter: expected a JSON object",
        ));
    };
    for (k, v) in map {
        let values = match v {
            serde_json::Value::Array(items) => items
                .into_iter()
                .map(|i| match i {
                    serde_json::Value::String(s) => Ok(s),
                    other => Ok(other.to_string()),
                })
                .collect::<Result<Vec<_>, ApiError>>()?,
            serde_json::Value::Object(m) => m
                .into_iter()
                .filter(|(_, on)| on.as_bool().unwrap_or(false))
                .map(|(k, _)| k)
                .collect(),
            serde_json::Value::String(s) => vec![s],
            _ => return Err(ApiError::bad_request(format!("invalid filter '{k}'"))),
        };
        out.insert(k, values);
    }
    Ok(out)
}

/// Percent-decoding with `+` as space (form encoding, which Go's query parser applies).
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-decoding of a path segment (no `+` rule).
pub fn decode_path(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    decode(&s.replace('+', "%2B"))
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_reads_docker_booleans() {
        let q = Query::parse(Some("all=1&size=false&name=a%2Fb+c&t=10&x=%zz&empty="));
        assert!(q.bool("all"));
        assert!(!q.bool("size"));
        assert!(!q.bool("missing"));
        assert!(q.bool_or("missing", true));
        assert!(q.bool_or("empty", true));
        assert_eq!(q.get("name"), Some("a/b c"));
        assert_eq!(q.int("t").unwrap(), Some(10));
        assert_eq!(q.get("x"), Some("%zz"));
        assert!(Query::parse(Some("t=abc")).int("t").is_err());
        assert_eq!(decode("%41%"), "A%");
    }

    #[test]
    fn filters_in_both_shapes() {
        let f = parse_filters(r#"{"status":["running","paused"],"label":{"a=b":true}}"#).unwrap();
        assert_eq!(f["status"], vec!["running", "paused"]);
        assert_eq!(f["label"], vec!["a=b"]);
        assert!(parse_filters("{").is_err());
        assert!(parse_filters("").unwrap().is_empty());
    }
}
