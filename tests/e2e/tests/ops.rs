//! Issue "Operations": the Prometheus endpoint (scraped and parsed by the real
//! `prometheus_client` text parser, values checked against cgroup and proc files),
//! `events` with filters, history windows and `--format`, `top` with ps options and
//! `system prune` (`-a`, `--volumes`).

use berth_e2e::*;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn daemon_with(extra: &[&str]) -> Daemon {
    assert!(is_root(), "end-to-end tests need root");
    let d = Daemon::start_with(extra);
    d.import_busybox("busybox");
    d
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn scrape(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    assert!(out.contains("text/plain; version=0.0.4"));
    out.split_once("\r\n\r\n").unwrap().1.to_string()
}

/// One parsed sample.
#[derive(Debug, Clone)]
struct Sample {
    family: String,
    kind: String,
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parse with prometheus_client (None when it is not installed).
fn parse_with_prometheus_client(text: &str) -> Option<Vec<Sample>> {
    let probe = Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .output()
        .ok()?;
    if !probe.status.success() {
        eprintln!("prometheus_client missing (scripts/deps.sh test): parse skipped");
        return None;
    }
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        out.append({"family": fam.name, "kind": fam.type, "name": s.name,
                    "labels": s.labels, "value": s.value})
print(json.dumps(out))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser refused the page: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let text = |x: &serde_json::Value| x.as_str().unwrap_or_default().to_string();
    Some(
        v.iter()
            .map(|x| Sample {
                family: text(&x["family"]),
                kind: text(&x["kind"]),
                name: text(&x["name"]),
                labels: x["labels"]
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), text(v))).collect())
                    .unwrap_or_default(),
                value: x["value"].as_f64().unwrap_or(f64::NAN),
            })
            .collect(),
    )
}

