//! Opening the engine: directories, the image store, cgroups, and live restore of every
//! container found on disk.
//!
//! For a container recorded as running: if its shim answers `state`, the engine resumes
//! watching it (a new monitor task); if the shim is gone, `exit.json` tells how it ended;
//! with neither, the shim died abnormally and the container is recorded as exited with
//! 137 (as if killed). Containers with AutoRemove that exited meanwhile are removed, and
//! `always`/`unless-stopped` containers that are down are started again, as Docker's
//! daemon does at boot.

use crate::error::{EngineError, Result};
use crate::monitor::{shim_alive, shim_died};
use crate::record::{read_json, ContainerRecord, CONFIG_FILE};
use crate::{lock, shimctl, Engine, EngineConfig};
use berth_image::ImageStore;
use berth_types::shim::{ExitStatus, Request};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::broadcast;

impl Engine {
    /// Opens (creating if needed) the data root and restores containers.
    pub async fn open(cfg: EngineConfig) -> Result<Arc<Engine>> {
        for d in [cfg.data_root.join("containers"), cfg.exec_root.join("s")] {
            std::fs::create_dir_all(&d)
                .map_err(|e| EngineError::io(format!("creating {}", d.display()), e))?;
        }
        // Directories of removed containers whose background deletion did not finish.
        let trash = cfg.data_root.join(crate::containers::TRASH_DIR);
        if trash.exists() {
            crate::janitor::delete_later(trash);
        }
        let img_root = cfg.data_root.join("image");
        let images = tokio::task::spawn_blocking(move || ImageStore::open(&img_root)).await??;
        let data_root = cfg.data_root.clone();
        let volumes =
            tokio::task::spawn_blocking(move || crate::volumes::open_store(&data_root)).await??;
        let cgroups = berth_cgroups::Hierarchy::detect().ok();
        let net = crate::networking::open(&cfg).await?;
        let (events, _) = broadcast::channel(1024);
        let engine = Arc::new_cyclic(|me| Engine {
            cfg,
            images: Arc::new(images),
            containers: RwLock::new(BTreeMap::new()),
            names: Mutex::new(HashMap::new()),
            execs: Mutex::new(HashMap::new()),
            events,
            history: Mutex::new(std::collections::VecDeque::new()),
            cgroups,
            dist: std::sync::OnceLock::new(),
            net,
            volumes,
            netns_pool: Arc::new(crate::netpool::NetnsPool::default()),
            me: me.clone(),
        });
        engine.restore_volumes();
        engine.restore().await;
        // Step containers and work dirs of builds the previous daemon died in.
        engine.sweep_interrupted_builds().await;
        engine.sweep_orphan_layers().await;
        engine.netns_pool.refill();
        Ok(engine)
    }

