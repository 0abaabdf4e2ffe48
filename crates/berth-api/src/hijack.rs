//! Hijacked connections (`attach`, `exec start`): the HTTP exchange ends and the socket
//! carries raw bytes both ways — container output to the client, client bytes to the
//! process's stdin.
//!
//! Clients ask for this with `Connection: Upgrade` + `Upgrade: tcp` and get
//! `101 UPGRADED`; the connection is then taken from hyper ([`hyper::upgrade::on`]) and
//! [`pump`] copies both directions:
//! - output → client until the output ends (the process exited, or the stream closed);
//! - client → stdin through the [`DetachFilter`] (default `ctrl-p,ctrl-q`): the detach
//!   sequence ends the attach and leaves the process running;
//! - the client closing its write side is stdin EOF; output keeps flowing.
//!
//! The session ends with [`close`]: our write side is shut down first (the client sees
//! EOF after the last output), then input the client still sends is read and discarded
//! for a moment. Closing a unix or TCP socket with unread bytes in its receive buffer
//! makes the kernel reset the connection, and a client that has not yet read the tail
//! of the output would get "connection reset by peer" instead of it and its EOF.

use crate::body::{empty, Body};
use crate::error::ApiError;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, UPGRADE};
use hyper::{Request, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Docker's default detach sequence: ctrl-p, ctrl-q.
pub const DEFAULT_DETACH_KEYS: &[u8] = &[0x10, 0x11];

/// Whether the client asked to upgrade the connection (`Upgrade: tcp`).
pub fn wants_upgrade<B>(req: &Request<B>) -> bool {
    let has = |name, token: &str| {
        req.headers().get_all(name).iter().any(|v| {
            v.to_str()
                .map(|s| s.split(',').any(|p| p.trim().eq_ignore_ascii_case(token)))
                .unwrap_or(false)
        })
    };
    has(UPGRADE, "tcp") || has(CONNECTION, "upgrade")
}

/// The content type of a hijacked stream: multiplexed frames unless a tty merges
/// stdout and stderr into one raw stream.
pub fn stream_content_type(tty: bool) -> &'static str {
    if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    }
}

/// `101 UPGRADED` with the headers Docker sends before taking over the connection.
pub fn upgrade_response(content_type: &'static str) -> Response<Body> {
    let mut resp = Response::new(empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static("tcp"));
    // Docker's status line reads `101 UPGRADED`; clients check only the code.
    resp.extensions_mut()
        .insert(hyper::ext::ReasonPhrase::from_static(b"UPGRADED"));
    resp
}

/// Parse Docker's detach key notation: comma-separated single characters or `ctrl-<x>`
/// (`x` in `a`–`z`, `@`, `[`, `\`, `]`, `^`, `_`). Empty means the default.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, ApiError> {
    if spec.is_empty() {
        return Ok(DEFAULT_DETACH_KEYS.to_vec());
    }
    let invalid = || ApiError::bad_request(format!("Invalid detach keys ({spec}) provided"));
    let mut out = Vec::new();
    for key in spec.split(',') {
        let lower = key.to_ascii_lowercase();
        if let Some(c) = lower.strip_prefix("ctrl-") {
            let c = c.as_bytes();
            if c.len() != 1 {
                return Err(invalid());
            }
            let code = match c[0] {
                b'a'..=b'z' => c[0] - b'a' + 1,
                b'@' => 0,
                b'[' => 27,
                b'\\' => 28,
                b']' => 29,
                b'^' => 30,
                b'_' => 31,
                _ => return Err(invalid()),
            };
            out.push(code);
        } else if key.len() == 1 {
            out.push(key.as_bytes()[0]);
        } else {
            return Err(invalid());
        }
    }
    Ok(out)
}

/// Watches stdin bytes for the detach sequence. Bytes that start the sequence are held
/// back until it either completes (detach; they are dropped) or breaks (they are sent).
#[derive(Debug, Clone)]
pub struct DetachFilter {
    keys: Vec<u8>,
    matched: usize,
}

/// Result of feeding bytes to a [`DetachFilter`].
#[derive(Debug, PartialEq, Eq)]
pub struct Filtered {
    /// Bytes to pass on to stdin.
    pub forward: Vec<u8>,
    /// The full sequence was typed: stop reading and detach.
    pub detach: bool,
}

