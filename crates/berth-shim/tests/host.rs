//! The shim's stdio, log, attach and protocol machinery with plain host processes (the
//! debug-build test launcher, `BERTH_SHIM_TEST_HOST=1`): no runtime needed.

mod common;

use berth_logfile::{read, ReadOptions, Stream};
use berth_types::shim::Request;
use common::*;
use std::io::Write;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

#[test]
fn attach_start_frames_logs_and_exit_code() {
    let mut shim = Shim::start(
        |d| {
            config(
                d,
                container_task(process(&[
                    "sh",
                    "-c",
                    "echo out1; echo err1 >&2; echo out2; printf part; exit 3",
                ])),
            )
        },
        true,
    );
    assert!(shim.reply.ok, "{:?}", shim.reply);
    let pid = shim.reply.pid.unwrap();
    assert_eq!(
        std::fs::read_to_string(&shim.cfg.pid_file).unwrap(),
        pid.to_string()
    );
    // Parked: not running yet.
    let st = shim.request(&Request::State);
    assert!(st.ok && !st.running && st.exit.is_none());
    assert_eq!(st.pid, Some(pid));

    let mut att = attach(shim.socket(), false, true, true);
    let mut waiter = connect(shim.socket());
    waiter.write_all(b"{\"op\":\"wait\"}\n").unwrap();
    // Connected before the start: the process exits at once, and with it the socket.
    let mut second = connect(shim.socket());
    let r = shim.request(&Request::Start);
    assert!(r.ok, "{r:?}");
    assert_eq!(r.pid, Some(pid));
    let again = send(&mut second, &Request::Start);
    assert!(!again.ok);
    drop(second);

    let (out, err) = demux(&read_all(&mut att));
    assert_eq!(String::from_utf8(out).unwrap(), "out1\nout2\npart");
    assert_eq!(String::from_utf8(err).unwrap(), "err1\n");

    let w: berth_types::shim::Reply = serde_json::from_str(&read_line(&mut waiter)).unwrap();
    let exit = w.exit.expect("wait reply has the exit");
    assert_eq!(exit.exit_code, 3);
    assert_eq!(exit.signal, None);
    assert!(!w.running);
    assert_eq!(shim.wait_exit(T), 0);

    let on_disk = shim.exit_status();
    assert_eq!(on_disk, exit);
    assert!(berth_types::time::parse_rfc3339(&on_disk.started_at).is_some());
    assert!(
        berth_types::time::parse_rfc3339(&on_disk.finished_at).unwrap()
            >= berth_types::time::parse_rfc3339(&on_disk.started_at).unwrap()
    );
    assert!(!shim.socket().exists(), "socket removed at exit");

    let log = read(&shim.log_path(), &ReadOptions::default()).unwrap();
    let mut by_stream: Vec<(Stream, String)> = log
        .iter()
        .map(|e| (e.stream, String::from_utf8(e.line.clone()).unwrap()))
        .collect();
    // stdout and stderr are separate pipes: order between them is not defined.
    by_stream.sort_by_key(|(s, _)| *s == Stream::Stderr);
    assert_eq!(
        by_stream,
        vec![
            (Stream::Stdout, "out1\n".into()),
            (Stream::Stdout, "out2\n".into()),
            (Stream::Stdout, "part".into()),
            (Stream::Stderr, "err1\n".into()),
        ]
    );
}

#[test]
fn exit_zero_and_wait_after_exit() {
    let mut shim = Shim::start(|d| config(d, container_task(process(&["true"]))), true);
    assert!(shim.request(&Request::Start).ok);
    // The shim is gone soon after: the exit file is the record.
    assert_eq!(shim.wait_exit(T), 0);
    let e = shim.exit_status();
    assert_eq!((e.exit_code, e.signal, e.oom_killed), (0, None, false));
}

