//! `docker pull` (`POST /images/create?fromImage=`): resolve the reference to a manifest
//! (through an index for the wanted platform), then fetch the config and the layers and
//! register the image with its tag and RepoDigest.
//!
//! The manifest is resolved before the reply starts, so "manifest unknown" or "pull
//! access denied" reach the client as the HTTP error, like Docker's. Then, on blocking
//! threads: layers already unpacked are leased ("Already exists"); the others are
//! downloaded by up to [`CONCURRENT_DOWNLOADS`] threads into `distribution/tmp`, verified
//! against their digest by the registry client and only then renamed into the blob
//! cache (`distribution.rs`); the same thread then unpacks the layer into a temp dir
//! (layers unpack in parallel, each checked against its diff id from the config, the
//! gzip blob hard-linked in as the layer's archive), and this thread registers them in
//! order. Nothing is fsynced file by file: a background thread flushes the filesystem
//! (`syncfs`) each time a layer is in, while later ones still unpack, and one last
//! flush comes before the image is registered, which is only when every layer is in,
//! so a failed or interrupted pull leaves no image; what it already verified (cached
//! blobs, unpacked layers) is reused by the next pull, a cached blob being checked
//! again by its diff id as it unpacks. gzip's own CRC is not computed: the blob digest
//! and the diff id cover both sides of the inflate.

use std::collections::VecDeque;
use std::fs;
use std::io::{self, Read, Seek, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};

use berth_image::layers::{KeptArchive, PendingLayer};
use berth_image::{ImageConfigFile, ImageStore, LayerLease, Reference};
use berth_registry::{Access, Descriptor, Digest, Platform, Repo, ResolvedImage};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::distribution::{
    credentials, registry_error, CountingReader, Distribution, PartialBlob, Progress,
};
use crate::{lock, Engine, EngineError, Result};

/// Layers downloaded at the same time (Docker's default `max-concurrent-downloads`).
const CONCURRENT_DOWNLOADS: usize = 3;

/// The registry client's reference for an image-store reference (already validated with
/// Docker's texts by the image store's parser).
pub(crate) fn registry_reference(r: &Reference) -> Result<berth_registry::Reference> {
    let repo = berth_registry::Repository::new(r.domain(), r.path()).map_err(registry_error)?;
    let digest = match r.digest() {
        Some(d) => Some(Digest::parse(d).map_err(registry_error)?),
        None => None,
    };
    berth_registry::Reference::from_parts(repo, r.tag(), digest).map_err(registry_error)
}

/// First 12 hex digits of a digest: the id Docker shows for a layer.
pub(crate) fn short(digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    hex[..hex.len().min(12)].to_string()
}

impl Engine {
    /// Pull `reference` (`name[:tag]` or `name@digest`; tag `latest` by default) for
    /// `platform` (`os/arch[/variant]`, default the host's). `auth` is the raw
    /// `X-Registry-Auth` header. Errors resolving the manifest are returned; later ones
    /// end the progress stream as Docker's `{"error": …}` message.
    pub async fn image_pull(
        &self,
        reference: &str,
        platform: Option<&str>,
        auth: Option<&str>,
    ) -> Result<mpsc::Receiver<Value>> {
        let img_ref = Reference::parse(reference)?.with_default_tag();
        let reg_ref = registry_reference(&img_ref)?;
        let creds = credentials(auth)?;
        let explicit = platform.is_some_and(|p| !p.is_empty());
        let platform = match platform.filter(|p| !p.is_empty()) {
            Some(p) => Platform::parse(p).map_err(registry_error)?,
            None => Platform::host(),
        };
        let dist = self.dist();
        let repo = dist
            .client()?
            .repo(reg_ref.repository(), creds, Access::Pull);
        let mref = reg_ref.manifest_reference();
        let r2 = repo.clone();
        let shown = img_ref.familiar();
        let (resolved, config) = tokio::task::spawn_blocking(move || {
            let resolved = r2.resolve_image(&mref, &platform).map_err(registry_error)?;
            // A single-platform image is checked against an explicit `--platform`
            // (an index was already resolved for it); its config is needed anyway.
            if !explicit || resolved.index.is_some() {
                return Ok::<_, EngineError>((resolved, None));
            }
            let desc = &resolved.image.config;
            let digest = Digest::parse(&desc.digest).map_err(registry_error)?;
            let bytes = r2
                .fetch_blob_bytes(&digest, Some(desc.size))
                .map_err(registry_error)?;
            let cfg: ImageConfigFile = serde_json::from_slice(&bytes)
                .map_err(|e| EngineError::internal(format!("invalid image config: {e}")))?;
            if let Some(e) = crate::images::platform_mismatch(
                &shown,
                &platform,
                &cfg.os,
                &cfg.architecture,
                &cfg.variant,
            ) {
                return Err(e);
            }
            Ok((resolved, Some(bytes)))
        })
        .await??;
        let (progress, rx) = Progress::new(64);
        let job = PullJob {
            images: self.images.clone(),
            dist,
            repo,
            img_ref,
            resolved,
            config,
            progress,
        };
        let engine = self.arc();
        tokio::task::spawn_blocking(move || match job.run() {
            Ok(()) => {
                if let Some(e) = engine {
                    let name = job.img_ref.familiar();
                    e.image_event("pull", &name, &name);
                }
            }
            Err(e) => job.progress.error(&e.message),
        });
        Ok(rx)
    }
}

