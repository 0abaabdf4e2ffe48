//! [`Cgroup`]: one logical cgroup (`berth/<id>`) across every hierarchy of the host.
//!
//! In v1 (and hybrid) mode that is one directory per controller mount, plus the same
//! path in the unified tree when hybrid (so `/proc/<pid>/cgroup` is consistent; no limits
//! live there). In v2 mode it is one directory. This module holds what is common —
//! directories, membership, signalling, removal — and hands limits, freezing and stats
//! to [`crate::v1`] or [`crate::v2`].

use crate::devices::{self, DeviceRule};
use crate::error::CgroupError;
use crate::fsio;
use crate::hierarchy::{Hierarchy, Mode};
use crate::stats::Stats;
use crate::{bpf, v1, v2};
use berth_types::spec::Resources;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long `destroy` keeps retrying a busy cgroup.
const DESTROY_RETRY: Duration = Duration::from_millis(1500);

/// Controllers whose `cgroup.procs` best reflects membership, in order of preference.
const V1_PRIMARY: &[&str] = &[
    "pids", "freezer", "memory", "cpu", "cpuacct", "cpuset", "devices", "blkio",
];

/// One cgroup in every hierarchy. Cheap to clone; holds only paths.
#[derive(Debug, Clone)]
pub struct Cgroup {
    pub(crate) rel: String,
    pub(crate) mode: Mode,
    /// v1 controller → this cgroup's directory in that controller's hierarchy.
    pub(crate) v1: BTreeMap<String, PathBuf>,
    /// The v2 directory: the only one in V2 mode; in hybrid the unified tree's twin.
    pub(crate) unified: Option<PathBuf>,
    /// Fake tree (tests): writes create missing files, removal deletes files.
    pub(crate) fake: bool,
}

impl Cgroup {
    /// Create the cgroup at `rel` (like `mkdir -p`) in every hierarchy. On v1 the cpuset
    /// of each new directory is seeded from its parent (an empty cpuset refuses tasks);
    /// on v2 the available controllers are enabled in each ancestor's
    /// `cgroup.subtree_control`. Creating an existing cgroup is not an error.
    pub fn create(h: &Hierarchy, rel: &str) -> Result<Cgroup, CgroupError> {
        let cg = Self::paths(h, rel)?;
        match cg.mode {
            Mode::V2 => v2::create(h, &cg)?,
            Mode::V1 | Mode::Hybrid => {
                v1::create(h, &cg)?;
                if let Some(u) = &cg.unified {
                    // The v2 twin in hybrid mode carries no limits: failing to make it
                    // must not fail the container.
                    if std::fs::create_dir_all(u).is_err() {
                        return Ok(Cgroup {
                            unified: None,
                            ..cg
                        });
                    }
                }
            }
        }
        Ok(cg)
    }

    /// An existing cgroup at `rel`. `NotFound` when it exists in no hierarchy.
    pub fn open(h: &Hierarchy, rel: &str) -> Result<Cgroup, CgroupError> {
        let mut cg = Self::paths(h, rel)?;
        cg.v1.retain(|_, d| d.is_dir());
        if cg.unified.as_deref().is_some_and(|u| !u.is_dir()) {
            cg.unified = None;
        }
        if cg.v1.is_empty() && cg.unified.is_none() {
            return Err(CgroupError::NotFound { rel: cg.rel });
        }
        Ok(cg)
    }

    fn paths(h: &Hierarchy, rel: &str) -> Result<Cgroup, CgroupError> {
        let rel = clean_rel(rel)?;
        let v1 = h
            .v1_controllers()
            .map(|(c, mount)| (c.to_string(), mount.join(&rel)))
            .collect();
        Ok(Cgroup {
            mode: h.mode(),
            v1,
            unified: h.unified().map(|u| u.join(&rel)),
            fake: h.is_fake(),
            rel,
        })
    }

    /// The path relative to each hierarchy root, as given.
    pub fn rel(&self) -> &str {
        &self.rel
    }

