//! TCP listeners of the API (`-H tcp://ADDR:PORT`) and Docker's TLS flags: `--tls`
//! (server certificate only), `--tlsverify` (clients need a certificate signed by
//! `--tlscacert`), `--tlscert`, `--tlskey`; the same keys in daemon.json.
//!
//! Whoever can reach the API is root on the host, so a TCP listener is only served
//! on a loopback address without TLS client verification; on any other address
//! berthd refuses to start unless `--tlsverify` is given. The TLS configuration
//! itself is built by `berth_api::tcp`.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Docker's TLS flags of the daemon.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct TlsFlags {
    /// Use TLS; implied by --tlsverify
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub tls: Option<bool>,
    /// Use TLS and verify the remote (clients need a certificate signed by --tlscacert)
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub tlsverify: Option<bool>,
    /// Trust certs signed only by this CA
    #[arg(long, value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,
    /// Path to TLS certificate file
    #[arg(long, value_name = "FILE")]
    pub tlscert: Option<PathBuf>,
    /// Path to TLS key file
    #[arg(long, value_name = "FILE")]
    pub tlskey: Option<PathBuf>,
}

/// The resolved TLS settings (flags over daemon.json over defaults).
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// TLS on TCP listeners (`--tls` or `--tlsverify`).
    pub tls: bool,
    /// Client certificates required (`--tlsverify`).
    pub verify: bool,
    pub cacert: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Default directory of `ca.pem`, `cert.pem`, `key.pem`: `$DOCKER_CERT_PATH`, else
/// `~/.docker`, as Docker's daemon and client use.
fn default_cert_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("DOCKER_CERT_PATH").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".docker")
}

/// Merge the TLS flags over the daemon.json keys (`tls`, `tlsverify`, `tlscacert`,
/// `tlscert`, `tlskey`).
pub fn resolve(flags: &TlsFlags, config_file: &Path) -> Result<TlsSettings> {
    let file: Value = match std::fs::read_to_string(config_file) {
        Ok(t) if !t.trim().is_empty() => serde_json::from_str(&t).with_context(|| {
            format!(
                "unable to configure the daemon with file {}",
                config_file.display()
            )
        })?,
        _ => Value::Null,
    };
    let fbool = |k: &str| file.get(k).and_then(Value::as_bool);
    let fpath = |k: &str| file.get(k).and_then(Value::as_str).map(PathBuf::from);
    let verify = flags.tlsverify.or(fbool("tlsverify")).unwrap_or(false);
    let tls = verify || flags.tls.or(fbool("tls")).unwrap_or(false);
    let dir = default_cert_dir();
    Ok(TlsSettings {
        tls,
        verify,
        cacert: flags
            .tlscacert
            .clone()
            .or_else(|| fpath("tlscacert"))
            .unwrap_or_else(|| dir.join("ca.pem")),
        cert: flags
            .tlscert
            .clone()
            .or_else(|| fpath("tlscert"))
            .unwrap_or_else(|| dir.join("cert.pem")),
        key: flags
            .tlskey
            .clone()
            .or_else(|| fpath("tlskey"))
            .unwrap_or_else(|| dir.join("key.pem")),
    })
}

/// A `-H` value: a unix socket path or a TCP address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    Unix(PathBuf),
    /// The address as written (`host:port`) and what it resolves to.
    Tcp(String, Vec<SocketAddr>),
}

/// Parse a `-H` value: `unix:///path`, `/path`, `tcp://host:port`, `tcp://:port`
/// (all addresses), `tcp://host` (Docker's port: 2376 with TLS, 2375 without).
pub fn parse_host(host: &str, tls: bool) -> Result<Listen> {
    let Some(rest) = host.strip_prefix("tcp://") else {
        return crate::config::unix_path(host).map(Listen::Unix);
    };
    let rest = rest.trim_end_matches('/');
    if rest.contains('/') {
        bail!("invalid bind address ({host}): should not contain a path element");
    }
    let default_port = if tls { 2376 } else { 2375 };
    let (h, port) = match rest.rsplit_once(':') {
        // `[::1]:2376` or `host:2376`; a bare IPv6 address needs brackets.
        Some((h, p)) if !h.ends_with(':') && !p.contains(']') => {
            let port: u16 = p
                .parse()
                .with_context(|| format!("invalid bind address ({host}): bad port {p:?}"))?;
            (h, port)
        }
        _ => (rest, default_port),
    };
    let h = h.trim_start_matches('[').trim_end_matches(']');
    let h = if h.is_empty() { "0.0.0.0" } else { h };
    let addrs: Vec<SocketAddr> = (h, port)
        .to_socket_addrs()
        .with_context(|| format!("invalid bind address ({host})"))?
        .collect();
    if addrs.is_empty() {
        bail!("invalid bind address ({host}): no address");
    }
    Ok(Listen::Tcp(format!("{h}:{port}"), addrs))
}

