//! Resource usage of a cgroup, in one shape for v1 and v2.
//!
//! The engine turns [`Stats`] into Docker's `/containers/{id}/stats` JSON: memory usage,
//! limit and the raw `memory.stat` map (the CLI subtracts `total_inactive_file` on v1 or
//! `inactive_file` on v2 itself), CPU times in nanoseconds, throttling, pids. The v1 and
//! v2 modules fill it from their files; the parsing of each format lives here so it can
//! be tested on real samples without a kernel.

use crate::error::CgroupError;
use crate::fsio;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// A snapshot of a cgroup's usage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub memory: MemoryStats,
    pub cpu: CpuStats,
    pub pids: PidsStats,
    pub blkio: BlkioStats,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// Bytes in use (v1 memory.usage_in_bytes; v2 memory.current).
    pub usage: u64,
    /// Peak bytes (v1 memory.max_usage_in_bytes; v2 memory.peak when the kernel has it).
    pub max_usage: u64,
    /// The limit in bytes; `None` when unlimited.
    pub limit: Option<u64>,
    /// Times the limit was hit (v1 memory.failcnt; v2 memory.events `max`).
    pub failcnt: u64,
    /// Page cache bytes (v1 `total_cache`/`cache`; v2 `file`).
    pub cache: u64,
    /// The raw memory.stat map, keys as the kernel names them.
    pub stat: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuStats {
    /// Total CPU time in nanoseconds.
    pub total_ns: u64,
    pub user_ns: u64,
    pub system_ns: u64,
    /// Per-CPU total in nanoseconds (v1 cpuacct.usage_percpu); empty on v2.
    pub per_cpu_ns: Vec<u64>,
    /// CFS periods elapsed / throttled, and the total throttled time in nanoseconds.
    pub nr_periods: u64,
    pub nr_throttled: u64,
    pub throttled_ns: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PidsStats {
    pub current: u64,
    /// `None` when unlimited (`max`).
    pub limit: Option<u64>,
}

/// Bytes and operations per block device, as Docker's `blkio_stats` lists them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlkioStats {
    pub io_service_bytes: Vec<BlkioEntry>,
    pub io_serviced: Vec<BlkioEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    /// As Docker reports them: v1 keeps the kernel's `Read`, `Write`, `Sync`, `Async`,
    /// `Discard`, `Total`; v2 gives `read` / `write`.
    pub op: String,
    pub value: u64,
}

/// v1 limits above this are "unlimited" (the kernel reports PAGE_COUNTER_MAX in bytes,
/// 0x7FFFFFFFFFFFF000 with 4 KiB pages; anything that large is no real limit).
const V1_UNLIMITED: u64 = 1 << 62;

/// v1 memory limit: a huge value means unlimited.
pub(crate) fn v1_limit(v: u64) -> Option<u64> {
    (v < V1_UNLIMITED).then_some(v)
}

/// v1 cpuacct.stat (`user N` / `system N` in clock ticks) → nanoseconds.
pub(crate) fn parse_cpuacct_stat(text: &str) -> (u64, u64) {
    let m = fsio::parse_flat_keyed(text);
    let ns_per_tick = 1_000_000_000 / clock_ticks();
    (
        m.get("user").copied().unwrap_or(0) * ns_per_tick,
        m.get("system").copied().unwrap_or(0) * ns_per_tick,
    )
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf only reads a constant of the C library; no memory is touched.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100 // the Linux USER_HZ on every architecture we run on
    }
}

/// v2 cpu.stat (microseconds) into [`CpuStats`].
pub(crate) fn parse_v2_cpu_stat(text: &str) -> CpuStats {
    let m = fsio::parse_flat_keyed(text);
    let us = |k: &str| m.get(k).copied().unwrap_or(0) * 1000;
    CpuStats {
        total_ns: us("usage_usec"),
        user_ns: us("user_usec"),
        system_ns: us("system_usec"),
        per_cpu_ns: Vec::new(),
        nr_periods: m.get("nr_periods").copied().unwrap_or(0),
        nr_throttled: m.get("nr_throttled").copied().unwrap_or(0),
        throttled_ns: us("throttled_usec"),
    }
}

