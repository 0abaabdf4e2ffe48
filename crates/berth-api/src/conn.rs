//! Connection-level support for clients that hijack without asking to upgrade.
//!
//! Docker answers an `attach` / `exec start` request that carries no `Upgrade` header
//! with `200 OK` and then uses the connection as a raw stream anyway. hyper only
//! hands over a connection after a `101`, so for such a request (detected on the
//! first request of a connection, which is where every hijacking client sends it)
//! [`Sniffed`] adds the upgrade headers before hyper parses the request, and turns the
//! `101` status line and upgrade headers of the reply back into a plain `200 OK`.
//! Every other connection passes through untouched.
//!
//! [`Sniffed`] also closes connections the way HTTP servers must when they answer
//! before reading the whole request (an early error to a request with a large body):
//! after shutting down its write side it keeps reading and dropping what the client
//! still sends for a short while ("lingering close"). Closing with unread bytes
//! would reset the connection, and the client would see a reset instead of the
//! error it was sent.

use bytes::{Buf, Bytes, BytesMut};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// Header added to the rewritten request so the handler knows the reply is a `200`.
pub const RAW_HIJACK_HEADER: &str = "x-berth-raw-hijack";

/// Largest request head looked at; longer heads go to hyper unchanged (it will refuse
/// them itself if they are too large).
const MAX_HEAD: usize = 64 * 1024;

/// How long a closing connection keeps reading what the client still sends.
const LINGER_TIME: Duration = Duration::from_secs(2);

/// How much a closing connection reads and drops at most before closing anyway.
const LINGER_BYTES: usize = 64 << 20;

/// Where a closing connection is in its lingering close.
enum Closing {
    /// Still open.
    Open,
    /// Our write side is shut; reading and dropping input until EOF or a limit.
    Lingering {
        deadline: Pin<Box<tokio::time::Sleep>>,
        left: usize,
    },
    /// Done: nothing more to read.
    Closed,
}

/// An accepted stream whose first bytes were read ahead and maybe rewritten.
pub struct Sniffed<S> {
    inner: S,
    /// Bytes read ahead, replayed before reading from `inner`.
    prefix: Bytes,
    /// Rewriting the reply head: collecting it until `\r\n\r\n`.
    rewrite: Option<BytesMut>,
    /// Rewritten reply bytes not yet written to `inner`.
    pending_out: Bytes,
    closing: Closing,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sniffed<S> {
    /// Read the first request head of `inner` and prepare the connection.
    pub async fn new(mut inner: S) -> io::Result<Sniffed<S>> {
        let mut buf = BytesMut::with_capacity(4096);
        loop {
            if find(&buf, b"\r\n\r\n").is_some() || buf.len() >= MAX_HEAD {
                break;
            }
            let n = inner.read_buf(&mut buf).await?;
            if n == 0 {
                break;
            }
        }
        let (prefix, rewrite) = match rewrite_request(&buf) {
            Some(head) => (head, Some(BytesMut::new())),
            None => (buf.freeze(), None),
        };
        Ok(Sniffed {
            inner,
            prefix,
            rewrite,
            pending_out: Bytes::new(),
            closing: Closing::Open,
        })
    }

    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending_out.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending_out))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending_out.advance(n);
        }
        Poll::Ready(Ok(()))
    }
}