    /// Layers no image refers to: a `kill -9` between registering a layer and writing
    /// the image that uses it (import, load, commit, build) leaves one behind, and
    /// nothing else would ever delete it. Nothing is in flight at startup. Layers under
    /// a container's rootfs are kept; when a container's image was force-removed (its
    /// layers stay for it, but no record says which they are) nothing is swept.
    async fn sweep_orphan_layers(&self) {
        let mut keep: Vec<std::path::PathBuf> = Vec::new();
        for c in self
            .containers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            let dirs = berth_image::ImageId::parse(&c.snapshot().image)
                .and_then(|id| self.images.layer_dirs(&id).ok());
            match dirs {
                Some(d) => keep.extend(d),
                None => return,
            }
        }
        let images = self.images.clone();
        match tokio::task::spawn_blocking(move || images.gc_layers(&keep)).await {
            Ok(Ok(removed)) if !removed.is_empty() => {
                eprintln!(
                    "berth-engine: removed {} layer(s) no image uses (left by an interrupted import or commit)",
                    removed.len()
                );
            }
            Ok(Err(e)) => eprintln!("berth-engine: sweeping unused layers: {e}"),
            _ => {}
        }
    }

    async fn restore(&self) {
        let dir = self.containers_dir();
        let Ok(rd) = std::fs::read_dir(&dir) else {
            return;
        };
        let mut to_remove = Vec::new();
        let mut to_start = Vec::new();
        for e in rd.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            let paths = self.container_paths(&id);
            let config = paths.dir.join(CONFIG_FILE);
            if !config.exists() {
                sweep_orphan(&paths.dir);
                let _ = std::fs::remove_dir_all(&paths.run);
                continue;
            }
            let Some(mut rec) = read_json::<ContainerRecord>(&config) else {
                continue;
            };
            sweep_temp_files(&paths.dir);
            if rec.id != id {
                eprintln!(
                    "berth-engine: skipping {}: id mismatch",
                    paths.dir.display()
                );
                continue;
            }
            if lock(&self.names).contains_key(&rec.name) {
                eprintln!("berth-engine: skipping {id}: duplicate name {}", rec.name);
                continue;
            }
            // A removal interrupted by a crash: finish it.
            if rec.state.status == "removing" {
                let _ = std::fs::remove_dir_all(&paths.dir);
                let _ = std::fs::remove_dir_all(&paths.run);
                continue;
            }
            rec.state.restarting = false;
            let was_running = rec.state.running;
            lock(&self.names).insert(rec.name.clone(), id.clone());
            let ctr = self.insert(rec.clone(), paths.clone());
            if !was_running {
                // A shim of a run that was never recorded (the daemon died in the middle
                // of a start): stop it, so no container runs that the engine does not know.
                if ctr.socket.exists() {
                    if shimctl::request(&ctr.socket, &Request::State).await.is_ok() {
                        let _ = shimctl::request(
                            &ctr.socket,
                            &Request::Kill {
                                signal: libc::SIGKILL,
                                all: true,
                            },
                        )
                        .await;
                    }
                    let _ = std::fs::remove_file(&ctr.socket);
                }
                // Nothing may run in the cgroup of a container that is not running.
                self.end_cgroup(&rec).await;
                if rec.state.status == "restarting" {
                    lock(&ctr.rec).state.status = "exited".into();
                }
                if Engine::restart_on_boot(&rec) {
                    to_start.push(ctr);
                }
                continue;
            }
            let pid = rec.state.pid as i32;
            let live = match shimctl::request(&ctr.socket, &Request::State).await {
                Ok(r) if r.running => true,
                Ok(r) => {
                    let exit = r
                        .exit
                        .or_else(|| read_json::<ExitStatus>(&paths.exit()))
                        .unwrap_or_else(shim_died);
                    self.record_exit_restored(&ctr, pid, exit, &mut to_remove, &mut to_start)
                        .await;
                    false
                }
                // Not answering, yet alive: the monitor keeps trying to reach it.
                Err(_) if !paths.exit().exists() && shim_alive(&paths) => true,
                Err(_) => {
                    // The shim is gone: whatever still runs in the cgroup is unsupervised
                    // (all of it when the shim died without an exit record).
                    self.end_cgroup(&rec).await;
                    let exit = read_json::<ExitStatus>(&paths.exit()).unwrap_or_else(shim_died);
                    self.record_exit_restored(&ctr, pid, exit, &mut to_remove, &mut to_start)
                        .await;
                    false
                }
            };
            if live {
                // Paused state is whatever the freezer says now.
                if let Some(h) = &self.cgroups {
                    if let Ok(cg) = berth_cgroups::Cgroup::open(h, &self.cgroup_rel(&rec)) {
                        let frozen = cg.is_frozen().unwrap_or(false);
                        let mut r = lock(&ctr.rec);
                        r.state.paused = frozen;
                        r.state.status = if frozen { "paused" } else { "running" }.into();
                    }
                }
                self.spawn_monitor(ctr.clone(), pid, None);
                self.spawn_health(ctr);
            }
        }
        self.net_after_restore().await;
        for id in to_remove {
            let _ = self.remove(&id, true, false).await;
        }
        for ctr in to_start {
            let _op = ctr.op.lock().await;
            if !lock(&ctr.rec).state.running {
                let _ = self.start_locked(&ctr).await;
            }
        }
    }

    /// Records an exit that happened while the daemon was down.
    async fn record_exit_restored(
        &self,
        ctr: &Arc<crate::Ctr>,
        pid: i32,
        exit: ExitStatus,
        to_remove: &mut Vec<String>,
        to_start: &mut Vec<Arc<crate::Ctr>>,
    ) {
        // record_exit would schedule removal/restart itself; do it after restore instead
        // so the maps are complete first.
        let (auto_remove, restart) = {
            let mut r = lock(&ctr.rec);
            let ar = r.host_config.auto_remove;
            // Keep record_exit from acting on policies.
            r.host_config.auto_remove = false;
            (ar, r.host_config.restart_policy.clone())
        };
        lock(&ctr.rec).host_config.restart_policy.name = "no".into();
        self.record_exit(ctr, pid, exit).await;
        {
            let mut r = lock(&ctr.rec);
            r.host_config.auto_remove = auto_remove;
            r.host_config.restart_policy = restart;
        }
        let snap = ctr.snapshot();
        let _ = crate::record::write_json(&ctr.paths.config(), &snap);
        if auto_remove {
            to_remove.push(ctr.id.clone());
        } else if Engine::restart_on_boot(&snap) {
            to_start.push(ctr.clone());
        }
    }
}

