//! `docker logs`: entries of the json-file log (with `--tail`, `--since`, `--until`,
//! `--timestamps`), and with `--follow` the entries appended afterwards until the
//! container stops.
//!
//! The result is a channel of [`LogChunk`]s; the API frames them (8-byte header) unless
//! the container has a tty, exactly as Docker does. [`frame`] builds that header.
//!
//! Also the engine's side of logging drivers: at create the daemon's default
//! `log-driver`/`log-opts` are merged into the container's `LogConfig` and checked
//! ([`Engine::merge_log_config`], Docker's texts from `berth-logdriver`); at start the
//! shim's [`ShimLogConfig`] is made from it ([`Engine::shim_log_config`]). `logs` reads
//! the container's file whatever its format (json-file, `local`, or the local copy of
//! `syslog`/`fluentd`); `none` and a disabled copy cannot be read, as in Docker.

use crate::error::{EngineError, Result};
use crate::record::ContainerRecord;
use crate::Engine;
#[cfg(test)]
use berth_logfile::Entry;
use berth_logfile::{Follower, ReadOptions, Record, Stream};
use berth_types::docker::LogConfig;
use berth_types::shim::{LogConfig as ShimLogConfig, STREAM_STDERR, STREAM_STDOUT};
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;

/// How often a follower looks for new entries.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// Query options of `GET /containers/{id}/logs`.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
    pub timestamps: bool,
    /// None = all.
    pub tail: Option<usize>,
    pub details: bool,
}

/// One piece of output: `stream` is 1 (stdout) or 2 (stderr); `data` includes the
/// timestamp prefix when asked for. With `framed`, `data` is already what goes on the
/// wire: many records, each in its own Docker frame (8-byte header) unless the
/// container has a tty; `stream` is then meaningless. `logs` sends framed batches of
/// up to [`BATCH_BYTES`], so a large log is not a million channel messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    pub stream: u8,
    pub data: Vec<u8>,
    pub framed: bool,
}

impl LogChunk {
    /// The records in this chunk as `(stream, bytes)`: a framed batch is split at its
    /// Docker headers; `tty` says the container has a tty (framed batches are then
    /// raw stdout). For callers of the engine that are not the HTTP API.
    pub fn records(&self, tty: bool) -> Vec<(u8, &[u8])> {
        if !self.framed || tty {
            let stream = if self.framed {
                STREAM_STDOUT
            } else {
                self.stream
            };
            return vec![(stream, &self.data[..])];
        }
        let mut out = Vec::new();
        let mut rest = &self.data[..];
        while rest.len() >= 8 {
            let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
            let end = (8 + len).min(rest.len());
            out.push((rest[0], &rest[8..end]));
            rest = &rest[end..];
        }
        out
    }
}

/// Size at which a batch of framed records is sent on: large, so 100 MB of log is a
/// hundred messages, thread wake-ups and socket writes, not a million (or a few
/// thousand with 256 KiB batches, whose hand-offs cost more than the decoding).
pub const BATCH_BYTES: usize = 1024 * 1024;

/// Batches queued towards the API at most (memory per slow `logs` client); two keep
/// the decoder busy while the previous batch is written.
const QUEUED_BATCHES: usize = 2;

/// Spare batch buffers: a batch's memory comes back here once the API has written it
/// (see [`Recycled`]), so reading a large log reuses a few buffers instead of mapping
/// and zeroing fresh pages for every megabyte.
static SPARE: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

/// Spare buffers kept at most (the memory a daemon keeps after a large `logs`).
const SPARE_MAX: usize = 4;

/// Room of a batch buffer: a batch is sent once it reaches [`BATCH_BYTES`], so the
/// last record (at most a 16 KiB partial line and its prefix) still fits.
const BATCH_ROOM: usize = BATCH_BYTES + 32 * 1024;

/// An empty batch buffer, a spare one when there is one.
fn batch_buffer() -> Vec<u8> {
    crate::lock(&SPARE)
        .pop()
        .unwrap_or_else(|| Vec::with_capacity(BATCH_ROOM))
}

/// The bytes of a [`LogChunk`] on their way out: when dropped (written), the buffer
/// becomes a spare for the next batches. Wrap `data` in it where the bytes are
/// handed on as a shared buffer (the API's `Bytes::from_owner`).
#[derive(Debug)]
pub struct Recycled(pub Vec<u8>);

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        let mut v = std::mem::take(&mut self.0);
        // Only the batcher's own size: a grown or small buffer is not worth keeping.
        if v.capacity() != BATCH_ROOM {
            return;
        }
        v.clear();
        let mut spare = crate::lock(&SPARE);
        if spare.len() < SPARE_MAX {
            spare.push(v);
        }
    }
}

