//! Issue "Operations", logging drivers: json-file rotation (size, count, gzip), `local`,
//! `none`, daemon-wide defaults, Docker's errors, `syslog` against a real rsyslogd
//! (its own config, loopback ports and a unix socket in a temp dir) and `fluentd`
//! against a forward-protocol receiver written here from the protocol spec.

use berth_e2e::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn daemon() -> Daemon {
    assert!(is_root(), "end-to-end tests need root");
    let d = Daemon::start();
    d.import_busybox("busybox");
    d
}

/// The files of a container's directory whose names start with `<id>-json.log`.
fn log_files(d: &Daemon, id: &str) -> Vec<String> {
    let dir = d.data_root.join("containers").join(id);
    let mut v: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!("{id}-json.log")))
        .map(|n| n[id.len()..].to_string())
        .collect();
    v.sort();
    v
}

fn wait_exit(d: &Daemon, name: &str) {
    let r = d.berth(["wait", name]).ok();
    assert_eq!(r.stdout.trim(), "0", "{r:#?}");
}

fn id_of(d: &Daemon, name: &str) -> String {
    d.berth(["inspect", "-f", "{{.Id}}", name])
        .ok()
        .stdout
        .trim()
        .to_string()
}

/// `line 0` … `line N-1` printed as fast as the shell can.
const LINES_3000: &str = "i=0; while [ $i -lt 3000 ]; do echo \"line $i\"; i=$((i+1)); done";

/// The log's lines are a contiguous run ending at `line 2999`.
fn assert_contiguous_tail(out: &str) -> usize {
    let lines: Vec<&str> = out.lines().collect();
    assert!(!lines.is_empty());
    let first: usize = lines[0].strip_prefix("line ").unwrap().parse().unwrap();
    for (k, l) in lines.iter().enumerate() {
        assert_eq!(*l, format!("line {}", first + k), "gap at {k}");
    }
    assert_eq!(*lines.last().unwrap(), "line 2999");
    lines.len()
}

#[test]
fn json_file_rotates_by_size_and_count_and_gzips() {
    let d = daemon();
    let opts = |name: &str, compress: bool| {
        let mut v = vec![
            "run".to_string(),
            "--name".into(),
            name.into(),
            "--log-opt".into(),
            "max-size=8k".into(),
            "--log-opt".into(),
            "max-file=3".into(),
        ];
        if compress {
            v.extend(["--log-opt".into(), "compress=true".into()]);
        }
        v.extend([
            "busybox".into(),
            "sh".into(),
            "-c".into(),
            LINES_3000.into(),
        ]);
        v
    };
    d.berth(opts("plain", false)).ok();
    d.berth(opts("gz", true)).ok();
    let (plain, gz) = (id_of(&d, "plain"), id_of(&d, "gz"));
    assert_eq!(
        log_files(&d, &plain),
        ["-json.log", "-json.log.1", "-json.log.2"]
    );
    // The last compression may still be finishing after the exit.
    assert!(d.wait_for(10, || log_files(&d, &gz)
        == ["-json.log", "-json.log.1.gz", "-json.log.2.gz"]));
    let dir = d.data_root.join("containers").join(&gz);
    let raw = std::fs::read(dir.join(format!("{gz}-json.log.1.gz"))).unwrap();
    assert_eq!(&raw[..2], &[0x1f, 0x8b], "gzip magic");
    // Each file stays near max-size, json-file records inside.
    let cur = std::fs::read_to_string(dir.join(format!("{gz}-json.log"))).unwrap();
    assert!(cur.len() < 8 * 1024 + 200, "{}", cur.len());
    assert!(cur.starts_with("{\"log\":\"line "));
    // `logs` reads across plain and compressed files: the newest ~24 KiB, no gaps.
    for name in ["plain", "gz"] {
        let out = d.berth(["logs", name]).ok().stdout;
        let n = assert_contiguous_tail(&out);
        assert!(n > 150 && n < 3000, "{name}: {n} lines");
        let tail = d.berth(["logs", "--tail", "5", name]).ok().stdout;
        assert_eq!(
            tail,
            "line 2995\nline 2996\nline 2997\nline 2998\nline 2999\n"
        );
    }
    // Same number of lines kept either way (same rotation points).
    assert_eq!(
        d.berth(["logs", "plain"]).stdout.lines().count(),
        d.berth(["logs", "gz"]).stdout.lines().count()
    );
}