/// A `wait` answered with the exit means the exit is on disk: the engine removes the
/// container on that reply. Exit and request racing in the same round must not give
/// the reply first (a quick process, the wait sent right behind `start`).
#[test]
fn wait_reply_comes_after_the_exit_file() {
    for _ in 0..10 {
        let shim = Shim::start(|d| config(d, container_task(process(&["true"]))), true);
        let mut waiter = connect(shim.socket());
        let mut starter = connect(shim.socket());
        let line = format!("{}\n", serde_json::to_string(&Request::Start).unwrap());
        starter.write_all(line.as_bytes()).unwrap();
        // Give the process time to exit while the wait is on its way.
        std::thread::sleep(Duration::from_millis(2));
        let w = send(&mut waiter, &Request::Wait);
        assert_eq!(w.exit.map(|e| e.exit_code), Some(0));
        let on_disk = std::fs::read(&shim.cfg.exit_file);
        assert!(
            on_disk.is_ok(),
            "wait answered before exit.json was written"
        );
    }
}

#[test]
fn kill_gives_137_and_signal() {
    let mut shim = Shim::start(
        |d| config(d, container_task(process(&["sleep", "100"]))),
        true,
    );
    let mut waiter = connect(shim.socket());
    assert!(shim.request(&Request::Start).ok);
    assert!(shim.request(&Request::State).running);
    let w = {
        let r = send(
            &mut waiter,
            &Request::Kill {
                signal: libc::SIGKILL,
                all: false,
            },
        );
        assert!(r.ok, "{r:?}");
        send(&mut waiter, &Request::Wait)
    };
    let exit = w.exit.unwrap();
    assert_eq!(exit.exit_code, 137);
    assert_eq!(exit.signal, Some(libc::SIGKILL));
    assert_eq!(shim.wait_exit(T), 0);
    assert_eq!(shim.exit_status().exit_code, 137);
}

#[test]
fn kill_with_term_and_all() {
    let mut shim = Shim::start(
        |d| config(d, container_task(process(&["sleep", "100"]))),
        true,
    );
    assert!(shim.request(&Request::Start).ok);
    let r = shim.request(&Request::Kill {
        signal: libc::SIGTERM,
        all: true,
    });
    assert!(r.ok, "{r:?}");
    assert_eq!(shim.wait_exit(T), 0);
    assert_eq!(shim.exit_status().exit_code, 128 + libc::SIGTERM);
}

#[test]
fn stdin_reaches_cat_and_stdin_once_closes_it() {
    let mut shim = Shim::start(
        |d| {
            let mut c = config(d, container_task(process(&["cat"])));
            c.open_stdin = true;
            c.stdin_once = true;
            c
        },
        true,
    );
    let mut att = attach(shim.socket(), true, true, true);
    assert!(shim.request(&Request::Start).ok);
    att.write_all(b"hello\nworld").unwrap();
    att.shutdown(std::net::Shutdown::Write).unwrap();
    let (out, err) = demux(&read_all(&mut att));
    assert_eq!(String::from_utf8(out).unwrap(), "hello\nworld");
    assert!(err.is_empty());
    assert_eq!(shim.wait_exit(T), 0);
    assert_eq!(shim.exit_status().exit_code, 0);
    let log = read(&shim.log_path(), &ReadOptions::default()).unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].line, b"world");
}

#[test]
fn close_stdin_request_and_input_sent_with_attach() {
    let mut shim = Shim::start(
        |d| {
            let mut c = config(d, container_task(process(&["cat"])));
            c.open_stdin = true;
            c
        },
        true,
    );
    // Input pipelined right behind the attach request line.
    let mut s = connect(shim.socket());
    s.write_all(b"{\"op\":\"attach\",\"stdin\":true,\"stdout\":true,\"stderr\":false}\nearly\n")
        .unwrap();
    assert!(read_line(&mut s).contains("\"ok\":true"));
    assert!(shim.request(&Request::Start).ok);
    let mut echo = [0u8; 14];
    std::io::Read::read_exact(&mut s, &mut echo).unwrap();
    assert_eq!(demux(&echo).0, b"early\n");
    // Without stdin_once, the client's EOF ends its attach session but not the
    // process's stdin: cat keeps running.
    s.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(read_all(&mut s).is_empty());
    assert!(shim.request(&Request::State).running);
    // A new session still feeds the same stdin.
    let mut again = attach(shim.socket(), true, true, false);
    again.write_all(b"later\n").unwrap();
    let mut echo = [0u8; 14];
    std::io::Read::read_exact(&mut again, &mut echo).unwrap();
    assert_eq!(demux(&echo).0, b"later\n");
    assert!(shim.request(&Request::CloseStdin).ok);
    assert!(read_all(&mut again).is_empty());
    assert_eq!(shim.wait_exit(T), 0);
    assert_eq!(shim.exit_status().exit_code, 0);
}

