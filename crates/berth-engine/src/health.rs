//! Health checks (`HEALTHCHECK` / `--health-*`): a task per running container that runs
//! the probe as an exec at each interval and keeps `State.Health` (status, failing
//! streak, the last five results) as Docker does, with `health_status` events.
//!
//! Rules: the status starts as `starting`; a success makes it `healthy`; `Retries`
//! consecutive failures make it `unhealthy`, except that failures inside `StartPeriod`
//! do not count. A probe that outlives `Timeout` fails with exit code -1.

use crate::error::Result;
use crate::record::write_json;
use crate::{lock, Ctr, Engine};
use berth_types::docker::{ExecConfig, ExecStartConfig, Health, HealthConfig, HealthcheckResult};
use berth_types::shim::Request;
use berth_types::time::rfc3339_nano;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::AsyncReadExt;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: i64 = 3;
/// Results kept in `State.Health.Log`.
const MAX_LOG: usize = 5;
/// Output kept per result.
const MAX_OUTPUT: usize = 4096;

/// The probe command, or None when health checks are off (`NONE` or no test).
pub fn probe_command(h: &HealthConfig) -> Option<Vec<String>> {
    let test = h.test.as_ref()?;
    match test.first().map(String::as_str) {
        Some("CMD") => Some(test[1..].to_vec()).filter(|c| !c.is_empty()),
        Some("CMD-SHELL") => Some(vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")]),
        _ => None,
    }
}

/// Docker's create-time merge of the image's `HEALTHCHECK` into the container's: no
/// container health config takes the image's whole; a config without a test (only
/// `--health-interval` and friends given) keeps the image's test, and each field left
/// zero takes the image's value. `NONE` (`--no-healthcheck`) is a test and wins.
pub fn merge_image_healthcheck(user: &mut Option<HealthConfig>, img: Option<&HealthConfig>) {
    let Some(img) = img else { return };
    let Some(mine) = user.as_mut() else {
        *user = Some(img.clone());
        return;
    };
    if mine.test.as_ref().is_none_or(|t| t.is_empty()) {
        mine.test = img.test.clone();
    }
    for (m, i) in [
        (&mut mine.interval, img.interval),
        (&mut mine.timeout, img.timeout),
        (&mut mine.start_period, img.start_period),
        (&mut mine.start_interval, img.start_interval),
        (&mut mine.retries, img.retries),
    ] {
        if *m == 0 {
            *m = i;
        }
    }
}

fn dur(ns: i64, default: Duration) -> Duration {
    if ns > 0 {
        Duration::from_nanos(ns as u64)
    } else {
        default
    }
}

/// Applies one probe result to the health state; returns true when the status changed.
pub fn apply_result(
    h: &mut Health,
    r: HealthcheckResult,
    retries: i64,
    in_start_period: bool,
) -> bool {
    let before = h.status.clone();
    if r.exit_code == 0 {
        h.failing_streak = 0;
        h.status = "healthy".into();
    } else if !in_start_period || h.status != "starting" {
        h.failing_streak += 1;
        if h.failing_streak >= retries {
            h.status = "unhealthy".into();
        }
    }
    h.log.push(r);
    if h.log.len() > MAX_LOG {
        let extra = h.log.len() - MAX_LOG;
        h.log.drain(..extra);
    }
    h.status != before
}

impl Engine {
    /// Starts the health task of a container that just started (or was restored).
    pub(crate) fn spawn_health(&self, ctr: Arc<Ctr>) {
        let cfg = match lock(&ctr.rec).config.healthcheck.clone() {
            Some(c) => c,
            None => return,
        };
        let Some(cmd) = probe_command(&cfg) else {
            return;
        };
        let Some(engine) = self.arc() else { return };
        {
            let mut r = lock(&ctr.rec);
            if r.state.health.is_none()
                || r.state.health.as_ref().is_some_and(|h| h.status.is_empty())
            {
                r.state.health = Some(Health {
                    status: "starting".into(),
                    failing_streak: 0,
                    log: vec![],
                });
            }
        }
        let gen = ctr.watch.borrow().exits;
        tokio::spawn(async move {
            let started = Instant::now();
            let interval = dur(cfg.interval, DEFAULT_INTERVAL);
            let start_interval = dur(cfg.start_interval, DEFAULT_START_INTERVAL);
            let start_period = dur(cfg.start_period, Duration::ZERO);
            let timeout = dur(cfg.timeout, DEFAULT_TIMEOUT);
            let retries = if cfg.retries > 0 {
                cfg.retries
            } else {
                DEFAULT_RETRIES
            };
            let mut rx = ctr.watch.subscribe();
            loop {
                let in_start = started.elapsed() < start_period;
                let wait = if in_start && cfg.start_interval > 0 {
                    start_interval
                } else {
                    interval
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = rx.changed() => {}
                }
                {
                    let w = rx.borrow_and_update();
                    if w.exits != gen || !w.running || w.removed {
                        return;
                    }
                }
                if lock(&ctr.rec).state.paused {
                    continue;
                }
                let result = engine.probe(&ctr, &cmd, timeout).await;
                let in_start = started.elapsed() < start_period;
                let (changed, snap) = {
                    let mut r = lock(&ctr.rec);
                    if !r.state.running {
                        return;
                    }
                    let h = r.state.health.get_or_insert_with(Health::default);
                    let changed = apply_result(h, result, retries, in_start);
                    (changed, r.clone())
                };
                let _ = write_json(&ctr.paths.config(), &snap);
                if changed {
                    let status = snap
                        .state
                        .health
                        .as_ref()
                        .map(|h| h.status.clone())
                        .unwrap_or_default();
                    engine.container_event(&snap, &format!("health_status: {status}"), &[]);
                }
            }
        });
    }

    /// Runs one probe as an exec and returns its result.
    async fn probe(&self, ctr: &Arc<Ctr>, cmd: &[String], timeout: Duration) -> HealthcheckResult {
        let start = SystemTime::now();
        let res: Result<(i64, String)> = async {
            let id = self
                .exec_create(
                    &ctr.id,
                    ExecConfig {
                        attach_stdout: true,
                        attach_stderr: true,
                        cmd: Some(cmd.to_vec()),
                        ..Default::default()
                    },
                )
                .await?
                .id;
            let run = async {
                let mut out = Vec::new();
                if let Some(s) = self.exec_start(&id, ExecStartConfig::default()).await? {
                    let mut conn = s.conn;
                    let _ = conn.read_to_end(&mut out).await;
                }
                // The stream ends at exit; the exit code follows shortly.
                for _ in 0..100 {
                    let ins = self.exec_inspect(&id).await?;
                    if let (false, Some(code)) = (ins.running, ins.exit_code) {
                        return Ok((code, out));
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok((-1, out))
            };
            let r = tokio::time::timeout(timeout, run).await;
            let entry = lock(&self.execs).remove(&id);
            lock(&ctr.execs).retain(|e| e != &id);
            match r {
                Ok(Ok((code, raw))) => {
                    let (o, e) = demux(&raw);
                    let mut text = String::from_utf8_lossy(&[o, e].concat()).into_owned();
                    if text.len() > MAX_OUTPUT {
                        let mut cut = MAX_OUTPUT;
                        while !text.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        text.truncate(cut);
                    }
                    Ok((code, text))
                }
                Ok(Err(e)) => Err(e),
                Err(_) => {
                    if let Some(ex) = entry {
                        let _ = crate::shimctl::request(
                            &ex.socket,
                            &Request::Kill {
                                signal: libc::SIGKILL,
                                all: false,
                            },
                        )
                        .await;
                    }
                    Ok((
                        -1,
                        format!("Health check exceeded timeout ({}s)", timeout.as_secs()),
                    ))
                }
            }
        }
        .await;
        let (exit_code, output) = res.unwrap_or_else(|e| (-1, e.message));
        HealthcheckResult {
            start: rfc3339_nano(start),
            end: rfc3339_nano(SystemTime::now()),
            exit_code,
            output,
        }
    }
}

/// Splits Docker's multiplexed stream into stdout and stderr bytes.
fn demux(mut b: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while b.len() >= 8 {
        let n = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        let end = (8 + n).min(b.len());
        match b[0] {
            2 => err.extend_from_slice(&b[8..end]),
            _ => out.extend_from_slice(&b[8..end]),
        }
        b = &b[end..];
    }
    (out, err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(code: i64) -> HealthcheckResult {
        HealthcheckResult {
            exit_code: code,
            ..Default::default()
        }
    }

    #[test]
    fn probe_commands() {
        let h = |t: &[&str]| HealthConfig {
            test: Some(t.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        };
        assert_eq!(
            probe_command(&h(&["CMD", "true"])),
            Some(vec!["true".to_string()])
        );
        assert_eq!(
            probe_command(&h(&["CMD-SHELL", "curl -f x || exit 1"])),
            Some(vec![
                "/bin/sh".to_string(),
                "-c".into(),
                "curl -f x || exit 1".into()
            ])
        );
        assert_eq!(probe_command(&h(&["NONE"])), None);
        assert_eq!(probe_command(&HealthConfig::default()), None);
    }

    #[test]
    fn image_healthcheck_merge_like_docker() {
        let img = HealthConfig {
            test: Some(vec!["CMD-SHELL".into(), "probe".into()]),
            interval: 5,
            timeout: 6,
            retries: 7,
            start_period: 8,
            start_interval: 9,
        };
        // Nothing given: the image's whole.
        let mut none = None;
        merge_image_healthcheck(&mut none, Some(&img));
        assert_eq!(none.as_ref(), Some(&img));
        // Only an interval: the image's test and other fields, the given interval.
        let mut partial = Some(HealthConfig {
            interval: 100,
            ..Default::default()
        });
        merge_image_healthcheck(&mut partial, Some(&img));
        let p = partial.unwrap();
        assert_eq!(p.test, img.test);
        assert_eq!(
            (
                p.interval,
                p.timeout,
                p.retries,
                p.start_period,
                p.start_interval
            ),
            (100, 6, 7, 8, 9)
        );
        // --no-healthcheck stays off; a given command wins over the image's.
        let mut off = Some(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        });
        merge_image_healthcheck(&mut off, Some(&img));
        assert_eq!(probe_command(off.as_ref().unwrap()), None);
        let mut own = Some(HealthConfig {
            test: Some(vec!["CMD".into(), "mine".into()]),
            ..Default::default()
        });
        merge_image_healthcheck(&mut own, Some(&img));
        assert_eq!(own.as_ref().unwrap().test.as_ref().unwrap()[1], "mine");
        assert_eq!(own.as_ref().unwrap().retries, 7);
        // No image healthcheck: the container's as given.
        let mut keep = Some(HealthConfig {
            interval: 100,
            ..Default::default()
        });
        merge_image_healthcheck(&mut keep, None);
        assert_eq!(keep.unwrap().test, None);
    }

    #[test]
    fn status_transitions() {
        let mut h = Health {
            status: "starting".into(),
            ..Default::default()
        };
        // Failures in the start period do not count.
        assert!(!apply_result(&mut h, res(1), 2, true));
        assert_eq!((h.status.as_str(), h.failing_streak), ("starting", 0));
        assert!(apply_result(&mut h, res(0), 2, true));
        assert_eq!(h.status, "healthy");
        assert!(!apply_result(&mut h, res(1), 2, false));
        assert_eq!(h.failing_streak, 1);
        assert!(apply_result(&mut h, res(1), 2, false));
        assert_eq!(h.status, "unhealthy");
        for _ in 0..10 {
            apply_result(&mut h, res(1), 2, false);
        }
        assert_eq!(h.log.len(), MAX_LOG);
    }

    #[test]
    fn demux_joins_streams() {
        let mut b = crate::logs::frame(1, b"out");
        b.extend(crate::logs::frame(2, b"err"));
        assert_eq!(demux(&b), (b"out".to_vec(), b"err".to_vec()));
    }
}
