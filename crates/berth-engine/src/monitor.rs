//! One task per running container holds a `wait` connection to its shim and records
//! the exit (state, exit code, OOM, finish time), then applies AutoRemove or the
//! restart policy.
//!
//! If the connection breaks without a reply, the shim is gone: its `exit.json` (written
//! before it exits) tells how the process ended; without one the shim died abnormally
//! and the container is recorded as killed (exit code 137, Docker's code for SIGKILL).
//! A shim that died abnormally leaves the container's processes unsupervised: they are
//! killed through the container's cgroup and the cgroup removed ([`end_cgroup`]) before
//! the exit is recorded, so "exited" is true when anyone sees it. A connection that
//! breaks while the shim process still lives is retried instead.

use crate::record::read_json;
use crate::record::{ContainerPaths, ContainerRecord};
use crate::{lock, shimctl, Ctr, Engine};
use berth_types::shim::{ExitStatus, Request};
use berth_types::time::{parse_rfc3339, rfc3339_nano};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::net::UnixStream;

/// Exit code recorded when the shim vanished without an exit record.
pub const SHIM_DIED_EXIT_CODE: i32 = 137;

impl Engine {
    /// Starts the exit monitor of a container that runs with init `pid`. `waiting` is a
    /// connection on which `wait` was already sent (the start sends it with `start`).
    pub(crate) fn spawn_monitor(&self, ctr: Arc<Ctr>, pid: i32, waiting: Option<UnixStream>) {
        let Some(engine) = self.arc() else { return };
        tokio::spawn(async move {
            let mut waiting = waiting;
            let exit = loop {
                if let Some(exit) = wait_for_exit_on(&ctr, waiting.take()).await {
                    break exit;
                }
                if !shim_alive(&ctr.paths) {
                    // Its processes must not run on unsupervised (Docker's runtime kills
                    // the task when its shim dies).
                    engine.end_cgroup(&ctr.snapshot()).await;
                    break shim_died();
                }
                // The connection broke but the shim lives: wait on it again.
                tokio::time::sleep(Duration::from_millis(200)).await;
            };
            engine.record_exit(&ctr, pid, exit).await;
        });
    }

    /// Kills every process left in the container's cgroup (thawing it if frozen), waits
    /// until they are gone and removes the cgroup. Used when no shim is there to do it:
    /// after a shim died, at restore, and at removal. Best effort: failures are logged.
    pub(crate) async fn end_cgroup(&self, rec: &ContainerRecord) {
        let Some(h) = self.cgroups.clone() else {
            return;
        };
        let rel = self.cgroup_rel(rec);
        let _ = tokio::task::spawn_blocking(move || end_cgroup(&h, &rel)).await;
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
        // A `--rm` container's record is removed right after; should the daemon die
        // first, the restore finds the exit in `exit.json` and removes it then.
        if !snap.host_config.auto_remove {
            let _ = crate::record::save_record(&ctr.paths.config(), &snap);
        }
        self.deactivate_mounts(&snap);
        self.net_release_later(&ctr.id);
        // Events first: a client that saw `wait` return must find `oom`/`die` in the
        // event history, as with Docker.
        if exit.oom_killed {
            self.container_event(&snap, "oom", &[]);
        }
        self.container_event(&snap, "die", &[("exitCode", exit.exit_code.to_string())]);
        ctr.watch.send_modify(|w| {
            w.running = false;
            w.exit_code = exit.exit_code as i64;
            w.exits += 1;
        });

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
            // As Docker: the count goes up at the exit, while the state says restarting.
            let mut r = lock(&ctr.rec);
            r.state.restarting = true;
            r.state.status = "restarting".into();
            r.restart_count += 1;
        }
        let ran = match (
            parse_rfc3339(&snap.state.started_at),
            parse_rfc3339(&snap.state.finished_at),
        ) {
            (Some(a), Some(b)) => b.duration_since(a).unwrap_or_default(),
            _ => Duration::ZERO,
        };
        let ms = next_backoff_ms(ctr.backoff_ms.load(Ordering::SeqCst), ran);
        ctr.backoff_ms.store(ms, Ordering::SeqCst);
        let delay = Duration::from_millis(ms);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _op = ctr.op.lock().await;
            {
                let r = lock(&ctr.rec);
                // Stopped, removed or started by the user meanwhile.
                if !r.state.restarting || r.manually_stopped || r.state.running {
                    return;
                }
            }
            // Docker publishes `die` and then `start` only (no `restart`) for a policy
            // restart.
            if engine.start_locked(&ctr).await.is_err() {
                let mut r = lock(&ctr.rec);
                r.state.restarting = false;
                r.state.status = "exited".into();
            }
        });
    }
}

