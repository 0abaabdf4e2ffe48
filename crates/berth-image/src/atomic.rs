//! Atomic file writes: write `<name>.<unique>.tmp` in the same directory, fsync, rename
//! over the target, fsync the directory. A crash leaves either the old or the new file;
//! a leftover `*.tmp` is never read as data (readers ignore it; `sweep_tmp` removes it).
//!
//! Batched durability: inside [`deferred_sync`] the writes of the calling thread (this
//! module's and the layer store's) skip their fsyncs; the caller then makes everything
//! durable at once with [`sync_filesystem`]. A build uses it for its intermediate
//! images: one `syncfs` before the result is tagged instead of ~10 fsyncs per step.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set while this thread runs inside [`deferred_sync`].
    static DEFERRED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` with this thread's store writes not fsynced one by one. The caller must call
/// [`sync_filesystem`] before anything durable (a tag, a reply) refers to what `f` wrote.
pub fn deferred_sync<T>(f: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            DEFERRED.with(|d| d.set(self.0));
        }
    }
    let _reset = Reset(DEFERRED.with(|d| d.replace(true)));
    f()
}

/// Whether fsyncs are deferred on this thread (see [`deferred_sync`]).
pub fn sync_deferred() -> bool {
    DEFERRED.with(|d| d.get())
}

/// Flush the whole filesystem holding `path` (`syncfs`). Best effort.
pub fn sync_filesystem(path: &Path) {
    use std::os::fd::AsRawFd;
    if let Ok(f) = File::open(path) {
        // SAFETY: the fd is valid for the lifetime of `f`; syncfs only reads it.
        unsafe {
            libc::syncfs(f.as_raw_fd());
        }
    }
}

/// A name unique within this host for temp files and dirs: pid, time, counter.
pub fn unique_suffix() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}-{t:x}-{n}", std::process::id())
}

/// Write `data` to `path` atomically (mode 0644).
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("path has no parent"))?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        unique_suffix()
    ));
    let res = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(data)?;
        let sync = !sync_deferred();
        if sync {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        // The rename is durable only once the directory is synced.
        if sync {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// Remove leftover `*.tmp` files in `dir` (from a crash mid-write). Best effort.
pub fn sweep_tmp(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        if e.file_name().to_string_lossy().ends_with(".tmp") {
            let _ = fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_replaces() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temp files left: {names:?}");
        fs::write(d.path().join(".x.json.1.tmp"), b"torn").unwrap();
        sweep_tmp(d.path());
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
