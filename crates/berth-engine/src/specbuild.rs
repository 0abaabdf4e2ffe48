//! Pure translation of a container's Docker configuration into the runtime's
//! [`ContainerSpec`] pieces: capabilities, security options, resources, environment,
//! ulimits, namespaces and mounts. No I/O here, so every rule is unit-tested.
//!
//! The engine's start path (`lifecycle.rs`) gathers the inputs (image layers, paths of
//! the hostname/hosts/resolv.conf files, pids of containers whose namespaces are
//! joined) and calls [`build_spec`].

use crate::defaults::{ALL_CAPS, DEFAULT_CAPS, DEFAULT_PATH, DEFAULT_SHM_SIZE, MIN_MEMORY};
use crate::error::{EngineError, Result};
use crate::record::ContainerRecord;
use berth_types::docker::{DeviceMapping, HostConfig, MountSpec};
use berth_types::spec::{
    CgroupSpec, ContainerSpec, Device, Mount, Namespaces, NsMode, ProcessSpec, Resources, Rlimit,
    Rootfs,
};

/// Normalizes `--cap-add/--cap-drop` entries: upper case, `CAP_` prefix, `ALL` kept.
/// Unknown names fail with Docker's `unknown capability: "CAP_FOO"`.
pub fn normalize_caps(list: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for c in list {
        let up = c.trim().to_ascii_uppercase();
        if up.is_empty() {
            continue;
        }
        let name = if up == "ALL" || up.starts_with("CAP_") {
            up
        } else {
            format!("CAP_{up}")
        };
        if name != "ALL" && !ALL_CAPS.contains(&name.as_str()) {
            return Err(EngineError::invalid(format!(
                "unknown capability: \"{name}\""
            )));
        }
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}

/// Docker's capability rule: privileged gets all; `ALL` in adds gives all minus drops;
/// `ALL` in drops gives only the adds; otherwise defaults minus drops plus adds.
pub fn tweak_caps(adds: &[String], drops: &[String], privileged: bool) -> Result<Vec<String>> {
    let all = || ALL_CAPS.iter().map(|s| s.to_string());
    if privileged {
        return Ok(all().collect());
    }
    let adds = normalize_caps(adds)?;
    let drops = normalize_caps(drops)?;
    let has = |l: &[String], c: &str| l.iter().any(|x| x == c);
    let caps: Vec<String> = if has(&adds, "ALL") {
        all().filter(|c| !has(&drops, c)).collect()
    } else if has(&drops, "ALL") {
        adds.into_iter().filter(|c| c != "ALL").collect()
    } else {
        let mut caps: Vec<String> = DEFAULT_CAPS
            .iter()
            .map(|s| s.to_string())
            .filter(|c| !has(&drops, c))
            .collect();
        for a in adds {
            if !caps.contains(&a) {
                caps.push(a);
            }
        }
        caps
    };
    Ok(caps)
}

/// Which seccomp profile a container runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seccomp {
    /// The daemon's default profile.
    Default,
    /// `seccomp=unconfined`.
    Unconfined,
    /// A profile given inline (the docker CLI sends the file's JSON content).
    Inline(String),
    /// A path on the daemon host.
    File(String),
}

/// The parsed `SecurityOpt` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityOpts {
    pub seccomp: Seccomp,
    pub no_new_privileges: bool,
    pub apparmor: String,
}

