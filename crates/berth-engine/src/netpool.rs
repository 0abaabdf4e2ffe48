//! Spare network namespaces, made ahead of time for the next starts.
//!
//! Creating a network namespace costs close to a millisecond of kernel time (the
//! per-namespace state of every network subsystem), and a container with its own
//! network (`none`, the default bridge, user networks) used to pay it on the start path,
//! inside the process being started. The engine instead keeps [`SPARE`] empty
//! namespaces, each held by an open descriptor: a start takes one, the shim gets the
//! descriptor (as its stdin, moved to the same number) and the container process joins
//! it by path (`/proc/self/fd/<n>`) where it would have unshared a new one; the daemon
//! closes its copy once the process is created. When that start is done, a background
//! thread makes the next ones, each by unsharing and going back to the daemon's own
//! namespace.
//!
//! A spare namespace is used once, by one container, and never returned: it is as
//! fresh as an unshared one (only `lo`, down; the runtime brings it up as before). The
//! engine uses one only when the container would get a new network namespace with no
//! user namespace (a namespace owned by another user namespace could not be joined).
//! When the pool is empty the container unshares its own as before.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::lock;

/// Namespaces kept ready: one for the next start and one being taken meanwhile.
pub(crate) const SPARE: usize = 2;

/// The spare namespaces and whether a thread is making more.
#[derive(Debug, Default)]
pub(crate) struct NetnsPool {
    spare: Mutex<Vec<OwnedFd>>,
    filling: AtomicBool,
    /// Set when making one failed (no privilege, a kernel without network
    /// namespaces): the pool stays empty instead of retrying at every start.
    broken: AtomicBool,
}

/// A spare namespace handed to a start: its path is valid while this lives.
#[derive(Debug)]
pub(crate) struct SpareNetns {
    fd: OwnedFd,
}

impl SpareNetns {
    /// The descriptor, passed on to the shim under the same number.
    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The path that names it in this process.
    #[cfg(test)]
    fn path(&self) -> String {
        format!("/proc/self/fd/{}", self.fd.as_raw_fd())
    }
}

impl NetnsPool {
    /// A spare namespace if one is ready. The next ones are made when the returned
    /// guard goes (the caller's start is done): making one is half a millisecond of
    /// kernel time that would otherwise compete with that very start for the CPU.
    pub(crate) fn take(self: &Arc<Self>) -> (Option<SpareNetns>, RefillOnDrop) {
        let got = lock(&self.spare).pop().map(|fd| SpareNetns { fd });
        (got, RefillOnDrop(self.clone()))
    }

    /// Makes namespaces on a background thread until [`SPARE`] are ready.
    pub(crate) fn refill(self: &Arc<Self>) {
        if self.broken.load(Ordering::Relaxed) || self.filling.swap(true, Ordering::AcqRel) {
            return;
        }
        let pool = self.clone();
        let spawned = std::thread::Builder::new()
            .name("netns-pool".into())
            .spawn(move || {
                let home = match File::open("/proc/thread-self/ns/net") {
                    Ok(f) => f,
                    Err(e) => {
                        eprintln!("berth-engine: opening the daemon's network namespace: {e}");
                        pool.broken.store(true, Ordering::Relaxed);
                        pool.filling.store(false, Ordering::Release);
                        return;
                    }
                };
                while lock(&pool.spare).len() < SPARE {
                    match make(&home) {
                        Ok(fd) => lock(&pool.spare).push(fd),
                        Err(e) => {
                            eprintln!("berth-engine: making a spare network namespace: {e}");
                            pool.broken.store(true, Ordering::Relaxed);
                            break;
                        }
                    }
                }
                pool.filling.store(false, Ordering::Release);
            });
        if spawned.is_err() {
            self.filling.store(false, Ordering::Release);
        }
    }

    /// How many are ready (tests).
    #[cfg(test)]
    fn ready(&self) -> usize {
        lock(&self.spare).len()
    }
}

/// Refills the pool when dropped (see [`NetnsPool::take`]).
#[derive(Debug)]
pub(crate) struct RefillOnDrop(Arc<NetnsPool>);

impl Drop for RefillOnDrop {
    fn drop(&mut self) {
        self.0.refill();
    }
}

/// One new network namespace, held by a descriptor: the calling thread unshares one,
/// opens it and goes back `home` before it does anything else. An error on the way
/// back leaves the thread in the new namespace: the caller must then stop using it
/// (the pool thread ends).
fn make(home: &File) -> std::io::Result<OwnedFd> {
    // SAFETY: unshare of the calling thread's network namespace only.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let ns = File::open("/proc/thread-self/ns/net");
    // SAFETY: setns of this thread into the namespace `home` names (a descriptor we
    // hold open).
    if unsafe { libc::setns(home.as_raw_fd(), libc::CLONE_NEWNET) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(OwnedFd::from(ns?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    #[test]
    fn spares_are_distinct_new_namespaces_and_refill() {
        if !is_root() {
            return;
        }
        let pool = Arc::new(NetnsPool::default());
        pool.refill();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while pool.ready() < SPARE && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(pool.ready(), SPARE);
        let ours = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
        let (a, refill_a) = pool.take();
        let (b, refill_b) = pool.take();
        let a = a.expect("a spare namespace");
        let b = b.expect("a second spare namespace");
        let ino = |s: &SpareNetns| std::fs::metadata(s.path()).unwrap().ino();
        assert_ne!(ino(&a), ours, "a spare is not the daemon's own namespace");
        assert_ne!(ino(&a), ino(&b), "each spare is a namespace of its own");
        // This thread stayed where it was.
        assert_eq!(
            std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino(),
            ours
        );
        drop((refill_a, refill_b));
        // Releasing the guards started making new ones.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while pool.ready() < SPARE && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(pool.ready(), SPARE);
    }
}
