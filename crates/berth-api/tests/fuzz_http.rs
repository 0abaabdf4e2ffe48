//! Fuzzing the API surface (issue "Faults and abuse"): random and malformed JSON bodies,
//! query strings, content types and path parameters sent to every route. Every answer
//! must come quickly, never be a 500 or a dropped connection (a panic in a handler
//! drops it), and every error must be Docker's `{"message": "…"}` JSON. The server
//! must answer `/_ping` afterwards.
//!
//! Runs against the in-memory backend, so it tests the HTTP layer's parsing and
//! validation; `tests/e2e/tests/abuse.rs` sends the same kind of requests to a real
//! daemon.

mod common;
use common::TestServer;
use proptest::prelude::*;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// Every route as (method, path template); `{id}` becomes a container, image, exec or
/// object name (existing or not, or hostile).
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/_ping"),
    ("HEAD", "/_ping"),
    ("GET", "/version"),
    ("GET", "/info"),
    ("GET", "/system/df"),
    ("POST", "/containers/create"),
    ("GET", "/containers/json"),
    ("POST", "/containers/prune"),
    ("GET", "/containers/{id}/json"),
    ("POST", "/containers/{id}/start"),
    ("POST", "/containers/{id}/stop"),
    ("POST", "/containers/{id}/restart"),
    ("POST", "/containers/{id}/kill"),
    ("POST", "/containers/{id}/pause"),
    ("POST", "/containers/{id}/unpause"),
    ("POST", "/containers/{id}/wait"),
    ("POST", "/containers/{id}/rename"),
    ("POST", "/containers/{id}/resize"),
    ("POST", "/containers/{id}/update"),
    ("DELETE", "/containers/{id}"),
    ("GET", "/containers/{id}/logs"),
    ("GET", "/containers/{id}/top"),
    ("GET", "/containers/{id}/stats"),
    ("GET", "/containers/{id}/changes"),
    ("GET", "/containers/{id}/export"),
    ("HEAD", "/containers/{id}/archive"),
    ("GET", "/containers/{id}/archive"),
    ("PUT", "/containers/{id}/archive"),
    ("POST", "/containers/{id}/exec"),
    ("POST", "/containers/{id}/attach"),
    ("POST", "/commit"),
    ("POST", "/exec/{id}/start"),
    ("POST", "/exec/{id}/resize"),
    ("GET", "/exec/{id}/json"),
    ("GET", "/images/json"),
    ("POST", "/images/create"),
    ("GET", "/images/{id}/json"),
    ("GET", "/images/{id}/history"),
    ("POST", "/images/{id}/tag"),
    ("DELETE", "/images/{id}"),
    ("GET", "/images/{id}/get"),
    ("GET", "/images/get"),
    ("POST", "/images/load"),
    ("POST", "/images/prune"),
    ("POST", "/images/{id}/push"),
    ("POST", "/auth"),
    ("POST", "/build"),
    ("GET", "/volumes"),
    ("POST", "/volumes/create"),
    ("GET", "/volumes/{id}"),
    ("DELETE", "/volumes/{id}"),
    ("POST", "/volumes/prune"),
    ("GET", "/networks"),
    ("POST", "/networks/create"),
    ("GET", "/networks/{id}"),
    ("DELETE", "/networks/{id}"),
    ("POST", "/networks/{id}/connect"),
    ("POST", "/networks/{id}/disconnect"),
    ("POST", "/networks/prune"),
    ("GET", "/swarm"),
    ("GET", "/nope"),
];

/// Query keys the handlers read, plus junk.
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
    "fromImage",
    "fromSrc",
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
    "memory",
    "shmsize",
    "networkmode",
    "target",
    "x",
    "",
];

