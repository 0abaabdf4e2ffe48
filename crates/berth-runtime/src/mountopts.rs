//! fstab-style mount options (`ro`, `nosuid`, `rbind`, `size=64m`, `rslave`, …) split into
//! mount(2) flags, propagation flags and the fs-specific data string.
//!
//! Used by `rootfs` for the spec's extra mounts and for the standard /dev, /sys mounts.

/// Parsed options of one mount.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MountOpts {
    /// Flags for the mount call itself (MS_RDONLY, MS_NOSUID, …; not MS_BIND/MS_REC).
    pub flags: libc::c_ulong,
    /// `bind` or `rbind` was given.
    pub bind: bool,
    /// `rbind`: recursive bind.
    pub recursive: bool,
    /// `rro`: read-only, submounts included (mount_setattr; plain `ro` only covers the
    /// top mount). Without kernel support it falls back to `ro`, as Docker does.
    pub recursive_readonly: bool,
    /// `rro-strict`: like `rro`, but fail where it cannot be done (Docker's
    /// `ReadOnlyForceRecursive`, `bind-recursive=readonly`).
    pub recursive_readonly_strict: bool,
    /// Propagation flags (MS_PRIVATE/MS_SHARED/MS_SLAVE/MS_UNBINDABLE, maybe | MS_REC).
    pub propagation: libc::c_ulong,
    /// Everything else, joined with commas for the fs (`size=…`, `mode=…`).
    pub data: Vec<String>,
}

impl MountOpts {
    /// Parse a list of options; unknown words go to the data string as the kernel expects.
    pub fn parse<S: AsRef<str>>(options: &[S]) -> MountOpts {
        let mut m = MountOpts::default();
        for o in options {
            let o = o.as_ref();
            let (set, clear): (libc::c_ulong, libc::c_ulong) = match o {
                "ro" => (libc::MS_RDONLY, 0),
                "rro" | "rro-strict" => {
                    m.recursive_readonly = true;
                    m.recursive_readonly_strict |= o == "rro-strict";
                    (libc::MS_RDONLY, 0)
                }
                "rw" => {
                    m.recursive_readonly = false;
                    m.recursive_readonly_strict = false;
                    (0, libc::MS_RDONLY)
                }
                "nosuid" => (libc::MS_NOSUID, 0),
                "suid" => (0, libc::MS_NOSUID),
                "nodev" => (libc::MS_NODEV, 0),
                "dev" => (0, libc::MS_NODEV),
                "noexec" => (libc::MS_NOEXEC, 0),
                "exec" => (0, libc::MS_NOEXEC),
                "sync" => (libc::MS_SYNCHRONOUS, 0),
                "async" => (0, libc::MS_SYNCHRONOUS),
                "dirsync" => (libc::MS_DIRSYNC, 0),
                "mand" => (libc::MS_MANDLOCK, 0),
                "nomand" => (0, libc::MS_MANDLOCK),
                "noatime" => (libc::MS_NOATIME, 0),
                "atime" => (0, libc::MS_NOATIME),
                "nodiratime" => (libc::MS_NODIRATIME, 0),
                "diratime" => (0, libc::MS_NODIRATIME),
                "relatime" => (libc::MS_RELATIME, 0),
                "norelatime" => (0, libc::MS_RELATIME),
                "strictatime" => (libc::MS_STRICTATIME, 0),
                "nostrictatime" => (0, libc::MS_STRICTATIME),
                "defaults" => (0, 0),
                "bind" => {
                    m.bind = true;
                    (0, 0)
                }
                "rbind" => {
                    m.bind = true;
                    m.recursive = true;
                    (0, 0)
                }
                "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave"
                | "unbindable" | "runbindable" => {
                    m.propagation = propagation_flags(o);
                    (0, 0)
                }
                other => {
                    m.data.push(other.to_string());
                    (0, 0)
                }
            };
            m.flags = (m.flags | set) & !clear;
        }
        m
    }

    /// The data string for mount(2), or None when empty.
    pub fn data_string(&self) -> Option<String> {
        if self.data.is_empty() {
            None
        } else {
            Some(self.data.join(","))
        }
    }
}

fn propagation_flags(word: &str) -> libc::c_ulong {
    let (rec, base) = match word.strip_prefix('r') {
        Some(b) => (libc::MS_REC, b),
        None => (0, word),
    };
    let p = match base {
        "private" => libc::MS_PRIVATE,
        "shared" => libc::MS_SHARED,
        "slave" => libc::MS_SLAVE,
        _ => libc::MS_UNBINDABLE,
    };
    p | rec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags_data_and_propagation() {
        let m = MountOpts::parse(&["rbind", "ro", "nosuid", "rslave", "size=65536k", "mode=755"]);
        assert!(m.bind && m.recursive);
        assert_eq!(m.flags, libc::MS_RDONLY | libc::MS_NOSUID);
        assert_eq!(m.propagation, libc::MS_SLAVE | libc::MS_REC);
        assert_eq!(m.data_string().as_deref(), Some("size=65536k,mode=755"));
    }

    #[test]
    fn later_words_override_earlier() {
        let m = MountOpts::parse(&["ro", "rw", "private"]);
        assert_eq!(m.flags, 0);
        assert!(!m.bind);
        assert_eq!(m.propagation, libc::MS_PRIVATE);
        assert_eq!(m.data_string(), None);
    }

    #[test]
    fn recursive_readonly_words() {
        let m = MountOpts::parse(&["rbind", "rro"]);
        assert!(m.recursive_readonly && !m.recursive_readonly_strict);
        assert_eq!(m.flags, libc::MS_RDONLY);
        let m = MountOpts::parse(&["rbind", "ro", "rro-strict"]);
        assert!(m.recursive_readonly && m.recursive_readonly_strict);
        let m = MountOpts::parse(&["rro", "rw"]);
        assert!(!m.recursive_readonly && m.flags == 0);
        assert!(!MountOpts::parse(&["ro"]).recursive_readonly);
    }
}
