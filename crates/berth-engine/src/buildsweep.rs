//! Cleaning up after builds a daemon crash interrupted.
//!
//! A build's step containers are ordinary containers with shims of their own, so they
//! outlive a daemon killed mid-`RUN` (live restore) — but the build they belong to died
//! with the daemon, and nobody would ever remove them. While a build runs, each of its
//! step containers is marked by an empty file in `<data-root>/builder/ctx-<id>.steps/`
//! ([`mark`], [`unmark`] when the step's container is removed, [`build_ended`] when the
//! build ends, so containers a build keeps with `--rm=false` stay). When the engine
//! opens, after the containers are restored and before the API serves,
//! [`Engine::sweep_interrupted_builds`] kills and removes every container still marked
//! and deletes the builds' work directories (`ctx-*`, `view-*`, `scratch-*`, and the
//! `mnt-*` views of `RUN --mount` — image overlays, secret tmpfs — unmounting whatever
//! is still mounted below them). Only the build cache index stays.

use crate::Engine;
use std::path::{Path, PathBuf};

const STEPS_EXT: &str = "steps";

/// The marker directory of the build whose context dir is `ctx` (`ctx-<id>`; any path
/// with that stem, e.g. its `.url` download dir, names the same build).
fn steps_dir(ctx: &Path) -> PathBuf {
    ctx.with_extension(STEPS_EXT)
}

/// Record that `id` is a step container of the build of `ctx` (until [`unmark`]).
pub(crate) fn mark(ctx: &Path, id: &str) {
    let dir = steps_dir(ctx);
    let _ = std::fs::create_dir_all(&dir);
    // Best effort: a missing marker only means a leftover after a crash mid-step.
    let _ = std::fs::write(dir.join(id), b"");
}

/// The step container `id` of the build of `ctx` is gone.
pub(crate) fn unmark(ctx: &Path, id: &str) {
    let _ = std::fs::remove_file(steps_dir(ctx).join(id));
}

/// The build of `ctx` ended (however): its markers go.
pub(crate) fn build_ended(ctx: &Path) {
    let _ = std::fs::remove_dir_all(steps_dir(ctx));
}

fn builder_dir(data_root: &Path) -> PathBuf {
    data_root.join("builder")
}

/// Work entries of builds (everything but the cache index and its temp files).
fn is_build_work(name: &str) -> bool {
    ["ctx-", "view-", "scratch-", "mnt-"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// Unmount (lazily) every mount at or below `dir`, deepest first.
fn unmount_below(dir: &Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in points {
        let _ = nix::mount::umount2(p.as_path(), nix::mount::MntFlags::MNT_DETACH);
    }
}

impl Engine {
    /// Remove what builds of an earlier daemon process left: their step containers
    /// (killed first) and work directories. Runs once at open, when no build of this
    /// process can be running yet.
    pub(crate) async fn sweep_interrupted_builds(&self) {
        let dir = builder_dir(&self.cfg.data_root);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            return;
        };
        let entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        // Step containers first: their markers live in entries removed below.
        for p in entries
            .iter()
            .filter(|p| p.extension().is_some_and(|x| x == STEPS_EXT))
        {
            let Ok(ids) = std::fs::read_dir(p) else {
                continue;
            };
            for id in ids.flatten() {
                let id = id.file_name().to_string_lossy().into_owned();
                // Force: a step container may still be running its command.
                match self.remove(&id, true, true).await {
                    Ok(()) => eprintln!(
                        "berth-engine: removed container {id} of a build interrupted by a restart"
                    ),
                    Err(e) if e.kind == crate::error::ErrorKind::NotFound => {}
                    Err(e) => eprintln!("berth-engine: removing build container {id}: {e}"),
                }
            }
        }
        for p in entries {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !is_build_work(&name) {
                continue;
            }
            unmount_below(&p);
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_come_and_go_and_work_names_are_known() {
        let root = std::env::temp_dir().join(format!("berth-buildsweep-{}", std::process::id()));
        let ctx = root.join("ctx-1-ab");
        mark(&ctx, "abc");
        mark(&ctx.with_extension("url"), "def");
        assert!(root.join("ctx-1-ab.steps/abc").exists());
        assert!(root.join("ctx-1-ab.steps/def").exists());
        unmark(&ctx, "abc");
        assert!(!root.join("ctx-1-ab.steps/abc").exists());
        build_ended(&ctx);
        assert!(!root.join("ctx-1-ab.steps").exists());
        std::fs::remove_dir_all(&root).unwrap();
        assert!(is_build_work("ctx-12-ab"));
        assert!(is_build_work("ctx-12-ab.url"));
        assert!(is_build_work("ctx-12-ab.steps"));
        assert!(is_build_work("view-1-x"));
        assert!(is_build_work("scratch-x"));
        assert!(is_build_work("mnt-12-ab"));
        assert!(!is_build_work("cache.json"));
    }
}
