//! The process's standard streams and the shim's ends of them.
//!
//! Without a tty: a pipe each for stdout and stderr, a pipe for stdin when `open_stdin`
//! (else /dev/null). With a tty: one pty, whose slave is all three streams; the shim
//! reads output from the master and, when `open_stdin`, writes input to a duplicate of
//! it (so input can be closed independently of output).

use crate::sys;
use berth_runtime::pty;
use berth_runtime::Stdio;
use berth_types::shim::ShimConfig;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;

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

/// Make both sides for `cfg`.
pub fn prepare(cfg: &ShimConfig, console_size: Option<(u16, u16)>) -> io::Result<(ShimIo, Stdio)> {
    if cfg.tty {
        let (master, slave) = pty::open()?;
        if let Some((h, w)) = console_size {
            if h > 0 && w > 0 {
                pty::resize(&master, h, w)?;
            }
        }
        sys::set_nonblocking(&master)?;
        let stdin = if cfg.open_stdin {
            Some(master.try_clone()?)
        } else {
            None
        };
        let io = ShimIo {
            stdout: Some(master.try_clone()?),
            stderr: None,
            stdin,
            master: Some(master),
        };
        let stdio = Stdio {
            stdin: slave.try_clone()?,
            stdout: slave.try_clone()?,
            stderr: slave,
        };
        return Ok((io, stdio));
    }
    let (out_r, out_w) = sys::pipe()?;
    let (err_r, err_w) = sys::pipe()?;
    sys::set_nonblocking(&out_r)?;
    sys::set_nonblocking(&err_r)?;
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
        Stdio {
            stdin: stdin_child,
            stdout: out_w,
            stderr: err_w,
        },
    ))
}
