//! Container life-cycle commands that act on one or more names: stop, restart,
//! kill, pause, unpause, rm, rename, wait, top, update, container prune. Like
//! Docker, multi-target commands report each failure and exit 1 at the end.

use std::io::{self, Write};

use berth_client::api::Filters;
use berth_client::Client;
use serde_json::{Map, Value};

use crate::cli::{IdsArgs, KillArgs, PruneArgs, RenameArgs, RmArgs, StopArgs, TopArgs, UpdateArgs};
use crate::errors::{CliError, CliResult};
use crate::opts;
use crate::table::tabwrite_with;
use crate::units::human_size;

/// Runs `f` for each name, printing the name on success and the error otherwise.
fn each(names: &[String], mut f: impl FnMut(&str) -> berth_client::Result<()>) -> CliResult {
    let mut failed = false;
    for n in names {
        match f(n) {
            Ok(()) => println!("{n}"),
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

pub fn stop(c: &Client, a: &StopArgs, restart: bool) -> CliResult {
    each(&a.containers, |n| {
        if restart {
            c.container_restart(n, a.time, a.signal.as_deref())
        } else {
            c.container_stop(n, a.time, a.signal.as_deref())
        }
    })
}

pub fn kill(c: &Client, a: &KillArgs) -> CliResult {
    each(&a.containers, |n| c.container_kill(n, a.signal.as_deref()))
}

pub fn pause(c: &Client, a: &IdsArgs, pause: bool) -> CliResult {
    each(&a.containers, |n| {
        if pause {
            c.container_pause(n)
        } else {
            c.container_unpause(n)
        }
    })
}

pub fn rm(c: &Client, a: &RmArgs) -> CliResult {
    let mut failed = false;
    for n in &a.containers {
        let name = n.trim_start_matches('/');
        match c.container_remove(name, a.force, a.volumes, a.link) {
            Ok(()) => println!("{n}"),
            // `rm -f` of a missing container is not an error (Docker prints it, exits 0).
            Err(e) if a.force && e.is_not_found() => eprintln!("{e}"),
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

pub fn rename(c: &Client, a: &RenameArgs) -> CliResult {
    let old = a.container.trim();
    let new = a.new_name.trim();
    if old.is_empty() || new.is_empty() {
        return Err(CliError::msg(
            "Error: Neither old nor new names may be empty",
        ));
    }
    c.container_rename(old, new).map_err(|e| {
        eprintln!("{e}");
        CliError::msg(format!("Error: failed to rename container named {old}"))
    })
}

pub fn wait(c: &Client, a: &IdsArgs) -> CliResult {
    let mut failed = false;
    for n in &a.containers {
        match c.container_wait(n, None) {
            Ok(v) => println!("{}", v["StatusCode"].as_i64().unwrap_or(0)),
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

pub fn top(c: &Client, a: &TopArgs) -> CliResult {
    let name = &a.container_and_args[0];
    let args = a.container_and_args[1..].join(" ");
    let v = c.container_top(name, (!args.is_empty()).then_some(args.as_str()))?;
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
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        text.push_str(&cells.join("\t"));
        text.push('\n');
    }
    print!("{}", tabwrite_with(&text, 20));
    Ok(())
}

pub fn update(c: &Client, a: &UpdateArgs) -> CliResult {
    let mut body = Map::new();
    opts::resources(
        &mut body,
        a.memory.as_deref(),
        a.memory_swap.as_deref(),
        a.memory_reservation.as_deref(),
        a.cpu_shares,
        a.cpus.as_deref(),
        a.cpu_period,
        a.cpu_quota,
        a.cpuset_cpus.as_deref(),
        a.cpuset_mems.as_deref(),
        a.pids_limit,
        a.blkio_weight,
    )
    .map_err(|e| CliError::msg(e.0))?;
    if let Some(p) = a.cpu_rt_period {
        body.insert("CpuRealtimePeriod".into(), p.into());
    }
    if let Some(r) = a.cpu_rt_runtime {
        body.insert("CpuRealtimeRuntime".into(), r.into());
    }
    if let Some(r) = &a.restart {
        body.insert(
            "RestartPolicy".into(),
            opts::restart_policy(r).map_err(|e| CliError::msg(e.0))?,
        );
    }
    if body.is_empty() {
        return Err(CliError::msg(
            "you must provide one or more flags when using this command",
        ));
    }
    let body = Value::Object(body);
    let mut failed = false;
    for n in &a.containers {
        match c.container_update(n, &body) {
            Ok(v) => {
                for w in v["Warnings"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    eprintln!("{w}");
                }
                println!("{n}");
            }
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

pub fn prune(c: &Client, a: &PruneArgs) -> CliResult {
    let mut filters = Filters::new();
    for f in &a.filter {
        if filters.add_arg(f).is_none() {
            return Err(CliError::msg("bad format of filter (expected name=value)"));
        }
    }
    if !a.force && !crate::objects::confirm("WARNING! This will remove all stopped containers.") {
        return Ok(());
    }
    let v = c.containers_prune(&filters)?;
    crate::objects::print_deleted(&v, "ContainersDeleted", "Containers");
    println!(
        "Total reclaimed space: {}",
        human_size(v["SpaceReclaimed"].as_i64().unwrap_or(0))
    );
    Ok(())
}

/// `berth port CONTAINER [PRIVATE_PORT[/PROTO]]`.
pub fn port(c: &Client, a: &crate::cli::PortArgs) -> CliResult {
    let info = c.container_inspect(&a.container, false)?;
    let ports = info["NetworkSettings"]["Ports"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let host_port = |b: &Value| {
        let ip = b["HostIp"].as_str().unwrap_or("");
        let p = b["HostPort"].as_str().unwrap_or("");
        if ip.contains(':') {
            format!("[{ip}]:{p}")
        } else {
            format!("{ip}:{p}")
        }
    };
    if let Some(want) = &a.port {
        let key = if want.contains('/') {
            want.clone()
        } else {
            format!("{want}/tcp")
        };
        let bindings = ports
            .get(&key)
            .and_then(Value::as_array)
            .filter(|b| !b.is_empty());
        let Some(bindings) = bindings else {
            return Err(CliError::msg(format!(
                "Error: No public port '{want}' published for {}",
                a.container
            )));
        };
        for b in bindings {
            println!("{}", host_port(b));
        }
        return Ok(());
    }
    let mut keys: Vec<&String> = ports.keys().collect();
    // Numeric port order, then protocol, like Docker.
    keys.sort_by_key(|k| {
        let (p, proto) = k.split_once('/').unwrap_or((k, ""));
        (p.parse::<u32>().unwrap_or(0), proto.to_string())
    });
    for k in keys {
        for b in ports[k].as_array().into_iter().flatten() {
            println!("{k} -> {}", host_port(b));
        }
    }
    Ok(())
}

/// `berth commit CONTAINER [REPOSITORY[:TAG]]`.
pub fn commit(c: &Client, a: &crate::cli::CommitArgs) -> CliResult {
    let mut q = berth_client::Query::new()
        .add("container", &a.container)
        .opt("comment", a.message.as_deref())
        .opt("author", a.author.as_deref())
        .add("pause", if a.pause.unwrap_or(true) { "1" } else { "0" });
    if let Some(r) = &a.reference {
        crate::run::validate_ref(r).map_err(CliError::msg)?;
        let (repo, tag) = crate::run::split_ref(r);
        q = q.add("repo", repo).opt("tag", tag);
    }
    for ch in &a.change {
        q = q.add("changes", ch);
    }
    let v = c.post_json(
        &format!("/commit{}", q.to_suffix()),
        Some(&serde_json::json!({})),
    )?;
    println!("{}", v["Id"].as_str().unwrap_or(""));
    Ok(())
}

/// Streams a response body to `-o FILE` or stdout; like Docker, refuses to write an
/// archive to a terminal.
pub fn write_archive(mut resp: berth_client::Response, output: Option<&str>) -> CliResult {
    match output {
        Some(path) => {
            let mut f = std::fs::File::create(path)
                .map_err(|e| CliError::msg(format!("failed to save to {path}: {e}")))?;
            io::copy(&mut resp, &mut f)?;
        }
        None => {
            let mut out = io::stdout().lock();
            io::copy(&mut resp, &mut out)?;
            out.flush()?;
        }
    }
    Ok(())
}

fn refuse_terminal(output: Option<&str>) -> CliResult {
    use std::io::IsTerminal;
    if output.is_none() && io::stdout().is_terminal() {
        return Err(CliError::msg(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    Ok(())
}

/// `berth export CONTAINER`.
pub fn export(c: &Client, a: &crate::cli::ExportArgs) -> CliResult {
    refuse_terminal(a.output.as_deref())?;
    let resp = c.request(
        "GET",
        &format!("/containers/{}/export", a.container),
        &[],
        berth_client::Body::Empty,
    )?;
    write_archive(resp, a.output.as_deref())
}

/// `berth save IMAGE...`.
pub fn save(c: &Client, a: &crate::cli::SaveArgs) -> CliResult {
    refuse_terminal(a.output.as_deref())?;
    let mut q = berth_client::Query::new();
    for i in &a.images {
        q = q.add("names", i);
    }
    let resp = c.request(
        "GET",
        &format!("/images/get{}", q.to_suffix()),
        &[],
        berth_client::Body::Empty,
    )?;
    write_archive(resp, a.output.as_deref())
}

/// `berth diff CONTAINER`: `C`/`A`/`D` lines from the changes endpoint.
pub fn diff(c: &Client, a: &crate::cli::DiffArgs) -> CliResult {
    let v = c.get_json(&format!("/containers/{}/changes", a.container))?;
    for ch in v.as_array().into_iter().flatten() {
        let kind = match ch["Kind"].as_i64() {
            Some(0) => "C",
            Some(1) => "A",
            Some(2) => "D",
            _ => "?",
        };
        println!("{kind} {}", ch["Path"].as_str().unwrap_or(""));
    }
    Ok(())
}
