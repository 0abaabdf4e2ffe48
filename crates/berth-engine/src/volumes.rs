//! Volumes and container mounts on the engine side: the glue between container
//! lifecycle events and the `berth-volume` crate, plus the `/volumes` operations.
//!
//! A container's mounts are resolved once, at create ([`Engine::resolve_mounts`]: `-v`,
//! `--mount`, `--tmpfs`, `--volumes-from` and every `VOLUME` of the image, creating named
//! and anonymous volumes and `-v` host directories) and kept in its record
//! (`ContainerRecord::mounts`), so inspect's `Mounts` and every later start use the same
//! answer. Then:
//! - start: [`Engine::activate_mounts`] mounts option volumes, fills empty volumes from the
//!   image (copy-up) and returns the runtime mounts;
//! - exit/stop: [`Engine::deactivate_mounts`];
//! - removal: [`Engine::release_mounts`] drops the references, and with `rm -v` or
//!   `--rm` removes the container's anonymous volumes (never named ones);
//! - daemon start: [`Engine::restore_volumes`] rebuilds references and activity from the
//!   records on disk, before any container is touched.
//!
//! Volume events (`create`, `mount`, `unmount`, `destroy`) are published as Docker does.

use crate::error::{EngineError, ErrorKind, Result};
use crate::filters::Filters;
use crate::record::{read_json, ContainerRecord, CONFIG_FILE};
use crate::{lock, Engine};
use berth_types::docker::{ContainerConfig, HostConfig, MountPoint};
use berth_types::spec::Mount;
use berth_volume::{
    parse_bind_spec, parse_mount_spec, parse_tmpfs, parse_volumes_from, volumes_from_requests,
    MountRequest, PruneReport, ResolveContext, ResolvedMount, Volume, VolumeCreateBody,
    VolumeError, VolumeStore,
};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

impl From<VolumeError> for EngineError {
    fn from(e: VolumeError) -> EngineError {
        let kind = match e.status() {
            400 => ErrorKind::InvalidArgument,
            404 => ErrorKind::NotFound,
            409 => ErrorKind::Conflict,
            _ => ErrorKind::Internal,
        };
        EngineError::new(kind, e.to_string())
    }
}

/// Opens `<data-root>/volumes` (at engine open).
pub(crate) fn open_store(data_root: &Path) -> Result<Arc<VolumeStore>> {
    Ok(Arc::new(VolumeStore::open(data_root)?))
}

/// Parses a host config's own mount requests (`Binds`, `Mounts`, `Tmpfs`) and checks the
/// `VolumesFrom` syntax: everything Docker refuses before any state exists. Missing
/// `--mount` bind sources are refused here; `-v` ones are created at resolution.
pub(crate) fn parse_requests(hc: &HostConfig) -> Result<Vec<MountRequest>> {
    let mut reqs = Vec::new();
    for b in hc.binds.iter().flatten() {
        reqs.push(parse_bind_spec(b, &hc.volume_driver)?);
    }
    for m in hc.mounts.iter().flatten() {
        reqs.push(parse_mount_spec(m)?);
    }
    for (target, opts) in hc.tmpfs.iter().flatten() {
        reqs.push(parse_tmpfs(target, opts)?);
    }
    for v in hc.volumes_from.iter().flatten() {
        parse_volumes_from(v)?;
    }
    Ok(reqs)
}

/// Inspect's `Mounts` of a record whose mounts were resolved at create; `None` for a
/// record written before mounts were resolved (the caller derives them from the
/// host config instead).
pub(crate) fn inspect_mounts(rec: &ContainerRecord) -> Option<Vec<MountPoint>> {
    let hc = &rec.host_config;
    let requested = hc.binds.as_ref().is_some_and(|b| !b.is_empty())
        || hc.mounts.as_ref().is_some_and(|m| !m.is_empty())
        || hc.tmpfs.as_ref().is_some_and(|t| !t.is_empty());
    if rec.mounts.is_empty() && requested {
        return None;
    }
    Some(berth_volume::mount_points(&rec.mounts))
}

