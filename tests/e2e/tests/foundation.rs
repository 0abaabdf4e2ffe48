//! Issue "Foundation": a container runs — lifecycle, logs, exit codes, exec, inspect and
//! live restore, driven by `berth` and by the real `docker` CLI against berthd.

use berth_e2e::*;
use std::time::Duration;

fn daemon() -> Daemon {
    assert!(
        is_root(),
        "end-to-end tests need root (namespaces, cgroups, overlayfs)"
    );
    let d = Daemon::start();
    d.import_busybox("busybox");
    d
}

#[test]
fn run_rm_echo_hello_with_berth() {
    let d = daemon();
    let r = d.berth(["run", "--rm", "busybox", "echo", "hello"]).ok();
    assert_eq!(r.stdout, "hello\n");
    // --rm leaves nothing behind.
    assert!(
        d.wait_for(5, || d.berth(["ps", "-aq"]).stdout.trim().is_empty()),
        "container not removed"
    );
}

#[test]
fn run_rm_echo_hello_with_docker_cli() {
    let d = daemon();
    let Some(r) = d.docker(["run", "--rm", "busybox", "echo", "hello"]) else {
        return;
    };
    assert_eq!(r.status, 0, "{r:#?}");
    assert_eq!(r.stdout, "hello\n");
    assert!(d.wait_for(5, || d
        .docker(["ps", "-aq"])
        .unwrap()
        .stdout
        .trim()
        .is_empty()));
}

#[test]
fn run_exit_codes_follow_docker() {
    let d = daemon();
    assert_eq!(
        d.berth(["run", "--rm", "busybox", "sh", "-c", "exit 3"])
            .status,
        3
    );
    let nf = d.berth(["run", "busybox", "no-such-cmd"]);
    assert_eq!(nf.status, 127, "{nf:#?}");
    assert!(
        nf.stderr.contains("executable file not found in $PATH"),
        "{nf:#?}"
    );
    let pd = d.berth(["run", "busybox", "/etc/passwd"]);
    assert_eq!(pd.status, 126, "{pd:#?}");
    let bad = d.berth(["run", "--no-such-flag", "busybox", "true"]);
    assert_eq!(bad.status, 125, "{bad:#?}");
    assert!(
        bad.stderr.contains("unknown flag: --no-such-flag"),
        "{bad:#?}"
    );
    // A missing image is pulled first: from a closed loopback port, never the internet.
    let noimg = d.berth(["run", "--rm", "127.0.0.1:1/nosuchimage", "true"]);
    assert_eq!(noimg.status, 125, "{noimg:#?}");
    assert!(
        noimg
            .stderr
            .contains("Unable to find image '127.0.0.1:1/nosuchimage:latest' locally"),
        "{noimg:#?}"
    );
    assert!(noimg.stderr.contains("connection refused"), "{noimg:#?}");
}