/// Parses `SecurityOpt` like Docker: `no-new-privileges[=bool]`, `seccomp=…`,
/// `apparmor=…`, `label=…` (accepted, ignored); `:` works as a separator too.
pub fn parse_security_opts(opts: &[String]) -> Result<SecurityOpts> {
    let mut out = SecurityOpts {
        seccomp: Seccomp::Default,
        no_new_privileges: false,
        apparmor: String::new(),
    };
    for opt in opts {
        if opt == "no-new-privileges" {
            out.no_new_privileges = true;
            continue;
        }
        if opt == "disable" {
            continue;
        }
        let split = if opt.contains('=') {
            opt.split_once('=')
        } else {
            opt.split_once(':')
        };
        let Some((k, v)) = split else {
            return Err(EngineError::invalid(format!(
                "invalid --security-opt 1: {opt:?}"
            )));
        };
        match k {
            "label" => {}
            "apparmor" => out.apparmor = v.to_string(),
            "seccomp" => {
                out.seccomp = match v {
                    "unconfined" => Seccomp::Unconfined,
                    "builtin" | "" => Seccomp::Default,
                    v if v.trim_start().starts_with('{') => Seccomp::Inline(v.to_string()),
                    v => Seccomp::File(v.to_string()),
                }
            }
            "no-new-privileges" => {
                out.no_new_privileges = parse_go_bool(v).ok_or_else(|| {
                    EngineError::invalid(format!("invalid --security-opt 2: {opt:?}"))
                })?
            }
            _ => {
                return Err(EngineError::invalid(format!(
                    "invalid --security-opt 2: {opt:?}"
                )))
            }
        }
    }
    Ok(out)
}

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// The runtime's resource limits from Docker's. When only `Memory` is set, swap defaults
/// to twice the memory (Docker's rule), so the container gets as much swap as memory.
pub fn resources(hc: &HostConfig) -> Resources {
    let r = &hc.resources;
    let pos = |v: i64| (v > 0).then_some(v);
    let memory_swap = match (r.memory, r.memory_swap) {
        (m, 0) if m > 0 => Some(m * 2),
        (_, 0) => None,
        (_, s) => Some(s),
    };
    Resources {
        memory: pos(r.memory),
        memory_swap,
        memory_reservation: pos(r.memory_reservation),
        cpu_shares: pos(r.cpu_shares).map(|v| v as u64),
        cpu_period: pos(r.cpu_period).map(|v| v as u64),
        cpu_quota: (r.cpu_quota != 0).then_some(r.cpu_quota),
        nano_cpus: pos(r.nano_cpus),
        cpuset_cpus: (!r.cpuset_cpus.is_empty()).then(|| r.cpuset_cpus.clone()),
        cpuset_mems: (!r.cpuset_mems.is_empty()).then(|| r.cpuset_mems.clone()),
        pids_limit: r.pids_limit.filter(|v| *v != 0),
        blkio_weight: (r.blkio_weight > 0).then_some(r.blkio_weight),
    }
}

