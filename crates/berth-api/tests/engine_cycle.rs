//! The API over the real engine, runtime and shim: import, create errors, the full
//! create/attach/wait/start/logs/rm cycle with multiplexed frames, tty attach, exec.
#![cfg(feature = "engine")]

mod common;
use common::real::{busybox_tar, engine_server};
use common::{demux, find, Response, TestServer};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

fn import_busybox(srv: &TestServer) -> String {
    let tar = std::fs::read(busybox_tar(&srv.dir)).unwrap();
    let mut s = srv.connect();
    let head = format!(
        "POST /v1.45/images/create?fromSrc=-&repo=busybox&tag=latest HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        tar.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&tar).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let r = Response::parse(&raw);
    assert_eq!(r.status, 200, "{}", r.text());
    let line: serde_json::Value = serde_json::from_str(r.text().trim()).unwrap();
    let id = line["status"].as_str().unwrap().to_string();
    assert!(id.starts_with("sha256:"), "{id}");
    id
}

fn create(srv: &TestServer, name: &str, body: serde_json::Value) -> Response {
    srv.request(
        "POST",
        &format!("/containers/create?name={name}"),
        Some(&body.to_string()),
    )
}

fn hijack(srv: &TestServer, path: &str, body: &str) -> (Response, UnixStream) {
    let mut s = srv.connect();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: api\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while find(&head, b"\r\n\r\n").is_none() {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "closed in head: {head:?}");
        head.push(byte[0]);
    }
    (Response::parse(&head), s)
}

