//! Safe tar extraction into a directory: the building block of `import`, layer pulls,
//! `docker cp` into a container and `load`.
//!
//! Safety rules (a tar is hostile input):
//! - entry names are cleaned lexically (a leading `/` or `./` is dropped, `.` and empty
//!   components vanish, `..` pops a component); a name that would climb above the
//!   destination is refused, never clamped;
//! - every parent directory is opened from the destination's fd one component at a time
//!   with `O_NOFOLLOW|O_DIRECTORY`; a symlink on the way (`a -> /etc`, extracted earlier
//!   or already in the destination) is resolved by us as if the destination were the
//!   root (like Docker, which extracts in a chroot): a later `a/passwd` lands in
//!   `<dest>/etc/passwd`, `..` stops at the destination, and nothing outside it is ever
//!   opened;
//! - files are created with `O_CREAT|O_EXCL|O_NOFOLLOW` after removing whatever was there
//!   (removal never follows symlinks either); hardlink targets are resolved the same way
//!   and must stay inside the destination.
//!
//! Owners, modes, mtimes and xattrs (`SCHILY.xattr.*` PAX records) are kept, owners and
//! xattrs best effort. Device nodes and fifos are created with `mknodat`. With
//! [`WhiteoutMode::Overlay`], AUFS-style whiteouts become overlayfs ones: `.wh.<name>` →
//! a 0/0 character device `<name>`, `.wh..wh..opq` → `trusted.overlay.opaque=y` on the
//! directory. The caller owns cleanup of `dest` on error (import extracts into a temp dir
//! and removes it).

use std::ffi::{CString, OsStr, OsString};
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fchmod, mkdirat, mknodat, utimensat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};

use crate::error::{ImageError, IoContext};

/// AUFS whiteout prefix used inside layer tars.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Marker of an opaque directory inside layer tars.
pub const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";
/// Prefix of AUFS metadata entries (`.wh..wh.plnk`, …) which are skipped.
const WHITEOUT_META_PREFIX: &str = ".wh..wh.";
/// The xattr overlayfs reads to mark a directory opaque.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// How whiteout entries are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhiteoutMode {
    /// Extract `.wh.*` files as ordinary files (plain archives: `cp`, rootfs tars).
    #[default]
    Plain,
    /// Convert whiteouts to overlayfs form (image layers).
    Overlay,
}

/// Options of [`unpack`].
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    pub whiteouts: WhiteoutMode,
    /// Apply the uid/gid of the entries (best effort); otherwise files belong to us.
    pub same_owner: bool,
    /// Refuse to replace a directory with a non-directory or the reverse (`docker cp`).
    pub no_overwrite_dir_non_dir: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            whiteouts: WhiteoutMode::Plain,
            same_owner: true,
            no_overwrite_dir_non_dir: false,
        }
    }
}

impl UnpackOptions {
    /// The options for image layers: overlay whiteouts, owners kept.
    pub fn layer() -> UnpackOptions {
        UnpackOptions {
            whiteouts: WhiteoutMode::Overlay,
            ..Default::default()
        }
    }
}

/// What [`unpack`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Sum of the sizes of the regular files written (hardlinks counted once).
    pub size: u64,
    /// Entries processed.
    pub entries: u64,
}

/// Clean a tar entry name to components below the root. `None` if it escapes.
pub fn clean_components(raw: &[u8]) -> Option<Vec<OsString>> {
    let mut out: Vec<OsString> = Vec::new();
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                out.pop()?;
            }
            p => out.push(OsString::from_vec(p.to_vec())),
        }
    }
    Some(out)
}