fn value(samples: &[Sample], name: &str, ctr: &str, extra: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && s.labels.get("name").map(String::as_str) == Some(ctr)
                && extra
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

fn read_u64(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn metrics_endpoint_serves_cadvisor_series_parsed_by_prometheus_client() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let d = daemon_with(&["--metrics-addr", &addr]);
    assert!(d.log().contains(&format!("metrics listen on {addr}")));
    d.berth([
        "run",
        "-d",
        "--name",
        "busy",
        "--label",
        "tier=web",
        "-m",
        "64m",
        "--health-cmd",
        "true",
        "--health-interval",
        "1s",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/tmp/blob bs=1M count=8 2>/dev/null; while true; do :; done",
    ])
    .ok();
    d.berth([
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ])
    .ok();
    assert!(d.wait_for(20, || d
        .berth([
            "inspect",
            "-f",
            "{{.RestartCount}} {{.State.Running}}",
            "flaky"
        ])
        .stdout
        .trim()
        == "2 false"));
    assert!(d.wait_for(20, || d
        .berth(["inspect", "-f", "{{.State.Health.Status}}", "busy"])
        .stdout
        .trim()
        == "healthy"));
    std::thread::sleep(Duration::from_millis(500));
    let id = d
        .berth(["inspect", "-f", "{{.Id}}", "busy"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let pid: i64 = d
        .berth(["inspect", "-f", "{{.State.Pid}}", "busy"])
        .ok()
        .stdout
        .trim()
        .parse()
        .unwrap();
    let text = scrape(port);
    let mem_file = std::path::Path::new("/sys/fs/cgroup/memory")
        .join(&d.cgroup_parent)
        .join(&id)
        .join("memory.usage_in_bytes");
    let mem_now = read_u64(&mem_file);
    let cpu_file = std::path::Path::new("/sys/fs/cgroup/cpuacct")
        .join(&d.cgroup_parent)
        .join(&id)
        .join("cpuacct.usage");
    let cpu_now = read_u64(&cpu_file);
    let Some(samples) = parse_with_prometheus_client(&text) else {
        assert!(text.contains("container_cpu_usage_seconds_total{"));
        return;
    };
    // Types as declared.
    let kind_of = |fam: &str| {
        samples
            .iter()
            .find(|s| s.family == fam)
            .map(|s| s.kind.clone())
    };
    assert_eq!(
        kind_of("container_cpu_usage_seconds").as_deref(),
        Some("counter")
    );
    assert_eq!(
        kind_of("container_memory_usage_bytes").as_deref(),
        Some("gauge")
    );
    // Labels: id, name, image.
    let cpu = samples
        .iter()
        .find(|s| s.name == "container_cpu_usage_seconds_total" && s.labels["name"] == "busy")
        .expect("cpu series");
    assert_eq!(cpu.labels["id"], id);
    assert_eq!(cpu.labels["image"], "busybox");
    // CPU: the busy loop has used some; the cgroup file read right after is >= it.
    assert!(cpu.value > 0.05, "{}", cpu.value);
    if cpu_now > 0 {
        assert!(
            cpu.value <= cpu_now as f64 / 1e9 + 1e-6,
            "{} vs {cpu_now}",
            cpu.value
        );
        assert!(cpu.value > cpu_now as f64 / 1e9 - 5.0);
    }
    // Memory: the 8 MiB file in tmpfs-less /tmp is page cache of the container.
    let mem = value(&samples, "container_memory_usage_bytes", "busy", &[]).unwrap();
    assert!(mem > 1e6, "{mem}");
    if mem_now > 0 {
        let diff = (mem - mem_now as f64).abs();
        assert!(diff < 4e6, "metric {mem} vs file {mem_now}");
    }
    assert_eq!(
        value(&samples, "container_spec_memory_limit_bytes", "busy", &[]),
        Some(64.0 * 1024.0 * 1024.0)
    );
    assert!(value(&samples, "container_processes", "busy", &[]).unwrap() >= 1.0);
    // Health and restarts.
    assert_eq!(
        value(
            &samples,
            "container_health_status",
            "busy",
            &[("status", "healthy")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "container_health_status",
            "busy",
            &[("status", "unhealthy")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(&samples, "container_restarts_total", "flaky", &[]),
        Some(2.0)
    );
    assert_eq!(
        value(&samples, "container_running", "flaky", &[]),
        Some(0.0)
    );
    assert_eq!(value(&samples, "container_running", "busy", &[]), Some(1.0));
    // No cgroup series for a stopped container.
    assert_eq!(
        value(&samples, "container_cpu_usage_seconds_total", "flaky", &[]),
        None
    );
    // Network: the counters of the container's namespace, as in its /proc/net/dev.
    let dev = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap();
    for line in dev.lines().skip(2) {
        let (ifname, rest) = line.split_once(':').unwrap();
        let ifname = ifname.trim();
        let rx: f64 = rest.split_whitespace().next().unwrap().parse().unwrap();
        let m = value(
            &samples,
            "container_network_receive_bytes_total",
            "busy",
            &[("interface", ifname)],
        );
        if ifname == "lo" {
            assert_eq!(m, None, "loopback is left out");
        } else {
            let m = m.unwrap_or_else(|| panic!("no series for {ifname}"));
            assert!(m <= rx, "{ifname}: {m} > {rx}");
        }
    }
    // Daemon-level counts.
    let running = samples
        .iter()
        .find(|s| {
            s.name == "engine_daemon_container_states_containers"
                && s.labels.get("state").map(String::as_str) == Some("running")
        })
        .unwrap();
    assert_eq!(running.value, 1.0);
    // Anything but /metrics is a 404.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /nope HTTP/1.1\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 404"), "{out}");
}

#[test]
fn metrics_are_off_by_default_and_set_from_daemon_json() {
    let mut d = daemon_with(&[]);
    assert!(!d.log().contains("metrics listen"));
    let port = free_port();
    std::fs::write(
        d.root.join("daemon.json"),
        format!(r#"{{"metrics-addr":"127.0.0.1:{port}"}}"#),
    )
    .unwrap();
    d.restart();
    let page = scrape(port);
    assert!(
        page.contains("# TYPE engine_daemon_container_states_containers gauge"),
        "{page}"
    );
    std::fs::write(d.root.join("daemon.json"), "{}").unwrap();
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `events` over a closed window with `args`, one formatted line per event.
fn events(d: &Daemon, since: u64, until: u64, args: &[&str]) -> Vec<String> {
    let (s, u) = (since.to_string(), until.to_string());
    let mut all = vec![
        "events",
        "--since",
        &s,
        "--until",
        &u,
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
    ];
    all.extend_from_slice(args);
    let r = d.berth(&all).ok();
    r.stdout.lines().map(str::to_string).collect()
}

#[test]
fn events_filters_history_and_format() {
    let d = daemon_with(&[]);
    let t0 = now_secs();
    d.berth([
        "run", "--name", "ev-a", "--label", "team=x", "busybox", "true",
    ])
    .ok();
    d.berth(["create", "--name", "ev-b", "busybox", "true"])
        .ok();
    d.berth(["tag", "busybox", "evimg:1"]).ok();
    d.berth(["rm", "ev-b"]).ok();
    std::thread::sleep(Duration::from_millis(1100));
    let t1 = now_secs();
    let all = events(&d, t0, t1, &[]);
    for want in [
        "container create ev-a",
        "container start ev-a",
        "container die ev-a",
        "container create ev-b",
        "container destroy ev-b",
        "image tag evimg:1",
    ] {
        assert!(
            all.iter().any(|l| l == want),
            "{want} missing from {all:#?}"
        );
    }
    // Filters: each key narrows, values of one key are alternatives.
    let by_name = events(&d, t0, t1, &["--filter", "container=ev-b"]);
    assert_eq!(by_name, ["container create ev-b", "container destroy ev-b"]);
    let ev = events(
        &d,
        t0,
        t1,
        &["--filter", "event=start", "--filter", "event=destroy"],
    );
    assert_eq!(ev, ["container start ev-a", "container destroy ev-b"]);
    let lbl = events(
        &d,
        t0,
        t1,
        &["--filter", "label=team=x", "--filter", "event=die"],
    );
    assert_eq!(lbl, ["container die ev-a"]);
    let img = events(
        &d,
        t0,
        t1,
        &["--filter", "type=image", "--filter", "event=tag"],
    );
    assert_eq!(img, ["image tag evimg:1"]);
    assert!(events(&d, t0, t1, &["--filter", "type=image"])
        .iter()
        .all(|l| l.starts_with("image ")));
    let by_image = events(
        &d,
        t0,
        t1,
        &["--filter", "image=busybox", "--filter", "event=create"],
    );
    assert_eq!(by_image, ["container create ev-a", "container create ev-b"]);
    // Kinds nobody emitted here match nothing, and a bad key is refused.
    assert!(events(&d, t0, t1, &["--filter", "type=volume"]).is_empty());
    assert!(events(
        &d,
        t0,
        t1,
        &["--filter", "type=network", "--filter", "network=nope"]
    )
    .is_empty());
    assert!(events(&d, t0, t1, &["--filter", "daemon=x"]).is_empty());
    let bad = d.berth([
        "events", "--since", "0", "--until", "1", "--filter", "bogus=1",
    ]);
    assert_ne!(bad.status, 0);
    assert!(bad.stderr.contains("invalid filter 'bogus'"), "{bad:#?}");
    // A window before anything happened is empty; JSON format carries Docker's fields.
    assert!(events(&d, t0 - 100, t0 - 50, &[]).is_empty());
    let (s, u) = (t0.to_string(), t1.to_string());
    let js = d
        .berth([
            "events",
            "--since",
            &s,
            "--until",
            &u,
            "--filter",
            "event=create",
            "--format",
            "{{json .}}",
        ])
        .ok()
        .stdout;
    let first: serde_json::Value = serde_json::from_str(js.lines().next().unwrap()).unwrap();
    assert_eq!(first["Type"], "container");
    assert_eq!(first["status"], "create");
    assert_eq!(first["Actor"]["Attributes"]["image"], "busybox");
    assert_eq!(first["Actor"]["Attributes"]["team"], "x");
    assert!(first["timeNano"].as_i64().unwrap() >= (t0 as i64) * 1_000_000_000);
    // Live: an event made after the call arrives, and --until ends the stream.
    let until = (now_secs() + 3).to_string();
    let child = d
        .berth_cmd([
            "events",
            "--until",
            &until,
            "--filter",
            "event=start",
            "--format",
            "{{.Actor.Attributes.name}}",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    d.berth(["run", "--name", "ev-live", "busybox", "true"])
        .ok();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ev-live\n");
}

#[test]
fn top_takes_ps_options() {
    let d = daemon_with(&[]);
    d.berth(["run", "-d", "--name", "tp", "busybox", "sleep", "1000"])
        .ok();
    let t = d.berth(["top", "tp", "-o", "pid,comm"]).ok().stdout;
    let mut lines = t.lines();
    let head: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(head, ["PID", "COMMAND"], "{t}");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 1, "{t}");
    assert!(rows[0].ends_with("sleep"), "{t}");
    let pid = d
        .berth(["inspect", "-f", "{{.State.Pid}}", "tp"])
        .ok()
        .stdout;
    assert!(rows[0].trim_start().starts_with(pid.trim()), "{t} vs {pid}");
    let aux = d.berth(["top", "tp", "aux"]).ok().stdout;
    let head = aux.lines().next().unwrap();
    assert!(
        head.starts_with("USER") && head.contains("%CPU") && head.ends_with("COMMAND"),
        "{aux}"
    );
    assert!(aux.contains("sleep 1000"), "{aux}");
    let stopped = d.berth(["run", "--name", "tq", "busybox", "true"]).ok();
    assert_eq!(stopped.status, 0);
    let r = d.berth(["top", "tq"]);
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("is not running"), "{r:#?}");
    d.berth(["rm", "-f", "tp"]).ok();
}

#[test]
fn system_prune_all_and_volumes() {
    let d = daemon_with(&[]);
    d.berth(["run", "-d", "--name", "keep", "busybox", "sleep", "1000"])
        .ok();
    d.berth(["run", "--name", "gone", "-v", "/anon", "busybox", "true"])
        .ok();
    d.berth(["volume", "create", "named"]).ok();
    // An unused tagged image and a dangling one, both from commits.
    d.berth(["run", "--name", "src", "busybox", "touch", "/f"])
        .ok();
    d.berth(["commit", "src", "spare:1"]).ok();
    let dangling = d.berth(["commit", "src"]).ok().stdout.trim().to_string();
    d.berth(["rm", "src"]).ok();
    let gone_id = d
        .berth(["inspect", "-f", "{{.Id}}", "gone"])
        .ok()
        .stdout
        .trim()
        .to_string();

    let r = d.berth(["system", "prune", "-f"]).ok().stdout;
    assert!(
        r.contains("Deleted Containers:") && r.contains(&gone_id),
        "{r}"
    );
    assert!(r.contains(&dangling[7..19]) || r.contains(&dangling), "{r}");
    assert!(r.contains("Total reclaimed space:"), "{r}");
    assert_eq!(
        d.berth(["ps", "-aq"]).ok().stdout.lines().count(),
        1,
        "running one kept"
    );
    let imgs = d
        .berth(["images", "--format", "{{.Repository}}"])
        .ok()
        .stdout;
    assert!(
        imgs.contains("spare"),
        "tagged image kept without -a: {imgs}"
    );
    // Volumes stay without --volumes; the anonymous one is unused now.
    let anon = d
        .berth(["volume", "ls", "-q", "--filter", "dangling=true"])
        .ok()
        .stdout;
    assert!(anon.lines().any(|v| v.len() == 64), "{anon}");

    let r = d.berth(["system", "prune", "-af", "--volumes"]).ok().stdout;
    assert!(r.contains("Deleted Volumes:"), "{r}");
    let imgs = d
        .berth(["images", "--format", "{{.Repository}}"])
        .ok()
        .stdout;
    assert!(!imgs.contains("spare"), "{imgs}");
    assert!(
        imgs.contains("busybox"),
        "the running container's image stays: {imgs}"
    );
    let vols = d.berth(["volume", "ls", "-q"]).ok().stdout;
    assert!(
        !vols.lines().any(|v| v.len() == 64),
        "anonymous volume pruned: {vols}"
    );
    assert!(
        vols.lines().any(|v| v == "named"),
        "named volume kept: {vols}"
    );
    d.berth(["rm", "-f", "keep"]).ok();
}

// ---------------------------------------------------------------------------------
// Restart policies, health, stats

fn inspect(d: &Daemon, name: &str, fmt: &str) -> String {
    d.berth(["inspect", "-f", fmt, name])
        .stdout
        .trim()
        .to_string()
}

#[test]
fn restart_policies_follow_docker_including_daemon_restart() {
    let mut d = daemon_with(&[]);
    // on-failure:N: only non-zero exits, at most N restarts.
    d.berth([
        "run",
        "-d",
        "--name",
        "of",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ])
    .ok();
    d.berth([
        "run",
        "-d",
        "--name",
        "of0",
        "--restart",
        "on-failure",
        "busybox",
        "true",
    ])
    .ok();
    assert!(d.wait_for(20, || inspect(
        &d,
        "of",
        "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}"
    ) == "2 exited 3"));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        inspect(&d, "of", "{{.RestartCount}}"),
        "2",
        "no third restart"
    );
    assert_eq!(
        inspect(&d, "of0", "{{.RestartCount}} {{.State.Status}}"),
        "0 exited"
    );

    // always: restarts after a clean exit too, with a back-off that doubles.
    let t0 = now_secs();
    d.berth([
        "run",
        "-d",
        "--name",
        "al",
        "--restart",
        "always",
        "busybox",
        "true",
    ])
    .ok();
    let mut saw_restarting = false;
    let deadline = std::time::Instant::now() + Duration::from_secs(8);
    while std::time::Instant::now() < deadline {
        let st = d
            .berth(["ps", "-a", "--filter", "name=al", "--format", "{{.Status}}"])
            .stdout;
        saw_restarting |= st.starts_with("Restarting (0)");
        if inspect(&d, "al", "{{.RestartCount}}")
            .parse::<u32>()
            .unwrap_or(0)
            >= 5
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    assert!(saw_restarting, "ps never showed Restarting");
    let (s, u) = (t0.to_string(), (now_secs() + 1).to_string());
    let starts: Vec<i64> = d
        .berth([
            "events",
            "--since",
            &s,
            "--until",
            &u,
            "--filter",
            "container=al",
            "--filter",
            "event=start",
            "--format",
            "{{json .}}",
        ])
        .ok()
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["timeNano"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert!(starts.len() >= 5, "{starts:?}");
    let gaps: Vec<f64> = starts
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64 / 1e6)
        .collect();
    // Back-off 100 ms, 200, 400, 800 … plus the run itself (start to exit) each time.
    for (i, g) in gaps.iter().enumerate() {
        let backoff = 100.0 * 2f64.powi(i as i32);
        assert!(
            *g >= backoff * 0.95,
            "gap {i} shorter than the back-off: {gaps:?}"
        );
        assert!(
            *g < backoff + 1500.0,
            "gap {i} far longer than the back-off: {gaps:?}"
        );
    }
    // update --restart no: the next exit is final.
    d.berth(["update", "--restart", "no", "al"]).ok();
    assert!(d.wait_for(10, || inspect(&d, "al", "{{.State.Status}}") == "exited"));
    let n = inspect(&d, "al", "{{.RestartCount}}");
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(
        inspect(&d, "al", "{{.RestartCount}} {{.State.Status}}"),
        format!("{n} exited")
    );

    // A user stop holds until the daemon restarts: then `always` comes back and a
    // stopped `unless-stopped` does not.
    for (name, policy) in [
        ("a1", "always"),
        ("u1", "unless-stopped"),
        ("u2", "unless-stopped"),
    ] {
        d.berth([
            "run",
            "-d",
            "--name",
            name,
            "--restart",
            policy,
            "busybox",
            "sleep",
            "1000",
        ])
        .ok();
    }
    d.berth(["stop", "-t", "1", "a1", "u1"]).ok();
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(inspect(&d, "a1", "{{.State.Status}}"), "exited");
    assert_eq!(inspect(&d, "u1", "{{.State.Status}}"), "exited");
    // The same with a daemon that went down uncleanly and with its containers killed:
    // the policy decides at the next start.
    d.berth(["kill", "u2"]).ok();
    d.restart();
    assert!(d.wait_for(15, || inspect(&d, "a1", "{{.State.Status}}") == "running"));
    assert_eq!(inspect(&d, "u1", "{{.State.Status}}"), "exited");
    // `kill` by the user counts as a manual stop too.
    assert_eq!(inspect(&d, "u2", "{{.State.Status}}"), "exited");
    d.berth(["rm", "-f", "a1", "u1", "u2", "al", "of", "of0"])
        .ok();
}

#[test]
fn health_transitions_ps_inspect_and_events() {
    let d = daemon_with(&[]);
    let t0 = now_secs();
    d.berth([
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "test -f /tmp/ok && echo fine",
        "--health-interval",
        "300ms",
        "--health-retries",
        "2",
        "--health-timeout",
        "2s",
        "busybox",
        "sh",
        "-c",
        "sleep 1; touch /tmp/ok; sleep 1000",
    ])
    .ok();
    assert_eq!(inspect(&d, "hc", "{{.State.Health.Status}}"), "starting");
    let ps = d
        .berth(["ps", "--filter", "name=hc", "--format", "{{.Status}}"])
        .ok()
        .stdout;
    assert!(ps.contains("(health: starting)"), "{ps}");
    assert!(
        d.wait_for(15, || inspect(&d, "hc", "{{.State.Health.Status}}")
            == "healthy")
    );
    let ps = d
        .berth(["ps", "--filter", "name=hc", "--format", "{{.Status}}"])
        .ok()
        .stdout;
    assert!(
        ps.starts_with("Up ") && ps.trim_end().ends_with("(healthy)"),
        "{ps}"
    );
    let out = inspect(&d, "hc", "{{(index .State.Health.Log 0).Output}}");
    assert!(
        out == "fine" || out.is_empty() || out.contains("fine") || out.contains("exit"),
        "{out}"
    );
    d.berth(["exec", "hc", "rm", "/tmp/ok"]).ok();
    assert!(
        d.wait_for(15, || inspect(&d, "hc", "{{.State.Health.Status}}")
            == "unhealthy")
    );
    let streak: u32 = inspect(&d, "hc", "{{.State.Health.FailingStreak}}")
        .parse()
        .unwrap();
    assert!(streak >= 2, "{streak}");
    std::thread::sleep(Duration::from_millis(2500));
    let logs: usize = inspect(&d, "hc", "{{len .State.Health.Log}}")
        .parse()
        .unwrap();
    assert_eq!(logs, 5, "the last 5 probes are kept");
    let (s, u) = (t0.to_string(), (now_secs() + 1).to_string());
    let ev = d
        .berth([
            "events",
            "--since",
            &s,
            "--until",
            &u,
            "--filter",
            "event=health_status",
            "--format",
            "{{.Action}}",
        ])
        .ok()
        .stdout;
    let lines: Vec<&str> = ev.lines().collect();
    assert!(lines.contains(&"health_status: healthy"), "{ev}");
    assert!(lines.contains(&"health_status: unhealthy"), "{ev}");
    // --no-healthcheck and a stopped container.
    d.berth([
        "run",
        "-d",
        "--name",
        "nh",
        "--no-healthcheck",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    assert_eq!(
        inspect(&d, "nh", "{{if .State.Health}}has{{else}}none{{end}}"),
        "none"
    );
    d.berth(["rm", "-f", "hc", "nh"]).ok();
}

/// `GET path` over HTTP/1.0 (no chunked encoding): the body.
fn api_get(d: &Daemon, path: &str) -> String {
    let r = d
        .raw(&format!("GET {path} HTTP/1.0\r\nHost: berth\r\n\r\n"))
        .unwrap();
    r.split_once("\r\n\r\n").unwrap().1.to_string()
}

#[test]
fn stats_match_the_cgroup_files() {
    let d = daemon_with(&[]);
    d.berth([
        "run",
        "-d",
        "--name",
        "st",
        "-m",
        "48m",
        "--pids-limit",
        "50",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/tmp/x bs=1M count=6 2>/dev/null; sleep 1000 & sleep 1000 & wait",
    ])
    .ok();
    std::thread::sleep(Duration::from_millis(800));
    let id = inspect(&d, "st", "{{.Id}}");
    let cg = |ctrl: &str, file: &str| {
        read_u64(
            &std::path::Path::new("/sys/fs/cgroup")
                .join(ctrl)
                .join(&d.cgroup_parent)
                .join(&id)
                .join(file),
        )
    };
    let body = api_get(&d, "/containers/st/stats?stream=false");
    let v: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    let usage = v["memory_stats"]["usage"].as_u64().unwrap();
    let file_usage = cg("memory", "memory.usage_in_bytes");
    assert!(usage > 5 << 20, "{usage}");
    assert!(
        usage.abs_diff(file_usage) < 2 << 20,
        "{usage} vs {file_usage}"
    );
    assert_eq!(v["memory_stats"]["limit"].as_u64().unwrap(), 48 << 20);
    assert_eq!(
        v["memory_stats"]["limit"].as_u64().unwrap(),
        cg("memory", "memory.limit_in_bytes")
    );
    assert_eq!(
        v["pids_stats"]["current"].as_u64().unwrap(),
        cg("pids", "pids.current")
    );
    assert_eq!(v["pids_stats"]["current"].as_u64().unwrap(), 3);
    assert_eq!(v["pids_stats"]["limit"].as_u64().unwrap(), 50);
    let cpu = v["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap();
    assert!(cpu <= cg("cpuacct", "cpuacct.usage") && cpu > 0);
    assert!(v["precpu_stats"]["cpu_usage"]["total_usage"]
        .as_u64()
        .is_some());
    // The CLI's figures come from the same sample.
    let f = d
        .berth([
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}}|{{.MemUsage}}|{{.PIDs}}|{{.CPUPerc}}",
            "st",
        ])
        .ok()
        .stdout;
    let parts: Vec<&str> = f.trim().split('|').collect();
    assert_eq!(parts[0], "st");
    assert!(parts[1].ends_with("/ 48MiB"), "{f}");
    assert_eq!(parts[2], "3");
    assert!(parts[3].ends_with('%'), "{f}");
    d.berth(["rm", "-f", "st"]).ok();
}
