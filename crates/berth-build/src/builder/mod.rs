//! The [`Builder`]: executes a [`Plan`] through a [`BuildHost`], evolving the image config
//! step by step the way Docker's legacy builder does, writing its progress text, and
//! reusing cached steps.
//!
//! Per stage: resolve the base (an earlier stage's result or an image), run ONBUILD
//! triggers of the base, then each step. A step expands its arguments with the stage's
//! environment (image `Env` first, then ARG values in scope), computes its history line
//! and cache key (parent id + history line + resulting config + content hash of COPY/ADD
//! inputs), asks the host's cache and, on a miss, has the host run/copy/commit. Stages of
//! one plan wave run on separate threads; their progress is buffered and written in stage
//! order, while a lone stage streams directly.
//!
//! Layout: this file drives stages and holds the shared step machinery (cache lookup,
//! commit, container bookkeeping); `dispatch` handles metadata instructions and WORKDIR,
//! `run` handles RUN, `copy` handles COPY/ADD.

mod copy;
mod dispatch;
mod run;

use crate::context::BuildContext;
use crate::error::BuildError;
use crate::gofmt;
use crate::host::{BuildHost, CommitRequest, ContainerRequest, HistoryEntry};
use crate::instructions::Instruction;
use crate::plan::{cache_key, meta_env, onbuild_steps, Plan, Step, PREDEFINED_ARGS};
use crate::shell::Lexer;
use berth_types::docker::ContainerConfig;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Options of one build (the `docker build` flags the daemon sees).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// `-t` (several).
    pub tags: Vec<String>,
    /// `--build-arg`.
    pub build_args: BTreeMap<String, String>,
    /// `--target`.
    pub target: Option<String>,
    pub no_cache: bool,
    /// `--pull`: always look for a newer base image.
    pub pull: bool,
    /// `--label`: applied by an extra LABEL step at the end of the target stage.
    pub labels: BTreeMap<String, String>,
    /// `-q`: no progress output; a failing RUN's output is returned in
    /// [`BuildError::RunFailed`]`::output` instead.
    pub quiet: bool,
    /// `--platform` for FROM lines without their own.
    pub platform: Option<String>,
    /// Build independent stages on parallel threads.
    pub parallel: bool,
    /// `networkmode` for RUN steps without their own `--network`.
    pub network_mode: Option<String>,
    /// `rm=false`: keep intermediate containers after a successful step.
    pub keep_intermediate: bool,
    /// `forcerm`: also remove the container of a failed RUN (Docker keeps it by default).
    pub force_rm: bool,
    /// Commit metadata-only steps (ENV, CMD, LABEL, …) through a created (never started)
    /// container, printing ` ---> Running in` / `Removing intermediate container` exactly
    /// like the legacy builder. Off: they commit without a container (faster, same image).
    pub legacy_containers: bool,
}

/// Result of a successful build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOutcome {
    /// Final image id (`sha256:<hex>`).
    pub image_id: String,
    /// Tags applied (normalized, `name:latest` when no tag was given).
    pub tags: Vec<String>,
    /// Image id of every built stage (stage index → id).
    pub stage_images: BTreeMap<usize, String>,
}

const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// Runs a plan against a host.
pub struct Builder<'a> {
    host: &'a dyn BuildHost,
    plan: &'a Plan,
    context: &'a BuildContext,
    opts: &'a BuildOptions,
    consumed: Mutex<BTreeSet<String>>,
    /// Images of finished stages, for `--from` lookups.
    stage_images: Mutex<BTreeMap<usize, String>>,
    /// Set by the caller (client went away) to stop before the next step.
    cancel: Option<&'a AtomicBool>,
}

/// Where a stage ended.
#[derive(Debug, Clone)]
struct StageResult {
    image: Option<String>,
    config: ContainerConfig,
    author: String,
}

/// Mutable state of a stage being built.
struct State {
    stage: usize,
    image: Option<String>,
    config: ContainerConfig,
    author: String,
    cmd_set: bool,
    /// ARGs in scope, in declaration order, with their effective values.
    args: Vec<(String, Option<String>)>,
}

fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