fn query_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("1".to_string()),
        Just("0".to_string()),
        Just("true".to_string()),
        Just("-1".to_string()),
        Just("99999999999999999999".to_string()),
        Just("%".to_string()),
        Just("%zz".to_string()),
        Just("%00".to_string()),
        Just("%7B%22status%22%3A%5B%22x%22%5D%7D".to_string()),
        Just("{\"label\":{\"a\":true}}".to_string()),
        Just("{\"dangling\":[\"maybe\"]}".to_string()),
        Just("[1,2".to_string()),
        Just("SIGKILL".to_string()),
        Just("SIGNOPE".to_string()),
        Just("../../etc".to_string()),
        Just("/".to_string()),
        "[a-zA-Z0-9%:/._{}\\[\\]\",=-]{0,24}",
    ]
}

fn query() -> impl Strategy<Value = String> {
    prop::collection::vec((prop::sample::select(KEYS), query_value()), 0..5).prop_map(|kv| {
        kv.iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    })
}

/// Percent-encode what may not appear raw in a request target (a raw `{` or `"` is
/// refused by the HTTP parser itself with a bare 400, as Go's server does); a `%`
/// stays, so broken escapes still reach the handlers.
fn encode(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~%:/,=@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("c1".to_string()),
        Just("busybox".to_string()),
        Just("busybox:latest".to_string()),
        Just("nope".to_string()),
        Just("..".to_string()),
        Just("%2e%2e%2f%2e%2e".to_string()),
        Just("a%00b".to_string()),
        Just("%ff%fe".to_string()),
        Just("x".repeat(300)),
        "[a-zA-Z0-9_.:@%-]{1,20}",
    ]
}

/// Random JSON values, nested.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[\\PC]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((field_name(), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Field names of the request bodies, so random values land where handlers look.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "Image",
            "Cmd",
            "Entrypoint",
            "Env",
            "HostConfig",
            "Binds",
            "Mounts",
            "PortBindings",
            "Memory",
            "NanoCpus",
            "RestartPolicy",
            "Name",
            "Labels",
            "ExposedPorts",
            "Healthcheck",
            "AttachStdin",
            "Tty",
            "User",
            "WorkingDir",
            "NetworkingConfig",
            "EndpointsConfig",
            "Detach",
            "ConsoleSize",
            "Privileged",
            "CapAdd",
            "Devices",
            "Ulimits",
            "LogConfig",
            "Driver",
            "Container",
            "EndpointConfig",
            "IPAM",
            "username",
            "password",
            "serveraddress",
            "DriverOpts",
            "StopTimeout",
            "Volumes",
            "Tmpfs",
            "Sysctls",
        ])
        .prop_map(str::to_string),
        "[a-zA-Z]{1,8}",
    ]
}

fn body() -> impl Strategy<Value = (Option<&'static str>, Vec<u8>)> {
    let ctype = prop_oneof![
        Just(Some("application/json")),
        Just(Some("application/json; charset=utf-8")),
        Just(Some("text/plain")),
        Just(Some("application/x-tar")),
        Just(None),
    ];
    let bytes = prop_oneof![
        3 => json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
        1 => Just(b"{\"Image\":".to_vec()),
        1 => Just(b"{\"Image\":\"busybox\",\"HostConfig\":{\"Memory\":-1,\"PortBindings\":{\"x\":[{}]}}}".to_vec()),
        1 => Just(b"[".repeat(10_000)),
        1 => Just(Vec::new()),
    ];
    (ctype, bytes)
}

struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

/// Send one request; read the head within the time limit, and the body when it is an
/// error (streams of successful answers are not read to their end).
fn send(
    srv: &TestServer,
    method: &str,
    target: &str,
    ctype: Option<&str>,
    body: &[u8],
) -> Result<Answer, String> {
    let mut s = UnixStream::connect(srv.path()).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: api\r\nConnection: close\r\n");
    if let Some(ct) = ctype {
        req.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    // The server may answer and close before reading a body it refuses.
    let _ = s.write_all(&bytes);
    let started = Instant::now();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut buf) {
            Ok(0) => return Err(format!("connection closed without an answer: {raw:?}")),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("no answer after {:?}: {e}", started.elapsed())),
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let status: u16 = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line: {head:?}"))?;
    let mut body = raw[head_end..].to_vec();
    if status >= 400 && method != "HEAD" {
        let len = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .ok_or_else(|| format!("error without Content-Length: {head:?}"))?;
        while body.len() < len {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => body.extend_from_slice(&buf[..n]),
                Err(e) => return Err(format!("error body: {e}")),
            }
        }
    }
    Ok(Answer { status, head, body })
}

