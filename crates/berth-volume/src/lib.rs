//! Volumes and container mounts: everything between the `-v`/`--mount`/`--tmpfs`/
//! `--volumes-from` flags (and image `VOLUME`s) and the [`berth_types::spec::Mount`] list
//! the runtime performs, plus the `volume` commands' store.
//!
//! Modules, in the order a container meets them:
//! - [`parse`]: Docker's syntax and validation (with its error texts) → [`MountRequest`].
//! - [`mod@resolve`]: requests + image volumes → [`ResolvedMount`]s (runtime mount + inspect
//!   entry), creating volumes and bind sources; [`activate`]/[`deactivate`]/[`release`]
//!   for container start, stop and removal.
//! - [`store`]: `<data-root>/volumes/<name>/_data`, create/get/list/remove/prune,
//!   references by container id, option volumes (`-o type=tmpfs|none,device=…,o=…`)
//!   mounted at first use, sizes for `system df -v`.
//! - [`copyup`]: fills an empty volume from the image (overlay-aware, symlinks resolved
//!   inside the image root, owners/modes/xattrs/links/devices kept).
//! - [`filters`]: `volume ls`/`prune` filters.
//!
//! # How the engine uses it
//!
//! ```text
//! daemon start:  store = VolumeStore::open(data_root)
//!                store.set_refs(every container's (volume, id))      // resolve::volume_names
//!                store.restore_active(running containers' (volume, id))
//! create:        reqs  = parse_bind_spec(each Binds, VolumeDriver)
//!                      + parse_mount_spec(each Mounts)
//!                      + parse_tmpfs(each Tmpfs)
//!                      + for each VolumesFrom: (id, rw) = parse_volumes_from(s);
//!                          volumes_from_requests(rw, &that_container_mount_points)
//!                mounts = resolve(&reqs, image_config.Volumes keys, &ResolveContext{..})
//!                keep `mounts` (serde) in config.v2.json; inspect Mounts = mount_points(&mounts)
//! start:         spec.mounts += activate(&store, id, &mounts, &image_layer_dirs)
//! stop/exit:     deactivate(&store, id, &mounts)
//! rm [-v]:       release(&store, id, &mounts, remove_anonymous = -v or --rm)
//! volume API:    store.create/get/list/remove/prune/usage
//! ```
//!
//! Errors are [`VolumeError`]s worded as Docker's daemon words them; `status()` gives the
//! HTTP status.

pub mod copyup;
pub mod error;
pub mod filters;
pub mod localmount;
pub mod parse;
pub mod resolve;
pub mod store;

pub use copyup::{copy_up, CopyOutcome};
pub use error::{Result, VolumeError};
pub use filters::{parse_filters_json, Filters};
pub use parse::{
    merge_tmpfs_options, parse_bind_spec, parse_mount_csv, parse_mount_spec, parse_tmpfs,
    parse_volumes_from, split_tmpfs_flag, volumes_from_requests, MountKind, MountOrigin,
    MountRequest,
};
pub use resolve::{
    activate, deactivate, mount_points, release, resolve, volume_names, ResolveContext,
    ResolvedMount,
};
pub use store::{
    CreateOptions, PruneReport, UsageData, Volume, VolumeCreateBody, VolumeStore, ANONYMOUS_LABEL,
};
