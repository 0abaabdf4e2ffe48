//! The json-file writer used by the shim.
//!
//! Each `write` call turns the complete lines it makes into records and writes them with
//! as few `write(2)` calls as possible; nothing but partial lines is held in memory, so a
//! shim killed at any moment loses at most an unfinished line. Rotation follows Docker:
//! before a record is written, if the file has reached `max_size`, `path.(n-1)` →
//! `path.n` … `path` → `path.1` and a fresh `path` is opened; with `max_file <= 1` the
//! file is truncated instead. With `compress`, each rotated file is gzipped on a helper
//! thread into `path.1.gz` (Docker's names: `path.N.gz`), written under a temporary name
//! and renamed, then the plain file is removed; readers prefer a plain `path.N` when
//! both exist. The helper thread is joined before the next rotation, so at most one
//! compression runs, and it is only started at the first rotation (after the shim has
//! created the container process: no thread exists while the runtime forks).
//!
//! A [`RecordSink`] sees every record as it is made (the shim's remote log drivers);
//! with [`Format::Discard`] nothing is written to disk and the sink is all there is.

use crate::encode::{encode_json_line, encode_local, encode_record, json_tail};
use crate::scan::find_newline;
use crate::{LogError, Stream};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// On-disk record format of a [`Writer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Docker's json-file lines.
    #[default]
    Json,
    /// Berth's compact `local` lines (see the crate docs).
    Local,
    /// No file: records only go to the sink.
    Discard,
}

/// How a [`Writer`] writes and rotates.
#[derive(Debug, Clone, Default)]
pub struct WriterOptions {
    pub format: Format,
    /// Rotate when the file reaches this size (0 = never).
    pub max_size: u64,
    /// Files kept including the active one (0 is taken as 1).
    pub max_file: u32,
    /// Gzip rotated files (`path.N.gz`).
    pub compress: bool,
}

/// Receives each record (a line with its `\n`, or a piece of one without) as the
/// writer makes it, with the record's time.
pub trait RecordSink: Send {
    fn record(&mut self, stream: Stream, bytes: &[u8], time: SystemTime);
}

/// A partial line that reaches this size is written as its own record (Docker's 16 KiB).
pub const MAX_PARTIAL: usize = 16 * 1024;

/// Encoded records are written out once this much is pending (and at the end of each
/// `write`): few large writes, and a bounded buffer whatever the shim hands in.
const WRITE_AT: usize = 512 * 1024;

/// Appends records to a json-file (or `local`) log, rotating by size.
pub struct Writer {
    path: PathBuf,
    /// None with [`Format::Discard`].
    file: Option<File>,
    size: u64,
    opts: WriterOptions,
    partial_out: Vec<u8>,
    partial_err: Vec<u8>,
    /// Encoded records not yet written (reused between calls).
    pending: Vec<u8>,
    sink: Option<Box<dyn RecordSink>>,
    /// The thread gzipping the last rotated file.
    compressing: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("path", &self.path)
            .field("size", &self.size)
            .field("opts", &self.opts)
            .field("sink", &self.sink.is_some())
            .finish()
    }
}

impl Writer {
    /// Open (append to) the json-file log at `path`. `max_size` 0 = never rotate;
    /// `max_file` is the number of files kept including `path` (0 is taken as 1).
    pub fn open(path: impl AsRef<Path>, max_size: u64, max_file: u32) -> Result<Writer, LogError> {
        Writer::with_options(
            path,
            WriterOptions {
                max_size,
                max_file,
                ..Default::default()
            },
        )
    }

    /// Open (append to) the log at `path` with all options.
    pub fn with_options(path: impl AsRef<Path>, opts: WriterOptions) -> Result<Writer, LogError> {
        let path = path.as_ref().to_path_buf();
        let (file, size) = if opts.format == Format::Discard {
            (None, 0)
        } else {
            let file = open_append(&path)?;
            let size = file
                .metadata()
                .map_err(|source| LogError::Open {
                    path: path.clone(),
                    source,
                })?
                .len();
            (Some(file), size)
        };
        Ok(Writer {
            path,
            file,
            size,
            opts: WriterOptions {
                max_file: opts.max_file.max(1),
                ..opts
            },
            partial_out: Vec::new(),
            partial_err: Vec::new(),
            pending: Vec::new(),
            sink: None,
            compressing: None,
        })
    }