#[test]
fn tty_is_raw_and_resize_changes_stty_size() {
    let mut p = process(&["sh", "-c", "stty size; read x; stty size; echo \"got $x\""]);
    p.terminal = true;
    p.console_size = Some((24, 80));
    let mut shim = Shim::start(
        |d| {
            let mut c = config(d, container_task(p));
            c.tty = true;
            c.open_stdin = true;
            c
        },
        true,
    );
    let mut att = attach(shim.socket(), true, true, true);
    assert!(shim.request(&Request::Start).ok);
    // Wait for the first size line before resizing.
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("24 80") {
        let n = std::io::Read::read(&mut att, &mut buf).unwrap();
        assert!(
            n > 0,
            "eof before size: {:?}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    let r = shim.request(&Request::Resize {
        height: 40,
        width: 100,
    });
    assert!(r.ok, "{r:?}");
    att.write_all(b"hi\n").unwrap();
    seen.extend(read_all(&mut att));
    let text = String::from_utf8_lossy(&seen).into_owned();
    // Raw: no multiplexing header, the terminal's CRLF and the echo of our input.
    assert!(seen.starts_with(b"24 80\r\n"), "{text:?}");
    assert!(text.contains("hi\r\n40 100\r\ngot hi\r\n"), "{text:?}");
    assert_eq!(shim.wait_exit(T), 0);
    let log = read(&shim.log_path(), &ReadOptions::default()).unwrap();
    assert!(log.iter().all(|e| e.stream == Stream::Stdout));
    assert_eq!(log[0].line, b"24 80\r\n");
}

#[test]
fn missing_binary_is_127_with_dockers_message() {
    let mut shim = Shim::start(
        |d| config(d, container_task(process(&["no-such-binary-xyz"]))),
        true,
    );
    assert!(!shim.reply.ok);
    assert_eq!(shim.reply.exit_code, Some(127));
    assert_eq!(
        shim.reply.error,
        "exec: \"no-such-binary-xyz\": executable file not found in $PATH"
    );
    assert_eq!(shim.wait_exit(T), 1);
    assert!(!shim.socket().exists());
    assert!(!std::path::Path::new(&shim.cfg.shim_pid_file).exists());
}

#[test]
fn exec_task_runs_without_log() {
    let mut shim = Shim::start(
        |d| {
            config(
                d,
                exec_task(process(&["sh", "-c", "echo from-exec; exit 5"])),
            )
        },
        true,
    );
    assert!(shim.reply.ok, "{:?}", shim.reply);
    let mut att = attach(shim.socket(), false, true, true);
    assert!(shim.request(&Request::Start).ok);
    let (out, _) = demux(&read_all(&mut att));
    assert_eq!(out, b"from-exec\n");
    assert_eq!(shim.wait_exit(T), 0);
    assert_eq!(shim.exit_status().exit_code, 5);
    assert!(!shim.log_path().exists(), "exec shims write no log");
}