/// One pull after its manifest was resolved.
struct PullJob {
    images: Arc<ImageStore>,
    dist: Arc<Distribution>,
    repo: Repo,
    img_ref: Reference,
    resolved: ResolvedImage,
    /// The config blob when it was already fetched (platform check).
    config: Option<Vec<u8>>,
    progress: Progress,
}

/// What has to happen to one layer.
enum LayerState<'a> {
    /// Already unpacked: leased until the image is registered.
    Present(LayerLease<'a>),
    /// Its compressed blob is cached: only unpack.
    Cached,
    /// Download, then unpack.
    Fetch,
}

impl PullJob {
    fn run(&self) -> Result<()> {
        let p = &self.progress;
        let r = &self.img_ref;
        let id = r
            .digest()
            .or(r.tag())
            .unwrap_or(berth_image::reference::DEFAULT_TAG);
        p.send(json!({
            "status": format!("Pulling from {}", self.repo.repository().path()),
            "id": id,
        }));
        let cfg_desc = &self.resolved.image.config;
        let image_id = Digest::parse(&cfg_desc.digest).map_err(registry_error)?;
        let exists = self.images.resolve(image_id.as_str()).is_ok();
        // The blobs of this pull stay out of the cache's garbage collection until the
        // image is registered (then its diff ids keep them).
        let pins = self
            .dist
            .pin(self.resolved.image.layers.iter().map(|l| l.digest.clone()));
        let mut leases = Vec::new();
        let config_bytes = if exists {
            self.local_config(&image_id)?
        } else {
            let bytes = match &self.config {
                Some(b) => b.clone(),
                None => self
                    .repo
                    .fetch_blob_bytes(&image_id, Some(cfg_desc.size))
                    .map_err(registry_error)?,
            };
            self.fetch_layers(&bytes, &mut leases)?;
            bytes
        };
        // What the tag (or `name@digest`) pointed to before: unchanged = "up to date".
        let previous = self.images.resolve(&r.familiar()).ok().map(|i| i.id);
        let new_id =
            self.images
                .register(&config_bytes, String::new(), r.tag().is_some().then_some(r))?;
        drop(leases);
        drop(pins);
        let repo_digest = self.resolved.repo_digest().to_string();
        self.images
            .set_reference(&new_id, &r.with_digest(&repo_digest)?)?;
        p.status(format!("Digest: {repo_digest}"));
        if previous.as_ref() == Some(&new_id) {
            p.status(format!("Status: Image is up to date for {}", r.familiar()));
        } else {
            p.status(format!(
                "Status: Downloaded newer image for {}",
                r.familiar()
            ));
        }
        Ok(())
    }

    /// The config of an image already in the store (its id is the config digest).
    fn local_config(&self, image_id: &Digest) -> Result<Vec<u8>> {
        let id = berth_image::ImageId::parse(image_id.as_str())
            .ok_or_else(|| EngineError::internal(format!("invalid image id {image_id}")))?;
        Ok(self.images.config_bytes(&id)?)
    }

