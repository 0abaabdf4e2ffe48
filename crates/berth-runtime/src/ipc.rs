//! The little protocol between the caller and the forked setup processes.
//!
//! A `SOCK_SEQPACKET` socketpair carries one message per packet: a tag byte and a payload.
//! Child → parent: [`SETUP`] (stage 1 is ready to be put in the cgroup / get id maps),
//! [`PID`] (the container process's pid), [`READY`] (parked before exec), [`ERROR`]
//! (an encoded [`RuntimeError`]). Parent → child: [`GO`]. Plain pipes are used for the
//! release byte and the close-on-exec status pipe (see `Created::start`).

use crate::error::RuntimeError;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub const SETUP: u8 = b'S';
pub const GO: u8 = b'G';
pub const PID: u8 = b'P';
pub const READY: u8 = b'R';
pub const ERROR: u8 = b'E';

/// A connected SEQPACKET pair, both ends close-on-exec: (parent, child).
pub fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid 2-element array for the kernel to fill.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned two fresh descriptors we now own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A close-on-exec pipe: (read, write).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid 2-element array for the kernel to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors we now own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Send one message on a socket (retrying on EINTR). MSG_NOSIGNAL: a peer that died
/// yields EPIPE, never a SIGPIPE in the caller.
pub fn send(fd: RawFd, tag: u8, payload: &[u8]) -> io::Result<()> {
    let mut buf = Vec::with_capacity(payload.len() + 1);
    buf.push(tag);
    buf.extend_from_slice(payload);
    loop {
        // SAFETY: buf is a valid readable slice for its length.
        let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Write a whole buffer to a fd.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: buf is a valid readable slice for its length.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// Receive one message; `None` at EOF (every writer closed).
pub fn recv(fd: RawFd) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut buf = vec![0u8; 8192];
    loop {
        // SAFETY: buf is a valid writable buffer of its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n as usize);
        let tag = buf[0];
        return Ok(Some((tag, buf[1..].to_vec())));
    }
}

/// Read everything until EOF (for the exec-status pipe).
pub fn read_to_end(fd: &OwnedFd) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: buf is a valid writable buffer of its length.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
}

/// Report an error from a child (best effort: the parent may be gone).
pub fn send_error(fd: RawFd, err: &RuntimeError) {
    let _ = send(fd, ERROR, &err.encode());
}
