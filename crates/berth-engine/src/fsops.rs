//! Operations on a container's file system from the host: `export`, `cp` in and out
//! (the archive endpoints), `commit`, and the image archive wrappers (`save`/`load`).
//!
//! Every access runs on a dedicated thread that first isolates itself: it unshares its
//! file-system attributes (so `chroot` affects only it) and then either
//! - chroots into `/proc/<pid>/root` of a running container (the live view, with its
//!   mounts), or
//! - unshares a private mount namespace, mounts an overlay of the container's layers on
//!   a scratch directory and chroots there (stopped containers, and `export`, which must
//!   not include /proc, /sys or volumes).
//!
//! Paths then resolve inside the container: symlinks cannot lead out. The mount lives
//! only in the thread's namespace and disappears with the thread, so nothing leaks onto
//! the host even if the daemon dies mid-copy.

use crate::error::{EngineError, Result};
use crate::viewmounts::{self, ViewMount};
use crate::{lock, Ctr, Engine};
use berth_image::{CommitOptions, ImageId, UnpackOptions};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Which view of the container's files a worker thread gets.
#[derive(Debug, Clone)]
pub(crate) enum View {
    /// The running container's root, through `/proc/<pid>/root`.
    Live(i32),
    /// An overlay of the layers mounted at `mountpoint` in a private namespace;
    /// writable when `work` is given (the container must be stopped).
    Overlay {
        lower: Vec<PathBuf>,
        upper: PathBuf,
        work: Option<PathBuf>,
        mountpoint: PathBuf,
    },
    /// A stopped container's overlay (the inner view) with its volumes and binds
    /// mounted at their targets, for `cp` and the archive endpoints.
    Mounted(Box<View>, Vec<ViewMount>),
}

/// `X-Docker-Container-Path-Stat` of the archive endpoints (base64 of its JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go's `os.FileMode` bits (type bits high, permissions low).
    pub mode: u32,
    /// RFC 3339.
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// Go's `os.FileMode` from a Unix `st_mode`.
pub fn go_file_mode(st_mode: u32) -> u32 {
    const MODE_DIR: u32 = 1 << 31;
    const MODE_SYMLINK: u32 = 1 << 27;
    const MODE_DEVICE: u32 = 1 << 26;
    const MODE_NAMED_PIPE: u32 = 1 << 25;
    const MODE_SOCKET: u32 = 1 << 24;
    const MODE_SETUID: u32 = 1 << 23;
    const MODE_SETGID: u32 = 1 << 22;
    const MODE_CHAR_DEVICE: u32 = 1 << 21;
    const MODE_STICKY: u32 = 1 << 20;
    let mut m = st_mode & 0o777;
    match st_mode & libc::S_IFMT {
        libc::S_IFDIR => m |= MODE_DIR,
        libc::S_IFLNK => m |= MODE_SYMLINK,
        libc::S_IFBLK => m |= MODE_DEVICE,
        libc::S_IFCHR => m |= MODE_DEVICE | MODE_CHAR_DEVICE,
        libc::S_IFIFO => m |= MODE_NAMED_PIPE,
        libc::S_IFSOCK => m |= MODE_SOCKET,
        _ => {}
    }
    if st_mode & libc::S_ISUID != 0 {
        m |= MODE_SETUID;
    }
    if st_mode & libc::S_ISGID != 0 {
        m |= MODE_SETGID;
    }
    if st_mode & libc::S_ISVTX != 0 {
        m |= MODE_STICKY;
    }
    m
}

/// Isolates the calling thread and makes the container's files its root. For an overlay
/// view, returns the host root (to come back to and unmount in [`leave`]).
fn enter(view: &View) -> std::io::Result<Option<std::fs::File>> {
    use nix::sched::{unshare, CloneFlags};
    match view {
        View::Live(pid) => {
            unshare(CloneFlags::CLONE_FS)?;
            nix::unistd::chroot(format!("/proc/{pid}/root").as_str())?;
            nix::unistd::chdir("/")?;
            Ok(None)
        }
        View::Overlay { .. } => enter_overlay(view, &[]),
        View::Mounted(inner, mounts) => enter_overlay(inner, mounts),
    }
}

