//! berth-runtime turns a [`ContainerSpec`] into a running process, and an [`ExecSpec`]
//! into a process joined to a running container.
//!
//! It is a synchronous library called by `berth-shim` (never from a multithreaded or async
//! process: it forks). The shim owns stdio and logging; the runtime owns isolation:
//! namespaces, overlay rootfs, pivot_root, /proc /sys /dev, masked paths, user, caps,
//! seccomp, no_new_privs, rlimits and the cgroup (through `berth-cgroups`).
//!
//! Two-step start, like the OCI runtime create + start split: [`create`] returns once the process
//! is fully set up and parked right before `execve`; [`Created::start`] lets it go. The
//! shim attaches clients in between so no output is missed.
//!
//! Notes for the caller:
//! - The returned pid is a direct child of the caller: reap it with `waitpid(pid)`. While
//!   `create`/`create_exec` run, do not reap arbitrary children (`waitpid(-1)`): short-
//!   lived setup processes are reaped by the runtime itself.
//! - Dropping a [`Created`] without starting it kills and reaps the process.
//! - `create` creates the container's cgroup (limits and device rules included) when
//!   `spec.cgroup.path` is set; removing it after the container exits is the caller's
//!   job. `create_exec` joins the existing one.
//! - The engine fills the spec with Docker's defaults for unprivileged containers:
//!   [`default_capabilities`], [`default_masked_paths`], [`default_readonly_paths`].
//!
//! Module map: `process` (fork/namespaces/park), `rootfs` (mounts, pivot), `resolve`
//! (in-root paths), `mountopts`, `sys` (mockable kernel calls), `user`, `caps`,
//! `seccomp`, `lookup` (PATH), `cgroup`, `init` (`--init`), `ipc` (child↔parent),
//! `console` (the terminal opened inside the container), `pty` (host ptys).
//!
//! Terminals (`process.terminal`, Docker's `-t`): pass [`ProcessIo::Pty`]. The process
//! then opens its pty inside the container, from the container's own devpts (so `tty`
//! prints `/dev/pts/0`, like Docker), and the caller takes the master with
//! [`Created::take_pty_master`].

use berth_types::spec::{ContainerSpec, ExecSpec};
use std::os::fd::OwnedFd;

mod caps;
mod cgroup;
mod console;
mod defaults;
mod error;
mod init;
mod ipc;
mod lookup;
mod mountopts;
mod process;
mod resolve;
mod rootfs;
mod seccomp;
mod sys;
#[cfg(test)]
mod testutil;
mod user;

pub use cgroup::hierarchy as cgroup_hierarchy;
pub use defaults::{
    default_capabilities, default_masked_paths, default_readonly_paths, DEFAULT_PATH,
};
pub use error::RuntimeError;

/// The process's standard streams, given by the caller.
#[derive(Debug)]
pub struct Stdio {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// Where the process's standard streams come from.
#[derive(Debug)]
pub enum ProcessIo {
    /// The caller's descriptors, used as they are. With `process.terminal` they must be
    /// the slave of a pty the caller opened: it becomes the controlling terminal (and a
    /// container's /dev/console), but it lives on the caller's devpts, so inside a
    /// container it has no `/dev/pts` name. Prefer [`ProcessIo::Pty`] for terminals.
    Stdio(Stdio),
    /// Docker's terminal (needs `process.terminal`): the process opens `/dev/ptmx`
    /// inside the container — after `/dev/pts` is mounted and the root pivoted, or after
    /// joining the container's mount namespace for an exec — and gets the slave as its
    /// controlling terminal and stdin/stdout/stderr, with the initial size from
    /// `process.console_size`, owned by the process's user (group tty, mode 0620). A
    /// container's slave is also bound over `/dev/console`. The master reaches the
    /// caller before `create` returns: [`Created::take_pty_master`].
    Pty,
}

impl From<Stdio> for ProcessIo {
    fn from(s: Stdio) -> ProcessIo {
        ProcessIo::Stdio(s)
    }
}

/// A process set up and waiting to `execve`.
#[derive(Debug)]
pub struct Created {
    pid: i32,
    /// Our end of the socket the parked child waits on (one byte = go, EOF = die).
    release: Option<OwnedFd>,
    /// Read end of the close-on-exec pipe that reports an `execve` failure.
    exec_status: Option<OwnedFd>,
    /// The master of the pty opened inside the container ([`ProcessIo::Pty`]).
    pty_master: Option<OwnedFd>,
}

impl Created {
    pub(crate) fn new(
        pid: i32,
        release: OwnedFd,
        exec_status: OwnedFd,
        pty_master: Option<OwnedFd>,
    ) -> Created {
        Created {
            pid,
            release: Some(release),
            exec_status: Some(exec_status),
            pty_master,
        }
    }