/// Collects records into framed batches.
struct Batcher {
    tty: bool,
    buf: Vec<u8>,
}

impl Batcher {
    fn new(tty: bool) -> Batcher {
        Batcher {
            tty,
            buf: batch_buffer(),
        }
    }

    /// Add one record; a full batch is returned to be sent.
    #[cfg(test)]
    fn push(&mut self, e: &Entry, opts: &LogsOptions) -> Option<LogChunk> {
        self.push_record(&Record::from(e), opts)
    }

    /// Add one record as read (borrowed); a full batch is returned to be sent.
    fn push_record(&mut self, r: &Record, opts: &LogsOptions) -> Option<LogChunk> {
        let stream = match r.stream {
            Stream::Stdout if opts.stdout => STREAM_STDOUT,
            Stream::Stderr if opts.stderr => STREAM_STDERR,
            _ => return None,
        };
        let start = self.buf.len();
        if !self.tty {
            self.buf.extend_from_slice(&[stream, 0, 0, 0, 0, 0, 0, 0]);
        }
        let body = self.buf.len();
        if opts.timestamps {
            r.append_time(&mut self.buf);
            self.buf.push(b' ');
        }
        if opts.details {
            // No log attributes (labels/env log-opts) are configured: Docker then emits
            // an empty details field followed by a space.
            self.buf.push(b' ');
        }
        r.append_line(&mut self.buf);
        if !self.tty {
            let len = (self.buf.len() - body) as u32;
            self.buf[start + 4..start + 8].copy_from_slice(&len.to_be_bytes());
        }
        (self.buf.len() >= BATCH_BYTES)
            .then(|| self.take())
            .flatten()
    }

    /// What is left, if anything.
    fn take(&mut self) -> Option<LogChunk> {
        if self.buf.is_empty() {
            return None;
        }
        let data = std::mem::replace(&mut self.buf, batch_buffer());
        Some(LogChunk {
            stream: STREAM_STDOUT,
            data,
            framed: true,
        })
    }
}

impl Drop for Batcher {
    fn drop(&mut self) {
        // Its (empty or unsent) buffer is a spare too.
        drop(Recycled(std::mem::take(&mut self.buf)));
    }
}

/// The output of `logs`: chunks until the channel closes.
#[derive(Debug)]
pub struct LogStream {
    pub tty: bool,
    pub rx: mpsc::Receiver<LogChunk>,
}