#[test]
fn detached_lifecycle_stop_restart_pause_rename_rm() {
    let d = daemon();
    let id = d
        .berth(["run", "-d", "--name", "web", "busybox", "sleep", "1000"])
        .ok()
        .stdout
        .trim()
        .to_string();
    assert_eq!(id.len(), 64, "run -d prints the full id: {id}");
    let ps = d.berth(["ps"]).ok().stdout;
    assert!(ps.starts_with("CONTAINER ID"), "{ps}");
    assert!(
        ps.contains(&id[..12]) && ps.contains("Up ") && ps.contains("web"),
        "{ps}"
    );
    // A name in use is refused with Docker's words.
    let dup = d.berth(["create", "--name", "web", "busybox", "true"]);
    assert_ne!(dup.status, 0);
    assert!(
        dup.stderr.contains("is already in use by container"),
        "{dup:#?}"
    );
    // rm of a running container is refused.
    let rm = d.berth(["rm", "web"]);
    assert!(
        rm.stderr.contains("You cannot remove a running container"),
        "{rm:#?}"
    );

    d.berth(["pause", "web"]).ok();
    assert!(d.berth(["ps"]).stdout.contains("(Paused)"));
    assert_eq!(
        d.berth(["inspect", "-f", "{{.State.Status}}", "web"])
            .ok()
            .stdout
            .trim(),
        "paused"
    );
    d.berth(["unpause", "web"]).ok();

    d.berth(["rename", "web", "web2"]).ok();
    // sleep as PID 1 ignores SIGTERM: stop waits 1 s then kills (137).
    d.berth(["stop", "-t", "1", "web2"]).ok();
    let st = d
        .berth([
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}} {{.Name}}",
            "web2",
        ])
        .ok();
    assert_eq!(st.stdout.trim(), "exited 137 /web2");
    assert!(d.berth(["ps", "-a"]).stdout.contains("Exited (137)"));

    d.berth(["restart", "-t", "1", "web2"]).ok();
    assert_eq!(
        d.berth(["inspect", "-f", "{{.State.Running}}", "web2"])
            .ok()
            .stdout
            .trim(),
        "true"
    );
    d.berth(["rm", "-f", "web2"]).ok();
    let gone = d.berth(["inspect", "web2"]);
    assert_eq!(gone.status, 1);
    assert!(
        gone.stderr.contains("No such") && gone.stderr.contains("web2"),
        "{gone:#?}"
    );
}

#[test]
fn logs_keep_both_streams_and_options() {
    let d = daemon();
    d.berth([
        "run",
        "--name",
        "lg",
        "busybox",
        "sh",
        "-c",
        // stdout and stderr are separate pipes: pause so their order is defined.
        "echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three",
    ])
    .ok();
    let all = d.berth(["logs", "lg"]).ok();
    assert_eq!(all.stdout, "one\nthree\n");
    assert_eq!(all.stderr, "two\n");
    let tail = d.berth(["logs", "--tail", "1", "lg"]).ok();
    assert_eq!(format!("{}{}", tail.stdout, tail.stderr), "three\n");
    let ts = d.berth(["logs", "-t", "lg"]).ok().stdout;
    let first = ts.lines().next().unwrap();
    assert!(
        first.ends_with(" one")
            && first.contains('T')
            && first.split(' ').next().unwrap().ends_with('Z'),
        "{ts}"
    );
}

#[test]
fn exec_runs_inside_the_container() {
    let d = daemon();
    d.berth([
        "run", "-d", "--name", "ex", "-h", "myhost", "busybox", "sleep", "1000",
    ])
    .ok();
    assert_eq!(d.berth(["exec", "ex", "hostname"]).ok().stdout, "myhost\n");
    assert_eq!(
        d.berth(["exec", "-e", "X=42", "ex", "sh", "-c", "echo $X"])
            .ok()
            .stdout,
        "42\n"
    );
    assert_eq!(
        d.berth(["exec", "-w", "/tmp", "ex", "pwd"]).ok().stdout,
        "/tmp\n"
    );
    assert_eq!(
        d.berth(["exec", "-u", "nobody", "ex", "id", "-u"])
            .ok()
            .stdout,
        "65534\n"
    );
    assert_eq!(d.berth(["exec", "ex", "sh", "-c", "exit 5"]).status, 5);
    // The exec sees the container's pid namespace: sleep is PID 1.
    assert!(d
        .berth(["exec", "ex", "ps"])
        .ok()
        .stdout
        .lines()
        .any(|l| l.trim_start().starts_with("1 ") && l.contains("sleep")));
    d.berth(["rm", "-f", "ex"]).ok();
}

