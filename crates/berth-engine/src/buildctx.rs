//! Where a build's context is extracted: a small context goes to a tmpfs of its own,
//! a large or compressed one to the data root's disk.
//!
//! A context lives only as long as its build, yet written to the data root's
//! filesystem it costs inode allocation on the way in, a delete on the way out, and
//! (worst) it is dirty data that the build's one `syncfs` must write to the disk
//! before the image is tagged. A context that fits in [`MEMORY_CONTEXT_MAX`] as a plain
//! tar is read whole into memory first and extracted into a tmpfs mounted on the
//! build's context directory, sized for it; nothing of it ever reaches the disk.
//! Anything else (larger, gzip-compressed, or a tmpfs that could not be mounted or
//! filled) is extracted into the same directory on disk, as before. The mount goes in
//! [`release`]; one left by a daemon crash is unmounted by the startup sweep
//! (`buildsweep`), which unmounts everything below a build's work directories.

use berth_image::{ImageError, UnpackOptions};
use std::io::{Cursor, Read};
use std::path::Path;

/// The largest context extracted into memory: the CLI's in-memory limit for small
/// contexts is larger, but a build is not worth more RAM than this.
pub(super) const MEMORY_CONTEXT_MAX: u64 = 32 << 20;

/// What was done with a context directory, for [`release`].
pub(super) struct Extracted {
    mounted: bool,
}

/// Extract the context stream `context` into the (existing, empty) directory `dir`.
pub(super) fn extract(context: Box<dyn Read + Send>, dir: &Path) -> Result<Extracted, ImageError> {
    let opts = UnpackOptions::default();
    let mut context = context;
    let mut head = Vec::new();
    (&mut context)
        .take(MEMORY_CONTEXT_MAX + 1)
        .read_to_end(&mut head)
        .map_err(|source| ImageError::Io {
            context: "reading the build context".into(),
            source,
        })?;
    if head.len() as u64 > MEMORY_CONTEXT_MAX {
        // Large: stream it to disk, the bytes read so far first.
        berth_image::unpack(Cursor::new(head).chain(context), dir, &opts)?;
        return Ok(Extracted { mounted: false });
    }
    if plain_tar(&head) && mount_tmpfs(dir, head.len() as u64) {
        match berth_image::unpack(Cursor::new(&head), dir, &opts) {
            Ok(_) => return Ok(Extracted { mounted: true }),
            // Maybe only the tmpfs was too small (many tiny files take a page each):
            // once more on disk, from the bytes still in memory.
            Err(_) => {
                unmount(dir);
            }
        }
    }
    berth_image::unpack(Cursor::new(head), dir, &opts)?;
    Ok(Extracted { mounted: false })
}

/// Undo the mount of [`extract`] (the caller removes the directory afterwards).
pub(super) fn release(dir: &Path, e: &Extracted) {
    if e.mounted {
        unmount(dir);
    }
}

/// A tar without compression: its size bounds what it unpacks to. An empty body is one
/// too (an empty context).
fn plain_tar(b: &[u8]) -> bool {
    b.is_empty() || b.get(257..262) == Some(b"ustar".as_slice())
}

/// Mount a tmpfs on `dir` with room for a tar of `len` bytes: files take whole pages,
/// so a tar of many small files needs more than its size.
fn mount_tmpfs(dir: &Path, len: u64) -> bool {
    let size = len.saturating_mul(4).saturating_add(16 << 20);
    let data = format!("size={size},mode=0755");
    nix::mount::mount(
        Some("berth-build-context"),
        dir,
        Some("tmpfs"),
        nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
        Some(data.as_str()),
    )
    .is_ok()
}

fn unmount(dir: &Path) {
    let _ = nix::mount::umount2(dir, nix::mount::MntFlags::MNT_DETACH);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        tar_with(files, tar::Header::new_ustar)
    }

    fn tar_with(files: &[(&str, &[u8])], header: fn() -> tar::Header) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = header();
            h.set_size(data.len() as u64);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn mounted_at(dir: &Path) -> bool {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        info.lines()
            .filter_map(|l| l.split(' ').nth(4))
            .any(|p| Path::new(p) == dir)
    }

    struct TempDir(std::path::PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            unmount(&self.0);
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn temp(name: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("berth-buildctx-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }

    #[test]
    fn small_plain_tar_goes_to_a_tmpfs_and_release_unmounts_it() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: needs root to mount");
            return;
        }
        let d = temp("small");
        let tar = tar_of(&[("Dockerfile", b"FROM scratch\n"), ("a/b.txt", b"hello")]);
        let e = extract(Box::new(Cursor::new(tar)), &d.0).unwrap();
        assert!(e.mounted);
        assert!(mounted_at(&d.0));
        let st = nix::sys::statfs::statfs(&d.0).unwrap();
        assert_eq!(st.filesystem_type(), nix::sys::statfs::TMPFS_MAGIC);
        assert_eq!(std::fs::read(d.0.join("a/b.txt")).unwrap(), b"hello");
        release(&d.0, &e);
        assert!(!mounted_at(&d.0));
    }

    #[test]
    fn other_formats_and_large_contexts_go_to_the_directory_itself() {
        // Only a ustar header says "plain tar" for sure; anything else goes to disk.
        let d = temp("old");
        let tar = tar_with(&[("f", b"data")], tar::Header::new_old);
        let e = extract(Box::new(Cursor::new(tar)), &d.0).unwrap();
        assert!(!e.mounted);
        assert!(!mounted_at(&d.0));
        assert_eq!(std::fs::read(d.0.join("f")).unwrap(), b"data");

        let d = temp("large");
        let big = vec![7u8; MEMORY_CONTEXT_MAX as usize + 1024];
        let tar = tar_of(&[("big", &big)]);
        let e = extract(Box::new(Cursor::new(tar)), &d.0).unwrap();
        assert!(!e.mounted);
        assert_eq!(
            std::fs::metadata(d.0.join("big")).unwrap().len(),
            big.len() as u64
        );
    }

    #[test]
    fn a_context_escaping_its_directory_is_refused_either_way() {
        let d = temp("escape");
        let mut raw = tar_of(&[("ok", b"x")]);
        // Rename the entry to a path that climbs out; fix the checksum.
        let name = b"../escaped";
        raw[..100].fill(0);
        raw[..name.len()].copy_from_slice(name);
        let mut h = tar::Header::from_byte_slice(&raw[..512]).clone();
        h.set_cksum();
        raw[..512].copy_from_slice(h.as_bytes());
        assert!(extract(Box::new(Cursor::new(raw)), &d.0).is_err());
        assert!(!d.0.parent().unwrap().join("escaped").exists());
    }
}