/// First restart delay, doubled for each further quick exit.
const BACKOFF_START_MS: u64 = 100;
/// The delay never grows beyond a minute.
const BACKOFF_MAX_MS: u64 = 60_000;
/// A run at least this long resets the delay to its start.
const BACKOFF_RESET_RUN: Duration = Duration::from_secs(10);

/// Docker's restart back-off: the delay before the next restart, given the previous
/// delay (0 before the first restart) and how long the run that just ended lasted.
pub(crate) fn next_backoff_ms(prev_ms: u64, ran: Duration) -> u64 {
    if ran >= BACKOFF_RESET_RUN || prev_ms == 0 {
        BACKOFF_START_MS
    } else {
        prev_ms.saturating_mul(2).min(BACKOFF_MAX_MS)
    }
}

/// A user `start`/`restart` starts the policy over, as Docker's: `RestartCount` back
/// to 0 and the back-off to its first delay.
pub(crate) fn reset_restart_state(ctr: &Ctr) {
    lock(&ctr.rec).restart_count = 0;
    ctr.backoff_ms.store(0, Ordering::SeqCst);
}

/// Blocks (asynchronously) until the shim reports the exit, or returns what the disk
/// says when the shim is gone; `None` when there is no exit record either.
pub(crate) async fn wait_for_exit(ctr: &Arc<Ctr>) -> Option<ExitStatus> {
    wait_for_exit_on(ctr, None).await
}

