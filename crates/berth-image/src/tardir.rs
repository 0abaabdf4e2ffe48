//! Deterministic tar of a directory: the building block of `export`, `commit` (layer
//! diffs) and `cp` out of a container. Entries are written depth-first in byte order of
//! their names, relative to the directory (no leading `./`, directories with a trailing
//! `/`, the root itself omitted), with owners, modes and mtimes (seconds), hardlinks as
//! link entries to the first name seen, devices, fifos and `security.capability`
//! (as a PAX `SCHILY.xattr` record). Sockets are skipped. Symlinks are stored, never
//! followed. With [`WhiteoutMode::Overlay`], overlayfs whiteouts (0/0 character devices
//! and `trusted.overlay.opaque=y`) are written as AUFS `.wh.` entries, the layer format.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{ImageError, IoContext};
use crate::unpack::{WhiteoutMode, OVERLAY_OPAQUE_XATTR, WHITEOUT_OPAQUE, WHITEOUT_PREFIX};

/// Options of [`tar_dir_with`].
#[derive(Debug, Clone, Default)]
pub struct TarOptions {
    pub whiteouts: WhiteoutMode,
    /// Paths relative to the directory to leave out, with everything below them
    /// (e.g. mount points the runtime created in a container's upper dir).
    pub exclude: Vec<PathBuf>,
}

/// Write a tar of the contents of `dir` to `writer` (see the module docs).
pub fn tar_dir(dir: &Path, writer: impl Write) -> Result<(), ImageError> {
    tar_dir_with(dir, writer, &TarOptions::default())
}

/// [`tar_dir`] with options.
pub fn tar_dir_with(dir: &Path, writer: impl Write, opts: &TarOptions) -> Result<(), ImageError> {
    let mut b = tar::Builder::new(writer);
    b.mode(tar::HeaderMode::Complete);
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    walk(&mut b, dir, Path::new(""), opts, &mut links)?;
    b.into_inner()
        .ctx(|| "finish tar".to_string())?
        .flush()
        .ctx(|| "flush tar".to_string())
}

fn walk<W: Write>(
    b: &mut tar::Builder<W>,
    base: &Path,
    rel: &Path,
    opts: &TarOptions,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<(), ImageError> {
    let dir = base.join(rel);
    let mut names: Vec<_> = fs::read_dir(&dir)
        .ctx(|| format!("read {}", dir.display()))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()
        .ctx(|| format!("read {}", dir.display()))?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in names {
        let rel_path = rel.join(&name);
        if opts.exclude.iter().any(|x| x == &rel_path) {
            continue;
        }
        let full = base.join(&rel_path);
        let md = match fs::symlink_metadata(&full) {
            Ok(m) => m,
            // Vanished while we walked (a running container): skip it.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(ImageError::io(format!("lstat {}", full.display()), e)),
        };
        let ft = md.file_type();
        if opts.whiteouts == WhiteoutMode::Overlay && ft.is_char_device() && md.rdev() == 0 {
            let mut wh_name = std::ffi::OsString::from(WHITEOUT_PREFIX);
            wh_name.push(&name);
            let wh = rel.join(wh_name);
            let mut h = header(&md, tar::EntryType::Regular);
            h.set_mode(0o644);
            h.set_size(0);
            append(b, h, name_bytes(&wh, false), None, io::empty())
                .ctx(|| format!("tar {}", wh.display()))?;
            continue;
        }
        if ft.is_socket() {
            continue;
        }
        if let Some(cap) = lgetxattr(&full, "security.capability") {
            b.append_pax_extensions([("SCHILY.xattr.security.capability", &cap[..])])
                .ctx(|| format!("tar {}", rel_path.display()))?;
        }
        let ctx = || format!("tar {}", rel_path.display());
        if ft.is_dir() {
            let mut h = header(&md, tar::EntryType::Directory);
            h.set_size(0);
            append(b, h, name_bytes(&rel_path, true), None, io::empty()).ctx(ctx)?;
            if opts.whiteouts == WhiteoutMode::Overlay
                && lgetxattr(&full, OVERLAY_OPAQUE_XATTR).as_deref() == Some(&b"y"[..])
            {
                let mut h = header(&md, tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(0);
                append(
                    b,
                    h,
                    name_bytes(&rel_path.join(WHITEOUT_OPAQUE), false),
                    None,
                    io::empty(),
                )
                .ctx(ctx)?;
            }
            walk(b, base, &rel_path, opts, links)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&full).ctx(ctx)?;
            let mut h = header(&md, tar::EntryType::Symlink);
            h.set_size(0);
            let t = target.as_os_str().as_bytes().to_vec();
            append(b, h, name_bytes(&rel_path, false), Some(t), io::empty()).ctx(ctx)?;
        } else if ft.is_file() {
            if md.nlink() > 1 {
                if let Some(first) = links.get(&(md.dev(), md.ino())) {
                    let mut h = header(&md, tar::EntryType::Link);
                    h.set_size(0);
                    let t = name_bytes(first, false);
                    append(b, h, name_bytes(&rel_path, false), Some(t), io::empty()).ctx(ctx)?;
                    continue;
                }
                links.insert((md.dev(), md.ino()), rel_path.clone());
            }
            let f = fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&full)
                .ctx(ctx)?;
            let mut h = header(&md, tar::EntryType::Regular);
            h.set_size(md.len());
            // The file may change size while we read it: write exactly what the header says.
            let data = Exact {
                inner: f.take(md.len()),
                left: md.len(),
            };
            append(b, h, name_bytes(&rel_path, false), None, data).ctx(ctx)?;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            let kind = if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else {
                tar::EntryType::Fifo
            };
            let mut h = header(&md, kind);
            h.set_size(0);
            if !ft.is_fifo() {
                h.set_device_major(libc::major(md.rdev())).ctx(ctx)?;
                h.set_device_minor(libc::minor(md.rdev())).ctx(ctx)?;
            }
            append(b, h, name_bytes(&rel_path, false), None, io::empty()).ctx(ctx)?;
        }
    }
    Ok(())
}

