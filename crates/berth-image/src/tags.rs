//! Tags and digests → image ids, persisted in `repositories.json` in Docker's format:
//! `{"Repositories":{"busybox":{"busybox:latest":"sha256:…"}}}` (familiar names as keys).
//! Not synchronized itself: the image store holds it under its mutex and saves it
//! atomically after every change.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;
use crate::digest::ImageId;
use crate::error::{ImageError, IoContext};
use crate::reference::Reference;

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    #[serde(rename = "Repositories", default)]
    repositories: BTreeMap<String, BTreeMap<String, ImageId>>,
}

/// The tag store.
#[derive(Debug)]
pub struct TagStore {
    path: PathBuf,
    repos: BTreeMap<String, BTreeMap<String, ImageId>>,
}

impl TagStore {
    /// Load `path`; a missing file is an empty store. An unreadable file is moved aside
    /// (`repositories.json.corrupt-…`) rather than silently overwritten.
    pub fn load(path: PathBuf) -> Result<TagStore, ImageError> {
        let repos = match fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<File>(&bytes) {
                Ok(f) => f.repositories,
                Err(_) => {
                    let aside = path
                        .with_extension(format!("json.corrupt-{}", crate::atomic::unique_suffix()));
                    let _ = fs::rename(&path, aside);
                    BTreeMap::new()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(ImageError::io(format!("read {}", path.display()), e)),
        };
        Ok(TagStore { path, repos })
    }

    fn save(&self) -> Result<(), ImageError> {
        let f = File {
            repositories: self.repos.clone(),
        };
        let bytes = serde_json::to_vec(&f)
            .map_err(|e| ImageError::io("encode tags", std::io::Error::other(e)))?;
        write_atomic(&self.path, &bytes).ctx(|| format!("write {}", self.path.display()))
    }

    /// The image a reference (tag added if missing) points to.
    pub fn get(&self, r: &Reference) -> Option<ImageId> {
        self.repos
            .get(&r.familiar_name())?
            .get(&r.store_key())
            .cloned()
    }

    /// Point `r` at `id`, replacing what it pointed to. Pointing it where it already
    /// points writes nothing (a rebuild from cache tags the same image again: a
    /// durable rewrite of the file would cost it several ms for no change). A failed
    /// save leaves the store as it was, so memory never differs from the file.
    pub fn set(&mut self, r: &Reference, id: &ImageId) -> Result<(), ImageError> {
        let (name, key) = (r.familiar_name(), r.store_key());
        if self.repos.get(&name).and_then(|m| m.get(&key)) == Some(id) {
            return Ok(());
        }
        let old = self
            .repos
            .entry(name.clone())
            .or_default()
            .insert(key.clone(), id.clone());
        let saved = self.save();
        if saved.is_err() {
            let repo = self.repos.entry(name.clone()).or_default();
            match old {
                Some(o) => {
                    repo.insert(key, o);
                }
                None => {
                    repo.remove(&key);
                    if repo.is_empty() {
                        self.repos.remove(&name);
                    }
                }
            }
        }
        saved
    }

    /// Remove `r`; returns the image it pointed to.
    pub fn delete(&mut self, r: &Reference) -> Result<Option<ImageId>, ImageError> {
        let name = r.familiar_name();
        let Some(repo) = self.repos.get_mut(&name) else {
            return Ok(None);
        };
        let old = repo.remove(&r.store_key());
        if repo.is_empty() {
            self.repos.remove(&name);
        }
        if old.is_some() {
            self.save()?;
        }
        Ok(old)
    }

    /// All references to `id`, sorted by their familiar text.
    pub fn references(&self, id: &ImageId) -> Vec<Reference> {
        let mut out: Vec<(String, Reference)> = Vec::new();
        for repo in self.repos.values() {
            for (key, v) in repo {
                if v == id {
                    if let Ok(r) = Reference::parse(key) {
                        out.push((key.clone(), r));
                    }
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.into_iter().map(|(_, r)| r).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_delete_persist() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("repositories.json");
        let id = ImageId::of_config(b"x");
        let r = Reference::parse("busybox").unwrap();
        let mut t = TagStore::load(p.clone()).unwrap();
        t.set(&r, &id).unwrap();
        let raw: serde_json::Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
        assert_eq!(
            raw["Repositories"]["busybox"]["busybox:latest"],
            id.as_str()
        );
        let t2 = TagStore::load(p.clone()).unwrap();
        assert_eq!(
            t2.get(&Reference::parse("docker.io/library/busybox:latest").unwrap()),
            Some(id.clone())
        );
        assert_eq!(t2.references(&id).len(), 1);
        let mut t2 = t2;
        assert_eq!(t2.delete(&r).unwrap(), Some(id.clone()));
        assert!(TagStore::load(p).unwrap().references(&id).is_empty());
    }

    #[test]
    fn setting_an_unchanged_tag_writes_nothing_and_a_failed_save_changes_nothing() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("repositories.json");
        let (a, b) = (ImageId::of_config(b"a"), ImageId::of_config(b"b"));
        let r = Reference::parse("app:1").unwrap();
        let mut t = TagStore::load(p.clone()).unwrap();
        t.set(&r, &a).unwrap();
        // Every save replaces the file (a new inode): none means nothing was written.
        let ino = fs::metadata(&p).unwrap().ino();
        t.set(&r, &a).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().ino(), ino);
        t.set(&r, &b).unwrap();
        assert_ne!(fs::metadata(&p).unwrap().ino(), ino);
        assert_eq!(t.get(&r), Some(b.clone()));
        // A save that fails (the directory is gone) keeps the old value in memory.
        let mut t = TagStore::load(d.path().join("gone/repositories.json")).unwrap();
        assert!(t.set(&r, &a).is_err());
        assert_eq!(t.get(&r), None);
        assert!(t.references(&a).is_empty());
    }

    #[test]
    fn corrupt_file_is_moved_aside() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("repositories.json");
        fs::write(&p, b"{torn").unwrap();
        let t = TagStore::load(p.clone()).unwrap();
        assert!(t.repos.is_empty());
        assert!(!p.exists());
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
