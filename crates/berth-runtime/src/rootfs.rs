//! Assembling the container's filesystem inside its new mount namespace.
//!
//! Runs in the container child before `execve`: make mounts private, mount the overlay
//! (or bind the prepared dir), add /proc, /sys (+ /sys/fs/cgroup), /dev and its standard
//! nodes, the spec's extra mounts (targets resolved inside the root by `resolve`), then
//! `pivot_root`. After the pivot: masked paths, read-only paths, read-only root.
//! Every privileged call goes through [`Syscall`] so unit tests can record it.

use crate::error::RuntimeError;
use crate::mountopts::MountOpts;
use crate::resolve::{ensure_target, mkdir_all_in_root, resolve_in_root};
use crate::sys::Syscall;
use berth_types::spec::{ContainerSpec, Rootfs};
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

/// Docker's default size of /dev/shm.
pub const DEFAULT_SHM_SIZE: u64 = 64 * 1024 * 1024;

/// The device nodes every container gets: (name, major, minor).
const DEFAULT_DEVICES: [(&str, u32, u32); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// One entry to show under /sys/fs/cgroup: the container's own cgroup directory of a
/// hierarchy, or an alias link (`cpu -> cpu,cpuacct`).
#[derive(Debug, Clone, PartialEq)]
pub enum CgroupEntry {
    Bind { name: String, host: PathBuf },
    Link { name: String, target: String },
}

/// What the rootfs step needs beyond the spec.
#[derive(Debug, Default)]
pub struct Extras {
    /// Host path of the pty slave to show as /dev/console (a `/proc/self/fd/N` link).
    pub console: Option<PathBuf>,
    /// The container's cgroup directories, for /sys/fs/cgroup.
    pub cgroups: Vec<CgroupEntry>,
    /// A user namespace is in use: keep locked mount flags on remounts, bind devices.
    pub userns: bool,
    /// Privileged container: /sys and its cgroup dirs writable, every host device.
    pub privileged: bool,
}

impl Extras {
    /// MS_RDONLY unless privileged (Docker mounts /sys read-write for `--privileged`).
    fn sys_ro(&self) -> libc::c_ulong {
        if self.privileged {
            0
        } else {
            libc::MS_RDONLY
        }
    }
}

fn step(what: impl Into<String>) -> impl FnOnce(io::Error) -> RuntimeError {
    let what = what.into();
    move |e| RuntimeError::sys(what, e)
}

/// Mount the root filesystem and everything under it; returns the host path of the new
/// root, ready for [`pivot`].
pub fn prepare(
    sys: &dyn Syscall,
    spec: &ContainerSpec,
    extras: &Extras,
) -> Result<PathBuf, RuntimeError> {
    // Nothing we mount may propagate back to the host. A volume that asks for
    // slave/shared propagation must still receive the host's mount events: then every
    // mount becomes a slave (receives, never sends) instead of private.
    let wants_events = spec.mounts.iter().any(|m| {
        let p = MountOpts::parse(&m.options).propagation;
        p & (libc::MS_SLAVE | libc::MS_SHARED) != 0
    });
    let root_prop = if wants_events {
        libc::MS_SLAVE
    } else {
        libc::MS_PRIVATE
    };
    sys.mount(None, Path::new("/"), None, libc::MS_REC | root_prop, None)
        .map_err(step("make / private"))?;
    let root = mount_root(sys, &spec.rootfs)?;
    mount_proc(sys, &root)?;
    mount_sys(sys, &root, extras)?;
    mount_dev(sys, &root, spec, extras)?;
    for m in &spec.mounts {
        mount_one(sys, &root, m, extras.userns)?;
    }
    Ok(root)
}

fn mount_root(sys: &dyn Syscall, rootfs: &Rootfs) -> Result<PathBuf, RuntimeError> {
    match rootfs {
        Rootfs::Overlay { lower, upper, work } => {
            if lower.is_empty() {
                return Err(RuntimeError::Other(
                    "overlay rootfs without lower layers".into(),
                ));
            }
            let merged = Path::new(upper)
                .parent()
                .unwrap_or_else(|| Path::new("/"))
                .join("merged");
            std::fs::create_dir_all(&merged)
                .map_err(step(format!("mkdir {}", merged.display())))?;
            let data = overlay_options(sys, lower, upper, work)?;
            sys.mount(Some("overlay"), &merged, Some("overlay"), 0, Some(&data))
                .map_err(step("mount overlay rootfs"))?;
            Ok(merged)
        }
        Rootfs::Path { path } => {
            if path.is_empty() {
                return Err(RuntimeError::Other("no root filesystem given".into()));
            }
            let p = PathBuf::from(path);
            // pivot_root wants the new root to be a mount point.
            sys.mount(Some(path), &p, None, libc::MS_BIND | libc::MS_REC, None)
                .map_err(step(format!("bind rootfs {path}")))?;
            Ok(p)
        }
    }
}

/// mount(2) data is limited to one page. With many layers the absolute paths do not
/// fit: then we chdir to their common parent and pass relative paths (the kernel
/// resolves them against our working directory at mount time).
fn overlay_options(
    sys: &dyn Syscall,
    lower: &[String],
    upper: &str,
    work: &str,
) -> Result<String, RuntimeError> {
    const LIMIT: usize = 4095;
    let data = format!(
        "lowerdir={},upperdir={upper},workdir={work}",
        lower.join(":")
    );
    if data.len() <= LIMIT {
        return Ok(data);
    }
    let all: Vec<&Path> = lower
        .iter()
        .map(Path::new)
        .chain([Path::new(upper), Path::new(work)])
        .collect();
    let mut common = all[0].parent().unwrap_or(Path::new("/")).to_path_buf();
    while !all.iter().all(|p| p.starts_with(&common)) {
        if !common.pop() {
            break;
        }
    }
    let rel = |p: &str| -> String {
        Path::new(p)
            .strip_prefix(&common)
            .map_or_else(|_| p.to_string(), |r| r.to_string_lossy().into_owned())
    };
    let lows: Vec<String> = lower.iter().map(|l| rel(l)).collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lows.join(":"),
        rel(upper),
        rel(work)
    );
    if data.len() > LIMIT {
        return Err(RuntimeError::Other(format!(
            "too many image layers for one overlay mount ({})",
            lower.len()
        )));
    }
    sys.chdir(&common)
        .map_err(step(format!("chdir {}", common.display())))?;
    Ok(data)
}