/// The entry name: relative path bytes, `/` appended for directories.
fn name_bytes(p: &Path, dir: bool) -> Vec<u8> {
    let mut v = p.as_os_str().as_bytes().to_vec();
    if dir {
        v.push(b'/');
    }
    v
}

/// Append one entry with exact name bytes (GNU long-name/long-link records when they do
/// not fit the 100-byte fields; the crate's path helpers would drop a trailing `/`).
fn append<W: Write>(
    b: &mut tar::Builder<W>,
    mut h: tar::Header,
    name: Vec<u8>,
    link: Option<Vec<u8>>,
    data: impl Read,
) -> io::Result<()> {
    let gnu = h
        .as_gnu_mut()
        .ok_or_else(|| io::Error::other("not a GNU header"))?;
    if name.len() > gnu.name.len() {
        long_record(b, tar::EntryType::GNULongName, &name)?;
    }
    let n = name.len().min(gnu.name.len());
    gnu.name = [0; 100];
    gnu.name[..n].copy_from_slice(&name[..n]);
    if let Some(link) = link {
        if link.len() > gnu.linkname.len() {
            long_record(b, tar::EntryType::GNULongLink, &link)?;
        }
        let n = link.len().min(gnu.linkname.len());
        gnu.linkname = [0; 100];
        gnu.linkname[..n].copy_from_slice(&link[..n]);
    }
    h.set_cksum();
    b.append(&h, data)
}

fn long_record<W: Write>(
    b: &mut tar::Builder<W>,
    kind: tar::EntryType,
    value: &[u8],
) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    let gnu = h
        .as_gnu_mut()
        .ok_or_else(|| io::Error::other("not a GNU header"))?;
    let tag = b"././@LongLink";
    gnu.name[..tag.len()].copy_from_slice(tag);
    h.set_mode(0o644);
    h.set_entry_type(kind);
    let mut data = value.to_vec();
    data.push(0);
    h.set_size(data.len() as u64);
    h.set_cksum();
    b.append(&h, &data[..])
}

fn header(md: &fs::Metadata, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(md.mode() & 0o7777);
    h.set_uid(md.uid() as u64);
    h.set_gid(md.gid() as u64);
    h.set_mtime(md.mtime().max(0) as u64);
    h
}

/// Yields exactly `left` bytes: the file's, then zeros if it shrank.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let max = buf.len().min(self.left as usize);
        let n = match self.inner.read(&mut buf[..max])? {
            0 => {
                buf[..max].fill(0);
                max
            }
            n => n,
        };
        self.left -= n as u64;
        Ok(n)
    }
}

fn lgetxattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let cp = CString::new(p.as_os_str().as_bytes()).ok()?;
    let cn = CString::new(name).ok()?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: cp and cn are NUL-terminated; buf is valid for buf.len() bytes.
    let n =
        unsafe { libc::lgetxattr(cp.as_ptr(), cn.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}
