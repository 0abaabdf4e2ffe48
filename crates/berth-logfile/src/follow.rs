//! Following a json-file log as the shim appends to it (`docker logs -f`).
//!
//! Poll based and synchronous: the engine calls [`Follower::poll`] from a blocking task
//! on a timer. Each poll reads what was appended since the last one and returns the
//! complete records; an unfinished last line is kept until its newline arrives. When the
//! writer rotates (`path` renamed to `path.1`, a new `path` created), the follower
//! finishes the old file through its open descriptor, reads any rotated file it skipped
//! over, and continues at the start of the new `path`. Those files are opened as one view
//! that no rotation changed while it was taken: a poll can land between the writer's
//! rename and its create, or in the middle of its renames, and must neither skip nor
//! repeat a file. A truncated file (`max_file` 1) is read again from its start.

use crate::encode::{decode, decode_own};
use crate::reader::{forward_records, numbered, open_optional};
use crate::scan::find_newline;
use crate::{Entry, LogError, Record};
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Bytes read per poll at most; call again at once when a poll returned records.
const MAX_READ: usize = 4 * 1024 * 1024;

/// Yields records appended to a log after an offset.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    /// (dev, ino) of the open file, to notice rotation.
    id: (u64, u64),
    /// Next byte to read in the open file.
    offset: u64,
    /// Bytes of an unfinished line read before `offset`.
    partial: Vec<u8>,
    /// Offset to use when the file is first opened.
    start: u64,
    /// The file `start` belongs to, when known ([`Follower::after`]).
    start_file: Option<(u64, u64)>,
}

impl Follower {
    /// Follow `path` from `start_offset` (e.g. from [`crate::read_with_offset`]). The file
    /// need not exist yet.
    pub fn new(path: impl AsRef<Path>, start_offset: u64) -> Follower {
        Follower {
            path: path.as_ref().to_path_buf(),
            file: None,
            id: (0, 0),
            offset: 0,
            partial: Vec::new(),
            start: start_offset,
            start_file: None,
        }
    }

    /// Follow on from where a read of the log ended ([`crate::read_records_to_follow`]).
    /// If the file read then was rotated away before the first poll, the follower
    /// finds it among the rotated files and finishes it first, then the files written
    /// after it: nothing appended after the read is skipped.
    pub fn after(path: impl AsRef<Path>, point: crate::FollowPoint) -> Follower {
        let mut f = Follower::new(path, point.offset);
        if point.file != (0, 0) {
            f.start_file = Some(point.file);
        }
        f
    }

    /// Follow only what is appended from now on.
    pub fn at_end(path: impl AsRef<Path>) -> Follower {
        let len = std::fs::metadata(path.as_ref())
            .map(|m| m.len())
            .unwrap_or(0);
        Follower::new(path, len)
    }

    /// Offset in the current file up to which records have been returned.
    pub fn offset(&self) -> u64 {
        self.offset - self.partial.len() as u64
    }

    /// New complete records since the last poll (possibly none).
    pub fn poll(&mut self) -> Result<Vec<Entry>, LogError> {
        let mut out = Vec::new();
        self.poll_records(&mut |r| out.extend(r.to_entry()))?;
        Ok(out)
    }

