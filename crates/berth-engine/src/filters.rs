//! Docker's `filters` query parameter and the container filters of `ps` and `prune`.
//!
//! The parameter is JSON in one of two shapes: `{"status":{"running":true}}` (current)
//! or `{"status":["running"]}` (old clients). Both become [`Filters`]: key → values.

use crate::error::{EngineError, Result};
use crate::record::ContainerRecord;
use std::collections::BTreeMap;

/// Parsed filters: each key with its values (OR within a key, AND across keys).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(pub BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parses the query value; empty means no filters.
    pub fn parse(json: &str) -> Result<Filters> {
        if json.trim().is_empty() {
            return Ok(Filters::default());
        }
        let bad = |e: String| EngineError::invalid(format!("invalid filter: {e}"));
        let v: serde_json::Value = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
        let obj = v.as_object().ok_or_else(|| bad("not an object".into()))?;
        let mut out = BTreeMap::new();
        for (k, v) in obj {
            let vals: Vec<String> = match v {
                serde_json::Value::Object(m) => m
                    .iter()
                    .filter(|(_, b)| b.as_bool().unwrap_or(true))
                    .map(|(s, _)| s.clone())
                    .collect(),
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect(),
                serde_json::Value::String(s) => vec![s.clone()],
                _ => return Err(bad(format!("bad value for {k}"))),
            };
            let mut vals = vals;
            vals.sort();
            vals.dedup();
            out.insert(k.clone(), vals);
        }
        Ok(Filters(out))
    }

    /// Adds one value (for building filters in code).
    pub fn add(&mut self, key: &str, value: &str) {
        self.0
            .entry(key.to_string())
            .or_default()
            .push(value.to_string());
    }

    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Rejects keys outside `allowed` with Docker's `invalid filter 'key'`.
    pub fn validate(&self, allowed: &[&str]) -> Result<()> {
        for k in self.0.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(EngineError::invalid(format!("invalid filter '{k}'")));
            }
        }
        Ok(())
    }
}

/// Keys `docker ps` accepts.
pub const PS_KEYS: &[&str] = &[
    "ancestor",
    "before",
    "expose",
    "exited",
    "health",
    "id",
    "isolation",
    "is-task",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
];

const STATUSES: &[&str] = &[
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

/// Checks `status` and `exited` values.
pub fn validate_ps(f: &Filters) -> Result<()> {
    f.validate(PS_KEYS)?;
    for s in f.get("status") {
        if !STATUSES.contains(&s.as_str()) {
            return Err(EngineError::invalid(format!("invalid filter 'status={s}'")));
        }
    }
    for e in f.get("exited") {
        if e.parse::<i64>().is_err() {
            return Err(EngineError::invalid(format!("invalid filter 'exited={e}'")));
        }
    }
    for h in f.get("health") {
        if !["starting", "healthy", "unhealthy", "none"].contains(&h.as_str()) {
            return Err(EngineError::invalid(format!(
                "Unrecognised filter value for health: {h}"
            )));
        }
    }
    Ok(())
}

/// `label=key` or `label=key=value` against a label map.
pub fn match_labels(wanted: &[String], labels: &BTreeMap<String, String>) -> bool {
    wanted.iter().all(|w| match w.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(w.as_str()),
    })
}

/// The state name a filter compares against.
pub fn state_name(r: &ContainerRecord) -> &str {
    if r.state.paused {
        "paused"
    } else if r.state.restarting {
        "restarting"
    } else if r.state.running {
        "running"
    } else {
        r.state.status.as_str()
    }
}

/// Context a container filter needs beyond the record.
pub struct MatchCtx<'a> {
    /// Image ids (`sha256:…`) that `ancestor` values resolve to.
    pub ancestor_ids: &'a [String],
    /// Created time (RFC 3339) bounds from `before`/`since` containers.
    pub before: Option<&'a str>,
    pub since: Option<&'a str>,
}

