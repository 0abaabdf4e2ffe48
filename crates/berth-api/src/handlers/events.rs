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
pub fn matches(f: &Filters, e: &EventMessage) -> bool {
    let attr = |k: &str| e.actor.attributes.get(k).map(String::as_str).unwrap_or("");
    let any = |key: &str, test: &dyn Fn(&str) -> bool| match f.get(key) {
        None => true,
        Some(vals) if vals.is_empty() => true,
        Some(vals) => vals.iter().any(|v| test(v)),
    };
    let fuzzy =
        |v: &str, target: &str| !target.is_empty() && (target == v || target.starts_with(v));
    let kind_is = |k: &str| e.kind == k;
    any("type", &|v| e.kind == v)
        && any("event", &|v| {
            let action = e.action.split(':').next().unwrap_or("").trim();
            v == action || v == e.action
        })
        && any("container", &|v| {
            kind_is("container") && (fuzzy(v, &e.actor.id) || attr("name") == v)
        })
        && any("image", &|v| {
            let image = if kind_is("image") {
                e.actor.id.as_str()
            } else {
                attr("image")
            };
            let name = attr("name");
            image == v
                || image.strip_suffix(":latest") == Some(v)
                || image.split(':').next() == Some(v) && !v.contains(':')
                || (kind_is("image") && (name == v || name.strip_suffix(":latest") == Some(v)))
        })
        && any("label", &|v| match v.split_once('=') {
            Some((k, val)) => e.actor.attributes.get(k).map(String::as_str) == Some(val),
            None => e.actor.attributes.contains_key(v),
        })
        && any("volume", &|v| {
            kind_is("volume") && (e.actor.id == v || attr("name") == v)
        })
        && any("network", &|v| {
            kind_is("network") && (fuzzy(v, &e.actor.id) || attr("name") == v)
        })
        && any("daemon", &|v| {
            kind_is("daemon") && (e.actor.id == v || attr("name") == v)
        })
        && any("scope", &|v| e.scope == v)
        && ["plugin", "node", "service", "secret", "config"]
            .iter()
            .all(|k| !f.contains_key(*k) || f[*k].iter().any(|v| kind_is(k) && e.actor.id == *v))
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
