//! The narrow set of privileged kernel calls used to assemble a container's filesystem.
//!
//! `rootfs` goes through the [`Syscall`] trait so unit tests can record the exact mount
//! arguments without root; [`Real`] is what the container child uses. Plain file-system
//! work (mkdir, create files, read links) is done directly: it needs no privilege.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Kernel calls that need privilege (or would change the host) during rootfs setup.
pub trait Syscall {
    fn mount(
        &self,
        source: Option<&str>,
        target: &Path,
        fstype: Option<&str>,
        flags: libc::c_ulong,
        data: Option<&str>,
    ) -> io::Result<()>;
    fn umount2(&self, target: &Path, flags: libc::c_int) -> io::Result<()>;
    fn mknod(&self, path: &Path, mode: libc::mode_t, dev: libc::dev_t) -> io::Result<()>;
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> io::Result<()>;
    fn chown(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()>;
    fn chdir(&self, path: &Path) -> io::Result<()>;
    /// Makes the mount at `target` and every mount below it read-only (mount_setattr(2)
    /// with AT_RECURSIVE; a remount only ever changes the top one).
    fn readonly_recursive(&self, target: &Path) -> io::Result<()>;
}

/// `struct mount_attr` of mount_setattr(2) (linux/mount.h).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// MOUNT_ATTR_RDONLY of linux/mount.h.
const MOUNT_ATTR_RDONLY: u64 = 0x1;

/// The real kernel.
pub struct Real;

pub(crate) fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn opt_cstr(s: Option<&str>) -> io::Result<Option<CString>> {
    s.map(|s| CString::new(s).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL)))
        .transpose()
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl Syscall for Real {
    fn mount(
        &self,
        source: Option<&str>,
        target: &Path,
        fstype: Option<&str>,
        flags: libc::c_ulong,
        data: Option<&str>,
    ) -> io::Result<()> {
        let src = opt_cstr(source)?;
        let tgt = cstr(target)?;
        let fs = opt_cstr(fstype)?;
        let dat = opt_cstr(data)?;
        let p = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        // SAFETY: all pointers are NUL-terminated strings alive for the call, or null
        // where the kernel accepts null.
        check(unsafe {
            libc::mount(
                p(&src),
                tgt.as_ptr(),
                p(&fs),
                flags,
                p(&dat) as *const libc::c_void,
            )
        })
    }

    fn umount2(&self, target: &Path, flags: libc::c_int) -> io::Result<()> {
        let t = cstr(target)?;
        // SAFETY: valid C string.
        check(unsafe { libc::umount2(t.as_ptr(), flags) })
    }

    fn mknod(&self, path: &Path, mode: libc::mode_t, dev: libc::dev_t) -> io::Result<()> {
        let p = cstr(path)?;
        // SAFETY: valid C string.
        check(unsafe { libc::mknod(p.as_ptr(), mode, dev) })
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> io::Result<()> {
        let n = cstr(new_root)?;
        let o = cstr(put_old)?;
        // SAFETY: pivot_root takes two C strings; no glibc wrapper exists.
        let r = unsafe { libc::syscall(libc::SYS_pivot_root, n.as_ptr(), o.as_ptr()) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    fn chown(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
        let p = cstr(path)?;
        // SAFETY: valid C string; lchown never follows a link out of the rootfs.
        check(unsafe { libc::lchown(p.as_ptr(), uid, gid) })
    }

    fn chdir(&self, path: &Path) -> io::Result<()> {
        std::env::set_current_dir(path)
    }

    fn readonly_recursive(&self, target: &Path) -> io::Result<()> {
        let t = cstr(target)?;
        let attr = MountAttr {
            attr_set: MOUNT_ATTR_RDONLY,
            attr_clr: 0,
            propagation: 0,
            userns_fd: 0,
        };
        // The target was resolved inside the rootfs already: never follow a last link.
        let flags = (libc::AT_RECURSIVE | libc::AT_SYMLINK_NOFOLLOW) as libc::c_uint;
        // SAFETY: mount_setattr reads the C string and `attr` (with its size), both alive
        // for the call; no glibc wrapper exists.
        let r = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                libc::AT_FDCWD,
                t.as_ptr(),
                flags,
                &attr as *const MountAttr,
                std::mem::size_of::<MountAttr>(),
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
pub(crate) mod record {
    //! A recording [`Syscall`] for unit tests: logs every call, optionally failing mknod.
    use super::*;
    use std::cell::RefCell;

    #[derive(Default)]
    pub struct Recorder {
        pub calls: RefCell<Vec<String>>,
        pub fail_mknod: bool,
    }

    impl Recorder {
        pub fn mounts(&self) -> Vec<String> {
            self.calls
                .borrow()
                .iter()
                .filter(|c| c.starts_with("mount "))
                .cloned()
                .collect()
        }
    }

    impl Syscall for Recorder {
        fn mount(
            &self,
            source: Option<&str>,
            target: &Path,
            fstype: Option<&str>,
            flags: libc::c_ulong,
            data: Option<&str>,
        ) -> io::Result<()> {
            self.calls.borrow_mut().push(format!(
                "mount {} {} {} {:#x} {}",
                source.unwrap_or("-"),
                target.display(),
                fstype.unwrap_or("-"),
                flags,
                data.unwrap_or("-")
            ));
            Ok(())
        }
        fn umount2(&self, target: &Path, flags: libc::c_int) -> io::Result<()> {
            self.calls
                .borrow_mut()
                .push(format!("umount2 {} {flags}", target.display()));
            Ok(())
        }
        fn mknod(&self, path: &Path, mode: libc::mode_t, dev: libc::dev_t) -> io::Result<()> {
            self.calls
                .borrow_mut()
                .push(format!("mknod {} {mode:o} {dev}", path.display()));
            if self.fail_mknod {
                Err(io::Error::from_raw_os_error(libc::EPERM))
            } else {
                std::fs::write(path, b"")
            }
        }
        fn pivot_root(&self, new_root: &Path, put_old: &Path) -> io::Result<()> {
            self.calls.borrow_mut().push(format!(
                "pivot_root {} {}",
                new_root.display(),
                put_old.display()
            ));
            Ok(())
        }
        fn chown(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
            self.calls
                .borrow_mut()
                .push(format!("chown {} {uid}:{gid}", path.display()));
            Ok(())
        }
        fn chdir(&self, path: &Path) -> io::Result<()> {
            self.calls
                .borrow_mut()
                .push(format!("chdir {}", path.display()));
            Ok(())
        }
        fn readonly_recursive(&self, target: &Path) -> io::Result<()> {
            self.calls.borrow_mut().push(format!(
                "mount_setattr {} rdonly recursive",
                target.display()
            ));
            Ok(())
        }
    }
}
