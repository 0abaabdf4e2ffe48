//! An in-process byte pipe between two threads: the writer fills buffers of a fixed
//! size and hands them over through a bounded queue, so a producer (a download, a
//! decompressor) and a consumer (the unpacker) run on different cores while at most
//! `depth` buffers are in flight.
//!
//! The end of the stream is explicit: the reader sees a clean end only after
//! [`PipeWriter::finish`]. A writer dropped without it (its thread failed, panicked or
//! gave up) is an error at the reader, never a short stream that looks complete; an
//! error passed with [`PipeWriter::fail`] reaches the reader as is. A reader that goes
//! away makes the writer's next write fail with an error [`is_reader_gone`] recognizes,
//! so the producer stops instead of filling a queue nobody empties.
//!
//! Emptied buffers travel back to the writer for reuse: a layer is hundreds of
//! buffers, and a fresh one each time costs an allocation and the zeroing of its pages.

use std::io::{self, BufRead, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};

enum Msg {
    Data(Vec<u8>),
    End,
    Fail(io::Error),
}

/// The sending half of [`pipe`].
pub struct PipeWriter {
    tx: SyncSender<Msg>,
    /// Buffers the reader is done with.
    spare: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    /// Bytes of `buf` that are data (the rest may be stale bytes of a reused buffer).
    filled: usize,
    chunk: usize,
}

/// The receiving half of [`pipe`].
pub struct PipeReader {
    rx: Receiver<Msg>,
    spare: SyncSender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    state: State,
}

#[derive(PartialEq, Eq)]
enum State {
    Open,
    Ended,
    Failed,
}

/// The error a [`PipeWriter`] returns once its reader is gone.
#[derive(Debug)]
struct ReaderGone;

impl std::fmt::Display for ReaderGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the reading side of the stream stopped")
    }
}

impl std::error::Error for ReaderGone {}

/// Whether `e` is a [`PipeWriter`]'s "the reader is gone" error (the consumer failed
/// or stopped: its own error is the one to report).
pub fn is_reader_gone(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<ReaderGone>())
}

/// A pipe moving `chunk`-byte buffers, at most `depth` of them queued.
pub fn pipe(chunk: usize, depth: usize) -> (PipeWriter, PipeReader) {
    let (tx, rx) = sync_channel(depth);
    let (spare_tx, spare_rx) = sync_channel(depth + 1);
    (
        PipeWriter {
            tx,
            spare: spare_rx,
            buf: Vec::new(),
            filled: 0,
            chunk: chunk.max(1),
        },
        PipeReader {
            rx,
            spare: spare_tx,
            cur: Vec::new(),
            pos: 0,
            state: State::Open,
        },
    )
}

impl PipeWriter {
    /// Make `buf` a buffer of `chunk` capacity (a returned one if there is), empty.
    fn ensure_buffer(&mut self) {
        if self.buf.capacity() == 0 {
            // A returned buffer keeps its length: those bytes are initialized, so
            // reading into it needs no zeroing.
            self.buf = match self.spare.try_recv() {
                Ok(v) => v,
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => {
                    Vec::with_capacity(self.chunk)
                }
            };
            self.filled = 0;
        }
    }

    fn send(&mut self, msg: Msg) -> io::Result<()> {
        self.tx
            .send(msg)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, ReaderGone))
    }

    fn send_buffered(&mut self) -> io::Result<()> {
        if self.filled == 0 {
            return Ok(());
        }
        let mut full = std::mem::take(&mut self.buf);
        full.truncate(self.filled);
        self.filled = 0;
        self.send(Msg::Data(full))
    }

    /// Hand over what is buffered and mark the end of the stream.
    pub fn finish(mut self) -> io::Result<()> {
        self.send_buffered()?;
        self.send(Msg::End)
    }

    /// Move everything `r` yields into the pipe, reading straight into the pipe's
    /// buffers (no copy in between); the bytes moved. Does not [`finish`](Self::finish).
    pub fn write_from(&mut self, r: &mut impl Read) -> io::Result<u64> {
        let mut total = 0u64;
        loop {
            self.ensure_buffer();
            if self.buf.len() < self.chunk {
                self.buf.resize(self.chunk, 0);
            }
            let n = r.read(&mut self.buf[self.filled..self.chunk])?;
            if n == 0 {
                return Ok(total);
            }
            self.filled += n;
            total += n as u64;
            if self.filled == self.chunk {
                self.send_buffered()?;
            }
        }
    }

    /// End the stream with `e`: the reader's next read returns it (after nothing else).
    pub fn fail(mut self, e: io::Error) {
        let _ = self.send(Msg::Fail(e));
    }
}

