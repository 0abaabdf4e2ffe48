//! Read-only and small commands of `berth compose`: `ps`, `config`, `top`, `port`,
//! `images`, plus `rm` and `kill` (which print per-container results).

use std::io::Write;

use berth_compose::hash::service_hash;
use berth_compose::run::{Found, Runner};
use berth_compose::{yaml, Project};
use serde_json::{json, Value};

use super::args::{
    ConfigArgs, KillArgs, LsArgs, PortArgs, PsArgs, RmArgs, ServicesArgs, VersionArgs,
};
use crate::errors::{CliError, CliResult};
use crate::ps::{displayable_ports, row};
use crate::table::{tabwrite, tabwrite_with};

/// Docker Compose's STATUS-filterable state words.
fn state_of(c: &Found) -> &str {
    c.summary["State"].as_str().unwrap_or("")
}

pub fn ps(r: &Runner, a: &PsArgs) -> CliResult {
    let mut list = if a.all {
        r.containers(true)?
            .into_iter()
            .filter(|c| a.services.is_empty() || a.services.contains(&c.observed.service))
            .collect()
    } else {
        r.service_containers(&a.services)?
    };
    if !a.all {
        list.retain(|c| c.observed.running());
    }
    if !a.status.is_empty() {
        list.retain(|c| a.status.iter().any(|s| s == state_of(c)));
    }
    if a.quiet {
        for c in &list {
            println!("{}", c.observed.id);
        }
        return Ok(());
    }
    if a.services_only {
        let mut seen = Vec::new();
        for c in &list {
            if !seen.contains(&c.observed.service) {
                seen.push(c.observed.service.clone());
                println!("{}", c.observed.service);
            }
        }
        return Ok(());
    }
    if a.format.as_deref() == Some("json") {
        let rows: Vec<Value> = list
            .iter()
            .map(|c| {
                let fields = row(&c.summary, false);
                json!({
                    "ID": c.observed.id,
                    "Name": c.observed.name,
                    "Image": fields["Image"],
                    "Command": fields["Command"],
                    "Project": r.project.name,
                    "Service": c.observed.service,
                    "State": c.summary["State"],
                    "Status": fields["Status"],
                    "Publishers": c.summary["Ports"],
                    "Labels": fields["Labels"],
                })
            })
            .collect();
        println!("{}", Value::Array(rows));
        return Ok(());
    }
    let mut text = String::from("NAME\tIMAGE\tCOMMAND\tSERVICE\tCREATED\tSTATUS\tPORTS\n");
    for c in &list {
        let f = row(&c.summary, true);
        let ports = c.summary["Ports"]
            .as_array()
            .map(|p| displayable_ports(p))
            .unwrap_or_default();
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            c.observed.name,
            f["Image"].as_str().unwrap_or(""),
            f["Command"].as_str().unwrap_or(""),
            c.observed.service,
            f["RunningFor"].as_str().unwrap_or(""),
            f["Status"].as_str().unwrap_or(""),
            ports
        ));
    }
    print!("{}", tabwrite_with(&text, 0));
    Ok(())
}

pub fn rm(r: &Runner, a: &RmArgs) -> CliResult {
    let removed = r.rm(&a.services, a.stop, a.volumes)?;
    if removed.is_empty() {
        eprintln!("No stopped containers");
    }
    Ok(())
}

pub fn kill(r: &Runner, a: &KillArgs) -> CliResult {
    for c in r.service_containers(&a.services)? {
        if c.observed.running() {
            eprintln!(" Container {}  Killing", c.observed.name);
            r.client.container_kill(&c.observed.id, Some(&a.signal))?;
            eprintln!(" Container {}  Killed", c.observed.name);
        }
    }
    Ok(())
}

