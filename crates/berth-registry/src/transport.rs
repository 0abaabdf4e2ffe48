//! How to reach a registry: plain HTTP or TLS, which CAs and client certificates, and
//! the one HTTP agent (connection pool) per registry host.
//!
//! Secure registries are HTTPS only, verified against the system roots plus the CAs in
//! `<certs.d>/<host:port>/*.crt` (Docker's layout; `*.cert` + `*.key` there is a client
//! certificate). Insecure registries (the `--insecure-registry` list of `host[:port]` or
//! CIDRs, plus loopback by default as Docker does) are tried over HTTPS without
//! verification first and then over plain HTTP; the first that answers `GET /v2/` wins and
//! is remembered for the life of the client.

use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};
use ureq::Agent;

use crate::error::RegistryError;

/// Settings of the registry client (one per daemon).
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// `--insecure-registry` entries: `host[:port]` or a CIDR. Loopback is always insecure.
    pub insecure_registries: Vec<String>,
    /// Directory with `<host:port>/ca.crt` (and client cert pairs); `None` = only system
    /// roots.
    pub certs_dir: Option<PathBuf>,
    /// `User-Agent` header sent to registries.
    pub user_agent: String,
    /// Blobs larger than this are pushed in chunks (PATCH); smaller ones in one PUT.
    pub chunk_threshold: u64,
    /// Size of one PATCH chunk.
    pub chunk_size: u64,
    /// Connect timeout per request.
    pub connect_timeout: Duration,
    /// Longest wait for one read or write on a connection; a stalled registry fails
    /// instead of hanging a pull forever. `None` waits forever.
    pub io_timeout: Option<Duration>,
    /// Treat loopback (127.0.0.0/8, ::1, `localhost`) as insecure, as Docker does. Turn
    /// off to require verified TLS there too.
    pub loopback_is_insecure: bool,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            insecure_registries: Vec::new(),
            certs_dir: None,
            user_agent: concat!("berth/", env!("CARGO_PKG_VERSION")).to_string(),
            chunk_threshold: 32 << 20,
            chunk_size: 8 << 20,
            connect_timeout: Duration::from_secs(30),
            io_timeout: Some(Duration::from_secs(120)),
            loopback_is_insecure: true,
        }
    }
}

/// A parsed CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = s.split_once('/')?;
        let addr: IpAddr = a.parse().ok()?;
        let prefix: u8 = p.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Which registries are insecure.
#[derive(Debug, Clone)]
pub(crate) struct InsecurePolicy {
    hosts: Vec<String>,
    cidrs: Vec<Cidr>,
    loopback: bool,
}

impl InsecurePolicy {
    /// Validate the `--insecure-registry` list (Docker's messages for bad entries).
    pub fn new(entries: &[String], loopback: bool) -> Result<InsecurePolicy, RegistryError> {
        let mut hosts = Vec::new();
        let mut cidrs = Vec::new();
        for e in entries {
            let e = e.trim();
            if let Some(scheme) = ["http://", "https://"].iter().find(|s| e.starts_with(**s)) {
                return Err(RegistryError::Config(format!(
                    "insecure registry {e} should not contain '{scheme}'"
                )));
            }
            if e.contains('/') {
                let cidr = Cidr::parse(e).ok_or_else(|| {
                    RegistryError::Config(format!("insecure registry {e} is not valid"))
                })?;
                cidrs.push(cidr);
            } else if e.is_empty() {
                return Err(RegistryError::Config(
                    "insecure registry  is not valid".to_string(),
                ));
            } else {
                hosts.push(e.to_lowercase());
            }
        }
        Ok(InsecurePolicy {
            hosts,
            cidrs,
            loopback,
        })
    }

