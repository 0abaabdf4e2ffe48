//! The volumes and bind mounts of a stopped container inside the private file view of
//! `cp` and the archive endpoints (`fsops`), so a copy sees, at each mount point, what
//! the container itself would see there, as Docker does.
//!
//! The sources are cloned as detached mount trees (`open_tree`) while the worker thread
//! still sees the host, made read-only when the container mounts them read-only, and
//! attached (`move_mount`) after the thread has chrooted into the container's overlay.
//! The targets are therefore resolved inside the container root: a symlink on the way
//! (in the image or inside another volume) cannot lead out of it. Everything lives in
//! the worker's private mount namespace and goes away with it.

use crate::record::ContainerRecord;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

// Mount API constants (linux/mount.h), spelled out so no libc version matters.
const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOUNT_ATTR_RDONLY: u64 = 0x1;

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// One mount of the container as the view mounts it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ViewMount {
    /// Host path (a bind source or a volume's `_data`).
    pub source: PathBuf,
    /// Absolute path inside the container.
    pub target: String,
    pub read_only: bool,
    /// `rbind`: submounts of the source come along.
    pub recursive: bool,
}

/// The bind-type mounts (binds and volumes) of a container, parents first. tmpfs mounts
/// are left out: they only exist while the container runs, and a stopped container's
/// copy sees the directory below them, as with Docker.
pub(crate) fn view_mounts(rec: &ContainerRecord) -> Vec<ViewMount> {
    rec.mounts
        .iter()
        .filter(|m| m.spec.fstype == "bind" || m.spec.options.iter().any(|o| o == "bind"))
        .map(|m| ViewMount {
            source: PathBuf::from(&m.spec.source),
            target: m.spec.target.clone(),
            read_only: m.spec.options.iter().any(|o| o == "ro" || o == "rro"),
            recursive: !m.spec.options.iter().any(|o| o == "bind"),
        })
        .collect()
}

/// Mount targets of a container with whether each is writable, for the read-only checks
/// of `PUT /archive` (every mount, tmpfs included: a copy into one does not touch a
/// read-only rootfs).
pub(crate) fn mount_points(rec: &ContainerRecord) -> Vec<(String, bool)> {
    rec.mounts
        .iter()
        .map(|m| {
            let ro = m.spec.options.iter().any(|o| o == "ro" || o == "rro");
            (m.spec.target.clone(), !ro)
        })
        .collect()
}

/// The mount covering container path `path` (already resolved, absolute): the deepest
/// target it lies in, and whether that mount is writable.
pub(crate) fn covering_mount<'a>(
    points: &'a [(String, bool)],
    path: &Path,
) -> Option<&'a (String, bool)> {
    points
        .iter()
        .filter(|(t, _)| path.starts_with(t))
        .max_by_key(|(t, _)| Path::new(t).components().count())
}

/// A source cloned as a detached mount, waiting to be attached.
pub(crate) struct Detached {
    fd: OwnedFd,
    target: String,
    is_dir: bool,
}

/// Clones every source (host view; call before the chroot).
pub(crate) fn detach_all(mounts: &[ViewMount]) -> io::Result<Vec<Detached>> {
    mounts.iter().map(detach).collect()
}

fn detach(m: &ViewMount) -> io::Result<Detached> {
    let wrap = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", m.source.display()));
    let is_dir = std::fs::metadata(&m.source).map_err(wrap)?.is_dir();
    let path = std::ffi::CString::new(m.source.as_os_str().as_encoded_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if m.recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: open_tree reads the NUL-terminated path we own and returns a new fd or -1.
    let r = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    if r < 0 {
        return Err(wrap(io::Error::last_os_error()));
    }
    // SAFETY: r is a file descriptor just returned to us and owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(r as i32) };
    if m.read_only {
        set_readonly(&fd, true).map_err(wrap)?;
    }
    Ok(Detached {
        fd,
        target: m.target.clone(),
        is_dir,
    })
}

/// Makes the mount behind `fd` read-only (with all its submounts when `recursive`).
fn set_readonly(fd: &OwnedFd, recursive: bool) -> io::Result<()> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    // SAFETY: the empty path is a static C string, `attr` lives across the call and its
    // size is passed; the fd is open.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Attaches the clones at their targets, in order (call inside the chroot, where paths
/// resolve in the container root). Missing targets are created, like Docker does.
pub(crate) fn attach_all(detached: Vec<Detached>) -> io::Result<()> {
    for d in detached {
        let target = resolve_target(&d.target, d.is_dir)?;
        let c = std::ffi::CString::new(target.as_os_str().as_encoded_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: both paths are NUL-terminated strings alive across the call; the fd
        // is an open detached mount.
        let r = unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                d.fd.as_raw_fd(),
                c"".as_ptr(),
                libc::AT_FDCWD,
                c.as_ptr(),
                MOVE_MOUNT_F_EMPTY_PATH,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("mount on {}: {e}", d.target),
            ));
        }
    }
    Ok(())
}

