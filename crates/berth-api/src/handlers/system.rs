//! System routes: `/_ping`, `/version`, `/info` (and the host facts they report).

use crate::backend::Counts;
use crate::body::{empty, full, json_ok, Body};
use crate::error::ApiError;
use crate::server::{Api, ReqCtx};
use crate::version::{fmt, MAX_API_VERSION, MIN_API_VERSION};
use berth_types::docker::{
    Commit, PluginsInfo, RuntimeInfo, SwarmInfo, SystemInfo, SystemVersion, VersionComponent,
    VersionPlatform,
};
use hyper::header::HeaderValue;
use hyper::{header, Method, Response};
use std::collections::BTreeMap;
use std::path::Path;

/// `GET|HEAD /_ping`: `OK`, never cached; HEAD has the same headers and no body.
pub fn ping(ctx: &ReqCtx) -> Response<Body> {
    let mut resp = if ctx.method == Method::HEAD {
        let mut r = Response::new(empty());
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        r
    } else {
        Response::new(full("OK"))
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    h.insert("Swarm", HeaderValue::from_static("inactive"));
    resp
}

/// `GET /version`.
pub fn version(api: &Api, _ctx: &ReqCtx) -> Response<Body> {
    let host = HostFacts::read();
    let v = &api.config.server_version;
    let details: BTreeMap<String, String> = [
        ("ApiVersion", fmt(MAX_API_VERSION)),
        ("Arch", go_arch().to_string()),
        ("BuildTime", BUILD_TIME.to_string()),
        ("Experimental", "false".to_string()),
        ("GitCommit", GIT_COMMIT.to_string()),
        ("GoVersion", LANG_VERSION.to_string()),
        ("KernelVersion", host.kernel.clone()),
        ("MinAPIVersion", fmt(MIN_API_VERSION)),
        ("Os", "linux".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    json_ok(&SystemVersion {
        platform: VersionPlatform {
            name: "Berth".into(),
        },
        components: vec![
            VersionComponent {
                name: "Engine".into(),
                version: v.clone(),
                details: Some(details),
            },
            VersionComponent {
                name: "berth-shim".into(),
                version: v.clone(),
                details: Some(BTreeMap::from([(
                    "GitCommit".to_string(),
                    GIT_COMMIT.to_string(),
                )])),
            },
        ],
        version: v.clone(),
        api_version: fmt(MAX_API_VERSION),
        min_api_version: fmt(MIN_API_VERSION),
        git_commit: GIT_COMMIT.into(),
        go_version: LANG_VERSION.into(),
        os: "linux".into(),
        arch: go_arch().into(),
        kernel_version: host.kernel,
        experimental: false,
        build_time: BUILD_TIME.into(),
    })
}

/// `GET /info`.
pub async fn info(api: &Api, _ctx: &ReqCtx) -> Result<Response<Body>, ApiError> {
    let counts = api.backend.counts().await?;
    Ok(json_ok(&info_model(api, counts)))
}

/// `GET /system/df`.
pub async fn disk_usage(api: &Api) -> Result<Response<Body>, ApiError> {
    Ok(json_ok(&api.backend.disk_usage().await?))
}

fn info_model(api: &Api, c: Counts) -> SystemInfo {
    let host = HostFacts::read();
    let cfg = &api.config;
    let live = cfg.live();
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let pair = |a: &str, b: &str| [a.to_string(), b.to_string()];
    SystemInfo {
        id: cfg.id.clone(),
        containers: c.containers as i64,
        containers_running: c.running as i64,
        containers_paused: c.paused as i64,
        containers_stopped: c.stopped as i64,
        images: c.images as i64,
        driver: "overlay2".into(),
        driver_status: vec![
            pair("Backing Filesystem", "extfs"),
            pair("Supports d_type", "true"),
            pair("Using metacopy", "false"),
            pair("Native Overlay Diff", "true"),
            pair("userxattr", "false"),
        ],
        plugins: PluginsInfo {
            volume: strings(&["local"]),
            network: strings(&["bridge", "host", "none"]),
            authorization: None,
            log: strings(&["fluentd", "json-file", "local", "none", "syslog"]),
        },
        memory_limit: true,
        swap_limit: host.swap_limit,
        kernel_memory_tcp: false,
        cpu_cfs_period: true,
        cpu_cfs_quota: true,
        cpu_shares: true,
        cpu_set: true,
        pids_limit: true,
        ipv4_forwarding: true,
        bridge_nf_iptables: false,
        bridge_nf_ip6tables: false,
        debug: live.debug,
        nfd: open_fds() as i64,
        oom_kill_disable: host.cgroup_version == "1",
        ngoroutines: 0,
        system_time: berth_types::time::rfc3339_nano_trimmed(std::time::SystemTime::now()),
        logging_driver: cfg.log_driver.clone(),
        cgroup_driver: "cgroupfs".into(),
        cgroup_version: host.cgroup_version.into(),
        nevents_listener: 0,
        kernel_version: host.kernel,
        operating_system: host.os_name,
        os_version: host.os_version,
        os_type: "linux".into(),
        architecture: std::env::consts::ARCH.into(),
        index_server_address: "https://index.docker.io/v1/".into(),
        registry_config: Some(berth_engine::registry_service_config(
            &live.insecure_registries,
        )),
        ncpu: host.ncpu as i64,
        mem_total: host.mem_total as i64,
        generic_resources: None,
        docker_root_dir: cfg.data_root.display().to_string(),
        http_proxy: String::new(),
        https_proxy: String::new(),
        no_proxy: String::new(),
        name: host.hostname,
        labels: live.labels,
        experimental_build: false,
        server_version: cfg.server_version.clone(),
        runtimes: BTreeMap::from([(
            "berth".to_string(),
            RuntimeInfo {
                path: "berth-shim".into(),
                runtime_args: None,
            },
        )]),
        default_runtime: "berth".into(),
        swarm: SwarmInfo {
            local_node_state: "inactive".into(),
            ..Default::default()
        },
        live_restore_enabled: true,
        isolation: String::new(),
        init_binary: String::new(),
        containerd_commit: Commit::default(),
        runc_commit: Commit::default(),
        init_commit: Commit::default(),
        security_options: strings(&["name=seccomp,profile=builtin"]),
        cdi_spec_dirs: Vec::new(),
        warnings: None,
    }
}

const GIT_COMMIT: &str = "berth";
const BUILD_TIME: &str = "";
/// Docker clients print a `Go version` line; we report our implementation language.
const LANG_VERSION: &str = "rust";

/// Go's name of the architecture, which Docker reports in `/version`.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        other => other,
    }
}

/// Facts about the host read from /proc and /etc (cheap; read per request).
#[derive(Debug, Clone, Default)]
pub struct HostFacts {
    pub kernel: String,
    pub hostname: String,
    pub os_name: String,
    pub os_version: String,
    pub ncpu: usize,
    pub mem_total: u64,
    pub cgroup_version: &'static str,
    pub swap_limit: bool,
}

impl HostFacts {
    pub fn read() -> HostFacts {
        let first_line = |p: &str| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let os_field = |key: &str| {
            os_release
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(|v| v.trim_matches('"').to_string())
        };
        let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        HostFacts {
            kernel: first_line("/proc/sys/kernel/osrelease"),
            hostname: first_line("/proc/sys/kernel/hostname"),
            os_name: os_field("PRETTY_NAME").unwrap_or_else(|| "Linux".into()),
            os_version: os_field("VERSION_ID").unwrap_or_default(),
            ncpu: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            mem_total: mem_total(),
            cgroup_version: if v2 { "2" } else { "1" },
            swap_limit: v2
                || Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists(),
        }
    }
}

fn mem_total() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_facts_are_read() {
        let h = HostFacts::read();
        assert!(!h.kernel.is_empty());
        assert!(h.ncpu >= 1);
        assert!(h.mem_total > 0);
        assert!(h.cgroup_version == "1" || h.cgroup_version == "2");
    }
}
