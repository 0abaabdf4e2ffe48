//! `GET /events?since=&until=&filters=`: recorded events in the window, then live ones,
//! as a stream of JSON objects; the stream ends at `until` (if given).

use crate::body::{self, Body};
use crate::error::ApiError;
use crate::handlers::containers::parse_timestamp;
use crate::query::Filters;
use crate::server::{Api, ReqCtx};
use berth_types::docker::EventMessage;
use bytes::Bytes;
use hyper::{header, Response};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast::error::RecvError;

pub async fn events(api: &Api, ctx: &ReqCtx) -> Result<Response<Body>, ApiError> {
    let since = parse_timestamp("since", ctx.query.get("since"))?;
    let until = parse_timestamp("until", ctx.query.get("until"))?;
    let filters = ctx.query.filters()?;
    validate_filters(&filters)?;
    let mut feed = api.backend.events(since, until).await?;
    let in_window = move |e: &EventMessage| {
        let t = e.time_nano as i128;
        since.is_none_or(|s| t >= s.as_nanos()) && until.is_none_or(|u| t <= u.as_nanos())
    };
    let (tx, body) = body::channel(64);
    tokio::spawn(async move {
        let send = |e: &EventMessage| {
            let mut line = serde_json::to_vec(e).unwrap_or_default();
            line.push(b'\n');
            Bytes::from(line)
        };
        for e in feed
            .past
            .iter()
            .filter(|e| in_window(e) && matches(&filters, e))
        {
            if tx.send(send(e)).await.is_err() {
                return;
            }
        }
        let deadline = until.map(|u| {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as i128)
                .unwrap_or(0);
            let left = (u.as_nanos() - now).max(0);
            tokio::time::Instant::now() + Duration::from_nanos(left as u64)
        });
        loop {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, feed.live.recv()).await.ok(),
                    None => Some(feed.live.recv().await),
                }
            };
            tokio::select! {
                got = next => match got {
                    None => return, // `until` reached
                    Some(Ok(e)) => {
                        if in_window(&e) && matches(&filters, &e) && tx.send(send(&e)).await.is_err() {
                            return;
                        }
                    }
                    // A slow client missed some events; keep going with the newest.
                    Some(Err(RecvError::Lagged(_))) => continue,
                    Some(Err(RecvError::Closed)) => return,
                },
                _ = tx.closed() => return,
            }
        }
    });
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

const FILTER_KEYS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

fn validate_filters(f: &Filters) -> Result<(), ApiError> {
    for k in f.keys() {
        if !FILTER_KEYS.contains(&k.as_str()) {
            return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
        }
    }
    Ok(())
}

/// Docker's event filter rules: every given key must match one of its values.
///
/// - `type`, `scope`: exact; `event`: exact, or a prefix for `health_status`,
///   `exec_create`, `exec_start` (whose actions carry `: …`);
/// - `container`, `network`, `volume`, `daemon`, `plugin`, `node`, `service`, `secret`,
///   `config`: the actor's id or `name` attribute equals a value or starts with it —
///   whatever the event's type, as Docker checks them;
/// - `image`: the actor id or image name (the `image` attribute, `name` for image
///   events), with or without its tag;
/// - `label`: `key` or `key=value` among the actor's attributes.
pub fn matches(f: &Filters, e: &EventMessage) -> bool {
    let attr = |k: &str| e.actor.attributes.get(k).map(String::as_str).unwrap_or("");
    let any = |key: &str, test: &dyn Fn(&str) -> bool| match f.get(key) {
        None => true,
        Some(vals) if vals.is_empty() => true,
        Some(vals) => vals.iter().any(|v| test(v)),
    };
    let prefix = |v: &str, source: &str| !source.is_empty() && source.starts_with(v);
    let fuzzy_name = |v: &str| prefix(v, &e.actor.id) || prefix(v, attr("name"));
    let event_fuzzy = f.get("event").is_some_and(|vals| {
        vals.iter()
            .any(|v| ["health_status", "exec_create", "exec_start"].contains(&v.as_str()))
    });
    any("type", &|v| e.kind == v)
        && any("event", &|v| {
            if event_fuzzy {
                e.action.starts_with(v)
            } else {
                e.action == v
            }
        })
        && any("image", &|v| {
            let name = if e.kind == "image" {
                attr("name")
            } else {
                attr("image")
            };
            [e.actor.id.as_str(), name]
                .iter()
                .any(|s| !s.is_empty() && (*s == v || strip_tag(s) == v))
        })
        && any("label", &|v| match v.split_once('=') {
            Some((k, val)) => e.actor.attributes.get(k).map(String::as_str) == Some(val),
            None => e.actor.attributes.contains_key(v),
        })
        && any("scope", &|v| e.scope == v)
        && [
            "container",
            "network",
            "volume",
            "daemon",
            "plugin",
            "node",
            "service",
            "secret",
            "config",
        ]
        .iter()
        .all(|k| any(k, &fuzzy_name))
}

