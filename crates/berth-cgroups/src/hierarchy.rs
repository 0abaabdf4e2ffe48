//! Finding the cgroup hierarchies of the host and deciding which mode they are in.
//!
//! [`Hierarchy::detect`] reads `/proc/self/mountinfo`: every `cgroup` mount contributes its
//! controllers (from the super options, so co-mounted `cpu,cpuacct` maps both names to
//! one directory), a `cgroup2` mount is the unified tree. [`Hierarchy::at`] looks at a
//! directory instead (a fake tree in tests, or a real root): a `cgroup.controllers` file
//! at the root (or a cgroup2 file system) means v2, controller directories mean v1, and
//! v1 plus a `unified` v2 directory means hybrid.

use crate::error::CgroupError;
use berth_types::spec::CgroupMounts;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Default mount point of the cgroup file systems.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

/// The v1 controllers this crate knows. Named hierarchies (`name=systemd`) are not
/// controllers and are left alone.
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "net_cls",
    "net_prio",
    "perf_event",
    "hugetlb",
    "rdma",
    "misc",
];

/// How the host mounts cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Only v1 controller hierarchies.
    V1,
    /// v1 controller hierarchies plus a (usually controller-less) v2 tree, typically at
    /// `<root>/unified`. All resource controllers are driven through v1.
    Hybrid,
    /// The unified v2 hierarchy at the root.
    V2,
}

/// The cgroup hierarchies of a host (or a fake tree).
#[derive(Debug, Clone)]
pub struct Hierarchy {
    root: PathBuf,
    mode: Mode,
    /// v1 controller name → mount directory.
    v1: BTreeMap<String, PathBuf>,
    /// The v2 tree: the root in V2 mode, `<root>/unified` (or wherever mounted) in hybrid.
    unified: Option<PathBuf>,
    /// Writes may create missing files: set only for fake trees (not a cgroup fs).
    fake: bool,
}

impl Hierarchy {
    /// The host's hierarchies as mounted under `/sys/fs/cgroup`, found via
    /// `/proc/self/mountinfo`.
    pub fn detect() -> Result<Hierarchy, CgroupError> {
        let root = PathBuf::from(DEFAULT_ROOT);
        let mountinfo = read_proc_file("/proc/self/mountinfo").map_err(|e| CgroupError::Read {
            path: PathBuf::from("/proc/self/mountinfo"),
            source: e,
        })?;
        if is_cgroup2(&root) {
            return Ok(Hierarchy {
                root: root.clone(),
                mode: Mode::V2,
                v1: BTreeMap::new(),
                unified: Some(root),
                fake: false,
            });
        }
        let (v1, unified) = parse_mountinfo(&mountinfo, &root);
        Self::from_parts(root, v1, unified, false)
    }

