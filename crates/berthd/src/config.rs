//! Daemon settings: command-line flags (named like dockerd's) merged over the JSON
//! config file (`/etc/berth/daemon.json`, Docker's keys). Flags win over the file.

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The Berth daemon: serves the Docker Engine API.
#[derive(Debug, Clone, Parser)]
#[command(name = "berthd", version, about = "Berth container engine daemon")]
pub struct Flags {
    /// Daemon socket(s) to listen on (unix:///path); repeatable.
    #[arg(short = 'H', long = "host")]
    pub hosts: Vec<String>,
    /// Root directory of persistent state.
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// Root directory for execution state (shim sockets, default socket).
    #[arg(long)]
    pub exec_root: Option<PathBuf>,
    /// Path of the daemon's pid file (default <exec-root>/berthd.pid).
    #[arg(short = 'p', long)]
    pub pidfile: Option<PathBuf>,
    /// Logging level: debug, info, warn, error, fatal.
    #[arg(short = 'l', long)]
    pub log_level: Option<String>,
    /// Enable debug mode (same as --log-level debug).
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Group owning the unix socket(s).
    #[arg(short = 'G', long)]
    pub group: Option<String>,
    /// Path of the berth-shim binary (default: next to berthd).
    #[arg(long)]
    pub shim_binary: Option<PathBuf>,
    /// Parent cgroup of all containers.
    #[arg(long)]
    pub cgroup_parent: Option<String>,
    /// Default seccomp profile (a JSON file, or "unconfined").
    #[arg(long)]
    pub seccomp_profile: Option<String>,
    /// Daemon configuration file.
    #[arg(long, default_value = "/etc/berth/daemon.json")]
    pub config_file: PathBuf,
    /// Registry (host[:port] or CIDR) reached over plain HTTP or unverified TLS;
    /// repeatable. Loopback registries are always insecure.
    #[arg(long = "insecure-registry")]
    pub insecure_registries: Vec<String>,
    /// Default logging driver of containers (json-file, local, none, syslog, fluentd).
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Default logging driver option (key=value); repeatable.
    #[arg(long = "log-opt")]
    pub log_opts: Vec<String>,
    /// Serve Prometheus metrics on this TCP address (host:port); off by default.
    #[arg(long = "metrics-addr")]
    pub metrics_addr: Option<String>,
    #[command(flatten)]
    pub net: crate::netconfig::NetFlags,
    /// `--tls`, `--tlsverify`, `--tlscacert`, `--tlscert`, `--tlskey` (listen.rs).
    #[command(flatten)]
    pub tls: crate::listen::TlsFlags,
}

/// The resolved settings the daemon runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub hosts: Vec<String>,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub pidfile: PathBuf,
    pub log_level: LogLevel,
    /// Socket group and whether it was asked for explicitly (then it must exist).
    pub group: String,
    pub group_explicit: bool,
    pub shim_binary: PathBuf,
    pub cgroup_parent: String,
    /// `None`: the embedded default profile.
    pub seccomp_profile: Option<String>,
    pub log_driver: String,
    /// Default `log-opts` (flags over daemon.json), checked at start.
    pub log_opts: std::collections::BTreeMap<String, String>,
    /// `None`: no metrics endpoint.
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub labels: Vec<String>,
    /// Flag entries plus daemon.json `insecure-registries`.
    pub insecure_registries: Vec<String>,
    /// Bridges, NAT, published ports, embedded DNS (netconfig.rs).
    pub network: berth_engine::network::ManagerConfig,
    /// TLS of TCP listeners (listen.rs).
    pub tls: crate::listen::TlsSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    fn parse(s: &str) -> Result<LogLevel> {
        Ok(match s {
            "debug" | "trace" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "warn" | "warning" => LogLevel::Warn,
            "error" | "fatal" | "panic" => LogLevel::Error,
            other => bail!("unable to parse logging level: {other}"),
        })
    }
}

/// The daemon.json keys we understand, read leniently (unknown keys are ignored, as a
/// newer file must not stop an older daemon).
#[derive(Debug, Default)]
struct FileConfig {
    hosts: Vec<String>,
    data_root: Option<PathBuf>,
    exec_root: Option<PathBuf>,
    pidfile: Option<PathBuf>,
    log_level: Option<String>,
    debug: bool,
    group: Option<String>,
    cgroup_parent: Option<String>,
    seccomp_profile: Option<String>,
    log_driver: Option<String>,
    log_opts: std::collections::BTreeMap<String, String>,
    metrics_addr: Option<String>,
    labels: Vec<String>,
    insecure_registries: Vec<String>,
}

