//! `RUN --mount` for builds (BuildKit's syntax, run by our legacy-style builder): turns
//! the front end's resolved [`BuildMount`]s into the build container's binds and tmpfs
//! mounts, and cleans up after the step.
//!
//! - `type=cache`: a directory `<data-root>/builder/cache/<sha256(id)>` kept across
//!   builds (created with the mount's `uid`/`gid`/`mode`, 0755 root by default);
//! - `type=bind`: the build context's path (read-only unless `rw`), or a path of a stage
//!   or image, which is a read-only overlay of its layers mounted on the host under
//!   `<data-root>/builder/mnt-<pid>-…` for the step;
//! - `type=tmpfs`: an empty tmpfs;
//! - `type=secret`: the client's secret (from the request's `BuildSecrets`) is written
//!   to a private tmpfs mounted for the step under `<data-root>/builder/mnt-<pid>-…`
//!   (so it never touches the disk) and bound read-only at the target (default
//!   `/run/secrets/<id>`, mode 0400, root-owned unless `mode`/`uid`/`gid`); with `env=`
//!   its value also goes into the step's environment (only there when no target was
//!   written). The step's layer excludes the target, so the bytes never reach an image;
//! - `type=ssh`: the client's agent socket is bound at the target (default
//!   `/run/buildkit/ssh_agent.<n>`) and the first one becomes `SSH_AUTH_SOCK`;
//! - a secret or agent the client did not send is skipped (as BuildKit does) unless
//!   `required`, which fails the step with BuildKit's wording.
//!
//! Mount targets never become part of the step's layer: their paths are excluded from
//! the commit (the runtime may have created them as mount points).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use berth_build::host::{BuildMount, MountSource};
use berth_build::{BuildSecrets, HostError};
use sha2::{Digest as _, Sha256};
use std::os::unix::fs::FileTypeExt;

/// What one build container's mounts need on the host and after the run.
#[derive(Debug, Default)]
pub(crate) struct StepMounts {
    /// `src:dst[:ro]` binds for the container.
    pub binds: Vec<String>,
    /// tmpfs targets (no options).
    pub tmpfs: BTreeMap<String, String>,
    /// Container paths to leave out of the commit.
    pub targets: Vec<PathBuf>,
    /// Overlay views mounted on the host for image binds: unmounted and removed at
    /// [`StepMounts::release`]. Secret tmpfs mounts are views too.
    pub views: Vec<PathBuf>,
    /// `K=V` entries for the step's environment (`env=` secrets, `SSH_AUTH_SOCK`).
    pub env: Vec<String>,
}

impl StepMounts {
    /// Unmount and delete the host-side views. Idempotent.
    pub fn release(&mut self) {
        for v in self.views.drain(..) {
            let mnt = v.join("mnt");
            let _ = nix::mount::umount2(&mnt, nix::mount::MntFlags::MNT_DETACH);
            let _ = std::fs::remove_dir_all(&v);
        }
    }
}

impl Drop for StepMounts {
    fn drop(&mut self) {
        self.release();
    }
}

/// The directory of cache mount `id` under `builder`.
pub(crate) fn cache_dir(builder: &Path, id: &str) -> PathBuf {
    let hex = format!("{:x}", Sha256::digest(id.as_bytes()));
    builder.join("cache").join(hex)
}

/// A path below `root` from a mount's `source` (a clean, relative path; `..` cannot
/// climb out because the front end cleaned it, but check again).
fn below(root: &Path, rel: &str) -> Result<PathBuf, HostError> {
    let rel = rel.trim_start_matches('/');
    if rel.split('/').any(|c| c == "..") {
        return Err(HostError::new(format!(
            "invalid mount source {rel:?}: outside of the source root"
        )));
    }
    Ok(if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    })
}

