//! `docker exec`: a process joined to a running container, run by its own shim
//! (`containers/<id>/exec/<exec-id>.json`, task = `ExecSpec`, no log file).
//!
//! `exec_create` only records the request; `exec_start` spawns the shim, attaches (unless
//! detached), releases the process and leaves a task waiting for its exit code.

use crate::error::{EngineError, ErrorKind, Result};
use crate::record::write_json_replace;
use crate::specbuild::{self, parse_security_opts, Seccomp};
use crate::{lock, monitor, names, shimctl, AttachStream, Engine};
use berth_types::docker::{
    ExecConfig, ExecInspect, ExecProcessConfig, ExecStartConfig, IdResponse,
};
use berth_types::shim::{LogConfig, Request, ShimConfig, Task};
use berth_types::spec::{ExecSpec, ProcessSpec};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// State of one exec instance.
#[derive(Debug, Clone, Default)]
pub(crate) struct ExecState {
    pub running: bool,
    pub started: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
}

pub(crate) struct ExecEntry {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub state: Mutex<ExecState>,
    pub socket: PathBuf,
}

impl Engine {
    /// `POST /containers/{id}/exec`.
    pub async fn exec_create(&self, name: &str, cfg: ExecConfig) -> Result<IdResponse> {
        let ctr = self.lookup(name)?;
        {
            let r = lock(&ctr.rec);
            if !r.state.running {
                return Err(EngineError::not_running(&ctr.id));
            }
            if r.state.paused {
                return Err(EngineError::conflict(format!(
                    "Container {} is paused, unpause the container before exec",
                    ctr.id
                )));
            }
            if r.state.restarting {
                return Err(EngineError::conflict(format!(
                    "Container {} is restarting, wait until the container is running",
                    ctr.id
                )));
            }
        }
        if cfg.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(EngineError::invalid("No exec command specified"));
        }
        let id = names::new_id()?;
        let entry = Arc::new(ExecEntry {
            id: id.clone(),
            container_id: ctr.id.clone(),
            config: cfg,
            state: Mutex::new(ExecState::default()),
            socket: self.socket_path(&id),
        });
        lock(&self.execs).insert(id.clone(), entry);
        lock(&ctr.execs).push(id.clone());
        let rec = ctr.snapshot();
        let cmd = lock(&self.execs)
            .get(&id)
            .map(|e| e.config.cmd.clone().unwrap_or_default().join(" "))
            .unwrap_or_default();
        self.container_event(
            &rec,
            &format!("exec_create: {cmd}"),
            &[("execID", id.clone())],
        );
        Ok(IdResponse { id })
    }

    fn exec_entry(&self, id: &str) -> Result<Arc<ExecEntry>> {
        lock(&self.execs)
            .get(id)
            .cloned()
            .ok_or_else(|| EngineError::not_found(format!("No such exec instance: {id}")))
    }

    /// `POST /exec/{id}/start`. Returns the attached stream, or None when detached.
    pub async fn exec_start(
        &self,
        exec_id: &str,
        opts: ExecStartConfig,
    ) -> Result<Option<AttachStream>> {
        let ex = self.exec_entry(exec_id)?;
        {
            let mut st = lock(&ex.state);
            if st.running {
                return Err(EngineError::conflict(format!(
                    "Error: Exec command {exec_id} is already running"
                )));
            }
            if st.started {
                return Err(EngineError::conflict(format!(
                    "Error: Exec command {exec_id} has already run"
                )));
            }
            st.started = true;
        }
        let ctr = self.lookup(&ex.container_id)?;
        let rec = ctr.snapshot();
        if !rec.state.running {
            return Err(EngineError::not_running(&ctr.id));
        }
        if rec.state.paused {
            return Err(EngineError::conflict(format!(
                "Container {} is paused, unpause the container before exec",
                ctr.id
            )));
        }
        let c = &ex.config;
        let tty = c.tty || opts.tty;
        let hc = &rec.host_config;
        let hostname = specbuild::hostname_of(&rec);
        let mut env = specbuild::build_env(
            rec.config.env.as_deref().unwrap_or_default(),
            &hostname,
            tty,
        );
        specbuild::replace_or_append_env(&mut env, c.env.as_deref().unwrap_or_default());
        let privileged = c.privileged || hc.privileged;
        let caps = specbuild::tweak_caps(
            hc.cap_add.as_deref().unwrap_or_default(),
            hc.cap_drop.as_deref().unwrap_or_default(),
            privileged,
        )?;
        let sec = parse_security_opts(hc.security_opt.as_deref().unwrap_or_default())?;
        let seccomp = if privileged {
            None
        } else {
            match sec.seccomp {
                Seccomp::Unconfined => None,
                Seccomp::Default => self
                    .cfg
                    .default_seccomp_profile
                    .as_ref()
                    .map(|p| p.display().to_string()),
                Seccomp::File(f) => Some(f),
                Seccomp::Inline(_) => Some(ctr.paths.seccomp().display().to_string()),
            }
        };
        let console = opts
            .console_size
            .or(c.console_size)
            .filter(|[h, w]| *h > 0 && *w > 0);
        let spec = ExecSpec {
            container_id: ctr.id.clone(),
            target_pid: rec.state.pid as i32,
            cgroup_path: self.cgroup_rel(&rec),
            process: ProcessSpec {
                args: c.cmd.clone().unwrap_or_default(),
                env,
                cwd: if !c.working_dir.is_empty() {
                    c.working_dir.clone()
                } else if !rec.config.working_dir.is_empty() {
                    rec.config.working_dir.clone()
                } else {
                    "/".into()
                },
                user: if c.user.is_empty() {
                    rec.config.user.clone()
                } else {
                    c.user.clone()
                },
                additional_groups: hc.group_add.clone().unwrap_or_default(),
                terminal: tty,
                capabilities: caps,
                no_new_privileges: sec.no_new_privileges,
                rlimits: specbuild::rlimits(hc),
                seccomp_profile: seccomp,
                console_size: console.map(|[h, w]| (h.min(65535) as u16, w.min(65535) as u16)),
            },
            privileged,
        };
        let dir = ctr.paths.exec_dir();
        std::fs::create_dir_all(&dir)
            .map_err(|e| EngineError::io(format!("creating {}", dir.display()), e))?;
        let shim_cfg = ShimConfig {
            id: ex.id.clone(),
            socket: ex.socket.display().to_string(),
            shim_pid_file: dir
                .join(format!("{}.shim.pid", ex.id))
                .display()
                .to_string(),
            pid_file: dir.join(format!("{}.pid", ex.id)).display().to_string(),
            exit_file: dir
                .join(format!("{}.exit.json", ex.id))
                .display()
                .to_string(),
            log: LogConfig {
                driver: "none".into(),
                ..Default::default()
            },
            open_stdin: c.attach_stdin && !opts.detach,
            stdin_once: true,
            tty,
            stdin_fd: None,
            reply_at_pid: false,
            exit_reply_first: false,
            task: Task::Exec(spec),
        };
        let cfg_path = dir.join(format!("{}.json", ex.id));
        write_json_replace(&cfg_path, &shim_cfg)?;
        let _ = std::fs::remove_file(&ex.socket);

        let reply = shimctl::spawn(&self.cfg.shim_binary, &cfg_path).await?;
        if !reply.ok {
            return Err(self.exec_failed(&ex, &reply.error, reply.exit_code));
        }
        let pid = reply.pid.unwrap_or(0);
        let conn = if opts.detach {
            None
        } else {
            Some(
                shimctl::attach(&ex.socket, c.attach_stdin, c.attach_stdout, c.attach_stderr)
                    .await?,
            )
        };
        match shimctl::request(&ex.socket, &Request::Start).await {
            Ok(r) if r.ok => {}
            Ok(r) => return Err(self.exec_failed(&ex, &r.error, r.exit_code)),
            Err(e) => return Err(self.exec_failed(&ex, &e.message, None)),
        }
        {
            let mut st = lock(&ex.state);
            st.running = true;
            st.pid = pid as i64;
        }
        self.container_event(
            &rec,
            &format!(
                "exec_start: {}",
                c.cmd.clone().unwrap_or_default().join(" ")
            ),
            &[("execID", ex.id.clone())],
        );

        // Exit watcher.
        let Some(engine) = self.arc() else {
            return Ok(conn.map(|conn| AttachStream { conn, tty }));
        };
        let ex2 = ex.clone();
        let exit_file = PathBuf::from(&shim_cfg.exit_file);
        tokio::spawn(async move {
            let mut code = None;
            if let Ok(mut conn) = shimctl::connect(&ex2.socket).await {
                if shimctl::send(&mut conn, &Request::Wait).await.is_ok() {
                    if let Ok(r) = shimctl::read_reply(&mut conn).await {
                        code = r.exit.map(|e| e.exit_code as i64);
                    }
                }
            }
            if code.is_none() {
                for _ in 0..20 {
                    if let Some(e) =
                        crate::record::read_json::<berth_types::shim::ExitStatus>(&exit_file)
                    {
                        code = Some(e.exit_code as i64);
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
            let code = code.unwrap_or(monitor::SHIM_DIED_EXIT_CODE as i64);
            {
                let mut st = lock(&ex2.state);
                st.running = false;
                st.exit_code = Some(code);
                st.pid = 0;
            }
            if let Ok(ctr) = engine.lookup(&ex2.container_id) {
                engine.container_event(
                    &ctr.snapshot(),
                    "exec_die",
                    &[("execID", ex2.id.clone()), ("exitCode", code.to_string())],
                );
            }
        });
        Ok(conn.map(|conn| AttachStream { conn, tty }))
    }

    fn exec_failed(&self, ex: &ExecEntry, msg: &str, code: Option<i32>) -> EngineError {
        let text = if msg.starts_with("OCI runtime") {
            msg.to_string()
        } else {
            format!("OCI runtime exec failed: exec failed: unable to start container process: {msg}: unknown")
        };
        let lower = msg.to_ascii_lowercase();
        let code = code.or_else(|| {
            if lower.contains("executable file not found") || lower.contains("no such file") {
                Some(127)
            } else if lower.contains("permission denied") {
                Some(126)
            } else {
                None
            }
        });
        {
            let mut st = lock(&ex.state);
            st.running = false;
            st.exit_code = Some(code.unwrap_or(126) as i64);
        }
        let kind = if code.is_some() {
            ErrorKind::InvalidArgument
        } else {
            ErrorKind::Internal
        };
        EngineError::new(kind, text)
    }

    /// `GET /exec/{id}/json`.
    pub async fn exec_inspect(&self, exec_id: &str) -> Result<ExecInspect> {
        let ex = self.exec_entry(exec_id)?;
        let st = lock(&ex.state).clone();
        let c = &ex.config;
        let cmd = c.cmd.clone().unwrap_or_default();
        Ok(ExecInspect {
            can_remove: false,
            container_id: ex.container_id.clone(),
            detach_keys: c.detach_keys.clone(),
            exit_code: st.exit_code,
            id: ex.id.clone(),
            open_stderr: c.attach_stderr,
            open_stdin: c.attach_stdin,
            open_stdout: c.attach_stdout,
            process_config: ExecProcessConfig {
                arguments: cmd.iter().skip(1).cloned().collect(),
                entrypoint: cmd.first().cloned().unwrap_or_default(),
                privileged: c.privileged,
                tty: c.tty,
                user: c.user.clone(),
            },
            running: st.running,
            pid: st.pid,
        })
    }

    /// `POST /exec/{id}/resize`.
    pub async fn exec_resize(&self, exec_id: &str, height: u16, width: u16) -> Result<()> {
        let ex = self.exec_entry(exec_id)?;
        if !lock(&ex.state).running {
            return Err(EngineError::conflict(format!(
                "Exec {exec_id} is not running"
            )));
        }
        let r = shimctl::request(&ex.socket, &Request::Resize { height, width }).await?;
        if !r.ok {
            return Err(EngineError::internal(r.error));
        }
        Ok(())
    }
}