/// Docker's attributes of a volume event.
fn attrs(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

impl Engine {
    /// The volume store (for API paths the engine does not wrap).
    pub fn volumes(&self) -> &VolumeStore {
        &self.volumes
    }

    fn volume_event(&self, action: &str, name: &str, extra: &[(&str, String)]) {
        let mut a = attrs(extra);
        a.insert("driver".into(), "local".into());
        self.publish("volume", action, name, "", a);
    }

    fn volume_names(&self) -> Result<HashSet<String>> {
        Ok(self
            .volumes
            .list(&Default::default())?
            .into_iter()
            .map(|v| v.name)
            .collect())
    }

    /// Container create: resolves every mount of the new container `id` (taking a
    /// reference on each volume for it). On error nothing it took is kept.
    pub(crate) fn resolve_mounts(
        &self,
        id: &str,
        config: &ContainerConfig,
        hc: &HostConfig,
    ) -> Result<Vec<ResolvedMount>> {
        let mut reqs = Vec::new();
        for spec in hc.volumes_from.iter().flatten() {
            let (name, rw) = parse_volumes_from(spec)?;
            // A bad reference in the request, not a missing object of the route: 400, as
            // Docker answers (a 404 would make clients pull the image).
            let other = self
                .lookup(&name)
                .map_err(|e| EngineError::invalid(e.message))?;
            let theirs = {
                let r = lock(&other.rec);
                crate::volumes::inspect_mounts(&r).unwrap_or_default()
            };
            reqs.extend(volumes_from_requests(rw, &theirs));
        }
        reqs.extend(parse_requests(hc)?);
        let image_volumes: Vec<String> = config
            .volumes
            .iter()
            .flat_map(|m| m.keys().cloned())
            .collect();
        if reqs.is_empty() && image_volumes.is_empty() {
            return Ok(Vec::new());
        }
        let before = self.volume_names()?;
        let mounts = berth_volume::resolve(
            &reqs,
            &image_volumes,
            &ResolveContext {
                store: &self.volumes,
                container_id: id,
                volume_driver: &hc.volume_driver,
            },
        )?;
        for m in &mounts {
            if let Some(n) = m.volume.as_deref().filter(|n| !before.contains(*n)) {
                self.volume_event("create", n, &[]);
            }
        }
        Ok(mounts)
    }

    /// Container start: mounts option volumes, fills empty volumes from the image and
    /// returns the runtime's mounts. `None` for a record without resolved mounts (written
    /// before mounts were resolved at create: the spec builder reads its host config).
    pub(crate) async fn activate_mounts(
        &self,
        rec: &ContainerRecord,
        upper: PathBuf,
        image_layers: Vec<PathBuf>,
    ) -> Result<Option<Vec<Mount>>> {
        if inspect_mounts(rec).is_none() {
            return Ok(None);
        }
        if rec.mounts.is_empty() {
            return Ok(Some(Vec::new()));
        }
        // The container's own layer first: its changes (and whiteouts) hide the image's,
        // as in the container's view of the path.
        let mut layers = vec![upper];
        layers.extend(image_layers);
        let store = self.volumes.clone();
        let (id, mounts) = (rec.id.clone(), rec.mounts.clone());
        let out = tokio::task::spawn_blocking(move || {
            berth_volume::activate(&store, &id, &mounts, &layers)
        })
        .await??;
        for m in &rec.mounts {
            if let (Some(n), Some(p)) = (m.volume.as_deref(), m.point.as_ref()) {
                self.volume_event(
                    "mount",
                    n,
                    &[
                        ("container", rec.id.clone()),
                        ("destination", p.destination.clone()),
                        ("propagation", p.propagation.clone()),
                        ("read/write", p.rw.to_string()),
                    ],
                );
            }
        }
        Ok(Some(out))
    }

    /// Container exit (or a failed start): ends its activity on its volumes.
    pub(crate) fn deactivate_mounts(&self, rec: &ContainerRecord) {
        if rec.mounts.iter().all(|m| m.volume.is_none()) {
            return;
        }
        // Only volumes this run activated get an event (a failed start may end here
        // twice, or before activation).
        let active: Vec<&str> = berth_volume::volume_names(&rec.mounts)
            .filter(|n| self.volumes.is_active(n, &rec.id))
            .collect();
        if let Err(e) = berth_volume::deactivate(&self.volumes, &rec.id, &rec.mounts) {
            eprintln!("berth-engine: unmounting volumes of {}: {e}", rec.id);
        }
        for n in active {
            self.volume_event("unmount", n, &[("container", rec.id.clone())]);
        }
    }

    /// Container removal: drops its references; with `remove_anonymous` (`rm -v`,
    /// `run --rm`) also removes its anonymous volumes nobody else uses.
    /// Deleting a large anonymous volume takes a while: it runs on a blocking thread.
    pub(crate) async fn release_mounts(&self, rec: &ContainerRecord, remove_anonymous: bool) {
        if rec.mounts.iter().all(|m| m.volume.is_none()) {
            return;
        }
        let store = self.volumes.clone();
        let (id, mounts) = (rec.id.clone(), rec.mounts.clone());
        let removed = tokio::task::spawn_blocking(move || {
            berth_volume::release(&store, &id, &mounts, remove_anonymous)
        })
        .await
        .unwrap_or_default();
        for n in removed {
            self.volume_event("destroy", &n, &[]);
        }
    }

    /// Daemon start, before containers are restored: references of every container on
    /// disk and the activity of those recorded as running.
    pub(crate) fn restore_volumes(&self) {
        let dir = self.containers_dir();
        let mut recs: Vec<ContainerRecord> = Vec::new();
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                if let Some(r) = read_json::<ContainerRecord>(&e.path().join(CONFIG_FILE)) {
                    if r.state.status != "removing" && !r.mounts.is_empty() {
                        recs.push(r);
                    }
                }
            }
        }
        let refs = recs
            .iter()
            .flat_map(|r| berth_volume::volume_names(&r.mounts).map(move |v| (v, r.id.as_str())));
        self.volumes.set_refs(refs);
        let active = recs
            .iter()
            .filter(|r| r.state.running)
            .flat_map(|r| berth_volume::volume_names(&r.mounts).map(move |v| (v, r.id.as_str())));
        self.volumes.restore_active(active);
    }

    /// `POST /volumes/create`.
    pub async fn volume_create(&self, body: VolumeCreateBody) -> Result<Volume> {
        let existed = body
            .name
            .as_deref()
            .is_some_and(|n| !n.is_empty() && self.volumes.exists(n));
        let store = self.volumes.clone();
        let v = tokio::task::spawn_blocking(move || store.create(body.into())).await??;
        if !existed {
            self.volume_event("create", &v.name, &[]);
        }
        Ok(v)
    }

    /// `GET /volumes`: sorted by name.
    pub fn volume_list(&self, f: &Filters) -> Result<Vec<Volume>> {
        Ok(self.volumes.list(&f.0)?)
    }

    /// `GET /volumes/{name}`.
    pub fn volume_inspect(&self, name: &str) -> Result<Volume> {
        Ok(self.volumes.get(name)?)
    }

    /// `DELETE /volumes/{name}?force=`: refused while a container references it.
    pub async fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        let existed = self.volumes.exists(name);
        let store = self.volumes.clone();
        let n = name.to_string();
        tokio::task::spawn_blocking(move || store.remove(&n, force)).await??;
        if existed {
            self.volume_event("destroy", name, &[]);
        }
        Ok(())
    }

    /// `POST /volumes/prune`: unused anonymous volumes, every unused one with `all=true`.
    pub async fn volume_prune(&self, f: &Filters) -> Result<PruneReport> {
        let store = self.volumes.clone();
        let f = f.0.clone();
        let report = tokio::task::spawn_blocking(move || store.prune(&f)).await??;
        for n in &report.volumes_deleted {
            self.volume_event("destroy", n, &[]);
        }
        self.publish(
            "volume",
            "prune",
            "",
            "",
            attrs(&[("reclaimed", report.space_reclaimed.to_string())]),
        );
        Ok(report)
    }

    /// Volumes with their sizes and reference counts, for `GET /system/df`.
    pub async fn volume_usage(&self) -> Result<Vec<Volume>> {
        let store = self.volumes.clone();
        Ok(tokio::task::spawn_blocking(move || store.usage()).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_types::docker::MountSpec;

    fn hc() -> HostConfig {
        HostConfig::default()
    }

    #[test]
    fn host_config_requests_are_validated_with_docker_texts() {
        let mut h = hc();
        h.binds = Some(vec!["data:/d".into(), "/host:/h:ro".into()]);
        h.tmpfs = Some([("/t".to_string(), "size=1m".to_string())].into());
        let reqs = parse_requests(&h).unwrap();
        assert_eq!(reqs.len(), 3);
        assert!(reqs[1].read_only);

        h.binds = Some(vec!["a:b:c:d".into()]);
        let e = parse_requests(&h).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert_eq!(e.message, "invalid volume specification: 'a:b:c:d'");

        let mut h = hc();
        h.mounts = Some(vec![MountSpec {
            kind: "bind".into(),
            source: "/no/such/dir/for/berth".into(),
            target: "/x".into(),
            ..Default::default()
        }]);
        let e = parse_requests(&h).unwrap_err();
        assert_eq!(
            e.message,
            "invalid mount config for type \"bind\": bind source path does not exist: /no/such/dir/for/berth"
        );

        let mut h = hc();
        h.volumes_from = Some(vec![String::new()]);
        assert!(parse_requests(&h).is_err());
    }

    #[test]
    fn inspect_mounts_of_resolved_and_legacy_records() {
        let mut r = ContainerRecord::default();
        assert_eq!(inspect_mounts(&r), Some(vec![]));
        // Written before mounts were resolved: the caller falls back to the host config.
        r.host_config.binds = Some(vec!["/a:/b".into()]);
        assert_eq!(inspect_mounts(&r), None);
    }

    #[test]
    fn volume_errors_map_to_docker_statuses() {
        let e: EngineError = VolumeError::NotFound {
            op: "get",
            name: "v".into(),
        }
        .into();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::NotFound, "get v: no such volume")
        );
        let e: EngineError = VolumeError::InUse {
            name: "v".into(),
            refs: vec!["abc".into()],
        }
        .into();
        assert_eq!(e.kind, ErrorKind::Conflict);
        assert_eq!(e.message, "remove v: volume is in use - [abc]");
    }
}
