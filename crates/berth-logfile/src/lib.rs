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
mod scan;
mod view;
mod writer;

pub use follow::Follower;
pub use reader::{
    read, read_each, read_records, read_records_to_follow, read_with_offset, rotated_paths,
    FollowPoint, ReadOptions,
};
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

/// One record as a reader found it, borrowed from the reader's buffers: reading a large
/// log allocates nothing per record ([`read_records`]).
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub stream: Stream,
    /// The output bytes, without the `\n` of a record that ends a line.
    pub text: &'a [u8],
    /// The record ends a line: a `\n` follows `text`.
    pub newline: bool,
    time: RecordTime<'a>,
}

/// The time of a [`Record`]: json-file's text is only parsed when asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RecordTime<'a> {
    Text(&'a [u8]),
    At(SystemTime),
}

impl Record<'_> {
    /// When the record was written; `None` when its time does not parse.
    pub fn time(&self) -> Option<SystemTime> {
        match self.time {
            RecordTime::Text(t) => encode::parse_time(std::str::from_utf8(t).ok()?),
            RecordTime::At(t) => Some(t),
        }
    }

    /// Append the output bytes (with the `\n` of a complete line).
    pub fn append_line(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.text);
        if self.newline {
            out.push(b'\n');
        }
    }

    /// Append the time as RFC 3339 with nine fraction digits in UTC (what `logs -t`
    /// shows): json-file's text when it has that form already, else formatted.
    /// Nothing is appended when the time does not parse.
    pub fn append_time(&self, out: &mut Vec<u8>) {
        match self.time {
            RecordTime::Text(t) if encode::is_fixed_time(t) => out.extend_from_slice(t),
            _ => {
                if let Some(t) = self.time() {
                    out.extend_from_slice(berth_types::time::rfc3339_nano(t).as_bytes());
                }
            }
        }
    }

    /// An owned copy; `None` when the time does not parse (such records are skipped).
    pub fn to_entry(&self) -> Option<Entry> {
        let mut line = Vec::with_capacity(self.text.len() + 1);
        self.append_line(&mut line);
        let time_text = match self.time {
            RecordTime::Text(t) => String::from_utf8_lossy(t).into_owned(),
            RecordTime::At(_) => String::new(),
        };
        Some(Entry {
            stream: self.stream,
            time: self.time()?,
            time_text,
            line,
        })
    }
}

/// The record of an entry (which owns the bytes).
impl<'a> From<&'a Entry> for Record<'a> {
    fn from(e: &'a Entry) -> Record<'a> {
        let (text, newline) = match e.line.strip_suffix(b"\n") {
            Some(t) => (t, true),
            None => (&e.line[..], false),
        };
        Record {
            stream: e.stream,
            text,
            newline,
            // The text when there is one, so `to_entry` gives the entry back.
            time: if e.time_text.is_empty() {
                RecordTime::At(e.time)
            } else {
                RecordTime::Text(e.time_text.as_bytes())
            },
        }
    }
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
