//! Issue "Faults and abuse", fuzzing the API of a real daemon: random and malformed JSON
//! bodies, query strings, content types and names sent to every route that stays on
//! this host. Every answer must come in time and never be a 500 (an engine error that
//! is the client's fault must say so) or a dropped connection; errors are Docker's
//! `{"message": …}` JSON; afterwards the daemon serves normally and nothing leaked.
//!
//! Routes that would reach the network (pull, push, login) and request fields that
//! would touch the host (binds, devices, privileges, volume driver options, network
//! creation) are left out: the fuzzing must not do harm when it succeeds.
//! The generator is seeded (`FUZZ_SEED=N` replays a run); `FUZZ_CASES` sets the count.

use berth_e2e::*;
use serde_json::{json, Map, Value};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// xorshift64*: small, seedable, good enough to pick fuzz inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// (method, path, may stream or block by design).
const ROUTES: &[(&str, &str, bool)] = &[
    ("GET", "/_ping", false),
    ("GET", "/version", false),
    ("GET", "/info", false),
    ("GET", "/system/df", false),
    ("GET", "/events", true),
    ("POST", "/containers/create", false),
    ("GET", "/containers/json", false),
    ("POST", "/containers/prune", false),
    ("GET", "/containers/{id}/json", false),
    ("POST", "/containers/{id}/start", false),
    ("POST", "/containers/{id}/stop", false),
    ("POST", "/containers/{id}/restart", false),
    ("POST", "/containers/{id}/kill", false),
    ("POST", "/containers/{id}/pause", false),
    ("POST", "/containers/{id}/unpause", false),
    ("POST", "/containers/{id}/wait", true),
    ("POST", "/containers/{id}/rename", false),
    ("POST", "/containers/{id}/resize", false),
    ("POST", "/containers/{id}/update", false),
    ("DELETE", "/containers/{id}", false),
    ("GET", "/containers/{id}/logs", true),
    ("GET", "/containers/{id}/top", false),
    ("GET", "/containers/{id}/stats", true),
    ("GET", "/containers/{id}/changes", false),
    ("GET", "/containers/{id}/export", true),
    ("HEAD", "/containers/{id}/archive", false),
    ("GET", "/containers/{id}/archive", true),
    ("PUT", "/containers/{id}/archive", false),
    ("POST", "/containers/{id}/exec", false),
    ("POST", "/containers/{id}/attach", true),
    ("POST", "/commit", false),
    ("POST", "/exec/{id}/start", true),
    ("POST", "/exec/{id}/resize", false),
    ("GET", "/exec/{id}/json", false),
    ("GET", "/images/json", false),
    ("GET", "/images/{id}/json", false),
    ("GET", "/images/{id}/history", false),
    ("POST", "/images/{id}/tag", false),
    ("DELETE", "/images/{id}", false),
    ("GET", "/images/{id}/get", true),
    ("POST", "/images/load", false),
    ("POST", "/images/prune", false),
    ("POST", "/build", true),
    ("GET", "/volumes", false),
    ("POST", "/volumes/create", false),
    ("GET", "/volumes/{id}", false),
    ("DELETE", "/volumes/{id}", false),
    ("POST", "/volumes/prune", false),
    ("GET", "/networks", false),
    ("GET", "/networks/{id}", false),
    ("GET", "/nope", false),
];

const KEYS: &[&str] = &[
    "all",
    "limit",
    "size",
    "filters",
    "name",
    "t",
    "signal",
    "force",
    "v",
    "link",
    "follow",
    "stdout",
    "stderr",
    "since",
    "until",
    "timestamps",
    "tail",
    "tag",
    "repo",
    "changes",
    "platform",
    "path",
    "noOverwriteDirToNonDir",
    "copyUIDGID",
    "h",
    "w",
    "condition",
    "stream",
    "ps_args",
    "comment",
    "author",
    "pause",
    "dangling",
    "noprune",
    "names",
    "detachKeys",
    "logs",
    "stdin",
    "one-shot",
    "quiet",
    "dockerfile",
    "buildargs",
    "labels",
    "x",
];

