//! Per-instruction dispatch of metadata steps (ENV, LABEL, ARG, CMD, ENTRYPOINT, EXPOSE,
//! USER, VOLUME, STOPSIGNAL, MAINTAINER, HEALTHCHECK, SHELL, ONBUILD) and WORKDIR: how each
//! changes the image config and the legacy builder's `#(nop)` history text.

use super::{expand_error, short, w, workdir_or_root, Builder, State};
use crate::dockerignore::clean_path;
use crate::error::BuildError;
use crate::gofmt;
use crate::instructions::{CmdLine, HealthSpec, Instruction};
use crate::plan::{meta_env, Step};
use crate::shell::Lexer;
use berth_types::docker::{EmptyObject, HealthConfig};
use std::collections::BTreeMap;
use std::io::Write;

impl Builder<'_> {
    pub(super) fn dispatch(
        &self,
        st: &mut State,
        step: &Step,
        out: &mut dyn Write,
    ) -> Result<(), BuildError> {
        self.check_cancel()?;
        let lx = Lexer::new(self.plan.escape);
        let env = self.env(st);
        let ex = |s: &str| lx.word(s, &env).map_err(|e| expand_error(s, e));
        let mut cfg = st.config.clone();
        let comment: String;
        match &step.instruction {
            Instruction::From { .. } => {
                return Err(BuildError::Invalid("unexpected FROM inside a stage".into()))
            }
            Instruction::Run { .. } => return self.run_step(st, step, out),
            Instruction::Copy(c) => return self.copy_step(st, c, false, out),
            Instruction::Add(c) => return self.copy_step(st, c, true, out),
            Instruction::Workdir(p) => return self.workdir_step(st, &ex(p)?, out),
            Instruction::Env(pairs) => {
                let mut msg = String::from("ENV");
                let mut vars = cfg.env.take().unwrap_or_default();
                for (k, v) in pairs {
                    let (k, v) = (ex(k)?, ex(v)?);
                    msg.push_str(&format!(" {k}={v}"));
                    let kv = format!("{k}={v}");
                    match vars
                        .iter_mut()
                        .find(|e| e.split('=').next() == Some(k.as_str()))
                    {
                        Some(e) => *e = kv,
                        None => vars.push(kv),
                    }
                }
                cfg.env = Some(vars);
                comment = msg;
            }
            Instruction::Label(pairs) => {
                let mut msg = String::from("LABEL");
                let labels = cfg.labels.get_or_insert_with(BTreeMap::new);
                for (k, v) in pairs {
                    let (k, v) = (ex(k)?, ex(v)?);
                    msg.push_str(&format!(" {k}={v}"));
                    labels.insert(k, v);
                }
                comment = msg;
            }
            Instruction::Arg(args) => {
                let mut msg = String::from("ARG");
                for (k, default) in args {
                    let default = default.as_deref().map(&ex).transpose()?;
                    msg.push_str(&match &default {
                        Some(d) => format!(" {k}={d}"),
                        None => format!(" {k}"),
                    });
                    // Value: --build-arg, else the default, else a meta ARG's value.
                    let meta = meta_env(
                        &self.plan.meta_args,
                        &self.opts.build_args,
                        self.plan.escape,
                    );
                    let value = self
                        .opts
                        .build_args
                        .get(k)
                        .cloned()
                        .or(default)
                        .or_else(|| crate::shell::Env::get(&meta, k));
                    st.args.push((k.clone(), value));
                    if let Ok(mut c) = self.consumed.lock() {
                        c.insert(k.clone());
                    }
                }
                comment = msg;
            }
            Instruction::Cmd(c) => {
                let cmd = self.cmdline(st, c);
                comment = format!("CMD {}", gofmt::quote_list(&cmd));
                cfg.cmd = Some(cmd);
                cfg.args_escaped = None;
                st.cmd_set = true;
            }
            Instruction::Entrypoint(c) => {
                let ep = self.cmdline(st, c);
                comment = format!("ENTRYPOINT {}", gofmt::quote_list(&ep));
                cfg.entrypoint = Some(ep);
                cfg.args_escaped = None;
                if !st.cmd_set {
                    cfg.cmd = None;
                }
            }
            Instruction::Expose(ports) => {
                let mut words = Vec::new();
                for p in ports {
                    words.extend(lx.words(p, &env).map_err(|e| expand_error(p, e))?);
                }
                let ports = words;
                let map = cfg.exposed_ports.get_or_insert_with(BTreeMap::new);
                for p in &ports {
                    for key in parse_port_spec(p).map_err(BuildError::Invalid)? {
                        map.insert(key, EmptyObject {});
                    }
                }
                comment = format!("EXPOSE {}", ports.join(" "));
            }
            Instruction::User(u) => {
                let u = ex(u)?;
                comment = format!("USER {u}");
                cfg.user = u;
            }
            Instruction::Volume(vols) => {
                let vols = vols.iter().map(|v| ex(v)).collect::<Result<Vec<_>, _>>()?;
                let map = cfg.volumes.get_or_insert_with(BTreeMap::new);
                for v in &vols {
                    if v.trim().is_empty() {
                        return Err(BuildError::Invalid(
                            "VOLUME specified can not be an empty string".into(),
                        ));
                    }
                    map.insert(v.clone(), EmptyObject {});
                }
                comment = format!("VOLUME {}", gofmt::plain_list(&vols));
            }
            Instruction::StopSignal(s) => {
                let s = ex(s)?;
                if !valid_signal(&s) {
                    return Err(BuildError::Invalid(format!("Invalid signal: {s}")));
                }
                comment = format!("STOPSIGNAL {s}");
                cfg.stop_signal = Some(s);
            }
            Instruction::Maintainer(m) => {
                comment = format!("MAINTAINER {m}");
                st.author = m.clone();
            }
            Instruction::Healthcheck(h) => {
                if let Some(old) = cfg.healthcheck.as_ref().and_then(|h| h.test.clone()) {
                    if old.first().map(String::as_str) != Some("NONE") && !old.is_empty() {
                        w(
                            out,
                            format!(
                                "Note: overriding previous HEALTHCHECK: {}\n",
                                gofmt::plain_list(&old)
                            ),
                        )?;
                    }
                }
                comment = format!("HEALTHCHECK {}", health_comment(h));
                cfg.healthcheck = Some(HealthConfig {
                    test: Some(h.test.clone()),
                    interval: h.interval,
                    timeout: h.timeout,
                    retries: h.retries,
                    start_period: h.start_period,
                    start_interval: h.start_interval,
                });
            }
            Instruction::Shell(s) => {
                comment = format!("SHELL {}", gofmt::plain_list(s));
                cfg.shell = Some(s.clone());
            }
            Instruction::OnBuild(expr) => {
                comment = format!("ONBUILD {expr}");
                cfg.on_build.get_or_insert_with(Vec::new).push(expr.clone());
            }
        }
        let shell = Self::shell(st);
        let created_by = format!("{} #(nop)  {comment}", shell.join(" "));
        let probe_cmd: Vec<String> = shell
            .into_iter()
            .chain(["#(nop) ".to_string(), comment])
            .collect();
        self.commit_step(st, cfg, probe_cmd, created_by, out)
    }

    /// CMD/ENTRYPOINT argv: exec form as is, shell form through the stage's SHELL.
    fn cmdline(&self, st: &State, c: &CmdLine) -> Vec<String> {
        match c {
            CmdLine::Exec(v) => v.clone(),
            CmdLine::Shell(s) => {
                let mut v = Self::shell(st);
                v.push(s.clone());
                v
            }
        }
    }

    pub(super) fn workdir_step(
        &self,
        st: &mut State,
        path: &str,
        out: &mut dyn Write,
    ) -> Result<(), BuildError> {
        let dir = if path.starts_with('/') {
            clean_path(path)
        } else {
            clean_path(&format!("{}/{path}", workdir_or_root(&st.config)))
        };
        let mut cfg = st.config.clone();
        cfg.working_dir = dir.clone();
        let created_by = format!("{} #(nop) WORKDIR {dir}", Self::shell(st).join(" "));
        let key = self.key(st, &cfg, &created_by, "");
        if let Some(id) = self.lookup(st, &key, out)? {
            st.image = Some(id);
            st.config = cfg;
            return Ok(());
        }
        let mut probe = cfg.clone();
        probe.cmd = Some(
            Self::shell(st)
                .into_iter()
                .chain([format!("#(nop) WORKDIR {dir}")])
                .collect(),
        );
        let id = self.create_build_container(st, probe, out)?;
        let r = self
            .host
            .create_workdir(&id)
            .map_err(BuildError::from)
            .and_then(|_| self.commit(st, cfg, Some(id.clone()), created_by, key, false));
        self.finish_container(&id, r.is_ok(), out)?;
        let new_id = r?;
        w(out, format!(" ---> {}\n", short(&new_id)))?;
        Ok(())
    }
}

