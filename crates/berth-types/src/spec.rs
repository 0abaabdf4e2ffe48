//! The container spec: everything the runtime needs to turn a container into a running
//! process, and nothing about the daemon.
//!
//! The engine writes it as `spec.json` into the container's bundle directory; the shim
//! reads it and hands it to `berth-runtime`. It plays the role of an OCI `config.json`,
//! trimmed to what Berth uses, so it stays small and cheap to parse on the start path.
//! Paths that live on the host (`rootfs`, mount sources, `seccomp_profile`) are absolute
//! host paths; `target`s and `cwd` are paths inside the container.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A whole container: root filesystem, process, isolation and limits.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ContainerSpec {
    /// Full 64-hex container id.
    pub id: String,
    pub rootfs: Rootfs,
    /// Mount the root filesystem read-only (`--read-only`).
    pub readonly_rootfs: bool,
    pub process: ProcessSpec,
    /// Container hostname (`-h`, default the 12-char id). Ignored when UTS is shared.
    pub hostname: String,
    /// Optional NIS domain name (`--domainname`).
    pub domainname: String,
    pub namespaces: Namespaces,
    /// Extra mounts, applied in order after /proc, /sys, /dev. Includes the engine-made
    /// `/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf` bind mounts.
    pub mounts: Vec<Mount>,
    /// Paths masked inside the container (Docker's list unless privileged).
    pub masked_paths: Vec<String>,
    /// Paths re-mounted read-only (Docker's list unless privileged).
    pub readonly_paths: Vec<String>,
    /// Device nodes created in /dev beyond the standard set (`--device`).
    pub devices: Vec<Device>,
    /// Privileged: all capabilities, no seccomp, no masked/readonly paths, all devices.
    pub privileged: bool,
    /// Resource limits and where the cgroup lives.
    pub cgroup: CgroupSpec,
    /// `--sysctl` values written under /proc/sys inside the container.
    pub sysctls: BTreeMap<String, String>,
    /// Run a tiny init as PID 1 that reaps zombies and forwards signals (`--init`).
    pub init: bool,
    /// `--oom-score-adj`.
    pub oom_score_adj: Option<i32>,
    /// `--shm-size` in bytes for /dev/shm (Docker default 64 MiB).
    pub shm_size: u64,
}

/// How the root filesystem is assembled.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Rootfs {
    /// overlayfs of read-only image layers (top-most first, as overlay's `lowerdir` wants)
    /// under a writable container layer. Mounted by the runtime inside the container's
    /// mount namespace, so it vanishes with the container and never leaks on the host.
    Overlay {
        lower: Vec<String>,
        upper: String,
        work: String,
    },
    /// An already prepared directory (tests, `--rootfs`-style use).
    Path { path: String },
}

impl Default for Rootfs {
    fn default() -> Self {
        Rootfs::Path {
            path: String::new(),
        }
    }
}

/// The process to run: the container's PID 1, or an exec'd process.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ProcessSpec {
    /// argv; `args[0]` is looked up in PATH inside the container when it has no `/`.
    pub args: Vec<String>,
    /// `KEY=VALUE`, final (defaults such as PATH/HOSTNAME/TERM already added by the engine).
    pub env: Vec<String>,
    /// Working directory inside the container; created if missing (Docker does).
    pub cwd: String,
    /// The user as given (`-u`): `name`, `uid`, `uid:gid`, `name:group`; empty = root.
    /// Resolved by the runtime against the container's /etc/passwd and /etc/group.
    pub user: String,
    /// Supplementary groups (`--group-add`), names or numbers.
    pub additional_groups: Vec<String>,
    /// Allocate a pseudo-terminal (`-t`).
    pub terminal: bool,
    /// Capabilities kept (names like `CAP_CHOWN`); the engine computes Docker's default
    /// set with `--cap-add/--cap-drop` applied, or all of them when privileged.
    pub capabilities: Vec<String>,
    pub no_new_privileges: bool,
    /// `--ulimit`: only these are set (this sandbox refuses raising some).
    pub rlimits: Vec<Rlimit>,
    /// Seccomp profile in Docker's JSON format (absolute host path); None = unconfined.
    pub seccomp_profile: Option<String>,
    /// Terminal size to set on the pty before the process starts.
    pub console_size: Option<(u16, u16)>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Rlimit {
    /// Name as `--ulimit` takes it: `nofile`, `nproc`, `core`, …
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

/// Which namespaces to create, join, or share with the host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Namespaces {
    pub mount: NsMode,
    pub uts: NsMode,
    pub ipc: NsMode,
    pub pid: NsMode,
    pub net: NsMode,
    pub user: NsMode,
    pub cgroup: NsMode,
    /// uid/gid maps when `user` is `New` (container id, host id, size).
    pub uid_map: Vec<(u32, u32, u32)>,
    pub gid_map: Vec<(u32, u32, u32)>,
}

