//! The volume store: `<data-root>/volumes/<name>/` with the data in `_data` and the
//! volume's record in `volume.json` (name, driver, labels, options, creation time;
//! written atomically). One store per data root, internally synchronized.
//!
//! Two kinds of in-memory counts, both keyed by container id:
//! - references ([`VolumeStore::acquire`] / [`VolumeStore::release`]): a container that
//!   lists the volume, from container create to container removal. A referenced volume
//!   cannot be removed or pruned, and is not `dangling`. Rebuilt at daemon start from the
//!   containers' configs with [`VolumeStore::set_refs`].
//! - activity ([`VolumeStore::mount`] / [`VolumeStore::unmount`]): a running container.
//!   Volumes created with `-o type=…,device=…` are mounted on `_data` (on the host, under
//!   the data root) at the first activity and unmounted after the last one. After a daemon
//!   restart [`VolumeStore::restore_active`] re-registers the running containers and
//!   unmounts whatever is left mounted without a user.

use crate::error::{Result, VolumeError};
use crate::filters::{self, Filters};
use crate::localmount;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

/// The label Docker puts on volumes created without a name.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";
/// The only driver there is.
pub const LOCAL_DRIVER: &str = "local";
const DATA_DIR: &str = "_data";
const META_FILE: &str = "volume.json";
const TMP_PREFIX: &str = ".tmp-";

/// A volume in the API's shape (`GET /volumes/{name}`, list entries, `system df`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    #[serde(rename = "CreatedAt")]
    pub created_at: String,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "Labels")]
    pub labels: BTreeMap<String, String>,
    #[serde(rename = "Mountpoint")]
    pub mountpoint: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Options")]
    pub options: BTreeMap<String, String>,
    #[serde(rename = "Scope")]
    pub scope: String,
    /// Only for `system df`: size of `_data` (-1 when not measured) and references.
    #[serde(rename = "UsageData", skip_serializing_if = "Option::is_none", default)]
    pub usage_data: Option<UsageData>,
}

impl Volume {
    /// Created without a name (by `-v /dst`, `--mount` without source, image `VOLUME`).
    pub fn is_anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageData {
    #[serde(rename = "Size")]
    pub size: i64,
    #[serde(rename = "RefCount")]
    pub ref_count: i64,
}

/// What `volume create` (or first use) asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateOptions {
    /// Empty: an anonymous volume with a random 64-hex name.
    pub name: String,
    /// Empty or `local`.
    pub driver: String,
    pub labels: BTreeMap<String, String>,
    /// Driver options: `type`, `device`, `o` (and `size`, refused: no quota support).
    pub options: BTreeMap<String, String>,
}

/// Body of `POST /volumes/create` in the API's shape (`Name`, `Driver`, `DriverOpts`,
/// `Labels`; nulls and missing fields allowed).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct VolumeCreateBody {
    #[serde(rename = "Name", default)]
    pub name: Option<String>,
    #[serde(rename = "Driver", default)]
    pub driver: Option<String>,
    #[serde(rename = "DriverOpts", default)]
    pub driver_opts: Option<BTreeMap<String, String>>,
    #[serde(rename = "Labels", default)]
    pub labels: Option<BTreeMap<String, String>>,
}

impl From<VolumeCreateBody> for CreateOptions {
    fn from(b: VolumeCreateBody) -> Self {
        CreateOptions {
            name: b.name.unwrap_or_default(),
            driver: b.driver.unwrap_or_default(),
            labels: b.labels.unwrap_or_default(),
            options: b.driver_opts.unwrap_or_default(),
        }
    }
}

/// Reply of prune.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PruneReport {
    #[serde(rename = "VolumesDeleted")]
    pub volumes_deleted: Vec<String>,
    #[serde(rename = "SpaceReclaimed")]
    pub space_reclaimed: u64,
}

/// The on-disk record, `volume.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Driver")]
    driver: String,
    #[serde(rename = "CreatedAt")]
    created_at: String,
    #[serde(rename = "Labels", default)]
    labels: BTreeMap<String, String>,
    #[serde(rename = "Options", default)]
    options: BTreeMap<String, String>,
}

#[derive(Default)]
struct Inner {
    vols: BTreeMap<String, Record>,
    refs: HashMap<String, BTreeSet<String>>,
    active: HashMap<String, BTreeSet<String>>,
    /// Option volumes whose `_data` is currently mounted.
    mounted: HashSet<String>,
}

