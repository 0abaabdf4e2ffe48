//! The accept loop and per-request plumbing: HTTP/1.1 over a unix socket with hyper,
//! upgrades enabled (attach and exec take over the connection), version prefix,
//! routing, and the headers Docker puts on every response.

use crate::backend::Backend;
use crate::body::Body;
use crate::conn::Sniffed;
use crate::error::ApiError;
use crate::handlers;
use crate::query::Query;
use crate::router;
use crate::version::{self, ApiVersion, MAX_API_VERSION};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixListener;

/// Daemon facts the API reports (`/version`, `/info`) and needs (paths).
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Our version, sent as `Server: Docker/<version> (linux)` and in `/version`.
    pub server_version: String,
    /// Unique daemon id (stable across restarts), `/info` `ID`.
    pub id: String,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    /// Logging driver of new containers (`json-file` unless configured).
    pub log_driver: String,
    /// `debug` on the daemon, reported by `/info`.
    pub debug: bool,
    /// Labels from the daemon config, reported by `/info`.
    pub labels: Vec<String>,
    /// `--insecure-registry` / daemon.json `insecure-registries`, for `/info` RegistryConfig.
    pub insecure_registries: Vec<String>,
    /// The values of the three above set by the last configuration reload (SIGHUP),
    /// which replace the startup ones; see [`DaemonConfig::live`].
    pub reloaded: Arc<std::sync::RwLock<Option<Reloadable>>>,
}

/// The settings a running daemon can change on a configuration reload (a subset of
/// Docker's reloadable ones).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reloadable {
    pub debug: bool,
    pub labels: Vec<String>,
    pub insecure_registries: Vec<String>,
}

impl DaemonConfig {
    /// The reloadable settings in effect now.
    pub fn live(&self) -> Reloadable {
        self.reloaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| Reloadable {
                debug: self.debug,
                labels: self.labels.clone(),
                insecure_registries: self.insecure_registries.clone(),
            })
    }

    /// Make `r` the reloadable settings in effect.
    pub fn set_live(&self, r: Reloadable) {
        *self.reloaded.write().unwrap_or_else(|e| e.into_inner()) = Some(r);
    }
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            server_version: env!("CARGO_PKG_VERSION").to_string(),
            id: String::new(),
            data_root: PathBuf::from("/var/lib/berth"),
            exec_root: PathBuf::from("/run/berth"),
            log_driver: "json-file".into(),
            debug: false,
            labels: Vec::new(),
            insecure_registries: Vec::new(),
            reloaded: Arc::default(),
        }
    }
}

/// Everything a handler can reach: the engine and the daemon facts.
pub struct Api {
    pub config: DaemonConfig,
    pub backend: Arc<dyn Backend>,
}

/// What a handler knows about the request besides its body.
#[derive(Debug, Clone)]
pub struct ReqCtx {
    /// The version the client asked for (the newest when it sent no prefix).
    pub version: ApiVersion,
    pub query: Query,
    pub method: hyper::Method,
}

/// Serve `listener` until `shutdown` resolves. Running requests are not waited for: the
/// daemon exits right after, and containers keep running (live restore).
pub async fn serve(listener: UnixListener, api: Arc<Api>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    log("error", &format!("accept: {e}"));
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        grow_send_buffer(&stream);
        tokio::spawn(serve_connection(stream, api.clone()));
    }
}

/// Send buffer asked for on each accepted unix connection.
const SEND_BUFFER: usize = 4 * 1024 * 1024;

/// Let a large response (`logs` of a big log, `export`, `save`) cross to the client in
/// large steps: with the default buffer (about 200 KiB) every batch of a stream is a
/// few partial writes, each waiting for the client to read and wake the daemon again.
/// Only bytes in flight use the space, so an idle connection costs nothing. The daemon
/// runs as root and may go past the system's limit; best effort otherwise.
fn grow_send_buffer(stream: &tokio::net::UnixStream) {
    use nix::sys::socket::{setsockopt, sockopt};
    if setsockopt(stream, sockopt::SndBufForce, &SEND_BUFFER).is_err() {
        let _ = setsockopt(stream, sockopt::SndBuf, &SEND_BUFFER);
    }
}

/// Serve one accepted connection (a unix socket, a TCP or a TLS stream) until the
/// client leaves or the connection is taken over (attach, exec).
pub async fn serve_connection<S>(stream: S, api: Arc<Api>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Reads the first request head ahead (see `conn`); a client that connects
    // and leaves has nothing to serve.
    let Ok(io) = Sniffed::new(stream).await else {
        return;
    };
    let service = service_fn(move |req| {
        let api = api.clone();
        async move { Ok::<_, Infallible>(handle(api, req).await) }
    });
    let conn = http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    // A client going away mid-request is normal (ctrl-c on `logs -f`); nothing
    // to report.
    let _ = conn.await;
}