/// Checks the resource values the way Docker does at create and update.
pub fn validate_resources(r: &berth_types::docker::Resources) -> Result<()> {
    if r.memory > 0 && r.memory < MIN_MEMORY {
        return Err(EngineError::invalid("Minimum memory limit allowed is 6MB"));
    }
    if r.memory > 0 && r.memory_swap > 0 && r.memory_swap < r.memory {
        return Err(EngineError::invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if r.memory == 0 && r.memory_swap > 0 {
        return Err(EngineError::invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    if r.memory_reservation > 0 && r.memory > 0 && r.memory < r.memory_reservation {
        return Err(EngineError::invalid(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    if r.nano_cpus > 0 && r.cpu_period > 0 {
        return Err(EngineError::invalid(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if r.nano_cpus > 0 && r.cpu_quota > 0 {
        return Err(EngineError::invalid(
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ));
    }
    if r.nano_cpus < 0 {
        return Err(EngineError::invalid(
            "Range of CPUs is from 0.01 to the number of CPUs",
        ));
    }
    if r.cpu_period != 0 && !(1000..=1_000_000).contains(&r.cpu_period) {
        return Err(EngineError::invalid(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if r.cpu_quota > 0 && r.cpu_quota < 1000 {
        return Err(EngineError::invalid(
            "CPU cfs quota can not be less than 1ms (i.e. 1000)",
        ));
    }
    if r.blkio_weight > 0 && !(10..=1000).contains(&r.blkio_weight) {
        return Err(EngineError::invalid(
            "Range of blkio weight is from 10 to 1000",
        ));
    }
    if let Some(s) = r.memory_swappiness {
        if !(-1..=100).contains(&s) {
            return Err(EngineError::invalid(format!(
                "Invalid value: {s}, valid memory swappiness range is 0-100"
            )));
        }
    }
    Ok(())
}

/// The process environment: Docker's defaults (`PATH`, `HOSTNAME`, `TERM` with a tty)
/// with the container's `Env` replacing same-named entries in place and appending the
/// rest.
pub fn build_env(config_env: &[String], hostname: &str, tty: bool) -> Vec<String> {
    let mut env = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={hostname}"),
    ];
    if tty {
        env.push("TERM=xterm".into());
    }
    replace_or_append_env(&mut env, config_env);
    env
}

/// Docker's `ReplaceOrAppendEnvValues`: an override `K=V` replaces `K=…` in place; a bare
/// `K` (no `=`) removes `K`.
pub fn replace_or_append_env(env: &mut Vec<String>, overrides: &[String]) {
    for o in overrides {
        let key = o.split('=').next().unwrap_or(o);
        let pos = env.iter().position(|e| e.split('=').next() == Some(key));
        match (pos, o.contains('=')) {
            (Some(i), true) => env[i] = o.clone(),
            (Some(i), false) => {
                env.remove(i);
            }
            (None, true) => env.push(o.clone()),
            (None, false) => {}
        }
    }
}

/// `Ulimits` → rlimits; negative values mean unlimited.
pub fn rlimits(hc: &HostConfig) -> Vec<Rlimit> {
    let conv = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
    hc.resources
        .ulimits
        .iter()
        .flatten()
        .map(|u| Rlimit {
            name: u.name.clone(),
            soft: conv(u.soft),
            hard: conv(u.hard),
        })
        .collect()
}

/// A namespace mode from a Docker mode string (`host`, `container:<x>`, `private`, …).
/// `join` resolves a `container:<x>` reference to that container's init pid.
pub fn ns_mode(mode: &str, kind: &str, join: &dyn Fn(&str) -> Result<i32>) -> Result<NsMode> {
    if mode == "host" {
        return Ok(NsMode::Host);
    }
    if let Some(target) = mode.strip_prefix("container:") {
        let pid = join(target)?;
        return Ok(NsMode::Join(format!("/proc/{pid}/ns/{kind}")));
    }
    Ok(NsMode::New)
}

/// Parses one `Binds` entry `src:dst[:opts]` of a host path, for records written before
/// mounts were resolved at create (new containers go through volumes.rs, which also
/// handles named volumes).
pub fn parse_bind(bind: &str) -> Result<Mount> {
    let parts: Vec<&str> = bind.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        _ => {
            return Err(EngineError::invalid(format!(
                "invalid volume specification: '{bind}'"
            )))
        }
    };
    if !dst.starts_with('/') {
        return Err(EngineError::invalid(format!(
            "invalid volume specification: '{bind}': invalid mount config for type \"bind\": invalid mount path: '{dst}' mount path must be absolute"
        )));
    }
    if !src.starts_with('/') {
        return Err(EngineError::invalid(format!(
            "invalid volume specification: '{bind}': named volumes are not supported yet"
        )));
    }
    let mut options = vec!["rbind".to_string()];
    let mut propagation = "rprivate".to_string();
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" | "rw" => options.push(o.into()),
            "z" | "Z" | "nocopy" | "consistent" | "cached" | "delegated" => {}
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                propagation = o.into()
            }
            _ => return Err(EngineError::invalid(format!("invalid mode: {o}"))),
        }
    }
    options.push(propagation);
    Ok(Mount {
        source: src.into(),
        target: dst.into(),
        fstype: "bind".into(),
        options,
    })
}

/// A `--mount` entry (`HostConfig.Mounts`) of type `bind` or `tmpfs`, for records written
/// before mounts were resolved at create (new containers go through volumes.rs).
pub fn mount_spec(m: &MountSpec) -> Result<Mount> {
    let invalid = |msg: String| {
        EngineError::invalid(format!(
            "invalid mount config for type \"{}\": {msg}",
            m.kind
        ))
    };
    if !m.target.starts_with('/') {
        return Err(invalid(format!(
            "invalid mount path: '{}' mount path must be absolute",
            m.target
        )));
    }
    match m.kind.as_str() {
        "bind" => {
            if !m.source.starts_with('/') {
                return Err(invalid(format!(
                    "invalid mount path: '{}' mount path must be absolute",
                    m.source
                )));
            }
            if std::fs::metadata(&m.source).is_err() {
                return Err(invalid(format!(
                    "bind source path does not exist: {}",
                    m.source
                )));
            }
            let mut options = vec!["rbind".to_string()];
            if m.read_only {
                options.push("ro".into());
            }
            let prop = m
                .bind_options
                .as_ref()
                .and_then(|b| b.get("Propagation"))
                .and_then(|p| p.as_str())
                .filter(|p| !p.is_empty())
                .unwrap_or("rprivate");
            options.push(prop.to_string());
            Ok(Mount {
                source: m.source.clone(),
                target: m.target.clone(),
                fstype: "bind".into(),
                options,
            })
        }
        "tmpfs" => {
            if !m.source.is_empty() {
                return Err(invalid("source must not be specified".into()));
            }
            let mut options = vec!["nosuid".to_string(), "nodev".into(), "noexec".into()];
            if m.read_only {
                options.push("ro".into());
            }
            if let Some(t) = &m.tmpfs_options {
                if let Some(size) = t
                    .get("SizeBytes")
                    .and_then(|v| v.as_i64())
                    .filter(|v| *v > 0)
                {
                    options.push(format!("size={size}"));
                }
                if let Some(mode) = t.get("Mode").and_then(|v| v.as_u64()).filter(|v| *v > 0) {
                    options.push(format!("mode={:o}", mode & 0o7777));
                }
            }
            Ok(Mount {
                source: "tmpfs".into(),
                target: m.target.clone(),
                fstype: "tmpfs".into(),
                options,
            })
        }
        "volume" => Err(EngineError::invalid(format!(
            "invalid mount config for type \"volume\": named volumes are not supported yet ({})",
            m.source
        ))),
        other => Err(EngineError::invalid(format!(
            "mount type unknown: \"{other}\""
        ))),
    }
}

/// `--device host[:container[:perms]]` entries → device nodes for the runtime, from the
/// host node's type and numbers.
pub fn devices(list: &[DeviceMapping]) -> Result<Vec<Device>> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = Vec::new();
    for d in list {
        let err = |why: &str| {
            EngineError::invalid(format!(
                "error gathering device information while adding custom device \"{}\": {why}",
                d.path_on_host
            ))
        };
        let md =
            std::fs::metadata(&d.path_on_host).map_err(|_| err("no such file or directory"))?;
        let kind = if md.file_type().is_char_device() {
            'c'
        } else if md.file_type().is_block_device() {
            'b'
        } else {
            return Err(err("not a device node"));
        };
        let rdev = md.rdev();
        let path = if d.path_in_container.is_empty() {
            d.path_on_host.clone()
        } else {
            d.path_in_container.clone()
        };
        out.push(Device {
            path,
            kind,
            major: nix::sys::stat::major(rdev),
            minor: nix::sys::stat::minor(rdev),
            mode: md.mode() & 0o777,
            uid: 0,
            gid: 0,
        });
    }
    Ok(out)
}

/// Everything [`build_spec`] needs besides the record.
#[derive(Debug, Clone, Default)]
pub struct SpecInputs {
    /// Image layer dirs, top-most first.
    pub lower: Vec<String>,
    pub upper: String,
    pub work: String,
    pub hostname_path: String,
    pub hosts_path: String,
    pub resolv_conf_path: String,
    /// Seccomp profile path to use (already resolved from the security options), or None.
    pub seccomp_profile: Option<String>,
    pub cgroup_path: String,
    /// The host's cgroup mounts as the engine found them (passed on to the runtime).
    pub cgroup_mounts: Option<berth_types::spec::CgroupMounts>,
    pub namespaces: Namespaces,
    /// The container's mounts as resolved at create and activated at start (volumes.rs);
    /// `None` derives them from the host config (records made before mounts were resolved).
    pub mounts: Option<Vec<Mount>>,
}

/// The container's hostname: `-h`, else the first 12 characters of the id.
pub fn hostname_of(rec: &ContainerRecord) -> String {
    if rec.config.hostname.is_empty() {
        rec.id.chars().take(12).collect()
    } else {
        rec.config.hostname.clone()
    }
}

/// Builds the runtime spec of a container.
pub fn build_spec(rec: &ContainerRecord, inp: SpecInputs) -> Result<ContainerSpec> {
    let hc = &rec.host_config;
    let cfg = &rec.config;
    let hostname = hostname_of(rec);
    let sec = parse_security_opts(hc.security_opt.as_deref().unwrap_or_default())?;
    let capabilities = tweak_caps(
        hc.cap_add.as_deref().unwrap_or_default(),
        hc.cap_drop.as_deref().unwrap_or_default(),
        hc.privileged,
    )?;
    let mut args = vec![rec.path.clone()];
    args.extend(rec.args.iter().cloned());

    // The engine-made files go first, so user binds on the same targets win.
    let rw = if hc.readonly_rootfs { "ro" } else { "rw" };
    let mut mounts = Vec::new();
    for (src, dst) in [
        (&inp.resolv_conf_path, "/etc/resolv.conf"),
        (&inp.hostname_path, "/etc/hostname"),
        (&inp.hosts_path, "/etc/hosts"),
    ] {
        mounts.push(Mount {
            source: src.clone(),
            target: dst.into(),
            fstype: "bind".into(),
            options: vec!["rbind".into(), "rprivate".into(), rw.into()],
        });
    }
    let resolved = inp.mounts.is_some();
    mounts.extend(inp.mounts.into_iter().flatten());
    for b in hc.binds.iter().flatten().filter(|_| !resolved) {
        mounts.push(parse_bind(b)?);
    }
    for m in hc.mounts.iter().flatten().filter(|_| !resolved) {
        mounts.push(mount_spec(m)?);
    }
    for (target, opts) in hc.tmpfs.iter().flatten().filter(|_| !resolved) {
        let mut options = vec!["nosuid".to_string(), "nodev".into(), "noexec".into()];
        options.extend(opts.split(',').filter(|o| !o.is_empty()).map(String::from));
        mounts.push(Mount {
            source: "tmpfs".into(),
            target: target.clone(),
            fstype: "tmpfs".into(),
            options,
        });
    }

    let shm = if hc.shm_size > 0 {
        hc.shm_size
    } else {
        DEFAULT_SHM_SIZE
    };
    Ok(ContainerSpec {
        id: rec.id.clone(),
        rootfs: Rootfs::Overlay {
            lower: inp.lower,
            upper: inp.upper,
            work: inp.work,
        },
        readonly_rootfs: hc.readonly_rootfs,
        process: ProcessSpec {
            args,
            env: build_env(cfg.env.as_deref().unwrap_or_default(), &hostname, cfg.tty),
            cwd: if cfg.working_dir.is_empty() {
                "/".into()
            } else {
                cfg.working_dir.clone()
            },
            user: cfg.user.clone(),
            additional_groups: hc.group_add.clone().unwrap_or_default(),
            terminal: cfg.tty,
            capabilities,
            no_new_privileges: sec.no_new_privileges,
            rlimits: rlimits(hc),
            seccomp_profile: if hc.privileged {
                None
            } else {
                inp.seccomp_profile
            },
            console_size: hc
                .console_size
                .filter(|[h, w]| *h > 0 && *w > 0)
                .map(|[h, w]| (h.min(u16::MAX as u32) as u16, w.min(u16::MAX as u32) as u16)),
        },
        hostname,
        domainname: cfg.domainname.clone(),
        namespaces: inp.namespaces,
        mounts,
        masked_paths: if hc.privileged {
            vec![]
        } else {
            hc.masked_paths.clone().unwrap_or_default()
        },
        readonly_paths: if hc.privileged {
            vec![]
        } else {
            hc.readonly_paths.clone().unwrap_or_default()
        },
        devices: devices(hc.resources.devices.as_deref().unwrap_or_default())?,
        privileged: hc.privileged,
        cgroup: CgroupSpec {
            path: inp.cgroup_path,
            resources: resources(hc),
            mounts: inp.cgroup_mounts,
        },
        sysctls: hc.sysctls.clone().unwrap_or_default(),
        init: hc.init.unwrap_or(false),
        oom_score_adj: (hc.oom_score_adj != 0).then_some(hc.oom_score_adj as i32),
        shm_size: shm as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_types::docker::Ulimit;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn caps_default_add_drop_all() {
        let d = tweak_caps(&[], &[], false).unwrap();
        assert_eq!(d.len(), 14);
        assert_eq!(d[0], "CAP_CHOWN");

        let c = tweak_caps(
            &s(&["net_admin", "CAP_SYS_ADMIN"]),
            &s(&["chown", "CAP_KILL"]),
            false,
        )
        .unwrap();
        assert!(c.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(c.contains(&"CAP_SYS_ADMIN".to_string()));
        assert!(!c.contains(&"CAP_CHOWN".to_string()));
        assert!(!c.contains(&"CAP_KILL".to_string()));
        assert_eq!(c.len(), 14);

        let all = tweak_caps(&s(&["ALL"]), &s(&["MKNOD"]), false).unwrap();
        assert_eq!(all.len(), ALL_CAPS.len() - 1);
        assert!(!all.contains(&"CAP_MKNOD".to_string()));

        let none = tweak_caps(&s(&["chown"]), &s(&["all"]), false).unwrap();
        assert_eq!(none, s(&["CAP_CHOWN"]));

        assert_eq!(
            tweak_caps(&[], &s(&["ALL"]), true).unwrap().len(),
            ALL_CAPS.len()
        );

        let e = tweak_caps(&s(&["foo"]), &[], false).unwrap_err();
        assert_eq!(e.message, "unknown capability: \"CAP_FOO\"");
    }

    #[test]
    fn memory_swap_defaults_to_twice_memory() {
        let mut hc = HostConfig::default();
        hc.resources.memory = 64 << 20;
        assert_eq!(resources(&hc).memory_swap, Some(128 << 20));
        hc.resources.memory_swap = -1;
        assert_eq!(resources(&hc).memory_swap, Some(-1));
        hc.resources.memory_swap = 100 << 20;
        assert_eq!(resources(&hc).memory_swap, Some(100 << 20));
        let empty = resources(&HostConfig::default());
        assert_eq!(empty, Resources::default());
        hc.resources.pids_limit = Some(0);
        assert_eq!(resources(&hc).pids_limit, None);
        hc.resources.pids_limit = Some(-1);
        assert_eq!(resources(&hc).pids_limit, Some(-1));
    }

    #[test]
    fn resource_validation_uses_docker_texts() {
        let mut r = berth_types::docker::Resources {
            memory: 1 << 20,
            ..Default::default()
        };
        assert_eq!(
            validate_resources(&r).unwrap_err().message,
            "Minimum memory limit allowed is 6MB"
        );
        r.memory = 64 << 20;
        r.memory_swap = 32 << 20;
        assert!(validate_resources(&r).is_err());
        r.memory_swap = -1;
        validate_resources(&r).unwrap();
        r.nano_cpus = 1_000_000_000;
        r.cpu_quota = 50000;
        assert!(validate_resources(&r)
            .unwrap_err()
            .message
            .contains("Nano CPUs"));
    }

    #[test]
    fn env_merge_puts_defaults_first_and_replaces() {
        let env = build_env(&s(&["FOO=1", "PATH=/bin"]), "abc", false);
        assert_eq!(env, s(&["PATH=/bin", "HOSTNAME=abc", "FOO=1"]));
        let env = build_env(&s(&["HOSTNAME=x"]), "abc", true);
        assert_eq!(
            env,
            s(&[&format!("PATH={DEFAULT_PATH}"), "HOSTNAME=x", "TERM=xterm"])
        );
        let mut e = s(&["A=1", "B=2"]);
        replace_or_append_env(&mut e, &s(&["A", "C=3"]));
        assert_eq!(e, s(&["B=2", "C=3"]));
    }

    #[test]
    fn security_opts() {
        let o = parse_security_opts(&s(&["seccomp=unconfined", "no-new-privileges"])).unwrap();
        assert_eq!(o.seccomp, Seccomp::Unconfined);
        assert!(o.no_new_privileges);
        let o = parse_security_opts(&s(&["no-new-privileges:true", "seccomp={\"a\":1}"])).unwrap();
        assert!(o.no_new_privileges);
        assert_eq!(o.seccomp, Seccomp::Inline("{\"a\":1}".into()));
        let o = parse_security_opts(&s(&["no-new-privileges=false", "seccomp=/p.json"])).unwrap();
        assert!(!o.no_new_privileges);
        assert_eq!(o.seccomp, Seccomp::File("/p.json".into()));
        assert_eq!(parse_security_opts(&[]).unwrap().seccomp, Seccomp::Default);
        let e = parse_security_opts(&s(&["bogus"])).unwrap_err();
        assert_eq!(e.message, "invalid --security-opt 1: \"bogus\"");
        assert!(parse_security_opts(&s(&["no-new-privileges=maybe"])).is_err());
    }

    #[test]
    fn spec_from_record() {
        let mut rec = ContainerRecord {
            id: "0123456789abcdef".repeat(4),
            path: "sh".into(),
            args: s(&["-c", "true"]),
            ..Default::default()
        };
        rec.config.env = Some(s(&["A=b"]));
        rec.host_config.security_opt = Some(s(&["no-new-privileges"]));
        rec.host_config.resources.ulimits = Some(vec![Ulimit {
            name: "nofile".into(),
            soft: 10,
            hard: -1,
        }]);
        rec.host_config.readonly_rootfs = true;
        rec.host_config.binds = Some(s(&["/srv:/data:ro"]));
        let spec = build_spec(
            &rec,
            SpecInputs {
                lower: s(&["/l1"]),
                seccomp_profile: Some("/prof.json".into()),
                cgroup_path: "berth/x".into(),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(spec.hostname, "0123456789ab");
        assert_eq!(spec.process.args, s(&["sh", "-c", "true"]));
        assert_eq!(spec.process.env[1], "HOSTNAME=0123456789ab");
        assert_eq!(spec.process.env[2], "A=b");
        assert!(spec.process.no_new_privileges);
        assert_eq!(spec.process.rlimits[0].hard, u64::MAX);
        assert_eq!(spec.process.seccomp_profile.as_deref(), Some("/prof.json"));
        assert_eq!(spec.process.cwd, "/");
        assert!(spec.readonly_rootfs);
        assert!(spec.mounts[0].options.contains(&"ro".to_string()));
        assert_eq!(spec.mounts[3].source, "/srv");
        assert_eq!(spec.mounts[3].options, s(&["rbind", "ro", "rprivate"]));
        assert_eq!(spec.shm_size, 64 << 20);
        rec.host_config.privileged = true;
        let spec = build_spec(&rec, SpecInputs::default()).unwrap();
        assert_eq!(spec.process.seccomp_profile, None);
        assert_eq!(spec.process.capabilities.len(), ALL_CAPS.len());
    }

    #[test]
    fn mount_specs_and_devices() {
        let m = MountSpec {
            kind: "bind".into(),
            source: "/tmp".into(),
            target: "/data".into(),
            read_only: true,
            ..Default::default()
        };
        let r = mount_spec(&m).unwrap();
        assert_eq!(r.options, s(&["rbind", "ro", "rprivate"]));
        let mut bad = m.clone();
        bad.source = "/nonexistent-berth-test".into();
        assert!(mount_spec(&bad)
            .unwrap_err()
            .message
            .contains("bind source path does not exist"));
        let t = MountSpec {
            kind: "tmpfs".into(),
            target: "/run".into(),
            tmpfs_options: Some(serde_json::json!({"SizeBytes": 65536, "Mode": 0o1777})),
            ..Default::default()
        };
        let r = mount_spec(&t).unwrap();
        assert_eq!(r.fstype, "tmpfs");
        assert!(r.options.contains(&"size=65536".to_string()));
        assert!(r.options.contains(&"mode=1777".to_string()));
        let v = MountSpec {
            kind: "volume".into(),
            target: "/v".into(),
            ..Default::default()
        };
        assert_eq!(
            mount_spec(&v).unwrap_err().kind,
            crate::ErrorKind::InvalidArgument
        );

        let d = devices(&[DeviceMapping {
            path_on_host: "/dev/null".into(),
            path_in_container: "/dev/mynull".into(),
            cgroup_permissions: "rwm".into(),
        }])
        .unwrap();
        assert_eq!((d[0].kind, d[0].major, d[0].minor), ('c', 1, 3));
        assert_eq!(d[0].path, "/dev/mynull");
        let e = devices(&[DeviceMapping {
            path_on_host: "/etc/hostname".into(),
            ..Default::default()
        }]);
        assert!(e.unwrap_err().message.ends_with("not a device node"));
    }

    #[test]
    fn namespace_modes() {
        let join = |x: &str| {
            if x == "c1" {
                Ok(42)
            } else {
                Err(EngineError::no_such_container(x))
            }
        };
        assert_eq!(ns_mode("host", "pid", &join).unwrap(), NsMode::Host);
        assert_eq!(ns_mode("", "pid", &join).unwrap(), NsMode::New);
        assert_eq!(ns_mode("private", "ipc", &join).unwrap(), NsMode::New);
        assert_eq!(
            ns_mode("container:c1", "net", &join).unwrap(),
            NsMode::Join("/proc/42/ns/net".into())
        );
        assert!(ns_mode("container:zz", "net", &join).is_err());
    }
}
