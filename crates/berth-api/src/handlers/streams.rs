//! Turning an attached process's stdio into a reply: take the connection over after
//! `101 UPGRADED` (or Docker's `200` hijack for clients that did not ask to upgrade,
//! see [`crate::conn`]), or, when the connection cannot be taken over, send the output
//! as an ordinary streamed body.

use crate::backend::AttachIo;
use crate::body::{self, Body};
use crate::compat;
use crate::error::ApiError;
use crate::hijack::{self, parse_detach_keys, pump};
use crate::server::ReqCtx;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;

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

/// Reply to an attach / exec start whose stdio is `io`.
pub fn hijack(ctx: &ReqCtx, upgrade: Upgrade, io: AttachIo) -> Result<Response<Body>, ApiError> {
    let keys = parse_detach_keys(io.detach_keys.as_deref().unwrap_or(""))?;
    if !upgrade.wanted {
        return Ok(stream_output(ctx, io));
    }
    let upgrade = upgrade.on;
    let content_type = compat::stream_content_type(ctx.version, io.tty);
    tokio::spawn(async move {
        // Fails only if the client went away before the 101 was written.
        if let Ok(conn) = upgrade.await {
            pump(TokioIo::new(conn), io.output, io.stdin, keys).await;
        }
    });
    Ok(hijack::upgrade_response(content_type))
}

/// Output only, as a chunked body (no stdin without a hijacked connection).
fn stream_output(ctx: &ReqCtx, mut io: AttachIo) -> Response<Body> {
    let (tx, body) = body::channel(16);
    // No stdin: the client cannot send any; close it so the process sees EOF only if it
    // was attached (dropping the writer does that).
    io.stdin = None;
    let mut output = io.output;
    tokio::spawn(async move {
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
    });
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(compat::stream_content_type(ctx.version, io.tty)),
    );
    resp
}