fn mount_proc(sys: &dyn Syscall, root: &Path) -> Result<(), RuntimeError> {
    let t = mkdir_all_in_root(root, "/proc", 0o555).map_err(step("mkdir /proc"))?;
    let flags = libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV;
    sys.mount(Some("proc"), &t, Some("proc"), flags, None)
        .map_err(step("mount /proc"))
}

fn mount_sys(sys: &dyn Syscall, root: &Path, extras: &Extras) -> Result<(), RuntimeError> {
    let t = mkdir_all_in_root(root, "/sys", 0o555).map_err(step("mkdir /sys"))?;
    let flags = extras.sys_ro() | libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV;
    if let Err(e) = sys.mount(Some("sysfs"), &t, Some("sysfs"), flags, None) {
        // Without owning the network namespace sysfs cannot be mounted: bind the host's.
        if e.raw_os_error() != Some(libc::EPERM) {
            return Err(RuntimeError::sys("mount /sys", e));
        }
        sys.mount(Some("/sys"), &t, None, libc::MS_BIND | libc::MS_REC, None)
            .map_err(step("bind /sys"))?;
        sys.mount(
            None,
            &t,
            None,
            libc::MS_BIND | libc::MS_REMOUNT | flags,
            None,
        )
        .map_err(step("remount /sys read-only"))?;
        return Ok(());
    }
    mount_cgroup_dir(sys, root, extras)
}