fn read_file_config(path: &Path) -> Result<FileConfig> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileConfig::default()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    let v: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "unable to configure the daemon with file {}",
            path.display()
        )
    })?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let list = |k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(FileConfig {
        hosts: list("hosts"),
        data_root: s("data-root").or_else(|| s("graph")).map(PathBuf::from),
        exec_root: s("exec-root").map(PathBuf::from),
        pidfile: s("pidfile").map(PathBuf::from),
        log_level: s("log-level"),
        debug: v.get("debug").and_then(Value::as_bool).unwrap_or(false),
        group: s("group"),
        cgroup_parent: s("cgroup-parent"),
        seccomp_profile: s("seccomp-profile"),
        log_driver: s("log-driver"),
        log_opts: match v.get("log-opts") {
            None | Some(Value::Null) => Default::default(),
            Some(Value::Object(m)) => {
                let mut out = std::collections::BTreeMap::new();
                for (k, val) in m {
                    // Docker requires strings here ("max-file": "3").
                    let Some(val) = val.as_str() else {
                        bail!(
                            "unable to configure the daemon with file {}: log-opts {k} must be a string",
                            path.display()
                        );
                    };
                    out.insert(k.clone(), val.to_string());
                }
                out
            }
            Some(_) => bail!(
                "unable to configure the daemon with file {}: log-opts must be an object",
                path.display()
            ),
        },
        metrics_addr: s("metrics-addr"),
        labels: list("labels"),
        insecure_registries: list("insecure-registries"),
    })
}

impl Flags {
    /// Merge flags over the config file and fill defaults.
    pub fn resolve(self) -> Result<Settings> {
        let file = read_file_config(&self.config_file)?;
        let network = crate::netconfig::resolve(&self.net, &self.config_file)?;
        let tls = crate::listen::resolve(&self.tls, &self.config_file)?;
        let exec_root = self
            .exec_root
            .or(file.exec_root)
            .unwrap_or_else(|| PathBuf::from("/run/berth"));
        let data_root = self
            .data_root
            .or(file.data_root)
            .unwrap_or_else(|| PathBuf::from("/var/lib/berth"));
        let mut hosts = if self.hosts.is_empty() {
            file.hosts
        } else {
            self.hosts
        };
        if hosts.is_empty() {
            hosts.push("unix:///run/berth/berth.sock".into());
        }
        let level = if self.debug || file.debug {
            LogLevel::Debug
        } else {
            LogLevel::parse(
                self.log_level
                    .or(file.log_level)
                    .as_deref()
                    .unwrap_or("info"),
            )?
        };
        let group_explicit = self.group.is_some() || file.group.is_some();
        let shim_binary = match self.shim_binary {
            Some(p) => p,
            None => default_shim_binary()?,
        };
        let log_driver = self
            .log_driver
            .or(file.log_driver)
            .unwrap_or_else(|| "json-file".into());
        let log_opts = {
            let mut m = file.log_opts;
            for kv in &self.log_opts {
                let Some((k, v)) = kv.split_once('=') else {
                    bail!("invalid key/value pair format in config: {kv}");
                };
                m.insert(k.to_string(), v.to_string());
            }
            berth_logdriver::opts::validate(&log_driver, &m)
                .map_err(|e| anyhow::anyhow!("failed to set log opts: {e}"))?;
            m
        };
        Ok(Settings {
            pidfile: self
                .pidfile
                .or(file.pidfile)
                .unwrap_or_else(|| exec_root.join("berthd.pid")),
            hosts,
            data_root,
            exec_root,
            log_level: level,
            group: self.group.or(file.group).unwrap_or_else(|| "berth".into()),
            group_explicit,
            shim_binary,
            cgroup_parent: self
                .cgroup_parent
                .or(file.cgroup_parent)
                .unwrap_or_else(|| "berth".into()),
            seccomp_profile: self.seccomp_profile.or(file.seccomp_profile),
            log_driver,
            log_opts,
            metrics_addr: match self.metrics_addr.or(file.metrics_addr) {
                None => None,
                Some(a) if a.is_empty() => None,
                Some(a) => Some(
                    a.parse()
                        .with_context(|| format!("invalid metrics-addr {a:?} (want host:port)"))?,
                ),
            },
            labels: file.labels,
            insecure_registries: {
                let mut v = file.insecure_registries;
                v.extend(self.insecure_registries);
                v
            },
            network,
            tls,
        })
    }
}

/// `berth-shim` in the directory of the running berthd.
fn default_shim_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the berthd executable")?;
    Ok(exe
        .parent()
        .map(|d| d.join("berth-shim"))
        .unwrap_or_else(|| PathBuf::from("berth-shim")))
}

