//! The Berth engine: containers, images, shims, logs and events — everything `berthd`
//! does, without HTTP. `berth-api` calls these methods and renders their results.
//!
//! # Public API (stable; the API layer builds on it)
//!
//! ```text
//! Engine::open(EngineConfig) .await -> Result<Arc<Engine>>        live-restores containers
//! engine.subscribe() -> broadcast::Receiver<EventMessage>            /events
//! engine.events_since(since_ns, until_ns) -> Vec<EventMessage>       /events?since= replay
//! engine.counts() -> Counts                                          /info
//! engine.images() -> &ImageStore
//!
//! // containers (name = full id, name with or without "/", or unique id prefix)
//! create(name: Option<&str>, CreateRequest) -> ContainerCreateResponse
//! start(name)                                   NotModified when already running
//! attach(name, AttachOptions) -> AttachStream   before start: connected at start
//! wait(name, WaitCondition) -> WaitHandle;  handle.result().await -> ContainerWaitResponse
//! stop(name, timeout: Option<i64>, signal: Option<&str>)   NotModified when not running
//! kill(name, signal: Option<&str>)  restart(name, timeout, signal)
//! pause(name)  unpause(name)  resize(name, h, w)
//! remove(name, force, remove_volumes)  rename(name, new_name)
//! list(ListOptions) -> Vec<ContainerSummary>    inspect(name, size) -> ContainerInspect
//! logs(name, LogsOptions) -> LogStream          top(name, ps_args) -> ContainerTopResponse
//! update(name, UpdateRequest) -> ContainerUpdateResponse
//! prune(&Filters) -> ContainerPruneResponse     changes(name) -> Vec<FilesystemChange>
//! exec_create(name, ExecConfig) -> IdResponse   exec_start(exec_id, ExecStartConfig) -> Option<AttachStream>
//! exec_inspect(exec_id) -> ExecInspect          exec_resize(exec_id, h, w)
//! stats(name, stream, one_shot) -> mpsc::Receiver<ContainerStats>
//! export(name) -> mpsc::Receiver<Vec<u8>>        (tar stream)
//! archive_stat(name, path) -> PathStat           (X-Docker-Container-Path-Stat JSON)
//! archive_get(name, path) -> (PathStat, mpsc::Receiver<Vec<u8>>)
//! archive_put(name, path, Box<dyn Read + Send>, no_overwrite_dir_non_dir)
//! commit(name, CommitRequest) -> String (sha256:… id)
//!
//! // images
//! image_import(reader, reference, changes, message) -> String (sha256:… id)
//! image_list(all, &Filters) -> Vec<ImageSummary>  image_inspect(name) -> ImageInspect
//! image_remove(name, force, noprune) -> Vec<ImageDeleteResponseItem>
//! image_tag(name, repo, tag)  image_history(name) -> Vec<ImageHistoryItem>
//! image_save(names) -> mpsc::Receiver<Vec<u8>>   image_load(reader) -> Vec<String> (progress lines)
//! image_prune(&Filters) -> ImagePruneResponse     disk_usage() -> DiskUsage (/system/df)
//! image_pull(ref, platform, auth) / image_push(ref, auth) -> mpsc::Receiver<Value>  (pull.rs, push.rs)
//! registry_login(auth JSON) -> Value               (distribution.rs)
//! build(context tar, berth_build::BuildRequest) -> mpsc::Receiver<Vec<u8>> (JSON lines; build.rs)
//!
//! // networks (networking.rs)
//! network_list(&Filters) -> Vec<NetworkResource>  network_inspect(name) -> NetworkResource
//! network_create(NetworkCreateRequest) -> NetworkCreateResponse   network_remove(name)
//! network_connect(net, NetworkConnectRequest)   network_disconnect(net, container, force)
//! network_prune(&Filters) -> NetworkPruneResponse
//!
//! // volumes (volumes.rs)
//! volume_create(VolumeCreateBody) -> Volume     volume_list(&Filters) -> Vec<Volume>
//! volume_inspect(name) -> Volume                 volume_remove(name, force)
//! volume_prune(&Filters) -> VolumePruneReport    volume_usage() -> Vec<Volume> (system df)
//! ```
//!
//! Helpers for the API: [`Filters::parse`] (the `filters` query), [`WaitCondition::parse`],
//! [`parse_timestamp`] (`since`/`until`), [`frame`] (8-byte stream header),
//! [`ChannelReader`] (feed an async request body to the blocking readers above),
//! [`go_file_mode`]. Streams end when the sender side is done; dropping a receiver stops
//! the producer.
//!
//! Every method returns [`EngineError`], whose [`ErrorKind`] maps to the HTTP status
//! (NotFound 404, Conflict 409, InvalidArgument 400, NotModified 304, Internal 500) and
//! whose message is Docker's text.
//!
//! # How it works
//!
//! Each container lives in `<data-root>/containers/<id>/` (`record.rs` for the state
//! file). `start` builds a `ContainerSpec` (`specbuild.rs`), writes `shim.json` and
//! spawns `berth-shim` (`shimctl.rs`), connects pending attach clients, releases the
//! process, and keeps a `wait` connection in a task (`monitor.rs`) that records the exit.
//! The shim outlives the daemon; `open` reconnects (`restore.rs`). Health probes run as
//! execs from a task per container (`health.rs`); file access from the host (export,
//! cp, commit) happens on a worker thread chrooted into the container's files
//! (`fsops.rs`); stats come from the container's cgroup (`stats.rs`).

