//! Linux capabilities: names ↔ numbers, the bounding set, and `capset(2)`.
//!
//! The process keeps exactly the listed capabilities in its bounding, permitted and
//! effective sets (inheritable and ambient stay empty, as Docker does since 20.10). For a
//! non-root user `execve` then yields no effective capabilities, again like Docker.

use crate::error::RuntimeError;

/// Capability names in kernel order (bit number = index).
pub const NAMES: &[&str] = berth_types::defaults::ALL_CAPS;

/// The number of a capability name (`CAP_CHOWN` or `chown`, any case).
pub fn number(name: &str) -> Option<u32> {
    let up = name.to_ascii_uppercase();
    let full = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    NAMES.iter().position(|n| *n == full).map(|i| i as u32)
}

/// A set of capabilities as a bit mask.
pub fn mask_of<S: AsRef<str>>(names: &[S]) -> Result<u64, RuntimeError> {
    let mut m = 0u64;
    for n in names {
        let n = n.as_ref();
        if n.eq_ignore_ascii_case("ALL") {
            m |= all_mask();
            continue;
        }
        let i =
            number(n).ok_or_else(|| RuntimeError::Other(format!("unknown capability {n:?}")))?;
        m |= 1 << i;
    }
    Ok(m)
}

/// The highest capability this kernel knows.
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(NAMES.len() as u32 - 1)
}

/// Every capability this kernel and this table know.
pub fn all_mask() -> u64 {
    let last = last_cap().min(NAMES.len() as u32 - 1);
    (1u64 << (last + 1)) - 1
}

/// The calling process's bounding set (what a privileged container can get at most).
pub fn current_bounding() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or_else(all_mask)
}

/// Drop from the bounding set every capability not in `keep` (needs CAP_SETPCAP).
pub fn drop_bounding(keep: u64) -> Result<(), RuntimeError> {
    for c in 0..=last_cap() {
        if c < 64 && keep & (1 << c) != 0 {
            continue;
        }
        // SAFETY: plain prctl with integer arguments.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, c as libc::c_ulong, 0, 0, 0) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            // Capabilities the kernel does not know are already absent.
            if e.raw_os_error() != Some(libc::EINVAL) {
                return Err(RuntimeError::sys(
                    format!("drop capability {c} from bounding set"),
                    e,
                ));
            }
        }
    }
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_V3: u32 = 0x2008_0522;

/// Set effective, permitted and inheritable sets of the calling thread.
pub fn set(effective: u64, permitted: u64, inheritable: u64) -> Result<(), RuntimeError> {
    let hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: effective as u32,
            permitted: permitted as u32,
            inheritable: inheritable as u32,
        },
        CapData {
            effective: (effective >> 32) as u32,
            permitted: (permitted >> 32) as u32,
            inheritable: (inheritable >> 32) as u32,
        },
    ];
    // SAFETY: header and a 2-element data array as _LINUX_CAPABILITY_VERSION_3 wants.
    let r = unsafe { libc::syscall(libc::SYS_capset, &hdr as *const CapHeader, data.as_ptr()) };
    if r < 0 {
        return Err(RuntimeError::last_os("capset"));
    }
    Ok(())
}

/// Empty the ambient set (inherited ambient caps would survive a non-root execve).
pub fn clear_ambient() {
    // SAFETY: plain prctl; failure means no ambient support, i.e. nothing to clear.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_default_mask() {
        let m = mask_of(&crate::defaults::default_capabilities()).unwrap();
        assert_eq!(format!("{m:016x}"), "00000000a80425fb");
    }

    #[test]
    fn names_are_flexible_and_unknown_fails() {
        assert_eq!(number("net_admin"), Some(12));
        assert_eq!(number("CAP_SYS_ADMIN"), Some(21));
        assert!(mask_of(&["CAP_BOGUS"]).is_err());
        assert_eq!(mask_of(&["ALL"]).unwrap(), all_mask());
    }
}