impl DetachFilter {
    pub fn new(keys: Vec<u8>) -> DetachFilter {
        DetachFilter { keys, matched: 0 }
    }

    pub fn feed(&mut self, data: &[u8]) -> Filtered {
        let mut forward = Vec::with_capacity(data.len());
        if self.keys.is_empty() {
            forward.extend_from_slice(data);
            return Filtered {
                forward,
                detach: false,
            };
        }
        for &b in data {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return Filtered {
                        forward,
                        detach: true,
                    };
                }
                continue;
            }
            // Broken sequence: release what was held, then look at `b` afresh.
            forward.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    self.matched = 0;
                    return Filtered {
                        forward,
                        detach: true,
                    };
                }
            } else {
                forward.push(b);
            }
        }
        Filtered {
            forward,
            detach: false,
        }
    }

    /// Bytes still held back (sent at stdin EOF so nothing typed is lost).
    pub fn pending(&self) -> &[u8] {
        &self.keys[..self.matched]
    }
}

/// How a hijacked session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PumpEnd {
    /// The output ended (process exited or the stream closed).
    OutputClosed,
    /// The client typed the detach sequence.
    Detached,
    /// The client connection failed.
    ClientGone,
}

/// Copy between a hijacked client connection and a process's stdio.
///
/// `output` is what the client should receive verbatim (already framed when not a
/// tty). `stdin`, when present, receives the client's bytes through the detach filter;
/// it is shut down (EOF) when the client half-closes. Returns when the output ends, the
/// client detaches, or the client connection breaks, handing the connection back (the
/// caller closes it, possibly after waiting for the process's exit to be recorded).
pub async fn pump<C, O, I>(
    client: C,
    mut output: O,
    stdin: Option<I>,
    detach_keys: Vec<u8>,
) -> (PumpEnd, C)
where
    C: AsyncRead + AsyncWrite + Unpin,
    O: AsyncRead + Unpin,
    I: AsyncWrite + Unpin,
{
    let (mut client_rd, mut client_wr) = tokio::io::split(client);

    let out = async {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match output.read(&mut buf).await {
                Ok(0) | Err(_) => return PumpEnd::OutputClosed,
                Ok(n) => {
                    if client_wr.write_all(&buf[..n]).await.is_err() {
                        return PumpEnd::ClientGone;
                    }
                    if client_wr.flush().await.is_err() {
                        return PumpEnd::ClientGone;
                    }
                }
            }
        }
    };

    let input = async {
        let mut filter = DetachFilter::new(detach_keys);
        let mut stdin = stdin;
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match client_rd.read(&mut buf).await {
                Ok(0) => {
                    // Half-close: stdin EOF, but keep the output going.
                    if let Some(mut w) = stdin.take() {
                        let _ = w.write_all(filter.pending()).await;
                        let _ = w.shutdown().await;
                    }
                    return std::future::pending::<PumpEnd>().await;
                }
                Err(_) => return PumpEnd::ClientGone,
                Ok(n) => {
                    let f = filter.feed(&buf[..n]);
                    if let Some(w) = stdin.as_mut() {
                        if !f.forward.is_empty() && w.write_all(&f.forward).await.is_err() {
                            // The process closed its stdin; output may continue.
                            stdin = None;
                        }
                    }
                    if f.detach {
                        return PumpEnd::Detached;
                    }
                }
            }
        }
    };

    let end = tokio::select! {
        end = out => end,
        end = input => end,
    };
    (end, client_rd.unsplit(client_wr))
}

