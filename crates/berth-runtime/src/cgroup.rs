//! The cgroup step, on top of `berth-cgroups`.
//!
//! The caller (parent) creates the container's cgroup and writes its limits before
//! forking; the first setup process is in it before it forks the container process, so
//! the container is inside its cgroup from its first instruction.
//!
//! How the setup process gets in matters for speed: moving another process through
//! `cgroup.procs` takes the kernel's global threadgroup lock for writing, which waits
//! for an RCU grace period (5–15 ms, per container). Two ways avoid it ([`JoinPlan`]):
//! on v1 the single-threaded setup process moves its only thread itself by writing `0`
//! to each hierarchy's `tasks` file; on v2 (and the hybrid twin) the caller forks it
//! straight into the cgroup with `clone3(CLONE_INTO_CGROUP)`. Writing `cgroup.procs`
//! stays the fallback.
//! Also lists what the container sees under /sys/fs/cgroup (its own directories only).

use crate::error::RuntimeError;
use crate::rootfs::CgroupEntry;
use berth_cgroups::{Cgroup, DeviceRule, Hierarchy, Mode};
use berth_types::spec::{ContainerSpec, Resources};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// A cgroup the process will be moved into.
#[derive(Debug)]
pub struct Joined {
    pub cgroup: Cgroup,
    pub hierarchy: Hierarchy,
    /// Created by us for this process (removed again if creation fails).
    pub created: bool,
    /// The pids limit, applied only once the setup process has left: while the
    /// container process is being cloned both count, and `--pids-limit 1` must work.
    pub pending_pids: Option<i64>,
}

fn cg_err(step: &str) -> impl FnOnce(berth_cgroups::CgroupError) -> RuntimeError + '_ {
    move |e| RuntimeError::Other(format!("{step}: {e}"))
}

/// The host's cgroup hierarchies: as the engine handed them over in the spec, else
/// found in the mount table.
pub fn hierarchy(spec: &ContainerSpec) -> Result<Hierarchy, berth_cgroups::CgroupError> {
    match &spec.cgroup.mounts {
        Some(m) => Hierarchy::from_mounts(m),
        None => Hierarchy::detect(),
    }
}

/// Create the container's cgroup, apply its limits and its device rules. `None` when
/// the spec has no cgroup path.
pub fn create(spec: &ContainerSpec) -> Result<Option<Joined>, RuntimeError> {
    let rel = spec.cgroup.path.as_str();
    if rel.is_empty() {
        return Ok(None);
    }
    let hierarchy = hierarchy(spec).map_err(cg_err("detecting cgroup hierarchy"))?;
    let cgroup = Cgroup::create(&hierarchy, rel).map_err(cg_err("creating cgroup"))?;
    let mut resources = spec.cgroup.resources.clone();
    let pending_pids = resources.pids_limit.take();
    if pending_pids.is_some() {
        // A reused cgroup may still carry an old, lower limit.
        resources.pids_limit = Some(-1);
    }
    let applied = cgroup
        .apply(&resources)
        .map_err(cg_err("applying cgroup limits"))
        .and_then(|()| set_devices(&cgroup, spec));
    if let Err(e) = applied {
        let _ = cgroup.destroy();
        return Err(e);
    }
    Ok(Some(Joined {
        cgroup,
        hierarchy,
        created: true,
        pending_pids,
    }))
}

/// Docker's device access rules: deny all, allow mknod and the standard pseudo-devices
/// plus every `--device`; everything when privileged. Without the rules a container
/// holding CAP_MKNOD could create and open a host disk's node.
fn set_devices(cgroup: &Cgroup, spec: &ContainerSpec) -> Result<(), RuntimeError> {
    let rules = if spec.privileged {
        berth_cgroups::privileged_device_rules()
    } else {
        let mut r = berth_cgroups::default_device_rules();
        for d in spec
            .devices
            .iter()
            .filter(|d| matches!(d.kind, 'c' | 'b' | 'u'))
        {
            let kind = if d.kind == 'b' { 'b' } else { 'c' };
            r.push(DeviceRule::device(
                true,
                kind,
                d.major as u32,
                d.minor as u32,
                "rwm",
            ));
        }
        r
    };
    match cgroup.set_devices(&rules) {
        Ok(()) => Ok(()),
        // A host without a devices controller cannot restrict devices at all.
        Err(berth_cgroups::CgroupError::ControllerMissing { .. }) => Ok(()),
        Err(e) => Err(RuntimeError::Other(format!("setting device rules: {e}"))),
    }
}

/// Open a running container's cgroup for an exec. `None` when no path is given.
pub fn open(rel: &str) -> Result<Option<Joined>, RuntimeError> {
    if rel.is_empty() {
        return Ok(None);
    }
    let hierarchy = Hierarchy::detect().map_err(cg_err("detecting cgroup hierarchy"))?;
    let cgroup = Cgroup::open(&hierarchy, rel).map_err(cg_err("opening container cgroup"))?;
    Ok(Some(Joined {
        cgroup,
        hierarchy,
        created: false,
        pending_pids: None,
    }))
}

