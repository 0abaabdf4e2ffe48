//! Minimal HTTP/1.1 over a unix stream: writes one request (fixed-length or chunked
//! body), parses the status line and headers, and exposes the response body as a
//! `Read` that undoes chunked transfer encoding. One request per connection
//! (`Connection: close`); the client opens a fresh socket for each call, which keeps
//! the code small and is cheap on a local socket.

use std::io::{self, BufRead, Read, Write};

use crate::Error;

/// Longest header block we accept; protects against a peer that never ends the head.
const MAX_HEAD: usize = 64 * 1024;

/// A request body.
pub enum Body<'a> {
    /// No body (`Content-Length` omitted for GET/HEAD, `0` otherwise).
    Empty,
    /// A JSON document, sent with `Content-Type: application/json`.
    Json(Vec<u8>),
    /// A body streamed from a reader with the given content type, sent chunked.
    Stream(&'a mut dyn Read, &'a str),
    /// A body already in memory with the given content type, sent with its length in
    /// the head and written in one go (and sent again as is if the version is refused).
    Bytes(&'a [u8], &'a str),
}

/// Writes the request line, headers and body to `w`.
pub fn write_request(
    w: &mut dyn Write,
    method: &str,
    path: &str,
    extra_headers: &[(&str, &str)],
    body: Body<'_>,
) -> io::Result<()> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: api.moby.localhost\r\nUser-Agent: berth-cli/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    for (k, v) in extra_headers {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    match body {
        Body::Empty => {
            if method != "GET" && method != "HEAD" {
                head.push_str("Content-Length: 0\r\n");
            }
            head.push_str("\r\n");
            w.write_all(head.as_bytes())?;
        }
        Body::Json(bytes) => {
            head.push_str("Content-Type: application/json\r\n");
            head.push_str(&format!("Content-Length: {}\r\n\r\n", bytes.len()));
            w.write_all(head.as_bytes())?;
            w.write_all(&bytes)?;
        }
        Body::Bytes(bytes, ctype) => {
            head.push_str(&format!(
                "Content-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
                bytes.len()
            ));
            write_all_vectored(w, head.as_bytes(), bytes)?;
        }
        Body::Stream(r, ctype) => {
            head.push_str(&format!(
                "Content-Type: {ctype}\r\nTransfer-Encoding: chunked\r\n\r\n"
            ));
            w.write_all(head.as_bytes())?;
            // One write per chunk (size line, data, CRLF in one buffer) of up to 1 MiB:
            // a build context of a few MB then crosses the socket in a handful of
            // writes instead of three per 64 KiB, each waking the daemon. The bodies are
            // bulk archives (contexts, `cp`, `load`), so filling a chunk never holds back
            // anything a reader waits for.
            const CHUNK: usize = 1 << 20;
            const HEAD: usize = 8; // "fffff\r\n" at most, right-aligned before the data
            let mut buf = vec![0u8; HEAD + CHUNK + 2];
            loop {
                let mut n = 0;
                while n < CHUNK {
                    match r.read(&mut buf[HEAD + n..HEAD + CHUNK]) {
                        Ok(0) => break,
                        Ok(k) => n += k,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                }
                if n == 0 {
                    break;
                }
                let size = format!("{n:x}\r\n");
                let start = HEAD - size.len();
                buf[start..HEAD].copy_from_slice(size.as_bytes());
                buf[HEAD + n..HEAD + n + 2].copy_from_slice(b"\r\n");
                w.write_all(&buf[start..HEAD + n + 2])?;
            }
            w.write_all(b"0\r\n\r\n")?;
        }
    }
    w.flush()
}

/// Writes `a` then `b` with as few writes as the socket takes (the body is not copied
/// behind the head).
fn write_all_vectored(w: &mut dyn Write, mut a: &[u8], mut b: &[u8]) -> io::Result<()> {
    while !a.is_empty() || !b.is_empty() {
        let n = match w.write_vectored(&[io::IoSlice::new(a), io::IoSlice::new(b)]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let from_a = n.min(a.len());
        a = &a[from_a..];
        b = &b[n - from_a..];
    }
    Ok(())
}

/// Status line and headers of a response.
#[derive(Debug, Clone)]
pub struct Head {
    pub status: u16,
    pub reason: String,
    /// Header names as sent; look them up with [`Head::header`] (case-insensitive).
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How the body is delimited, per RFC 9112 §6.3.
    pub fn body_kind(&self, method: &str) -> BodyKind {
        if method == "HEAD" || self.status == 204 || self.status == 304 || self.status < 200 {
            return BodyKind::Length(0);
        }
        if self
            .header("Transfer-Encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
        {
            return BodyKind::Chunked;
        }
        match self
            .header("Content-Length")
            .and_then(|v| v.trim().parse().ok())
        {
            Some(n) => BodyKind::Length(n),
            None => BodyKind::Eof,
        }
    }
}

/// How a response body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Length(u64),
    Chunked,
    Eof,
}

/// Reads one CRLF- (or LF-) terminated line, without the terminator. `None` at EOF.
fn read_line(r: &mut dyn BufRead, limit: &mut usize) -> Result<Option<String>, Error> {
    let mut line = Vec::new();
    loop {
        let mut byte = [0u8; 1];
        let n = r.read(&mut byte)?;
        if n == 0 {
            if line.is_empty() {
                return Ok(None);
            }
            break;
        }
        if byte[0] == b'\n' {
            break;
        }
        line.push(byte[0]);
        if line.len() >= *limit {
            return Err(Error::Protocol("response header too long".into()));
        }
    }
    *limit = limit.saturating_sub(line.len() + 1);
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

/// Takes exactly one response head (through the blank line) out of a socket, leaving
/// whatever follows it unread: it peeks at what has arrived and consumes only up to the
/// end of the head, so a hijacked stream's first bytes stay for the caller. A few
/// system calls instead of one per byte.
pub fn take_head(stream: &std::os::unix::net::UnixStream) -> Result<Vec<u8>, Error> {
    use std::os::fd::AsRawFd;
    let mut head: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 8192];
    loop {
        // SAFETY: recv into our own buffer of the given length.
        let n = unsafe {
            libc::recv(
                stream.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                libc::MSG_PEEK,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e.into());
        }
        let n = n as usize;
        if n == 0 {
            return Err(Error::Protocol(
                "connection closed before the response".into(),
            ));
        }
        // The end may straddle what was taken already and what is peeked now.
        let from = head.len().saturating_sub(3);
        let mut joined = head[from..].to_vec();
        joined.extend_from_slice(&buf[..n]);
        let take = match joined.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(i) => i + 4 - (head.len() - from),
            None => n,
        };
        let start = head.len();
        head.resize(start + take, 0);
        (&*stream).read_exact(&mut head[start..])?;
        if take < n || head.ends_with(b"\r\n\r\n") {
            return Ok(head);
        }
        if head.len() > MAX_HEAD {
            return Err(Error::Protocol("response header too long".into()));
        }
    }
}

/// Parses the status line and headers. Reads byte by byte through `r`, so when `r`
/// is an unbuffered stream nothing past the head is consumed (needed for hijack).
pub fn read_head(r: &mut dyn BufRead) -> Result<Head, Error> {
    let mut limit = MAX_HEAD;
    let status_line = read_line(r, &mut limit)?
        .ok_or_else(|| Error::Protocol("connection closed before the response".into()))?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(Error::Protocol(format!(
            "malformed status line {status_line:?}"
        )));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::Protocol(format!("malformed status line {status_line:?}")))?;
    let reason = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let line = read_line(r, &mut limit)?
            .ok_or_else(|| Error::Protocol("connection closed inside the response head".into()))?;
        if line.is_empty() {
            break;
        }
        let Some((k, v)) = line.split_once(':') else {
            return Err(Error::Protocol(format!("malformed header line {line:?}")));
        };
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok(Head {
        status,
        reason,
        headers,
    })
}

