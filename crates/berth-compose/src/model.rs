//! The normalized project model: what the planner and the converter work from. It is
//! deserialized from the final canonical JSON of [`crate::load`] (which has already
//! coerced numbers and sizes), so every field has one type here. Each service also
//! keeps that JSON (`raw`) for the config hash and the `config` command.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A loaded compose project.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub working_dir: PathBuf,
    pub config_files: Vec<PathBuf>,
    /// Services enabled by the active profiles, by name.
    pub services: BTreeMap<String, Service>,
    /// Every service of the files, enabled or not (not orphans when found running).
    pub all_services: Vec<String>,
    /// Networks by key, with `name` resolved (`<project>_<key>` unless external/named).
    pub networks: BTreeMap<String, NetworkConfig>,
    /// Volumes by key, with `name` resolved like networks.
    pub volumes: BTreeMap<String, VolumeConfig>,
    /// File-based secrets and configs by key (`file` made absolute).
    pub secrets: BTreeMap<String, FileObject>,
    pub configs: BTreeMap<String, FileObject>,
    /// The final model as `config` prints it.
    pub model: Value,
    /// Warnings to print (unset variables, …).
    pub warnings: Vec<String>,
    /// The variables used for interpolation (`.env` under the process environment).
    pub environment: BTreeMap<String, String>,
}

impl Project {
    pub fn service(&self, name: &str) -> crate::Result<&Service> {
        self.services
            .get(name)
            .ok_or_else(|| crate::ComposeError::NoSuchService(name.to_string()))
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct NetworkConfig {
    pub name: String,
    pub driver: Option<String>,
    pub driver_opts: BTreeMap<String, String>,
    pub external: bool,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: Option<bool>,
    pub ipam: Option<Value>,
    pub labels: BTreeMap<String, String>,
}

/// A top-level secret or config. `file` sources are mounted as read-only binds
/// (secrets at `/run/secrets/<name>`, configs at `/<name>`); `environment` and
/// `content` sources validate but are not mounted.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct FileObject {
    pub name: Option<String>,
    pub file: Option<String>,
    pub external: bool,
}

/// A service's use of a secret or config.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct FileUse {
    pub source: String,
    pub target: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct VolumeConfig {
    pub name: String,
    pub driver: Option<String>,
    pub driver_opts: BTreeMap<String, String>,
    pub external: bool,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Service {
    #[serde(skip)]
    pub name: String,
    /// The canonical JSON of the service (hash input, `config` output).
    #[serde(skip)]
    pub raw: Value,
    pub image: Option<String>,
    pub build: Option<Build>,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub environment: BTreeMap<String, Option<String>>,
    pub ports: Vec<Port>,
    pub expose: Vec<String>,
    pub volumes: Vec<Mount>,
    pub networks: BTreeMap<String, Option<ServiceNetwork>>,
    pub depends_on: BTreeMap<String, Dependency>,
    pub restart: Option<String>,
    pub healthcheck: Option<Healthcheck>,
    pub deploy: Option<Deploy>,
    pub mem_limit: Option<i64>,
    pub mem_reservation: Option<i64>,
    pub memswap_limit: Option<i64>,
    pub shm_size: Option<i64>,
    pub cpus: Option<f64>,
    pub cpu_shares: Option<i64>,
    pub pids_limit: Option<i64>,
    pub oom_score_adj: Option<i64>,
    pub labels: BTreeMap<String, String>,
    pub container_name: Option<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub logging: Option<Logging>,
    pub tmpfs: Vec<String>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub read_only: bool,
    pub init: Option<bool>,
    pub privileged: bool,
    pub tty: bool,
    pub stdin_open: bool,
    pub stop_signal: Option<String>,
    pub stop_grace_period: Option<String>,
    pub ulimits: BTreeMap<String, Ulimit>,
    pub network_mode: Option<String>,
    pub pid: Option<String>,
    pub ipc: Option<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_opt: Vec<String>,
    pub extra_hosts: Vec<String>,
    pub sysctls: BTreeMap<String, String>,
    pub security_opt: Vec<String>,
    pub group_add: Vec<Value>,
    pub devices: Vec<Value>,
    pub scale: Option<i64>,
    pub profiles: Vec<String>,
    pub pull_policy: Option<String>,
    pub platform: Option<String>,
    pub mac_address: Option<String>,
    pub secrets: Vec<FileUse>,
    pub configs: Vec<FileUse>,
}

impl Service {
    /// Replicas wanted: `scale`, else `deploy.replicas`, else 1.
    pub fn replicas(&self) -> i64 {
        self.scale
            .or_else(|| self.deploy.as_ref().and_then(|d| d.replicas))
            .unwrap_or(1)
    }

    /// The image to run: `image`, or the name Compose gives built images.
    pub fn image_name(&self, project: &str) -> String {
        self.image
            .clone()
            .unwrap_or_else(|| format!("{project}-{}", self.name))
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Build {
    pub context: String,
    pub dockerfile: Option<String>,
    pub dockerfile_inline: Option<String>,
    pub args: BTreeMap<String, Option<String>>,
    pub target: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub network: Option<String>,
    pub no_cache: bool,
    pub pull: bool,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Port {
    pub target: u16,
    pub published: Option<String>,
    pub host_ip: Option<String>,
    pub protocol: Option<String>,
    pub mode: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Mount {
    #[serde(rename = "type")]
    pub kind: String,
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
    pub bind: Option<BindOptions>,
    pub volume: Option<VolumeOptions>,
    pub tmpfs: Option<TmpfsOptions>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct BindOptions {
    pub propagation: Option<String>,
    pub create_host_path: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct VolumeOptions {
    pub nocopy: bool,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct TmpfsOptions {
    pub size: Option<Value>,
    pub mode: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct ServiceNetwork {
    pub aliases: Vec<String>,
    pub ipv4_address: Option<String>,
    pub ipv6_address: Option<String>,
    pub priority: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Dependency {
    pub condition: String,
    pub required: bool,
    pub restart: bool,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Healthcheck {
    pub test: Option<Vec<String>>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub retries: Option<i64>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub disable: bool,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Deploy {
    pub replicas: Option<i64>,
    pub resources: Option<Resources>,
    pub restart_policy: Option<RestartPolicy>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Resources {
    pub limits: Option<ResourceSet>,
    pub reservations: Option<ResourceSet>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct ResourceSet {
    pub cpus: Option<f64>,
    pub memory: Option<i64>,
    pub pids: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct RestartPolicy {
    pub condition: Option<String>,
    pub max_attempts: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Logging {
    pub driver: Option<String>,
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Ulimit {
    pub soft: i64,
    pub hard: i64,
}
