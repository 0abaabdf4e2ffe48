//! One background thread that deletes directory trees the engine no longer needs: the
//! directories of removed containers, once moved to the data root's trash (see
//! `containers.rs`), and trash left by an earlier daemon.
//!
//! A thread spawned per removal cost its creation on the way to the answer of
//! `wait condition=removed` (every `run --rm`), and its deletion then competed for the
//! CPU with the next container's start. This thread lives as long as the process and
//! runs at a lower priority (nice 10): it still gets its share on a busy machine, but
//! yields to the engine's own threads when they wake.

use std::path::PathBuf;
use std::sync::mpsc::{channel, Sender};
use std::sync::OnceLock;

/// How much nicer than the daemon the deletions run.
const NICENESS: i32 = 10;

static QUEUE: OnceLock<Option<Sender<PathBuf>>> = OnceLock::new();

fn queue() -> Option<&'static Sender<PathBuf>> {
    QUEUE
        .get_or_init(|| {
            let (tx, rx) = channel::<PathBuf>();
            std::thread::Builder::new()
                .name("janitor".into())
                .spawn(move || {
                    // SAFETY: gettid has no preconditions; setpriority on our own
                    // thread id changes only this thread's niceness.
                    unsafe {
                        let tid = libc::gettid();
                        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, NICENESS);
                    }
                    for path in rx {
                        if let Err(e) = std::fs::remove_dir_all(&path) {
                            if e.kind() != std::io::ErrorKind::NotFound {
                                eprintln!("berth-engine: deleting {}: {e}", path.display());
                            }
                        }
                    }
                })
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// Deletes the tree at `path` in the background (at once, on the caller's thread, if
/// the background thread could not be started).
pub(crate) fn delete_later(path: PathBuf) {
    match queue() {
        Some(tx) => {
            if let Err(e) = tx.send(path) {
                let _ = std::fs::remove_dir_all(e.0);
            }
        }
        None => {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn trees_are_deleted_in_the_background() {
        let base = std::env::temp_dir().join(format!("berth-janitor-{}", std::process::id()));
        let mut dirs = Vec::new();
        for i in 0..3 {
            let d = base.join(format!("t{i}"));
            std::fs::create_dir_all(d.join("a/b")).unwrap();
            std::fs::write(d.join("a/b/f"), b"x").unwrap();
            dirs.push(d);
        }
        for d in &dirs {
            delete_later(d.clone());
        }
        // A path that is already gone is no error.
        delete_later(base.join("missing"));
        let end = Instant::now() + Duration::from_secs(10);
        while dirs.iter().any(|d| d.exists()) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        let left: Vec<_> = dirs.iter().filter(|d| d.exists()).collect();
        let _ = std::fs::remove_dir_all(&base);
        assert!(left.is_empty(), "not deleted: {left:?}");
    }
}