    /// The mode of the hierarchy this cgroup lives in.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// This cgroup's directory for a v1 controller (`memory`, `freezer`, …).
    pub fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.v1.get(controller).map(PathBuf::as_path)
    }

    /// This cgroup's directory in the v2 tree (V2 mode, or the hybrid twin).
    pub fn unified_dir(&self) -> Option<&Path> {
        self.unified.as_deref()
    }

    /// Write the limits in `r` (fields that are `None` are left alone). Used at creation
    /// and by `docker update` on a live container.
    pub fn apply(&self, r: &Resources) -> Result<(), CgroupError> {
        match self.mode {
            Mode::V2 => v2::apply(self, r),
            Mode::V1 | Mode::Hybrid => v1::apply(self, r),
        }
    }

    /// Move process `pid` (and all its threads) into the cgroup, in every hierarchy.
    pub fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        let value = pid.to_string();
        match self.mode {
            Mode::V2 => {
                let dir = self.v2_dir()?;
                self.write(&dir.join("cgroup.procs"), &value)
            }
            Mode::V1 | Mode::Hybrid => {
                for dir in self.v1_dirs() {
                    self.write(&dir.join("cgroup.procs"), &value)?;
                }
                if let Some(u) = &self.unified {
                    // Best effort, as in create(): the hybrid twin holds no limits.
                    let _ = self.write(&u.join("cgroup.procs"), &value);
                }
                Ok(())
            }
        }
    }

    /// The processes in the cgroup (not in its children).
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let file = self.membership_dir()?.join("cgroup.procs");
        let text = fsio::read_string(&file)?;
        fsio::parse_numbers(&file, &text)
    }

    /// Freeze every process and wait until the kernel reports the cgroup frozen.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        match self.mode {
            Mode::V2 => v2::set_frozen(self, true),
            Mode::V1 | Mode::Hybrid => v1::set_frozen(self, true),
        }
    }

    /// Thaw the cgroup and wait until the kernel reports it thawed.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        match self.mode {
            Mode::V2 => v2::set_frozen(self, false),
            Mode::V1 | Mode::Hybrid => v1::set_frozen(self, false),
        }
    }

    /// Whether the cgroup is (completely) frozen.
    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        match self.mode {
            Mode::V2 => v2::is_frozen(self),
            Mode::V1 | Mode::Hybrid => v1::is_frozen(self),
        }
    }

    /// Set which devices the processes may create, read and write: the rules in order
    /// (start with a deny-all rule, as [`crate::default_device_rules`] does). v1 writes them to
    /// `devices.deny`/`devices.allow`; v2 attaches an eBPF device filter that replaces
    /// any earlier one.
    pub fn set_devices(&self, rules: &[DeviceRule]) -> Result<(), CgroupError> {
        match self.mode {
            Mode::V2 => {
                let prog = bpf::load_device_program(&devices::program(rules))?;
                bpf::attach_device_program(self.v2_dir()?, &prog)
            }
            Mode::V1 | Mode::Hybrid => {
                let dir = self.v1_dir_required("devices")?;
                for r in rules {
                    let file = if r.allow {
                        "devices.allow"
                    } else {
                        "devices.deny"
                    };
                    self.write(&dir.join(file), &r.v1_string())?;
                }
                Ok(())
            }
        }
    }

    /// Current usage: memory, CPU, pids, block I/O.
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        match self.mode {
            Mode::V2 => v2::stats(self),
            Mode::V1 | Mode::Hybrid => v1::stats(self),
        }
    }

    /// How many processes the kernel's OOM killer killed in this cgroup so far.
    pub fn oom_kill_count(&self) -> Result<u64, CgroupError> {
        let file = match self.mode {
            Mode::V2 => self.v2_dir()?.join("memory.events"),
            Mode::V1 | Mode::Hybrid => self.v1_dir_required("memory")?.join("memory.oom_control"),
        };
        crate::stats::read_oom_kill(&file)
    }

    /// Send `sig` to every process of the cgroup. With SIGKILL on v2, the kernel's
    /// `cgroup.kill` does it atomically. Otherwise the cgroup is frozen first, so no
    /// process can fork a child we would miss, each process is signalled, and the cgroup
    /// is thawed again (so signals are acted upon) unless it was frozen before and the
    /// signal is not SIGKILL — a paused container stays paused.
    pub fn kill_all(&self, sig: i32) -> Result<(), CgroupError> {
        if self.mode == Mode::V2 && sig == libc::SIGKILL {
            let kill = self.v2_dir()?.join("cgroup.kill");
            if kill.exists() {
                return self.write(&kill, "1");
            }
        }
        let was_frozen = self.is_frozen().unwrap_or(false);
        let froze = !was_frozen && self.freeze().is_ok();
        let result = self.signal_each(sig);
        if froze || (was_frozen && sig == libc::SIGKILL) {
            self.thaw()?;
        }
        result
    }

    fn signal_each(&self, sig: i32) -> Result<(), CgroupError> {
        for pid in self.pids()? {
            // SAFETY: kill(2) takes plain integers and touches no memory of ours.
            let rc = unsafe { libc::kill(pid, sig) };
            if rc != 0 {
                let err = std::io::Error::last_os_error();
                // Gone meanwhile: that is what we wanted.
                if err.raw_os_error() != Some(libc::ESRCH) {
                    return Err(CgroupError::Kill {
                        pid,
                        signal: sig,
                        source: err,
                    });
                }
            }
        }
        Ok(())
    }

    /// Remove the cgroup (and any child cgroups) from every hierarchy, retrying briefly
    /// while the kernel still reports it busy (exiting processes leave asynchronously).
    /// A cgroup that is already gone is fine.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        let mut first_err = None;
        // One retry budget for all hierarchies: a cgroup that stays busy is reported
        // after about a second, not a second per controller.
        let deadline = Instant::now() + DESTROY_RETRY;
        let dirs = self.v1_dirs().into_iter().chain(self.unified.clone());
        for dir in dirs {
            if let Err(e) = remove_tree(&dir, self.fake, deadline) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    // ---- helpers shared by v1 and v2 ----

    /// Write honoring fake trees.
    pub(crate) fn write(&self, path: &Path, value: &str) -> Result<(), CgroupError> {
        fsio::write(path, value, self.fake)
    }

    /// Distinct v1 directories (co-mounted controllers share one).
    pub(crate) fn v1_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self.v1.values().cloned().collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }

    pub(crate) fn v1_dir_required(&self, controller: &str) -> Result<&Path, CgroupError> {
        self.v1_dir(controller)
            .ok_or_else(|| CgroupError::ControllerMissing {
                controller: controller.to_string(),
            })
    }

    pub(crate) fn v2_dir(&self) -> Result<&Path, CgroupError> {
        self.unified
            .as_deref()
            .ok_or_else(|| CgroupError::NotFound {
                rel: self.rel.clone(),
            })
    }

    /// The directory whose `cgroup.procs` is read for membership.
    fn membership_dir(&self) -> Result<&Path, CgroupError> {
        match self.mode {
            Mode::V2 => self.v2_dir(),
            Mode::V1 | Mode::Hybrid => V1_PRIMARY
                .iter()
                .find_map(|c| self.v1_dir(c))
                .or_else(|| self.v1.values().next().map(PathBuf::as_path))
                .ok_or_else(|| CgroupError::NotFound {
                    rel: self.rel.clone(),
                }),
        }
    }
}

