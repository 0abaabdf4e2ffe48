//! The little protocol between the caller and the forked setup processes.
//!
//! A `SOCK_SEQPACKET` socketpair carries one message per packet: a tag byte and a payload.
//! Child → parent: [`SETUP`] (stage 1 is ready to be put in the cgroup / get id maps),
//! [`PID`] (the container process's pid), [`PTY`] (the master of the terminal the
//! process opened inside the container, as an `SCM_RIGHTS` descriptor), [`READY`]
//! (parked before exec), [`ERROR`] (an encoded [`RuntimeError`]). Parent → child: [`GO`]. Plain pipes are used for the
//! release byte and the close-on-exec status pipe (see `Created::start`).

use crate::error::RuntimeError;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub const SETUP: u8 = b'S';
pub const GO: u8 = b'G';
pub const PID: u8 = b'P';
pub const READY: u8 = b'R';
pub const ERROR: u8 = b'E';
pub const PTY: u8 = b'T';

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

/// Room for the control message of one descriptor (`CMSG_SPACE(sizeof(int))`, which
/// is 24 on 64-bit Linux), in u64s so the buffer is aligned for `cmsghdr`.
const CMSG_WORDS: usize = 4;

/// Send one message carrying a descriptor (`SCM_RIGHTS`): the peer gets its own copy.
pub fn send_fd(fd: RawFd, tag: u8, payload: &[u8], passed: RawFd) -> io::Result<()> {
    let mut buf = Vec::with_capacity(payload.len() + 1);
    buf.push(tag);
    buf.extend_from_slice(payload);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cbuf = [0u64; CMSG_WORDS];
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is a pure size computation.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as _;
    // SAFETY: the control buffer is aligned and at least CMSG_SPACE(4) bytes long, so
    // CMSG_FIRSTHDR is non-null and CMSG_DATA has room for one int.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), passed);
    }
    loop {
        // SAFETY: msg points at live buffers (iov, control) for the whole call.
        let n = unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// One message as received: its tag, its payload and the descriptor it carried.
pub struct Msg {
    pub tag: u8,
    pub payload: Vec<u8>,
    pub fd: Option<OwnedFd>,
}

/// Receive one message with any descriptor it carries (close-on-exec); `None` at EOF
/// (every writer closed).
pub fn recv_msg(fd: RawFd) -> io::Result<Option<Msg>> {
    let mut buf = vec![0u8; 8192];
    loop {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut cbuf = [0u64; CMSG_WORDS];
        // SAFETY: msghdr is plain data; zeroed is a valid empty header.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
        // SAFETY: msg points at live, writable buffers of the sizes it states.
        let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let mut passed = None;
        // SAFETY: walking the control messages the kernel wrote into our buffer; each
        // SCM_RIGHTS entry holds ints that are fresh descriptors we now own.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                    let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                    let len = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                    for i in 0..len / std::mem::size_of::<RawFd>() {
                        let f = OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i)));
                        // Only one descriptor per message is expected; extras are closed.
                        if passed.is_none() {
                            passed = Some(f);
                        }
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n as usize);
        return Ok(Some(Msg {
            tag: buf[0],
            payload: buf[1..].to_vec(),
            fd: passed,
        }));
    }
}

/// Receive one message; `None` at EOF (every writer closed). A descriptor it carries
/// is closed.
pub fn recv(fd: RawFd) -> io::Result<Option<(u8, Vec<u8>)>> {
    Ok(recv_msg(fd)?.map(|m| (m.tag, m.payload)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_descriptor_travels_with_its_message() {
        let (a, b) = socketpair().unwrap();
        let (r, w) = pipe().unwrap();
        send_fd(a.as_raw_fd(), PTY, b"x", w.as_raw_fd()).unwrap();
        drop(w);
        send(a.as_raw_fd(), READY, &[]).unwrap();
        let m = recv_msg(b.as_raw_fd()).unwrap().unwrap();
        assert_eq!((m.tag, m.payload.as_slice()), (PTY, &b"x"[..]));
        let got = m.fd.expect("a descriptor");
        // Our copy of the write end is closed: the received one still reaches the pipe.
        write_all(got.as_raw_fd(), b"through").unwrap();
        drop(got);
        assert_eq!(read_to_end(&r).unwrap(), b"through");
        let m = recv_msg(b.as_raw_fd()).unwrap().unwrap();
        assert_eq!(m.tag, READY);
        assert!(m.fd.is_none());
        drop(a);
        assert!(recv_msg(b.as_raw_fd()).unwrap().is_none());
    }

    #[test]
    fn received_descriptors_are_close_on_exec() {
        let (a, b) = socketpair().unwrap();
        let (_r, w) = pipe().unwrap();
        // SAFETY: clearing FD_CLOEXEC on a descriptor we own.
        unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETFD, 0) };
        send_fd(a.as_raw_fd(), PTY, &[], w.as_raw_fd()).unwrap();
        let got = recv_msg(b.as_raw_fd()).unwrap().unwrap().fd.unwrap();
        // SAFETY: F_GETFD on a descriptor we own.
        let flags = unsafe { libc::fcntl(got.as_raw_fd(), libc::F_GETFD) };
        assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
    }
}
