//! `tcp://` daemon hosts: plain TCP, or TLS as Docker's client does it (`--tls`:
//! encrypt, do not check the server; `--tlsverify`: check the server against
//! `--tlscacert`; `--tlscert`/`--tlskey` as the client certificate;
//! `DOCKER_TLS_VERIFY`, `DOCKER_TLS` and `DOCKER_CERT_PATH` in the environment).
//!
//! The rest of the client speaks over a `UnixStream` (it peeks response heads with
//! `MSG_PEEK` and hands hijacked sockets to the CLI as they are), so a TCP or TLS
//! connection is bridged to one end of a socket pair by a pump thread and the
//! caller gets the other end. A local socket pair costs next to nothing against a
//! network round trip. TLS is rustls with the ring provider, the stack the daemon
//! and the registry client use too.

use crate::Error;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// TLS settings of a `tcp://` host, as the Docker CLI takes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Check the daemon's certificate against `ca` (`--tlsverify`); without it the
    /// connection is encrypted but the daemon is not authenticated (`--tls`).
    pub verify: bool,
    pub ca: Option<PathBuf>,
    /// Client certificate and key, sent when the daemon asks (`--tlsverify` daemons
    /// refuse clients without one).
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl TlsOptions {
    /// Docker's client flags: `tls`/`verify` as given, files defaulting to `ca.pem`,
    /// `cert.pem`, `key.pem` in `$DOCKER_CERT_PATH` (else `~/.docker`) when they
    /// exist. `None` when neither TLS flag nor `DOCKER_TLS_VERIFY`/`DOCKER_TLS` asks
    /// for TLS.
    pub fn from_flags(
        tls: bool,
        verify: bool,
        ca: Option<PathBuf>,
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
    ) -> Option<TlsOptions> {
        let env_set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
        let verify = verify || env_set("DOCKER_TLS_VERIFY");
        if !(tls || verify || env_set("DOCKER_TLS")) {
            return None;
        }
        let dir = cert_dir();
        let pick = |given: Option<PathBuf>, name: &str| {
            given.or_else(|| Some(dir.join(name)).filter(|p| p.exists()))
        };
        Some(TlsOptions {
            verify,
            ca: pick(ca, "ca.pem"),
            cert: pick(cert, "cert.pem"),
            key: pick(key, "key.pem"),
        })
    }
}

/// `$DOCKER_CERT_PATH`, else `~/.docker`.
fn cert_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("DOCKER_CERT_PATH").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".docker")
}

fn tls_error(msg: String) -> Error {
    Error::Protocol(msg)
}

fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| tls_error(format!("could not read {}: {e}", path.display())))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let data = read_file(path)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&data)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(tls_error(format!(
            "failed to find any PEM data in certificate input {}",
            path.display()
        )));
    }
    Ok(certs)
}

