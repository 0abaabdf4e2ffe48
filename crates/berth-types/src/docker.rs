//! Docker Engine API models: the JSON bodies `berthd` reads and writes, with Docker's
//! exact field names.
//!
//! Two rules shape every struct here:
//! - **Output matches Docker byte-for-byte in shape.** Docker (Go) emits `null`, `[]`, `{}`,
//!   `""` or `0` for unset fields rather than omitting them, and clients (docker-py,
//!   compose, the docker CLI) index into them. So every field is serialized; a Go nil
//!   slice/map/pointer is an `Option` that serializes as `null`. Only fields that Docker
//!   itself tags `omitempty` are skipped when unset (`skip_serializing_if`).
//! - **Input is tolerant.** Request bodies come from many clients: every field has a
//!   default, an explicit `null` reads as the default, unknown fields are ignored, and
//!   `Cmd`/`Entrypoint`/`Shell` accept a plain string as well as a list (Docker's
//!   `strslice`).
//!
//! The engine stores [`ContainerConfig`] and [`HostConfig`] verbatim in `config.v2.json`
//! and builds [`ContainerInspect`] / [`ContainerSummary`] from them; the API layer only
//! serializes these types.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Reads an explicit JSON `null` as the type's default (Go clients send `null` for nil
/// slices and maps; serde's `default` only covers missing fields).
pub fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// Docker's `strslice`: `null`, a single string, or a list of strings.
pub fn strslice<'de, D>(d: D) -> Result<Option<Vec<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => None,
        Some(OneOrMany::One(s)) => Some(vec![s]),
        Some(OneOrMany::Many(v)) => Some(v),
    })
}

/// Declares a Docker model struct whose every field defaults when missing or `null`.
/// Per-field attributes (renames, `skip_serializing_if`) are passed through; structs that
/// need `strslice` or `flatten` fields are written out by hand instead.
macro_rules! model {
    (
        $(#[$m:meta])*
        pub struct $name:ident {
            $( $(#[$fm:meta])* pub $f:ident : $t:ty ),* $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            $( $(#[$fm])* #[serde(default, deserialize_with = "null_default")] pub $f: $t ),*
        }
    };
}

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}
fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}
fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

/// Go's `map[string]struct{}` (ExposedPorts, Volumes): keys with `{}` values.
pub type EmptyObjectMap = BTreeMap<String, EmptyObject>;

/// Serializes as `{}`; accepts anything on input.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EmptyObject {}

impl<'de> Deserialize<'de> for EmptyObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Clients send `{}`, but some send `null` or `true`: accept any value.
        let _ = Value::deserialize(d)?;
        Ok(EmptyObject {})
    }
}

// ---------------------------------------------------------------------------------------
// Container configuration (create body, inspect `Config`)
// ---------------------------------------------------------------------------------------

/// The portable part of a container's configuration (`Config` in inspect; also the image
/// config's `config`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerConfig {
    #[serde(rename = "Hostname", deserialize_with = "null_default")]
    pub hostname: String,
    #[serde(rename = "Domainname", deserialize_with = "null_default")]
    pub domainname: String,
    #[serde(rename = "User", deserialize_with = "null_default")]
    pub user: String,
    #[serde(rename = "AttachStdin", deserialize_with = "null_default")]
    pub attach_stdin: bool,
    #[serde(rename = "AttachStdout", deserialize_with = "null_default")]
    pub attach_stdout: bool,
    #[serde(rename = "AttachStderr", deserialize_with = "null_default")]
    pub attach_stderr: bool,
    #[serde(
        rename = "ExposedPorts",
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub exposed_ports: Option<EmptyObjectMap>,
    #[serde(rename = "Tty", deserialize_with = "null_default")]
    pub tty: bool,
    #[serde(rename = "OpenStdin", deserialize_with = "null_default")]
    pub open_stdin: bool,
    #[serde(rename = "StdinOnce", deserialize_with = "null_default")]
    pub stdin_once: bool,
    #[serde(rename = "Env", deserialize_with = "null_default")]
    pub env: Option<Vec<String>>,
    #[serde(rename = "Cmd", deserialize_with = "strslice")]
    pub cmd: Option<Vec<String>>,
    #[serde(
        rename = "Healthcheck",
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub healthcheck: Option<HealthConfig>,
    #[serde(
        rename = "ArgsEscaped",
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub args_escaped: Option<bool>,
    #[serde(rename = "Image", deserialize_with = "null_default")]
    pub image: String,
    #[serde(rename = "Volumes", deserialize_with = "null_default")]
    pub volumes: Option<EmptyObjectMap>,
    #[serde(rename = "WorkingDir", deserialize_with = "null_default")]
    pub working_dir: String,
    #[serde(rename = "Entrypoint", deserialize_with = "strslice")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(
        rename = "NetworkDisabled",
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub network_disabled: Option<bool>,
    #[serde(
        rename = "MacAddress",
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub mac_address: Option<String>,
    #[serde(rename = "OnBuild", deserialize_with = "null_default")]
    pub on_build: Option<Vec<String>>,
    #[serde(rename = "Labels", deserialize_with = "null_default")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(
        rename = "StopSignal",
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub stop_signal: Option<String>,
    #[serde(
        rename = "StopTimeout",
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub stop_timeout: Option<i64>,
    #[serde(
        rename = "Shell",
        deserialize_with = "strslice",
        skip_serializing_if = "Option::is_none"
    )]
    pub shell: Option<Vec<String>>,
}

model! {
    /// `Healthcheck`: test command and timing (durations in nanoseconds).
    pub struct HealthConfig {
        #[serde(rename = "Test", skip_serializing_if = "Option::is_none")]
        pub test: Option<Vec<String>>,
        #[serde(rename = "Interval", skip_serializing_if = "is_zero_i64")]
        pub interval: i64,
        #[serde(rename = "Timeout", skip_serializing_if = "is_zero_i64")]
        pub timeout: i64,
        #[serde(rename = "Retries", skip_serializing_if = "is_zero_i64")]
        pub retries: i64,
        #[serde(rename = "StartPeriod", skip_serializing_if = "is_zero_i64")]
        pub start_period: i64,
        #[serde(rename = "StartInterval", skip_serializing_if = "is_zero_i64")]
        pub start_interval: i64,
    }
}

model! {
    /// `LogConfig` of a host config.
    pub struct LogConfig {
        #[serde(rename = "Type")]
        pub kind: String,
        #[serde(rename = "Config")]
        pub config: BTreeMap<String, String>,
    }
}

model! {
    /// `RestartPolicy`: `""`/`no`, `always`, `unless-stopped`, `on-failure`.
    pub struct RestartPolicy {
        #[serde(rename = "Name")]
        pub name: String,
        #[serde(rename = "MaximumRetryCount")]
        pub maximum_retry_count: i64,
    }
}

model! {
    /// One host binding of a container port (`PortBindings`, inspect `Ports`).
    pub struct PortBinding {
        #[serde(rename = "HostIp")]
        pub host_ip: String,
        #[serde(rename = "HostPort")]
        pub host_port: String,
    }
}

/// `"80/tcp" -> [bindings]`; a `null` value means exposed but not published.
pub type PortMap = BTreeMap<String, Option<Vec<PortBinding>>>;

model! {
    /// `--ulimit name=soft:hard`.
    pub struct Ulimit {
        #[serde(rename = "Name")]
        pub name: String,
        // Docker's field order in inspect: Name, Hard, Soft.
        #[serde(rename = "Hard")]
        pub hard: i64,
        #[serde(rename = "Soft")]
        pub soft: i64,
    }
}

