//! Issue "Faults and abuse": "a remote TCP listener exists only with TLS client auth".
//! berthd serves `-H tcp://…` with Docker's `--tlsverify --tlscacert --tlscert
//! --tlskey`; the `berth` CLI and the real `docker` CLI talk to it with their TLS
//! flags or `DOCKER_TLS_VERIFY` + `DOCKER_CERT_PATH`; clients without a certificate
//! signed by the CA, with a foreign CA, or without TLS get nothing; a plain or
//! unverified TCP listener off loopback is refused at start.
//!
//! Certificates are made by `openssl` in each test (scripts/deps.sh installs it).

use berth_e2e::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A temp dir removed at the end of the test, even when it fails.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = PathBuf::from(format!("/tmp/be-tls-{tag}-{}", rand_hex(6)));
        fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[track_caller]
fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("openssl is installed (scripts/deps.sh)");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A CA (`<name>-ca.pem`, `<name>-ca-key.pem`) in `dir`.
fn make_ca(dir: &Path, name: &str) {
    let key = format!("{name}-ca-key.pem");
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &key,
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-x509",
            "-days",
            "2",
            "-key",
            &key,
            "-sha256",
            "-subj",
            &format!("/CN={name} test CA"),
            "-out",
            &format!("{name}-ca.pem"),
        ],
    );
}

/// A certificate `<out>-cert.pem` / `<out>-key.pem` signed by CA `ca`, with the
/// given extensions (Docker's guide: serverAuth + SANs for the daemon, clientAuth
/// for clients).
fn make_cert(dir: &Path, ca: &str, out: &str, cn: &str, ext: &str) {
    let key = format!("{out}-key.pem");
    let csr = format!("{out}.csr");
    let extfile = format!("{out}.ext");
    fs::write(dir.join(&extfile), ext).unwrap();
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &key,
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &key,
            "-subj",
            &format!("/CN={cn}"),
            "-out",
            &csr,
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-days",
            "2",
            "-sha256",
            "-in",
            &csr,
            "-CA",
            &format!("{ca}-ca.pem"),
            "-CAkey",
            &format!("{ca}-ca-key.pem"),
            "-CAcreateserial",
            "-out",
            &format!("{out}-cert.pem"),
            "-extfile",
            &extfile,
        ],
    );
}

/// The certificates of one test: CA `good` signing the daemon's and a client's,
/// CA `rogue` signing another client's; plus a Docker-style cert dir
/// (`ca.pem`, `cert.pem`, `key.pem`) for `DOCKER_CERT_PATH`.
struct Pki {
    dir: TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = TempDir::new("pki");
        let d = &dir.0;
        make_ca(d, "good");
        make_ca(d, "rogue");
        make_cert(
            d,
            "good",
            "server",
            "localhost",
            "subjectAltName = DNS:localhost,IP:127.0.0.1\nextendedKeyUsage = serverAuth\n",
        );
        make_cert(
            d,
            "good",
            "client",
            "client",
            "extendedKeyUsage = clientAuth\n",
        );
        make_cert(
            d,
            "rogue",
            "intruder",
            "client",
            "extendedKeyUsage = clientAuth\n",
        );
        let certs = d.join("docker-certs");
        fs::create_dir_all(&certs).unwrap();
        fs::copy(d.join("good-ca.pem"), certs.join("ca.pem")).unwrap();
        fs::copy(d.join("client-cert.pem"), certs.join("cert.pem")).unwrap();
        fs::copy(d.join("client-key.pem"), certs.join("key.pem")).unwrap();
        Pki { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.0.join(name).to_string_lossy().into_owned()
    }
}

