//! Resolution: a container's [`MountRequest`]s plus its image's `VOLUME`s → the mounts
//! the runtime performs ([`berth_types::spec::Mount`]) and inspect's `Mounts` entries, with
//! the volumes created and referenced on the way. Done once at container create; the
//! engine stores the result ([`ResolvedMount`] is serde) in the container's config.
//!
//! Docker's precedence, which this follows:
//! 1. `--volumes-from` mounts (a later one for the same destination replaces an earlier);
//! 2. `-v` and `--mount` replace those silently, but two of them (or one and a `--tmpfs`)
//!    on one destination are `Duplicate mount point: /data`;
//! 3. `--tmpfs` replaces an inherited mount;
//! 4. an image `VOLUME` gets an anonymous volume unless something is mounted there.
//!
//! At start the engine calls [`activate`] (mounts option volumes, fills empty volumes from
//! the image) and at stop [`deactivate`]; at container removal [`release`].

use crate::copyup::{self, CopyOutcome};
use crate::error::{Result, VolumeError};
use crate::parse::{merge_tmpfs_options, MountKind, MountOrigin, MountRequest};
use crate::store::{CreateOptions, VolumeStore};
use berth_types::docker::MountPoint;
use berth_types::spec::Mount;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// One mount of a container after resolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedMount {
    /// Inspect's `Mounts` entry; None for `--tmpfs` (Docker does not list those).
    pub point: Option<MountPoint>,
    /// What the runtime mounts; for volumes the source is the volume's `_data`.
    pub spec: Mount,
    /// The volume's name, for volume mounts.
    #[serde(default)]
    pub volume: Option<String>,
    /// Fill the volume from the image at start when it is empty (not `nocopy`).
    #[serde(default)]
    pub copy_data: bool,
    /// The volume was created without a name: `rm -v` and `run --rm` remove it.
    #[serde(default)]
    pub anonymous: bool,
    /// A `-v` bind: its host directory is made again at start if it went missing, as
    /// Docker does (a `--mount` bind source must exist).
    #[serde(default)]
    pub create_source: bool,
}

/// Who is asking, and where volumes live.
pub struct ResolveContext<'a> {
    pub store: &'a VolumeStore,
    /// Full id of the container being created (the volumes' reference).
    pub container_id: &'a str,
    /// `HostConfig.VolumeDriver`, for image `VOLUME`s (empty = `local`).
    pub volume_driver: &'a str,
}

fn depth(p: &str) -> usize {
    p.split('/').filter(|c| !c.is_empty()).count()
}

fn dup(target: &str) -> VolumeError {
    VolumeError::invalid(format!("Duplicate mount point: {target}"))
}

/// Resolves the requests and the image's `VOLUME` paths into mounts, sorted parents
/// before children. Creates missing `-v` bind sources (directories, as Docker does),
/// named volumes on first use and anonymous volumes (64-hex names), and takes a
/// reference on every volume for `ctx.container_id`. On error, references taken and
/// anonymous volumes created by this call are undone; host directories and named volumes
/// are kept (never delete on a failed create).
pub fn resolve(
    requests: &[MountRequest],
    image_volumes: &[String],
    ctx: &ResolveContext,
) -> Result<Vec<ResolvedMount>> {
    // Destination → request, in Docker's order of precedence.
    let mut chosen: BTreeMap<String, MountRequest> = BTreeMap::new();
    let mut explicit: HashSet<String> = HashSet::new();
    let tmpfs_targets: HashSet<&str> = requests
        .iter()
        .filter(|r| r.origin == MountOrigin::Tmpfs)
        .map(|r| r.target.as_str())
        .collect();
    for r in requests
        .iter()
        .filter(|r| r.origin == MountOrigin::VolumesFrom)
    {
        chosen.insert(r.target.clone(), r.clone());
    }
    for r in requests
        .iter()
        .filter(|r| matches!(r.origin, MountOrigin::Bind | MountOrigin::Mount))
    {
        if !explicit.insert(r.target.clone()) || tmpfs_targets.contains(r.target.as_str()) {
            return Err(dup(&r.target));
        }
        chosen.insert(r.target.clone(), r.clone());
    }
    for r in requests.iter().filter(|r| r.origin == MountOrigin::Tmpfs) {
        chosen.insert(r.target.clone(), r.clone());
    }
    for v in image_volumes {
        let req = MountRequest::image_volume(v, ctx.volume_driver)?;
        chosen.entry(req.target.clone()).or_insert(req);
    }
    for r in requests.iter().filter(|r| r.origin == MountOrigin::Image) {
        chosen.entry(r.target.clone()).or_insert_with(|| r.clone());
    }

    let mut out = Vec::with_capacity(chosen.len());
    let mut acquired: Vec<String> = Vec::new();
    let mut created_anonymous: Vec<String> = Vec::new();
    for r in chosen.values() {
        match materialize(r, ctx, &mut acquired, &mut created_anonymous) {
            Ok(m) => out.push(m),
            Err(e) => {
                for name in &acquired {
                    ctx.store.release(name, ctx.container_id);
                }
                for name in &created_anonymous {
                    if let Err(re) = ctx.store.remove(name, true) {
                        eprintln!("berth-volume: undoing anonymous volume {name}: {re}");
                    }
                }
                return Err(e);
            }
        }
    }
    out.sort_by_key(|m| depth(&m.spec.target));
    Ok(out)
}

