//! Early answers on keep-alive connections: a request refused before its body was
//! read (unknown route, bad version, a route that takes no body, a refused content
//! type) must still let the client read the error, and the next request on the same
//! connection must work. A body too large to drain is answered, then the connection
//! is closed without a reset (the client reads the whole error).

mod common;
use common::TestServer;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// One response read off a keep-alive connection (Content-Length bodies only, which
/// is what error and `_ping` answers use).
struct Resp {
    status: u16,
    close: bool,
    body: Vec<u8>,
}

fn read_response(s: &mut UnixStream) -> Resp {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).expect("reading the response head");
        assert!(n == 1, "connection closed inside the head: {head:?}");
        head.push(byte[0]);
    }
    let text = String::from_utf8(head).unwrap();
    let status = text[9..12].parse().unwrap();
    let header = |name: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let len: usize = header("content-length")
        .expect("content-length")
        .parse()
        .unwrap();
    let close = header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).expect("reading the response body");
    Resp {
        status,
        close,
        body,
    }
}

/// Send a request head announcing `len` body bytes, then the body from a thread in
/// small pieces with pauses (as a slow upload does), so the server has to answer
/// before the body is all there.
fn send_slow(
    s: &UnixStream,
    method: &str,
    path: &str,
    ctype: &str,
    len: usize,
) -> std::thread::JoinHandle<std::io::Result<()>> {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: api\r\nContent-Type: {ctype}\r\nContent-Length: {len}\r\n\r\n"
    );
    let mut w = s.try_clone().unwrap();
    w.write_all(head.as_bytes()).unwrap();
    std::thread::spawn(move || {
        let piece = vec![b' '; 16 * 1024];
        let mut left = len;
        while left > 0 {
            let n = left.min(piece.len());
            w.write_all(&piece[..n])?;
            left -= n;
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    })
}

fn ping_on(s: &mut UnixStream) {
    s.write_all(b"GET /_ping HTTP/1.1\r\nHost: api\r\n\r\n")
        .unwrap();
    let r = read_response(s);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"OK");
}

fn message(r: &Resp) -> String {
    let v: serde_json::Value = serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("not Docker's error JSON ({e}): {:?}", r.body));
    v["message"].as_str().expect("message").to_string()
}

#[test]
fn early_errors_keep_the_connection_usable() {
    let srv = TestServer::start("keepalive");
    let mut s = srv.connect();
    let cases: &[(&str, &str, &str, u16, &str)] = &[
        // A route that reads no body, its container missing.
        (
            "POST",
            "/v1.45/containers/nope/stop",
            "application/json",
            404,
            "No such container: nope",
        ),
        // No such route.
        (
            "POST",
            "/v1.45/no/such/route",
            "application/json",
            404,
            "page not found",
        ),
        // A version this server does not speak.
        (
            "POST",
            "/v9.99/containers/create",
            "application/json",
            400,
            "is too new",
        ),
        // A body route refusing the content type before reading the body.
        (
            "POST",
            "/v1.45/containers/create",
            "text/plain",
            400,
            "unsupported Content-Type",
        ),
    ];
    for (method, path, ctype, status, text) in cases {
        let writer = send_slow(&s, method, path, ctype, 300 * 1024);
        let r = read_response(&mut s);
        assert_eq!(r.status, *status, "{method} {path}");
        assert!(message(&r).contains(text), "{path}: {}", message(&r));
        assert!(!r.close, "{path}: the server gave up the connection");
        writer.join().unwrap().expect("the whole body was accepted");
        // The same connection serves the next request.
        ping_on(&mut s);
    }
}

#[test]
fn too_large_unread_body_is_answered_then_closed_without_reset() {
    let srv = TestServer::start("keepalive-large");
    let mut s = srv.connect();
    // `start` reads at most 1 MiB of body and refuses more; the rest is never read.
    let writer = send_slow(
        &s,
        "POST",
        "/v1.45/containers/nope/start",
        "application/json",
        3 << 20,
    );
    let r = read_response(&mut s);
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert!(message(&r).contains("request body"), "{}", message(&r));
    // The server kept reading while the client was still sending: no reset.
    writer
        .join()
        .unwrap()
        .expect("upload ended without a reset");
    // Then the server ends the connection cleanly (an end of stream, not a reset).
    let mut rest = Vec::new();
    s.read_to_end(&mut rest)
        .expect("clean end of the connection");
    assert!(rest.is_empty(), "{rest:?}");
    // A new connection works.
    let r = srv.request("GET", "/_ping", None);
    assert_eq!(r.status, 200);
}