fn shown(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

fn escape_error(raw: &[u8]) -> ImageError {
    ImageError::invalid(format!(
        "invalid tar entry: path escapes the destination directory: {}",
        shown(raw)
    ))
}

/// Extract the tar stream `reader` into the existing directory `dest`.
///
/// Reads up to the end-of-archive marker; the caller may drain the rest of the stream.
pub fn unpack(
    reader: impl Read,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackStats, ImageError> {
    let root = openat(
        nix::fcntl::AT_FDCWD,
        dest,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("open {}", dest.display()))?;
    let mut archive = tar::Archive::new(reader);
    let mut stats = UnpackStats::default();
    // Directory times are set last: creating children changes them.
    let mut dir_times: Vec<(Vec<OsString>, u64)> = Vec::new();
    // One copy buffer for all the archive's files (allocated at the first file).
    let mut buf = Vec::new();
    let entries = archive.entries().ctx(|| "read tar stream".to_string())?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| ImageError::invalid(format!("invalid tar archive: {e}")))?;
        stats.entries += 1;
        unpack_entry(
            root.as_fd(),
            &mut entry,
            opts,
            &mut stats,
            &mut dir_times,
            &mut buf,
        )?;
    }
    for (comps, mtime) in dir_times.iter().rev() {
        if let Some((name, parents)) = comps.split_last() {
            if let Ok(parent) = open_parent(root.as_fd(), parents, false, b"") {
                let t = TimeSpec::new(*mtime as i64, 0);
                let _ = utimensat(
                    parent.as_fd(),
                    name.as_os_str(),
                    &t,
                    &t,
                    UtimensatFlags::NoFollowSymlink,
                );
            }
        }
    }
    Ok(stats)
}

/// Tar header fields we apply after creating an entry.
struct Meta {
    uid: u64,
    gid: u64,
    mode: u32,
    mtime: u64,
    xattrs: Vec<(CString, Vec<u8>)>,
}

/// Bytes moved per read and write when copying a file's contents. `io::copy` moves 8 KiB
/// at a time; a layer of a few hundred MB then costs tens of thousands of `write`s and
/// as many small passes through the decompress-and-hash reader chain.
const COPY_CHUNK: usize = 256 << 10;

