//! `berth events`: the daemon's event stream, printed like Docker's default
//! (`<time> <type> <action> <id> (k=v, …)`) or through `--format`.

use std::io::Write;
use std::time::SystemTime;

use berth_client::api::Filters;
use berth_client::{Client, JsonLines, Query};
use serde_json::Value;

use crate::cli::EventsArgs;
use crate::errors::{CliError, CliResult};
use crate::table::parse_template;
use crate::units::api_timestamp;

/// Docker's default line for one event.
pub fn line(e: &Value) -> String {
    let nanos = e["timeNano"]
        .as_i64()
        .unwrap_or_else(|| e["time"].as_i64().unwrap_or(0) * 1_000_000_000);
    let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(nanos.max(0) as u64);
    // Docker prints a fixed 9-digit fraction here.
    let ts = berth_types::time::rfc3339_nano(t);
    let kind = e["Type"].as_str().unwrap_or("");
    let action = e["Action"].as_str().unwrap_or("");
    let id = e["Actor"]["ID"].as_str().unwrap_or("");
    let mut attrs: Vec<(String, String)> = e["Actor"]["Attributes"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    attrs.sort();
    let mut s = format!("{ts} {kind} {action} {id}");
    if !attrs.is_empty() {
        let parts: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        s.push_str(&format!(" ({})", parts.join(", ")));
    }
    s
}

pub fn events(c: &Client, a: &EventsArgs) -> CliResult {
    let now = SystemTime::now();
    let mut q = Query::new();
    if let Some(s) = &a.since {
        q = q.add("since", api_timestamp(s, now).ok_or_else(|| CliError::msg(format!("invalid value for \"since\": failed to parse value as time or duration: \"{s}\"")))?);
    }
    if let Some(u) = &a.until {
        q = q.add("until", api_timestamp(u, now).ok_or_else(|| CliError::msg(format!("invalid value for \"until\": failed to parse value as time or duration: \"{u}\"")))?);
    }
    let mut filters = Filters::new();
    for f in &a.filter {
        filters
            .add_arg(f)
            .ok_or_else(|| CliError::msg("bad format of filter (expected name=value)"))?;
    }
    if !filters.is_empty() {
        q = q.add("filters", filters.to_json());
    }
    let tmpl = match a.format.as_deref() {
        None | Some("") => None,
        Some("json") => Some(parse_template("{{json .}}", &berth_gotmpl::NoHooks)?),
        Some(f) => Some(parse_template(
            &f.replace("\\t", "\t").replace("\\n", "\n"),
            &berth_gotmpl::NoHooks,
        )?),
    };
    let resp = c.request(
        "GET",
        &format!("/events{}", q.to_suffix()),
        &[],
        berth_client::Body::Empty,
    )?;
    let mut out = std::io::stdout();
    for e in JsonLines::new(resp) {
        let e = e?;
        let text = match &tmpl {
            Some(t) => t
                .execute(&e)
                .map_err(|err| CliError::msg(err.to_string()))?,
            None => line(&e),
        };
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_event_line() {
        let e: Value = serde_json::from_str(
            r#"{"status":"die","id":"abc","Type":"container","Action":"die",
            "Actor":{"ID":"abc","Attributes":{"name":"lf","image":"busybox","exitCode":"0"}},
            "scope":"local","time":1795347809,"timeNano":1795347809211638785}"#,
        )
        .unwrap();
        assert_eq!(
            line(&e),
            "2026-11-22T11:43:29.211638785Z container die abc (exitCode=0, image=busybox, name=lf)"
        );
    }
}
