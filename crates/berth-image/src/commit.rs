//! `docker commit`: a container's upper (writable) overlay dir becomes a new layer on top
//! of its image, and a child image config records it (parent, container id, history).
//! The upper dir is streamed through [`tar_dir_with`] in overlay-whiteout mode into the
//! layer store on a second thread, so nothing is buffered whole. An empty diff adds no
//! layer, only a history entry with `empty_layer` (as Docker does).

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::mpsc;
use std::time::SystemTime;

use crate::changes::apply_changes;
use crate::config::{ContainerConfig, History, ImageConfigFile};
use crate::digest::{chain_ids, ImageId};
use crate::error::ImageError;
use crate::reference::Reference;
use crate::store::ImageStore;
use crate::tardir::{tar_dir_with, TarOptions};
use crate::unpack::WhiteoutMode;

/// Digest of an empty tar (two zero blocks): the diff id of a layer with no changes.
pub const EMPTY_TAR_DIGEST: &str =
    "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/// What `docker commit` says about the new image.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// `repo[:tag]` to point at the new image.
    pub reference: Option<String>,
    /// `--author`.
    pub author: String,
    /// `--message`: the comment of the image and of its history entry.
    pub comment: String,
    /// `--change` lines applied to `config`.
    pub changes: Vec<String>,
    /// The container's config (image defaults already merged): becomes the image's.
    pub config: ContainerConfig,
    /// The container's full id.
    pub container_id: String,
    /// History `created_by`: Docker uses the container's Cmd joined with spaces.
    pub created_by: String,
    /// Paths in the upper dir to leave out (mount points made by the runtime).
    pub exclude: Vec<std::path::PathBuf>,
}

impl ImageStore {
    /// Commit `upper` (a container's writable layer) on top of image `parent`.
    pub fn commit(
        &self,
        parent: &ImageId,
        upper: &Path,
        opts: &CommitOptions,
    ) -> Result<ImageId, ImageError> {
        let reference = match opts.reference.as_deref().filter(|r| !r.is_empty()) {
            Some(r) => {
                let r = Reference::parse_tagged(r)?;
                if r.digest().is_some() {
                    return Err(ImageError::invalid(
                        "refusing to create a tag with a digest reference",
                    ));
                }
                Some(r)
            }
            None => None,
        };
        let mut config = opts.config.clone();
        apply_changes(&mut config, &opts.changes)?;
        let parent_bytes = self.config_bytes(parent)?;
        let mut image: ImageConfigFile = serde_json::from_slice(&parent_bytes)
            .map_err(|e| ImageError::invalid(format!("invalid image config {parent}: {e}")))?;
        let chain = chain_ids(&image.rootfs.diff_ids);

        // Tar the upper dir on a thread; the layer store reads it as it comes.
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(16);
        let upper_dir = upper.to_path_buf();
        let tar_opts = TarOptions {
            whiteouts: WhiteoutMode::Overlay,
            exclude: opts.exclude.clone(),
        };
        let writer =
            std::thread::spawn(move || tar_dir_with(&upper_dir, ChanWriter { tx }, &tar_opts));
        let prepared = self.layers().prepare(
            chain.last().map(String::as_str),
            ChanReader {
                rx,
                buf: Vec::new(),
                pos: 0,
            },
        );
        let written = writer
            .join()
            .map_err(|_| ImageError::io("commit", io::Error::other("tar thread panicked")))?;
        let pending = prepared?;
        written?;

        let diff_id = pending.meta().diff_id.clone();
        let empty = diff_id == EMPTY_TAR_DIGEST;
        let created = berth_types::time::rfc3339_nano_trimmed(SystemTime::now());
        if !empty {
            image.rootfs.diff_ids.push(diff_id);
        }
        image.history.push(History {
            created: Some(created.clone()),
            author: opts.author.clone(),
            created_by: opts.created_by.clone(),
            comment: opts.comment.clone(),
            empty_layer: empty,
        });
        image.created = Some(created);
        image.author = opts.author.clone();
        image.comment = opts.comment.clone();
        image.config = Some(config);
        image.container = opts.container_id.clone();
        image.parent = parent.as_str().to_string();
        // Fields of the parent that describe the parent only.
        image.extra.remove("container_config");
        image.extra.remove("id");
        let bytes = serde_json::to_vec(&image)
            .map_err(|e| ImageError::io("encode image config", io::Error::other(e)))?;
        self.register_with(
            if empty { None } else { Some(pending) },
            &bytes,
            parent.as_str().to_string(),
            reference.as_ref(),
        )
    }
}

/// The write end of the in-process pipe: chunks go over a bounded channel.
struct ChanWriter {
    tx: mpsc::SyncSender<Vec<u8>>,
}

impl Write for ChanWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx
            .send(buf.to_vec())
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "layer reader stopped"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The read end: EOF once the writer is dropped.
struct ChanReader {
    rx: mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ChanReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.buf.len() {
            match self.rx.recv() {
                Ok(b) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