/// [`enter`] for an overlay view, with `mounts` attached inside it.
fn enter_overlay(view: &View, mounts: &[ViewMount]) -> std::io::Result<Option<std::fs::File>> {
    use nix::mount::{mount, MsFlags};
    use nix::sched::{unshare, CloneFlags};
    let View::Overlay {
        lower,
        upper,
        work,
        mountpoint,
    } = view
    else {
        return enter(view);
    };
    unshare(CloneFlags::CLONE_FS | CloneFlags::CLONE_NEWNS)?;
    // Nothing mounted here may propagate back to the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )?;
    std::fs::create_dir_all(mountpoint)?;
    let lowers: Vec<String> = lower.iter().map(|p| p.display().to_string()).collect();
    // A read-only view with mounts still needs a writable layer for missing mount
    // points: a scratch one on a tmpfs, gone with the view (the container's own layer
    // is never written by a read).
    let scratch = work.is_none() && !mounts.is_empty();
    let (data, flags, root) = match work {
        Some(w) => (
            format!(
                "lowerdir={},upperdir={},workdir={}",
                lowers.join(":"),
                upper.display(),
                w.display()
            ),
            MsFlags::empty(),
            mountpoint.clone(),
        ),
        None if scratch => {
            mount(
                Some("tmpfs"),
                mountpoint,
                Some("tmpfs"),
                MsFlags::empty(),
                Some("mode=700"),
            )?;
            for d in ["u", "w", "m"] {
                std::fs::create_dir(mountpoint.join(d))?;
            }
            (
                format!(
                    "lowerdir={}:{},upperdir={},workdir={}",
                    upper.display(),
                    lowers.join(":"),
                    mountpoint.join("u").display(),
                    mountpoint.join("w").display()
                ),
                MsFlags::empty(),
                mountpoint.join("m"),
            )
        }
        None => (
            format!("lowerdir={}:{}", upper.display(), lowers.join(":")),
            MsFlags::MS_RDONLY,
            mountpoint.clone(),
        ),
    };
    let host_root = std::fs::File::open("/")?;
    mount(
        Some("overlay"),
        &root,
        Some("overlay"),
        flags,
        Some(data.as_str()),
    )?;
    // The sources are only reachable before the chroot; the targets only after.
    let detached = viewmounts::detach_all(mounts)?;
    nix::unistd::chroot(&root)?;
    nix::unistd::chdir("/")?;
    viewmounts::attach_all(detached)?;
    Ok(Some(host_root))
}

