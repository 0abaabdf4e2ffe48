//! Response bodies: whole buffers for JSON answers and channel-fed streams for logs,
//! events, stats and progress lines.
//!
//! Every handler returns `Response<Body>`; a stream is produced by a task that pushes
//! `Bytes` into a [`ChannelBody`]'s sender and stops when the receiver is gone (the
//! client disconnected), so no stream outlives its client.

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
    Empty::<Bytes>::new().map_err(|never| match never {}).boxed()
}

/// A body of one buffer.
pub fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into()).map_err(|never| match never {}).boxed()
}

/// `200` (or `status`) with a JSON body, as Docker writes it: compact, newline-terminated.
pub fn json_response<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<Body> {
    let mut text = match serde_json::to_vec(value) {
        Ok(v) => v,
        // Serializing our own models cannot fail (no maps with non-string keys); keep
        // a clear answer anyway instead of a panic.
        Err(e) => {
            return crate::error::ApiError::internal(format!("encoding response: {e}"))
                .into_response()
        }
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
pub struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

/// Create a channel body and the sender that feeds it. `capacity` bounds memory when the
/// client reads slower than the producer writes.
pub fn channel(capacity: usize) -> (mpsc::Sender<Bytes>, Body) {
    let (tx, rx) = mpsc::channel(capacity);
    (tx, ChannelBody { rx }.boxed())
}

impl HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(b)) => Poll::Ready(Some(Ok(Frame::data(b)))),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mux_frame_has_docker_header() {
        let f = mux_frame(StdStream::Stderr, b"hello\n");
        assert_eq!(&f[..8], &[2, 0, 0, 0, 0, 0, 0, 6]);
        assert_eq!(&f[8..], b"hello\n");
    }
}
