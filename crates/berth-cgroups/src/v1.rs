//! cgroup v1 (and hybrid mode, whose resource controllers are v1): creating the
//! per-controller directories, writing limits, the freezer, and stats.
//!
//! Kernel rules handled here: a new cpuset directory starts with empty `cpuset.cpus` /
//! `cpuset.mems` and refuses tasks until they are filled, so every directory we create is
//! seeded from its parent; `memory.memsw.limit_in_bytes` can never be below
//! `memory.limit_in_bytes`, so when both change the one that keeps the invariant is
//! written first; the freezer may sit in `FREEZING` while tasks fork, so freezing is
//! re-requested until `FROZEN` reads back.

use crate::cgroup::Cgroup;
use crate::convert::{self, nonempty, nonzero_i64, nonzero_u64};
use crate::error::CgroupError;
use crate::fsio;
use crate::hierarchy::Hierarchy;
use crate::stats::{self, Stats};
use berth_types::spec::Resources;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long freeze/thaw may take before giving up.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn create(h: &Hierarchy, cg: &Cgroup) -> Result<(), CgroupError> {
    for (controller, dir) in &cg.v1 {
        if controller == "cpuset" {
            let mount = h.v1_mount("cpuset").unwrap_or(h.root());
            create_cpuset_dirs(cg, mount, &cg.rel)?;
        } else {
            std::fs::create_dir_all(dir).map_err(|source| CgroupError::Create {
                path: dir.clone(),
                source,
            })?;
        }
    }
    Ok(())
}

/// mkdir each component under the cpuset mount, copying the parent's cpus/mems into
/// any directory whose own are empty.
fn create_cpuset_dirs(cg: &Cgroup, mount: &Path, rel: &str) -> Result<(), CgroupError> {
    let mut parent = mount.to_path_buf();
    for comp in rel.split('/') {
        let dir = parent.join(comp);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(CgroupError::Create { path: dir, source }),
        }
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let own = fsio::read_string(&dir.join(file)).unwrap_or_default();
            if own.is_empty() {
                let from_parent = fsio::read_string(&parent.join(file))?;
                cg.write(&dir.join(file), &from_parent)?;
            }
        }
        parent = dir;
    }
    Ok(())
}

pub(crate) fn apply(cg: &Cgroup, r: &Resources) -> Result<(), CgroupError> {
    if nonempty(&r.cpuset_cpus).is_some() || nonempty(&r.cpuset_mems).is_some() {
        let dir = cg.v1_dir_required("cpuset")?;
        if let Some(cpus) = nonempty(&r.cpuset_cpus) {
            cg.write(&dir.join("cpuset.cpus"), cpus.trim())?;
        }
        if let Some(mems) = nonempty(&r.cpuset_mems) {
            cg.write(&dir.join("cpuset.mems"), mems.trim())?;
        }
    }
    apply_memory(cg, r)?;
    apply_cpu(cg, r)?;
    if let Some(limit) = r.pids_limit {
        let dir = cg.v1_dir_required("pids")?;
        cg.write(&dir.join("pids.max"), &convert::pids_max(limit))?;
    }
    if let Some(w) = r.blkio_weight.filter(|&w| w != 0) {
        // Docker discards the weight (with a warning of its own) when the kernel has no
        // proportional I/O scheduler; only the BFQ file exists on modern kernels.
        if let Some(dir) = cg.v1_dir("blkio") {
            for file in ["blkio.weight", "blkio.bfq.weight"] {
                let path = dir.join(file);
                if path.exists() {
                    cg.write(&path, &w.to_string())?;
                    break;
                }
            }
        }
    }
    Ok(())
}

fn apply_memory(cg: &Cgroup, r: &Resources) -> Result<(), CgroupError> {
    let memory = nonzero_i64(r.memory);
    let swap = nonzero_i64(r.memory_swap);
    let reservation = nonzero_i64(r.memory_reservation);
    if memory.is_none() && swap.is_none() && reservation.is_none() {
        return Ok(());
    }
    let dir = cg.v1_dir_required("memory")?;
    let mem_file = dir.join("memory.limit_in_bytes");
    let memsw_file = dir.join("memory.memsw.limit_in_bytes");
    // Without swap accounting the file is absent; Docker then limits memory only.
    let swap = swap.filter(|_| cg.fake || memsw_file.exists());
    match (memory, swap) {
        (Some(m), Some(s)) => {
            // memsw ≥ memory must hold after each write: when the new memsw is above
            // the current one (raising) it goes first, otherwise memory goes first.
            let current = fsio::read_u64(&memsw_file).unwrap_or(u64::MAX);
            let raising = s < 0 || (s as u64) > current;
            if raising {
                cg.write(&memsw_file, &s.to_string())?;
                cg.write(&mem_file, &m.to_string())?;
            } else {
                cg.write(&mem_file, &m.to_string())?;
                cg.write(&memsw_file, &s.to_string())?;
            }
        }
        (Some(m), None) => cg.write(&mem_file, &m.to_string())?,
        (None, Some(s)) => cg.write(&memsw_file, &s.to_string())?,
        (None, None) => {}
    }
    if let Some(res) = reservation {
        cg.write(&dir.join("memory.soft_limit_in_bytes"), &res.to_string())?;
    }
    Ok(())
}

