//! The build context: which files the build may see, their metadata and content hashes,
//! and a tar writer for sending it.
//!
//! [`BuildContext::from_dir`] walks a directory applying `.dockerignore`. The Dockerfile
//! and `.dockerignore` are always part of what is *sent* ([`BuildContext::write_tar`],
//! [`ContextFilter::send`]) so the daemon can read them, but when the ignore rules match
//! them they are hidden from COPY/ADD ([`ContextFilter::visible`]), as Docker does.
//! [`ContextFilter`] is the same decision for callers that walk a tar themselves (the
//! engine receiving a context over the API).
//!
//! Content hashes are sha256 over a canonical encoding of the selected entries (relative
//! path, type, permission bits, uid, gid, then the file's sha256 or the link target), so
//! a cache key changes when any of these change and not when mtimes do.

use crate::dockerignore::{clean_path, glob_match, DockerIgnore};
use crate::error::BuildError;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Kind of a context entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink(String),
}

/// One file, directory or symlink of the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextEntry {
    /// Relative, `/`-separated, cleaned (`a/b.txt`).
    pub path: String,
    pub kind: EntryKind,
    /// Permission bits (`0o755`), without the file type.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: i64,
}

/// The include/exclude decision for context paths, independent of where the entries come
/// from (a directory walk or tar headers).
#[derive(Debug, Clone)]
pub struct ContextFilter {
    pub ignore: DockerIgnore,
    /// Dockerfile path relative to the context root (cleaned).
    pub dockerfile: String,
}

impl ContextFilter {
    pub fn new(ignore: DockerIgnore, dockerfile: &str) -> Self {
        ContextFilter {
            ignore,
            dockerfile: clean_path(dockerfile).trim_start_matches('/').to_string(),
        }
    }

    /// Whether `path` belongs in the context that is sent (the Dockerfile and
    /// `.dockerignore` always do).
    pub fn send(&self, path: &str) -> bool {
        let p = clean_path(path);
        let p = p.trim_start_matches('/');
        if p == ".dockerignore" || p == self.dockerfile {
            return true;
        }
        !self.ignore.excludes(p)
    }

    /// Whether COPY/ADD may see `path`.
    pub fn visible(&self, path: &str) -> bool {
        !self.ignore.excludes(path)
    }
}

/// A build context rooted at a directory.
#[derive(Debug)]
pub struct BuildContext {
    root: PathBuf,
    filter: ContextFilter,
    entries: BTreeMap<String, ContextEntry>,
    /// Sent but hidden from COPY (Dockerfile/.dockerignore when ignored).
    hidden: BTreeMap<String, ContextEntry>,
    digests: Mutex<HashMap<String, String>>,
}

impl BuildContext {
    /// Walks `root`, reading `.dockerignore` from it. `dockerfile` is the Dockerfile's path
    /// relative to `root` (default `Dockerfile`).
    ///
    /// A `<Dockerfile>.dockerignore` next to the Dockerfile (`app.Dockerfile.dockerignore`)
    /// takes precedence over the root `.dockerignore`, as with BuildKit.
    pub fn from_dir(root: &Path, dockerfile: &str) -> Result<Self, BuildError> {
        let specific = root.join(format!(
            "{}.dockerignore",
            clean_path(dockerfile).trim_start_matches('/')
        ));
        let mut ignore = None;
        for path in [specific, root.join(".dockerignore")] {
            match fs::read_to_string(&path) {
                Ok(text) => {
                    ignore = Some(DockerIgnore::parse(&text));
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(BuildError::io(
                        format!("error reading {}", path.display()),
                        e,
                    ))
                }
            }
        }
        Self::with_filter(
            root,
            ContextFilter::new(ignore.unwrap_or_default(), dockerfile),
        )
    }

