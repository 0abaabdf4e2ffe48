//! Shared state of pull and push ("distribution"): the daemon's one registry client, the
//! cache of compressed layer blobs exactly as registries served them, and the metadata
//! that maps such a blob to the layer it unpacks to and to the repositories known to
//! hold it, so a push can skip or mount a blob instead of uploading it. Also `docker
//! login` (`POST /auth`), the progress channel in Docker's JSON message shape, and the
//! registry error → engine error mapping.
//!
//! Layout (owned by the engine, next to the image store):
//! ```text
//! <data-root>/distribution/
//!   blobs/sha256/<hex>   compressed layer blobs; renamed in only after their digest matched
//!   tmp/                 downloads in progress (deleted on failure, swept at first use)
//!   partial/<hex>        prefix of an interrupted download of blob <hex>, resumed with
//!                        a Range request by the next pull (never trusted: re-hashed)
//!   layers.json          {"sha256:<blob>": {"diff_id", "size", "repos": ["host:5000/ns/x"]}}
//! ```
//! `pull.rs` fills the cache and the metadata; `push.rs` reads them (and records what
//! it uploaded or found in the target repository).
//!
//! Garbage collection ([`Distribution::gc`]): after `rmi` / `image prune` the engine
//! passes the diff ids every remaining image uses; blobs (and their metadata) of any
//! other layer are deleted, except the ones a pull in progress has pinned
//! ([`Distribution::pin`]), and so are partial downloads nobody is resuming.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use berth_registry::{Credentials, RegistryClient, RegistryConfig, RegistryError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::{lock, Engine, EngineError, ErrorKind, Result};

/// What is known about one compressed layer blob.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BlobInfo {
    /// Digest of the uncompressed tar (the layer's diff id).
    pub diff_id: String,
    /// Length of the compressed blob.
    pub size: u64,
    /// Full repository names (`host:port/ns/name`) known to hold the blob.
    #[serde(default)]
    pub repos: Vec<String>,
    /// The layer media type it was pulled as; empty = gzip (our own archives, and
    /// entries written before this field existed).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
}

impl BlobInfo {
    /// Whether the blob can go into a Docker v2 schema 2 manifest (gzip layers only).
    pub fn is_gzip(&self) -> bool {
        self.media_type.is_empty() || self.media_type.ends_with("gzip")
    }
}

/// The pull/push state of one engine.
pub(crate) struct Distribution {
    /// Replaced as a whole when the daemon reloads its insecure registries.
    client: std::sync::RwLock<std::result::Result<Arc<RegistryClient>, String>>,
    dir: PathBuf,
    meta: Mutex<BTreeMap<String, BlobInfo>>,
    /// Blob digests pulls in progress rely on (count per digest): kept by [`Self::gc`].
    pinned: Mutex<HashMap<String, usize>>,
    /// Digests whose `partial/` file a download is writing right now.
    resuming: Mutex<HashSet<String>>,
}

/// Pins blob digests against [`Distribution::gc`] until dropped.
pub(crate) struct BlobPins<'a> {
    dist: &'a Distribution,
    digests: Vec<String>,
}

impl Drop for BlobPins<'_> {
    fn drop(&mut self) {
        let mut pinned = lock(&self.dist.pinned);
        for d in &self.digests {
            if let Some(n) = pinned.get_mut(d) {
                *n -= 1;
                if *n == 0 {
                    pinned.remove(d);
                }
            }
        }
    }
}

/// The `partial/` file of one blob, owned by one download at a time; released on drop.
/// The file itself stays (that is the point) unless [`PartialBlob::discard`] is called.
pub(crate) struct PartialBlob<'a> {
    dist: &'a Distribution,
    digest: String,
    pub path: PathBuf,
}

impl PartialBlob<'_> {
    /// Delete the partial data (it failed verification: resuming it cannot succeed).
    pub fn discard(&self) {
        let _ = fs::remove_file(&self.path);
    }
}

impl Drop for PartialBlob<'_> {
    fn drop(&mut self) {
        lock(&self.dist.resuming).remove(&self.digest);
    }
}

