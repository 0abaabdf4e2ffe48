//! `docker push` (`POST /images/{name}/push?tag=`): upload an image's layers, config and
//! a Docker v2 schema 2 manifest to the registry its name points at.
//!
//! For each layer, the candidate blobs are the compressed blobs it was pulled as (from
//! the distribution metadata, `distribution.rs`) and the layer store's own
//! `layer.tar.gz`, a gzip of the exact layer tar, written once (for an imported or
//! committed layer, at its first push) and kept, so the layer has a stable digest. A layer is
//! skipped when the repository already has a candidate ("Layer already exists"),
//! mounted from another repository of the same registry known to hold it ("Mounted
//! from …"), or else uploaded ("Pushed"). The manifest goes up under the tag; its digest
//! becomes the image's RepoDigest.

use std::fs;
use std::io;
use std::sync::Arc;

use berth_image::{Image, ImageStore, Reference};
use berth_registry::manifest::{DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST_V2};
use berth_registry::{Access, Descriptor, Digest, ImageManifest, MountResult, Repo};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::distribution::{credentials, registry_error, CountingReader, Distribution, Progress};
use crate::pull::{registry_reference, short};
use crate::{Engine, EngineError, Result};

/// File name of the layer store's kept archive inside a layer dir.
const LAYER_ARCHIVE: &str = "layer.tar.gz";

impl Engine {
    /// Push `reference` (`name:tag`, or `name` for every tag of the repository). `auth`
    /// is the raw `X-Registry-Auth` header. A missing local image is the returned error;
    /// registry errors end the progress stream as Docker's `{"error": …}` message.
    pub async fn image_push(
        &self,
        reference: &str,
        auth: Option<&str>,
    ) -> Result<mpsc::Receiver<Value>> {
        let r = Reference::parse(reference)?;
        if r.digest().is_some() {
            return Err(EngineError::invalid(format!(
                "cannot push a digest reference: {reference}"
            )));
        }
        let missing = || {
            EngineError::not_found(format!(
                "An image does not exist locally with the tag: {}",
                r.familiar_name()
            ))
        };
        let mut targets: Vec<(Reference, Image)> = Vec::new();
        match r.tag() {
            Some(_) => {
                let img = self.images.resolve(&r.familiar()).map_err(|_| missing())?;
                targets.push((r.clone(), img));
            }
            None => {
                for img in self.images.list() {
                    for t in &img.repo_tags {
                        if let Ok(tr) = Reference::parse(t) {
                            if tr.name() == r.name() {
                                targets.push((tr, img.clone()));
                            }
                        }
                    }
                }
                targets.sort_by_key(|(t, _)| t.familiar());
                if targets.is_empty() {
                    return Err(missing());
                }
            }
        }
        let reg_ref = registry_reference(&r)?;
        let creds = credentials(auth)?;
        let dist = self.dist();
        let repo = dist
            .client()?
            .repo(reg_ref.repository(), creds, Access::Push);
        let (progress, rx) = Progress::new(64);
        let job = PushJob {
            images: self.images.clone(),
            dist,
            repo,
            progress,
        };
        let engine = self.arc();
        tokio::task::spawn_blocking(move || {
            job.progress.status(format!(
                "The push refers to repository [{}]",
                job.repo.repository().full_name()
            ));
            for (tag_ref, image) in targets {
                if let Err(e) = job.push_one(&tag_ref, &image) {
                    job.progress.error(&e.message);
                    return;
                }
                if let Some(e) = &engine {
                    let name = tag_ref.familiar();
                    e.image_event("push", &name, &name);
                }
            }
        });
        Ok(rx)
    }
}

/// One push: the repository handle and what it needs locally.
struct PushJob {
    images: Arc<ImageStore>,
    dist: Arc<Distribution>,
    repo: Repo,
    progress: Progress,
}