/// /sys/fs/cgroup: a small read-only tmpfs holding the container's own cgroup of each
/// hierarchy, bound read-only (what Docker shows on cgroup v1 hosts).
fn mount_cgroup_dir(sys: &dyn Syscall, root: &Path, extras: &Extras) -> Result<(), RuntimeError> {
    let t = resolve_in_root(root, "/sys/fs/cgroup").map_err(step("resolve /sys/fs/cgroup"))?;
    if !t.is_dir() {
        return Ok(());
    }
    let flags = libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV;
    // cgroup v2 only: the container's directory is the whole of /sys/fs/cgroup.
    let v2 = extras.cgroups.iter().find_map(|e| match e {
        CgroupEntry::Bind { name, host } if name.is_empty() => Some(host),
        _ => None,
    });
    if let Some(host) = v2 {
        let hs = host.to_string_lossy();
        sys.mount(Some(&hs), &t, None, libc::MS_BIND, None)
            .map_err(step("bind /sys/fs/cgroup"))?;
        return sys
            .mount(
                None,
                &t,
                None,
                libc::MS_BIND | libc::MS_REMOUNT | extras.sys_ro() | flags,
                None,
            )
            .map_err(step("remount /sys/fs/cgroup read-only"));
    }
    sys.mount(Some("tmpfs"), &t, Some("tmpfs"), flags, Some("mode=755"))
        .map_err(step("mount /sys/fs/cgroup"))?;
    for entry in &extras.cgroups {
        match entry {
            CgroupEntry::Link { name, target } => {
                symlink(target, t.join(name))
                    .map_err(step(format!("symlink /sys/fs/cgroup/{name}")))?;
            }
            CgroupEntry::Bind { name, host } => {
                let d = t.join(name);
                std::fs::create_dir_all(&d)
                    .map_err(step(format!("mkdir /sys/fs/cgroup/{name}")))?;
                let hs = host.to_string_lossy();
                sys.mount(Some(&hs), &d, None, libc::MS_BIND, None)
                    .map_err(step(format!("bind /sys/fs/cgroup/{name}")))?;
                sys.mount(
                    None,
                    &d,
                    None,
                    libc::MS_BIND | libc::MS_REMOUNT | extras.sys_ro() | flags,
                    None,
                )
                .map_err(step(format!("remount /sys/fs/cgroup/{name}")))?;
            }
        }
    }
    sys.mount(
        None,
        &t,
        None,
        libc::MS_REMOUNT | extras.sys_ro() | flags,
        Some("mode=755"),
    )
    .map_err(step("remount /sys/fs/cgroup read-only"))
}

fn makedev(major: u64, minor: u64) -> libc::dev_t {
    libc::makedev(major as u32, minor as u32)
}

