//! Running containers: start (spec → shim → attach → release), stop, kill, restart,
//! pause/unpause, wait and resize.
//!
//! Start sequence (see docs/architecture.md): write the etc files and `shim.json`, spawn
//! the shim, which replies once the process is created and parked; connect the pending
//! attach clients; send `start`; record `running` and hand the exit to a monitor task.

use crate::error::{EngineError, ErrorKind, Result};
use crate::files;
use crate::record::{write_json, ContainerRecord};
use crate::signals::parse_signal;
use crate::specbuild::{self, ns_mode, parse_security_opts, Seccomp, SpecInputs};
use crate::{lock, shimctl, Ctr, Engine, Watch};
use berth_network::NetnsRef;
use berth_types::docker::{ContainerWaitResponse, WaitExitError};
use berth_types::shim::{Request, ShimConfig, Task};
use berth_types::spec::{Namespaces, NsMode};
use berth_types::time::rfc3339_nano;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// `condition` of `POST /containers/{id}/wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitCondition {
    /// Return at once if the container is not running, else at its exit.
    #[default]
    NotRunning,
    /// Return at the next exit, even if not running now.
    NextExit,
    /// Return when the container is removed.
    Removed,
}

impl WaitCondition {
    /// Parses the query value (`not-running`, `next-exit`, `removed`; empty = default).
    pub fn parse(s: &str) -> Result<WaitCondition> {
        match s {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            _ => Err(EngineError::invalid(format!("invalid condition: \"{s}\""))),
        }
    }
}

/// A wait registered on a container; resolve it with [`WaitHandle::result`]. Obtained
/// before the container starts (as `docker run` does), it sees that run's exit.
pub struct WaitHandle {
    rx: watch::Receiver<Watch>,
    cond: WaitCondition,
    start_exits: u64,
    immediate: Option<ContainerWaitResponse>,
}

fn wait_response(w: &Watch) -> ContainerWaitResponse {
    ContainerWaitResponse {
        status_code: w.exit_code,
        error: (!w.error.is_empty()).then(|| WaitExitError {
            message: w.error.clone(),
        }),
    }
}

impl WaitHandle {
    /// Waits for the condition and returns the exit code (and error text, if any).
    pub async fn result(mut self) -> ContainerWaitResponse {
        if let Some(r) = self.immediate.take() {
            return r;
        }
        loop {
            {
                let w = self.rx.borrow_and_update();
                let done = match self.cond {
                    WaitCondition::Removed => w.removed,
                    WaitCondition::NextExit | WaitCondition::NotRunning => {
                        w.exits > self.start_exits || w.removed
                    }
                };
                if done {
                    return wait_response(&w);
                }
            }
            if self.rx.changed().await.is_err() {
                // The container is gone from memory: report the last known state.
                return wait_response(&self.rx.borrow());
            }
        }
    }
}

impl Engine {
    /// `POST /containers/{id}/wait` (the registration part; await the handle for the
    /// result).
    pub async fn wait(&self, name: &str, cond: WaitCondition) -> Result<WaitHandle> {
        let ctr = self.lookup(name)?;
        let rx = ctr.watch.subscribe();
        let w = rx.borrow().clone();
        // An exit is recorded in the record first and published on the watch after
        // (with its code): only when both say "not running" is the watch's code final.
        let running = lock(&ctr.rec).state.running || w.running;
        let immediate = (cond == WaitCondition::NotRunning && !running).then(|| wait_response(&w));
        Ok(WaitHandle {
            rx,
            cond,
            start_exits: w.exits,
            immediate,
        })
    }

    /// `POST /containers/{id}/start`.
    pub async fn start(&self, name: &str) -> Result<()> {
        let ctr = self.lookup(name)?;
        let _op = ctr.op.lock().await;
        {
            let r = lock(&ctr.rec);
            if r.state.paused {
                return Err(EngineError::conflict(
                    "cannot start a paused container, try unpause instead",
                ));
            }
            if r.state.running {
                return Err(EngineError::not_modified());
            }
            if r.state.status == "removing" {
                return Err(EngineError::conflict(
                    "container is marked for removal and cannot be started",
                ));
            }
        }
        // A user start cancels a pending policy restart and clears "manually stopped".
        lock(&ctr.rec).manually_stopped = false;
        crate::monitor::reset_restart_state(&ctr);
        let res = self.start_locked(&ctr).await;
        if res.is_err() {
            let snap = ctr.snapshot();
            // Whatever step failed, the volumes it activated are not in use.
            self.deactivate_mounts(&snap);
            if snap.host_config.auto_remove {
                // Docker removes --rm containers whose start failed.
                let mut snap = snap;
                snap.state.status = "removing".into();
                let _ = self.destroy(&ctr, &snap).await;
            }
        }
        res
    }

