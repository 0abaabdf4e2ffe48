//! The API over TCP (`berthd -H tcp://ADDR:PORT`): plain, or TLS as Docker's
//! `--tls` (server certificate only) and `--tlsverify` (clients must show a
//! certificate signed by `--tlscacert`).
//!
//! Which addresses may be served without TLS is `berthd`'s decision (loopback only);
//! this module loads the PEM files into a rustls server configuration (ring provider,
//! the same TLS stack the registry client uses) and runs the accept loop. Every
//! accepted connection, after its handshake, is served by
//! [`crate::server::serve_connection`] exactly like a unix socket connection.

use crate::server::{log, serve_connection, Api};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// A TLS handshake that takes longer than this is dropped (a client that connects
/// and says nothing must not hold a task forever).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The PEM files of a TLS listener, as given to `--tlscacert`, `--tlscert`,
/// `--tlskey`.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// CA certificates that sign client certificates; required when `verify_clients`.
    pub ca: Option<PathBuf>,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// `--tlsverify`: refuse clients without a certificate signed by `ca`.
    pub verify_clients: bool,
}

/// Why a TLS configuration could not be built; worded like dockerd's start errors.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("could not read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to find any PEM data in certificate input {}", .0.display())]
    NoCertificate(PathBuf),
    #[error("could not load X509 key pair: no private key found in {}", .0.display())]
    NoKey(PathBuf),
    #[error("--tlsverify needs the CA certificate that signs client certificates (--tlscacert)")]
    NoCa,
    #[error("could not load X509 key pair: {0}")]
    KeyPair(String),
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let data = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&data)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_path_buf()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let data = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    PrivateKeyDer::from_pem_slice(&data).map_err(|_| TlsError::NoKey(path.to_path_buf()))
}

/// The rustls server configuration for `files`: TLS 1.2 and 1.3, HTTP/1.1 offered by
/// ALPN, client certificates checked against the CA when asked to.
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = read_certs(&files.cert)?;
    let key = read_key(&files.key)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = if files.verify_clients {
        let ca = files.ca.as_deref().ok_or(TlsError::NoCa)?;
        let mut roots = rustls::RootCertStore::empty();
        for c in read_certs(ca)? {
            roots
                .add(c)
                .map_err(|e| TlsError::Config(format!("CA certificate {}: {e}", ca.display())))?;
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::Config(e.to_string()))?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::KeyPair(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serve `listener` until `shutdown` resolves; with `tls`, every connection must
/// complete a TLS handshake first (failures are logged and dropped, as dockerd logs
/// `http: TLS handshake error`).
pub async fn serve_tcp(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    api: Arc<Api>,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    log("error", &format!("accept: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Small request/answer exchanges: do not wait to fill segments.
        let _ = stream.set_nodelay(true);
        let api = api.clone();
        match acceptor.clone() {
            None => {
                tokio::spawn(serve_connection(stream, api));
            }
            Some(acceptor) => {
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => serve_connection(tls, api).await,
                        Ok(Err(e)) => log(
                            "warning",
                            &format!("http: TLS handshake error from {peer}: {e}"),
                        ),
                        Err(_) => log(
                            "warning",
                            &format!("http: TLS handshake error from {peer}: timed out"),
                        ),
                    }
                });
            }
        }
    }
}