    /// Walks `root` with an explicit filter.
    pub fn with_filter(root: &Path, filter: ContextFilter) -> Result<Self, BuildError> {
        let mut ctx = BuildContext {
            root: root.to_path_buf(),
            filter,
            entries: BTreeMap::new(),
            hidden: BTreeMap::new(),
            digests: Mutex::new(HashMap::new()),
        };
        let meta = fs::metadata(root).map_err(|e| {
            BuildError::io(
                format!("unable to prepare context: path {:?} not found", root),
                e,
            )
        })?;
        if !meta.is_dir() {
            return Err(BuildError::Invalid(format!(
                "unable to prepare context: context must be a directory: {}",
                root.display()
            )));
        }
        ctx.walk(root, "")?;
        Ok(ctx)
    }

    fn walk(&mut self, dir: &Path, rel: &str) -> Result<bool, BuildError> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .map_err(|e| {
                BuildError::io(
                    format!("error checking context: can't stat '{}'", dir.display()),
                    e,
                )
            })?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut any = false;
        for name in names {
            let path = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let full = dir.join(&name);
            let md = fs::symlink_metadata(&full).map_err(|e| {
                BuildError::io(
                    format!("error checking context: can't stat '{}'", full.display()),
                    e,
                )
            })?;
            let visible = self.filter.visible(&path);
            let send = self.filter.send(&path);
            let kind = if md.file_type().is_symlink() {
                let target = fs::read_link(&full)
                    .map_err(|e| BuildError::io("error checking context", e))?;
                EntryKind::Symlink(target.to_string_lossy().into_owned())
            } else if md.is_dir() {
                EntryKind::Dir
            } else if md.is_file() {
                EntryKind::File
            } else {
                // Sockets, fifos and devices are not sent (Docker skips them too).
                continue;
            };
            let entry = ContextEntry {
                path: path.clone(),
                kind: kind.clone(),
                mode: md.permissions().mode() & 0o7777,
                uid: md.uid(),
                gid: md.gid(),
                size: if kind == EntryKind::File { md.len() } else { 0 },
                mtime: md.mtime(),
            };
            if kind == EntryKind::Dir {
                // Excluded directories are only walked when an exception could re-include
                // something inside them.
                let inner = if visible || self.filter.ignore.has_exceptions() {
                    self.walk(&full, &path)?
                } else {
                    false
                };
                if visible || inner {
                    self.entries.insert(path, entry);
                    any = true;
                }
            } else if visible {
                self.entries.insert(path, entry);
                any = true;
            } else if send {
                self.hidden.insert(path, entry);
            }
        }
        Ok(any)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn filter(&self) -> &ContextFilter {
        &self.filter
    }

    /// Entries visible to COPY/ADD, sorted by path.
    pub fn entries(&self) -> impl Iterator<Item = &ContextEntry> {
        self.entries.values()
    }

    pub fn get(&self, path: &str) -> Option<&ContextEntry> {
        let p = clean_path(path);
        self.entries.get(p.trim_start_matches('/'))
    }

    /// Reads a file of the context (also hidden ones: the Dockerfile).
    pub fn read(&self, path: &str) -> Result<Vec<u8>, BuildError> {
        let p = clean_path(path);
        let p = p.trim_start_matches('/');
        if p.starts_with("..") {
            return Err(BuildError::Invalid(format!(
                "forbidden path outside the build context: {path}"
            )));
        }
        fs::read(self.root.join(p)).map_err(|e| BuildError::io(format!("failed to read {path}"), e))
    }

    /// Entries under (and including) `path`; the root for `""`.
    pub fn subtree(&self, path: &str) -> Vec<&ContextEntry> {
        let p = clean_path(path);
        let p = p.trim_start_matches('/');
        if p.is_empty() {
            return self.entries.values().collect();
        }
        let prefix = format!("{p}/");
        self.entries
            .range(p.to_string()..)
            .take_while(|(k, _)| k.as_str() == p || k.starts_with(&prefix))
            .filter(|(k, _)| k.as_str() == p || k.starts_with(&prefix))
            .map(|(_, v)| v)
            .collect()
    }

    /// Entries whose path matches a COPY glob (Go `filepath.Match`, `/` not crossed by `*`).
    pub fn glob(&self, pattern: &str) -> Vec<&ContextEntry> {
        let p = clean_path(pattern);
        let p = p.trim_start_matches('/');
        self.entries
            .values()
            .filter(|e| glob_match(p, &e.path, false))
            .collect()
    }