/// Undoes [`enter`] for an overlay view: back to the host root, then unmount, so the
/// scratch directory can be removed as soon as the work is done (the namespace itself
/// only goes away when the thread has fully exited).
fn leave(view: &View, host_root: Option<std::fs::File>) {
    let view = match view {
        View::Mounted(inner, _) => inner.as_ref(),
        v => v,
    };
    if let (View::Overlay { mountpoint, .. }, Some(root)) = (view, host_root) {
        // Detaching the top mount takes the overlay and everything on it along.
        if nix::unistd::fchdir(&root).is_ok() && nix::unistd::chroot(".").is_ok() {
            let _ = nix::mount::umount2(mountpoint.as_path(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// Runs `f` on a new thread inside `view`; the scratch mount point is removed after.
pub(crate) async fn in_view<T: Send + 'static>(
    view: View,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let (tx, rx) = oneshot::channel();
    let v2 = view.clone();
    std::thread::spawn(move || {
        let r = match enter(&v2) {
            Ok(root) => {
                let r = f();
                leave(&v2, root);
                r
            }
            Err(e) => Err(EngineError::internal(format!(
                "cannot access the container's files: {e}"
            ))),
        };
        let _ = tx.send(r);
    });
    let r = rx
        .await
        .unwrap_or_else(|_| Err(EngineError::internal("file worker panicked")));
    cleanup(&view);
    r
}

fn cleanup(view: &View) {
    let view = match view {
        View::Mounted(inner, _) => inner.as_ref(),
        v => v,
    };
    if let View::Overlay { mountpoint, .. } = view {
        // Empty on the host: the mount lived only in the worker's namespace.
        let _ = std::fs::remove_dir(mountpoint);
    }
}

/// Sends chunks of a tar stream over a channel from a blocking thread.
struct ChanWriter(mpsc::Sender<Vec<u8>>);

impl Write for ChanWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(buf.to_vec())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "reader went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn stat_path(p: &Path) -> std::io::Result<PathStat> {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::symlink_metadata(p)?;
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    let link_target = if md.file_type().is_symlink() {
        std::fs::read_link(p)
            .map(|t| t.display().to_string())
            .unwrap_or_default()
    } else {
        String::new()
    };
    let mtime = std::time::UNIX_EPOCH
        + std::time::Duration::new(md.mtime().max(0) as u64, md.mtime_nsec().max(0) as u32);
    Ok(PathStat {
        name,
        size: md.size() as i64,
        mode: go_file_mode(md.mode()),
        mtime: berth_types::time::rfc3339_nano_trimmed(mtime),
        link_target,
    })
}

/// Writes a tar of `path` (named by its base name, directories recursively, symlinks
/// stored as links) to `w`.
fn tar_path(path: &Path, w: impl Write) -> std::io::Result<()> {
    let mut b = tar::Builder::new(w);
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Complete);
    let md = std::fs::symlink_metadata(path)?;
    let name = path
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    if md.is_dir() {
        b.append_dir_all(&name, path)?;
    } else {
        b.append_path_with_name(path, &name)?;
    }
    b.into_inner()?.flush()
}

/// Copies a stream into an unlinked temporary file in `dir` and rewinds it.
fn spool(mut r: Box<dyn std::io::Read + Send>, dir: &Path) -> Result<std::fs::File> {
    use std::io::{Seek, SeekFrom};
    let mut suffix = [0u8; 6];
    getrandom::fill(&mut suffix).map_err(|e| EngineError::internal(e.to_string()))?;
    let path = dir.join(format!(".cp-{}.tar", hex::encode(suffix)));
    let io = |e: std::io::Error| EngineError::io("spooling the archive", e);
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(io)?;
    let _ = std::fs::remove_file(&path);
    std::io::copy(&mut r, &mut f).map_err(io)?;
    f.seek(SeekFrom::Start(0)).map_err(io)?;
    Ok(f)
}

/// Docker's `noOverwriteDirNonDir`: refuses an archive that would replace a directory
/// with a non-directory or the reverse. Leaves the file rewound.
fn check_dir_non_dir(f: &mut std::fs::File, dest: &Path) -> Result<()> {
    use std::io::{Seek, SeekFrom};
    let bad = |e: std::io::Error| EngineError::invalid(format!("invalid tar archive: {e}"));
    {
        let mut a = tar::Archive::new(&mut *f);
        for e in a.entries().map_err(bad)? {
            let e = e.map_err(bad)?;
            let rel = e.path().map(|p| p.into_owned()).unwrap_or_default();
            let rel = rel.strip_prefix("/").unwrap_or(&rel).to_path_buf();
            if rel.as_os_str().is_empty() || rel == Path::new(".") {
                continue;
            }
            let target = dest.join(&rel);
            let Ok(md) = std::fs::symlink_metadata(&target) else {
                continue;
            };
            let is_dir = e.header().entry_type().is_dir();
            let shown = target.display().to_string();
            if md.is_dir() && !is_dir {
                return Err(EngineError::invalid(format!(
                    "cannot overwrite directory {shown:?} with non-directory {shown:?}"
                )));
            }
            if !md.is_dir() && is_dir {
                return Err(EngineError::invalid(format!(
                    "cannot overwrite non-directory {shown:?} with directory {shown:?}"
                )));
            }
        }
    }
    f.seek(SeekFrom::Start(0))
        .map_err(|e| EngineError::io("rewinding the archive", e))?;
    Ok(())
}

impl Engine {
    pub(crate) fn view_of(
        &self,
        ctr: &Arc<Ctr>,
        writable: bool,
        prefer_live: bool,
    ) -> Result<View> {
        let rec = ctr.snapshot();
        if prefer_live && rec.state.running && rec.state.pid > 0 {
            return Ok(View::Live(rec.state.pid as i32));
        }
        if writable && rec.state.running {
            return Err(EngineError::conflict(format!(
                "Container {} is running",
                ctr.id
            )));
        }
        let id = ImageId::parse(&rec.image)
            .ok_or_else(|| EngineError::internal(format!("bad image id {}", rec.image)))?;
        let lower = self.images.layer_dirs(&id)?;
        let mut suffix = [0u8; 6];
        getrandom::fill(&mut suffix).map_err(|e| EngineError::internal(e.to_string()))?;
        Ok(View::Overlay {
            lower,
            upper: ctr.paths.upper(),
            work: writable.then(|| ctr.paths.work()),
            mountpoint: ctr
                .paths
                .dir
                .join("rootfs")
                .join(format!("view-{}", hex::encode(suffix))),
        })
    }

    /// The view of `cp` and the archive endpoints: the live root of a running container
    /// (its mounts are there already), or the overlay of a stopped one with its volumes
    /// and binds mounted at their targets, as Docker mounts them for the copy.
    fn cp_view(&self, ctr: &Arc<Ctr>, writable: bool) -> Result<View> {
        let view = self.view_of(ctr, writable, true)?;
        if let View::Live(_) = view {
            return Ok(view);
        }
        let mounts = viewmounts::view_mounts(&ctr.snapshot());
        Ok(if mounts.is_empty() {
            view
        } else {
            View::Mounted(Box::new(view), mounts)
        })
    }

    /// `GET /containers/{id}/export`: a tar stream of the container's root file system.
    pub async fn export(&self, name: &str) -> Result<mpsc::Receiver<Vec<u8>>> {
        let ctr = self.lookup(name)?;
        let view = self.view_of(&ctr, false, false)?;
        let (tx, rx) = mpsc::channel(16);
        let (ready_tx, ready_rx) = oneshot::channel::<Result<()>>();
        let rec = ctr.snapshot();
        // Held until the scratch mount point is gone, so a reader that saw the end of
        // the stream sees no leftovers.
        let hold = tx.clone();
        tokio::spawn(async move {
            let r = in_view(view, move || {
                let _ = ready_tx.send(Ok(()));
                berth_image::tar_dir(Path::new("/"), ChanWriter(tx))
                    .map_err(|e| EngineError::internal(e.to_string()))
            })
            .await;
            if let Err(e) = r {
                eprintln!("berth-engine: export failed: {e}");
            }
            drop(hold);
        });
        match ready_rx.await {
            Ok(r) => r?,
            Err(_) => {
                return Err(EngineError::internal("cannot access the container's files"));
            }
        }
        self.container_event(&rec, "export", &[]);
        Ok(rx)
    }

    /// `HEAD /containers/{id}/archive`: the stat of a path in the container.
    pub async fn archive_stat(&self, name: &str, path: &str) -> Result<PathStat> {
        let ctr = self.lookup(name)?;
        let view = self.cp_view(&ctr, false)?;
        let p = PathBuf::from(if path.is_empty() { "/" } else { path });
        let (shown, id) = (path.to_string(), ctr.id.clone());
        in_view(view, move || {
            stat_path(&p).map_err(|_| {
                EngineError::not_found(format!("Could not find the file {shown} in container {id}"))
            })
        })
        .await
    }

    /// `GET /containers/{id}/archive`: the stat and a tar stream of a path.
    pub async fn archive_get(
        &self,
        name: &str,
        path: &str,
    ) -> Result<(PathStat, mpsc::Receiver<Vec<u8>>)> {
        let ctr = self.lookup(name)?;
        let view = self.cp_view(&ctr, false)?;
        let p = PathBuf::from(if path.is_empty() { "/" } else { path });
        let (shown, id) = (path.to_string(), ctr.id.clone());
        let (tx, rx) = mpsc::channel(16);
        let (ready_tx, ready_rx) = oneshot::channel::<Result<PathStat>>();
        let hold = tx.clone();
        let task = tokio::spawn(async move {
            let _ = in_view(view, move || {
                // A trailing "/." copies a directory's contents; the stat is the dir's.
                let target = match shown.strip_suffix("/.") {
                    Some("") => PathBuf::from("/"),
                    Some(dir) => PathBuf::from(dir),
                    None => p.clone(),
                };
                let st = match stat_path(&target) {
                    Ok(s) => s,
                    Err(_) => {
                        let e = EngineError::not_found(format!(
                            "Could not find the file {shown} in container {id}"
                        ));
                        let _ = ready_tx.send(Err(e.clone()));
                        return Err(e);
                    }
                };
                let _ = ready_tx.send(Ok(st));
                tar_path(&target, ChanWriter(tx)).map_err(|e| EngineError::internal(e.to_string()))
            })
            .await;
            drop(hold);
        });
        let failed = match ready_rx.await {
            Ok(Ok(st)) => return Ok((st, rx)),
            Ok(Err(e)) => e,
            Err(_) => EngineError::internal("cannot access the container's files"),
        };
        // Answer only once the view is gone: nothing of it outlives the request.
        let _ = task.await;
        Err(failed)
    }

    /// `PUT /containers/{id}/archive`: extracts a tar into a directory of the container.
    /// `no_overwrite_dir_non_dir` refuses replacing a directory with a non-directory
    /// (and back), as Docker's flag does.
    pub async fn archive_put(
        &self,
        name: &str,
        path: &str,
        tar: Box<dyn std::io::Read + Send>,
        no_overwrite_dir_non_dir: bool,
    ) -> Result<()> {
        let ctr = self.lookup(name)?;
        let view = self.cp_view(&ctr, true)?;
        let p = PathBuf::from(if path.is_empty() { "/" } else { path });
        let (shown, id) = (path.to_string(), ctr.id.clone());
        // A read-only rootfs still accepts copies into its writable mounts (volumes,
        // binds, tmpfs); a read-only mount accepts none.
        let (points, readonly_rootfs) = {
            let r = lock(&ctr.rec);
            let hc = &r.host_config;
            let mut points = viewmounts::mount_points(&r);
            if r.mounts.is_empty() {
                // A record from before mounts were resolved: its requests as written.
                let binds = hc.binds.iter().flatten().filter_map(|b| {
                    let mut f = b.split(':');
                    let target = f.nth(1)?.to_string();
                    let ro = f.next().is_some_and(|m| m.split(',').any(|o| o == "ro"));
                    Some((target, !ro))
                });
                points.extend(binds);
                let mounts = hc.mounts.iter().flatten();
                points.extend(mounts.map(|m| (m.target.clone(), !m.read_only)));
                points.extend(hc.tmpfs.iter().flatten().map(|(t, _)| (t.clone(), true)));
            }
            (points, hc.readonly_rootfs)
        };
        // With the check, the archive is read twice: spool it to an unlinked file first.
        let (spooled, direct) = if no_overwrite_dir_non_dir {
            let dir = ctr.paths.dir.clone();
            (
                Some(tokio::task::spawn_blocking(move || spool(tar, &dir)).await??),
                None,
            )
        } else {
            (None, Some(tar))
        };
        in_view(view, move || {
            let md = std::fs::metadata(&p).map_err(|_| {
                EngineError::not_found(format!("Could not find the file {shown} in container {id}"))
            })?;
            if !md.is_dir() {
                return Err(EngineError::invalid("extraction point is not a directory"));
            }
            // Docker checks the path with its symlinks followed (in the container root).
            let resolved = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
            match viewmounts::covering_mount(&points, &resolved) {
                Some((_, false)) => {
                    return Err(EngineError::invalid("mounted volume is marked read-only"));
                }
                None if readonly_rootfs => {
                    return Err(EngineError::invalid("container rootfs is marked read-only"));
                }
                _ => {}
            }
            let source: Box<dyn std::io::Read + Send> = match (spooled, direct) {
                (Some(mut f), _) => {
                    check_dir_non_dir(&mut f, &p)?;
                    Box::new(f)
                }
                (None, Some(t)) => t,
                (None, None) => return Err(EngineError::internal("no archive")),
            };
            berth_image::unpack(source, &p, &UnpackOptions::default())
                .map(|_| ())
                .map_err(EngineError::from)
        })
        .await
    }

    /// `POST /commit`: the container's writable layer becomes a new image on top of its
    /// image. The container is paused meanwhile when running and `pause` is set.
    pub async fn commit(&self, name: &str, opts: CommitRequest) -> Result<String> {
        let ctr = self.lookup(name)?;
        let rec = ctr.snapshot();
        let parent = ImageId::parse(&rec.image)
            .ok_or_else(|| EngineError::internal(format!("bad image id {}", rec.image)))?;
        let mut cfg = rec.config.clone();
        if let Some(mut over) = opts.config.clone() {
            crate::containers::merge_image_config(&mut over, &cfg);
            cfg = over;
        }
        let image_cfg: berth_image::ContainerConfig = serde_json::to_value(&cfg)
            .ok()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let mut exclude: Vec<PathBuf> = ["etc/hostname", "etc/hosts", "etc/resolv.conf"]
            .iter()
            .map(PathBuf::from)
            .collect();
        for b in rec.host_config.binds.iter().flatten() {
            if let Some(t) = b.split(':').nth(1) {
                exclude.push(PathBuf::from(t.trim_start_matches('/')));
            }
        }
        for m in rec.host_config.mounts.iter().flatten() {
            exclude.push(PathBuf::from(m.target.trim_start_matches('/')));
        }
        for t in rec.host_config.tmpfs.iter().flatten().map(|(k, _)| k) {
            exclude.push(PathBuf::from(t.trim_start_matches('/')));
        }
        let mut cmd = rec.config.entrypoint.clone().unwrap_or_default();
        cmd.extend(rec.config.cmd.clone().unwrap_or_default());
        let reference = match (opts.repo.as_str(), opts.tag.as_str()) {
            ("", _) => None,
            (r, "") => Some(r.to_string()),
            (r, t) => Some(format!("{r}:{t}")),
        };
        let iopts = CommitOptions {
            reference: reference.clone(),
            author: opts.author.clone(),
            comment: opts.comment.clone(),
            changes: opts.changes.clone(),
            config: image_cfg,
            container_id: rec.id.clone(),
            created_by: cmd.join(" "),
            exclude,
        };
        let paused_here = opts.pause && rec.state.running && !rec.state.paused;
        if paused_here {
            self.pause(&rec.id).await?;
        }
        let images = self.images.clone();
        let upper = ctr.paths.upper();
        let res = tokio::task::spawn_blocking(move || images.commit(&parent, &upper, &iopts)).await;
        if paused_here {
            let _ = self.unpause(&rec.id).await;
        }
        let id = res??;
        self.container_event(&rec, "commit", &[]);
        Ok(id.as_str().to_string())
    }

    /// `GET /images/get` (`docker save`): a tar stream of the named images.
    pub async fn image_save(&self, names: Vec<String>) -> Result<mpsc::Receiver<Vec<u8>>> {
        for n in &names {
            self.images.resolve(n)?;
        }
        let (tx, rx) = mpsc::channel(16);
        let images = self.images.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = images.save(&names, ChanWriter(tx)) {
                eprintln!("berth-engine: save failed: {e}");
            }
        });
        Ok(rx)
    }

    /// `POST /images/load` (`docker load`): returns Docker's progress lines.
    pub async fn image_load(&self, tar: Box<dyn std::io::Read + Send>) -> Result<Vec<String>> {
        let images = self.images.clone();
        let lines = tokio::task::spawn_blocking(move || images.load(tar)).await??;
        for l in &lines {
            if let Some(name) = l
                .strip_prefix("Loaded image: ")
                .or_else(|| l.strip_prefix("Loaded image ID: "))
            {
                self.image_event("load", name, name);
            }
        }
        Ok(lines)
    }
}

