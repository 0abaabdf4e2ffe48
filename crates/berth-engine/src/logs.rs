//! `docker logs`: entries of the json-file log (with `--tail`, `--since`, `--until`,
//! `--timestamps`), and with `--follow` the entries appended afterwards until the
//! container stops.
//!
//! The result is a channel of [`LogChunk`]s; the API frames them (8-byte header) unless
//! the container has a tty, exactly as Docker does. [`frame`] builds that header.

use crate::error::{EngineError, Result};
use crate::Engine;
use berth_logfile::{Entry, Follower, ReadOptions, Stream};
use berth_types::shim::{STREAM_STDERR, STREAM_STDOUT};
use berth_types::time::rfc3339_nano;
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
/// timestamp prefix when asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    pub stream: u8,
    pub data: Vec<u8>,
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

fn chunk(e: &Entry, opts: &LogsOptions) -> Option<LogChunk> {
    let stream = match e.stream {
        Stream::Stdout if opts.stdout => STREAM_STDOUT,
        Stream::Stderr if opts.stderr => STREAM_STDERR,
        _ => return None,
    };
    let mut data = Vec::with_capacity(e.line.len() + 32);
    if opts.timestamps {
        data.extend_from_slice(rfc3339_nano(e.time).as_bytes());
        data.push(b' ');
    }
    if opts.details {
        // No log attributes (labels/env log-opts) are configured: Docker then emits an
        // empty details field followed by a space.
        data.push(b' ');
    }
    data.extend_from_slice(&e.line);
    Some(LogChunk { stream, data })
}

impl Engine {
    /// `GET /containers/{id}/logs`.
    pub async fn logs(&self, name: &str, opts: LogsOptions) -> Result<LogStream> {
        if !opts.stdout && !opts.stderr {
            return Err(EngineError::invalid(
                "Bad parameters: you must choose at least one stream",
            ));
        }
        let ctr = self.lookup(name)?;
        let rec = ctr.snapshot();
        if rec.host_config.log_config.kind == "none" {
            return Err(EngineError::invalid(
                "configured logging driver does not support reading",
            ));
        }
        let path = ctr.paths.log(&ctr.id);
        let tty = rec.config.tty;
        let (tx, rx) = mpsc::channel(256);
        let ropts = ReadOptions {
            tail: opts.tail,
            since: opts.since,
            until: opts.until,
        };
        let p2 = path.clone();
        let (entries, offset) =
            tokio::task::spawn_blocking(move || berth_logfile::read_with_offset(&p2, &ropts))
                .await?
                .unwrap_or_default();
        let mut watch = ctr.watch.subscribe();
        let follow = opts.follow && rec.state.running;
        tokio::spawn(async move {
            for e in &entries {
                if let Some(c) = chunk(e, &opts) {
                    if tx.send(c).await.is_err() {
                        return;
                    }
                }
            }
            if !follow {
                return;
            }
            let mut f = Follower::new(&path, offset);
            loop {
                let stopped = !watch.borrow_and_update().running;
                // A torn or rotated-away file yields nothing this round; retry next tick.
                let batch = f.poll().unwrap_or_default();
                for e in &batch {
                    if opts.until.is_some_and(|u| e.time > u) {
                        return;
                    }
                    if opts.since.is_some_and(|s| e.time < s) {
                        continue;
                    }
                    if let Some(c) = chunk(e, &opts) {
                        if tx.send(c).await.is_err() {
                            return;
                        }
                    }
                }
                if stopped {
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
