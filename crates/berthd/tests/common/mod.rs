//! Shared by the berthd integration tests: a `berthd` process on temp directories
//! (stopped with SIGTERM on drop, its log printed if the test failed), the shim binary,
//! a busybox root filesystem tarball, and cleanup of the test's cgroup parent.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const DOCKER: &str = "/usr/local/bin/docker";

/// A running berthd; killed (SIGTERM, then waited for) and cleaned up on drop.
pub struct Daemon {
    child: Option<Child>,
    pub dir: PathBuf,
    pub socket: PathBuf,
}

impl Daemon {
    pub fn start(name: &str) -> Daemon {
        let dir = std::env::temp_dir().join(format!("berthd-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("run/api.sock");
        let mut d = Daemon {
            child: None,
            dir,
            socket,
        };
        d.spawn(name);
        d
    }

    /// The berthd command line for this daemon's directories.
    pub fn command(&self, name: &str) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berthd"));
        cmd.arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .arg("--data-root")
            .arg(self.dir.join("data"))
            .arg("--exec-root")
            .arg(self.dir.join("run"))
            .arg("--config-file")
            .arg(self.dir.join("daemon.json"))
            .arg("--shim-binary")
            .arg(shim_binary())
            .arg("--cgroup-parent")
            .arg(format!("berth-test-{name}-{}", std::process::id()))
            // No default bridge (these tests run loopback-only containers) and chains
            // of their own: parallel daemons never share host networking state.
            .arg("--bridge")
            .arg("none")
            .arg("--iptables-chain-prefix")
            .arg(format!("BT{:x}", std::process::id()));
        cmd
    }

    /// Start berthd on this daemon's directories (again, after [`Daemon::stop`]).
    pub fn spawn(&mut self, name: &str) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("berthd.log"))
            .unwrap();
        let child = self
            .command(name)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawning berthd");
        self.child = Some(child);
        self.wait_ready();
    }

    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("berthd did not listen on {}", self.socket.display());
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new(DOCKER)
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args)
            .env("DOCKER_CONFIG", self.dir.join("docker-config"))
            .output()
            .expect("running docker")
    }

    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        // SAFETY: kill(2) on the pid of the child we spawned and have not reaped.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        child.wait().unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.stop();
        }
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.join("berthd.log")).unwrap_or_default();
            eprintln!("berthd log:\n{log}");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `berth-shim` beside `berthd` in this target dir; built if missing.
pub fn shim_binary() -> PathBuf {
    let berthd = PathBuf::from(env!("CARGO_BIN_EXE_berthd"));
    let shim = berthd.with_file_name("berth-shim");
    if !shim.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "-p", "berth-shim"])
            .status()
            .expect("building berth-shim");
        assert!(st.success());
    }
    shim
}

/// A busybox root filesystem tarball under `dir`.
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
        .args(["-cf"])
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    tar
}

/// Removes the daemon's cgroup parent (every v1 controller) on drop.
pub struct CgroupGuard(pub String);

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
            for ctrl in rd.flatten() {
                let p = ctrl.path().join(&self.0);
                if let Ok(kids) = std::fs::read_dir(&p) {
                    for k in kids.flatten().filter(|k| k.path().is_dir()) {
                        let _ = std::fs::remove_dir(k.path());
                    }
                }
                let _ = std::fs::remove_dir(&p);
            }
        }
    }
}

pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn have_docker() -> bool {
    Path::new(DOCKER).exists()
}
