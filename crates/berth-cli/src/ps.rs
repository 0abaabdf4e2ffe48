//! `berth ps`: lists containers with Docker's columns, truncation, filters and
//! `--format` templates (rows are flat string maps, as Docker's formatter exposes).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_client::api::Filters;
use berth_client::Client;
use berth_gotmpl::go_quote;
use serde_json::{json, Map, Value};

use crate::cli::PsArgs;
use crate::errors::{CliError, CliResult};
use crate::table::{self, Format, HeaderHooks, RowHooks};
use crate::units::{human_duration, human_size};

pub const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

pub fn headers() -> Map<String, Value> {
    table::headers(&[
        ("ID", "CONTAINER ID"),
        ("Image", "IMAGE"),
        ("Command", "COMMAND"),
        ("CreatedAt", "CREATED AT"),
        ("RunningFor", "CREATED"),
        ("Ports", "PORTS"),
        ("State", "STATE"),
        ("Status", "STATUS"),
        ("Size", "SIZE"),
        ("Names", "NAMES"),
        ("Labels", "LABELS"),
        ("Mounts", "MOUNTS"),
        ("LocalVolumes", "LOCAL VOLUMES"),
        ("Networks", "NETWORKS"),
        ("Platform", "PLATFORM"),
    ])
}

/// Docker's `TruncateID`: strips an algorithm prefix, keeps 12 characters.
pub fn truncate_id(id: &str) -> String {
    let id = id.split_once(':').map(|(_, h)| h).unwrap_or(id);
    id.chars().take(12).collect()
}

/// Docker's `Ellipsis`: at most `max` runes, the last replaced by "…".
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Go's `time.Time.String()` for a unix time in UTC: "2026-11-22 11:27:21 +0000 UTC".
pub fn go_time_string(unix: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64);
    let s = berth_types::time::rfc3339_nano_trimmed(t);
    // "YYYY-MM-DDTHH:MM:SSZ" → "YYYY-MM-DD HH:MM:SS +0000 UTC"
    let base = s.trim_end_matches('Z').replacen('T', " ", 1);
    format!("{base} +0000 UTC")
}

/// "N units ago" for a unix time.
pub fn running_for(created: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let d = (now - created as f64).max(0.0);
    format!("{} ago", human_duration(Duration::from_secs_f64(d)))
}

/// Docker's `DisplayablePorts`: published ports as `ip:host->ctr/proto`, consecutive
/// ranges merged, unpublished as `ctr/proto`, sorted and comma-joined.
pub fn displayable_ports(ports: &[Value]) -> String {
    // group key → list of (private, public)
    let mut groups: Vec<(String, Vec<(i64, i64)>)> = Vec::new();
    let mut order: Vec<String> = Vec::new();
    for p in ports {
        let private = p["PrivatePort"].as_i64().unwrap_or(0);
        let public = p["PublicPort"].as_i64().unwrap_or(0);
        let proto = p["Type"].as_str().unwrap_or("tcp");
        let ip = p["IP"].as_str().unwrap_or("");
        let key = if public != 0 {
            let host = if ip.contains(':') {
                format!("[{ip}]")
            } else {
                ip.to_string()
            };
            format!("{host}:{proto}")
        } else {
            format!("/{proto}")
        };
        match groups.iter_mut().find(|(k, _)| k == &key) {
            Some((_, v)) => v.push((private, public)),
            None => {
                order.push(key.clone());
                groups.push((key, vec![(private, public)]));
            }
        }
    }
    let mut out = Vec::new();
    for (key, mut list) in groups {
        let (host, proto) = key
            .rsplit_once(':')
            .map(|(h, p)| (h.to_string(), p.to_string()))
            .unwrap_or((String::new(), key.trim_start_matches('/').to_string()));
        let published = !key.starts_with('/');
        list.sort();
        list.dedup();
        let mut i = 0;
        while i < list.len() {
            let mut j = i;
            while j + 1 < list.len()
                && list[j + 1].0 == list[j].0 + 1
                && (!published || list[j + 1].1 == list[j].1 + 1)
            {
                j += 1;
            }
            let (p0, h0) = list[i];
            let (p1, h1) = list[j];
            let priv_s = if p0 == p1 {
                p0.to_string()
            } else {
                format!("{p0}-{p1}")
            };
            if published {
                let pub_s = if h0 == h1 {
                    h0.to_string()
                } else {
                    format!("{h0}-{h1}")
                };
                out.push(format!("{host}:{pub_s}->{priv_s}/{proto}"));
            } else {
                out.push(format!("{priv_s}/{proto}"));
            }
            i = j + 1;
        }
    }
    out.sort();
    out.join(", ")
}