model! {
    /// `--device host:container:perms`.
    pub struct DeviceMapping {
        #[serde(rename = "PathOnHost")]
        pub path_on_host: String,
        #[serde(rename = "PathInContainer")]
        pub path_in_container: String,
        #[serde(rename = "CgroupPermissions")]
        pub cgroup_permissions: String,
    }
}

model! {
    /// A `--mount` spec in the create body (`HostConfig.Mounts`).
    pub struct MountSpec {
        #[serde(rename = "Target")]
        pub target: String,
        #[serde(rename = "Source")]
        pub source: String,
        /// `bind`, `volume`, `tmpfs`, `npipe`, `cluster`.
        #[serde(rename = "Type")]
        pub kind: String,
        #[serde(rename = "ReadOnly", skip_serializing_if = "is_false")]
        pub read_only: bool,
        #[serde(rename = "Consistency", skip_serializing_if = "String::is_empty")]
        pub consistency: String,
        #[serde(rename = "BindOptions", skip_serializing_if = "Option::is_none")]
        pub bind_options: Option<Value>,
        #[serde(rename = "VolumeOptions", skip_serializing_if = "Option::is_none")]
        pub volume_options: Option<Value>,
        #[serde(rename = "TmpfsOptions", skip_serializing_if = "Option::is_none")]
        pub tmpfs_options: Option<Value>,
    }
}

model! {
    /// Resource limits: part of `HostConfig` (flattened) and the body of `/update`.
    pub struct Resources {
        #[serde(rename = "CpuShares")]
        pub cpu_shares: i64,
        #[serde(rename = "Memory")]
        pub memory: i64,
        #[serde(rename = "NanoCpus")]
        pub nano_cpus: i64,
        #[serde(rename = "CgroupParent")]
        pub cgroup_parent: String,
        #[serde(rename = "BlkioWeight")]
        pub blkio_weight: u16,
        #[serde(rename = "BlkioWeightDevice")]
        pub blkio_weight_device: Option<Vec<Value>>,
        #[serde(rename = "BlkioDeviceReadBps")]
        pub blkio_device_read_bps: Option<Vec<Value>>,
        #[serde(rename = "BlkioDeviceWriteBps")]
        pub blkio_device_write_bps: Option<Vec<Value>>,
        #[serde(rename = "BlkioDeviceReadIOps")]
        pub blkio_device_read_iops: Option<Vec<Value>>,
        #[serde(rename = "BlkioDeviceWriteIOps")]
        pub blkio_device_write_iops: Option<Vec<Value>>,
        #[serde(rename = "CpuPeriod")]
        pub cpu_period: i64,
        #[serde(rename = "CpuQuota")]
        pub cpu_quota: i64,
        #[serde(rename = "CpuRealtimePeriod")]
        pub cpu_realtime_period: i64,
        #[serde(rename = "CpuRealtimeRuntime")]
        pub cpu_realtime_runtime: i64,
        #[serde(rename = "CpusetCpus")]
        pub cpuset_cpus: String,
        #[serde(rename = "CpusetMems")]
        pub cpuset_mems: String,
        #[serde(rename = "Devices")]
        pub devices: Option<Vec<DeviceMapping>>,
        #[serde(rename = "DeviceCgroupRules")]
        pub device_cgroup_rules: Option<Vec<String>>,
        #[serde(rename = "DeviceRequests")]
        pub device_requests: Option<Vec<Value>>,
        #[serde(rename = "MemoryReservation")]
        pub memory_reservation: i64,
        #[serde(rename = "MemorySwap")]
        pub memory_swap: i64,
        #[serde(rename = "MemorySwappiness")]
        pub memory_swappiness: Option<i64>,
        #[serde(rename = "OomKillDisable")]
        pub oom_kill_disable: Option<bool>,
        #[serde(rename = "PidsLimit")]
        pub pids_limit: Option<i64>,
        #[serde(rename = "Ulimits")]
        pub ulimits: Option<Vec<Ulimit>>,
        #[serde(rename = "CpuCount")]
        pub cpu_count: i64,
        #[serde(rename = "CpuPercent")]
        pub cpu_percent: i64,
        #[serde(rename = "IOMaximumIOps")]
        pub io_maximum_iops: i64,
        #[serde(rename = "IOMaximumBandwidth")]
        pub io_maximum_bandwidth: i64,
    }
}

/// How a container is run on this host (`HostConfig`). Resources are flattened in, as in
/// Docker's JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostConfig {
    #[serde(rename = "Binds", deserialize_with = "null_default")]
    pub binds: Option<Vec<String>>,
    #[serde(rename = "ContainerIDFile", deserialize_with = "null_default")]
    pub container_id_file: String,
    #[serde(rename = "LogConfig", deserialize_with = "null_default")]
    pub log_config: LogConfig,
    #[serde(rename = "NetworkMode", deserialize_with = "null_default")]
    pub network_mode: String,
    #[serde(rename = "PortBindings", deserialize_with = "null_default")]
    pub port_bindings: Option<PortMap>,
    #[serde(rename = "RestartPolicy", deserialize_with = "null_default")]
    pub restart_policy: RestartPolicy,
    #[serde(rename = "AutoRemove", deserialize_with = "null_default")]
    pub auto_remove: bool,
    #[serde(rename = "VolumeDriver", deserialize_with = "null_default")]
    pub volume_driver: String,
    #[serde(rename = "VolumesFrom", deserialize_with = "null_default")]
    pub volumes_from: Option<Vec<String>>,
    #[serde(
        rename = "Mounts",
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub mounts: Option<Vec<MountSpec>>,
    /// `[height, width]`.
    #[serde(rename = "ConsoleSize", deserialize_with = "null_default")]
    pub console_size: Option<[u32; 2]>,
    #[serde(
        rename = "Annotations",
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(rename = "CapAdd", deserialize_with = "strslice")]
    pub cap_add: Option<Vec<String>>,
    #[serde(rename = "CapDrop", deserialize_with = "strslice")]
    pub cap_drop: Option<Vec<String>>,
    #[serde(rename = "CgroupnsMode", deserialize_with = "null_default")]
    pub cgroupns_mode: String,
    #[serde(rename = "Dns", deserialize_with = "null_default")]
    pub dns: Option<Vec<String>>,
    #[serde(rename = "DnsOptions", deserialize_with = "null_default")]
    pub dns_options: Option<Vec<String>>,
    #[serde(rename = "DnsSearch", deserialize_with = "null_default")]
    pub dns_search: Option<Vec<String>>,
    #[serde(rename = "ExtraHosts", deserialize_with = "null_default")]
    pub extra_hosts: Option<Vec<String>>,
    #[serde(rename = "GroupAdd", deserialize_with = "null_default")]
    pub group_add: Option<Vec<String>>,
    #[serde(rename = "IpcMode", deserialize_with = "null_default")]
    pub ipc_mode: String,
    #[serde(rename = "Cgroup", deserialize_with = "null_default")]
    pub cgroup: String,
    #[serde(rename = "Links", deserialize_with = "null_default")]
    pub links: Option<Vec<String>>,
    #[serde(rename = "OomScoreAdj", deserialize_with = "null_default")]
    pub oom_score_adj: i64,
    #[serde(rename = "PidMode", deserialize_with = "null_default")]
    pub pid_mode: String,
    #[serde(rename = "Privileged", deserialize_with = "null_default")]
    pub privileged: bool,
    #[serde(rename = "PublishAllPorts", deserialize_with = "null_default")]
    pub publish_all_ports: bool,
    #[serde(rename = "ReadonlyRootfs", deserialize_with = "null_default")]
    pub readonly_rootfs: bool,
    #[serde(rename = "SecurityOpt", deserialize_with = "null_default")]
    pub security_opt: Option<Vec<String>>,
    #[serde(
        rename = "StorageOpt",
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub storage_opt: Option<BTreeMap<String, String>>,
    #[serde(
        rename = "Tmpfs",
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub tmpfs: Option<BTreeMap<String, String>>,
    #[serde(rename = "UTSMode", deserialize_with = "null_default")]
    pub uts_mode: String,
    #[serde(rename = "UsernsMode", deserialize_with = "null_default")]
    pub userns_mode: String,
    #[serde(rename = "ShmSize", deserialize_with = "null_default")]
    pub shm_size: i64,
    #[serde(
        rename = "Sysctls",
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub sysctls: Option<BTreeMap<String, String>>,
    #[serde(rename = "Runtime", deserialize_with = "null_default")]
    pub runtime: String,
    #[serde(rename = "Isolation", deserialize_with = "null_default")]
    pub isolation: String,
    #[serde(flatten)]
    pub resources: Resources,
    /// `--init`; Docker omits it when unset.
    #[serde(
        rename = "Init",
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub init: Option<bool>,
    #[serde(rename = "MaskedPaths", deserialize_with = "null_default")]
    pub masked_paths: Option<Vec<String>>,
    #[serde(rename = "ReadonlyPaths", deserialize_with = "null_default")]
    pub readonly_paths: Option<Vec<String>>,
}

