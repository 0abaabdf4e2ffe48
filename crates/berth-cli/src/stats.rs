//! `berth stats`: CPU/memory/network/block-I/O/pids per container, computed from
//! the Engine API stats documents the way Docker's CLI does. `--no-stream` prints
//! one table; otherwise one reader thread per container keeps the latest sample
//! and the table is redrawn every second.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use berth_client::api::Filters;
use berth_client::{Client, JsonLines, Query};
use serde_json::{json, Map, Value};

use crate::cli::StatsArgs;
use crate::errors::{CliError, CliResult};
use crate::ps::truncate_id;
use crate::table::{self, Format, HeaderHooks, RowHooks};
use crate::units::{bytes_size, human_size};

pub const DEFAULT_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

fn headers() -> Map<String, Value> {
    table::headers(&[
        ("Container", "CONTAINER"),
        ("ID", "CONTAINER ID"),
        ("Name", "NAME"),
        ("CPUPerc", "CPU %"),
        ("MemUsage", "MEM USAGE / LIMIT"),
        ("MemPerc", "MEM %"),
        ("NetIO", "NET I/O"),
        ("BlockIO", "BLOCK I/O"),
        ("PIDs", "PIDS"),
    ])
}

fn u(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// Docker's CPU percentage from a sample and its `precpu_stats`.
pub fn cpu_percent(s: &Value) -> f64 {
    let cpu = &s["cpu_stats"];
    let pre = &s["precpu_stats"];
    let cpu_delta = u(&cpu["cpu_usage"]["total_usage"]) - u(&pre["cpu_usage"]["total_usage"]);
    let sys_delta = u(&cpu["system_cpu_usage"]) - u(&pre["system_cpu_usage"]);
    let mut online = u(&cpu["online_cpus"]);
    if online == 0.0 {
        online = cpu["cpu_usage"]["percpu_usage"]
            .as_array()
            .map(|a| a.len() as f64)
            .unwrap_or(0.0);
    }
    if sys_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / sys_delta * online * 100.0
    } else {
        0.0
    }
}

/// Memory in use without the page cache (cgroup v1 `total_inactive_file`, v2 `inactive_file`).
pub fn mem_used(s: &Value) -> f64 {
    let m = &s["memory_stats"];
    let usage = u(&m["usage"]);
    if let Some(v) = m["stats"]["total_inactive_file"].as_f64() {
        if v < usage {
            return usage - v;
        }
    }
    if let Some(v) = m["stats"]["inactive_file"].as_f64() {
        if v < usage {
            return usage - v;
        }
    }
    usage
}

/// One stats sample → Docker's formatter row.
pub fn row(container: &str, s: &Value, trunc: bool) -> Value {
    let id = s["id"].as_str().unwrap_or("");
    let name = s["name"].as_str().unwrap_or("").trim_start_matches('/');
    let used = mem_used(s);
    let limit = u(&s["memory_stats"]["limit"]);
    let mem_perc = if limit > 0.0 {
        used / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    if let Some(nets) = s["networks"].as_object() {
        for n in nets.values() {
            rx += u(&n["rx_bytes"]);
            tx += u(&n["tx_bytes"]);
        }
    }
    let (mut read, mut write) = (0.0, 0.0);
    for e in s["blkio_stats"]["io_service_bytes_recursive"]
        .as_array()
        .into_iter()
        .flatten()
    {
        match e["op"].as_str().map(str::to_lowercase).as_deref() {
            Some("read") => read += u(&e["value"]),
            Some("write") => write += u(&e["value"]),
            _ => {}
        }
    }
    let pids = s["pids_stats"]["current"].as_u64().unwrap_or(0);
    json!({
        "BlockIO": format!("{} / {}", human_size(read as i64), human_size(write as i64)),
        "CPUPerc": format!("{:.2}%", cpu_percent(s)),
        "Container": container,
        "ID": if trunc { truncate_id(id) } else { id.to_string() },
        "MemPerc": format!("{mem_perc:.2}%"),
        "MemUsage": format!("{} / {}", bytes_size(used), bytes_size(limit)),
        "Name": name,
        "NetIO": format!("{} / {}", human_size(rx as i64), human_size(tx as i64)),
        "PIDs": pids.to_string(),
    })
}

fn render(format: &Format, rows: &[Value]) -> Result<String, CliError> {
    let rows: Vec<(Value, Box<dyn berth_gotmpl::Hooks>)> = rows
        .iter()
        .map(|r| {
            let h: Box<dyn berth_gotmpl::Hooks> = Box::new(RowHooks {
                labels: None,
                type_name: "*formatter.statsContext",
            });
            (r.clone(), h)
        })
        .collect();
    table::render(table::PS_ERRORS, format, &headers(), &HeaderHooks, &rows)
}

pub fn stats(c: &Client, a: &StatsArgs) -> CliResult {
    let names: Vec<String> = if a.containers.is_empty() {
        let list = c.containers_list(a.all, None, false, &Filters::new())?;
        list.as_array()
            .into_iter()
            .flatten()
            .filter_map(|ct| ct["Id"].as_str().map(String::from))
            .collect()
    } else {
        a.containers.clone()
    };
    let format = Format::resolve(a.format.as_deref(), DEFAULT_TABLE);
    if a.no_stream {
        let mut rows = Vec::new();
        let mut failed = false;
        for n in &names {
            let q = Query::new().add("stream", "0");
            match c.get_json(&format!("/containers/{n}/stats{}", q.to_suffix())) {
                Ok(s) => rows.push(row(n, &s, !a.no_trunc)),
                Err(e) => {
                    eprintln!("{e}");
                    failed = true;
                }
            }
        }
        print!("{}", render(&format, &rows)?);
        return if failed {
            Err(CliError::exit(1))
        } else {
            Ok(())
        };
    }
    // Named containers must exist before the screen takes over.
    if !a.containers.is_empty() {
        for n in &names {
            c.container_inspect(n, false)?;
        }
    }
    let latest: Arc<Mutex<BTreeMap<usize, Value>>> = Arc::new(Mutex::new(BTreeMap::new()));
    for (i, n) in names.iter().enumerate() {
        let c = c.clone();
        let n = n.clone();
        let latest = Arc::clone(&latest);
        let trunc = !a.no_trunc;
        thread::spawn(move || {
            let q = Query::new().add("stream", "1");
            let path = format!("/containers/{n}/stats{}", q.to_suffix());
            let Ok(resp) = c.request("GET", &path, &[], berth_client::Body::Empty) else {
                return;
            };
            for s in JsonLines::new(resp).map_while(Result::ok) {
                if let Ok(mut m) = latest.lock() {
                    m.insert(i, row(&n, &s, trunc));
                }
            }
        });
    }
    let mut out = std::io::stdout();
    loop {
        thread::sleep(Duration::from_millis(500));
        let rows: Vec<Value> = {
            let m = latest.lock().map(|m| m.clone()).unwrap_or_default();
            names
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    m.get(&i)
                        .cloned()
                        .unwrap_or_else(|| placeholder(n, !a.no_trunc))
                })
                .collect()
        };
        // Redraw in place like Docker: home the cursor, erase each line's tail and
        // whatever is left below the table.
        let text = render(&format, &rows)?;
        let mut frame = String::from("\x1b[H");
        for line in text.split('\n') {
            frame.push_str(line);
            frame.push_str(" \x1b[K\n");
        }
        frame.push_str("\x1b[J");
        use std::io::Write;
        if out
            .write_all(frame.as_bytes())
            .and_then(|_| out.flush())
            .is_err()
        {
            return Ok(());
        }
    }
}

