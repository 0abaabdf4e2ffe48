//! Real-kernel tests of `create_exec` (joining a running container) and of `--init`.

mod common;
use berth_types::spec::ExecSpec;
use common::*;
use std::io::{BufRead, BufReader};

/// Start a long-running container; returns its pid (tracked by the fixture) and the
/// read end of its stdout.
fn start_sleeper(f: &Fixture, args: &[&str], init: bool) -> (i32, std::fs::File) {
    let mut spec = f.spec(args);
    spec.init = init;
    let (out_r, out_w) = pipe();
    let null = std::fs::File::open("/dev/null").unwrap();
    let stdio = berth_runtime::Stdio {
        stdin: null.into(),
        stdout: out_w.try_clone().unwrap(),
        stderr: out_w,
    };
    let c = berth_runtime::create(&spec, stdio).unwrap();
    f.track(c.pid());
    let pid = c.start().unwrap();
    (pid, std::fs::File::from(out_r))
}

fn exec_spec(f: &Fixture, target: i32, args: &[&str]) -> ExecSpec {
    let base = f.spec(args);
    ExecSpec {
        container_id: base.id.clone(),
        target_pid: target,
        cgroup_path: f.cgroup.clone(),
        process: base.process,
        privileged: false,
    }
}

fn run_exec(spec: &ExecSpec) -> Result<Output, berth_runtime::RuntimeError> {
    let mut cap = Capture::new();
    let c = berth_runtime::create_exec(spec, cap.stdio.take().unwrap())?;
    let pid = start(c)?;
    let (stdout, stderr) = cap.collect();
    Ok(Output {
        code: wait(pid),
        stdout,
        stderr,
    })
}

#[test]
fn exec_joins_namespaces_and_cgroup() {
    let f = Fixture::new("exec");
    let (pid, _out) = start_sleeper(&f, &["sleep", "100"], false);
    let spec = exec_spec(
        &f,
        pid,
        &["sh", "-c", "hostname; tr '\\0' ' ' < /proc/1/cmdline; echo; grep -c . /proc/self/cgroup >/dev/null && grep memory /proc/self/cgroup; grep -E '^(CapEff|Seccomp):' /proc/self/status; pwd"],
    );
    let out = run_exec(&spec).unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "h-exec");
    assert_eq!(lines[1], "sleep 100 ");
    assert!(lines[2].ends_with(&format!("/{}", f.cgroup)), "{out:?}");
    assert_eq!(lines[3], "CapEff:\t00000000a80425fb");
    assert_eq!(lines[4], "Seccomp:\t2");
    assert_eq!(lines[5], "/");
}