model! {
    /// One network's settings of a container (create body's `EndpointsConfig` values and
    /// inspect's `NetworkSettings.Networks` values).
    pub struct EndpointSettings {
        #[serde(rename = "IPAMConfig")]
        pub ipam_config: Option<Value>,
        #[serde(rename = "Links")]
        pub links: Option<Vec<String>>,
        #[serde(rename = "Aliases")]
        pub aliases: Option<Vec<String>>,
        #[serde(rename = "MacAddress")]
        pub mac_address: String,
        #[serde(rename = "NetworkID")]
        pub network_id: String,
        #[serde(rename = "EndpointID")]
        pub endpoint_id: String,
        #[serde(rename = "Gateway")]
        pub gateway: String,
        #[serde(rename = "IPAddress")]
        pub ip_address: String,
        #[serde(rename = "IPPrefixLen")]
        pub ip_prefix_len: i64,
        #[serde(rename = "IPv6Gateway")]
        pub ipv6_gateway: String,
        #[serde(rename = "GlobalIPv6Address")]
        pub global_ipv6_address: String,
        #[serde(rename = "GlobalIPv6PrefixLen")]
        pub global_ipv6_prefix_len: i64,
        #[serde(rename = "DriverOpts")]
        pub driver_opts: Option<BTreeMap<String, String>>,
        #[serde(rename = "DNSNames")]
        pub dns_names: Option<Vec<String>>,
    }
}

model! {
    /// `NetworkingConfig` of the create body.
    pub struct NetworkingConfig {
        #[serde(rename = "EndpointsConfig")]
        pub endpoints_config: BTreeMap<String, EndpointSettings>,
    }
}

/// Body of `POST /containers/create`: the container config with `HostConfig` and
/// `NetworkingConfig` beside its fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateRequest {
    #[serde(flatten)]
    pub config: ContainerConfig,
    #[serde(rename = "HostConfig", deserialize_with = "null_default")]
    pub host_config: HostConfig,
    #[serde(rename = "NetworkingConfig", deserialize_with = "null_default")]
    pub networking_config: NetworkingConfig,
}

model! {
    /// Reply of `POST /containers/create`.
    pub struct ContainerCreateResponse {
        #[serde(rename = "Id")]
        pub id: String,
        #[serde(rename = "Warnings")]
        pub warnings: Vec<String>,
    }
}

/// Body of `POST /containers/{id}/update`: resources plus an optional restart policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateRequest {
    #[serde(flatten)]
    pub resources: Resources,
    #[serde(
        rename = "RestartPolicy",
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub restart_policy: Option<RestartPolicy>,
}

model! {
    /// Reply of `POST /containers/{id}/update`.
    pub struct ContainerUpdateResponse {
        #[serde(rename = "Warnings")]
        pub warnings: Option<Vec<String>>,
    }
}

// ---------------------------------------------------------------------------------------
// Container inspect / list
// ---------------------------------------------------------------------------------------

model! {
    /// `State` of a container in inspect.
    pub struct ContainerState {
        /// `created`, `running`, `paused`, `restarting`, `removing`, `exited`, `dead`.
        #[serde(rename = "Status")]
        pub status: String,
        #[serde(rename = "Running")]
        pub running: bool,
        #[serde(rename = "Paused")]
        pub paused: bool,
        #[serde(rename = "Restarting")]
        pub restarting: bool,
        #[serde(rename = "OOMKilled")]
        pub oom_killed: bool,
        #[serde(rename = "Dead")]
        pub dead: bool,
        #[serde(rename = "Pid")]
        pub pid: i64,
        #[serde(rename = "ExitCode")]
        pub exit_code: i64,
        #[serde(rename = "Error")]
        pub error: String,
        #[serde(rename = "StartedAt")]
        pub started_at: String,
        #[serde(rename = "FinishedAt")]
        pub finished_at: String,
        #[serde(rename = "Health", skip_serializing_if = "Option::is_none")]
        pub health: Option<Health>,
    }
}

model! {
    /// Health check state (`State.Health`).
    pub struct Health {
        /// `none`, `starting`, `healthy`, `unhealthy`.
        #[serde(rename = "Status")]
        pub status: String,
        #[serde(rename = "FailingStreak")]
        pub failing_streak: i64,
        #[serde(rename = "Log")]
        pub log: Vec<HealthcheckResult>,
    }
}

model! {
    pub struct HealthcheckResult {
        #[serde(rename = "Start")]
        pub start: String,
        #[serde(rename = "End")]
        pub end: String,
        #[serde(rename = "ExitCode")]
        pub exit_code: i64,
        #[serde(rename = "Output")]
        pub output: String,
    }
}

model! {
    /// `GraphDriver` of container and image inspect.
    pub struct GraphDriverData {
        #[serde(rename = "Data")]
        pub data: Option<BTreeMap<String, String>>,
        #[serde(rename = "Name")]
        pub name: String,
    }
}

model! {
    /// A mount as shown by inspect and ps (`Mounts`).
    pub struct MountPoint {
        #[serde(rename = "Type")]
        pub kind: String,
        #[serde(rename = "Name", skip_serializing_if = "String::is_empty")]
        pub name: String,
        #[serde(rename = "Source")]
        pub source: String,
        #[serde(rename = "Destination")]
        pub destination: String,
        #[serde(rename = "Driver", skip_serializing_if = "String::is_empty")]
        pub driver: String,
        #[serde(rename = "Mode")]
        pub mode: String,
        #[serde(rename = "RW")]
        pub rw: bool,
        #[serde(rename = "Propagation")]
        pub propagation: String,
    }
}

