//! The process's standard streams and the shim's ends of them.
//!
//! Without a tty: a pipe each for stdout and stderr, a pipe for stdin when `open_stdin`
//! (else /dev/null). With a tty the process opens its terminal itself, inside the
//! container (`berth_runtime::ProcessIo::Pty`, so it lives on the container's devpts),
//! and the runtime hands the master back once the process is created; the shim reads
//! output from it and, when `open_stdin`, writes input to a duplicate of it (so input
//! can be closed independently of output) — see [`ShimIo::use_master`].
//!
//! The output pipes are grown to [`PIPE_SIZE`]: a container that writes a lot then
//! hands the shim large batches (fewer wake-ups, reads, and log writes per byte)
//! instead of stalling every 64 KiB until the shim has caught up.

use crate::sys;
use berth_runtime::{ProcessIo, Stdio};
use berth_types::shim::ShimConfig;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// Capacity asked for the stdout and stderr pipes (Linux's default limit for
/// unprivileged users, `/proc/sys/fs/pipe-max-size`; larger measured no better).
pub const PIPE_SIZE: usize = 1024 * 1024;

/// The shim's side. All descriptors are non-blocking and close-on-exec.
#[derive(Debug, Default)]
pub struct ShimIo {
    /// stdout read end, or the pty master.
    pub stdout: Option<OwnedFd>,
    /// stderr read end (none with a tty).
    pub stderr: Option<OwnedFd>,
    /// stdin write end, or a duplicate of the master (tty and `open_stdin`).
    pub stdin: Option<OwnedFd>,
    /// The pty master, for resizing.
    pub master: Option<OwnedFd>,
}

impl ShimIo {
    /// Take the process's pty master (tty mode): output, input when `open_stdin`, and
    /// resizing all go through it.
    pub fn use_master(&mut self, master: OwnedFd, open_stdin: bool) -> io::Result<()> {
        sys::set_nonblocking(&master)?;
        self.stdin = if open_stdin {
            Some(master.try_clone()?)
        } else {
            None
        };
        self.stdout = Some(master.try_clone()?);
        self.stderr = None;
        self.master = Some(master);
        Ok(())
    }
}

/// Make both sides for `cfg`. With a tty the shim's side stays empty until the master
/// arrives ([`ShimIo::use_master`]).
pub fn prepare(cfg: &ShimConfig) -> io::Result<(ShimIo, ProcessIo)> {
    if cfg.tty {
        return Ok((ShimIo::default(), ProcessIo::Pty));
    }
    let (out_r, out_w) = sys::pipe()?;
    let (err_r, err_w) = sys::pipe()?;
    sys::set_nonblocking(&out_r)?;
    sys::set_nonblocking(&err_r)?;
    grow_pipe(&out_r);
    grow_pipe(&err_r);
    let (stdin_shim, stdin_child) = if cfg.open_stdin {
        let (r, w) = sys::pipe()?;
        sys::set_nonblocking(&w)?;
        (Some(w), r)
    } else {
        (None, OwnedFd::from(File::open("/dev/null")?))
    };
    let io = ShimIo {
        stdout: Some(out_r),
        stderr: Some(err_r),
        stdin: stdin_shim,
        master: None,
    };
    Ok((
        io,
        ProcessIo::Stdio(Stdio {
            stdin: stdin_child,
            stdout: out_w,
            stderr: err_w,
        }),
    ))
}

/// Ask for a [`PIPE_SIZE`] pipe. Best effort: a smaller pipe (a lower system limit, or
/// a user over its pipe quota) only means smaller batches.
fn grow_pipe(fd: &OwnedFd) {
    // SAFETY: fcntl on a descriptor we own, integer arguments only.
    unsafe {
        libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE as libc::c_int);
    }
}