/// An exec's terminal is the next pts of the container's devpts (its init holds 0),
/// with the exec's own size and user.
#[test]
fn exec_tty_is_a_pts_inside_the_container() {
    let f = Fixture::new("exectty");
    let mut spec = f.spec(&["sleep", "100"]);
    spec.process.terminal = true;
    spec.process.console_size = Some((24, 80));
    let mut c = berth_runtime::create(&spec, berth_runtime::ProcessIo::Pty).unwrap();
    let init_master = c.take_pty_master().unwrap();
    f.track(c.pid());
    let pid = c.start().unwrap();

    let mut ex = exec_spec(
        &f,
        pid,
        &[
            "sh",
            "-c",
            "tty; stty size; ls /dev/pts | tr '\\n' ' '; echo; stat -c '%u %g %a' $(tty); id -u",
        ],
    );
    ex.process.terminal = true;
    ex.process.console_size = Some((40, 132));
    ex.process.user = "alice".into();
    let e = berth_runtime::create_exec(&ex, berth_runtime::ProcessIo::Pty).unwrap();
    let (code, text) = run_on_pty(&f, e);
    assert_eq!(code, 0, "{text:?}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "/dev/pts/1", "{text:?}");
    assert_eq!(lines[1], "40 132", "{text:?}");
    assert_eq!(lines[2].trim(), "0 1 ptmx", "{text:?}");
    assert_eq!(lines[3], "1000 5 620", "{text:?}");
    assert_eq!(lines[4], "1000", "{text:?}");
    drop(init_master);
}

#[test]
fn exec_user_cwd_and_errors() {
    let f = Fixture::new("execerr");
    let (pid, _out) = start_sleeper(&f, &["sleep", "100"], false);
    let mut spec = exec_spec(&f, pid, &["sh", "-c", "id -u; pwd"]);
    spec.process.user = "nobody".into();
    spec.process.cwd = "/tmp".into();
    let out = run_exec(&spec).unwrap();
    assert_eq!(out.stdout, "65534\n/tmp\n", "{out:?}");

    let e = run_exec(&exec_spec(&f, pid, &["no-such-binary"])).unwrap_err();
    assert_eq!(e.exit_code(), Some(127));
    let mut spec = exec_spec(&f, pid, &["true"]);
    spec.process.cwd = "/missing".into();
    let e = run_exec(&spec).unwrap_err();
    assert!(e.to_string().contains("chdir to cwd (\"/missing\")"), "{e}");
    let mut spec = exec_spec(&f, 999_999_999, &["true"]);
    spec.target_pid = 999_999_999;
    assert!(run_exec(&spec).is_err());
}

#[test]
fn init_runs_the_process_as_child_and_passes_exit_code() {
    let f = Fixture::new("initexit");
    let mut spec = f.spec(&["sh", "-c", "echo $$; exit 3"]);
    spec.init = true;
    let out = run(&f, &spec).unwrap();
    assert_eq!(out.code, 3, "{out:?}");
    // PID 1 is the init; the command is its child.
    assert_eq!(out.stdout, "2\n");

    let mut spec = f.spec(&["sh", "-c", "kill -9 $$"]);
    spec.init = true;
    assert_eq!(run(&f, &spec).unwrap().code, 137);
}

#[test]
fn init_reaps_zombies() {
    let f = Fixture::new("initreap");
    // The subshell exits at once, orphaning `sleep`, which PID 1 must reap.
    let script = "(sleep 0.2 &); sleep 1; \
                  for s in /proc/[0-9]*/stat; do cut -d' ' -f3 $s; done | grep -c Z; \
                  tr '\\0' ' ' < /proc/1/cmdline | grep -q '^sh' && echo pid1-is-sh || echo pid1-is-init";
    let mut spec = f.spec(&["sh", "-c", script]);
    spec.init = true;
    let out = run(&f, &spec).unwrap();
    assert_eq!(out.stdout, "0\npid1-is-init\n", "{out:?}");
}

#[test]
fn init_forwards_signals() {
    let f = Fixture::new("initsig");
    let (pid, out) = start_sleeper(
        &f,
        &[
            "sh",
            "-c",
            "trap 'echo got-term; exit 7' TERM; echo ready; while true; do sleep 0.1; done",
        ],
        true,
    );
    let mut reader = BufReader::new(out);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let code = wait(pid);
    f.untrack(pid);
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "got-term\n");
    assert_eq!(code, 7);
}

#[test]
fn join_another_containers_network_and_new_cgroup_ns() {
    let f = Fixture::new("joinns");
    let (a, _out) = start_sleeper(&f, &["sleep", "100"], false);
    let theirs = std::fs::read_link(format!("/proc/{a}/ns/net")).unwrap();
    let g = Fixture::new("joinns-b");
    let mut spec = g.spec(&[
        "sh",
        "-c",
        "readlink /proc/self/ns/net; cut -d: -f3 /proc/self/cgroup | sort -u",
    ]);
    spec.namespaces.net = berth_types::spec::NsMode::Join(format!("/proc/{a}/ns/net"));
    spec.namespaces.cgroup = berth_types::spec::NsMode::New;
    let out = run(&g, &spec).unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], theirs.to_string_lossy());
    // In its own cgroup namespace the container's cgroup is the root.
    assert_eq!(&lines[1..], ["/"], "{out:?}");
}