fn make_client(insecure: &[String]) -> std::result::Result<Arc<RegistryClient>, String> {
    let cfg = RegistryConfig {
        insecure_registries: insecure.to_vec(),
        ..RegistryConfig::default()
    };
    RegistryClient::new(cfg)
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

/// The hex part of a `sha256:` digest, validated (it becomes a file name).
fn digest_hex(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

impl Distribution {
    /// Open the cache under `<data-root>/distribution`, removing leftovers of downloads
    /// interrupted by a crash. A bad insecure-registry list is reported at first use.
    pub fn open(data_root: &Path, insecure: &[String]) -> Distribution {
        let dir = data_root.join("distribution");
        let _ = fs::create_dir_all(dir.join("blobs/sha256"));
        let _ = fs::create_dir_all(dir.join("tmp"));
        let _ = fs::create_dir_all(dir.join("partial"));
        if let Ok(rd) = fs::read_dir(dir.join("tmp")) {
            for e in rd.flatten() {
                let _ = fs::remove_file(e.path());
            }
        }
        let meta = fs::read(dir.join("layers.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Distribution {
            client: std::sync::RwLock::new(make_client(insecure)),
            dir,
            meta: Mutex::new(meta),
            pinned: Mutex::new(HashMap::new()),
            resuming: Mutex::new(HashSet::new()),
        }
    }

    /// Keep `digests` out of [`Self::gc`] while the returned guard lives.
    pub fn pin<'a>(&'a self, digests: impl IntoIterator<Item = String>) -> BlobPins<'a> {
        let digests: Vec<String> = digests.into_iter().collect();
        let mut pinned = lock(&self.pinned);
        for d in &digests {
            *pinned.entry(d.clone()).or_default() += 1;
        }
        BlobPins {
            dist: self,
            digests,
        }
    }

    /// Take the `partial/` file of blob `digest` for one download; `None` when another
    /// download of the same blob holds it (that one then uses a plain temp file).
    pub fn partial(&self, digest: &str) -> Option<PartialBlob<'_>> {
        let hex = digest_hex(digest)?;
        if !lock(&self.resuming).insert(digest.to_string()) {
            return None;
        }
        Some(PartialBlob {
            dist: self,
            digest: digest.to_string(),
            path: self.dir.join("partial").join(hex),
        })
    }

    /// Bytes held by the cache: verified blobs and partial downloads.
    pub fn disk_usage(&self) -> u64 {
        ["blobs/sha256", "partial"]
            .iter()
            .filter_map(|d| fs::read_dir(self.dir.join(d)).ok())
            .flat_map(|rd| rd.flatten())
            .filter_map(|e| e.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum()
    }

    /// Delete every cached blob whose layer no image uses any more (`live` = the diff ids
    /// of all images), blobs nothing is known about, and partial downloads no pull is
    /// resuming; pinned blobs stay. Returns the bytes freed.
    pub fn gc(&self, live: &HashSet<String>) -> u64 {
        let pinned: HashSet<String> = lock(&self.pinned).keys().cloned().collect();
        let mut freed = 0u64;
        let mut meta = lock(&self.meta);
        let before = meta.len();
        meta.retain(|d, i| live.contains(&i.diff_id) || pinned.contains(d));
        let changed = meta.len() != before;
        if let Ok(rd) = fs::read_dir(self.dir.join("blobs/sha256")) {
            for e in rd.flatten() {
                let digest = format!("sha256:{}", e.file_name().to_string_lossy());
                if meta.contains_key(&digest) || pinned.contains(&digest) {
                    continue;
                }
                let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                if fs::remove_file(e.path()).is_ok() {
                    freed += len;
                }
            }
        }
        let resuming = lock(&self.resuming).clone();
        if let Ok(rd) = fs::read_dir(self.dir.join("partial")) {
            for e in rd.flatten() {
                let digest = format!("sha256:{}", e.file_name().to_string_lossy());
                if resuming.contains(&digest) || pinned.contains(&digest) {
                    continue;
                }
                let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                if fs::remove_file(e.path()).is_ok() {
                    freed += len;
                }
            }
        }
        if changed {
            self.save_meta(&meta);
        }
        freed
    }

    fn save_meta(&self, meta: &BTreeMap<String, BlobInfo>) {
        if let Ok(bytes) = serde_json::to_vec(meta) {
            // Best effort: losing the map only costs a re-upload or a re-download.
            let _ = berth_image::atomic::write_atomic(&self.dir.join("layers.json"), &bytes);
        }
    }

    pub fn client(&self) -> Result<Arc<RegistryClient>> {
        self.client
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .map_err(EngineError::internal)
    }

    /// Use `insecure` as the insecure registries from now on (a daemon reload); pulls
    /// and pushes already running keep the client they started with.
    pub fn set_insecure_registries(&self, insecure: &[String]) {
        *self.client.write().unwrap_or_else(|e| e.into_inner()) = make_client(insecure);
    }

    /// Where the cached blob `digest` lives (whether or not it is there).
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        let hex = digest_hex(digest)
            .ok_or_else(|| EngineError::invalid(format!("invalid digest: {digest}")))?;
        Ok(self.dir.join("blobs/sha256").join(hex))
    }

    /// The cached blob `digest` when present with the expected length. Blobs are only
    /// renamed in after verification, and the layer's diff id is checked again at
    /// extraction, so the content is not re-hashed here.
    pub fn cached_blob(&self, digest: &str, size: u64) -> Option<PathBuf> {
        let p = self.blob_path(digest).ok()?;
        let len = fs::metadata(&p).ok()?.len();
        (len == size).then_some(p)
    }

    /// A new temp file for a download; removed when the guard drops unless kept.
    pub fn temp_file(&self) -> Result<TempFile> {
        let path = self
            .dir
            .join("tmp")
            .join(format!("blob-{}", berth_image::atomic::unique_suffix()));
        let file = fs::File::create(&path)
            .map_err(|e| EngineError::io(format!("create {}", path.display()), e))?;
        Ok(TempFile {
            path,
            file: Some(file),
        })
    }

    /// What is known about blob `digest`.
    pub fn info(&self, digest: &str) -> Option<BlobInfo> {
        lock(&self.meta).get(digest).cloned()
    }

    /// Known compressed blobs of the layer `diff_id`, most recently recorded first.
    pub fn blobs_of(&self, diff_id: &str) -> Vec<(String, BlobInfo)> {
        lock(&self.meta)
            .iter()
            .filter(|(_, i)| i.diff_id == diff_id)
            .map(|(d, i)| (d.clone(), i.clone()))
            .collect()
    }

    /// Remember that blob `digest` (of `size` bytes) unpacks to `diff_id` and, if given,
    /// that repository `repo` (full name) holds it. Saved at once (atomically).
    pub fn record(&self, digest: &str, diff_id: &str, size: u64, repo: Option<&str>) {
        self.record_typed(digest, diff_id, size, repo, "");
    }

    /// [`Self::record`] with the layer media type the blob was pulled as (kept when
    /// `media_type` is empty).
    pub fn record_typed(
        &self,
        digest: &str,
        diff_id: &str,
        size: u64,
        repo: Option<&str>,
        media_type: &str,
    ) {
        let mut meta = lock(&self.meta);
        let e = meta.entry(digest.to_string()).or_default();
        e.diff_id = diff_id.to_string();
        e.size = size;
        if !media_type.is_empty() {
            e.media_type = media_type.to_string();
        }
        if let Some(r) = repo {
            if !e.repos.iter().any(|x| x == r) {
                e.repos.push(r.to_string());
            }
        }
        self.save_meta(&meta);
    }
}

