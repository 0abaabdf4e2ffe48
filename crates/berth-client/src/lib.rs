//! Synchronous Docker Engine API client over a unix socket, used by the `berth` CLI
//! and by tests. No async runtime: each call opens a fresh connection, writes one
//! HTTP/1.1 request by hand ([`http`]) and reads the response; attach/exec use
//! [`Client::hijack`] to get the raw duplex socket back; multiplexed output is
//! decoded by [`stream`].
//!
//! API version: requests go straight to `/v{MAX_API_VERSION}` (no `GET /_ping` round
//! trip first, which is a whole connection per command); a daemon that is older answers
//! 400 "client version … is too new", and only then the version is negotiated through
//! `GET /_ping` and the request sent again (it was refused before doing anything).
//! Streamed bodies cannot be sent twice: those negotiate first.

pub mod api;
pub mod http;
pub mod stream;
pub mod tls;

use std::io::{self, BufReader, Read};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::OnceLock;

pub use http::{Body, Head, Query};
pub use stream::{Frame, FrameReader, JsonLines, StreamKind};
pub use tls::TlsOptions;

/// Highest API version this client speaks.
pub const MAX_API_VERSION: &str = "1.45";
/// Version assumed when the daemon does not say (what Docker's client assumes too).
pub const FALLBACK_API_VERSION: &str = "1.24";
/// Default daemon address.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// Errors of API calls; `Display` gives Docker's wording.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Cannot connect to the Berth daemon at {host}. Is the berth daemon running?")]
    Connect {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("Error response from daemon: {message}")]
    Api { status: u16, message: String },
    #[error("unsupported host {0:?}: only unix:// and tcp:// hosts are supported")]
    InvalidHost(String),
    #[error("error during connect: {0}")]
    Protocol(String),
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("error decoding the daemon's response: {0}")]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// The HTTP status of a daemon error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True for a 404 from the daemon.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// The daemon's message without the "Error response from daemon" prefix.
    pub fn daemon_message(&self) -> Option<&str> {
        match self {
            Error::Api { message, .. } => Some(message),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// A response whose body has not been read yet. `Read` yields the decoded body.
pub struct Response {
    pub head: Head,
    body: http::BodyReader<BufReader<UnixStream>>,
}

impl Response {
    pub fn status(&self) -> u16 {
        self.head.status
    }

    /// Reads the whole body as JSON (`null` for an empty body).
    pub fn json(mut self) -> Result<serde_json::Value> {
        let mut buf = Vec::new();
        self.body.read_to_end(&mut buf)?;
        if buf.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        Ok(serde_json::from_slice(&buf)?)
    }

    /// Reads the whole body as bytes.
    pub fn bytes(mut self) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.body.read_to_end(&mut buf)?;
        Ok(buf)
    }
}

impl Read for Response {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.body.read(buf)
    }
}

/// A connection to one daemon.
#[derive(Debug, Clone)]
pub struct Client {
    host: String,
    socket: PathBuf,
    /// `/v1.NN`, negotiated on first use.
    prefix: OnceLock<String>,
    /// Set for a `tcp://` host (then `socket` is unused); see [`tls`].
    tcp: Option<TcpTarget>,
}