/// Options of [`Engine::commit`] (`POST /commit` query and body).
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    pub repo: String,
    pub tag: String,
    pub comment: String,
    pub author: String,
    /// Dockerfile lines (`--change`).
    pub changes: Vec<String>,
    /// Pause the container while committing (Docker's default: true).
    pub pause: bool,
    /// The request body: config fields that override the container's.
    pub config: Option<berth_types::docker::ContainerConfig>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_modes() {
        assert_eq!(go_file_mode(libc::S_IFDIR | 0o755), (1 << 31) | 0o755);
        assert_eq!(go_file_mode(libc::S_IFREG | 0o644), 0o644);
        assert_eq!(go_file_mode(libc::S_IFLNK | 0o777), (1 << 27) | 0o777);
        assert_eq!(
            go_file_mode(libc::S_IFREG | libc::S_ISUID | 0o755),
            (1 << 23) | 0o755
        );
    }

    #[test]
    fn tar_of_a_file_is_named_by_its_base_name() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("dir")).unwrap();
        std::fs::write(d.path().join("dir/f"), b"x").unwrap();
        let mut out = Vec::new();
        tar_path(&d.path().join("dir"), &mut out).unwrap();
        let mut a = tar::Archive::new(&out[..]);
        let names: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, vec!["dir/", "dir/f"]);
        let st = stat_path(&d.path().join("dir/f")).unwrap();
        assert_eq!(
            (st.name.as_str(), st.size, st.mode),
            ("f", 1, 0o644 & st.mode)
        );
    }
}
