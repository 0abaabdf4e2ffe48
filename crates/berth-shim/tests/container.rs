//! The shim with real containers from `berth-runtime` (root; busybox rootfs).

mod common;

use berth_logfile::{read, ReadOptions, Stream};
use berth_types::shim::{Request, Task};
use berth_types::spec::ExecSpec;
use common::*;
use std::io::{Read, Write};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

#[test]
fn container_output_log_exit_and_cgroup_removal() {
    let b = Bundle::new("out");
    let spec = b.spec(&["sh", "-c", "echo out1; echo err1 >&2; echo $$; exit 3"]);
    let Some(mut shim) = container_shim(&b, spec, |_| {}) else {
        return;
    };
    assert!(shim.reply.ok, "{:?}", shim.reply);
    assert!(b.cgroup_exists());
    let mut att = attach(shim.socket(), false, true, true);
    let mut waiter = connect(shim.socket());
    waiter.write_all(b"{\"op\":\"wait\"}\n").unwrap();
    let r = shim.request(&Request::Start);
    assert!(r.ok, "{r:?}");
    let (out, err) = demux(&read_all(&mut att));
    // PID 1 in its own pid namespace.
    assert_eq!(String::from_utf8(out).unwrap(), "out1\n1\n");
    assert_eq!(String::from_utf8(err).unwrap(), "err1\n");
    let w: berth_types::shim::Reply = serde_json::from_str(&read_line(&mut waiter)).unwrap();
    assert_eq!(w.exit.unwrap().exit_code, 3);
    // By default the socket and the cgroup are gone before the exit is told: a restart
    // may make them again.
    assert!(
        !shim.socket().exists(),
        "socket removed before the wait reply"
    );
    assert!(!b.cgroup_exists(), "cgroup removed before the wait reply");
    assert_eq!(shim.wait_exit(T), 0);
    assert_eq!(shim.exit_status().exit_code, 3);
    assert!(!shim.exit_status().oom_killed);
    assert!(!b.cgroup_exists(), "cgroup removed at exit");
    let log = read(&shim.log_path(), &ReadOptions::default()).unwrap();
    let mut got: Vec<(Stream, String)> = log
        .iter()
        .map(|e| (e.stream, String::from_utf8(e.line.clone()).unwrap()))
        .collect();
    got.sort_by_key(|(s, _)| *s == Stream::Stderr);
    assert_eq!(
        got,
        vec![
            (Stream::Stdout, "out1\n".into()),
            (Stream::Stdout, "1\n".into()),
            (Stream::Stderr, "err1\n".into())
        ]
    );
}

#[test]
fn container_kill_all_is_137() {
    let b = Bundle::new("kill");
    let spec = b.spec(&["sh", "-c", "sleep 100 & sleep 100 & wait"]);
    let Some(mut shim) = container_shim(&b, spec, |_| {}) else {
        return;
    };
    assert!(shim.reply.ok, "{:?}", shim.reply);
    assert!(shim.request(&Request::Start).ok);
    std::thread::sleep(Duration::from_millis(200));
    let r = shim.request(&Request::Kill {
        signal: libc::SIGKILL,
        all: true,
    });
    assert!(r.ok, "{r:?}");
    assert_eq!(shim.wait_exit(T), 0);
    let e = shim.exit_status();
    assert_eq!((e.exit_code, e.signal), (137, Some(9)));
}

#[test]
fn container_sigterm_to_init_exits_143() {
    let b = Bundle::new("term");
    // PID 1 ignores signals it has no handler for: trap TERM explicitly.
    let spec = b.spec(&[
        "sh",
        "-c",
        "trap 'exit 143' TERM; while :; do sleep 0.05; done",
    ]);
    let Some(mut shim) = container_shim(&b, spec, |_| {}) else {
        return;
    };
    assert!(shim.reply.ok, "{:?}", shim.reply);
    assert!(shim.request(&Request::Start).ok);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        shim.request(&Request::Kill {
            signal: libc::SIGTERM,
            all: false
        })
        .ok
    );
    assert_eq!(shim.wait_exit(T), 0);
    assert_eq!(shim.exit_status().exit_code, 143);
}

