//! Unpacked layers, shared by every image that has them:
//! `layers/<chain-id hex>/diff/` plus `meta.json` `{diff_id, chain_id, parent, size}`.
//!
//! A layer is extracted into `tmp/` while its diff id (sha256 of the uncompressed tar)
//! is computed, then renamed into place in one step; if another import got there first
//! the new copy is dropped. A layer dir without a readable `meta.json` is garbage from a
//! crash and is replaced.
//!
//! The original archive is kept next to the unpacked files, so `save` and `push` can
//! reproduce bytes whose digest is the diff id; re-tarring the unpacked dir would not.
//! A pulled gzip blob is that archive already: it is hard-linked in as `layer.tar.gz`
//! ([`KeptArchive`]) instead of compressed again, which was a third of a pull's CPU
//! time, and `push` then sends the registry's own bytes back. A layer made here
//! (commit, build, import, load) keeps its stream as is, `layer.tar`: compressing it
//! was the biggest CPU cost of a build step, and only a push needs it compressed, which
//! [`LayerStore::compressed`] does then, once (the gzip replaces the plain copy).

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atomic::{unique_suffix, write_atomic};
use crate::digest::{digest_hex, sha256_digest, HashingReader, HashingWriter};
use crate::error::{ImageError, IoContext};
use crate::pipe::{is_reader_gone, pipe};
use crate::unpack::{unpack, UnpackOptions};

/// `meta.json` of a layer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerMeta {
    pub diff_id: String,
    pub chain_id: String,
    /// Chain id of the layer below, empty for a base layer.
    #[serde(default)]
    pub parent: String,
    /// Bytes of regular files in this layer.
    pub size: u64,
    /// Length of the uncompressed layer archive.
    #[serde(default)]
    pub tar_size: u64,
    /// Digest and length of `layer.tar.gz` (empty when no archive was kept).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub archive_digest: String,
    #[serde(default)]
    pub archive_size: u64,
}

/// File name of the kept compressed layer archive inside a layer dir.
const ARCHIVE: &str = "layer.tar.gz";
/// File name of a kept archive not compressed (yet).
const RAW_ARCHIVE: &str = "layer.tar";

/// A gzip file whose decompressed bytes are the layer tar being unpacked (a verified
/// registry blob): kept as the layer's archive as is.
#[derive(Debug, Clone)]
pub struct KeptArchive<'a> {
    pub path: &'a Path,
    /// Its digest (`sha256:…`) and length.
    pub digest: &'a str,
    pub size: u64,
}

/// A layer extracted into `tmp/` but not registered yet; dropping it removes the dir.
#[derive(Debug)]
pub struct PendingLayer {
    work: PathBuf,
    meta: LayerMeta,
}

impl PendingLayer {
    /// The metadata the layer will have once committed.
    pub fn meta(&self) -> &LayerMeta {
        &self.meta
    }
}

/// Buffers of the read-ahead between a pulled layer's decompressing (and diff id
/// hashing) thread and its unpacking thread, and how many may wait.
const READ_AHEAD_CHUNK: usize = 1 << 20;
const READ_AHEAD_DEPTH: usize = 4;

/// Unpack the layer tar `tar` into `diff` over two threads: a helper reads `tar` (for a
/// pull, that is where the gzip is inflated) and hashes it for the diff id, while this
/// thread parses the tar and writes the files. The largest layer of an image, often
/// the last to finish, then spreads over two cores. An error on either side stops the
/// other, and the first cause is returned. Returns the diff id, the tar's length and
/// what was unpacked.
fn unpack_pipelined(
    tar: impl Read + Send,
    diff: &Path,
) -> Result<(String, u64, crate::unpack::UnpackStats), ImageError> {
    let (mut w, mut r) = pipe(READ_AHEAD_CHUNK, READ_AHEAD_DEPTH);
    std::thread::scope(|s| {
        let producer = s.spawn(move || -> io::Result<(String, u64)> {
            let mut hashing = HashingReader::new(tar);
            if let Err(e) = w.write_from(&mut hashing) {
                if !is_reader_gone(&e) {
                    w.fail(io::Error::new(e.kind(), e.to_string()));
                }
                return Err(e);
            }
            let (digest, n) = hashing.finish()?;
            w.finish()?;
            Ok((digest, n))
        });
        let unpacked = unpack(&mut r, diff, &UnpackOptions::layer()).and_then(|stats| {
            // The bytes after the end-of-archive marker are part of the diff id too.
            io::copy(&mut r, &mut io::sink()).ctx(|| "read layer stream".to_string())?;
            Ok(stats)
        });
        // A failed unpack stops the producer at its next buffer.
        drop(r);
        let produced = producer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("layer reader thread panicked")));
        match (produced, unpacked) {
            (Ok((diff_id, n)), Ok(stats)) => Ok((diff_id, n, stats)),
            (Err(e), _) if !is_reader_gone(&e) => Err(ImageError::io("read layer stream", e)),
            (_, Err(e)) => Err(e),
            (Err(e), Ok(_)) => Err(ImageError::io("read layer stream", e)),
        }
    })
}

