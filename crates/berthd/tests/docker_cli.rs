//! The real docker CLI against the `berthd` binary: the daemon is started on a temp
//! socket with temp data and exec roots, and stopped (SIGTERM) when the test ends.

mod common;
use common::{busybox_tar, have_docker, text, CgroupGuard, Daemon, DOCKER};
use std::path::Path;

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

    let o = d.docker(&[
        "info",
        "--format",
        "{{.Driver}} {{.OSType}} {{.Swarm.LocalNodeState}}",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "overlay2 linux inactive"
    );

    // The socket is 0660, and the seccomp profile was written for the runtime.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o660);
    let profile = std::fs::read_to_string(d.dir.join("run/seccomp-default.json")).unwrap();
    assert!(profile.contains("\"defaultAction\""));

    // A second daemon on the same exec root refuses to start and leaves the first
    // one's pid file alone.
    let second = d.command("version").output().unwrap();
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("pid file found"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(d.dir.join("run/berthd.pid").exists());
    assert!(d.docker(&["version"]).status.success());

    // SIGTERM: clean exit, socket and pid file removed.
    let status = d.stop();
    assert!(status.success(), "{status:?}");
    assert!(!d.socket.exists());
    assert!(!d.dir.join("run/berthd.pid").exists());
}

#[test]
fn docker_import_ps_run_logs_exec_rm_against_berthd() {
    if !have_docker() {
        eprintln!("skipped: no docker CLI at {DOCKER}");
        return;
    }
    let _cg = CgroupGuard(format!("berth-test-cli-{}", std::process::id()));
    let d = Daemon::start("cli");
    let tar = busybox_tar(&d.dir);
    let o = d.docker(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        tar.to_str().unwrap(),
        "busybox:latest",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("sha256:"));

    let o = d.docker(&["ps"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("CONTAINER ID"));

    let o = d.docker(&["run", "--rm", "busybox", "echo", "hello"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hello\n");

    let o = d.docker(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));

    let o = d.docker(&[
        "run",
        "-d",
        "--name",
        "bg",
        "busybox",
        "sh",
        "-c",
        "echo started; sleep 60",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = d.docker(&["exec", "bg", "echo", "in-exec"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "in-exec\n",
        "{}",
        text(&o)
    );
    let o = d.docker(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).starts_with("bg Up"),
        "{}",
        text(&o)
    );
    let o = d.docker(&["logs", "bg"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "started\n",
        "{}",
        text(&o)
    );
    let o = d.docker(&["rm", "-f", "bg"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = d.docker(&["ps", "-a", "-q"]);
    assert!(o.stdout.is_empty(), "{}", text(&o));

    // A missing image is pulled first; the registry here is a closed loopback port
    // (tests never leave the machine), so the pull fails with Docker's dial error.
    let o = d.docker(&["run", "--rm", "127.0.0.1:1/nope"]);
    assert_eq!(o.status.code(), Some(125), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Unable to find image '127.0.0.1:1/nope:latest' locally"),
        "{err}"
    );
    assert!(err.contains("connection refused"), "{err}");
}

#[test]
fn sigterm_keeps_containers_running_and_restart_reconnects() {
    if !have_docker() {
        eprintln!("skipped: no docker CLI at {DOCKER}");
        return;
    }
    let _cg = CgroupGuard(format!("berth-test-restore-{}", std::process::id()));
    let mut d = Daemon::start("restore");
    let tar = busybox_tar(&d.dir);
    let o = d.docker(&["import", tar.to_str().unwrap(), "busybox:latest"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = d.docker(&[
        "run",
        "-d",
        "--name",
        "live",
        "busybox",
        "sh",
        "-c",
        "while true; do echo tick; sleep 0.2; done",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = d.docker(&["inspect", "--format", "{{.State.Pid}}", "live"]);
    let pid: i32 = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
    assert!(pid > 0);

    let status = d.stop();
    assert!(status.success());
    // The container outlived the daemon.
    assert!(Path::new(&format!("/proc/{pid}")).exists());

    d.spawn("restore");
    let o = d.docker(&["ps", "--format", "{{.Names}} {{.State}}"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "live running",
        "{}",
        text(&o)
    );
    let o = d.docker(&["logs", "--tail", "1", "live"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "tick\n", "{}", text(&o));
    let o = d.docker(&["rm", "-f", "live"]);
    assert!(o.status.success(), "{}", text(&o));
}
