//! `volume ls` / `volume prune` filters with Docker's semantics and error texts.
//!
//! The API sends filters as JSON, either `{"dangling":{"true":true}}` (the map form every
//! CLI sends) or `{"dangling":["true"]}` (the old list form); [`parse_filters_json`]
//! accepts both and yields a [`Filters`] map.

use crate::error::{Result, VolumeError};
use serde_json::Value;
use std::collections::BTreeMap;

/// Filter name → the values given for it.
pub type Filters = BTreeMap<String, Vec<String>>;

/// Decodes the `filters` query parameter; empty text means no filters.
pub fn parse_filters_json(text: &str) -> Result<Filters> {
    let mut out = Filters::new();
    if text.trim().is_empty() {
        return Ok(out);
    }
    let v: Value = serde_json::from_str(text)
        .map_err(|e| VolumeError::invalid(format!("invalid filter: {e}")))?;
    let Value::Object(m) = v else {
        return Err(VolumeError::invalid("invalid filter: not an object"));
    };
    for (k, v) in m {
        let vals = match v {
            Value::Object(inner) => inner
                .into_iter()
                .filter(|(_, b)| b != &Value::Bool(false))
                .map(|(s, _)| s)
                .collect(),
            Value::Array(a) => a
                .into_iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            Value::String(s) => vec![s],
            _ => Vec::new(),
        };
        out.insert(k, vals);
    }
    Ok(out)
}

/// Refuses filter names outside `accepted` (`invalid filter 'x'`).
pub(crate) fn validate(f: &Filters, accepted: &[&str]) -> Result<()> {
    for k in f.keys() {
        if !accepted.contains(&k.as_str()) {
            return Err(VolumeError::invalid(format!("invalid filter '{k}'")));
        }
    }
    Ok(())
}

/// A boolean filter (`dangling`): None when absent; `true/1/false/0` (any case for words).
pub(crate) fn get_bool(f: &Filters, key: &str) -> Result<Option<bool>> {
    let Some(vals) = f.get(key) else {
        return Ok(None);
    };
    let bad = || VolumeError::invalid(format!("invalid filter '{key}={}'", vals.join(",")));
    if vals.len() != 1 {
        return Err(bad());
    }
    let v = &vals[0];
    if v.eq_ignore_ascii_case("true") || v == "1" {
        Ok(Some(true))
    } else if v.eq_ignore_ascii_case("false") || v == "0" {
        Ok(Some(false))
    } else {
        Err(bad())
    }
}

/// Docker's `MatchKVList`: every `key` or `key=value` given must be among the labels.
pub(crate) fn match_labels(wanted: &[String], labels: &BTreeMap<String, String>) -> bool {
    wanted.iter().all(|w| match w.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|lv| lv == v),
        None => labels.contains_key(w.as_str()),
    })
}

/// The `name` filter: an exact name, or a pattern matched anywhere in the name. Docker
/// treats the value as a regular expression; the common forms (plain text, `^prefix`,
/// `suffix$`, `^exact$`) are supported.
pub(crate) fn match_name(patterns: &[String], name: &str) -> bool {
    patterns.iter().any(|p| {
        if p == name {
            return true;
        }
        let (anchored_start, rest) = match p.strip_prefix('^') {
            Some(r) => (true, r),
            None => (false, p.as_str()),
        };
        let (anchored_end, core) = match rest.strip_suffix('$') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        match (anchored_start, anchored_end) {
            (true, true) => name == core,
            (true, false) => name.starts_with(core),
            (false, true) => name.ends_with(core),
            (false, false) => name.contains(core),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_json_forms_parse() {
        let f = parse_filters_json(r#"{"dangling":{"true":true},"label":["a=b"]}"#).unwrap();
        assert_eq!(f["dangling"], vec!["true"]);
        assert_eq!(f["label"], vec!["a=b"]);
        assert_eq!(get_bool(&f, "dangling").unwrap(), Some(true));
        let bad: Filters = [("dangling".to_string(), vec!["maybe".to_string()])].into();
        assert_eq!(
            get_bool(&bad, "dangling").unwrap_err().to_string(),
            "invalid filter 'dangling=maybe'"
        );
        assert_eq!(
            validate(&f, &["dangling"]).unwrap_err().to_string(),
            "invalid filter 'label'"
        );
    }

    #[test]
    fn name_and_label_matching() {
        assert!(match_name(&["web".into()], "myweb1"));
        assert!(match_name(&["^my".into()], "myweb1"));
        assert!(!match_name(&["^web".into()], "myweb1"));
        assert!(match_name(&["^myweb1$".into()], "myweb1"));
        let labels: BTreeMap<String, String> = [("a".to_string(), "1".to_string())].into();
        assert!(match_labels(&["a".into()], &labels));
        assert!(match_labels(&["a=1".into()], &labels));
        assert!(!match_labels(&["a=2".into()], &labels));
        assert!(!match_labels(&["a".into(), "b".into()], &labels));
    }
}
