//! cgroup v2 (the unified hierarchy): creating the directory with its controllers
//! enabled, writing limits in v2's vocabulary, `cgroup.freeze`, and stats.
//!
//! A v2 controller's files only appear in a cgroup when its parent lists the controller
//! in `cgroup.subtree_control`, so [`create`] enables every available controller we use
//! in each ancestor from the root down. Limits use v2 names and units: `memory.max`,
//! `memory.swap.max` (swap alone, not memory+swap), `cpu.weight` (converted from
//! shares), `cpu.max` (`"quota period"`), `io.weight`, `pids.max`.

use crate::cgroup::Cgroup;
use crate::convert::{self, nonempty, nonzero_i64, nonzero_u64};
use crate::error::CgroupError;
use crate::fsio;
use crate::hierarchy::Hierarchy;
use crate::stats::{self, Stats};
use berth_types::spec::Resources;
use std::path::Path;
use std::time::{Duration, Instant};

/// Controllers enabled for our cgroups, in the order written to subtree_control.
const WANTED: &[&str] = &[
    "cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc",
];

const FREEZE_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn create(h: &Hierarchy, cg: &Cgroup) -> Result<(), CgroupError> {
    let root = h.unified().unwrap_or(h.root()).to_path_buf();
    let root_controllers = read_controllers(&root.join("cgroup.controllers"));
    let mut parent = root;
    for comp in cg.rel.split('/') {
        // Fake trees have cgroup.controllers at the root only.
        let available = match std::fs::read_to_string(parent.join("cgroup.controllers")) {
            Ok(t) => t.split_whitespace().map(str::to_string).collect(),
            Err(_) => root_controllers.clone(),
        };
        enable_controllers(cg, &parent, &available)?;
        let dir = parent.join(comp);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(CgroupError::Create { path: dir, source }),
        }
        parent = dir;
    }
    Ok(())
}

fn read_controllers(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|t| t.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Write `+c` for every wanted, available controller not yet enabled in `dir`.
fn enable_controllers(cg: &Cgroup, dir: &Path, available: &[String]) -> Result<(), CgroupError> {
    let file = dir.join("cgroup.subtree_control");
    let enabled: Vec<String> = std::fs::read_to_string(&file)
        .unwrap_or_default()
        .split_whitespace()
        .map(|c| c.trim_start_matches('+').to_string())
        .collect();
    let missing: Vec<&str> = WANTED
        .iter()
        .copied()
        .filter(|c| available.iter().any(|a| a == c) && !enabled.iter().any(|e| e == c))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let all: Vec<String> = missing.iter().map(|c| format!("+{c}")).collect();
    if cg.write(&file, &all.join(" ")).is_ok() {
        return Ok(());
    }
    // One refused controller (e.g. cpuset in a threaded subtree) fails the whole
    // write: enable the rest one by one, and only fail when none can be enabled.
    let mut last_err = None;
    let mut any = false;
    for c in &all {
        match cg.write(&file, c) {
            Ok(()) => any = true,
            Err(e) => last_err = Some(e),
        }
    }
    match last_err {
        Some(e) if !any => Err(e),
        _ => Ok(()),
    }
}

pub(crate) fn apply(cg: &Cgroup, r: &Resources) -> Result<(), CgroupError> {
    let dir = cg.v2_dir()?;
    if let Some(cpus) = nonempty(&r.cpuset_cpus) {
        cg.write(&dir.join("cpuset.cpus"), cpus.trim())?;
    }
    if let Some(mems) = nonempty(&r.cpuset_mems) {
        cg.write(&dir.join("cpuset.mems"), mems.trim())?;
    }
    apply_memory(cg, dir, r)?;
    apply_cpu(cg, dir, r)?;
    if let Some(limit) = r.pids_limit {
        cg.write(&dir.join("pids.max"), &convert::pids_max(limit))?;
    }
    if let Some(w) = r.blkio_weight.filter(|&w| w != 0) {
        let io = dir.join("io.weight");
        let bfq = dir.join("io.bfq.weight");
        if cg.fake || io.exists() {
            cg.write(&io, &convert::blkio_weight_to_io_weight(w).to_string())?;
        } else if bfq.exists() {
            // BFQ takes the v1 range (1..1000) as is.
            cg.write(&bfq, &w.to_string())?;
        }
        // Neither: no proportional I/O scheduler; Docker discards the weight.
    }
    Ok(())
}

fn apply_memory(cg: &Cgroup, dir: &Path, r: &Resources) -> Result<(), CgroupError> {
    let memory = nonzero_i64(r.memory);
    let swap_requested = nonzero_i64(r.memory_swap);
    // memory.swap.max is swap alone: it needs the memory limit in effect, which is the
    // current one when only the swap changes.
    let effective_memory = match (memory, swap_requested) {
        (Some(m), _) => Some(m),
        (None, Some(_)) => match fsio::read_u64_or_max(&dir.join("memory.max")) {
            Ok(Some(m)) => Some(m as i64),
            Ok(None) => Some(-1),
            Err(_) => None,
        },
        (None, None) => None,
    };
    let swap = convert::v2_swap(swap_requested, effective_memory)?;
    if let Some(s) = swap {
        let file = dir.join("memory.swap.max");
        // Absent without swap accounting: Docker then limits memory only.
        if cg.fake || file.exists() {
            cg.write(&file, &s)?;
        }
    }
    if let Some(m) = memory {
        cg.write(&dir.join("memory.max"), &convert::v2_limit(m))?;
    }
    if let Some(res) = nonzero_i64(r.memory_reservation) {
        cg.write(&dir.join("memory.low"), &convert::v2_limit(res))?;
    }
    Ok(())
}

fn apply_cpu(cg: &Cgroup, dir: &Path, r: &Resources) -> Result<(), CgroupError> {
    if let Some(shares) = nonzero_u64(r.cpu_shares) {
        let weight = convert::shares_to_weight(shares);
        cg.write(&dir.join("cpu.weight"), &weight.to_string())?;
    }
    let (period, quota) = convert::cfs_period_quota(r);
    let file = dir.join("cpu.max");
    let value = match (quota, period) {
        (None, None) => return Ok(()),
        // The kernel keeps the current period when only the quota is written.
        (Some(q), None) => quota_token(q),
        // Only the period changes: keep the current quota.
        (None, Some(p)) => {
            let current = fsio::read_string(&file).unwrap_or_default();
            let q = current
                .split_whitespace()
                .next()
                .unwrap_or("max")
                .to_string();
            format!("{q} {p}")
        }
        (Some(q), Some(p)) => format!("{} {p}", quota_token(q)),
    };
    cg.write(&file, &value)
}

fn quota_token(q: i64) -> String {
    if q < 0 {
        "max".to_string()
    } else {
        q.to_string()
    }
}

pub(crate) fn set_frozen(cg: &Cgroup, frozen: bool) -> Result<(), CgroupError> {
    let dir = cg.v2_dir()?;
    cg.write(&dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })?;
    let start = Instant::now();
    let mut delay = Duration::from_millis(1);
    loop {
        let state = frozen_state(dir)?;
        if state == frozen {
            return Ok(());
        }
        if start.elapsed() > FREEZE_TIMEOUT {
            if frozen {
                // Leave the container running rather than half frozen.
                let _ = cg.write(&dir.join("cgroup.freeze"), "0");
            }
            return Err(CgroupError::FreezeTimeout {
                action: if frozen { "freeze" } else { "thaw" },
                rel: cg.rel.clone(),
                state: if state { "frozen" } else { "thawed" }.to_string(),
            });
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(20));
    }
}