/// All volumes of one data root.
pub struct VolumeStore {
    root: PathBuf,
    inner: Mutex<Inner>,
    /// Serializes copy-ups (see `populate`), apart from `inner` so a long copy does not
    /// block listing.
    copy: Mutex<()>,
}

/// Docker's rule for local volume names, with its texts.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.len() == 1 {
        return Err(
            "volume name is too short, names should be at least two alphanumeric characters".into(),
        );
    }
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        return Err(format!(
            "\"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        ));
    }
    Ok(())
}

/// 64 random hex digits (anonymous volume names).
pub fn random_name() -> Result<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b)
        .map_err(|e| VolumeError::io("getrandom", std::io::Error::other(e.to_string())))?;
    Ok(hex::encode(b))
}

/// Docker's `CreatedAt`: RFC 3339 to the second.
fn created_now() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    berth_types::time::rfc3339_nano_trimmed(t)
}

/// Writes `data` to `path` atomically: temp file in the same dir, fsync, rename.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let res = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// Removes a tree without ever leaving its file system: a directory on another device
/// (a mount) makes it stop with an error instead of deleting what is behind the mount.
fn remove_tree_same_dev(path: &Path) -> std::io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    fn walk(p: &Path, dev: u64) -> std::io::Result<()> {
        for e in fs::read_dir(p)? {
            let e = e?;
            let child = e.path();
            let m = fs::symlink_metadata(&child)?;
            if m.is_dir() {
                if m.dev() != dev {
                    return Err(std::io::Error::other(format!(
                        "{} is on another file system (a mount); not removing it",
                        child.display()
                    )));
                }
                walk(&child, dev)?;
                fs::remove_dir(&child)?;
            } else {
                fs::remove_file(&child)?;
            }
        }
        Ok(())
    }
    if meta.is_dir() {
        walk(path, meta.dev())?;
        fs::remove_dir(path)
    } else {
        fs::remove_file(path)
    }
}

/// Apparent size of the files under `p` (hard links counted once), without crossing
/// into other mounts; Docker's `directory.Size`.
pub fn dir_size(p: &Path) -> i64 {
    fn walk(p: &Path, dev: u64, seen: &mut HashSet<(u64, u64)>, total: &mut i64) {
        let Ok(rd) = fs::read_dir(p) else { return };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                if m.dev() == dev {
                    walk(&e.path(), dev, seen, total);
                }
                continue;
            }
            if m.nlink() > 1 && !seen.insert((m.dev(), m.ino())) {
                continue;
            }
            *total += m.len() as i64;
        }
    }
    let Ok(m) = fs::metadata(p) else { return -1 };
    let mut total = 0;
    walk(p, m.dev(), &mut HashSet::new(), &mut total);
    total
}