    /// Make every layer of the image present, leasing each until registration.
    fn fetch_layers<'s>(
        &'s self,
        config_bytes: &[u8],
        leases: &mut Vec<LayerLease<'s>>,
    ) -> Result<()> {
        let config: ImageConfigFile = serde_json::from_slice(config_bytes)
            .map_err(|e| EngineError::internal(format!("invalid image config: {e}")))?;
        let diff_ids = &config.rootfs.diff_ids;
        let layers = &self.resolved.image.layers;
        if diff_ids.len() != layers.len() {
            return Err(EngineError::internal(
                "layers from manifest don't match image configuration",
            ));
        }
        let chain = berth_image::digest::chain_ids(diff_ids);
        let mut states = Vec::with_capacity(layers.len());
        for (i, desc) in layers.iter().enumerate() {
            let state = match self.images.lease_layer(&chain[i]) {
                Ok(lease) => {
                    self.progress.step(&short(&desc.digest), "Already exists");
                    LayerState::Present(lease)
                }
                Err(_) if self.dist.cached_blob(&desc.digest, desc.size).is_some() => {
                    self.progress.step(&short(&desc.digest), "Pulling fs layer");
                    LayerState::Cached
                }
                Err(_) => {
                    self.progress.step(&short(&desc.digest), "Pulling fs layer");
                    LayerState::Fetch
                }
            };
            states.push(state);
        }
        // Every layer not present is downloaded (unless its blob is cached) and then
        // unpacked into a temp dir by the same worker, so layers unpack in parallel;
        // this thread registers them in order (a layer's parent must be in first).
        let queue: Mutex<VecDeque<usize>> = Mutex::new(
            (0..layers.len())
                .filter(|i| !matches!(states[*i], LayerState::Present(_)))
                .collect(),
        );
        let fetch: Vec<bool> = states
            .iter()
            .map(|s| matches!(s, LayerState::Fetch))
            .collect();
        let abort = AtomicBool::new(false);
        let workers = lock(&queue).len().min(CONCURRENT_DOWNLOADS);
        // A directory on the filesystem that holds blobs and layers, for `syncfs`.
        let fs_dir = layers
            .first()
            .and_then(|l| self.dist.blob_path(&l.digest).ok())
            .and_then(|p| p.parent().map(|d| d.to_path_buf()));
        let result = std::thread::scope(|s| {
            let (done_tx, done_rx) = std_mpsc::channel::<(usize, Result<PendingLayer>)>();
            // Whenever a layer is in, the filesystem is flushed in the background: the
            // data written so far goes to the disk while later layers still unpack, so
            // the final sync below has only the last ones left to write.
            let (flush_tx, flush_rx) = std_mpsc::channel::<()>();
            if let Some(dir) = fs_dir.clone() {
                s.spawn(move || {
                    while flush_rx.recv().is_ok() {
                        while flush_rx.try_recv().is_ok() {}
                        berth_image::atomic::sync_filesystem(&dir);
                    }
                });
            }
            for _ in 0..workers {
                let done_tx = done_tx.clone();
                let (queue, abort, fetch, chain) = (&queue, &abort, &fetch, &chain);
                s.spawn(move || loop {
                    let Some(i) = lock(queue).pop_front() else {
                        return;
                    };
                    let parent = (i > 0).then(|| chain[i - 1].as_str());
                    // Blob and unpacked files alike are synced once for the whole image,
                    // before it is registered. A blob cached by a pull that failed
                    // before that sync is checked against its diff id when unpacked.
                    let res = berth_image::atomic::deferred_sync(|| {
                        if abort.load(Ordering::SeqCst) {
                            return Err(EngineError::internal("pull aborted"));
                        } else if fetch[i] {
                            self.download(&layers[i], &diff_ids[i], abort)?;
                        } else {
                            self.progress
                                .step(&short(&layers[i].digest), "Download complete");
                        }
                        self.extract(&layers[i], parent, i, &diff_ids[i])
                    });
                    if done_tx.send((i, res)).is_err() {
                        return;
                    }
                });
            }
            drop(done_tx);
            let mut ready: Vec<Option<Result<PendingLayer>>> =
                (0..layers.len()).map(|_| None).collect();
            let result = (|| -> Result<()> {
                for (i, state) in states.into_iter().enumerate() {
                    if let LayerState::Present(lease) = state {
                        leases.push(lease);
                        continue;
                    }
                    while ready[i].is_none() {
                        let (j, r) = done_rx
                            .recv()
                            .map_err(|_| EngineError::internal("layer download stopped"))?;
                        if r.is_ok() {
                            let _ = flush_tx.send(());
                        }
                        ready[j] = Some(r);
                    }
                    let pending = ready[i].take().expect("result received")?;
                    leases.push(self.images.commit_layer(pending)?);
                    self.progress
                        .step(&short(&layers[i].digest), "Pull complete");
                }
                Ok(())
            })();
            if result.is_err() {
                // Stop the other workers at their next write; their temp files go.
                abort.store(true, Ordering::SeqCst);
            }
            drop(flush_tx);
            result
        });
        if result.is_ok() {
            // The unpacked files reach the disk before an image refers to them.
            if let Some(dir) = &fs_dir {
                berth_image::atomic::sync_filesystem(dir);
            }
        }
        result
    }

    /// Download one layer blob into the cache, verified: into its `partial/` file,
    /// continuing what an interrupted pull left there, or (when another pull is
    /// downloading the same blob right now) into a fresh temp file.
    fn download(&self, desc: &Descriptor, diff_id: &str, abort: &AtomicBool) -> Result<()> {
        match self.dist.partial(&desc.digest) {
            Some(partial) => self.download_resumable(desc, diff_id, abort, &partial),
            None => self.download_fresh(desc, diff_id, abort),
        }
    }

    /// Download into `partial`, resuming from its current length with a Range request.
    /// A failed verification deletes the partial data; an interruption keeps it.
    fn download_resumable(
        &self,
        desc: &Descriptor,
        diff_id: &str,
        abort: &AtomicBool,
        partial: &PartialBlob<'_>,
    ) -> Result<()> {
        let id = short(&desc.digest);
        let digest = Digest::parse(&desc.digest).map_err(registry_error)?;
        let path = &partial.path;
        let io_err =
            |what: &str, e: io::Error| EngineError::io(format!("{what} {}", path.display()), e);
        let file = fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| io_err("open", e))?;
        let have = file.metadata().map_err(|e| io_err("stat", e))?.len();
        let mut prefix = fs::File::open(path).map_err(|e| io_err("open", e))?;
        let restart_file = file.try_clone().map_err(|e| io_err("open", e))?;
        let restarted = AtomicBool::new(false);
        let mut w = ProgressWriter {
            file: file.try_clone().map_err(|e| io_err("open", e))?,
            progress: &self.progress,
            id: &id,
            total: desc.size,
            done: have,
            last: have,
            abort,
            restarted: Some(&restarted),
        };
        let mut restart = || {
            restarted.store(true, Ordering::SeqCst);
            restart_file.set_len(0)
        };
        let res = self.repo.fetch_blob_resume(
            &digest,
            Some(desc.size),
            have,
            &mut prefix,
            &mut w,
            &mut restart,
        );
        if let Err(e) = res {
            if matches!(
                e,
                berth_registry::RegistryError::DigestMismatch { .. }
                    | berth_registry::RegistryError::SizeMismatch { .. }
            ) {
                partial.discard();
            }
            return Err(
                if abort.load(Ordering::SeqCst) || self.progress.cancelled() {
                    EngineError::internal("pull canceled")
                } else {
                    registry_error(e)
                },
            );
        }
        self.progress.step(&id, "Verifying Checksum");
        if !berth_image::atomic::sync_deferred() {
            file.sync_all().map_err(|e| io_err("sync", e))?;
        }
        let target = self.dist.blob_path(&desc.digest)?;
        fs::rename(path, &target)
            .map_err(|e| EngineError::io(format!("store blob {}", target.display()), e))?;
        self.finish_download(desc, diff_id, &id);
        Ok(())
    }

    /// Record a blob just renamed into the cache.
    fn finish_download(&self, desc: &Descriptor, diff_id: &str, id: &str) {
        self.dist.record_typed(
            &desc.digest,
            diff_id,
            desc.size,
            Some(&self.repo.repository().full_name()),
            &desc.media_type,
        );
        self.progress.step(id, "Download complete");
    }

    /// Download into a new temp file (deleted unless the blob verified).
    fn download_fresh(&self, desc: &Descriptor, diff_id: &str, abort: &AtomicBool) -> Result<()> {
        let id = short(&desc.digest);
        let digest = Digest::parse(&desc.digest).map_err(registry_error)?;
        let mut tmp = self.dist.temp_file()?;
        let file = tmp
            .file
            .take()
            .ok_or_else(|| EngineError::internal("temp file already closed"))?;
        let mut w = ProgressWriter {
            file,
            progress: &self.progress,
            id: &id,
            total: desc.size,
            done: 0,
            last: 0,
            abort,
            restarted: None,
        };
        self.repo
            .fetch_blob(&digest, Some(desc.size), &mut w)
            .map_err(|e| {
                if abort.load(Ordering::SeqCst) || self.progress.cancelled() {
                    EngineError::internal("pull canceled")
                } else {
                    registry_error(e)
                }
            })?;
        self.progress.step(&id, "Verifying Checksum");
        tmp.file = Some(w.file);
        tmp.persist(&self.dist.blob_path(&desc.digest)?)?;
        self.finish_download(desc, diff_id, &id);
        Ok(())
    }

    /// Unpack a cached blob as layer `index` on top of `parent` into a temp dir,
    /// checking its diff id; a gzip blob is kept as the layer's archive.
    fn extract(
        &self,
        desc: &Descriptor,
        parent: Option<&str>,
        index: usize,
        diff_id: &str,
    ) -> Result<PendingLayer> {
        let id = short(&desc.digest);
        let path = self.dist.blob_path(&desc.digest)?;
        let mut f = fs::File::open(&path)
            .map_err(|e| EngineError::io(format!("open {}", path.display()), e))?;
        let mut magic = [0u8; 2];
        let gzip = f.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
        f.seek(io::SeekFrom::Start(0))
            .map_err(|e| EngineError::io(format!("read {}", path.display()), e))?;
        let counting = CountingReader {
            inner: f,
            progress: &self.progress,
            id: &id,
            status: "Extracting",
            total: desc.size,
            done: 0,
            last: 0,
        };
        // The blob was verified by its digest, and what it unpacks to is verified by
        // the diff id: gzip's CRC-32 would check nothing more.
        let tar = berth_image::compression::decompress_digest_verified(
            io::BufReader::with_capacity(256 << 10, counting),
        )?;
        let kept = gzip.then(|| KeptArchive {
            path: &path,
            digest: &desc.digest,
            size: desc.size,
        });
        let expected = Some((index, diff_id));
        match &kept {
            Some(k) => self.images.prepare_pulled_layer(parent, tar, expected, k),
            None => self.images.prepare_layer(parent, tar, expected),
        }
        .map_err(|e| {
            // A blob that does not unpack to its diff id must not be reused.
            let _ = fs::remove_file(&path);
            e.into()
        })
    }
}

/// Writes a download to its temp file, reporting "Downloading" progress and stopping
/// when the pull was aborted or its client went away.
struct ProgressWriter<'a> {
    file: fs::File,
    progress: &'a Progress,
    id: &'a str,
    total: u64,
    done: u64,
    last: u64,
    abort: &'a AtomicBool,
    /// Set when a resumed download had to start over: the count restarts at zero.
    restarted: Option<&'a AtomicBool>,
}

impl Write for ProgressWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.abort.load(Ordering::SeqCst) || self.progress.cancelled() {
            return Err(io::Error::other("pull canceled"));
        }
        if self
            .restarted
            .is_some_and(|r| r.swap(false, Ordering::SeqCst))
        {
            self.done = 0;
            self.last = 0;
        }
        let n = self.file.write(buf)?;
        self.done += n as u64;
        let step = (self.total / 50).max(64 << 10);
        if self.done - self.last >= step || self.done == self.total {
            self.last = self.done;
            self.progress
                .bytes(self.id, "Downloading", self.done, self.total);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}
