//! Issue "Operations", gaps found by auditing its text against the tests: `logs -f`
//! across json-file rotation (stdout and stderr kept apart, no line lost or repeated,
//! the stream ends with the container), `logs -f --until` ending at that time while
//! the container keeps running, with `--since` and `-t` applied to what is followed,
//! the real docker CLI reading a log of several batches (multiplexed without a tty,
//! raw with one) exactly as `berth logs` shows it, and the daemon's own event: a
//! configuration reload (SIGHUP) applying labels, insecure registries and debug.

use berth_e2e::*;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn daemon() -> Daemon {
    assert!(is_root(), "end-to-end tests need root");
    let d = Daemon::start();
    d.import_busybox("busybox");
    d
}

/// Waits for `child` at most `secs`, killing it on timeout (the test then fails).
fn finish(mut child: Child, secs: u64) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            panic!("logs -f did not end within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The numbers of `prefix N` lines, which must be consecutive and end with `last`.
fn consecutive(out: &str, prefix: &str, last: usize) -> usize {
    let nums: Vec<usize> = out
        .lines()
        .map(|l| {
            l.strip_prefix(prefix)
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected line {l:?}"))
        })
        .collect();
    assert_eq!(nums.last(), Some(&last), "{out}");
    for w in nums.windows(2) {
        assert_eq!(w[1], w[0] + 1, "gap or repeat in {nums:?}");
    }
    nums.len()
}

#[test]
fn logs_follow_crosses_rotation_without_gaps_or_repeats() {
    let d = daemon();
    // ~80-byte records, 4 KiB files: a rotation every ~50 records, about every 80 ms,
    // while the follower polls; 10 files keep the first lines until it has them.
    d.berth([
        "run",
        "-d",
        "--name",
        "rot",
        "--log-opt",
        "max-size=4k",
        "--log-opt",
        "max-file=10",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 600 ]; do echo line $i; echo err $i >&2; i=$((i+1)); usleep 3000; done",
    ])
    .ok();
    let mut cmd = d.berth_cmd(["logs", "-f", "rot"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let (out, err) = finish(cmd.spawn().unwrap(), 60);
    let n_out = consecutive(&out, "line ", 599);
    let n_err = consecutive(&err, "err ", 599);
    // The follower started long before the first lines were rotated away.
    assert!(n_out > 300 && n_err > 300, "{n_out} {n_err}");
    // The log did rotate meanwhile.
    let id = d.berth(["inspect", "-f", "{{.Id}}", "rot"]).ok().stdout;
    let dir = d.data_root.join("containers").join(id.trim());
    assert!(dir.join(format!("{}-json.log.1", id.trim())).exists());
    // Read back afterwards, the same lines as followed (what the files still hold).
    let again = d.berth(["logs", "rot"]).ok();
    assert!(out.ends_with(&again.stdout), "{}", again.stdout);
    assert!(err.ends_with(&again.stderr), "{}", again.stderr);
}

#[test]
fn logs_follow_until_ends_while_the_container_runs() {
    let d = daemon();
    d.berth([
        "run",
        "-d",
        "--name",
        "tick",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do echo tick $i; i=$((i+1)); usleep 100000; done",
    ])
    .ok();
    std::thread::sleep(Duration::from_millis(700));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let since = now.as_secs_f64() - 0.3;
    let until = now.as_secs_f64() + 1.5;
    let started = Instant::now();
    let mut cmd = d.berth_cmd([
        "logs",
        "-f",
        "-t",
        "--since",
        &format!("{since:.9}"),
        "--until",
        &format!("{until:.9}"),
        "tick",
    ]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let (out, _) = finish(cmd.spawn().unwrap(), 30);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "followed long past --until"
    );
    // Still running: the stream ended because of --until.
    assert_eq!(
        d.berth(["inspect", "-f", "{{.State.Running}}", "tick"])
            .ok()
            .stdout
            .trim(),
        "true"
    );
    // Every line is stamped within [since, until] and the ticks are consecutive:
    // the replayed ones and the followed ones join without a gap.
    let mut nums = Vec::new();
    for l in out.lines() {
        let (ts, text) = l.split_once(' ').unwrap();
        let t = std::process::Command::new("date")
            .args(["-u", "-d", ts, "+%s.%N"])
            .output()
            .unwrap();
        let t: f64 = String::from_utf8_lossy(&t.stdout).trim().parse().unwrap();
        assert!(t >= since && t <= until, "{l} outside [{since}, {until}]");
        nums.push(text.strip_prefix("tick ").unwrap().parse::<u64>().unwrap());
    }
    // About 18 ticks in 1.8 s; at least a second's worth even on a loaded machine.
    assert!(nums.len() >= 8, "{out}");
    for w in nums.windows(2) {
        assert_eq!(w[1], w[0] + 1, "{out}");
    }
    d.berth(["rm", "-f", "tick"]).ok();
}

#[test]
fn docker_cli_reads_large_muxed_and_tty_logs_like_berth() {
    let d = daemon();
    if docker_cli().is_none() {
        eprintln!("docker CLI missing: skipped");
        return;
    }
    // ~1.9 MB of stdout (two engine batches and a part) with stderr lines among it.
    d.berth([
        "run",
        "--name",
        "big",
        "busybox",
        "sh",
        "-c",
        "seq 1 250000; echo oops >&2; seq 250001 260000; echo again >&2",
    ])
    .ok();
    d.berth([
        "run",
        "-t",
        "--name",
        "tty",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ])
    .ok();
    let want: String = (1..=260000).map(|i| format!("{i}\n")).collect();
    for args in [
        &["logs", "big"][..],
        &["logs", "--tail", "3", "big"],
        &["logs", "-t", "--tail", "5", "big"],
        &["logs", "--details", "--tail", "2", "big"],
        &["logs", "tty"],
    ] {
        let b = d.berth(args).ok();
        let k = d.docker(args).unwrap().ok();
        assert_eq!(b.stdout, k.stdout, "{args:?}");
        assert_eq!(b.stderr, k.stderr, "{args:?}");
    }
    let all = d.docker(["logs", "big"]).unwrap().ok();
    assert!(
        all.stdout == want,
        "stdout differs from the container's output"
    );
    assert_eq!(all.stderr, "oops\nagain\n");
    let tail = d.docker(["logs", "--tail", "3", "big"]).unwrap().ok();
    // Three records in all; where "again" falls among the last stdout lines depends on
    // which pipe the shim read first, as with Docker.
    assert_eq!(tail.stdout.lines().count() + tail.stderr.lines().count(), 3);
    assert!(want.ends_with(&tail.stdout), "{}", tail.stdout);
    assert!("again\n".ends_with(&tail.stderr), "{}", tail.stderr);
    // A tty's log is one raw stream: both outputs, with the terminal's line ends.
    let tty = d.docker(["logs", "tty"]).unwrap().ok();
    assert_eq!(
        (tty.stdout.as_str(), tty.stderr.as_str()),
        ("out\r\nerr\r\n", "")
    );
}

/// `daemon reload` events since `since` (unix seconds), as `Type Action ID labels`.
fn reload_events(d: &Daemon, since: u64) -> Vec<String> {
    let until = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    d.berth([
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until.to_string(),
        "--filter",
        "type=daemon",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.ID}} {{index .Actor.Attributes \"labels\"}}",
    ])
    .ok()
    .stdout
    .lines()
    .map(str::to_string)
    .collect()
}

#[test]
fn sighup_reloads_labels_registries_and_debug_and_sends_a_daemon_event() {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let d = daemon();
    let id = d
        .berth(["info", "-f", "{{.ID}}"])
        .ok()
        .stdout
        .trim()
        .to_string();
    assert!(reload_events(&d, since).is_empty());
    assert_eq!(d.berth(["info", "-f", "{{.Debug}}"]).ok().stdout, "false\n");
    std::fs::write(
        d.root.join("daemon.json"),
        r#"{"labels": ["tier=front"], "insecure-registries": ["10.99.0.0/16", "reg.test:5000"], "debug": true}"#,
    )
    .unwrap();
    d.signal(libc::SIGHUP);
    assert!(
        d.wait_for(10, || reload_events(&d, since).len() == 1),
        "no reload event: {:?}\n{}",
        reload_events(&d, since),
        d.log()
    );
    assert_eq!(
        reload_events(&d, since),
        [format!("daemon reload {id} [\"tier=front\"]")]
    );
    // The new values are in effect: info reports them (both CLIs agree).
    let info = "{{.Debug}} {{json .Labels}} {{json .RegistryConfig.InsecureRegistryCIDRs}}";
    let want = "true [\"tier=front\"] [\"::1/128\",\"127.0.0.0/8\",\"10.99.0.0/16\"]\n";
    assert_eq!(d.berth(["info", "-f", info]).ok().stdout, want);
    if let Some(r) = d.docker(["info", "-f", info]) {
        assert_eq!(r.stdout, want, "{r:#?}");
    }
    let idx = d
        .berth(["info", "-f", "{{json .RegistryConfig.IndexConfigs}}"])
        .ok()
        .stdout;
    assert!(idx.contains("\"reg.test:5000\""), "{idx}");
    let until = (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    let events = [
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until,
        "--filter",
        "type=daemon",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.ID}}",
    ];
    if let Some(r) = d.docker(events) {
        assert_eq!(r.stdout, format!("daemon reload {id}\n"), "{r:#?}");
    }

    // A file that does not load changes nothing, sends no event, and the daemon
    // keeps serving.
    std::fs::write(d.root.join("daemon.json"), "{not json").unwrap();
    d.signal(libc::SIGHUP);
    assert!(
        d.wait_for(10, || d
            .log()
            .contains("unable to configure the Docker daemon")),
        "{}",
        d.log()
    );
    assert_eq!(reload_events(&d, since).len(), 1);
    assert_eq!(d.berth(["info", "-f", info]).ok().stdout, want);
}