#[test]
fn local_driver_is_compact_rotates_and_reads_back() {
    let d = daemon();
    d.berth([
        "run",
        "--name",
        "loc",
        "--log-driver",
        "local",
        "--log-opt",
        "max-size=8k",
        "--log-opt",
        "max-file=2",
        "busybox",
        "sh",
        "-c",
        LINES_3000,
    ])
    .ok();
    let id = id_of(&d, "loc");
    // Docker's local defaults: compressed rotated files.
    assert!(d.wait_for(10, || log_files(&d, &id) == ["-json.log", "-json.log.1.gz"]));
    let cur = std::fs::read(
        d.data_root
            .join("containers")
            .join(&id)
            .join(format!("{id}-json.log")),
    )
    .unwrap();
    assert_eq!(cur[0], b'o', "not json-file");
    let out = d.berth(["logs", "loc"]).ok().stdout;
    assert_contiguous_tail(&out);
    let ts = d.berth(["logs", "-t", "--tail", "1", "loc"]).ok().stdout;
    assert!(
        ts.ends_with("Z line 2999\n") && ts.starts_with("20"),
        "{ts}"
    );
    let stderr = d
        .berth([
            "run",
            "--log-driver",
            "local",
            "--name",
            "err",
            "busybox",
            "sh",
            "-c",
            "echo a; echo b >&2",
        ])
        .ok();
    assert_eq!(stderr.stdout, "a\n");
    assert_eq!(d.berth(["logs", "err"]).ok().stderr, "b\n");
}

#[test]
fn none_driver_and_bad_options_give_docker_errors() {
    let d = daemon();
    d.berth([
        "run",
        "--name",
        "quiet",
        "--log-driver",
        "none",
        "busybox",
        "echo",
        "x",
    ])
    .ok();
    let r = d.berth(["logs", "quiet"]);
    assert_ne!(r.status, 0);
    assert!(
        r.stderr
            .contains("configured logging driver does not support reading"),
        "{r:#?}"
    );
    let cases: &[(&[&str], &str)] = &[
        (
            &["--log-driver", "bogus"],
            "logger: no log driver named 'bogus' is registered",
        ),
        (
            &["--log-opt", "nope=1"],
            "unknown log opt 'nope' for json-file log driver",
        ),
        (
            &["--log-opt", "compress=true"],
            "compress cannot be true when max-file is less than 2 or max-size is not set",
        ),
        (
            &["--log-opt", "max-file=0"],
            "max-file cannot be less than 1",
        ),
        (
            &[
                "--log-driver",
                "syslog",
                "--log-opt",
                "syslog-address=localhost:514",
            ],
            "syslog-address should be in form proto://address, got localhost:514",
        ),
        (
            &[
                "--log-driver",
                "syslog",
                "--log-opt",
                "syslog-facility=nope",
            ],
            "invalid syslog facility",
        ),
        (
            &[
                "--log-driver",
                "fluentd",
                "--log-opt",
                "syslog-format=rfc5424",
            ],
            "unknown log opt 'syslog-format' for fluentd log driver",
        ),
        (
            &["--log-driver", "local", "--log-opt", "x=1"],
            "unknown log opt 'x' for log driver local",
        ),
    ];
    for (flags, want) in cases {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend(["busybox", "true"]);
        let r = d.berth(&args);
        assert_ne!(r.status, 0, "{flags:?}");
        assert!(r.stderr.contains(want), "{flags:?}: {}", r.stderr);
        if let Some(r) = d.docker(&args) {
            // (A create refused for another reason makes the CLI try a pull: not ours.)
            if !r.stderr.contains("Unable to find image") {
                assert!(r.stderr.contains(want), "docker {flags:?}: {}", r.stderr);
            }
        }
    }
}