fn bind_options(r: &MountRequest, propagation: &str) -> Vec<String> {
    let mut o = vec![if r.non_recursive { "bind" } else { "rbind" }.to_string()];
    // Read-only covers the submounts too (`rro`, Docker 25 and later), unless asked to
    // leave them writable; `rro-strict` fails where the kernel cannot do it.
    // `ro` stays first: readers of the options look for it.
    if r.read_only {
        o.push("ro".into());
        if r.ro_force_recursive {
            o.push("rro-strict".into());
        } else if !r.ro_non_recursive && !r.non_recursive {
            o.push("rro".into());
        }
    }
    o.push(propagation.to_string());
    o
}

fn materialize(
    r: &MountRequest,
    ctx: &ResolveContext,
    acquired: &mut Vec<String>,
    created_anonymous: &mut Vec<String>,
) -> Result<ResolvedMount> {
    match r.kind {
        MountKind::Bind => {
            let src = Path::new(&r.source);
            if std::fs::symlink_metadata(src).is_err() && std::fs::metadata(src).is_err() {
                if !r.create_source {
                    return Err(VolumeError::invalid(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {}",
                        r.source
                    )));
                }
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(src)
                    .map_err(|e| VolumeError::io_path("mkdir", src, e))?;
            }
            let propagation = r.propagation.clone().unwrap_or_else(|| "rprivate".into());
            Ok(ResolvedMount {
                point: Some(MountPoint {
                    kind: "bind".into(),
                    name: String::new(),
                    source: r.source.clone(),
                    destination: r.target.clone(),
                    driver: String::new(),
                    mode: r.mode.clone(),
                    rw: !r.read_only,
                    propagation: propagation.clone(),
                }),
                spec: Mount {
                    source: r.source.clone(),
                    target: r.target.clone(),
                    fstype: "bind".into(),
                    options: bind_options(r, &propagation),
                },
                volume: None,
                copy_data: false,
                anonymous: false,
                create_source: r.create_source,
            })
        }
        MountKind::Volume => {
            let name = if r.origin == MountOrigin::VolumesFrom {
                // The other container's volume must still be there.
                ctx.store.get(&r.source)?.name
            } else {
                let v = ctx.store.create(CreateOptions {
                    name: r.source.clone(),
                    driver: r.driver.clone(),
                    labels: r.volume_labels.clone(),
                    options: r.volume_options.clone(),
                })?;
                if r.source.is_empty() {
                    created_anonymous.push(v.name.clone());
                }
                v.name
            };
            ctx.store.acquire(&name, ctx.container_id)?;
            acquired.push(name.clone());
            let anonymous = ctx
                .store
                .get(&name)
                .map(|v| v.is_anonymous())
                .unwrap_or(false);
            let data = ctx.store.data_path(&name).to_string_lossy().into_owned();
            // Docker shows `z` for local volumes given without a mode, nothing for image ones.
            let mode = match r.origin {
                MountOrigin::Image => String::new(),
                _ if r.mode.is_empty() => "z".into(),
                _ => r.mode.clone(),
            };
            Ok(ResolvedMount {
                point: Some(MountPoint {
                    kind: "volume".into(),
                    name: name.clone(),
                    source: data.clone(),
                    destination: r.target.clone(),
                    driver: "local".into(),
                    mode,
                    rw: !r.read_only,
                    propagation: String::new(),
                }),
                spec: Mount {
                    source: data,
                    target: r.target.clone(),
                    fstype: "bind".into(),
                    options: bind_options(r, "rprivate"),
                },
                volume: Some(name),
                copy_data: !r.nocopy && r.origin != MountOrigin::VolumesFrom,
                anonymous,
                create_source: false,
            })
        }
        MountKind::Tmpfs => {
            let mut user = r.tmpfs_options.clone();
            if r.read_only && !user.iter().any(|o| o == "ro") {
                user.push("ro".into());
            }
            let point = (r.origin == MountOrigin::Mount).then(|| MountPoint {
                kind: "tmpfs".into(),
                name: String::new(),
                source: String::new(),
                destination: r.target.clone(),
                driver: String::new(),
                mode: String::new(),
                rw: !r.read_only,
                propagation: String::new(),
            });
            Ok(ResolvedMount {
                point,
                spec: Mount {
                    source: "tmpfs".into(),
                    target: r.target.clone(),
                    fstype: "tmpfs".into(),
                    options: merge_tmpfs_options(&user),
                },
                volume: None,
                copy_data: false,
                anonymous: false,
                create_source: false,
            })
        }
    }
}

