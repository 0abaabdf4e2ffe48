//! `docker save` / `docker load`: image archives in the layout Docker writes since
//! v25 (an OCI image layout plus Docker's `manifest.json`), and loading of both that and
//! the older layout (`<id>/layer.tar`, `<id>.json`, `manifest.json`).
//!
//! Saving streams each layer's kept original archive, so its digest is the diff id.
//! Loading extracts the archive into `tmp/` with the safe unpacker, then reads files
//! named by `manifest.json` through a symlink resolver confined to that directory
//! (older archives link duplicate layers to each other), verifies every layer against
//! the config's diff ids, and registers image and tags.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::atomic::unique_suffix;
use crate::compression::decompress;
use crate::config::ImageConfigFile;
use crate::digest::{chain_ids, sha256_digest, HashingReader, ImageId};
use crate::error::{ImageError, IoContext};
use crate::reference::Reference;
use crate::store::ImageStore;
use crate::unpack::{unpack, UnpackOptions};

/// One entry of `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

impl ImageStore {
    /// `docker save NAME…`: write an archive of the named images to `out`. A name that
    /// is a bare repository (`busybox`) saves every tag of it; a tag saves that tag; an
    /// id saves the image without tags.
    pub fn save(&self, names: &[String], out: impl Write) -> Result<(), ImageError> {
        // image id → tags to record for it, in order of first mention.
        let mut order: Vec<ImageId> = Vec::new();
        let mut tags: BTreeMap<ImageId, Vec<String>> = BTreeMap::new();
        for name in names {
            for (id, tag) in self.save_targets(name)? {
                if !tags.contains_key(&id) {
                    order.push(id.clone());
                }
                let list = tags.entry(id).or_default();
                if let Some(t) = tag {
                    if !list.contains(&t) {
                        list.push(t);
                    }
                }
            }
        }
        let mut b = tar::Builder::new(out);
        let mut written: BTreeSet<String> = BTreeSet::new();
        let mut manifest: Vec<ManifestEntry> = Vec::new();
        let mut index: Vec<serde_json::Value> = Vec::new();
        append_bytes(&mut b, "blobs/", None)?;
        append_bytes(&mut b, "blobs/sha256/", None)?;
        for id in &order {
            let config = self.config_bytes(id)?;
            let chain = self.chain_ids(id)?;
            let mut layer_paths = Vec::new();
            let mut layer_descs = Vec::new();
            for c in &chain {
                let meta = self.layers().meta(c)?;
                let path = format!("blobs/sha256/{}", &meta.diff_id["sha256:".len()..]);
                if written.insert(path.clone()) {
                    let (reader, size) = self.layers().open_archive(c)?;
                    append_stream(&mut b, &path, size, reader, &meta.diff_id)?;
                }
                layer_descs.push(json!({
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": meta.diff_id,
                    "size": meta.tar_size,
                }));
                layer_paths.push(path);
            }
            let config_path = format!("blobs/sha256/{}", id.hex());
            if written.insert(config_path.clone()) {
                append_bytes(&mut b, &config_path, Some(&config))?;
            }
            let oci = json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": id.as_str(),
                    "size": config.len(),
                },
                "layers": layer_descs,
            });
            let oci_bytes = serde_json::to_vec(&oci).map_err(encode_err)?;
            let oci_digest = sha256_digest(&oci_bytes);
            let oci_path = format!("blobs/sha256/{}", &oci_digest["sha256:".len()..]);
            if written.insert(oci_path.clone()) {
                append_bytes(&mut b, &oci_path, Some(&oci_bytes))?;
            }
            let repo_tags = tags.get(id).cloned().unwrap_or_default();
            let desc = |name: Option<(String, String)>| {
                let mut d = json!({ "mediaType": OCI_MANIFEST, "digest": oci_digest, "size": oci_bytes.len() });
                if let Some((full, tag)) = name {
                    d["annotations"] = json!({
                        "io.containerd.image.name": full,
                        "org.opencontainers.image.ref.name": tag,
                    });
                }
                d
            };
            if repo_tags.is_empty() {
                index.push(desc(None));
            }
            for t in &repo_tags {
                if let Ok(r) = Reference::parse(t) {
                    index.push(desc(Some((
                        r.to_string(),
                        r.tag().unwrap_or_default().to_string(),
                    ))));
                }
            }
            manifest.push(ManifestEntry {
                config: config_path,
                repo_tags: if repo_tags.is_empty() {
                    None
                } else {
                    Some(repo_tags)
                },
                layers: layer_paths,
            });
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": index,
        });
        append_bytes(
            &mut b,
            "index.json",
            Some(&serde_json::to_vec(&index).map_err(encode_err)?),
        )?;
        append_bytes(
            &mut b,
            "manifest.json",
            Some(&serde_json::to_vec(&manifest).map_err(encode_err)?),
        )?;
        append_bytes(
            &mut b,
            "oci-layout",
            Some(br#"{"imageLayoutVersion":"1.0.0"}"#),
        )?;
        b.into_inner()
            .ctx(|| "finish archive".to_string())?
            .flush()
            .ctx(|| "flush archive".to_string())
    }

    /// (image, tag to record) pairs for one `save` argument.
    fn save_targets(&self, name: &str) -> Result<Vec<(ImageId, Option<String>)>, ImageError> {
        if let Ok(r) = Reference::parse(name) {
            if r.tag().is_none() && r.digest().is_none() {
                let repo = r.familiar_name();
                let mut out = Vec::new();
                for img in self.list() {
                    for t in &img.repo_tags {
                        if Reference::parse(t)
                            .map(|x| x.familiar_name() == repo)
                            .unwrap_or(false)
                        {
                            out.push((img.id.clone(), Some(t.clone())));
                        }
                    }
                }
                if !out.is_empty() {
                    out.sort_by(|a, b| a.1.cmp(&b.1));
                    return Ok(out);
                }
            }
        }
        let img = self.resolve(name)?;
        let tag = match Reference::parse(name) {
            Ok(r) if r.digest().is_none() && !is_id_like(&img.id, name) => {
                Some(r.with_default_tag().familiar())
            }
            _ => None,
        };
        Ok(vec![(img.id, tag)])
    }

    /// `docker load`: read an image archive (plain or gzip) and register what it holds.
    /// Returns Docker's progress lines (`Loaded image: busybox:latest`,
    /// `Loaded image ID: sha256:…`, and the renaming notice when a tag moves).
    pub fn load(&self, archive: impl Read) -> Result<Vec<String>, ImageError> {
        let dir = self
            .root()
            .join("tmp")
            .join(format!("load-{}", unique_suffix()));
        fs::create_dir_all(&dir).ctx(|| format!("create {}", dir.display()))?;
        let res = self.load_in(&dir, archive);
        let _ = fs::remove_dir_all(&dir);
        res
    }

    fn load_in(&self, dir: &Path, archive: impl Read) -> Result<Vec<String>, ImageError> {
        let opts = UnpackOptions {
            same_owner: false,
            ..Default::default()
        };
        unpack(decompress(archive)?, dir, &opts)?;
        // Even manifest.json may be a symlink: resolve it inside the archive.
        let manifest_path = resolve_in_scope(dir, "manifest.json")?;
        let bytes = match fs::read(&manifest_path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ImageError::invalid(
                    "invalid archive: manifest.json not found",
                ))
            }
            Err(e) => return Err(ImageError::io("read manifest.json", e)),
        };
        let manifest: Vec<ManifestEntry> = serde_json::from_slice(&bytes)
            .map_err(|e| ImageError::invalid(format!("invalid archive: manifest.json: {e}")))?;
        let mut messages = Vec::new();
        for entry in &manifest {
            let config_bytes = fs::read(resolve_in_scope(dir, &entry.config)?)
                .ctx(|| format!("read {}", entry.config))?;
            let config: ImageConfigFile = serde_json::from_slice(&config_bytes).map_err(|e| {
                ImageError::invalid(format!("invalid image config {}: {e}", entry.config))
            })?;
            let diff_ids = &config.rootfs.diff_ids;
            if diff_ids.len() != entry.layers.len() {
                return Err(ImageError::invalid(format!(
                    "invalid manifest, layers length mismatch: expected {}, got {}",
                    entry.layers.len(),
                    diff_ids.len()
                )));
            }
            let chain = chain_ids(diff_ids);
            let mut leases = Vec::new();
            for (i, layer) in entry.layers.iter().enumerate() {
                if let Ok(lease) = self.lease_layer(&chain[i]) {
                    leases.push(lease); // already here: nothing to unpack
                    continue;
                }
                let f = fs::File::open(resolve_in_scope(dir, layer)?)
                    .ctx(|| format!("open {layer}"))?;
                let parent = if i == 0 {
                    None
                } else {
                    Some(chain[i - 1].as_str())
                };
                let stream = decompress(io::BufReader::new(f))?;
                leases.push(self.add_layer(parent, stream, Some((i, &diff_ids[i])))?);
            }
            let id = self.register(&config_bytes, String::new(), None)?;
            drop(leases);
            let repo_tags = entry.repo_tags.clone().unwrap_or_default();
            if repo_tags.is_empty() {
                messages.push(format!("Loaded image ID: {id}"));
            }
            for t in &repo_tags {
                let r = Reference::parse(t)?;
                if r.tag().is_none() {
                    return Err(ImageError::invalid(format!("invalid tag {t:?}")));
                }
                let shown = r.familiar();
                if let Ok(old) = self.resolve(&shown) {
                    if old.id != id && old.repo_tags.contains(&shown) {
                        messages.push(format!(
                            "The image {shown} already exists, renaming the old one with ID {} to empty string",
                            old.id
                        ));
                    }
                }
                self.tag_reference(id.as_str(), &r)?;
                messages.push(format!("Loaded image: {shown}"));
            }
        }
        Ok(messages)
    }
}

