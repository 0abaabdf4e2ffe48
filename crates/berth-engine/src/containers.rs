//! Container objects: create (validation, image defaults, name reservation), inspect,
//! list, rename, remove, update, prune and the file-system changes.

use crate::defaults::{DEFAULT_SHM_SIZE, MASKED_PATHS, READONLY_PATHS};
use crate::error::{EngineError, ErrorKind, Result};
use crate::filters::{self, Filters, MatchCtx};
use crate::record::{write_json, ContainerPaths, ContainerRecord};
use crate::specbuild::{self, parse_bind, parse_security_opts, validate_resources};
use crate::{lock, names, status, Ctr, Engine, Watch};
use berth_types::docker::{
    ContainerConfig, ContainerCreateResponse, ContainerInspect, ContainerPruneResponse,
    ContainerSummary, ContainerUpdateResponse, CreateRequest, FilesystemChange, GraphDriverData,
    MountPoint, NetworkSettings, Port, SummaryHostConfig, SummaryNetworkSettings, UpdateRequest,
};
use berth_types::time::rfc3339_nano;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::sync::watch;

/// Directory under the data root where removed containers' directories wait for their
/// background deletion (same filesystem as `containers/`, so moving there is a rename).
pub(crate) const TRASH_DIR: &str = "trash";

/// Options of `GET /containers/json`.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub all: bool,
    /// Show only the last n created (includes stopped ones, like Docker).
    pub limit: Option<i64>,
    pub size: bool,
    pub filters: Filters,
}