const VALUES: &[&str] = &[
    "1",
    "0",
    "true",
    "false",
    "-1",
    "99999999999999999999",
    "%",
    "%zz",
    "%00",
    "SIGKILL",
    "SIGNOPE",
    "../../etc",
    "/",
    "/etc/passwd",
    "not-running",
    "next-exit",
    "removed",
    "%7B%22status%22%3A%5B%22exited%22%5D%7D",
    "%7B%22label%22%3A%7B%22a%22%3Atrue%7D%7D",
    "%7B%22dangling%22%3A%5B%22maybe%22%5D%7D",
    "%5B1%2C2",
    "busybox",
    "x:y:z",
    "1.5",
    "",
];

/// Field names that may appear in bodies. Left out on purpose: what would touch the
/// host or the network if a fuzzed request succeeded (binds, mounts, devices,
/// privileges, pid/net/ipc host modes, volume driver options).
const FIELDS: &[&str] = &[
    "Image",
    "Cmd",
    "Entrypoint",
    "Env",
    "HostConfig",
    "Memory",
    "NanoCpus",
    "CpuShares",
    "RestartPolicy",
    "Name",
    "Labels",
    "ExposedPorts",
    "Healthcheck",
    "AttachStdin",
    "AttachStdout",
    "Tty",
    "User",
    "WorkingDir",
    "Detach",
    "ConsoleSize",
    "Ulimits",
    "LogConfig",
    "StopTimeout",
    "StopSignal",
    "Hostname",
    "Domainname",
    "OpenStdin",
    "PidsLimit",
    "ShmSize",
    "Tmpfs",
    "Driver",
    "Labels",
    "Container",
    "Config",
    "x",
];

fn name(rng: &mut Rng) -> String {
    let fixed = [
        "fz-created",
        "fz-exited",
        "busybox",
        "busybox:latest",
        "nope",
        "..",
        "%2e%2e%2f%2e%2e",
        "a%00b",
        "%ff%fe",
        "-x",
        "sha256:00",
        "fz-vol",
    ];
    if rng.chance(6) {
        let len = 1 + rng.below(40);
        (0..len)
            .map(|_| *rng.pick(b"abcXYZ019_.-:@%/"))
            .map(char::from)
            .collect()
    } else {
        rng.pick(&fixed).to_string()
    }
}

fn value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 2 { 6 } else { 9 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(2)),
        2 => json!(rng.next() as i64),
        3 => json!(rng.below(100_000) as i64 - 50),
        4 => json!(name(rng)),
        5 => json!(["sh", "-c", "true"]),
        6 | 7 => {
            let mut m = Map::new();
            for _ in 0..rng.below(5) {
                m.insert(rng.pick(FIELDS).to_string(), value(rng, depth + 1));
            }
            Value::Object(m)
        }
        _ => Value::Array((0..rng.below(4)).map(|_| value(rng, depth + 1)).collect()),
    }
}

fn body(rng: &mut Rng) -> (Option<&'static str>, Vec<u8>) {
    let ctype = *rng.pick(&[
        Some("application/json"),
        Some("application/json"),
        Some("text/plain"),
        Some("application/x-tar"),
        None,
    ]);
    let bytes = match rng.below(8) {
        0 => (0..rng.below(300)).map(|_| rng.next() as u8).collect(),
        1 => b"{\"Image\":".to_vec(),
        2 => Vec::new(),
        3 => b"[".repeat(5000),
        4 => serde_json::to_vec(
            &json!({"Image": "busybox", "Cmd": value(rng, 1), "HostConfig": value(rng, 1)}),
        )
        .unwrap(),
        _ => serde_json::to_vec(&value(rng, 0)).unwrap(),
    };
    (ctype, bytes)
}

struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

