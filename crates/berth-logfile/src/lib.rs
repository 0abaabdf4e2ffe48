//! Docker's `json-file` log format: written by `berth-shim`, read by the engine.
//!
//! One JSON object per line:
//! `{"log":"text\n","stream":"stdout","time":"2024-05-01T12:34:56.123456789Z"}`.
//! Output is cut at `'\n'`; a partial line that grows past 16 KiB is written as its own
//! record without a newline (Docker does the same), and a trailing partial line is
//! written without newline when the stream ends.
//!
//! - [`Writer`] (in the shim) buffers partial lines per stream and rotates
//!   `path` → `path.1` → `path.2` … when `max_size` is exceeded, keeping `max_file` files,
//!   gzipping rotated files (`path.N.gz`) with `compress`. It writes json-file or the
//!   compact `local` format (see `encode.rs`); readers accept both, line by line.
//! - [`read`] (in the engine, `docker logs`) returns the entries of all files, oldest first,
//!   with Docker's `--tail`, `--since`, `--until`.
//! - [`Follower`] (in the engine, `docker logs -f`) polls for entries appended after an
//!   offset and follows rotation.
//!
//! Readers are tolerant: a line that does not parse (typically a torn last line while the
//! shim is writing it, or after a crash) is skipped, never an error.

mod encode;
mod follow;
mod gz;
mod reader;
mod writer;

pub use follow::Follower;
pub use reader::{read, read_each, read_with_offset, rotated_paths, ReadOptions};
pub use writer::{Format, RecordSink, Writer, WriterOptions, MAX_PARTIAL};

use std::path::PathBuf;
use std::time::SystemTime;

/// Which output stream a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// The name used in the `stream` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    /// Parse the `stream` field.
    pub fn parse(s: &str) -> Option<Stream> {
        match s {
            "stdout" => Some(Stream::Stdout),
            "stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }
}

/// One record of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub stream: Stream,
    pub time: SystemTime,
    /// The `time` field as written (RFC 3339 with nanoseconds); empty for `local`
    /// records, which store the time as a number.
    pub time_text: String,
    /// The output bytes; includes the trailing `\n` when the record ends a line.
    pub line: Vec<u8>,
}

/// Errors of the log file functions.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("error opening log file {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("error writing log file {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("error reading log file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("error rotating log file {path}: {source}")]
    Rotate {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
