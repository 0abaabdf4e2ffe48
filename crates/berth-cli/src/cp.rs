//! `berth cp`: copies between the local filesystem and a container through the
//! archive endpoints (`GET`/`HEAD`/`PUT /containers/{id}/archive`), with Docker's
//! rules for existing directories, renames on the way, `SRC/.` (contents only) and
//! `-` (a tar stream on stdin/stdout).

use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use berth_client::{Body, Client, Query};
use serde_json::Value;

use crate::cli::CpArgs;
use crate::errors::{CliError, CliResult};
use crate::opts::io_reason;

/// One side of a copy.
#[derive(Debug, PartialEq, Eq)]
pub enum Loc {
    Local(String),
    Container(String, String),
}

/// `name:path` is a container path unless the part before `:` looks like a path.
pub fn parse_loc(arg: &str) -> Loc {
    if arg.starts_with('/') || arg.starts_with('.') {
        return Loc::Local(arg.to_string());
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.is_empty() && !c.contains('/') => {
            Loc::Container(c.to_string(), p.to_string())
        }
        _ => Loc::Local(arg.to_string()),
    }
}

/// Standard base64 decoding (the path-stat header).
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.trim().bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => return None,
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    Some(out)
}

/// Whether the daemon's path-stat header describes a directory (Go's ModeDir bit).
fn stat_is_dir(header: Option<&str>) -> Option<bool> {
    let raw = base64_decode(header?)?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    let mode = v["mode"].as_u64()?;
    Some(mode & (1 << 31) != 0)
}

/// Splits a tar entry path into its root component (the copied item, or `.` for
/// `SRC/.` archives) and the rest; `None` for paths that would escape the target.
fn split_entry(p: &Path) -> Option<(Option<PathBuf>, PathBuf)> {
    let mut parts = Vec::new();
    let mut rooted_at_dot = false;
    for (i, c) in p.components().enumerate() {
        match c {
            Component::Normal(n) => parts.push(PathBuf::from(n)),
            Component::CurDir if i == 0 => rooted_at_dot = true,
            Component::CurDir => {}
            _ => return None,
        }
    }
    if rooted_at_dot {
        return Some((None, parts.into_iter().collect()));
    }
    let mut it = parts.into_iter();
    let first = it.next();
    Some((first, it.collect()))
}

/// Extracts `tar` under `dest_dir`. The archive's root item is renamed to `rename`
/// when given (copying `a` to a new name `b`), dropped when `contents_only`
/// (copying the contents of `a/.`), else kept.
fn extract(
    tar: impl Read,
    dest_dir: &Path,
    rename: Option<&str>,
    contents_only: bool,
) -> CliResult {
    let mut archive = tar::Archive::new(tar);
    archive.set_preserve_permissions(true);
    archive.set_overwrite(true);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let Some((root, rest)) = split_entry(&path) else {
            continue;
        };
        let base = match (root, rename, contents_only) {
            (_, _, true) | (None, None, _) => dest_dir.to_path_buf(),
            (_, Some(name), false) => dest_dir.join(name),
            (Some(r), None, false) => dest_dir.join(r),
        };
        let target = if rest.as_os_str().is_empty() {
            base
        } else {
            base.join(&rest)
        };
        if target == dest_dir {
            continue;
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        entry.unpack(&target)?;
    }
    Ok(())
}

fn archive_path(id: &str, path: &str) -> String {
    format!(
        "/containers/{id}/archive{}",
        Query::new().add("path", path).to_suffix()
    )
}

fn from_container(c: &Client, id: &str, src: &str, dest: &str) -> CliResult {
    let resp = c.request("GET", &archive_path(id, src), &[], Body::Empty)?;
    if dest == "-" {
        io::copy(&mut { resp }, &mut io::stdout().lock())?;
        return Ok(());
    }
    let src_is_dir = stat_is_dir(resp.head.header("X-Docker-Container-Path-Stat")).unwrap_or(false);
    let contents_only = src.ends_with("/.");
    let dest_path = Path::new(dest);
    match fs::metadata(dest_path) {
        Ok(m) if m.is_dir() => extract(resp, dest_path, None, contents_only && src_is_dir),
        Ok(_) if src_is_dir => Err(CliError::msg("cannot copy directory")),
        Ok(_) | Err(_) => {
            if dest.ends_with('/') && !src_is_dir {
                return Err(CliError::msg(format!(
                    "destination \"{dest}\" must be a directory"
                )));
            }
            let parent = dest_path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            if !parent.is_dir() {
                return Err(CliError::msg(format!(
                    "destination directory \"{}\" does not exist",
                    parent.display()
                )));
            }
            let name = dest_path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(dest);
            if contents_only && src_is_dir {
                fs::create_dir_all(dest_path)?;
                extract(resp, dest_path, None, true)
            } else {
                extract(resp, parent, Some(name), false)
            }
        }
    }
}