impl<'a> Builder<'a> {
    pub fn new(
        host: &'a dyn BuildHost,
        plan: &'a Plan,
        context: &'a BuildContext,
        opts: &'a BuildOptions,
    ) -> Self {
        Builder {
            host,
            plan,
            context,
            opts,
            consumed: Mutex::new(BTreeSet::new()),
            stage_images: Mutex::new(BTreeMap::new()),
            cancel: None,
        }
    }

    /// Stops the build before its next step once `flag` is set (Docker's
    /// `context canceled` when the client disconnects). A running step is not interrupted
    /// here; the host can stop its container itself.
    pub fn with_cancel(mut self, flag: &'a AtomicBool) -> Self {
        self.cancel = Some(flag);
        self
    }

    fn check_cancel(&self) -> Result<(), BuildError> {
        match self.cancel {
            Some(f) if f.load(Ordering::SeqCst) => {
                Err(BuildError::Invalid("context canceled".into()))
            }
            _ => Ok(()),
        }
    }

    /// Builds the plan's target, tags it and writes Docker's progress text to `progress`.
    pub fn build(&self, progress: &mut (dyn Write + Send)) -> Result<BuildOutcome, BuildError> {
        let mut quiet_sink = std::io::sink();
        let out: &mut (dyn Write + Send) = if self.opts.quiet {
            &mut quiet_sink
        } else {
            progress
        };
        let total = self
            .plan
            .total_steps(usize::from(!self.opts.labels.is_empty()));
        for (number, step) in (1..).zip(&self.plan.meta_steps) {
            w(out, format!("Step {number}/{total} : {}\n", step.original))?;
        }
        if let Ok(mut c) = self.consumed.lock() {
            c.extend(self.plan.meta_args.iter().map(|(k, _)| k.clone()));
        }
        let mut results: BTreeMap<usize, StageResult> = BTreeMap::new();
        for wave in &self.plan.waves {
            if wave.len() == 1 || !self.opts.parallel {
                for &idx in wave {
                    let r = self.run_stage(idx, &results, total, out)?;
                    self.finished(idx, &r);
                    results.insert(idx, r);
                }
                continue;
            }
            let done: Vec<(usize, Vec<u8>, Result<StageResult, BuildError>)> =
                std::thread::scope(|scope| {
                    let handles: Vec<_> = wave
                        .iter()
                        .map(|&idx| {
                            let results = &results;
                            scope.spawn(move || {
                                let mut buf: Vec<u8> = Vec::new();
                                let r = self.run_stage(idx, results, total, &mut buf);
                                (idx, buf, r)
                            })
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| {
                            h.join().unwrap_or_else(|_| {
                                (
                                    0,
                                    Vec::new(),
                                    Err(BuildError::Invalid("build stage thread panicked".into())),
                                )
                            })
                        })
                        .collect()
                });
            let mut first_err = None;
            for (idx, buf, r) in done {
                out.write_all(&buf)
                    .map_err(|e| BuildError::io("writing progress", e))?;
                match r {
                    Ok(r) => {
                        self.finished(idx, &r);
                        results.insert(idx, r);
                    }
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = first_err {
                return Err(e);
            }
        }
        let target = results
            .get(&self.plan.target)
            .cloned()
            .ok_or_else(|| BuildError::Invalid("target stage was not built".into()))?;
        let Some(image_id) = target.image else {
            return Err(BuildError::Invalid(
                "No image was generated. Is your Dockerfile empty?".into(),
            ));
        };
        let unused: Vec<String> = {
            let consumed = self.consumed.lock().map(|c| c.clone()).unwrap_or_default();
            self.opts
                .build_args
                .keys()
                .filter(|k| !consumed.contains(*k) && !PREDEFINED_ARGS.contains(&k.as_str()))
                .cloned()
                .collect()
        };
        if !unused.is_empty() {
            w(
                out,
                format!(
                    "[Warning] One or more build-args {} were not consumed\n",
                    gofmt::plain_list(&unused)
                ),
            )?;
        }
        w(out, format!("Successfully built {}\n", short(&image_id)))?;
        let mut tags = Vec::new();
        for t in &self.opts.tags {
            let t = normalize_tag(t);
            self.host.tag(&image_id, &t)?;
            w(out, format!("Successfully tagged {t}\n"))?;
            tags.push(t);
        }
        let stage_images = results
            .iter()
            .filter_map(|(k, v)| v.image.clone().map(|i| (*k, i)))
            .collect();
        Ok(BuildOutcome {
            image_id,
            tags,
            stage_images,
        })
    }

    fn finished(&self, idx: usize, r: &StageResult) {
        if let (Some(id), Ok(mut m)) = (&r.image, self.stage_images.lock()) {
            m.insert(idx, id.clone());
        }
    }

    fn run_stage(
        &self,
        idx: usize,
        done: &BTreeMap<usize, StageResult>,
        total: usize,
        out: &mut dyn Write,
    ) -> Result<StageResult, BuildError> {
        self.check_cancel()?;
        let stage = &self.plan.stages[idx];
        let mut number = self.plan.first_step_number(idx);
        w(
            out,
            format!("Step {number}/{total} : {}\n", stage.from.original),
        )?;
        number += 1;
        let env = meta_env(
            &self.plan.meta_args,
            &self.opts.build_args,
            self.plan.escape,
        );
        let lx = Lexer::new(self.plan.escape);
        let base_ref = lx
            .word(&stage.base, &env)
            .map_err(|e| expand_error(&stage.base, e))?;
        if base_ref.is_empty() {
            return Err(BuildError::Invalid(format!(
                "base name ({}) should not be blank",
                stage.base
            )));
        }
        let mut state = State {
            stage: idx,
            image: None,
            config: ContainerConfig::default(),
            author: String::new(),
            cmd_set: false,
            args: Vec::new(),
        };
        if let Some(b) = stage.base_stage {
            let r = done.get(&b).ok_or_else(|| {
                BuildError::Invalid(format!("stage {b} was not built before stage {idx}"))
            })?;
            state.image = r.image.clone();
            state.config = r.config.clone();
            state.author = r.author.clone();
        } else if !base_ref.eq_ignore_ascii_case("scratch") {
            let platform = match &stage.platform {
                Some(p) => Some(lx.word(p, &env).map_err(|e| expand_error(p, e))?),
                None => self.opts.platform.clone(),
            };
            let info =
                self.host
                    .resolve_image(&base_ref, platform.as_deref(), self.opts.pull, out)?;
            state.image = Some(info.id);
            state.config = info.config;
            state.author = info.author;
        }
        match &state.image {
            Some(id) => w(out, format!(" ---> {}\n", short(id)))?,
            None => w(out, " ---> \n".to_string())?,
        }
        // ONBUILD triggers of the base run first, and are not inherited.
        let triggers = state.config.on_build.take().unwrap_or_default();
        if !triggers.is_empty() {
            let s = if triggers.len() > 1 { "s" } else { "" };
            w(
                out,
                format!("# Executing {} build trigger{s}\n", triggers.len()),
            )?;
            for step in onbuild_steps(&triggers, self.plan.escape)? {
                self.dispatch(&mut state, &step, out)?;
            }
        }
        for step in &stage.steps {
            w(out, format!("Step {number}/{total} : {}\n", step.original))?;
            number += 1;
            self.dispatch(&mut state, step, out)?;
        }
        if idx == self.plan.target && !self.opts.labels.is_empty() {
            let pairs: Vec<(String, String)> = self
                .opts
                .labels
                .iter()
                .map(|(k, v)| (gofmt::quote(k), format!("'{}'", v.replace('\'', "'\\''"))))
                .collect();
            let original = format!(
                "LABEL {}",
                pairs
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            let step = Step {
                instruction: Instruction::Label(pairs),
                original,
                line: 0,
            };
            w(out, format!("Step {number}/{total} : {}\n", step.original))?;
            self.dispatch(&mut state, &step, out)?;
        }
        Ok(StageResult {
            image: state.image,
            config: state.config,
            author: state.author,
        })
    }

    /// Expansion environment: image Env first (it wins), then ARG values.
    fn env(&self, st: &State) -> Vec<String> {
        let mut env = st.config.env.clone().unwrap_or_default();
        env.extend(self.arg_env(st));
        env
    }

    /// ARGs with values in effect as `K=V`, plus predefined proxy args passed with
    /// `--build-arg`.
    fn arg_env(&self, st: &State) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (k, v) in st.args.iter().rev() {
            if let Some(v) = v {
                if !out.iter().any(|e| e.split('=').next() == Some(k.as_str())) {
                    out.push(format!("{k}={v}"));
                }
            }
        }
        out.reverse();
        for p in PREDEFINED_ARGS {
            if let Some(v) = self.opts.build_args.get(*p) {
                if !st.args.iter().any(|(k, _)| k == p) {
                    out.push(format!("{p}={v}"));
                }
            }
        }
        out
    }

    fn shell(st: &State) -> Vec<String> {
        match &st.config.shell {
            Some(s) if !s.is_empty() => s.clone(),
            _ => DEFAULT_SHELL.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Cache lookup, then (on a miss) commit of `container` (or metadata only), printing
    /// the legacy ` ---> …` lines. The caller has already created/run the container when
    /// `make_container` is used; this path is for steps without one.
    fn commit_step(
        &self,
        st: &mut State,
        cfg: ContainerConfig,
        probe_cmd: Vec<String>,
        created_by: String,
        out: &mut dyn Write,
    ) -> Result<(), BuildError> {
        let key = self.key(st, &cfg, &created_by, "");
        if let Some(id) = self.lookup(st, &key, out)? {
            st.image = Some(id);
            st.config = cfg;
            return Ok(());
        }
        if !self.opts.legacy_containers {
            let id = self.commit(st, cfg, None, created_by, key, true)?;
            w(out, format!(" ---> {}\n", short(&id)))?;
            return Ok(());
        }
        // The legacy builder commits a (never started) container for metadata steps too.
        let mut probe = cfg.clone();
        probe.cmd = Some(probe_cmd);
        let cid = self.create_build_container(st, probe, out)?;
        let r = self.commit(st, cfg, Some(cid.clone()), created_by, key, true);
        self.finish_container(&cid, r.is_ok(), out)?;
        let id = r?;
        w(out, format!(" ---> {}\n", short(&id)))?;
        Ok(())
    }

    /// Creates a container that only exists to be committed (metadata steps in legacy
    /// mode, WORKDIR); prints ` ---> Running in <id>` like the legacy builder.
    fn create_build_container(
        &self,
        st: &State,
        mut config: ContainerConfig,
        out: &mut dyn Write,
    ) -> Result<String, BuildError> {
        config.image = st.image.clone().unwrap_or_default();
        let id = self.host.create_container(&ContainerRequest {
            image: st.image.clone(),
            config,
            mounts: Vec::new(),
            network: None,
        })?;
        w(out, format!(" ---> Running in {}\n", short(&id)))?;
        Ok(id)
    }

    /// Removes a step's container the way `rm`/`forcerm` say, printing Docker's line.
    fn finish_container(&self, id: &str, ok: bool, out: &mut dyn Write) -> Result<(), BuildError> {
        if (ok && !self.opts.keep_intermediate) || self.opts.force_rm {
            w(
                out,
                format!("Removing intermediate container {}\n", short(id)),
            )?;
            self.host.remove_container(id)?;
        }
        Ok(())
    }

    fn key(&self, st: &State, cfg: &ContainerConfig, created_by: &str, content: &str) -> String {
        let mut c = cfg.clone();
        c.image = String::new();
        let json = serde_json::to_string(&c).unwrap_or_default();
        cache_key(
            st.image.as_deref(),
            created_by,
            &format!("{json}\n{}", st.author),
            content,
        )
    }

    fn lookup(
        &self,
        st: &State,
        key: &str,
        out: &mut dyn Write,
    ) -> Result<Option<String>, BuildError> {
        if self.opts.no_cache {
            return Ok(None);
        }
        match self.host.cache_lookup(st.image.as_deref(), key)? {
            Some(id) => {
                w(out, format!(" ---> Using cache\n ---> {}\n", short(&id)))?;
                Ok(Some(id))
            }
            None => Ok(None),
        }
    }

    fn commit(
        &self,
        st: &mut State,
        mut cfg: ContainerConfig,
        container: Option<String>,
        created_by: String,
        key: String,
        empty_layer: bool,
    ) -> Result<String, BuildError> {
        cfg.image = st.image.clone().unwrap_or_default();
        let id = self.host.commit(&CommitRequest {
            parent: st.image.clone(),
            container,
            config: cfg.clone(),
            author: st.author.clone(),
            history: HistoryEntry {
                created_by,
                empty_layer,
            },
            cache_key: key,
        })?;
        st.image = Some(id.clone());
        st.config = cfg;
        Ok(id)
    }

    /// The config a build container runs with: the stage's, with the given Cmd, no
    /// entrypoint and no healthcheck.
    fn container_config(st: &State, cmd: Vec<String>, env: Vec<String>) -> ContainerConfig {
        let mut c = st.config.clone();
        c.cmd = Some(cmd);
        c.entrypoint = Some(vec![String::new()]);
        c.env = Some(env);
        c.healthcheck = None;
        c.image = st.image.clone().unwrap_or_default();
        c
    }
}

/// A dispatch-time expansion failure, worded as Docker reports it (not a parse error: the
/// file parsed, a value did not expand).
fn expand_error(word: &str, e: crate::shell::ExpandError) -> BuildError {
    BuildError::Invalid(format!("failed to process {}: {}", gofmt::quote(word), e.0))
}

fn w(out: &mut dyn Write, s: String) -> Result<(), BuildError> {
    out.write_all(s.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| BuildError::io("writing progress", e))
}

fn workdir_or_root(cfg: &ContainerConfig) -> String {
    if cfg.working_dir.is_empty() {
        "/".into()
    } else {
        cfg.working_dir.clone()
    }
}

/// `name` → `name:latest`; references with a tag or digest are kept.
pub fn normalize_tag(reference: &str) -> String {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    if last.contains(':') || reference.contains('@') {
        reference.to_string()
    } else {
        format!("{reference}:latest")
    }
}

#[cfg(test)]
mod tests {
    use super::dispatch::{health_comment, parse_port_spec, valid_signal};
    use super::run::heredoc_script;
    use super::*;
    use crate::instructions::HealthSpec;
    use crate::parser::Heredoc;

    #[test]
    fn ports() {
        assert_eq!(parse_port_spec("80").unwrap(), vec!["80/tcp"]);
        assert_eq!(parse_port_spec("53/UDP").unwrap(), vec!["53/udp"]);
        assert_eq!(
            parse_port_spec("8000-8002").unwrap(),
            vec!["8000/tcp", "8001/tcp", "8002/tcp"]
        );
        assert_eq!(
            parse_port_spec("x").unwrap_err(),
            "Invalid containerPort: x"
        );
        assert_eq!(parse_port_spec("80/foo").unwrap_err(), "Invalid proto: foo");
    }

    #[test]
    fn signals_and_tags() {
        assert!(
            valid_signal("SIGTERM")
                && valid_signal("term")
                && valid_signal("9")
                && valid_signal("SIGRTMIN+3")
        );
        assert!(!valid_signal("SIGFOO") && !valid_signal("0") && !valid_signal("100"));
        assert_eq!(normalize_tag("x"), "x:latest");
        assert_eq!(normalize_tag("x:y"), "x:y");
        assert_eq!(normalize_tag("localhost:5000/x"), "localhost:5000/x:latest");
    }

    #[test]
    fn heredoc_scripts() {
        let d = |name: &str, content: &str| Heredoc {
            name: name.into(),
            content: content.into(),
            expand: true,
            chomp: false,
            fd: 0,
        };
        assert_eq!(
            heredoc_script("<<EOF", &[d("EOF", "echo a\necho b\n")]),
            "echo a\necho b\n"
        );
        assert_eq!(
            heredoc_script("cat <<EOF > /f", &[d("EOF", "x\n")]),
            "cat <<EOF > /f\nx\nEOF\n"
        );
        assert_eq!(
            heredoc_script("<<EOF", &[d("EOF", "#!/usr/bin/env python3\nprint(1)\n")]),
            "/usr/bin/env python3 <<'EOF'\n#!/usr/bin/env python3\nprint(1)\nEOF\n"
        );
    }

    #[test]
    fn health_comment_matches_go() {
        let h = HealthSpec {
            test: vec![
                "CMD-SHELL".into(),
                "curl -f http://localhost/ || exit 1".into(),
            ],
            interval: 300_000_000_000,
            timeout: 3_000_000_000,
            start_period: 0,
            start_interval: 0,
            retries: 3,
        };
        assert_eq!(
            health_comment(&h),
            "&{[\"CMD-SHELL\" \"curl -f http://localhost/ || exit 1\"] \"5m0s\" \"3s\" \"0s\" \"0s\" '\\x03'}"
        );
    }
}
