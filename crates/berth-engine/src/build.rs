//! Image builds (`POST /build`): the engine side of `berth-build`.
//!
//! [`Engine::build`] extracts the uploaded context tar (path-safe) into a temporary
//! directory under `<data-root>/builder/`, plans and runs the Dockerfile with
//! `berth_build::build`, and streams Docker's legacy JSON lines (`{"stream":…}`, then
//! `{"aux":{"ID":…}}` or `{"errorDetail":…,"error":…}`). The directory is removed when
//! the build ends.
//!
//! [`EngineHost`] implements `berth_build::BuildHost` with the engine's own machinery:
//! build containers are ordinary containers (`create`/`attach`/`start`/`wait`/`remove`),
//! files reach a created container's writable layer through the chrooted overlay views of
//! `fsops` (so paths resolve inside the container), and images are committed into the
//! image store with the builder's config and history line. The build cache is a small
//! JSON index `<data-root>/builder/cache.json` (`parent|key` → image id), written
//! atomically; an entry counts only while its image still exists.
//!
//! Base images come from the local store; a missing one (or any, with `pull`) is pulled
//! through [`Engine::image_pull`], its progress written as the legacy builder's text.
//!
//! The builder's trait is blocking; the host runs on a blocking thread and enters the
//! async engine with the runtime handle captured when the build started.

#[path = "buildctx.rs"]
mod buildctx;
#[path = "buildmounts.rs"]
mod buildmounts;

use crate::error::{EngineError, Result};
use crate::fsops::{in_view, View};
use crate::{lock, AttachOptions, Engine, WaitCondition};
use berth_build::{
    BuildContext, BuildError, BuildHost, BuildOutcome, BuildRequest, CommitRequest,
    ContainerRequest, CopyItem, CopyRequest, CopySource, FetchedFile, HostError, ImageInfo,
    JsonStream,
};
use berth_image::config::{History, RootFs};
use berth_image::{CommitOptions, ImageConfigFile, ImageError, ImageId, UnpackOptions};
use berth_types::docker::{CreateRequest, HostConfig};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Serializes read-modify-write of the cache index between concurrent builds.
static CACHE_LOCK: Mutex<()> = Mutex::new(());

impl Engine {
    /// `POST /build`: builds from a context tar; returns the stream of Docker's JSON lines
    /// (each ending in `\r\n`). Errors after this point arrive in the stream.
    pub async fn build(
        &self,
        context: Box<dyn Read + Send>,
        req: BuildRequest,
    ) -> Result<mpsc::Receiver<Vec<u8>>> {
        if req.remote.is_some() {
            return Err(EngineError::invalid(
                "remote build contexts are not supported yet by Berth",
            ));
        }
        let engine = self
            .arc()
            .ok_or_else(|| EngineError::internal("the engine is shutting down"))?;
        sweep_stale(&builder_dir(&engine));
        let (tx, rx) = mpsc::channel(64);
        let rt = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || run_build(engine, rt, context, req, tx));
        Ok(rx)
    }
}

fn builder_dir(engine: &Engine) -> PathBuf {
    engine.cfg.data_root.join("builder")
}

/// Removes work directories left by an earlier daemon process (a crash mid-build):
/// their names carry the pid of the process that made them.
fn sweep_stale(dir: &Path) {
    let me = std::process::id().to_string();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name
            .strip_prefix("ctx-")
            .or_else(|| name.strip_prefix("view-"))
        else {
            continue;
        };
        if rest.split('-').next() != Some(me.as_str()) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn run_build(
    engine: Arc<Engine>,
    rt: tokio::runtime::Handle,
    context: Box<dyn Read + Send>,
    req: BuildRequest,
    tx: mpsc::Sender<Vec<u8>>,
) {
    let dir = builder_dir(&engine).join(format!("ctx-{}", berth_image::atomic::unique_suffix()));
    let mut out = JsonStream::new(ChanWriter(tx.clone()));
    let mut extracted = None;
    // A panic in a step must still end the stream with an error line.
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
        || -> std::result::Result<BuildOutcome, BuildError> {
            std::fs::create_dir_all(&dir)
                .map_err(|e| BuildError::Invalid(format!("error creating build context: {e}")))?;
            extracted = Some(buildctx::extract(context, &dir).map_err(|e| {
                BuildError::Invalid(format!("error extracting build context: {e}"))
            })?);
            let ctx = BuildContext::from_dir(&dir, &req.dockerfile)?;
            let host = EngineHost {
                engine: engine.clone(),
                rt,
                scratch: Mutex::new(HashMap::new()),
                downloads: dir.with_extension("url"),
                step_mounts: Mutex::new(HashMap::new()),
                secrets: req.secrets.clone(),
                secret_env: Mutex::new(Vec::new()),
                unsynced: std::sync::atomic::AtomicBool::new(false),
            };
            let r = berth_build::build(&host, &ctx, &req.dockerfile, &req.options, &mut out);
            // The build's images (committed with deferred fsyncs) are durable before the
            // client hears of them.
            host.sync_store();
            // Pseudo containers of failed steps.
            for id in lock(&host.scratch).keys() {
                let _ = std::fs::remove_dir_all(host.scratch_dir(id));
            }
            // Containers whose environment holds a secret never outlive the build
            // (not even a failed step's, which Docker otherwise keeps).
            for id in lock(&host.secret_env).drain(..) {
                let _ = host.remove_container(&id);
            }
            r
        },
    ))
    .unwrap_or_else(|_| {
        Err(BuildError::Invalid(
            "internal error: the build failed unexpectedly".into(),
        ))
    });
    if let Some(e) = &extracted {
        buildctx::release(&dir, e);
    }
    // The build ended: containers it kept (`--rm=false`) are the user's now.
    crate::buildsweep::build_ended(&dir);
    // The client need not wait for the disk: even an empty directory can take ms to
    // go. The names are unique; the startup sweep removes what a crash leaves.
    {
        let dir = dir.clone();
        std::thread::spawn(move || {
            let _ = std::fs::remove_dir_all(&dir);
            let _ = std::fs::remove_dir_all(dir.with_extension("url"));
        });
    }
    let Ok(mut w) = out.into_inner() else { return };
    let line = match &res {
        Ok(o) => {
            // Quiet builds answer the image id as their only output line.
            if req.options.quiet {
                let mut s = JsonStream::new(&mut w);
                let _ = s.write_all(format!("{}\n", o.image_id).as_bytes());
            }
            berth_build::stream::aux_id(&o.image_id)
        }
        Err(e) => {
            if let BuildError::RunFailed { output, .. } = e {
                if !output.is_empty() {
                    let mut s = JsonStream::new(ChanWriter(tx.clone()));
                    let _ = s.write_all(output.as_bytes());
                }
            }
            berth_build::stream::error_message(e)
        }
    };
    let _ = w.write_all(format!("{line}\r\n").as_bytes());
}

