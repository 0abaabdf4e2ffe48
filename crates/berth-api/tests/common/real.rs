//! Helpers for tests against the real engine: the `berth-shim` binary (built on
//! demand in this target dir), a busybox root filesystem tarball, and cleanup of the
//! test's cgroup parent.
#![cfg(feature = "engine")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// `berth-shim` next to the test binaries' target dir; built if missing.
pub fn shim_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> → target/<profile>/berth-shim
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let shim = profile_dir.join("berth-shim");
    if !shim.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "berth-shim"])
            .status()
            .expect("building berth-shim");
        assert!(status.success(), "building berth-shim failed");
    }
    assert!(shim.exists(), "no berth-shim at {}", shim.display());
    shim
}

/// A tarball of a busybox root filesystem (sh, echo, cat, sleep, …) under `dir`.
pub fn busybox_tar(dir: &Path) -> PathBuf {
    let root = dir.join("bb-rootfs");
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
        }
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
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

/// Removes the test's cgroup parent directories (in every v1 controller) on drop.
pub struct CgroupGuard(pub String);

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            for ctrl in rd.flatten() {
                let p = ctrl.path().join(&self.0);
                if p.is_dir() {
                    // Children first (containers left over after a failed test).
                    if let Ok(kids) = std::fs::read_dir(&p) {
                        for k in kids.flatten() {
                            if k.path().is_dir() {
                                let _ = std::fs::remove_dir(k.path());
                            }
                        }
                    }
                    let _ = std::fs::remove_dir(&p);
                }
            }
        }
    }
}

/// A test server over a real engine rooted in the server's temp dir.
pub fn engine_server(name: &str) -> (super::TestServer, CgroupGuard) {
    let shim = shim_binary();
    let cgroup = format!("berth-apitest-{name}-{}", std::process::id());
    let guard = CgroupGuard(cgroup.clone());
    let srv = super::TestServer::start_with(name, move |dir| {
        Box::pin(async move {
            let mut cfg = berth_engine::EngineConfig::new(dir.join("data"), dir.join("run"), shim);
            cfg.cgroup_parent = cgroup;
            let engine = berth_engine::Engine::open(cfg).await.expect("engine opens");
            Arc::new(berth_api::EngineBackend::new(engine)) as Arc<dyn berth_api::Backend>
        })
    });
    (srv, guard)
}
