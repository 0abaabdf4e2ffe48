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
                    let mut stream = stream;
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, sniff(&mut stream)).await {
                        Ok(Ok(First::Tls)) => {}
                        Ok(Ok(First::PlainHttp)) => {
                            answer_plain_http(stream).await;
                            return;
                        }
                        Ok(Ok(First::Other)) => {
                            log(
                                "warning",
                                &format!(
                                    "http: TLS handshake error from {peer}: tls: first record does not look like a TLS handshake"
                                ),
                            );
                            return;
                        }
                        // Closed before saying anything, or silent: nothing to answer.
                        Ok(Err(_)) | Err(_) => return,
                    }
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

/// What the first bytes of a connection on a TLS port are.
#[derive(Debug, PartialEq)]
enum First {
    /// A TLS handshake record (content type 22): hand it to the TLS acceptor.
    Tls,
    /// The start of an HTTP/1 request: a client that was not told to use TLS.
    PlainHttp,
    /// Neither.
    Other,
}

/// A TLS record starts with its content type; a client hello is a handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// Methods whose request line marks a plain HTTP client on the TLS port.
const HTTP_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
];

/// Docker's answer to plain HTTP on its TLS port, byte for byte: the status line, no
/// headers, and the text the docker CLI prints as the daemon's error.
const PLAIN_HTTP_ANSWER: &[u8] =
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// Classifies the first bytes of `s`. A TLS client's first byte is only peeked (the
/// acceptor reads it again); anything else can never become TLS, so its first bytes
/// are read (up to the first space, at most 8) to tell an HTTP request line apart.
/// `Err`: the peer closed or failed before sending a byte.
async fn sniff(s: &mut tokio::net::TcpStream) -> std::io::Result<First> {
    use tokio::io::AsyncReadExt;
    let mut one = [0u8; 1];
    if s.peek(&mut one).await? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    if one[0] == TLS_HANDSHAKE {
        return Ok(First::Tls);
    }
    let mut head = Vec::with_capacity(8);
    let mut buf = [0u8; 8];
    while head.len() < 8 && !head.contains(&b' ') {
        let n = s.read(&mut buf[..8 - head.len()]).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(classify_plain(&head))
}

/// Whether `head` (the first bytes, not a TLS record) starts an HTTP request line.
fn classify_plain(head: &[u8]) -> First {
    let Some(sp) = head.iter().position(|b| *b == b' ') else {
        return First::Other;
    };
    match std::str::from_utf8(&head[..sp]) {
        Ok(method) if HTTP_METHODS.contains(&method) => First::PlainHttp,
        _ => First::Other,
    }
}

/// Sends [`PLAIN_HTTP_ANSWER`] and closes. The rest of the request is read and
/// dropped for a moment first: closing with unread bytes would reset the connection
/// and could destroy the answer before the client reads it.
async fn answer_plain_http(mut s: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if s.write_all(PLAIN_HTTP_ANSWER).await.is_err() || s.shutdown().await.is_err() {
        return;
    }
    let drain = async {
        let mut buf = [0u8; 4096];
        let mut total = 0usize;
        // Bounded: a client streaming a body does not keep the task.
        while total < (1 << 20) {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_request_lines_are_told_apart() {
        assert_eq!(classify_plain(b"GET /_pin"), First::PlainHttp);
        assert_eq!(classify_plain(b"HEAD /_p"), First::PlainHttp);
        assert_eq!(classify_plain(b"DELETE /"), First::PlainHttp);
        assert_eq!(classify_plain(b"GETX /a"), First::Other);
        assert_eq!(classify_plain(b"get /"), First::Other);
        assert_eq!(classify_plain(b"SSH-2.0-"), First::Other);
        assert_eq!(classify_plain(b""), First::Other);
    }

    #[tokio::test]
    async fn sniff_reads_tls_and_http_starts() {
        use tokio::io::AsyncWriteExt;
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        for (sent, want) in [
            (&b"\x16\x03\x01\x00\xa5"[..], First::Tls),
            (&b"GET /_ping HTTP/1.1\r\n"[..], First::PlainHttp),
            (&b"\x00\x01garbage"[..], First::Other),
        ] {
            let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (mut s, _) = l.accept().await.unwrap();
            c.write_all(sent).await.unwrap();
            assert_eq!(sniff(&mut s).await.unwrap(), want, "{sent:?}");
            if want == First::Tls {
                // Only peeked: the handshake still sees the whole record.
                let mut b = [0u8; 5];
                use tokio::io::AsyncReadExt;
                s.read_exact(&mut b).await.unwrap();
                assert_eq!(&b[..], sent);
            }
        }
        // A plain client gets Docker's 400 and the connection closes.
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        c.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let answer = tokio::spawn(answer_plain_http(s));
        let mut out = Vec::new();
        use tokio::io::AsyncReadExt;
        c.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, PLAIN_HTTP_ANSWER);
        drop(c);
        answer.await.unwrap();
    }
}