/// One request end to end: version, route, handler, common headers.
pub async fn handle(api: Arc<Api>, req: Request<Incoming>) -> Response<Body> {
    // Request line for the logs (the request itself moves into the handler).
    let line = format!("{} {}", req.method(), req.uri());
    let mut resp = match dispatch(api.clone(), req).await {
        Ok(r) => r,
        Err(e) => {
            if e.status.is_server_error() && e.status != hyper::StatusCode::NOT_IMPLEMENTED {
                log(
                    "error",
                    &format!("Handler for {line} returned error: {}", e.message),
                );
            }
            e.into_response()
        }
    };
    if api.config.debug {
        log("debug", &format!("{line} -> {}", resp.status().as_u16()));
    }
    let h = resp.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION_HEADER));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    if let Ok(v) = HeaderValue::from_str(&format!("Docker/{} (linux)", api.config.server_version)) {
        h.insert(hyper::header::SERVER, v);
    }
    resp
}

/// One log line on stderr in the daemon's format.
pub(crate) fn log(level: &str, msg: &str) {
    let now = berth_types::time::rfc3339_nano(std::time::SystemTime::now());
    eprintln!("time=\"{now}\" level={level} msg={msg:?}");
}

const API_VERSION_HEADER: &str = "1.45";
const _: () = assert!(MAX_API_VERSION.0 == 1 && MAX_API_VERSION.1 == 45);

async fn dispatch(api: Arc<Api>, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().to_string();
    let (asked, rest) = match version::split_prefix(&path) {
        Ok(split) => split,
        Err(e) => {
            drain(req.into_body()).await;
            return Err(e);
        }
    };
    let Some(route) = router::route(req.method(), rest) else {
        drain(req.into_body()).await;
        return Err(ApiError::page_not_found());
    };
    let req = if ignores_body(&route) {
        let (parts, mut body) = req.into_parts();
        drain_mut(&mut body).await;
        Request::from_parts(parts, body)
    } else {
        req
    };
    let ctx = ReqCtx {
        version: asked.unwrap_or(MAX_API_VERSION),
        query: Query::parse(req.uri().query()),
        method: req.method().clone(),
    };
    handlers::dispatch(&api, &ctx, route, req).await
}

/// Routes whose handlers never read the request body. Their bodies (clients may send
/// one anyway, e.g. `{}` with a `stop`) are read and dropped before the handler runs,
/// so that an early answer (an error before the handler would have looked at the
/// body) leaves the connection usable for the client's next request. A handler that
/// starts reading its body must have its route removed from this list.
fn ignores_body(route: &router::Route) -> bool {
    use router::Route as R;
    matches!(
        route,
        R::Ping
            | R::Version
            | R::Info
            | R::Events
            | R::SystemDf
            | R::ContainerList
            | R::ContainerPrune
            | R::ContainerInspect(_)
            | R::ContainerStop(_)
            | R::ContainerRestart(_)
            | R::ContainerKill(_)
            | R::ContainerPause(_)
            | R::ContainerUnpause(_)
            | R::ContainerWait(_)
            | R::ContainerRename(_)
            | R::ContainerResize(_)
            | R::ContainerDelete(_)
            | R::ContainerLogs(_)
            | R::ContainerTop(_)
            | R::ContainerStats(_)
            | R::ContainerChanges(_)
            | R::ContainerExport(_)
            | R::ArchiveStat(_)
            | R::ArchiveGet(_)
            | R::ExecResize(_)
            | R::ExecInspect(_)
            | R::ImageList
            | R::ImageInspect(_)
            | R::ImageHistory(_)
            | R::ImageTag(_)
            | R::ImageDelete(_)
            | R::ImageSave(_)
            | R::ImagePrune
            | R::Unsupported(_)
    )
}

/// Most of an unread request body that is drained to keep the connection; past this
/// the connection is closed after the answer instead (with a lingering close, see
/// `conn`).
const DRAIN_LIMIT: usize = 1 << 20;

/// How long draining an unread body may take (a client that announces a body and
/// never sends it must not delay the answer much).
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// Read and drop a request body nobody will read.
pub(crate) async fn drain(mut body: Incoming) {
    drain_mut(&mut body).await;
}

async fn drain_mut(body: &mut Incoming) {
    use http_body_util::BodyExt;
    use hyper::body::Body as _;
    if body.is_end_stream() {
        return;
    }
    let mut left = DRAIN_LIMIT;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                if data.len() >= left {
                    return;
                }
                left -= data.len();
            }
        }
    })
    .await;
}
