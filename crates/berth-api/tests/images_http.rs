//! Image routes over raw HTTP against the in-memory backend: import from the body,
//! names with registries and slashes, pull progress streaming, version differences,
//! and the registry areas not served yet.

mod common;
use common::{Response, TestServer};
use std::io::{Read, Write};

#[test]
fn import_from_body_then_tag_inspect_delete_with_slashes() {
    let srv = TestServer::start("img-import");
    let data = vec![7u8; 3000];
    let mut s = srv.connect();
    s.write_all(
        format!(
            "POST /images/create?fromSrc=-&repo=localhost:5000/team/app&tag=v1&changes=CMD%20%5B%22sh%22%5D HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
            data.len()
        )
        .as_bytes(),
    )
    .unwrap();
    s.write_all(&data).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let r = Response::parse(&raw);
    assert_eq!(r.status, 200, "{}", r.text());
    // The fake's id is the body length: the whole body reached the importer.
    let line: serde_json::Value = serde_json::from_str(r.text().trim()).unwrap();
    assert_eq!(line["status"], format!("sha256:{:064x}", data.len()));

    let r = srv.request("GET", "/images/localhost:5000/team/app:v1/json", None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json().get("VirtualSize").is_none());
    let r = srv.request("GET", "/v1.43/images/localhost:5000/team/app:v1/json", None);
    assert_eq!(r.json()["VirtualSize"], 1000);
    assert_eq!(r.json()["Container"], "");

    let r = srv.request(
        "POST",
        "/images/localhost:5000/team/app:v1/tag?repo=other/name&tag=2",
        None,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = srv.request("POST", "/images/busybox:latest/tag", None);
    assert_eq!(r.status, 400);

    let r = srv.request("DELETE", "/images/other/name:2", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()[0]["Untagged"], "other/name:2");
    let r = srv.request("DELETE", "/images/other/name:2", None);
    assert_eq!(r.status, 404);

    let r = srv.request("GET", "/v1.41/images/json", None);
    let list = r.json();
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["VirtualSize"].is_i64()));
}

#[test]
fn pull_streams_progress_and_missing_images_fail_cleanly() {
    let srv = TestServer::start("img-pull");
    let r = srv.request_with(
        "POST",
        "/images/create?fromImage=demo/img&tag=1",
        &[("X-Registry-Auth", "e30=")],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let lines: Vec<serde_json::Value> = r
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["status"], "Pulling from demo/img");
    assert_eq!(lines[1]["status"], "auth=e30=");

    let r = srv.request("POST", "/images/create?fromImage=nope&tag=latest", None);
    assert_eq!(r.status, 404);
    assert_eq!(r.message(), "pull access denied for nope:latest");
    let r = srv.request("POST", "/images/create", None);
    assert_eq!(r.status, 400);
    let r = srv.request(
        "POST",
        "/images/create?fromSrc=http://example.invalid/x.tar",
        None,
    );
    assert_eq!(r.status, 400);
}

#[test]
fn push_and_login_are_501_until_the_registry_lands() {
    let srv = TestServer::start("img-push");
    let r = srv.request("POST", "/images/busybox/push?tag=latest", None);
    assert_eq!(r.status, 501);
    assert_eq!(r.message(), "pushing images is not supported yet by Berth");
    let r = srv.request("POST", "/auth", Some(r#"{"username":"u","password":"p"}"#));
    assert_eq!(r.status, 501);
    assert_eq!(r.message(), "registry login is not supported yet by Berth");
}