    /// Hand every record to `sink` too (after it is encoded for the file).
    pub fn set_sink(&mut self, sink: Box<dyn RecordSink>) {
        self.sink = Some(sink);
    }

    /// Take the sink back (to shut it down).
    pub fn take_sink(&mut self) -> Option<Box<dyn RecordSink>> {
        self.sink.take()
    }

    /// Wait for a running compression to finish (at the end of the shim).
    pub fn finish_compression(&mut self) {
        if let Some(h) = self.compressing.take() {
            let _ = h.join();
        }
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Record output of `stream`: complete lines (and 16 KiB pieces of a long line) are
    /// written now, the rest waits for more bytes or [`Writer::flush_partial`]. All
    /// records of one call share its time: they arrived together.
    pub fn write(&mut self, stream: Stream, bytes: &[u8]) -> Result<(), LogError> {
        let now = SystemTime::now();
        let time_text = self.time_text(now);
        let mut buf = std::mem::take(self.partial_mut(stream));
        let mut rest = bytes;
        if !buf.is_empty() {
            // Finish the line begun by earlier output first.
            let room = MAX_PARTIAL - buf.len();
            let window = &rest[..rest.len().min(room)];
            let end = match find_newline(window) {
                Some(i) => i + 1,
                None if window.len() == room => room,
                None => {
                    buf.extend_from_slice(window);
                    *self.partial_mut(stream) = buf;
                    return Ok(());
                }
            };
            buf.extend_from_slice(&window[..end]);
            rest = &rest[end..];
            let res = self.record(stream, now, &time_text, &buf);
            buf.clear();
            if let Err(e) = res {
                *self.partial_mut(stream) = buf;
                return Err(e);
            }
        }
        let res = if self.opts.format == Format::Json && self.sink.is_none() {
            self.write_json_lines(stream, &time_text, &mut rest)
        } else {
            self.write_records(stream, now, &time_text, &mut rest)
        };
        if let Err(e) = res {
            // As with any failed record: the rest of this output is lost, not kept.
            *self.partial_mut(stream) = buf;
            return Err(e);
        }
        // What is left is the beginning of a line shorter than the limit.
        buf.extend_from_slice(rest);
        *self.partial_mut(stream) = buf;
        self.write_pending()
    }

    /// The common case, json-file and no sink: records are encoded straight from the
    /// input in one pass each. Leaves the unfinished end of `rest` in it.
    fn write_json_lines(
        &mut self,
        stream: Stream,
        time_text: &str,
        rest: &mut &[u8],
    ) -> Result<(), LogError> {
        let tail = json_tail(stream, time_text);
        while !rest.is_empty() {
            self.rotate_if_full()?;
            match encode_json_line(&mut self.pending, &tail, rest) {
                Some(n) => *rest = &rest[n..],
                None => break,
            }
            if self.pending.len() >= WRITE_AT {
                self.write_pending()?;
            }
        }
        Ok(())
    }

    /// Every other case: cut records, then encode (and hand to the sink) each.
    fn write_records(
        &mut self,
        stream: Stream,
        now: SystemTime,
        time_text: &str,
        rest: &mut &[u8],
    ) -> Result<(), LogError> {
        while !rest.is_empty() {
            let window = &rest[..rest.len().min(MAX_PARTIAL)];
            let end = match find_newline(window) {
                Some(i) => i + 1,
                None if window.len() == MAX_PARTIAL => MAX_PARTIAL,
                None => break,
            };
            self.record(stream, now, time_text, &rest[..end])?;
            *rest = &rest[end..];
            if self.pending.len() >= WRITE_AT {
                self.write_pending()?;
            }
        }
        Ok(())
    }

    /// Write out buffered partial lines of both streams (at EOF of the output).
    pub fn flush_partial(&mut self) -> Result<(), LogError> {
        let now = SystemTime::now();
        let time_text = self.time_text(now);
        for stream in [Stream::Stdout, Stream::Stderr] {
            let buf = std::mem::take(self.partial_mut(stream));
            if !buf.is_empty() {
                self.record(stream, now, &time_text, &buf)?;
            }
        }
        self.write_pending()
    }

    /// Current size of the active file in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn partial_mut(&mut self, stream: Stream) -> &mut Vec<u8> {
        match stream {
            Stream::Stdout => &mut self.partial_out,
            Stream::Stderr => &mut self.partial_err,
        }
    }

