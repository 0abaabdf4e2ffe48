//! The json-file writer used by the shim.
//!
//! Each `write` call turns the complete lines it makes into records and writes them with
//! as few `write(2)` calls as possible; nothing but partial lines is held in memory, so a
//! shim killed at any moment loses at most an unfinished line. Rotation follows Docker:
//! before a record is written, if the file has reached `max_size`, `path.(n-1)` →
//! `path.n` … `path` → `path.1` and a fresh `path` is opened; with `max_file <= 1` the
//! file is truncated instead.

use crate::encode::encode_record;
use crate::{LogError, Stream};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A partial line that reaches this size is written as its own record (Docker's 16 KiB).
pub const MAX_PARTIAL: usize = 16 * 1024;

/// Appends records to a json-file log, rotating by size.
#[derive(Debug)]
pub struct Writer {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_file: u32,
    partial_out: Vec<u8>,
    partial_err: Vec<u8>,
    /// Encoded records not yet written (reused between calls).
    pending: Vec<u8>,
}

impl Writer {
    /// Open (append to) the log at `path`. `max_size` 0 = never rotate; `max_file` is the
    /// number of files kept including `path` (0 is taken as 1).
    pub fn open(path: impl AsRef<Path>, max_size: u64, max_file: u32) -> Result<Writer, LogError> {
        let path = path.as_ref().to_path_buf();
        let file = open_append(&path)?;
        let size = file
            .metadata()
            .map_err(|source| LogError::Open {
                path: path.clone(),
                source,
            })?
            .len();
        Ok(Writer {
            path,
            file,
            size,
            max_size,
            max_file: max_file.max(1),
            partial_out: Vec::new(),
            partial_err: Vec::new(),
            pending: Vec::new(),
        })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Record output of `stream`: complete lines (and 16 KiB pieces of a long line) are
    /// written now, the rest waits for more bytes or [`Writer::flush_partial`].
    pub fn write(&mut self, stream: Stream, bytes: &[u8]) -> Result<(), LogError> {
        let now = SystemTime::now();
        let time_text = berth_types::time::rfc3339_nano(now);
        let mut buf = std::mem::take(self.partial_mut(stream));
        let mut rest = bytes;
        loop {
            // Fill the partial buffer up to the next newline or the 16 KiB limit.
            let room = MAX_PARTIAL - buf.len();
            let window = &rest[..rest.len().min(room)];
            match window.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    buf.extend_from_slice(&window[..=i]);
                    rest = &rest[i + 1..];
                }
                None if window.len() == room => {
                    buf.extend_from_slice(window);
                    rest = &rest[window.len()..];
                }
                None => {
                    buf.extend_from_slice(window);
                    break;
                }
            }
            if let Err(e) = self.record(stream, &time_text, &buf) {
                *self.partial_mut(stream) = Vec::new();
                return Err(e);
            }
            buf.clear();
        }
        *self.partial_mut(stream) = buf;
        self.write_pending()
    }

    /// Write out buffered partial lines of both streams (at EOF of the output).
    pub fn flush_partial(&mut self) -> Result<(), LogError> {
        let time_text = berth_types::time::rfc3339_nano(SystemTime::now());
        for stream in [Stream::Stdout, Stream::Stderr] {
            let buf = std::mem::take(self.partial_mut(stream));
            if !buf.is_empty() {
                self.record(stream, &time_text, &buf)?;
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

    /// Encode one record into `pending`, rotating first when the file is full.
    fn record(&mut self, stream: Stream, time_text: &str, bytes: &[u8]) -> Result<(), LogError> {
        if self.max_size > 0 && self.size + self.pending.len() as u64 >= self.max_size {
            self.write_pending()?;
            self.rotate()?;
        }
        encode_record(&mut self.pending, stream, time_text, bytes);
        Ok(())
    }

    fn write_pending(&mut self) -> Result<(), LogError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let res = self.file.write_all(&self.pending);
        // Count what is in the file even after a failed write, so rotation still happens.
        self.size += self.pending.len() as u64;
        self.pending.clear();
        res.map_err(|source| LogError::Write {
            path: self.path.clone(),
            source,
        })
    }

    fn rotate(&mut self) -> Result<(), LogError> {
        let err = |source| LogError::Rotate {
            path: self.path.clone(),
            source,
        };
        if self.max_file <= 1 {
            self.file.set_len(0).map_err(err)?;
            self.size = 0;
            return Ok(());
        }
        let name = |n: u32| -> PathBuf {
            let mut s = self.path.clone().into_os_string();
            s.push(format!(".{n}"));
            PathBuf::from(s)
        };
        // Oldest kept is path.(max_file-1); it is overwritten by the rename below it.
        for n in (1..self.max_file - 1).rev() {
            match std::fs::rename(name(n), name(n + 1)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(err(e)),
            }
        }
        std::fs::rename(&self.path, name(1)).map_err(err)?;
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
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