/// A free loopback port (bound then released; the daemon binds it right after).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn run(mut c: Command) -> Run {
    let o = c.stdin(Stdio::null()).output().expect("spawn");
    Run {
        status: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// `berth` with no host from the harness and a clean TLS environment.
fn berth(home: &Path) -> Command {
    let mut c = Command::new(bin("berth"));
    c.env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_TLS")
        .env_remove("DOCKER_CERT_PATH")
        .env_remove("BERTH_HOST")
        .env("HOME", home);
    c
}

/// The real `docker` CLI with its own config dir and a clean TLS environment.
fn docker(home: &Path) -> Option<Command> {
    let mut c = Command::new(docker_cli()?);
    c.env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_TLS")
        .env_remove("DOCKER_CERT_PATH")
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env("DOCKER_CONFIG", home.join("docker-config"))
        .env("HOME", home);
    Some(c)
}

#[test]
fn tls_listener_serves_verified_clients_only() {
    assert!(is_root(), "end-to-end tests need root");
    let pki = Pki::new();
    let home = TempDir::new("home");
    let port = free_port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let d = Daemon::start_with(&[
        "-H",
        &tcp,
        "--tlsverify",
        "--tlscacert",
        &pki.path("good-ca.pem"),
        "--tlscert",
        &pki.path("server-cert.pem"),
        "--tlskey",
        &pki.path("server-key.pem"),
    ]);
    d.import_busybox("busybox");
    assert!(
        d.log().contains(&format!("API listen on 127.0.0.1:{port}")),
        "{}",
        d.log()
    );
    let good = [
        "--tlsverify",
        "--tlscacert",
        &pki.path("good-ca.pem"),
        "--tlscert",
        &pki.path("client-cert.pem"),
        "--tlskey",
        &pki.path("client-key.pem"),
    ];

    // The berth CLI with Docker's flags: plain calls, and a hijacked stream (run
    // attaches to the container's output over the TLS connection).
    let mut c = berth(&home.0);
    c.arg("-H")
        .arg(&tcp)
        .args(good)
        .args(["version", "--format", "{{.Server.Version}}"]);
    let r = run(c);
    assert_eq!(r.status, 0, "{r:#?}");
    assert!(!r.stdout.trim().is_empty(), "{r:#?}");
    let mut c = berth(&home.0);
    c.arg("-H")
        .arg(&tcp)
        .args(good)
        .args(["run", "--rm", "busybox", "echo", "over-tls"]);
    let r = run(c);
    assert_eq!(r.status, 0, "{r:#?}");
    assert_eq!(r.stdout, "over-tls\n", "{r:#?}");
    // A container's exit code passes through the TLS connection too.
    let mut c = berth(&home.0);
    c.arg("-H")
        .arg(&tcp)
        .args(good)
        .args(["run", "--rm", "busybox", "sh", "-c", "exit 7"]);
    assert_eq!(run(c).status, 7);

    // The same through the environment (DOCKER_TLS_VERIFY + DOCKER_CERT_PATH).
    let mut c = berth(&home.0);
    c.env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", pki.dir.0.join("docker-certs"))
        .args(["-H", &tcp, "ps", "-a", "--format", "{{.ID}}"]);
    let r = run(c);
    assert_eq!(r.status, 0, "{r:#?}");

    // Refused: no client certificate, a certificate from another CA, no TLS at all,
    // a client that does not trust the daemon's CA.
    let mut refused = 0;
    let attempts: Vec<(&str, Vec<String>)> = vec![
        (
            "no client certificate",
            vec![
                "--tlsverify".into(),
                "--tlscacert".into(),
                pki.path("good-ca.pem"),
            ],
        ),
        (
            "certificate of another CA",
            vec![
                "--tlsverify".into(),
                "--tlscacert".into(),
                pki.path("good-ca.pem"),
                "--tlscert".into(),
                pki.path("intruder-cert.pem"),
                "--tlskey".into(),
                pki.path("intruder-key.pem"),
            ],
        ),
        ("plain HTTP", vec![]),
        (
            "daemon not trusted by the client",
            vec![
                "--tlsverify".into(),
                "--tlscacert".into(),
                pki.path("rogue-ca.pem"),
                "--tlscert".into(),
                pki.path("client-cert.pem"),
                "--tlskey".into(),
                pki.path("client-key.pem"),
            ],
        ),
    ];
    for (what, flags) in &attempts {
        let mut c = berth(&home.0);
        c.arg("-H").arg(&tcp).args(flags).args(["ps", "-a"]);
        let started = Instant::now();
        let r = run(c);
        assert_ne!(r.status, 0, "{what}: accepted: {r:#?}");
        assert!(r.stdout.is_empty(), "{what}: got an answer: {r:#?}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what}: took {:?}",
            started.elapsed()
        );
        refused += 1;
    }
    // A raw TLS handshake without a certificate also gets no HTTP answer.
    let o = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-CAfile",
            &pki.path("good-ca.pem"),
            "-quiet",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut ch| {
            use std::io::Write;
            if let Some(mut i) = ch.stdin.take() {
                let _ = i.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            }
            ch.wait_with_output()
        })
        .expect("openssl s_client");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        !out.contains("200 OK"),
        "answered without a client cert: {out}"
    );
    refused += 1;
    assert!(d.log().contains("TLS handshake error"), "{}", d.log());

    // The real docker CLI, with flags and with the environment.
    if let Some(mut c) = docker(&home.0) {
        c.arg("-H").arg(&tcp).args(good).args([
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "echo",
            "docker-over-tls",
        ]);
        let r = run(c);
        assert_eq!(r.status, 0, "{r:#?}");
        assert_eq!(r.stdout, "docker-over-tls\n", "{r:#?}");
        let mut c = docker(&home.0).unwrap();
        c.env("DOCKER_HOST", &tcp)
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", pki.dir.0.join("docker-certs"))
            .args(["version", "--format", "{{.Server.APIVersion}}"]);
        let r = run(c);
        assert_eq!(r.status, 0, "{r:#?}");
        assert_eq!(r.stdout.trim(), "1.45", "{r:#?}");
        // Without a client certificate docker gets nothing either.
        let mut c = docker(&home.0).unwrap();
        c.args([
            "-H",
            &tcp,
            "--tlsverify",
            "--tlscacert",
            &pki.path("good-ca.pem"),
        ])
        .args(["ps"]);
        let r = run(c);
        assert_ne!(r.status, 0, "{r:#?}");
        refused += 1;
    }
    figure("bad_inputs", refused);
    figure("escapes", 0);
    // The unix socket still works as before.
    d.berth(["ps", "-a"]).ok();
}

