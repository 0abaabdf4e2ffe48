//! [`ImageStore`]: the engine's entry point. Owns the content store (`blobs/`), the
//! per-image metadata (`images/`), the layers (`layers/`) and the tags
//! (`repositories.json`), and keeps an in-memory index of all images behind one mutex so
//! the engine may call it from many threads. Long work (unpacking a layer) happens
//! outside the lock; only registration takes it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::atomic::{sweep_tmp, write_atomic};
use crate::changes::apply_changes;
use crate::config::{ContainerConfig, History, ImageConfigFile, RootFs};
use crate::digest::{chain_ids, digest_hex, is_hex64, sha256_digest, short_id, ImageId};
use crate::error::{ImageError, IoContext};
use crate::layers::{KeptArchive, LayerMeta, LayerStore, PendingLayer};
use crate::reference::Reference;
use crate::tags::TagStore;

/// An image as the engine sees it (`docker images`, `docker image inspect`).
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub id: ImageId,
    /// Familiar `name:tag` references, sorted.
    pub repo_tags: Vec<String>,
    /// Familiar `name@sha256:…` references, sorted.
    pub repo_digests: Vec<String>,
    /// `created` of the config (RFC 3339), empty if absent.
    pub created: String,
    /// Sum of the sizes of the image's layers.
    pub size: u64,
    pub config: ImageConfigFile,
    /// Parent image id (commit), empty otherwise.
    pub parent: String,
}

/// A container that uses an image, as reported by the engine to [`ImageStore::remove`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerUse {
    /// Full container id (shown truncated to 12 in messages).
    pub id: String,
    /// Running containers block removal even with force.
    pub running: bool,
}

/// One line of `docker rmi` output (`{"Untagged": …}` / `{"Deleted": …}` in the API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RemovedItem {
    Untagged(String),
    Deleted(String),
}

/// `images/sha256/<hex>.json`: what an image has besides its config.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ImageMeta {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    parent: String,
}

#[derive(Debug, Clone)]
struct Record {
    id: ImageId,
    config: ImageConfigFile,
    chain: Vec<String>,
    size: u64,
    parent: String,
}

struct Inner {
    images: BTreeMap<String, Record>,
    tags: TagStore,
    /// Chain ids held by [`LayerLease`]s: never deleted while pinned.
    pinned: BTreeMap<String, usize>,
}

/// Keeps a layer added by [`ImageStore::add_layer`] from being deleted until dropped.
pub struct LayerLease<'a> {
    store: &'a ImageStore,
    meta: LayerMeta,
}

impl std::fmt::Debug for LayerLease<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayerLease")
            .field("meta", &self.meta)
            .finish()
    }
}

impl LayerLease<'_> {
    pub fn meta(&self) -> &LayerMeta {
        &self.meta
    }
}

impl Drop for LayerLease<'_> {
    fn drop(&mut self) {
        let mut inner = self.store.lock();
        if let Some(n) = inner.pinned.get_mut(&self.meta.chain_id) {
            *n -= 1;
            if *n == 0 {
                inner.pinned.remove(&self.meta.chain_id);
            }
        }
    }
}

/// The image store of one data root. Cheap to share behind an `Arc`.
pub struct ImageStore {
    root: PathBuf,
    layers: LayerStore,
    inner: Mutex<Inner>,
}

fn not_found(what: &str) -> ImageError {
    ImageError::NotFound(format!("No such image: {what}"))
}

/// Docker's "No such image" text for a lookup string: references get their default tag.
fn not_found_for(name_or_id: &str) -> ImageError {
    match Reference::parse(name_or_id) {
        Ok(r) if !name_or_id.starts_with("sha256:") => not_found(&r.with_default_tag().familiar()),
        _ => not_found(name_or_id),
    }
}

/// The architecture name Docker uses for this build.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

