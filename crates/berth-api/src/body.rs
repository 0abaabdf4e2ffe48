//! Response bodies: whole buffers for JSON answers and channel-fed streams for logs,
//! events, stats and progress lines.
//!
//! Every handler returns `Response<Body>`; a stream is produced by a task that pushes
//! `Bytes` into a [`ChannelBody`]'s sender and stops when the receiver is gone (the
//! client disconnected), so no stream outlives its client.

use crate::error::ApiError;
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use hyper::{header, Response, StatusCode};
use serde::Serialize;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// The body type of every response.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// A body with no bytes.
pub fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

/// A body of one buffer.
pub fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed()
}

/// `200` (or `status`) with a JSON body, as Docker writes it: compact, newline-terminated.
pub fn json_response<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<Body> {
    let mut text = match serde_json::to_vec(value) {
        Ok(v) => v,
        // Serializing our own models cannot fail (no maps with non-string keys); keep
        // a clear answer anyway instead of a panic.
        Err(e) => return ApiError::internal(format!("encoding response: {e}")).into_response(),
    };
    text.push(b'\n');
    let mut resp = Response::new(full(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp
}

/// `200` with a JSON body.
pub fn json_ok<T: Serialize + ?Sized>(value: &T) -> Response<Body> {
    json_response(StatusCode::OK, value)
}

/// A response with no body and the given status (`204 No Content` for most actions).
pub fn status_only(status: StatusCode) -> Response<Body> {
    let mut resp = Response::new(empty());
    *resp.status_mut() = status;
    resp
}

/// A streaming body fed through a bounded channel. Dropping the [`ChannelBody`] (the
/// connection went away) makes the sender's `send` fail, which ends the producer.
pub struct ChannelBody<T> {
    rx: mpsc::Receiver<T>,
}

/// Create a channel body and the sender that feeds it. `capacity` bounds memory when the
/// client reads slower than the producer writes.
pub fn channel(capacity: usize) -> (mpsc::Sender<Bytes>, Body) {
    let (tx, rx) = mpsc::channel(capacity);
    (tx, from_receiver(rx))
}

/// A body streaming what `rx` yields (e.g. a tar stream from the engine).
pub fn from_receiver<T: Into<Bytes> + Send + Sync + 'static>(rx: mpsc::Receiver<T>) -> Body {
    ChannelBody { rx }.boxed()
}

/// Feed a request body into a channel as it arrives (for importers that read it on
/// their own side). The channel closes at the end of the body; a broken body closes it
/// early, which the reader sees as a truncated archive.
///
/// Frames that are already read when one arrives are sent together (up to
/// [`BATCH`] bytes): hyper hands out a body in pieces of its read buffer, and one channel
/// message per piece woke the reading thread hundreds of times for a few MB.
pub fn incoming_channel(mut incoming: hyper::body::Incoming) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        let mut done = false;
        while !done {
            let first = match incoming.frame().await {
                Some(Ok(frame)) => frame,
                _ => return,
            };
            let Ok(first) = first.into_data() else {
                continue;
            };
            let mut batch: Option<bytes::BytesMut> = None;
            let mut len = first.len();
            while len < BATCH {
                // Only what is ready now: never wait to fill a batch.
                let ready = std::future::poll_fn(|cx| {
                    Poll::Ready(match Pin::new(&mut incoming).poll_frame(cx) {
                        Poll::Pending => None,
                        Poll::Ready(f) => Some(f),
                    })
                })
                .await;
                match ready {
                    None => break,
                    Some(Some(Ok(frame))) => {
                        if let Ok(d) = frame.into_data() {
                            let b = batch.get_or_insert_with(|| {
                                let mut b = bytes::BytesMut::with_capacity(BATCH);
                                b.extend_from_slice(&first);
                                b
                            });
                            b.extend_from_slice(&d);
                            len += d.len();
                        }
                    }
                    // The end, or a broken body: send what came, then close.
                    Some(_) => {
                        done = true;
                        break;
                    }
                }
            }
            let data = match batch {
                Some(b) => b.freeze(),
                None => first,
            };
            if tx.send(data).await.is_err() {
                return;
            }
        }
    });
    rx
}

/// Most bytes [`incoming_channel`] sends in one message.
const BATCH: usize = 1 << 20;

impl<T: Into<Bytes>> HttpBody for ChannelBody<T> {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(b)) => Poll::Ready(Some(Ok(Frame::data(b.into())))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// Docker's stream ids in the 8-byte multiplexed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdStream {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
}

/// One multiplexed frame: `[stream, 0, 0, 0, len as u32 big-endian]` + payload.
pub fn mux_frame(stream: StdStream, payload: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.push(stream as u8);
    out.extend_from_slice(&[0, 0, 0]);
    // Payloads are chunks of log lines or pipe reads, far below 4 GiB.
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    Bytes::from(out)
}

/// Largest JSON request body accepted (create bodies are a few KiB).
const MAX_JSON_BODY: usize = 16 << 20;

/// Read a whole request body, refusing more than `limit` bytes.
pub async fn read_all(body: hyper::body::Incoming, limit: usize) -> Result<Bytes, ApiError> {
    let limited = http_body_util::Limited::new(body, limit);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => Err(ApiError::bad_request(format!("reading request body: {e}"))),
    }
}

/// Decode a JSON request body. An empty body is `T::default()` when `allow_empty`
/// (Docker treats a missing body of e.g. `start` or `update` as empty), otherwise a 400.
/// A declared non-JSON content type is refused, as Docker does.
pub async fn read_json<T: serde::de::DeserializeOwned + Default>(
    req: hyper::Request<hyper::body::Incoming>,
    allow_empty: bool,
) -> Result<T, ApiError> {
    if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !mime.is_empty() && mime != "application/json" {
            let err = ApiError::bad_request(format!(
                "unsupported Content-Type header ({ct}): must be 'application/json'"
            ));
            // Read the refused body anyway: the connection stays usable.
            crate::server::drain(req.into_body()).await;
            return Err(err);
        }
    }
    let bytes = read_all(req.into_body(), MAX_JSON_BODY).await?;
    parse_json(&bytes, allow_empty)
}

/// The decoding half of [`read_json`].
pub fn parse_json<T: serde::de::DeserializeOwned + Default>(
    bytes: &[u8],
    allow_empty: bool,
) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return if allow_empty {
            Ok(T::default())
        } else {
            Err(ApiError::bad_request("invalid JSON: request body is empty"))
        };
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_empty_and_malformed() {
        let v: serde_json::Value = parse_json(b"  ", true).unwrap();
        assert!(v.is_null());
        let e = parse_json::<serde_json::Value>(b"", false).unwrap_err();
        assert_eq!(e.status, 400);
        let e = parse_json::<serde_json::Value>(b"{\"Image\":", true).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.starts_with("invalid JSON: "), "{}", e.message);
    }

    #[test]
    fn mux_frame_has_docker_header() {
        let f = mux_frame(StdStream::Stderr, b"hello\n");
        assert_eq!(&f[..8], &[2, 0, 0, 0, 0, 0, 0, 6]);
        assert_eq!(&f[8..], b"hello\n");
    }
}