/// Prepare the host side of `mounts`. `layers` gives an image's layer dirs (top
/// first) for binds from a stage or image.
/// A new view directory `<builder>/mnt-<pid>-…` with its `mnt` mount point, recorded
/// in `out` so that [`StepMounts::release`] (or the sweep after a crash) removes it.
fn new_view(builder: &Path, out: &mut StepMounts) -> Result<PathBuf, HostError> {
    let view = builder.join(format!("mnt-{}", berth_image::atomic::unique_suffix()));
    let mnt = view.join("mnt");
    std::fs::create_dir_all(&mnt).map_err(|e| HostError::new(e.to_string()))?;
    out.views.push(view);
    Ok(mnt)
}

/// Puts secret `id` on a fresh tmpfs: returns the file to bind.
fn secret_file(
    builder: &Path,
    m: &BuildMount,
    id: &str,
    bytes: &[u8],
    out: &mut StepMounts,
) -> Result<PathBuf, HostError> {
    let fail = |e: &dyn std::fmt::Display| HostError::new(format!("secret {id}: {e}"));
    let mnt = new_view(builder, out)?;
    // Sized for the content (tmpfs counts pages); root-only until bound.
    let size = bytes.len() + 64 * 1024;
    nix::mount::mount(
        Some("tmpfs"),
        &mnt,
        Some("tmpfs"),
        nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
        Some(format!("mode=0700,size={size}").as_str()),
    )
    .map_err(|e| fail(&e))?;
    let file = mnt.join("secret");
    std::fs::write(&file, bytes).map_err(|e| fail(&e))?;
    std::fs::set_permissions(
        &file,
        std::fs::Permissions::from_mode(m.mode.unwrap_or(0o400)),
    )
    .map_err(|e| fail(&e))?;
    std::os::unix::fs::chown(&file, Some(m.uid.unwrap_or(0)), Some(m.gid.unwrap_or(0)))
        .map_err(|e| fail(&e))?;
    Ok(file)
}