    /// sha256 (hex) of a file's bytes, memoized.
    pub fn file_digest(&self, path: &str) -> Result<String, BuildError> {
        if let Ok(map) = self.digests.lock() {
            if let Some(d) = map.get(path) {
                return Ok(d.clone());
            }
        }
        let mut f = fs::File::open(self.root.join(path))
            .map_err(|e| BuildError::io(format!("failed to read {path}"), e))?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f
                .read(&mut buf)
                .map_err(|e| BuildError::io(format!("failed to read {path}"), e))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        let d = hex::encode(h.finalize());
        if let Ok(mut map) = self.digests.lock() {
            map.insert(path.to_string(), d.clone());
        }
        Ok(d)
    }

    /// Content hash of a selection: each entry is encoded relative to `base` (the source
    /// path as the user named it), so the same files under another name hash differently
    /// only where the name is part of the result.
    pub fn hash_entries(
        &self,
        base: &str,
        entries: &[&ContextEntry],
    ) -> Result<String, BuildError> {
        let base = clean_path(base);
        let base = base.trim_start_matches('/');
        let mut h = Sha256::new();
        let mut sorted: Vec<&&ContextEntry> = entries.iter().collect();
        sorted.sort_by(|a, b| a.path.cmp(&b.path));
        for e in sorted {
            let rel = e
                .path
                .strip_prefix(base)
                .map(|r| r.trim_start_matches('/'))
                .filter(|_| !base.is_empty())
                .unwrap_or(&e.path);
            let (kind, data) = match &e.kind {
                EntryKind::File => ("f", self.file_digest(&e.path)?),
                EntryKind::Dir => ("d", String::new()),
                EntryKind::Symlink(t) => ("l", t.clone()),
            };
            // Length-prefixed fields: no separator ambiguity.
            for field in [
                rel,
                kind,
                &format!("{:o}", e.mode),
                &e.uid.to_string(),
                &e.gid.to_string(),
                &data,
            ] {
                h.update((field.len() as u64).to_be_bytes());
                h.update(field.as_bytes());
            }
        }
        Ok(hex::encode(h.finalize()))
    }