/// Copy `src` to `dst` through `buf` (grown to [`COPY_CHUNK`] once); the bytes copied.
fn copy_contents(
    src: &mut impl Read,
    dst: &mut impl io::Write,
    buf: &mut Vec<u8>,
) -> io::Result<u64> {
    if buf.len() < COPY_CHUNK {
        buf.resize(COPY_CHUNK, 0);
    }
    let mut n = 0u64;
    loop {
        let k = match src.read(buf) {
            Ok(0) => return Ok(n),
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        dst.write_all(&buf[..k])?;
        n += k as u64;
    }
}

fn unpack_entry<R: Read>(
    root: BorrowedFd<'_>,
    entry: &mut tar::Entry<'_, R>,
    opts: &UnpackOptions,
    stats: &mut UnpackStats,
    dir_times: &mut Vec<(Vec<OsString>, u64)>,
    buf: &mut Vec<u8>,
) -> Result<(), ImageError> {
    let kind = entry.header().entry_type();
    if matches!(
        kind,
        tar::EntryType::XGlobalHeader
            | tar::EntryType::XHeader
            | tar::EntryType::GNULongName
            | tar::EntryType::GNULongLink
    ) {
        return Ok(());
    }
    let raw = entry.path_bytes().into_owned();
    let comps = clean_components(&raw).ok_or_else(|| escape_error(&raw))?;
    let Some((name, parents)) = comps.split_last() else {
        // The root itself ("./"): Docker leaves the destination's own metadata alone.
        return Ok(());
    };
    let meta = read_meta(entry, &raw)?;
    let parent = open_parent(root, parents, true, &raw)?;
    let name = name.as_os_str();

    if opts.whiteouts == WhiteoutMode::Overlay {
        let n = name.as_bytes();
        if n == WHITEOUT_OPAQUE.as_bytes() {
            return set_xattr_fd(parent.as_fd(), OVERLAY_OPAQUE_XATTR, b"y")
                .ctx(|| format!("mark {} opaque", shown(&raw)));
        }
        if n.starts_with(WHITEOUT_META_PREFIX.as_bytes()) {
            return Ok(());
        }
        if let Some(orig) = n.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            if orig.is_empty() || orig == b"." || orig == b".." {
                return Err(ImageError::invalid(format!(
                    "invalid tar entry: bad whiteout name: {}",
                    shown(&raw)
                )));
            }
            let orig = OsStr::from_bytes(orig);
            remove_all_at(parent.as_fd(), orig).ctx(|| format!("remove {}", shown(&raw)))?;
            mknodat(parent.as_fd(), orig, SFlag::S_IFCHR, Mode::empty(), 0)
                .ctx(|| format!("create whiteout for {}", shown(&raw)))?;
            chown_at(parent.as_fd(), orig, &meta, opts);
            return Ok(());
        }
    }

    // Replace what is there unless a directory meets a directory.
    let existing = stat_at(parent.as_fd(), name);
    let is_dir_entry = kind == tar::EntryType::Directory;
    let mut keep_dir = false;
    if let Some(st) = existing {
        let existing_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        keep_dir = existing_dir && is_dir_entry;
        if opts.no_overwrite_dir_non_dir && existing_dir != is_dir_entry {
            let (old, new) = if existing_dir {
                ("directory", "non-directory")
            } else {
                ("non-directory", "directory")
            };
            let p = comps
                .iter()
                .map(|c| c.to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            return Err(ImageError::invalid(format!(
                "cannot overwrite {old} {p:?} with {new} {p:?}"
            )));
        }
        if !keep_dir {
            remove_all_at(parent.as_fd(), name).ctx(|| format!("replace {}", shown(&raw)))?;
        }
    }
    let ctx = || shown(&raw);
    let perm = Mode::from_bits_truncate((meta.mode & 0o7777) as libc::mode_t);
    match kind {
        tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
            let fd = openat(
                parent.as_fd(),
                name,
                OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            )
            .ctx(|| format!("create {}", ctx()))?;
            let mut file = std::fs::File::from(fd);
            let n = copy_contents(entry, &mut file, buf).ctx(|| format!("write {}", ctx()))?;
            stats.size += n;
            finish_fd(file.as_fd(), &meta, opts, perm)
                .ctx(|| format!("set attributes of {}", ctx()))?;
            let t = TimeSpec::new(meta.mtime as i64, 0);
            nix::sys::stat::futimens(file.as_fd(), &t, &t)
                .ctx(|| format!("set times of {}", ctx()))?;
        }
        tar::EntryType::Directory => {
            if !keep_dir {
                mkdirat(parent.as_fd(), name, Mode::from_bits_truncate(0o700))
                    .ctx(|| format!("mkdir {}", ctx()))?;
            }
            let fd = open_dir_at(parent.as_fd(), name).ctx(|| format!("open {}", ctx()))?;
            finish_fd(fd.as_fd(), &meta, opts, perm)
                .ctx(|| format!("set attributes of {}", ctx()))?;
            dir_times.push((comps.clone(), meta.mtime));
        }
        tar::EntryType::Symlink => {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| {
                    ImageError::invalid(format!(
                        "invalid tar entry: symlink without target: {}",
                        ctx()
                    ))
                })?
                .into_owned();
            symlinkat(OsStr::from_bytes(&target), parent.as_fd(), name)
                .ctx(|| format!("symlink {}", ctx()))?;
            chown_at(parent.as_fd(), name, &meta, opts);
            for (k, v) in &meta.xattrs {
                let _ = set_xattr_nofollow(parent.as_fd(), name, k, v);
            }
            let t = TimeSpec::new(meta.mtime as i64, 0);
            let _ = utimensat(
                parent.as_fd(),
                name,
                &t,
                &t,
                UtimensatFlags::NoFollowSymlink,
            );
        }
        tar::EntryType::Link => {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| {
                    ImageError::invalid(format!(
                        "invalid tar entry: hardlink without target: {}",
                        ctx()
                    ))
                })?
                .into_owned();
            let tcomps = clean_components(&target).ok_or_else(|| {
                ImageError::invalid(format!(
                    "invalid tar entry: hardlink target escapes the destination directory: {} -> {}",
                    ctx(),
                    shown(&target)
                ))
            })?;
            let Some((tname, tparents)) = tcomps.split_last() else {
                return Err(ImageError::invalid(format!(
                    "invalid tar entry: hardlink to the root: {}",
                    ctx()
                )));
            };
            let tparent = open_parent(root, tparents, false, &target)?;
            linkat(
                tparent.as_fd(),
                tname.as_os_str(),
                parent.as_fd(),
                name,
                nix::fcntl::AtFlags::empty(),
            )
            .ctx(|| format!("hardlink {} -> {}", ctx(), shown(&target)))?;
        }
        tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
            let (sflag, dev) = match kind {
                tar::EntryType::Char => (SFlag::S_IFCHR, device(entry)?),
                tar::EntryType::Block => (SFlag::S_IFBLK, device(entry)?),
                _ => (SFlag::S_IFIFO, 0),
            };
            mknodat(parent.as_fd(), name, sflag, perm, dev).ctx(|| format!("mknod {}", ctx()))?;
            chown_at(parent.as_fd(), name, &meta, opts);
            // chmod after chown: chown may clear set-id bits. mknod applied the umask.
            nix::sys::stat::fchmodat(
                parent.as_fd(),
                name,
                perm,
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )
            .ctx(|| format!("chmod {}", ctx()))?;
            for (k, v) in &meta.xattrs {
                let _ = set_xattr_nofollow(parent.as_fd(), name, k, v);
            }
            let t = TimeSpec::new(meta.mtime as i64, 0);
            let _ = utimensat(
                parent.as_fd(),
                name,
                &t,
                &t,
                UtimensatFlags::NoFollowSymlink,
            );
        }
        other => {
            return Err(ImageError::invalid(format!(
                "invalid tar entry: unhandled tar header type {}: {}",
                other.as_byte(),
                ctx()
            )))
        }
    }
    Ok(())
}

fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>, raw: &[u8]) -> Result<Meta, ImageError> {
    let bad =
        |e: io::Error| ImageError::invalid(format!("invalid tar header for {}: {e}", shown(raw)));
    let h = entry.header();
    let mut meta = Meta {
        uid: h.uid().map_err(bad)?,
        gid: h.gid().map_err(bad)?,
        mode: h.mode().map_err(bad)?,
        mtime: h.mtime().map_err(bad)?,
        xattrs: Vec::new(),
    };
    if let Some(exts) = entry.pax_extensions().map_err(bad)? {
        for ext in exts {
            let ext = ext.map_err(bad)?;
            let Ok(key) = ext.key() else { continue };
            match key {
                "uid" => {
                    meta.uid = ext
                        .value()
                        .ok()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(meta.uid)
                }
                "gid" => {
                    meta.gid = ext
                        .value()
                        .ok()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(meta.gid)
                }
                _ => {
                    if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                        // Overlay's own attributes (redirects, opaque, …) would change
                        // how layers combine: only our whiteout conversion sets them.
                        if name.starts_with("trusted.overlay.") {
                            continue;
                        }
                        if let Ok(c) = CString::new(name) {
                            meta.xattrs.push((c, ext.value_bytes().to_vec()));
                        }
                    }
                }
            }
        }
    }
    Ok(meta)
}

fn device<R: Read>(entry: &tar::Entry<'_, R>) -> Result<libc::dev_t, ImageError> {
    let h = entry.header();
    let bad = |e: io::Error| ImageError::invalid(format!("invalid tar device header: {e}"));
    let major = h.device_major().map_err(bad)?.unwrap_or(0);
    let minor = h.device_minor().map_err(bad)?.unwrap_or(0);
    Ok(libc::makedev(major, minor))
}

/// Most symlinks followed while resolving one parent path (Linux's own limit).
const MAX_SYMLINKS: usize = 40;

/// Open the directory `comps` below `root`, one component at a time. A symlink met on
/// the way is resolved the way a chroot at `root` would: an absolute target restarts at
/// `root`, `..` never climbs above it, and the link's target is itself walked component
/// by component, so nothing outside `root` is ever reached. Opens use
/// `O_NOFOLLOW|O_DIRECTORY`: the kernel never follows a link on its own. With `create`,
/// missing components are made (0755, like Docker).
pub(crate) fn open_parent(
    root: BorrowedFd<'_>,
    comps: &[OsString],
    create: bool,
    raw: &[u8],
) -> Result<OwnedFd, ImageError> {
    // Fast path: the whole parent path in one openat2 that may neither follow a
    // symlink nor leave `root` (the walk below gives the same directory then). Any
    // failure (a symlink or `..` on the way, a missing component, an old kernel) takes
    // the walk.
    if let Some(fd) = open_beneath(root, comps) {
        return Ok(fd);
    }
    // The directories walked below `root`: popping one is `..`.
    let mut stack: Vec<OwnedFd> = Vec::new();
    let mut queue: std::collections::VecDeque<OsString> = comps.iter().cloned().collect();
    let mut links = 0usize;
    while let Some(c) = queue.pop_front() {
        match c.as_bytes() {
            b"" | b"." => continue,
            b".." => {
                stack.pop();
                continue;
            }
            _ => {}
        }
        let cur = stack.last().map_or(root, |fd| fd.as_fd());
        let next = match open_dir_at(cur, &c) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) if create => {
                match mkdirat(cur, c.as_os_str(), Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => {
                        return Err(ImageError::io(
                            format!("mkdir parent of {}", shown(raw)),
                            e.into(),
                        ))
                    }
                }
                match open_dir_at(cur, &c) {
                    Ok(fd) => fd,
                    // Raced into a symlink: resolve it below like any other.
                    Err(Errno::ELOOP | Errno::ENOTDIR) => {
                        if follow_link(cur, &c, &mut queue, &mut links, raw)? {
                            stack.clear();
                        }
                        continue;
                    }
                    Err(e) => return Err(parent_error(raw, e)),
                }
            }
            Err(Errno::ELOOP | Errno::ENOTDIR) => {
                if follow_link(cur, &c, &mut queue, &mut links, raw)? {
                    stack.clear();
                }
                continue;
            }
            Err(e) => return Err(parent_error(raw, e)),
        };
        stack.push(next);
    }
    match stack.pop() {
        Some(fd) => Ok(fd),
        None => root.try_clone_to_owned().ctx(|| "dup root fd".to_string()),
    }
}