/// Does a container pass every `ps` filter?
pub fn match_container(f: &Filters, r: &ContainerRecord, ctx: &MatchCtx) -> bool {
    let any = |key: &str, pred: &dyn Fn(&str) -> bool| {
        let vals = f.get(key);
        vals.is_empty() || vals.iter().any(|v| pred(v))
    };
    if !any("status", &|s| s == state_name(r)) {
        return false;
    }
    if !any("id", &|s| r.id.starts_with(s)) {
        return false;
    }
    // Docker matches names as a regular expression; a substring match covers the
    // common uses (exact names, prefixes); `^`/`$` anchors are honoured.
    if !any("name", &|s| name_matches(s, r.bare_name())) {
        return false;
    }
    if !f.get("exited").is_empty() {
        if r.state.running || r.state.status != "exited" {
            return false;
        }
        if !any("exited", &|s| {
            s.parse::<i64>().ok() == Some(r.state.exit_code)
        }) {
            return false;
        }
    }
    let labels = r.config.labels.clone().unwrap_or_default();
    if !match_labels(f.get("label"), &labels) {
        return false;
    }
    if f.contains("ancestor") && !ctx.ancestor_ids.contains(&r.image) {
        return false;
    }
    if let Some(b) = ctx.before {
        if r.created.as_str() >= b {
            return false;
        }
    }
    if let Some(s) = ctx.since {
        if r.created.as_str() <= s {
            return false;
        }
    }
    if !any("health", &|h| {
        let st = r
            .state
            .health
            .as_ref()
            .map(|x| x.status.as_str())
            .unwrap_or("none");
        st == h
    }) {
        return false;
    }
    if !any("network", &|n| {
        let mode = r.host_config.network_mode.as_str();
        n == mode || (n == "bridge" && (mode == "default" || mode.is_empty()))
    }) {
        return false;
    }
    if !any("is-task", &|v| v == "false") {
        return false;
    }
    if !any("volume", &|v| {
        r.host_config
            .binds
            .iter()
            .flatten()
            .any(|b| b.split(':').take(2).any(|p| p == v))
            || r.mounts
                .iter()
                .filter_map(|m| m.point.as_ref())
                .any(|p| p.name == v || p.destination == v || p.source == v)
    }) {
        return false;
    }
    true
}

fn name_matches(pattern: &str, name: &str) -> bool {
    let p = pattern.strip_prefix('/').unwrap_or(pattern);
    let (p, start) = match p.strip_prefix('^') {
        Some(rest) => (rest.strip_prefix('/').unwrap_or(rest), true),
        None => (p, false),
    };
    let (p, end) = match p.strip_suffix('$') {
        Some(rest) => (rest, true),
        None => (p, false),
    };
    match (start, end) {
        (true, true) => name == p,
        (true, false) => name.starts_with(p),
        (false, true) => name.ends_with(p),
        (false, false) => name.contains(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, status: &str, code: i64) -> ContainerRecord {
        let mut r = ContainerRecord {
            id: format!("{:0>64}", name.len()),
            name: format!("/{name}"),
            image: "sha256:aaa".into(),
            created: "2024-01-01T00:00:00.000000000Z".into(),
            ..Default::default()
        };
        r.state.status = status.into();
        r.state.running = status == "running";
        r.state.exit_code = code;
        r.config.labels = Some([("app".to_string(), "web".to_string())].into());
        r
    }

    const NO_CTX: MatchCtx = MatchCtx {
        ancestor_ids: &[],
        before: None,
        since: None,
    };

    #[test]
    fn parses_both_shapes() {
        let a = Filters::parse(r#"{"status":{"running":true,"exited":true}}"#).unwrap();
        let b = Filters::parse(r#"{"status":["exited","running"]}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(Filters::parse("").unwrap(), Filters::default());
        assert!(Filters::parse("[1]").is_err());
    }

    #[test]
    fn validates_keys_and_values() {
        let f = Filters::parse(r#"{"bogus":["x"]}"#).unwrap();
        assert_eq!(
            validate_ps(&f).unwrap_err().message,
            "invalid filter 'bogus'"
        );
        let f = Filters::parse(r#"{"status":["sleeping"]}"#).unwrap();
        assert_eq!(
            validate_ps(&f).unwrap_err().message,
            "invalid filter 'status=sleeping'"
        );
        validate_ps(&Filters::parse(r#"{"status":["paused"],"exited":["0"]}"#).unwrap()).unwrap();
    }

    #[test]
    fn matches_status_name_label_exited() {
        let run = rec("web", "running", 0);
        let ex = rec("job", "exited", 3);
        let mut f = Filters::default();
        f.add("status", "running");
        assert!(match_container(&f, &run, &NO_CTX));
        assert!(!match_container(&f, &ex, &NO_CTX));

        let mut f = Filters::default();
        f.add("exited", "3");
        assert!(match_container(&f, &ex, &NO_CTX));
        assert!(!match_container(&f, &run, &NO_CTX));

        let mut f = Filters::default();
        f.add("name", "we");
        assert!(match_container(&f, &run, &NO_CTX));
        f = Filters::default();
        f.add("name", "^job$");
        assert!(match_container(&f, &ex, &NO_CTX));
        assert!(!match_container(&f, &run, &NO_CTX));

        let mut f = Filters::default();
        f.add("label", "app=web");
        assert!(match_container(&f, &run, &NO_CTX));
        f.add("label", "tier");
        assert!(!match_container(&f, &run, &NO_CTX));

        let mut f = Filters::default();
        f.add("ancestor", "busybox");
        let ids = vec!["sha256:aaa".to_string()];
        let ctx = MatchCtx {
            ancestor_ids: &ids,
            before: None,
            since: None,
        };
        assert!(match_container(&f, &run, &ctx));
        assert!(!match_container(&f, &run, &NO_CTX));

        let ctx = MatchCtx {
            ancestor_ids: &[],
            before: Some("2023-01-01T00:00:00Z"),
            since: None,
        };
        assert!(!match_container(&Filters::default(), &run, &ctx));
    }
}
