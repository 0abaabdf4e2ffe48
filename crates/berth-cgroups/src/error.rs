//! The crate's one error type.
//!
//! Every failure names the cgroup file (or directory) involved and, for writes, the value
//! the kernel refused, worded the way Docker reports cgroup failures, e.g.
//! `failed to write "100000" to cpu.cfs_quota_us: invalid argument`. The underlying
//! `errno` stays reachable through [`CgroupError::errno`] so callers can branch on it.

use std::io;
use std::path::{Path, PathBuf};

/// Anything that can go wrong while managing a cgroup.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// The kernel (or the file system) refused a write.
    #[error(
        "failed to write {value:?} to {}: {}",
        file_name(path),
        describe(source)
    )]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: io::Error,
    },
    /// A cgroup file could not be read.
    #[error("failed to read {}: {}", file_name(path), describe(source))]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A cgroup file held something we could not parse.
    #[error("failed to parse {}: {detail}", file_name(path))]
    Parse { path: PathBuf, detail: String },
    /// A cgroup directory could not be created.
    #[error("failed to create cgroup {}: {}", path.display(), describe(source))]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A cgroup directory could not be removed.
    #[error("failed to remove cgroup {}: {}", path.display(), describe(source))]
    Remove {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// `Cgroup::open` on a cgroup that is not there.
    #[error("cgroup {rel} does not exist")]
    NotFound { rel: String },
    /// No usable cgroup file system at the given root.
    #[error("cgroups: cannot find cgroup mount at {}: {detail}", root.display())]
    NoHierarchy { root: PathBuf, detail: String },
    /// A limit needs a controller this host does not mount / enable.
    #[error("cgroups: {controller} controller is not available")]
    ControllerMissing { controller: String },
    /// The requested resources are inconsistent (e.g. a swap limit without a memory limit).
    #[error("invalid resources: {0}")]
    InvalidResources(String),
    /// Freezing or thawing did not settle in time.
    #[error("unable to {action} cgroup {rel}: timed out (state {state})")]
    FreezeTimeout {
        action: &'static str,
        rel: String,
        state: String,
    },
    /// Delivering a signal to a process of the cgroup failed.
    #[error(
        "failed to send signal {signal} to process {pid}: {}",
        describe(source)
    )]
    Kill {
        pid: i32,
        signal: i32,
        #[source]
        source: io::Error,
    },
    /// A device rule not in `type major:minor access` form (Docker's wording).
    #[error("invalid device cgroup format '{0}'")]
    InvalidDeviceRule(String),
    /// Loading or attaching the v2 device-access eBPF program failed.
    #[error("failed to {action} device cgroup program: {}{}", describe(source), if log.is_empty() { String::new() } else { format!(" ({log})") })]
    Bpf {
        action: &'static str,
        log: String,
        #[source]
        source: io::Error,
    },
    /// `rel` is not a clean relative path (absolute, `..`, empty).
    #[error("invalid cgroup path {0:?}")]
    InvalidPath(String),
}

impl CgroupError {
    /// The OS error number behind this error, when there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            CgroupError::Write { source, .. }
            | CgroupError::Read { source, .. }
            | CgroupError::Create { source, .. }
            | CgroupError::Remove { source, .. }
            | CgroupError::Kill { source, .. }
            | CgroupError::Bpf { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// True when the error is "no such file or directory" (or a missing cgroup).
    pub fn is_not_found(&self) -> bool {
        matches!(self, CgroupError::NotFound { .. }) || self.errno() == Some(libc::ENOENT)
    }
}

/// The last path component, which is what the messages show (`memory.max`).
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// The errno text in lower case without the "(os error N)" suffix, the way Docker
/// prints system errors ("invalid argument", "device or resource busy").
pub(crate) fn describe(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => {
            let text = nix::errno::Errno::from_raw(n).desc();
            lower_first(text)
        }
        None => e.to_string(),
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_error_names_file_value_and_errno() {
        let e = CgroupError::Write {
            path: PathBuf::from("/sys/fs/cgroup/cpu/x/cpu.cfs_quota_us"),
            value: "100000".into(),
            source: io::Error::from_raw_os_error(libc::EINVAL),
        };
        assert_eq!(
            e.to_string(),
            "failed to write \"100000\" to cpu.cfs_quota_us: invalid argument"
        );
        assert_eq!(e.errno(), Some(libc::EINVAL));
        assert!(!e.is_not_found());
        let busy = CgroupError::Remove {
            path: PathBuf::from("/x/y"),
            source: io::Error::from_raw_os_error(libc::EBUSY),
        };
        assert_eq!(
            busy.to_string(),
            "failed to remove cgroup /x/y: device or resource busy"
        );
    }
}
