//! `docker stats`: samples of the container's cgroup in Docker's JSON shape, with the
//! previous sample's CPU figures in `precpu_stats` so clients compute percentages.

use crate::error::Result;
use crate::Engine;
use berth_types::docker::{
    BlkioStatEntry, BlkioStats, ContainerStats, CpuStats, CpuUsage, MemoryStats, PidsStats,
    ThrottlingData,
};
use berth_types::time::rfc3339_nano;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;

/// Docker's sampling interval.
const INTERVAL: Duration = Duration::from_secs(1);

/// Host CPU time in nanoseconds from the `cpu` line of /proc/stat (what Docker reports
/// as `system_cpu_usage`).
pub fn system_cpu_ns(proc_stat: &str) -> u64 {
    let Some(line) = proc_stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    // SAFETY: sysconf has no memory effects.
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let ticks: u64 = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    ticks.saturating_mul(1_000_000_000 / tck)
}

fn online_cpus() -> u32 {
    // SAFETY: sysconf has no memory effects.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as u32
}

fn host_mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Converts a cgroup sample into Docker's JSON (without `precpu_stats`).
pub fn to_docker(s: &berth_cgroups::Stats, v2: bool, now: SystemTime) -> ContainerStats {
    let conv = |l: &[berth_cgroups::BlkioEntry]| -> Option<Vec<BlkioStatEntry>> {
        if l.is_empty() && v2 {
            return None;
        }
        Some(
            l.iter()
                .map(|e| BlkioStatEntry {
                    major: e.major,
                    minor: e.minor,
                    op: e.op.clone(),
                    value: e.value,
                })
                .collect(),
        )
    };
    let system = std::fs::read_to_string("/proc/stat")
        .map(|t| system_cpu_ns(&t))
        .unwrap_or(0);
    ContainerStats {
        read: rfc3339_nano(now),
        preread: berth_types::time::ZERO_TIME.into(),
        pids_stats: PidsStats {
            current: Some(s.pids.current),
            limit: s.pids.limit,
        },
        blkio_stats: BlkioStats {
            io_service_bytes_recursive: conv(&s.blkio.io_service_bytes),
            io_serviced_recursive: conv(&s.blkio.io_serviced),
            ..Default::default()
        },
        cpu_stats: CpuStats {
            cpu_usage: CpuUsage {
                total_usage: s.cpu.total_ns,
                percpu_usage: (!s.cpu.per_cpu_ns.is_empty()).then(|| s.cpu.per_cpu_ns.clone()),
                usage_in_kernelmode: s.cpu.system_ns,
                usage_in_usermode: s.cpu.user_ns,
            },
            system_cpu_usage: system,
            online_cpus: online_cpus(),
            throttling_data: ThrottlingData {
                periods: s.cpu.nr_periods,
                throttled_periods: s.cpu.nr_throttled,
                throttled_time: s.cpu.throttled_ns,
            },
        },
        memory_stats: MemoryStats {
            usage: s.memory.usage,
            max_usage: if v2 { 0 } else { s.memory.max_usage },
            stats: Some(s.memory.stat.clone()),
            failcnt: if v2 { 0 } else { s.memory.failcnt },
            limit: s.memory.limit.unwrap_or_else(host_mem_total),
        },
        ..Default::default()
    }
}

/// Docker's `networks` of a stats sample: the counters of each interface of the
/// container's network namespace (loopback left out).
fn networks_json(pid: i64) -> BTreeMap<String, serde_json::Value> {
    crate::metrics::net_dev_of(pid)
        .into_iter()
        .map(|(name, n)| {
            (
                name,
                serde_json::json!({
                    "rx_bytes": n.rx_bytes, "rx_packets": n.rx_packets,
                    "rx_errors": n.rx_errors, "rx_dropped": n.rx_dropped,
                    "tx_bytes": n.tx_bytes, "tx_packets": n.tx_packets,
                    "tx_errors": n.tx_errors, "tx_dropped": n.tx_dropped,
                }),
            )
        })
        .collect()
}

impl Engine {
    /// `GET /containers/{id}/stats`. With `stream`, a sample every second until the
    /// receiver is dropped or the container stops; without, one sample (taken after a
    /// second so `precpu_stats` is filled, unless `one_shot`).
    pub async fn stats(
        &self,
        name: &str,
        stream: bool,
        one_shot: bool,
    ) -> Result<mpsc::Receiver<ContainerStats>> {
        let ctr = self.lookup(name)?;
        let (tx, rx) = mpsc::channel(4);
        let rec = ctr.snapshot();
        let cg = self
            .cgroups
            .as_ref()
            .and_then(|h| berth_cgroups::Cgroup::open(h, &self.cgroup_rel(&rec)).ok());
        let v2 = self.cgroup_version() == "2";
        let (id, cname) = (rec.id.clone(), rec.name.clone());
        let running_pid = if rec.state.running { rec.state.pid } else { 0 };
        let mut watch = ctr.watch.subscribe();
        tokio::spawn(async move {
            let sample = |prev: Option<&ContainerStats>| -> ContainerStats {
                let now = SystemTime::now();
                let mut s = match cg.as_ref().map(|c| c.stats()) {
                    Some(Ok(st)) => to_docker(&st, v2, now),
                    _ => ContainerStats {
                        read: berth_types::time::ZERO_TIME.into(),
                        preread: berth_types::time::ZERO_TIME.into(),
                        ..Default::default()
                    },
                };
                if let Some(p) = prev {
                    s.precpu_stats = p.cpu_stats.clone();
                    s.preread = p.read.clone();
                }
                s.id = id.clone();
                s.name = cname.clone();
                let nets = networks_json(running_pid);
                if !nets.is_empty() {
                    s.networks = Some(nets);
                }
                s
            };
            if !rec.state.running {
                let _ = tx.send(sample(None)).await;
                return;
            }
            let mut prev = sample(None);
            if !stream && one_shot {
                let _ = tx.send(prev).await;
                return;
            }
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(INTERVAL) => {}
                    _ = tx.closed() => return,
                }
                let running = watch.borrow_and_update().running;
                if !running {
                    return;
                }
                let cur = sample(Some(&prev));
                if tx.send(cur.clone()).await.is_err() || !stream {
                    return;
                }
                prev = cur;
            }
        });
        Ok(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_cpu_from_proc_stat() {
        // SAFETY: sysconf has no memory effects.
        let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        let t = "cpu  100 0 50 850 0 0 0 0 0 0\ncpu0 1 2 3\n";
        assert_eq!(system_cpu_ns(t), 1000 * (1_000_000_000 / tck));
        assert_eq!(system_cpu_ns(""), 0);
    }

    #[test]
    fn docker_shape() {
        let mut s = berth_cgroups::Stats::default();
        s.memory.usage = 10;
        s.memory.limit = Some(100);
        s.pids.current = 2;
        s.cpu.total_ns = 5;
        let d = to_docker(&s, false, SystemTime::now());
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["memory_stats"]["usage"], 10);
        assert_eq!(v["memory_stats"]["limit"], 100);
        assert_eq!(v["pids_stats"]["current"], 2);
        assert_eq!(v["cpu_stats"]["cpu_usage"]["total_usage"], 5);
        assert!(v["cpu_stats"]["online_cpus"].as_u64().unwrap() >= 1);
        assert!(v["blkio_stats"]["io_service_bytes_recursive"].is_array());
        assert!(v["blkio_stats"]["io_queue_recursive"].is_null());
    }
}