/// Start berthd with `args` on fresh dirs; it must exit non-zero within a few
/// seconds, its error naming `needle`.
fn refuses_to_start(args: &[&str], needle: &str) {
    let root = TempDir::new("refuse");
    let mut child = Command::new(bin("berthd"))
        .arg("--data-root")
        .arg(root.0.join("data"))
        .arg("--exec-root")
        .arg(root.0.join("run"))
        .arg("--config-file")
        .arg(root.0.join("daemon.json"))
        .arg("-H")
        .arg(format!("unix://{}", root.0.join("run/api.sock").display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn berthd");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("berthd {args:?} kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    assert!(!status.success(), "berthd {args:?} started");
    assert!(err.contains(needle), "berthd {args:?}: {err}");
}

#[test]
fn tcp_without_client_verification_only_on_loopback() {
    assert!(is_root(), "end-to-end tests need root");
    let pki = Pki::new();
    let port = free_port().to_string();
    // Off loopback: plain and server-only TLS are refused at start.
    refuses_to_start(&["-H", &format!("tcp://0.0.0.0:{port}")], "--tlsverify");
    refuses_to_start(
        &[
            "-H",
            &format!("tcp://0.0.0.0:{port}"),
            "--tls",
            "--tlscert",
            &pki.path("server-cert.pem"),
            "--tlskey",
            &pki.path("server-key.pem"),
        ],
        "--tlsverify",
    );
    // Verification asked for, a file missing: refused, naming the file.
    refuses_to_start(
        &[
            "-H",
            &format!("tcp://127.0.0.1:{port}"),
            "--tlsverify",
            "--tlscacert",
            "/nonexistent/ca.pem",
            "--tlscert",
            &pki.path("server-cert.pem"),
            "--tlskey",
            &pki.path("server-key.pem"),
        ],
        "/nonexistent/ca.pem",
    );
    // A key that is not a key.
    refuses_to_start(
        &[
            "-H",
            &format!("tcp://127.0.0.1:{port}"),
            "--tlsverify",
            "--tlscacert",
            &pki.path("good-ca.pem"),
            "--tlscert",
            &pki.path("server-cert.pem"),
            "--tlskey",
            &pki.path("good-ca.pem"),
        ],
        "key",
    );
    figure("bad_inputs", 4);

    // Plain TCP on loopback is allowed (with a warning), as with Docker.
    let tcp = format!("tcp://127.0.0.1:{port}");
    let d = Daemon::start_with(&["-H", &tcp]);
    assert!(d.log().contains("insecure"), "{}", d.log());
    let home = TempDir::new("home");
    let mut c = berth(&home.0);
    c.args(["-H", &tcp, "version", "--format", "{{.Server.APIVersion}}"]);
    let r = run(c);
    assert_eq!(r.status, 0, "{r:#?}");
    assert_eq!(r.stdout.trim(), "1.45");
    if let Some(mut c) = docker(&home.0) {
        c.args(["-H", &tcp, "info", "--format", "{{.ID}}"]);
        let r = run(c);
        assert_eq!(r.status, 0, "{r:#?}");
    }
}