    /// Writes the context as a tar: every visible entry plus the Dockerfile and
    /// `.dockerignore`. Entries are in path order with their modes, owners and mtimes.
    pub fn write_tar<W: Write>(&self, w: W) -> Result<W, BuildError> {
        let mut tb = tar::Builder::new(w);
        tb.follow_symlinks(false);
        let mut all: Vec<&ContextEntry> =
            self.entries.values().chain(self.hidden.values()).collect();
        all.sort_by(|a, b| a.path.cmp(&b.path));
        let err = |e: std::io::Error| BuildError::io("error writing context tar", e);
        for e in all {
            let mut header = tar::Header::new_gnu();
            header.set_mode(e.mode);
            header.set_uid(e.uid as u64);
            header.set_gid(e.gid as u64);
            header.set_mtime(e.mtime.max(0) as u64);
            match &e.kind {
                EntryKind::Dir => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_size(0);
                    tb.append_data(&mut header, format!("{}/", e.path), std::io::empty())
                        .map_err(err)?;
                }
                EntryKind::Symlink(target) => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_size(0);
                    tb.append_link(&mut header, &e.path, target).map_err(err)?;
                }
                EntryKind::File => {
                    let f = fs::File::open(self.root.join(&e.path)).map_err(err)?;
                    let size = f.metadata().map_err(err)?.len();
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(size);
                    // Reads of up to 1 MiB: the tar writer copies with 8 KiB otherwise,
                    // a syscall per 8 KiB of context.
                    let cap = (size as usize).saturating_add(1).min(1 << 20);
                    let r = std::io::BufReader::with_capacity(cap, f.take(size));
                    tb.append_data(&mut header, &e.path, r).map_err(err)?;
                }
            }
        }
        tb.into_inner().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, body: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    }

    #[test]
    fn walk_applies_dockerignore_and_keeps_dockerfile_sent() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(r, "Dockerfile", "FROM x\n");
        write(
            r,
            ".dockerignore",
            "Dockerfile\n.dockerignore\nnode_modules\n*.log\n!keep.log\n",
        );
        write(r, "app/main.c", "int main;");
        write(r, "node_modules/x/y.js", "x");
        write(r, "a.log", "l");
        write(r, "keep.log", "k");
        let ctx = BuildContext::from_dir(r, "Dockerfile").unwrap();
        let paths: Vec<&str> = ctx.entries().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, vec!["app", "app/main.c", "keep.log"]);
        // The tar still carries Dockerfile and .dockerignore.
        let data = ctx.write_tar(Vec::new()).unwrap();
        let mut ar = tar::Archive::new(&data[..]);
        let mut names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                ".dockerignore",
                "Dockerfile",
                "app/",
                "app/main.c",
                "keep.log"
            ]
        );
        assert_eq!(ctx.read("Dockerfile").unwrap(), b"FROM x\n");
        assert!(ctx.read("../etc/passwd").is_err());
        // The same decisions for a tar walker.
        let f = ctx.filter();
        assert!(f.send("Dockerfile") && !f.visible("Dockerfile"));
        assert!(!f.send("node_modules/x/y.js"));
    }

    #[test]
    fn dockerfile_specific_ignore_and_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(r, "app.Dockerfile", "FROM x\n");
        write(r, "app.Dockerfile.dockerignore", "secret\n");
        write(r, ".dockerignore", "*\n");
        write(r, "secret", "s");
        write(r, "data/file", "d");
        std::os::unix::fs::symlink("data/file", r.join("link")).unwrap();
        let ctx = BuildContext::from_dir(r, "app.Dockerfile").unwrap();
        let paths: Vec<&str> = ctx.entries().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                ".dockerignore",
                "app.Dockerfile",
                "app.Dockerfile.dockerignore",
                "data",
                "data/file",
                "link"
            ]
        );
        assert_eq!(
            ctx.get("link").unwrap().kind,
            EntryKind::Symlink("data/file".into())
        );
        let data = ctx.write_tar(Vec::new()).unwrap();
        let mut ar = tar::Archive::new(&data[..]);
        let link = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.path().unwrap().to_str() == Some("link"))
            .unwrap();
        assert_eq!(link.header().entry_type(), tar::EntryType::Symlink);
        assert_eq!(
            link.link_name().unwrap().unwrap().to_str(),
            Some("data/file")
        );
    }

    #[test]
    fn exception_inside_excluded_dir() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(r, "docs/a.txt", "a");
        write(r, "docs/keep.txt", "k");
        write(r, ".dockerignore", "docs\n!docs/keep.txt\n");
        let ctx = BuildContext::from_dir(r, "Dockerfile").unwrap();
        let paths: Vec<&str> = ctx.entries().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, vec![".dockerignore", "docs", "docs/keep.txt"]);
    }

    #[test]
    fn hashes_follow_content_and_mode_not_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(r, "src/a", "one");
        write(r, "src/b", "two");
        let h = |r: &Path| {
            let ctx = BuildContext::from_dir(r, "Dockerfile").unwrap();
            let sel = ctx.subtree("src");
            ctx.hash_entries("src", &sel).unwrap()
        };
        let h1 = h(r);
        assert_eq!(h1, h(r));
        // mtime change only: same hash.
        let f = fs::File::options()
            .write(true)
            .open(r.join("src/a"))
            .unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        drop(f);
        assert_eq!(h1, h(r));
        fs::set_permissions(r.join("src/a"), fs::Permissions::from_mode(0o600)).unwrap();
        let h2 = h(r);
        assert_ne!(h1, h2);
        write(r, "src/a", "ONE");
        assert_ne!(h2, h(r));
        write(r, "src/c", "");
        let ctx = BuildContext::from_dir(r, "Dockerfile").unwrap();
        assert_eq!(ctx.glob("src/?").len(), 3);
        assert_eq!(ctx.glob("*").len(), 1);
        assert_eq!(ctx.subtree("").len(), 4);
    }
}