    /// The json-file time text (only that format needs it).
    fn time_text(&self, now: SystemTime) -> String {
        if self.opts.format == Format::Json {
            berth_types::time::rfc3339_nano(now)
        } else {
            String::new()
        }
    }

    /// Encode one record into `pending`, rotating first when the file is full.
    fn record(
        &mut self,
        stream: Stream,
        now: SystemTime,
        time_text: &str,
        bytes: &[u8],
    ) -> Result<(), LogError> {
        if let Some(sink) = &mut self.sink {
            sink.record(stream, bytes, now);
        }
        match self.opts.format {
            Format::Discard => return Ok(()),
            Format::Json => {
                self.rotate_if_full()?;
                encode_record(&mut self.pending, stream, time_text, bytes);
            }
            Format::Local => {
                self.rotate_if_full()?;
                encode_local(
                    &mut self.pending,
                    stream,
                    berth_types::time::unix_nanos(now),
                    bytes,
                );
            }
        }
        Ok(())
    }

    fn rotate_if_full(&mut self) -> Result<(), LogError> {
        if self.opts.max_size > 0 && self.size + self.pending.len() as u64 >= self.opts.max_size {
            self.write_pending()?;
            self.rotate()?;
        }
        Ok(())
    }

    fn write_pending(&mut self) -> Result<(), LogError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let Some(file) = &mut self.file else {
            self.pending.clear();
            return Ok(());
        };
        let res = file.write_all(&self.pending);
        // Count what is in the file even after a failed write, so rotation still happens.
        self.size += self.pending.len() as u64;
        self.pending.clear();
        res.map_err(|source| LogError::Write {
            path: self.path.clone(),
            source,
        })
    }

    fn rotate(&mut self) -> Result<(), LogError> {
        // The previous compression must be done before its file is renamed.
        self.finish_compression();
        let log_path = self.path.clone();
        let err = |source| LogError::Rotate {
            path: log_path.clone(),
            source,
        };
        let Some(file) = &self.file else {
            return Ok(());
        };
        if self.opts.max_file <= 1 {
            file.set_len(0).map_err(err)?;
            self.size = 0;
            return Ok(());
        }
        let name = |n: u32, gz: bool| -> PathBuf {
            let mut s = self.path.clone().into_os_string();
            s.push(format!(".{n}{}", if gz { ".gz" } else { "" }));
            PathBuf::from(s)
        };
        // Oldest kept is path.(max_file-1); it is overwritten by the rename below it.
        for n in (1..self.opts.max_file - 1).rev() {
            for gz in [false, true] {
                match std::fs::rename(name(n, gz), name(n + 1, gz)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(err(e)),
                }
            }
        }
        std::fs::rename(&self.path, name(1, false)).map_err(err)?;
        self.file = Some(open_append(&self.path)?);
        self.size = 0;
        if self.opts.compress {
            let (plain, gz) = (name(1, false), name(1, true));
            // A failed spawn leaves the file uncompressed, which readers handle.
            self.compressing = std::thread::Builder::new()
                .name("log-compress".into())
                .spawn(move || {
                    if let Err(e) = crate::gz::compress_file(&plain, &gz) {
                        eprintln!("compressing {}: {e}", plain.display());
                    }
                })
                .ok();
        }
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.finish_compression();
    }
}

fn open_append(path: &Path) -> Result<File, LogError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
        .map_err(|source| LogError::Open {
            path: path.to_path_buf(),
            source,
        })
}