model! {
    /// `NetworkSettings` of container inspect.
    pub struct NetworkSettings {
        #[serde(rename = "Bridge")]
        pub bridge: String,
        #[serde(rename = "SandboxID")]
        pub sandbox_id: String,
        #[serde(rename = "HairpinMode")]
        pub hairpin_mode: bool,
        #[serde(rename = "LinkLocalIPv6Address")]
        pub link_local_ipv6_address: String,
        #[serde(rename = "LinkLocalIPv6PrefixLen")]
        pub link_local_ipv6_prefix_len: i64,
        #[serde(rename = "Ports")]
        pub ports: PortMap,
        #[serde(rename = "SandboxKey")]
        pub sandbox_key: String,
        #[serde(rename = "SecondaryIPAddresses")]
        pub secondary_ip_addresses: Option<Vec<Value>>,
        #[serde(rename = "SecondaryIPv6Addresses")]
        pub secondary_ipv6_addresses: Option<Vec<Value>>,
        #[serde(rename = "EndpointID")]
        pub endpoint_id: String,
        #[serde(rename = "Gateway")]
        pub gateway: String,
        #[serde(rename = "GlobalIPv6Address")]
        pub global_ipv6_address: String,
        #[serde(rename = "GlobalIPv6PrefixLen")]
        pub global_ipv6_prefix_len: i64,
        #[serde(rename = "IPAddress")]
        pub ip_address: String,
        #[serde(rename = "IPPrefixLen")]
        pub ip_prefix_len: i64,
        #[serde(rename = "IPv6Gateway")]
        pub ipv6_gateway: String,
        #[serde(rename = "MacAddress")]
        pub mac_address: String,
        #[serde(rename = "Networks")]
        pub networks: BTreeMap<String, EndpointSettings>,
    }
}

model! {
    /// Reply of `GET /containers/{id}/json`.
    pub struct ContainerInspect {
        #[serde(rename = "Id")]
        pub id: String,
        /// RFC 3339 with nanoseconds.
        #[serde(rename = "Created")]
        pub created: String,
        #[serde(rename = "Path")]
        pub path: String,
        #[serde(rename = "Args")]
        pub args: Vec<String>,
        #[serde(rename = "State")]
        pub state: ContainerState,
        /// `sha256:<hex>` of the image.
        #[serde(rename = "Image")]
        pub image: String,
        #[serde(rename = "ResolvConfPath")]
        pub resolv_conf_path: String,
        #[serde(rename = "HostnamePath")]
        pub hostname_path: String,
        #[serde(rename = "HostsPath")]
        pub hosts_path: String,
        #[serde(rename = "LogPath")]
        pub log_path: String,
        /// `/name`.
        #[serde(rename = "Name")]
        pub name: String,
        #[serde(rename = "RestartCount")]
        pub restart_count: i64,
        #[serde(rename = "Driver")]
        pub driver: String,
        #[serde(rename = "Platform")]
        pub platform: String,
        #[serde(rename = "MountLabel")]
        pub mount_label: String,
        #[serde(rename = "ProcessLabel")]
        pub process_label: String,
        #[serde(rename = "AppArmorProfile")]
        pub app_armor_profile: String,
        #[serde(rename = "ExecIDs")]
        pub exec_ids: Option<Vec<String>>,
        #[serde(rename = "HostConfig")]
        pub host_config: HostConfig,
        #[serde(rename = "GraphDriver")]
        pub graph_driver: GraphDriverData,
        #[serde(rename = "SizeRw", skip_serializing_if = "Option::is_none")]
        pub size_rw: Option<i64>,
        #[serde(rename = "SizeRootFs", skip_serializing_if = "Option::is_none")]
        pub size_root_fs: Option<i64>,
        #[serde(rename = "Mounts")]
        pub mounts: Vec<MountPoint>,
        #[serde(rename = "Config")]
        pub config: ContainerConfig,
        #[serde(rename = "NetworkSettings")]
        pub network_settings: NetworkSettings,
    }
}

model! {
    /// A port in `docker ps` (`Ports` of a summary).
    pub struct Port {
        #[serde(rename = "IP", skip_serializing_if = "String::is_empty")]
        pub ip: String,
        #[serde(rename = "PrivatePort")]
        pub private_port: u16,
        #[serde(rename = "PublicPort", skip_serializing_if = "Option::is_none")]
        pub public_port: Option<u16>,
        #[serde(rename = "Type")]
        pub kind: String,
    }
}

model! {
    /// `HostConfig` of a ps entry.
    pub struct SummaryHostConfig {
        #[serde(rename = "NetworkMode")]
        pub network_mode: String,
        #[serde(rename = "Annotations", skip_serializing_if = "Option::is_none")]
        pub annotations: Option<BTreeMap<String, String>>,
    }
}

model! {
    /// `NetworkSettings` of a ps entry.
    pub struct SummaryNetworkSettings {
        #[serde(rename = "Networks")]
        pub networks: BTreeMap<String, EndpointSettings>,
    }
}

model! {
    /// One entry of `GET /containers/json`.
    pub struct ContainerSummary {
        #[serde(rename = "Id")]
        pub id: String,
        /// `["/name"]`.
        #[serde(rename = "Names")]
        pub names: Vec<String>,
        #[serde(rename = "Image")]
        pub image: String,
        #[serde(rename = "ImageID")]
        pub image_id: String,
        #[serde(rename = "Command")]
        pub command: String,
        /// Unix seconds.
        #[serde(rename = "Created")]
        pub created: i64,
        #[serde(rename = "Ports")]
        pub ports: Vec<Port>,
        #[serde(rename = "SizeRw", skip_serializing_if = "Option::is_none")]
        pub size_rw: Option<i64>,
        #[serde(rename = "SizeRootFs", skip_serializing_if = "Option::is_none")]
        pub size_root_fs: Option<i64>,
        #[serde(rename = "Labels")]
        pub labels: BTreeMap<String, String>,
        #[serde(rename = "State")]
        pub state: String,
        /// Human text: `Up 3 seconds`, `Exited (0) 2 minutes ago`, `Created`.
        #[serde(rename = "Status")]
        pub status: String,
        #[serde(rename = "HostConfig")]
        pub host_config: SummaryHostConfig,
        #[serde(rename = "NetworkSettings")]
        pub network_settings: SummaryNetworkSettings,
        #[serde(rename = "Mounts")]
        pub mounts: Vec<MountPoint>,
    }
}

model! {
    /// Reply of `POST /containers/{id}/wait`.
    pub struct ContainerWaitResponse {
        #[serde(rename = "StatusCode")]
        pub status_code: i64,
        #[serde(rename = "Error")]
        pub error: Option<WaitExitError>,
    }
}

model! {
    pub struct WaitExitError {
        #[serde(rename = "Message")]
        pub message: String,
    }
}

model! {
    /// Reply of `GET /containers/{id}/top`.
    pub struct ContainerTopResponse {
        #[serde(rename = "Titles")]
        pub titles: Vec<String>,
        #[serde(rename = "Processes")]
        pub processes: Vec<Vec<String>>,
    }
}

model! {
    /// Reply of `POST /containers/prune`.
    pub struct ContainerPruneResponse {
        #[serde(rename = "ContainersDeleted")]
        pub containers_deleted: Option<Vec<String>>,
        #[serde(rename = "SpaceReclaimed")]
        pub space_reclaimed: u64,
    }
}

model! {
    /// One entry of `GET /containers/{id}/changes` (Kind: 0 modified, 1 added, 2 deleted).
    pub struct FilesystemChange {
        #[serde(rename = "Path")]
        pub path: String,
        #[serde(rename = "Kind")]
        pub kind: u8,
    }
}

// ---------------------------------------------------------------------------------------
// Stats
// ---------------------------------------------------------------------------------------

model! {
    /// One sample of `GET /containers/{id}/stats` (field names are Docker's snake_case).
    pub struct ContainerStats {
        pub read: String,
        pub preread: String,
        pub pids_stats: PidsStats,
        pub blkio_stats: BlkioStats,
        pub num_procs: u32,
        pub storage_stats: BTreeMap<String, Value>,
        pub cpu_stats: CpuStats,
        pub precpu_stats: CpuStats,
        pub memory_stats: MemoryStats,
        pub name: String,
        pub id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub networks: Option<BTreeMap<String, Value>>,
    }
}

model! {
    pub struct PidsStats {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub current: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub limit: Option<u64>,
    }
}

