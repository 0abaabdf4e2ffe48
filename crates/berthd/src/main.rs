//! `berthd`: reads its settings, prepares the exec root (seccomp profile, pid file),
//! opens the engine, binds the API socket(s) and serves until SIGTERM/SIGINT.
//!
//! Stopping the daemon never stops containers: their shims keep running and the next
//! `berthd` reconnects to them (live restore).

mod config;
mod listen;
mod netconfig;
mod socket;

use anyhow::{bail, Context, Result};
use clap::Parser;
use config::{Flags, LogLevel, Settings};
use std::path::Path;
use std::sync::Arc;

/// Docker's default seccomp profile, shipped inside the binary and written to the exec
/// root at start for the runtime to read.
const DEFAULT_SECCOMP: &str = include_str!("../seccomp-default.json");

fn main() {
    let flags = Flags::parse();
    let settings = match flags.clone().resolve() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("berthd: {e:#}");
            std::process::exit(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("berthd: starting the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(run(settings, flags));
    // Streams of attached clients may still be running; do not wait for them.
    runtime.shutdown_background();
    if let Err(e) = result {
        eprintln!("berthd: {e:#}");
        std::process::exit(1);
    }
}

/// Log to stderr when `level` is enabled.
fn log(_settings: &Settings, level: LogLevel, msg: &str) {
    if level >= current_log_level() {
        let tag = match level {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warning",
            LogLevel::Error => "error",
        };
        let now = berth_types::time::rfc3339_nano(std::time::SystemTime::now());
        eprintln!("time=\"{now}\" level={tag} msg=\"{msg}\"");
    }
}

/// The log level in effect: set at start, changed by a configuration reload.
static LOG_LEVEL: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(1);

fn set_log_level(level: LogLevel) {
    LOG_LEVEL.store(level as u8, std::sync::atomic::Ordering::Relaxed);
}

fn current_log_level() -> LogLevel {
    match LOG_LEVEL.load(std::sync::atomic::Ordering::Relaxed) {
        0 => LogLevel::Debug,
        1 => LogLevel::Info,
        2 => LogLevel::Warn,
        _ => LogLevel::Error,
    }
}

async fn run(settings: Settings, flags: Flags) -> Result<()> {
    set_log_level(settings.log_level);
    for dir in [&settings.data_root, &settings.exec_root] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let _pidfile = PidFile::create(&settings.pidfile)?;
    let seccomp_path = settings.exec_root.join("seccomp-default.json");
    write_atomic(&seccomp_path, DEFAULT_SECCOMP.as_bytes())?;

    let daemon = berth_api::DaemonConfig {
        server_version: env!("CARGO_PKG_VERSION").to_string(),
        id: engine_id(&settings.data_root)?,
        data_root: settings.data_root.clone(),
        exec_root: settings.exec_root.clone(),
        log_driver: settings.log_driver.clone(),
        debug: settings.log_level == LogLevel::Debug,
        labels: settings.labels.clone(),
        insecure_registries: settings.insecure_registries.clone(),
        reloaded: Default::default(),
    };
    let engine = berth_engine::Engine::open(engine_config(&settings, &seccomp_path)?)
        .await
        .map_err(|e| anyhow::anyhow!("opening the engine: {e}"))?;
    let metrics_engine = engine.clone();
    let reload_engine = engine.clone();
    let backend = Arc::new(berth_api::EngineBackend::new(engine));
    let api = Arc::new(berth_api::Api {
        config: daemon,
        backend,
    });

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut servers = Vec::new();
    for host in &settings.hosts {
        if let listen::Listen::Tcp(shown, addrs) = listen::parse_host(host, settings.tls.tls)? {
            let stop = stop_rx.clone();
            servers.push(listen::spawn_tcp(&settings, &shown, &addrs, api.clone(), stop).await?);
            continue;
        }
        let path = config::unix_path(host)?;
        let listener = socket::bind(&path, &settings.group, settings.group_explicit)?;
        log(
            &settings,
            LogLevel::Info,
            &format!("API listen on {}", path.display()),
        );
        let api = api.clone();
        let mut rx = stop_rx.clone();
        servers.push(tokio::spawn(async move {
            berth_api::serve(listener, api, async move {
                let _ = rx.wait_for(|stop| *stop).await;
            })
            .await;
            let _ = std::fs::remove_file(&path);
        }));
    }
    if let Some(addr) = settings.metrics_addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the metrics address {addr}"))?;
        log(
            &settings,
            LogLevel::Info,
            &format!("metrics listen on {addr}"),
        );
        let render: berth_api::metrics::Render = Arc::new(move || metrics_engine.metrics_text());
        let mut rx = stop_rx.clone();
        servers.push(tokio::spawn(berth_api::serve_metrics(
            listener,
            render,
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            },
        )));
    } else {
        drop(metrics_engine);
    }
    log(
        &settings,
        LogLevel::Info,
        "Daemon has completed initialization",
    );

    wait_for_signal(&settings, || {
        reload(&settings, &flags, &api, &reload_engine)
    })
    .await?;
    log(
        &settings,
        LogLevel::Info,
        "Processing signal; stopping the API, containers keep running",
    );
    let _ = stop_tx.send(true);
    for s in servers {
        let _ = s.await;
    }
    Ok(())
}