/// `comps` below `root` as a directory, in one `openat2` with `RESOLVE_BENEATH` and
/// `RESOLVE_NO_SYMLINKS`; `None` when that cannot answer (see [`open_parent`]).
fn open_beneath(root: BorrowedFd<'_>, comps: &[OsString]) -> Option<OwnedFd> {
    if comps.is_empty()
        || comps
            .iter()
            .any(|c| matches!(c.as_bytes(), b"" | b"." | b".."))
    {
        return None;
    }
    let mut path = Vec::with_capacity(comps.iter().map(|c| c.len() + 1).sum());
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            path.push(b'/');
        }
        path.extend_from_slice(c.as_bytes());
    }
    let path = CString::new(path).ok()?;
    // SAFETY: open_how is plain data; all-zero is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: openat2 reads the path and `how` we own; a non-negative result is a new
    // descriptor we take ownership of.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: see above.
    Some(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd as i32) })
}

/// `name` in `dir` is not a directory: if it is a symlink, queue its target's components
/// in front of the rest and return whether the target is absolute (the walk restarts at
/// the root); otherwise it is a file in the way and the entry is refused.
fn follow_link(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    queue: &mut std::collections::VecDeque<OsString>,
    links: &mut usize,
    raw: &[u8],
) -> Result<bool, ImageError> {
    let target = match nix::fcntl::readlinkat(dir, name) {
        Ok(t) => t,
        Err(Errno::EINVAL) => return Err(parent_error(raw, Errno::ENOTDIR)),
        Err(e) => return Err(parent_error(raw, e)),
    };
    *links += 1;
    if *links > MAX_SYMLINKS {
        return Err(parent_error(raw, Errno::ELOOP));
    }
    let bytes = target.as_bytes();
    for part in bytes.split(|&b| b == b'/').rev() {
        queue.push_front(OsString::from_vec(part.to_vec()));
    }
    Ok(bytes.starts_with(b"/"))
}

fn parent_error(raw: &[u8], e: Errno) -> ImageError {
    match e {
        Errno::ELOOP => ImageError::invalid(format!(
            "invalid tar entry: {}: too many levels of symbolic links",
            shown(raw)
        )),
        Errno::ENOTDIR => ImageError::invalid(format!(
            "invalid tar entry: {}: a parent path is not a directory",
            shown(raw)
        )),
        Errno::ENOENT => ImageError::invalid(format!(
            "invalid tar entry: {}: no such file or directory",
            shown(raw)
        )),
        e => ImageError::io(format!("open parent of {}", shown(raw)), e.into()),
    }
}

fn open_dir_at(dir: BorrowedFd<'_>, name: &OsStr) -> nix::Result<OwnedFd> {
    openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

fn stat_at(dir: BorrowedFd<'_>, name: &OsStr) -> Option<libc::stat> {
    nix::sys::stat::fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW).ok()
}