/// Sends written bytes over a channel from a blocking thread.
struct ChanWriter(mpsc::Sender<Vec<u8>>);

impl Write for ChanWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(buf.to_vec())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The engine as a `BuildHost`.
pub struct EngineHost {
    engine: Arc<Engine>,
    rt: tokio::runtime::Handle,
    /// Configs of the scratch "containers" of this build (see [`SCRATCH_PREFIX`]).
    scratch: Mutex<HashMap<String, berth_types::docker::ContainerConfig>>,
    /// Where `ADD <url>` downloads go (`ctx-<id>.url`, removed with the context; swept
    /// after a crash like it).
    downloads: PathBuf,
    /// `RUN --mount`s of live build containers (by id): host views to release and
    /// targets to keep out of the commit.
    step_mounts: Mutex<HashMap<String, buildmounts::StepMounts>>,
    /// The client's `--secret`s and `--ssh` sockets, for `RUN --mount=type=secret|ssh`.
    secrets: berth_build::BuildSecrets,
    /// Containers of this build whose environment holds an `env=` secret.
    secret_env: Mutex<Vec<String>>,
    /// Whether this build committed something whose writes were deferred and not yet
    /// flushed (see [`EngineHost::sync_store`]).
    unsynced: std::sync::atomic::AtomicBool,
}

/// Steps on `FROM scratch` (COPY/ADD/WORKDIR; nothing can run there) get a pseudo
/// container: a directory `<data-root>/builder/scratch-<id>` that becomes the first layer.
const SCRATCH_PREFIX: &str = "scratch-";

fn herr(e: impl std::fmt::Display) -> HostError {
    HostError::new(e.to_string())
}

fn engine_err(e: EngineError) -> HostError {
    if e.kind == crate::ErrorKind::NotFound {
        HostError::not_found(e.to_string())
    } else {
        HostError::new(e.to_string())
    }
}

/// A temporary file under `dir`, already unlinked (gone when the handle is dropped).
fn scratch_file(dir: &Path) -> std::result::Result<File, HostError> {
    std::fs::create_dir_all(dir).map_err(herr)?;
    let path = dir.join(format!(
        ".copy-{}.tar",
        berth_image::atomic::unique_suffix()
    ));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(herr)?;
    let _ = std::fs::remove_file(&path);
    Ok(f)
}