/// A row for a container whose first sample has not arrived yet.
fn placeholder(name: &str, trunc: bool) -> Value {
    let id = if trunc {
        truncate_id(name)
    } else {
        name.to_string()
    };
    json!({
        "BlockIO": "--", "CPUPerc": "--", "Container": name, "ID": id,
        "MemPerc": "--", "MemUsage": "-- / --", "Name": "--", "NetIO": "--", "PIDs": "--",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_row_like_docker() {
        let s = json!({
            "id": "32312f041a6cf368dde045fc542b796f", "name": "/pp",
            "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
            "memory_stats": {"usage": 1_048_576 + 512 * 1024, "limit": 25_275_000_000u64, "stats": {"total_inactive_file": 1_048_576}},
            "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 0}},
            "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 4096}, {"op": "Write", "value": 0}]},
            "pids_stats": {"current": 3}
        });
        let r = row("pp", &s, true);
        assert_eq!(r["CPUPerc"], "40.00%");
        assert_eq!(r["MemUsage"], "512KiB / 23.54GiB");
        assert_eq!(r["MemPerc"], "0.00%");
        assert_eq!(r["NetIO"], "1.5kB / 0B");
        assert_eq!(r["BlockIO"], "4.1kB / 0B");
        assert_eq!(r["PIDs"], "3");
        assert_eq!(r["Name"], "pp");
        assert_eq!(r["ID"], "32312f041a6c");
    }

    /// A sample as a cgroup v2 host gives it: `inactive_file` (not `total_`), lowercase
    /// block I/O ops, no per-CPU list.
    #[test]
    fn stats_row_from_a_cgroup_v2_sample() {
        let s = json!({
            "id": "aabbccddeeff00112233", "name": "/v2",
            "cpu_stats": {"cpu_usage": {"total_usage": 1_500_000_000u64}, "system_cpu_usage": 40_000_000_000u64, "online_cpus": 4},
            "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000_000u64}, "system_cpu_usage": 36_000_000_000u64},
            "memory_stats": {"usage": 9_437_184, "limit": 67_108_864, "stats": {"inactive_file": 4_194_304, "anon": 4_194_304}},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "read", "value": 8192},
                {"major": 8, "minor": 0, "op": "write", "value": 4096}]},
            "pids_stats": {"current": 2}
        });
        let r = row("v2", &s, true);
        // 0.5 s of 4 s of all CPUs, times 4 CPUs.
        assert_eq!(r["CPUPerc"], "50.00%");
        assert_eq!(r["MemUsage"], "5MiB / 64MiB");
        assert_eq!(r["MemPerc"], "7.81%");
        assert_eq!(r["BlockIO"], "8.19kB / 4.1kB");
        assert_eq!(r["NetIO"], "0B / 0B");
        assert_eq!(r["PIDs"], "2");
    }
}