impl Write for PipeWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.ensure_buffer();
        let n = data.len().min(self.chunk - self.filled);
        self.buf.truncate(self.filled);
        self.buf.extend_from_slice(&data[..n]);
        self.filled += n;
        if self.filled == self.chunk {
            self.send_buffered()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffered()
    }
}

impl Read for PipeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let have = self.fill_buf()?;
            let n = out.len().min(have.len());
            out[..n].copy_from_slice(&have[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

/// The buffers as they came: a consumer that reads through `BufRead` (a decoder) takes
/// the bytes from them without another copy.
impl BufRead for PipeReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.cur.len() {
            match self.state {
                State::Ended => return Ok(&[]),
                State::Failed => return Err(io::Error::other("the stream failed earlier")),
                State::Open => {}
            }
            match self.rx.recv() {
                Ok(Msg::Data(v)) => {
                    let done = std::mem::replace(&mut self.cur, v);
                    if done.capacity() > 0 {
                        let _ = self.spare.try_send(done);
                    }
                    self.pos = 0;
                }
                Ok(Msg::End) => self.state = State::Ended,
                Ok(Msg::Fail(e)) => {
                    self.state = State::Failed;
                    return Err(e);
                }
                Err(_) => {
                    self.state = State::Failed;
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the stream stopped before its end",
                    ));
                }
            }
        }
        Ok(&self.cur[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.cur.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(mut r: PipeReader) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        r.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn moves_bytes_in_order() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        let (mut w, r) = pipe(4096, 2);
        let d2 = data.clone();
        let t = std::thread::spawn(move || {
            for part in d2.chunks(777) {
                w.write_all(part).unwrap();
            }
            w.finish().unwrap();
        });
        assert_eq!(read_all(r).unwrap(), data);
        t.join().unwrap();
    }

    #[test]
    fn buffered_reads_see_the_buffers_as_sent() {
        let (mut w, mut r) = pipe(4, 4);
        w.write_all(b"abcdef").unwrap();
        w.finish().unwrap();
        assert_eq!(r.fill_buf().unwrap(), b"abcd");
        r.consume(3);
        assert_eq!(r.fill_buf().unwrap(), b"d");
        r.consume(1);
        assert_eq!(r.fill_buf().unwrap(), b"ef");
        r.consume(2);
        assert!(r.fill_buf().unwrap().is_empty());
    }

    #[test]
    fn dropped_writer_is_an_error_not_an_end() {
        let (mut w, r) = pipe(16, 2);
        let t = std::thread::spawn(move || {
            w.write_all(b"some bytes that are buffered").unwrap();
            w.flush().unwrap();
            drop(w);
        });
        let e = read_all(r).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        t.join().unwrap();
    }

    #[test]
    fn writer_error_reaches_the_reader() {
        let (mut w, mut r) = pipe(16, 2);
        let t = std::thread::spawn(move || {
            w.write_all(b"0123456789abcdef").unwrap();
            w.fail(io::Error::new(io::ErrorKind::InvalidData, "corrupt input"));
        });
        let mut got = [0u8; 16];
        r.read_exact(&mut got).unwrap();
        let e = r.read(&mut got).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("corrupt input"), "{e}");
        // And it stays failed.
        assert!(r.read(&mut got).is_err());
        t.join().unwrap();
    }

    #[test]
    fn gone_reader_stops_the_writer() {
        let (mut w, r) = pipe(8, 1);
        drop(r);
        let e = (0..10)
            .map(|_| w.write_all(b"12345678"))
            .find_map(Result::err)
            .expect("a write fails");
        assert!(is_reader_gone(&e), "{e}");
        assert!(!is_reader_gone(&io::Error::other("x")));
    }
}
