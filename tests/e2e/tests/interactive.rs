//! `run -it`, detach keys and `attach`, typed on a real pseudo-terminal, with `berth` and
//! with the `docker` CLI.

use berth_e2e::*;
use std::process::Command;

fn daemon() -> Daemon {
    assert!(is_root(), "end-to-end tests need root");
    let d = Daemon::start();
    d.import_busybox("busybox");
    d
}

/// Type into an interactive shell, detach with ctrl-p ctrl-q, re-attach, exit.
fn drive_tty(d: &Daemon, run: Command, attach: Command, name: &str) {
    let mut s = PtySession::spawn(run);
    s.send(b"echo $((6*7)); tty\r");
    assert!(s.expect("42", 15), "no shell answer: {:?}", s.output());
    assert!(s.expect("/dev/pts/0", 5), "not on a pty: {:?}", s.output());
    // Detach: the client ends, the container keeps running.
    s.send(b"\x10\x11");
    assert_eq!(
        s.wait(10),
        Some(0),
        "detach did not end the client: {:?}",
        s.output()
    );
    let running = d.berth(["inspect", "-f", "{{.State.Running}}", name]).ok();
    assert_eq!(running.stdout.trim(), "true");
    let mut a = PtySession::spawn(attach);
    std::thread::sleep(std::time::Duration::from_millis(300));
    a.send(b"echo again$((1+1))\r");
    assert!(
        a.expect("again2", 10),
        "re-attach lost the shell: {:?}",
        a.output()
    );
    a.send(b"exit 3\r");
    assert_eq!(
        a.wait(10),
        Some(3),
        "exit code not propagated: {:?}",
        a.output()
    );
    assert!(d.wait_for(5, || d
        .berth(["inspect", "-f", "{{.State.ExitCode}}", name])
        .stdout
        .trim()
        == "3"));
}

#[test]
fn berth_run_it_detach_and_attach() {
    let d = daemon();
    drive_tty(
        &d,
        d.berth_cmd(["run", "-it", "--name", "tty1", "busybox", "sh"]),
        d.berth_cmd(["attach", "tty1"]),
        "tty1",
    );
}

#[test]
fn docker_run_it_detach_and_attach() {
    let d = daemon();
    let (Some(run), Some(attach)) = (
        d.docker_cmd(["run", "-it", "--name", "tty2", "busybox", "sh"]),
        d.docker_cmd(["attach", "tty2"]),
    ) else {
        return;
    };
    drive_tty(&d, run, attach, "tty2");
}

#[test]
fn exec_it_gets_a_terminal() {
    let d = daemon();
    d.berth(["run", "-d", "--name", "ex", "busybox", "sleep", "1000"])
        .ok();
    let mut s = PtySession::spawn(d.berth_cmd(["exec", "-it", "ex", "sh"]));
    s.send(b"tty; stty size; exit 4\r");
    assert!(s.expect("/dev/pts/", 10), "{:?}", s.output());
    assert!(
        s.expect("24 80", 5),
        "terminal size not passed on: {:?}",
        s.output()
    );
    assert_eq!(s.wait(10), Some(4));
}

#[test]
fn stdin_is_piped_with_i() {
    let d = daemon();
    let mut c = d.berth_cmd(["run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z"]);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello berth\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "HELLO BERTH\n");
    assert_eq!(out.status.code(), Some(0));
}