    /// Whether `host[:port]` may be reached without verified TLS.
    pub fn is_insecure(&self, host_port: &str) -> bool {
        let host_port = host_port.to_lowercase();
        if self.hosts.contains(&host_port) {
            return true;
        }
        let host = split_host(&host_port);
        if self.loopback && host == "localhost" {
            return true;
        }
        let ips: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            // A name: Docker resolves it and checks every address against the CIDRs.
            Err(_) => (host, 0u16)
                .to_socket_addrs()
                .map(|it| it.map(|a| a.ip()).collect())
                .unwrap_or_default(),
        };
        // Loopback is insecure by default, like Docker's built-in 127.0.0.0/8.
        ips.iter().any(|ip| {
            (self.loopback && ip.is_loopback()) || self.cidrs.iter().any(|c| c.contains(*ip))
        })
    }
}

/// The host part of `host[:port]` / `[v6]:port`.
fn split_host(host_port: &str) -> &str {
    if let Some(rest) = host_port.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host_port.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host_port,
    }
}

/// The system's CA bundle, parsed once per process.
pub(crate) fn system_roots() -> &'static [Certificate<'static>] {
    static ROOTS: OnceLock<Vec<Certificate<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut files: Vec<PathBuf> = Vec::new();
        if let Some(f) = std::env::var_os("SSL_CERT_FILE") {
            files.push(f.into());
        }
        files.extend(
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/ca-bundle.pem",
                "/etc/ssl/cert.pem",
            ]
            .iter()
            .map(PathBuf::from),
        );
        files
            .iter()
            .find_map(|f| std::fs::read(f).ok())
            .map(|pem| parse_certs(&pem))
            .unwrap_or_default()
    })
}

fn parse_certs(pem: &[u8]) -> Vec<Certificate<'static>> {
    ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect()
}

/// CAs and client certificate from `<certs_dir>/<host>/`.
fn load_cert_dir(
    dir: &Path,
) -> Result<(Vec<Certificate<'static>>, Option<ClientCert>), RegistryError> {
    let mut cas = Vec::new();
    let mut client = None;
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((cas, client)),
        Err(e) => return Err(RegistryError::io(format!("reading {}", dir.display()), e)),
    };
    let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| RegistryError::io(format!("reading {}", p.display()), e))
    };
    for path in &names {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        match ext {
            "crt" => {
                let certs = parse_certs(&read(path)?);
                if certs.is_empty() {
                    return Err(RegistryError::Config(format!(
                        "unable to parse certificate {}",
                        path.display()
                    )));
                }
                cas.extend(certs);
            }
            "cert" => {
                let key_path = path.with_extension("key");
                if !key_path.exists() {
                    return Err(RegistryError::Config(format!(
                        "missing key {} for client certificate {}. CA certificates must use the extension .crt",
                        key_path.file_name().unwrap_or_default().to_string_lossy(),
                        path.file_name().unwrap_or_default().to_string_lossy()
                    )));
                }
                let chain = parse_certs(&read(path)?);
                let key_pem = read(&key_path)?;
                let key = PrivateKey::from_pem(&key_pem).map_err(|e| {
                    RegistryError::Config(format!(
                        "unable to parse key {}: {e}",
                        key_path.display()
                    ))
                })?;
                client = Some(ClientCert::new_with_certs(&chain, key));
            }
            "key" if !path.with_extension("cert").exists() => {
                return Err(RegistryError::Config(format!(
                    "missing client certificate {} for key {}",
                    path.with_extension("cert")
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy(),
                    path.file_name().unwrap_or_default().to_string_lossy()
                )));
            }
            _ => {}
        }
    }
    Ok((cas, client))
}

/// A reachable registry: base URL (`https://host:port`) and the agent to use.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub base: String,
    pub agent: Agent,
}

/// Build the agent for a registry host.
pub(crate) fn make_agent(
    config: &RegistryConfig,
    host: &str,
    insecure: bool,
) -> Result<Agent, RegistryError> {
    let mut tls = TlsConfig::builder();
    if insecure {
        tls = tls.disable_verification(true);
    } else {
        let mut roots: Vec<Certificate<'static>> = system_roots().to_vec();
        if let Some(dir) = &config.certs_dir {
            let (cas, client) = load_cert_dir(&dir.join(host))?;
            roots.extend(cas);
            tls = tls.client_cert(client);
        }
        tls = tls.root_certs(RootCerts::Specific(Arc::new(roots)));
    }
    let cfg = Agent::config_builder()
        // Error statuses are answers we interpret, not transport failures.
        .http_status_as_error(false)
        .user_agent(config.user_agent.as_str())
        .timeout_connect(Some(config.connect_timeout))
        .timeout_per_read(config.io_timeout)
        .timeout_per_write(config.io_timeout)
        .tls_config(tls.build())
        .max_idle_connections_per_host(8)
        .build();
    Ok(cfg.new_agent())
}

