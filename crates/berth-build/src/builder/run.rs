//! RUN: the command line (shell/exec form, heredocs), build args in the environment and
//! the `|N K=V` history prefix, `--mount`/`--network`, and running it through the host.

use super::{expand_error, short, w, workdir_or_root, Builder, State};
use crate::dockerignore::clean_path;
use crate::error::BuildError;
use crate::host::{BuildMount, ContainerRequest, MountSource};
use crate::instructions::{CmdLine, Instruction, MountKind, RunMount};
use crate::parser::Heredoc;
use crate::plan::{Step, PREDEFINED_ARGS};
use crate::shell::Lexer;
use std::io::Write;

impl Builder<'_> {
    pub(super) fn run_step(
        &self,
        st: &mut State,
        step: &Step,
        out: &mut dyn Write,
    ) -> Result<(), BuildError> {
        let Instruction::Run {
            cmd,
            mounts,
            network,
            heredocs,
        } = &step.instruction
        else {
            return Err(BuildError::Invalid("not a RUN step".into()));
        };
        let shell = Self::shell(st);
        let argv = match cmd {
            CmdLine::Exec(v) => v.clone(),
            CmdLine::Shell(s) => {
                let mut v = shell.clone();
                v.push(heredoc_script(s, heredocs));
                v
            }
        };
        // Build args not shadowed by ENV go into the environment and, unless they are
        // undeclared proxy args, into the history line and the cache key.
        let image_env = st.config.env.clone().unwrap_or_default();
        let shadowed = |kv: &String| {
            let k = kv.split('=').next().unwrap_or("");
            image_env.iter().any(|e| e.split('=').next() == Some(k))
        };
        let build_env: Vec<String> = self
            .arg_env(st)
            .into_iter()
            .filter(|kv| !shadowed(kv))
            .collect();
        let mut created_by = argv.join(" ");
        if !build_env.is_empty() {
            let mut shown: Vec<String> = build_env
                .iter()
                .filter(|kv| {
                    let k = kv.split('=').next().unwrap_or("");
                    st.args.iter().any(|(a, _)| a == k) || !PREDEFINED_ARGS.contains(&k)
                })
                .cloned()
                .collect();
            shown.sort();
            created_by = format!(
                "|{} {}{}",
                shown.len(),
                shown.iter().map(|s| format!("{s} ")).collect::<String>(),
                created_by
            );
        }
        let (build_mounts, mount_content) = self.resolve_mounts(st, mounts)?;
        let cfg = st.config.clone();
        let content = format!(
            "{mount_content}\nnetwork={}",
            network.as_deref().unwrap_or("default")
        );
        let key = self.key(st, &cfg, &created_by, &content);
        if let Some(id) = self.lookup(st, &key, out)? {
            st.image = Some(id);
            return Ok(());
        }
        let mut env = image_env.clone();
        env.extend(build_env);
        let req = ContainerRequest {
            image: st.image.clone(),
            config: Self::container_config(st, argv.clone(), env),
            mounts: build_mounts,
            network: network.clone().or_else(|| self.opts.network_mode.clone()),
        };
        let id = self.host.create_container(&req)?;
        w(out, format!(" ---> Running in {}\n", short(&id)))?;
        // In quiet mode the output is kept and only shown when the command fails.
        let mut captured: Vec<u8> = Vec::new();
        let code = if self.opts.quiet {
            self.host.run_container(&id, &mut captured)
        } else {
            self.host.run_container(&id, out)
        };
        let code = match code {
            Ok(c) => c,
            Err(e) => {
                self.finish_container(&id, false, out)?;
                return Err(e.into());
            }
        };
        if code != 0 {
            self.finish_container(&id, false, out)?;
            return Err(BuildError::RunFailed {
                command: argv.join(" "),
                code,
                output: String::from_utf8_lossy(&captured).into_owned(),
            });
        }
        let new_id = self.commit(st, cfg, Some(id.clone()), created_by, key, false);
        if !self.opts.keep_intermediate || new_id.is_err() && self.opts.force_rm {
            w(
                out,
                format!("Removing intermediate container {}\n", short(&id)),
            )?;
            self.host.remove_container(&id)?;
        }
        let new_id = new_id?;
        w(out, format!(" ---> {}\n", short(&new_id)))?;
        Ok(())
    }

    fn resolve_mounts(
        &self,
        st: &State,
        mounts: &[RunMount],
    ) -> Result<(Vec<BuildMount>, String), BuildError> {
        let lx = Lexer::new(self.plan.escape);
        let env = self.env(st);
        let ex = |s: &str| lx.word(s, &env).map_err(|e| expand_error(s, e));
        let mut res = Vec::new();
        let mut content = String::new();
        let mut ssh_count = 0usize;
        for m in mounts {
            let written = ex(&m.target)?;
            // BuildKit's default targets: `/run/secrets/<id>` (none at all for an
            // env-only secret) and `/run/buildkit/ssh_agent.<n>`.
            let written = match m.kind {
                _ if !written.is_empty() => written,
                MountKind::Secret if m.env.is_some() => String::new(),
                MountKind::Secret => {
                    let id = m.id.as_deref().map(&ex).transpose()?.unwrap_or_default();
                    format!("/run/secrets/{id}")
                }
                MountKind::Ssh => format!("/run/buildkit/ssh_agent.{ssh_count}"),
                _ => written,
            };
            if m.kind == MountKind::Ssh {
                ssh_count += 1;
            }
            let target = if written.is_empty() {
                String::new()
            } else {
                let t = clean_path(&written);
                if t.starts_with('/') {
                    t
                } else {
                    clean_path(&format!("{}/{t}", workdir_or_root(&st.config)))
                }
            };
            let path = m
                .source
                .as_deref()
                .map(&ex)
                .transpose()?
                .unwrap_or_default();
            let source = match m.kind {
                MountKind::Bind => match &m.from {
                    Some(f) => {
                        let id = self.image_for_from(st, &ex(f)?)?;
                        content.push_str(&format!("bind {target} {id}:{path}\n"));
                        MountSource::Image { id, path }
                    }
                    None => {
                        let sel = self.context.subtree(&path);
                        content.push_str(&format!(
                            "bind {target} ctx:{}\n",
                            self.context.hash_entries(&path, &sel)?
                        ));
                        MountSource::Context {
                            root: self.context.root().to_path_buf(),
                            path,
                        }
                    }
                },
                MountKind::Cache => {
                    let id =
                        m.id.as_deref()
                            .map(&ex)
                            .transpose()?
                            .unwrap_or_else(|| target.clone());
                    content.push_str(&format!("cache {target} {id}\n"));
                    MountSource::Cache {
                        id,
                        sharing: m.sharing.clone(),
                    }
                }
                MountKind::Tmpfs => {
                    content.push_str(&format!("tmpfs {target}\n"));
                    MountSource::Tmpfs
                }
                // Only ids and targets: a secret's content never reaches a cache key.
                MountKind::Secret => {
                    let id = match &m.id {
                        Some(i) => ex(i)?,
                        None => target.rsplit('/').next().unwrap_or("").to_string(),
                    };
                    content.push_str(&format!(
                        "secret {target} {id} env={}\n",
                        m.env.as_deref().unwrap_or("")
                    ));
                    MountSource::Secret { id }
                }
                MountKind::Ssh => {
                    let id =
                        m.id.as_deref()
                            .map(&ex)
                            .transpose()?
                            .unwrap_or_else(|| "default".to_string());
                    content.push_str(&format!("ssh {target} {id}\n"));
                    MountSource::Ssh { id }
                }
            };
            res.push(BuildMount {
                kind: m.kind,
                source,
                target,
                readonly: m.readonly,
                mode: m.mode,
                uid: m.uid,
                gid: m.gid,
                required: m.required,
                env: m.env.clone(),
            });
        }
        Ok((res, content))
    }
}

/// The shell text of a RUN with heredocs. A RUN that is only a heredoc runs the body as
/// the script (a `#!` body is fed to its interpreter); otherwise the heredocs are put
/// back after the command line so the shell sees them.
pub(super) fn heredoc_script(cmd: &str, docs: &[Heredoc]) -> String {
    if docs.is_empty() {
        return cmd.to_string();
    }
    let only = docs.len() == 1 && {
        let t = cmd.trim();
        t.starts_with("<<") && !t.contains(char::is_whitespace)
    };
    if only {
        let d = &docs[0];
        if let Some(first) = d.content.lines().next().and_then(|l| l.strip_prefix("#!")) {
            return format!("{} <<'{}'\n{}{}\n", first.trim(), d.name, d.content, d.name);
        }
        return d.content.clone();
    }
    let mut s = cmd.to_string();
    s.push('\n');
    for d in docs {
        s.push_str(&d.content);
        s.push_str(&d.name);
        s.push('\n');
    }
    s
}
