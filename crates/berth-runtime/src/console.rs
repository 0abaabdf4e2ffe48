//! The process's terminal, opened inside the container (Docker's `-t`).
//!
//! The pty has to come from the container's own devpts instance (mounted with
//! `newinstance` by `rootfs`): only then does `tty` inside print `/dev/pts/N` and the
//! slave show up in `/dev/pts`. So the container process opens `/dev/ptmx` itself —
//! after `pivot_root` for a container, after joining the mount namespace for an exec —
//! makes the slave its controlling terminal and stdio (`process`), and hands the master
//! to the caller over the setup socket (`SCM_RIGHTS`, see `ipc`); the caller (the shim)
//! reads output from it, writes input to it and resizes it.

use crate::error::RuntimeError;
use crate::sys::Syscall;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Both ends of the process's terminal, and the slave's path in the current mount
/// namespace (`/dev/pts/N`).
#[derive(Debug)]
pub(crate) struct Console {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    pub path: PathBuf,
}

fn open_path(path: &str, step: &str) -> Result<OwnedFd, RuntimeError> {
    let c = CString::new(path).map_err(|_| RuntimeError::Other(format!("bad path {path:?}")))?;
    // SAFETY: valid C string; we own the returned descriptor. O_NOCTTY: the controlling
    // terminal is set explicitly (TIOCSCTTY) once the slave is on fd 0.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(RuntimeError::last_os(step));
    }
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Open a new pty from `<dev>/ptmx` (`/dev` in the container), unlock it and open its
/// slave; `size` is `(height, width)`, applied when both are non-zero.
pub(crate) fn open(dev: &Path, size: Option<(u16, u16)>) -> Result<Console, RuntimeError> {
    let ptmx = dev.join("ptmx");
    let master = open_path(&ptmx.to_string_lossy(), "open /dev/ptmx")?;
    let m = master.as_raw_fd();
    let unlock: libc::c_int = 0;
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCSPTLCK reads an int, TIOCGPTN writes an unsigned int; both are ours.
    unsafe {
        if libc::ioctl(m, libc::TIOCSPTLCK, &unlock) < 0 {
            return Err(RuntimeError::last_os("unlockpt"));
        }
        if libc::ioctl(m, libc::TIOCGPTN, &mut n) < 0 {
            return Err(RuntimeError::last_os("ptsname"));
        }
    }
    // The index is relative to the devpts instance behind `ptmx`, i.e. `<dev>/pts`.
    let path = dev.join("pts").join(n.to_string());
    let slave = open_path(&path.to_string_lossy(), "open the pty slave")?;
    if let Some((h, w)) = size.filter(|&(h, w)| h > 0 && w > 0) {
        let ws = libc::winsize {
            ws_row: h,
            ws_col: w,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize we own.
        if unsafe { libc::ioctl(m, libc::TIOCSWINSZ, &ws) } < 0 {
            return Err(RuntimeError::last_os("set the console size"));
        }
    }
    Ok(Console {
        master,
        slave,
        path,
    })
}

/// Show the slave as `<dev>/console` too (a container's init gets its terminal there):
/// an empty file with the slave bind-mounted over it.
pub(crate) fn bind_as_dev_console(
    sys: &dyn Syscall,
    dev: &Path,
    console: &Console,
) -> Result<(), RuntimeError> {
    let target = dev.join("console");
    let _ = std::fs::remove_file(&target);
    std::fs::write(&target, b"").map_err(|e| RuntimeError::sys("create /dev/console", e))?;
    sys.mount(
        Some(&console.path.to_string_lossy()),
        &target,
        None,
        libc::MS_BIND,
        None,
    )
    .map_err(|e| RuntimeError::sys("bind /dev/console", e))
}

/// Give the slave to the user the process runs as. The group stays the one devpts gave
/// it (`gid=5`, tty) and so does its mode (0620): `ls -l /dev/pts` shows
/// `crw--w---- <user> tty`, and `write`/`wall` keep working.
pub(crate) fn give_to(console: &Console, uid: u32) -> Result<(), RuntimeError> {
    // SAFETY: fchown on a descriptor we own; gid -1 (as u32) leaves the group alone.
    if unsafe { libc::fchown(console.slave.as_raw_fd(), uid, u32::MAX) } < 0 {
        return Err(RuntimeError::last_os("chown the pty slave"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::record::Recorder;
    use crate::testutil::TempDir;

    fn winsize(fd: &OwnedFd) -> (u16, u16) {
        // SAFETY: winsize is plain data; TIOCGWINSZ fills the struct we own.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
        assert_eq!(r, 0);
        (ws.ws_row, ws.ws_col)
    }

    #[test]
    fn opens_an_unlocked_pair_with_its_size() {
        // The host's /dev stands in for the container's.
        let c = open(Path::new("/dev"), Some((33, 101))).unwrap();
        assert!(c.path.starts_with("/dev/pts/"), "{:?}", c.path);
        assert_eq!(winsize(&c.slave), (33, 101));
        // The path names the very slave we hold.
        use std::os::unix::fs::MetadataExt;
        let by_path = std::fs::metadata(&c.path).unwrap();
        let held = std::fs::File::from(c.slave.try_clone().unwrap())
            .metadata()
            .unwrap();
        assert_eq!(by_path.rdev(), held.rdev());
        // Bytes written on the slave come out of the master.
        crate::ipc::write_all(c.slave.as_raw_fd(), b"ping\n").unwrap();
        let mut buf = [0u8; 64];
        // SAFETY: reading into our own buffer from our master.
        let n = unsafe { libc::read(c.master.as_raw_fd(), buf.as_mut_ptr().cast(), 64) };
        assert!(n > 0);
        assert!(String::from_utf8_lossy(&buf[..n as usize]).starts_with("ping"));
    }

    #[test]
    fn zero_size_is_left_alone() {
        let c = open(Path::new("/dev"), Some((0, 0))).unwrap();
        assert_eq!(winsize(&c.master), (0, 0));
    }

    #[test]
    fn missing_ptmx_names_the_step() {
        let t = TempDir::new("console-missing");
        let e = open(&t.0, None).unwrap_err();
        assert_eq!(e.to_string(), "open /dev/ptmx: no such file or directory");
    }

    #[test]
    fn dev_console_is_a_bind_of_the_slave() {
        let t = TempDir::new("console-bind");
        let c = open(Path::new("/dev"), None).unwrap();
        let rec = Recorder::default();
        bind_as_dev_console(&rec, &t.0, &c).unwrap();
        assert!(t.0.join("console").is_file());
        assert_eq!(
            rec.mounts(),
            vec![format!(
                "mount {} {}/console - 0x1000 -",
                c.path.display(),
                t.0.display()
            )]
        );
    }
}