#[test]
fn default_isolation_matches_docker() {
    let d = daemon();
    let r = d
        .berth(["run", "--rm", "busybox", "sh", "-c", "grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status; hostname; cat /etc/hostname; echo pid=$$"])
        .ok()
        .stdout;
    assert!(r.contains("CapEff:\t00000000a80425fb"), "{r}");
    assert!(r.contains("Seccomp:\t2"), "{r}");
    let lines: Vec<&str> = r.lines().collect();
    let host = lines[lines.len() - 3];
    assert_eq!(host.len(), 12, "hostname is the 12-char id: {r}");
    assert_eq!(lines[lines.len() - 2], host);
    assert_eq!(lines[lines.len() - 1], "pid=1");
    // unshare is blocked by the default seccomp profile, allowed when unconfined+privileged.
    assert_ne!(
        d.berth(["run", "--rm", "busybox", "unshare", "-n", "true"])
            .status,
        0
    );
    d.berth([
        "run",
        "--rm",
        "--privileged",
        "busybox",
        "unshare",
        "-n",
        "true",
    ])
    .ok();
    // Read-only rootfs.
    let ro = d.berth(["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    assert_ne!(ro.status, 0);
    assert!(ro.stderr.contains("Read-only file system"), "{ro:#?}");
}

#[test]
fn cgroup_limits_update_and_oom() {
    let d = daemon();
    let id = d
        .berth([
            "run",
            "-d",
            "--memory",
            "64m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "50",
            "busybox",
            "sleep",
            "1000",
        ])
        .ok()
        .stdout
        .trim()
        .to_string();
    let cg = |ctrl: &str, file: &str| {
        std::fs::read_to_string(format!(
            "/sys/fs/cgroup/{ctrl}/{}/{id}/{file}",
            d.cgroup_parent
        ))
        .unwrap_or_default()
        .trim()
        .to_string()
    };
    assert_eq!(
        cg("memory", "memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );
    assert_eq!(cg("cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(cg("pids", "pids.max"), "50");
    d.berth(["update", "--memory", "128m", "--memory-swap", "256m", &id])
        .ok();
    assert_eq!(
        cg("memory", "memory.limit_in_bytes"),
        (128u64 << 20).to_string()
    );
    d.berth(["rm", "-f", &id]).ok();

    // dd's 64 MiB buffer cannot fit in 16 MiB: the OOM killer ends it.
    let oom = d.berth([
        "run",
        "--name",
        "oom",
        "--memory",
        "16m",
        "--memory-swap",
        "16m",
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=64M",
        "count=1",
    ]);
    assert_eq!(oom.status, 137, "{oom:#?}");
    assert_eq!(
        d.berth(["inspect", "-f", "{{.State.OOMKilled}}", "oom"])
            .ok()
            .stdout
            .trim(),
        "true"
    );
}

#[test]
fn live_restore_after_kill_9_loses_nothing() {
    let mut d = daemon();
    let n = 20;
    for i in 0..n {
        d.berth([
            "run",
            "-d",
            "--name",
            &format!("c{i}"),
            "busybox",
            "sh",
            "-c",
            "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.1; done",
        ])
        .ok();
    }
    d.berth([
        "run",
        "-d",
        "--name",
        "quitter",
        "busybox",
        "sh",
        "-c",
        "sleep 2; echo bye; exit 7",
    ])
    .ok();
    d.kill9();
    std::thread::sleep(Duration::from_secs(3));
    d.restart();
    // The quitter exited while the daemon was down: its real exit code is kept.
    assert!(d.wait_for(10, || d
        .berth([
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "quitter"
        ])
        .stdout
        .trim()
        == "exited 7"));
    assert_eq!(d.berth(["logs", "quitter"]).ok().stdout, "bye\n");
    let running = d.berth(["ps", "-q"]).ok().stdout;
    assert_eq!(running.lines().count(), n, "{running}");
    for i in 0..n {
        // Every line written while the daemon was down is there, in order, no gap, no duplicate.
        let out = d.berth(["logs", &format!("c{i}")]).ok().stdout;
        let nums: Vec<u64> = out
            .lines()
            .map(|l| l.trim_start_matches("line").parse().unwrap())
            .collect();
        assert!(nums.len() >= 25, "c{i}: only {} lines", nums.len());
        assert!(
            nums.iter().enumerate().all(|(k, v)| *v == k as u64),
            "c{i}: gap or duplicate in {nums:?}"
        );
    }
    // The restored containers can still be exec'd into and stopped.
    assert_eq!(
        d.berth(["exec", "c0", "echo", "alive"]).ok().stdout,
        "alive\n"
    );
    d.berth(["stop", "-t", "1", "c1"]).ok();
    assert_eq!(
        d.berth(["inspect", "-f", "{{.State.Running}}", "c1"])
            .ok()
            .stdout
            .trim(),
        "false"
    );
}

#[test]
fn docker_cli_drives_the_lifecycle() {
    let d = daemon();
    let Some(v) = d.docker(["version", "--format", "{{.Server.APIVersion}}"]) else {
        return;
    };
    assert_eq!(v.ok().stdout.trim(), "1.45");
    let id = d
        .docker([
            "run",
            "-d",
            "--name",
            "dk",
            "busybox",
            "sh",
            "-c",
            "echo hi; sleep 1000",
        ])
        .unwrap()
        .ok()
        .stdout;
    assert_eq!(id.trim().len(), 64);
    assert!(d.wait_for(5, || d.docker(["logs", "dk"]).unwrap().stdout == "hi\n"));
    let ps = d
        .docker(["ps", "--format", "{{.Names}} {{.Image}} {{.Command}}"])
        .unwrap()
        .ok()
        .stdout;
    // The daemon single-quotes args with spaces; the CLI quotes and cuts to 20 characters.
    assert_eq!(ps.trim(), "dk busybox \"sh -c 'echo hi; sle…\"");
    assert_eq!(
        d.docker(["exec", "dk", "echo", "in"]).unwrap().ok().stdout,
        "in\n"
    );
    assert_eq!(
        d.docker(["inspect", "-f", "{{.Config.Image}}", "dk"])
            .unwrap()
            .ok()
            .stdout
            .trim(),
        "busybox"
    );
    d.docker(["rm", "-f", "dk"]).unwrap().ok();
    let gone = d.docker(["inspect", "dk"]).unwrap();
    assert_eq!(gone.status, 1);
    assert!(
        gone.stderr.contains("No such object: dk") || gone.stderr.contains("No such container: dk"),
        "{gone:#?}"
    );
}

#[test]
fn bad_input_changes_nothing() {
    let d = daemon();
    // Malformed JSON body.
    let r = d
        .raw("POST /v1.45/containers/create HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{nope")
        .unwrap();
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    // A rootfs tar escaping with ../ is refused and leaves no image.
    let evil = d.root.join("evil.tar");
    {
        let f = std::fs::File::create(&evil).unwrap();
        let mut b = tar::Builder::new(f);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(4);
        h.set_mode(0o644);
        // Write the name bytes directly: the tar crate refuses `..` in set_path.
        let name = b"../../../../tmp/berth-escape";
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_cksum();
        b.append(&h, &b"evil"[..]).unwrap();
        b.finish().unwrap();
    }
    let imp = d.berth(["import".as_ref(), evil.as_os_str(), "evil".as_ref()]);
    assert_ne!(imp.status, 0, "{imp:#?}");
    assert!(!std::path::Path::new("/tmp/berth-escape").exists());
    assert!(!d.berth(["images"]).ok().stdout.contains("evil"));
    // The daemon keeps serving.
    assert!(d.ping());
}

#[test]
fn loopback_is_up_and_usable() {
    let d = daemon();
    for net in [&[][..], &["--network", "none"][..]] {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(net);
        // A server and a client over 127.0.0.1 inside the container's own namespace.
        args.extend_from_slice(&[
            "busybox",
            "sh",
            "-c",
            "ip link show lo | grep -q UP && echo lo-up; \
             (echo pong | nc -l -p 7000 &) ; sleep 0.3; nc 127.0.0.1 7000 </dev/null",
        ]);
        let r = d.berth(&args).ok();
        assert_eq!(r.stdout, "lo-up\npong\n", "{net:?}: {r:#?}");
    }
}