#[test]
fn container_stdin_reaches_cat() {
    let b = Bundle::new("cat");
    let spec = b.spec(&["cat"]);
    let Some(mut shim) = container_shim(&b, spec, |c| {
        c.open_stdin = true;
        c.stdin_once = true;
    }) else {
        return;
    };
    assert!(shim.reply.ok, "{:?}", shim.reply);
    let mut att = attach(shim.socket(), true, true, true);
    assert!(shim.request(&Request::Start).ok);
    att.write_all(b"through the container\n").unwrap();
    att.shutdown(std::net::Shutdown::Write).unwrap();
    let (out, _) = demux(&read_all(&mut att));
    assert_eq!(out, b"through the container\n");
    assert_eq!(shim.wait_exit(T), 0);
    assert_eq!(shim.exit_status().exit_code, 0);
}

#[test]
fn container_tty_raw_and_resize() {
    let b = Bundle::new("tty");
    // `ls /dev/pts`: the terminal comes from the container's own devpts.
    let mut spec = b.spec(&[
        "sh",
        "-c",
        "tty; ls /dev/pts | tr '\\n' ' '; echo; stty size; read x; stty size; echo \"got $x\"",
    ]);
    spec.process.terminal = true;
    spec.process.console_size = Some((30, 90));
    let Some(mut shim) = container_shim(&b, spec, |c| {
        c.tty = true;
        c.open_stdin = true;
    }) else {
        return;
    };
    assert!(shim.reply.ok, "{:?}", shim.reply);
    let mut att = attach(shim.socket(), true, true, true);
    assert!(shim.request(&Request::Start).ok);
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("30 90") {
        let n = att.read(&mut buf).unwrap();
        assert!(n > 0, "eof: {:?}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(
        shim.request(&Request::Resize {
            height: 50,
            width: 120
        })
        .ok
    );
    att.write_all(b"yo\n").unwrap();
    seen.extend(read_all(&mut att));
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(
        seen.starts_with(b"/dev/pts/0\r\n0 ptmx \r\n30 90\r\n"),
        "{text:?}"
    );
    assert!(text.contains("50 120\r\ngot yo\r\n"), "{text:?}");
    assert_eq!(shim.wait_exit(T), 0);
    // The log has the terminal's output too, all on stdout.
    let log = read(&shim.log_path(), &ReadOptions::default()).unwrap();
    assert_eq!(log[0].line, b"/dev/pts/0\r\n");
    assert!(log.iter().all(|e| e.stream == Stream::Stdout));
}

/// `exec -t` into a container running on its own terminal: the exec gets the next pts
/// of the container's devpts, sized as asked, and resizable.
#[test]
fn container_exec_tty_is_a_pts_of_the_container() {
    let b = Bundle::new("exectty");
    let mut spec = b.spec(&["sleep", "100"]);
    spec.process.terminal = true;
    let Some(mut ctr) = container_shim(&b, spec.clone(), |c| c.tty = true) else {
        return;
    };
    assert!(ctr.reply.ok, "{:?}", ctr.reply);
    assert!(ctr.request(&Request::Start).ok);
    let mut p = spec.process.clone();
    p.args = vec![
        "sh".into(),
        "-c".into(),
        "tty; stty size; read x; stty size; exit 5".into(),
    ];
    // The config's `tty` decides, whatever the process says.
    p.terminal = false;
    p.console_size = Some((24, 80));
    let exec = ExecSpec {
        container_id: spec.id.clone(),
        target_pid: ctr.reply.pid.unwrap(),
        cgroup_path: b.cgroup.clone(),
        process: p,
        privileged: false,
    };
    let mut ex = Shim::start(
        |d| {
            let mut c = config(d, Task::Exec(exec));
            c.id = "exectty1".into();
            c.tty = true;
            c.open_stdin = true;
            c
        },
        false,
    );
    assert!(ex.reply.ok, "{:?}", ex.reply);
    let mut att = attach(ex.socket(), true, true, true);
    assert!(ex.request(&Request::Start).ok);
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("24 80") {
        let n = att.read(&mut buf).unwrap();
        assert!(n > 0, "eof: {:?}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(
        ex.request(&Request::Resize {
            height: 33,
            width: 77
        })
        .ok
    );
    att.write_all(b"go\n").unwrap();
    seen.extend(read_all(&mut att));
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(seen.starts_with(b"/dev/pts/1\r\n24 80\r\n"), "{text:?}");
    assert!(text.contains("33 77\r\n"), "{text:?}");
    assert_eq!(ex.wait_exit(T), 0);
    assert_eq!(ex.exit_status().exit_code, 5);
    assert!(
        ctr.request(&Request::Kill {
            signal: libc::SIGKILL,
            all: false
        })
        .ok
    );
    assert_eq!(ctr.wait_exit(T), 0);
}

#[test]
fn container_missing_binary_is_127() {
    let b = Bundle::new("missing");
    let spec = b.spec(&["definitely-not-here"]);
    let Some(mut shim) = container_shim(&b, spec, |_| {}) else {
        return;
    };
    assert!(!shim.reply.ok);
    assert_eq!(shim.reply.exit_code, Some(127), "{:?}", shim.reply);
    assert!(
        shim.reply
            .error
            .contains("exec: \"definitely-not-here\": executable file not found in $PATH"),
        "{}",
        shim.reply.error
    );
    assert_eq!(shim.wait_exit(T), 1);
    assert!(!shim.socket().exists());
    assert!(!b.cgroup_exists(), "a failed create leaves no cgroup");
}

#[test]
fn container_exec_task() {
    let b = Bundle::new("exec");
    let spec = b.spec(&["sleep", "100"]);
    let Some(mut ctr) = container_shim(&b, spec.clone(), |_| {}) else {
        return;
    };
    assert!(ctr.reply.ok, "{:?}", ctr.reply);
    assert!(ctr.request(&Request::Start).ok);
    let init = ctr.reply.pid.unwrap();
    let mut p = spec.process.clone();
    p.args = vec![
        "sh".into(),
        "-c".into(),
        "hostname; echo $$ >&2; exit 4".into(),
    ];
    let exec = ExecSpec {
        container_id: spec.id.clone(),
        target_pid: init,
        cgroup_path: b.cgroup.clone(),
        process: p,
        privileged: false,
    };
    let mut ex = Shim::start(
        |d| {
            let mut c = config(d, Task::Exec(exec));
            c.id = "exec1".into();
            c
        },
        false,
    );
    assert!(ex.reply.ok, "{:?}", ex.reply);
    let mut att = attach(ex.socket(), false, true, true);
    assert!(ex.request(&Request::Start).ok);
    let (out, err) = demux(&read_all(&mut att));
    assert_eq!(String::from_utf8(out).unwrap(), "shimtest\n");
    let pid_in_ns: i32 = String::from_utf8(err).unwrap().trim().parse().unwrap();
    assert!(pid_in_ns > 1);
    assert_eq!(ex.wait_exit(T), 0);
    assert_eq!(ex.exit_status().exit_code, 4);
    assert!(!ex.log_path().exists());
    // The container is untouched by the exec's end, its cgroup too.
    assert!(ctr.request(&Request::State).running);
    assert!(b.cgroup_exists());
    assert!(
        ctr.request(&Request::Kill {
            signal: libc::SIGKILL,
            all: false
        })
        .ok
    );
    assert_eq!(ctr.wait_exit(T), 0);
    assert_eq!(ctr.exit_status().exit_code, 137);
}

#[test]
fn container_oom_kill_is_reported() {
    let b = Bundle::new("oom");
    let mut spec = b.spec(&["dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=1"]);
    spec.cgroup.resources.memory = Some(16 << 20);
    spec.cgroup.resources.memory_swap = Some(16 << 20);
    let Some(mut shim) = container_shim(&b, spec, |_| {}) else {
        return;
    };
    assert!(shim.reply.ok, "{:?}", shim.reply);
    assert!(shim.request(&Request::Start).ok);
    assert_eq!(shim.wait_exit(T), 0);
    let e = shim.exit_status();
    assert_eq!(e.exit_code, 137, "{e:?}");
    assert!(e.oom_killed, "{e:?}");
}

#[test]
fn container_survives_parent_kill() {
    let b = Bundle::new("survive");
    let spec = b.spec(&[
        "sh",
        "-c",
        "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.05; done",
    ]);
    let dir = tempfile::Builder::new().prefix("bshim").tempdir().unwrap();
    let cfg = config(dir.path(), Task::Container(spec));
    let cfg_path = dir.path().join("shim.json");
    std::fs::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    let out = dir.path().join("reply");
    let mut mid = std::process::Command::new("sh")
        .arg("-c")
        .arg("\"$0\" run \"$1\" > \"$2\" & wait")
        .arg(SHIM)
        .arg(&cfg_path)
        .arg(&out)
        .env_remove("BERTH_SHIM_TEST_HOST")
        .spawn()
        .unwrap();
    let mut guard = Shim {
        dir,
        cfg,
        child: None,
        reply: Default::default(),
        pids: Vec::new(),
    };
    assert!(eventually(T, || std::fs::read_to_string(&out)
        .is_ok_and(|s| s.ends_with('\n'))));
    let reply: berth_types::shim::Reply =
        serde_json::from_str(std::fs::read_to_string(&out).unwrap().trim()).unwrap();
    if !reply.ok && reply.error.contains("not built yet") {
        let _ = mid.kill();
        let _ = mid.wait();
        return;
    }
    assert!(reply.ok, "{reply:?}");
    let pid = reply.pid.unwrap();
    let shim_pid = guard.shim_pid();
    guard.pids = vec![pid, shim_pid];
    assert!(guard.request(&Request::Start).ok);
    mid.kill().unwrap();
    mid.wait().unwrap();
    let count = || {
        read(&guard.log_path(), &ReadOptions::default())
            .unwrap()
            .len()
    };
    let before = count();
    assert!(eventually(T, || count() > before + 3), "log keeps growing");
    assert!(alive(shim_pid) && alive(pid));
    assert!(
        guard
            .request(&Request::Kill {
                signal: libc::SIGKILL,
                all: true
            })
            .ok
    );
    assert!(
        eventually(T, || !alive(shim_pid)),
        "shim exits after the container"
    );
    assert_eq!(guard.exit_status().exit_code, 137);
    assert!(!b.cgroup_exists());
}

#[test]
fn container_early_reply_then_start_runs_it() {
    let b = Bundle::new("early");
    let spec = b.spec(&["sh", "-c", "echo early; exit 4"]);
    let Some(mut shim) = container_shim(&b, spec, |c| c.reply_at_pid = true) else {
        return;
    };
    assert!(shim.reply.ok, "{:?}", shim.reply);
    assert!(shim.reply.pid.is_some_and(|p| p > 0));
    let mut att = attach(shim.socket(), false, true, true);
    assert!(shim.request(&Request::Start).ok);
    let (out, _) = demux(&read_all(&mut att));
    assert_eq!(String::from_utf8(out).unwrap(), "early\n");
    assert_eq!(shim.wait_exit(T), 0);
    assert_eq!(shim.exit_status().exit_code, 4);
    assert!(!b.cgroup_exists(), "cgroup removed at exit");
}

#[test]
fn container_setup_failure_after_an_early_reply_answers_start() {
    let b = Bundle::new("earlyfail");
    let mut spec = b.spec(&["true"]);
    // A file as the working directory: the process fails after the pid is known.
    spec.process.cwd = "/bin/sh".into();
    let Some(mut shim) = container_shim(&b, spec, |c| c.reply_at_pid = true) else {
        return;
    };
    assert!(
        shim.reply.ok,
        "the reply comes before the setup: {:?}",
        shim.reply
    );
    let r = shim.request(&Request::Start);
    assert!(!r.ok, "{r:?}");
    assert!(r.error.contains("chdir to cwd"), "{}", r.error);
    assert_eq!(shim.wait_exit(T), 1);
    assert!(!shim.socket().exists());
    assert!(!b.cgroup_exists(), "a failed create leaves no cgroup");
}

#[test]
fn container_exit_reply_first_answers_wait_then_cleans_up() {
    let b = Bundle::new("replyfirst");
    let spec = b.spec(&["sh", "-c", "exit 5"]);
    let Some(mut shim) = container_shim(&b, spec, |c| c.exit_reply_first = true) else {
        return;
    };
    assert!(shim.reply.ok, "{:?}", shim.reply);
    let mut waiter = connect(shim.socket());
    waiter.write_all(b"{\"op\":\"wait\"}\n").unwrap();
    assert!(shim.request(&Request::Start).ok);
    let w: berth_types::shim::Reply = serde_json::from_str(&read_line(&mut waiter)).unwrap();
    assert_eq!(w.exit.unwrap().exit_code, 5);
    // The exit record is on disk before the answer, in either mode.
    assert_eq!(shim.exit_status().exit_code, 5);
    assert_eq!(shim.wait_exit(T), 0);
    assert!(!shim.socket().exists(), "socket removed after the reply");
    assert!(!b.cgroup_exists(), "cgroup removed after the reply");
}