/// One container from `GET /containers/json` → a row of Docker's formatter fields.
pub fn row(c: &Value, trunc: bool) -> Value {
    let id = c["Id"].as_str().unwrap_or("");
    let mut image = c["Image"].as_str().unwrap_or("").to_string();
    if image.is_empty() {
        image = "<no image>".into();
    }
    if trunc {
        let image_id = c["ImageID"].as_str().unwrap_or("");
        if !image_id.is_empty() && truncate_id(image_id) == truncate_id(&image) {
            image = truncate_id(&image);
        } else if let Some((repo, _)) = image.split_once('@') {
            image = repo.to_string();
        }
    }
    let mut command = c["Command"].as_str().unwrap_or("").to_string();
    if trunc {
        command = ellipsis(&command, 20);
    }
    let created = c["Created"].as_i64().unwrap_or(0);
    let names: Vec<String> = c["Names"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|n| n.trim_start_matches('/').to_string())
                .collect()
        })
        .unwrap_or_default();
    let names = if trunc {
        names
            .iter()
            .find(|n| !n.contains('/'))
            .cloned()
            .map(|n| vec![n])
            .unwrap_or(names)
    } else {
        names
    };
    let labels: Vec<String> = c["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    let mounts: Vec<Value> = c["Mounts"].as_array().cloned().unwrap_or_default();
    let mount_names: Vec<String> = mounts
        .iter()
        .map(|m| {
            let n = m["Name"]
                .as_str()
                .filter(|s| !s.is_empty())
                .or(m["Source"].as_str())
                .unwrap_or("");
            if trunc {
                ellipsis(n, 15)
            } else {
                n.to_string()
            }
        })
        .collect();
    let local_volumes = mounts
        .iter()
        .filter(|m| m["Driver"].as_str() == Some("local"))
        .count();
    let mut networks: Vec<String> = c["NetworkSettings"]["Networks"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    networks.sort();
    let size = {
        let rw = c["SizeRw"].as_i64().unwrap_or(0);
        let rootfs = c["SizeRootFs"].as_i64().unwrap_or(0);
        let srw = human_size(rw);
        if rootfs > 0 {
            format!("{srw} (virtual {})", human_size(rootfs))
        } else {
            srw
        }
    };
    let ports = c["Ports"]
        .as_array()
        .map(|p| displayable_ports(p))
        .unwrap_or_default();
    // Keys sorted: Docker marshals the row through a Go map.
    json!({
        "Command": go_quote(&command),
        "CreatedAt": go_time_string(created),
        "ID": if trunc { truncate_id(id) } else { id.to_string() },
        "Image": image,
        "Labels": labels.join(","),
        "LocalVolumes": local_volumes.to_string(),
        "Mounts": mount_names.join(","),
        "Names": names.join(","),
        "Networks": networks.join(","),
        "Platform": Value::Null,
        "Ports": ports,
        "RunningFor": running_for(created),
        "Size": size,
        "State": c["State"].as_str().unwrap_or(""),
        "Status": c["Status"].as_str().unwrap_or(""),
    })
}

pub fn ps(c: &Client, a: &PsArgs) -> CliResult {
    let mut filters = Filters::new();
    for f in &a.filter {
        if filters.add_arg(f).is_none() {
            return Err(CliError::msg("bad format of filter (expected name=value)"));
        }
    }
    let format_arg = if a.quiet {
        Some("{{.ID}}")
    } else {
        a.format.as_deref()
    };
    let default = if a.size {
        format!("{DEFAULT_TABLE}\t{{{{.Size}}}}")
    } else {
        DEFAULT_TABLE.to_string()
    };
    let format = Format::resolve(format_arg, &default);
    // Sizes are costly: ask only when shown (the `json` shortcut does not show them).
    let user = format_arg.unwrap_or("");
    let size = a.size || user.contains(".Size") || user.contains("json .");
    let limit = if a.latest {
        Some(1)
    } else {
        a.last.filter(|&n| n != -1)
    };
    let all = a.all || limit.is_some();
    let list = c.containers_list(all, limit, size && !a.quiet, &filters)?;
    let mut containers = list.as_array().cloned().unwrap_or_default();
    // Newest first, as Docker's daemon returns them (stable for equal times).
    containers.sort_by_key(|c| std::cmp::Reverse(c["Created"].as_i64().unwrap_or(0)));
    let trunc = !a.no_trunc;
    let rows_data: Vec<(Value, Option<Map<String, Value>>)> = containers
        .iter()
        .map(|ct| (row(ct, trunc), ct["Labels"].as_object().cloned()))
        .collect();
    let rows: Vec<(Value, Box<dyn berth_gotmpl::Hooks + '_>)> = rows_data
        .iter()
        .map(|(r, l)| {
            let hooks: Box<dyn berth_gotmpl::Hooks> = Box::new(RowHooks {
                labels: l.as_ref(),
                type_name: "*formatter.ContainerContext",
            });
            (r.clone(), hooks)
        })
        .collect();
    let out = table::render(table::PS_ERRORS, &format, &headers(), &HeaderHooks, &rows)?;
    print!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_row_fields_like_docker() {
        let c = json!({
            "Id": "d718ee3051865f71a430c38ace44bcf1b19797957d4899973115831bcae9f629",
            "Names": ["/t2"], "Image": "busybox", "ImageID": "sha256:d8cf10d09417aaaa",
            "Command": "sleep 1000000000000000000", "Created": 1_700_000_000,
            "Ports": [{"PrivatePort": 80, "Type": "tcp"}],
            "Labels": {"a": "b"}, "State": "running", "Status": "Up 2 minutes",
            "SizeRw": 0, "SizeRootFs": 1_984_000,
            "NetworkSettings": {"Networks": {"bridge": {}}}, "Mounts": []
        });
        let r = row(&c, true);
        assert_eq!(r["ID"], "d718ee305186");
        assert_eq!(r["Command"], "\"sleep 1000000000000…\"");
        assert_eq!(r["Names"], "t2");
        assert_eq!(r["Ports"], "80/tcp");
        assert_eq!(r["Size"], "0B (virtual 1.98MB)");
        assert_eq!(r["CreatedAt"], "2023-11-14 22:13:20 +0000 UTC");
        assert_eq!(r["Networks"], "bridge");
        assert_eq!(r["Labels"], "a=b");
        let r = row(&c, false);
        assert_eq!(r["ID"].as_str().unwrap().len(), 64);
    }

    #[test]
    fn ports_grouped_like_docker() {
        let p = vec![
            json!({"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}),
            json!({"IP": "0.0.0.0", "PrivatePort": 81, "PublicPort": 8081, "Type": "tcp"}),
            json!({"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}),
            json!({"PrivatePort": 53, "Type": "udp"}),
        ];
        assert_eq!(
            displayable_ports(&p),
            "0.0.0.0:8080-8081->80-81/tcp, 53/udp, [::]:8080->80/tcp"
        );
    }

    #[test]
    fn ellipsis_and_ids() {
        assert_eq!(ellipsis("echo hello", 20), "echo hello");
        assert_eq!(
            ellipsis("abcdefghijklmnopqrstuvwxyz", 20).chars().count(),
            20
        );
        assert_eq!(truncate_id("sha256:0123456789abcdef"), "0123456789ab");
    }
}
