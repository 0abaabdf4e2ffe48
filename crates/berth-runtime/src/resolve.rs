//! Resolving container paths inside a root directory without ever leaving it.
//!
//! A mount target such as `/etc/app` may cross symlinks planted in the image
//! (`/etc -> /host-etc`, `../../..`). We walk component by component, reading each link
//! and re-rooting absolute targets at the rootfs, with `..` clamped at the root, so the
//! result always names a place under `root` (the semantics of `RESOLVE_IN_ROOT`). The
//! container is not running yet while we do this, so the answer cannot change under us.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Component, Path, PathBuf};

/// How many symlinks one resolution may follow (Linux's limit is 40; be generous).
const MAX_LINKS: usize = 255;

fn components(path: &Path) -> impl Iterator<Item = OsString> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_os_string()),
        Component::ParentDir => Some(OsString::from("..")),
        _ => None,
    })
}

/// Resolve `path` (as seen inside the container) to a host path under `root`.
/// Missing trailing components are kept as they are, so the result can be created.
///
/// An existing path is resolved by the kernel (`openat2` with `RESOLVE_IN_ROOT`) when it
/// can; otherwise (older kernels, paths still to be created) by our own walk.
pub fn resolve_in_root(root: &Path, path: &str) -> io::Result<PathBuf> {
    if let Some(p) = kernel_resolve(root, path) {
        return Ok(p);
    }
    walk_in_root(root, path)
}

/// `openat2(RESOLVE_IN_ROOT)` then read back where the descriptor landed. `None` when
/// the path does not exist, the kernel lacks openat2, or the answer is not under `root`.
fn kernel_resolve(root: &Path, path: &str) -> Option<PathBuf> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let root_c = crate::sys::cstr(root).ok()?;
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let rel_c = std::ffi::CString::new(rel).ok()?;
    // SAFETY: plain open of a directory; we own the returned descriptor.
    let rfd = unsafe {
        libc::open(
            root_c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if rfd < 0 {
        return None;
    }
    // SAFETY: fresh descriptor.
    let rfd = unsafe { OwnedFd::from_raw_fd(rfd) };
    // SAFETY: open_how is a plain struct; zero is a valid value for every field.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: openat2 with a valid dir fd, C string and open_how of the size we pass.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            rfd.as_raw_fd(),
            rel_c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: fresh descriptor returned by the kernel.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let real_root = std::fs::read_link(format!("/proc/self/fd/{}", rfd.as_raw_fd())).ok()?;
    let landed = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
    let inside = landed.strip_prefix(&real_root).ok()?;
    Some(root.join(inside))
}

/// Our own component-by-component resolution (see the module docs).
fn walk_in_root(root: &Path, path: &str) -> io::Result<PathBuf> {
    let mut resolved: Vec<OsString> = Vec::new();
    let mut pending: VecDeque<OsString> = components(Path::new(path)).collect();
    let mut links = 0usize;
    while let Some(c) = pending.pop_front() {
        if c == ".." {
            resolved.pop();
            continue;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(&resolved);
        candidate.push(&c);
        match std::fs::symlink_metadata(&candidate) {
            Ok(md) if md.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = std::fs::read_link(&candidate)?;
                if target.is_absolute() {
                    resolved.clear();
                }
                for (i, t) in components(&target).enumerate() {
                    pending.insert(i, t);
                }
            }
            _ => resolved.push(c),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(&resolved);
    Ok(out)
}

/// Create every missing directory of `path` inside `root` (mode `mode`, before umask),
/// following symlinks only within the root. Returns the resolved host path.
pub fn mkdir_all_in_root(root: &Path, path: &str, mode: u32) -> io::Result<PathBuf> {
    let comps: Vec<OsString> = components(Path::new(path)).collect();
    let mut prefix = PathBuf::from("/");
    let mut last = root.to_path_buf();
    for c in comps {
        prefix.push(c);
        last = resolve_in_root(root, &prefix.to_string_lossy())?;
        match std::fs::symlink_metadata(&last) {
            Ok(md) if md.is_dir() => {}
            Ok(_) => return Err(io::Error::from_raw_os_error(libc::ENOTDIR)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                match std::fs::DirBuilder::new().mode(mode).create(&last) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(last)
}

/// Make sure a mount target exists inside `root`: a directory, or an empty file when
/// the source is a file. Returns the resolved host path to mount on.
pub fn ensure_target(root: &Path, path: &str, is_file: bool) -> io::Result<PathBuf> {
    if !is_file {
        return mkdir_all_in_root(root, path, 0o755);
    }
    let p = Path::new(path);
    if let Some(parent) = p.parent() {
        mkdir_all_in_root(root, &parent.to_string_lossy(), 0o755)?;
    }
    let target = resolve_in_root(root, path)?;
    match std::fs::symlink_metadata(&target) {
        Ok(_) => Ok(target),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&target)?;
            Ok(target)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    use crate::testutil::TempDir;

    #[test]
    fn absolute_and_relative_links_stay_inside() {
        let guard = TempDir::new("resolve-links");
        let root = guard.path().to_path_buf();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        symlink("/etc", root.join("abs")).unwrap();
        symlink("../../../../etc", root.join("rel")).unwrap();
        symlink("/../../..", root.join("up")).unwrap();
        assert_eq!(
            resolve_in_root(&root, "/abs/x").unwrap(),
            root.join("etc/x")
        );
        assert_eq!(
            resolve_in_root(&root, "/rel/passwd").unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(resolve_in_root(&root, "/up").unwrap(), root);
        assert_eq!(
            resolve_in_root(&root, "../../a/../b").unwrap(),
            root.join("b")
        );
    }

    #[test]
    fn kernel_and_walk_agree() {
        let guard = TempDir::new("resolve-agree");
        let root = guard.path().to_path_buf();
        std::fs::create_dir_all(root.join("etc/sub")).unwrap();
        symlink("/etc", root.join("abs")).unwrap();
        symlink("../../../etc/sub", root.join("rel")).unwrap();
        for p in ["/abs/sub", "/rel", "/etc", "/", "/abs/../etc/sub"] {
            let k = kernel_resolve(&root, p);
            let w = walk_in_root(&root, p).unwrap();
            if let Some(k) = k {
                assert_eq!(k, w, "{p}");
            }
            assert_eq!(resolve_in_root(&root, p).unwrap(), w, "{p}");
        }
        assert_eq!(kernel_resolve(&root, "/missing"), None);
        // This kernel has openat2: the kernel path is really taken.
        assert_eq!(
            kernel_resolve(&root, "/abs/sub"),
            Some(root.join("etc/sub"))
        );
    }

    #[test]
    fn loops_are_refused() {
        let guard = TempDir::new("resolve-loop");
        let root = guard.path().to_path_buf();
        symlink("/b", root.join("a")).unwrap();
        symlink("/a", root.join("b")).unwrap();
        let e = resolve_in_root(&root, "/a/x").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
    }

    #[test]
    fn mkdir_and_file_targets_follow_links_inside() {
        let guard = TempDir::new("resolve-mkdir");
        let root = guard.path().to_path_buf();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        symlink("/etc", root.join("link")).unwrap();
        let d = mkdir_all_in_root(&root, "/link/a/b", 0o755).unwrap();
        assert_eq!(d, root.join("etc/a/b"));
        assert!(d.is_dir());
        let f = ensure_target(&root, "/link/c/file", true).unwrap();
        assert_eq!(f, root.join("etc/c/file"));
        assert!(f.is_file());
    }
}