    /// Starts a container whose `op` lock the caller holds.
    pub(crate) async fn start_locked(&self, ctr: &Arc<Ctr>) -> Result<()> {
        let rec = ctr.snapshot();
        let p = &ctr.paths;
        let image_id = berth_image::ImageId::parse(&rec.image)
            .ok_or_else(|| EngineError::internal(format!("bad image id {}", rec.image)))?;
        let lower: Vec<String> = self
            .images
            .layer_dirs(&image_id)?
            .iter()
            .map(|d| d.display().to_string())
            .collect();

        // Leftovers of the previous run.
        for f in [p.exit(), p.shim_pid(), p.init_pid(), ctr.socket.clone()] {
            let _ = std::fs::remove_file(f);
        }
        for dir in [ctr.socket.parent(), Some(p.run.as_path())]
            .into_iter()
            .flatten()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| EngineError::io(format!("creating {}", dir.display()), e))?;
        }

        // /etc files.
        let hc = &rec.host_config;
        let hostname = specbuild::hostname_of(&rec);
        let host_net = hc.network_mode == "host";
        let host_resolv = std::fs::read_to_string(&self.cfg.resolv_conf).unwrap_or_default();
        let resolv = if host_net && hc.dns.as_ref().is_none_or(|d| d.is_empty()) {
            host_resolv
        } else {
            files::resolv_conf(&host_resolv, hc)
        };
        let hosts = if host_net {
            std::fs::read_to_string(&self.cfg.hosts_file).unwrap_or_default()
        } else {
            files::hosts_file(
                &hostname,
                &rec.config.domainname,
                None,
                hc.extra_hosts.as_deref().unwrap_or_default(),
            )
        };
        for (path, content) in [
            (p.hostname(), files::hostname_file(&hostname)),
            (p.hosts(), hosts),
            (p.resolv_conf(), resolv),
        ] {
            std::fs::write(&path, content)
                .map_err(|e| EngineError::io(format!("writing {}", path.display()), e))?;
        }

        // Seccomp.
        let sec = parse_security_opts(hc.security_opt.as_deref().unwrap_or_default())?;
        let seccomp_profile = match sec.seccomp {
            Seccomp::Unconfined => None,
            Seccomp::Default => self
                .cfg
                .default_seccomp_profile
                .as_ref()
                .map(|p| p.display().to_string()),
            Seccomp::File(f) => Some(f),
            Seccomp::Inline(json) => {
                let path = p.seccomp();
                std::fs::write(&path, json)
                    .map_err(|e| EngineError::io(format!("writing {}", path.display()), e))?;
                Some(path.display().to_string())
            }
        };

        // Namespaces.
        let join = |target: &str| -> Result<i32> {
            let other = self.lookup(target)?;
            let r = lock(&other.rec);
            if !r.state.running || r.state.pid <= 0 {
                return Err(EngineError::conflict(format!(
                    "cannot join namespaces of a non running container: {}",
                    other.id
                )));
            }
            Ok(r.state.pid as i32)
        };
        let mut net = match hc.network_mode.as_str() {
            "host" => NsMode::Host,
            m if m.starts_with("container:") => ns_mode(m, "net", &join)?,
            _ => NsMode::New,
        };
        // A spare namespace made ahead replaces a new one (netpool.rs); it stays open
        // here until the shim has created the process, which joined it by then.
        // The pool refills when `_refill` goes, once this start is done.
        let (spare, _refill) = if net == NsMode::New {
            let (spare, refill) = self.netns_pool.take();
            (spare, Some(refill))
        } else {
            (None, None)
        };
        if let Some(s) = &spare {
            net = NsMode::Join(format!("/proc/self/fd/{}", s.raw_fd()));
        }
        let namespaces = Namespaces {
            mount: NsMode::New,
            uts: if hc.uts_mode == "host" || host_net {
                NsMode::Host
            } else {
                NsMode::New
            },
            ipc: ns_mode(&hc.ipc_mode, "ipc", &join)?,
            pid: ns_mode(&hc.pid_mode, "pid", &join)?,
            net,
            user: NsMode::Host,
            cgroup: if hc.cgroupns_mode == "private" {
                NsMode::New
            } else {
                NsMode::Host
            },
            uid_map: vec![],
            gid_map: vec![],
        };

        // Volumes last: nothing above may fail after they are mounted.
        let volume_mounts = self
            .activate_mounts(&rec, p.upper(), self.images.layer_dirs(&image_id)?)
            .await?;
        let spec = specbuild::build_spec(
            &rec,
            SpecInputs {
                lower,
                upper: p.upper().display().to_string(),
                work: p.work().display().to_string(),
                hostname_path: p.hostname().display().to_string(),
                hosts_path: p.hosts().display().to_string(),
                resolv_conf_path: p.resolv_conf().display().to_string(),
                seccomp_profile,
                cgroup_path: self.cgroup_rel(&rec),
                cgroup_mounts: self.cgroups.as_ref().and_then(|h| h.to_mounts()),
                namespaces,
                mounts: volume_mounts,
            },
        )?;

        let log_path = p.log(&rec.id);
        let log = self.shim_log_config(&rec, &log_path)?;
        let has_log_file = log.driver != "none" && log.format != "none";
        let shim_cfg = ShimConfig {
            id: rec.id.clone(),
            socket: ctr.socket.display().to_string(),
            shim_pid_file: p.shim_pid().display().to_string(),
            pid_file: p.init_pid().display().to_string(),
            exit_file: p.exit().display().to_string(),
            log,
            open_stdin: rec.config.open_stdin,
            stdin_once: rec.config.stdin_once,
            tty: rec.config.tty,
            stdin_fd: spare.as_ref().map(|s| s.raw_fd()),
            // Networks are attached through the spare namespace's descriptor, or not at
            // all: nothing here needs the process's own namespaces before `start`.
            reply_at_pid: spare.is_some() || !self.net_attaches(&rec),
            exit_reply_first: hc.auto_remove,
            task: Task::Container(spec),
        };
        // Rewritten before every start: no need to survive a crash of the machine.
        crate::record::write_json_replace(&p.shim_config(), &shim_cfg)?;

        let shim_config = p.shim_config();
        let spawn = shimctl::spawn_with_fd(
            &self.cfg.shim_binary,
            &shim_config,
            spare.as_ref().map(|s| s.raw_fd()),
        );
        // Networks are connected before the process runs (networking.rs). In a spare
        // namespace that happens while the shim starts, through the daemon's descriptor
        // of it (valid until `spare` is dropped below); else in the parked process's.
        let (reply, early_net) = match &spare {
            Some(s) if self.net_attaches(&rec) => {
                let path = format!("/proc/{}/fd/{}", std::process::id(), s.raw_fd());
                let attach = self.net_attach_to(ctr, NetnsRef::Path(path.into()), false);
                let (reply, attached) = tokio::join!(spawn, attach);
                (reply, Some(attached))
            }
            _ => (spawn.await, None),
        };
        drop(spare);
        let reply = match reply {
            Ok(r) if r.ok => r,
            failed => {
                if early_net.is_some() {
                    self.net_release(&ctr.id).await;
                }
                let r = failed?;
                return Err(self.start_failed(ctr, &r.error, r.exit_code));
            }
        };
        let pid = reply.pid.unwrap_or(0);
        let attached = match early_net {
            Some(Ok(())) => self.net_attached_pid(ctr, pid).await,
            Some(Err(e)) => Err(e),
            None => self.net_attach(ctr, pid).await,
        };
        if let Err(e) = attached {
            return Err(self.net_abort_start(ctr, e).await);
        }

        // Attach clients that waited for this start; from now on new ones connect to the
        // shim directly (decided under the record lock, see attach.rs).
        let pending = {
            let _r = lock(&ctr.rec);
            ctr.shim_up.store(true, Ordering::SeqCst);
            std::mem::take(&mut *lock(&ctr.pending))
        };
        // Their requests go out now and their answers are read once `start` is sent:
        // the shim serves connections in the order they were made, so they are
        // attached before the process runs, without a round trip each before `start`.
        let mut attaching = Vec::new();
        for pa in pending {
            match shimctl::attach_send(&ctr.socket, pa.stdin, pa.stdout, pa.stderr).await {
                Ok(conn) => attaching.push((pa.end, conn)),
                Err(e) => eprintln!("berth-engine: attach to {} failed: {e}", ctr.id),
            }
        }

        // `wait` goes with `start` on one connection, which then belongs to the exit
        // monitor: the shim has a waiting engine before the process runs, so it answers
        // the exit at once and skips the fsync of `exit.json` that only matters when
        // nobody is listening (a short-lived process otherwise exits before the
        // monitor connects).
        let sent = async {
            let mut conn = shimctl::connect(&ctr.socket).await?;
            shimctl::send_all(&mut conn, &[Request::Start, Request::Wait]).await?;
            Ok::<_, EngineError>(conn)
        }
        .await;
        for (end, conn) in attaching {
            match shimctl::attach_finish(conn).await {
                Ok(conn) => crate::attach::splice(end, conn),
                Err(e) => eprintln!("berth-engine: attach to {} failed: {e}", ctr.id),
            }
        }
        let started = match sent {
            Ok(mut conn) => shimctl::read_reply(&mut conn).await.map(|r| (r, conn)),
            Err(e) => Err(e),
        };
        let waiting = match started {
            Ok((r, conn)) if r.ok => conn,
            Ok((r, _)) => {
                // The process is gone (it failed to set up or to exec): so are its
                // networks.
                self.net_release(&ctr.id).await;
                return Err(self.start_failed(ctr, &r.error, r.exit_code));
            }
            Err(e) => return Err(self.start_failed(ctr, &e.message, None)),
        };

        let snap = {
            let mut r = lock(&ctr.rec);
            r.state.status = "running".into();
            r.state.running = true;
            r.state.paused = false;
            r.state.restarting = false;
            r.state.dead = false;
            r.state.oom_killed = false;
            r.state.pid = pid as i64;
            r.state.exit_code = 0;
            r.state.error = String::new();
            r.state.health = None;
            r.state.started_at = rfc3339_nano(SystemTime::now());
            r.has_been_started = true;
            r.log_path = if !has_log_file {
                String::new()
            } else {
                log_path.display().to_string()
            };
            r.clone()
        };
        crate::record::save_record(&p.config(), &snap)?;
        ctr.watch.send_modify(|w| {
            w.running = true;
            w.exit_code = 0;
            w.error.clear();
        });
        self.container_event(&snap, "start", &[]);
        self.spawn_monitor(ctr.clone(), pid, Some(waiting));
        self.spawn_health(ctr.clone());
        Ok(())
    }

    /// Records a failed start (Docker keeps the container `created` with the exit code
    /// and error) and returns the error, worded like Docker's.
    fn start_failed(&self, ctr: &Arc<Ctr>, msg: &str, code: Option<i32>) -> EngineError {
        let text = if msg.starts_with("failed to create task") || msg.starts_with("OCI runtime") {
            msg.to_string()
        } else {
            format!(
                "failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: {msg}: unknown"
            )
        };
        let lower = msg.to_ascii_lowercase();
        let code = code.or_else(|| {
            if lower.contains("executable file not found")
                || lower.contains("no such file or directory")
            {
                Some(127)
            } else if lower.contains("permission denied") {
                Some(126)
            } else {
                None
            }
        });
        let snap = {
            let mut r = lock(&ctr.rec);
            ctr.shim_up.store(false, Ordering::SeqCst);
            r.state.error = text.clone();
            r.state.exit_code = code.unwrap_or(128) as i64;
            r.state.running = false;
            r.state.pid = 0;
            if !r.has_been_started {
                r.state.status = "created".into();
            } else {
                r.state.status = "exited".into();
                r.state.finished_at = rfc3339_nano(SystemTime::now());
            }
            r.clone()
        };
        let _ = write_json(&ctr.paths.config(), &snap);
        self.deactivate_mounts(&snap);
        ctr.watch.send_modify(|w| {
            w.exit_code = snap.state.exit_code;
            w.error = text.clone();
        });
        let kind = if matches!(code, Some(126) | Some(127)) {
            ErrorKind::InvalidArgument
        } else {
            ErrorKind::Internal
        };
        EngineError::new(kind, text)
    }

    /// Sends a signal through the shim; falls back to signalling the pid directly when
    /// the shim cannot be reached.
    pub(crate) async fn signal(&self, ctr: &Arc<Ctr>, sig: i32, all: bool) -> Result<()> {
        match shimctl::request(&ctr.socket, &Request::Kill { signal: sig, all }).await {
            Ok(r) if r.ok => Ok(()),
            Ok(r) => Err(EngineError::internal(format!(
                "Cannot kill container {}: {}",
                ctr.id, r.error
            ))),
            Err(e) => {
                let pid = lock(&ctr.rec).state.pid as i32;
                if pid <= 0 {
                    return Err(e);
                }
                let s = nix::sys::signal::Signal::try_from(sig)
                    .map_err(|_| EngineError::invalid(format!("Invalid signal: {sig}")))?;
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), s).map_err(|err| {
                    EngineError::internal(format!("Cannot kill container {}: {err}", ctr.id))
                })
            }
        }
    }

    /// Waits until the watch shows the container not running, up to `timeout`.
    async fn wait_exit(rx: &mut watch::Receiver<Watch>, timeout: Option<Duration>) -> bool {
        let fut = async {
            loop {
                if !rx.borrow_and_update().running {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        };
        match timeout {
            Some(t) => tokio::time::timeout(t, fut).await.is_ok(),
            None => {
                fut.await;
                true
            }
        }
    }

    /// SIGKILL and wait for the exit (rm -f, kill). Returns once the container is down.
    pub(crate) async fn kill_and_wait(&self, ctr: &Arc<Ctr>) -> Result<()> {
        let mut rx = ctr.watch.subscribe();
        let (running, paused) = {
            let mut r = lock(&ctr.rec);
            r.manually_stopped = true;
            if r.state.restarting && !r.state.running {
                r.state.restarting = false;
            }
            (r.state.running, r.state.paused)
        };
        if !running {
            return Ok(());
        }
        self.signal(ctr, libc::SIGKILL, true).await?;
        if paused {
            self.thaw(ctr);
        }
        if !Self::wait_exit(&mut rx, Some(Duration::from_secs(10))).await {
            // The shim did not report: kill the pid directly and wait once more.
            let pid = lock(&ctr.rec).state.pid as i32;
            if pid > 0 {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            if !Self::wait_exit(&mut rx, Some(Duration::from_secs(10))).await {
                return Err(EngineError::internal(format!(
                    "Cannot kill container {}: tried to kill container, but did not receive an exit event",
                    ctr.id
                )));
            }
        }
        Ok(())
    }

    fn thaw(&self, ctr: &Arc<Ctr>) {
        if let Some(h) = &self.cgroups {
            let rec = ctr.snapshot();
            if let Ok(cg) = berth_cgroups::Cgroup::open(h, &self.cgroup_rel(&rec)) {
                let _ = cg.thaw();
            }
        }
        let snap = {
            let mut r = lock(&ctr.rec);
            r.state.paused = false;
            if r.state.running {
                r.state.status = "running".into();
            }
            r.clone()
        };
        let _ = write_json(&ctr.paths.config(), &snap);
    }

    /// `POST /containers/{id}/stop`: the stop signal (`signal`, else the container's
    /// `StopSignal`, else SIGTERM), then SIGKILL after `timeout` seconds (default: the
    /// container's `StopTimeout`, else 10; negative waits forever).
    pub async fn stop(&self, name: &str, timeout: Option<i64>, signal: Option<&str>) -> Result<()> {
        let ctr = self.lookup(name)?;
        let sig = match signal.filter(|s| !s.is_empty()) {
            Some(s) => parse_signal(s)?,
            None => self.stop_signal(&ctr)?,
        };
        let _op = ctr.op.lock().await;
        self.stop_locked(&ctr, timeout, sig).await
    }

    fn stop_signal(&self, ctr: &Arc<Ctr>) -> Result<i32> {
        let s = lock(&ctr.rec)
            .config
            .stop_signal
            .clone()
            .unwrap_or_default();
        if s.is_empty() {
            Ok(libc::SIGTERM)
        } else {
            parse_signal(&s)
        }
    }

    async fn stop_locked(&self, ctr: &Arc<Ctr>, timeout: Option<i64>, sig: i32) -> Result<()> {
        let mut rx = ctr.watch.subscribe();
        let (paused, snap, default_timeout) = {
            let mut r = lock(&ctr.rec);
            if r.state.restarting && !r.state.running {
                // Cancel a pending policy restart.
                r.state.restarting = false;
                r.manually_stopped = true;
                r.state.status = "exited".into();
                let snap = r.clone();
                drop(r);
                let _ = write_json(&ctr.paths.config(), &snap);
                return Ok(());
            }
            if !r.state.running {
                return Err(EngineError::not_modified());
            }
            r.manually_stopped = true;
            (r.state.paused, r.clone(), r.config.stop_timeout)
        };
        let _ = write_json(&ctr.paths.config(), &snap);
        let secs = timeout
            .or(default_timeout)
            .unwrap_or(crate::defaults::DEFAULT_STOP_TIMEOUT);
        if self.signal(ctr, sig, false).await.is_ok() {
            self.container_event(&snap, "kill", &[("signal", sig.to_string())]);
        }
        if paused {
            self.thaw(ctr);
        }
        let limit = (secs >= 0).then(|| Duration::from_secs(secs as u64));
        if !Self::wait_exit(&mut rx, limit).await {
            let _ = self.signal(ctr, libc::SIGKILL, true).await;
            self.container_event(&snap, "kill", &[("signal", libc::SIGKILL.to_string())]);
            if !Self::wait_exit(&mut rx, Some(Duration::from_secs(10))).await {
                self.kill_and_wait(ctr).await?;
            }
        }
        self.container_event(&ctr.snapshot(), "stop", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/kill` (default SIGKILL; waits for the exit on SIGKILL).
    pub async fn kill(&self, name: &str, signal: Option<&str>) -> Result<()> {
        let ctr = self.lookup(name)?;
        let sig = match signal.filter(|s| !s.is_empty()) {
            Some(s) => parse_signal(s)?,
            None => libc::SIGKILL,
        };
        let stop_sig = self.stop_signal(&ctr).unwrap_or(libc::SIGTERM);
        let snap = {
            let mut r = lock(&ctr.rec);
            if !r.state.running {
                return Err(EngineError::not_running(&ctr.id));
            }
            if sig == libc::SIGKILL || sig == stop_sig {
                // Like Docker: the container is meant to exit; no policy restart.
                r.manually_stopped = true;
            }
            r.clone()
        };
        let mut rx = ctr.watch.subscribe();
        self.signal(&ctr, sig, false).await?;
        self.container_event(&snap, "kill", &[("signal", sig.to_string())]);
        if snap.state.paused && (sig == libc::SIGKILL || sig == stop_sig) {
            self.thaw(&ctr);
        }
        if sig == libc::SIGKILL && !Self::wait_exit(&mut rx, Some(Duration::from_secs(10))).await {
            self.kill_and_wait(&ctr).await?;
        }
        Ok(())
    }

    /// `POST /containers/{id}/restart`: stop (if running), then start.
    pub async fn restart(
        &self,
        name: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        let ctr = self.lookup(name)?;
        let sig = match signal.filter(|s| !s.is_empty()) {
            Some(s) => parse_signal(s)?,
            None => self.stop_signal(&ctr)?,
        };
        let _op = ctr.op.lock().await;
        match self.stop_locked(&ctr, timeout, sig).await {
            Ok(()) => {}
            Err(e) if e.kind == ErrorKind::NotModified => {}
            Err(e) => return Err(e),
        }
        lock(&ctr.rec).manually_stopped = false;
        crate::monitor::reset_restart_state(&ctr);
        self.start_locked(&ctr).await?;
        self.container_event(&ctr.snapshot(), "restart", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/pause` (cgroup freezer).
    pub async fn pause(&self, name: &str) -> Result<()> {
        let ctr = self.lookup(name)?;
        let _op = ctr.op.lock().await;
        let rec = ctr.snapshot();
        if !rec.state.running {
            return Err(EngineError::not_running(&ctr.id));
        }
        if rec.state.paused {
            return Err(EngineError::conflict(format!(
                "Container {} is already paused",
                ctr.id
            )));
        }
        let h = self
            .cgroups
            .as_ref()
            .ok_or_else(|| EngineError::internal("cgroups are not available on this host"))?;
        let cg = berth_cgroups::Cgroup::open(h, &self.cgroup_rel(&rec))?;
        cg.freeze()?;
        let snap = {
            let mut r = lock(&ctr.rec);
            r.state.paused = true;
            r.state.status = "paused".into();
            r.clone()
        };
        write_json(&ctr.paths.config(), &snap)?;
        self.container_event(&snap, "pause", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/unpause`.
    pub async fn unpause(&self, name: &str) -> Result<()> {
        let ctr = self.lookup(name)?;
        let _op = ctr.op.lock().await;
        let rec = ctr.snapshot();
        if !rec.state.paused {
            return Err(EngineError::conflict(format!(
                "Container {} is not paused",
                ctr.id
            )));
        }
        let h = self
            .cgroups
            .as_ref()
            .ok_or_else(|| EngineError::internal("cgroups are not available on this host"))?;
        let cg = berth_cgroups::Cgroup::open(h, &self.cgroup_rel(&rec))?;
        cg.thaw()?;
        let snap = {
            let mut r = lock(&ctr.rec);
            r.state.paused = false;
            r.state.status = if r.state.running { "running" } else { "exited" }.into();
            r.clone()
        };
        write_json(&ctr.paths.config(), &snap)?;
        self.container_event(&snap, "unpause", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/resize` (tty size of a running container).
    pub async fn resize(&self, name: &str, height: u16, width: u16) -> Result<()> {
        let ctr = self.lookup(name)?;
        if !lock(&ctr.rec).state.running {
            return Err(EngineError::not_running(&ctr.id));
        }
        let r = shimctl::request(&ctr.socket, &Request::Resize { height, width }).await?;
        if !r.ok {
            return Err(EngineError::internal(r.error));
        }
        self.container_event(
            &ctr.snapshot(),
            "resize",
            &[("height", height.to_string()), ("width", width.to_string())],
        );
        Ok(())
    }

    /// Docker's rule at daemon start for a container that is down: `always` restarts
    /// (even after a manual stop), `unless-stopped` unless stopped by the user,
    /// `on-failure` when it failed.
    pub(crate) fn restart_on_boot(rec: &ContainerRecord) -> bool {
        if !rec.has_been_started {
            return false;
        }
        match rec.host_config.restart_policy.name.as_str() {
            "always" => true,
            "unless-stopped" => !rec.manually_stopped,
            // Docker's restart manager keeps the retry count across daemon restarts.
            "on-failure" => {
                let max = rec.host_config.restart_policy.maximum_retry_count;
                rec.state.exit_code != 0 && (max == 0 || rec.restart_count < max)
            }
            _ => false,
        }
    }

    /// Exposed for the monitor: the record after an exit, to decide on a restart.
    pub(crate) fn restart_wanted(rec: &ContainerRecord) -> bool {
        let p = &rec.host_config.restart_policy;
        match p.name.as_str() {
            "always" => !rec.manually_stopped,
            "unless-stopped" => !rec.manually_stopped,
            "on-failure" => {
                !rec.manually_stopped
                    && rec.state.exit_code != 0
                    && (p.maximum_retry_count == 0 || rec.restart_count < p.maximum_retry_count)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(policy: &str, code: i64, stopped: bool, started: bool) -> ContainerRecord {
        let mut r = ContainerRecord {
            manually_stopped: stopped,
            has_been_started: started,
            ..Default::default()
        };
        r.host_config.restart_policy.name = policy.into();
        r.state.exit_code = code;
        r
    }

    #[test]
    fn restart_rules_follow_docker() {
        // At runtime a manual stop always wins.
        assert!(Engine::restart_wanted(&rec("always", 0, false, true)));
        assert!(!Engine::restart_wanted(&rec("always", 0, true, true)));
        assert!(!Engine::restart_wanted(&rec("on-failure", 0, false, true)));
        assert!(Engine::restart_wanted(&rec("on-failure", 1, false, true)));
        let mut r = rec("on-failure", 1, false, true);
        r.host_config.restart_policy.maximum_retry_count = 2;
        r.restart_count = 2;
        assert!(!Engine::restart_wanted(&r));
        assert!(!Engine::restart_wanted(&rec("no", 1, false, true)));
        // At daemon start `always` comes back even after a manual stop.
        assert!(Engine::restart_on_boot(&rec("always", 0, true, true)));
        assert!(!Engine::restart_on_boot(&rec(
            "unless-stopped",
            0,
            true,
            true
        )));
        assert!(Engine::restart_on_boot(&rec(
            "unless-stopped",
            0,
            false,
            true
        )));
        assert!(!Engine::restart_on_boot(&rec("always", 0, false, false)));
    }

    #[test]
    fn wait_conditions_parse() {
        assert_eq!(WaitCondition::parse("").unwrap(), WaitCondition::NotRunning);
        assert_eq!(
            WaitCondition::parse("next-exit").unwrap(),
            WaitCondition::NextExit
        );
        assert_eq!(
            WaitCondition::parse("removed").unwrap(),
            WaitCondition::Removed
        );
        assert!(WaitCondition::parse("bogus").is_err());
    }
}