model! {
    /// `blkio_stats`: v1 fills the `*_recursive` lists; nil lists are `null`.
    pub struct BlkioStats {
        pub io_service_bytes_recursive: Option<Vec<BlkioStatEntry>>,
        pub io_serviced_recursive: Option<Vec<BlkioStatEntry>>,
        pub io_queue_recursive: Option<Vec<BlkioStatEntry>>,
        pub io_service_time_recursive: Option<Vec<BlkioStatEntry>>,
        pub io_wait_time_recursive: Option<Vec<BlkioStatEntry>>,
        pub io_merged_recursive: Option<Vec<BlkioStatEntry>>,
        pub io_time_recursive: Option<Vec<BlkioStatEntry>>,
        pub sectors_recursive: Option<Vec<BlkioStatEntry>>,
    }
}

model! {
    pub struct BlkioStatEntry {
        pub major: u64,
        pub minor: u64,
        pub op: String,
        pub value: u64,
    }
}

model! {
    pub struct CpuUsage {
        pub total_usage: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub percpu_usage: Option<Vec<u64>>,
        pub usage_in_kernelmode: u64,
        pub usage_in_usermode: u64,
    }
}

model! {
    pub struct ThrottlingData {
        pub periods: u64,
        pub throttled_periods: u64,
        pub throttled_time: u64,
    }
}

model! {
    pub struct CpuStats {
        pub cpu_usage: CpuUsage,
        #[serde(skip_serializing_if = "is_zero_u64")]
        pub system_cpu_usage: u64,
        #[serde(skip_serializing_if = "is_zero_u32")]
        pub online_cpus: u32,
        pub throttling_data: ThrottlingData,
    }
}

model! {
    pub struct MemoryStats {
        #[serde(skip_serializing_if = "is_zero_u64")]
        pub usage: u64,
        #[serde(skip_serializing_if = "is_zero_u64")]
        pub max_usage: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub stats: Option<BTreeMap<String, u64>>,
        #[serde(skip_serializing_if = "is_zero_u64")]
        pub failcnt: u64,
        #[serde(skip_serializing_if = "is_zero_u64")]
        pub limit: u64,
    }
}

// ---------------------------------------------------------------------------------------
// Exec
// ---------------------------------------------------------------------------------------

model! {
    /// Body of `POST /containers/{id}/exec`.
    pub struct ExecConfig {
        #[serde(rename = "AttachStdin")]
        pub attach_stdin: bool,
        #[serde(rename = "AttachStdout")]
        pub attach_stdout: bool,
        #[serde(rename = "AttachStderr")]
        pub attach_stderr: bool,
        #[serde(rename = "ConsoleSize")]
        pub console_size: Option<[u32; 2]>,
        #[serde(rename = "DetachKeys")]
        pub detach_keys: String,
        #[serde(rename = "Tty")]
        pub tty: bool,
        #[serde(rename = "Env")]
        pub env: Option<Vec<String>>,
        #[serde(rename = "Cmd")]
        pub cmd: Option<Vec<String>>,
        #[serde(rename = "Privileged")]
        pub privileged: bool,
        #[serde(rename = "User")]
        pub user: String,
        #[serde(rename = "WorkingDir")]
        pub working_dir: String,
    }
}

model! {
    /// Body of `POST /exec/{id}/start`.
    pub struct ExecStartConfig {
        #[serde(rename = "Detach")]
        pub detach: bool,
        #[serde(rename = "Tty")]
        pub tty: bool,
        #[serde(rename = "ConsoleSize")]
        pub console_size: Option<[u32; 2]>,
    }
}

model! {
    /// `ProcessConfig` of exec inspect (Docker uses lower-case names here).
    pub struct ExecProcessConfig {
        pub arguments: Vec<String>,
        pub entrypoint: String,
        pub privileged: bool,
        pub tty: bool,
        pub user: String,
    }
}

model! {
    /// Reply of `GET /exec/{id}/json`.
    pub struct ExecInspect {
        #[serde(rename = "CanRemove")]
        pub can_remove: bool,
        #[serde(rename = "ContainerID")]
        pub container_id: String,
        #[serde(rename = "DetachKeys")]
        pub detach_keys: String,
        /// `null` until the process has exited.
        #[serde(rename = "ExitCode")]
        pub exit_code: Option<i64>,
        #[serde(rename = "ID")]
        pub id: String,
        #[serde(rename = "OpenStderr")]
        pub open_stderr: bool,
        #[serde(rename = "OpenStdin")]
        pub open_stdin: bool,
        #[serde(rename = "OpenStdout")]
        pub open_stdout: bool,
        #[serde(rename = "ProcessConfig")]
        pub process_config: ExecProcessConfig,
        #[serde(rename = "Running")]
        pub running: bool,
        #[serde(rename = "Pid")]
        pub pid: i64,
    }
}

model! {
    /// `{"Id": ...}` replies (exec create, commit).
    pub struct IdResponse {
        #[serde(rename = "Id")]
        pub id: String,
    }
}

// ---------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------

model! {
    /// One entry of `GET /images/json`.
    pub struct ImageSummary {
        #[serde(rename = "Containers")]
        pub containers: i64,
        /// Unix seconds.
        #[serde(rename = "Created")]
        pub created: i64,
        #[serde(rename = "Id")]
        pub id: String,
        #[serde(rename = "Labels")]
        pub labels: Option<BTreeMap<String, String>>,
        #[serde(rename = "ParentId")]
        pub parent_id: String,
        #[serde(rename = "RepoDigests")]
        pub repo_digests: Vec<String>,
        #[serde(rename = "RepoTags")]
        pub repo_tags: Vec<String>,
        #[serde(rename = "SharedSize")]
        pub shared_size: i64,
        #[serde(rename = "Size")]
        pub size: i64,
        /// Removed in API 1.44; still sent to older clients.
        #[serde(rename = "VirtualSize", skip_serializing_if = "Option::is_none")]
        pub virtual_size: Option<i64>,
    }
}

model! {
    /// `RootFS` of image inspect.
    pub struct ImageRootFs {
        #[serde(rename = "Type")]
        pub kind: String,
        #[serde(rename = "Layers")]
        pub layers: Vec<String>,
    }
}

model! {
    /// `Metadata` of image inspect.
    pub struct ImageMetadata {
        #[serde(rename = "LastTagTime", skip_serializing_if = "String::is_empty")]
        pub last_tag_time: String,
    }
}

model! {
    /// Reply of `GET /images/{name}/json`.
    pub struct ImageInspect {
        #[serde(rename = "Id")]
        pub id: String,
        #[serde(rename = "RepoTags")]
        pub repo_tags: Vec<String>,
        #[serde(rename = "RepoDigests")]
        pub repo_digests: Vec<String>,
        #[serde(rename = "Parent")]
        pub parent: String,
        #[serde(rename = "Comment")]
        pub comment: String,
        #[serde(rename = "Created")]
        pub created: String,
        /// Deprecated (pre-1.45); kept empty for older clients.
        #[serde(rename = "Container", skip_serializing_if = "Option::is_none")]
        pub container: Option<String>,
        #[serde(rename = "ContainerConfig", skip_serializing_if = "Option::is_none")]
        pub container_config: Option<ContainerConfig>,
        #[serde(rename = "DockerVersion")]
        pub docker_version: String,
        #[serde(rename = "Author")]
        pub author: String,
        #[serde(rename = "Config")]
        pub config: Option<ContainerConfig>,
        #[serde(rename = "Architecture")]
        pub architecture: String,
        #[serde(rename = "Variant", skip_serializing_if = "Option::is_none")]
        pub variant: Option<String>,
        #[serde(rename = "Os")]
        pub os: String,
        #[serde(rename = "OsVersion", skip_serializing_if = "Option::is_none")]
        pub os_version: Option<String>,
        #[serde(rename = "Size")]
        pub size: i64,
        #[serde(rename = "VirtualSize", skip_serializing_if = "Option::is_none")]
        pub virtual_size: Option<i64>,
        #[serde(rename = "GraphDriver")]
        pub graph_driver: GraphDriverData,
        #[serde(rename = "RootFS")]
        pub root_fs: ImageRootFs,
        #[serde(rename = "Metadata")]
        pub metadata: ImageMetadata,
    }
}