/// If `head` is a hijacking request without `Upgrade`, return it with the upgrade
/// headers added. Its own headers stay: a `Connection: close` still closes the
/// connection after an error reply.
fn rewrite_request(data: &[u8]) -> Option<Bytes> {
    let end = find(data, b"\r\n\r\n")?;
    let head = std::str::from_utf8(&data[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?;
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next()?, parts.next()?);
    if method != "POST" || !is_hijack_path(target.split('?').next().unwrap_or("")) {
        return None;
    }
    let headers: Vec<&str> = lines.collect();
    let named = |l: &str, n: &str| {
        l.split_once(':')
            .map(|(k, _)| k.trim().eq_ignore_ascii_case(n))
            .unwrap_or(false)
    };
    if headers.iter().any(|l| named(l, "upgrade")) {
        return None;
    }
    let mut out = BytesMut::with_capacity(data.len() + 96);
    out.extend_from_slice(request_line.as_bytes());
    out.extend_from_slice(b"\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n");
    out.extend_from_slice(RAW_HIJACK_HEADER.as_bytes());
    out.extend_from_slice(b": 1\r\n");
    for h in &headers {
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&data[end + 4..]);
    Some(out.freeze())
}

/// `/[vX.Y/]containers/<id>/attach` or `/[vX.Y/]exec/<id>/start`.
fn is_hijack_path(path: &str) -> bool {
    let path = match crate::version::split_prefix(path) {
        Ok((_, rest)) => rest,
        Err(_) => return false,
    };
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    matches!(
        segs.as_slice(),
        ["containers", _, "attach"] | ["exec", _, "start"]
    )
}

/// Turn hyper's `101` reply head into Docker's `200 OK` raw-stream head. Other heads
/// (an error reply, a non-hijacked answer) are left as they are.
fn rewrite_reply(head: &[u8]) -> Vec<u8> {
    let Some(text) = std::str::from_utf8(head)
        .ok()
        .and_then(|t| t.strip_suffix("\r\n\r\n"))
    else {
        return head.to_vec();
    };
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or("");
    if !status.starts_with("HTTP/1.1 101") {
        return head.to_vec();
    }
    let mut out = String::from("HTTP/1.1 200 OK\r\n");
    for l in lines {
        let name = l.split(':').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("upgrade") {
            continue;
        }
        out.push_str(l);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl<S: AsyncRead + Unpin> AsyncRead for Sniffed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Sniffed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_drain(cx))?;
        if let Some(head) = self.rewrite.as_mut() {
            head.extend_from_slice(data);
            if let Some(end) = find(head, b"\r\n\r\n") {
                let mut out = rewrite_reply(&head[..end + 4]);
                out.extend_from_slice(&head[end + 4..]);
                self.pending_out = Bytes::from(out);
                self.rewrite = None;
            }
            return Poll::Ready(Ok(data.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    // Without these hyper copies every body chunk into one buffer before writing it
    // (its "flatten" strategy): a 100 MB `logs` stream cost an extra 100 MB memcpy.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.rewrite.is_some() {
            // Collecting the reply head: a buffer at a time, as `poll_write` does.
            let first = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &**b);
            return self.poll_write(cx, first);
        }
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        if let Closing::Open = self.closing {
            ready!(Pin::new(&mut self.inner).poll_shutdown(cx))?;
            self.closing = Closing::Lingering {
                deadline: Box::pin(tokio::time::sleep(LINGER_TIME)),
                left: LINGER_BYTES,
            };
        }
        let this = &mut *self;
        let Closing::Lingering { deadline, left } = &mut this.closing else {
            return Poll::Ready(Ok(()));
        };
        let mut scratch = [0u8; 8192];
        loop {
            if deadline.as_mut().poll(cx).is_ready() {
                break;
            }
            let mut rb = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                Poll::Pending => return Poll::Pending,
                // The client is gone or sent everything: nothing left to drop.
                Poll::Ready(Err(_)) => break,
                Poll::Ready(Ok(())) if rb.filled().is_empty() => break,
                Poll::Ready(Ok(())) => {
                    *left = left.saturating_sub(rb.filled().len());
                    if *left == 0 {
                        break;
                    }
                }
            }
        }
        this.closing = Closing::Closed;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn only_hijack_requests_without_upgrade_are_rewritten() {
        let req = b"POST /v1.24/containers/abc/attach?stream=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nBODY";
        let out = rewrite_request(req).unwrap();
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.starts_with("POST /v1.24/containers/abc/attach?stream=1 HTTP/1.1\r\n"));
        assert!(text.contains("Upgrade: tcp\r\n"));
        assert!(text.contains("Connection: close"));
        assert!(text.ends_with("\r\n\r\nBODY"));
        let up =
            b"POST /containers/abc/attach HTTP/1.1\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n";
        assert!(rewrite_request(up).is_none());
        assert!(rewrite_request(b"GET /containers/abc/attach HTTP/1.1\r\n\r\n").is_none());
        assert!(rewrite_request(b"POST /exec/e1/start HTTP/1.1\r\n\r\n").is_some());
        assert!(rewrite_request(b"POST /containers/create HTTP/1.1\r\n\r\n").is_none());
    }

    #[test]
    fn reply_101_becomes_200() {
        let head = b"HTTP/1.1 101 UPGRADED\r\ncontent-type: application/vnd.docker.raw-stream\r\nconnection: Upgrade\r\nupgrade: tcp\r\napi-version: 1.45\r\n\r\n";
        let out = String::from_utf8(rewrite_reply(head)).unwrap();
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\ncontent-type: application/vnd.docker.raw-stream\r\napi-version: 1.45\r\n\r\n"
        );
        let err = b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n";
        assert_eq!(rewrite_reply(err), err.to_vec());
    }

    #[tokio::test]
    async fn sniffed_replays_prefix_and_rewrites_reply() {
        let (mut client, server) = tokio::io::duplex(4096);
        client
            .write_all(b"POST /exec/e1/start HTTP/1.1\r\nHost: x\r\n\r\nstdin")
            .await
            .unwrap();
        let mut s = Sniffed::new(server).await.unwrap();
        let mut seen = vec![0u8; 200];
        let n = s.read(&mut seen).await.unwrap();
        let seen = String::from_utf8_lossy(&seen[..n]).to_string();
        assert!(seen.contains("x-berth-raw-hijack: 1\r\n"), "{seen}");
        s.write_all(b"HTTP/1.1 101 UPGRADED\r\nupgrade: tcp\r\n")
            .await
            .unwrap();
        s.write_all(b"\r\nout").await.unwrap();
        s.flush().await.unwrap();
        drop(s);
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"HTTP/1.1 200 OK\r\n\r\nout");
    }

    #[tokio::test]
    async fn vectored_writes_pass_through_and_rewrite_too() {
        for hijack in [true, false] {
            let (mut client, server) = tokio::io::duplex(4096);
            let path = if hijack {
                "/exec/e1/start"
            } else {
                "/containers/c/logs"
            };
            client
                .write_all(format!("POST {path} HTTP/1.1\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut s = Sniffed::new(server).await.unwrap();
            let head = if hijack {
                &b"HTTP/1.1 101 UPGRADED\r\nupgrade: tcp\r\n\r\n"[..]
            } else {
                &b"HTTP/1.1 200 OK\r\n\r\n"[..]
            };
            let parts: [&[u8]; 3] = [head, b"", b"body"];
            let mut all: Vec<u8> = parts.concat();
            let mut done = 0;
            while done < all.len() {
                let rest = &all[done..];
                let bufs = [
                    io::IoSlice::new(&rest[..rest.len().min(7)]),
                    io::IoSlice::new(&rest[rest.len().min(7)..]),
                ];
                done += s.write_vectored(&bufs).await.unwrap();
            }
            s.flush().await.unwrap();
            drop(s);
            let mut got = Vec::new();
            client.read_to_end(&mut got).await.unwrap();
            if hijack {
                all = b"HTTP/1.1 200 OK\r\n\r\nbody".to_vec();
            }
            assert_eq!(got, all, "hijack {hijack}");
        }
    }
}
