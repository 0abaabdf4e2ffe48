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
use crate::monitor::shim_died;
use crate::record::{read_json, ContainerPaths, ContainerRecord, CONFIG_FILE};
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
        let img_root = cfg.data_root.join("image");
        let images = tokio::task::spawn_blocking(move || ImageStore::open(&img_root)).await??;
        let cgroups = berth_cgroups::Hierarchy::detect().ok();
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
            me: me.clone(),
        });
        engine.restore().await;
        Ok(engine)
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
            let paths = ContainerPaths::new(&dir, &id);
            let Some(mut rec) = read_json::<ContainerRecord>(&paths.dir.join(CONFIG_FILE)) else {
                continue;
            };
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
                Err(_) => {
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
                self.spawn_monitor(ctr.clone(), pid);
                self.spawn_health(ctr);
            }
        }
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
