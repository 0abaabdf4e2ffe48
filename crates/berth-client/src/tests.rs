//! Client tests against a fake daemon: a `UnixListener` thread that answers with
//! canned bytes and records what it received.

use super::*;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::thread;

/// A temp dir removed on drop.
struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "berth-client-{tag}-{}-{:?}",
            std::process::id(),
            thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Reads one request head (and a Content-Length body) from a connection.
fn read_request(s: &mut std::os::unix::net::UnixStream) -> String {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).unwrap() == 0 {
            break;
        }
        buf.push(b[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    head + &String::from_utf8_lossy(&body)
}

/// Serves `responses` in order, one per connection; returns the requests seen.
fn fake_server(dir: &Path, responses: Vec<Vec<u8>>) -> (PathBuf, thread::JoinHandle<Vec<String>>) {
    let sock = dir.join("d.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let h = thread::spawn(move || {
        let mut seen = Vec::new();
        for resp in responses {
            let (mut s, _) = listener.accept().unwrap();
            seen.push(read_request(&mut s));
            s.write_all(&resp).unwrap();
        }
        seen
    });
    (sock, h)
}

fn ping(version: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\nApi-Version: {version}\r\nContent-Length: 2\r\n\r\nOK").into_bytes()
}

fn too_new(server_max: &str) -> Vec<u8> {
    let body = format!(
        r#"{{"message":"client version 1.45 is too new. Maximum supported API version is {server_max}"}}"#
    );
    format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn negotiates_lower_server_version_and_decodes_chunked_json() {
    let dir = TempDir::new("neg");
    let (sock, h) = fake_server(
        &dir.0,
        vec![
            too_new("1.41"),
            ping("1.41"),
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n[{\"b\r\n9\r\n\":1,\"a\":2\r\n2\r\n}]\r\n0\r\n\r\n".to_vec(),
        ],
    );
    let c = Client::new(sock.to_str().unwrap()).unwrap();
    let v = c.get_json("/containers/json?all=1").unwrap();
    // Field order is preserved.
    assert_eq!(v.to_string(), r#"[{"b":1,"a":2}]"#);
    let seen = h.join().unwrap();
    // Optimistic first try, refused; then negotiation and the same request again.
    assert!(seen[0].starts_with("GET /v1.45/containers/json?all=1 HTTP/1.1\r\n"));
    assert!(
        seen[1].starts_with("GET /_ping HTTP/1.1\r\n"),
        "{}",
        seen[1]
    );
    assert!(seen[2].starts_with("GET /v1.41/containers/json?all=1 HTTP/1.1\r\n"));
    // Negotiated once: later calls use it directly.
    assert_eq!(c.api_version().unwrap(), "1.41");
}

#[test]
fn current_daemon_needs_no_ping() {
    let dir = TempDir::new("noping");
    let (sock, h) = fake_server(
        &dir.0,
        vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]".to_vec(),
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]".to_vec(),
        ],
    );
    let c = Client::new(sock.to_str().unwrap()).unwrap();
    assert_eq!(c.get_json("/containers/json").unwrap().to_string(), "[]");
    assert_eq!(c.get_json("/images/json").unwrap().to_string(), "[]");
    let seen = h.join().unwrap();
    assert!(seen[0].starts_with("GET /v1.45/containers/json HTTP/1.1\r\n"));
    assert!(seen[1].starts_with("GET /v1.45/images/json HTTP/1.1\r\n"));
}

#[test]
fn hijack_renegotiates_with_an_older_daemon() {
    let dir = TempDir::new("hjold");
    let (sock, h) = fake_server(
        &dir.0,
        vec![
            too_new("1.43"),
            ping("1.43"),
            b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n".to_vec(),
        ],
    );
    let c = Client::new(sock.to_str().unwrap()).unwrap();
    let conn = c.container_attach("abc", false, true, true, None).unwrap();
    drop(conn);
    let seen = h.join().unwrap();
    assert!(seen[0].starts_with("POST /v1.45/containers/abc/attach?"));
    assert!(seen[2].starts_with("POST /v1.43/containers/abc/attach?"));
}

#[test]
fn caps_version_at_max() {
    assert_eq!(negotiate(Some("1.50")), "1.45");
    assert_eq!(negotiate(Some("1.45")), "1.45");
    assert_eq!(negotiate(Some("1.9")), "1.9");
    assert_eq!(negotiate(None), "1.24");
    assert_eq!(negotiate(Some("junk")), "1.24");
}

#[test]
fn daemon_error_carries_status_and_message() {
    let dir = TempDir::new("err");
    let body = r#"{"message":"No such container: x"}"#;
    let (sock, h) = fake_server(
        &dir.0,
        vec![format!(
            "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()],
    );
    let c = Client::new(&format!("unix://{}", sock.display())).unwrap();
    let e = c.container_inspect("x", false).unwrap_err();
    assert!(e.is_not_found());
    assert_eq!(
        e.to_string(),
        "Error response from daemon: No such container: x"
    );
    h.join().unwrap();
}

#[test]
fn posts_json_body_with_length() {
    let dir = TempDir::new("post");
    let (sock, h) = fake_server(
        &dir.0,
        vec![
            b"HTTP/1.1 201 Created\r\nContent-Length: 26\r\n\r\n{\"Id\":\"abc\",\"Warnings\":[]}"
                .to_vec(),
        ],
    );
    let c = Client::new(sock.to_str().unwrap()).unwrap();
    let v = c
        .container_create(Some("n1"), None, &serde_json::json!({"Image":"busybox"}))
        .unwrap();
    assert_eq!(v["Id"], "abc");
    let seen = h.join().unwrap();
    assert!(seen[0].starts_with("POST /v1.45/containers/create?name=n1 HTTP/1.1\r\n"));
    assert!(seen[0].contains("Content-Length: 19\r\n"));
    assert!(seen[0].ends_with(r#"{"Image":"busybox"}"#));
}

#[test]
fn hijack_keeps_bytes_after_the_head() {
    let dir = TempDir::new("hijack");
    let sock = dir.0.join("d.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let h = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let req = read_request(&mut s);
        // The head in two writes, split inside the blank line, then the head's end and
        // the first frame in one write: the client must not lose the frame.
        s.write_all(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r")
            .unwrap();
        thread::sleep(std::time::Duration::from_millis(50));
        let mut out = b"\n".to_vec();
        out.extend(stream::encode_frame(1, b"hi\n"));
        s.write_all(&out).unwrap();
        // Echo what the client sends until it half-closes.
        let mut input = Vec::new();
        s.read_to_end(&mut input).unwrap();
        s.write_all(&stream::encode_frame(2, &input)).unwrap();
        req
    });
    let c = Client::new(sock.to_str().unwrap()).unwrap();
    let mut conn = c.container_attach("abc", true, true, true, None).unwrap();
    conn.write_all(b"input").unwrap();
    conn.shutdown(std::net::Shutdown::Write).unwrap();
    let (mut o, mut e) = (Vec::new(), Vec::new());
    FrameReader::new(&conn).copy_to(&mut o, &mut e).unwrap();
    assert_eq!(o, b"hi\n");
    assert_eq!(e, b"input");
    let req = h.join().unwrap();
    assert!(req.starts_with(
        "POST /v1.45/containers/abc/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n"
    ));
    assert!(req.contains("Upgrade: tcp\r\n"));
}

#[test]
fn connect_error_wording() {
    let c = Client::new("unix:///nonexistent/berth-test.sock").unwrap();
    let e = c.version().unwrap_err();
    assert_eq!(
        e.to_string(),
        "Cannot connect to the Berth daemon at unix:///nonexistent/berth-test.sock. Is the berth daemon running?"
    );
    // tcp:// is a transport now (TLS or loopback); other schemes are not.
    assert!(matches!(
        Client::new("ssh://user@host"),
        Err(crate::Error::InvalidHost(_))
    ));
    assert!(matches!(
        Client::new("unix://"),
        Err(crate::Error::InvalidHost(_))
    ));
}