    /// The master side of the process's terminal (with [`ProcessIo::Pty`]), close-on-
    /// exec and blocking; `None` without one, or once taken. Output is read from it,
    /// input written to it, and the window resized on it (TIOCSWINSZ).
    pub fn take_pty_master(&mut self) -> Option<OwnedFd> {
        self.pty_master.take()
    }

    /// PID of the process (host view); with `init`, the init's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Let the process `execve`. Returns once it has, or with the error (126/127).
    /// On error the process exits by itself; the caller still reaps it.
    pub fn start(mut self) -> Result<i32, RuntimeError> {
        let (Some(release), Some(status)) = (self.release.take(), self.exec_status.take()) else {
            return Err(RuntimeError::Other("container already started".into()));
        };
        use std::os::fd::AsRawFd;
        // A dead child shows up as EOF on the status pipe and as its exit status.
        let _ = ipc::send(release.as_raw_fd(), b'1', &[]);
        drop(release);
        let data =
            ipc::read_to_end(&status).map_err(|e| RuntimeError::sys("reading exec status", e))?;
        if data.is_empty() {
            Ok(self.pid)
        } else {
            Err(RuntimeError::decode(&data))
        }
    }
}

impl Drop for Created {
    fn drop(&mut self) {
        if self.release.take().is_some() {
            // SAFETY: our own, not yet reaped child.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            process::reap(self.pid);
        }
    }
}

/// Create the container's PID 1 (namespaces, rootfs, cgroup, security) parked before exec.
/// `stdio`: a [`Stdio`] (the caller's descriptors) or [`ProcessIo::Pty`].
pub fn create(spec: &ContainerSpec, stdio: impl Into<ProcessIo>) -> Result<Created, RuntimeError> {
    process::spawn(process::Task::Container(spec), stdio.into(), &mut |_| {})
}

/// [`create`], calling `on_pid` with the container process's pid as soon as it exists,
/// while the process still sets itself up (its namespaces may not all be in place yet):
/// the caller can announce the pid and overlap its own work with that setup. Called at
/// most once, and not when creation fails before the pid is known.
pub fn create_notify(
    spec: &ContainerSpec,
    stdio: impl Into<ProcessIo>,
    on_pid: &mut dyn FnMut(i32),
) -> Result<Created, RuntimeError> {
    process::spawn(process::Task::Container(spec), stdio.into(), on_pid)
}

/// Create a process inside a running container (setns into `target_pid`'s namespaces,
/// join its cgroup, same security setup), parked before exec. `stdio` as for [`create`].
pub fn create_exec(spec: &ExecSpec, stdio: impl Into<ProcessIo>) -> Result<Created, RuntimeError> {
    process::spawn(process::Task::Exec(spec), stdio.into(), &mut |_| {})
}

/// Pseudo-terminal helpers on the caller's side (host ptys, window size).
pub mod pty {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    /// Open a pty pair: (master, slave), both close-on-exec, the slave not our
    /// controlling terminal.
    pub fn open() -> io::Result<(OwnedFd, OwnedFd)> {
        // SAFETY: posix_openpt returns a new descriptor we own.
        let m = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
        if m < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fresh descriptor.
        let master = unsafe { OwnedFd::from_raw_fd(m) };
        let mut name = [0 as libc::c_char; 128];
        // SAFETY: grantpt/unlockpt on our master; ptsname_r writes into our buffer.
        unsafe {
            if libc::grantpt(m) < 0 || libc::unlockpt(m) < 0 {
                return Err(io::Error::last_os_error());
            }
            let r = libc::ptsname_r(m, name.as_mut_ptr(), name.len());
            if r != 0 {
                return Err(io::Error::from_raw_os_error(r));
            }
        }
        // SAFETY: ptsname_r NUL-terminated the name.
        let s = unsafe {
            libc::open(
                name.as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            )
        };
        if s < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fresh descriptor.
        Ok((master, unsafe { OwnedFd::from_raw_fd(s) }))
    }

    /// Set the window size on a pty (master or slave).
    pub fn resize(fd: &OwnedFd, height: u16, width: u16) -> io::Result<()> {
        let ws = libc::winsize {
            ws_row: height,
            ws_col: width,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads the winsize we own.
        if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn open_and_resize() {
            let (m, s) = super::open().unwrap();
            super::resize(&m, 40, 132).unwrap();
            use std::os::fd::AsRawFd;
            // SAFETY: winsize is plain data; TIOCGWINSZ fills the struct we own.
            let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            let r = unsafe { libc::ioctl(s.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
            assert_eq!(r, 0);
            assert_eq!((ws.ws_row, ws.ws_col), (40, 132));
        }
    }
}