/// Engine settings from the daemon's: paths, shim, cgroup parent, seccomp default.
fn engine_config(
    settings: &Settings,
    default_seccomp: &Path,
) -> Result<berth_engine::EngineConfig> {
    let mut cfg = berth_engine::EngineConfig::new(
        settings.data_root.clone(),
        settings.exec_root.clone(),
        settings.shim_binary.clone(),
    );
    cfg.cgroup_parent = settings.cgroup_parent.clone();
    cfg.default_log = berth_types::docker::LogConfig {
        kind: settings.log_driver.clone(),
        config: settings.log_opts.clone(),
    };
    berth_engine::check_insecure_registries(&settings.insecure_registries)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    cfg.insecure_registries = settings.insecure_registries.clone();
    cfg.network = Some(settings.network.clone());
    cfg.default_seccomp_profile = match settings.seccomp_profile.as_deref() {
        None | Some("") | Some("builtin") => Some(default_seccomp.to_path_buf()),
        Some("unconfined") => None,
        Some(path) => {
            let p = std::path::PathBuf::from(path);
            // Refuse a broken profile at start rather than at every container start.
            let text = std::fs::read_to_string(&p)
                .with_context(|| format!("reading seccomp profile {}", p.display()))?;
            serde_json::from_str::<serde_json::Value>(&text)
                .with_context(|| format!("parsing seccomp profile {}", p.display()))?;
            Some(p)
        }
    };
    Ok(cfg)
}

/// SIGHUP: read the configuration file again (flags still win over it) and apply what
/// a running daemon can change, as Docker does for its reloadable keys: the log level
/// (`debug`, `log-level`), `labels` and `insecure-registries`. Then a `daemon reload`
/// event goes out with the settings in effect. A file that no longer loads is reported
/// and changes nothing; other keys take effect at the next start.
fn reload(settings: &Settings, flags: &Flags, api: &berth_api::Api, engine: &berth_engine::Engine) {
    let new = flags.clone().resolve().and_then(|s| {
        berth_engine::check_insecure_registries(&s.insecure_registries)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(s)
    });
    let new = match new {
        Ok(s) => s,
        Err(e) => {
            log(
                settings,
                LogLevel::Error,
                &format!(
                    "Error reconfiguring the daemon: unable to configure the Docker daemon with file {}: {e:#}",
                    flags.config_file.display()
                ),
            );
            return;
        }
    };
    set_log_level(new.log_level);
    let live = berth_api::Reloadable {
        debug: new.log_level == LogLevel::Debug,
        labels: new.labels.clone(),
        insecure_registries: new.insecure_registries.clone(),
    };
    api.config.set_live(live.clone());
    let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_default();
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let attributes: std::collections::BTreeMap<String, String> = [
        ("debug", live.debug.to_string()),
        ("labels", json(&live.labels)),
        ("insecure-registries", json(&live.insecure_registries)),
        ("log-driver", new.log_driver.clone()),
        ("live-restore", "true".to_string()),
        ("name", hostname),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    log(
        settings,
        LogLevel::Info,
        &format!(
            "Reloaded configuration: {}",
            serde_json::to_string(&attributes).unwrap_or_default()
        ),
    );
    engine.reload(&api.config.id, &live.insecure_registries, attributes);
}

/// Wait for SIGTERM or SIGINT; on SIGHUP run `reload` (the configuration reload).
async fn wait_for_signal(settings: &Settings, reload: impl Fn()) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            _ = hup.recv() => {
                log(settings, LogLevel::Info, "Got signal to reload configuration");
                reload();
            }
        }
    }
}

/// The daemon's pid file; removed when dropped (only ever created by us).
struct PidFile(std::path::PathBuf);

impl PidFile {
    /// Refuse to start when the pid file names a live process, as dockerd does.
    fn create(path: &Path) -> Result<PidFile> {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(pid) = text.trim().parse::<i32>() {
                let alive = pid > 0 && Path::new(&format!("/proc/{pid}")).exists();
                if alive && pid != std::process::id() as i32 {
                    bail!(
                        "pid file found, ensure berthd is not running or delete {}",
                        path.display()
                    );
                }
            }
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, format!("{}", std::process::id()))
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(PidFile(path.to_path_buf()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The daemon's stable id (`/info` `ID`), created on first start.
fn engine_id(data_root: &Path) -> Result<String> {
    let path = data_root.join("engine-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim();
        if !id.is_empty() {
            return Ok(id.to_string());
        }
    }
    let id = std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .context("generating the daemon id")?
        .trim()
        .to_string();
    write_atomic(&path, id.as_bytes())?;
    Ok(id)
}

/// Temp file in the same directory, fsync, rename.
fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