fn to_container(c: &Client, src: &str, id: &str, dest: &str) -> CliResult {
    // Where the daemon should extract, and under which name the source goes.
    let dest_stat = match c.request("HEAD", &archive_path(id, dest), &[], Body::Empty) {
        Ok(r) => stat_is_dir(r.head.header("X-Docker-Container-Path-Stat")),
        Err(e)
            if e.is_not_found()
                && e.daemon_message()
                    .is_some_and(|m| m.contains("No such container")) =>
        {
            return Err(e.into())
        }
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.into()),
    };
    if src == "-" {
        if dest_stat != Some(true) {
            return Err(CliError::msg(format!(
                "destination \"{id}:{dest}\" must be a directory"
            )));
        }
        let mut stdin = io::stdin();
        c.request(
            "PUT",
            &archive_path(id, dest),
            &[],
            Body::Stream(&mut stdin, "application/x-tar"),
        )?;
        return Ok(());
    }
    let src_path = Path::new(src);
    let abs = std::path::absolute(src_path).unwrap_or_else(|_| src_path.to_path_buf());
    let meta = fs::symlink_metadata(src_path)
        .map_err(|e| CliError::msg(format!("lstat {}: {}", abs.display(), io_reason(&e))))?;
    // `SRC/.` only differs when the destination directory exists: then the contents
    // land in it directly; otherwise the new directory gets the contents anyway.
    let contents_only = src.ends_with("/.") && meta.is_dir() && dest_stat == Some(true);
    let base = abs
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_string();
    let (extract_dir, name) = match dest_stat {
        Some(true) => (dest.to_string(), base),
        Some(false) if meta.is_dir() => return Err(CliError::msg("cannot copy directory")),
        // `DEST/` names a directory: one that is missing (or a link to nowhere, which
        // must not be replaced) is an error, as with Docker.
        None if dest.ends_with('/') => return Err(CliError::msg("no such directory")),
        Some(false) if dest.ends_with('/') => return Err(CliError::msg("not a directory")),
        _ => {
            let d = Path::new(dest);
            let parent = d
                .parent()
                .map(|p| p.to_string_lossy().into_owned())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "/".into());
            let name = d
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_string();
            (parent, name)
        }
    };
    let (mut reader, writer) = io::pipe()?;
    let src_owned = src_path.to_path_buf();
    let builder = std::thread::spawn(move || -> io::Result<()> {
        let mut b = tar::Builder::new(writer);
        b.follow_symlinks(false);
        if contents_only {
            b.append_dir_all(".", &src_owned)?;
        } else if meta.is_dir() {
            b.append_dir_all(&name, &src_owned)?;
        } else {
            b.append_path_with_name(&src_owned, &name)?;
        }
        b.finish()
    });
    let put_path = archive_path(id, &extract_dir);
    let r = c.request(
        "PUT",
        &put_path,
        &[],
        Body::Stream(&mut reader, "application/x-tar"),
    );
    let built = builder
        .join()
        .map_err(|_| CliError::msg("archive writer failed"))?;
    r?;
    built?;
    Ok(())
}

pub fn cp(c: &Client, a: &CpArgs) -> CliResult {
    match (parse_loc(&a.src), parse_loc(&a.dest)) {
        (Loc::Container(id, src), Loc::Local(dest)) => from_container(c, &id, &src, &dest),
        (Loc::Local(src), Loc::Container(id, dest)) => to_container(c, &src, &id, &dest),
        (Loc::Container(..), Loc::Container(..)) => {
            Err(CliError::msg("copying between containers is not supported"))
        }
        (Loc::Local(..), Loc::Local(..)) => {
            Err(CliError::msg("must specify at least one container source"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(
            parse_loc("f1:/tmp/x"),
            Loc::Container("f1".into(), "/tmp/x".into())
        );
        assert_eq!(parse_loc("./a:b"), Loc::Local("./a:b".into()));
        assert_eq!(parse_loc("/abs"), Loc::Local("/abs".into()));
        assert_eq!(parse_loc("dir/a:b"), Loc::Local("dir/a:b".into()));
        assert_eq!(parse_loc("-"), Loc::Local("-".into()));
    }

    #[test]
    fn path_stat_header() {
        // {"name":"tmp","size":4096,"mode":2147484159,"mtime":"…","linkTarget":""}
        let h = "eyJuYW1lIjoidG1wIiwic2l6ZSI6NDA5NiwibW9kZSI6MjE0NzQ4NDE1OSwibXRpbWUiOiIiLCJsaW5rVGFyZ2V0IjoiIn0=";
        assert_eq!(stat_is_dir(Some(h)), Some(true));
        assert_eq!(base64_decode("aGk="), Some(b"hi".to_vec()));
        assert!(split_entry(Path::new("../x")).is_none());
        assert_eq!(
            split_entry(Path::new("./a/b")),
            Some((None, PathBuf::from("a/b")))
        );
        assert_eq!(
            split_entry(Path::new("d/e/f")),
            Some((Some(PathBuf::from("d")), PathBuf::from("e/f")))
        );
    }
}