/// The socket path of a `-H` value. Only unix sockets are served.
pub fn unix_path(host: &str) -> Result<PathBuf> {
    if let Some(p) = host.strip_prefix("unix://") {
        if p.is_empty() {
            bail!("invalid host {host:?}: empty socket path");
        }
        return Ok(PathBuf::from(p));
    }
    if host.starts_with('/') {
        return Ok(PathBuf::from(host));
    }
    bail!("invalid host {host:?}: only unix:///path sockets are supported")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_file_and_defaults_fill_in() {
        let tmp = TmpDir::new();
        let dir = &tmp.0;
        let cfg = dir.join("daemon.json");
        std::fs::write(
            &cfg,
            r#"{"data-root":"/from/file","debug":false,"labels":["a=b"],"unknown-key":1}"#,
        )
        .unwrap();
        let flags = Flags::parse_from([
            "berthd",
            "--config-file",
            cfg.to_str().unwrap(),
            "--exec-root",
            "/x/run",
            "-H",
            "unix:///x/a.sock",
            "-H",
            "unix:///x/b.sock",
            "--shim-binary",
            "/bin/true",
        ]);
        let s = flags.resolve().unwrap();
        assert_eq!(s.data_root, PathBuf::from("/from/file"));
        assert_eq!(s.exec_root, PathBuf::from("/x/run"));
        assert_eq!(s.pidfile, PathBuf::from("/x/run/berthd.pid"));
        assert_eq!(s.hosts.len(), 2);
        assert_eq!(s.labels, vec!["a=b"]);
        assert_eq!(s.log_level, LogLevel::Info);
        assert!(!s.group_explicit);
    }

    #[test]
    fn log_defaults_and_metrics_addr_from_file_and_flags() {
        let tmp = TmpDir::new();
        let dir = tmp.0.join("logs");
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("daemon.json");
        std::fs::write(
            &cfg,
            r#"{"log-driver":"local","log-opts":{"max-size":"5m","max-file":"2"},"metrics-addr":"127.0.0.1:9323"}"#,
        )
        .unwrap();
        let s = Flags::parse_from([
            "berthd",
            "--config-file",
            cfg.to_str().unwrap(),
            "--log-opt",
            "max-file=4",
            "--shim-binary",
            "/bin/true",
        ])
        .resolve()
        .unwrap();
        assert_eq!(s.log_driver, "local");
        assert_eq!(s.log_opts["max-size"], "5m");
        assert_eq!(s.log_opts["max-file"], "4");
        assert_eq!(s.metrics_addr, Some("127.0.0.1:9323".parse().unwrap()));
        let s = Flags::parse_from([
            "berthd",
            "--config-file",
            "/nonexistent/daemon.json",
            "--shim-binary",
            "/bin/true",
        ])
        .resolve()
        .unwrap();
        assert_eq!((s.log_driver.as_str(), s.metrics_addr), ("json-file", None));
        std::fs::write(&cfg, r#"{"log-opts":{"max-file":3}}"#).unwrap();
        let err = Flags::parse_from(["berthd", "--config-file", cfg.to_str().unwrap()])
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("must be a string"), "{err}");
    }

    #[test]
    fn config_file_defaults_to_etc_berth_daemon_json() {
        // The place of daemon-wide settings (the default log driver and options
        // among them), named like Docker's.
        let flags = Flags::parse_from(["berthd"]);
        assert_eq!(flags.config_file, PathBuf::from("/etc/berth/daemon.json"));
    }

    #[test]
    fn missing_file_is_fine_and_hosts_parse() {
        let flags = Flags::parse_from(["berthd", "--config-file", "/nonexistent/daemon.json"]);
        let s = flags.resolve().unwrap();
        assert_eq!(s.hosts, vec!["unix:///run/berth/berth.sock"]);
        assert_eq!(
            unix_path("unix:///run/x.sock").unwrap(),
            PathBuf::from("/run/x.sock")
        );
        assert!(unix_path("tcp://0.0.0.0:2375").is_err());
    }

    #[test]
    fn insecure_registries_from_file_and_flags() {
        let tmp = TmpDir::new();
        let dir = tmp.0.join("insecure");
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("daemon.json");
        std::fs::write(&cfg, r#"{"insecure-registries":["10.0.0.0/8"]}"#).unwrap();
        let flags = Flags::parse_from([
            "berthd",
            "--config-file",
            cfg.to_str().unwrap(),
            "--insecure-registry",
            "reg.example:5000",
            "--insecure-registry",
            "192.168.1.2",
            "--shim-binary",
            "/bin/true",
        ]);
        let s = flags.resolve().unwrap();
        assert_eq!(
            s.insecure_registries,
            ["10.0.0.0/8", "reg.example:5000", "192.168.1.2"]
        );
    }

    /// A per-test temp dir, removed when the test ends (even when it fails).
    struct TmpDir(PathBuf);

    impl TmpDir {
        fn new() -> TmpDir {
            let d = std::env::temp_dir().join(format!(
                "berthd-cfg-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            std::fs::create_dir_all(&d).unwrap();
            TmpDir(d)
        }
    }

    impl Drop for TmpDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