    /// Like [`Follower::poll`], handing each new record to `sink` borrowed from the
    /// follower's buffer, as [`crate::read_records`] does: a fast writer's output is
    /// not an allocation per record.
    pub fn poll_records(&mut self, sink: &mut impl FnMut(&Record)) -> Result<(), LogError> {
        if self.file.is_none() && !self.open_first()? {
            return Ok(());
        }
        let n = self.read_available(sink)?;
        if n >= MAX_READ {
            return Ok(());
        }
        // Rotated? Compare the open file with what the path names now.
        let now = std::fs::metadata(&self.path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        // No file at `path` is the moment between the writer's rename and its create:
        // keep the old file until the new one is there.
        if now.is_none() || now == Some(self.id) {
            return Ok(());
        }
        // Finish the old file: the writer has closed it before renaming.
        while self.read_available(sink)? >= MAX_READ {}
        // The files written after the old one, and the new current file, opened as one
        // view (`crate::view`); when a rotation keeps moving them, the old file stays
        // open and the next poll looks again. When the old file is no longer among the
        // rotated ones (deleted, or compressed), the files after it cannot be told from
        // the ones before it, and reading goes on with `path` alone.
        let Some(view) = crate::view::open_view(&self.path, Some(self.id), false)? else {
            return Ok(());
        };
        let Some(current) = view.current else {
            return Ok(());
        };
        let rotated = if view.found { view.rotated } else { Vec::new() };
        let mut all = |r: &Record| {
            sink(r);
            true
        };
        for o in rotated.into_iter().rev() {
            let read = if o.is_gz() {
                forward_records(crate::gz::decoder(o.file), u64::MAX, &mut all)
            } else {
                forward_records(o.file, u64::MAX, &mut all)
            };
            read.map_err(|source| LogError::Read {
                path: o.path,
                source,
            })?;
        }
        self.id = current.id;
        self.offset = 0;
        self.partial.clear();
        self.file = Some(current.file);
        self.read_available(sink)?;
        Ok(())
    }

    /// The first open: the file of the start offset, wherever rotation moved it (then
    /// the next poll sees the rotation and goes on through the newer files), else `path`.
    fn open_first(&mut self) -> Result<bool, LogError> {
        // The start offset belongs to the first file opened only.
        let start = std::mem::take(&mut self.start);
        if let Some(want) = self.start_file.take() {
            let now = std::fs::metadata(&self.path)
                .ok()
                .map(|m| (m.dev(), m.ino()));
            if now != Some(want) {
                for k in 1..=64 {
                    let p = numbered(&self.path, k);
                    let Ok(m) = std::fs::metadata(&p) else { break };
                    if (m.dev(), m.ino()) != want {
                        continue;
                    }
                    if let Some(f) = open_optional(&p)? {
                        self.id = want;
                        self.offset = start.min(m.len());
                        self.partial.clear();
                        self.file = Some(f);
                        return Ok(true);
                    }
                    break;
                }
                // Gone (deleted or compressed): go on with the newest file.
                return self.open_current(0);
            }
        }
        self.open_current(start)
    }

    /// Open `path` at `offset`; false when it does not exist (yet).
    fn open_current(&mut self, offset: u64) -> Result<bool, LogError> {
        let Some(f) = open_optional(&self.path)? else {
            return Ok(false);
        };
        let m = f.metadata().map_err(|source| self.read_err(source))?;
        self.id = (m.dev(), m.ino());
        self.offset = if offset > m.len() { 0 } else { offset };
        self.partial.clear();
        self.file = Some(f);
        Ok(true)
    }

    /// Read from `offset` to EOF (at most MAX_READ bytes), decode complete lines.
    fn read_available(&mut self, sink: &mut impl FnMut(&Record)) -> Result<usize, LogError> {
        let Some(file) = &self.file else { return Ok(0) };
        let len = file
            .metadata()
            .map_err(|source| self.read_err(source))?
            .len();
        if len < self.offset {
            // Truncated in place (max_file 1): start over.
            self.offset = 0;
            self.partial.clear();
        }
        let want = ((len - self.offset) as usize).min(MAX_READ);
        if want == 0 {
            return Ok(0);
        }
        // The buffer (and its capacity) is kept from poll to poll.
        let mut buf = std::mem::take(&mut self.partial);
        let keep = buf.len();
        buf.resize(keep + want, 0);
        let n = file
            .read_at(&mut buf[keep..], self.offset)
            .map_err(|source| LogError::Read {
                path: self.path.clone(),
                source,
            })?;
        buf.truncate(keep + n);
        self.offset += n as u64;
        let mut start = 0;
        let mut scratch = Vec::new();
        loop {
            // The writer's own records need no search for their end first.
            if let Some((r, len)) = decode_own(&buf[start..]) {
                start += len;
                sink(&r);
                continue;
            }
            let Some(i) = find_newline(&buf[start..]) else {
                break;
            };
            if let Some(r) = decode(&buf[start..start + i + 1], &mut scratch) {
                sink(&r);
            }
            start += i + 1;
        }
        buf.drain(..start);
        self.partial = buf;
        Ok(n)
    }

    fn read_err(&self, source: std::io::Error) -> LogError {
        LogError::Read {
            path: self.path.clone(),
            source,
        }
    }
}