/// [`wait_for_exit`] on a connection where `wait` was already sent, if given.
async fn wait_for_exit_on(ctr: &Arc<Ctr>, waiting: Option<UnixStream>) -> Option<ExitStatus> {
    let conn = match waiting {
        Some(c) => Some(c),
        None => match shimctl::connect(&ctr.socket).await {
            Ok(mut c) => shimctl::send(&mut c, &Request::Wait).await.ok().map(|()| c),
            Err(_) => None,
        },
    };
    if let Some(mut conn) = conn {
        if let Ok(reply) = shimctl::read_reply(&mut conn).await {
            if let Some(exit) = reply.exit {
                return Some(exit);
            }
        }
    }
    // The shim writes exit.json before it closes its socket; give a racing writer a
    // moment before declaring it dead.
    for _ in 0..20 {
        if let Some(e) = read_json::<ExitStatus>(&ctr.paths.exit()) {
            return Some(e);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Whether the shim of this bundle still runs: the pid in `shim.pid` is a live (not
/// zombie) process whose command line is `<shim> run …/<id>/shim.json` (a recycled pid
/// is not mistaken for it).
pub(crate) fn shim_alive(paths: &ContainerPaths) -> bool {
    let Some(pid) = std::fs::read_to_string(paths.shim_pid())
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .filter(|p| *p > 0)
    else {
        return false;
    };
    let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    let Ok(stat) = std::fs::read_to_string(proc_dir.join("stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses and may hold any byte.
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next());
    if matches!(state, Some("Z") | Some("X") | None) {
        return false;
    }
    let Ok(cmdline) = std::fs::read(proc_dir.join("cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    // Compared by its last components: the daemon that spawned it may have spelled the
    // data root differently.
    let Some(id) = paths.run.file_name() else {
        return false;
    };
    let tail = std::path::Path::new(id).join("shim.json");
    args.get(1) == Some(&&b"run"[..])
        && args
            .get(2)
            .is_some_and(|a| std::path::Path::new(std::ffi::OsStr::from_bytes(a)).ends_with(&tail))
}

/// How long [`end_cgroup`] waits for killed processes to leave the cgroup.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Blocking part of [`Engine::end_cgroup`]: SIGKILL everything in cgroup `rel` (again
/// every half second, for processes forked meanwhile), wait until it is empty, remove
/// it. A cgroup that does not exist is fine.
pub(crate) fn end_cgroup(h: &berth_cgroups::Hierarchy, rel: &str) {
    let Ok(cg) = berth_cgroups::Cgroup::open(h, rel) else {
        return;
    };
    let deadline = Instant::now() + KILL_WAIT;
    let mut next_kill = Instant::now();
    loop {
        let pids = cg.pids().unwrap_or_default();
        if pids.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            eprintln!("berth-engine: cgroup {rel} still holds processes {pids:?} after SIGKILL");
            break;
        }
        if Instant::now() >= next_kill {
            // kill_all freezes first (no fork escapes) and thaws afterwards, also a
            // cgroup that was frozen (a paused container), so SIGKILL is acted upon.
            if let Err(e) = cg.kill_all(libc::SIGKILL) {
                eprintln!("berth-engine: killing the processes of cgroup {rel}: {e}");
            }
            next_kill = Instant::now() + Duration::from_millis(500);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if let Err(e) = cg.destroy() {
        eprintln!("berth-engine: removing cgroup {rel}: {e}");
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(std::path::PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Kills and reaps the child on drop.
    struct Reaped(std::process::Child);
    impl Drop for Reaped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn backoff_doubles_from_100ms_caps_at_a_minute_and_resets_after_10s() {
        let quick = Duration::from_millis(50);
        let mut ms = 0;
        let mut seen = vec![];
        for _ in 0..12 {
            ms = next_backoff_ms(ms, quick);
            seen.push(ms);
        }
        assert_eq!(
            seen,
            [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000]
        );
        // A run of 10 s or more starts over; 9.9 s does not.
        assert_eq!(next_backoff_ms(6400, Duration::from_secs(10)), 100);
        assert_eq!(next_backoff_ms(6400, Duration::from_millis(9900)), 12800);
        assert_eq!(next_backoff_ms(60000, Duration::from_secs(3600)), 100);
    }

    #[test]
    fn shim_alive_means_a_live_shim_of_this_bundle() {
        let t = TempDir(std::env::temp_dir().join(format!(
            "berth-monitor-{}-{:?}",
            std::process::id(),
            SystemTime::now()
        )));
        let paths = ContainerPaths::new(&t.0.join("containers"), &t.0.join("c"), "abc123");
        std::fs::create_dir_all(&paths.run).unwrap();
        // No pid file.
        assert!(!shim_alive(&paths));
        // A live process with another command line (this test).
        std::fs::write(paths.shim_pid(), std::process::id().to_string()).unwrap();
        assert!(!shim_alive(&paths));
        // A process whose command line is `<x> run <bundle>/shim.json`: a shell running
        // a script named `run` that blocks in a builtin (no child that could outlive it).
        std::fs::write(t.0.join("run"), "read -r line\n").unwrap();
        let mut child = Reaped(
            std::process::Command::new("/bin/sh")
                .arg("run")
                .arg(paths.shim_config())
                .current_dir(&t.0)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        std::fs::write(paths.shim_pid(), child.0.id().to_string()).unwrap();
        let wait_for = |want: bool| {
            let deadline = Instant::now() + Duration::from_secs(5);
            while shim_alive(&paths) != want && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            shim_alive(&paths) == want
        };
        // Right after fork the child still shows this test's command line.
        assert!(wait_for(true));
        // Killed but not reaped yet (a zombie): dead.
        child.0.kill().unwrap();
        assert!(wait_for(false));
    }
}