/// A `tcp://` daemon: its address and, with TLS, the client configuration.
#[derive(Debug, Clone)]
struct TcpTarget {
    host: String,
    /// `None`: Docker's default, 2376 with TLS and 2375 without.
    port: Option<u16>,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Client {
    /// `host` is `unix:///path/to.sock` or a plain socket path.
    pub fn new(host: &str) -> Result<Client> {
        if let Some(rest) = host.strip_prefix("tcp://") {
            return Client::new_tcp(host, rest);
        }
        let socket = if let Some(p) = host.strip_prefix("unix://") {
            PathBuf::from(p)
        } else if host.starts_with('/') || !host.contains("://") {
            PathBuf::from(host)
        } else {
            return Err(Error::InvalidHost(host.to_string()));
        };
        if socket.as_os_str().is_empty() {
            return Err(Error::InvalidHost(host.to_string()));
        }
        let host = if host.contains("://") {
            host.to_string()
        } else {
            format!("unix://{host}")
        };
        Ok(Client {
            host,
            socket,
            prefix: OnceLock::new(),
            tcp: None,
        })
    }

    /// `tcp://host[:port]`: plain TCP until [`Client::with_tls`] is applied.
    fn new_tcp(host: &str, rest: &str) -> Result<Client> {
        let rest = rest.trim_end_matches('/');
        let invalid = || Error::InvalidHost(host.to_string());
        let (name, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => (h, Some(p.parse::<u16>().map_err(|_| invalid())?)),
            _ => (rest, None),
        };
        if name.is_empty() || name.contains('/') {
            return Err(invalid());
        }
        Ok(Client {
            host: host.to_string(),
            socket: PathBuf::new(),
            prefix: OnceLock::new(),
            tcp: Some(TcpTarget {
                host: name.to_string(),
                port,
                tls: None,
            }),
        })
    }

    /// Talk TLS to a `tcp://` host (a unix socket host ignores it, as Docker's
    /// client does).
    pub fn with_tls(mut self, opts: &TlsOptions) -> Result<Client> {
        if let Some(t) = self.tcp.as_mut() {
            t.tls = Some(tls::client_config(opts)?);
        }
        Ok(self)
    }

    /// Uses a fixed API version instead of negotiating (e.g. `"1.41"`).
    pub fn with_version(self, version: &str) -> Client {
        let prefix = OnceLock::new();
        let _ = prefix.set(format!("/v{version}"));
        Client { prefix, ..self }
    }

    /// The host string as given (`unix://…`).
    pub fn host(&self) -> &str {
        &self.host
    }

    fn connect(&self) -> Result<UnixStream> {
        if let Some(t) = &self.tcp {
            let port = t.port.unwrap_or(if t.tls.is_some() { 2376 } else { 2375 });
            return tls::connect(&format!("{}:{port}", t.host), t.tls.as_ref()).map_err(|source| {
                match source.kind() {
                    // TLS failures: say what TLS said, not "is the daemon running".
                    io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => {
                        Error::Protocol(source.to_string())
                    }
                    _ => Error::Connect {
                        host: self.host.clone(),
                        source,
                    },
                }
            });
        }
        UnixStream::connect(&self.socket).map_err(|source| Error::Connect {
            host: self.host.clone(),
            source,
        })
    }

    /// `GET /_ping`: the response head (Api-Version, Server, OSType headers).
    pub fn ping(&self) -> Result<Head> {
        let resp = self.raw_request("GET", "/_ping", &[], Body::Empty)?;
        let head = resp.head.clone();
        let _ = resp.bytes();
        Ok(head)
    }

    /// The negotiated API version, e.g. `1.45`.
    pub fn api_version(&self) -> Result<String> {
        Ok(self.prefix()?.trim_start_matches("/v").to_string())
    }

    fn prefix(&self) -> Result<&str> {
        if let Some(p) = self.prefix.get() {
            return Ok(p);
        }
        let head = self.ping()?;
        let version = negotiate(head.header("Api-Version"));
        Ok(self.prefix.get_or_init(|| format!("/v{version}")))
    }

    /// The prefix to try first: the negotiated one, or (not negotiated yet) our
    /// highest version, with `true` for "retry after negotiating if refused".
    fn optimistic_prefix(&self) -> (String, bool) {
        match self.prefix.get() {
            Some(p) => (p.clone(), false),
            None => (format!("/v{MAX_API_VERSION}"), true),
        }
    }

    /// Sends one request to an unversioned path (the prefix is not added).
    fn raw_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<Response> {
        let stream = self.connect()?;
        let mut all_headers = vec![("Connection", "close")];
        all_headers.extend_from_slice(headers);
        let sent = http::write_request(&mut &stream, method, path, &all_headers, body);
        let mut reader = BufReader::new(stream);
        let head = match sent {
            Ok(()) => http::read_head(&mut reader)?,
            // A daemon may answer (a refused version, say) and close before it read a
            // large body: its answer is still there to read.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                http::read_head(&mut reader).map_err(|_| Error::from(e))?
            }
            Err(e) => return Err(e.into()),
        };
        let kind = head.body_kind(method);
        Ok(Response {
            head,
            body: http::BodyReader::new(reader, kind),
        })
    }

