//! Issue "Operations", the audit's additions: an image's `HEALTHCHECK` inherited,
//! partly overridden by `--health-*` (Docker merges field by field), disabled by
//! `--no-healthcheck`, and `--health-start-period`; the restart back-off resetting after
//! a run of 10 s, with `State.Restarting` visible in `inspect` meanwhile; `stats`
//! streaming, `-a` and every Docker placeholder; volume and network events with
//! filters; `system info` and `system df` checked against the host.

use berth_e2e::*;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn daemon() -> Daemon {
    assert!(is_root(), "end-to-end tests need root");
    let d = Daemon::start();
    d.import_busybox("busybox");
    d
}

fn inspect(d: &Daemon, name: &str, fmt: &str) -> String {
    d.berth(["inspect", "-f", fmt, name])
        .stdout
        .trim()
        .to_string()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn image_healthcheck_is_inherited_merged_and_disabled() {
    let d = daemon();
    d.berth(["run", "--name", "base", "busybox", "true"]).ok();
    d.berth([
        "commit",
        "--change",
        "HEALTHCHECK --interval=300ms --retries=1 CMD test -f /tmp/ok",
        "base",
        "hcimg:1",
    ])
    .ok();
    // No flags: the image's probe runs (the file is missing: unhealthy).
    d.berth(["run", "-d", "--name", "inh", "hcimg:1", "sleep", "1000"])
        .ok();
    // Only an interval: Docker keeps the image's test and retries.
    d.berth([
        "run",
        "-d",
        "--name",
        "part",
        "--health-interval",
        "200ms",
        "hcimg:1",
        "sh",
        "-c",
        "touch /tmp/ok; sleep 1000",
    ])
    .ok();
    // --no-healthcheck turns the image's probe off.
    d.berth([
        "run",
        "-d",
        "--name",
        "off",
        "--no-healthcheck",
        "hcimg:1",
        "sleep",
        "1000",
    ])
    .ok();
    // A start period: failures inside it do not count.
    d.berth([
        "run",
        "-d",
        "--name",
        "grace",
        "--health-start-period",
        "3s",
        "hcimg:1",
        "sleep",
        "1000",
    ])
    .ok();
    let part: serde_json::Value =
        serde_json::from_str(&inspect(&d, "part", "{{json .Config.Healthcheck}}")).unwrap();
    assert_eq!(
        part["Test"],
        serde_json::json!(["CMD-SHELL", "test -f /tmp/ok"])
    );
    assert_eq!(part["Interval"], 200_000_000);
    assert_eq!(part["Retries"], 1);
    assert!(
        d.wait_for(10, || inspect(&d, "inh", "{{.State.Health.Status}}")
            == "unhealthy")
    );
    assert!(
        d.wait_for(10, || inspect(&d, "part", "{{.State.Health.Status}}")
            == "healthy")
    );
    // Still in its start period while `inh` (same probe) is already unhealthy.
    assert_eq!(inspect(&d, "grace", "{{.State.Health.Status}}"), "starting");
    assert_eq!(inspect(&d, "grace", "{{.State.Health.FailingStreak}}"), "0");
    assert!(
        d.wait_for(10, || inspect(&d, "grace", "{{.State.Health.Status}}")
            == "unhealthy")
    );
    assert_eq!(
        inspect(
            &d,
            "off",
            "{{json .Config.Healthcheck.Test}} {{if .State.Health}}has{{else}}none{{end}}"
        ),
        "[\"NONE\"] none"
    );
    let ps = d
        .berth(["ps", "--format", "{{.Names}}={{.Status}}"])
        .ok()
        .stdout;
    let status = |n: &str| {
        ps.lines()
            .find_map(|l| l.strip_prefix(&format!("{n}=")))
            .unwrap_or_else(|| panic!("{n} missing: {ps}"))
            .to_string()
    };
    assert!(status("inh").ends_with("(unhealthy)"), "{ps}");
    assert!(status("part").ends_with("(healthy)"), "{ps}");
    assert!(!status("off").contains('('), "{ps}");
    d.berth(["rm", "-f", "inh", "part", "off", "grace", "base"])
        .ok();
}

/// Action and `timeNano` of the container's `die` and `start` events in a window.
fn die_start_times(d: &Daemon, name: &str, since: u64) -> Vec<(String, i64)> {
    let (s, u) = (since.to_string(), (now_secs() + 1).to_string());
    d.berth([
        "events",
        "--since",
        &s,
        "--until",
        &u,
        "--filter",
        &format!("container={name}"),
        "--filter",
        "event=die",
        "--filter",
        "event=start",
        "--format",
        "{{json .}}",
    ])
    .ok()
    .stdout
    .lines()
    .map(|l| {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        (
            v["Action"].as_str().unwrap().to_string(),
            v["timeNano"].as_i64().unwrap(),
        )
    })
    .collect()
}

#[test]
fn restart_backoff_resets_after_ten_seconds_of_running() {
    let d = daemon();
    let t0 = now_secs();
    // Runs 1-3 exit at once, run 4 lasts 10.5 s, run 5 exits at once, run 6 stays.
    let script = "n=$(cat /count 2>/dev/null || echo 0); n=$((n+1)); echo $n > /count; \
                  [ $n = 4 ] && sleep 10.5; [ $n -ge 6 ] && exec sleep 1000; exit 1";
    d.berth([
        "run",
        "-d",
        "--name",
        "bo",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        script,
    ])
    .ok();
    // Between the quick exits `inspect` shows the Restarting state.
    let mut saw = false;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !saw && std::time::Instant::now() < deadline {
        saw = inspect(&d, "bo", "{{.State.Restarting}} {{.State.Status}}") == "true restarting";
    }
    assert!(saw, "inspect never showed State.Restarting");
    assert!(d.wait_for(30, || inspect(
        &d,
        "bo",
        "{{.RestartCount}} {{.State.Status}}"
    ) == "5 running"));
    let ev = die_start_times(&d, "bo", t0);
    let starts: Vec<i64> = ev
        .iter()
        .filter(|(a, _)| a == "start")
        .map(|e| e.1)
        .collect();
    let dies: Vec<i64> = ev.iter().filter(|(a, _)| a == "die").map(|e| e.1).collect();
    assert_eq!((starts.len(), dies.len()), (6, 5), "{ev:?}");
    // The delay between each exit and the next start.
    let waits: Vec<f64> = dies
        .iter()
        .zip(&starts[1..])
        .map(|(die, start)| (start - die) as f64 / 1e6)
        .collect();
    let ran4 = (dies[3] - starts[3]) as f64 / 1e9;
    assert!(ran4 >= 10.0, "run 4 lasted {ran4} s");
    // 100, 200, 400 ms, then back to 100 after the long run (800 without the reset),
    // then 200. Each wait also holds the start itself: allow up to 350 ms for it.
    for (i, want) in [100.0, 200.0, 400.0, 100.0, 200.0].iter().enumerate() {
        assert!(
            waits[i] >= want * 0.95 && waits[i] < want + 350.0,
            "wait {i}: {waits:?}"
        );
    }
    assert_eq!(inspect(&d, "bo", "{{.State.Status}}"), "running");
    // Policy restarts publish `die` and `start` only, as Docker's; a user `restart`
    // publishes `restart` and, like a user `start`, sets RestartCount back to 0.
    let kinds = |ev: &str| {
        let (s, u) = (t0.to_string(), (now_secs() + 1).to_string());
        d.berth([
            "events",
            "--since",
            &s,
            "--until",
            &u,
            "--filter",
            "container=bo",
            "--filter",
            &format!("event={ev}"),
        ])
        .ok()
        .stdout
        .lines()
        .count()
    };
    assert_eq!(kinds("restart"), 0);
    d.berth(["restart", "-t", "0", "bo"]).ok();
    assert_eq!(kinds("restart"), 1);
    assert_eq!(inspect(&d, "bo", "{{.RestartCount}}"), "0");
    d.berth(["rm", "-f", "bo"]).ok();
}

/// A CLI size (`1.5MiB`, `0B`, `12.3kB`) in bytes.
fn bytes(s: &str) -> f64 {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().unwrap_or_else(|_| panic!("size {s}"));
    let mult = match unit {
        "B" => 1.0,
        "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => panic!("unit of {s}"),
    };
    n * mult
}

/// Drops the cursor/erase escape sequences of the streaming table.
fn strip_escapes(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

const ALL_FIELDS: &str = "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.MemPerc}}|{{.NetIO}}|{{.BlockIO}}|{{.PIDs}}|{{.Container}}|{{.ID}}";

#[test]
fn stats_streams_shows_all_with_a_and_fills_every_docker_placeholder() {
    let d = daemon();
    d.berth([
        "run",
        "-d",
        "--name",
        "spin",
        "-m",
        "64m",
        "busybox",
        "sh",
        "-c",
        "while :; do :; done",
    ])
    .ok();
    d.berth(["run", "-d", "--name", "idle", "busybox", "sleep", "1000"])
        .ok();
    d.berth(["run", "--name", "done", "busybox", "true"]).ok();
    let spin_id = inspect(&d, "spin", "{{.Id}}");
    // Streaming: the table is redrawn about once a second until interrupted.
    let mut child = d
        .berth_cmd(["stats", "--format", ALL_FIELDS])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(4500));
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let raw = String::from_utf8_lossy(&out.stdout).into_owned();
    let frames: Vec<String> = raw
        .split("\u{1b}[H")
        .map(strip_escapes)
        .filter(|f| f.lines().any(|l| l.contains('|')))
        .collect();
    assert!(frames.len() >= 3, "{raw:?}");
    let last = frames.last().unwrap();
    let rows: Vec<Vec<&str>> = last
        .lines()
        .filter(|l| l.contains('|'))
        .map(|l| l.trim().split('|').collect())
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    assert!(names.contains(&"spin") && names.contains(&"idle"), "{last}");
    assert!(
        !names.contains(&"done"),
        "stopped ones only with -a: {last}"
    );
    let spin = rows.iter().find(|r| r[0] == "spin").unwrap();
    // A busy loop uses a good part of a CPU (Docker's formula: share of all CPUs x N).
    let cpu: f64 = spin[1].trim_end_matches('%').parse().unwrap();
    assert!(cpu > 5.0 && cpu <= 205.0, "{last}");
    // MemUsage `used / limit`, MemPerc the ratio of the two.
    let (used, limit) = spin[2].split_once(" / ").unwrap();
    assert_eq!(limit, "64MiB");
    let perc: f64 = spin[3].trim_end_matches('%').parse().unwrap();
    let want = bytes(used) / bytes(limit) * 100.0;
    assert!((perc - want).abs() < 0.1, "{perc} vs {want}: {last}");
    for io in [spin[4], spin[5]] {
        let (a, b) = io.split_once(" / ").unwrap();
        assert!(bytes(a) >= 0.0 && bytes(b) >= 0.0, "{io}");
    }
    assert_eq!(spin[6], "1");
    assert_eq!(
        spin[7], spin_id,
        "Container is the full id without arguments"
    );
    assert_eq!(spin[8], &spin_id[..12]);

    // -a lists the stopped container with Docker's zero figures; a named container's
    // `Container` is the name as given.
    let all = d
        .berth(["stats", "--no-stream", "-a", "--format", ALL_FIELDS])
        .ok()
        .stdout;
    let done = all
        .lines()
        .find(|l| l.starts_with("done|"))
        .unwrap_or_else(|| panic!("{all}"));
    let f: Vec<&str> = done.split('|').collect();
    assert_eq!(
        &f[1..7],
        ["0.00%", "0B / 0B", "0.00%", "0B / 0B", "0B / 0B", "0"]
    );
    let named = d
        .berth(["stats", "--no-stream", "--format", "{{.Container}}", "idle"])
        .ok()
        .stdout;
    assert_eq!(named, "idle\n");
    // The default table has Docker's header.
    let table = d.berth(["stats", "--no-stream"]).ok().stdout;
    assert_eq!(
        table
            .lines()
            .next()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        [
            "CONTAINER",
            "ID",
            "NAME",
            "CPU",
            "%",
            "MEM",
            "USAGE",
            "/",
            "LIMIT",
            "MEM",
            "%",
            "NET",
            "I/O",
            "BLOCK",
            "I/O",
            "PIDS"
        ]
    );
    d.berth(["rm", "-f", "spin", "idle", "done"]).ok();
}

/// `events` over a closed window, `{{.Type}} {{.Action}} {{.Actor.ID}}` per line.
fn events(d: &Daemon, since: u64, args: &[&str]) -> Vec<String> {
    let (s, u) = (since.to_string(), (now_secs() + 1).to_string());
    let mut all = vec![
        "events",
        "--since",
        &s,
        "--until",
        &u,
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.ID}}",
    ];
    all.extend_from_slice(args);
    d.berth(&all)
        .ok()
        .stdout
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn volume_and_network_events_with_filters() {
    let d = daemon();
    let t0 = now_secs();
    d.berth(["run", "--name", "vu", "-v", "evvol:/v", "busybox", "true"])
        .ok();
    let net = d
        .berth(["network", "create", "evnet"])
        .ok()
        .stdout
        .trim()
        .to_string();
    d.berth([
        "run",
        "--name",
        "nu",
        "--network",
        "evnet",
        "busybox",
        "true",
    ])
    .ok();
    d.berth(["rm", "vu", "nu"]).ok();
    d.berth(["network", "rm", "evnet"]).ok();
    d.berth(["volume", "rm", "evvol"]).ok();
    assert_eq!(
        events(&d, t0, &["--filter", "type=volume"]),
        [
            "volume create evvol",
            "volume mount evvol",
            "volume unmount evvol",
            "volume destroy evvol"
        ]
    );
    assert_eq!(
        events(
            &d,
            t0,
            &["--filter", "volume=evvol", "--filter", "event=mount"]
        ),
        ["volume mount evvol"]
    );
    let nets = events(&d, t0, &["--filter", "network=evnet"]);
    assert_eq!(
        nets,
        [
            format!("network create {net}"),
            format!("network connect {net}"),
            format!("network disconnect {net}"),
            format!("network destroy {net}"),
        ]
    );
    assert_eq!(
        events(
            &d,
            t0,
            &["--filter", "type=network", "--filter", "event=destroy"]
        ),
        [format!("network destroy {net}")]
    );
    // The network's events name the container that connected.
    let connect = d
        .berth([
            "events",
            "--since",
            &t0.to_string(),
            "--until",
            &(now_secs() + 1).to_string(),
            "--filter",
            "event=connect",
            "--format",
            "{{.Actor.Attributes.container}} {{.Actor.Attributes.name}}",
        ])
        .ok()
        .stdout;
    let nu_id = connect.split_whitespace().next().unwrap_or_default();
    assert_eq!(nu_id.len(), 64, "{connect}");
    assert!(connect.trim_end().ends_with(" evnet"), "{connect}");
}

