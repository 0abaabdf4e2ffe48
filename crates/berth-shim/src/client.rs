//! One connection on the control socket: request lines in, reply lines out, and for an
//! attached client the output stream.
//!
//! Output to a client is queued in a bounded buffer and written without blocking. A
//! client that lets more than [`MAX_BACKLOG`] bytes pile up is disconnected: a slow
//! reader must never hold up the container or its log.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;

/// Queued output a client may fall behind by before it is dropped.
pub const MAX_BACKLOG: usize = 1024 * 1024;
/// Longest request line accepted.
pub const MAX_LINE: usize = 64 * 1024;

/// What the connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Reading request lines.
    Requests,
    /// Sent `wait`: gets its reply at exit.
    Waiting,
    /// Streaming (after an `attach` reply).
    Attached {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
}

#[derive(Debug)]
pub struct Client {
    pub stream: UnixStream,
    pub mode: Mode,
    /// Bytes read and not yet parsed as request lines.
    pub inbuf: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    /// The peer shut down its writing side.
    pub read_eof: bool,
    /// Close once the queued output is written.
    pub closing: bool,
    /// Gone: remove at the end of the loop iteration.
    pub dead: bool,
}

impl Client {
    pub fn new(stream: UnixStream) -> io::Result<Client> {
        stream.set_nonblocking(true)?;
        Ok(Client {
            stream,
            mode: Mode::Requests,
            inbuf: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            read_eof: false,
            closing: false,
            dead: false,
        })
    }

    /// Bytes waiting to be written.
    pub fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Queue bytes and try to write them now. Returns false (and marks the client dead)
    /// when the backlog limit is exceeded or the peer is gone.
    pub fn send(&mut self, data: &[u8]) -> bool {
        if self.dead {
            return false;
        }
        if self.pending() + data.len() > MAX_BACKLOG {
            self.dead = true;
            return false;
        }
        if self.out_pos > 0 && self.out_pos >= self.out.len() / 2 {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
        self.out.extend_from_slice(data);
        self.flush();
        !self.dead
    }

    /// Queue one multiplexed frame `[stream,0,0,0,len_be32]` + payload.
    pub fn send_frame(&mut self, stream: u8, payload: &[u8]) -> bool {
        let mut header = [0u8; 8];
        header[0] = stream;
        header[4..].copy_from_slice(&(payload.len() as u32).to_be_bytes());
        if self.pending() + payload.len() + 8 > MAX_BACKLOG {
            self.dead = true;
            return false;
        }
        self.send(&header) && self.send(payload)
    }

    /// Write queued bytes until the socket would block.
    pub fn flush(&mut self) {
        while self.out_pos < self.out.len() {
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(0) => {
                    self.dead = true;
                    return;
                }
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
        self.out.clear();
        self.out_pos = 0;
        if self.closing {
            // Tell the peer the stream is over; it closes its end and we drop ours.
            let _ = self.stream.shutdown(std::net::Shutdown::Write);
        }
    }

    /// Read what is available into `buf`: Ok(0) means EOF.
    pub fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.stream.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }

    /// Take the next complete request line out of `inbuf`, without its newline.
    pub fn next_line(&mut self) -> Option<Vec<u8>> {
        let i = self.inbuf.iter().position(|&b| b == b'\n')?;
        let mut line: Vec<u8> = self.inbuf.drain(..=i).collect();
        line.pop();
        Some(line)
    }
}

/// For a shim whose process failed after it already replied ok: accept connections on
/// `listener` and answer each one's first request with `reply`, until a `start` got
/// its answer or `wait` has passed. Blocking; nothing else runs meanwhile.
pub fn answer_all_until_start(
    listener: &std::os::unix::net::UnixListener,
    reply: &berth_types::shim::Reply,
    wait: std::time::Duration,
) {
    use berth_types::shim::Request;
    use std::io::BufRead;
    use std::os::fd::AsRawFd;

    let Ok(mut line) = serde_json::to_vec(reply) else {
        return;
    };
    line.push(b'\n');
    let deadline = std::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return;
        }
        let mut pfd = libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd we own, for at most `left`.
        let n = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(i32::MAX as u128) as i32) };
        if n <= 0 {
            if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        let Ok((stream, _)) = listener.accept() else {
            continue;
        };
        let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(1)));
        let mut first = String::new();
        let mut reader = io::BufReader::new(&stream);
        if reader.read_line(&mut first).is_err() {
            continue;
        }
        let _ = (&stream).write_all(&line);
        if matches!(
            serde_json::from_str::<Request>(first.trim()),
            Ok(Request::Start)
        ) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_lines() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut c = Client::new(a).unwrap();
        assert!(c.send_frame(2, b"hey"));
        let mut got = [0u8; 11];
        b.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"\x02\0\0\0\0\0\0\x03hey");
        c.inbuf.extend_from_slice(b"{\"op\":\"state\"}\n{\"op\"");
        assert_eq!(c.next_line().unwrap(), b"{\"op\":\"state\"}");
        assert!(c.next_line().is_none());
        assert_eq!(c.inbuf, b"{\"op\"");
    }

    #[test]
    fn slow_reader_is_dropped_not_blocking() {
        let (a, _b) = UnixStream::pair().unwrap();
        let mut c = Client::new(a).unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        // The peer never reads: the socket buffer fills, then the backlog, then it's dropped.
        while c.send(&chunk) {
            sent += chunk.len();
            assert!(sent < 64 * 1024 * 1024, "never dropped");
        }
        assert!(c.dead);
        assert!(c.pending() <= MAX_BACKLOG);
    }

    #[test]
    fn closing_shuts_down_after_flush() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let mut c = Client::new(a).unwrap();
        c.closing = true;
        assert!(c.send(b"bye\n"));
        let mut s = String::new();
        b.read_to_string(&mut s).unwrap();
        assert_eq!(s, "bye\n");
    }
}