/// The rustls client configuration for `opts`.
pub fn client_config(opts: &TlsOptions) -> Result<Arc<rustls::ClientConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(e.to_string()))?;
    let builder = if opts.verify {
        let ca = opts.ca.as_deref().ok_or_else(|| {
            tls_error("--tlsverify needs the daemon's CA certificate (--tlscacert)".into())
        })?;
        let mut roots = rustls::RootCertStore::empty();
        for c in read_certs(ca)? {
            roots
                .add(c)
                .map_err(|e| tls_error(format!("CA certificate {}: {e}", ca.display())))?;
        }
        builder.with_root_certificates(roots)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoServerCheck(provider)))
    };
    let mut config = match (&opts.cert, &opts.key) {
        (Some(cert), Some(key)) => {
            let certs = read_certs(cert)?;
            let key = PrivateKeyDer::from_pem_slice(&read_file(key)?).map_err(|_| {
                tls_error(format!(
                    "could not load X509 key pair: no private key in {}",
                    key.display()
                ))
            })?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| tls_error(format!("could not load X509 key pair: {e}")))?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// `--tls` without `--tlsverify`: the daemon's certificate is not checked (Docker's
/// `InsecureSkipVerify`), but its handshake signatures still are.
#[derive(Debug)]
struct NoServerCheck(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoServerCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Connect to `addr` (`host:port`), with TLS when `tls` is given, and return the
/// local end of a socket pair bridged to it. The TLS handshake is finished before
/// returning, so certificate errors are reported by the call that connects.
pub fn connect(addr: &str, tls: Option<&Arc<rustls::ClientConfig>>) -> io::Result<UnixStream> {
    let tcp = TcpStream::connect(addr)?;
    let _ = tcp.set_nodelay(true);
    let (local, remote) = UnixStream::pair()?;
    match tls {
        None => {
            let (tcp2, remote2) = (tcp.try_clone()?, remote.try_clone()?);
            std::thread::spawn(move || copy_then_shutdown(tcp, remote));
            std::thread::spawn(move || copy_then_shutdown(remote2, tcp2));
        }
        Some(config) => {
            let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let name = ServerName::try_from(host.to_string())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let mut conn = rustls::ClientConnection::new(config.clone(), name)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let mut tcp = tcp;
            tcp.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
            while conn.is_handshaking() {
                conn.complete_io(&mut tcp)?;
            }
            tcp.set_read_timeout(None)?;
            std::thread::spawn(move || {
                let _ = pump(conn, tcp, remote);
            });
        }
    }
    Ok(local)
}

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Copy `from` into `to` until EOF, then end `to`'s write side (a half-close passes
/// through, as attach needs).
fn copy_then_shutdown<A, B>(mut from: A, mut to: B)
where
    A: Read,
    B: Write + HalfClose,
{
    let _ = io::copy(&mut from, &mut to);
    to.half_close();
}

trait HalfClose {
    fn half_close(&self);
}

impl HalfClose for TcpStream {
    fn half_close(&self) {
        let _ = self.shutdown(Shutdown::Write);
    }
}

impl HalfClose for UnixStream {
    fn half_close(&self) {
        let _ = self.shutdown(Shutdown::Write);
    }
}

/// Plaintext waiting for the local side is capped; past it the pump stops reading
/// the network until the local side catches up.
const PENDING_CAP: usize = 1 << 20;

/// Move bytes between the TLS connection and the local socket until both sides are
/// done. One thread, `poll(2)` on both descriptors: a rustls connection is one state
/// machine that reading and writing both drive.
fn pump(
    mut conn: rustls::ClientConnection,
    mut tcp: TcpStream,
    mut local: UnixStream,
) -> io::Result<()> {
    tcp.set_nonblocking(true)?;
    local.set_nonblocking(true)?;
    let mut to_local: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    // The daemon sent close_notify or closed TCP: no more input from the network.
    let mut net_done = false;
    // The local side ended its writes: close_notify sent.
    let mut local_done = false;
    let mut local_shut = false;
    loop {
        if net_done && to_local.is_empty() && !local_shut {
            local.half_close();
            local_shut = true;
        }
        if net_done && local_done && !conn.wants_write() && to_local.is_empty() {
            return Ok(());
        }
        let mut fds = [
            libc::pollfd {
                fd: tcp.as_raw_fd(),
                events: 0,
                revents: 0,
            },
            libc::pollfd {
                fd: local.as_raw_fd(),
                events: 0,
                revents: 0,
            },
        ];
        if !net_done && to_local.len() < PENDING_CAP {
            fds[0].events |= libc::POLLIN;
        }
        if conn.wants_write() {
            fds[0].events |= libc::POLLOUT;
        }
        if !local_done {
            fds[1].events |= libc::POLLIN;
        }
        if !to_local.is_empty() {
            fds[1].events |= libc::POLLOUT;
        }
        // A side with nothing left to do is left out: poll reports hang-ups even
        // when no event is asked for, which would spin this loop.
        if net_done && !conn.wants_write() {
            fds[0].fd = -1;
        }
        if local_done && to_local.is_empty() {
            fds[1].fd = -1;
        }
        // After the local side is gone, do not wait for a daemon that keeps the
        // connection open forever.
        let timeout = if local_done { 30_000 } else { -1 };
        // SAFETY: `fds` is a valid array of two pollfd structs for the whole call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Ok(());
        }
        let (net, loc) = (fds[0].revents, fds[1].revents);
        if net & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 && !net_done {
            match conn.read_tls(&mut tcp) {
                Ok(0) => net_done = true,
                Ok(_) => {
                    let state = conn
                        .process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    let plain = state.plaintext_bytes_to_read();
                    if plain > 0 {
                        let start = to_local.len();
                        to_local.resize(start + plain, 0);
                        conn.reader().read_exact(&mut to_local[start..])?;
                    }
                    if state.peer_has_closed() {
                        net_done = true;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => net_done = true,
            }
        }
        if conn.wants_write() {
            match conn.write_tls(&mut tcp) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        if loc & (libc::POLLIN | libc::POLLHUP) != 0 && !local_done {
            match local.read(&mut buf) {
                Ok(0) => {
                    local_done = true;
                    conn.send_close_notify();
                }
                Ok(n) => conn.writer().write_all(&buf[..n])?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => {
                    local_done = true;
                    conn.send_close_notify();
                }
            }
        }
        if !to_local.is_empty() {
            match local.write(&to_local) {
                Ok(n) => {
                    to_local.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The local side is gone: nobody wants the rest.
                Err(_) => return Ok(()),
            }
        }
        if local_done && !conn.wants_write() {
            let _ = tcp.shutdown(Shutdown::Write);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_hosts_parse_and_tls_needs_its_files() {
        let c = crate::Client::new("tcp://127.0.0.1:2376").unwrap();
        assert_eq!(c.host(), "tcp://127.0.0.1:2376");
        assert!(crate::Client::new("tcp://localhost").is_ok());
        assert!(crate::Client::new("tcp://[::1]:2376").is_ok());
        assert!(crate::Client::new("tcp://").is_err());
        assert!(crate::Client::new("tcp://h:notaport").is_err());
        assert!(crate::Client::new("ssh://h").is_err());
        // Verification without a CA, and files that are not there: clear errors.
        let verify = TlsOptions {
            verify: true,
            ..TlsOptions::default()
        };
        let e = client_config(&verify).unwrap_err().to_string();
        assert!(e.contains("--tlscacert"), "{e}");
        let missing = TlsOptions {
            verify: true,
            ca: Some("/nonexistent/ca.pem".into()),
            ..TlsOptions::default()
        };
        let e = client_config(&missing).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        // `--tls` alone needs no file: encryption without checking the daemon.
        assert!(client_config(&TlsOptions::default()).is_ok());
        // A unix host ignores TLS settings, as Docker's client does.
        let unix = crate::Client::new("unix:///run/x.sock")
            .unwrap()
            .with_tls(&missing);
        assert!(unix.is_ok());
    }

    #[test]
    fn plain_tcp_bridge_passes_bytes_both_ways_and_half_closes() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            s.write_all(&got).unwrap();
            s.write_all(b"!").unwrap();
        });
        let mut local = connect(&addr, None).unwrap();
        local.write_all(b"ping").unwrap();
        local.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        local.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"ping!");
        server.join().unwrap();
    }
}