/// The body of a response as a byte stream, chunked encoding removed.
pub struct BodyReader<R> {
    inner: R,
    state: State,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Bytes left in a fixed-length body.
    Length(u64),
    /// Bytes left in the current chunk; 0 means a chunk-size line comes next.
    Chunk {
        left: u64,
        first: bool,
    },
    Eof,
    Done,
}

impl<R: BufRead> BodyReader<R> {
    pub fn new(inner: R, kind: BodyKind) -> Self {
        let state = match kind {
            BodyKind::Length(0) => State::Done,
            BodyKind::Length(n) => State::Length(n),
            BodyKind::Chunked => State::Chunk {
                left: 0,
                first: true,
            },
            BodyKind::Eof => State::Eof,
        };
        BodyReader { inner, state }
    }

    /// Gives back the underlying reader (e.g. to reuse a hijacked stream).
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn next_chunk_size(&mut self, first: bool) -> io::Result<u64> {
        let mut limit = MAX_HEAD;
        if !first {
            // The CRLF that ends the previous chunk's data.
            let l = read_line(&mut self.inner, &mut limit).map_err(to_io)?;
            if l.as_deref().is_some_and(|l| !l.is_empty()) {
                return Err(invalid("missing CRLF after chunk data"));
            }
        }
        let line = read_line(&mut self.inner, &mut limit)
            .map_err(to_io)?
            .ok_or_else(|| invalid("connection closed inside a chunked body"))?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let n = u64::from_str_radix(size, 16)
            .map_err(|_| invalid(&format!("bad chunk size {line:?}")))?;
        if n == 0 {
            // Trailer section: header lines until an empty line (or EOF).
            while let Some(l) = read_line(&mut self.inner, &mut limit).map_err(to_io)? {
                if l.is_empty() {
                    break;
                }
            }
        }
        Ok(n)
    }
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

fn to_io(e: Error) -> io::Error {
    match e {
        Error::Io(e) => e,
        other => invalid(&other.to_string()),
    }
}

impl<R: BufRead> Read for BodyReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.state {
                State::Done => return Ok(0),
                State::Eof => {
                    let n = self.inner.read(buf)?;
                    if n == 0 {
                        self.state = State::Done;
                    }
                    return Ok(n);
                }
                State::Length(left) => {
                    let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let n = self.inner.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "connection closed before the end of the body",
                        ));
                    }
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::Done
                    } else {
                        State::Length(left)
                    };
                    return Ok(n);
                }
                State::Chunk { left: 0, first } => {
                    let n = self.next_chunk_size(first)?;
                    self.state = if n == 0 {
                        State::Done
                    } else {
                        State::Chunk {
                            left: n,
                            first: false,
                        }
                    };
                }
                State::Chunk { left, first } => {
                    let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let n = self.inner.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "connection closed inside a chunk",
                        ));
                    }
                    self.state = State::Chunk {
                        left: left - n as u64,
                        first,
                    };
                    return Ok(n);
                }
            }
        }
    }
}