/// `busybox:latest` → `busybox`; a digest or a port in the registry host is kept.
fn strip_tag(reference: &str) -> &str {
    let name_end = reference.find('@').unwrap_or(reference.len());
    let name = &reference[..name_end];
    match name.rfind(':') {
        Some(i) if !name[i..].contains('/') => &name[..i],
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse_filters;
    use berth_types::docker::EventActor;

    fn ev(kind: &str, action: &str, id: &str, attrs: &[(&str, &str)]) -> EventMessage {
        EventMessage {
            kind: kind.into(),
            action: action.into(),
            actor: EventActor {
                id: id.into(),
                attributes: attrs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
            scope: "local".into(),
            ..Default::default()
        }
    }

    #[test]
    fn event_filters_follow_docker_rules() {
        let start = ev(
            "container",
            "start",
            "abcdef123456",
            &[
                ("name", "web"),
                ("image", "busybox:latest"),
                ("env", "prod"),
            ],
        );
        let exec = ev(
            "container",
            "exec_start: sh -c ls",
            "abcdef123456",
            &[("name", "web")],
        );
        let f = |s: &str| parse_filters(s).unwrap();
        assert!(matches(&f("{}"), &start));
        assert!(matches(&f(r#"{"container":["web"]}"#), &start));
        assert!(matches(&f(r#"{"container":["abcd"]}"#), &start));
        assert!(!matches(&f(r#"{"container":["db"]}"#), &start));
        assert!(matches(&f(r#"{"event":["start","die"]}"#), &start));
        assert!(!matches(&f(r#"{"event":["die"]}"#), &start));
        assert!(matches(&f(r#"{"event":["exec_start"]}"#), &exec));
        // Names and ids match by prefix, whatever the event's type (Docker's rule).
        assert!(matches(&f(r#"{"container":["we"]}"#), &start));
        let net = ev(
            "network",
            "connect",
            "n1234",
            &[("name", "web"), ("container", "abc")],
        );
        assert!(matches(&f(r#"{"network":["n12"]}"#), &net));
        assert!(!matches(&f(r#"{"network":["x"]}"#), &net));
        assert!(!matches(&f(r#"{"container":["abc"]}"#), &net));
        let vol = ev("volume", "create", "data", &[("driver", "local")]);
        assert!(matches(
            &f(r#"{"volume":["data"],"type":["volume"]}"#),
            &vol
        ));
        assert!(!matches(&f(r#"{"volume":["other"]}"#), &vol));
        let img = ev("image", "tag", "sha256:abc", &[("name", "evimg:1")]);
        assert!(matches(&f(r#"{"image":["evimg"]}"#), &img));
        assert!(matches(&f(r#"{"image":["evimg:1"]}"#), &img));
        assert!(!matches(&f(r#"{"image":["evimg:2"]}"#), &img));
        assert_eq!(strip_tag("localhost:5000/a/b:v1"), "localhost:5000/a/b");
        assert_eq!(strip_tag("localhost:5000/a/b"), "localhost:5000/a/b");
        assert_eq!(strip_tag("a@sha256:00"), "a");
        let health = ev("container", "health_status: healthy", "abc", &[]);
        assert!(matches(&f(r#"{"event":["health_status"]}"#), &health));
        assert!(!matches(&f(r#"{"event":["health"]}"#), &health));
        assert!(matches(&f(r#"{"image":["busybox"]}"#), &start));
        assert!(matches(&f(r#"{"label":["env=prod"]}"#), &start));
        assert!(matches(&f(r#"{"label":["env"]}"#), &start));
        assert!(!matches(&f(r#"{"label":["env=dev"]}"#), &start));
        assert!(!matches(&f(r#"{"type":["image"]}"#), &start));
        assert!(matches(
            &f(r#"{"type":["container"],"event":["start"],"container":["web"]}"#),
            &start
        ));
        assert!(validate_filters(&f(r#"{"bogus":["x"]}"#)).is_err());
    }
}