model! {
    /// One entry of `DELETE /images/{name}` (exactly one of the two is set).
    pub struct ImageDeleteResponseItem {
        #[serde(rename = "Untagged", skip_serializing_if = "Option::is_none")]
        pub untagged: Option<String>,
        #[serde(rename = "Deleted", skip_serializing_if = "Option::is_none")]
        pub deleted: Option<String>,
    }
}

model! {
    /// Reply of `POST /images/prune`.
    pub struct ImagePruneResponse {
        #[serde(rename = "ImagesDeleted")]
        pub images_deleted: Option<Vec<ImageDeleteResponseItem>>,
        #[serde(rename = "SpaceReclaimed")]
        pub space_reclaimed: u64,
    }
}

model! {
    /// One entry of `GET /images/{name}/history`.
    pub struct ImageHistoryItem {
        #[serde(rename = "Id")]
        pub id: String,
        #[serde(rename = "Created")]
        pub created: i64,
        #[serde(rename = "CreatedBy")]
        pub created_by: String,
        #[serde(rename = "Tags")]
        pub tags: Option<Vec<String>>,
        #[serde(rename = "Size")]
        pub size: i64,
        #[serde(rename = "Comment")]
        pub comment: String,
    }
}

model! {
    /// Reply of `GET /system/df`.
    pub struct DiskUsage {
        #[serde(rename = "LayersSize")]
        pub layers_size: i64,
        #[serde(rename = "Images")]
        pub images: Vec<ImageSummary>,
        #[serde(rename = "Containers")]
        pub containers: Vec<ContainerSummary>,
        #[serde(rename = "Volumes")]
        pub volumes: Vec<Value>,
        #[serde(rename = "BuildCache")]
        pub build_cache: Vec<Value>,
    }
}

// ---------------------------------------------------------------------------------------
// System
// ---------------------------------------------------------------------------------------

model! {
    pub struct VersionPlatform {
        #[serde(rename = "Name")]
        pub name: String,
    }
}

model! {
    pub struct VersionComponent {
        #[serde(rename = "Name")]
        pub name: String,
        #[serde(rename = "Version")]
        pub version: String,
        #[serde(rename = "Details", skip_serializing_if = "Option::is_none")]
        pub details: Option<BTreeMap<String, String>>,
    }
}

model! {
    /// Reply of `GET /version`.
    pub struct SystemVersion {
        #[serde(rename = "Platform")]
        pub platform: VersionPlatform,
        #[serde(rename = "Components")]
        pub components: Vec<VersionComponent>,
        #[serde(rename = "Version")]
        pub version: String,
        #[serde(rename = "ApiVersion")]
        pub api_version: String,
        #[serde(rename = "MinAPIVersion")]
        pub min_api_version: String,
        #[serde(rename = "GitCommit")]
        pub git_commit: String,
        #[serde(rename = "GoVersion")]
        pub go_version: String,
        #[serde(rename = "Os")]
        pub os: String,
        #[serde(rename = "Arch")]
        pub arch: String,
        #[serde(rename = "KernelVersion")]
        pub kernel_version: String,
        #[serde(rename = "Experimental", skip_serializing_if = "is_false")]
        pub experimental: bool,
        #[serde(rename = "BuildTime")]
        pub build_time: String,
    }
}

model! {
    pub struct PluginsInfo {
        #[serde(rename = "Volume")]
        pub volume: Vec<String>,
        #[serde(rename = "Network")]
        pub network: Vec<String>,
        #[serde(rename = "Authorization")]
        pub authorization: Option<Vec<String>>,
        #[serde(rename = "Log")]
        pub log: Vec<String>,
    }
}

model! {
    pub struct IndexInfo {
        #[serde(rename = "Name")]
        pub name: String,
        #[serde(rename = "Mirrors")]
        pub mirrors: Vec<String>,
        #[serde(rename = "Secure")]
        pub secure: bool,
        #[serde(rename = "Official")]
        pub official: bool,
    }
}

model! {
    pub struct RegistryServiceConfig {
        #[serde(rename = "AllowNondistributableArtifactsCIDRs", skip_serializing_if = "Option::is_none")]
        pub allow_nondistributable_artifacts_cidrs: Option<Vec<String>>,
        #[serde(rename = "AllowNondistributableArtifactsHostnames", skip_serializing_if = "Option::is_none")]
        pub allow_nondistributable_artifacts_hostnames: Option<Vec<String>>,
        #[serde(rename = "InsecureRegistryCIDRs")]
        pub insecure_registry_cidrs: Vec<String>,
        #[serde(rename = "IndexConfigs")]
        pub index_configs: BTreeMap<String, IndexInfo>,
        #[serde(rename = "Mirrors")]
        pub mirrors: Vec<String>,
    }
}

model! {
    /// A runtime in `Runtimes` of info.
    pub struct RuntimeInfo {
        pub path: String,
        #[serde(rename = "runtimeArgs", skip_serializing_if = "Option::is_none")]
        pub runtime_args: Option<Vec<String>>,
    }
}

model! {
    pub struct Commit {
        #[serde(rename = "ID")]
        pub id: String,
        #[serde(rename = "Expected", skip_serializing_if = "String::is_empty")]
        pub expected: String,
    }
}

model! {
    pub struct SwarmInfo {
        #[serde(rename = "NodeID")]
        pub node_id: String,
        #[serde(rename = "NodeAddr")]
        pub node_addr: String,
        /// `inactive` for Berth (no swarm).
        #[serde(rename = "LocalNodeState")]
        pub local_node_state: String,
        #[serde(rename = "ControlAvailable")]
        pub control_available: bool,
        #[serde(rename = "Error")]
        pub error: String,
        #[serde(rename = "RemoteManagers")]
        pub remote_managers: Option<Vec<Value>>,
    }
}