/// v1 cpu.stat throttling counters (`throttled_time` already in ns).
pub(crate) fn apply_v1_cpu_stat(text: &str, cpu: &mut CpuStats) {
    let m = fsio::parse_flat_keyed(text);
    cpu.nr_periods = m.get("nr_periods").copied().unwrap_or(0);
    cpu.nr_throttled = m.get("nr_throttled").copied().unwrap_or(0);
    cpu.throttled_ns = m.get("throttled_time").copied().unwrap_or(0);
}

/// v1 blkio `*_recursive` files: `8:0 Read 4096` lines plus a final `Total N`.
pub(crate) fn parse_v1_blkio(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|line| {
            let mut it = line.split_whitespace();
            let dev = it.next()?;
            let op = it.next()?;
            let value = it.next()?.parse().ok()?;
            let (major, minor) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: op.to_string(),
                value,
            })
        })
        .collect()
}

/// v2 io.stat (`8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0` per device) into
/// Docker's v1-shaped entries (bytes and ops, Read/Write).
pub(crate) fn parse_v2_io_stat(text: &str) -> BlkioStats {
    let mut out = BlkioStats::default();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let Some((major, minor)) = it.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse::<u64>(), minor.parse::<u64>()) else {
            continue;
        };
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse::<u64>() else {
                continue;
            };
            let (list, op) = match k {
                "rbytes" => (&mut out.io_service_bytes, "read"),
                "wbytes" => (&mut out.io_service_bytes, "write"),
                "rios" => (&mut out.io_serviced, "read"),
                "wios" => (&mut out.io_serviced, "write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value,
            });
        }
    }
    out
}

/// The `oom_kill` counter of v1 memory.oom_control or v2 memory.events.
pub(crate) fn read_oom_kill(path: &Path) -> Result<u64, CgroupError> {
    Ok(fsio::read_flat_keyed(path)?
        .get("oom_kill")
        .copied()
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_cpu_stat_sample() {
        let sample = "usage_usec 2063451\nuser_usec 1262918\nsystem_usec 800533\n\
                      core_sched.force_idle_usec 0\nnr_periods 40\nnr_throttled 3\n\
                      throttled_usec 15000\nnr_bursts 0\nburst_usec 0\n";
        let c = parse_v2_cpu_stat(sample);
        assert_eq!(c.total_ns, 2_063_451_000);
        assert_eq!(c.user_ns, 1_262_918_000);
        assert_eq!(c.system_ns, 800_533_000);
        assert_eq!(c.nr_periods, 40);
        assert_eq!(c.nr_throttled, 3);
        assert_eq!(c.throttled_ns, 15_000_000);
    }

    #[test]
    fn v1_cpu_samples() {
        let (user, system) = parse_cpuacct_stat("user 250\nsystem 30\n");
        assert_eq!(user, 250 * 1_000_000_000 / clock_ticks());
        assert_eq!(system, 30 * 1_000_000_000 / clock_ticks());
        let mut c = CpuStats::default();
        apply_v1_cpu_stat(
            "nr_periods 12\nnr_throttled 4\nthrottled_time 987654\nnr_bursts 0\nburst_time 0\n",
            &mut c,
        );
        assert_eq!(
            (c.nr_periods, c.nr_throttled, c.throttled_ns),
            (12, 4, 987_654)
        );
    }

    #[test]
    fn blkio_samples() {
        let v1 = parse_v1_blkio("8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n");
        assert_eq!(v1.len(), 3);
        assert_eq!(
            v1[1],
            BlkioEntry {
                major: 8,
                minor: 0,
                op: "Write".into(),
                value: 8192
            }
        );
        let v2 = parse_v2_io_stat("259:0 rbytes=1024 wbytes=2048 rios=3 wios=4 dbytes=0 dios=0\n");
        assert_eq!(v2.io_service_bytes.len(), 2);
        assert_eq!(v2.io_service_bytes[1].value, 2048);
        assert_eq!(v2.io_serviced[0].op, "read");
        assert_eq!(v2.io_serviced[0].value, 3);
        assert_eq!(v2.io_serviced[0].major, 259);
    }

    #[test]
    fn v1_unlimited_limit() {
        assert_eq!(v1_limit(9223372036854771712), None);
        assert_eq!(v1_limit(67108864), Some(67108864));
    }
}
