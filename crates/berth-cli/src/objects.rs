//! Volume and network commands (`volume create|ls|inspect|rm|prune`, `network
//! create|ls|inspect|rm|connect|disconnect|prune`), worded and laid out like Docker.

use std::io::{self, BufRead, Write};

use berth_client::api::Filters;
use berth_client::{Client, Query};
use serde_json::{json, Map, Value};

use crate::cli::{
    NamesForceArgs, NamesFormatArgs, NetworkConnectArgs, NetworkCreateArgs, NetworkDisconnectArgs,
    NetworkLsArgs, PruneArgs, VolumeCreateArgs, VolumeLsArgs, VolumePruneArgs,
};
use crate::errors::{CliError, CliResult};
use crate::inspect::pretty;
use crate::ps::truncate_id;
use crate::table::{self, parse_template, Format, HeaderHooks, RowHooks};
use crate::units::human_size;

/// Asks Docker's "[y/N]" question; true when the answer is yes.
pub fn confirm(warning: &str) -> bool {
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    let _ = io::stdout().flush();
    let mut line = String::new();
    let _ = io::stdin().lock().read_line(&mut line);
    matches!(line.trim().to_lowercase().as_str(), "y" | "yes")
}

/// Prints a prune answer's `Deleted <Title>:` section (nothing when the list is empty).
pub fn print_deleted(v: &Value, key: &str, title: &str) {
    let deleted: Vec<&str> = v[key]
        .as_array()
        .map(|d| d.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted {title}:");
        for d in deleted {
            println!("{d}");
        }
        println!();
    }
}

/// `inspect` of named objects at `/<kind>/<name>`: the found ones as one JSON array (or
/// formatted), then the "No such" errors, as Docker does.
fn inspect_named(c: &Client, kind: &str, a: &NamesFormatArgs) -> CliResult {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for n in &a.names {
        match c.get_json(&format!("/{kind}/{n}")) {
            Ok(v) => found.push(v),
            Err(e) if e.is_not_found() => errors.push(e.to_string()),
            Err(e) => return Err(e.into()),
        }
    }
    inspect_values(found, errors, a.format.as_deref())
}

fn filters(args: &[String]) -> Result<Filters, CliError> {
    let mut f = Filters::new();
    for a in args {
        f.add_arg(a)
            .ok_or_else(|| CliError::msg("bad format of filter (expected name=value)"))?;
    }
    Ok(f)
}

fn kv_map(items: &[String]) -> Map<String, Value> {
    items
        .iter()
        .map(|i| {
            let (k, v) = i.split_once('=').unwrap_or((i, ""));
            (k.to_string(), json!(v))
        })
        .collect()
}

fn labels_text(v: &Value) -> String {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// RFC 3339 → Go's `time.Time.String()` in UTC ("2026-11-22 11:27:15.894083091 +0000 UTC").
pub fn go_time_from_rfc3339(s: &str) -> String {
    match berth_types::time::parse_rfc3339(s) {
        Some(t) => {
            let r = berth_types::time::rfc3339_nano_trimmed(t);
            format!(
                "{} +0000 UTC",
                r.trim_end_matches('Z').replacen('T', " ", 1)
            )
        }
        None => s.to_string(),
    }
}

fn render_rows(
    format: &Format,
    heads: &Map<String, Value>,
    rows: Vec<Value>,
    type_name: &'static str,
) -> CliResult {
    let rows: Vec<(Value, Box<dyn berth_gotmpl::Hooks>)> = rows
        .into_iter()
        .map(|r| {
            let h: Box<dyn berth_gotmpl::Hooks> = Box::new(RowHooks {
                labels: None,
                type_name,
            });
            (r, h)
        })
        .collect();
    print!(
        "{}",
        table::render(table::IMAGES_ERRORS, format, heads, &HeaderHooks, &rows)?
    );
    Ok(())
}

/// Pretty JSON array, or a template per object (shared by the inspect commands).
fn inspect_values(values: Vec<Value>, errors: Vec<String>, format: Option<&str>) -> CliResult {
    match format.filter(|f| !f.is_empty() && *f != "json") {
        Some(f) => {
            let t = parse_template(
                &f.replace("\\t", "\t").replace("\\n", "\n"),
                &berth_gotmpl::NoHooks,
            )?;
            for v in &values {
                let s = t
                    .execute(v)
                    .map_err(|e| CliError::msg(format!("template parsing error: {e}")))?;
                println!("{s}");
            }
        }
        None => println!("{}", pretty(&Value::Array(values))),
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::msg(errors.join("\n")))
    }
}

// ---- volumes ---------------------------------------------------------------------