impl ImageStore {
    /// Open (creating if needed) the store at `root` (`<data-root>/image`). Leftovers of
    /// interrupted imports under `tmp/` are removed; unreadable images are skipped.
    pub fn open(root: &Path) -> Result<ImageStore, ImageError> {
        for d in ["blobs/sha256", "images/sha256", "layers", "tmp"] {
            let p = root.join(d);
            fs::create_dir_all(&p).ctx(|| format!("create {}", p.display()))?;
        }
        let tmp = root.join("tmp");
        if let Ok(rd) = fs::read_dir(&tmp) {
            for e in rd.flatten() {
                let p = e.path();
                let _ = if p.is_dir() && !p.is_symlink() {
                    fs::remove_dir_all(&p)
                } else {
                    fs::remove_file(&p)
                };
            }
        }
        sweep_tmp(root);
        sweep_tmp(&root.join("blobs/sha256"));
        sweep_tmp(&root.join("images/sha256"));
        let layers = LayerStore::new(root.join("layers"), tmp);
        let tags = TagStore::load(root.join("repositories.json"))?;
        let store = ImageStore {
            root: root.to_path_buf(),
            layers,
            inner: Mutex::new(Inner {
                images: BTreeMap::new(),
                tags,
                pinned: BTreeMap::new(),
            }),
        };
        store.load_images();
        Ok(store)
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the maps consistent (every mutation is a
        // single insert/remove after the disk write), so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn blob_path(&self, hex: &str) -> PathBuf {
        self.root.join("blobs/sha256").join(hex)
    }

    fn meta_path(&self, hex: &str) -> PathBuf {
        self.root.join("images/sha256").join(format!("{hex}.json"))
    }

    fn load_images(&self) {
        let Ok(rd) = fs::read_dir(self.root.join("images/sha256")) else {
            return;
        };
        let mut inner = self.lock();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(hex) = name.strip_suffix(".json").filter(|h| is_hex64(h)) else {
                continue;
            };
            let meta: ImageMeta = fs::read(e.path())
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            if let Ok(rec) = self.load_record(hex, meta) {
                inner.images.insert(hex.to_string(), rec);
            }
        }
    }

    /// Read and verify the config blob of image `hex`.
    fn load_record(&self, hex: &str, meta: ImageMeta) -> Result<Record, ImageError> {
        let bytes = self.read_blob(hex)?;
        let config: ImageConfigFile = serde_json::from_slice(&bytes)
            .map_err(|e| ImageError::invalid(format!("invalid image config {hex}: {e}")))?;
        Ok(self.record(ImageId::from_hex(hex), config, meta.parent))
    }

    fn record(&self, id: ImageId, config: ImageConfigFile, parent: String) -> Record {
        let chain = chain_ids(&config.rootfs.diff_ids);
        let size = chain
            .iter()
            .filter_map(|c| self.layers.meta(c).ok())
            .map(|m| m.size)
            .sum();
        let parent = if parent.is_empty() {
            config.parent.clone()
        } else {
            parent
        };
        Record {
            id,
            config,
            chain,
            size,
            parent,
        }
    }

