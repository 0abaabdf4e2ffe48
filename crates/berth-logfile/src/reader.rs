//! Reading a json-file log with its rotated files (`docker logs`).
//!
//! Files are read oldest first (`path.N` … `path.1`, `path`). With `tail` the files are
//! scanned backwards from the end in blocks, so `--tail 10` on a large log reads only its
//! end. As in Docker, `tail` picks the last N records first and `since`/`until` then
//! filter those. Lines that do not parse (a torn last line) are skipped.

use crate::encode::{decode, decode_own, decode_record};
use crate::scan::find_newline;
use crate::{Entry, LogError, Record};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What `docker logs` asks for. `None` = no limit.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Only the last N records (`--tail N`; `Some(0)` returns nothing).
    pub tail: Option<usize>,
    /// Records at or after this time (`--since`).
    pub since: Option<SystemTime>,
    /// Records at or before this time (`--until`).
    pub until: Option<SystemTime>,
}

impl ReadOptions {
    fn keep(&self, r: &Record) -> bool {
        if self.since.is_none() && self.until.is_none() {
            return true;
        }
        // Only parsed when a bound asks for it.
        r.time()
            .is_some_and(|t| self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t <= u))
    }
}

/// The log's files, oldest first: `path.N` … `path.1` (each `path.K` or its compressed
/// `path.K.gz`; the plain one while both exist), then `path` (whether it exists or not).
pub fn rotated_paths(path: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for n in 1.. {
        let p = numbered(path, n);
        if p.exists() {
            files.push(p);
            continue;
        }
        let mut gz = p.into_os_string();
        gz.push(".gz");
        let gz = PathBuf::from(gz);
        if !gz.exists() {
            break;
        }
        files.push(gz);
    }
    files.reverse();
    files.push(path.to_path_buf());
    files
}

pub(crate) fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// All records of the log (rotated files included), filtered by `opts`. A missing log
/// gives an empty list.
pub fn read(path: &Path, opts: &ReadOptions) -> Result<Vec<Entry>, LogError> {
    read_with_offset(path, opts).map(|(entries, _)| entries)
}

/// Like [`read`], and also the byte offset in `path` just after the last complete record
/// seen: hand it to [`crate::Follower::new`] to follow on without gaps or repeats.
pub fn read_with_offset(path: &Path, opts: &ReadOptions) -> Result<(Vec<Entry>, u64), LogError> {
    let mut entries = Vec::new();
    let offset = read_each(path, opts, &mut |e| {
        entries.push(e);
        true
    })?;
    Ok((entries, offset))
}

/// Like [`read_with_offset`], handing each record to `sink` as it is read instead of
/// collecting them (a large log is never held in memory without `tail`); `sink`
/// returns false to stop early. Returns the follow offset.
pub fn read_each(
    path: &Path,
    opts: &ReadOptions,
    sink: &mut dyn FnMut(Entry) -> bool,
) -> Result<u64, LogError> {
    read_records(path, opts, &mut |r| match r.to_entry() {
        Some(e) => sink(e),
        None => true,
    })
}

/// Like [`read_each`] with records borrowed from the reader's buffers: the fast way
/// through a large log (nothing is allocated per record). Returns the follow offset.
pub fn read_records(
    path: &Path,
    opts: &ReadOptions,
    sink: &mut impl FnMut(&Record) -> bool,
) -> Result<u64, LogError> {
    let files = rotated_paths(path);
    // Fix the end of the current file first, so the offset matches what was read.
    let current = open_optional(path)?;
    let current_end = match &current {
        Some(f) => f.metadata().map_err(|source| read_err(path, source))?.len(),
        None => 0,
    };
    let complete_end = match &current {
        Some(f) => complete_end(f, current_end).map_err(|source| read_err(path, source))?,
        None => 0,
    };

    match opts.tail {
        Some(0) => {}
        Some(n) => {
            // Newest file first, backwards, until N records are found.
            let mut rev = Vec::new();
            for p in files.iter().rev() {
                let (file, end) = if p == path {
                    match &current {
                        Some(f) => (
                            f.try_clone().map_err(|source| read_err(p, source))?,
                            complete_end,
                        ),
                        None => continue,
                    }
                } else if crate::gz::is_gz(p) {
                    // Compressed: no seeking backwards; decode it all, keep the end.
                    let Some(f) = open_optional(p)? else { continue };
                    let mut all = Vec::new();
                    forward_records(crate::gz::decoder(f), u64::MAX, &mut |r| {
                        all.extend(r.to_entry());
                        true
                    })
                    .map_err(|source| read_err(p, source))?;
                    let want = n - rev.len();
                    rev.extend(all.into_iter().rev().take(want));
                    if rev.len() >= n {
                        break;
                    }
                    continue;
                } else {
                    match open_optional(p)? {
                        Some(f) => {
                            let len = f.metadata().map_err(|source| read_err(p, source))?.len();
                            (f, len)
                        }
                        None => continue,
                    }
                };
                tail_records(&file, end, n, &mut rev).map_err(|source| read_err(p, source))?;
                if rev.len() >= n {
                    break;
                }
            }
            rev.truncate(n);
            rev.reverse();
            for e in &rev {
                let r = Record::from(e);
                if opts.keep(&r) && !sink(&r) {
                    break;
                }
            }
        }
        None => {
            for p in &files {
                let (file, end) = if p == path {
                    match &current {
                        Some(f) => (
                            f.try_clone().map_err(|source| read_err(p, source))?,
                            complete_end,
                        ),
                        None => continue,
                    }
                } else {
                    match open_optional(p)? {
                        Some(f) => (f, u64::MAX),
                        None => continue,
                    }
                };
                let mut stopped = false;
                let mut keep = |r: &Record| {
                    if stopped || !opts.keep(r) {
                        return !stopped;
                    }
                    stopped = !sink(r);
                    !stopped
                };
                if crate::gz::is_gz(p) {
                    forward_records(crate::gz::decoder(file), end, &mut keep)
                } else {
                    forward_records(file, end, &mut keep)
                }
                .map_err(|source| read_err(p, source))?;
                if stopped {
                    break;
                }
            }
        }
    }
    Ok(complete_end)
}