pub fn volume_create(c: &Client, a: &VolumeCreateArgs) -> CliResult {
    let name = match (&a.name, &a.name_flag) {
        (Some(p), Some(f)) if p != f => {
            return Err(CliError::msg(
                "conflicting options: cannot specify a volume-name through both --name and as a positional arg",
            ))
        }
        (Some(p), _) => p.clone(),
        (None, Some(f)) => f.clone(),
        (None, None) => String::new(),
    };
    let body = json!({
        "Name": name,
        "Driver": a.driver,
        "DriverOpts": kv_map(&a.opt),
        "Labels": kv_map(&a.label),
    });
    let v = c.post_json("/volumes/create", Some(&body))?;
    println!("{}", v["Name"].as_str().unwrap_or(""));
    Ok(())
}

pub fn volume_ls(c: &Client, a: &VolumeLsArgs) -> CliResult {
    let f = filters(&a.filter)?;
    let q = if f.is_empty() {
        Query::new()
    } else {
        Query::new().add("filters", f.to_json())
    };
    let v = c.get_json(&format!("/volumes{}", q.to_suffix()))?;
    let mut vols: Vec<Value> = v["Volumes"].as_array().cloned().unwrap_or_default();
    vols.sort_by(|x, y| x["Name"].as_str().cmp(&y["Name"].as_str()));
    let na = |x: &Value| {
        x.as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or("N/A")
            .to_string()
    };
    let rows: Vec<Value> = vols
        .iter()
        .map(|v| {
            let usage = &v["UsageData"];
            json!({
                "Availability": na(&v["ClusterVolume"]["Spec"]["Availability"]),
                "Driver": v["Driver"].as_str().unwrap_or(""),
                "Group": na(&v["ClusterVolume"]["Spec"]["Group"]),
                "Labels": labels_text(&v["Labels"]),
                "Links": usage["RefCount"].as_i64().filter(|&n| n >= 0).map(|n| n.to_string()).unwrap_or_else(|| "N/A".into()),
                "Mountpoint": v["Mountpoint"].as_str().unwrap_or(""),
                "Name": v["Name"].as_str().unwrap_or(""),
                "Scope": v["Scope"].as_str().unwrap_or(""),
                "Size": usage["Size"].as_i64().filter(|&n| n >= 0).map(human_size).unwrap_or_else(|| "N/A".into()),
                "Status": "N/A",
            })
        })
        .collect();
    let user = if a.quiet {
        Some("{{.Name}}")
    } else {
        a.format.as_deref()
    };
    let format = Format::resolve(user, "table {{.Driver}}\t{{.Name}}");
    let heads = table::headers(&[
        ("Name", "VOLUME NAME"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("Mountpoint", "MOUNTPOINT"),
        ("Labels", "LABELS"),
        ("Links", "LINKS"),
        ("Size", "SIZE"),
        ("Availability", "AVAILABILITY"),
        ("Group", "GROUP"),
        ("Status", "STATUS"),
    ]);
    render_rows(&format, &heads, rows, "*formatter.volumeContext")
}

pub fn volume_inspect(c: &Client, a: &NamesFormatArgs) -> CliResult {
    inspect_named(c, "volumes", a)
}

pub fn volume_rm(c: &Client, a: &NamesForceArgs) -> CliResult {
    let mut failed = false;
    for n in &a.names {
        let q = Query::new().flag("force", a.force);
        match c.delete(&format!("/volumes/{n}{}", q.to_suffix())) {
            Ok(_) => println!("{n}"),
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(CliError::exit(1));
    }
    Ok(())
}

pub fn volume_prune(c: &Client, a: &VolumePruneArgs) -> CliResult {
    let mut f = filters(&a.filter)?;
    if a.all {
        f.add("all", "true");
    }
    let warning = if a.all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if !a.force && !confirm(warning) {
        return Ok(());
    }
    let q = if f.is_empty() {
        Query::new()
    } else {
        Query::new().add("filters", f.to_json())
    };
    let v = c.post_json(&format!("/volumes/prune{}", q.to_suffix()), None)?;
    print_deleted(&v, "VolumesDeleted", "Volumes");
    println!(
        "Total reclaimed space: {}",
        human_size(v["SpaceReclaimed"].as_i64().unwrap_or(0))
    );
    Ok(())
}

// ---- networks --------------------------------------------------------------------

pub fn network_create(c: &Client, a: &NetworkCreateArgs) -> CliResult {
    let mut ipam_cfg = Vec::new();
    for (i, subnet) in a.subnet.iter().enumerate() {
        let mut m = Map::new();
        m.insert("Subnet".into(), json!(subnet));
        if let Some(r) = a.ip_range.get(i) {
            m.insert("IPRange".into(), json!(r));
        }
        if let Some(g) = a.gateway.get(i) {
            m.insert("Gateway".into(), json!(g));
        }
        ipam_cfg.push(Value::Object(m));
    }
    if a.subnet.is_empty() && (!a.gateway.is_empty() || !a.ip_range.is_empty()) {
        return Err(CliError::msg(
            "every ip-range or gateway must have a corresponding subnet",
        ));
    }
    let body = json!({
        "Name": a.name,
        "CheckDuplicate": true,
        "Driver": a.driver,
        "Internal": a.internal,
        "Attachable": a.attachable,
        "EnableIPv6": a.ipv6,
        "IPAM": {"Driver": a.ipam_driver, "Config": ipam_cfg, "Options": {}},
        "Options": kv_map(&a.opt),
        "Labels": kv_map(&a.label),
    });
    let v = c.post_json("/networks/create", Some(&body))?;
    if let Some(w) = v["Warning"].as_str().filter(|w| !w.is_empty()) {
        eprintln!("{w}");
    }
    println!("{}", v["Id"].as_str().unwrap_or(""));
    Ok(())
}

pub fn network_ls(c: &Client, a: &NetworkLsArgs) -> CliResult {
    let f = filters(&a.filter)?;
    let q = if f.is_empty() {
        Query::new()
    } else {
        Query::new().add("filters", f.to_json())
    };
    let v = c.get_json(&format!("/networks{}", q.to_suffix()))?;
    let mut nets = v.as_array().cloned().unwrap_or_default();
    nets.sort_by(|x, y| x["Name"].as_str().cmp(&y["Name"].as_str()));
    let b = |x: &Value| x.as_bool().unwrap_or(false).to_string();
    let rows: Vec<Value> = nets
        .iter()
        .map(|n| {
            let id = n["Id"].as_str().unwrap_or("");
            json!({
                "CreatedAt": go_time_from_rfc3339(n["Created"].as_str().unwrap_or("")),
                "Driver": n["Driver"].as_str().unwrap_or(""),
                "ID": if a.no_trunc { id.to_string() } else { truncate_id(id) },
                "IPv4": b(&n["EnableIPv4"]),
                "IPv6": b(&n["EnableIPv6"]),
                "Internal": b(&n["Internal"]),
                "Labels": labels_text(&n["Labels"]),
                "Name": n["Name"].as_str().unwrap_or(""),
                "Scope": n["Scope"].as_str().unwrap_or(""),
            })
        })
        .collect();
    let user = if a.quiet {
        Some("{{.ID}}")
    } else {
        a.format.as_deref()
    };
    let format = Format::resolve(user, "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}");
    let heads = table::headers(&[
        ("ID", "NETWORK ID"),
        ("Name", "NAME"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("IPv4", "IPV4"),
        ("IPv6", "IPV6"),
        ("Internal", "INTERNAL"),
        ("Labels", "LABELS"),
        ("CreatedAt", "CREATED AT"),
    ]);
    render_rows(&format, &heads, rows, "*formatter.networkContext")
}

pub fn network_inspect(c: &Client, a: &NamesFormatArgs) -> CliResult {
    inspect_named(c, "networks", a)
}

pub fn network_rm(c: &Client, a: &NamesForceArgs) -> CliResult {
    let mut failed = false;
    for n in &a.names {
        match c.delete(&format!("/networks/{n}")) {
            Ok(_) => println!("{n}"),
            Err(e) if a.force && e.is_not_found() => {}
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(CliError::exit(1));
    }
    Ok(())
}

pub fn network_connect(c: &Client, a: &NetworkConnectArgs) -> CliResult {
    let mut ep = Map::new();
    if !a.alias.is_empty() {
        ep.insert("Aliases".into(), json!(a.alias));
    }
    if a.ip.is_some() || a.ip6.is_some() {
        let mut ipam = Map::new();
        if let Some(ip) = &a.ip {
            ipam.insert("IPv4Address".into(), json!(ip));
        }
        if let Some(ip) = &a.ip6 {
            ipam.insert("IPv6Address".into(), json!(ip));
        }
        ep.insert("IPAMConfig".into(), Value::Object(ipam));
    }
    let body = json!({"Container": a.container, "EndpointConfig": ep});
    c.post_json(&format!("/networks/{}/connect", a.network), Some(&body))?;
    Ok(())
}

pub fn network_disconnect(c: &Client, a: &NetworkDisconnectArgs) -> CliResult {
    let body = json!({"Container": a.container, "Force": a.force});
    c.post_json(&format!("/networks/{}/disconnect", a.network), Some(&body))?;
    Ok(())
}

pub fn network_prune(c: &Client, a: &PruneArgs) -> CliResult {
    let f = filters(&a.filter)?;
    if !a.force
        && !confirm(
            "WARNING! This will remove all custom networks not used by at least one container.",
        )
    {
        return Ok(());
    }
    let q = if f.is_empty() {
        Query::new()
    } else {
        Query::new().add("filters", f.to_json())
    };
    let v = c.post_json(&format!("/networks/prune{}", q.to_suffix()), None)?;
    print_deleted(&v, "NetworksDeleted", "Networks");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_time_strings() {
        assert_eq!(
            go_time_from_rfc3339("2026-11-22T11:27:15.894083091Z"),
            "2026-11-22 11:27:15.894083091 +0000 UTC"
        );
        assert_eq!(
            go_time_from_rfc3339("2026-11-22T11:27:15Z"),
            "2026-11-22 11:27:15 +0000 UTC"
        );
    }
}