/// Inspect's `Mounts` (resolution order: parents first).
pub fn mount_points(mounts: &[ResolvedMount]) -> Vec<MountPoint> {
    mounts.iter().filter_map(|m| m.point.clone()).collect()
}

/// `(volume, container)` pairs of a container, for [`VolumeStore::set_refs`] and
/// [`VolumeStore::restore_active`] at daemon start.
pub fn volume_names(mounts: &[ResolvedMount]) -> impl Iterator<Item = &str> {
    mounts.iter().filter_map(|m| m.volume.as_deref())
}

/// Container start: makes missing `-v` bind sources again, mounts option volumes
/// (activity for `container_id`), fills empty volumes from the image (`layers`, top-most
/// first, as for [`copyup::copy_up`]) unless `nocopy`, and returns the runtime's mounts.
/// On error, what it activated is undone.
pub fn activate(
    store: &VolumeStore,
    container_id: &str,
    mounts: &[ResolvedMount],
    layers: &[PathBuf],
) -> Result<Vec<Mount>> {
    let mut done: Vec<&str> = Vec::new();
    let res = (|| {
        for m in mounts {
            if m.create_source && std::fs::symlink_metadata(&m.spec.source).is_err() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(&m.spec.source)
                    .map_err(|e| VolumeError::io_path("mkdir", Path::new(&m.spec.source), e))?;
            }
            let Some(name) = m.volume.as_deref() else {
                continue;
            };
            let data = store.mount(name, container_id)?;
            done.push(name);
            if m.copy_data && !layers.is_empty() {
                store.populate(name, layers, &m.spec.target, &data)?;
            }
        }
        Ok(())
    })();
    if let Err(e) = res {
        for name in done {
            let _ = store.unmount(name, container_id);
        }
        return Err(e);
    }
    Ok(mounts.iter().map(|m| m.spec.clone()).collect())
}

/// Container stop: ends the activity of `container_id` on its volumes (the last user of an
/// option volume unmounts it).
pub fn deactivate(store: &VolumeStore, container_id: &str, mounts: &[ResolvedMount]) -> Result<()> {
    let mut first_err = None;
    for name in volume_names(mounts) {
        if let Err(e) = store.unmount(name, container_id) {
            first_err.get_or_insert(e);
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// Container removal: drops its references; with `remove_anonymous` (`rm -v`,
/// `run --rm`) also removes its anonymous volumes that nobody else uses (named volumes are
/// never removed). Returns the names removed.
pub fn release(
    store: &VolumeStore,
    container_id: &str,
    mounts: &[ResolvedMount],
    remove_anonymous: bool,
) -> Vec<String> {
    let mut removed = Vec::new();
    for m in mounts {
        let Some(name) = m.volume.as_deref() else {
            continue;
        };
        store.release(name, container_id);
        if remove_anonymous && m.anonymous {
            match store.remove(name, true) {
                Ok(()) => removed.push(name.to_string()),
                // Another container still uses it: an implementation detail, not an error.
                Err(VolumeError::InUse { .. }) => {}
                Err(e) => eprintln!("berth-volume: removing anonymous volume {name}: {e}"),
            }
        }
    }
    removed
}

impl VolumeStore {
    /// Copy-up under the store's lock on this volume, so two containers starting at once
    /// cannot both fill it.
    pub fn populate(
        &self,
        name: &str,
        layers: &[PathBuf],
        path_in_image: &str,
        data: &Path,
    ) -> Result<CopyOutcome> {
        let _guard = self.copy_lock();
        if !self.exists(name) {
            return Err(VolumeError::NotFound {
                op: "get",
                name: name.to_string(),
            });
        }
        copyup::copy_up(layers, path_in_image, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readonly_binds_reach_their_submounts_unless_told_otherwise() {
        let base = crate::parse::parse_bind_spec("/src:/dst:ro", "").unwrap();
        assert_eq!(
            bind_options(&base, "rprivate"),
            ["rbind", "ro", "rro", "rprivate"]
        );
        let mut r = base.clone();
        r.ro_non_recursive = true;
        assert_eq!(bind_options(&r, "rprivate"), ["rbind", "ro", "rprivate"]);
        let mut r = base.clone();
        r.ro_force_recursive = true;
        assert_eq!(
            bind_options(&r, "rprivate"),
            ["rbind", "ro", "rro-strict", "rprivate"]
        );
        let mut r = base.clone();
        r.non_recursive = true;
        assert_eq!(bind_options(&r, "rslave"), ["bind", "ro", "rslave"]);
        r.read_only = false;
        assert_eq!(bind_options(&r, "rslave"), ["bind", "rslave"]);
    }
}