mod attach;
mod build;
mod buildsweep;
mod containers;
pub mod defaults;
mod distribution;
mod error;
mod events;
mod exec;
mod files;
pub mod filters;
mod fsops;
mod health;
mod images;
mod janitor;
mod lifecycle;
mod logs;
pub mod metrics;
mod monitor;
pub mod names;
mod netpool;
mod networking;
mod pull;
mod push;
mod record;
mod restore;
mod shimctl;
pub mod signals;
pub mod specbuild;
mod stats;
mod status;
mod top;
mod viewmounts;
mod volumes;

pub use attach::{AttachOptions, AttachStream};
/// The network mechanism crate, for the daemon's settings ([`EngineConfig::network`]).
pub use berth_network as network;
pub use berth_volume::{PruneReport as VolumePruneReport, Volume, VolumeCreateBody};
pub use containers::ListOptions;
pub use distribution::{check_insecure_registries, registry_service_config};
pub use error::{EngineError, ErrorKind, Result};
pub use filters::Filters;
pub use fsops::{go_file_mode, CommitRequest, PathStat};
pub use images::ChannelReader;
pub use lifecycle::{WaitCondition, WaitHandle};
pub use logs::{frame, parse_timestamp, LogChunk, LogStream, LogsOptions, Recycled};
pub use networking::DEFAULT_NETWORK;

use berth_image::ImageStore;
use berth_types::docker::EventMessage;
use record::{ContainerPaths, ContainerRecord};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock, Weak};
use tokio::sync::{broadcast, watch};

/// Where the engine keeps its state and how it runs containers.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// `/var/lib/berth` by default.
    pub data_root: PathBuf,
    /// `/run/berth` by default; shim sockets live in `<exec_root>/s/`.
    pub exec_root: PathBuf,
    /// The `berth-shim` binary.
    pub shim_binary: PathBuf,
    /// Parent of every container cgroup (`<cgroup_parent>/<id>`).
    pub cgroup_parent: String,
    /// Docker-format seccomp profile applied by default; None = unconfined by default.
    pub default_seccomp_profile: Option<PathBuf>,
    /// The host's resolv.conf, copied (filtered) into containers.
    pub resolv_conf: PathBuf,
    /// The host's hosts file, used with `--network host`.
    pub hosts_file: PathBuf,
    /// `--insecure-registry` entries (`host[:port]` or CIDR); loopback is always insecure.
    pub insecure_registries: Vec<String>,
    /// Bridge networking (networking.rs); `None`: containers get loopback only.
    pub network: Option<berth_network::ManagerConfig>,
    /// Daemon-wide `log-driver` and `log-opts` (logs.rs merges them at create).
    pub default_log: berth_types::docker::LogConfig,
}

impl EngineConfig {
    /// A config with Docker-like defaults for everything but the three paths.
    pub fn new(data_root: PathBuf, exec_root: PathBuf, shim_binary: PathBuf) -> EngineConfig {
        EngineConfig {
            data_root,
            exec_root,
            shim_binary,
            cgroup_parent: "berth".into(),
            default_seccomp_profile: None,
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            hosts_file: PathBuf::from("/etc/hosts"),
            insecure_registries: Vec::new(),
            network: None,
            default_log: berth_types::docker::LogConfig {
                kind: "json-file".into(),
                config: BTreeMap::new(),
            },
        }
    }
}

/// Numbers for `/info`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub containers: i64,
    pub running: i64,
    pub paused: i64,
    pub stopped: i64,
    pub images: i64,
}

/// What waiters watch on a container: changes on every start, exit and removal.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Watch {
    /// Incremented on each recorded exit.
    pub exits: u64,
    pub running: bool,
    pub exit_code: i64,
    pub error: String,
    pub removed: bool,
}

/// One container held in memory.
pub(crate) struct Ctr {
    pub id: String,
    /// The persisted record; short critical sections only (never held across awaits).
    pub rec: Mutex<ContainerRecord>,
    /// Serializes lifecycle operations (start/stop/kill/remove/…) on this container.
    pub op: tokio::sync::Mutex<()>,
    pub watch: watch::Sender<Watch>,
    /// Attach clients waiting for the next start.
    pub pending: Mutex<Vec<attach::Pending>>,
    pub paths: ContainerPaths,
    /// The shim's control socket.
    pub socket: PathBuf,
    /// Exec ids of this container (inspect `ExecIDs`).
    pub execs: Mutex<Vec<String>>,
    /// The shim of the current run is serving its socket (set once it replied to the
    /// spawn, cleared at exit): attach clients connect directly instead of waiting.
    /// Changed only under the `rec` lock, so attach can decide atomically.
    pub shim_up: std::sync::atomic::AtomicBool,
    /// The last restart-policy delay in milliseconds (0 = none yet).
    pub backoff_ms: std::sync::atomic::AtomicU64,
}