pub fn config(p: &Project, a: &ConfigArgs) -> CliResult {
    let mut out = String::new();
    if a.quiet {
        return Ok(());
    } else if a.services {
        for s in p.services.keys() {
            out.push_str(s);
            out.push('\n');
        }
    } else if a.volumes {
        for v in p.volumes.keys() {
            out.push_str(v);
            out.push('\n');
        }
    } else if a.profiles {
        let mut all: Vec<String> = p
            .model
            .get("services")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .flat_map(|(_, s)| {
                s.get("profiles")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        all.sort();
        all.dedup();
        for pr in all {
            out.push_str(&pr);
            out.push('\n');
        }
    } else if let Some(h) = &a.hash {
        let wanted: Vec<&str> = h.split(',').map(str::trim).collect();
        for (name, s) in &p.services {
            if wanted.contains(&"*") || wanted.contains(&name.as_str()) {
                out.push_str(&format!("{name} {}\n", service_hash(s)));
            }
        }
    } else if a.format == "json" {
        out = serde_json::to_string_pretty(&p.model).map_err(|e| CliError::msg(e.to_string()))?;
        out.push('\n');
    } else if a.format == "yaml" {
        out = yaml::to_yaml(&p.model);
    } else {
        return Err(CliError::msg(format!(
            "unsupported format {:?}: use yaml or json",
            a.format
        )));
    }
    match &a.output {
        Some(path) => std::fs::write(path, out)
            .map_err(|e| CliError::msg(format!("open {}: {e}", path.display())))?,
        None => {
            let mut so = std::io::stdout();
            let _ = so.write_all(out.as_bytes());
        }
    }
    Ok(())
}

pub fn top(r: &Runner, a: &ServicesArgs) -> CliResult {
    let list: Vec<Found> = r
        .service_containers(&a.services)?
        .into_iter()
        .filter(|c| c.observed.running())
        .collect();
    for (i, c) in list.iter().enumerate() {
        let v = r.client.container_top(&c.observed.id, None)?;
        if i > 0 {
            println!();
        }
        println!("{}", c.observed.name);
        let mut text = String::new();
        let titles: Vec<&str> = v["Titles"]
            .as_array()
            .map(|t| t.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        text.push_str(&titles.join("\t"));
        text.push('\n');
        for p in v["Processes"].as_array().into_iter().flatten() {
            let cells: Vec<&str> = p
                .as_array()
                .map(|row| row.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            text.push_str(&cells.join("\t"));
            text.push('\n');
        }
        print!("{}", tabwrite_with(&text, 0));
    }
    Ok(())
}

pub fn port(r: &Runner, a: &PortArgs) -> CliResult {
    let c = r
        .service_containers(std::slice::from_ref(&a.service))?
        .into_iter()
        .find(|c| c.observed.number == a.index)
        .ok_or_else(|| {
            CliError::msg(format!(
                "service \"{}\" is not running container #{}",
                a.service, a.index
            ))
        })?;
    let info = r.client.container_inspect(&c.observed.id, false)?;
    let key = format!("{}/{}", a.private_port, a.protocol);
    let bindings = info["NetworkSettings"]["Ports"][&key].as_array().cloned();
    match bindings.and_then(|b| b.first().cloned()) {
        Some(b) => {
            println!(
                "{}:{}",
                b["HostIp"].as_str().unwrap_or("0.0.0.0"),
                b["HostPort"].as_str().unwrap_or("")
            );
            Ok(())
        }
        None => Err(CliError::msg(format!(
            "no port {key} for container {}",
            c.observed.name
        ))),
    }
}

pub fn images(r: &Runner, a: &ServicesArgs) -> CliResult {
    let mut text = String::from("CONTAINER\tREPOSITORY\tTAG\tIMAGE ID\tSIZE\n");
    for c in r.service_containers(&a.services)? {
        let image = c.summary["Image"].as_str().unwrap_or("");
        let (repo, tag) = berth_compose::run::split_tag(image);
        let info = r.client.image_inspect(image).unwrap_or(Value::Null);
        let id = info["Id"].as_str().unwrap_or("");
        let short: String = id.trim_start_matches("sha256:").chars().take(12).collect();
        let size = info["Size"].as_i64().unwrap_or(0);
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            c.observed.name,
            repo,
            tag.unwrap_or_else(|| "latest".into()),
            short,
            crate::units::human_size(size)
        ));
    }
    print!("{}", tabwrite(&text));
    Ok(())
}

pub fn pause(r: &Runner, a: &ServicesArgs, pause: bool) -> CliResult {
    let (doing, done) = if pause {
        ("Pausing", "Paused")
    } else {
        ("Unpausing", "Unpaused")
    };
    for c in r.service_containers(&a.services)? {
        let state = state_of(&c);
        if (pause && state != "running") || (!pause && state != "paused") {
            continue;
        }
        eprintln!(" Container {}  {doing}", c.observed.name);
        if pause {
            r.client.container_pause(&c.observed.id)?;
        } else {
            r.client.container_unpause(&c.observed.id)?;
        }
        eprintln!(" Container {}  {done}", c.observed.name);
    }
    Ok(())
}

/// `compose ls`: projects found by their containers' labels, with Docker Compose's
/// status summary (`running(2), exited(1)`).
pub fn ls(c: &berth_client::Client, a: &LsArgs) -> CliResult {
    let mut f = berth_client::api::Filters::new();
    f.add("label", berth_compose::labels::PROJECT);
    let list = c.containers_list(a.all, None, false, &f)?;
    let mut projects: std::collections::BTreeMap<String, (Vec<String>, String)> =
        Default::default();
    for v in list.as_array().into_iter().flatten() {
        let labels = &v["Labels"];
        let Some(name) = labels[berth_compose::labels::PROJECT].as_str() else {
            continue;
        };
        let entry = projects.entry(name.to_string()).or_default();
        entry.0.push(v["State"].as_str().unwrap_or("").to_string());
        if entry.1.is_empty() {
            entry.1 = labels[berth_compose::labels::CONFIG_FILES]
                .as_str()
                .unwrap_or("")
                .to_string();
        }
    }
    let summary = |states: &[String]| {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for s in states {
            match counts.iter_mut().find(|(k, _)| k == s) {
                Some(e) => e.1 += 1,
                None => counts.push((s.clone(), 1)),
            }
        }
        counts.sort();
        counts
            .iter()
            .map(|(k, n)| format!("{k}({n})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if a.quiet {
        for name in projects.keys() {
            println!("{name}");
        }
        return Ok(());
    }
    if a.format == "json" {
        let rows: Vec<Value> = projects
            .iter()
            .map(|(n, (st, files))| json!({"Name": n, "Status": summary(st), "ConfigFiles": files}))
            .collect();
        println!("{}", Value::Array(rows));
        return Ok(());
    }
    let mut text = String::from("NAME\tSTATUS\tCONFIG FILES\n");
    for (n, (st, files)) in &projects {
        text.push_str(&format!("{n}\t{}\t{files}\n", summary(st)));
    }
    print!("{}", tabwrite_with(&text, 0));
    Ok(())
}

pub fn version(a: &VersionArgs) -> CliResult {
    let v = berth_compose::labels::COMPOSE_VERSION;
    if a.short {
        println!("{v}");
    } else if a.format == "json" {
        println!("{}", json!({"version": format!("v{v}")}));
    } else {
        println!(
            "Docker Compose version v{v} (berth {})",
            env!("CARGO_PKG_VERSION")
        );
    }
    Ok(())
}
