//! Test fixture: an engine on a temp data root with a busybox image imported, the shim
//! built from this workspace, and a guard that kills every process and removes every
//! cgroup the test made, even when it fails.

#![allow(dead_code)]

use berth_engine::{Engine, EngineConfig};
use berth_types::docker::CreateRequest;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

/// The shim binary next to this test binary (`<target>/debug/berth-shim`), built once.
pub fn shim_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("current exe");
            // <target>/debug/deps/<test> → <target>/debug
            let dir = exe
                .parent()
                .and_then(|p| p.parent())
                .expect("target dir")
                .to_path_buf();
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "-q", "-p", "berth-shim"])
                .env("CARGO_TARGET_DIR", dir.parent().expect("target root"))
                .status()
                .expect("cargo build berth-shim");
            assert!(status.success(), "building berth-shim failed");
            dir.join("berth-shim")
        })
        .clone()
}

/// A busybox rootfs tar made from the host's static busybox.
pub fn busybox_tar(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
        }
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    let tar = dir.join("busybox.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    tar
}

/// Kills what a test left running and removes its cgroups on drop.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub cfg: EngineConfig,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("be")
            .tempdir_in("/tmp")
            .unwrap();
        let mut suffix = [0u8; 4];
        getrandom::fill(&mut suffix).unwrap();
        let mut cfg = EngineConfig::new(
            dir.path().join("data"),
            dir.path().join("run"),
            shim_binary(),
        );
        cfg.cgroup_parent = format!("berth-test-{}", hex::encode(suffix));
        Fixture { dir, cfg }
    }

    /// Opens an engine on this fixture's data root.
    pub async fn engine(&self) -> Arc<Engine> {
        Engine::open(self.cfg.clone()).await.expect("open engine")
    }

    /// Opens an engine and imports busybox as `busybox:latest`.
    pub async fn engine_with_busybox(&self) -> Arc<Engine> {
        let e = self.engine().await;
        let tar = busybox_tar(self.dir.path());
        let f = std::fs::File::open(tar).unwrap();
        e.image_import(
            Box::new(f),
            Some("busybox:latest".into()),
            vec![
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                "CMD [\"sh\"]".into(),
            ],
            String::new(),
        )
        .await
        .expect("import busybox");
        e
    }

    fn kill_pid_file(p: &Path) {
        if let Ok(s) = std::fs::read_to_string(p) {
            if let Ok(pid) = s.trim().parse::<i32>() {
                if pid > 1 {
                    // SAFETY: kill(2) with a pid read from our own test's files.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // The shims' pid files are under the exec root.
        let cdir = self.cfg.exec_root.join("c");
        if let Ok(rd) = std::fs::read_dir(&cdir) {
            for e in rd.flatten() {
                let d = e.path();
                Self::kill_pid_file(&d.join("init.pid"));
                Self::kill_pid_file(&d.join("shim.pid"));
                if let Ok(ex) = std::fs::read_dir(d.join("exec")) {
                    for x in ex.flatten() {
                        if x.path().extension().is_some_and(|e| e == "pid") {
                            Self::kill_pid_file(&x.path());
                        }
                    }
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        // Remove this test's cgroups in every hierarchy (children first).
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            for c in rd.flatten() {
                let parent = c.path().join(&self.cfg.cgroup_parent);
                if let Ok(kids) = std::fs::read_dir(&parent) {
                    for k in kids.flatten() {
                        if k.path().is_dir() {
                            let _ = std::fs::remove_dir(k.path());
                        }
                    }
                }
                let _ = std::fs::remove_dir(&parent);
            }
        }
    }
}

/// A create body for busybox with the given command.
pub fn busybox(cmd: &[&str]) -> CreateRequest {
    let mut r = CreateRequest::default();
    r.config.image = "busybox".into();
    if !cmd.is_empty() {
        r.config.cmd = Some(cmd.iter().map(|s| s.to_string()).collect());
    }
    r
}

/// Splits a multiplexed stream into (stdout, stderr).
pub fn demux(mut b: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while b.len() >= 8 {
        let n = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        let payload = &b[8..8 + n.min(b.len() - 8)];
        match b[0] {
            1 => out.extend_from_slice(payload),
            2 => err.extend_from_slice(payload),
            _ => {}
        }
        b = &b[(8 + n).min(b.len())..];
    }
    (out, err)
}