/// Go-style text of a transport failure: `Get "url": dial tcp addr: connect: connection
/// refused`, `… x509: certificate signed by unknown authority`.
pub(crate) fn describe_transport_error(method: &str, url: &str, err: &ureq::Error) -> String {
    let authority = url
        .split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or("");
    let text = error_chain(err);
    let detail = match err {
        ureq::Error::HostNotFound => {
            format!("dial tcp: lookup {}: no such host", split_host(authority))
        }
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("dial tcp {authority}: connect: connection refused")
        }
        ureq::Error::Timeout(t) => {
            let op = match t {
                ureq::Timeout::Connect | ureq::Timeout::Resolve => "dial",
                ureq::Timeout::PerWrite | ureq::Timeout::SendRequest | ureq::Timeout::SendBody => {
                    "write"
                }
                _ => "read",
            };
            format!("{op} tcp {authority}: i/o timeout")
        }
        _ if text.contains("UnknownIssuer") => {
            "tls: failed to verify certificate: x509: certificate signed by unknown authority"
                .to_string()
        }
        _ if text.contains("NotValidForName") => {
            format!(
                "tls: failed to verify certificate: x509: certificate is not valid for {}",
                split_host(authority)
            )
        }
        _ if text.contains("received fatal alert: ") => {
            // rustls names the alert in CamelCase (`BadCertificate`); Go prints
            // `remote error: tls: bad certificate`.
            let alert = text
                .split("received fatal alert: ")
                .nth(1)
                .and_then(|r| r.split(|c: char| !c.is_ascii_alphanumeric()).next())
                .unwrap_or("");
            format!("remote error: tls: {}", camel_to_words(alert))
        }
        _ if text.contains("Expired") => {
            "tls: failed to verify certificate: x509: certificate has expired or is not yet valid"
                .to_string()
        }
        _ => text,
    };
    format!("{method} \"{url}\": {detail}")
}

/// `BadCertificate` → `bad certificate`.
fn camel_to_words(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let t = e.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = e.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_policy() {
        let p = InsecurePolicy::new(&["myreg:5000".into(), "10.1.0.0/16".into()], true).unwrap();
        assert!(p.is_insecure("127.0.0.1:5000"));
        assert!(p.is_insecure("127.9.9.9"));
        assert!(p.is_insecure("localhost:5000"));
        assert!(p.is_insecure("[::1]:5000"));
        assert!(p.is_insecure("myreg:5000"));
        assert!(p.is_insecure("10.1.200.3:443"));
        assert!(!p.is_insecure("10.2.0.1:443"));
        assert!(!p.is_insecure("192.0.2.1:5000"));
        assert!(InsecurePolicy::new(&["http://x".into()], true).is_err());
        assert!(InsecurePolicy::new(&["10.0.0.0/33".into()], true).is_err());
        let strict = InsecurePolicy::new(&[], false).unwrap();
        assert!(!strict.is_insecure("127.0.0.1:5000"));
        assert!(!strict.is_insecure("localhost:5000"));
    }

    #[test]
    fn cidr_edges() {
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let one = Cidr::parse("192.0.2.7/32").unwrap();
        assert!(one.contains("192.0.2.7".parse().unwrap()));
        assert!(!one.contains("192.0.2.8".parse().unwrap()));
        assert_eq!(split_host("h:80"), "h");
        assert_eq!(split_host("[::1]:80"), "::1");
        assert_eq!(split_host("h"), "h");
        assert_eq!(
            camel_to_words("CertificateRequired"),
            "certificate required"
        );
    }
}
