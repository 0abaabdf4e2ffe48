//! `/events` over raw HTTP against the in-memory backend: headers come at once, live
//! events stream as JSON lines, filters apply, `until` ends the stream.

mod common;
use common::{find, TestServer};
use std::io::{Read, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[test]
fn events_stream_filters_and_until() {
    let srv = TestServer::start("events");
    let until = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3;
    let mut s = srv.connect();
    let filters = "%7B%22event%22%3A%5B%22create%22%5D%7D"; // {"event":["create"]}
    s.write_all(
        format!("GET /v1.45/events?until={until}&filters={filters} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    // Headers arrive before any event.
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while find(&head, b"\r\n\r\n").is_none() {
        assert_eq!(s.read(&mut b).unwrap(), 1);
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");

    let r = srv.request(
        "POST",
        "/containers/create?name=ev1",
        Some(r#"{"Image":"busybox","Cmd":["echo","x"]}"#),
    );
    assert_eq!(r.status, 201);
    // Not a `create`: filtered out.
    srv.request("DELETE", "/containers/ev1", None);

    let started = Instant::now();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    // The stream ended by itself at `until`.
    assert!(started.elapsed() < Duration::from_secs(10));
    let body = common::dechunk(&rest);
    let lines: Vec<serde_json::Value> = String::from_utf8(body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["Action"], "create");
    assert_eq!(lines[0]["Type"], "container");
    assert_eq!(lines[0]["Actor"]["Attributes"]["name"], "ev1");
}

#[test]
fn events_bad_filter_is_400() {
    let srv = TestServer::start("events-bad");
    let r = srv.request(
        "GET",
        "/events?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D",
        None,
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.message(), "invalid filter 'bogus'");
}
