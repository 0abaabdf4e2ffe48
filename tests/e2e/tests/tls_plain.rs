//! Plain HTTP sent to berthd's TLS port gets Docker's answer, `HTTP/1.0 400 Bad
//! Request` with the body "Client sent an HTTP request to an HTTPS server.\n" (what
//! the docker CLI then prints), instead of a dropped connection; bytes that are
//! neither TLS nor HTTP are dropped and logged as a handshake error; TLS clients are
//! served as before.
//!
//! The certificate is made by `openssl` in the test (scripts/deps.sh installs it).

use berth_e2e::*;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

const ANSWER: &str =
    "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// A temp dir removed at the end of the test, even when it fails.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = PathBuf::from(format!("/tmp/be-tlsp-{tag}-{}", rand_hex(6)));
        fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[track_caller]
fn openssl(dir: &TempDir, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(&dir.0)
        .stdin(Stdio::null())
        .output()
        .expect("openssl is installed (scripts/deps.sh)");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A CA (`ca.pem`) and one certificate it signs (`cert.pem`, `key.pem`) for
/// 127.0.0.1, good for the daemon and, in this test, for the client too.
fn make_pki(dir: &TempDir) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=plain test CA"];
    ca.extend_from_slice(&ec);
    ca.extend_from_slice(&["-keyout", "ca-key.pem", "-out", "ca.pem"]);
    openssl(dir, &ca);
    let mut csr = vec!["req", "-subj", "/CN=localhost"];
    csr.extend_from_slice(&ec);
    csr.extend_from_slice(&["-keyout", "key.pem", "-out", "cert.csr"]);
    openssl(dir, &csr);
    fs::write(
        dir.0.join("cert.ext"),
        "subjectAltName = DNS:localhost,IP:127.0.0.1\nextendedKeyUsage = serverAuth,clientAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-days",
            "2",
            "-sha256",
            "-in",
            "cert.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-extfile",
            "cert.ext",
            "-out",
            "cert.pem",
        ],
    );
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Sends `bytes` to 127.0.0.1:`port` and reads until the daemon closes.
fn exchange(port: u16, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

fn run(mut c: Command) -> Run {
    let o = c.stdin(Stdio::null()).output().expect("spawn");
    Run {
        status: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

#[test]
fn plain_http_on_the_tls_port_gets_dockers_400() {
    assert!(is_root(), "end-to-end tests need root");
    let pki = TempDir::new("pki");
    make_pki(&pki);
    let home = TempDir::new("home");
    let port = free_port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let d = Daemon::start_with(&[
        "-H",
        &tcp,
        "--tlsverify",
        "--tlscacert",
        &pki.path("ca.pem"),
        "--tlscert",
        &pki.path("cert.pem"),
        "--tlskey",
        &pki.path("key.pem"),
    ]);
    // Raw requests: exactly Docker's bytes, then the connection closes.
    for req in [
        &b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &b"HEAD /_ping HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        // A body the daemon never reads still gets the answer (no reset).
        &b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n"[..],
    ] {
        let out = exchange(port, req);
        assert_eq!(String::from_utf8_lossy(&out), ANSWER);
    }
    // Neither TLS nor HTTP: dropped without an answer, logged like a bad handshake.
    let out = exchange(port, b"\x00\x01\x02\x03 garbage\r\n\r\n");
    assert!(out.is_empty(), "{out:?}");
    assert!(
        d.wait_for(5, || d
            .log()
            .contains("first record does not look like a TLS handshake")),
        "{}",
        d.log()
    );

    // The berth CLI without TLS flags shows the daemon's text and fails.
    let mut c = Command::new(bin("berth"));
    c.env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env("HOME", &home.0)
        .args(["-H", &tcp, "ps"]);
    let r = run(c);
    assert_ne!(r.status, 0, "{r:#?}");
    assert!(r.stdout.is_empty(), "{r:#?}");
    assert!(
        r.stderr
            .contains("Client sent an HTTP request to an HTTPS server."),
        "{r:#?}"
    );
    // So does the docker CLI.
    if let Some(docker) = docker_cli() {
        let mut c = Command::new(docker);
        c.env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .env("DOCKER_CONFIG", home.0.join("docker-config"))
            .env("HOME", &home.0)
            .args(["-H", &tcp, "ps"]);
        let r = run(c);
        assert_ne!(r.status, 0, "{r:#?}");
        assert!(
            r.stderr
                .contains("Client sent an HTTP request to an HTTPS server."),
            "{r:#?}"
        );
    }
    // TLS clients are served as before.
    let mut c = Command::new(bin("berth"));
    c.env("HOME", &home.0).args([
        "-H",
        &tcp,
        "--tlsverify",
        "--tlscacert",
        &pki.path("ca.pem"),
        "--tlscert",
        &pki.path("cert.pem"),
        "--tlskey",
        &pki.path("key.pem"),
        "version",
        "--format",
        "{{.Server.APIVersion}}",
    ]);
    let r = run(c);
    assert_eq!(r.status, 0, "{r:#?}");
    assert_eq!(r.stdout.trim(), "1.45", "{r:#?}");
    figure("bad_inputs", 5);
}
