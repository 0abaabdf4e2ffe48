//! The two `bpf(2)` calls v2 device control needs: load a `CGROUP_DEVICE` program and
//! attach it to a cgroup directory. The program itself comes from [`crate::devices`].
//!
//! The program is attached without `BPF_F_ALLOW_MULTI`, so attaching again (a later
//! `set_devices`) replaces it instead of stacking a second filter. Once attached, the
//! cgroup holds the program; our file descriptors are closed on return.

use crate::devices::Insn;
use crate::error::CgroupError;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;

/// The leading fields of `union bpf_attr` for BPF_PROG_LOAD (the kernel zero-fills the
/// rest when given a shorter size).
#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
}

/// The leading fields of `union bpf_attr` for BPF_PROG_ATTACH.
#[repr(C)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, properly laid out prefix of `union bpf_attr` and its
    // exact size is passed, so the kernel reads (and for logs writes) only memory we own.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Load the program; on failure, load again with the verifier log for the message.
pub(crate) fn load_device_program(insns: &[Insn]) -> Result<OwnedFd, CgroupError> {
    let license = c"Apache-2.0";
    let attempt = |log: Option<&mut Vec<u8>>| {
        let (log_level, log_size, log_buf) = match log {
            Some(buf) => (1, buf.len() as u32, buf.as_mut_ptr() as u64),
            None => (0, 0, 0),
        };
        let mut attr = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt: insns.len() as u32,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level,
            log_size,
            log_buf,
            kern_version: 0,
            prog_flags: 0,
        };
        bpf(BPF_PROG_LOAD, &mut attr)
    };
    match attempt(None) {
        // SAFETY: a successful BPF_PROG_LOAD returns a new file descriptor we own.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(source) => {
            let mut log = vec![0u8; 64 * 1024];
            let _ = attempt(Some(&mut log));
            let end = log.iter().position(|&b| b == 0).unwrap_or(0);
            Err(CgroupError::Bpf {
                action: "load",
                log: String::from_utf8_lossy(&log[..end])
                    .trim()
                    .replace('\n', "; "),
                source,
            })
        }
    }
}

/// Attach `prog` as the device filter of the cgroup directory `dir`.
pub(crate) fn attach_device_program(dir: &Path, prog: &OwnedFd) -> Result<(), CgroupError> {
    let err = |source| CgroupError::Bpf {
        action: "attach",
        log: String::new(),
        source,
    };
    let cg = std::fs::File::open(dir).map_err(err)?;
    let mut attr = ProgAttachAttr {
        target_fd: cg.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: 0,
        replace_bpf_fd: 0,
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map(|_| ()).map_err(err)
}