#[test]
fn slow_attach_client_never_blocks_the_process_or_the_log() {
    // ~4 MB of output; one client never reads, one reads everything. The output
    // comes in 100 KB bursts 20 ms apart: the stuck client is cut off all the same,
    // and the reader, a thread of this busy test process, must fall a whole backlog
    // behind (10 bursts) before it is.
    let line = "x".repeat(199);
    let script = format!("for i in $(seq 40); do yes {line} | head -n 500; sleep 0.02; done");
    let mut shim = Shim::start(
        |d| config(d, container_task(process(&["sh", "-c", &script]))),
        true,
    );
    let mut stuck = attach(shim.socket(), false, true, true);
    let mut reader = attach(shim.socket(), false, true, false);
    assert!(shim.request(&Request::Start).ok);
    let got = std::thread::spawn(move || read_all(&mut reader));
    assert_eq!(shim.wait_exit(T), 0);
    let (out, _) = demux(&got.join().unwrap());
    assert_eq!(out.len(), 20000 * 200);
    // The stuck client was cut off: it gets less than everything.
    let stuck_bytes = read_all(&mut stuck);
    assert!(stuck_bytes.len() < 20000 * 200, "{}", stuck_bytes.len());
    let log = read(&shim.log_path(), &ReadOptions::default()).unwrap();
    assert_eq!(log.len(), 20000);
    assert!(log
        .iter()
        .all(|e| e.line.len() == 200 && e.stream == Stream::Stdout));
}

#[test]
fn survives_its_parent_being_killed() {
    // Spawn the shim from an intermediate shell that we kill -9 (as if berthd died).
    let dir = tempfile::Builder::new().prefix("bshim").tempdir().unwrap();
    let cfg = config(
        dir.path(),
        container_task(process(&[
            "sh",
            "-c",
            "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.05; done",
        ])),
    );
    let cfg_path = dir.path().join("shim.json");
    std::fs::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    let out = dir.path().join("reply");
    let mut mid = std::process::Command::new("sh")
        .arg("-c")
        .arg("\"$0\" run \"$1\" > \"$2\" & wait")
        .arg(SHIM)
        .arg(&cfg_path)
        .arg(&out)
        .env("BERTH_SHIM_TEST_HOST", "1")
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
    assert!(reply.ok);
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
    std::thread::sleep(Duration::from_millis(500));
    assert!(alive(shim_pid) && alive(pid));
    assert!(eventually(T, || count() > before + 3), "log keeps growing");
    assert!(guard.request(&Request::State).running);
    assert!(
        guard
            .request(&Request::Kill {
                signal: libc::SIGKILL,
                all: false
            })
            .ok
    );
    assert!(
        eventually(T, || !alive(shim_pid)),
        "shim exits after the process"
    );
    assert_eq!(guard.exit_status().exit_code, 137);
}

#[test]
fn bad_requests_get_errors_and_the_connection_stays() {
    let shim = Shim::start(
        |d| config(d, container_task(process(&["sleep", "100"]))),
        true,
    );
    let mut s = connect(shim.socket());
    s.write_all(b"{\"op\":\"nope\"}\n").unwrap();
    let r: berth_types::shim::Reply = serde_json::from_str(&read_line(&mut s)).unwrap();
    assert!(!r.ok && r.error.starts_with("invalid request"), "{r:?}");
    let st = send(&mut s, &Request::State);
    assert!(st.ok && !st.running);
    // A request without newline followed by EOF is still answered.
    let mut half = connect(shim.socket());
    half.write_all(b"{\"op\":\"state\"}").unwrap();
    half.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(read_line(&mut half).contains("\"ok\":true"));
    // Kill before start takes the parked process down.
    assert!(
        send(
            &mut s,
            &Request::Kill {
                signal: libc::SIGKILL,
                all: false
            }
        )
        .ok
    );
}

#[test]
fn private_memory_of_an_idle_shim() {
    let shim = Shim::start(
        |d| config(d, container_task(process(&["sleep", "100"]))),
        true,
    );
    assert!(shim.request(&Request::Start).ok);
    let _att = attach(shim.socket(), true, true, true);
    std::thread::sleep(Duration::from_millis(100));
    let rollup =
        std::fs::read_to_string(format!("/proc/{}/smaps_rollup", shim.shim_pid())).unwrap();
    let line = rollup
        .lines()
        .find(|l| l.starts_with("Private_Dirty:"))
        .unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    println!("berth-shim private dirty memory (debug build, attached): {kib} KiB");
    assert!(kib > 0);
}

