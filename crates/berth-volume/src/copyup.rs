//! Copy-up: filling an empty volume with the image's content at the mount target, as
//! Docker does the first time a volume is mounted (unless `nocopy`).
//!
//! The image is read straight from its read-only layer directories (top-most first, the
//! order of overlay's `lowerdir` and of `ImageStore::layer_dirs`), so no overlay has to be
//! mounted in the daemon. The walker merges them with overlay's rules: a whiteout (a
//! character device 0/0, or a `.wh.<name>` marker) hides the name in lower layers; a
//! directory whose `trusted.overlay.opaque` xattr is `y` (or that holds `.wh..wh..opq`)
//! hides the lower layers' content of that directory; a non-directory hides everything
//! below it. A merged directory (or a container's `upper` followed by its image layers) is
//! passed the same way: a one-element slice is simply a plain directory tree.
//!
//! The path inside the image is resolved component by component inside the image root:
//! symlinks are followed like a `chroot` would (absolute targets restart at the image
//! root, `..` stops at it), so `/data -> /etc` copies the image's `/etc` and a link to
//! `../../..` never leaves the image. Host paths are only ever built from directory entries
//! whose type was checked with `lstat`, so no host symlink is followed either.
//!
//! What is copied: regular files (contents), directories, symlinks (as links, never
//! followed), character/block devices and FIFOs; for each: owner, mode (set-id bits too),
//! extended attributes (overlay's own are dropped; failures to set one are ignored),
//! access and modification times. Hard links inside the copied tree stay hard links when
//! the file system allows it (else the file is copied). Sockets are skipped.