fn to_image_config(c: &berth_types::docker::ContainerConfig) -> berth_image::ContainerConfig {
    serde_json::to_value(c)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

impl EngineHost {
    /// The store side of [`BuildHost::commit`] (called with fsyncs deferred).
    fn commit_now(&self, req: &CommitRequest) -> std::result::Result<String, HostError> {
        let id = match &req.container {
            None => self.metadata_commit(req)?,
            Some(cid) if self.is_scratch(cid) => self.scratch_commit(cid, req)?,
            Some(cid) => {
                let ctr = self.engine.lookup(cid).map_err(engine_err)?;
                let parent = req
                    .parent
                    .as_deref()
                    .and_then(ImageId::parse)
                    .ok_or_else(|| {
                        HostError::new("committing on scratch is not supported yet by Berth")
                    })?;
                let opts = CommitOptions {
                    reference: None,
                    author: req.author.clone(),
                    comment: String::new(),
                    changes: Vec::new(),
                    config: to_image_config(&req.config),
                    container_id: ctr.id.clone(),
                    created_by: req.history.created_by.clone(),
                    // Mount points the runtime creates, never part of an image; so are
                    // the targets of `RUN --mount`.
                    exclude: ["etc/hostname", "etc/hosts", "etc/resolv.conf"]
                        .iter()
                        .map(PathBuf::from)
                        .chain(
                            lock(&self.step_mounts)
                                .get(cid)
                                .map(|m| m.targets.clone())
                                .unwrap_or_default(),
                        )
                        .collect(),
                };
                let id = self
                    .engine
                    .images
                    .commit(&parent, &ctr.paths.upper(), &opts)
                    .map_err(herr)?;
                id.as_str().to_string()
            }
        };
        self.remember(req.parent.as_deref(), &req.cache_key, &id)?;
        Ok(id)
    }

    /// Make every deferred write of this build durable (one `syncfs`): once, and only when this build committed something since
    /// the last flush: a build that only hit the cache has nothing of its own to make
    /// durable (its tag is written with its own fsync), and a `syncfs` would instead
    /// write out whatever else is dirty, such as the context just extracted.
    fn sync_store(&self) {
        if self
            .unsynced
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            berth_image::atomic::sync_filesystem(&self.engine.cfg.data_root);
        }
    }

    fn is_scratch(&self, id: &str) -> bool {
        lock(&self.scratch).contains_key(id)
    }

    fn scratch_dir(&self, id: &str) -> PathBuf {
        builder_dir(&self.engine).join(format!("{SCRATCH_PREFIX}{id}"))
    }

    fn cache_path(&self) -> PathBuf {
        builder_dir(&self.engine).join("cache.json")
    }

    fn read_cache(&self) -> BTreeMap<String, String> {
        std::fs::read(self.cache_path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn remember(
        &self,
        parent: Option<&str>,
        key: &str,
        id: &str,
    ) -> std::result::Result<(), HostError> {
        let _g = lock(&CACHE_LOCK);
        let mut m = self.read_cache();
        m.insert(format!("{}|{key}", parent.unwrap_or("")), id.to_string());
        let bytes = serde_json::to_vec(&m).map_err(herr)?;
        std::fs::create_dir_all(builder_dir(&self.engine)).map_err(herr)?;
        berth_image::atomic::write_atomic(&self.cache_path(), &bytes).map_err(herr)
    }

    /// An image's files as a read-only overlay view (for `COPY --from`).
    fn image_view(&self, id: &str) -> std::result::Result<(View, PathBuf), HostError> {
        let iid = ImageId::parse(id).ok_or_else(|| herr(format!("bad image id {id}")))?;
        let lower = self.engine.images.layer_dirs(&iid).map_err(herr)?;
        let base = builder_dir(&self.engine)
            .join(format!("view-{}", berth_image::atomic::unique_suffix()));
        let upper = base.join("empty");
        std::fs::create_dir_all(&upper).map_err(herr)?;
        Ok((
            View::Overlay {
                lower,
                upper,
                work: None,
                mountpoint: base.join("mnt"),
            },
            base,
        ))
    }

    /// Pulls a base image through the engine's pull, writing its progress as the legacy
    /// builder's text (`latest: Pulling from library/x`, `Status: …`); byte-progress
    /// updates are left out.
    fn pull(
        &self,
        reference: &str,
        platform: Option<&str>,
        progress: &mut dyn Write,
    ) -> std::result::Result<(), HostError> {
        let mut rx = self
            .rt
            .block_on(self.engine.image_pull(reference, platform, None))
            .map_err(|e| HostError::not_found(e.to_string()))?;
        while let Some(msg) = rx.blocking_recv() {
            if let Some(e) = msg.get("error").and_then(serde_json::Value::as_str) {
                return Err(HostError::not_found(e));
            }
            if msg.get("progress").is_some() {
                continue;
            }
            let status = msg
                .get("status")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("");
            let line = match msg.get("id").and_then(serde_json::Value::as_str) {
                Some(id) => format!("{id}: {status}\n"),
                None => format!("{status}\n"),
            };
            progress.write_all(line.as_bytes()).map_err(herr)?;
        }
        Ok(())
    }

    /// The first layer of an image built `FROM scratch`: the pseudo container's files.
    fn scratch_commit(
        &self,
        id: &str,
        req: &CommitRequest,
    ) -> std::result::Result<String, HostError> {
        let images = &self.engine.images;
        let dir = builder_dir(&self.engine);
        let mut f = scratch_file(&dir)?;
        berth_image::tar_dir(&self.scratch_dir(id), &mut f).map_err(herr)?;
        f.seek(SeekFrom::Start(0)).map_err(herr)?;
        let lease = images.add_layer(None, f, None).map_err(herr)?;
        let created = berth_types::time::rfc3339_nano_trimmed(std::time::SystemTime::now());
        // The parent, if any, is a layerless image (metadata steps on scratch).
        let mut image = match &req.parent {
            Some(p) => {
                let pid = ImageId::parse(p).ok_or_else(|| herr(format!("bad image id {p}")))?;
                serde_json::from_slice::<ImageConfigFile>(&images.config_bytes(&pid).map_err(herr)?)
                    .map_err(herr)?
            }
            None => ImageConfigFile {
                architecture: berth_image::store::go_arch().to_string(),
                os: "linux".into(),
                ..Default::default()
            },
        };
        image.author = req.author.clone();
        image.created = Some(created.clone());
        image.config = Some(to_image_config(&req.config));
        image.rootfs = RootFs {
            kind: "layers".into(),
            diff_ids: vec![lease.meta().diff_id.clone()],
        };
        image.history.push(History {
            created: Some(created),
            author: req.author.clone(),
            created_by: req.history.created_by.clone(),
            comment: String::new(),
            empty_layer: false,
        });
        image.parent = req.parent.clone().unwrap_or_default();
        image.container = String::new();
        image.extra.remove("container_config");
        image.extra.remove("id");
        let bytes = serde_json::to_vec(&image).map_err(herr)?;
        let new_id = images
            .register(&bytes, req.parent.clone().unwrap_or_default(), None)
            .map_err(herr)?;
        drop(lease);
        Ok(new_id.as_str().to_string())
    }

    fn metadata_commit(&self, req: &CommitRequest) -> std::result::Result<String, HostError> {
        let images = &self.engine.images;
        let mut image = match &req.parent {
            Some(p) => {
                let id = ImageId::parse(p).ok_or_else(|| herr(format!("bad image id {p}")))?;
                let bytes = images.config_bytes(&id).map_err(herr)?;
                serde_json::from_slice::<ImageConfigFile>(&bytes).map_err(herr)?
            }
            None => ImageConfigFile {
                architecture: berth_image::store::go_arch().to_string(),
                os: "linux".into(),
                rootfs: RootFs::default(),
                ..Default::default()
            },
        };
        let created = berth_types::time::rfc3339_nano_trimmed(std::time::SystemTime::now());
        image.history.push(History {
            created: Some(created.clone()),
            author: req.author.clone(),
            created_by: req.history.created_by.clone(),
            comment: String::new(),
            empty_layer: true,
        });
        image.created = Some(created);
        image.author = req.author.clone();
        image.comment = String::new();
        image.config = Some(to_image_config(&req.config));
        image.container = String::new();
        image.parent = req.parent.clone().unwrap_or_default();
        image.extra.remove("container_config");
        image.extra.remove("id");
        let bytes = serde_json::to_vec(&image).map_err(herr)?;
        let id = images
            .register(&bytes, req.parent.clone().unwrap_or_default(), None)
            .map_err(herr)?;
        Ok(id.as_str().to_string())
    }
}

impl BuildHost for EngineHost {
    fn resolve_image(
        &self,
        reference: &str,
        platform: Option<&str>,
        pull: bool,
        progress: &mut dyn Write,
    ) -> std::result::Result<ImageInfo, HostError> {
        let local = self.engine.images.resolve(reference);
        let missing = matches!(local, Err(ImageError::NotFound(_)));
        let img = if (pull || missing) && !looks_like_id(reference) {
            self.pull(reference, platform, progress)?;
            self.engine.images.resolve(reference).map_err(herr)?
        } else {
            local.map_err(|e| match e {
                ImageError::NotFound(m) => HostError::not_found(m),
                e => herr(e),
            })?
        };
        Ok(ImageInfo {
            id: img.id.as_str().to_string(),
            config: crate::containers::image_container_config(&img),
            author: img.config.author.clone(),
        })
    }

    fn cache_lookup(
        &self,
        parent: Option<&str>,
        key: &str,
    ) -> std::result::Result<Option<String>, HostError> {
        let m = {
            let _g = lock(&CACHE_LOCK);
            self.read_cache()
        };
        let Some(id) = m.get(&format!("{}|{key}", parent.unwrap_or(""))) else {
            return Ok(None);
        };
        Ok(self
            .engine
            .images
            .resolve(id)
            .ok()
            .map(|i| i.id.as_str().to_string()))
    }

    fn create_container(&self, req: &ContainerRequest) -> std::result::Result<String, HostError> {
        // An image without layers (scratch plus metadata steps) has no files to mount.
        let layerless = req.image.as_deref().is_some_and(|i| {
            self.engine
                .images
                .resolve(i)
                .is_ok_and(|img| img.config.rootfs.diff_ids.is_empty())
        });
        let Some(image) = req.image.clone().filter(|_| !layerless) else {
            let id = crate::names::new_id().map_err(engine_err)?;
            std::fs::create_dir_all(self.scratch_dir(&id)).map_err(herr)?;
            lock(&self.scratch).insert(id.clone(), req.config.clone());
            return Ok(id);
        };
        let layers = |id: &str| -> std::result::Result<Vec<PathBuf>, HostError> {
            let iid = ImageId::parse(id).ok_or_else(|| herr(format!("bad image id {id}")))?;
            self.engine.images.layer_dirs(&iid).map_err(herr)
        };
        let mut mounts = buildmounts::prepare(
            &builder_dir(&self.engine),
            &req.mounts,
            &self.secrets,
            &layers,
        )?;
        let mut config = req.config.clone();
        // `env=` secrets and SSH_AUTH_SOCK: for this container only, never the image.
        let has_secret_env = req.mounts.iter().any(|m| {
            m.env
                .as_ref()
                .is_some_and(|v| mounts.env.iter().any(|e| e.starts_with(&format!("{v}="))))
        });
        for kv in std::mem::take(&mut mounts.env) {
            let env = config.env.get_or_insert_with(Vec::new);
            let key = kv.split('=').next().unwrap_or("").to_string();
            env.retain(|e| e.split('=').next() != Some(key.as_str()));
            env.push(kv);
        }
        config.image = image;
        // RUN never goes through the image's entrypoint.
        config.entrypoint = Some(Vec::new());
        config.tty = false;
        config.open_stdin = false;
        config.attach_stdout = true;
        config.attach_stderr = true;
        let host_config = HostConfig {
            network_mode: match req.network.as_deref() {
                Some("none") => "none".into(),
                Some("host") => "host".into(),
                _ => String::new(),
            },
            binds: (!mounts.binds.is_empty()).then(|| std::mem::take(&mut mounts.binds)),
            tmpfs: (!mounts.tmpfs.is_empty()).then(|| std::mem::take(&mut mounts.tmpfs)),
            ..Default::default()
        };
        let r = self
            .rt
            .block_on(self.engine.create(
                None,
                CreateRequest {
                    config,
                    host_config,
                    networking_config: Default::default(),
                },
            ))
            .map_err(engine_err)?;
        // Removed at the next start if the daemon dies before the build ends.
        crate::buildsweep::mark(&self.downloads, &r.id);
        if has_secret_env {
            lock(&self.secret_env).push(r.id.clone());
        }
        if !mounts.targets.is_empty() || !mounts.views.is_empty() {
            lock(&self.step_mounts).insert(r.id.clone(), mounts);
        }
        Ok(r.id)
    }

    fn run_container(
        &self,
        id: &str,
        output: &mut dyn Write,
    ) -> std::result::Result<i64, HostError> {
        if self.is_scratch(id) {
            return Err(HostError::new(
                "OCI runtime create failed: exec: \"/bin/sh\": stat /bin/sh: no such file or directory: unknown",
            ));
        }
        let engine = &self.engine;
        let (conn, wait) = self.rt.block_on(async {
            let att = engine
                .attach(
                    id,
                    AttachOptions {
                        stdout: true,
                        stderr: true,
                        stream: true,
                        ..Default::default()
                    },
                )
                .await
                .map_err(engine_err)?;
            let wait = engine
                .wait(id, WaitCondition::NextExit)
                .await
                .map_err(engine_err)?;
            engine.start(id).await.map_err(engine_err)?;
            // Read on this (blocking) thread: the progress writer may block itself.
            let conn = att.conn.into_std().map_err(herr)?;
            conn.set_nonblocking(false).map_err(herr)?;
            Ok::<_, HostError>((conn, wait))
        })?;
        let mut conn = conn;
        let mut buf = vec![0u8; 16 * 1024];
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let n = match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            pending.extend_from_slice(&buf[..n]);
            // Output is framed: 8-byte header (stream, 0, 0, 0, big-endian size).
            while pending.len() >= 8 {
                let size =
                    u32::from_be_bytes([pending[4], pending[5], pending[6], pending[7]]) as usize;
                if pending.len() < 8 + size {
                    break;
                }
                // A client that went away must not fail the step itself.
                let _ = output.write_all(&pending[8..8 + size]);
                pending.drain(..8 + size);
            }
        }
        let _ = output.flush();
        Ok(self.rt.block_on(wait.result()).status_code)
    }

    fn copy_into(&self, id: &str, req: &CopyRequest) -> std::result::Result<(), HostError> {
        let scratch = self.is_scratch(id);
        let ctr = if scratch {
            None
        } else {
            Some(self.engine.lookup(id).map_err(engine_err)?)
        };
        // 1. In the container: which destinations are existing directories, and who
        //    --chown names. A scratch container starts empty and has no user database.
        let dests: Vec<String> = req.items.iter().map(|i| i.dest.clone()).collect();
        let chown = req.chown.clone();
        let (is_dir, owner) = match &ctr {
            None => {
                let owner = match &chown {
                    Some(c) => Some(resolve_chown(c).map_err(HostError::new)?),
                    None => None,
                };
                (vec![false; dests.len()], owner)
            }
            Some(ctr) => {
                let view = self.engine.view_of(ctr, false, false).map_err(engine_err)?;
                self.rt
                    .block_on(in_view(view, move || {
                        let flags: Vec<bool> =
                            dests.iter().map(|d| Path::new(d).is_dir()).collect();
                        let owner = match chown {
                            Some(c) => Some(resolve_chown(&c).map_err(EngineError::invalid)?),
                            None => None,
                        };
                        Ok((flags, owner))
                    }))
                    .map_err(engine_err)?
            }
        };
        // 2. Archives of the sources, named by their destination.
        let tmp = builder_dir(&self.engine);
        let mut tars: Vec<File> = Vec::new();
        let mut host = tar::Builder::new(scratch_file(&tmp)?);
        host.follow_symlinks(false);
        for (item, exists_dir) in req.items.iter().zip(is_dir) {
            let into_dir = item.dest_is_dir || exists_dir;
            let spec = Spec {
                owner,
                chmod: req.chmod,
            };
            match &item.source {
                CopySource::Context { root } => {
                    if item.extract {
                        add_archive(&mut host, &root.join(&item.src), &item.dest, spec)?;
                    } else {
                        add_context(&mut host, root, item, into_dir, spec)?;
                    }
                }
                CopySource::File { path } => {
                    let name = if into_dir {
                        let base = path.file_name().map(|s| s.to_string_lossy().into_owned());
                        join(&item.dest, &base.unwrap_or_default())
                    } else {
                        rel_name(&item.dest)
                    };
                    let spec = Spec {
                        owner: Some(owner.unwrap_or((0, 0))),
                        chmod: req.chmod.or(item.mode),
                    };
                    append(&mut host, path, &name, spec).map_err(herr)?;
                }
                CopySource::Inline { content } => {
                    let name = if into_dir && !item.src.is_empty() {
                        join(&item.dest, &item.src)
                    } else {
                        rel_name(&item.dest)
                    };
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(content.len() as u64);
                    h.set_mode(req.chmod.or(item.mode).unwrap_or(0o644));
                    let (u, g) = owner.unwrap_or((0, 0));
                    h.set_uid(u as u64);
                    h.set_gid(g as u64);
                    h.set_mtime(now_secs());
                    host.append_data(&mut h, name, &content[..]).map_err(herr)?;
                }
                CopySource::Image { id } => {
                    let (view, base) = self.image_view(id)?;
                    let f = scratch_file(&tmp)?;
                    let item = item.clone();
                    let r = self.rt.block_on(in_view(view, move || {
                        let mut b = tar::Builder::new(f);
                        b.follow_symlinks(false);
                        add_from_image(&mut b, &item, into_dir, spec)
                            .map_err(EngineError::invalid)?;
                        b.into_inner()
                            .map_err(|e| EngineError::io("writing the copy archive", e))
                    }));
                    let _ = std::fs::remove_dir_all(&base);
                    tars.push(r.map_err(engine_err)?);
                }
            }
        }
        tars.insert(0, host.into_inner().map_err(herr)?);
        // 3. Into the container's writable layer.
        let Some(ctr) = ctr else {
            let dir = self.scratch_dir(id);
            for mut f in tars {
                f.seek(SeekFrom::Start(0)).map_err(herr)?;
                berth_image::unpack(f, &dir, &UnpackOptions::default()).map_err(herr)?;
            }
            return Ok(());
        };
        let view = self.engine.view_of(&ctr, true, false).map_err(engine_err)?;
        self.rt
            .block_on(in_view(view, move || {
                for mut f in tars {
                    f.seek(SeekFrom::Start(0))
                        .map_err(|e| EngineError::io("rewinding the copy archive", e))?;
                    berth_image::unpack(f, Path::new("/"), &UnpackOptions::default())?;
                }
                Ok(())
            }))
            .map_err(engine_err)
    }

    fn create_workdir(&self, id: &str) -> std::result::Result<(), HostError> {
        if self.is_scratch(id) {
            let wd = lock(&self.scratch)
                .get(id)
                .map(|c| c.working_dir.clone())
                .unwrap_or_default();
            let Some(parts) = berth_image::unpack::clean_components(wd.as_bytes()) else {
                return Err(HostError::new(format!("invalid working directory {wd}")));
            };
            let mut dir = self.scratch_dir(id);
            dir.extend(parts);
            return std::fs::create_dir_all(&dir).map_err(herr);
        }
        let ctr = self.engine.lookup(id).map_err(engine_err)?;
        let rec = ctr.snapshot();
        let (dir, user) = (rec.config.working_dir.clone(), rec.config.user.clone());
        if dir.is_empty() {
            return Ok(());
        }
        let view = self.engine.view_of(&ctr, true, false).map_err(engine_err)?;
        self.rt
            .block_on(in_view(view, move || {
                let p = Path::new(&dir);
                if p.is_dir() {
                    return Ok(());
                }
                std::fs::create_dir_all(p)
                    .map_err(|e| EngineError::io(format!("mkdir {dir}"), e))?;
                if !user.is_empty() {
                    let (u, g) = resolve_chown(&user).map_err(EngineError::invalid)?;
                    std::os::unix::fs::chown(p, Some(u), Some(g))
                        .map_err(|e| EngineError::io(format!("chown {dir}"), e))?;
                }
                Ok(())
            }))
            .map_err(engine_err)
    }

    fn commit(&self, req: &CommitRequest) -> std::result::Result<String, HostError> {
        // Intermediate images are made durable in one go before anything refers to
        // them from outside the build (`tag`, the end of the build): see `sync_store`.
        // Marked before the commit: a commit that fails halfway may still have written.
        self.unsynced
            .store(true, std::sync::atomic::Ordering::SeqCst);
        berth_image::atomic::deferred_sync(|| self.commit_now(req))
    }

    fn remove_container(&self, id: &str) -> std::result::Result<(), HostError> {
        if self.is_scratch(id) {
            lock(&self.scratch).remove(id);
            let _ = std::fs::remove_dir_all(self.scratch_dir(id));
            return Ok(());
        }
        let removed = self
            .rt
            .block_on(self.engine.remove(id, true, true))
            .map_err(engine_err);
        // Host views of image binds go with the container (Drop unmounts them).
        lock(&self.step_mounts).remove(id);
        removed?;
        crate::buildsweep::unmark(&self.downloads, id);
        Ok(())
    }

    fn fetch_url(&self, url: &str) -> std::result::Result<FetchedFile, HostError> {
        // One directory per download, so the file keeps the URL's name.
        let dir = self.downloads.join(berth_image::atomic::unique_suffix());
        std::fs::create_dir_all(&dir).map_err(herr)?;
        let name = berth_registry::fetch::file_name(url);
        let path = dir.join(if name.is_empty() { "download" } else { &name });
        let mut f = File::create(&path).map_err(herr)?;
        let got = berth_registry::fetch::download(url, &mut f).map_err(herr)?;
        // The legacy builder gives the file the server's Last-Modified time.
        if let Some(t) = got.modified {
            let _ = f.set_modified(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64),
            );
        }
        Ok(FetchedFile {
            path,
            name: got.name,
        })
    }

    fn tag(&self, image_id: &str, reference: &str) -> std::result::Result<(), HostError> {
        // The tag is durable at once: what it points to must be too.
        self.sync_store();
        self.engine.images.tag(image_id, reference).map_err(herr)?;
        self.engine.image_event("tag", image_id, reference);
        Ok(())
    }
}