/// A download in `tmp/`: deleted on drop unless [`TempFile::persist`] moved it.
pub(crate) struct TempFile {
    pub path: PathBuf,
    pub file: Option<fs::File>,
}

impl TempFile {
    /// Sync and rename into `target`.
    pub fn persist(mut self, target: &Path) -> Result<()> {
        // A pull syncs the filesystem once instead (`berth_image::atomic::deferred_sync`).
        if let Some(f) = self
            .file
            .take()
            .filter(|_| !berth_image::atomic::sync_deferred())
        {
            f.sync_all()
                .map_err(|e| EngineError::io(format!("sync {}", self.path.display()), e))?;
        }
        fs::rename(&self.path, target)
            .map_err(|e| EngineError::io(format!("store blob {}", target.display()), e))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Check `--insecure-registry` entries (`host[:port]` or CIDR) the way the registry
/// client will read them, so the daemon refuses a bad list at start like Docker.
pub fn check_insecure_registries(entries: &[String]) -> Result<()> {
    let cfg = RegistryConfig {
        insecure_registries: entries.to_vec(),
        ..RegistryConfig::default()
    };
    RegistryClient::new(cfg)
        .map(|_| ())
        .map_err(|e| EngineError::invalid(e.to_string()))
}

/// `/info`'s `RegistryConfig` the way Docker reports it: loopback and CIDR entries of the
/// insecure list under `InsecureRegistryCIDRs`, each host entry as an insecure index
/// next to Docker Hub's.
pub fn registry_service_config(insecure: &[String]) -> berth_types::docker::RegistryServiceConfig {
    use berth_types::docker::{IndexInfo, RegistryServiceConfig};
    let mut cidrs = vec!["::1/128".to_string(), "127.0.0.0/8".to_string()];
    let mut index_configs = BTreeMap::from([(
        "docker.io".to_string(),
        IndexInfo {
            name: "docker.io".into(),
            mirrors: Vec::new(),
            secure: true,
            official: true,
        },
    )]);
    for entry in insecure {
        let e = entry.trim();
        if e.contains('/') {
            if !cidrs.iter().any(|c| c == e) {
                cidrs.push(e.to_string());
            }
        } else if !e.is_empty() {
            index_configs.insert(
                e.to_string(),
                IndexInfo {
                    name: e.to_string(),
                    mirrors: Vec::new(),
                    secure: false,
                    official: false,
                },
            );
        }
    }
    RegistryServiceConfig {
        insecure_registry_cidrs: cidrs,
        index_configs,
        ..Default::default()
    }
}

/// Map a registry error of a pull or push to the engine's kinds; the text is already
/// Docker's. Missing credentials on a pull are a 500 as in Docker (a 401 would make the
/// docker CLI prompt for a login); only `login` answers 401.
pub(crate) fn registry_error(e: RegistryError) -> EngineError {
    let kind = if e.is_not_found() {
        ErrorKind::NotFound
    } else if matches!(e, RegistryError::InvalidReference(_)) {
        ErrorKind::InvalidArgument
    } else {
        ErrorKind::Internal
    };
    EngineError::new(kind, e.to_string())
}

/// Credentials from the raw `X-Registry-Auth` header (`None` = anonymous).
pub(crate) fn credentials(auth: Option<&str>) -> Result<Option<Credentials>> {
    match auth {
        None => Ok(None),
        Some(h) => berth_registry::decode_registry_auth(h).map_err(EngineError::invalid),
    }
}

/// Progress messages to the API in Docker's JSON shape. Sending fails once the client
/// went away; from then on [`Progress::cancelled`] is true and the work stops early.
#[derive(Clone)]
pub(crate) struct Progress {
    tx: mpsc::Sender<Value>,
    cancelled: Arc<AtomicBool>,
}

impl Progress {
    pub fn new(capacity: usize) -> (Progress, mpsc::Receiver<Value>) {
        let (tx, rx) = mpsc::channel(capacity);
        (
            Progress {
                tx,
                cancelled: Arc::new(AtomicBool::new(false)),
            },
            rx,
        )
    }

    /// Send one message (from a blocking thread).
    pub fn send(&self, msg: Value) {
        if self.tx.blocking_send(msg).is_err() {
            self.cancelled.store(true, Ordering::SeqCst);
        }
    }

    pub fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// `{"status": s}`.
    pub fn status(&self, s: impl Into<String>) {
        self.send(json!({ "status": s.into() }));
    }

    /// `{"status": s, "progressDetail": {}, "id": id}`.
    pub fn step(&self, id: &str, s: &str) {
        self.send(json!({ "status": s, "progressDetail": {}, "id": id }));
    }

    /// `{"status": s, "progressDetail": {current, total}, "progress": bar, "id": id}`.
    pub fn bytes(&self, id: &str, s: &str, current: u64, total: u64) {
        self.send(json!({
            "status": s,
            "progressDetail": { "current": current, "total": total },
            "progress": progress_bar(current, total),
            "id": id,
        }));
    }

    /// The error message that ends a stream.
    pub fn error(&self, message: &str) {
        self.send(json!({ "errorDetail": { "message": message }, "error": message }));
    }
}

/// Docker's textual progress: `[=====>      ]  1.2MB/3.4MB`.
pub(crate) fn progress_bar(current: u64, total: u64) -> String {
    const WIDTH: u64 = 50;
    if total == 0 {
        return format!("{:>8}", human(current));
    }
    let filled = (current.min(total) * WIDTH / total) as usize;
    let mut bar = "=".repeat(filled);
    if filled < WIDTH as usize {
        bar.push('>');
    }
    format!(
        "[{bar:<width$}] {:>8}/{}",
        human(current),
        human(total),
        width = WIDTH as usize
    )
}

/// Decimal units with 4 significant digits, like Docker's progress (`22.48kB`, `1.2MB`).
fn human(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    let int_digits = if v < 10.0 {
        1
    } else if v < 100.0 {
        2
    } else {
        3
    };
    let mut s = format!("{v:.prec$}", prec = 4 - int_digits);
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", units[u])
}

/// Counts bytes read and reports them as `status` progress roughly every 1/50th.
pub(crate) struct CountingReader<'a, R> {
    pub inner: R,
    pub progress: &'a Progress,
    pub id: &'a str,
    pub status: &'a str,
    pub total: u64,
    pub done: u64,
    pub last: u64,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.progress.cancelled() {
            // Not `Interrupted`: readers retry that kind, and would spin here.
            return Err(io::Error::other("canceled"));
        }
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        let step = (self.total / 50).max(64 << 10);
        if n > 0 && (self.done - self.last >= step || self.done == self.total) {
            self.last = self.done;
            self.progress
                .bytes(self.id, self.status, self.done, self.total);
        }
        Ok(n)
    }
}