fn mount_dev(
    sys: &dyn Syscall,
    root: &Path,
    spec: &ContainerSpec,
    extras: &Extras,
) -> Result<(), RuntimeError> {
    let dev = mkdir_all_in_root(root, "/dev", 0o755).map_err(step("mkdir /dev"))?;
    sys.mount(
        Some("tmpfs"),
        &dev,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )
    .map_err(step("mount /dev"))?;

    for (name, major, minor) in DEFAULT_DEVICES {
        let p = dev.join(name);
        make_device(
            sys,
            &p,
            &Path::new("/dev").join(name),
            libc::S_IFCHR,
            makedev(major.into(), minor.into()),
            0o666,
            0,
            0,
            extras.userns,
        )
        .map_err(step(format!("create /dev/{name}")))?;
    }

    let pts = dev.join("pts");
    std::fs::create_dir_all(&pts).map_err(step("mkdir /dev/pts"))?;
    sys.mount(
        Some("devpts"),
        &pts,
        Some("devpts"),
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    )
    .map_err(step("mount /dev/pts"))?;
    symlink("pts/ptmx", dev.join("ptmx")).map_err(step("symlink /dev/ptmx"))?;

    let shm = dev.join("shm");
    std::fs::create_dir_all(&shm).map_err(step("mkdir /dev/shm"))?;
    let size = if spec.shm_size == 0 {
        DEFAULT_SHM_SIZE
    } else {
        spec.shm_size
    };
    sys.mount(
        Some("shm"),
        &shm,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        Some(&format!("mode=1777,size={size}")),
    )
    .map_err(step("mount /dev/shm"))?;

    let mq = dev.join("mqueue");
    std::fs::create_dir_all(&mq).map_err(step("mkdir /dev/mqueue"))?;
    sys.mount(
        Some("mqueue"),
        &mq,
        Some("mqueue"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        None,
    )
    .map_err(step("mount /dev/mqueue"))?;

    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlink(target, dev.join(name)).map_err(step(format!("symlink /dev/{name}")))?;
    }

    if let Some(console) = &extras.console {
        let c = dev.join("console");
        std::fs::write(&c, b"").map_err(step("create /dev/console"))?;
        sys.mount(
            Some(&console.to_string_lossy()),
            &c,
            None,
            libc::MS_BIND,
            None,
        )
        .map_err(step("bind /dev/console"))?;
    }

    for d in &spec.devices {
        let kind = match d.kind {
            'b' => libc::S_IFBLK,
            'c' | 'u' => libc::S_IFCHR,
            'p' => libc::S_IFIFO,
            other => {
                return Err(RuntimeError::Other(format!(
                    "invalid device type {other:?} for {}",
                    d.path
                )))
            }
        };
        let p = Path::new(&d.path);
        if let Some(parent) = p.parent() {
            mkdir_all_in_root(root, &parent.to_string_lossy(), 0o755)
                .map_err(step(format!("mkdir for device {}", d.path)))?;
        }
        let target =
            resolve_in_root(root, &d.path).map_err(step(format!("resolve device {}", d.path)))?;
        let _ = std::fs::remove_file(&target);
        let mode = if d.mode == 0 { 0o666 } else { d.mode & 0o7777 };
        make_device(
            sys,
            &target,
            Path::new(&d.path),
            kind,
            makedev(d.major, d.minor),
            mode,
            d.uid,
            d.gid,
            extras.userns,
        )
        .map_err(step(format!("create device {}", d.path)))?;
    }
    if extras.privileged {
        let mut found = Vec::new();
        host_devices(Path::new("/dev"), Path::new(""), &mut found);
        for (rel, md) in found {
            use std::os::unix::fs::MetadataExt;
            let target = dev.join(&rel);
            if std::fs::symlink_metadata(&target).is_ok() {
                continue;
            }
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(step(format!("mkdir for /dev/{}", rel.display())))?;
            }
            let host = Path::new("/dev").join(&rel);
            make_device(
                sys,
                &target,
                &host,
                md.mode() & libc::S_IFMT,
                md.rdev(),
                md.mode() & 0o7777,
                md.uid(),
                md.gid(),
                extras.userns,
            )
            .map_err(step(format!("create device /dev/{}", rel.display())))?;
        }
    }
    Ok(())
}

/// Every character and block device under the host's /dev, for privileged containers
/// (not the ones a container gets its own instance of).
fn host_devices(dir: &Path, rel: &Path, out: &mut Vec<(PathBuf, std::fs::Metadata)>) {
    use std::os::unix::fs::FileTypeExt;
    const SKIP: [&str; 8] = [
        "pts",
        "shm",
        "fd",
        "mqueue",
        "console",
        ".lxc",
        ".lxd-mounts",
        ".udev",
    ];
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        if rel.as_os_str().is_empty() && SKIP.iter().any(|s| name == *s) {
            continue;
        }
        let Ok(md) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        let ft = md.file_type();
        if ft.is_dir() {
            host_devices(&e.path(), &rel.join(&name), out);
        } else if ft.is_char_device() || ft.is_block_device() {
            out.push((rel.join(&name), md));
        }
    }
}

