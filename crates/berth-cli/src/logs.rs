//! `berth logs`: fetches (and with `-f` follows) a container's log stream,
//! demultiplexing it unless the container has a TTY.
//!
//! A large log is a million small frames (one per record), so the output is not
//! written frame by frame: [`Demux`] reads the body in large blocks, gathers the
//! payloads of consecutive frames of one stream, and writes each run with one call
//! when the block is used up (or the stream changes, which keeps stdout and stderr
//! in their order). A follower still sees every record at once: a block is whatever
//! the daemon has sent so far. When stdout is a pipe it is grown first (see
//! [`grow_pipe`]).

use std::io::{self, Read, Write};
use std::time::SystemTime;

use berth_client::{Client, Query};

use crate::cli::LogsArgs;
use crate::errors::{CliError, CliResult};
use crate::units::api_timestamp;

pub fn logs(c: &Client, a: &LogsArgs) -> CliResult {
    let info = c.container_inspect(&a.container, false)?;
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let now = SystemTime::now();
    let mut q = Query::new().add("stdout", "1").add("stderr", "1");
    if let Some(s) = &a.since {
        let ts = api_timestamp(s, now).ok_or_else(|| {
            CliError::msg(format!(
                "invalid value for \"since\": failed to parse value as time or duration: \"{s}\""
            ))
        })?;
        q = q.add("since", ts);
    }
    if let Some(u) = &a.until {
        let ts = api_timestamp(u, now).ok_or_else(|| {
            CliError::msg(format!(
                "invalid value for \"until\": failed to parse value as time or duration: \"{u}\""
            ))
        })?;
        q = q.add("until", ts);
    }
    q = q
        .flag("timestamps", a.timestamps)
        .flag("follow", a.follow)
        .add("tail", &a.tail)
        .flag("details", a.details);
    let mut resp = c.container_logs(&a.container, &q)?;
    grow_pipe(libc::STDOUT_FILENO);
    let mut stdout = FdWriter::new(libc::STDOUT_FILENO);
    let r = if tty {
        copy_raw(&mut resp, &mut stdout)
    } else {
        let mut stderr = FdWriter::new(libc::STDERR_FILENO);
        Demux::new().copy(&mut resp, &mut stdout, &mut stderr)
    };
    match r {
        Ok(()) => Ok(()),
        // The daemon closing a followed stream early is not an error for the user.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(()),
        Err(e) => Err(CliError::msg(e.to_string())),
    }
}

/// Size of the blocks read from the daemon.
const BLOCK: usize = 1024 * 1024;

/// Writes straight to a descriptor of the process (stdout, stderr). The demultiplexer
/// gathers large runs itself; the standard handles would add a lock and, for stdout,
/// a search for the last newline of every run and a second write for what follows it.
struct FdWriter(std::mem::ManuallyDrop<std::fs::File>);

impl FdWriter {
    fn new(fd: libc::c_int) -> FdWriter {
        use std::os::fd::FromRawFd;
        // SAFETY: stdout and stderr stay open for the life of the process, and
        // `ManuallyDrop` keeps the `File` from ever closing them.
        FdWriter(std::mem::ManuallyDrop::new(unsafe {
            std::fs::File::from_raw_fd(fd)
        }))
    }
}

impl Write for FdWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Capacity asked for a pipe on stdout.
const PIPE_SIZE: libc::c_int = 1024 * 1024;

/// Grow `fd` to [`PIPE_SIZE`] when it is a pipe: a large log then crosses to the
/// reader (`logs | grep …`) in a few large steps, instead of both sides waking each
/// other every 64 KiB. Best effort: anything else, or a refusal, leaves it as it is.
fn grow_pipe(fd: libc::c_int) {
    // SAFETY: fcntl with integer arguments; on a descriptor that is not a pipe it
    // fails with EBADF or EINVAL and changes nothing.
    unsafe {
        libc::fcntl(fd, libc::F_SETPIPE_SZ, PIPE_SIZE);
    }
}

/// Copies a raw (tty) stream, one write per block read.
fn copy_raw(r: &mut dyn Read, out: &mut dyn Write) -> io::Result<()> {
    let mut buf = vec![0u8; BLOCK];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return out.flush(),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(&buf[..n])?;
        out.flush()?;
    }
}

/// Splits Docker's multiplexed stream (8-byte header `[stream, 0, 0, 0, len BE]`, then
/// `len` bytes) into stdout and stderr. Frames may cross block boundaries anywhere.
struct Demux {
    /// Header bytes of the frame being read, `hlen` of them so far.
    header: [u8; 8],
    hlen: usize,
    /// Stream and payload bytes still to come of the current frame (after its header).
    stream: u8,
    left: usize,
    /// Output gathered for `pending_stream`, not yet written.
    pending: Vec<u8>,
    pending_stream: u8,
    /// The text of a system-error frame (stream 3): the daemon's in-band error.
    error: Vec<u8>,
}

impl Demux {
    fn new() -> Demux {
        Demux {
            header: [0; 8],
            hlen: 0,
            stream: 1,
            left: 0,
            pending: Vec::with_capacity(BLOCK),
            pending_stream: 1,
            error: Vec::new(),
        }
    }