/// How the setup process joins the cgroup (computed before forking).
#[derive(Debug, Default)]
pub struct JoinPlan {
    /// v1 `tasks` files: the setup process writes `0` to each (moves its only thread).
    pub tasks: Vec<CString>,
    /// The v2 directory (pure v2, or the hybrid twin): forked into with
    /// `CLONE_INTO_CGROUP`, else joined by writing `0` to its `cgroup.procs`.
    pub v2_dir: Option<std::path::PathBuf>,
    /// The v2 `cgroup.procs` file, for the fallback.
    pub v2_procs: Option<CString>,
    /// Whether failing to join v2 is an error (pure v2), or ignored (the hybrid twin
    /// holds no limits).
    pub v2_required: bool,
}

fn cpath(p: &Path) -> Result<CString, RuntimeError> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| RuntimeError::Other(format!("bad cgroup path {}", p.display())))
}

/// Write `0` (the writer itself) to a cgroup membership file: async-signal-safe, for
/// the forked setup process.
pub fn join_self(file: &CString) -> std::io::Result<()> {
    // SAFETY: open/write/close on a NUL-terminated path we own; the descriptor is ours.
    unsafe {
        let fd = libc::open(file.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let r = libc::write(fd, b"0".as_ptr() as *const libc::c_void, 1);
        let e = std::io::Error::last_os_error();
        libc::close(fd);
        if r != 1 {
            return Err(e);
        }
    }
    Ok(())
}

impl Joined {
    /// The membership files of this cgroup, for the setup process to join itself.
    pub fn join_plan(&self) -> Result<JoinPlan, RuntimeError> {
        let mut plan = JoinPlan::default();
        let mut dirs: Vec<&Path> = self
            .hierarchy
            .v1_controllers()
            .filter_map(|(ctrl, _)| self.cgroup.v1_dir(ctrl))
            .collect();
        dirs.sort();
        dirs.dedup();
        for d in dirs {
            plan.tasks.push(cpath(&d.join("tasks"))?);
        }
        if let Some(u) = self.cgroup.unified_dir() {
            plan.v2_procs = Some(cpath(&u.join("cgroup.procs"))?);
            plan.v2_dir = Some(u.to_path_buf());
            plan.v2_required = self.hierarchy.mode() == Mode::V2;
        }
        Ok(plan)
    }

    /// Apply what had to wait until the container process was alone in the cgroup.
    pub fn finish(&self) -> Result<(), RuntimeError> {
        if self.pending_pids.is_none() {
            return Ok(());
        }
        let r = Resources {
            pids_limit: self.pending_pids,
            ..Default::default()
        };
        self.cgroup
            .apply(&r)
            .map_err(cg_err("applying cgroup limits"))
    }

    /// Undo [`create`] after a failed start.
    pub fn cleanup(&self) {
        if self.created {
            let _ = self.cgroup.destroy();
        }
    }

    /// What to show under the container's /sys/fs/cgroup: each hierarchy's directory
    /// of this cgroup, named like the host's mount point, plus the host's alias links.
    pub fn entries(&self) -> Vec<CgroupEntry> {
        let mut out: Vec<CgroupEntry> = Vec::new();
        if self.hierarchy.mode() == Mode::V2 {
            if let Some(d) = self.cgroup.unified_dir() {
                out.push(CgroupEntry::Bind {
                    name: String::new(),
                    host: d.to_path_buf(),
                });
            }
            return out;
        }
        let mut push = |name: String, host: &std::path::Path| {
            let dup = out
                .iter()
                .any(|e| matches!(e, CgroupEntry::Bind { name: n, .. } if *n == name));
            if !name.is_empty() && !dup && host.is_dir() {
                out.push(CgroupEntry::Bind {
                    name,
                    host: host.to_path_buf(),
                });
            }
        };
        for (ctrl, mount) in self.hierarchy.v1_controllers() {
            if let (Some(name), Some(dir)) = (mount.file_name(), self.cgroup.v1_dir(ctrl)) {
                push(name.to_string_lossy().into_owned(), dir);
            }
        }
        if let (Some(mount), Some(dir)) = (self.hierarchy.unified(), self.cgroup.unified_dir()) {
            if let Some(name) = mount.file_name() {
                push(name.to_string_lossy().into_owned(), dir);
            }
        }
        if let Ok(rd) = std::fs::read_dir(self.hierarchy.root()) {
            for e in rd.flatten() {
                let Ok(target) = std::fs::read_link(e.path()) else {
                    continue;
                };
                let target = target.to_string_lossy().into_owned();
                let bound = out
                    .iter()
                    .any(|x| matches!(x, CgroupEntry::Bind { name, .. } if *name == target));
                if bound {
                    out.push(CgroupEntry::Link {
                        name: e.file_name().to_string_lossy().into_owned(),
                        target,
                    });
                }
            }
        }
        out
    }
}
