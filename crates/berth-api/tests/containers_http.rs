//! Container routes over raw HTTP against the in-memory backend: status codes, error
//! bodies, the wait/attach/start ordering clients rely on, hijack (101 and the 200
//! form), multiplexed frames, half-close, detach keys, logs framing.

mod common;
use common::{demux, find, Response, TestServer};
use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;

fn create(srv: &TestServer, name: &str, body: &str) -> Response {
    srv.request(
        "POST",
        &format!("/v1.45/containers/create?name={name}"),
        Some(body),
    )
}

/// Send a request that hijacks, return the stream positioned after the reply head.
fn hijack(srv: &TestServer, path: &str, upgrade: bool, body: &str) -> (Response, UnixStream) {
    let mut s = srv.connect();
    let mut req = format!("POST {path} HTTP/1.1\r\nHost: api\r\n");
    if upgrade {
        req.push_str("Connection: Upgrade\r\nUpgrade: tcp\r\n");
    }
    req.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    s.write_all(req.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while find(&head, b"\r\n\r\n").is_none() {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "connection closed in head");
        head.push(byte[0]);
    }
    (Response::parse(&head), s)
}

#[test]
fn create_with_missing_image_is_404_no_such_image() {
    let srv = TestServer::start("c-404");
    let r = create(&srv, "x", r#"{"Image":"nope"}"#);
    assert_eq!(r.status, 404);
    assert_eq!(r.message(), "No such image: nope:latest");
    assert_eq!(r.header("Content-Type"), Some("application/json"));
}

#[test]
fn create_name_conflict_is_409() {
    let srv = TestServer::start("c-409");
    let r = create(&srv, "web", r#"{"Image":"busybox","Cmd":["echo","hi"]}"#);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["Id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 64);
    assert!(r.json()["Warnings"].is_array());
    let r = create(&srv, "web", r#"{"Image":"busybox"}"#);
    assert_eq!(r.status, 409);
    assert!(
        r.message().contains("is already in use by container"),
        "{}",
        r.message()
    );
    assert!(r.message().contains(&id));
}

#[test]
fn malformed_json_is_400_with_message() {
    let srv = TestServer::start("c-400");
    let r = create(&srv, "x", r#"{"Image":"busybox","Cmd":["#);
    assert_eq!(r.status, 400);
    assert!(r.message().starts_with("invalid JSON: "), "{}", r.message());
    let r = srv.request("POST", "/containers/create", None);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.message(),
        "config cannot be empty in order to create a container"
    );
    let r = srv.request_with(
        "POST",
        "/containers/create",
        &[("Content-Type", "text/plain")],
        Some(br#"{"Image":"busybox"}"#),
    );
    // request_with adds its own JSON content type after ours; the first one wins in
    // hyper's map, so this is refused.
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn bad_query_values_are_400() {
    let srv = TestServer::start("c-q");
    let id = create(&srv, "q", r#"{"Image":"busybox"}"#).json()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = srv.request("POST", &format!("/containers/{id}/stop?t=abc"), None);
    assert_eq!(r.status, 400);
    let r = srv.request(
        "POST",
        &format!("/containers/{id}/wait?condition=bogus"),
        None,
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.message(), "invalid condition: \"bogus\"");
    let r = srv.request("POST", &format!("/containers/{id}/resize?h=x&w=1"), None);
    assert_eq!(r.status, 400);
    let r = srv.request("GET", &format!("/containers/{id}/logs"), None);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.message(),
        "Bad parameters: you must choose at least one stream"
    );
    let r = srv.request("GET", "/containers/json?filters=%7B", None);
    assert_eq!(r.status, 400);
    let r = srv.request(
        "POST",
        &format!("/containers/{id}/attach?stream=1&stdin=1&detachKeys=ctrl-1"),
        None,
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.message(), "Invalid detach keys (ctrl-1) provided");
    let r = srv.request("POST", "/containers/nope/kill", None);
    assert_eq!(r.status, 404);
    assert_eq!(r.message(), "No such container: nope");
    let r = srv.request("POST", &format!("/containers/{id}/kill"), None);
    assert_eq!(r.status, 409);
}

#[test]
fn full_cycle_create_attach_wait_start_logs_rm() {
    let srv = TestServer::start("c-cycle");
    let r = create(&srv, "cyc", r#"{"Image":"busybox","Cmd":["echo","hello"]}"#);
    assert_eq!(r.status, 201);
    let id = r.json()["Id"].as_str().unwrap().to_string();

    // attach first (as `docker run` does), then wait, then start.
    let (head, mut att) = hijack(
        &srv,
        &format!("/v1.45/containers/{id}/attach?stream=1&stdout=1&stderr=1"),
        true,
        "",
    );
    assert_eq!(head.status, 101);
    assert_eq!(head.reason, "UPGRADED");
    assert_eq!(head.header("Upgrade"), Some("tcp"));
    assert_eq!(head.header("Connection"), Some("Upgrade"));
    assert_eq!(
        head.header("Content-Type"),
        Some("application/vnd.docker.multiplexed-stream")
    );

    // wait: headers arrive before the container has even started.
    let mut w = srv.connect();
    w.write_all(
        format!("POST /containers/{id}/wait?condition=next-exit HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let mut early = [0u8; 12];
    w.read_exact(&mut early).unwrap();
    assert_eq!(&early, b"HTTP/1.1 200");

    let r = srv.request("POST", &format!("/containers/{id}/start"), None);
    assert_eq!(r.status, 204, "{}", r.text());
    let r = srv.request(
        "POST",
        &format!("/containers/{id}/start"),
        Some(r#"{"Binds":["/:/x"]}"#),
    );
    assert_eq!(r.status, 400);

    let mut out = Vec::new();
    att.read_to_end(&mut out).unwrap();
    let frames = demux(&out);
    assert_eq!(
        frames,
        vec![(1, b"hello\n".to_vec()), (2, b"to stderr\n".to_vec())]
    );

    let mut rest = Vec::new();
    w.read_to_end(&mut rest).unwrap();
    let mut whole = early.to_vec();
    whole.extend_from_slice(&rest);
    let wr = Response::parse(&whole);
    assert_eq!(wr.json()["StatusCode"], 0);

    // logs: multiplexed, with fixed-width timestamps when asked.
    let r = srv.request(
        "GET",
        &format!("/containers/{id}/logs?stdout=1&stderr=1&timestamps=1"),
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Content-Type"),
        Some("application/vnd.docker.multiplexed-stream")
    );
    let frames = demux(&r.body);
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].0, 1);
    assert_eq!(frames[0].1, b"2024-05-01T12:34:56.000000001Z hello\n");
    let r = srv.request(
        "GET",
        &format!("/containers/{id}/logs?stderr=1&tail=1"),
        None,
    );
    assert_eq!(demux(&r.body), vec![(2, b"to stderr\n".to_vec())]);
    // Before 1.42 every stream was labelled raw.
    let r = srv.request(
        "GET",
        &format!("/v1.41/containers/{id}/logs?stdout=1"),
        None,
    );
    assert_eq!(
        r.header("Content-Type"),
        Some("application/vnd.docker.raw-stream")
    );

    let r = srv.request("DELETE", &format!("/containers/{id}"), None);
    assert_eq!(r.status, 204);
    let r = srv.request("GET", &format!("/containers/{id}/json"), None);
    assert_eq!(r.status, 404);
}

#[test]
fn attach_stdin_half_close_is_eof_and_output_continues() {
    let srv = TestServer::start("c-half");
    let id = create(
        &srv,
        "cat",
        r#"{"Image":"busybox","Cmd":["cat"],"OpenStdin":true}"#,
    )
    .json()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let (head, mut att) = hijack(
        &srv,
        &format!("/containers/{id}/attach?stream=1&stdin=1&stdout=1&stderr=1"),
        true,
        "",
    );
    assert_eq!(head.status, 101);
    let r = srv.request("POST", &format!("/containers/{id}/start"), None);
    assert_eq!(r.status, 204);
    att.write_all(b"line one\n").unwrap();
    att.shutdown(Shutdown::Write).unwrap();
    let mut out = Vec::new();
    att.read_to_end(&mut out).unwrap();
    assert_eq!(demux(&out), vec![(1, b"line one\n".to_vec())]);
}

#[test]
fn attach_detach_keys_end_the_session_only() {
    let srv = TestServer::start("c-detach");
    let id = create(
        &srv,
        "cat2",
        r#"{"Image":"busybox","Cmd":["cat"],"OpenStdin":true}"#,
    )
    .json()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let (head, mut att) = hijack(
        &srv,
        &format!("/containers/{id}/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-a,x"),
        true,
        "",
    );
    assert_eq!(head.status, 101);
    assert_eq!(
        srv.request("POST", &format!("/containers/{id}/start"), None)
            .status,
        204
    );
    att.write_all(b"abc\n").unwrap();
    // Wait for the echo, so the detach keys come in a later read.
    let mut first = [0u8; 12];
    att.read_exact(&mut first).unwrap();
    assert_eq!(&first[8..], b"abc\n");
    att.write_all(b"\x01x").unwrap();
    let mut rest = Vec::new();
    att.read_to_end(&mut rest).unwrap();
    // The session ended without passing the keys on (the echo would show them).
    assert!(rest.is_empty(), "{rest:?}");
}

#[test]
fn attach_without_upgrade_header_gets_200_and_raw_stream() {
    let srv = TestServer::start("c-200");
    let id = create(
        &srv,
        "tty",
        r#"{"Image":"busybox","Cmd":["echo","raw"],"Tty":true}"#,
    )
    .json()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let (head, mut att) = hijack(
        &srv,
        &format!("/v1.24/containers/{id}/attach?stream=1&stdout=1&stderr=1"),
        false,
        "",
    );
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("Content-Type"),
        Some("application/vnd.docker.raw-stream")
    );
    assert!(head.header("Upgrade").is_none());
    assert!(head.header("Transfer-Encoding").is_none());
    assert_eq!(
        srv.request("POST", &format!("/containers/{id}/start"), None)
            .status,
        204
    );
    let mut out = Vec::new();
    att.read_to_end(&mut out).unwrap();
    // tty: raw bytes, no frame headers.
    assert_eq!(out, b"raw\nto stderr\n");
}

#[test]
fn start_twice_is_304_and_list_filters_running() {
    let srv = TestServer::start("c-304");
    let id = create(&srv, "s", r#"{"Image":"busybox","Cmd":["cat"]}"#).json()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        srv.request("POST", &format!("/containers/{id}/start"), None)
            .status,
        204
    );
    let r = srv.request("POST", &format!("/containers/{id}/start"), None);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let r = srv.request("GET", "/containers/json", None);
    assert_eq!(r.json().as_array().unwrap().len(), 1);
    let r = srv.request("DELETE", &format!("/containers/{id}"), None);
    assert_eq!(r.status, 409);
    let r = srv.request("DELETE", &format!("/containers/{id}?force=1"), None);
    assert_eq!(r.status, 204);
}