    /// A blob's bytes, verified against its name.
    pub fn read_blob(&self, hex: &str) -> Result<Vec<u8>, ImageError> {
        if !is_hex64(hex) {
            return Err(ImageError::invalid(format!("invalid digest: {hex}")));
        }
        let p = self.blob_path(hex);
        let bytes = fs::read(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => {
                ImageError::NotFound(format!("blob not found: sha256:{hex}"))
            }
            _ => ImageError::io(format!("read {}", p.display()), e),
        })?;
        if sha256_digest(&bytes) != format!("sha256:{hex}") {
            return Err(ImageError::io(
                format!("blob sha256:{hex}"),
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "content does not match its digest",
                ),
            ));
        }
        Ok(bytes)
    }

    /// Store `bytes` in the content store (atomically; a no-op if present). Returns the digest.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<String, ImageError> {
        let digest = sha256_digest(bytes);
        let hex = &digest["sha256:".len()..];
        if self.read_blob(hex).is_err() {
            write_atomic(&self.blob_path(hex), bytes).ctx(|| format!("write blob {digest}"))?;
        }
        Ok(digest)
    }

    /// The config bytes of an image exactly as stored (its id is their sha256).
    pub fn config_bytes(&self, id: &ImageId) -> Result<Vec<u8>, ImageError> {
        self.read_blob(id.hex())
    }

    /// `docker import`: a rootfs tar (plain or gzip, detected) becomes a one-layer image.
    /// `changes` are Dockerfile lines applied to the config; `message` becomes the
    /// comment (Docker's default `Imported from -` when empty). Tags it with `reference`.
    pub fn import(
        &self,
        tar: impl Read,
        reference: Option<&str>,
        changes: &[String],
        message: &str,
    ) -> Result<ImageId, ImageError> {
        let reference = match reference.filter(|r| !r.is_empty()) {
            Some(r) => {
                let r = Reference::parse_tagged(r)?;
                if r.digest().is_some() {
                    return Err(ImageError::invalid("cannot import digest reference"));
                }
                Some(r)
            }
            None => None,
        };
        let mut cc = ContainerConfig::default();
        apply_changes(&mut cc, changes)?;
        let stream = crate::compression::decompress(tar)?;
        let pending = self.layers.prepare(None, stream)?;
        let layer = pending.meta().clone();
        let message = if message.is_empty() {
            "Imported from -"
        } else {
            message
        };
        let created = berth_types::time::rfc3339_nano_trimmed(SystemTime::now());
        let config = ImageConfigFile {
            comment: message.to_string(),
            created: Some(created.clone()),
            config: Some(cc),
            architecture: go_arch().to_string(),
            os: "linux".to_string(),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![layer.diff_id.clone()],
            },
            history: vec![History {
                created: Some(created),
                comment: message.to_string(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let bytes = serde_json::to_vec(&config)
            .map_err(|e| ImageError::io("encode image config", io::Error::other(e)))?;
        self.register_with(Some(pending), &bytes, String::new(), reference.as_ref())
    }

    /// Commit `pending` (if any) and register the image in one lock hold, so no
    /// removal can delete the layer in between.
    pub(crate) fn register_with(
        &self,
        pending: Option<PendingLayer>,
        config_bytes: &[u8],
        parent: String,
        reference: Option<&Reference>,
    ) -> Result<ImageId, ImageError> {
        let mut inner = self.lock();
        if let Some(p) = pending {
            self.layers.commit(p)?;
        }
        self.register_locked(&mut inner, config_bytes, parent, reference)
    }

    /// Extract and register one layer (pull, load), returning its metadata and a lease
    /// that keeps `remove`/`gc_layers` from deleting it until the image that uses it is
    /// registered (drop the lease after [`register`](Self::register)). With
    /// `expected_diff_id`, a layer whose content has another digest is refused (Docker's
    /// `invalid diffID for layer` text uses `index`) and nothing is kept.
    pub fn add_layer(
        &self,
        parent: Option<&str>,
        tar: impl Read,
        expected_diff_id: Option<(usize, &str)>,
    ) -> Result<LayerLease<'_>, ImageError> {
        if let Some(p) = parent {
            self.layers.meta(p)?;
        }
        let pending = self.prepare_layer(parent, tar, expected_diff_id)?;
        self.commit_layer(pending)
    }

    /// The first half of [`add_layer`](Self::add_layer), safe to run for several layers
    /// of one image at once: unpack into a temp dir and check the diff id, without
    /// needing `parent` registered yet.
    pub fn prepare_layer(
        &self,
        parent: Option<&str>,
        tar: impl Read,
        expected_diff_id: Option<(usize, &str)>,
    ) -> Result<PendingLayer, ImageError> {
        let pending = self.layers.prepare_detached(parent, tar)?;
        check_diff_id(&pending, expected_diff_id)?;
        Ok(pending)
    }

    /// [`prepare_layer`](Self::prepare_layer) for a pulled gzip blob `kept`, kept as the
    /// layer's archive (see [`KeptArchive`]); `tar` is its decompressing reader, read on
    /// a helper thread.
    pub fn prepare_pulled_layer(
        &self,
        parent: Option<&str>,
        tar: impl Read + Send,
        expected_diff_id: Option<(usize, &str)>,
        kept: &KeptArchive<'_>,
    ) -> Result<PendingLayer, ImageError> {
        let pending = self.layers.prepare_kept_detached(parent, tar, kept)?;
        check_diff_id(&pending, expected_diff_id)?;
        Ok(pending)
    }

    /// The second half: register a prepared layer (its parent must be present by now)
    /// and lease it until the image that uses it is registered.
    pub fn commit_layer(&self, pending: PendingLayer) -> Result<LayerLease<'_>, ImageError> {
        let mut inner = self.lock();
        let meta = self.layers.commit(pending)?;
        *inner.pinned.entry(meta.chain_id.clone()).or_default() += 1;
        Ok(LayerLease { store: self, meta })
    }

    /// A lease on a layer that is already present (`NotFound` otherwise), so it cannot
    /// be deleted before the image being assembled refers to it.
    pub fn lease_layer(&self, chain_id: &str) -> Result<LayerLease<'_>, ImageError> {
        let mut inner = self.lock();
        let meta = self.layers.meta(chain_id)?;
        *inner.pinned.entry(meta.chain_id.clone()).or_default() += 1;
        Ok(LayerLease { store: self, meta })
    }

    /// Register an image whose layers are all present: store the config blob and the
    /// metadata, index it, and point `reference` at it. (Used by import; pull, load and
    /// commit will use it too.)
    pub fn register(
        &self,
        config_bytes: &[u8],
        parent: String,
        reference: Option<&Reference>,
    ) -> Result<ImageId, ImageError> {
        let mut inner = self.lock();
        self.register_locked(&mut inner, config_bytes, parent, reference)
    }

    fn register_locked(
        &self,
        inner: &mut Inner,
        config_bytes: &[u8],
        parent: String,
        reference: Option<&Reference>,
    ) -> Result<ImageId, ImageError> {
        let config: ImageConfigFile = serde_json::from_slice(config_bytes)
            .map_err(|e| ImageError::invalid(format!("invalid image config: {e}")))?;
        let id = ImageId::of_config(config_bytes);
        for c in chain_ids(&config.rootfs.diff_ids) {
            self.layers.meta(&c)?;
        }
        self.write_blob(config_bytes)?;
        let meta = ImageMeta {
            parent: parent.clone(),
        };
        let meta_bytes = serde_json::to_vec(&meta)
            .map_err(|e| ImageError::io("encode image meta", io::Error::other(e)))?;
        write_atomic(&self.meta_path(id.hex()), &meta_bytes)
            .ctx(|| format!("write metadata of {id}"))?;
        let rec = self.record(id.clone(), config, parent);
        inner.images.insert(id.hex().to_string(), rec);
        if let Some(r) = reference {
            inner.tags.set(r, &id)?;
        }
        Ok(id)
    }

    fn to_image(inner: &Inner, rec: &Record) -> Image {
        let mut repo_tags = Vec::new();
        let mut repo_digests = Vec::new();
        for r in inner.tags.references(&rec.id) {
            if r.digest().is_some() {
                repo_digests.push(r.familiar());
            } else {
                repo_tags.push(r.familiar());
            }
        }
        Image {
            id: rec.id.clone(),
            repo_tags,
            repo_digests,
            created: rec.config.created.clone().unwrap_or_default(),
            size: rec.size,
            config: rec.config.clone(),
            parent: rec.parent.clone(),
        }
    }

    /// Find the image for a lookup string, Docker's way: a 64-hex or `sha256:<64 hex>` id;
    /// else a reference (tag `latest` added) in the tag store; else a unique id prefix
    /// (with or without `sha256:`). Ambiguous prefixes are "No such image" as in Docker.
    fn lookup(inner: &Inner, name_or_id: &str) -> Result<ImageId, ImageError> {
        let s = name_or_id;
        if s.is_empty() {
            return Err(ImageError::invalid("invalid reference format"));
        }
        let full_hex = if is_hex64(s) { Some(s) } else { digest_hex(s) };
        if let Some(hex) = full_hex {
            return inner
                .images
                .get(hex)
                .map(|r| r.id.clone())
                .ok_or_else(|| not_found(s));
        }
        let r = match Reference::parse(s) {
            Ok(r) => r.with_default_tag(),
            // A malformed `sha256:<short>` is still a valid id prefix.
            Err(_) if s.starts_with("sha256:") => {
                return Self::by_prefix(inner, s).ok_or_else(|| not_found(s))
            }
            Err(e) => return Err(e),
        };
        if let Some(id) = inner.tags.get(&r) {
            if inner.images.contains_key(id.hex()) {
                return Ok(id);
            }
        }
        Self::by_prefix(inner, s).ok_or_else(|| not_found_for(s))
    }

    fn by_prefix(inner: &Inner, s: &str) -> Option<ImageId> {
        let p = s.strip_prefix("sha256:").unwrap_or(s);
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut it = inner
            .images
            .range(p.to_string()..)
            .take_while(|(k, _)| k.starts_with(p));
        let first = it.next()?;
        if it.next().is_some() {
            return None; // ambiguous
        }
        Some(first.1.id.clone())
    }

    /// The image for a reference, a full id, id hex or a unique short id.
    pub fn resolve(&self, name_or_id: &str) -> Result<Image, ImageError> {
        let inner = self.lock();
        let id = Self::lookup(&inner, name_or_id)?;
        let rec = inner
            .images
            .get(id.hex())
            .ok_or_else(|| not_found(name_or_id))?;
        Ok(Self::to_image(&inner, rec))
    }

    /// All images, newest first; dangling images have empty `repo_tags`.
    pub fn list(&self) -> Vec<Image> {
        let inner = self.lock();
        let mut out: Vec<Image> = inner
            .images
            .values()
            .map(|r| Self::to_image(&inner, r))
            .collect();
        out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        out
    }

    /// `docker tag SOURCE TARGET`: point `reference` (tag `latest` added) at the image
    /// `id_or_ref` resolves to, moving it away from any other image.
    pub fn tag(&self, id_or_ref: &str, reference: &str) -> Result<(), ImageError> {
        let target = Reference::parse_tagged(reference)?;
        if target.digest().is_some() {
            return Err(ImageError::invalid(
                "refusing to create a tag with a digest reference",
            ));
        }
        self.tag_reference(id_or_ref, &target)
    }

    /// [`tag`](Self::tag) with an already parsed target, e.g. from
    /// [`Reference::from_repo_tag`] for the API's `repo`/`tag` parameters.
    pub fn tag_reference(&self, id_or_ref: &str, target: &Reference) -> Result<(), ImageError> {
        let target = target.clone().with_default_tag();
        if target.digest().is_some() {
            return Err(ImageError::invalid(
                "refusing to create a tag with a digest reference",
            ));
        }
        if target.familiar_name() == "sha256" {
            return Err(ImageError::invalid(
                "refusing to create an ambiguous tag using digest algorithm as name",
            ));
        }
        let mut inner = self.lock();
        let id = Self::lookup(&inner, id_or_ref)?;
        inner.tags.set(&target, &id)
    }

    /// Point a reference (tag or `name@digest`, e.g. a pulled manifest digest) at image
    /// `id` without `docker tag`'s checks. For pull and load.
    pub fn set_reference(&self, id: &ImageId, r: &Reference) -> Result<(), ImageError> {
        let mut inner = self.lock();
        if !inner.images.contains_key(id.hex()) {
            return Err(not_found(id.as_str()));
        }
        inner.tags.set(&r.clone().with_default_tag(), id)
    }

    /// Delete layers no image uses any more and whose diff dir is not in `keep` (the
    /// lower dirs of existing containers, supplied by the engine). Layers of an image
    /// force-removed while a stopped container used it are kept by `remove`; call this
    /// after such containers are gone. Returns the chain ids deleted.
    pub fn gc_layers(&self, keep: &[PathBuf]) -> Result<Vec<String>, ImageError> {
        let inner = self.lock();
        let used: BTreeSet<&String> = inner.images.values().flat_map(|r| r.chain.iter()).collect();
        let mut removed = Vec::new();
        let rd = fs::read_dir(self.root.join("layers")).ctx(|| "read layers".to_string())?;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !is_hex64(&name) {
                continue;
            }
            let chain = format!("sha256:{name}");
            let diff = e.path().join("diff");
            if used.contains(&chain)
                || inner.pinned.contains_key(&chain)
                || keep.iter().any(|k| k == &diff)
            {
                continue;
            }
            self.layers.remove(&chain)?;
            removed.push(chain);
        }
        removed.sort();
        Ok(removed)
    }

    /// Overlay lower dirs of an image, top-most layer first.
    pub fn layer_dirs(&self, id: &ImageId) -> Result<Vec<PathBuf>, ImageError> {
        let inner = self.lock();
        let rec = inner
            .images
            .get(id.hex())
            .ok_or_else(|| not_found(id.as_str()))?;
        rec.chain
            .iter()
            .rev()
            .map(|c| self.layers.diff_dir(c))
            .collect()
    }

    /// Chain ids of an image's layers, bottom first (for export, save, push).
    pub fn chain_ids(&self, id: &ImageId) -> Result<Vec<String>, ImageError> {
        let inner = self.lock();
        let rec = inner
            .images
            .get(id.hex())
            .ok_or_else(|| not_found(id.as_str()))?;
        Ok(rec.chain.clone())
    }

    /// The layer store, for subsystems that add layers (pull, load, commit).
    pub fn layers(&self) -> &LayerStore {
        &self.layers
    }

    /// Docker's `rmi`.
    ///
    /// `in_use(image_id)` is supplied by the engine: it returns a container using that
    /// image (full `sha256:` id passed in), preferring a running one, or `None`.
    /// - By reference: the tag is removed (`Untagged`). If it was the image's last
    ///   reference, the image is deleted too (`Deleted` for the image id and for each
    ///   layer no other image uses). A last reference used by a container is refused
    ///   unless `force`; with `force` the image is only untagged and left dangling.
    /// - By id: with one reference (or only references of one repository) all of them
    ///   are removed and the image deleted; with several, `force` is required. A
    ///   stopped container blocks unless `force`; a running one always blocks.
    ///
    /// `prune_parents` also removes now-unused untagged parents (images from commit).
    pub fn remove(
        &self,
        name_or_id: &str,
        force: bool,
        prune_parents: bool,
        in_use: &dyn Fn(&str) -> Option<ContainerUse>,
    ) -> Result<Vec<RemovedItem>, ImageError> {
        let mut inner = self.lock();
        let id = Self::lookup(&inner, name_or_id)?;
        let mut records = Vec::new();
        let refs = inner.tags.references(&id);
        let mut quiet = false;
        if !is_id_prefix(&id, name_or_id) {
            if !force && is_single_reference(&refs) {
                if let Some(c) = in_use(id.as_str()) {
                    return Err(ImageError::Conflict(format!(
                        "conflict: unable to remove repository reference \"{name_or_id}\" (must force) - container {} is using its referenced image {}",
                        short_id(&c.id),
                        id.short()
                    )));
                }
            }
            let r = Reference::parse_tagged(name_or_id)?;
            inner.tags.delete(&r)?;
            records.push(RemovedItem::Untagged(r.familiar()));
            let mut remaining = inner.tags.references(&id);
            // Removing the last tag of a repository drops that repository's digests too.
            if r.digest().is_none()
                && !remaining
                    .iter()
                    .any(|x| x.digest().is_none() && x.familiar_name() == r.familiar_name())
            {
                let mut kept = Vec::new();
                for x in remaining {
                    if x.digest().is_some() && x.familiar_name() == r.familiar_name() {
                        inner.tags.delete(&x)?;
                        records.push(RemovedItem::Untagged(x.familiar()));
                    } else {
                        kept.push(x);
                    }
                }
                remaining = kept;
            }
            if !remaining.is_empty() {
                return Ok(records);
            }
            quiet = true;
        } else if is_single_reference(&refs) {
            // Hard conflicts (and stopped containers unless forced) are checked before
            // any reference is removed.
            if inner.images.values().any(|r| r.parent == id.as_str()) {
                return Err(ImageError::Conflict(format!(
                    "conflict: unable to delete {} (cannot be forced) - image has dependent child images",
                    id.short()
                )));
            }
            if let Some(c) = in_use(id.as_str()) {
                if c.running || !force {
                    return Err(use_conflict(&id, &c));
                }
            }
            for r in refs {
                inner.tags.delete(&r)?;
                records.push(RemovedItem::Untagged(r.familiar()));
            }
        }
        self.delete_image(
            &mut inner,
            &id,
            force,
            prune_parents,
            quiet,
            in_use,
            &mut records,
        )?;
        Ok(records)
    }

    #[allow(clippy::too_many_arguments)]
    fn delete_image(
        &self,
        inner: &mut Inner,
        id: &ImageId,
        force: bool,
        prune: bool,
        quiet: bool,
        in_use: &dyn Fn(&str) -> Option<ContainerUse>,
        records: &mut Vec<RemovedItem>,
    ) -> Result<(), ImageError> {
        // Conflicts, in Docker's order: children and running containers (hard), then
        // references and stopped containers (soft, overridden by force).
        let has_children = inner.images.values().any(|r| r.parent == id.as_str());
        let user = in_use(id.as_str());
        let conflict = if has_children {
            Some((true, false, "image has dependent child images".to_string()))
        } else if let Some(c) = user.as_ref().filter(|c| c.running) {
            Some((
                true,
                true,
                format!(
                    "image is being used by running container {}",
                    short_id(&c.id)
                ),
            ))
        } else if !force && !inner.tags.references(id).is_empty() {
            Some((
                false,
                false,
                "image is referenced in multiple repositories".to_string(),
            ))
        } else {
            user.as_ref().filter(|_| !force).map(|c| {
                let msg = format!(
                    "image is being used by stopped container {}",
                    short_id(&c.id)
                );
                (false, true, msg)
            })
        };
        if let Some((hard, used, message)) = conflict {
            // Docker's "dangling": no references and no child images.
            let dangling = inner.tags.references(id).is_empty() && !has_children;
            if quiet && (!dangling || used) {
                // The untag already did what was asked; the image stays (dangling).
                return Ok(());
            }
            let how = if hard {
                "cannot be forced"
            } else {
                "must be forced"
            };
            return Err(ImageError::Conflict(format!(
                "conflict: unable to delete {} ({how}) - {message}",
                id.short()
            )));
        }
        // Forced removal by id: drop every remaining reference.
        for r in inner.tags.references(id) {
            inner.tags.delete(&r)?;
            records.push(RemovedItem::Untagged(r.familiar()));
        }
        let Some(rec) = inner.images.get(id.hex()).cloned() else {
            return Ok(());
        };
        let _ = fs::remove_file(self.meta_path(id.hex()));
        let _ = fs::remove_file(self.blob_path(id.hex()));
        inner.images.remove(id.hex());
        records.push(RemovedItem::Deleted(id.as_str().to_string()));
        // Layers of a (stopped) container's image stay: its rootfs still needs them.
        if user.is_none() {
            let used: BTreeSet<&String> =
                inner.images.values().flat_map(|r| r.chain.iter()).collect();
            for c in rec.chain.iter().rev() {
                if !used.contains(c) && !inner.pinned.contains_key(c) {
                    self.layers.remove(c)?;
                    records.push(RemovedItem::Deleted(c.clone()));
                }
            }
        }
        if prune && !rec.parent.is_empty() {
            if let Some(pid) = ImageId::parse(&rec.parent) {
                if inner.images.contains_key(pid.hex()) && inner.tags.references(&pid).is_empty() {
                    self.delete_image(inner, &pid, false, true, true, in_use, records)?;
                }
            }
        }
        Ok(())
    }
}