impl PushJob {
    /// Push one tag of one image; records the manifest digest as a RepoDigest.
    fn push_one(&self, tag_ref: &Reference, image: &Image) -> Result<()> {
        let tag = tag_ref.tag().unwrap_or(berth_image::reference::DEFAULT_TAG);
        let chain = self.images.chain_ids(&image.id)?;
        let diff_ids = &image.config.rootfs.diff_ids;
        for d in diff_ids {
            self.progress.step(&short(d), "Preparing");
        }
        let mut layers = Vec::with_capacity(chain.len());
        for (i, c) in chain.iter().enumerate() {
            layers.push(self.push_layer(c, &diff_ids[i])?);
        }
        let config = self.images.config_bytes(&image.id)?;
        let config_digest = Digest::of(&config);
        if self
            .repo
            .blob_exists(&config_digest)
            .map_err(registry_error)?
            .is_none()
        {
            self.repo
                .upload_blob(&config_digest, config.len() as u64, &mut &config[..])
                .map_err(registry_error)?;
        }
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(DOCKER_MANIFEST_V2.into()),
            config: Descriptor::new(DOCKER_CONFIG, &config_digest, config.len() as u64),
            layers,
            annotations: None,
        };
        let bytes = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| EngineError::internal(format!("encode manifest: {e}")))?;
        let digest = self
            .repo
            .put_manifest(tag, DOCKER_MANIFEST_V2, &bytes)
            .map_err(registry_error)?;
        self.images
            .set_reference(&image.id, &tag_ref.with_digest(digest.as_str())?)?;
        self.progress
            .status(format!("{tag}: digest: {digest} size: {}", bytes.len()));
        self.progress.send(json!({
            "progressDetail": {},
            "aux": { "Tag": tag, "Digest": digest.as_str(), "Size": bytes.len() },
        }));
        Ok(())
    }

    /// Make one layer present in the repository; returns its manifest descriptor.
    fn push_layer(&self, chain_id: &str, diff_id: &str) -> Result<Descriptor> {
        let id = short(diff_id);
        let target = self.repo.repository().full_name();
        // A layer made here is kept plain until its first push needs the gzip.
        let meta = self.images.layers().compressed(chain_id)?;
        let archive = self
            .images
            .layers()
            .layer_path(chain_id)?
            .join(LAYER_ARCHIVE);
        // Candidates: blobs this layer was pulled as first (gzip ones: the manifest we
        // write is Docker's, which has no zstd layer type), then our own archive.
        let mut candidates: Vec<(String, u64, Vec<String>)> = self
            .dist
            .blobs_of(diff_id)
            .into_iter()
            .filter(|(_, i)| i.is_gzip())
            .map(|(d, i)| (d, i.size, i.repos))
            .collect();
        if !meta.archive_digest.is_empty() && !candidates.iter().any(|c| c.0 == meta.archive_digest)
        {
            let repos = self
                .dist
                .info(&meta.archive_digest)
                .map(|i| i.repos)
                .unwrap_or_default();
            candidates.push((meta.archive_digest.clone(), meta.archive_size, repos));
        }
        let descriptor = |digest: &Digest, size: u64| {
            self.dist
                .record(digest.as_str(), diff_id, size, Some(&target));
            Descriptor::new(DOCKER_LAYER_GZIP, digest, size)
        };
        for (d, size, _) in &candidates {
            let digest = Digest::parse(d).map_err(registry_error)?;
            if self
                .repo
                .blob_exists(&digest)
                .map_err(registry_error)?
                .is_some()
            {
                self.progress.step(&id, "Layer already exists");
                return Ok(descriptor(&digest, *size));
            }
        }
        // A mount from a sibling repository needs a local copy only if it is declined.
        let domain_prefix = format!("{}/", self.repo.repository().domain());
        let mut session = None;
        'mount: for (d, size, repos) in &candidates {
            if self.local_source(d, *size, &archive, &meta).is_none() {
                continue;
            }
            let digest = Digest::parse(d).map_err(registry_error)?;
            for from in repos {
                let Some(path) = from.strip_prefix(&domain_prefix) else {
                    continue;
                };
                if *from == target {
                    continue;
                }
                match self
                    .repo
                    .mount_blob(&digest, path)
                    .map_err(registry_error)?
                {
                    MountResult::Mounted => {
                        self.progress.step(&id, &format!("Mounted from {path}"));
                        return Ok(descriptor(&digest, *size));
                    }
                    MountResult::Upload(s) => {
                        session = Some((d.clone(), s));
                        break 'mount;
                    }
                }
            }
        }
        // Upload: the declined mount's blob in its session, else the first local one.
        let (d, size, path) = match &session {
            Some((d, _)) => {
                let size = candidates.iter().find(|c| &c.0 == d).map_or(0, |c| c.1);
                let path = self
                    .local_source(d, size, &archive, &meta)
                    .ok_or_else(|| EngineError::internal(format!("blob {d} vanished")))?;
                (d.clone(), size, path)
            }
            None => candidates
                .iter()
                .find_map(|(d, size, _)| {
                    self.local_source(d, *size, &archive, &meta)
                        .map(|p| (d.clone(), *size, p))
                })
                .ok_or_else(|| {
                    EngineError::internal(format!("layer {diff_id} has no stored archive to push"))
                })?,
        };
        let digest = Digest::parse(&d).map_err(registry_error)?;
        let f = fs::File::open(&path)
            .map_err(|e| EngineError::io(format!("open {}", path.display()), e))?;
        let mut reader = CountingReader {
            inner: io::BufReader::new(f),
            progress: &self.progress,
            id: &id,
            status: "Pushing",
            total: size,
            done: 0,
            last: 0,
        };
        match session {
            Some((_, s)) => self.repo.upload_blob_in(s, &digest, size, &mut reader),
            None => self.repo.upload_blob(&digest, size, &mut reader),
        }
        .map_err(registry_error)?;
        self.progress.step(&id, "Pushed");
        Ok(descriptor(&digest, size))
    }

    /// A local file holding blob `digest` of `size` bytes: the pull cache, or the layer
    /// store's archive when that is the blob.
    fn local_source(
        &self,
        digest: &str,
        size: u64,
        archive: &std::path::Path,
        meta: &berth_image::layers::LayerMeta,
    ) -> Option<std::path::PathBuf> {
        if let Some(p) = self.dist.cached_blob(digest, size) {
            return Some(p);
        }
        let len = fs::metadata(archive).ok()?.len();
        (digest == meta.archive_digest && len == size).then(|| archive.to_path_buf())
    }
}