/// Fills the user's config from the image's, the way Docker merges them at create.
pub fn merge_image_config(user: &mut ContainerConfig, img: &ContainerConfig) {
    if user.user.is_empty() {
        user.user = img.user.clone();
    }
    if let Some(ports) = &img.exposed_ports {
        let mine = user.exposed_ports.get_or_insert_with(Default::default);
        for (k, v) in ports {
            mine.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    // Image env entries whose key the user did not set are appended.
    match &mut user.env {
        None => user.env = img.env.clone(),
        Some(env) if env.is_empty() => *env = img.env.clone().unwrap_or_default(),
        Some(env) => {
            for ie in img.env.iter().flatten() {
                let key = ie.split('=').next().unwrap_or(ie);
                if !env.iter().any(|e| e.split('=').next() == Some(key)) {
                    env.push(ie.clone());
                }
            }
        }
    }
    if let Some(l) = &img.labels {
        let mine = user.labels.get_or_insert_with(Default::default);
        for (k, v) in l {
            mine.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let user_ep_empty = user.entrypoint.as_ref().is_none_or(|e| e.is_empty());
    if user_ep_empty {
        if user.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            user.cmd = img.cmd.clone();
            user.args_escaped = img.args_escaped;
        }
        if user.entrypoint.is_none() {
            user.entrypoint = img.entrypoint.clone();
        }
    }
    if user.working_dir.is_empty() {
        user.working_dir = img.working_dir.clone();
    }
    if let Some(v) = &img.volumes {
        let mine = user.volumes.get_or_insert_with(Default::default);
        for (k, x) in v {
            mine.entry(k.clone()).or_insert_with(|| x.clone());
        }
    }
    if user.stop_signal.as_deref().unwrap_or("").is_empty() {
        user.stop_signal = img.stop_signal.clone();
    }
    crate::health::merge_image_healthcheck(&mut user.healthcheck, img.healthcheck.as_ref());
    if user.on_build.is_none() {
        user.on_build = img.on_build.clone();
    }
    if user.shell.is_none() {
        user.shell = img.shell.clone();
    }
}

/// Splits entrypoint + cmd into Docker's `Path` and `Args`. `--entrypoint ""` (a single
/// empty string) clears the entrypoint.
pub fn command_of(cfg: &ContainerConfig) -> Result<(String, Vec<String>)> {
    let ep: Vec<String> = cfg
        .entrypoint
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    let mut all = ep;
    all.extend(cfg.cmd.clone().unwrap_or_default());
    if all.is_empty() {
        return Err(EngineError::invalid("No command specified"));
    }
    let path = all.remove(0);
    Ok((path, all))
}

/// The image config of an image as Docker's `ContainerConfig` model.
pub(crate) fn image_container_config(img: &berth_image::Image) -> ContainerConfig {
    img.config
        .config
        .as_ref()
        .and_then(|c| serde_json::to_value(c).ok())
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

/// Validates a host config at create: everything Docker refuses before any state exists.
fn validate_host_config(req: &CreateRequest) -> Result<()> {
    let hc = &req.host_config;
    validate_resources(&hc.resources)?;
    specbuild::normalize_caps(hc.cap_add.as_deref().unwrap_or_default())?;
    specbuild::normalize_caps(hc.cap_drop.as_deref().unwrap_or_default())?;
    parse_security_opts(hc.security_opt.as_deref().unwrap_or_default())?;
    crate::volumes::parse_requests(hc)?;
    specbuild::devices(hc.resources.devices.as_deref().unwrap_or_default())?;
    let policy = hc.restart_policy.name.as_str();
    if !["", "no", "always", "unless-stopped", "on-failure"].contains(&policy) {
        return Err(EngineError::invalid(format!(
            "invalid restart policy '{policy}'"
        )));
    }
    if hc.restart_policy.maximum_retry_count != 0 && policy != "on-failure" {
        return Err(EngineError::invalid(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'",
        ));
    }
    if hc.restart_policy.maximum_retry_count < 0 {
        return Err(EngineError::invalid(
            "invalid restart policy: maximum retry count cannot be negative",
        ));
    }
    if hc.auto_remove && !["", "no"].contains(&policy) {
        return Err(EngineError::invalid(
            "can't create 'AutoRemove' container with restart policy",
        ));
    }
    if hc.resources.oom_kill_disable == Some(true) && hc.resources.memory == 0 {
        // Docker only warns here; nothing to refuse.
    }
    Ok(())
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Size in bytes of a directory tree (regular files; hard links counted once each
/// time they appear, as `du --apparent-size` would not — close enough for SizeRw).
pub(crate) fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    for e in rd.flatten() {
        let Ok(md) = e.metadata() else { continue };
        if md.is_dir() {
            total += dir_size(&e.path());
        } else {
            total += md.len();
        }
    }
    total
}

impl Engine {
    /// `POST /containers/create`.
    pub async fn create(
        &self,
        name: Option<&str>,
        mut body: CreateRequest,
    ) -> Result<ContainerCreateResponse> {
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => Some(names::validate_name(n)?),
            None => None,
        };
        if body.config.image.is_empty() {
            return Err(EngineError::invalid("invalid reference format"));
        }
        let images = self.images.clone();
        let image_name = body.config.image.clone();
        let image = tokio::task::spawn_blocking(move || images.resolve(&image_name)).await??;
        validate_host_config(&body)?;
        self.net_check_create(&mut body).await?;

        let img_cfg = image_container_config(&image);
        merge_image_config(&mut body.config, &img_cfg);
        let (path, args) = command_of(&body.config)?;

        let id = names::new_id()?;
        let name = self.reserve_name(name, &id)?;
        match self
            .create_with(&id, &name, path, args, body, image.id.as_str())
            .await
        {
            Ok(()) => Ok(ContainerCreateResponse {
                id,
                warnings: vec![],
            }),
            Err(e) => {
                self.release_name(&name, &id);
                Err(e)
            }
        }
    }

    async fn create_with(
        &self,
        id: &str,
        name: &str,
        path: String,
        args: Vec<String>,
        body: CreateRequest,
        image_id: &str,
    ) -> Result<()> {
        let CreateRequest {
            mut config,
            mut host_config,
            networking_config,
        } = body;
        // Docker fills these defaults at create, so inspect shows them.
        if config.hostname.is_empty() {
            config.hostname = if host_config.network_mode == "host" {
                nix::unistd::gethostname()
                    .ok()
                    .and_then(|h| h.into_string().ok())
                    .unwrap_or_else(|| id[..12].to_string())
            } else {
                id[..12].to_string()
            };
        }
        if config.labels.is_none() {
            config.labels = Some(BTreeMap::new());
        }
        let hc = &mut host_config;
        if hc.network_mode.is_empty() {
            hc.network_mode = "default".into();
        }
        self.merge_log_config(&mut hc.log_config)?;
        if hc.restart_policy.name.is_empty() {
            hc.restart_policy.name = "no".into();
        }
        if hc.shm_size == 0 {
            hc.shm_size = DEFAULT_SHM_SIZE;
        }
        if hc.ipc_mode.is_empty() {
            hc.ipc_mode = "private".into();
        }
        if hc.cgroupns_mode.is_empty() {
            hc.cgroupns_mode = if self.cgroup_version() == "2" {
                "private"
            } else {
                "host"
            }
            .into();
        }
        if hc.runtime.is_empty() {
            hc.runtime = "runc".into();
        }
        if hc.console_size.is_none() {
            hc.console_size = Some([0, 0]);
        }
        if hc.port_bindings.is_none() {
            hc.port_bindings = Some(BTreeMap::new());
        }
        if !hc.privileged {
            if hc.masked_paths.is_none() {
                hc.masked_paths = Some(MASKED_PATHS.iter().map(|s| s.to_string()).collect());
            }
            if hc.readonly_paths.is_none() {
                hc.readonly_paths = Some(READONLY_PATHS.iter().map(|s| s.to_string()).collect());
            }
        }

        let paths = self.container_paths(id);
        let mut rec = ContainerRecord {
            id: id.to_string(),
            name: name.to_string(),
            created: rfc3339_nano(SystemTime::now()),
            path,
            args,
            config,
            host_config,
            networking_config,
            image: image_id.to_string(),
            state: ContainerRecord::created_state(),
            log_path: String::new(),
            ..Default::default()
        };
        rec.mounts = self.resolve_mounts(id, &rec.config, &rec.host_config)?;
        let dir = paths.dir.clone();
        let (upper, work, cfg_path) = (paths.upper(), paths.work(), paths.config());
        let rec2 = rec.clone();
        let res = tokio::task::spawn_blocking(move || -> Result<()> {
            for d in [&upper, &work] {
                std::fs::create_dir_all(d)
                    .map_err(|e| EngineError::io(format!("creating {}", d.display()), e))?;
            }
            crate::record::save_record(&cfg_path, &rec2)
        })
        .await?;
        if let Err(e) = res {
            let _ = std::fs::remove_dir_all(&dir);
            self.release_mounts(&rec, true).await;
            return Err(e);
        }
        let ctr = self.insert(rec.clone(), paths);
        drop(ctr);
        self.container_event(&rec, "create", &[]);
        Ok(())
    }

    /// Adds a container to the in-memory maps.
    pub(crate) fn insert(&self, rec: ContainerRecord, paths: ContainerPaths) -> Arc<Ctr> {
        let running = rec.state.running;
        let (tx, _) = watch::channel(Watch {
            running: rec.state.running,
            exit_code: rec.state.exit_code,
            error: rec.state.error.clone(),
            ..Default::default()
        });
        let ctr = Arc::new(Ctr {
            id: rec.id.clone(),
            socket: self.socket_path(&rec.id),
            rec: Mutex::new(rec),
            op: tokio::sync::Mutex::new(()),
            watch: tx,
            pending: Mutex::new(Vec::new()),
            paths,
            execs: Mutex::new(Vec::new()),
            shim_up: std::sync::atomic::AtomicBool::new(running),
            backoff_ms: std::sync::atomic::AtomicU64::new(0),
        });
        self.containers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(ctr.id.clone(), ctr.clone());
        ctr
    }

    /// Reserves `/name` (or a fresh random one) for `id`.
    fn reserve_name(&self, name: Option<String>, id: &str) -> Result<String> {
        let mut names = lock(&self.names);
        if let Some(n) = name {
            if let Some(other) = names.get(&n) {
                return Err(EngineError::conflict(format!(
                    "Conflict. The container name \"{n}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                )));
            }
            names.insert(n.clone(), id.to_string());
            return Ok(n);
        }
        for retry in 0..10 {
            let n = format!("/{}", names::random_name(retry)?);
            if !names.contains_key(&n) {
                names.insert(n.clone(), id.to_string());
                return Ok(n);
            }
        }
        Err(EngineError::internal(
            "could not generate a unique container name",
        ))
    }

    fn release_name(&self, name: &str, id: &str) {
        let mut names = lock(&self.names);
        if names.get(name).map(String::as_str) == Some(id) {
            names.remove(name);
        }
    }

    /// `GET /containers/{id}/json`.
    pub async fn inspect(&self, name: &str, size: bool) -> Result<ContainerInspect> {
        let ctr = self.lookup(name)?;
        let r = ctr.snapshot();
        let lower = match berth_image::ImageId::parse(&r.image) {
            Some(id) => self
                .images
                .layer_dirs(&id)
                .unwrap_or_default()
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(":"),
            None => String::new(),
        };
        let mut gd = BTreeMap::new();
        gd.insert("LowerDir".to_string(), lower);
        gd.insert(
            "MergedDir".to_string(),
            ctr.paths.dir.join("rootfs/merged").display().to_string(),
        );
        gd.insert(
            "UpperDir".to_string(),
            ctr.paths.upper().display().to_string(),
        );
        gd.insert(
            "WorkDir".to_string(),
            ctr.paths.work().display().to_string(),
        );
        let (size_rw, size_root_fs) = if size {
            let up = ctr.paths.upper();
            let rw = tokio::task::spawn_blocking(move || dir_size(&up)).await? as i64;
            let img = self
                .images
                .resolve(&r.image)
                .map(|i| i.size as i64)
                .unwrap_or(0);
            (Some(rw), Some(rw + img))
        } else {
            (None, None)
        };
        let execs = lock(&ctr.execs).clone();
        let started = r.has_been_started;
        let path_if = |p: std::path::PathBuf| {
            if started {
                p.display().to_string()
            } else {
                String::new()
            }
        };
        let mut state = r.state.clone();
        if state.status == "running" && state.paused {
            state.status = "paused".into();
        }
        Ok(ContainerInspect {
            id: r.id.clone(),
            created: r.created.clone(),
            path: r.path.clone(),
            args: r.args.clone(),
            state,
            image: r.image.clone(),
            resolv_conf_path: path_if(ctr.paths.resolv_conf()),
            hostname_path: path_if(ctr.paths.hostname()),
            hosts_path: path_if(ctr.paths.hosts()),
            log_path: if r.log_path.is_empty() {
                String::new()
            } else {
                r.log_path.clone()
            },
            name: r.name.clone(),
            restart_count: r.restart_count,
            driver: "overlay2".into(),
            platform: "linux".into(),
            mount_label: String::new(),
            process_label: String::new(),
            app_armor_profile: String::new(),
            exec_ids: if execs.is_empty() { None } else { Some(execs) },
            host_config: r.host_config.clone(),
            graph_driver: GraphDriverData {
                data: Some(gd),
                name: "overlay2".into(),
            },
            size_rw,
            size_root_fs,
            mounts: mount_points(&r),
            config: r.config.clone(),
            network_settings: {
                let mut ns = network_settings(&r);
                self.net_inspect(&r, &mut ns);
                ns
            },
        })
    }

    /// `GET /containers/json`.
    pub async fn list(&self, opts: ListOptions) -> Result<Vec<ContainerSummary>> {
        filters::validate_ps(&opts.filters)?;
        let f = &opts.filters;
        // Resolve the filters that name other objects.
        let mut ancestor_ids = Vec::new();
        for a in f.get("ancestor") {
            if let Ok(img) = self.images.resolve(a) {
                ancestor_ids.push(img.id.as_str().to_string());
            }
        }
        let created_of = |key: &str| -> Result<Option<String>> {
            match f.get(key).first() {
                Some(n) => Ok(Some(lock(&self.lookup(n)?.rec).created.clone())),
                None => Ok(None),
            }
        };
        let before = created_of("before")?;
        let since = created_of("since")?;
        let ctx = MatchCtx {
            ancestor_ids: &ancestor_ids,
            before: before.as_deref(),
            since: since.as_deref(),
        };
        let mut recs: Vec<ContainerRecord> = self.all().iter().map(|c| c.snapshot()).collect();
        recs.sort_by(|a, b| b.created.cmp(&a.created));
        let limit = opts.limit.filter(|l| *l > 0).map(|l| l as usize);
        let show_all = opts.all || limit.is_some() || before.is_some() || since.is_some();
        let now = SystemTime::now();
        let mut out = Vec::new();
        for r in recs {
            if !show_all && !r.state.running && !f.contains("status") && !f.contains("exited") {
                continue;
            }
            if !filters::match_container(f, &r, &ctx) {
                continue;
            }
            if limit.is_some_and(|l| out.len() >= l) {
                break;
            }
            let (size_rw, size_root_fs) = if opts.size {
                let up = self.container_paths(&r.id).upper();
                let rw = dir_size(&up) as i64;
                let img = self
                    .images
                    .resolve(&r.image)
                    .map(|i| i.size as i64)
                    .unwrap_or(0);
                (Some(rw), Some(rw + img))
            } else {
                (None, None)
            };
            let mut sum = summary(&r, now, size_rw, size_root_fs);
            self.net_summary(&r, &mut sum);
            // Like Docker: keep the name the user gave unless it now means another image.
            if sum.image != r.image {
                let same = self
                    .images
                    .resolve(&sum.image)
                    .is_ok_and(|i| i.id.as_str() == r.image);
                if !same {
                    sum.image = r.image.clone();
                }
            }
            out.push(sum);
        }
        Ok(out)
    }

    /// `POST /containers/{id}/rename`.
    pub async fn rename(&self, name: &str, new_name: &str) -> Result<()> {
        if new_name.is_empty() {
            return Err(EngineError::invalid(
                "Neither old nor new names may be empty",
            ));
        }
        let ctr = self.lookup(name)?;
        let new = names::validate_name(new_name)?;
        let _op = ctr.op.lock().await;
        if ctr.watch.borrow().removed {
            // Removed while we waited for the lock: its old name may already belong to
            // a new container.
            return Err(EngineError::no_such_container(name));
        }
        let old = lock(&ctr.rec).name.clone();
        if old == new {
            return Err(EngineError::invalid(
                "Renaming a container with the same name as its current name",
            ));
        }
        {
            let mut names = lock(&self.names);
            if let Some(other) = names.get(&new) {
                return Err(EngineError::conflict(format!(
                    "Error when allocating new name: Conflict. The container name \"{new}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                )));
            }
            names.insert(new.clone(), ctr.id.clone());
            if names.get(&old) == Some(&ctr.id) {
                names.remove(&old);
            }
        }
        let snap = {
            let mut r = lock(&ctr.rec);
            r.name = new.clone();
            r.clone()
        };
        if let Err(e) = write_json(&ctr.paths.config(), &snap) {
            // Roll back so memory matches disk, unless another container took the old
            // name meanwhile (it was free since the swap above): never steal it back.
            let mut names = lock(&self.names);
            let old_free = match names.get(&old) {
                None => true,
                Some(owner) => owner == &ctr.id,
            };
            if old_free {
                names.remove(&new);
                names.insert(old.clone(), ctr.id.clone());
                lock(&ctr.rec).name = old;
            }
            return Err(e);
        }
        // The embedded DNS answers the new name from now on.
        self.net_renamed(&ctr.id, &new).await;
        self.container_event(&snap, "rename", &[("oldName", old)]);
        Ok(())
    }

    /// `DELETE /containers/{id}`.
    pub async fn remove(&self, name: &str, force: bool, remove_volumes: bool) -> Result<()> {
        let ctr = self.lookup(name)?;
        {
            let r = lock(&ctr.rec);
            if r.state.status == "removing" {
                return Err(EngineError::conflict(format!(
                    "removal of container {} is already in progress",
                    r.bare_name()
                )));
            }
            if (r.state.running || r.state.restarting) && !force {
                // The wording users know from Docker (and grep for): the full id, the
                // state, and what to do about it.
                let (state, procedure) = if r.state.paused {
                    (
                        "paused",
                        "Unpause and then stop the container before attempting removal or force remove",
                    )
                } else if r.state.restarting && !r.state.running {
                    (
                        "restarting",
                        "Stop the container before attempting removal or force remove",
                    )
                } else {
                    (
                        "running",
                        "Stop the container before attempting removal or force remove",
                    )
                };
                return Err(EngineError::conflict(format!(
                    "You cannot remove a {state} container {}. {procedure}",
                    r.id
                )));
            }
        }
        if force {
            self.kill_and_wait(&ctr).await?;
        }
        let _op = ctr.op.lock().await;
        let snap = {
            let mut r = lock(&ctr.rec);
            if r.state.running {
                // Started again between the check and the lock.
                return Err(EngineError::conflict(format!(
                    "cannot remove container \"{}\": container is running: stop the container before removing or force remove",
                    r.name
                )));
            }
            r.state.status = "removing".into();
            r.state.restarting = false;
            r.clone()
        };
        self.destroy(&ctr, &snap).await?;
        if remove_volumes {
            self.release_mounts(&snap, true).await;
        }
        Ok(())
    }

    /// Removes a stopped container's state everywhere. Caller holds `op`.
    pub(crate) async fn destroy(&self, ctr: &Arc<Ctr>, snap: &ContainerRecord) -> Result<()> {
        let dir = ctr.paths.dir.clone();
        let run = ctr.paths.run.clone();
        let socket = ctr.socket.clone();
        let trash = self.cfg.data_root.join(TRASH_DIR);
        let cgroup = self.cgroups.clone().map(|h| (h, self.cgroup_rel(snap)));
        let res = tokio::task::spawn_blocking(move || {
            // Normally the shim removed it; after a shim died, processes may be left
            // in it. Here, not in a blocking task of its own: one hand-off to the
            // blocking pool instead of two on the way to `wait condition=removed`.
            if let Some((h, rel)) = cgroup {
                crate::monitor::end_cgroup(&h, &rel);
            }
            let _ = std::fs::remove_file(&socket);
            let _ = std::fs::remove_dir_all(&run);
            // One rename takes the directory out of `containers/` (the id and name are
            // free at once, `wait condition=removed` answers without waiting for the
            // disk); its content, the writable layer above all, is deleted in the
            // background. Leftovers (a crash meanwhile) go at the next daemon start.
            if let Some(name) = dir.file_name() {
                let _ = std::fs::create_dir_all(&trash);
                let to = trash.join(name);
                if std::fs::rename(&dir, &to).is_ok() {
                    crate::janitor::delete_later(to);
                    return Ok(());
                }
            }
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(EngineError::io(
                    format!("unable to remove filesystem for {}", dir.display()),
                    e,
                )),
            }
        })
        .await?;
        if let Err(e) = res {
            lock(&ctr.rec).state.status = "dead".into();
            lock(&ctr.rec).state.dead = true;
            return Err(e);
        }
        self.net_release(&ctr.id).await;
        self.containers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&ctr.id);
        self.release_name(&snap.name, &ctr.id);
        self.release_mounts(snap, snap.host_config.auto_remove)
            .await;
        for e in std::mem::take(&mut *lock(&ctr.execs)) {
            lock(&self.execs).remove(&e);
        }
        // Pending attach clients see EOF.
        lock(&ctr.pending).clear();
        ctr.watch.send_modify(|w| {
            w.removed = true;
            w.running = false;
        });
        self.container_event(snap, "destroy", &[]);
        Ok(())
    }

    /// The container's cgroup path relative to the hierarchy roots:
    /// `<CgroupParent or the daemon's parent>/<id>`.
    pub(crate) fn cgroup_rel(&self, rec: &ContainerRecord) -> String {
        let p = &rec.host_config.resources.cgroup_parent;
        let parent = if p.is_empty() {
            &self.cfg.cgroup_parent
        } else {
            p
        };
        format!("{}/{}", parent.trim_matches('/'), rec.id)
    }

    /// `POST /containers/{id}/update`.
    pub async fn update(&self, name: &str, req: UpdateRequest) -> Result<ContainerUpdateResponse> {
        let ctr = self.lookup(name)?;
        let _op = ctr.op.lock().await;
        let mut rec = ctr.snapshot();
        let n = &req.resources;
        let c = &mut rec.host_config.resources;
        if n.memory != 0 && n.memory_swap == 0 && c.memory_swap > 0 && n.memory > c.memory_swap {
            return Err(EngineError::invalid(
                "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
            ));
        }
        macro_rules! set_nonzero {
            ($($f:ident),*) => { $( if !is_default(&n.$f) { c.$f = n.$f.clone(); } )* };
        }
        set_nonzero!(
            cpu_shares,
            memory,
            nano_cpus,
            blkio_weight,
            cpu_period,
            cpu_quota,
            cpu_realtime_period,
            cpu_realtime_runtime,
            cpuset_cpus,
            cpuset_mems,
            memory_reservation,
            memory_swap
        );
        if n.pids_limit.is_some() {
            c.pids_limit = n.pids_limit;
        }
        if n.nano_cpus != 0 {
            // `--cpus` replaces a quota set before.
            c.cpu_quota = 0;
            c.cpu_period = 0;
        }
        validate_resources(c)?;
        if let Some(p) = &req.restart_policy {
            if !p.name.is_empty() {
                if rec.host_config.auto_remove && p.name != "no" {
                    return Err(EngineError::invalid(
                        "Restart policy cannot be updated because AutoRemove is enabled for the container",
                    ));
                }
                rec.host_config.restart_policy = p.clone();
            }
        }
        if rec.state.running {
            if let Some(h) = &self.cgroups {
                let cg = berth_cgroups::Cgroup::open(h, &self.cgroup_rel(&rec))?;
                let mut res = specbuild::resources(&rec.host_config);
                // Only what this request changes is written to the live cgroup.
                if n.memory == 0 && n.memory_swap == 0 {
                    res.memory = None;
                    res.memory_swap = None;
                }
                cg.apply(&res).map_err(|e| {
                    EngineError::internal(format!("Cannot update container {}: {e}", ctr.id))
                })?;
            }
        }
        write_json(&ctr.paths.config(), &rec)?;
        *lock(&ctr.rec) = rec.clone();
        self.container_event(&rec, "update", &[]);
        Ok(ContainerUpdateResponse { warnings: None })
    }

    /// `POST /containers/prune`: removes stopped containers matching `until`/`label`.
    pub async fn prune(&self, f: &Filters) -> Result<ContainerPruneResponse> {
        f.validate(&["until", "label", "label!"])?;
        let until = match f.get("until").first() {
            Some(u) => Some(parse_until(u)?),
            None => None,
        };
        let mut deleted = Vec::new();
        let mut reclaimed = 0u64;
        for ctr in self.all() {
            let r = ctr.snapshot();
            if r.state.running || r.state.restarting || r.state.status == "removing" {
                continue;
            }
            if let Some(u) = &until {
                if r.created.as_str() >= u.as_str() {
                    continue;
                }
            }
            let labels = r.config.labels.clone().unwrap_or_default();
            if !filters::match_labels(f.get("label"), &labels) {
                continue;
            }
            let neg = f.get("label!");
            if !neg.is_empty() && filters::match_labels(&neg[..1], &labels) {
                continue;
            }
            let size = dir_size(&ctr.paths.upper());
            match self.remove(&r.id, false, false).await {
                Ok(()) => {
                    deleted.push(r.id.clone());
                    reclaimed += size;
                }
                Err(e) if e.kind == ErrorKind::NotFound => {}
                Err(_) => {}
            }
        }
        Ok(ContainerPruneResponse {
            containers_deleted: if deleted.is_empty() {
                None
            } else {
                Some(deleted)
            },
            space_reclaimed: reclaimed,
        })
    }

    /// `GET /containers/{id}/changes`: the writable layer's entries (overlay whiteouts are
    /// deletions; entries whose path exists in a lower layer are modifications).
    pub async fn changes(&self, name: &str) -> Result<Vec<FilesystemChange>> {
        let ctr = self.lookup(name)?;
        let r = ctr.snapshot();
        let lower: Vec<std::path::PathBuf> = berth_image::ImageId::parse(&r.image)
            .and_then(|id| self.images.layer_dirs(&id).ok())
            .unwrap_or_default();
        let upper = ctr.paths.upper();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            walk_changes(&upper, &upper, &lower, &mut out);
            out.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(out)
        })
        .await?
    }
}

/// Mount targets the runtime may create in the writable layer; like Docker's init
/// layer they are not changes of the container.
const MOUNT_TARGETS: &[&str] = &["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];

/// Appends the changes below `dir` and tells whether there were any. A directory that
/// exists in a lower layer is reported as changed only when something inside changed
/// (Docker lists `C /tmp` above `A /tmp/x`).
fn walk_changes(
    root: &Path,
    dir: &Path,
    lower: &[std::path::PathBuf],
    out: &mut Vec<FilesystemChange>,
) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    let mut any = false;
    for e in rd.flatten() {
        let p = e.path();
        let rel = match p.strip_prefix(root) {
            Ok(r) => format!("/{}", r.display()),
            Err(_) => continue,
        };
        let Ok(md) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let in_lower = lower
            .iter()
            .any(|l| l.join(&rel[1..]).symlink_metadata().is_ok());
        // overlayfs marks deletions with a 0:0 character device.
        if md.file_type().is_char_device() && md.rdev() == 0 {
            out.push(FilesystemChange { path: rel, kind: 2 });
            any = true;
            continue;
        }
        if MOUNT_TARGETS.contains(&rel.as_str()) && md.is_file() && md.len() == 0 {
            continue;
        }
        if md.is_dir() {
            let at = out.len();
            let inner = walk_changes(root, &p, lower, out);
            if inner || !in_lower {
                out.insert(
                    at,
                    FilesystemChange {
                        path: rel,
                        kind: if in_lower { 0 } else { 1 },
                    },
                );
                any = true;
            }
            continue;
        }
        out.push(FilesystemChange {
            path: rel,
            kind: if in_lower { 0 } else { 1 },
        });
        any = true;
    }
    any
}

/// `until` of prune: a unix timestamp, RFC 3339, or a Go duration before now.
pub(crate) fn parse_until(u: &str) -> Result<String> {
    let now = SystemTime::now();
    if let Ok(secs) = u.parse::<f64>() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs_f64(secs.max(0.0));
        return Ok(rfc3339_nano(t));
    }
    if berth_types::time::parse_rfc3339(u).is_some() {
        return Ok(u.to_string());
    }
    if let Some(d) = parse_go_duration(u) {
        return Ok(rfc3339_nano(now - d));
    }
    Err(EngineError::invalid(format!(
        "failed to parse value as time or duration: \"{u}\""
    )))
}

/// Go's `time.ParseDuration` for the units people use (`h`, `m`, `s`, `ms`).
pub(crate) fn parse_go_duration(s: &str) -> Option<std::time::Duration> {
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[unit_end..];
    }
    Some(std::time::Duration::from_secs_f64(total))
}

/// Mount points shown by inspect and ps.
fn mount_points(r: &ContainerRecord) -> Vec<MountPoint> {
    if let Some(m) = crate::volumes::inspect_mounts(r) {
        return m;
    }
    let mut out = Vec::new();
    for b in r.host_config.binds.iter().flatten() {
        if let Ok(m) = parse_bind(b) {
            let ro = m.options.iter().any(|o| o == "ro");
            let prop = m.options.last().cloned().unwrap_or_default();
            let mode = b.splitn(3, ':').nth(2).unwrap_or("").to_string();
            out.push(MountPoint {
                kind: "bind".into(),
                source: m.source,
                destination: m.target,
                mode,
                rw: !ro,
                propagation: prop,
                ..Default::default()
            });
        }
    }
    for m in r.host_config.mounts.iter().flatten() {
        if let Ok(spec) = specbuild::mount_spec(m) {
            out.push(MountPoint {
                kind: m.kind.clone(),
                source: spec.source.clone(),
                destination: m.target.clone(),
                mode: String::new(),
                rw: !m.read_only,
                propagation: if m.kind == "bind" {
                    spec.options.last().cloned().unwrap_or_default()
                } else {
                    String::new()
                },
                ..Default::default()
            });
        }
    }
    for (t, _) in r.host_config.tmpfs.iter().flatten() {
        out.push(MountPoint {
            kind: "tmpfs".into(),
            destination: t.clone(),
            rw: true,
            ..Default::default()
        });
    }
    out
}

/// Network settings: loopback only for now (no networks yet); `--network host` and
/// `none` are reported under their own name like Docker does.
fn network_settings(r: &ContainerRecord) -> NetworkSettings {
    let mut ports = BTreeMap::new();
    for p in r.config.exposed_ports.iter().flatten() {
        ports.insert(p.0.clone(), None);
    }
    NetworkSettings {
        ports,
        sandbox_key: String::new(),
        networks: networks_of(r),
        ..Default::default()
    }
}

fn networks_of(r: &ContainerRecord) -> BTreeMap<String, berth_types::docker::EndpointSettings> {
    let mode = r.host_config.network_mode.as_str();
    let name = match mode {
        "" | "default" => "bridge",
        m if m.starts_with("container:") => return BTreeMap::new(),
        m => m,
    };
    let mut m = BTreeMap::new();
    m.insert(name.to_string(), Default::default());
    m
}

/// Docker's `Command` column text: path and args, args with spaces single-quoted.
pub(crate) fn command_text(r: &ContainerRecord) -> String {
    let mut s = r.path.clone();
    for a in &r.args {
        s.push(' ');
        if a.contains(' ') {
            s.push_str(&format!("'{a}'"));
        } else {
            s.push_str(a);
        }
    }
    s
}

fn summary(
    r: &ContainerRecord,
    now: SystemTime,
    size_rw: Option<i64>,
    size_root_fs: Option<i64>,
) -> ContainerSummary {
    let created = berth_types::time::parse_rfc3339(&r.created)
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let ports: Vec<Port> = r
        .config
        .exposed_ports
        .iter()
        .flatten()
        .filter_map(|(p, _)| {
            let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
            Some(Port {
                private_port: num.parse().ok()?,
                kind: proto.into(),
                ..Default::default()
            })
        })
        .collect();
    let state = if r.state.paused {
        "paused".to_string()
    } else if r.state.restarting {
        "restarting".to_string()
    } else {
        r.state.status.clone()
    };
    ContainerSummary {
        id: r.id.clone(),
        names: vec![r.name.clone()],
        image: r.config.image.clone(),
        image_id: r.image.clone(),
        command: command_text(r),
        created,
        ports,
        size_rw,
        size_root_fs,
        labels: r.config.labels.clone().unwrap_or_default(),
        state,
        status: status::status_text(&r.state, now),
        host_config: SummaryHostConfig {
            network_mode: r.host_config.network_mode.clone(),
            annotations: None,
        },
        network_settings: SummaryNetworkSettings {
            networks: networks_of(r),
        },
        mounts: mount_points(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(x: &[&str]) -> Option<Vec<String>> {
        Some(x.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn merge_follows_docker() {
        let img = ContainerConfig {
            env: v(&["PATH=/bin", "A=img"]),
            cmd: v(&["sh"]),
            entrypoint: None,
            working_dir: "/app".into(),
            user: "nobody".into(),
            labels: Some([("l".to_string(), "img".to_string())].into()),
            stop_signal: Some("SIGQUIT".into()),
            ..Default::default()
        };
        let mut u = ContainerConfig {
            env: v(&["A=user"]),
            ..Default::default()
        };
        merge_image_config(&mut u, &img);
        assert_eq!(u.env, v(&["A=user", "PATH=/bin"]));
        assert_eq!(u.cmd, v(&["sh"]));
        assert_eq!(u.working_dir, "/app");
        assert_eq!(u.user, "nobody");
        assert_eq!(u.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(u.labels.as_ref().unwrap()["l"], "img");

        // A user command replaces the image's; a user entrypoint drops the image cmd.
        let mut u = ContainerConfig {
            cmd: v(&["echo", "hi"]),
            ..Default::default()
        };
        merge_image_config(&mut u, &img);
        assert_eq!(
            command_of(&u).unwrap(),
            ("echo".to_string(), vec!["hi".to_string()])
        );
        let mut u = ContainerConfig {
            entrypoint: v(&["/bin/true"]),
            ..Default::default()
        };
        merge_image_config(&mut u, &img);
        assert_eq!(u.cmd, None);
        assert_eq!(command_of(&u).unwrap().0, "/bin/true");
    }

    #[test]
    fn empty_command_is_refused() {
        let mut u = ContainerConfig {
            entrypoint: v(&[""]),
            ..Default::default()
        };
        merge_image_config(&mut u, &ContainerConfig::default());
        assert_eq!(command_of(&u).unwrap_err().message, "No command specified");
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(berth_logdriver::opts::parse_size("10m"), Some(10 << 20));
        assert_eq!(berth_logdriver::opts::parse_size("1g"), Some(1 << 30));
        assert_eq!(berth_logdriver::opts::parse_size("512"), Some(512));
        assert_eq!(berth_logdriver::opts::parse_size("x"), None);
        assert_eq!(
            parse_go_duration("1h30m"),
            Some(std::time::Duration::from_secs(5400))
        );
        assert_eq!(
            parse_go_duration("10s"),
            Some(std::time::Duration::from_secs(10))
        );
        assert_eq!(parse_go_duration("10"), None);
    }

    #[test]
    fn command_text_quotes_spaces() {
        let r = ContainerRecord {
            path: "sh".into(),
            args: vec!["-c".into(), "echo hi".into()],
            ..Default::default()
        };
        assert_eq!(command_text(&r), "sh -c 'echo hi'");
    }
}