/// The registry domain of a login's `serveraddress` (`https://host:5000/v1/` → `host:5000`;
/// empty or Docker Hub's index address → `docker.io`).
pub(crate) fn login_domain(server: &str) -> String {
    let s = server
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = s.split('/').next().unwrap_or("");
    match host {
        "" | "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        h => h.to_string(),
    }
}

impl Engine {
    /// The engine's distribution state, opened at first use.
    pub(crate) fn dist(&self) -> Arc<Distribution> {
        self.dist
            .get_or_init(|| {
                Arc::new(Distribution::open(
                    &self.cfg.data_root,
                    &self.cfg.insecure_registries,
                ))
            })
            .clone()
    }

    /// `POST /auth` (`docker login`): check the credentials against the registry. The
    /// body is Docker's auth config (`username`, `password`, `serveraddress`).
    pub async fn registry_login(&self, auth: Value) -> Result<Value> {
        let s = |k: &str| {
            auth.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (user, password) = (s("username"), s("password"));
        if user.is_empty() {
            return Err(EngineError::invalid("Error: Non-null Username Required"));
        }
        let domain = login_domain(&s("serveraddress"));
        let dist = self.dist();
        tokio::task::spawn_blocking(move || {
            dist.client()?
                .login(&domain, &Credentials::new(&user, &password))
                .map_err(|e| match e {
                    // A refused login is 401 whatever the registry's wording.
                    RegistryError::Unauthorized(_) | RegistryError::Status { status: 401, .. } => {
                        EngineError::new(ErrorKind::Unauthorized, e.to_string())
                    }
                    other => registry_error(other),
                })
        })
        .await??;
        Ok(json!({ "Status": "Login Succeeded", "IdentityToken": "" }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_bar_shape() {
        let b = progress_bar(1_200_000, 3_400_000);
        assert!(b.starts_with("[=================>"), "{b}");
        assert!(b.ends_with("1.2MB/3.4MB"), "{b}");
        assert_eq!(human(999), "999B");
        assert_eq!(human(22_480), "22.48kB");
        assert_eq!(human(2_216_037), "2.216MB");
    }

    #[test]
    fn registry_config_lists_insecure_entries() {
        let c = registry_service_config(&["10.1.0.0/16".into(), "reg.local:5000".into()]);
        assert_eq!(
            c.insecure_registry_cidrs,
            ["::1/128", "127.0.0.0/8", "10.1.0.0/16"]
        );
        let idx = &c.index_configs["reg.local:5000"];
        assert!(!idx.secure && !idx.official);
        assert!(c.index_configs["docker.io"].official);
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["IndexConfigs"]["reg.local:5000"]["Secure"], false);
    }

    #[test]
    fn login_domains() {
        assert_eq!(login_domain(""), "docker.io");
        assert_eq!(login_domain("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(login_domain("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(login_domain("http://localhost:5000/v2/"), "localhost:5000");
    }

    #[test]
    fn metadata_persists_and_temp_files_vanish() {
        let d = tempfile::tempdir().unwrap();
        let digest = format!("sha256:{}", "ab".repeat(32));
        {
            let dist = Distribution::open(d.path(), &[]);
            dist.record(&digest, "sha256:x", 10, Some("127.0.0.1:5000/a"));
            dist.record(&digest, "sha256:x", 10, Some("127.0.0.1:5000/b"));
            dist.record(&digest, "sha256:x", 10, Some("127.0.0.1:5000/a"));
            let t = dist.temp_file().unwrap();
            assert!(t.path.exists());
            let p = t.path.clone();
            drop(t);
            assert!(!p.exists());
            // A leftover (crash) is swept at the next open.
            fs::write(d.path().join("distribution/tmp/blob-left"), b"x").unwrap();
        }
        let dist = Distribution::open(d.path(), &[]);
        let info = dist.info(&digest).unwrap();
        assert_eq!(info.repos, ["127.0.0.1:5000/a", "127.0.0.1:5000/b"]);
        assert_eq!(dist.blobs_of("sha256:x").len(), 1);
        assert_eq!(
            fs::read_dir(d.path().join("distribution/tmp"))
                .unwrap()
                .count(),
            0
        );
        assert!(dist.blob_path("sha256:../../x").is_err());
        assert!(Distribution::open(d.path(), &["bad/cidr/x".into()])
            .client()
            .is_err());
        assert!(check_insecure_registries(&["bad/cidr/x".into()]).is_err());
        assert!(check_insecure_registries(&["10.0.0.0/8".into(), "h:5000".into()]).is_ok());
    }
}