pub(crate) fn prepare(
    builder: &Path,
    mounts: &[BuildMount],
    secrets: &BuildSecrets,
    layers: &dyn Fn(&str) -> Result<Vec<PathBuf>, HostError>,
) -> Result<StepMounts, HostError> {
    let mut out = StepMounts::default();
    for m in mounts {
        let ro = if m.readonly { ":ro" } else { "" };
        match &m.source {
            MountSource::Cache { id, .. } => {
                let dir = cache_dir(builder, id);
                if !dir.exists() {
                    std::fs::create_dir_all(&dir)
                        .map_err(|e| HostError::new(format!("creating cache mount {id}: {e}")))?;
                    let mode = m.mode.unwrap_or(0o755);
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
                        .map_err(|e| HostError::new(format!("cache mount {id}: {e}")))?;
                    if m.uid.is_some() || m.gid.is_some() {
                        std::os::unix::fs::chown(&dir, m.uid, m.gid)
                            .map_err(|e| HostError::new(format!("cache mount {id}: {e}")))?;
                    }
                }
                out.binds
                    .push(format!("{}:{}{ro}", dir.display(), m.target));
            }
            MountSource::Context { root, path } => {
                let src = below(root, path)?;
                if !src.exists() {
                    return Err(HostError::new(format!(
                        "failed to mount {}: {path}: not found",
                        m.target
                    )));
                }
                out.binds
                    .push(format!("{}:{}{ro}", src.display(), m.target));
            }
            MountSource::Image { id, path } => {
                let lower = layers(id)?;
                let root = match lower.as_slice() {
                    [] => {
                        return Err(HostError::new(format!(
                            "failed to mount {}: the image has no files",
                            m.target
                        )))
                    }
                    [one] => one.clone(),
                    many => {
                        let mnt = new_view(builder, &mut out)?;
                        let lowerdir = many
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(":");
                        // Lower dirs only: a read-only overlay, nothing to clean inside.
                        nix::mount::mount(
                            Some("overlay"),
                            &mnt,
                            Some("overlay"),
                            nix::mount::MsFlags::MS_RDONLY,
                            Some(format!("lowerdir={lowerdir}").as_str()),
                        )
                        .map_err(|e| {
                            HostError::new(format!("failed to mount {}: {e}", m.target))
                        })?;
                        mnt
                    }
                };
                let src = below(&root, path)?;
                if std::fs::symlink_metadata(&src).is_err() {
                    return Err(HostError::new(format!(
                        "failed to mount {}: {path}: not found",
                        m.target
                    )));
                }
                // Image files are shared by every container: never writable in place.
                out.binds.push(format!("{}:{}:ro", src.display(), m.target));
            }
            MountSource::Tmpfs => {
                out.tmpfs.insert(m.target.clone(), String::new());
            }
            MountSource::Secret { id } => {
                let Some(bytes) = secrets.secrets.get(id) else {
                    if m.required {
                        return Err(HostError::new(format!("secret {id}: not found")));
                    }
                    continue;
                };
                if let Some(var) = &m.env {
                    out.env
                        .push(format!("{var}={}", String::from_utf8_lossy(bytes)));
                }
                if m.target.is_empty() {
                    continue;
                }
                let file = secret_file(builder, m, id, bytes, &mut out)?;
                out.binds
                    .push(format!("{}:{}:ro", file.display(), m.target));
            }
            MountSource::Ssh { id } => {
                let is_socket =
                    |p: &String| std::fs::metadata(p).is_ok_and(|md| md.file_type().is_socket());
                let sock = secrets
                    .ssh
                    .get(id)
                    .and_then(|paths| paths.iter().find(|p| is_socket(p)));
                let Some(sock) = sock else {
                    if m.required {
                        return Err(HostError::new(format!(
                            "no SSH key {id:?} forwarded from the client"
                        )));
                    }
                    continue;
                };
                // Writable: connecting to a socket needs write access to it.
                out.binds.push(format!("{sock}:{}", m.target));
                if !out.env.iter().any(|e| e.starts_with("SSH_AUTH_SOCK=")) {
                    out.env.push(format!("SSH_AUTH_SOCK={}", m.target));
                }
            }
        }
        out.targets
            .push(PathBuf::from(m.target.trim_start_matches('/')));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_build::instructions::MountKind;

    fn mount(kind: MountKind, source: MountSource, target: &str) -> BuildMount {
        BuildMount {
            kind,
            source,
            target: target.into(),
            readonly: false,
            mode: None,
            uid: None,
            gid: None,
            required: false,
            env: None,
        }
    }

    #[test]
    fn cache_context_tmpfs_and_optional_secret() {
        let d = tempfile::tempdir().unwrap();
        let ctx = d.path().join("ctx");
        std::fs::create_dir_all(ctx.join("src")).unwrap();
        let mut cache = mount(
            MountKind::Cache,
            MountSource::Cache {
                id: "go-build".into(),
                sharing: "shared".into(),
            },
            "/root/.cache",
        );
        cache.mode = Some(0o700);
        cache.uid = Some(1000);
        let mut bind = mount(
            MountKind::Bind,
            MountSource::Context {
                root: ctx.clone(),
                path: "src".into(),
            },
            "/src",
        );
        bind.readonly = true;
        let ms = [
            cache,
            bind,
            mount(MountKind::Tmpfs, MountSource::Tmpfs, "/scratch"),
            mount(
                MountKind::Secret,
                MountSource::Secret { id: "tok".into() },
                "/run/secrets/tok",
            ),
        ];
        let none = |_: &str| -> Result<Vec<PathBuf>, HostError> { Ok(vec![]) };
        let s = prepare(d.path(), &ms, &BuildSecrets::default(), &none).unwrap();
        let cdir = cache_dir(d.path(), "go-build");
        assert_eq!(
            s.binds,
            [
                format!("{}:/root/.cache", cdir.display()),
                format!("{}:/src:ro", ctx.join("src").display())
            ]
        );
        let md = std::fs::metadata(&cdir).unwrap();
        assert_eq!(md.permissions().mode() & 0o7777, 0o700);
        assert_eq!(std::os::unix::fs::MetadataExt::uid(&md), 1000);
        assert!(s.tmpfs.contains_key("/scratch"));
        assert_eq!(
            s.targets,
            [
                PathBuf::from("root/.cache"),
                PathBuf::from("src"),
                PathBuf::from("scratch")
            ]
        );
        // The same id is the same directory in the next build.
        assert_eq!(cache_dir(d.path(), "go-build"), cdir);

        let mut secret = mount(
            MountKind::Secret,
            MountSource::Secret { id: "tok".into() },
            "/run/secrets/tok",
        );
        secret.required = true;
        let e = prepare(d.path(), &[secret], &BuildSecrets::default(), &none).unwrap_err();
        assert_eq!(e.to_string(), "secret tok: not found");
        let bad = mount(
            MountKind::Bind,
            MountSource::Context {
                root: ctx,
                path: "nope".into(),
            },
            "/x",
        );
        assert!(prepare(d.path(), &[bad], &BuildSecrets::default(), &none).is_err());
    }

    #[test]
    fn secrets_go_on_a_tmpfs_and_ssh_sockets_are_bound() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let none = |_: &str| -> Result<Vec<PathBuf>, HostError> { Ok(vec![]) };
        let sock = d.path().join("agent.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let mut secrets = BuildSecrets::default();
        secrets.secrets.insert("tok".into(), b"hunter2".to_vec());
        secrets.ssh.insert(
            "default".into(),
            vec!["/nonexistent".into(), sock.display().to_string()],
        );
        let mut file = mount(
            MountKind::Secret,
            MountSource::Secret { id: "tok".into() },
            "/run/secrets/tok",
        );
        file.mode = Some(0o440);
        file.uid = Some(7);
        let mut env_only = mount(
            MountKind::Secret,
            MountSource::Secret { id: "tok".into() },
            "",
        );
        env_only.env = Some("TOKEN".into());
        let ssh = mount(
            MountKind::Ssh,
            MountSource::Ssh {
                id: "default".into(),
            },
            "/run/buildkit/ssh_agent.0",
        );
        let mut s = prepare(d.path(), &[file, env_only, ssh], &secrets, &none).unwrap();
        assert_eq!(s.binds.len(), 2);
        let (src, rest) = s.binds[0].split_once(':').unwrap();
        assert_eq!(rest, "/run/secrets/tok:ro");
        assert_eq!(std::fs::read(src).unwrap(), b"hunter2");
        let md = std::fs::metadata(src).unwrap();
        assert_eq!(md.permissions().mode() & 0o7777, 0o440);
        assert_eq!(std::os::unix::fs::MetadataExt::uid(&md), 7);
        // On a tmpfs, not on the data root's disk.
        let mnt = Path::new(src).parent().unwrap();
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(info
            .lines()
            .any(|l| l.split(' ').nth(4) == Some(&*mnt.display().to_string())
                && l.contains(" - tmpfs ")));
        assert_eq!(
            s.binds[1],
            format!("{}:/run/buildkit/ssh_agent.0", sock.display())
        );
        assert_eq!(
            s.env,
            ["TOKEN=hunter2", "SSH_AUTH_SOCK=/run/buildkit/ssh_agent.0"]
        );
        assert_eq!(
            s.targets,
            [
                PathBuf::from("run/secrets/tok"),
                PathBuf::from("run/buildkit/ssh_agent.0")
            ]
        );
        let view = s.views[0].clone();
        s.release();
        assert!(!view.exists());
        assert!(!std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .contains(&*view.display().to_string()));

        // Missing ones: skipped unless required.
        let mut req = mount(
            MountKind::Ssh,
            MountSource::Ssh { id: "other".into() },
            "/a",
        );
        let s = prepare(d.path(), &[req.clone()], &secrets, &none).unwrap();
        assert!(s.binds.is_empty() && s.env.is_empty());
        req.required = true;
        let e = prepare(d.path(), &[req], &secrets, &none).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no SSH key \"other\" forwarded from the client"
        );
    }
}
