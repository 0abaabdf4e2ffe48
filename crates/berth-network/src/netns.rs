//! Network namespaces of containers: how the engine names one ([`NetnsRef`]) and how
//! this crate runs code inside one. `setns(2)` changes the namespace of the calling
//! *thread*, so it is only ever done on a dedicated short-lived std thread — never on a
//! tokio worker, whose later tasks would silently run in the container's namespace.
//! Sockets keep the namespace they were created in, so a socket made on such a thread
//! (netlink, the DNS listener) keeps working from any thread afterwards.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{NetworkError, Result};

/// A container's network namespace: a path (`/proc/<pid>/ns/net`, a bind-mounted ns
/// file) or the pid of a process inside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetnsRef {
    Path(PathBuf),
    Pid(u32),
}

impl NetnsRef {
    pub fn path(&self) -> PathBuf {
        match self {
            NetnsRef::Path(p) => p.clone(),
            NetnsRef::Pid(pid) => PathBuf::from(format!("/proc/{pid}/ns/net")),
        }
    }

    pub fn open(&self) -> Result<File> {
        let p = self.path();
        File::open(&p).map_err(|e| NetworkError::io(format!("open {}", p.display()), e))
    }
}

/// Runs `f` on a fresh thread that has joined the network namespace at `ns`, and waits
/// for it. The thread exits afterwards, so its namespace change dies with it.
pub fn run_in_netns<F, R>(ns: &Path, f: F) -> Result<R>
where
    F: FnOnce() -> Result<R> + Send,
    R: Send,
{
    let file = File::open(ns).map_err(|e| NetworkError::io(format!("open {}", ns.display()), e))?;
    std::thread::scope(|s| {
        s.spawn(move || {
            nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| NetworkError::io(format!("setns {}", ns.display()), e.into()))?;
            f()
        })
        .join()
        .map_err(|_| NetworkError::Netlink("namespace worker thread panicked".into()))?
    })
}