/// The TLS configuration of a TCP listener on `addrs`, or `None` for plain HTTP,
/// which is allowed on loopback addresses only. A listener reachable from elsewhere
/// needs `--tlsverify`: without client certificates anyone reaching it is root.
pub fn tcp_tls(
    shown: &str,
    addrs: &[SocketAddr],
    tls: &TlsSettings,
) -> Result<Option<Arc<rustls::ServerConfig>>> {
    let loopback = addrs.iter().all(|a| a.ip().is_loopback());
    if !loopback && !tls.verify {
        bail!(
            "refusing to serve the API on tcp://{shown} without TLS client verification: \
             whoever reaches it controls the host. Use --tlsverify with --tlscacert, \
             --tlscert and --tlskey, or listen on a loopback address"
        );
    }
    if !tls.tls {
        return Ok(None);
    }
    let files = berth_api::TlsFiles {
        ca: tls.verify.then(|| tls.cacert.clone()),
        cert: tls.cert.clone(),
        key: tls.key.clone(),
        verify_clients: tls.verify,
    };
    let config = berth_api::tcp::server_config(&files)
        .map_err(|e| anyhow::anyhow!("TLS of tcp://{shown}: {e}"))?;
    Ok(Some(config))
}

/// Bind and serve one TCP listener until `stop` turns true.
pub async fn spawn_tcp(
    settings: &crate::config::Settings,
    shown: &str,
    addrs: &[SocketAddr],
    api: Arc<berth_api::Api>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>> {
    let tls = tcp_tls(shown, addrs, &settings.tls)?;
    if tls.is_none() {
        crate::log(
            settings,
            crate::LogLevel::Warn,
            &format!(
                "Binding to IP address without --tlsverify is insecure: tcp://{shown} is open \
                 to every local user"
            ),
        );
    }
    let listener = tokio::net::TcpListener::bind(addrs)
        .await
        .with_context(|| format!("listening on tcp://{shown}"))?;
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| shown.to_string());
    crate::log(
        settings,
        crate::LogLevel::Info,
        &format!("API listen on {local}"),
    );
    Ok(tokio::spawn(async move {
        berth_api::serve_tcp(listener, tls, api, async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse_like_docker() {
        assert_eq!(
            parse_host("unix:///run/x.sock", false).unwrap(),
            Listen::Unix(PathBuf::from("/run/x.sock"))
        );
        let Listen::Tcp(shown, addrs) = parse_host("tcp://127.0.0.1:2399", true).unwrap() else {
            panic!("not tcp");
        };
        assert_eq!(shown, "127.0.0.1:2399");
        assert_eq!(addrs, vec!["127.0.0.1:2399".parse().unwrap()]);
        let Listen::Tcp(shown, _) = parse_host("tcp://127.0.0.1", true).unwrap() else {
            panic!("not tcp");
        };
        assert_eq!(shown, "127.0.0.1:2376");
        let Listen::Tcp(shown, addrs) = parse_host("tcp://:2375", false).unwrap() else {
            panic!("not tcp");
        };
        assert_eq!(shown, "0.0.0.0:2375");
        assert!(!addrs[0].ip().is_loopback());
        let Listen::Tcp(_, addrs) = parse_host("tcp://[::1]:2376", true).unwrap() else {
            panic!("not tcp");
        };
        assert!(addrs[0].ip().is_loopback());
        assert!(parse_host("tcp://127.0.0.1:99999", true).is_err());
        assert!(parse_host("tcp://127.0.0.1:2376/path", true).is_err());
        assert!(parse_host("http://x", true).is_err());
    }

    #[test]
    fn plain_tcp_only_on_loopback() {
        let plain = TlsSettings::default();
        let lo = ["127.0.0.1:2375".parse().unwrap()];
        assert!(tcp_tls("127.0.0.1:2375", &lo, &plain).unwrap().is_none());
        let any = ["0.0.0.0:2375".parse().unwrap()];
        let err = tcp_tls("0.0.0.0:2375", &any, &plain).unwrap_err();
        assert!(err.to_string().contains("--tlsverify"), "{err}");
        // TLS without client verification is not enough off loopback either.
        let tls_only = TlsSettings {
            tls: true,
            ..TlsSettings::default()
        };
        assert!(tcp_tls("0.0.0.0:2376", &any, &tls_only).is_err());
        // Verification asked for, files missing: a clear error naming the file.
        let verify = TlsSettings {
            tls: true,
            verify: true,
            cacert: "/nonexistent/ca.pem".into(),
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
        };
        let err = tcp_tls("0.0.0.0:2376", &any, &verify).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/"), "{err}");
    }

    #[test]
    fn tlsverify_implies_tls_and_file_keys_apply() {
        let dir = std::env::temp_dir().join(format!("berthd-tls-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("daemon.json");
        std::fs::write(&cfg, r#"{"tlsverify":true,"tlscert":"/f/cert.pem"}"#).unwrap();
        let flags = TlsFlags {
            tlskey: Some("/flag/key.pem".into()),
            ..TlsFlags::default()
        };
        let s = resolve(&flags, &cfg);
        std::fs::remove_dir_all(&dir).unwrap();
        let s = s.unwrap();
        assert!(s.tls && s.verify);
        assert_eq!(s.cert, PathBuf::from("/f/cert.pem"));
        assert_eq!(s.key, PathBuf::from("/flag/key.pem"));
        let off = resolve(
            &TlsFlags {
                tlsverify: Some(false),
                ..TlsFlags::default()
            },
            Path::new("/nonexistent/daemon.json"),
        )
        .unwrap();
        assert!(!off.tls && !off.verify);
    }
}