    /// Sends a request to a versioned API path like `/containers/json?all=1` and
    /// turns a 4xx/5xx status into [`Error::Api`] with the daemon's message.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<Response> {
        let retry_body = match &body {
            Body::Empty => Some(Body::Empty),
            Body::Json(b) => Some(Body::Json(b.clone())),
            Body::Bytes(b, t) => Some(Body::Bytes(b, t)),
            Body::Stream(..) => None,
        };
        let (prefix, optimistic) = match retry_body {
            Some(_) => self.optimistic_prefix(),
            None => (self.prefix()?.to_string(), false),
        };
        let resp = self.raw_request(method, &format!("{prefix}{path}"), headers, body)?;
        match (check(resp), retry_body) {
            (Err(e), Some(again)) if optimistic && version_refused(&e) => {
                let full = format!("{}{}", self.prefix()?, path);
                check(self.raw_request(method, &full, headers, again)?)
            }
            (r, _) => r,
        }
    }

    /// `GET path` → JSON.
    pub fn get_json(&self, path: &str) -> Result<serde_json::Value> {
        self.request("GET", path, &[], Body::Empty)?.json()
    }

    /// `POST path` with an optional JSON body → JSON (`null` when empty).
    pub fn post_json(
        &self,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let body = match body {
            Some(v) => Body::Json(serde_json::to_vec(v)?),
            None => Body::Empty,
        };
        self.request("POST", path, &[], body)?.json()
    }

    /// `DELETE path` → JSON (`null` when empty).
    pub fn delete(&self, path: &str) -> Result<serde_json::Value> {
        self.request("DELETE", path, &[], Body::Empty)?.json()
    }

    /// Sends a request asking to take over the connection (`Upgrade: tcp`), as attach
    /// and exec start do, and returns the raw duplex socket once the daemon answers
    /// 101 (or 200 from daemons that do not upgrade formally). Nothing past the
    /// response head is consumed, so the first output bytes stay in the socket.
    pub fn hijack(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<UnixStream> {
        let (prefix, optimistic) = self.optimistic_prefix();
        match self.hijack_at(method, &format!("{prefix}{path}"), body) {
            Err(e) if optimistic && version_refused(&e) => {
                let full = format!("{}{}", self.prefix()?, path);
                self.hijack_at(method, &full, body)
            }
            r => r,
        }
    }

    fn hijack_at(
        &self,
        method: &str,
        full: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<UnixStream> {
        let stream = self.connect()?;
        let body = match body {
            Some(v) => Body::Json(serde_json::to_vec(v)?),
            None => Body::Empty,
        };
        http::write_request(
            &mut &stream,
            method,
            full,
            &[("Connection", "Upgrade"), ("Upgrade", "tcp")],
            body,
        )?;
        // Only the head is taken out of the socket: the first output bytes may follow.
        let raw = http::take_head(&stream)?;
        let head = http::read_head(&mut raw.as_slice())?;
        match head.status {
            101 | 200 => Ok(stream),
            _ => {
                let kind = head.body_kind(method);
                let mut body = Vec::new();
                let _ = http::BodyReader::new(BufReader::new(&stream), kind).read_to_end(&mut body);
                Err(api_error(head.status, &head.reason, &body))
            }
        }
    }
}

/// A daemon older than [`MAX_API_VERSION`] refusing the version we tried.
fn version_refused(e: &Error) -> bool {
    matches!(e, Error::Api { status: 400, message } if message.contains("is too new"))
}

/// Picks the API version to use from the daemon's `Api-Version` header.
pub fn negotiate(server: Option<&str>) -> String {
    let Some(server) = server.map(str::trim).filter(|s| !s.is_empty()) else {
        return FALLBACK_API_VERSION.to_string();
    };
    match (parse_version(server), parse_version(MAX_API_VERSION)) {
        (Some(s), Some(max)) if s < max => server.to_string(),
        (Some(_), _) => MAX_API_VERSION.to_string(),
        (None, _) => FALLBACK_API_VERSION.to_string(),
    }
}

fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn check(resp: Response) -> Result<Response> {
    if resp.head.status < 400 {
        return Ok(resp);
    }
    let status = resp.head.status;
    let reason = resp.head.reason.clone();
    let body = resp.bytes().unwrap_or_default();
    Err(api_error(status, &reason, &body))
}

/// Builds the error for a failed call from Docker's `{"message": "..."}` body.
fn api_error(status: u16, reason: &str, body: &[u8]) -> Error {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(String::from))
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body).trim().to_string();
            if text.is_empty() {
                reason.to_string()
            } else {
                text
            }
        });
    Error::Api { status, message }
}

#[cfg(test)]
mod tests;