model! {
    /// Reply of `GET /info`: the fields `docker info` prints, plus the rest with Docker's
    /// zero values.
    pub struct SystemInfo {
        #[serde(rename = "ID")]
        pub id: String,
        #[serde(rename = "Containers")]
        pub containers: i64,
        #[serde(rename = "ContainersRunning")]
        pub containers_running: i64,
        #[serde(rename = "ContainersPaused")]
        pub containers_paused: i64,
        #[serde(rename = "ContainersStopped")]
        pub containers_stopped: i64,
        #[serde(rename = "Images")]
        pub images: i64,
        #[serde(rename = "Driver")]
        pub driver: String,
        #[serde(rename = "DriverStatus")]
        pub driver_status: Vec<[String; 2]>,
        #[serde(rename = "Plugins")]
        pub plugins: PluginsInfo,
        #[serde(rename = "MemoryLimit")]
        pub memory_limit: bool,
        #[serde(rename = "SwapLimit")]
        pub swap_limit: bool,
        #[serde(rename = "KernelMemoryTCP", skip_serializing_if = "is_false")]
        pub kernel_memory_tcp: bool,
        #[serde(rename = "CpuCfsPeriod")]
        pub cpu_cfs_period: bool,
        #[serde(rename = "CpuCfsQuota")]
        pub cpu_cfs_quota: bool,
        #[serde(rename = "CPUShares")]
        pub cpu_shares: bool,
        #[serde(rename = "CPUSet")]
        pub cpu_set: bool,
        #[serde(rename = "PidsLimit")]
        pub pids_limit: bool,
        #[serde(rename = "IPv4Forwarding")]
        pub ipv4_forwarding: bool,
        #[serde(rename = "BridgeNfIptables")]
        pub bridge_nf_iptables: bool,
        #[serde(rename = "BridgeNfIp6tables")]
        pub bridge_nf_ip6tables: bool,
        #[serde(rename = "Debug")]
        pub debug: bool,
        #[serde(rename = "NFd")]
        pub nfd: i64,
        #[serde(rename = "OomKillDisable")]
        pub oom_kill_disable: bool,
        #[serde(rename = "NGoroutines")]
        pub ngoroutines: i64,
        #[serde(rename = "SystemTime")]
        pub system_time: String,
        #[serde(rename = "LoggingDriver")]
        pub logging_driver: String,
        #[serde(rename = "CgroupDriver")]
        pub cgroup_driver: String,
        #[serde(rename = "CgroupVersion")]
        pub cgroup_version: String,
        #[serde(rename = "NEventsListener")]
        pub nevents_listener: i64,
        #[serde(rename = "KernelVersion")]
        pub kernel_version: String,
        #[serde(rename = "OperatingSystem")]
        pub operating_system: String,
        #[serde(rename = "OSVersion")]
        pub os_version: String,
        #[serde(rename = "OSType")]
        pub os_type: String,
        #[serde(rename = "Architecture")]
        pub architecture: String,
        #[serde(rename = "IndexServerAddress")]
        pub index_server_address: String,
        #[serde(rename = "RegistryConfig")]
        pub registry_config: Option<RegistryServiceConfig>,
        #[serde(rename = "NCPU")]
        pub ncpu: i64,
        #[serde(rename = "MemTotal")]
        pub mem_total: i64,
        #[serde(rename = "GenericResources")]
        pub generic_resources: Option<Vec<Value>>,
        #[serde(rename = "DockerRootDir")]
        pub docker_root_dir: String,
        #[serde(rename = "HttpProxy")]
        pub http_proxy: String,
        #[serde(rename = "HttpsProxy")]
        pub https_proxy: String,
        #[serde(rename = "NoProxy")]
        pub no_proxy: String,
        #[serde(rename = "Name")]
        pub name: String,
        #[serde(rename = "Labels")]
        pub labels: Vec<String>,
        #[serde(rename = "ExperimentalBuild")]
        pub experimental_build: bool,
        #[serde(rename = "ServerVersion")]
        pub server_version: String,
        #[serde(rename = "Runtimes")]
        pub runtimes: BTreeMap<String, RuntimeInfo>,
        #[serde(rename = "DefaultRuntime")]
        pub default_runtime: String,
        #[serde(rename = "Swarm")]
        pub swarm: SwarmInfo,
        #[serde(rename = "LiveRestoreEnabled")]
        pub live_restore_enabled: bool,
        #[serde(rename = "Isolation")]
        pub isolation: String,
        #[serde(rename = "InitBinary")]
        pub init_binary: String,
        #[serde(rename = "ContainerdCommit")]
        pub containerd_commit: Commit,
        #[serde(rename = "RuncCommit")]
        pub runc_commit: Commit,
        #[serde(rename = "InitCommit")]
        pub init_commit: Commit,
        #[serde(rename = "SecurityOptions")]
        pub security_options: Vec<String>,
        #[serde(rename = "CDISpecDirs")]
        pub cdi_spec_dirs: Vec<String>,
        #[serde(rename = "Warnings")]
        pub warnings: Option<Vec<String>>,
    }
}

// ---------------------------------------------------------------------------------------
// Events and errors
// ---------------------------------------------------------------------------------------

model! {
    /// `Actor` of an event: the object's id and attributes (name, image, exitCode, …).
    pub struct EventActor {
        #[serde(rename = "ID")]
        pub id: String,
        #[serde(rename = "Attributes")]
        pub attributes: BTreeMap<String, String>,
    }
}

model! {
    /// One message of `GET /events`. `status`/`id`/`from` are the legacy fields Docker
    /// still sends for container and image events.
    pub struct EventMessage {
        #[serde(rename = "status", skip_serializing_if = "String::is_empty")]
        pub status: String,
        #[serde(rename = "id", skip_serializing_if = "String::is_empty")]
        pub id: String,
        #[serde(rename = "from", skip_serializing_if = "String::is_empty")]
        pub from: String,
        /// `container`, `image`, `network`, `volume`, `daemon`.
        #[serde(rename = "Type")]
        pub kind: String,
        #[serde(rename = "Action")]
        pub action: String,
        #[serde(rename = "Actor")]
        pub actor: EventActor,
        #[serde(rename = "scope")]
        pub scope: String,
        /// Unix seconds.
        #[serde(rename = "time")]
        pub time: i64,
        #[serde(rename = "timeNano")]
        pub time_nano: i64,
    }
}

model! {
    /// The body of every error reply.
    pub struct ErrorResponse {
        pub message: String,
    }
}

// ---------------------------------------------------------------------------------------
// Networks (`/networks`)
// ---------------------------------------------------------------------------------------

model! {
    /// One entry of a network's `IPAM.Config`.
    pub struct IpamConfig {
        #[serde(rename = "Subnet", skip_serializing_if = "String::is_empty")]
        pub subnet: String,
        #[serde(rename = "IPRange", skip_serializing_if = "String::is_empty")]
        pub ip_range: String,
        #[serde(rename = "Gateway", skip_serializing_if = "String::is_empty")]
        pub gateway: String,
        #[serde(rename = "AuxiliaryAddresses", skip_serializing_if = "Option::is_none")]
        pub auxiliary_addresses: Option<BTreeMap<String, String>>,
    }
}

model! {
    /// `IPAM` of a network (inspect and create body).
    pub struct Ipam {
        #[serde(rename = "Driver")]
        pub driver: String,
        #[serde(rename = "Options")]
        pub options: Option<BTreeMap<String, String>>,
        #[serde(rename = "Config")]
        pub config: Option<Vec<IpamConfig>>,
    }
}

model! {
    /// A container in `Containers` of a network inspect.
    pub struct NetworkContainer {
        #[serde(rename = "Name")]
        pub name: String,
        #[serde(rename = "EndpointID")]
        pub endpoint_id: String,
        #[serde(rename = "MacAddress")]
        pub mac_address: String,
        #[serde(rename = "IPv4Address")]
        pub ipv4_address: String,
        #[serde(rename = "IPv6Address")]
        pub ipv6_address: String,
    }
}

model! {
    /// `ConfigFrom` of a network.
    pub struct ConfigReference {
        #[serde(rename = "Network")]
        pub network: String,
    }
}

model! {
    /// `GET /networks/{id}` and the entries of `GET /networks`.
    pub struct NetworkResource {
        #[serde(rename = "Name")]
        pub name: String,
        #[serde(rename = "Id")]
        pub id: String,
        /// RFC 3339 with nanoseconds.
        #[serde(rename = "Created")]
        pub created: String,
        #[serde(rename = "Scope")]
        pub scope: String,
        #[serde(rename = "Driver")]
        pub driver: String,
        #[serde(rename = "EnableIPv6")]
        pub enable_ipv6: bool,
        #[serde(rename = "IPAM")]
        pub ipam: Ipam,
        #[serde(rename = "Internal")]
        pub internal: bool,
        #[serde(rename = "Attachable")]
        pub attachable: bool,
        #[serde(rename = "Ingress")]
        pub ingress: bool,
        #[serde(rename = "ConfigFrom")]
        pub config_from: ConfigReference,
        #[serde(rename = "ConfigOnly")]
        pub config_only: bool,
        #[serde(rename = "Containers")]
        pub containers: BTreeMap<String, NetworkContainer>,
        #[serde(rename = "Options")]
        pub options: BTreeMap<String, String>,
        #[serde(rename = "Labels")]
        pub labels: BTreeMap<String, String>,
    }
}