fn read_err(path: &Path, source: std::io::Error) -> LogError {
    LogError::Read {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn open_optional(path: &Path) -> Result<Option<File>, LogError> {
    match File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(read_err(path, source)),
    }
}

/// Offset just after the last `\n` before `end` (0 when there is none).
fn complete_end(file: &File, end: u64) -> std::io::Result<u64> {
    const BLOCK: u64 = 64 * 1024;
    let mut pos = end;
    let mut buf = vec![0u8; BLOCK as usize];
    while pos > 0 {
        let start = pos.saturating_sub(BLOCK);
        let chunk = &mut buf[..(pos - start) as usize];
        read_exact_at(file, chunk, start)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        pos = start;
    }
    Ok(0)
}

fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

/// Bytes read from a file at a time (and the smallest buffer).
const BLOCK: usize = 1024 * 1024;

/// Decode every complete line of `file` up to `end` (a torn line after it is ignored).
/// The file is read in large blocks and records are decoded in place.
///
/// Generic over `sink` (like [`read_records`]) so the caller's per-record work is
/// compiled into this loop: a million records are a million calls otherwise.
pub(crate) fn forward_records(
    file: impl Read,
    end: u64,
    sink: &mut impl FnMut(&Record) -> bool,
) -> std::io::Result<()> {
    let mut file = file.take(end);
    let mut buf = vec![0u8; BLOCK];
    let mut scratch = Vec::new();
    // buf[start..filled] is read and not yet decoded.
    let (mut start, mut filled) = (0, 0);
    loop {
        loop {
            // The writer's own records need no search for their end first.
            if let Some((r, len)) = decode_own(&buf[start..filled]) {
                start += len;
                if !sink(&r) {
                    return Ok(());
                }
                continue;
            }
            let Some(i) = find_newline(&buf[start..filled]) else {
                break;
            };
            let line = &buf[start..start + i + 1];
            start += i + 1;
            if let Some(r) = decode(line, &mut scratch) {
                if !sink(&r) {
                    return Ok(());
                }
            }
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        start = 0;
        if filled == buf.len() {
            // One line longer than the buffer.
            buf.resize(buf.len() * 2, 0);
        }
        let n = loop {
            match file.read(&mut buf[filled..]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                r => break r?,
            }
        };
        if n == 0 {
            // A torn last line: the writer is still at it (or crashed in the middle).
            return Ok(());
        }
        filled += n;
    }
}

/// Push records of `file` (complete lines before `end`) newest first into `out` until it
/// holds `need`.
fn tail_records(file: &File, end: u64, need: usize, out: &mut Vec<Entry>) -> std::io::Result<()> {
    const BLOCK: u64 = 64 * 1024;
    let mut file = file;
    // `buf` holds bytes [pos, line_end): an unfinished (from the back) first line.
    let mut buf: Vec<u8> = Vec::new();
    let mut pos = end;
    let mut trimmed = false;
    while out.len() < need {
        if pos == 0 {
            if trimmed && !buf.is_empty() {
                if let Some(e) = decode_record(&buf) {
                    out.push(e);
                }
            }
            return Ok(());
        }
        let start = pos.saturating_sub(BLOCK);
        let mut block = vec![0u8; (pos - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        block.extend_from_slice(&buf);
        buf = block;
        pos = start;
        if !trimmed {
            match buf.iter().rposition(|&b| b == b'\n') {
                Some(i) => {
                    buf.truncate(i + 1);
                    trimmed = true;
                }
                None => continue,
            }
        }
        // Peel complete lines off the back: a line starts after the previous '\n'.
        while out.len() < need && !buf.is_empty() {
            let body_end = buf.len() - 1;
            match buf[..body_end].iter().rposition(|&b| b == b'\n') {
                Some(j) => {
                    if let Some(e) = decode_record(&buf[j + 1..]) {
                        out.push(e);
                    }
                    buf.truncate(j + 1);
                }
                None => break,
            }
        }
    }
    Ok(())
}
