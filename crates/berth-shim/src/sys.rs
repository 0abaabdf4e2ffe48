//! Thin wrappers over the system calls the shim needs: process-wide setup (session,
//! signals, subreaper), the SIGCHLD self-pipe, non-blocking I/O helpers, `poll(2)`,
//! reaping, and atomic file writes. Everything else in the shim builds on these.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

/// Return an error built from `errno` when `rc` is -1.
fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// New session (survive the daemon's death and its terminal), make SIGHUP and SIGPIPE
/// harmless (writes to closed peers must fail with EPIPE, not kill the shim), and become
/// the child subreaper so orphaned processes of the container are reaped here.
///
/// The two signals get a no-op handler rather than SIG_IGN: an ignored signal stays
/// ignored across `execve`, so the container's processes would inherit it, while a
/// handled one is reset to the default by `execve`.
pub fn detach_and_reap() -> io::Result<()> {
    // SAFETY: setsid has no memory effects; it fails only when we lead a process group,
    // which we report and otherwise ignore (the session then stays the parent's).
    if unsafe { libc::setsid() } == -1 {
        crate::diag(&format!("setsid: {}", io::Error::last_os_error()));
    }
    for sig in [libc::SIGHUP, libc::SIGPIPE] {
        install_handler(sig, on_ignored)?;
    }
    // SAFETY: prctl with integer arguments only.
    check(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) })?;
    Ok(())
}

extern "C" fn on_ignored(_: libc::c_int) {}

fn install_handler(sig: libc::c_int, handler: extern "C" fn(libc::c_int)) -> io::Result<()> {
    // SAFETY: sigaction with a zeroed struct, an extern "C" handler and a full mask; our
    // handlers only call async-signal-safe functions.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as *const () as usize;
        sa.sa_flags = libc::SA_RESTART | libc::SA_NOCLDSTOP;
        libc::sigfillset(&mut sa.sa_mask);
        check(libc::sigaction(sig, &sa, std::ptr::null_mut()))?;
    }
    Ok(())
}

static SIGCHLD_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sigchld(_: libc::c_int) {
    let fd = SIGCHLD_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = 1u8;
        // SAFETY: write(2) is async-signal-safe; the pipe is non-blocking, so a full pipe
        // (a wakeup is already pending) just drops this byte. errno is saved around it.
        unsafe {
            let saved = *libc::__errno_location();
            libc::write(fd, &b as *const u8 as *const libc::c_void, 1);
            *libc::__errno_location() = saved;
        }
    }
}

/// Install the SIGCHLD handler writing to a self-pipe; returns the read end for poll.
/// Called after the runtime has forked the container process, so the child never
/// inherits a handler or a blocked mask.
pub fn sigchld_pipe() -> io::Result<OwnedFd> {
    let (r, w) = pipe()?;
    set_nonblocking(&r)?;
    set_nonblocking(&w)?;
    // The write end lives for the whole process: leak it into the static.
    SIGCHLD_PIPE.store(w.as_raw_fd(), Ordering::Relaxed);
    std::mem::forget(w);
    install_handler(libc::SIGCHLD, on_sigchld)?;
    Ok(r)
}

/// Empty a non-blocking pipe.
pub fn drain_fd(fd: &OwnedFd) {
    let mut buf = [0u8; 64];
    while let Ok(n) = read_fd(fd.as_raw_fd(), &mut buf) {
        if n == 0 {
            break;
        }
    }
}

/// A close-on-exec pipe (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array we pass.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub fn set_nonblocking(fd: &impl AsRawFd) -> io::Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own, integer arguments only.
    unsafe {
        let flags = check(libc::fcntl(fd, libc::F_GETFL))?;
        check(libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK))?;
    }
    Ok(())
}

/// read(2) into `buf`.
pub fn read_fd(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the buffer is valid for `buf.len()` bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// write(2) of `buf`.
pub fn write_fd(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: the buffer is valid for `buf.len()` bytes.
    let n = unsafe { libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// poll(2) over `fds`, retrying on EINTR. `timeout_ms` < 0 waits forever.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    loop {
        // SAFETY: the slice is a valid array of pollfd for its length.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if rc >= 0 {
            return Ok(rc as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Reap one exited child without blocking: `Some((pid, raw status))`, or None.
pub fn reap_one() -> Option<(i32, i32)> {
    let mut status = 0;
    // SAFETY: waitpid writes the status into our integer.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    if pid > 0 {
        Some((pid, status))
    } else {
        None
    }
}

/// Docker's exit code for a wait status: the code, or 128 + signal; and the signal.
pub fn decode_status(status: i32) -> (i32, Option<i32>) {
    if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        (128 + sig, Some(sig))
    } else {
        (libc::WEXITSTATUS(status), None)
    }
}

/// kill(2); a process that is already gone is not an error.
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: integer arguments only.
    match check(unsafe { libc::kill(pid, sig) }) {
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        r => r.map(|_| ()),
    }
}

/// Move our stdin to descriptor `fd` (a number above stdio), inheritable like the
/// original, and put /dev/null on stdin.
pub fn move_stdin_to(fd: RawFd) -> io::Result<()> {
    if fd <= 2 {
        return Err(io::Error::other(format!(
            "descriptor {fd} is a standard one"
        )));
    }
    // SAFETY: dup2 of our own stdin onto a number the caller knows to be free.
    check(unsafe { libc::dup2(0, fd) })?;
    devnull_over(0)
}

/// Put /dev/null on `target` (closing what was there), e.g. stdout once the start reply
/// is printed: a dead daemon's pipe must never be written again.
pub fn devnull_over(target: RawFd) -> io::Result<()> {
    let null = File::options().read(true).write(true).open("/dev/null")?;
    // SAFETY: dup2 onto a standard descriptor number; `null` stays owned and is closed
    // on drop, the duplicate belongs to the target number.
    check(unsafe { libc::dup2(null.as_raw_fd(), target) })?;
    Ok(())
}

/// Redirect our stderr to `log` (appending) unless stderr already is a regular file.
pub fn stderr_to(log: &Path) -> io::Result<()> {
    let meta = {
        // SAFETY: fstat writes into the zeroed struct we own.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::fstat(2, &mut st) };
        (rc == 0).then_some(st.st_mode & libc::S_IFMT)
    };
    if meta == Some(libc::S_IFREG) {
        return Ok(());
    }
    let f = File::options().create(true).append(true).open(log)?;
    // SAFETY: as in devnull_over.
    check(unsafe { libc::dup2(f.as_raw_fd(), 2) })?;
    Ok(())
}

/// Write `data` to `path` atomically: temp file in the same directory, fsync, rename.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    write_replace(path, data, true)
}

/// Like [`write_atomic`] without the fsync, for files that mean nothing after a crash
/// of the machine (pid files: every process is gone then). Readers still never see a
/// partial file.
pub fn write_replace_nosync(path: &Path, data: &[u8]) -> io::Result<()> {
    write_replace(path, data, false)
}

fn write_replace(path: &Path, data: &[u8], durable: bool) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let res = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        if durable {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// The pid namespace inode of a process (`/proc/<pid>/ns/pid`).
pub fn pid_ns(pid: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}/ns/pid"))
        .ok()
        .map(|m| m.ino())
}