    /// Copy until the end of the stream. A system-error frame ends the copy with its
    /// message as the error; a stream that ends inside a frame is `UnexpectedEof`.
    fn copy(
        &mut self,
        r: &mut dyn Read,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<()> {
        let mut buf = vec![0u8; BLOCK];
        loop {
            let n = match r.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                self.flush(out, err)?;
                if self.hlen > 0 || self.left > 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "stream ended inside a frame",
                    ));
                }
                return Ok(());
            }
            self.feed(&buf[..n], out, err)?;
            // Whatever arrived is shown now (a follower waits for the next record).
            self.flush(out, err)?;
        }
    }

    fn feed(
        &mut self,
        mut data: &[u8],
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<()> {
        while !data.is_empty() {
            if self.left == 0 && self.hlen == 0 {
                // The common case, a whole frame of the current stream in `data`: take
                // its payload without going through the header state.
                if let Some(h) = data.first_chunk::<8>() {
                    let stream = if h[0] == 0 { 1 } else { h[0] };
                    let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
                    if stream == self.pending_stream && data.len() - 8 >= len {
                        self.pending.extend_from_slice(&data[8..8 + len]);
                        data = &data[8 + len..];
                        continue;
                    }
                }
            }
            if self.left == 0 && self.hlen < 8 {
                let take = (8 - self.hlen).min(data.len());
                self.header[self.hlen..self.hlen + take].copy_from_slice(&data[..take]);
                self.hlen += take;
                data = &data[take..];
                if self.hlen < 8 {
                    return Ok(());
                }
                self.start_frame(out, err)?;
                continue;
            }
            let take = self.left.min(data.len());
            let (body, rest) = data.split_at(take);
            if self.stream == 3 {
                self.error.extend_from_slice(body);
            } else {
                self.pending.extend_from_slice(body);
            }
            self.left -= take;
            data = rest;
            if self.left == 0 {
                self.end_frame()?;
            }
        }
        Ok(())
    }

    /// A complete header is in: check it and switch streams if needed.
    fn start_frame(&mut self, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<()> {
        let h = self.header;
        // Stdin frames (0) go to stdout, as the docker CLI does.
        let stream = match h[0] {
            0 | 1 => 1,
            2 => 2,
            3 => 3,
            b => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("Unrecognized input header: {b}"),
                ))
            }
        };
        self.left = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
        if stream != 3 && stream != self.pending_stream {
            // Keep the order of stdout and stderr output.
            self.flush(out, err)?;
            self.pending_stream = stream;
        }
        self.stream = stream;
        if self.left == 0 {
            self.end_frame()?;
        }
        Ok(())
    }

    fn end_frame(&mut self) -> io::Result<()> {
        self.hlen = 0;
        if self.stream == 3 {
            let msg = String::from_utf8_lossy(&self.error).trim_end().to_string();
            return Err(io::Error::other(msg));
        }
        Ok(())
    }

    fn flush(&mut self, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let w: &mut dyn Write = if self.pending_stream == 2 { err } else { out };
        w.write_all(&self.pending)?;
        w.flush()?;
        self.pending.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
        let mut f = vec![stream, 0, 0, 0];
        f.extend_from_slice(&(data.len() as u32).to_be_bytes());
        f.extend_from_slice(data);
        f
    }

    /// A reader that hands out at most `step` bytes per read.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn demuxes_frames_split_anywhere() {
        let big = vec![b'z'; BLOCK + 100];
        let mut raw = frame(1, b"out1\n");
        raw.extend(frame(2, b"err\n"));
        raw.extend(frame(1, b""));
        raw.extend(frame(0, b"in\n"));
        raw.extend(frame(1, &big));
        raw.extend(frame(2, b"err2\n"));
        let mut want_out = b"out1\nin\n".to_vec();
        want_out.extend_from_slice(&big);
        for step in [1, 3, 7, 8, 9, 100, usize::MAX] {
            let (mut o, mut e) = (Vec::new(), Vec::new());
            let mut r = Trickle { data: &raw, step };
            Demux::new().copy(&mut r, &mut o, &mut e).unwrap();
            assert_eq!(o, want_out, "step {step}");
            assert_eq!(e, b"err\nerr2\n", "step {step}");
        }
    }

    #[test]
    fn system_error_truncation_and_bad_headers() {
        let mut raw = frame(1, b"a");
        raw.extend(frame(3, b"boom\n"));
        raw.extend(frame(1, b"never"));
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let err = Demux::new()
            .copy(&mut &raw[..], &mut o, &mut e)
            .unwrap_err();
        assert_eq!(err.to_string(), "boom");
        let raw = frame(1, b"hello");
        for cut in [6, 10] {
            let err = Demux::new()
                .copy(&mut &raw[..cut], &mut Vec::new(), &mut Vec::new())
                .unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        }
        let err = Demux::new()
            .copy(&mut &frame(7, b"x")[..], &mut Vec::new(), &mut Vec::new())
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
