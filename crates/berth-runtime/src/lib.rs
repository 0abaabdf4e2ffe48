//! berth-runtime turns a [`ContainerSpec`] into a running process, and an [`ExecSpec`]
//! into a process joined to a running container.
//!
//! It is a synchronous library called by `berth-shim` (never from a multithreaded or async
//! process: it forks). The shim owns stdio and logging; the runtime owns isolation:
//! namespaces, overlay rootfs, pivot_root, /proc /sys /dev, masked paths, user, caps,
//! seccomp, no_new_privs, rlimits and the cgroup (through `berth-cgroups`).
//!
//! Two-step start, like `runc create` + `runc start`: [`create`] returns once the process
//! is fully set up and parked right before `execve`; [`Created::start`] lets it go. The
//! shim attaches clients in between so no output is missed.

use berth_types::spec::{ContainerSpec, ExecSpec};
use std::os::fd::OwnedFd;

mod error;
pub use error::RuntimeError;

/// The process's standard streams. With a tty all three are the pty's slave side.
#[derive(Debug)]
pub struct Stdio {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// A process set up and waiting to `execve`.
#[derive(Debug)]
pub struct Created {
    pid: i32,
    /// Write end of the pipe the parked child waits on.
    release: Option<OwnedFd>,
    /// Read end of the close-on-exec pipe that reports an `execve` failure.
    exec_status: Option<OwnedFd>,
}

impl Created {
    /// PID of the process (host view); with `init`, the init's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Let the process `execve`. Returns once it has, or with the error (126/127).
    pub fn start(mut self) -> Result<i32, RuntimeError> {
        let _ = (self.release.take(), self.exec_status.take());
        Err(RuntimeError::Other("runtime not built yet".into()))
    }
}

/// Create the container's PID 1 (namespaces, rootfs, cgroup, security) parked before exec.
pub fn create(_spec: &ContainerSpec, _stdio: Stdio) -> Result<Created, RuntimeError> {
    Err(RuntimeError::Other("runtime not built yet".into()))
}

/// Create a process inside a running container (setns into `target_pid`'s namespaces,
/// join its cgroup, same security setup), parked before exec.
pub fn create_exec(_spec: &ExecSpec, _stdio: Stdio) -> Result<Created, RuntimeError> {
    Err(RuntimeError::Other("runtime not built yet".into()))
}

/// Pseudo-terminal helpers for the shim.
pub mod pty {
    use std::os::fd::OwnedFd;

    /// Open a pty pair: (master, slave).
    pub fn open() -> std::io::Result<(OwnedFd, OwnedFd)> {
        Err(std::io::Error::other("pty not built yet"))
    }

    /// Set the window size on a pty (master or slave).
    pub fn resize(_fd: &OwnedFd, _height: u16, _width: u16) -> std::io::Result<()> {
        Ok(())
    }
}
