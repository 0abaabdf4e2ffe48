//! Reading and writing single cgroup files, and parsing their common formats.
//!
//! Cgroup files are tiny and written with one `write(2)` each, as the kernel expects (it
//! parses each write as a whole). Errors carry the file and the value so the layers above
//! never build messages themselves. The parsers here understand the shared formats: a
//! single number (or `max`), "flat keyed" files (`key value` per line: memory.stat,
//! cpu.stat, memory.events, cgroup.events) and space-separated lists.

use crate::error::CgroupError;
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

/// Write `value` to an existing cgroup file in one write.
///
/// `create` is only set for fake trees in tests (a real cgroupfs never needs it: the
/// kernel makes every file when the directory is created).
pub(crate) fn write(path: &Path, value: &str, create: bool) -> Result<(), CgroupError> {
    let err = |source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    };
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .create(create)
        .open(path)
        .map_err(err)?;
    f.write_all(value.as_bytes()).map_err(err)
}

/// The file's content, trimmed of surrounding white space.
pub(crate) fn read_string(path: &Path) -> Result<String, CgroupError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|source| CgroupError::Read {
            path: path.to_path_buf(),
            source,
        })
}

/// A single unsigned number. `max` (v2 "no limit") reads as `None`.
pub(crate) fn read_u64_or_max(path: &Path) -> Result<Option<u64>, CgroupError> {
    let s = read_string(path)?;
    parse_u64_or_max(&s).ok_or_else(|| CgroupError::Parse {
        path: path.to_path_buf(),
        detail: format!("unexpected value {s:?}"),
    })
}

/// A single unsigned number.
pub(crate) fn read_u64(path: &Path) -> Result<u64, CgroupError> {
    read_u64_or_max(path)?.ok_or_else(|| CgroupError::Parse {
        path: path.to_path_buf(),
        detail: "unexpected value \"max\"".to_string(),
    })
}

pub(crate) fn parse_u64_or_max(s: &str) -> Option<Option<u64>> {
    let s = s.trim();
    if s == "max" {
        return Some(None);
    }
    s.parse::<u64>().ok().map(Some)
}

/// A flat keyed file (`key value` per line) as a map. Lines whose value is not a number
/// are skipped: they never appear in the files we read this way, and a new kernel
/// adding one must not break stats.
pub(crate) fn read_flat_keyed(path: &Path) -> Result<BTreeMap<String, u64>, CgroupError> {
    Ok(parse_flat_keyed(&read_string(path)?))
}

pub(crate) fn parse_flat_keyed(s: &str) -> BTreeMap<String, u64> {
    s.lines()
        .filter_map(|line| {
            let mut it = line.split_whitespace();
            let k = it.next()?;
            let v = it.next()?.parse::<u64>().ok()?;
            Some((k.to_string(), v))
        })
        .collect()
}

/// A space- or newline-separated list of numbers (cpuacct.usage_percpu, cgroup.procs).
pub(crate) fn parse_numbers<T: std::str::FromStr>(
    path: &Path,
    s: &str,
) -> Result<Vec<T>, CgroupError> {
    s.split_whitespace()
        .map(|t| {
            t.parse::<T>().map_err(|_| CgroupError::Parse {
                path: path.to_path_buf(),
                detail: format!("unexpected value {t:?}"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_keyed_and_max() {
        let m = parse_flat_keyed("usage_usec 12\nuser_usec 7\n\nweird\nname text\n");
        assert_eq!(m.get("usage_usec"), Some(&12));
        assert_eq!(m.get("user_usec"), Some(&7));
        assert_eq!(m.len(), 2);
        assert_eq!(parse_u64_or_max("max\n"), Some(None));
        assert_eq!(parse_u64_or_max("42\n"), Some(Some(42)));
        assert_eq!(parse_u64_or_max("-1"), None);
    }

    #[test]
    fn write_refuses_missing_file_without_create() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("memory.max");
        let e = write(&p, "1", false).unwrap_err();
        assert!(e.is_not_found(), "{e}");
        assert_eq!(
            e.to_string(),
            "failed to write \"1\" to memory.max: no such file or directory"
        );
        write(&p, "1", true).unwrap();
        write(&p, "22", true).unwrap();
        assert_eq!(read_string(&p).unwrap(), "22");
        assert_eq!(read_u64(&p).unwrap(), 22);
    }
}