/// Go `%q` of Docker's HealthConfig pointer: `&{["CMD-SHELL" "x"] "5m0s" "3s" "0s" "0s" '\x03'}`.
pub(super) fn health_comment(h: &HealthSpec) -> String {
    format!(
        "&{{{} {} {} {} {} {}}}",
        gofmt::quote_list(&h.test),
        gofmt::quote(&gofmt::format_duration(h.interval)),
        gofmt::quote(&gofmt::format_duration(h.timeout)),
        gofmt::quote(&gofmt::format_duration(h.start_period)),
        gofmt::quote(&gofmt::format_duration(h.start_interval)),
        gofmt::quote_rune(h.retries)
    )
}

/// `80`, `80/udp`, `8000-8002/tcp` → `["80/tcp"]`, … (Docker's ExposedPorts keys).
pub(super) fn parse_port_spec(spec: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("Invalid proto: {proto}"));
    }
    // An `ip:hostPort:containerPort` form keeps only the container port.
    let ports = ports.rsplit(':').next().unwrap_or(ports);
    let parse = |s: &str| {
        s.parse::<u16>()
            .map_err(|_| format!("Invalid containerPort: {ports}"))
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let p = parse(ports)?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(format!("Invalid containerPort: {ports}"));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

pub(super) fn valid_signal(s: &str) -> bool {
    const NAMES: &[&str] = &[
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
        "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
        "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
        "UNUSED",
    ];
    if let Ok(n) = s.parse::<u32>() {
        return n > 0 && n <= 64;
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if NAMES.contains(&name) {
        return true;
    }
    for base in ["RTMIN", "RTMAX"] {
        if let Some(rest) = name.strip_prefix(base) {
            if rest.is_empty() {
                return true;
            }
            if let Some(n) = rest.strip_prefix('+').or_else(|| rest.strip_prefix('-')) {
                return n.parse::<u32>().is_ok_and(|n| n <= 30);
            }
        }
    }
    false
}