/// mknod a device node; where that is refused (user namespaces), bind the host's node
/// over an empty file instead.
#[allow(clippy::too_many_arguments)]
fn make_device(
    sys: &dyn Syscall,
    path: &Path,
    host: &Path,
    kind: libc::mode_t,
    dev: libc::dev_t,
    mode: u32,
    uid: u32,
    gid: u32,
    userns: bool,
) -> io::Result<()> {
    let made = if userns {
        Err(io::Error::from_raw_os_error(libc::EPERM))
    } else {
        sys.mknod(path, kind | mode, dev)
    };
    match made {
        Ok(()) => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            sys.chown(path, uid, gid)
        }
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            if std::fs::symlink_metadata(path).is_err() {
                std::fs::write(path, b"")?;
            }
            sys.mount(
                Some(&host.to_string_lossy()),
                path,
                None,
                libc::MS_BIND,
                None,
            )
        }
        Err(e) => Err(e),
    }
}

/// The per-mount flags a remount must keep (the kernel refuses to clear locked ones).
fn kept_flags(path: &Path) -> libc::c_ulong {
    let Ok(c) = crate::sys::cstr(path) else {
        return 0;
    };
    // SAFETY: statvfs fills the zeroed struct we own; the path is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return 0;
    }
    let f = st.f_flag;
    let mut out = 0;
    for (st_flag, ms_flag) in [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ] {
        if f & st_flag != 0 {
            out |= ms_flag;
        }
    }
    out
}

fn mount_one(
    sys: &dyn Syscall,
    root: &Path,
    m: &berth_types::spec::Mount,
    userns: bool,
) -> Result<(), RuntimeError> {
    let opts = MountOpts::parse(&m.options);
    let is_bind = m.fstype == "bind" || opts.bind;
    let label = format!("mount {} to {}", m.source, m.target);
    let target = if is_bind {
        let md =
            std::fs::metadata(&m.source).map_err(step(format!("{label}: stat {}", m.source)))?;
        let t = ensure_target(root, &m.target, !md.is_dir())
            .map_err(step(format!("{label}: create target")))?;
        let rec = if opts.recursive { libc::MS_REC } else { 0 };
        sys.mount(Some(&m.source), &t, None, libc::MS_BIND | rec, None)
            .map_err(step(label.clone()))?;
        if opts.flags != 0 {
            let keep = if userns { kept_flags(&t) } else { 0 };
            sys.mount(
                None,
                &t,
                None,
                libc::MS_BIND | libc::MS_REMOUNT | rec | opts.flags | keep,
                None,
            )
            .map_err(step(format!("{label}: remount")))?;
        }
        if opts.recursive_readonly && opts.recursive {
            match sys.readonly_recursive(&t) {
                Ok(()) => {}
                // No mount_setattr (kernel < 5.12): plain `ro` is what Docker falls back to.
                Err(e)
                    if e.raw_os_error() == Some(libc::ENOSYS)
                        && !opts.recursive_readonly_strict => {}
                Err(e) => {
                    return Err(step(format!("{label}: make recursively read-only"))(e));
                }
            }
        }
        t
    } else {
        let t = ensure_target(root, &m.target, false)
            .map_err(step(format!("{label}: create target")))?;
        let source = if m.source.is_empty() {
            m.fstype.as_str()
        } else {
            m.source.as_str()
        };
        let data = opts.data_string();
        sys.mount(
            Some(source),
            &t,
            Some(&m.fstype),
            opts.flags,
            data.as_deref(),
        )
        .map_err(step(label.clone()))?;
        t
    };
    if opts.propagation != 0 {
        sys.mount(None, &target, None, opts.propagation, None)
            .map_err(step(format!("{label}: set propagation")))?;
    }
    Ok(())
}