impl VolumeStore {
    /// Opens (creating) `<data_root>/volumes` and loads every volume in it. Unreadable
    /// records are logged and the volume kept with defaults; leftovers of interrupted
    /// creates are removed.
    pub fn open(data_root: &Path) -> Result<VolumeStore> {
        let root = data_root.join("volumes");
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o701)
            .create(&root)
            .map_err(|e| VolumeError::io_path("create", &root, e))?;
        let mut inner = Inner::default();
        let rd = fs::read_dir(&root).map_err(|e| VolumeError::io_path("read", &root, e))?;
        let mounts = localmount::mount_points();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if name.starts_with(TMP_PREFIX) {
                // Our own half-made volume: nothing else can be in there.
                if let Err(err) = remove_tree_same_dev(&path) {
                    eprintln!(
                        "berth-volume: cannot remove leftover {}: {err}",
                        path.display()
                    );
                }
                continue;
            }
            if name.starts_with('.')
                || !path.join(DATA_DIR).is_dir()
                || validate_name(&name).is_err()
            {
                continue;
            }
            let rec = match fs::read(path.join(META_FILE)) {
                Ok(b) => match serde_json::from_slice::<Record>(&b) {
                    Ok(r) if r.name == name => Some(r),
                    Ok(_) | Err(_) => {
                        eprintln!(
                            "berth-volume: unreadable {}, using defaults",
                            path.join(META_FILE).display()
                        );
                        None
                    }
                },
                Err(_) => None,
            };
            let rec = rec.unwrap_or_else(|| Record {
                name: name.clone(),
                driver: LOCAL_DRIVER.into(),
                created_at: e
                    .metadata()
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .map(berth_types::time::rfc3339_nano_trimmed)
                    .unwrap_or_default(),
                labels: BTreeMap::new(),
                options: BTreeMap::new(),
            });
            let data = path.join(DATA_DIR).to_string_lossy().into_owned();
            if localmount::needs_mount(&rec.options) && mounts.contains(&data) {
                inner.mounted.insert(name.clone());
            }
            inner.vols.insert(name, rec);
        }
        Ok(VolumeStore {
            root,
            inner: Mutex::new(inner),
            copy: Mutex::new(()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent maps (every update is a single
        // insert/remove), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn copy_lock(&self) -> MutexGuard<'_, ()> {
        self.copy.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `<data-root>/volumes`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<data-root>/volumes/<name>/_data`: the volume's `Mountpoint`.
    pub fn data_path(&self, name: &str) -> PathBuf {
        self.root.join(name).join(DATA_DIR)
    }

    fn to_api(&self, r: &Record) -> Volume {
        Volume {
            created_at: r.created_at.clone(),
            driver: r.driver.clone(),
            labels: r.labels.clone(),
            mountpoint: self.data_path(&r.name).to_string_lossy().into_owned(),
            name: r.name.clone(),
            options: r.options.clone(),
            scope: "local".into(),
            usage_data: None,
        }
    }

    /// Creates a volume, or returns the existing one of that name (create is idempotent).
    /// On any failure nothing is left on disk.
    pub fn create(&self, opts: CreateOptions) -> Result<Volume> {
        let anonymous = opts.name.is_empty();
        let name = if anonymous {
            random_name()?
        } else {
            opts.name.clone()
        };
        let driver = if opts.driver.is_empty() {
            LOCAL_DRIVER.to_string()
        } else {
            opts.driver.clone()
        };
        let op_err = |msg: String| VolumeError::Invalid(format!("create {name}: {msg}"));
        if driver != LOCAL_DRIVER {
            return Err(VolumeError::PluginNotFound { name, driver });
        }
        let mut inner = self.lock();
        if let Some(r) = inner.vols.get(&name) {
            return Ok(self.to_api(r));
        }
        validate_name(&name).map_err(op_err)?;
        localmount::validate_opts(&opts.options).map_err(op_err)?;
        let mut labels = opts.labels;
        if anonymous {
            labels.insert(ANONYMOUS_LABEL.into(), String::new());
        }
        let rec = Record {
            name: name.clone(),
            driver,
            created_at: created_now(),
            labels,
            options: opts.options,
        };
        let tmp = self.root.join(format!("{TMP_PREFIX}{}", random_name()?));
        let made = (|| -> std::io::Result<()> {
            fs::DirBuilder::new().mode(0o701).create(&tmp)?;
            fs::DirBuilder::new()
                .mode(0o755)
                .create(tmp.join(DATA_DIR))?;
            // The umask may have trimmed the mode; volumes are world-readable like Docker's.
            fs::set_permissions(tmp.join(DATA_DIR), fs::Permissions::from_mode(0o755))?;
            let json = serde_json::to_vec_pretty(&rec).map_err(std::io::Error::other)?;
            write_atomic(&tmp.join(META_FILE), &json)?;
            fs::rename(&tmp, self.root.join(&name))
        })();
        if let Err(e) = made {
            let _ = remove_tree_same_dev(&tmp);
            if e.kind() == std::io::ErrorKind::DirectoryNotEmpty
                || e.kind() == std::io::ErrorKind::AlreadyExists
            {
                return Err(op_err(format!(
                    "volume already exists under {}",
                    self.root.join(&name).display()
                )));
            }
            return Err(VolumeError::io(format!("create {name}"), e));
        }
        let v = self.to_api(&rec);
        inner.vols.insert(name, rec);
        Ok(v)
    }

    /// The volume called `name` (`get NAME: no such volume`).
    pub fn get(&self, name: &str) -> Result<Volume> {
        let inner = self.lock();
        inner
            .vols
            .get(name)
            .map(|r| self.to_api(r))
            .ok_or_else(|| VolumeError::NotFound {
                op: "get",
                name: name.to_string(),
            })
    }

    /// Whether a volume of that name exists.
    pub fn exists(&self, name: &str) -> bool {
        self.lock().vols.contains_key(name)
    }

    /// `volume ls`: filters `dangling`, `name`, `driver`, `label`; sorted by name.
    pub fn list(&self, f: &Filters) -> Result<Vec<Volume>> {
        filters::validate(f, &["dangling", "name", "driver", "label"])?;
        let dangling = filters::get_bool(f, "dangling")?;
        let inner = self.lock();
        Ok(inner
            .vols
            .values()
            .filter(|r| {
                let used = inner.refs.get(&r.name).is_some_and(|s| !s.is_empty());
                dangling.is_none_or(|d| d != used)
                    && f.get("name")
                        .is_none_or(|p| filters::match_name(p, &r.name))
                    && f.get("driver").is_none_or(|d| d.contains(&r.driver))
                    && f.get("label")
                        .is_none_or(|l| filters::match_labels(l, &r.labels))
            })
            .map(|r| self.to_api(r))
            .collect())
    }

    /// Container ids referencing the volume.
    pub fn refs(&self, name: &str) -> Vec<String> {
        self.lock()
            .refs
            .get(name)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Removes a volume and its data. A referenced volume is refused even with `force`
    /// (`remove NAME: volume is in use - [ID]`); `force` only makes a missing one fine.
    pub fn remove(&self, name: &str, force: bool) -> Result<()> {
        let mut inner = self.lock();
        self.remove_locked(&mut inner, name, force)
    }

    fn remove_locked(&self, inner: &mut Inner, name: &str, force: bool) -> Result<()> {
        if !inner.vols.contains_key(name) {
            if force {
                return Ok(());
            }
            return Err(VolumeError::NotFound {
                op: "get",
                name: name.to_string(),
            });
        }
        if let Some(refs) = inner.refs.get(name).filter(|s| !s.is_empty()) {
            return Err(VolumeError::InUse {
                name: name.to_string(),
                refs: refs.iter().cloned().collect(),
            });
        }
        let dir = self.root.join(name);
        let data = dir.join(DATA_DIR);
        if inner.mounted.contains(name) || localmount::is_mount_point(&data) {
            localmount::unmount_local(&data)?;
            inner.mounted.remove(name);
        }
        if localmount::has_mounts_under(&dir) {
            return Err(VolumeError::Conflict(format!(
                "remove {name}: {} has mounts below it; not removing",
                dir.display()
            )));
        }
        // Rename first so the volume vanishes at once even if deleting the data is slow
        // or fails half-way (the leftover is cleaned at the next open).
        let trash = self.root.join(format!("{TMP_PREFIX}{}", random_name()?));
        fs::rename(&dir, &trash).map_err(|e| VolumeError::io(format!("remove {name}"), e))?;
        inner.vols.remove(name);
        inner.active.remove(name);
        if let Err(e) = remove_tree_same_dev(&trash) {
            eprintln!("berth-volume: removing data of {name}: {e}");
        }
        Ok(())
    }

    /// `volume prune`: unused `local` volumes without driver options; only anonymous ones
    /// unless the `all` filter is true (API ≥ 1.42; the engine adds `all=true` for older
    /// clients). Filters: `all`, `label`, `label!`.
    pub fn prune(&self, f: &Filters) -> Result<PruneReport> {
        filters::validate(f, &["label", "label!", "all"])?;
        let all = match f.get("all").map(Vec::as_slice) {
            None | Some([]) => false,
            Some([v]) => crate::parse::parse_go_bool(v).ok_or_else(|| {
                VolumeError::invalid(format!(
                    "invalid filter 'all': strconv.ParseBool: parsing \"{v}\": invalid syntax"
                ))
            })?,
            Some(vs) => {
                return Err(VolumeError::invalid(format!(
                    "invalid filter 'all=[{}]': only one value is expected",
                    vs.join(" ")
                )))
            }
        };
        let mut inner = self.lock();
        let victims: Vec<String> = inner
            .vols
            .values()
            .filter(|r| {
                r.driver == LOCAL_DRIVER
                    && r.options.is_empty()
                    && inner.refs.get(&r.name).is_none_or(|s| s.is_empty())
                    && (all || r.labels.contains_key(ANONYMOUS_LABEL))
                    && f.get("label")
                        .is_none_or(|l| filters::match_labels(l, &r.labels))
                    && f.get("label!")
                        .is_none_or(|l| l.is_empty() || !filters::match_labels(l, &r.labels))
            })
            .map(|r| r.name.clone())
            .collect();
        let mut report = PruneReport::default();
        for name in victims {
            let size = dir_size(&self.data_path(&name)).max(0) as u64;
            match self.remove_locked(&mut inner, &name, false) {
                Ok(()) => {
                    report.space_reclaimed += size;
                    report.volumes_deleted.push(name);
                }
                Err(e) => eprintln!("berth-volume: prune {name}: {e}"),
            }
        }
        Ok(report)
    }

    /// Records that container `container_id` uses the volume (from create to removal).
    pub fn acquire(&self, name: &str, container_id: &str) -> Result<()> {
        let mut inner = self.lock();
        if !inner.vols.contains_key(name) {
            return Err(VolumeError::NotFound {
                op: "get",
                name: name.to_string(),
            });
        }
        inner
            .refs
            .entry(name.to_string())
            .or_default()
            .insert(container_id.to_string());
        Ok(())
    }

    /// Drops a reference (container removed). Unknown names are fine.
    pub fn release(&self, name: &str, container_id: &str) {
        let mut inner = self.lock();
        if let Some(s) = inner.refs.get_mut(name) {
            s.remove(container_id);
            if s.is_empty() {
                inner.refs.remove(name);
            }
        }
    }

    /// Replaces every reference with `(volume, container id)` pairs read from the
    /// containers' configs (daemon start). Pairs naming unknown volumes are ignored.
    pub fn set_refs<'a>(&self, refs: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let mut inner = self.lock();
        inner.refs.clear();
        for (v, c) in refs {
            if inner.vols.contains_key(v) {
                inner
                    .refs
                    .entry(v.to_string())
                    .or_default()
                    .insert(c.to_string());
            }
        }
    }

    /// A container starts using the volume: mounts an option volume on its first user.
    /// Returns the host path to bind into the container.
    pub fn mount(&self, name: &str, container_id: &str) -> Result<PathBuf> {
        let mut inner = self.lock();
        let Some(rec) = inner.vols.get(name) else {
            return Err(VolumeError::NotFound {
                op: "get",
                name: name.to_string(),
            });
        };
        let data = self.data_path(name);
        if localmount::needs_mount(&rec.options) && !inner.mounted.contains(name) {
            localmount::mount_local(&rec.options, &data)?;
            inner.mounted.insert(name.to_string());
        }
        inner
            .active
            .entry(name.to_string())
            .or_default()
            .insert(container_id.to_string());
        Ok(data)
    }

    /// A container stopped using the volume: unmounts an option volume after its last user.
    pub fn unmount(&self, name: &str, container_id: &str) -> Result<()> {
        let mut inner = self.lock();
        let left = match inner.active.get_mut(name) {
            Some(s) => {
                s.remove(container_id);
                s.len()
            }
            None => 0,
        };
        if left == 0 {
            inner.active.remove(name);
            if inner.mounted.remove(name) {
                localmount::unmount_local(&self.data_path(name))?;
            }
        }
        Ok(())
    }

    /// After a daemon restart: re-registers `(volume, container id)` of running
    /// containers (their option volumes are still mounted) and unmounts option volumes
    /// left mounted without a user.
    pub fn restore_active<'a>(&self, running: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let mut inner = self.lock();
        inner.active.clear();
        for (v, c) in running {
            if inner.vols.contains_key(v) {
                inner
                    .active
                    .entry(v.to_string())
                    .or_default()
                    .insert(c.to_string());
            }
        }
        let stale: Vec<String> = inner
            .mounted
            .iter()
            .filter(|n| !inner.active.contains_key(*n))
            .cloned()
            .collect();
        for n in stale {
            match localmount::unmount_local(&self.data_path(&n)) {
                Ok(()) => {
                    inner.mounted.remove(&n);
                }
                Err(e) => eprintln!("berth-volume: unmount stale {n}: {e}"),
            }
        }
    }

    /// Does container `container_id` use the volume right now (between `mount` and
    /// `unmount`)?
    pub fn is_active(&self, name: &str, container_id: &str) -> bool {
        self.lock()
            .active
            .get(name)
            .is_some_and(|s| s.contains(container_id))
    }

    /// Is the option volume's `_data` mounted by the store right now?
    pub fn is_mounted(&self, name: &str) -> bool {
        self.lock().mounted.contains(name)
    }

    /// Every volume with `UsageData` (size of `_data`, reference count) for
    /// `system df -v`. Volumes with driver options report size -1, as Docker skips them.
    pub fn usage(&self) -> Vec<Volume> {
        let inner = self.lock();
        inner
            .vols
            .values()
            .map(|r| {
                let mut v = self.to_api(r);
                let size = if r.options.is_empty() {
                    dir_size(&self.data_path(&r.name))
                } else {
                    -1
                };
                let ref_count = inner.refs.get(&r.name).map_or(0, |s| s.len()) as i64;
                v.usage_data = Some(UsageData { size, ref_count });
                v
            })
            .collect()
    }
}
