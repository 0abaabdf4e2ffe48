//! Prometheus metrics of the containers (`/metrics` on berthd's `--metrics-addr`),
//! in the text exposition format (version 0.0.4) with cAdvisor's series names, so
//! dashboards made for cAdvisor work unchanged.
//!
//! Every series is labelled `id` (full container id), `name` (without `/`) and `image`
//! (as given at create). Running containers get their cgroup figures (CPU, memory,
//! block I/O, processes) and network counters of their network namespace
//! (`/proc/<pid>/net/dev`, loopback left out as cAdvisor does); every container gets
//! its state, restart count and health. Families are written whole, one after the
//! other, each with its `# HELP` and `# TYPE` lines, as the format requires.

use crate::record::ContainerRecord;
use crate::Engine;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Counters of one interface from `/proc/<pid>/net/dev`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetDev {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// Parse `/proc/net/dev` text: interface → counters, loopback excluded.
pub fn parse_net_dev(text: &str) -> BTreeMap<String, NetDev> {
    let mut out = BTreeMap::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let v: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if v.len() < 12 {
            continue;
        }
        out.insert(
            name.to_string(),
            NetDev {
                rx_bytes: v[0],
                rx_packets: v[1],
                rx_errors: v[2],
                rx_dropped: v[3],
                tx_bytes: v[8],
                tx_packets: v[9],
                tx_errors: v[10],
                tx_dropped: v[11],
            },
        );
    }
    out
}

/// Network counters of the namespace of process `pid` (empty when it is gone).
pub fn net_dev_of(pid: i64) -> BTreeMap<String, NetDev> {
    if pid <= 0 {
        return BTreeMap::new();
    }
    std::fs::read_to_string(format!("/proc/{pid}/net/dev"))
        .map(|t| parse_net_dev(&t))
        .unwrap_or_default()
}