fn apply_cpu(cg: &Cgroup, r: &Resources) -> Result<(), CgroupError> {
    let shares = nonzero_u64(r.cpu_shares);
    let (period, quota) = convert::cfs_period_quota(r);
    if shares.is_none() && period.is_none() && quota.is_none() {
        return Ok(());
    }
    let dir = cg.v1_dir_required("cpu")?;
    if let Some(s) = shares {
        cg.write(&dir.join("cpu.shares"), &s.to_string())?;
    }
    let period_file = dir.join("cpu.cfs_period_us");
    let quota_file = dir.join("cpu.cfs_quota_us");
    let quota_value = quota.map(|q| {
        if q < 0 {
            "-1".to_string()
        } else {
            q.to_string()
        }
    });
    if let Some(p) = period {
        match cg.write(&period_file, &p.to_string()) {
            Ok(()) => {}
            // A new period can be refused against the current quota (the bandwidth
            // would exceed the parent's): set the quota first, then the period.
            Err(e) if e.errno() == Some(libc::EINVAL) && quota_value.is_some() => {
                if let Some(q) = &quota_value {
                    cg.write(&quota_file, q)?;
                }
                cg.write(&period_file, &p.to_string())?;
                return Ok(());
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(q) = &quota_value {
        cg.write(&quota_file, q)?;
    }
    Ok(())
}

pub(crate) fn set_frozen(cg: &Cgroup, frozen: bool) -> Result<(), CgroupError> {
    let file = cg.v1_dir_required("freezer")?.join("freezer.state");
    let want = if frozen { "FROZEN" } else { "THAWED" };
    cg.write(&file, want)?;
    let start = Instant::now();
    let mut delay = Duration::from_millis(1);
    let mut last_kick = Instant::now();
    loop {
        let state = fsio::read_string(&file)?;
        if state == want {
            return Ok(());
        }
        if start.elapsed() > FREEZE_TIMEOUT {
            if frozen {
                // Leave the container running rather than half frozen.
                let _ = cg.write(&file, "THAWED");
            }
            return Err(CgroupError::FreezeTimeout {
                action: if frozen { "freeze" } else { "thaw" },
                rel: cg.rel.clone(),
                state,
            });
        }
        // Tasks forked while freezing can keep the state at FREEZING; asking again
        // makes the kernel sweep the new ones.
        if last_kick.elapsed() > Duration::from_millis(100) {
            cg.write(&file, want)?;
            last_kick = Instant::now();
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(20));
    }
}

pub(crate) fn is_frozen(cg: &Cgroup) -> Result<bool, CgroupError> {
    let file = cg.v1_dir_required("freezer")?.join("freezer.state");
    Ok(fsio::read_string(&file)? == "FROZEN")
}

pub(crate) fn stats(cg: &Cgroup) -> Result<Stats, CgroupError> {
    let mut s = Stats::default();
    if let Some(dir) = cg.v1_dir("memory") {
        // The usage file must be there: its absence means the cgroup is gone.
        s.memory.usage = fsio::read_u64(&dir.join("memory.usage_in_bytes"))?;
        s.memory.max_usage = read_opt(&dir.join("memory.max_usage_in_bytes"));
        s.memory.limit = fsio::read_u64(&dir.join("memory.limit_in_bytes"))
            .ok()
            .and_then(stats::v1_limit);
        s.memory.failcnt = read_opt(&dir.join("memory.failcnt"));
        s.memory.stat = fsio::read_flat_keyed(&dir.join("memory.stat")).unwrap_or_default();
        s.memory.cache = s
            .memory
            .stat
            .get("total_cache")
            .or_else(|| s.memory.stat.get("cache"))
            .copied()
            .unwrap_or(0);
    }
    if let Some(dir) = cg.v1_dir("cpuacct") {
        s.cpu.total_ns = read_opt(&dir.join("cpuacct.usage"));
        let percpu = dir.join("cpuacct.usage_percpu");
        if let Ok(text) = fsio::read_string(&percpu) {
            s.cpu.per_cpu_ns = fsio::parse_numbers(&percpu, &text).unwrap_or_default();
        }
        if let Ok(text) = fsio::read_string(&dir.join("cpuacct.stat")) {
            let (user, system) = stats::parse_cpuacct_stat(&text);
            s.cpu.user_ns = user;
            s.cpu.system_ns = system;
        }
    }
    if let Some(dir) = cg.v1_dir("cpu") {
        if let Ok(text) = fsio::read_string(&dir.join("cpu.stat")) {
            stats::apply_v1_cpu_stat(&text, &mut s.cpu);
        }
    }
    if let Some(dir) = cg.v1_dir("pids") {
        s.pids.current = read_opt(&dir.join("pids.current"));
        s.pids.limit = fsio::read_u64_or_max(&dir.join("pids.max")).ok().flatten();
    }
    if let Some(dir) = cg.v1_dir("blkio") {
        // The CFQ/BFQ accounting files when present, else the throttling layer's,
        // which count every request.
        let pick = |names: [&str; 2]| {
            names
                .iter()
                .filter_map(|n| fsio::read_string(&dir.join(n)).ok())
                .map(|t| stats::parse_v1_blkio(&t))
                .find(|v| !v.is_empty())
                .unwrap_or_default()
        };
        s.blkio.io_service_bytes = pick([
            "blkio.io_service_bytes_recursive",
            "blkio.throttle.io_service_bytes_recursive",
        ]);
        s.blkio.io_serviced = pick([
            "blkio.io_serviced_recursive",
            "blkio.throttle.io_serviced_recursive",
        ]);
    }
    Ok(s)
}

/// An optional counter: missing or unparsable reads as 0 (stats are best effort).
fn read_opt(path: &Path) -> u64 {
    fsio::read_u64(path).unwrap_or(0)
}