fn is_id_like(id: &ImageId, s: &str) -> bool {
    id.as_str().starts_with(s) || id.hex().starts_with(s)
}

fn encode_err(e: serde_json::Error) -> ImageError {
    ImageError::io("encode archive metadata", io::Error::other(e))
}

fn entry_header(path: &str, size: u64, dir: bool) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(if dir {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    h.set_mode(if dir { 0o755 } else { 0o644 });
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    let gnu = h.as_gnu_mut();
    if let Some(g) = gnu {
        let n = path.len().min(g.name.len());
        g.name[..n].copy_from_slice(&path.as_bytes()[..n]);
    }
    h.set_cksum();
    h
}

/// A small file (or, with `None`, a directory ending in `/`).
fn append_bytes<W: Write>(
    b: &mut tar::Builder<W>,
    path: &str,
    data: Option<&[u8]>,
) -> Result<(), ImageError> {
    let h = entry_header(path, data.map_or(0, |d| d.len() as u64), data.is_none());
    b.append(&h, data.unwrap_or(&[]))
        .ctx(|| format!("write {path}"))
}

/// A layer archive streamed from the store; its digest must match `digest`.
fn append_stream<W: Write>(
    b: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    reader: Box<dyn Read + Send>,
    digest: &str,
) -> Result<(), ImageError> {
    let h = entry_header(path, size, false);
    let mut hashing = HashingReader::new(reader.take(size));
    b.append(&h, &mut hashing).ctx(|| format!("write {path}"))?;
    let (got, n) = hashing.finish().ctx(|| format!("read layer {digest}"))?;
    if got != digest || n != size {
        return Err(ImageError::io(
            format!("layer {digest}"),
            io::Error::new(
                io::ErrorKind::InvalidData,
                "stored layer archive does not match its digest",
            ),
        ));
    }
    Ok(())
}

/// Resolve `rel` inside `root` following symlinks as if `root` were `/`: `..` and
/// absolute link targets never leave it. Returns a path without symlinks.
pub(crate) fn resolve_in_scope(root: &Path, rel: &str) -> Result<PathBuf, ImageError> {
    let mut todo: Vec<OsString> = split(rel.as_bytes());
    todo.reverse();
    let mut cur: Vec<OsString> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        match c.as_bytes() {
            b"" | b"." => continue,
            b".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        let mut p = root.to_path_buf();
        p.extend(&cur);
        p.push(&c);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > 40 {
                    return Err(ImageError::invalid(format!(
                        "invalid archive: too many symbolic links in {rel}"
                    )));
                }
                let target = fs::read_link(&p).ctx(|| format!("readlink {}", p.display()))?;
                let t = target.as_os_str().as_bytes();
                if t.starts_with(b"/") {
                    cur.clear();
                }
                for part in split(t).into_iter().rev() {
                    todo.push(part);
                }
            }
            _ => cur.push(c),
        }
    }
    let mut p = root.to_path_buf();
    p.extend(&cur);
    Ok(p)
}

fn split(b: &[u8]) -> Vec<OsString> {
    b.split(|&x| x == b'/')
        .filter(|s| !s.is_empty())
        .map(|s| OsString::from(std::ffi::OsStr::from_bytes(s)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_resolution_stays_inside() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir_all(r.join("a/b")).unwrap();
        std::os::unix::fs::symlink("/a", r.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../a/b", r.join("a/up")).unwrap();
        std::os::unix::fs::symlink("loop2", r.join("loop1")).unwrap();
        std::os::unix::fs::symlink("loop1", r.join("loop2")).unwrap();
        assert_eq!(resolve_in_scope(r, "abs/b/x").unwrap(), r.join("a/b/x"));
        assert_eq!(resolve_in_scope(r, "a/up/y").unwrap(), r.join("a/b/y"));
        assert_eq!(
            resolve_in_scope(r, "../../etc/passwd").unwrap(),
            r.join("etc/passwd")
        );
        assert!(resolve_in_scope(r, "loop1/x").is_err());
    }
}