impl Ctr {
    /// A copy of the record.
    pub fn snapshot(&self) -> ContainerRecord {
        lock(&self.rec).clone()
    }
}

/// Locks a std mutex, ignoring poisoning: every critical section leaves the data valid
/// (plain field updates), so a panic elsewhere must not wedge the daemon.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The engine. Create with [`Engine::open`]; share the returned `Arc`.
pub struct Engine {
    cfg: EngineConfig,
    images: Arc<ImageStore>,
    containers: RwLock<BTreeMap<String, Arc<Ctr>>>,
    /// `/name` → id; reserved atomically at create and rename.
    names: Mutex<HashMap<String, String>>,
    execs: Mutex<HashMap<String, Arc<exec::ExecEntry>>>,
    events: broadcast::Sender<EventMessage>,
    /// Recent events for `/events?since=`.
    history: Mutex<std::collections::VecDeque<EventMessage>>,
    cgroups: Option<berth_cgroups::Hierarchy>,
    /// Registry client and layer-blob cache of pull/push, made at first use.
    dist: std::sync::OnceLock<Arc<distribution::Distribution>>,
    /// Bridges, endpoints, ports and DNS (networking.rs); `None` when disabled.
    net: Option<Arc<networking::Networking>>,
    /// Named and anonymous volumes (`<data-root>/volumes`, see volumes.rs).
    volumes: Arc<berth_volume::VolumeStore>,
    /// Network namespaces made ahead for the next starts (netpool.rs).
    netns_pool: Arc<netpool::NetnsPool>,
    me: Weak<Engine>,
}

impl Engine {
    /// The engine's configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// The image store (for API paths the engine does not wrap).
    pub fn images(&self) -> &ImageStore {
        &self.images
    }

    /// A receiver of every event from now on (container and image events, Docker shape).
    pub fn subscribe(&self) -> broadcast::Receiver<EventMessage> {
        self.events.subscribe()
    }

    /// Container and image counts for `/info`.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for ctr in self.all() {
            let r = lock(&ctr.rec);
            c.containers += 1;
            if r.state.paused {
                c.paused += 1;
            } else if r.state.running {
                c.running += 1;
            } else {
                c.stopped += 1;
            }
        }
        c.images = self.images.list().len() as i64;
        c
    }

    /// The cgroup hierarchy mode as `/info` reports it (`"1"` or `"2"`).
    pub fn cgroup_version(&self) -> &'static str {
        match self.cgroups.as_ref().map(|h| h.mode()) {
            Some(berth_cgroups::Mode::V2) => "2",
            _ => "1",
        }
    }

    pub(crate) fn arc(&self) -> Option<Arc<Engine>> {
        self.me.upgrade()
    }

    pub(crate) fn all(&self) -> Vec<Arc<Ctr>> {
        self.containers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub(crate) fn containers_dir(&self) -> PathBuf {
        self.cfg.data_root.join("containers")
    }

    /// Where containers' runtime files live (see [`record::ContainerPaths`]).
    pub(crate) fn run_root(&self) -> PathBuf {
        self.cfg.exec_root.join("c")
    }

    /// The paths of container `id`.
    pub(crate) fn container_paths(&self, id: &str) -> record::ContainerPaths {
        record::ContainerPaths::new(&self.containers_dir(), &self.run_root(), id)
    }

    pub(crate) fn socket_path(&self, id: &str) -> PathBuf {
        self.cfg
            .exec_root
            .join("s")
            .join(format!("{}.sock", &id[..id.len().min(12)]))
    }

    /// Finds a container by full id, name (with or without `/`), or unique id prefix.
    pub(crate) fn lookup(&self, name: &str) -> Result<Arc<Ctr>> {
        if name.is_empty() {
            return Err(EngineError::no_such_container(name));
        }
        let map = self.containers.read().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = map.get(name) {
            return Ok(c.clone());
        }
        let full = if name.starts_with('/') {
            name.to_string()
        } else {
            format!("/{name}")
        };
        if let Some(id) = lock(&self.names).get(&full) {
            if let Some(c) = map.get(id) {
                return Ok(c.clone());
            }
        }
        let mut found = map
            .range(name.to_string()..)
            .take_while(|(k, _)| k.starts_with(name));
        match (found.next(), found.next()) {
            (Some((_, c)), None) => Ok(c.clone()),
            (Some(_), Some(_)) => Err(EngineError::invalid(format!(
                "Multiple IDs found with provided prefix: {name}"
            ))),
            _ => Err(EngineError::no_such_container(name)),
        }
    }
}