/// The checks every answer must pass.
fn check(method: &str, target: &str, a: &Answer) -> Result<(), TestCaseError> {
    prop_assert!(
        a.status != 500 && a.status <= 501,
        "{method} {target} → {}: {}",
        a.status,
        String::from_utf8_lossy(&a.body)
    );
    if a.status >= 400 && method != "HEAD" && a.status != 304 {
        let v: serde_json::Value = serde_json::from_slice(&a.body).map_err(|e| {
            TestCaseError::fail(format!(
                "{method} {target} → {}: not JSON ({e}): {:?} {}",
                a.status,
                a.head,
                String::from_utf8_lossy(&a.body)
            ))
        })?;
        prop_assert!(
            v.get("message").is_some_and(|m| m.is_string()),
            "{method} {target} → {}: {v}",
            a.status
        );
    }
    Ok(())
}

/// One server per test, owned by the test so that dropping it removes its temp dir
/// (a static would never be dropped and would leave the dir behind).
fn server(name: &str) -> TestServer {
    let srv = TestServer::start(name);
    // One real container and image, so routes get past "no such …" sometimes.
    let r = srv.request(
        "POST",
        "/v1.45/containers/create?name=c1",
        Some(r#"{"Image":"busybox","Cmd":["true"]}"#),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    srv
}

/// Statuses seen, to print how the requests were answered (and to see the fuzzing
/// reaches past the first validation).
static SEEN: std::sync::Mutex<std::collections::BTreeMap<u16, usize>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

#[test]
fn any_request_gets_a_clean_answer() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(800);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        ..ProptestConfig::default()
    });
    let version = prop_oneof![
        Just("/v1.45"),
        Just("/v1.24"),
        Just(""),
        Just("/v1.12"),
        Just("/v9.99"),
        Just("/vx")
    ];
    let strategy = (
        prop::sample::select(ROUTES),
        name(),
        version,
        query(),
        body(),
    );
    let server = server("fuzz-any");
    let result = runner.run(&strategy, |(route, id, version, q, (ctype, body))| {
        let srv = &server;
        let (method, path) = route;
        let path = path.replace("{id}", &encode(&id));
        let target = if q.is_empty() {
            format!("{version}{path}")
        } else {
            format!("{version}{path}?{q}")
        };
        let a = send(srv, method, &target, ctype, &body)
            .map_err(|e| TestCaseError::fail(format!("{method} {target}: {e}")))?;
        *SEEN.lock().unwrap().entry(a.status).or_default() += 1;
        check(method, &target, &a)
    });
    let seen = SEEN.lock().unwrap().clone();
    eprintln!("statuses: {seen:?}");
    eprintln!("FIGURE bad_inputs={}", seen.values().sum::<usize>());
    if let Err(e) = result {
        panic!("{e}");
    }
    // The mix must include answers past validation and refusals of several kinds.
    assert!(seen.keys().any(|s| *s < 300), "{seen:?}");
    assert!(
        seen.contains_key(&400) && seen.contains_key(&404),
        "{seen:?}"
    );
}

#[test]
fn server_survives_the_fuzzing() {
    let srv = &server("fuzz-survive");
    // Raw garbage on the wire, then a normal request.
    for junk in [
        &b"\x00\x01\x02\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST /containers/create HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"POST /containers/create HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /_ping?\xff\xfe HTTP/1.1\r\n\r\n",
    ] {
        let mut s = UnixStream::connect(srv.path()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(junk);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out);
        assert!(!text.contains(" 500 "), "{junk:?} → {text}");
    }
    let r = srv.request("GET", "/_ping", None);
    assert_eq!(r.status, 200);
}