    /// The hierarchies under `root`, judged by its contents (for fake trees in tests and
    /// for non-default mount points).
    pub fn at(root: &Path) -> Result<Hierarchy, CgroupError> {
        let root = root.to_path_buf();
        let real_v2 = is_cgroup2(&root);
        if real_v2 || root.join("cgroup.controllers").is_file() {
            return Ok(Hierarchy {
                root: root.clone(),
                mode: Mode::V2,
                v1: BTreeMap::new(),
                unified: Some(root),
                fake: !real_v2,
            });
        }
        let entries = std::fs::read_dir(&root).map_err(|e| CgroupError::NoHierarchy {
            root: root.clone(),
            detail: crate::error::describe(&e),
        })?;
        let mut v1 = BTreeMap::new();
        let mut any_real = false;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let dir = root.join(&name);
            if !dir.is_dir() {
                continue;
            }
            for part in name.split(',') {
                if V1_CONTROLLERS.contains(&part) {
                    any_real |= is_cgroup1(&dir);
                    v1.insert(part.to_string(), dir.clone());
                }
            }
        }
        let unified_dir = root.join("unified");
        let unified = (unified_dir.join("cgroup.controllers").is_file()).then_some(unified_dir);
        Self::from_parts(root, v1, unified, !any_real)
    }

    fn from_parts(
        root: PathBuf,
        v1: BTreeMap<String, PathBuf>,
        unified: Option<PathBuf>,
        fake: bool,
    ) -> Result<Hierarchy, CgroupError> {
        let mode = match (v1.is_empty(), &unified) {
            (false, Some(_)) => Mode::Hybrid,
            (false, None) => Mode::V1,
            (true, Some(u)) => {
                // Only a v2 tree somewhere below the root: treat it as the unified root.
                return Ok(Hierarchy {
                    root: u.clone(),
                    mode: Mode::V2,
                    v1,
                    unified: Some(u.clone()),
                    fake,
                });
            }
            (true, None) => {
                return Err(CgroupError::NoHierarchy {
                    root,
                    detail: "no cgroup controllers mounted".to_string(),
                })
            }
        };
        Ok(Hierarchy {
            root,
            mode,
            v1,
            unified,
            fake,
        })
    }

    /// V1, Hybrid or V2.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The root the hierarchies were found under (`/sys/fs/cgroup` by default).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Mount directory of a v1 controller (`memory`, `cpu`, …), if mounted.
    pub fn v1_mount(&self, controller: &str) -> Option<&Path> {
        self.v1.get(controller).map(PathBuf::as_path)
    }

    /// All v1 controllers with their mount directories.
    pub fn v1_controllers(&self) -> impl Iterator<Item = (&str, &Path)> {
        self.v1.iter().map(|(k, v)| (k.as_str(), v.as_path()))
    }

    /// The v2 tree (the root in V2 mode; the `unified` mount in hybrid mode).
    pub fn unified(&self) -> Option<&Path> {
        self.unified.as_deref()
    }

    /// True for fake trees (tests): writes then create missing files.
    pub(crate) fn is_fake(&self) -> bool {
        self.fake
    }

    /// The mounts, to hand to another process (the runtime in a shim) that would
    /// otherwise [`detect`](Hierarchy::detect) them again. Not for fake trees.
    pub fn to_mounts(&self) -> Option<CgroupMounts> {
        if self.fake {
            return None;
        }
        let s = |p: &Path| p.display().to_string();
        Some(CgroupMounts {
            root: s(&self.root),
            v1: self.v1.iter().map(|(k, v)| (k.clone(), s(v))).collect(),
            unified: self.unified.as_deref().map(s),
        })
    }

    /// The hierarchies described by [`to_mounts`](Hierarchy::to_mounts).
    pub fn from_mounts(m: &CgroupMounts) -> Result<Hierarchy, CgroupError> {
        let v1 =
            m.v1.iter()
                .map(|(k, v)| (k.clone(), PathBuf::from(v)))
                .collect();
        Self::from_parts(
            PathBuf::from(&m.root),
            v1,
            m.unified.as_ref().map(PathBuf::from),
            false,
        )
    }
}