#[test]
fn system_info_and_df_report_the_daemon() {
    let mut d = daemon();
    std::fs::write(d.root.join("daemon.json"), r#"{"log-driver":"local"}"#).unwrap();
    d.restart();
    d.berth(["run", "-d", "--name", "up", "busybox", "sleep", "1000"])
        .ok();
    d.berth([
        "run",
        "--name",
        "down",
        "busybox",
        "sh",
        "-c",
        "echo x > /f",
    ])
    .ok();
    let info = d
        .berth([
            "system",
            "info",
            "--format",
            "{{.Containers}}|{{.ContainersRunning}}|{{.ContainersStopped}}|{{.Images}}|\
             {{.Driver}}|{{.LoggingDriver}}|{{.CgroupVersion}}|{{.NCPU}}|{{.MemTotal}}|\
             {{.DockerRootDir}}|{{.OSType}}|{{.KernelVersion}}",
        ])
        .ok()
        .stdout;
    let f: Vec<&str> = info.trim().split('|').collect();
    assert_eq!(&f[..6], ["2", "1", "1", "1", "overlay2", "local"], "{info}");
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    assert_eq!(f[6], if v2 { "2" } else { "1" });
    let ncpu = std::thread::available_parallelism().unwrap().get();
    assert_eq!(f[7], ncpu.to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .parse()
        .unwrap();
    assert_eq!(f[8], (kb * 1024).to_string());
    assert_eq!(f[9], d.data_root.display().to_string());
    assert_eq!(f[10], "linux");
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(f[11], release.trim());
    // The docker CLI reads the same info from this daemon.
    if let Some(r) = d.docker([
        "info",
        "--format",
        "{{.ContainersRunning}} {{.LoggingDriver}}",
    ]) {
        assert_eq!(r.ok().stdout.trim(), "1 local");
    }
    // system df: one image used by both, two containers (one active), the stopped one's
    // written file counted in its size.
    let df = d
        .berth([
            "system",
            "df",
            "--format",
            "{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Size}}",
        ])
        .ok()
        .stdout;
    let rows: Vec<Vec<&str>> = df.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows[0][..3], ["Images", "1", "1"], "{df}");
    assert_eq!(rows[1][..3], ["Containers", "2", "1"], "{df}");
    assert!(bytes(rows[1][3]) >= 2.0, "{df}");
    let verbose = d.berth(["system", "df", "-v"]).ok().stdout;
    let down = verbose
        .lines()
        .find(|l| l.trim_end().ends_with(" down"))
        .unwrap_or_else(|| panic!("{verbose}"));
    assert!(down.contains("Exited (0)"), "{down}");
    d.berth(["rm", "-f", "up", "down"]).ok();
    std::fs::write(d.root.join("daemon.json"), "{}").unwrap();
}