fn use_conflict(id: &ImageId, c: &ContainerUse) -> ImageError {
    let (how, state) = if c.running {
        ("cannot be forced", "running")
    } else {
        ("must be forced", "stopped")
    };
    ImageError::Conflict(format!(
        "conflict: unable to delete {} ({how}) - image is being used by {state} container {}",
        id.short(),
        short_id(&c.id)
    ))
}

/// Whether the user named the image by (a prefix of) its id.
fn is_id_prefix(id: &ImageId, s: &str) -> bool {
    id.as_str().starts_with(s) || id.hex().starts_with(s)
}

/// One tag (plus digests of that same repository), or a single reference.
fn is_single_reference(refs: &[Reference]) -> bool {
    if refs.len() <= 1 {
        return refs.len() == 1;
    }
    let mut single: Option<&Reference> = None;
    let mut canonical: BTreeSet<String> = BTreeSet::new();
    for r in refs {
        if r.digest().is_some() {
            canonical.insert(r.familiar_name());
        } else if single.is_none() {
            single = Some(r);
        } else {
            return false;
        }
    }
    let single = single.unwrap_or(&refs[0]);
    canonical.len() == 1 && canonical.contains(&single.familiar_name())
}

/// A layer that did not unpack to the diff id its image config names is refused.
fn check_diff_id(
    pending: &PendingLayer,
    expected: Option<(usize, &str)>,
) -> Result<(), ImageError> {
    if let Some((index, want)) = expected {
        let got = &pending.meta().diff_id;
        if got != want {
            return Err(ImageError::invalid(format!(
                "invalid diffID for layer {index}: expected {want:?}, got {got:?}"
            )));
        }
    }
    Ok(())
}