#[test]
fn import_list_inspect_tag_with_slashes_and_remove() {
    let (srv, _cg) = engine_server("img");
    let id = import_busybox(&srv);
    let r = srv.request("GET", "/images/json", None);
    let list = r.json();
    assert_eq!(list[0]["Id"], id.as_str());
    assert_eq!(list[0]["RepoTags"][0], "busybox:latest");
    assert!(list[0].get("VirtualSize").is_none());
    let r = srv.request("GET", "/v1.43/images/json", None);
    assert!(r.json()[0]["VirtualSize"].is_i64());

    let r = srv.request(
        "POST",
        "/images/busybox/tag?repo=localhost:5000/a/b&tag=v1",
        None,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = srv.request("GET", "/images/localhost:5000/a/b:v1/json", None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["Id"], id.as_str());
    assert!(r.json().get("ContainerConfig").is_none());
    let r = srv.request("GET", "/v1.44/images/localhost:5000/a/b:v1/json", None);
    assert!(r.json()["ContainerConfig"].is_object());

    let r = srv.request("DELETE", "/images/localhost:5000/a/b:v1", None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()[0]["Untagged"], "localhost:5000/a/b:v1");
    let r = srv.request("GET", "/images/localhost:5000/a/b:v1/json", None);
    assert_eq!(r.status, 404);

    // A pull from a registry nobody listens on (loopback only: tests never leave the
    // machine) fails with Docker's dial error.
    let r = srv.request("POST", "/images/create?fromImage=127.0.0.1:1/x&tag=3", None);
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(
        r.message().contains("connection refused"),
        "{}",
        r.message()
    );
}

#[test]
fn create_errors_missing_image_and_name_conflict() {
    let (srv, _cg) = engine_server("errs");
    import_busybox(&srv);
    let r = create(&srv, "missing", serde_json::json!({"Image": "nope"}));
    assert_eq!(r.status, 404);
    assert_eq!(r.message(), "No such image: nope:latest");
    let r = create(
        &srv,
        "dup",
        serde_json::json!({"Image": "busybox", "Cmd": ["true"]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["Id"].as_str().unwrap().to_string();
    let r = create(
        &srv,
        "dup",
        serde_json::json!({"Image": "busybox", "Cmd": ["true"]}),
    );
    assert_eq!(r.status, 409);
    assert!(r.message().contains(&id), "{}", r.message());
    let r = srv.request("DELETE", "/containers/dup", None);
    assert_eq!(r.status, 204);
}

#[test]
fn full_cycle_attach_wait_start_logs_rm() {
    let (srv, _cg) = engine_server("cycle");
    import_busybox(&srv);
    let r = create(
        &srv,
        "cycle",
        serde_json::json!({"Image": "busybox", "Cmd": ["sh", "-c", "echo out; echo err >&2; exit 7"],
                           "AttachStdout": true, "AttachStderr": true}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["Id"].as_str().unwrap().to_string();

    let (head, mut att) = hijack(
        &srv,
        &format!("/v1.45/containers/{id}/attach?stream=1&stdout=1&stderr=1"),
        "",
    );
    assert_eq!(head.status, 101);
    assert_eq!(
        head.header("Content-Type"),
        Some("application/vnd.docker.multiplexed-stream")
    );
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

    let mut out = Vec::new();
    att.read_to_end(&mut out).unwrap();
    let mut frames = demux(&out);
    frames.sort();
    assert_eq!(frames, vec![(1, b"out\n".to_vec()), (2, b"err\n".to_vec())]);

    let mut rest = Vec::new();
    w.read_to_end(&mut rest).unwrap();
    let mut whole = early.to_vec();
    whole.extend_from_slice(&rest);
    assert_eq!(Response::parse(&whole).json()["StatusCode"], 7);

    let r = srv.request(
        "GET",
        &format!("/containers/{id}/logs?stdout=1&stderr=1"),
        None,
    );
    assert_eq!(r.status, 200);
    let mut frames = demux(&r.body);
    frames.sort();
    assert_eq!(frames, vec![(1, b"out\n".to_vec()), (2, b"err\n".to_vec())]);
    let r = srv.request(
        "GET",
        &format!("/containers/{id}/logs?stdout=1&timestamps=1"),
        None,
    );
    let frames = demux(&r.body);
    assert_eq!(frames.len(), 1);
    let text = String::from_utf8(frames[0].1.clone()).unwrap();
    // `2024-05-01T12:34:56.123456789Z out`
    assert_eq!(
        text.len(),
        "2024-05-01T12:34:56.123456789Z out\n".len(),
        "{text}"
    );
    assert!(text.ends_with("Z out\n"), "{text}");

    let r = srv.request("GET", &format!("/containers/{id}/json"), None);
    assert_eq!(r.json()["State"]["ExitCode"], 7);
    assert_eq!(r.json()["State"]["Status"], "exited");
    let r = srv.request(
        "GET",
        "/containers/json?all=1&filters=%7B%22status%22%3A%5B%22exited%22%5D%7D",
        None,
    );
    assert_eq!(r.json().as_array().unwrap().len(), 1, "{}", r.text());
    let r = srv.request("GET", "/containers/json", None);
    assert_eq!(r.json().as_array().unwrap().len(), 0);

    let r = srv.request("DELETE", &format!("/containers/{id}"), None);
    assert_eq!(r.status, 204, "{}", r.text());
    let r = srv.request("GET", &format!("/containers/{id}/json"), None);
    assert_eq!(r.status, 404);
}

#[test]
fn tty_attach_is_raw_and_exec_is_hijacked() {
    let (srv, _cg) = engine_server("exec");
    import_busybox(&srv);
    let r = create(
        &srv,
        "svc",
        serde_json::json!({"Image": "busybox", "Cmd": ["sleep", "60"]}),
    );
    let id = r.json()["Id"].as_str().unwrap().to_string();
    assert_eq!(
        srv.request("POST", &format!("/containers/{id}/start"), None)
            .status,
        204
    );
    let r = srv.request("POST", &format!("/containers/{id}/start"), None);
    assert_eq!(r.status, 304);

    // exec without tty: multiplexed frames, exit code in inspect.
    let r = srv.request(
        "POST",
        &format!("/containers/{id}/exec"),
        Some(r#"{"Cmd":["sh","-c","echo hi; echo oops >&2; exit 3"],"AttachStdout":true,"AttachStderr":true}"#),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let exec_id = r.json()["Id"].as_str().unwrap().to_string();
    let (head, mut s) = hijack(
        &srv,
        &format!("/exec/{exec_id}/start"),
        r#"{"Detach":false,"Tty":false}"#,
    );
    assert_eq!(head.status, 101, "{head:?}");
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let mut frames = demux(&out);
    frames.sort();
    assert_eq!(frames, vec![(1, b"hi\n".to_vec()), (2, b"oops\n".to_vec())]);
    let mut code = serde_json::Value::Null;
    for _ in 0..50 {
        code = srv
            .request("GET", &format!("/exec/{exec_id}/json"), None)
            .json()["ExitCode"]
            .clone();
        if !code.is_null() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(code, 3);

    // exec with stdin and tty: raw stream, input echoed back by cat.
    let r = srv.request(
        "POST",
        &format!("/containers/{id}/exec"),
        Some(r#"{"Cmd":["cat"],"AttachStdin":true,"AttachStdout":true,"Tty":true}"#),
    );
    let exec_id = r.json()["Id"].as_str().unwrap().to_string();
    let (head, mut s) = hijack(&srv, &format!("/exec/{exec_id}/start"), r#"{"Tty":true}"#);
    assert_eq!(head.status, 101);
    assert_eq!(
        head.header("Content-Type"),
        Some("application/vnd.docker.raw-stream")
    );
    s.write_all(b"ping\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&got).contains("ping") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "stream ended: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    // Detach with the default keys: the exec session ends, the container keeps running.
    s.write_all(&[0x10, 0x11]).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    let r = srv.request("GET", &format!("/containers/{id}/json"), None);
    assert_eq!(r.json()["State"]["Running"], true);

    let r = srv.request("DELETE", &format!("/containers/{id}"), None);
    assert_eq!(r.status, 409, "{}", r.text());
    let r = srv.request("DELETE", &format!("/containers/{id}?force=1"), None);
    assert_eq!(r.status, 204, "{}", r.text());
}

/// Read a whole response of a request with a raw body.
fn request_raw(srv: &TestServer, method: &str, path: &str, ctype: &str, body: &[u8]) -> Response {
    let mut s = srv.connect();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    Response::parse(&raw)
}

/// Names of the entries of a tar archive (via the system `tar`).
fn tar_names(dir: &std::path::Path, data: &[u8]) -> Vec<String> {
    let p = dir.join(format!("t-{}.tar", data.len()));
    std::fs::write(&p, data).unwrap();
    let out = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&p)
        .output()
        .unwrap();
    assert!(out.status.success(), "not a tar archive");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn files_export_cp_commit_save_load_prune_df_stats() {
    let (srv, _cg) = engine_server("files");
    import_busybox(&srv);
    let r = create(
        &srv,
        "files",
        serde_json::json!({"Image": "busybox", "Cmd": ["sh", "-c", "echo data > /tmp/f; sleep 60"]}),
    );
    let id = r.json()["Id"].as_str().unwrap().to_string();
    assert_eq!(
        srv.request("POST", &format!("/containers/{id}/start"), None)
            .status,
        204
    );
    std::thread::sleep(std::time::Duration::from_millis(300));

    // docker cp out: stat header, then the tar.
    let r = srv.request(
        "HEAD",
        &format!("/containers/{id}/archive?path=/tmp/f"),
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    let stat = r
        .header("X-Docker-Container-Path-Stat")
        .unwrap()
        .to_string();
    assert!(!stat.is_empty());
    let r = srv.request(
        "GET",
        &format!("/containers/{id}/archive?path=/tmp/f"),
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/x-tar"));
    assert_eq!(tar_names(&srv.dir, &r.body), vec!["f"]);
    let r = srv.request("GET", &format!("/containers/{id}/archive?path=/nope"), None);
    assert_eq!(r.status, 404, "{}", r.text());
    let r = srv.request("GET", &format!("/containers/{id}/archive"), None);
    assert_eq!(r.status, 400);

    // docker cp in: a tar of one file into /tmp.
    let src = srv.dir.join("cpin");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("hello.txt"), "hi\n").unwrap();
    let tarfile = srv.dir.join("cpin.tar");
    let st = std::process::Command::new("tar")
        .arg("-C")
        .arg(&src)
        .arg("-cf")
        .arg(&tarfile)
        .arg("hello.txt")
        .status()
        .unwrap();
    assert!(st.success());
    let r = request_raw(
        &srv,
        "PUT",
        &format!("/containers/{id}/archive?path=/tmp"),
        "application/x-tar",
        &std::fs::read(&tarfile).unwrap(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = srv.request(
        "HEAD",
        &format!("/containers/{id}/archive?path=/tmp/hello.txt"),
        None,
    );
    assert_eq!(r.status, 200);

    // stats: one sample without streaming.
    let r = srv.request("GET", &format!("/containers/{id}/stats?stream=false"), None);
    if r.status != 501 {
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.json()["memory_stats"].is_object(), "{}", r.text());
    }

    // export and commit.
    let r = srv.request("GET", &format!("/containers/{id}/export"), None);
    assert_eq!(r.status, 200, "{}", r.text());
    let names = tar_names(&srv.dir, &r.body);
    assert!(
        names
            .iter()
            .any(|n| n.trim_start_matches("./") == "bin/busybox"),
        "{names:?}"
    );
    let r = srv.request(
        "POST",
        &format!("/commit?container={id}&repo=committed&tag=v1&changes=ENV%20A%3Db"),
        None,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let image = r.json()["Id"].as_str().unwrap().to_string();
    let r = srv.request("GET", "/images/committed:v1/json", None);
    assert_eq!(r.json()["Id"], image.as_str());
    let r = srv.request("POST", "/commit?repo=x", None);
    assert_eq!(r.status, 400);

    // save and load.
    let r = srv.request("GET", "/images/committed:v1/get", None);
    assert_eq!(r.status, 200, "{}", r.text());
    let saved = r.body.clone();
    assert!(tar_names(&srv.dir, &saved)
        .iter()
        .any(|n| n == "manifest.json"));
    let r = srv.request("DELETE", &format!("/containers/{id}?force=1"), None);
    assert_eq!(r.status, 204);
    let r = srv.request("DELETE", "/images/committed:v1", None);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = request_raw(&srv, "POST", "/images/load", "application/x-tar", &saved);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("Loaded image"), "{}", r.text());
    let r = srv.request("GET", "/images/committed:v1/json", None);
    assert_eq!(r.status, 200);

    // prune and df.
    let r = srv.request("POST", "/images/prune", None);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = srv.request("GET", "/system/df", None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["Images"].is_array());
    assert!(r.json()["LayersSize"].is_i64());
}

#[test]
fn events_since_replays_recent_events_with_filters() {
    let (srv, _cg) = engine_server("events");
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    import_busybox(&srv);
    let r = create(
        &srv,
        "evc",
        serde_json::json!({"Image": "busybox", "Cmd": ["true"]}),
    );
    assert_eq!(r.status, 201);
    let id = r.json()["Id"].as_str().unwrap().to_string();
    let until = t0.as_secs() + 60;
    // The create happened before the request: it comes from the replayed history.
    let mut s = srv.connect();
    s.write_all(
        format!(
            "GET /events?since={}.{:09}&until={until}&filters=%7B%22type%22%3A%5B%22container%22%5D%7D HTTP/1.1\r\nHost: a\r\n\r\n",
            t0.as_secs(),
            t0.subsec_nanos()
        )
        .as_bytes(),
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("\"create\"") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "stream ended: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains(&id), "{text}");
    // The image import event is filtered out by type.
    assert!(!text.contains("\"import\""), "{text}");
    assert_eq!(srv.request("DELETE", "/containers/evc", None).status, 204);
}

#[test]
fn regression_exec_exit_code_is_recorded_when_stream_ends() {
    let (srv, _cg) = engine_server("execcode");
    import_busybox(&srv);
    let r = create(
        &srv,
        "ec",
        serde_json::json!({"Image": "busybox", "Cmd": ["sleep", "60"]}),
    );
    let id = r.json()["Id"].as_str().unwrap().to_string();
    assert_eq!(
        srv.request("POST", &format!("/containers/{id}/start"), None)
            .status,
        204
    );
    for i in 0..8 {
        let r = srv.request(
            "POST",
            &format!("/containers/{id}/exec"),
            Some(&format!(
                r#"{{"Cmd":["sh","-c","echo {i}; exit {i}"],"AttachStdout":true}}"#
            )),
        );
        let exec_id = r.json()["Id"].as_str().unwrap().to_string();
        let (head, mut s) = hijack(&srv, &format!("/exec/{exec_id}/start"), "{}");
        assert_eq!(head.status, 101);
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        assert_eq!(demux(&out), vec![(1, format!("{i}\n").into_bytes())]);
        // No polling: the exit code must be there once the stream has ended.
        let r = srv.request("GET", &format!("/exec/{exec_id}/json"), None);
        assert_eq!(r.json()["ExitCode"], i, "{}", r.text());
        assert_eq!(r.json()["Running"], false);
    }
    // An unknown exec is refused before any hijack, as JSON.
    let r = srv.request("POST", "/exec/nope/start", Some("{}"));
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.message().contains("nope"), "{}", r.message());
    assert_eq!(
        srv.request("DELETE", &format!("/containers/{id}?force=1"), None)
            .status,
        204
    );
}

#[test]
fn logs_follow_streams_until_exit_and_attach_detaches_from_running() {
    let (srv, _cg) = engine_server("follow");
    import_busybox(&srv);
    let r = create(
        &srv,
        "fol",
        serde_json::json!({"Image": "busybox", "OpenStdin": true,
            "Cmd": ["sh", "-c", "echo first; read line; echo got $line; sleep 0.3; echo last"]}),
    );
    let id = r.json()["Id"].as_str().unwrap().to_string();
    assert_eq!(
        srv.request("POST", &format!("/containers/{id}/start"), None)
            .status,
        204
    );

    // Follow: the first line now, the rest as it comes, the end when the container exits.
    let mut f = srv.connect();
    f.write_all(
        format!("GET /containers/{id}/logs?stdout=1&follow=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();

    // Attach to the running container with stdin, feed a line, then detach.
    let (head, mut att) = hijack(
        &srv,
        &format!("/containers/{id}/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-x"),
        "",
    );
    assert_eq!(head.status, 101);
    att.write_all(b"hello\n").unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("got hello") {
        let n = att.read(&mut buf).unwrap();
        assert!(n > 0, "attach ended early: {seen:?}");
        seen.extend_from_slice(&buf[..n]);
    }
    att.write_all(&[0x18]).unwrap();
    let mut rest = Vec::new();
    let _ = att.read_to_end(&mut rest);

    let mut raw = Vec::new();
    f.read_to_end(&mut raw).unwrap();
    let r = Response::parse(&raw);
    assert_eq!(r.status, 200);
    let lines: Vec<Vec<u8>> = demux(&r.body).into_iter().map(|(_, l)| l).collect();
    assert_eq!(
        lines,
        vec![
            b"first\n".to_vec(),
            b"got hello\n".to_vec(),
            b"last\n".to_vec()
        ]
    );
    assert_eq!(
        srv.request("DELETE", &format!("/containers/{id}"), None)
            .status,
        204
    );
}