/// The target's path with every symlink followed (inside the chroot), created when
/// missing: a directory, or an empty file for a file source.
fn resolve_target(target: &str, is_dir: bool) -> io::Result<PathBuf> {
    let clean: PathBuf = Path::new("/")
        .join(target)
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .fold(PathBuf::from("/"), |p, c| p.join(c));
    let wrap = |e: io::Error| io::Error::new(e.kind(), format!("mount point {target}: {e}"));
    if std::fs::metadata(&clean).is_err() {
        if let Some(parent) = clean.parent() {
            std::fs::create_dir_all(parent).map_err(wrap)?;
        }
        if is_dir {
            std::fs::create_dir(&clean).map_err(wrap)?;
        } else {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&clean)
                .map_err(wrap)?;
        }
    }
    std::fs::canonicalize(&clean).map_err(wrap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deepest_mount_covers_a_path() {
        let points = vec![
            ("/data".to_string(), false),
            ("/data/rw".to_string(), true),
            ("/other".to_string(), true),
        ];
        assert_eq!(
            covering_mount(&points, Path::new("/data/x")),
            Some(&("/data".to_string(), false))
        );
        assert_eq!(
            covering_mount(&points, Path::new("/data/rw/y")),
            Some(&("/data/rw".to_string(), true))
        );
        assert_eq!(covering_mount(&points, Path::new("/dat")), None);
        assert_eq!(
            covering_mount(&points, Path::new("/data")),
            Some(&("/data".to_string(), false))
        );
    }

    /// A stopped container's view with a volume: the volume's files appear at the
    /// target (created in a scratch layer for a read), a read-only one refuses writes,
    /// a link inside it cannot lead to the host, and nothing stays mounted.
    #[tokio::test]
    async fn mounted_view_sees_volumes_and_leaves_nothing() {
        use crate::fsops::{in_view, View};
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let (lower, upper, work) = (t.path().join("l"), t.path().join("u"), t.path().join("w"));
        for d in [&lower, &upper, &work] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::create_dir(lower.join("etc")).unwrap();
        std::fs::write(lower.join("etc/where"), "container\n").unwrap();
        let vol = t.path().join("vol");
        std::fs::create_dir(&vol).unwrap();
        std::fs::write(vol.join("f"), "volume\n").unwrap();
        std::os::unix::fs::symlink("/", vol.join("root")).unwrap();
        let host_marker = t.path().join("host-only");
        std::fs::write(&host_marker, "host\n").unwrap();
        let mount = |ro| ViewMount {
            source: vol.clone(),
            target: "/srv/data".into(),
            read_only: ro,
            recursive: true,
        };
        let view = |work: Option<PathBuf>, ro| {
            View::Mounted(
                Box::new(View::Overlay {
                    lower: vec![lower.clone()],
                    upper: upper.clone(),
                    work,
                    mountpoint: t.path().join("view"),
                }),
                vec![mount(ro)],
            )
        };
        let marker = host_marker.clone();
        let (f, via_link, escaped) = in_view(view(None, false), move || {
            let f = std::fs::read_to_string("/srv/data/f").unwrap_or_default();
            let via_link = std::fs::read_to_string("/srv/data/root/etc/where").unwrap_or_default();
            let escaped = std::path::Path::new("/srv/data/root")
                .join(marker.strip_prefix("/").unwrap())
                .exists();
            Ok((f, via_link, escaped))
        })
        .await
        .unwrap();
        assert_eq!(f, "volume\n");
        assert_eq!(via_link, "container\n");
        assert!(!escaped, "a link in the volume reached the host");
        // The read made its mount point in the scratch layer, not the container's.
        assert!(!upper.join("srv").exists());

        let refused = in_view(view(Some(work.clone()), true), || {
            Ok(std::fs::write("/srv/data/new", "x").is_err())
        })
        .await
        .unwrap();
        assert!(refused);
        assert!(!vol.join("new").exists());
        let wrote = in_view(view(Some(work.clone()), false), || {
            Ok(std::fs::write("/srv/data/new", "x").is_ok())
        })
        .await
        .unwrap();
        assert!(wrote && vol.join("new").exists());

        // A failing attach (missing source) fails the view and leaves nothing either.
        let mut bad = view(None, false);
        if let View::Mounted(_, m) = &mut bad {
            m.push(ViewMount {
                source: t.path().join("missing"),
                ..mount(false)
            });
        }
        assert!(in_view(bad, || Ok(())).await.is_err());
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let tp = t.path().display().to_string();
        assert!(!info.contains(&tp), "left mounted: {info}");
        assert!(!t.path().join("view").exists());
    }
}