#[test]
fn daemon_json_sets_default_driver_and_options() {
    let mut d = daemon();
    std::fs::write(
        d.root.join("daemon.json"),
        r#"{"log-driver":"json-file","log-opts":{"max-size":"4k","max-file":"2","labels":"a"}}"#,
    )
    .unwrap();
    d.restart();
    d.berth(["run", "--name", "dflt", "busybox", "sh", "-c", LINES_3000])
        .ok();
    let cfg = d
        .berth(["inspect", "-f", "{{json .HostConfig.LogConfig}}", "dflt"])
        .ok()
        .stdout;
    let v: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    assert_eq!(v["Type"], "json-file");
    assert_eq!(v["Config"]["max-size"], "4k");
    assert_eq!(v["Config"]["max-file"], "2");
    let id = id_of(&d, "dflt");
    assert_eq!(log_files(&d, &id), ["-json.log", "-json.log.1"]);
    // A container's own option wins; another driver does not inherit the defaults.
    d.berth([
        "run",
        "--name",
        "own",
        "--log-opt",
        "max-size=1m",
        "busybox",
        "true",
    ])
    .ok();
    let own = d
        .berth([
            "inspect",
            "-f",
            "{{index .HostConfig.LogConfig.Config \"max-size\"}}",
            "own",
        ])
        .ok();
    assert_eq!(own.stdout.trim(), "1m");
    d.berth([
        "run",
        "--name",
        "loc",
        "--log-driver",
        "local",
        "busybox",
        "true",
    ])
    .ok();
    let loc = d
        .berth([
            "inspect",
            "-f",
            "{{json .HostConfig.LogConfig.Config}}",
            "loc",
        ])
        .ok();
    assert_eq!(loc.stdout.trim(), "{}");
    // The daemon refuses a bad default, as dockerd does.
    std::fs::write(
        d.root.join("daemon.json"),
        r#"{"log-driver":"json-file","log-opts":{"bogus":"1"}}"#,
    )
    .unwrap();
    let out = Command::new(bin("berthd"))
        .args(["--config-file"])
        .arg(d.root.join("daemon.json"))
        .args([
            "--data-root",
            "/nonexistent-berth-test",
            "-H",
            "unix:///nonexistent/x.sock",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("unknown log opt 'bogus' for json-file log driver"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(d.root.join("daemon.json"), "{}").unwrap();
}

// ---------------------------------------------------------------------------------
// syslog against rsyslogd

/// A free loopback TCP/UDP port (bound and released; good enough for tests).
fn free_port() -> u16 {
    let t = TcpListener::bind("127.0.0.1:0").unwrap();
    let p = t.local_addr().unwrap().port();
    drop(t);
    p
}

/// rsyslogd with its own config in a temp dir: TCP and UDP inputs on loopback and a
/// unix socket, writing every message raw and parsed to two files.
struct Rsyslog {
    dir: PathBuf,
    tcp: u16,
    udp: u16,
    child: Option<Child>,
}

impl Rsyslog {
    fn available() -> bool {
        Path::new("/usr/sbin/rsyslogd").exists()
    }

    fn start() -> Rsyslog {
        let dir = PathBuf::from(format!("/tmp/be-rsyslog-{}", rand_hex(8)));
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = Rsyslog {
            tcp: free_port(),
            udp: free_port(),
            dir,
            child: None,
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let d = self.dir.display();
        let conf = format!(
            r#"global(workDirectory="{d}")
module(load="imtcp")
module(load="imudp")
module(load="imuxsock" SysSock.Use="off")
input(type="imtcp" port="{tcp}" address="127.0.0.1")
input(type="imudp" port="{udp}" address="127.0.0.1")
input(type="imuxsock" Socket="{d}/log.sock")
template(name="raw" type="string" string="%rawmsg%\n")
template(name="parsed" type="string" string="%pri%|%syslogtag%|%programname%|%hostname%|%msg%\n")
*.* action(type="omfile" file="{d}/raw.log" template="raw")
*.* action(type="omfile" file="{d}/parsed.log" template="parsed")
"#,
            tcp = self.tcp,
            udp = self.udp
        );
        std::fs::write(self.dir.join("rsyslog.conf"), conf).unwrap();
        let child = Command::new("/usr/sbin/rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(self.dir.join("rsyslog.conf"))
            .arg("-i")
            .arg(self.dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("rsyslogd.err")).unwrap())
            .spawn()
            .expect("spawn rsyslogd");
        self.child = Some(child);
        // Ready when the TCP port accepts and the socket exists.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.tcp)).is_ok() && self.socket().exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // And when a datagram sent to the UDP input has been written out: its input
        // thread may start after the TCP one.
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        while Instant::now() < deadline {
            let _ = probe.send_to(b"<30>probe: udp-ready", ("127.0.0.1", self.udp));
            std::thread::sleep(Duration::from_millis(50));
            if self.parsed().iter().any(|l| l.ends_with("udp-ready")) {
                return;
            }
        }
        panic!(
            "rsyslogd did not come up: {}",
            std::fs::read_to_string(self.dir.join("rsyslogd.err")).unwrap_or_default()
        );
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("log.sock")
    }

    fn parsed(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("parsed.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn raw(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("raw.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Parsed lines whose message contains `needle`, waiting up to `secs` for `n`.
    fn wait_lines(&self, needle: &str, n: usize, secs: u64) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let got: Vec<String> = self
                .parsed()
                .into_iter()
                .filter(|l| l.contains(needle))
                .collect();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn seq_script(prefix: &str, n: usize) -> String {
    format!("for i in $(seq 1 {n}); do echo \"{prefix} $i\"; done; echo \"{prefix} oops\" >&2")
}

#[test]
fn syslog_rfc5424_over_tcp_line_by_line() {
    if !Rsyslog::available() {
        eprintln!("rsyslogd not installed (scripts/deps.sh test): skipped");
        return;
    }
    let d = daemon();
    let rs = Rsyslog::start();
    let addr = format!("syslog-address=tcp://127.0.0.1:{}", rs.tcp);
    d.berth([
        "run",
        "--name",
        "s5424",
        "--log-driver",
        "syslog",
        "--log-opt",
        &addr,
        "--log-opt",
        "syslog-format=rfc5424",
        "--log-opt",
        "syslog-facility=local3",
        "--log-opt",
        "tag={{.Name}}/{{.ID}}",
        "busybox",
        "sh",
        "-c",
        &seq_script("tcp5424", 200),
    ])
    .ok();
    let id = id_of(&d, "s5424");
    let tag = format!("s5424/{}", &id[..12]);
    let got = rs.wait_lines("tcp5424", 201, 15);
    assert_eq!(got.len(), 201, "{got:#?}");
    // In order, one message per line, tag from the template, local3 (19*8) + info/err.
    for (i, l) in got[..200].iter().enumerate() {
        let f: Vec<&str> = l.splitn(5, '|').collect();
        assert_eq!(f[0], "158", "{l}");
        // APP-NAME is the tag (rsyslog's programname stops at the `/`).
        assert!(f[1].starts_with(&format!("{tag}[")), "{l}");
        assert_eq!(f[4].trim_start(), format!("tcp5424 {}", i + 1));
    }
    let err = got.iter().find(|l| l.ends_with("tcp5424 oops")).unwrap();
    assert!(err.starts_with("155|"), "{err}");
    // The wire format: `<PRI>1 TIMESTAMP HOST TAG PID TAG - MSG`.
    let raw = rs.raw();
    let first = raw.iter().find(|l| l.ends_with("tcp5424 1")).unwrap();
    let parts: Vec<&str> = first.splitn(8, ' ').collect();
    assert_eq!(parts[0], "<158>1");
    assert!(parts[1].contains('T') && parts[1].len() >= 20, "{first}");
    assert_eq!(
        (parts[3], parts[5], parts[6]),
        (tag.as_str(), tag.as_str(), "-"),
        "{first}"
    );
    // Dual logging: `logs` reads the local copy.
    let out = d.berth(["logs", "s5424"]).ok();
    assert_eq!(out.stdout.lines().count(), 200);
    assert_eq!(out.stderr, "tcp5424 oops\n");
}

#[test]
fn syslog_rfc3164_over_udp_and_default_format_over_unix_socket() {
    if !Rsyslog::available() {
        eprintln!("rsyslogd not installed (scripts/deps.sh test): skipped");
        return;
    }
    let d = daemon();
    let rs = Rsyslog::start();
    let udp = format!("syslog-address=udp://127.0.0.1:{}", rs.udp);
    // UDP is lossy by nature: a modest, paced count.
    d.berth([
        "run",
        "--name",
        "s3164",
        "--log-driver",
        "syslog",
        "--log-opt",
        &udp,
        "--log-opt",
        "syslog-format=rfc3164",
        "--log-opt",
        "tag=web-{{.ImageName}}",
        "busybox",
        "sh",
        "-c",
        "for i in $(seq 1 30); do echo \"udp3164 $i\"; sleep 0.01; done",
    ])
    .ok();
    let got = rs.wait_lines("udp3164", 30, 15);
    assert_eq!(got.len(), 30, "{got:#?}");
    for (i, l) in got.iter().enumerate() {
        let f: Vec<&str> = l.splitn(5, '|').collect();
        // daemon facility (3*8) + info; rsyslog's %syslogtag% keeps `[pid]:`.
        assert_eq!(f[0], "30", "{l}");
        assert!(f[1].starts_with("web-busybox["), "{l}");
        assert_eq!(f[2], "web-busybox", "{l}");
        assert_eq!(f[4].trim_start(), format!("udp3164 {}", i + 1));
    }
    let raw = rs.raw();
    let first = raw.iter().find(|l| l.ends_with("udp3164 1")).unwrap();
    // `<30>Mmm dd hh:mm:ss HOST web-busybox[PID]: udp3164 1`
    assert!(first.starts_with("<30>"), "{first}");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert!(
        first.contains(&format!(" {} web-busybox[", host.trim())),
        "{first}"
    );

    let unix = format!("syslog-address=unix://{}", rs.socket().display());
    d.berth([
        "run",
        "--name",
        "sunix",
        "--log-driver",
        "syslog",
        "--log-opt",
        &unix,
        "busybox",
        "sh",
        "-c",
        &seq_script("unixdflt", 50),
    ])
    .ok();
    let id = id_of(&d, "sunix");
    let got = rs.wait_lines("unixdflt", 51, 15);
    assert_eq!(got.len(), 51, "{got:#?}");
    for (i, l) in got[..50].iter().enumerate() {
        let f: Vec<&str> = l.splitn(5, '|').collect();
        assert_eq!(f[2], &id[..12], "default tag is the short id: {l}");
        assert_eq!(f[4].trim_start(), format!("unixdflt {}", i + 1));
    }
}

#[test]
fn syslog_collector_starting_late_gets_every_line() {
    if !Rsyslog::available() {
        eprintln!("rsyslogd not installed (scripts/deps.sh test): skipped");
        return;
    }
    let d = daemon();
    let mut rs = Rsyslog::start();
    // Stop it: the container starts with nobody listening.
    if let Some(mut c) = rs.child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
    let addr = format!("syslog-address=tcp://127.0.0.1:{}", rs.tcp);
    let t0 = Instant::now();
    d.berth([
        "run",
        "-d",
        "--name",
        "late",
        "--log-driver",
        "syslog",
        "--log-opt",
        &addr,
        "busybox",
        "sh",
        "-c",
        "for i in $(seq 1 100); do echo \"late $i\"; [ $((i % 10)) = 0 ] && sleep 0.2; done; true",
    ])
    .ok();
    std::thread::sleep(Duration::from_millis(800));
    rs.spawn();
    wait_exit(&d, "late");
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "the container was held up"
    );
    let got = rs.wait_lines("late", 100, 20);
    let mut nums: Vec<usize> = got
        .iter()
        .filter_map(|l| l.rsplit("late ").next()?.trim().parse().ok())
        .collect();
    nums.sort_unstable();
    nums.dedup();
    assert_eq!(nums, (1..=100).collect::<Vec<_>>());
    assert_eq!(d.berth(["logs", "late"]).ok().stdout.lines().count(), 100);
}

// ---------------------------------------------------------------------------------
// fluentd: a forward-protocol receiver (https://github.com/fluent/fluentd/wiki/Forward-Protocol-Specification-v1)

/// A decoded MessagePack value (the subset the forward protocol uses).
#[derive(Debug, Clone, PartialEq)]
enum Mp {
    Nil,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(Vec<u8>),
    Arr(Vec<Mp>),
    Map(Vec<(Mp, Mp)>),
    Ext(i8, Vec<u8>),
}

impl Mp {
    fn str(&self) -> Option<String> {
        match self {
            Mp::Str(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
    fn get(&self, key: &str) -> Option<&Mp> {
        match self {
            Mp::Map(kv) => kv
                .iter()
                .find(|(k, _)| k.str().as_deref() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Decode one value from `b[*pos..]`; `None` when more bytes are needed.
fn mp_decode(b: &[u8], pos: &mut usize) -> Option<Mp> {
    fn take<'a>(b: &'a [u8], pos: &mut usize, n: usize) -> Option<&'a [u8]> {
        let s = b.get(*pos..*pos + n)?;
        *pos += n;
        Some(s)
    }
    fn be(s: &[u8]) -> u64 {
        s.iter().fold(0u64, |a, &x| (a << 8) | x as u64)
    }
    let t = *take(b, pos, 1)?.first()?;
    let len = |pos: &mut usize, n: usize| -> Option<usize> { Some(be(take(b, pos, n)?) as usize) };
    let arr = |pos: &mut usize, n: usize| -> Option<Mp> {
        let mut v = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            v.push(mp_decode(b, pos)?);
        }
        Some(Mp::Arr(v))
    };
    let map = |pos: &mut usize, n: usize| -> Option<Mp> {
        let mut v = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let k = mp_decode(b, pos)?;
            let val = mp_decode(b, pos)?;
            v.push((k, val));
        }
        Some(Mp::Map(v))
    };
    Some(match t {
        0x00..=0x7f => Mp::Int(t as i128),
        0xe0..=0xff => Mp::Int((t as i8) as i128),
        0x80..=0x8f => map(pos, (t & 0x0f) as usize)?,
        0x90..=0x9f => arr(pos, (t & 0x0f) as usize)?,
        0xa0..=0xbf => Mp::Str(take(b, pos, (t & 0x1f) as usize)?.to_vec()),
        0xc0 => Mp::Nil,
        0xc2 => Mp::Bool(false),
        0xc3 => Mp::Bool(true),
        0xc4..=0xc6 => {
            let n = len(pos, 1 << (t - 0xc4))?;
            Mp::Str(take(b, pos, n)?.to_vec())
        }
        0xc7..=0xc9 => {
            let n = len(pos, 1 << (t - 0xc7))?;
            let ty = take(b, pos, 1)?[0] as i8;
            Mp::Ext(ty, take(b, pos, n)?.to_vec())
        }
        0xca => Mp::Float(f32::from_bits(be(take(b, pos, 4)?) as u32) as f64),
        0xcb => Mp::Float(f64::from_bits(be(take(b, pos, 8)?))),
        0xcc..=0xcf => Mp::Int(be(take(b, pos, 1 << (t - 0xcc))?) as i128),
        0xd0..=0xd3 => {
            let n = 1 << (t - 0xd0);
            let v = be(take(b, pos, n)?);
            let shift = 64 - 8 * n as u32;
            Mp::Int((((v << shift) as i64) >> shift) as i128)
        }
        0xd4..=0xd8 => {
            let ty = take(b, pos, 1)?[0] as i8;
            Mp::Ext(ty, take(b, pos, 1 << (t - 0xd4))?.to_vec())
        }
        0xd9..=0xdb => {
            let n = len(pos, 1 << (t - 0xd9))?;
            Mp::Str(take(b, pos, n)?.to_vec())
        }
        0xdc | 0xdd => {
            let n = len(pos, if t == 0xdc { 2 } else { 4 })?;
            arr(pos, n)?
        }
        0xde | 0xdf => {
            let n = len(pos, if t == 0xde { 2 } else { 4 })?;
            map(pos, n)?
        }
        _ => return None,
    })
}

/// One event as received: tag, time (seconds) and record.
#[derive(Debug, Clone)]
struct Event {
    tag: String,
    time: f64,
    record: Mp,
}

fn mp_time(t: &Mp) -> f64 {
    match t {
        Mp::Int(i) => *i as f64,
        Mp::Float(f) => *f,
        Mp::Ext(0, b) if b.len() == 8 => {
            let s = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            let n = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
            s as f64 + n as f64 / 1e9
        }
        _ => f64::NAN,
    }
}

/// Message, Forward and PackedForward modes → events; the option map, if any.
fn events_of(msg: &Mp) -> (Vec<Event>, Option<Mp>) {
    let Mp::Arr(a) = msg else {
        return (vec![], None);
    };
    let tag = a.first().and_then(Mp::str).unwrap_or_default();
    let mut out = Vec::new();
    let mut entries = |list: &[Mp]| {
        for e in list {
            if let Mp::Arr(p) = e {
                if p.len() >= 2 {
                    out.push(Event {
                        tag: tag.clone(),
                        time: mp_time(&p[0]),
                        record: p[1].clone(),
                    });
                }
            }
        }
    };
    match a.get(1) {
        Some(Mp::Arr(list)) => {
            entries(list);
            (out, a.get(2).cloned())
        }
        Some(Mp::Str(packed)) => {
            let mut pos = 0;
            let mut list = Vec::new();
            while pos < packed.len() {
                match mp_decode(packed, &mut pos) {
                    Some(v) => list.push(v),
                    None => break,
                }
            }
            entries(&list);
            (out, a.get(2).cloned())
        }
        Some(t) => {
            let ev = Event {
                tag,
                time: mp_time(t),
                record: a.get(2).cloned().unwrap_or(Mp::Nil),
            };
            (vec![ev], a.get(3).cloned())
        }
        None => (vec![], None),
    }
}

/// A forward-protocol receiver on a loopback port. `drop_first_unacked`: close the
/// first connection after reading its first message without acknowledging it (a
/// collector dying mid-stream). `never_read`: accept and never read (a stuck one).
struct Receiver {
    port: u16,
    events: Arc<Mutex<Vec<Event>>>,
    stop: Arc<AtomicBool>,
    messages: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn start(port: u16, drop_first_unacked: bool, never_read: bool) -> Receiver {
        let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let events = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let messages = Arc::new(AtomicUsize::new(0));
        let (ev, st, msgs) = (events.clone(), stop.clone(), messages.clone());
        let thread = std::thread::spawn(move || {
            let mut conns = 0;
            let mut held = Vec::new();
            while !st.load(Ordering::SeqCst) {
                let s = match l.accept() {
                    Ok((s, _)) => s,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                };
                conns += 1;
                if never_read {
                    held.push(s);
                    continue;
                }
                let (ev, st, msgs) = (ev.clone(), st.clone(), msgs.clone());
                let die = drop_first_unacked && conns == 1;
                std::thread::spawn(move || serve_conn(s, ev, st, msgs, die));
            }
        });
        Receiver {
            port,
            events,
            stop,
            messages,
            thread: Some(thread),
        }
    }

    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    fn wait_events(&self, n: usize, secs: u64) -> Vec<Event> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while self.events.lock().unwrap().len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.events()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_conn(
    mut s: TcpStream,
    events: Arc<Mutex<Vec<Event>>>,
    stop: Arc<AtomicBool>,
    messages: Arc<AtomicUsize>,
    die: bool,
) {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = Vec::new();
    let mut tmp = [0u8; 64 * 1024];
    while !stop.load(Ordering::SeqCst) {
        match s.read(&mut tmp) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        }
        loop {
            let mut pos = 0;
            let Some(msg) = mp_decode(&buf, &mut pos) else {
                break;
            };
            buf.drain(..pos);
            messages.fetch_add(1, Ordering::SeqCst);
            if die {
                // Gone before storing or acknowledging anything.
                return;
            }
            let (evs, opt) = events_of(&msg);
            events.lock().unwrap().extend(evs);
            if let Some(chunk) = opt.as_ref().and_then(|o| o.get("chunk")).and_then(Mp::str) {
                // {"ack": chunk}
                let mut ack = vec![0x81, 0xa3, b'a', b'c', b'k'];
                ack.push(0xd9);
                ack.push(chunk.len() as u8);
                ack.extend_from_slice(chunk.as_bytes());
                if s.write_all(&ack).is_err() {
                    return;
                }
            }
        }
    }
}

fn rec_str(e: &Event, k: &str) -> String {
    e.record.get(k).and_then(Mp::str).unwrap_or_default()
}

#[test]
fn fluentd_forward_delivers_every_line_with_docker_fields() {
    let d = daemon();
    let rx = Receiver::start(0, false, false);
    let addr = format!("fluentd-address=127.0.0.1:{}", rx.port);
    d.berth([
        "run",
        "--name",
        "fl",
        "--log-driver",
        "fluentd",
        "--log-opt",
        &addr,
        "--log-opt",
        "tag=docker.{{.Name}}",
        "--log-opt",
        "fluentd-sub-second-precision=true",
        "busybox",
        "sh",
        "-c",
        &seq_script("fwd", 500),
    ])
    .ok();
    let id = id_of(&d, "fl");
    let got = rx.wait_events(501, 15);
    assert_eq!(got.len(), 501);
    let outs: Vec<&Event> = got
        .iter()
        .filter(|e| rec_str(e, "source") == "stdout")
        .collect();
    assert_eq!(outs.len(), 500);
    for (i, e) in outs.iter().enumerate() {
        assert_eq!(e.tag, "docker.fl");
        assert_eq!(rec_str(e, "log"), format!("fwd {}", i + 1));
        assert_eq!(rec_str(e, "container_id"), id);
        assert_eq!(rec_str(e, "container_name"), "/fl");
        // EventTime with nanoseconds, close to now.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!((now - e.time).abs() < 120.0, "{}", e.time);
    }
    let err = got
        .iter()
        .find(|e| rec_str(e, "source") == "stderr")
        .unwrap();
    assert_eq!(rec_str(err, "log"), "fwd oops");
    assert_eq!(d.berth(["logs", "fl"]).ok().stdout.lines().count(), 500);
}

#[test]
fn fluentd_collector_late_or_dying_loses_nothing_and_never_blocks() {
    let d = daemon();
    let port = free_port();
    let addr = format!("fluentd-address=tcp://127.0.0.1:{port}");
    let t0 = Instant::now();
    d.berth([
        "run",
        "-d",
        "--name",
        "dying",
        "--log-driver",
        "fluentd",
        "--log-opt",
        &addr,
        "--log-opt",
        "fluentd-async=true",
        "--log-opt",
        "fluentd-request-ack=true",
        "--log-opt",
        "fluentd-retry-wait=100ms",
        "busybox",
        "sh",
        "-c",
        "for i in $(seq 1 300); do echo \"n $i\"; [ $((i % 30)) = 0 ] && sleep 0.1; done; true",
    ])
    .ok();
    // Nobody listens for a while; then a collector that dies on its first message
    // without acknowledging it; then a good one.
    std::thread::sleep(Duration::from_millis(700));
    let dying = Receiver::start(port, true, false);
    let deadline = Instant::now() + Duration::from_secs(10);
    while dying.messages.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        dying.messages.load(Ordering::SeqCst) > 0,
        "nothing was sent"
    );
    drop(dying);
    let rx = Receiver::start(port, false, false);
    wait_exit(&d, "dying");
    assert!(t0.elapsed() < Duration::from_secs(20));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = std::collections::BTreeSet::new();
    while Instant::now() < deadline {
        seen = rx
            .events()
            .iter()
            .filter_map(|e| rec_str(e, "log").strip_prefix("n ")?.parse::<usize>().ok())
            .collect();
        if seen.len() == 300 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(seen, (1..=300).collect());
    assert_eq!(d.berth(["logs", "dying"]).ok().stdout.lines().count(), 300);

    // A collector that accepts and never reads: the container still runs at full speed.
    let stuck = Receiver::start(0, false, true);
    let addr = format!("fluentd-address=127.0.0.1:{}", stuck.port);
    let t1 = Instant::now();
    d.berth([
        "run", "--name", "stuck", "--log-driver", "fluentd", "--log-opt", &addr,
        "busybox", "sh", "-c", "i=0; while [ $i -lt 20000 ]; do echo \"a fairly long line of output number $i\"; i=$((i+1)); done",
    ])
    .ok();
    assert!(
        t1.elapsed() < Duration::from_secs(20),
        "blocked: {:?}",
        t1.elapsed()
    );
    assert_eq!(
        d.berth(["logs", "stuck"]).ok().stdout.lines().count(),
        20000
    );
}
