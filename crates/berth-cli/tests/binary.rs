//! Runs the built `berth` binary: flag errors and connection errors need no daemon.
//! With `BERTH_TEST_DOCKERD=1`, also starts a private real dockerd and compares our
//! table output byte for byte with the `docker` CLI's.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn berth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .env_remove("BERTH_HOST")
        .output()
        .expect("run berth")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn unknown_flag_is_125_with_docker_wording() {
    let o = berth(&[
        "-H",
        "unix:///nonexistent/x.sock",
        "run",
        "--foo",
        "busybox",
    ]);
    assert_eq!(o.status.code(), Some(125));
    let err = text(&o.stderr);
    assert!(
        err.starts_with(
            "unknown flag: --foo\n\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n"
        ),
        "{err}"
    );
    assert!(
        err.contains("Run 'berth run --help' for more information"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn unknown_command_and_missing_args_exit_1() {
    let o = berth(&["nosuchcommand"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).starts_with("berth: unknown command: berth nosuchcommand"));
    let o = berth(&["stop"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).starts_with("berth: 'berth stop' requires at least 1 argument"));
}

#[test]
fn daemon_unreachable_message() {
    let o = berth(&["-H", "unix:///nonexistent/x.sock", "ps"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o.stderr),
        "Cannot connect to the Berth daemon at unix:///nonexistent/x.sock. Is the berth daemon running?\n"
    );
    let o = berth(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o.stdout).starts_with("Berth version "));
}

/// A private dockerd, stopped and cleaned up on drop.
struct Dockerd {
    child: Child,
    root: PathBuf,
    sock: String,
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) on the pid of the child we spawned.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Unmount anything dockerd left below its root before removing it.
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "grep -o ' {0}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l",
                self.root.display()
            ))
            .status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn start_dockerd() -> Dockerd {
    let root = std::env::temp_dir().join(format!("berth-cli-dockerd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let sock = format!("unix://{}/d.sock", root.display());
    let child = Command::new("dockerd")
        .arg("--data-root")
        .arg(root.join("data"))
        .arg("--exec-root")
        .arg(root.join("exec"))
        .arg("--pidfile")
        .arg(root.join("d.pid"))
        .args(["-H", &sock, "--bridge=none", "--iptables=false"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dockerd");
    let d = Dockerd { child, root, sock };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if docker(&d, &["version"]).status.success() {
            return d;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("dockerd did not come up");
}

fn docker(d: &Dockerd, args: &[&str]) -> Output {
    Command::new("docker")
        .arg("-H")
        .arg(&d.sock)
        .args(args)
        .output()
        .expect("docker")
}

fn busybox_tar(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    for d in ["etc", "proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for app in ["sh", "echo", "sleep", "true"] {
        let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(app));
    }
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\n").unwrap();
    let tar = dir.join("rootfs.tar");
    let ok = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(ok.success());
    tar
}

/// Same output from both CLIs (retried: "N seconds ago" may tick between runs).
fn same(d: &Dockerd, args: &[&str]) {
    let mut last = (String::new(), String::new());
    for _ in 0..3 {
        let want = docker(d, args);
        let mut full = vec!["-H", d.sock.as_str()];
        full.extend_from_slice(args);
        let got = berth(&full);
        let w = text(&want.stdout);
        let g = text(&got.stdout);
        if w == g && want.status.code() == got.status.code() {
            return;
        }
        last = (w, g);
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!(
        "{args:?} differs:\n--- docker\n{}\n--- berth\n{}",
        last.0, last.1
    );
}

#[test]
fn tables_match_real_docker() {
    if std::env::var("BERTH_TEST_DOCKERD").as_deref() != Ok("1") {
        eprintln!("skipped: set BERTH_TEST_DOCKERD=1 to compare with a real dockerd");
        return;
    }
    let d = start_dockerd();
    let tar = busybox_tar(&d.root);
    assert!(docker(&d, &["import", tar.to_str().unwrap(), "busybox"])
        .status
        .success());
    let mut run = vec![
        "-H",
        d.sock.as_str(),
        "run",
        "--name",
        "exited",
        "busybox",
        "sh",
        "-c",
        "echo out; exit 3",
    ];
    let o = berth(&run);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(text(&o.stdout), "out\n");
    run = vec![
        "-H",
        d.sock.as_str(),
        "run",
        "-d",
        "--name",
        "running",
        "-l",
        "a=b",
        "busybox",
        "sleep",
        "100",
    ];
    assert!(berth(&run).status.success());
    same(&d, &["ps"]);
    same(&d, &["ps", "-a"]);
    same(&d, &["ps", "-a", "-s"]);
    same(&d, &["ps", "-aq", "--no-trunc"]);
    same(&d, &["ps", "-a", "--format", "{{json .}}"]);
    same(
        &d,
        &[
            "ps",
            "-a",
            "--format",
            "table {{.Names}}\\t{{.Label \"a\"}}\\t{{.State}}",
        ],
    );
    same(&d, &["images"]);
    same(&d, &["images", "--digests", "--no-trunc"]);
    same(
        &d,
        &[
            "inspect",
            "--format",
            "{{.Name}} {{.State.ExitCode}} {{json .Config.Cmd}}",
            "exited",
        ],
    );
    same(&d, &["logs", "exited"]);
    same(&d, &["wait", "exited"]);
    same(&d, &["top", "running"]);
    same(&d, &["history", "busybox"]);
    same(&d, &["system", "df"]);
    same(&d, &["port", "running"]);
    same(&d, &["events", "--since", "1h", "--until", "0s"]);
    same(
        &d,
        &[
            "events",
            "--since",
            "1h",
            "--until",
            "0s",
            "--format",
            "{{json .}}",
        ],
    );
    assert!(docker(&d, &["volume", "create", "v1"]).status.success());
    same(&d, &["volume", "ls"]);
    same(&d, &["network", "ls"]);
    same(&d, &["volume", "inspect", "v1"]);
    // cp into the container and back.
    let file = d.root.join("cp-src.txt");
    std::fs::write(&file, "copied\n").unwrap();
    let to = berth(&[
        "-H",
        d.sock.as_str(),
        "cp",
        file.to_str().unwrap(),
        "running:/tmp/x.txt",
    ]);
    assert!(to.status.success(), "{}", text(&to.stderr));
    let back = d.root.join("cp-back.txt");
    let from = berth(&[
        "-H",
        d.sock.as_str(),
        "cp",
        "running:/tmp/x.txt",
        back.to_str().unwrap(),
    ]);
    assert!(from.status.success(), "{}", text(&from.stderr));
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "copied\n");
    same(&d, &["diff", "running"]);
    let o = berth(&["-H", d.sock.as_str(), "rm", "-f", "exited", "running"]);
    assert!(o.status.success());
    stdin_and_signals(&d.sock);
}

/// `run -i` copies stdin until EOF then half-closes; the signal proxy forwards
/// SIGTERM to the container; both exit with the container's status.
fn stdin_and_signals(sock: &str) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args([
            "-H",
            sock,
            "run",
            "-i",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "cat; exit 7",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"data\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(text(&o.stdout), "data\n");
    assert_eq!(o.status.code(), Some(7));

    let child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args([
            "-H",
            sock,
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "trap 'echo got TERM; exit 9' TERM; echo ready; sleep 10 & wait",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill(2) on the pid of the child we spawned.
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(text(&o.stdout), "ready\ngot TERM\n");
    assert_eq!(o.status.code(), Some(9));
}