/// Removes a container directory without `config.v2.json`: a create cut short by a
/// crash (only `rootfs/`, maybe a temp file of the record) or a removal cut short. No
/// container was ever recorded in it, so none can run from it. Only directories are
/// touched; a `config.v2.json` that exists, even unreadable, keeps its directory.
fn sweep_orphan(dir: &std::path::Path) {
    let is_dir = std::fs::symlink_metadata(dir)
        .map(|m| m.is_dir())
        .unwrap_or(false);
    if !is_dir || dir.join(CONFIG_FILE).exists() {
        return;
    }
    match std::fs::remove_dir_all(dir) {
        Ok(()) => eprintln!(
            "berth-engine: removed {}: no {CONFIG_FILE} (a create or removal cut short)",
            dir.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => eprintln!(
            "berth-engine: cannot remove orphan container directory {}: {e}",
            dir.display()
        ),
    }
}

/// Removes temp files of atomic writes (`.<name>.tmp<pid>`) that a dead process left in
/// a container directory. A file whose writer still runs (a live shim writing
/// `exit.json`) is kept.
fn sweep_temp_files(dir: &std::path::Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = temp_file_writer(&name) else {
            continue;
        };
        if pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let path = e.path();
        if std::fs::remove_file(&path).is_ok() {
            eprintln!(
                "berth-engine: removed leftover temp file {}",
                path.display()
            );
        }
    }
}

/// The writer's pid of a temp file named `.<name>.tmp<pid>` (the shim's) or
/// `.<name>.tmp<pid>-<seq>` (the engine's), else `None`.
fn temp_file_writer(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (base, tail) = rest.rsplit_once(".tmp")?;
    let pid = match tail.split_once('-') {
        Some((pid, seq)) if !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit()) => pid,
        Some(_) => return None,
        None => tail,
    };
    if base.is_empty() || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(std::path::PathBuf);
    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let p = std::env::temp_dir().join(format!(
                "berth-restore-{tag}-{}-{:?}",
                std::process::id(),
                std::time::SystemTime::now()
            ));
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn temp_file_names_give_their_writer() {
        assert_eq!(temp_file_writer(".config.v2.json.tmp123"), Some(123));
        assert_eq!(temp_file_writer(".exit.json.tmp7"), Some(7));
        assert_eq!(temp_file_writer(".config.v2.json.tmp42-3"), Some(42));
        assert_eq!(temp_file_writer(".config.v2.json.tmp42-"), None);
        assert_eq!(temp_file_writer(".config.v2.json.tmp42-x"), None);
        assert_eq!(temp_file_writer("config.v2.json"), None);
        assert_eq!(temp_file_writer(".config.v2.json.tmp"), None);
        assert_eq!(temp_file_writer(".x.tmp12a"), None);
        assert_eq!(temp_file_writer(".tmp5"), None);
    }

    #[test]
    fn sweep_removes_dirs_without_config_and_keeps_the_others() {
        let t = TempDir::new("sweep");
        let orphan = t.0.join("orphan");
        std::fs::create_dir_all(orphan.join("rootfs/upper")).unwrap();
        std::fs::write(orphan.join(".config.v2.json.tmp99999999"), b"{").unwrap();
        sweep_orphan(&orphan);
        assert!(!orphan.exists());

        // An unreadable record still keeps its directory.
        let kept = t.0.join("kept");
        std::fs::create_dir_all(kept.join("rootfs")).unwrap();
        std::fs::write(kept.join(CONFIG_FILE), b"{torn").unwrap();
        sweep_orphan(&kept);
        assert!(kept.join("rootfs").is_dir());

        // A plain file named like a container is not touched.
        let file = t.0.join("file");
        std::fs::write(&file, b"x").unwrap();
        sweep_orphan(&file);
        assert!(file.exists());
    }

    #[test]
    fn temp_files_of_dead_writers_are_removed_live_ones_kept() {
        let t = TempDir::new("tmpfiles");
        // pid_max is at most 2^22: this pid cannot be alive.
        let dead = t.0.join(".config.v2.json.tmp99999999-5");
        let live = t.0.join(format!(".exit.json.tmp{}", std::process::id()));
        let other = t.0.join("config.v2.json");
        for f in [&dead, &live, &other] {
            std::fs::write(f, b"{}").unwrap();
        }
        sweep_temp_files(&t.0);
        assert!(!dead.exists());
        assert!(live.exists());
        assert!(other.exists());
    }
}