use crate::error::{Result, VolumeError};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::ffi::CString;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What [`copy_up`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyOutcome {
    /// The image content was copied into the volume.
    Copied,
    /// The volume already had content: nothing done (Docker copies only into empty ones).
    NotEmpty,
    /// The path does not exist in the image: nothing to copy.
    SourceMissing,
    /// The path is not a directory in the image: nothing to copy.
    SourceNotDir,
}

/// An entry of the merged image view.
enum Entry {
    /// A directory: its host directories in the layers that merge into it, top first.
    Dir(Vec<PathBuf>),
    /// Anything else: the host path in the top-most layer that has it.
    Other(PathBuf, Metadata),
}

fn is_whiteout(m: &Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Reads one extended attribute of `p` (not following a symlink).
fn lgetxattr(p: &Path, name: &CString) -> Option<Vec<u8>> {
    let cp = cstr(p).ok()?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: `cp` and `name` are NUL-terminated, `buf` is valid for `buf.len()` bytes.
    let n = unsafe {
        libc::lgetxattr(
            cp.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}

/// Names of the extended attributes of `p` (not following a symlink).
fn llistxattr(p: &Path) -> Vec<CString> {
    let Ok(cp) = cstr(p) else { return Vec::new() };
    let mut buf = vec![0u8; 16384];
    // SAFETY: `cp` is NUL-terminated, `buf` is valid for `buf.len()` bytes.
    let n = unsafe { libc::llistxattr(cp.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return Vec::new();
    }
    buf[..n as usize]
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .filter_map(|s| CString::new(s).ok())
        .collect()
}

fn is_opaque(dir: &Path) -> bool {
    let name = c"trusted.overlay.opaque".to_owned();
    lgetxattr(dir, &name).is_some_and(|v| v == b"y")
        || fs::symlink_metadata(dir.join(".wh..wh..opq")).is_ok()
}

fn lstat_opt(p: &Path) -> io::Result<Option<Metadata>> {
    match fs::symlink_metadata(p) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Looks `name` up in a merged directory given by its per-layer host directories.
fn lookup(dirs: &[PathBuf], name: &str) -> io::Result<Option<Entry>> {
    let mut found = Vec::new();
    for d in dirs {
        let p = d.join(name);
        let Some(m) = lstat_opt(&p)? else {
            if lstat_opt(&d.join(format!(".wh.{name}")))?.is_some() {
                break;
            }
            continue;
        };
        if is_whiteout(&m) {
            break;
        }
        if m.is_dir() {
            let opaque = is_opaque(&p);
            found.push(p);
            if opaque {
                break;
            }
        } else {
            if found.is_empty() {
                return Ok(Some(Entry::Other(p, m)));
            }
            // A non-directory below a directory is hidden by it, and hides what is below.
            break;
        }
    }
    Ok((!found.is_empty()).then_some(Entry::Dir(found)))
}

/// Resolves `path` inside the merged image, following symlinks inside the image root.
fn resolve(layers: &[PathBuf], path: &str) -> io::Result<Option<Entry>> {
    let mut stack: Vec<Vec<PathBuf>> = vec![layers.to_vec()];
    let mut todo: VecDeque<String> = path.split('/').map(str::to_string).collect();
    let mut links = 0;
    while let Some(c) = todo.pop_front() {
        match c.as_str() {
            "" | "." => continue,
            ".." => {
                if stack.len() > 1 {
                    stack.pop();
                }
                continue;
            }
            _ => {}
        }
        let Some(cur) = stack.last() else { break };
        match lookup(cur, &c)? {
            None => return Ok(None),
            Some(Entry::Dir(ds)) => stack.push(ds),
            Some(Entry::Other(p, m)) if m.file_type().is_symlink() => {
                links += 1;
                if links > 255 {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = fs::read_link(&p)?;
                let t = target.to_string_lossy();
                if t.starts_with('/') {
                    stack.truncate(1);
                }
                for comp in t.split('/').rev() {
                    todo.push_front(comp.to_string());
                }
            }
            Some(other) => {
                if todo.iter().any(|c| !c.is_empty() && c != ".") {
                    // A path through a file: ENOTDIR, i.e. nothing there.
                    return Ok(None);
                }
                return Ok(Some(other));
            }
        }
    }
    Ok(stack.pop().map(Entry::Dir))
}

/// Copies the image's content at `path_in_image` into `dest` (a volume's `_data`) when
/// `dest` is empty. `layers` are the image's layer directories, top-most first (or one
/// merged directory). `dest` itself takes the owner and mode of the image directory.
pub fn copy_up(layers: &[PathBuf], path_in_image: &str, dest: &Path) -> Result<CopyOutcome> {
    let mut rd = fs::read_dir(dest).map_err(|e| VolumeError::io_path("read", dest, e))?;
    if rd.next().is_some() {
        return Ok(CopyOutcome::NotEmpty);
    }
    let err = |e: io::Error| {
        VolumeError::io(
            format!("copy image content at {path_in_image} into the volume"),
            e,
        )
    };
    let dirs = match resolve(layers, path_in_image).map_err(err)? {
        None => return Ok(CopyOutcome::SourceMissing),
        Some(Entry::Other(..)) => return Ok(CopyOutcome::SourceNotDir),
        Some(Entry::Dir(ds)) => ds,
    };
    let mut links = HashMap::new();
    copy_dir_contents(&dirs, dest, &mut links).map_err(err)?;
    // The volume root takes the directory's owner and mode (not its times: it is ours).
    let m = fs::symlink_metadata(&dirs[0]).map_err(err)?;
    lchown(dest, m.uid(), m.gid()).map_err(err)?;
    chmod(dest, m.mode()).map_err(err)?;
    copy_xattrs(&dirs[0], dest);
    Ok(CopyOutcome::Copied)
}

fn copy_dir_contents(
    dirs: &[PathBuf],
    dest: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> io::Result<()> {
    let mut names = BTreeSet::new();
    for d in dirs {
        for e in fs::read_dir(d)? {
            let name = e?.file_name();
            // Overlay's markers are layer bookkeeping, never content.
            if !name.as_bytes().starts_with(b".wh.") {
                names.insert(name);
            }
        }
    }
    for name in names {
        let name = name.to_string_lossy().into_owned();
        let dst = dest.join(&name);
        match lookup(dirs, &name)? {
            None => {}
            Some(Entry::Dir(sub)) => {
                fs::create_dir(&dst)?;
                copy_dir_contents(&sub, &dst, links)?;
                let m = fs::symlink_metadata(&sub[0])?;
                apply_meta(&sub[0], &m, &dst)?;
            }
            Some(Entry::Other(src, m)) => copy_entry(&src, &m, &dst, links)?,
        }
    }
    Ok(())
}

fn copy_entry(
    src: &Path,
    m: &Metadata,
    dst: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> io::Result<()> {
    let ft = m.file_type();
    if m.nlink() > 1 && !ft.is_dir() {
        if let Some(first) = links.get(&(m.dev(), m.ino())) {
            if fs::hard_link(first, dst).is_ok() {
                return Ok(());
            }
        }
    }
    if ft.is_file() {
        let mut from = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(src)?;
        let mut to = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(dst)?;
        io::copy(&mut from, &mut to)?;
    } else if ft.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(src)?, dst)?;
    } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
        let kind = if ft.is_char_device() {
            libc::S_IFCHR
        } else if ft.is_block_device() {
            libc::S_IFBLK
        } else {
            libc::S_IFIFO
        };
        let c = cstr(dst)?;
        // SAFETY: `c` is a NUL-terminated path; mknod only reads it.
        let rc = unsafe { libc::mknod(c.as_ptr(), kind | (m.mode() & 0o7777), m.rdev()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    } else {
        // Sockets belong to a process that is not there: skipped, as archive copies do.
        return Ok(());
    }
    apply_meta(src, m, dst)?;
    if m.nlink() > 1 {
        links.insert((m.dev(), m.ino()), dst.to_path_buf());
    }
    Ok(())
}

fn lchown(p: &Path, uid: u32, gid: u32) -> io::Result<()> {
    let c = cstr(p)?;
    // SAFETY: `c` is a NUL-terminated path; lchown does not follow a final symlink.
    if unsafe { libc::lchown(c.as_ptr(), uid, gid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn chmod(p: &Path, mode: u32) -> io::Result<()> {
    let c = cstr(p)?;
    // SAFETY: `c` is a NUL-terminated path. Only called on entries we created that are
    // not symlinks, so nothing outside the volume is reached.
    if unsafe { libc::chmod(c.as_ptr(), mode & 0o7777) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn copy_xattrs(src: &Path, dst: &Path) {
    let Ok(dc) = cstr(dst) else { return };
    for name in llistxattr(src) {
        if name.as_bytes().starts_with(b"trusted.overlay.") {
            continue;
        }
        if let Some(v) = lgetxattr(src, &name) {
            // SAFETY: all pointers are valid for the lengths given; a failure (e.g. a
            // namespace the file system refuses) only loses that attribute.
            unsafe {
                libc::lsetxattr(dc.as_ptr(), name.as_ptr(), v.as_ptr().cast(), v.len(), 0);
            }
        }
    }
}

/// Owner, then mode (chown clears set-id bits), xattrs, then times.
fn apply_meta(src: &Path, m: &Metadata, dst: &Path) -> io::Result<()> {
    lchown(dst, m.uid(), m.gid())?;
    let is_link = m.file_type().is_symlink();
    if !is_link {
        chmod(dst, m.mode())?;
    }
    copy_xattrs(src, dst);
    let times = [
        libc::timespec {
            tv_sec: m.atime() as libc::time_t,
            tv_nsec: m.atime_nsec() as _,
        },
        libc::timespec {
            tv_sec: m.mtime() as libc::time_t,
            tv_nsec: m.mtime_nsec() as _,
        },
    ];
    let c = cstr(dst)?;
    // SAFETY: `c` is NUL-terminated and `times` holds the two timespecs utimensat reads.
    if unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    } != 0
    {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
