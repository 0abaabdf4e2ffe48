//! Reading a json-file log with its rotated files (`docker logs`).
//!
//! Files are read oldest first (`path.N` … `path.1`, `path`). With `tail` the files are
//! scanned backwards from the end in blocks, so `--tail 10` on a large log reads only its
//! end. As in Docker, `tail` picks the last N records first and `since`/`until` then
//! filter those. Lines that do not parse (a torn last line) are skipped.

use crate::encode::{decode, decode_own};
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
///
/// With `tail`, the files are first scanned backwards from the end, only counting
/// records, to find where the last N begin; the records are then read forwards from
/// there the same way as a whole log.
pub fn read_records(
    path: &Path,
    opts: &ReadOptions,
    sink: &mut impl FnMut(&Record) -> bool,
) -> Result<u64, LogError> {
    read_records_to_follow(path, opts, sink).map(|f| f.offset)
}

/// Where a read of the log ended, to follow on from: the offset after the last
/// complete record of the file that was current then, and that file's identity, as
/// it may have been rotated away before the follower opens the log
/// ([`crate::Follower::after`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FollowPoint {
    pub offset: u64,
    /// (dev, ino) of the file; (0, 0) when there was none.
    pub file: (u64, u64),
}

/// [`read_records`], returning where a follower must go on.
pub fn read_records_to_follow(
    path: &Path,
    opts: &ReadOptions,
    sink: &mut impl FnMut(&Record) -> bool,
) -> Result<FollowPoint, LogError> {
    // All files opened at once, so a rotation while reading cannot make a file be read
    // twice or not at all, nor the two passes of `tail` see different files.
    let view = crate::view::open_view(path, None, true)?.expect("best effort gives a view");
    // Fix the end of the current file first, so the offset matches what was read.
    let (file_id, complete_end) = match &view.current {
        Some(c) => {
            let len = c
                .file
                .metadata()
                .map_err(|source| read_err(path, source))?
                .len();
            let end = complete_end(&c.file, len).map_err(|source| read_err(path, source))?;
            (c.id, end)
        }
        None => ((0, 0), 0),
    };

    // The parts to read, newest first.
    let mut parts: Vec<Part> = Vec::new();
    let mut found = 0;
    for o in view.current.into_iter().chain(view.rotated) {
        if opts.tail.is_some_and(|n| found >= n) {
            break;
        }
        let end = if o.id == file_id {
            complete_end
        } else {
            o.file
                .metadata()
                .map_err(|source| read_err(&o.path, source))?
                .len()
        };
        let gz = o.is_gz();
        let mut from = From::Start;
        if let Some(n) = opts.tail {
            let want = n - found;
            let (count, start) = if gz {
                count_gz(&o.file).map(|count| {
                    let skip = count.saturating_sub(want);
                    (count - skip, From::Skip(skip))
                })
            } else {
                tail_start(&o.file, end, want).map(|(count, at)| (count, From::Offset(at)))
            }
            .map_err(|source| read_err(&o.path, source))?;
            found += count;
            from = start;
        }
        parts.push(Part {
            path: o.path,
            file: o.file,
            end,
            gz,
            from,
        });
    }

    let mut stopped = false;
    for part in parts.iter().rev() {
        let mut keep = |r: &Record| {
            if stopped || !opts.keep(r) {
                return !stopped;
            }
            stopped = !sink(r);
            !stopped
        };
        part.read(&mut keep)
            .map_err(|source| read_err(&part.path, source))?;
        if stopped {
            break;
        }
    }
    Ok(FollowPoint {
        offset: complete_end,
        file: file_id,
    })
}

/// One file of the log to read, and where its records to read begin.
struct Part {
    path: PathBuf,
    file: File,
    /// Bytes of the (uncompressed) file that may be read: up to its last complete
    /// record for the current file.
    end: u64,
    gz: bool,
    from: From,
}

/// Where reading a file starts.
enum From {
    Start,
    /// At this byte offset (a plain file).
    Offset(u64),
    /// After this many records (a compressed file, which cannot seek).
    Skip(usize),
}

impl Part {
    fn read(&self, sink: &mut impl FnMut(&Record) -> bool) -> std::io::Result<()> {
        let mut file = &self.file;
        // Counted or searched before: start over at the beginning of the file.
        file.seek(SeekFrom::Start(0))?;
        match self.from {
            From::Start => {}
            From::Offset(at) => {
                file.seek(SeekFrom::Start(at))?;
                return forward_records(file, self.end.saturating_sub(at), sink);
            }
            From::Skip(mut skip) => {
                return forward_records(crate::gz::decoder(file), u64::MAX, &mut |r| {
                    if skip > 0 {
                        skip -= 1;
                        return true;
                    }
                    sink(r)
                });
            }
        }
        if self.gz {
            forward_records(crate::gz::decoder(file), u64::MAX, sink)
        } else {
            forward_records(file, self.end, sink)
        }
    }
}

/// Records in a compressed file.
fn count_gz(file: &File) -> std::io::Result<usize> {
    let mut count = 0;
    let mut file = file;
    file.seek(SeekFrom::Start(0))?;
    forward_records(crate::gz::decoder(file), u64::MAX, &mut |_| {
        count += 1;
        true
    })?;
    Ok(count)
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

/// Where the last `need` records of `file` (complete lines before `end`) begin, and
/// how many there are (fewer when the file holds fewer; the offset is then 0). Scans
/// backwards in blocks and only checks that each line decodes: nothing is kept.
fn tail_start(file: &File, end: u64, need: usize) -> std::io::Result<(usize, u64)> {
    const BLOCK: u64 = 64 * 1024;
    // `buf` holds bytes [pos, pos + buf.len()): lines not yet counted, the first of
    // them possibly unfinished (from the back).
    let mut buf: Vec<u8> = Vec::new();
    let mut scratch = Vec::new();
    let mut pos = end;
    let mut trimmed = false;
    let mut count = 0;
    let decodes = |line: &[u8], scratch: &mut Vec<u8>| {
        decode_own(line).is_some() || decode(line, scratch).is_some()
    };
    while count < need {
        if pos == 0 {
            if trimmed && !buf.is_empty() && decodes(&buf, &mut scratch) {
                count += 1;
            }
            return Ok((count, 0));
        }
        let start = pos.saturating_sub(BLOCK);
        let mut block = vec![0u8; (pos - start) as usize];
        read_exact_at(file, &mut block, start)?;
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
        while count < need && !buf.is_empty() {
            let body_end = buf.len() - 1;
            match buf[..body_end].iter().rposition(|&b| b == b'\n') {
                Some(j) => {
                    if decodes(&buf[j + 1..], &mut scratch) {
                        count += 1;
                    }
                    buf.truncate(j + 1);
                }
                None => break,
            }
        }
    }
    Ok((count, pos + buf.len() as u64))
}