/// Percent-encodes a query-string component (RFC 3986 unreserved characters kept).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Builds `?k=v&…` query strings.
#[derive(Debug, Default, Clone)]
pub struct Query {
    parts: Vec<String>,
}

impl Query {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key=value`.
    pub fn add(mut self, key: &str, value: impl AsRef<str>) -> Self {
        self.parts.push(format!(
            "{}={}",
            encode_component(key),
            encode_component(value.as_ref())
        ));
        self
    }

    /// Adds `key=1` when `flag` is set.
    pub fn flag(self, key: &str, flag: bool) -> Self {
        if flag {
            self.add(key, "1")
        } else {
            self
        }
    }

    /// Adds `key=value` when present.
    pub fn opt(self, key: &str, value: Option<impl AsRef<str>>) -> Self {
        match value {
            Some(v) => self.add(key, v),
            None => self,
        }
    }

    /// `""` when empty, else `?a=b&c=d`.
    pub fn to_suffix(&self) -> String {
        if self.parts.is_empty() {
            String::new()
        } else {
            format!("?{}", self.parts.join("&"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn body(raw: &[u8]) -> (Head, Vec<u8>) {
        let mut r = BufReader::new(raw);
        let head = read_head(&mut r).unwrap();
        let kind = head.body_kind("GET");
        let mut out = Vec::new();
        BodyReader::new(r, kind).read_to_end(&mut out).unwrap();
        (head, out)
    }

    #[test]
    fn parses_content_length_body() {
        let (h, b) =
            body(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\napi-version: 1.45\r\n\r\nhelloEXTRA");
        assert_eq!(h.status, 200);
        assert_eq!(h.reason, "OK");
        assert_eq!(h.header("Api-Version"), Some("1.45"));
        assert_eq!(b, b"hello");
    }

    #[test]
    fn parses_chunked_body_with_extensions_and_trailers() {
        let (h, b) = body(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n",
        );
        assert_eq!(h.body_kind("GET"), BodyKind::Chunked);
        assert_eq!(b, b"hello 0123456789");
    }

    #[test]
    fn truncated_chunked_body_is_an_error() {
        let mut r =
            BufReader::new(&b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"[..]);
        let head = read_head(&mut r).unwrap();
        let mut out = Vec::new();
        assert!(BodyReader::new(r, head.body_kind("GET"))
            .read_to_end(&mut out)
            .is_err());
    }

    #[test]
    fn body_until_eof_and_no_body_for_204() {
        let (_, b) = body(b"HTTP/1.0 200 OK\r\n\r\nall of it");
        assert_eq!(b, b"all of it");
        let (h, b) = body(b"HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!(h.status, 204);
        assert!(b.is_empty());
    }

    #[test]
    fn rejects_garbage_status_line() {
        let mut r = BufReader::new(&b"SSH-2.0-x\r\n\r\n"[..]);
        assert!(read_head(&mut r).is_err());
        let mut r = BufReader::new(&b""[..]);
        assert!(read_head(&mut r).is_err());
    }

    #[test]
    fn writes_chunked_request() {
        let mut out = Vec::new();
        let mut src = &b"abc"[..];
        write_request(
            &mut out,
            "POST",
            "/x",
            &[],
            Body::Stream(&mut src, "application/x-tar"),
        )
        .unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("POST /x HTTP/1.1\r\n"));
        assert!(s.contains("Transfer-Encoding: chunked\r\n"));
        assert!(s.ends_with("\r\n\r\n3\r\nabc\r\n0\r\n\r\n"));
    }

    #[test]
    fn query_encoding() {
        let q = Query::new()
            .add("filters", r#"{"a":["b c"]}"#)
            .flag("all", true)
            .flag("size", false);
        assert_eq!(
            q.to_suffix(),
            "?filters=%7B%22a%22%3A%5B%22b%20c%22%5D%7D&all=1"
        );
        assert_eq!(Query::new().to_suffix(), "");
    }
}