impl Drop for PendingLayer {
    fn drop(&mut self) {
        if self.work.exists() {
            let _ = fs::remove_dir_all(&self.work);
        }
    }
}

/// The `layers/` directory.
#[derive(Debug, Clone)]
pub struct LayerStore {
    dir: PathBuf,
    tmp: PathBuf,
}

/// The directory name of a chain id (`sha256:<hex>` → `<hex>`).
fn hex_of(chain_id: &str) -> Result<&str, ImageError> {
    digest_hex(chain_id).ok_or_else(|| ImageError::invalid(format!("invalid layer id: {chain_id}")))
}

impl LayerStore {
    pub fn new(dir: PathBuf, tmp: PathBuf) -> LayerStore {
        LayerStore { dir, tmp }
    }

    /// `layers/<hex>`.
    pub fn layer_path(&self, chain_id: &str) -> Result<PathBuf, ImageError> {
        Ok(self.dir.join(hex_of(chain_id)?))
    }

    /// `layers/<hex>/diff`, the overlay lower dir of the layer.
    pub fn diff_dir(&self, chain_id: &str) -> Result<PathBuf, ImageError> {
        Ok(self.layer_path(chain_id)?.join("diff"))
    }

    /// The layer's metadata, `NotFound` when the layer is absent or broken.
    pub fn meta(&self, chain_id: &str) -> Result<LayerMeta, ImageError> {
        let p = self.layer_path(chain_id)?.join("meta.json");
        let bytes = fs::read(&p)
            .map_err(|_| ImageError::NotFound(format!("layer does not exist: {chain_id}")))?;
        let meta: LayerMeta = serde_json::from_slice(&bytes)
            .map_err(|_| ImageError::NotFound(format!("layer does not exist: {chain_id}")))?;
        if meta.chain_id != chain_id {
            return Err(ImageError::NotFound(format!(
                "layer does not exist: {chain_id}"
            )));
        }
        Ok(meta)
    }

    /// Extract the uncompressed layer tar `tar` (a diff on top of `parent`, a chain id,
    /// or None for a base layer) into a temp dir while computing its diff id. Nothing is
    /// registered until [`commit`](Self::commit); dropping the result removes the temp dir.
    pub fn prepare(
        &self,
        parent: Option<&str>,
        tar: impl Read,
    ) -> Result<PendingLayer, ImageError> {
        if let Some(p) = parent {
            self.meta(p)?;
        }
        self.prepare_detached(parent, tar)
    }

    /// [`prepare`](Self::prepare) without checking that `parent` is present yet (a pull
    /// unpacks layers in parallel and commits them in order; [`commit`](Self::commit)
    /// is where the parent must exist). The layer keeps a plain copy of the stream.
    pub fn prepare_detached(
        &self,
        parent: Option<&str>,
        tar: impl Read,
    ) -> Result<PendingLayer, ImageError> {
        let mut pending = self.new_pending();
        pending.meta = self.prepare_in(&pending.work, parent, tar)?;
        Ok(pending)
    }

    /// [`prepare_detached`](Self::prepare_detached) for a pulled layer: `tar` is the
    /// decompressing reader of the gzip blob `kept`, which becomes the layer's archive
    /// instead of a copy of the stream. `tar` is read (inflated) and hashed on a helper
    /// thread while this one writes the files.
    pub fn prepare_kept_detached(
        &self,
        parent: Option<&str>,
        tar: impl Read + Send,
        kept: &KeptArchive<'_>,
    ) -> Result<PendingLayer, ImageError> {
        let mut pending = self.new_pending();
        pending.meta = self.prepare_kept(&pending.work, parent, tar, kept)?;
        Ok(pending)
    }

    fn new_pending(&self) -> PendingLayer {
        PendingLayer {
            work: self.tmp.join(format!("layer-{}", unique_suffix())),
            meta: LayerMeta::default(),
        }
    }