/// Docker's multiplexing header + payload.
pub fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + data.len());
    out.extend_from_slice(&[stream, 0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// Parses Docker's `since`/`until` query values: unix seconds with an optional
/// fraction (`1700000000.123456789`), or RFC 3339. `0` / empty mean "not set".
pub fn parse_timestamp(s: &str) -> Result<Option<SystemTime>> {
    let s = s.trim();
    if s.is_empty() || s == "0" {
        return Ok(None);
    }
    if let Some(t) = berth_types::time::parse_rfc3339(s) {
        return Ok(Some(t));
    }
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs
        .parse()
        .map_err(|_| EngineError::invalid(format!("invalid timestamp: {s}")))?;
    let mut nanos = 0u32;
    if !frac.is_empty() {
        let digits: String = frac.chars().take(9).collect();
        let n: u32 = digits
            .parse()
            .map_err(|_| EngineError::invalid(format!("invalid timestamp: {s}")))?;
        nanos = n * 10u32.pow(9 - digits.len() as u32);
    }
    let base = if secs >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    };
    Ok(Some(base + Duration::from_nanos(nanos as u64)))
}

#[cfg(test)]
fn chunk(e: &Entry, opts: &LogsOptions) -> Option<LogChunk> {
    let mut b = Batcher::new(true);
    let stream = match e.stream {
        Stream::Stdout => STREAM_STDOUT,
        Stream::Stderr => STREAM_STDERR,
    };
    b.push(e, opts);
    b.take().map(|c| LogChunk {
        stream,
        framed: false,
        ..c
    })
}

impl Engine {
    /// Fill the daemon's default driver and options into `lc` (Docker's rule: options
    /// of the default apply only when the container uses the default driver) and check
    /// the result.
    pub(crate) fn merge_log_config(&self, lc: &mut LogConfig) -> Result<()> {
        let def = &self.cfg.default_log;
        if lc.kind.is_empty() {
            lc.kind = if def.kind.is_empty() {
                "json-file".into()
            } else {
                def.kind.clone()
            };
        }
        if lc.kind == def.kind {
            for (k, v) in &def.config {
                lc.config.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        berth_logdriver::opts::validate(&lc.kind, &lc.config).map_err(EngineError::invalid)
    }

    /// The shim's log settings for `rec`, writing its file at `path`.
    pub(crate) fn shim_log_config(
        &self,
        rec: &ContainerRecord,
        path: &std::path::Path,
    ) -> Result<ShimLogConfig> {
        let lc = &rec.host_config.log_config;
        let driver = if lc.kind.is_empty() {
            "json-file"
        } else {
            lc.kind.as_str()
        };
        let invalid =
            |e: String| EngineError::invalid(format!("failed to initialize logging driver: {e}"));
        let file = berth_logdriver::opts::file_settings(driver, &lc.config).map_err(invalid)?;
        let mut out = ShimLogConfig {
            driver: driver.into(),
            path: path.display().to_string(),
            max_size: file.max_size,
            max_file: file.max_file,
            compress: file.compress,
            format: file.format.into(),
            ..Default::default()
        };
        if berth_logdriver::is_remote(driver) {
            let mut command = vec![rec.path.clone()];
            command.extend(rec.args.iter().cloned());
            let info = berth_logdriver::tag::TagInfo {
                id: rec.id.clone(),
                name: rec.bare_name().to_string(),
                image_id: rec.image.clone(),
                image_name: rec.config.image.clone(),
                hostname: nix::unistd::gethostname()
                    .ok()
                    .and_then(|h| h.into_string().ok())
                    .unwrap_or_default(),
                command: command.join(" "),
            };
            out.tag = berth_logdriver::tag::expand(
                lc.config.get("tag").map(String::as_str),
                berth_logdriver::tag::DEFAULT,
                &info,
            )
            .map_err(invalid)?;
            out.opts = lc.config.clone();
            out.name = info.name;
        }
        Ok(out)
    }

    /// `GET /containers/{id}/logs`.
    pub async fn logs(&self, name: &str, opts: LogsOptions) -> Result<LogStream> {
        if !opts.stdout && !opts.stderr {
            return Err(EngineError::invalid(
                "Bad parameters: you must choose at least one stream",
            ));
        }
        let ctr = self.lookup(name)?;
        let rec = ctr.snapshot();
        let lc = &rec.host_config.log_config;
        let unreadable = lc.kind == "none"
            || berth_logdriver::opts::file_settings(&lc.kind, &lc.config)
                .is_ok_and(|f| f.format == "none");
        if unreadable {
            return Err(EngineError::invalid(
                "configured logging driver does not support reading",
            ));
        }
        let path = ctr.paths.log(&ctr.id);
        let tty = rec.config.tty;
        let (tx, rx) = mpsc::channel(QUEUED_BATCHES);
        let ropts = ReadOptions {
            tail: opts.tail,
            since: opts.since,
            until: opts.until,
        };
        let mut watch = ctr.watch.subscribe();
        let follow = opts.follow && rec.state.running;
        tokio::spawn(async move {
            // The existing records, streamed from a blocking thread in framed batches.
            let (p2, o2, tx2) = (path.clone(), opts.clone(), tx.clone());
            let replay = tokio::task::spawn_blocking(move || {
                let mut b = Batcher::new(tty);
                let mut open = true;
                // A torn or vanished file reads as what could be read.
                let point = berth_logfile::read_records_to_follow(&p2, &ropts, &mut |r| {
                    if let Some(c) = b.push_record(r, &o2) {
                        open = tx2.blocking_send(c).is_ok();
                    }
                    open
                })
                .unwrap_or_default();
                if let Some(c) = b.take().filter(|_| open) {
                    open = tx2.blocking_send(c).is_ok();
                }
                (point, open)
            })
            .await;
            let Ok((point, true)) = replay else { return };
            if !follow {
                return;
            }
            // From the file the replay read, even if it was rotated away meanwhile.
            let mut f = Follower::after(&path, point);
            let mut b = Batcher::new(tty);
            loop {
                let stopped = !watch.borrow_and_update().running;
                // Records are framed as they are decoded (borrowed, like the replay's);
                // the full batches wait here until the poll is done. A torn or
                // rotated-away file yields nothing this round; retry next tick.
                let mut past_until = false;
                let mut full = Vec::new();
                let _ = f.poll_records(&mut |r| {
                    if past_until {
                        return;
                    }
                    if opts.since.is_some() || opts.until.is_some() {
                        // As when reading: a record whose time does not parse is
                        // outside any bound.
                        let Some(t) = r.time() else { return };
                        if opts.until.is_some_and(|u| t > u) {
                            past_until = true;
                            return;
                        }
                        if opts.since.is_some_and(|s| t < s) {
                            return;
                        }
                    }
                    full.extend(b.push_record(r, &opts));
                });
                full.extend(b.take());
                for c in full {
                    if tx.send(c).await.is_err() {
                        return;
                    }
                }
                if stopped || past_until {
                    return;
                }
                if opts.until.is_some_and(|u| SystemTime::now() > u) {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(FOLLOW_POLL) => {}
                    _ = watch.changed() => {}
                    _ = tx.closed() => return,
                }
            }
        });
        Ok(LogStream { tty, rx })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_docker_header() {
        assert_eq!(
            frame(1, b"hi\n"),
            vec![1, 0, 0, 0, 0, 0, 0, 3, b'h', b'i', b'\n']
        );
    }

    #[test]
    fn timestamps_parse() {
        assert_eq!(parse_timestamp("0").unwrap(), None);
        let t = parse_timestamp("1700000000.5").unwrap().unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap(),
            Duration::from_millis(1_700_000_000_500)
        );
        assert!(parse_timestamp("2024-01-01T00:00:00Z").unwrap().is_some());
        assert!(parse_timestamp("yesterday").is_err());
    }

    #[test]
    fn batches_are_docker_frames_per_record() {
        let e = |stream, line: &[u8]| Entry {
            stream,
            time: SystemTime::UNIX_EPOCH,
            time_text: String::new(),
            line: line.to_vec(),
        };
        let opts = LogsOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let mut b = Batcher::new(false);
        assert!(b.push(&e(Stream::Stdout, b"a\n"), &opts).is_none());
        assert!(b.push(&e(Stream::Stderr, b"bc\n"), &opts).is_none());
        let c = b.take().unwrap();
        assert!(c.framed);
        let mut want = frame(1, b"a\n");
        want.extend(frame(2, b"bc\n"));
        assert_eq!(c.data, want);
        assert!(b.take().is_none());
        // Not asked for: nothing written.
        let only_err = LogsOptions {
            stderr: true,
            ..Default::default()
        };
        assert!(b.push(&e(Stream::Stdout, b"x\n"), &only_err).is_none());
        assert!(b.take().is_none());
        // A tty log is raw bytes; a full batch comes back at once.
        let mut t = Batcher::new(true);
        let big = vec![b'x'; BATCH_BYTES];
        let c = t.push(&e(Stream::Stdout, &big), &opts).unwrap();
        assert_eq!(c.data, big);
    }

    #[test]
    fn written_batches_come_back_as_spare_buffers() {
        let spare_has = |p: *const u8| crate::lock(&SPARE).iter().any(|v| v.as_ptr() == p);
        let opts = LogsOptions {
            stdout: true,
            ..Default::default()
        };
        let e = Entry {
            stream: Stream::Stdout,
            time: SystemTime::UNIX_EPOCH,
            time_text: String::new(),
            line: b"x\n".to_vec(),
        };
        let mut b = Batcher::new(false);
        b.push(&e, &opts);
        let c = b.take().unwrap();
        let p = c.data.as_ptr();
        assert!(!spare_has(p));
        drop(Recycled(c.data));
        assert!(spare_has(p), "a written batch is kept for reuse");
        // Emptied first: the next batch starts clean.
        assert!(crate::lock(&SPARE).iter().all(|v| v.is_empty()));
        // A buffer that grew past the batch size is let go.
        let big = Recycled(Vec::with_capacity(BATCH_ROOM * 2));
        let p = big.0.as_ptr();
        drop(big);
        assert!(!spare_has(p));
    }

    #[test]
    fn chunks_filter_streams_and_prefix_time() {
        let e = Entry {
            stream: Stream::Stderr,
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(1),
            time_text: String::new(),
            line: b"x\n".to_vec(),
        };
        let o = LogsOptions {
            stdout: true,
            ..Default::default()
        };
        assert_eq!(chunk(&e, &o), None);
        let o = LogsOptions {
            stderr: true,
            timestamps: true,
            ..Default::default()
        };
        let c = chunk(&e, &o).unwrap();
        assert_eq!(c.stream, 2);
        assert_eq!(c.data, b"1970-01-01T00:00:01.000000000Z x\n".to_vec());
    }
}