/// v1 controllers and the v2 mount from mountinfo text. Only mounts below `root` count,
/// so stray cgroup mounts elsewhere (inside containers' rootfs) are ignored.
pub(crate) fn parse_mountinfo(
    text: &str,
    root: &Path,
) -> (BTreeMap<String, PathBuf>, Option<PathBuf>) {
    let mut v1 = BTreeMap::new();
    let mut unified = None;
    for line in text.lines() {
        // id parent major:minor root mount-point options [optional...] - fstype source super
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        if left.len() < 5 || right.len() < 3 {
            continue;
        }
        let mount_point = PathBuf::from(unescape_octal(left[4]));
        if !mount_point.starts_with(root) {
            continue;
        }
        match right[0] {
            "cgroup2" => unified = Some(mount_point),
            "cgroup" => {
                for opt in right[2].split(',') {
                    if V1_CONTROLLERS.contains(&opt) {
                        v1.insert(opt.to_string(), mount_point.clone());
                    }
                }
            }
            _ => {}
        }
    }
    (v1, unified)
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn fs_magic(path: &Path) -> Option<nix::sys::statfs::FsType> {
    nix::sys::statfs::statfs(path)
        .ok()
        .map(|s| s.filesystem_type())
}

/// Reads a /proc file in one or two `read`s. `read_to_string` starts with a 32-byte
/// probe and doubles from there: seven reads for a mount table, each of which the
/// kernel regenerates, and this runs in every container's start and exit.
fn read_proc_file(path: &str) -> std::io::Result<String> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(64 * 1024);
    std::fs::File::open(path)?.read_to_end(&mut buf)?;
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

fn is_cgroup2(path: &Path) -> bool {
    fs_magic(path) == Some(nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

fn is_cgroup1(path: &Path) -> bool {
    fs_magic(path) == Some(nix::sys::statfs::CGROUP_SUPER_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
90 80 0:38 / /var/lib/x/rootfs/sys/fs/cgroup rw - cgroup cgroup rw,pids
";

    #[test]
    fn mountinfo_maps_comounted_controllers() {
        let (v1, unified) = parse_mountinfo(HYBRID, Path::new("/sys/fs/cgroup"));
        assert_eq!(v1["cpu"], Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(v1["cpuacct"], Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(v1["memory"], Path::new("/sys/fs/cgroup/memory"));
        assert!(
            !v1.contains_key("pids"),
            "mount outside the root must be ignored"
        );
        assert!(!v1.contains_key("name=systemd"));
        assert_eq!(
            unified.as_deref(),
            Some(Path::new("/sys/fs/cgroup/unified"))
        );
    }

    #[test]
    fn mounts_handed_over_give_the_same_hierarchies() {
        let root = PathBuf::from("/sys/fs/cgroup");
        let (v1, unified) = parse_mountinfo(HYBRID, &root);
        let h = Hierarchy::from_parts(root.clone(), v1, unified, false).unwrap();
        let m = h.to_mounts().unwrap();
        assert_eq!(m.v1["cpuacct"], "/sys/fs/cgroup/cpu,cpuacct");
        let back = Hierarchy::from_mounts(&m).unwrap();
        assert_eq!(back.mode(), Mode::Hybrid);
        assert_eq!(back.root(), h.root());
        assert_eq!(back.unified(), h.unified());
        assert!(back.v1_controllers().eq(h.v1_controllers()));
        // Pure v2: the unified tree is the root.
        let v2 = Hierarchy::from_mounts(&CgroupMounts {
            root: "/sys/fs/cgroup".into(),
            v1: Default::default(),
            unified: Some("/sys/fs/cgroup".into()),
        })
        .unwrap();
        assert_eq!(v2.mode(), Mode::V2);
        // Nothing mounted is an error, as with detection.
        assert!(Hierarchy::from_mounts(&CgroupMounts::default()).is_err());
        // A fake tree is never handed over: its writes differ.
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("cgroup.controllers"), "cpu\n").unwrap();
        assert!(Hierarchy::at(d.path()).unwrap().to_mounts().is_none());
    }

    #[test]
    fn unescape_mount_points() {
        assert_eq!(unescape_octal("/a\\040b"), "/a b");
        assert_eq!(unescape_octal("/plain"), "/plain");
    }

    #[test]
    fn at_detects_modes_of_fake_trees() {
        let d = tempfile::tempdir().unwrap();
        // v2: cgroup.controllers at the root.
        std::fs::write(d.path().join("cgroup.controllers"), "cpu memory\n").unwrap();
        let h = Hierarchy::at(d.path()).unwrap();
        assert_eq!(h.mode(), Mode::V2);
        assert_eq!(h.unified(), Some(d.path()));
        assert!(h.is_fake());

        // v1: controller directories.
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("memory")).unwrap();
        std::fs::create_dir(d.path().join("cpu,cpuacct")).unwrap();
        std::fs::create_dir(d.path().join("systemd")).unwrap();
        let h = Hierarchy::at(d.path()).unwrap();
        assert_eq!(h.mode(), Mode::V1);
        assert_eq!(
            h.v1_mount("cpuacct"),
            Some(d.path().join("cpu,cpuacct").as_path())
        );
        assert!(h.v1_mount("systemd").is_none());

        // hybrid: plus a unified v2 tree.
        std::fs::create_dir(d.path().join("unified")).unwrap();
        std::fs::write(d.path().join("unified/cgroup.controllers"), "").unwrap();
        let h = Hierarchy::at(d.path()).unwrap();
        assert_eq!(h.mode(), Mode::Hybrid);

        // nothing at all
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(
            Hierarchy::at(d.path()),
            Err(CgroupError::NoHierarchy { .. })
        ));
    }

    #[test]
    fn detect_matches_this_host() {
        // Whatever the host is, detect() must agree with at() on the same root.
        let Ok(h) = Hierarchy::detect() else {
            return; // no cgroups mounted (unusual sandbox): nothing to compare
        };
        let a = Hierarchy::at(Path::new(DEFAULT_ROOT)).unwrap();
        assert_eq!(h.mode(), a.mode());
        assert!(!h.is_fake());
        assert!(!a.is_fake());
        if h.mode() != Mode::V2 {
            assert_eq!(h.v1_mount("memory"), a.v1_mount("memory"));
        }
    }
}