/// Escape a label value (`\`, `"`, newline).
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One sample: its extra labels and value.
type Sample = (Vec<(&'static str, String)>, f64);
/// A family: its type, help text, and samples with their container's base labels.
type Family = (&'static str, &'static str, Vec<(String, Sample)>);

/// Series being gathered, by family, in first-seen order.
#[derive(Default)]
struct Families {
    order: Vec<&'static str>,
    fams: BTreeMap<&'static str, Family>,
}

impl Families {
    /// Add a sample of family `name` for the container whose base labels are `base`.
    fn add(
        &mut self,
        name: &'static str,
        kind: &'static str,
        help: &'static str,
        base: &str,
        extra: Vec<(&'static str, String)>,
        value: f64,
    ) {
        let e = self.fams.entry(name).or_insert_with(|| {
            self.order.push(name);
            (kind, help, Vec::new())
        });
        e.2.push((base.to_string(), (extra, value)));
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for name in &self.order {
            let (kind, help, samples) = &self.fams[name];
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (base, (extra, value)) in samples {
                let mut labels = base.clone();
                for (k, v) in extra {
                    let _ = write!(labels, ",{k}=\"{}\"", esc(v));
                }
                let _ = writeln!(out, "{name}{{{labels}}} {}", fmt_value(*value));
            }
        }
        out
    }
}

fn fmt_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

const NS: f64 = 1e9;

impl Engine {
    /// The `/metrics` page. Reads cgroup and proc files: call it off the async threads.
    pub fn metrics_text(&self) -> String {
        let mut f = Families::default();
        let mut states: BTreeMap<&'static str, u64> =
            [("running", 0), ("paused", 0), ("stopped", 0)].into();
        let mut recs: Vec<ContainerRecord> = self.all().iter().map(|c| c.snapshot()).collect();
        recs.sort_by(|a, b| a.name.cmp(&b.name));
        for rec in &recs {
            let state = if rec.state.paused {
                "paused"
            } else if rec.state.running {
                "running"
            } else {
                "stopped"
            };
            *states.entry(state).or_default() += 1;
            self.container_metrics(&mut f, rec);
        }
        for (state, n) in states {
            f.add(
                "engine_daemon_container_states_containers",
                "gauge",
                "The count of containers in various states",
                &format!("state=\"{state}\""),
                vec![],
                n as f64,
            );
        }
        f.render()
    }

    fn container_metrics(&self, f: &mut Families, rec: &ContainerRecord) {
        let base = format!(
            "id=\"{}\",name=\"{}\",image=\"{}\"",
            esc(&rec.id),
            esc(rec.bare_name()),
            esc(&rec.config.image)
        );
        let running = rec.state.running;
        f.add(
            "container_running",
            "gauge",
            "1 when the container is running (or paused), else 0.",
            &base,
            vec![],
            if running { 1.0 } else { 0.0 },
        );
        f.add(
            "container_restarts_total",
            "counter",
            "Times the container was restarted by its restart policy.",
            &base,
            vec![],
            rec.restart_count as f64,
        );
        if let Some(t) = berth_types::time::parse_rfc3339(&rec.state.started_at)
            .filter(|_| running)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        {
            f.add(
                "container_start_time_seconds",
                "gauge",
                "Start time of the container since unix epoch in seconds.",
                &base,
                vec![],
                t.as_secs_f64(),
            );
        }
        if let Some(h) = &rec.state.health {
            for s in ["starting", "healthy", "unhealthy"] {
                f.add(
                    "container_health_status",
                    "gauge",
                    "Health of the container: 1 for its current status, 0 for the others.",
                    &base,
                    vec![("status", s.to_string())],
                    if h.status == s { 1.0 } else { 0.0 },
                );
            }
            f.add(
                "container_health_failing_streak",
                "gauge",
                "Consecutive failed health probes.",
                &base,
                vec![],
                h.failing_streak as f64,
            );
        }
        if !running {
            return;
        }
        let stats = self
            .cgroups
            .as_ref()
            .and_then(|h| berth_cgroups::Cgroup::open(h, &self.cgroup_rel(rec)).ok())
            .and_then(|cg| cg.stats().ok());
        if let Some(s) = stats {
            let cpu = [
                (
                    "container_cpu_usage_seconds_total",
                    "Cumulative cpu time consumed in seconds.",
                    s.cpu.total_ns,
                ),
                (
                    "container_cpu_user_seconds_total",
                    "Cumulative user cpu time consumed in seconds.",
                    s.cpu.user_ns,
                ),
                (
                    "container_cpu_system_seconds_total",
                    "Cumulative system cpu time consumed in seconds.",
                    s.cpu.system_ns,
                ),
            ];
            for (name, help, ns) in cpu {
                f.add(name, "counter", help, &base, vec![], ns as f64 / NS);
            }
            f.add(
                "container_cpu_cfs_throttled_periods_total",
                "counter",
                "Number of throttled period intervals.",
                &base,
                vec![],
                s.cpu.nr_throttled as f64,
            );
            let inactive = s
                .memory
                .stat
                .get("total_inactive_file")
                .or_else(|| s.memory.stat.get("inactive_file"))
                .copied()
                .unwrap_or(0);
            let mem = [
                (
                    "container_memory_usage_bytes",
                    "Current memory usage in bytes, including all memory regardless of when it was accessed",
                    s.memory.usage,
                ),
                (
                    "container_memory_working_set_bytes",
                    "Current working set in bytes.",
                    s.memory.usage.saturating_sub(inactive),
                ),
                (
                    "container_memory_cache",
                    "Number of bytes of page cache memory.",
                    s.memory.cache,
                ),
                (
                    "container_memory_max_usage_bytes",
                    "Maximum memory usage recorded in bytes",
                    s.memory.max_usage,
                ),
            ];
            for (name, help, v) in mem {
                f.add(name, "gauge", help, &base, vec![], v as f64);
            }
            f.add(
                "container_memory_failcnt",
                "counter",
                "Number of memory usage hits limits",
                &base,
                vec![],
                s.memory.failcnt as f64,
            );
            f.add(
                "container_spec_memory_limit_bytes",
                "gauge",
                "Memory limit for the container (0: none).",
                &base,
                vec![],
                s.memory.limit.unwrap_or(0) as f64,
            );
            f.add(
                "container_processes",
                "gauge",
                "Number of processes running inside the container.",
                &base,
                vec![],
                s.pids.current as f64,
            );
            // Block I/O per device: bytes and operations, read and write.
            let mut per_dev: BTreeMap<(u64, u64), [u64; 4]> = BTreeMap::new();
            for (list, off) in [(&s.blkio.io_service_bytes, 0), (&s.blkio.io_serviced, 2)] {
                for e in list {
                    let slot = match e.op.to_ascii_lowercase().as_str() {
                        "read" => off,
                        "write" => off + 1,
                        _ => continue,
                    };
                    per_dev.entry((e.major, e.minor)).or_default()[slot] += e.value;
                }
            }
            for ((major, minor), v) in per_dev {
                let dev = || vec![("device", format!("{major}:{minor}"))];
                let fams = [
                    (
                        "container_fs_reads_bytes_total",
                        "Cumulative count of bytes read",
                        v[0],
                    ),
                    (
                        "container_fs_writes_bytes_total",
                        "Cumulative count of bytes written",
                        v[1],
                    ),
                    (
                        "container_fs_reads_total",
                        "Cumulative count of reads completed",
                        v[2],
                    ),
                    (
                        "container_fs_writes_total",
                        "Cumulative count of writes completed",
                        v[3],
                    ),
                ];
                for (name, help, val) in fams {
                    f.add(name, "counter", help, &base, dev(), val as f64);
                }
                for (op, val) in [("Read", v[0]), ("Write", v[1])] {
                    f.add(
                        "container_blkio_device_usage_total",
                        "counter",
                        "Blkio Device bytes usage",
                        &base,
                        vec![
                            ("device", format!("{major}:{minor}")),
                            ("major", major.to_string()),
                            ("minor", minor.to_string()),
                            ("operation", op.to_string()),
                        ],
                        val as f64,
                    );
                }
            }
        }
        for (ifname, n) in net_dev_of(rec.state.pid) {
            let iface = || vec![("interface", ifname.clone())];
            let fams = [
                (
                    "container_network_receive_bytes_total",
                    "Cumulative count of bytes received",
                    n.rx_bytes,
                ),
                (
                    "container_network_receive_packets_total",
                    "Cumulative count of packets received",
                    n.rx_packets,
                ),
                (
                    "container_network_receive_errors_total",
                    "Cumulative count of errors encountered while receiving",
                    n.rx_errors,
                ),
                (
                    "container_network_receive_packets_dropped_total",
                    "Cumulative count of packets dropped while receiving",
                    n.rx_dropped,
                ),
                (
                    "container_network_transmit_bytes_total",
                    "Cumulative count of bytes transmitted",
                    n.tx_bytes,
                ),
                (
                    "container_network_transmit_packets_total",
                    "Cumulative count of packets transmitted",
                    n.tx_packets,
                ),
                (
                    "container_network_transmit_errors_total",
                    "Cumulative count of errors encountered while transmitting",
                    n.tx_errors,
                ),
                (
                    "container_network_transmit_packets_dropped_total",
                    "Cumulative count of packets dropped while transmitting",
                    n.tx_dropped,
                ),
            ];
            for (name, help, v) in fams {
                f.add(name, "counter", help, &base, iface(), v as f64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_parses_and_skips_loopback() {
        let t = "Inter-|   Receive                                                |  Transmit\n \
face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0\n  \
eth0:    1500      10    1    2    0     0          0         0      700       5    3    4    0     0       0          0\n";
        let m = parse_net_dev(t);
        assert_eq!(m.len(), 1);
        let e = &m["eth0"];
        assert_eq!(
            (e.rx_bytes, e.rx_packets, e.rx_errors, e.rx_dropped),
            (1500, 10, 1, 2)
        );
        assert_eq!(
            (e.tx_bytes, e.tx_packets, e.tx_errors, e.tx_dropped),
            (700, 5, 3, 4)
        );
    }

    #[test]
    fn families_render_grouped_with_help_and_type() {
        let mut f = Families::default();
        f.add("a_total", "counter", "A.", "id=\"1\"", vec![], 1.0);
        f.add("b", "gauge", "B.", "id=\"1\"", vec![], 0.5);
        f.add(
            "a_total",
            "counter",
            "A.",
            "id=\"2\"",
            vec![("x", "q\"".into())],
            2.0,
        );
        assert_eq!(
            f.render(),
            "# HELP a_total A.\n# TYPE a_total counter\na_total{id=\"1\"} 1\n\
             a_total{id=\"2\",x=\"q\\\"\"} 2\n# HELP b B.\n# TYPE b gauge\nb{id=\"1\"} 0.5\n"
        );
    }
}