/// An image id or id prefix (never pulled).
fn looks_like_id(reference: &str) -> bool {
    let hex = reference.strip_prefix("sha256:");
    let h = hex.unwrap_or(reference);
    (hex.is_some() || h.len() == 64) && !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Owner and mode overrides of a COPY.
#[derive(Debug, Clone, Copy)]
struct Spec {
    owner: Option<(u32, u32)>,
    chmod: Option<u32>,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An absolute container path as a tar name.
fn rel_name(p: &str) -> String {
    p.trim_start_matches('/').to_string()
}

fn join(dir: &str, name: &str) -> String {
    let d = rel_name(dir);
    let d = d.trim_end_matches('/');
    if d.is_empty() {
        name.to_string()
    } else {
        format!("{d}/{name}")
    }
}

/// Appends one file, directory or symlink at `path` under `name`.
fn append<W: Write>(
    b: &mut tar::Builder<W>,
    path: &Path,
    name: &str,
    spec: Spec,
) -> std::io::Result<()> {
    let md = std::fs::symlink_metadata(path)?;
    let mut h = tar::Header::new_gnu();
    let perm = md.mode() & 0o7777;
    h.set_mode(spec.chmod.unwrap_or(perm));
    let (u, g) = spec.owner.unwrap_or((md.uid(), md.gid()));
    h.set_uid(u as u64);
    h.set_gid(g as u64);
    h.set_mtime(md.mtime().max(0) as u64);
    let ft = md.file_type();
    if ft.is_dir() {
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        b.append_data(
            &mut h,
            format!("{}/", name.trim_end_matches('/')),
            std::io::empty(),
        )
    } else if ft.is_symlink() {
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(perm);
        let target = std::fs::read_link(path)?;
        b.append_link(&mut h, name, target)
    } else if ft.is_file() {
        let f = File::open(path)?;
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(md.len());
        b.append_data(&mut h, name, f.take(md.len()))
    } else {
        Ok(())
    }
}

/// A context source: exactly `item.paths`, renamed under the destination.
fn add_context<W: Write>(
    b: &mut tar::Builder<W>,
    root: &Path,
    item: &CopyItem,
    into_dir: bool,
    spec: Spec,
) -> std::result::Result<(), HostError> {
    let spec = Spec {
        owner: Some(spec.owner.unwrap_or((0, 0))),
        chmod: spec.chmod,
    };
    let src = item.src.trim_matches('/');
    let src = if src == "." { "" } else { src };
    let src_is_dir = src.is_empty() || root.join(src).is_dir();
    if src_is_dir && !into_dir && !item.dest.ends_with('/') {
        // The destination directory itself, when it does not exist yet.
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(spec.chmod.unwrap_or(0o755));
        let (u, g) = spec.owner.unwrap_or((0, 0));
        h.set_uid(u as u64);
        h.set_gid(g as u64);
        h.set_mtime(now_secs());
        h.set_size(0);
        let name = format!("{}/", rel_name(&item.dest).trim_end_matches('/'));
        if name != "/" {
            b.append_data(&mut h, name, std::io::empty())
                .map_err(herr)?;
        }
    }
    for p in &item.paths {
        let p = p.trim_matches('/');
        let name = if src_is_dir {
            let rel = if src.is_empty() {
                p
            } else if p == src {
                continue;
            } else {
                match p.strip_prefix(src).and_then(|r| r.strip_prefix('/')) {
                    Some(r) => r,
                    None => continue,
                }
            };
            if rel.is_empty() {
                continue;
            }
            join(&item.dest, rel)
        } else if into_dir {
            let base = p.rsplit('/').next().unwrap_or(p);
            join(&item.dest, base)
        } else {
            rel_name(&item.dest)
        };
        append(b, &root.join(p), &name, spec).map_err(herr)?;
    }
    Ok(())
}

/// ADD of a local archive: its entries re-rooted at the destination.
fn add_archive<W: Write>(
    b: &mut tar::Builder<W>,
    path: &Path,
    dest: &str,
    spec: Spec,
) -> std::result::Result<(), HostError> {
    let f = File::open(path).map_err(herr)?;
    let stream = berth_image::compression::decompress(f).map_err(herr)?;
    let mut a = tar::Archive::new(stream);
    for e in a.entries().map_err(herr)? {
        let mut e = e.map_err(herr)?;
        let raw = e.path_bytes().into_owned();
        let Some(parts) = berth_image::unpack::clean_components(&raw) else {
            continue;
        };
        if parts.is_empty() {
            continue;
        }
        let rel: Vec<String> = parts
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let name = join(dest, &rel.join("/"));
        let mut h = e.header().clone();
        if let Some((u, g)) = spec.owner {
            h.set_uid(u as u64);
            h.set_gid(g as u64);
        }
        if let Some(m) = spec.chmod {
            h.set_mode(m);
        }
        let kind = h.entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let target = e
                .link_name_bytes()
                .map(|t| t.into_owned())
                .unwrap_or_default();
            let target = String::from_utf8_lossy(&target).into_owned();
            let target = if kind.is_hard_link() {
                join(dest, target.trim_start_matches('/'))
            } else {
                target
            };
            b.append_link(&mut h, &name, target).map_err(herr)?;
        } else {
            let size = e.size();
            b.append_data(&mut h, &name, (&mut e).take(size))
                .map_err(herr)?;
        }
    }
    Ok(())
}

/// `COPY --from`: runs chrooted in the source image's files.
fn add_from_image<W: Write>(
    b: &mut tar::Builder<W>,
    item: &CopyItem,
    into_dir: bool,
    spec: Spec,
) -> std::result::Result<(), String> {
    let src = format!("/{}", item.src.trim_start_matches('/'));
    let matches: Vec<PathBuf> = if berth_build::dockerignore::has_glob(&src) {
        let (dir, pat) = src.rsplit_once('/').unwrap_or(("", &src));
        let dir = if dir.is_empty() { "/" } else { dir };
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("lstat {src}: {e}"))?
            .flatten()
            .filter(|e| {
                berth_build::dockerignore::glob_match(pat, &e.file_name().to_string_lossy(), false)
            })
            .map(|e| e.path())
            .collect();
        v.sort();
        v
    } else {
        vec![PathBuf::from(&src)]
    };
    if matches.is_empty() {
        return Err(format!("lstat {src}: no source files were specified"));
    }
    let excluded = |rel: &str| {
        item.excludes
            .iter()
            .any(|p| berth_build::dockerignore::glob_match(p, rel, true))
    };
    let into_dir = into_dir || matches.len() > 1;
    for m in matches {
        let md = std::fs::symlink_metadata(&m)
            .map_err(|_| format!("failed to compute cache key: \"{}\" not found", m.display()))?;
        if md.is_dir() {
            let dest_root = rel_name(&item.dest);
            if !dest_root.trim_end_matches('/').is_empty() {
                append(b, &m, &dest_root, spec).map_err(|e| e.to_string())?;
            }
            let mut stack = vec![m.clone()];
            while let Some(d) = stack.pop() {
                let mut entries: Vec<_> = std::fs::read_dir(&d)
                    .map_err(|e| e.to_string())?
                    .flatten()
                    .collect();
                entries.sort_by_key(|e| e.file_name());
                for e in entries {
                    let p = e.path();
                    let rel = p
                        .strip_prefix(&m)
                        .map(|r| r.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    if excluded(&rel) {
                        continue;
                    }
                    append(b, &p, &join(&item.dest, &rel), spec).map_err(|e| e.to_string())?;
                    if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                        stack.push(p);
                    }
                }
            }
        } else {
            let name = if into_dir {
                let base = m
                    .file_name()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                join(&item.dest, &base)
            } else {
                rel_name(&item.dest)
            };
            append(b, &m, &name, spec).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// `user[:group]` (names or ids) against the container's /etc/passwd and /etc/group.
/// Without a group, the user's id is used as the group id too (Docker's rule for
/// `--chown`).
fn resolve_chown(spec: &str) -> std::result::Result<(u32, u32), String> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let lookup = |file: &str, name: &str| -> Option<u32> {
        let text = std::fs::read_to_string(file).ok()?;
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[0] == name)
                .then(|| f[2].parse().ok())
                .flatten()
        })
    };
    let err = |kind: &str, name: &str| {
        format!(
            "unable to convert uid/gid chown string to host mapping: can't find {kind} for user {name}: no such {}: {name}",
            if kind == "uid" { "user" } else { "group" }
        )
    };
    let uid = match user.parse::<u32>() {
        Ok(n) => n,
        Err(_) => lookup("/etc/passwd", user).ok_or_else(|| err("uid", user))?,
    };
    let gid = match group {
        None => uid,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => lookup("/etc/group", g).ok_or_else(|| err("gid", g))?,
        },
    };
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_never_pulled_and_stale_dirs_are_swept() {
        assert!(looks_like_id("sha256:abc123"));
        assert!(looks_like_id(&"a".repeat(64)));
        assert!(!looks_like_id("busybox"));
        assert!(!looks_like_id("abc123"));
        let d = tempfile::tempdir().unwrap();
        let mine = format!("ctx-{}-1-2", std::process::id());
        for n in [mine.as_str(), "ctx-1-2-3", "view-1-2-3", "cache.json"] {
            std::fs::create_dir(d.path().join(n)).unwrap();
        }
        sweep_stale(d.path());
        let mut left: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, vec!["cache.json".to_string(), mine]);
    }

    #[test]
    fn chown_specs_resolve_like_docker() {
        // Numeric specs need no user database; a lone uid is also the gid.
        assert_eq!(resolve_chown("1000"), Ok((1000, 1000)));
        assert_eq!(resolve_chown("1000:50"), Ok((1000, 50)));
        let e = resolve_chown("nosuchuser-berth").unwrap_err();
        assert!(e.contains("no such user: nosuchuser-berth"), "{e}");
    }

    #[test]
    fn tar_names_are_relative_to_the_root() {
        assert_eq!(join("/app/", "a.txt"), "app/a.txt");
        assert_eq!(join("/", "a.txt"), "a.txt");
        assert_eq!(rel_name("/app/b"), "app/b");
    }

    #[test]
    fn context_items_go_under_the_destination() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("src")).unwrap();
        std::fs::write(d.path().join("src/x"), b"x").unwrap();
        std::fs::write(d.path().join("a.txt"), b"a").unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let spec = Spec {
            owner: None,
            chmod: Some(0o600),
        };
        let item = |src: &str, dest: &str, paths: &[&str]| CopyItem {
            source: CopySource::Context {
                root: d.path().to_path_buf(),
            },
            src: src.into(),
            dest: dest.into(),
            dest_is_dir: dest.ends_with('/'),
            extract: false,
            mode: None,
            excludes: vec![],
            paths: paths.iter().map(|s| s.to_string()).collect(),
        };
        add_context(
            &mut b,
            d.path(),
            &item("a.txt", "/app/", &["a.txt"]),
            true,
            spec,
        )
        .unwrap();
        add_context(
            &mut b,
            d.path(),
            &item("src", "/opt/s", &["src", "src/x"]),
            false,
            spec,
        )
        .unwrap();
        let data = b.into_inner().unwrap();
        let mut a = tar::Archive::new(&data[..]);
        let got: Vec<(String, u32, u64)> = a
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("app/a.txt".to_string(), 0o600, 0),
                ("opt/s/".to_string(), 0o600, 0),
                ("opt/s/x".to_string(), 0o600, 0),
            ]
        );
    }
}