impl Default for Namespaces {
    fn default() -> Self {
        Namespaces {
            mount: NsMode::New,
            uts: NsMode::New,
            ipc: NsMode::New,
            pid: NsMode::New,
            net: NsMode::New,
            user: NsMode::Host,
            cgroup: NsMode::Host,
            uid_map: Vec::new(),
            gid_map: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(tag = "mode", content = "path", rename_all = "lowercase")]
pub enum NsMode {
    /// A fresh namespace.
    #[default]
    New,
    /// Share the host's (`--network host`, `--pid host`, …).
    Host,
    /// Join an existing one: a `/proc/<pid>/ns/<kind>` or bind-mounted ns path.
    Join(String),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Mount {
    /// Host path for binds, fs type source otherwise (`tmpfs`, `proc`, …).
    pub source: String,
    /// Path inside the container. Resolved inside the rootfs: symlinks never lead out.
    pub target: String,
    /// `bind`, `tmpfs`, … (`bind` covers volumes too: they are bind mounts).
    pub fstype: String,
    /// fstab-style options: `ro`, `rbind`, `nosuid`, `nodev`, `noexec`, `size=…`,
    /// `mode=…`, propagation (`rprivate`, `rshared`, `rslave`, …).
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Device {
    /// Path inside the container, e.g. `/dev/fuse`.
    pub path: String,
    /// `c` or `b`.
    pub kind: char,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Where the container's cgroup is and what limits it carries.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct CgroupSpec {
    /// Path relative to each hierarchy's root (v1: per controller; v2: the unified tree),
    /// e.g. `berth/<id>`. The runtime creates it and moves the container into it.
    pub path: String,
    pub resources: Resources,
    /// Where the host mounts its cgroup hierarchies, as the engine found them at its
    /// start; `None`: the runtime reads the mount table itself. Reading it took
    /// ~0.2 ms in each container's start and again at its exit.
    pub mounts: Option<CgroupMounts>,
}

/// The host's cgroup mounts (see `berth_cgroups::Hierarchy`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct CgroupMounts {
    /// Where the hierarchies were found (`/sys/fs/cgroup`).
    pub root: String,
    /// v1 controller name → mount directory (co-mounted controllers share one).
    pub v1: BTreeMap<String, String>,
    /// The v2 tree: the root itself on a pure v2 host, `<root>/unified` on a hybrid one.
    pub unified: Option<String>,
}

/// Limits as `docker run`/`docker update` take them. None = not set (kernel default).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Resources {
    /// Bytes (`--memory`).
    pub memory: Option<i64>,
    /// Memory + swap in bytes (`--memory-swap`); -1 = unlimited swap.
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    /// `--cpu-shares` (v1 shares; converted to cpu.weight on v2).
    pub cpu_shares: Option<u64>,
    /// `--cpu-period` in µs.
    pub cpu_period: Option<u64>,
    /// `--cpu-quota` in µs (-1 = unlimited).
    pub cpu_quota: Option<i64>,
    /// `--cpus` as nano-CPUs (1e9 = one CPU); converted to quota/period.
    pub nano_cpus: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// `--pids-limit`; -1 or 0 = unlimited.
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
}

/// What `berth exec` runs: a process joined to a running container.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ExecSpec {
    /// Container id (for error messages).
    pub container_id: String,
    /// PID (host view) of the container's init, whose namespaces are joined.
    pub target_pid: i32,
    /// The container's cgroup path (relative, as in [`CgroupSpec::path`]).
    pub cgroup_path: String,
    pub process: ProcessSpec,
    pub privileged: bool,
}