#[test]
fn large_stdin_is_not_lost_under_backpressure() {
    let mut shim = Shim::start(
        |d| {
            // Reads nothing for a while, so the pipe and the shim's queue fill up.
            let mut c = config(
                d,
                container_task(process(&["sh", "-c", "sleep 0.5; wc -c"])),
            );
            c.open_stdin = true;
            c.stdin_once = true;
            c
        },
        true,
    );
    let mut att = attach(shim.socket(), true, true, false);
    assert!(shim.request(&Request::Start).ok);
    let total = 3_000_000usize;
    let mut w = att.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'z'; 10_000];
        for _ in 0..total / chunk.len() {
            w.write_all(&chunk).unwrap();
        }
        w.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let (out, _) = demux(&read_all(&mut att));
    writer.join().unwrap();
    assert_eq!(String::from_utf8(out).unwrap().trim(), total.to_string());
    assert_eq!(shim.wait_exit(T), 0);
}

#[test]
fn log_rotation_and_driver_none() {
    let mut shim = Shim::start(
        |d| {
            let mut c = config(d, container_task(process(&["sh", "-c", "seq 1 3000"])));
            c.log.max_size = 20_000;
            c.log.max_file = 3;
            c
        },
        true,
    );
    assert!(shim.request(&Request::Start).ok);
    assert_eq!(shim.wait_exit(T), 0);
    let log = shim.log_path();
    assert!(std::path::Path::new(&format!("{}.1", log.display())).exists());
    assert!(std::path::Path::new(&format!("{}.2", log.display())).exists());
    assert!(!std::path::Path::new(&format!("{}.3", log.display())).exists());
    let entries = read(&log, &ReadOptions::default()).unwrap();
    assert_eq!(entries.last().unwrap().line, b"3000\n");
    assert!(entries.len() < 3000);

    let mut none = Shim::start(
        |d| {
            let mut c = config(d, container_task(process(&["echo", "hi"])));
            c.log.driver = "none".into();
            c
        },
        true,
    );
    assert!(none.request(&Request::Start).ok);
    assert_eq!(none.wait_exit(T), 0);
    assert!(!none.log_path().exists());
    assert_eq!(none.exit_status().exit_code, 0);
}

#[test]
fn exec_failure_at_start_is_126_and_recorded() {
    let mut shim = Shim::start(
        |d| {
            let file = d.join("not-executable");
            std::fs::write(&file, "data\n").unwrap();
            config(d, container_task(process(&[file.to_str().unwrap()])))
        },
        true,
    );
    assert!(shim.reply.ok, "{:?}", shim.reply);
    let mut waiter = connect(shim.socket());
    waiter.write_all(b"{\"op\":\"wait\"}\n").unwrap();
    let r = shim.request(&Request::Start);
    assert!(!r.ok);
    assert_eq!(r.exit_code, Some(126));
    assert!(r.error.ends_with("permission denied"), "{}", r.error);
    let w: berth_types::shim::Reply = serde_json::from_str(&read_line(&mut waiter)).unwrap();
    assert_eq!(w.exit.unwrap().exit_code, 126);
    assert_eq!(shim.wait_exit(T), 0);
    let e = shim.exit_status();
    assert_eq!((e.exit_code, e.signal), (126, None));
}

#[test]
fn tty_input_eof_ends_the_session_not_the_process() {
    let mut p = process(&["cat"]);
    p.terminal = true;
    let shim = Shim::start(
        |d| {
            let mut c = config(d, container_task(p));
            c.tty = true;
            c.open_stdin = true;
            c.stdin_once = true;
            c
        },
        true,
    );
    let mut att = attach(shim.socket(), true, true, true);
    assert!(shim.request(&Request::Start).ok);
    att.write_all(b"abc\n").unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 64];
    // The terminal echoes the input, then cat writes it back.
    while !seen.ends_with(b"abc\r\nabc\r\n") {
        let n = std::io::Read::read(&mut att, &mut buf).unwrap();
        assert!(n > 0, "{seen:?}");
        seen.extend_from_slice(&buf[..n]);
    }
    att.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(read_all(&mut att).is_empty());
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        shim.request(&Request::State).running,
        "a tty's stdin stays open"
    );
}
