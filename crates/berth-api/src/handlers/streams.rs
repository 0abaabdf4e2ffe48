//! Turning an attached process's stdio into a reply: take the connection over after
//! `101 UPGRADED` (or Docker's `200` hijack for clients that did not ask to upgrade,
//! see [`crate::conn`]), or, when the connection cannot be taken over, send the output
//! as an ordinary streamed body.

use crate::backend::{AttachIo, BoxFut};
use crate::body::{self, Body};
use crate::compat;
use crate::error::ApiError;
use crate::hijack::{self, parse_detach_keys, pump, PumpEnd};
use crate::server::ReqCtx;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The part of a request needed to take its connection over later.
pub struct Upgrade {
    wanted: bool,
    on: OnUpgrade,
}

impl Upgrade {
    /// Take the upgrade handle out of `req` (its body can still be read afterwards).
    pub fn take(req: &mut Request<Incoming>) -> Upgrade {
        Upgrade {
            wanted: hijack::wants_upgrade(req),
            on: hyper::upgrade::on(req),
        }
    }
}

/// Reply to an attach whose stdio `io` is already connected.
pub fn hijack(ctx: &ReqCtx, upgrade: Upgrade, io: AttachIo) -> Result<Response<Body>, ApiError> {
    let tty = io.tty;
    hijack_deferred(ctx, upgrade, tty, Box::pin(async move { Ok(io) }), None)
}

/// Called after the output ended, before the connection closes.
pub type Finish = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Reply `101`, and only once the connection is taken over run `start` (which creates
/// the stdio, e.g. starts an exec) and pump. Starting after the reply head matters:
/// clients that read the head through a buffered reader and then switch to the raw
/// socket lose output that arrived together with the head. `finish` runs after the
/// output ended, before the connection closes (e.g. wait until an exec's exit code is
/// recorded, so an inspect right after sees it).
pub fn hijack_deferred(
    ctx: &ReqCtx,
    upgrade: Upgrade,
    tty: bool,
    start: BoxFut<'static, AttachIo>,
    finish: Option<Finish>,
) -> Result<Response<Body>, ApiError> {
    let content_type = compat::stream_content_type(ctx.version, tty);
    if !upgrade.wanted {
        // No connection to take over: start now and stream the output as the body.
        let (tx, body) = body::channel(16);
        tokio::spawn(async move {
            match start.await {
                Ok(io) => copy_output(io, tx).await,
                Err(e) => {
                    let _ = tx.send(error_bytes(&e, tty)).await;
                }
            }
            if let Some(f) = finish {
                f.await;
            }
        });
        let mut resp = Response::new(body);
        resp.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        return Ok(resp);
    }
    let upgrade = upgrade.on;
    tokio::spawn(async move {
        // Fails only if the client went away before the 101 was written.
        let Ok(conn) = upgrade.await else {
            return;
        };
        let mut conn = TokioIo::new(conn);
        let io = match start.await {
            Ok(io) => io,
            Err(e) => {
                // Past the reply head, errors can only travel in the stream (as Docker
                // does: the text on stdout).
                let _ = conn.write_all(&error_bytes(&e, tty)).await;
                let _ = conn.shutdown().await;
                return;
            }
        };
        let keys = match parse_detach_keys(io.detach_keys.as_deref().unwrap_or("")) {
            Ok(k) => k,
            Err(_) => hijack::DEFAULT_DETACH_KEYS.to_vec(),
        };
        let (end, conn) = pump(conn, io.output, io.stdin, keys).await;
        if end == PumpEnd::OutputClosed {
            if let Some(f) = finish {
                f.await;
            }
        }
        if end == PumpEnd::ClientGone {
            return;
        }
        // Unread stdin left in the socket would turn the close into a reset.
        hijack::close(conn, hijack::DRAIN_TIMEOUT).await;
    });
    Ok(hijack::upgrade_response(content_type))
}

/// An error text as the stream carries it: a stdout frame, or raw with a tty.
fn error_bytes(e: &ApiError, tty: bool) -> Bytes {
    let text = format!("{}\r\n", e.message);
    if tty {
        Bytes::from(text)
    } else {
        body::mux_frame(body::StdStream::Stdout, text.as_bytes())
    }
}

/// Copy `io`'s output into a body channel until either side ends.
async fn copy_output(io: AttachIo, tx: tokio::sync::mpsc::Sender<Bytes>) {
    // No stdin without a hijacked connection: dropping the writer ends it.
    drop(io.stdin);
    let mut output = io.output;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match output.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                    return;
                }
            }
        }
    }
}