/// One request; `Ok(None)` when a streaming route is still streaming after the time
/// limit (by design, not a hang).
fn send(
    d: &Daemon,
    method: &str,
    target: &str,
    ctype: Option<&str>,
    body: &[u8],
    streams: bool,
) -> Result<Option<Answer>, String> {
    let mut s = UnixStream::connect(&d.socket).map_err(|e| format!("connect: {e}"))?;
    let limit = if streams { 3 } else { 30 };
    s.set_read_timeout(Some(Duration::from_secs(limit)))
        .unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n");
    if let Some(ct) = ctype {
        req.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    let _ = s.write_all(&bytes);
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut buf) {
            Ok(0) => return Err(format!("connection closed without an answer: {raw:?}")),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) if streams => return Ok(None),
            Err(e) => return Err(format!("no answer within {limit} s: {e}")),
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let status: u16 = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line: {head:?}"))?;
    let mut body = raw[head_end..].to_vec();
    if status >= 400 && method != "HEAD" {
        let len = head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        });
        let Some(len) = len else {
            return Err(format!("error without Content-Length: {head:?}"));
        };
        while body.len() < len {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => body.extend_from_slice(&buf[..n]),
                Err(e) => return Err(format!("error body: {e}")),
            }
        }
    }
    Ok(Some(Answer { status, head, body }))
}

#[test]
fn random_requests_to_every_route_get_clean_answers() {
    assert!(is_root(), "end-to-end tests need root");
    let d = Daemon::start();
    d.import_busybox("busybox");
    d.berth(["create", "--name", "fz-created", "busybox", "true"])
        .ok();
    d.berth(["run", "--name", "fz-exited", "busybox", "true"])
        .ok();
    d.berth(["volume", "create", "fz-vol"]);
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| u64::from_str_radix(&rand_hex(12), 16).unwrap() | 1);
    let cases: usize = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    eprintln!("FUZZ_SEED={seed}");
    let mut rng = Rng(seed);
    let mut statuses = std::collections::BTreeMap::new();
    let mut failures = Vec::new();
    let started = Instant::now();
    for i in 0..cases {
        let (method, path, streams) = *rng.pick(ROUTES);
        let id = name(&mut rng);
        let version = *rng.pick(&["/v1.45", "/v1.45", "/v1.24", "", "/v1.12", "/v9.99"]);
        let q: Vec<String> = (0..rng.below(4))
            .map(|_| format!("{}={}", rng.pick(KEYS), rng.pick(VALUES)))
            .collect();
        let path = path.replace("{id}", &id);
        let target = if q.is_empty() {
            format!("{version}{path}")
        } else {
            format!("{version}{path}?{}", q.join("&"))
        };
        let (ctype, body) = body(&mut rng);
        match send(&d, method, &target, ctype, &body, streams) {
            Ok(None) => *statuses.entry(0).or_insert(0) += 1,
            Ok(Some(a)) => {
                *statuses.entry(a.status).or_insert(0) += 1;
                let text = String::from_utf8_lossy(&a.body).into_owned();
                if a.status == 500 || a.status > 501 {
                    failures.push(format!("#{i} {method} {target} → {}: {text}", a.status));
                } else if a.status >= 400 && method != "HEAD" && a.status != 304 {
                    let ok = serde_json::from_slice::<Value>(&a.body)
                        .ok()
                        .and_then(|v| v.get("message").map(Value::is_string))
                        .unwrap_or(false);
                    if !ok {
                        failures.push(format!(
                            "#{i} {method} {target} → {}: not Docker's error JSON: {:?} {text}",
                            a.status, a.head
                        ));
                    }
                }
            }
            Err(e) => failures.push(format!("#{i} {method} {target}: {e}")),
        }
        if !d.ping() {
            failures.push(format!(
                "#{i} {method} {target}: the daemon stopped answering"
            ));
            break;
        }
    }
    eprintln!(
        "{cases} requests in {:?}; statuses (0 = still streaming): {statuses:?}",
        started.elapsed()
    );
    figure("bad_inputs", cases);
    assert!(
        failures.is_empty(),
        "FUZZ_SEED={seed}: {} bad answers:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Normal service afterwards (the fuzzing may have removed the image), and nothing
    // left behind once everything is removed.
    if d.berth(["image", "inspect", "busybox"]).status != 0 {
        d.import_busybox("busybox");
    }
    let r = d.berth(["run", "--rm", "busybox", "echo", "still-fine"]);
    assert_eq!(r.stdout, "still-fine\n", "{r:#?}");
    let ids = d.berth(["ps", "-aq"]).ok().stdout;
    for id in ids.split_whitespace() {
        d.berth(["rm", "-f", id]);
    }
    assert!(
        d.wait_for(20, || d.leaks().is_empty()),
        "leaked: {:?}",
        d.leaks()
    );
}
