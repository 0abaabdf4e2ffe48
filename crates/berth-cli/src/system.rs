//! `version` and `info`: Docker-style text, or a `--format` template over the
//! same data (`{{.Client.Version}}`, `{{.Server.Version}}`, `{{json .}}`).

use berth_client::Client;
use serde_json::{json, Value};

use crate::cli::{InfoArgs, VersionArgs};
use crate::errors::{CliError, CliResult};
use crate::table::parse_template;
use crate::units::bytes_size;

/// Build identifier shown by `--version` (set BERTH_GIT_COMMIT at build time).
pub const GIT_COMMIT: &str = match option_env!("BERTH_GIT_COMMIT") {
    Some(c) => c,
    None => "unknown",
};

fn client_info(c: &Client, server_api: Option<&str>) -> Value {
    let max = berth_client::MAX_API_VERSION;
    let api = match server_api {
        Some(v) if v != max => {
            let neg = berth_client::negotiate(Some(v));
            if neg != max {
                format!("{neg} (downgraded from {max})")
            } else {
                neg
            }
        }
        _ => max.to_string(),
    };
    let _ = c;
    json!({
        "Platform": {"Name": ""},
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": api,
        "DefaultAPIVersion": max,
        "GitCommit": GIT_COMMIT,
        "GoVersion": "",
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
        "BuildTime": "",
        "Context": "default",
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// One `Key: value` line with the value at column 20, as Docker aligns them.
fn kv(out: &mut String, indent: &str, key: &str, val: &str) {
    let label = format!("{key}:");
    let width = 20usize.saturating_sub(indent.len());
    out.push_str(&format!("{indent}{label:<width$}{val}\n"));
}

/// RFC 3339 → Go's ANSIC layout ("Thu May  7 21:09:36 2026"); other text unchanged.
fn ansic(ts: &str) -> String {
    let Some(t) = berth_types::time::parse_rfc3339(ts) else {
        return ts.to_string();
    };
    let Ok(d) = t.duration_since(std::time::UNIX_EPOCH) else {
        return ts.to_string();
    };
    let secs = d.as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    // Back to the civil date through the RFC 3339 text itself (YYYY-MM-DD).
    let rfc = berth_types::time::rfc3339_nano(t);
    let (y, m, dd) = (&rfc[0..4], &rfc[5..7], &rfc[8..10]);
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = m
        .parse::<usize>()
        .ok()
        .and_then(|m| months.get(m.wrapping_sub(1)))
        .copied()
        .unwrap_or("Jan");
    let day: u32 = dd.parse().unwrap_or(1);
    format!(
        "{weekday} {month} {day:>2} {:02}:{:02}:{:02} {y}",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

/// Templates address Docker's Go struct fields, whose names differ from the JSON keys
/// in one place: `APIVersion` is serialized as `ApiVersion`.
struct VersionHooks;

impl berth_gotmpl::Hooks for VersionHooks {
    fn has_method(&self, name: &str) -> bool {
        name == "APIVersion"
    }

    fn method(&self, recv: &Value, name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        (name == "APIVersion").then(|| Ok(recv.get("ApiVersion").cloned().unwrap_or(Value::Null)))
    }
}

pub fn version(c: &Client, a: &VersionArgs) -> CliResult {
    let server = c.version();
    let server_api = server
        .as_ref()
        .ok()
        .and_then(|v| v["ApiVersion"].as_str().map(String::from));
    let client = client_info(c, server_api.as_deref());
    if let Some(f) = &a.format {
        let t = parse_template(&f.replace("\\t", "\t").replace("\\n", "\n"), &VersionHooks)?;
        let data = json!({"Client": client, "Server": server.as_ref().ok().cloned().unwrap_or(Value::Null)});
        let out = t
            .execute_with(&data, &VersionHooks)
            .map_err(|e| CliError::msg(format!("template: {e}")))?;
        println!("{out}");
        return server.map(|_| ()).map_err(Into::into);
    }
    let mut out = String::from("Client:\n");
    kv(
        &mut out,
        " ",
        "Version",
        client["Version"].as_str().unwrap_or(""),
    );
    kv(
        &mut out,
        " ",
        "API version",
        client["ApiVersion"].as_str().unwrap_or(""),
    );
    kv(&mut out, " ", "Git commit", GIT_COMMIT);
    kv(
        &mut out,
        " ",
        "OS/Arch",
        &format!("{}/{}", std::env::consts::OS, go_arch()),
    );
    kv(&mut out, " ", "Context", "default");
    let s = match server {
        Ok(s) => s,
        Err(e) => {
            print!("{out}");
            return Err(e.into());
        }
    };
    out.push_str("\nServer:");
    if let Some(p) = s["Platform"]["Name"].as_str().filter(|p| !p.is_empty()) {
        out.push_str(&format!(" {p}"));
    }
    out.push('\n');
    out.push_str(" Engine:\n");
    let sv = |k: &str| s[k].as_str().unwrap_or("").to_string();
    kv(&mut out, "  ", "Version", &sv("Version"));
    kv(
        &mut out,
        "  ",
        "API version",
        &format!(
            "{} (minimum version {})",
            sv("ApiVersion"),
            sv("MinAPIVersion")
        ),
    );
    if !sv("GoVersion").is_empty() {
        kv(&mut out, "  ", "Go version", &sv("GoVersion"));
    }
    kv(&mut out, "  ", "Git commit", &sv("GitCommit"));
    kv(&mut out, "  ", "Built", &ansic(&sv("BuildTime")));
    kv(
        &mut out,
        "  ",
        "OS/Arch",
        &format!("{}/{}", sv("Os"), sv("Arch")),
    );
    kv(
        &mut out,
        "  ",
        "Experimental",
        &s["Experimental"].as_bool().unwrap_or(false).to_string(),
    );
    for comp in s["Components"].as_array().into_iter().flatten() {
        let name = comp["Name"].as_str().unwrap_or("");
        if name == "Engine" {
            continue;
        }
        out.push_str(&format!(" {name}:\n"));
        kv(
            &mut out,
            "  ",
            "Version",
            comp["Version"].as_str().unwrap_or(""),
        );
        if let Some(d) = comp["Details"].as_object() {
            for (k, v) in d {
                kv(&mut out, "  ", k, v.as_str().unwrap_or(""));
            }
        }
    }
    print!("{out}");
    Ok(())
}

pub fn info(c: &Client, a: &InfoArgs) -> CliResult {
    if let Some(f) = &a.format {
        let t = parse_template(&f.replace("\\t", "\t").replace("\\n", "\n"), &VersionHooks)?;
        let data = c.info()?;
        let out = t
            .execute_with(&data, &VersionHooks)
            .map_err(|e| CliError::msg(format!("template: {e}")))?;
        println!("{out}");
        return Ok(());
    }
    let mut out = String::from("Client:\n");
    out.push_str(&format!(" Version:    {}\n", env!("CARGO_PKG_VERSION")));
    out.push_str(" Context:    default\n");
    out.push_str(" Debug Mode: false\n\nServer:\n");
    let i = match c.info() {
        Ok(i) => i,
        Err(e) => {
            print!("{out}");
            return Err(e.into());
        }
    };
    let s = |k: &str| match &i[k] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    };
    let mut line = |indent: &str, k: &str, v: String| out.push_str(&format!("{indent}{k}: {v}\n"));
    line(" ", "Containers", s("Containers"));
    line("  ", "Running", s("ContainersRunning"));
    line("  ", "Paused", s("ContainersPaused"));
    line("  ", "Stopped", s("ContainersStopped"));
    line(" ", "Images", s("Images"));
    line(" ", "Server Version", s("ServerVersion"));
    line(" ", "Storage Driver", s("Driver"));
    for pair in i["DriverStatus"].as_array().into_iter().flatten() {
        if let Some([k, v]) = pair.as_array().map(|p| p.as_slice()) {
            line(
                "  ",
                k.as_str().unwrap_or(""),
                v.as_str().unwrap_or("").to_string(),
            );
        }
    }
    line(" ", "Logging Driver", s("LoggingDriver"));
    line(" ", "Cgroup Driver", s("CgroupDriver"));
    line(" ", "Cgroup Version", s("CgroupVersion"));
    out.push_str(" Plugins:\n");
    for (k, label) in [("Volume", "Volume"), ("Network", "Network"), ("Log", "Log")] {
        let list: Vec<&str> = i["Plugins"][k]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        out.push_str(&format!("  {label}: {}\n", list.join(" ")));
    }
    let mut line = |indent: &str, k: &str, v: String| out.push_str(&format!("{indent}{k}: {v}\n"));
    let runtimes: Vec<String> = i["Runtimes"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    if !runtimes.is_empty() {
        line(" ", "Runtimes", runtimes.join(" "));
    }
    line(" ", "Default Runtime", s("DefaultRuntime"));
    let secopts: Vec<&str> = i["SecurityOptions"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !secopts.is_empty() {
        out.push_str(" Security Options:\n");
        for so in secopts {
            let mut name = "";
            let mut rest = Vec::new();
            for kv in so.split(',') {
                match kv.split_once('=') {
                    Some(("name", n)) => name = n,
                    Some((k, v)) => rest.push((k, v)),
                    None => {}
                }
            }
            out.push_str(&format!("  {name}\n"));
            for (k, v) in rest {
                let mut k = k.to_string();
                if let Some(f) = k.get_mut(0..1) {
                    f.make_ascii_uppercase();
                }
                out.push_str(&format!("   {k}: {v}\n"));
            }
        }
    }
    let mut line = |indent: &str, k: &str, v: String| out.push_str(&format!("{indent}{k}: {v}\n"));
    line(" ", "Kernel Version", s("KernelVersion"));
    line(" ", "Operating System", s("OperatingSystem"));
    line(" ", "OSType", s("OSType"));
    line(" ", "Architecture", s("Architecture"));
    line(" ", "CPUs", s("NCPU"));
    line(
        " ",
        "Total Memory",
        bytes_size(i["MemTotal"].as_f64().unwrap_or(0.0)),
    );
    line(" ", "Name", s("Name"));
    line(" ", "ID", s("ID"));
    line(" ", "Docker Root Dir", s("DockerRootDir"));
    line(" ", "Debug Mode", s("Debug"));
    line(" ", "Experimental", s("ExperimentalBuild"));
    line(" ", "Live Restore Enabled", s("LiveRestoreEnabled"));
    print!("{out}");
    for w in i["Warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        eprintln!("{w}");
    }
    Ok(())
}

/// `berth system df`: Docker's summary table of images, containers, volumes and
/// build cache with reclaimable space.
pub fn df(c: &Client, a: &crate::cli::DfArgs) -> CliResult {
    let d = c.get_json("/system/df")?;
    if a.verbose && a.format.is_none() {
        return crate::volume::df_verbose(&d);
    }
    let arr = |k: &str| d[k].as_array().cloned().unwrap_or_default();
    let hs = |n: i64| crate::units::human_size_prec(n as f64, 4);
    let with_pct = |reclaim: i64, total: i64| {
        if total > 0 {
            format!("{} ({}%)", hs(reclaim), reclaim * 100 / total)
        } else {
            hs(reclaim)
        }
    };
    let images = arr("Images");
    let layers = d["LayersSize"].as_i64().unwrap_or(0);
    let mut used = 0;
    for i in &images {
        if i["Containers"].as_i64().unwrap_or(0) != 0 {
            let (v, s) = (
                i["Size"].as_i64().unwrap_or(-1),
                i["SharedSize"].as_i64().unwrap_or(-1),
            );
            if v != -1 && s != -1 {
                used += v - s;
            }
        }
    }
    let containers = arr("Containers");
    let active = |c: &Value| {
        matches!(
            c["State"].as_str(),
            Some("running" | "paused" | "restarting")
        )
    };
    let c_total: i64 = containers
        .iter()
        .map(|c| c["SizeRw"].as_i64().unwrap_or(0))
        .sum();
    let c_reclaim: i64 = containers
        .iter()
        .filter(|c| !active(c))
        .map(|c| c["SizeRw"].as_i64().unwrap_or(0))
        .sum();
    let volumes = arr("Volumes");
    let vsize = |v: &Value| {
        v["UsageData"]["Size"]
            .as_i64()
            .filter(|&s| s != -1)
            .unwrap_or(0)
    };
    let v_total: i64 = volumes.iter().map(vsize).sum();
    let v_reclaim: i64 = volumes
        .iter()
        .filter(|v| v["UsageData"]["RefCount"].as_i64().unwrap_or(0) == 0)
        .map(vsize)
        .sum();
    let cache = arr("BuildCache");
    let b_total: i64 = cache.iter().map(|b| b["Size"].as_i64().unwrap_or(0)).sum();
    let b_reclaim: i64 = cache
        .iter()
        .filter(|b| {
            !b["InUse"].as_bool().unwrap_or(false) && !b["Shared"].as_bool().unwrap_or(false)
        })
        .map(|b| b["Size"].as_i64().unwrap_or(0))
        .sum();
    let rows = vec![
        json!({"Type": "Images", "TotalCount": images.len().to_string(),
               "Active": images.iter().filter(|i| i["Containers"].as_i64().unwrap_or(0) > 0).count().to_string(),
               "Size": hs(layers), "Reclaimable": with_pct(layers - used, layers)}),
        json!({"Type": "Containers", "TotalCount": containers.len().to_string(),
               "Active": containers.iter().filter(|c| active(c)).count().to_string(),
               "Size": hs(c_total), "Reclaimable": with_pct(c_reclaim, c_total)}),
        json!({"Type": "Local Volumes", "TotalCount": volumes.len().to_string(),
               "Active": volumes.iter().filter(|v| v["UsageData"]["RefCount"].as_i64().unwrap_or(0) > 0).count().to_string(),
               "Size": hs(v_total), "Reclaimable": with_pct(v_reclaim, v_total)}),
        json!({"Type": "Build Cache", "TotalCount": cache.len().to_string(),
               "Active": cache.iter().filter(|b| b["InUse"].as_bool().unwrap_or(false)).count().to_string(),
               "Size": hs(b_total), "Reclaimable": hs(b_reclaim)}),
    ];
    let format = crate::table::Format::resolve(
        a.format.as_deref(),
        "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
    );
    let heads = crate::table::headers(&[
        ("Type", "TYPE"),
        ("TotalCount", "TOTAL"),
        ("Active", "ACTIVE"),
        ("Size", "SIZE"),
        ("Reclaimable", "RECLAIMABLE"),
    ]);
    let rows: Vec<(Value, Box<dyn berth_gotmpl::Hooks>)> = rows
        .into_iter()
        .map(|r| {
            let h: Box<dyn berth_gotmpl::Hooks> = Box::new(crate::table::RowHooks {
                labels: None,
                type_name: "*formatter.diskUsageContext",
            });
            (r, h)
        })
        .collect();
    print!(
        "{}",
        crate::table::render(
            crate::table::IMAGES_ERRORS,
            &format,
            &heads,
            &crate::table::HeaderHooks,
            &rows
        )?
    );
    Ok(())
}

/// `berth system prune`: stopped containers, unused networks, (anonymous volumes,)
/// dangling (or all unused) images; prints each section and the total reclaimed.
pub fn prune(c: &Client, a: &crate::cli::SystemPruneArgs) -> CliResult {
    use berth_client::api::Filters;
    let mut f = Filters::new();
    for x in &a.filter {
        f.add_arg(x)
            .ok_or_else(|| CliError::msg("bad format of filter (expected name=value)"))?;
    }
    if !a.force {
        let mut w = String::from("WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n");
        if a.volumes {
            w.push_str("  - all anonymous volumes not used by at least one container\n");
        }
        if a.all {
            w.push_str("  - all images without at least one container associated to them\n");
        } else {
            w.push_str("  - all dangling images\n");
        }
        w.push_str("  - unused build cache\n");
        if !crate::objects::confirm(&w) {
            return Ok(());
        }
    }
    let q = |f: &Filters| {
        if f.is_empty() {
            String::new()
        } else {
            berth_client::Query::new()
                .add("filters", f.to_json())
                .to_suffix()
        }
    };
    let mut total: i64 = 0;
    let v = c.post_json(&format!("/containers/prune{}", q(&f)), None)?;
    let list = |v: &Value, k: &str| -> Vec<String> {
        v[k].as_array()
            .map(|d| {
                d.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    };
    let deleted = list(&v, "ContainersDeleted");
    total += v["SpaceReclaimed"].as_i64().unwrap_or(0);
    if !deleted.is_empty() {
        println!("Deleted Containers:\n{}\n", deleted.join("\n"));
    }
    let v = c.post_json(&format!("/networks/prune{}", q(&f)), None)?;
    let deleted = list(&v, "NetworksDeleted");
    if !deleted.is_empty() {
        println!("Deleted Networks:\n{}\n", deleted.join("\n"));
    }
    if a.volumes {
        let v = c.post_json(&format!("/volumes/prune{}", q(&f)), None)?;
        let deleted = list(&v, "VolumesDeleted");
        total += v["SpaceReclaimed"].as_i64().unwrap_or(0);
        if !deleted.is_empty() {
            println!("Deleted Volumes:\n{}\n", deleted.join("\n"));
        }
    }
    let mut fi = f.clone();
    fi.add("dangling", if a.all { "false" } else { "true" });
    let (text, space) = crate::images::prune_images(c, &fi)?;
    print!("{text}");
    total += space;
    println!("Total reclaimed space: {}", crate::units::human_size(total));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_time_like_go_ansic() {
        assert_eq!(
            ansic("2026-05-07T21:09:36.000000000+00:00"),
            "Thu May  7 21:09:36 2026"
        );
        assert_eq!(ansic("not a time"), "not a time");
        let mut s = String::new();
        kv(&mut s, " ", "Version", "1");
        kv(&mut s, "  ", "Version", "2");
        assert_eq!(s, " Version:           1\n  Version:          2\n");
    }
}