model! {
    /// Body of `POST /networks/create`.
    pub struct NetworkCreateRequest {
        #[serde(rename = "Name")]
        pub name: String,
        #[serde(rename = "CheckDuplicate")]
        pub check_duplicate: Option<bool>,
        #[serde(rename = "Driver")]
        pub driver: String,
        #[serde(rename = "Scope")]
        pub scope: String,
        #[serde(rename = "Internal")]
        pub internal: bool,
        #[serde(rename = "Attachable")]
        pub attachable: bool,
        #[serde(rename = "Ingress")]
        pub ingress: bool,
        #[serde(rename = "ConfigOnly")]
        pub config_only: bool,
        #[serde(rename = "ConfigFrom")]
        pub config_from: Option<ConfigReference>,
        #[serde(rename = "IPAM")]
        pub ipam: Option<Ipam>,
        #[serde(rename = "EnableIPv6")]
        pub enable_ipv6: Option<bool>,
        #[serde(rename = "Options")]
        pub options: Option<BTreeMap<String, String>>,
        #[serde(rename = "Labels")]
        pub labels: Option<BTreeMap<String, String>>,
    }
}

model! {
    /// Reply of `POST /networks/create`.
    pub struct NetworkCreateResponse {
        #[serde(rename = "Id")]
        pub id: String,
        #[serde(rename = "Warning")]
        pub warning: String,
    }
}

model! {
    /// Body of `POST /networks/{id}/connect`.
    pub struct NetworkConnectRequest {
        #[serde(rename = "Container")]
        pub container: String,
        #[serde(rename = "EndpointConfig")]
        pub endpoint_config: Option<EndpointSettings>,
    }
}

model! {
    /// Body of `POST /networks/{id}/disconnect`.
    pub struct NetworkDisconnectRequest {
        #[serde(rename = "Container")]
        pub container: String,
        #[serde(rename = "Force")]
        pub force: bool,
    }
}

model! {
    /// Reply of `POST /networks/prune`.
    pub struct NetworkPruneResponse {
        #[serde(rename = "NetworksDeleted")]
        pub networks_deleted: Option<Vec<String>>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_tolerates_nulls_strings_and_unknown_fields() {
        let body = r#"{"Image":"busybox","Cmd":"echo hi","Entrypoint":null,"Env":null,
            "Labels":null,"Bogus":1,"Tty":null,
            "HostConfig":{"Memory":1048576,"CapAdd":"NET_ADMIN","Binds":null,
               "RestartPolicy":null,"PidsLimit":null,"Ulimits":[{"Name":"nofile","Soft":1,"Hard":2}]},
            "NetworkingConfig":null}"#;
        let req: CreateRequest = serde_json::from_str(body).unwrap();
        assert_eq!(req.config.image, "busybox");
        assert_eq!(req.config.cmd, Some(vec!["echo hi".to_string()]));
        assert_eq!(req.config.entrypoint, None);
        assert!(!req.config.tty);
        assert_eq!(req.host_config.resources.memory, 1_048_576);
        assert_eq!(req.host_config.cap_add, Some(vec!["NET_ADMIN".to_string()]));
        assert_eq!(
            req.host_config.resources.ulimits.as_ref().unwrap()[0].hard,
            2
        );
        assert_eq!(req.host_config.restart_policy, RestartPolicy::default());
    }

    #[test]
    fn inspect_serializes_every_docker_field() {
        let v = serde_json::to_value(ContainerInspect::default()).unwrap();
        // Docker's nil values are present as null, not missing.
        assert!(v.get("ExecIDs").unwrap().is_null());
        assert!(v["HostConfig"].get("Binds").unwrap().is_null());
        assert!(v["HostConfig"].get("PidsLimit").unwrap().is_null());
        assert_eq!(v["HostConfig"]["Memory"], 0);
        assert_eq!(v["HostConfig"]["LogConfig"]["Type"], "");
        assert!(v["Config"].get("Cmd").unwrap().is_null());
        assert!(v["Config"].get("Env").unwrap().is_null());
        assert_eq!(v["State"]["OOMKilled"], false);
        assert!(v["NetworkSettings"]["Networks"].is_object());
        // omitempty fields of Docker are left out.
        assert!(v["Config"].get("StopSignal").is_none());
        assert!(v["HostConfig"].get("Init").is_none());
        assert!(v.get("SizeRw").is_none());
    }

    #[test]
    fn summary_and_errors_have_docker_names() {
        let s = ContainerSummary {
            names: vec!["/web".into()],
            ..Default::default()
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["Names"][0], "/web");
        assert!(v["HostConfig"].get("NetworkMode").is_some());
        let e = serde_json::to_string(&ErrorResponse {
            message: "x".into(),
        })
        .unwrap();
        assert_eq!(e, r#"{"message":"x"}"#);
        let p = serde_json::to_value(Port {
            private_port: 80,
            kind: "tcp".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(p, serde_json::json!({"PrivatePort":80,"Type":"tcp"}));
    }

    #[test]
    fn update_wait_and_exec_bodies() {
        let u: UpdateRequest = serde_json::from_str(
            r#"{"Memory":67108864,"CpuShares":512,"RestartPolicy":{"Name":"always"},"PidsLimit":null}"#,
        )
        .unwrap();
        assert_eq!(u.resources.memory, 64 << 20);
        assert_eq!(u.resources.cpu_shares, 512);
        assert_eq!(u.restart_policy.unwrap().name, "always");
        let w = serde_json::to_string(&ContainerWaitResponse::default()).unwrap();
        assert_eq!(w, r#"{"StatusCode":0,"Error":null}"#);
        let x: ExecConfig =
            serde_json::from_str(r#"{"Cmd":["ls"],"Tty":null,"Env":null,"AttachStdout":true}"#)
                .unwrap();
        assert_eq!(x.cmd, Some(vec!["ls".to_string()]));
        assert!(x.attach_stdout && !x.tty);
        let i = serde_json::to_value(ExecInspect::default()).unwrap();
        assert!(i["ExitCode"].is_null());
        assert_eq!(i["ProcessConfig"]["arguments"], serde_json::json!([]));
    }

    #[test]
    fn stats_and_df_shapes() {
        let s = serde_json::to_value(ContainerStats::default()).unwrap();
        for k in [
            "read",
            "preread",
            "pids_stats",
            "blkio_stats",
            "cpu_stats",
            "precpu_stats",
            "memory_stats",
            "name",
            "id",
        ] {
            assert!(s.get(k).is_some(), "{k}");
        }
        assert!(s.get("networks").is_none());
        assert!(s["cpu_stats"]["cpu_usage"].get("total_usage").is_some());
        let d = serde_json::to_value(DiskUsage::default()).unwrap();
        assert_eq!(d["Volumes"], serde_json::json!([]));
        assert_eq!(d["LayersSize"], 0);
    }

    #[test]
    fn exposed_ports_round_trip_as_empty_objects() {
        let c: ContainerConfig =
            serde_json::from_str(r#"{"ExposedPorts":{"80/tcp":{}},"Volumes":{"/data":null}}"#)
                .unwrap();
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["ExposedPorts"], serde_json::json!({"80/tcp":{}}));
        assert_eq!(v["Volumes"], serde_json::json!({"/data":{}}));
    }
}
