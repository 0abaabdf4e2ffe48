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

    /// A cgroup v2 tree (a fake root in a temp dir, files in the kernel's formats) read
    /// and converted the way `GET /containers/{id}/stats` does on a v2 host.
    #[test]
    fn cgroup_v2_tree_to_docker_stats() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let put = |rel: &str, text: &str| std::fs::write(root.join(rel), text).unwrap();
        put("cgroup.controllers", "cpuset cpu io memory pids\n");
        put("cgroup.subtree_control", "");
        let h = berth_cgroups::Hierarchy::at(root).unwrap();
        let cg = berth_cgroups::Cgroup::create(&h, "berth/c1").unwrap();
        for (f, text) in [
            ("cgroup.procs", "101\n102\n"),
            ("memory.current", "9437184\n"),
            ("memory.peak", "12582912\n"),
            ("memory.max", "67108864\n"),
            (
                "memory.stat",
                "anon 4194304\nfile 5242880\nkernel 131072\ninactive_anon 0\n\
                 active_anon 4194304\ninactive_file 4194304\nactive_file 1048576\n\
                 pgfault 2048\npgmajfault 3\n",
            ),
            ("memory.events", "low 0\nhigh 0\nmax 4\noom 0\noom_kill 0\n"),
            (
                "cpu.stat",
                "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n\
                 nr_periods 10\nnr_throttled 2\nthrottled_usec 30000\n",
            ),
            ("pids.current", "2\n"),
            ("pids.max", "max\n"),
            (
                "io.stat",
                "8:0 rbytes=8192 wbytes=4096 rios=2 wios=1 dbytes=0 dios=0\n",
            ),
        ] {
            put(&format!("berth/c1/{f}"), text);
        }
        let st = cg.stats().unwrap();
        let v = serde_json::to_value(to_docker(&st, true, SystemTime::now())).unwrap();
        let m = &v["memory_stats"];
        assert_eq!(m["usage"], 9_437_184);
        assert_eq!(m["limit"], 67_108_864);
        // v2 has no max_usage/failcnt in Docker's answer; the stat keys pass through
        // (clients subtract `inactive_file` from usage).
        assert_eq!(m["max_usage"].as_u64().unwrap_or(0), 0);
        assert_eq!(m["stats"]["inactive_file"], 4_194_304);
        assert_eq!(m["stats"]["anon"], 4_194_304);
        let c = &v["cpu_stats"];
        assert_eq!(c["cpu_usage"]["total_usage"], 1_500_000_000u64);
        assert_eq!(c["cpu_usage"]["usage_in_usermode"], 1_000_000_000u64);
        assert_eq!(c["cpu_usage"]["usage_in_kernelmode"], 500_000_000u64);
        assert!(c["cpu_usage"]["percpu_usage"].is_null());
        assert_eq!(c["throttling_data"]["throttled_periods"], 2);
        assert_eq!(c["throttling_data"]["throttled_time"], 30_000_000u64);
        assert!(c["system_cpu_usage"].as_u64().unwrap() > 0);
        assert_eq!(v["pids_stats"]["current"], 2);
        assert!(v["pids_stats"]["limit"].is_null(), "max is no limit");
        let io = v["blkio_stats"]["io_service_bytes_recursive"]
            .as_array()
            .unwrap();
        let get = |op: &str| {
            io.iter()
                .find(|e| e["op"] == op)
                .map(|e| (e["major"].as_u64(), e["value"].as_u64()))
        };
        assert_eq!(get("read"), Some((Some(8), Some(8192))));
        assert_eq!(get("write"), Some((Some(8), Some(4096))));
        // No io.stat (no I/O yet) is Docker's null list on v2.
        std::fs::remove_file(root.join("berth/c1/io.stat")).unwrap();
        let st = cg.stats().unwrap();
        let v = serde_json::to_value(to_docker(&st, true, SystemTime::now())).unwrap();
        assert!(v["blkio_stats"]["io_service_bytes_recursive"].is_null());
    }
}