/// Reject absolute paths, `..` and empty paths: `rel` is joined to every root.
fn clean_rel(rel: &str) -> Result<String, CgroupError> {
    let parts: Vec<&str> = rel
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.is_empty() || parts.contains(&"..") {
        return Err(CgroupError::InvalidPath(rel.to_string()));
    }
    Ok(parts.join("/"))
}

/// rmdir a cgroup directory after its child cgroups, retrying on EBUSY.
fn remove_tree(dir: &Path, fake: bool, deadline: Instant) -> Result<(), CgroupError> {
    let err = |source| CgroupError::Remove {
        path: dir.to_path_buf(),
        source,
    };
    if fake {
        return match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(err(e)),
            _ => Ok(()),
        };
    }
    // Usually the cgroup is empty and has no children: one rmdir does it (listing the
    // directory first cost ~0.1 ms per hierarchy on every container's exit).
    match std::fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(err(e)),
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&entry.path(), fake, deadline)?;
        }
    }
    let mut delay = Duration::from_millis(5);
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(250));
            }
            Err(e) => return Err(err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rel_paths_are_checked() {
        assert_eq!(clean_rel("berth/abc").unwrap(), "berth/abc");
        assert_eq!(clean_rel("/berth//abc/").unwrap(), "berth/abc");
        assert!(clean_rel("../x").is_err());
        assert!(clean_rel("a/../../x").is_err());
        assert!(clean_rel("/").is_err());
        assert!(clean_rel("").is_err());
    }
}