    /// The layer's `diff/` dir, created empty with Docker's mode.
    fn make_diff_dir(work: &Path) -> Result<PathBuf, ImageError> {
        let diff = work.join("diff");
        fs::create_dir_all(&diff).ctx(|| format!("create {}", diff.display()))?;
        // The layer's root directory: 0755 like Docker's diff dirs.
        fs::set_permissions(&diff, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .ctx(|| format!("chmod {}", diff.display()))?;
        Ok(diff)
    }

    fn prepare_kept(
        &self,
        work: &Path,
        parent: Option<&str>,
        tar: impl Read + Send,
        kept: &KeptArchive<'_>,
    ) -> Result<LayerMeta, ImageError> {
        let diff = Self::make_diff_dir(work)?;
        let archive = work.join(ARCHIVE);
        // Same filesystem (both under the data root) in every normal setup; a copy
        // otherwise.
        if fs::hard_link(kept.path, &archive).is_err() {
            fs::copy(kept.path, &archive).ctx(|| format!("copy {}", kept.path.display()))?;
        }
        let (diff_id, tar_size, stats) = unpack_pipelined(tar, &diff)?;
        let meta = LayerMeta {
            chain_id: chain_of(parent, &diff_id),
            diff_id,
            parent: parent.unwrap_or("").into(),
            size: stats.size,
            tar_size,
            archive_digest: kept.digest.to_string(),
            archive_size: kept.size,
        };
        Self::write_meta(work, &meta)?;
        Ok(meta)
    }

    fn write_meta(work: &Path, meta: &LayerMeta) -> Result<(), ImageError> {
        let meta_bytes = serde_json::to_vec(meta)
            .map_err(|e| ImageError::io("encode layer meta", io::Error::other(e)))?;
        write_atomic(&work.join("meta.json"), &meta_bytes)
            .ctx(|| "write layer meta".to_string())?;
        if !crate::atomic::sync_deferred() {
            crate::atomic::sync_filesystem(work);
        }
        Ok(())
    }

    fn prepare_in(
        &self,
        work: &Path,
        parent: Option<&str>,
        tar: impl Read,
    ) -> Result<LayerMeta, ImageError> {
        let diff = Self::make_diff_dir(work)?;
        // Keep a plain copy of the exact stream while unpacking it.
        let archive =
            fs::File::create(work.join(RAW_ARCHIVE)).ctx(|| "create layer archive".to_string())?;
        let mut hashing = HashingReader::new(TeeReader {
            inner: tar,
            copy: io::BufWriter::with_capacity(256 << 10, archive),
        });
        let opts = UnpackOptions::layer();
        let stats = unpack(&mut hashing, &diff, &opts)?;
        let (diff_id, tar_size, tee) = hashing
            .finish_with_inner()
            .ctx(|| "read layer stream".to_string())?;
        let file = tee
            .copy
            .into_inner()
            .map_err(|e| e.into_error())
            .ctx(|| "write layer archive".to_string())?;
        if !crate::atomic::sync_deferred() {
            file.sync_all().ctx(|| "sync layer archive".to_string())?;
        }
        let meta = LayerMeta {
            chain_id: chain_of(parent, &diff_id),
            diff_id,
            parent: parent.unwrap_or("").into(),
            size: stats.size,
            tar_size,
            archive_digest: String::new(),
            archive_size: 0,
        };
        Self::write_meta(work, &meta)?;
        Ok(meta)
    }

    /// Move a prepared layer into `layers/<chain hex>`; if that layer already exists the
    /// prepared copy is dropped. The image store calls this under its lock, so a
    /// concurrent removal cannot delete the layer before an image refers to it.
    pub fn commit(&self, pending: PendingLayer) -> Result<LayerMeta, ImageError> {
        let meta = pending.meta.clone();
        if !meta.parent.is_empty() {
            self.meta(&meta.parent)?;
        }
        let chain_id = &meta.chain_id;
        if self.meta(chain_id).is_ok() {
            return Ok(meta); // already there; `pending` drops its temp dir
        }
        let target = self.layer_path(chain_id)?;
        if target.exists() {
            // A broken leftover (no valid meta.json): move it away, then take its place.
            self.discard(&target)?;
        }
        match fs::rename(&pending.work, &target) {
            Ok(()) => Ok(meta),
            // Lost a race with another store on the same root: theirs is as good.
            Err(_) if self.meta(chain_id).is_ok() => Ok(meta),
            Err(e) => Err(ImageError::io(format!("register layer {chain_id}"), e)),
        }
    }

    /// The layer's meta with its compressed archive (`archive_digest`, `archive_size`),
    /// compressing the plain one kept at its making first if that was not done yet. The
    /// gzip is written beside it and renamed into place before the meta names it, then
    /// the plain copy goes: a crash in between leaves a layer that compresses again.
    pub fn compressed(&self, chain_id: &str) -> Result<LayerMeta, ImageError> {
        let meta = self.meta(chain_id)?;
        let dir = self.layer_path(chain_id)?;
        let raw = dir.join(RAW_ARCHIVE);
        if !meta.archive_digest.is_empty() || !raw.exists() {
            return Ok(meta);
        }
        let tmp = dir.join(format!(".{ARCHIVE}.{}", unique_suffix()));
        let res = (|| {
            let mut input = fs::File::open(&raw).ctx(|| format!("open {}", raw.display()))?;
            let out = fs::File::create(&tmp).ctx(|| format!("create {}", tmp.display()))?;
            let mut gz = flate2::write::GzEncoder::new(
                HashingWriter::new(io::BufWriter::with_capacity(256 << 10, out)),
                flate2::Compression::fast(),
            );
            io::copy(&mut input, &mut gz).ctx(|| format!("compress {}", raw.display()))?;
            let (digest, size, w) = gz
                .finish()
                .and_then(|w| w.finish())
                .ctx(|| "write layer archive".to_string())?;
            let file = w
                .into_inner()
                .map_err(|e| e.into_error())
                .ctx(|| "write layer archive".to_string())?;
            file.sync_all().ctx(|| "sync layer archive".to_string())?;
            fs::rename(&tmp, dir.join(ARCHIVE)).ctx(|| "register layer archive".to_string())?;
            Ok::<_, ImageError>((digest, size))
        })();
        let (digest, size) = match res {
            Ok(x) => x,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        let meta = LayerMeta {
            archive_digest: digest,
            archive_size: size,
            ..meta
        };
        let bytes = serde_json::to_vec(&meta)
            .map_err(|e| ImageError::io("encode layer meta", io::Error::other(e)))?;
        write_atomic(&dir.join("meta.json"), &bytes).ctx(|| "write layer meta".to_string())?;
        let _ = fs::remove_file(&raw);
        Ok(meta)
    }

    /// The layer's original uncompressed archive (digest = diff id) and its length.
    pub fn open_archive(&self, chain_id: &str) -> Result<(Box<dyn Read + Send>, u64), ImageError> {
        let meta = self.meta(chain_id)?;
        // Kept plain (not pushed yet): as is. (A push compressing it at this moment
        // removes it only after the gzip is in place; an open file stays readable.)
        let raw = self.layer_path(chain_id)?.join(RAW_ARCHIVE);
        if meta.archive_digest.is_empty() {
            if let Ok(f) = fs::File::open(&raw) {
                return Ok((Box::new(io::BufReader::new(f)), meta.tar_size));
            }
        }
        if meta.archive_digest.is_empty() {
            return Err(ImageError::NotFound(format!(
                "layer {chain_id} has no stored archive"
            )));
        }
        let p = self.layer_path(chain_id)?.join(ARCHIVE);
        let f = fs::File::open(&p).ctx(|| format!("open {}", p.display()))?;
        Ok((
            // A kept registry blob may hold several gzip members.
            Box::new(flate2::read::MultiGzDecoder::new(io::BufReader::new(f))),
            meta.tar_size,
        ))
    }

    /// Delete a layer (moved to tmp first so it vanishes atomically).
    pub fn remove(&self, chain_id: &str) -> Result<(), ImageError> {
        let p = self.layer_path(chain_id)?;
        if !p.exists() {
            return Ok(());
        }
        self.discard(&p)
    }

    fn discard(&self, p: &Path) -> Result<(), ImageError> {
        let trash = self.tmp.join(format!("del-{}", unique_suffix()));
        fs::rename(p, &trash).ctx(|| format!("remove {}", p.display()))?;
        fs::remove_dir_all(&trash).ctx(|| format!("remove {}", trash.display()))
    }
}

/// The chain id of a layer with `diff_id` on top of `parent`.
fn chain_of(parent: Option<&str>, diff_id: &str) -> String {
    match parent {
        None => diff_id.to_string(),
        Some(p) => sha256_digest(format!("{p} {diff_id}").as_bytes()),
    }
}

/// Copies everything read from `inner` into `copy`.
struct TeeReader<R, W> {
    inner: R,
    copy: W,
}

impl<R: Read, W: Write> Read for TeeReader<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}