/// `frozen` from cgroup.events: what the kernel has achieved, not what was asked.
fn frozen_state(dir: &Path) -> Result<bool, CgroupError> {
    let events = fsio::read_flat_keyed(&dir.join("cgroup.events"))?;
    Ok(events.get("frozen").copied().unwrap_or(0) == 1)
}

pub(crate) fn is_frozen(cg: &Cgroup) -> Result<bool, CgroupError> {
    frozen_state(cg.v2_dir()?)
}

pub(crate) fn stats(cg: &Cgroup) -> Result<Stats, CgroupError> {
    let dir = cg.v2_dir()?;
    let mut s = Stats::default();
    // cgroup.procs always exists: its absence means the cgroup is gone.
    fsio::read_string(&dir.join("cgroup.procs"))?;
    s.memory.usage = read_opt(&dir.join("memory.current"));
    s.memory.max_usage = read_opt(&dir.join("memory.peak"));
    s.memory.limit = fsio::read_u64_or_max(&dir.join("memory.max"))
        .ok()
        .flatten();
    if let Ok(events) = fsio::read_flat_keyed(&dir.join("memory.events")) {
        s.memory.failcnt = events.get("max").copied().unwrap_or(0);
    }
    s.memory.stat = fsio::read_flat_keyed(&dir.join("memory.stat")).unwrap_or_default();
    s.memory.cache = s.memory.stat.get("file").copied().unwrap_or(0);
    if let Ok(text) = fsio::read_string(&dir.join("cpu.stat")) {
        s.cpu = stats::parse_v2_cpu_stat(&text);
    }
    s.pids.current = read_opt(&dir.join("pids.current"));
    s.pids.limit = fsio::read_u64_or_max(&dir.join("pids.max")).ok().flatten();
    if let Ok(text) = fsio::read_string(&dir.join("io.stat")) {
        s.blkio = stats::parse_v2_io_stat(&text);
    }
    Ok(s)
}

fn read_opt(path: &Path) -> u64 {
    fsio::read_u64(path).unwrap_or(0)
}