/// Remove `name` in `dir` and everything below it, never following symlinks.
/// A missing entry is fine.
pub(crate) fn remove_all_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    match unlinkat(dir, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => return Ok(()),
        Err(Errno::EISDIR) => {}
        Err(e) => return Err(e.into()),
    }
    let fd = open_dir_at(dir, name)?;
    let mut children: Vec<OsString> = Vec::new();
    {
        let mut d = nix::dir::Dir::from_fd(fd.try_clone()?)?;
        for ent in d.iter() {
            let ent = ent?;
            let n = ent.file_name().to_bytes();
            if n != b"." && n != b".." {
                children.push(OsString::from_vec(n.to_vec()));
            }
        }
    }
    for c in &children {
        remove_all_at(fd.as_fd(), c)?;
    }
    match unlinkat(dir, name, UnlinkatFlags::RemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Owner (best effort), mode and xattrs (best effort) through an open fd.
fn finish_fd(fd: BorrowedFd<'_>, meta: &Meta, opts: &UnpackOptions, perm: Mode) -> nix::Result<()> {
    if opts.same_owner {
        // Best effort: an unprivileged or user-namespaced caller cannot chown.
        let _ = nix::unistd::fchown(
            fd,
            Some(Uid::from_raw(meta.uid as u32)),
            Some(Gid::from_raw(meta.gid as u32)),
        );
    }
    // After chown, which clears set-id bits.
    fchmod(fd, perm)?;
    for (k, v) in &meta.xattrs {
        // SAFETY: fd is a valid open descriptor, k is NUL-terminated, v is a valid buffer
        // of v.len() bytes for the duration of the call.
        let _ =
            unsafe { libc::fsetxattr(fd.as_raw_fd(), k.as_ptr(), v.as_ptr().cast(), v.len(), 0) };
    }
    Ok(())
}

fn chown_at(dir: BorrowedFd<'_>, name: &OsStr, meta: &Meta, opts: &UnpackOptions) {
    if opts.same_owner {
        let _ = fchownat(
            dir,
            name,
            Some(Uid::from_raw(meta.uid as u32)),
            Some(Gid::from_raw(meta.gid as u32)),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        );
    }
}

fn set_xattr_fd(fd: BorrowedFd<'_>, key: &str, value: &[u8]) -> io::Result<()> {
    let k = CString::new(key).map_err(io::Error::other)?;
    // SAFETY: valid fd, NUL-terminated key, value buffer valid for value.len() bytes.
    let r = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            k.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// lsetxattr on `name` inside the already-opened `dir`, addressed through
/// /proc/self/fd so no path component outside our fd is resolved.
fn set_xattr_nofollow(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    key: &CString,
    value: &[u8],
) -> io::Result<()> {
    let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    p.extend_from_slice(name.as_bytes());
    let p = CString::new(p).map_err(io::Error::other)?;
    // SAFETY: p and key are NUL-terminated, value is valid for value.len() bytes.
    let r = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning() {
        let c = |s: &str| {
            clean_components(s.as_bytes()).map(|v| v.join(OsStr::new("/")).into_string().unwrap())
        };
        assert_eq!(c("./a/b/"), Some("a/b".into()));
        assert_eq!(c("/etc/passwd"), Some("etc/passwd".into()));
        assert_eq!(c("a/../b"), Some("b".into()));
        assert_eq!(c("a//./b"), Some("a/b".into()));
        assert_eq!(c("."), Some("".into()));
        assert_eq!(c("../etc/passwd"), None);
        assert_eq!(c("a/../../x"), None);
        assert_eq!(c("/../etc"), None);
    }

    /// A reader that is interrupted once, then hands out at most 1000 bytes per read.
    struct Choppy<'a> {
        data: &'a [u8],
        interrupted: bool,
    }

    impl Read for Choppy<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if !self.interrupted {
                self.interrupted = true;
                return Err(io::ErrorKind::Interrupted.into());
            }
            let k = buf.len().min(self.data.len()).min(1000);
            buf[..k].copy_from_slice(&self.data[..k]);
            self.data = &self.data[k..];
            Ok(k)
        }
    }

    #[test]
    fn copy_contents_moves_every_byte() {
        // Larger than one chunk, not a multiple of it, through a reused buffer.
        let data: Vec<u8> = (0..COPY_CHUNK * 2 + 12345)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let mut buf = Vec::new();
        for len in [data.len(), 0, 999] {
            let mut out = Vec::new();
            let mut src = std::io::Cursor::new(&data[..len]);
            assert_eq!(
                copy_contents(&mut src, &mut out, &mut buf).unwrap(),
                len as u64
            );
            assert_eq!(out, &data[..len]);
        }
        let mut out = Vec::new();
        let mut src = Choppy {
            data: &data,
            interrupted: false,
        };
        assert_eq!(
            copy_contents(&mut src, &mut out, &mut buf).unwrap(),
            data.len() as u64
        );
        assert_eq!(out, data);
    }
}
