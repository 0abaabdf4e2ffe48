//! The real docker CLI against the `berthd` binary: the daemon is started on a temp
//! socket with temp data and exec roots, and stopped (SIGTERM) when the test ends.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const DOCKER: &str = "/usr/local/bin/docker";

/// A running berthd; killed (SIGTERM, then waited for) and cleaned up on drop.
struct Daemon {
    child: Option<Child>,
    dir: PathBuf,
    socket: PathBuf,
}

impl Daemon {
    fn start(name: &str) -> Daemon {
        let dir = std::env::temp_dir().join(format!("berthd-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("run/api.sock");
        let child = Command::new(env!("CARGO_BIN_EXE_berthd"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("run"))
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .arg("--cgroup-parent")
            .arg(format!("berth-test-{name}-{}", std::process::id()))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning berthd");
        let d = Daemon {
            child: Some(child),
            dir,
            socket,
        };
        d.wait_ready();
        d
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("berthd did not listen on {}", self.socket.display());
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new(DOCKER)
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args)
            .env("DOCKER_CONFIG", self.dir.join("docker-config"))
            .output()
            .expect("running docker")
    }

    fn stop(&mut self) -> std::process::ExitStatus {
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
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn have_docker() -> bool {
    Path::new(DOCKER).exists()
}

#[test]
fn docker_version_and_info_against_berthd() {
    if !have_docker() {
        eprintln!("skipped: no docker CLI at {DOCKER}");
        return;
    }
    let mut d = Daemon::start("version");
    let o = d.docker(&["version"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("1.45 (minimum version 1.24)"), "{out}");
    assert!(out.contains("(downgraded from"), "{out}");

    let o = d.docker(&["info", "--format", "{{.Driver}} {{.OSType}} {{.Swarm.LocalNodeState}}"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "overlay2 linux inactive");

    // The socket is 0660, and the seccomp profile was written for the runtime.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o660);
    let profile = std::fs::read_to_string(d.dir.join("run/seccomp-default.json")).unwrap();
    assert!(profile.contains("\"defaultAction\""));

    // SIGTERM: clean exit, socket and pid file removed.
    let status = d.stop();
    assert!(status.success(), "{status:?}");
    assert!(!d.socket.exists());
    assert!(!d.dir.join("run/berthd.pid").exists());
}
