//! The `local` driver's mount options (`-o type=…,device=…,o=…`): validation at create,
//! the host mount on `_data` when a volume is first used, and its unmount. Also the
//! mountinfo lookups the store needs before deleting anything.

use crate::error::{Result, VolumeError};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::collections::BTreeMap;
use std::path::Path;

/// Options the `local` driver knows, and which ones each requires (Docker's tables).
const VALID_OPTS: &[&str] = &["type", "o", "device", "size"];
const MANDATORY: &[(&str, &[&str])] = &[
    ("device", &["type"]),
    ("type", &["device"]),
    ("o", &["device", "type"]),
];

/// Checks `volume create -o` options as the local driver does.
pub fn validate_opts(opts: &BTreeMap<String, String>) -> Result<(), String> {
    for k in opts.keys() {
        if !VALID_OPTS.contains(&k.as_str()) {
            return Err(format!("invalid option: \"{k}\""));
        }
    }
    if let Some(size) = opts.get("size") {
        match crate::parse::parse_ram_bytes(size) {
            None => return Err(format!("invalid size: '{size}'")),
            // No project quota support on this host's volume directory.
            Some(n) if n > 0 => return Err("quota size requested but no quota support".into()),
            Some(_) => {}
        }
    }
    for (opt, required) in MANDATORY {
        if opts.contains_key(*opt) {
            for r in *required {
                if !opts.contains_key(*r) {
                    return Err(format!("missing required option: \"{r}\""));
                }
            }
        }
    }
    Ok(())
}

/// Whether a volume with these options lives on its own mount.
pub fn needs_mount(opts: &BTreeMap<String, String>) -> bool {
    opts.get("device").is_some_and(|d| !d.is_empty())
        || opts.get("type").is_some_and(|t| !t.is_empty())
}

/// Splits an `o=` list into mount flags and filesystem data, as `mount(8)` does.
fn split_options(o: &str) -> (MsFlags, Vec<String>) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for opt in o.split(',').filter(|s| !s.is_empty()) {
        let (set, clear) = match opt {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            other => {
                data.push(other.to_string());
                continue;
            }
        };
        flags.insert(set);
        flags.remove(clear);
    }
    (flags, data)
}

/// Mounts the volume's device on its `_data` directory (first use).
pub fn mount_local(opts: &BTreeMap<String, String>, data_dir: &Path) -> Result<()> {
    let device = opts.get("device").map(String::as_str).unwrap_or_default();
    if device.is_empty() {
        return Err(VolumeError::invalid("missing device in volume options"));
    }
    let fstype = opts.get("type").map(String::as_str).unwrap_or("none");
    let (flags, data) = split_options(opts.get("o").map(String::as_str).unwrap_or_default());
    let data = data.join(",");
    let fail = |e: nix::Error| {
        VolumeError::io(
            format!(
                "failed to mount local volume: mount {device}:{}, flags: {:#x}, data: {data}",
                data_dir.display(),
                flags.bits()
            ),
            std::io::Error::from(e),
        )
    };
    let data_opt = (!data.is_empty()).then_some(data.as_str());
    if flags.contains(MsFlags::MS_BIND) {
        // A bind ignores most flags on the first call: bind, then remount with them.
        mount(
            Some(device),
            data_dir,
            None::<&str>,
            flags & (MsFlags::MS_BIND | MsFlags::MS_REC),
            None::<&str>,
        )
        .map_err(fail)?;
        let extra = flags - (MsFlags::MS_BIND | MsFlags::MS_REC);
        if !extra.is_empty() {
            if let Err(e) = mount(
                None::<&str>,
                data_dir,
                None::<&str>,
                MsFlags::MS_REMOUNT | MsFlags::MS_BIND | extra,
                None::<&str>,
            ) {
                let _ = umount2(data_dir, MntFlags::MNT_DETACH);
                return Err(fail(e));
            }
        }
        return Ok(());
    }
    mount(Some(device), data_dir, Some(fstype), flags, data_opt).map_err(fail)
}

/// Unmounts `_data` (last user gone); not mounted is fine.
pub fn unmount_local(data_dir: &Path) -> Result<()> {
    match umount2(data_dir, MntFlags::empty()) {
        Ok(()) => Ok(()),
        Err(nix::Error::EINVAL) if !is_mount_point(data_dir) => Ok(()),
        Err(nix::Error::EBUSY) => umount2(data_dir, MntFlags::MNT_DETACH)
            .map_err(|e| VolumeError::io_path("unmount", data_dir, e.into())),
        Err(e) => Err(VolumeError::io_path("unmount", data_dir, e.into())),
    }
}

/// Mount points of this process's namespace (mountinfo field 5, octal escapes decoded).
pub fn mount_points() -> Vec<String> {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_octal)
        .collect()
}

fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Ok(n) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(n);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Is `p` itself a mount point?
pub fn is_mount_point(p: &Path) -> bool {
    let s = p.to_string_lossy();
    mount_points().iter().any(|m| *m == s)
}

/// Is anything mounted at or below `p`?
pub fn has_mounts_under(p: &Path) -> bool {
    let s = p.to_string_lossy();
    let prefix = format!("{}/", s.trim_end_matches('/'));
    mount_points()
        .iter()
        .any(|m| *m == s || m.starts_with(&prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn opts_validation_matches_docker() {
        assert_eq!(
            validate_opts(&m(&[("foo", "x")])).unwrap_err(),
            "invalid option: \"foo\""
        );
        assert_eq!(
            validate_opts(&m(&[("type", "tmpfs")])).unwrap_err(),
            "missing required option: \"device\""
        );
        assert_eq!(
            validate_opts(&m(&[("o", "bind"), ("device", "/x")])).unwrap_err(),
            "missing required option: \"type\""
        );
        assert!(validate_opts(&m(&[
            ("type", "tmpfs"),
            ("device", "tmpfs"),
            ("o", "size=1m")
        ]))
        .is_ok());
        assert!(validate_opts(&m(&[("type", "none"), ("device", "/x"), ("o", "bind")])).is_ok());
        assert_eq!(
            validate_opts(&m(&[("size", "10m")])).unwrap_err(),
            "quota size requested but no quota support"
        );
    }

    #[test]
    fn option_split_and_unescape() {
        let (f, d) = split_options("bind,ro,size=1m,uid=5");
        assert!(f.contains(MsFlags::MS_BIND | MsFlags::MS_RDONLY));
        assert_eq!(d, vec!["size=1m", "uid=5"]);
        assert_eq!(unescape_octal("/a\\040b"), "/a b");
        assert!(is_mount_point(Path::new("/proc")));
        assert!(!is_mount_point(Path::new("/proc/self")));
    }
}