/// Make `root` the process's `/` and detach the old root.
pub fn pivot(sys: &dyn Syscall, root: &Path) -> Result<(), RuntimeError> {
    sys.chdir(root).map_err(step("chdir to rootfs"))?;
    // pivot_root(".", ".") stacks the old root on top of the new one; detaching it then
    // leaves the new root alone, with no put_old directory needed in the image.
    sys.pivot_root(Path::new("."), Path::new("."))
        .map_err(step("pivot_root"))?;
    sys.mount(
        None,
        Path::new("."),
        None,
        libc::MS_SLAVE | libc::MS_REC,
        None,
    )
    .map_err(step("make old root rslave"))?;
    sys.umount2(Path::new("."), libc::MNT_DETACH)
        .map_err(step("unmount old root"))?;
    sys.chdir(Path::new("/")).map_err(step("chdir /"))
}

/// Masked and read-only paths, and a read-only root, applied after the pivot. `root` is
/// `/` in the container (a temp dir in unit tests).
pub fn finish(sys: &dyn Syscall, root: &Path, spec: &ContainerSpec) -> Result<(), RuntimeError> {
    for p in &spec.masked_paths {
        let host = root.join(p.trim_start_matches('/'));
        let Ok(md) = std::fs::metadata(&host) else {
            continue;
        };
        if md.is_dir() {
            sys.mount(Some("tmpfs"), &host, Some("tmpfs"), libc::MS_RDONLY, None)
                .map_err(step(format!("mask {p}")))?;
        } else {
            sys.mount(Some("/dev/null"), &host, None, libc::MS_BIND, None)
                .map_err(step(format!("mask {p}")))?;
        }
    }
    for p in &spec.readonly_paths {
        let host = root.join(p.trim_start_matches('/'));
        if std::fs::symlink_metadata(&host).is_err() {
            continue;
        }
        let hs = host.to_string_lossy();
        sys.mount(Some(&hs), &host, None, libc::MS_BIND | libc::MS_REC, None)
            .map_err(step(format!("bind {p} read-only")))?;
        sys.mount(
            None,
            &host,
            None,
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_REC | kept_flags(&host),
            None,
        )
        .map_err(step(format!("remount {p} read-only")))?;
    }
    if spec.readonly_rootfs {
        sys.mount(
            None,
            root,
            None,
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | kept_flags(root),
            None,
        )
        .map_err(step("remount / read-only"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::record::Recorder;
    use berth_types::spec::Mount;

    use crate::testutil::TempDir;

    fn tmp(name: &str) -> TempDir {
        TempDir::new(&format!("rootfs-{name}"))
    }

    #[test]
    fn overlay_and_standard_mounts_are_recorded() {
        let t = tmp("std");
        let lower = t.0.join("lower");
        std::fs::create_dir_all(&lower).unwrap();
        let upper = t.0.join("c/upper");
        let work = t.0.join("c/work");
        // The recorder does not mount, so pretend the overlay's merged view is the lower.
        std::fs::create_dir_all(t.0.join("c/merged/sys/fs/cgroup")).unwrap();
        let spec = ContainerSpec {
            rootfs: Rootfs::Overlay {
                lower: vec![lower.to_string_lossy().into()],
                upper: upper.to_string_lossy().into(),
                work: work.to_string_lossy().into(),
            },
            shm_size: 1 << 20,
            ..Default::default()
        };
        let rec = Recorder {
            fail_mknod: true,
            ..Default::default()
        };
        let extras = Extras {
            cgroups: vec![CgroupEntry::Bind {
                name: "memory".into(),
                host: "/sys/fs/cgroup/memory/x".into(),
            }],
            ..Default::default()
        };
        let root = prepare(&rec, &spec, &extras).unwrap();
        let merged = t.0.join("c/merged");
        assert_eq!(root, merged);
        let m = rec.mounts();
        let r = merged.display();
        assert_eq!(m[0], "mount - / - 0x44000 -");
        assert_eq!(
            m[1],
            format!(
                "mount overlay {r} overlay 0x0 lowerdir={},upperdir={},workdir={}",
                lower.display(),
                upper.display(),
                work.display()
            )
        );
        assert!(m.contains(&format!("mount proc {r}/proc proc 0xe -")));
        assert!(m.contains(&format!("mount sysfs {r}/sys sysfs 0xf -")));
        assert!(m.contains(&format!(
            "mount /sys/fs/cgroup/memory/x {r}/sys/fs/cgroup/memory - 0x1000 -"
        )));
        assert!(m.contains(&format!(
            "mount tmpfs {r}/dev tmpfs 0x1000002 mode=755,size=65536k"
        )));
        assert!(m.contains(&format!(
            "mount devpts {r}/dev/pts devpts 0xa newinstance,ptmxmode=0666,mode=0620,gid=5"
        )));
        assert!(m.contains(&format!(
            "mount shm {r}/dev/shm tmpfs 0xe mode=1777,size=1048576"
        )));
        // mknod refused: the host node is bound over an empty file instead.
        assert!(m.contains(&format!("mount /dev/null {r}/dev/null - 0x1000 -")));
        assert_eq!(
            std::fs::read_link(merged.join("dev/ptmx")).unwrap(),
            Path::new("pts/ptmx")
        );
        assert_eq!(
            std::fs::read_link(merged.join("dev/stderr")).unwrap(),
            Path::new("/proc/self/fd/2")
        );
    }

    #[test]
    fn extra_mounts_resolve_inside_root_with_options() {
        let t = tmp("extra");
        let rootdir = t.0.join("root");
        std::fs::create_dir_all(rootdir.join("etc")).unwrap();
        symlink("/etc", rootdir.join("evil")).unwrap();
        let src = t.0.join("vol");
        std::fs::create_dir_all(&src).unwrap();
        let srcfile = t.0.join("hosts");
        std::fs::write(&srcfile, b"x").unwrap();
        let spec = ContainerSpec {
            rootfs: Rootfs::Path {
                path: rootdir.to_string_lossy().into(),
            },
            mounts: vec![
                Mount {
                    source: src.to_string_lossy().into(),
                    target: "/evil/data".into(),
                    fstype: "bind".into(),
                    options: vec!["rbind".into(), "ro".into(), "rprivate".into()],
                },
                Mount {
                    source: srcfile.to_string_lossy().into(),
                    target: "/etc/hosts".into(),
                    fstype: "bind".into(),
                    options: vec!["bind".into()],
                },
                Mount {
                    source: "tmpfs".into(),
                    target: "/run".into(),
                    fstype: "tmpfs".into(),
                    options: vec!["nosuid".into(), "size=1m".into(), "mode=1777".into()],
                },
            ],
            ..Default::default()
        };
        let rec = Recorder::default();
        prepare(&rec, &spec, &Extras::default()).unwrap();
        let m = rec.mounts();
        let r = rootdir.display();
        let s = src.display();
        // The symlinked target lands inside the root, never on the host's /etc.
        assert!(
            m.contains(&format!("mount {s} {r}/etc/data - 0x5000 -")),
            "{m:#?}"
        );
        assert!(m.contains(&format!("mount - {r}/etc/data - 0x5021 -")));
        assert!(m.contains(&format!("mount - {r}/etc/data - 0x44000 -")));
        assert!(rootdir.join("etc/data").is_dir());
        assert!(m.contains(&format!(
            "mount {} {r}/etc/hosts - 0x1000 -",
            srcfile.display()
        )));
        assert!(rootdir.join("etc/hosts").is_file());
        assert!(m.contains(&format!("mount tmpfs {r}/run tmpfs 0x2 size=1m,mode=1777")));
    }

    #[test]
    fn recursive_readonly_binds_set_every_submount_readonly() {
        let t = tmp("rro");
        let rootdir = t.0.join("root");
        std::fs::create_dir_all(&rootdir).unwrap();
        let src = t.0.join("src");
        std::fs::create_dir_all(&src).unwrap();
        let bind = |target: &str, opts: &[&str]| Mount {
            source: src.to_string_lossy().into(),
            target: target.into(),
            fstype: "bind".into(),
            options: opts.iter().map(|o| o.to_string()).collect(),
        };
        let spec = ContainerSpec {
            rootfs: Rootfs::Path {
                path: rootdir.to_string_lossy().into(),
            },
            mounts: vec![
                bind("/a", &["rbind", "rro", "rprivate"]),
                bind("/b", &["rbind", "ro", "rprivate"]),
                bind("/c", &["bind", "rro", "rprivate"]),
                bind("/d", &["rbind", "rro-strict", "rprivate"]),
            ],
            ..Default::default()
        };
        let rec = Recorder::default();
        prepare(&rec, &spec, &Extras::default()).unwrap();
        let r = rootdir.display();
        let calls = rec.calls.borrow();
        let setattr: Vec<&String> = calls
            .iter()
            .filter(|c| c.starts_with("mount_setattr"))
            .collect();
        // `ro` stays top-only; a non-recursive bind has no submounts to cover.
        assert_eq!(
            setattr,
            vec![
                &format!("mount_setattr {r}/a rdonly recursive"),
                &format!("mount_setattr {r}/d rdonly recursive"),
            ]
        );
        // The top mount is remounted read-only either way.
        assert!(
            calls.contains(&format!("mount - {r}/a - 0x5021 -")),
            "{calls:#?}"
        );
        assert!(
            calls.contains(&format!("mount - {r}/c - 0x1021 -")),
            "{calls:#?}"
        );
    }

    #[test]
    fn many_layers_use_relative_paths() {
        let rec = Recorder::default();
        let lower: Vec<String> = (0..45)
            .map(|i| format!("/var/lib/berth/image/layers/{i:064}/diff"))
            .collect();
        let data = overlay_options(
            &rec,
            &lower,
            "/var/lib/berth/containers/c/rootfs/upper",
            "/var/lib/berth/containers/c/rootfs/work",
        )
        .unwrap();
        assert!(data.len() <= 4095);
        assert!(
            data.starts_with(&format!("lowerdir=image/layers/{:064}/diff:", 0)),
            "{data}"
        );
        assert!(
            data.ends_with(",upperdir=containers/c/rootfs/upper,workdir=containers/c/rootfs/work")
        );
        assert_eq!(rec.calls.borrow().as_slice(), ["chdir /var/lib/berth"]);
        let short = overlay_options(&rec, &lower[..2], "/u", "/w").unwrap();
        assert!(short.starts_with("lowerdir=/var/lib"));
    }

    #[test]
    fn masked_and_readonly_paths() {
        let t = tmp("mask");
        std::fs::create_dir_all(t.0.join("proc/acpi")).unwrap();
        std::fs::create_dir_all(t.0.join("proc/sys")).unwrap();
        std::fs::write(t.0.join("proc/kcore"), b"").unwrap();
        let spec = ContainerSpec {
            masked_paths: vec![
                "/proc/acpi".into(),
                "/proc/kcore".into(),
                "/proc/missing".into(),
            ],
            readonly_paths: vec!["/proc/sys".into()],
            readonly_rootfs: true,
            ..Default::default()
        };
        let rec = Recorder::default();
        finish(&rec, &t.0, &spec).unwrap();
        let m = rec.mounts();
        let r = t.0.display();
        assert_eq!(m[0], format!("mount tmpfs {r}/proc/acpi tmpfs 0x1 -"));
        assert_eq!(m[1], format!("mount /dev/null {r}/proc/kcore - 0x1000 -"));
        assert_eq!(m[2], format!("mount {r}/proc/sys {r}/proc/sys - 0x5000 -"));
        assert!(m[3].starts_with(&format!("mount - {r}/proc/sys - ")));
        assert!(m[4].starts_with(&format!("mount - {r} - ")));
        assert_eq!(m.len(), 5);
    }
}
