//! One task per running container holds a `wait` connection to its shim and records
//! the exit (state, exit code, OOM, finish time), then applies AutoRemove or the
//! restart policy.
//!
//! If the connection breaks without a reply, the shim is gone: its `exit.json` (written
//! before it exits) tells how the process ended; without one the shim died abnormally
//! and the container is recorded as killed (exit code 137, Docker's code for SIGKILL).

use crate::record::ContainerRecord;
use crate::record::{read_json, write_json};
use crate::{lock, shimctl, Ctr, Engine};
use berth_types::shim::{ExitStatus, Request};
use berth_types::time::{parse_rfc3339, rfc3339_nano};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Exit code recorded when the shim vanished without an exit record.
pub const SHIM_DIED_EXIT_CODE: i32 = 137;

impl Engine {
    /// Starts the exit monitor of a container that runs with init `pid`.
    pub(crate) fn spawn_monitor(&self, ctr: Arc<Ctr>, pid: i32) {
        let Some(engine) = self.arc() else { return };
        tokio::spawn(async move {
            let exit = wait_for_exit(&ctr).await;
            engine.record_exit(&ctr, pid, exit).await;
        });
    }

    /// Records an exit of the run with init `pid` (ignored if that run was already
    /// recorded), publishes `oom`/`die`, and applies AutoRemove / restart policy.
    pub(crate) async fn record_exit(&self, ctr: &Arc<Ctr>, pid: i32, exit: ExitStatus) {
        let snap = {
            let mut r = lock(&ctr.rec);
            if !r.state.running || (pid > 0 && r.state.pid != pid as i64) {
                return;
            }
            ctr.shim_up
                .store(false, std::sync::atomic::Ordering::SeqCst);
            r.state.running = false;
            r.state.paused = false;
            r.state.pid = 0;
            r.state.status = "exited".into();
            r.state.exit_code = exit.exit_code as i64;
            r.state.oom_killed = exit.oom_killed;
            if let Some(h) = r.state.health.as_mut() {
                // Docker reports a stopped container's health as unhealthy.
                h.status = "unhealthy".into();
            }
            r.state.finished_at = if exit.finished_at.is_empty() {
                rfc3339_nano(SystemTime::now())
            } else {
                exit.finished_at.clone()
            };
            r.clone()
        };
        if snap.host_config.auto_remove {
            // Removed right below: durability buys nothing (after a crash the restore
            // finds the exit in exit.json anyway).
            let _ = crate::record::write_json_replace(&ctr.paths.config(), &snap);
        } else {
            let _ = write_json(&ctr.paths.config(), &snap);
        }
        ctr.watch.send_modify(|w| {
            w.running = false;
            w.exit_code = exit.exit_code as i64;
            w.exits += 1;
        });
        if exit.oom_killed {
            self.container_event(&snap, "oom", &[]);
        }
        self.container_event(&snap, "die", &[("exitCode", exit.exit_code.to_string())]);

        if snap.host_config.auto_remove {
            if let Some(engine) = self.arc() {
                let id = ctr.id.clone();
                tokio::spawn(async move {
                    let _ = engine.remove(&id, false, false).await;
                });
            }
            return;
        }
        if Engine::restart_wanted(&snap) {
            self.schedule_restart(ctr.clone(), &snap);
        }
    }

    /// Restarts after Docker's back-off: 100 ms, doubled for each restart of a run
    /// shorter than 10 s, at most a minute; a longer run resets it.
    fn schedule_restart(&self, ctr: Arc<Ctr>, snap: &ContainerRecord) {
        let Some(engine) = self.arc() else { return };
        {
            let mut r = lock(&ctr.rec);
            r.state.restarting = true;
            r.state.status = "restarting".into();
        }
        let ran = match (
            parse_rfc3339(&snap.state.started_at),
            parse_rfc3339(&snap.state.finished_at),
        ) {
            (Some(a), Some(b)) => b.duration_since(a).unwrap_or_default(),
            _ => Duration::ZERO,
        };
        let prev = ctr.backoff_ms.load(Ordering::SeqCst);
        let ms = if ran >= Duration::from_secs(10) || prev == 0 {
            100
        } else {
            (prev * 2).min(60_000)
        };
        ctr.backoff_ms.store(ms, Ordering::SeqCst);
        let delay = Duration::from_millis(ms);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _op = ctr.op.lock().await;
            {
                let mut r = lock(&ctr.rec);
                // Stopped, removed or started by the user meanwhile.
                if !r.state.restarting || r.manually_stopped || r.state.running {
                    return;
                }
                r.restart_count += 1;
            }
            if engine.start_locked(&ctr).await.is_err() {
                let mut r = lock(&ctr.rec);
                r.state.restarting = false;
                r.state.status = "exited".into();
            } else {
                engine.container_event(&ctr.snapshot(), "restart", &[]);
            }
        });
    }
}

/// Blocks (asynchronously) until the shim reports the exit, or returns what the disk
/// says when the shim is gone.
pub(crate) async fn wait_for_exit(ctr: &Arc<Ctr>) -> ExitStatus {
    if let Ok(mut conn) = shimctl::connect(&ctr.socket).await {
        if shimctl::send(&mut conn, &Request::Wait).await.is_ok() {
            if let Ok(reply) = shimctl::read_reply(&mut conn).await {
                if let Some(exit) = reply.exit {
                    return exit;
                }
            }
        }
    }
    // The shim writes exit.json before it closes its socket; give a racing writer a
    // moment before declaring it dead.
    for _ in 0..20 {
        if let Some(e) = read_json::<ExitStatus>(&ctr.paths.exit()) {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shim_died()
}

/// The exit recorded when neither the shim nor its exit record exist.
pub(crate) fn shim_died() -> ExitStatus {
    ExitStatus {
        exit_code: SHIM_DIED_EXIT_CODE,
        signal: Some(libc::SIGKILL),
        oom_killed: false,
        started_at: String::new(),
        finished_at: rfc3339_nano(SystemTime::now()),
    }
}