/// How long [`close`] keeps discarding input the client still sends.
pub const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// End a hijacked session cleanly: shut down the write side (the client reads EOF),
/// then read and discard input until the client closes its side, fails, or `drain`
/// passes, and only then drop the connection (see the module docs for why).
pub async fn close<C>(mut conn: C, drain: std::time::Duration)
where
    C: AsyncRead + AsyncWrite + Unpin,
{
    if conn.shutdown().await.is_err() {
        return;
    }
    let discard = async {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = conn.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(drain, discard).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn detach_keys_parse_like_docker() {
        assert_eq!(parse_detach_keys("").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("ctrl-a,x").unwrap(), vec![1, b'x']);
        assert_eq!(parse_detach_keys("ctrl-@,ctrl-_").unwrap(), vec![0, 31]);
        let e = parse_detach_keys("ctrl-1").unwrap_err();
        assert_eq!(e.message, "Invalid detach keys (ctrl-1) provided");
        assert!(parse_detach_keys("ab").is_err());
    }

    #[test]
    fn filter_holds_back_partial_sequence_and_detaches() {
        let mut f = DetachFilter::new(vec![16, 17]);
        assert_eq!(
            f.feed(b"ab\x10"),
            Filtered {
                forward: b"ab".to_vec(),
                detach: false
            }
        );
        assert_eq!(f.pending(), &[16]);
        // Sequence broken: the held ctrl-p is released.
        assert_eq!(
            f.feed(b"c"),
            Filtered {
                forward: b"\x10c".to_vec(),
                detach: false
            }
        );
        // Split across reads.
        assert!(!f.feed(b"x\x10").detach);
        let r = f.feed(b"\x11rest");
        assert!(r.detach);
        assert!(r.forward.is_empty());
        // ctrl-p ctrl-p ctrl-q: the first ctrl-p is data.
        let mut f = DetachFilter::new(vec![16, 17]);
        let r = f.feed(b"\x10\x10\x11");
        assert_eq!(r.forward, vec![16]);
        assert!(r.detach);
    }

    #[tokio::test]
    async fn pump_half_close_gives_stdin_eof_and_output_continues() {
        let (client_side, server_side) = tokio::io::duplex(1024);
        let (stdin_w, mut stdin_r) = tokio::io::duplex(1024);
        let (mut out_w, out_r) = tokio::io::duplex(1024);
        let task = tokio::spawn(async move {
            let (end, mut conn) = pump(server_side, out_r, Some(stdin_w), vec![16, 17]).await;
            conn.shutdown().await.unwrap();
            end
        });
        let (mut crd, mut cwr) = tokio::io::split(client_side);
        cwr.write_all(b"hello").await.unwrap();
        cwr.shutdown().await.unwrap();
        let mut got = Vec::new();
        stdin_r.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"hello");
        out_w.write_all(b"still here").await.unwrap();
        drop(out_w);
        let mut seen = Vec::new();
        crd.read_to_end(&mut seen).await.unwrap();
        assert_eq!(seen, b"still here");
        assert_eq!(task.await.unwrap(), PumpEnd::OutputClosed);
    }

    #[tokio::test]
    async fn pump_detach_ends_session_without_stdin_eof_data() {
        let (client_side, server_side) = tokio::io::duplex(1024);
        let (stdin_w, mut stdin_r) = tokio::io::duplex(1024);
        let (_out_w, out_r) = tokio::io::duplex(1024);
        let task = tokio::spawn(async move {
            let (end, conn) = pump(server_side, out_r, Some(stdin_w), vec![16, 17]).await;
            drop(conn);
            end
        });
        let (mut crd, mut cwr) = tokio::io::split(client_side);
        cwr.write_all(b"ls\n\x10\x11").await.unwrap();
        assert_eq!(task.await.unwrap(), PumpEnd::Detached);
        let mut got = Vec::new();
        stdin_r.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"ls\n");
        let mut seen = Vec::new();
        crd.read_to_end(&mut seen).await.unwrap();
        assert!(seen.is_empty());
    }
    #[tokio::test]
    async fn close_sends_eof_then_discards_unread_input() {
        let (client_side, server_side) = tokio::io::duplex(64);
        let task = tokio::spawn(close(server_side, Duration::from_secs(5)));
        let (mut crd, mut cwr) = tokio::io::split(client_side);
        // The client sees EOF at once, although it is still sending.
        let mut seen = Vec::new();
        crd.read_to_end(&mut seen).await.unwrap();
        assert!(seen.is_empty());
        // Far more than the pipe holds: only a reader on the other side lets this end.
        for _ in 0..64 {
            cwr.write_all(&[7u8; 1024]).await.unwrap();
        }
        assert!(!task.is_finished());
        cwr.shutdown().await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("close ends at the client's EOF")
            .unwrap();
    }

    #[tokio::test]
    async fn close_gives_up_after_the_drain_timeout() {
        let (client_side, server_side) = tokio::io::duplex(64);
        let t = std::time::Instant::now();
        // The client never closes its side.
        close(server_side, Duration::from_millis(200)).await;
        assert!(t.elapsed() >= Duration::from_millis(200));
        drop(client_side);
    }
}
