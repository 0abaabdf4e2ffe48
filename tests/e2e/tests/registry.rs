//! Issue "Images and registries", the registry part: `push`, `pull`, `login` against a
//! real registry (Debian's `docker-registry`) on 127.0.0.1, with `berth` and with the real
//! `docker` CLI talking to berthd. Nothing but loopback is contacted.

use berth_e2e::*;
use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `docker-registry` on 127.0.0.1 with its own storage; killed and removed on drop.
struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`.
    host: String,
    dir: PathBuf,
}

impl Registry {
    fn start(htpasswd: Option<&Path>) -> Registry {
        for _ in 0..10 {
            if let Some(r) = Registry::try_start(htpasswd) {
                return r;
            }
        }
        panic!("could not start docker-registry");
    }

    fn try_start(htpasswd: Option<&Path>) -> Option<Registry> {
        let dir = PathBuf::from(format!("/tmp/bereg-{}", rand_hex(10)));
        fs::create_dir_all(dir.join("storage")).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut yaml = format!(
            "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("storage").display()
        );
        if let Some(h) = htpasswd {
            yaml.push_str(&format!(
                "auth: {{htpasswd: {{realm: r, path: {}}}}}\n",
                h.display()
            ));
        }
        fs::write(dir.join("config.yml"), yaml).unwrap();
        let log = fs::File::create(dir.join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry binary (apt install docker-registry)");
        let mut reg = Registry {
            child,
            host: format!("127.0.0.1:{port}"),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = reg.child.try_wait() {
                return None; // port taken meanwhile: retry
            }
            if TcpStream::connect(&reg.host).is_ok() {
                std::thread::sleep(Duration::from_millis(100));
                if let Ok(Some(_)) = reg.child.try_wait() {
                    return None;
                }
                return Some(reg);
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        None
    }

    /// The data file of a blob in the filesystem storage driver's layout.
    fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn daemon() -> Daemon {
    assert!(is_root(), "end-to-end tests need root");
    let d = Daemon::start();
    d.import_busybox("busybox");
    d
}

/// The `sha256:…` after `digest: ` in push output.
fn pushed_digest(out: &str) -> String {
    let at = out.find("digest: sha256:").expect("digest line") + "digest: ".len();
    out[at..at + 71].to_string()
}

/// Files left in the data root's temp dirs (downloads, unpacking).
fn temp_leftovers(d: &Daemon) -> Vec<PathBuf> {
    ["image/tmp", "distribution/tmp"]
        .iter()
        .filter_map(|t| fs::read_dir(d.data_root.join(t)).ok())
        .flat_map(|rd| rd.flatten().map(|e| e.path()))
        .collect()
}

#[test]
fn registry_push_pull_run_with_berth() {
    let reg = Registry::start(None);
    let d = daemon();
    let name = format!("{}/test/bb:1", reg.host);
    d.berth(["tag", "busybox", &name]).ok();
    let push = d.berth(["push", &name]).ok();
    assert!(
        push.stdout.contains(&format!(
            "The push refers to repository [{}/test/bb]",
            reg.host
        )),
        "{push:#?}"
    );
    assert!(push.stdout.contains(": Pushed"), "{push:#?}");
    let digest = pushed_digest(&push.stdout);
    assert!(push.stdout.contains(&format!("1: digest: {digest} size: ")));
    // A second push finds the layer in place.
    let again = d.berth(["push", &name]).ok();
    assert!(
        again.stdout.contains(": Layer already exists"),
        "{again:#?}"
    );
    assert_eq!(pushed_digest(&again.stdout), digest);

    d.berth(["rmi", &name, "busybox"]).ok();
    assert!(d.berth(["image", "inspect", &name]).status != 0);
    let pull = d.berth(["pull", &name]).ok();
    assert!(pull.stdout.contains("1: Pulling from test/bb"), "{pull:#?}");
    assert!(pull.stdout.contains(": Pull complete"), "{pull:#?}");
    assert!(
        pull.stdout.contains(&format!("Digest: {digest}")),
        "{pull:#?}"
    );
    assert!(
        pull.stdout
            .contains(&format!("Status: Downloaded newer image for {name}")),
        "{pull:#?}"
    );
    let digests = d
        .berth(["image", "inspect", "-f", "{{json .RepoDigests}}", &name])
        .ok();
    assert_eq!(
        digests.stdout.trim(),
        format!("[\"{}/test/bb@{digest}\"]", reg.host)
    );
    let run = d.berth(["run", "--rm", &name, "echo", "pulled"]).ok();
    assert_eq!(run.stdout, "pulled\n");

    let second = d.berth(["pull", &name]).ok();
    assert!(
        second
            .stdout
            .contains(&format!("Status: Image is up to date for {name}")),
        "{second:#?}"
    );
    assert!(!second.stdout.contains("Pull complete"), "{second:#?}");
    assert!(temp_leftovers(&d).is_empty());

    // `run` of an image that is not here pulls it first.
    d.berth(["rmi", &name]).ok();
    let run = d.berth(["run", "--rm", &name, "echo", "again"]).ok();
    assert_eq!(run.stdout.lines().last(), Some("again"), "{run:#?}");
    assert!(
        run.stderr
            .contains(&format!("Unable to find image '{name}' locally")),
        "{run:#?}"
    );
    // By digest.
    d.berth(["rmi", &name]).ok();
    let by_digest = format!("{}/test/bb@{digest}", reg.host);
    let pull = d.berth(["pull", &by_digest]).ok();
    assert!(
        pull.stdout
            .contains(&format!("Status: Downloaded newer image for {by_digest}")),
        "{pull:#?}"
    );
    d.berth(["image", "inspect", &by_digest]).ok();
}

#[test]
fn registry_push_pull_with_docker_cli() {
    let reg = Registry::start(None);
    let d = daemon();
    let name = format!("{}/dk/bb:v1", reg.host);
    let Some(tag) = d.docker(["tag", "busybox", &name]) else {
        return;
    };
    assert_eq!(tag.status, 0, "{tag:#?}");
    let push = d.docker(["push", &name]).unwrap();
    assert_eq!(push.status, 0, "{push:#?}");
    assert!(push.stdout.contains("Pushed"), "{push:#?}");
    let digest = pushed_digest(&push.stdout);

    // Another repository on the same registry gets the layer by a mount.
    let other = format!("{}/dk/other:v1", reg.host);
    assert_eq!(d.docker(["tag", "busybox", &other]).unwrap().status, 0);
    let mounted = d.docker(["push", &other]).unwrap();
    assert_eq!(mounted.status, 0, "{mounted:#?}");
    assert!(
        mounted.stdout.contains("Mounted from dk/bb"),
        "{mounted:#?}"
    );

    let rmi = d.docker(["rmi", &name, &other, "busybox"]).unwrap();
    assert_eq!(rmi.status, 0, "{rmi:#?}");
    let pull = d.docker(["pull", &name]).unwrap();
    assert_eq!(pull.status, 0, "{pull:#?}");
    assert!(
        pull.stdout
            .contains(&format!("Status: Downloaded newer image for {name}")),
        "{pull:#?}"
    );
    let digests = d
        .docker(["image", "inspect", "-f", "{{index .RepoDigests 0}}", &name])
        .unwrap();
    assert_eq!(
        digests.stdout.trim(),
        format!("{}/dk/bb@{digest}", reg.host)
    );
    let again = d.docker(["pull", &name]).unwrap();
    assert!(again.stdout.contains("Image is up to date"), "{again:#?}");
    let by_digest = format!("{}/dk/bb@{digest}", reg.host);
    let pull = d.docker(["pull", &by_digest]).unwrap();
    assert_eq!(pull.status, 0, "{pull:#?}");
    assert!(
        pull.stdout.contains(&format!("Digest: {digest}")),
        "{pull:#?}"
    );
    assert!(
        pull.stdout
            .contains(&format!("Status: Image is up to date for {by_digest}")),
        "{pull:#?}"
    );
    // The docker CLI pulls a missing image before `run`.
    assert_eq!(d.docker(["rmi", &name]).unwrap().status, 0);
    let run = d.docker(["run", "--rm", &name, "echo", "ran"]).unwrap();
    assert_eq!(run.status, 0, "{run:#?}");
    assert!(run.stdout.ends_with("ran\n"), "{run:#?}");
    assert!(run.stderr.contains("Unable to find image"), "{run:#?}");
    let missing = d
        .docker(["pull", &format!("{}/dk/bb:nope", reg.host)])
        .unwrap();
    assert_eq!(missing.status, 1);
    assert!(
        missing.stderr.contains(&format!(
            "manifest for {}/dk/bb:nope not found: manifest unknown: manifest unknown",
            reg.host
        )),
        "{missing:#?}"
    );
}

#[test]
fn registry_basic_auth_login_push_pull() {
    let dir = PathBuf::from(format!("/tmp/beauth-{}", rand_hex(10)));
    fs::create_dir_all(&dir).unwrap();
    struct Rm(PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
    let _rm = Rm(dir.clone());
    let htpasswd = dir.join("htpasswd");
    let out = Command::new("htpasswd")
        .args(["-Bbn", "alice", "s3cret"])
        .output()
        .expect("htpasswd (apt install apache2-utils)");
    assert!(out.status.success());
    fs::write(&htpasswd, out.stdout).unwrap();
    let reg = Registry::start(Some(&htpasswd));
    let d = daemon();
    let cfg = dir.join("berth-config");
    let berth = |args: &[&str]| {
        let out = d
            .berth_cmd(args)
            .env("BERTH_CONFIG", &cfg)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let name = format!("{}/priv/bb:1", reg.host);
    d.berth(["tag", "busybox", &name]).ok();

    // Without credentials the registry refuses the push.
    let (code, _, err) = berth(&["push", &name]);
    assert_ne!(code, 0, "{err}");

    let (code, _, err) = berth(&["login", "-u", "alice", "-p", "wrong", &reg.host]);
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!(
            "login attempt to http://{}/v2/ failed with status: 401 Unauthorized",
            reg.host
        )),
        "{err}"
    );
    let (code, out, err) = berth(&["login", "-u", "alice", "-p", "s3cret", &reg.host]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Login Succeeded"), "{out}");

    let (code, out, err) = berth(&["push", &name]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Pushed"), "{out}");
    d.berth(["rmi", &name]).ok();
    let (code, out, err) = berth(&["pull", &name]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Downloaded newer image"), "{out}");

    let (code, out, _) = berth(&["logout", &reg.host]);
    assert_eq!(code, 0);
    assert!(out.contains(&format!("Removing login credentials for {}", reg.host)));
    d.berth(["rmi", &name]).ok();
    let (code, _, err) = berth(&["pull", &name]);
    assert_ne!(code, 0, "pull without credentials succeeded");
    assert!(d.berth(["image", "inspect", &name]).status != 0, "{err}");

    // The docker CLI logs in through berthd the same way.
    if let Some(r) = d.docker(["pull", &name]) {
        assert_ne!(r.status, 0);
        assert!(r.stderr.contains("no basic auth credentials"), "{r:#?}");
        let r = d
            .docker(["login", "-u", "alice", "-p", "wrong", &reg.host])
            .unwrap();
        assert_ne!(r.status, 0);
        assert!(r.stderr.contains("401 Unauthorized"), "{r:#?}");
        let ok = d
            .docker(["login", "-u", "alice", "-p", "s3cret", &reg.host])
            .unwrap();
        assert_eq!(ok.status, 0, "{ok:#?}");
        assert!(ok.stdout.contains("Login Succeeded"), "{ok:#?}");
        let pull = d.docker(["pull", &name]).unwrap();
        assert_eq!(pull.status, 0, "{pull:#?}");
    }
}

#[test]
fn registry_tampered_blob_leaves_no_image() {
    let reg = Registry::start(None);
    let d = daemon();
    let name = format!("{}/t/bb:1", reg.host);
    d.berth(["tag", "busybox", &name]).ok();
    d.berth(["push", &name]).ok();
    d.berth(["rmi", &name, "busybox"]).ok();

    // Flip bytes in the middle of the layer blob (same length) in the registry's storage.
    assert!(!d.berth(["images"]).stdout.contains("t/bb"));
    let blobs = reg.dir.join("storage/docker/registry/v2/blobs/sha256");
    let mut layer: Option<(PathBuf, u64)> = None;
    for a in fs::read_dir(&blobs).unwrap().flatten() {
        for b in fs::read_dir(a.path()).unwrap().flatten() {
            let data = b.path().join("data");
            let len = fs::metadata(&data).unwrap().len();
            if layer.as_ref().is_none_or(|l| len > l.1) {
                layer = Some((data, len));
            }
        }
    }
    let (data, len) = layer.expect("layer blob in registry storage");
    assert!(len > 100_000, "largest blob is the layer ({len} bytes)");
    let hex = data
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(reg.blob_file(&format!("sha256:{hex}")), data);
    let original = fs::read(&data).unwrap();
    let mut bad = original.clone();
    let mid = bad.len() / 2;
    for b in &mut bad[mid..mid + 64] {
        *b ^= 0x5a;
    }
    fs::write(&data, &bad).unwrap();

    let pull = d.berth(["pull", &name]);
    assert_ne!(pull.status, 0, "{pull:#?}");
    assert!(
        pull.stderr.contains("digest") || pull.stderr.contains("checksum"),
        "{pull:#?}"
    );
    assert!(d.berth(["image", "inspect", &name]).status != 0);
    assert!(
        d.berth(["images", "-q"]).stdout.trim().is_empty(),
        "a half image was registered"
    );
    assert!(temp_leftovers(&d).is_empty(), "{:?}", temp_leftovers(&d));
    assert!(
        !d.data_root
            .join("distribution/blobs/sha256")
            .join(&hex)
            .exists(),
        "an unverified blob entered the cache"
    );

    // Repaired, the same pull succeeds.
    fs::write(&data, &original).unwrap();
    let pull = d.berth(["pull", &name]).ok();
    assert!(pull.stdout.contains("Downloaded newer image"), "{pull:#?}");
    assert!(d
        .data_root
        .join("distribution/blobs/sha256")
        .join(&hex)
        .exists());
}

/// A TCP proxy in front of the registry that slows registry → client traffic (so a
/// download can be interrupted) and can cut every connection at once.
struct Proxy {
    host: String,
    state: std::sync::Arc<ProxyState>,
}

#[derive(Default)]
struct ProxyState {
    cut: std::sync::atomic::AtomicBool,
    conns: std::sync::Mutex<Vec<TcpStream>>,
    stop: std::sync::atomic::AtomicBool,
}

impl Proxy {
    fn start(upstream: &str) -> Proxy {
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let state = std::sync::Arc::new(ProxyState::default());
        let (st, up) = (state.clone(), upstream.to_string());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = conn else { continue };
                if st.cut.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let Ok(server) = TcpStream::connect(&up) else {
                    continue;
                };
                {
                    let mut c = st.conns.lock().unwrap();
                    c.push(client.try_clone().unwrap());
                    c.push(server.try_clone().unwrap());
                }
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pipe(client, server, false));
                std::thread::spawn(move || pipe(s2, c2, true));
            }
        });
        Proxy { host, state }
    }

    /// Close every connection; new ones are refused until [`Proxy::heal`].
    fn cut(&self) {
        use std::sync::atomic::Ordering;
        self.state.cut.store(true, Ordering::SeqCst);
        for c in self.state.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }

    fn heal(&self) {
        self.state
            .cut
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state
            .stop
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.cut();
        let _ = TcpStream::connect(&self.host); // wake the accept loop
    }
}

/// Copy `from` → `to`; `slow` limits the rate to about 2 MB/s.
fn pipe(mut from: TcpStream, mut to: TcpStream, slow: bool) {
    use std::io::{Read, Write};
    let mut buf = vec![0u8; 32 << 10];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        if slow {
            std::thread::sleep(Duration::from_millis(15));
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// Write a one-file layer tar of `len` incompressible bytes.
fn write_big_tar(path: &Path, len: usize) {
    let f = fs::File::create(path).unwrap();
    let mut b = tar::Builder::new(f);
    let mut data = vec![0u8; len];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ u64::from_str_radix(&rand_hex(8), 16).unwrap();
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let n = chunk.len();
        chunk.copy_from_slice(&x.to_le_bytes()[..n]);
    }
    let mut h = tar::Header::new_gnu();
    h.set_size(len as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_cksum();
    b.append_data(&mut h, "big.bin", &data[..]).unwrap();
    b.finish().unwrap();
}

#[test]
fn registry_interrupted_pull_leaves_nothing_and_resumes() {
    let reg = Registry::start(None);
    let proxy = Proxy::start(&reg.host);
    let d = daemon();
    let big = d.root.join("big.tar");
    write_big_tar(&big, 12 << 20);
    let name = format!("{}/big/x:1", proxy.host);
    d.berth(["import", big.to_str().unwrap(), &name]).ok();
    d.berth(["push", &name]).ok();
    d.berth(["rmi", &name]).ok();

    let child = d
        .berth_cmd(["pull", &name])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Cut the registry off once a download is under way.
    let tmp = d.data_root.join("distribution/tmp");
    let downloading = d.wait_for(60, || {
        fs::read_dir(&tmp)
            .map(|rd| {
                rd.flatten()
                    .any(|e| e.metadata().map(|m| m.len() > (1 << 20)).unwrap_or(false))
            })
            .unwrap_or(false)
    });
    assert!(downloading, "no download seen in {}", tmp.display());
    proxy.cut();
    let out = child.wait_with_output().unwrap();
    assert_ne!(
        out.status.code(),
        Some(0),
        "pull survived the cut: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(d.berth(["image", "inspect", &name]).status != 0);
    let repos = d.berth(["images", "--format", "{{.Repository}}"]).ok();
    assert!(
        repos.stdout.lines().all(|l| l == "busybox"),
        "a half image was registered: {}",
        repos.stdout
    );
    assert!(
        d.wait_for(10, || temp_leftovers(&d).is_empty()),
        "{:?}",
        temp_leftovers(&d)
    );

    // Back online, but the client goes away mid-download: the daemon stops too.
    proxy.heal();
    let mut child = d
        .berth_cmd(["pull", &name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(d.wait_for(60, || {
        fs::read_dir(&tmp)
            .map(|rd| {
                rd.flatten()
                    .any(|e| e.metadata().map(|m| m.len() > (1 << 20)).unwrap_or(false))
            })
            .unwrap_or(false)
    }));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        d.wait_for(20, || temp_leftovers(&d).is_empty()),
        "download went on without its client: {:?}",
        temp_leftovers(&d)
    );
    let cache = d.data_root.join("distribution/blobs/sha256");
    assert_eq!(
        fs::read_dir(&cache).unwrap().count(),
        0,
        "the abandoned download was completed"
    );
    assert!(d.berth(["image", "inspect", &name]).status != 0);

    // Then the pull completes.
    let pull = d.berth(["pull", &name]).ok();
    assert!(pull.stdout.contains("Pull complete"), "{pull:#?}");
    let size = d
        .berth(["image", "inspect", "-f", "{{.Size}}", &name])
        .ok()
        .stdout;
    assert_eq!(size.trim(), (12u64 << 20).to_string());
}

/// The JSON messages of a raw streamed API answer (chunk-size lines skipped).
fn json_lines(raw: &str) -> Vec<serde_json::Value> {
    raw.lines()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str(l.trim()).ok())
        .collect()
}

#[test]
fn registry_progress_streams_have_dockers_shape() {
    let reg = Registry::start(None);
    let d = daemon();
    let name = format!("{}/shape/bb:7", reg.host);
    d.berth(["tag", "busybox", &name]).ok();
    let raw = d
        .raw(&format!(
            "POST /v1.45/images/{}/shape/bb/push?tag=7 HTTP/1.1\r\nHost: berth\r\nX-Registry-Auth: e30=\r\nConnection: close\r\n\r\n",
            reg.host
        ))
        .unwrap();
    let push = json_lines(&raw);
    assert_eq!(
        push[0]["status"],
        format!("The push refers to repository [{}/shape/bb]", reg.host)
    );
    let has = |msgs: &[serde_json::Value], status: &str| {
        msgs.iter().any(|m| m["status"].as_str() == Some(status))
    };
    assert!(has(&push, "Preparing") && has(&push, "Pushed"), "{raw}");
    let aux = push
        .iter()
        .find(|m| m.get("aux").is_some())
        .expect("aux message");
    assert_eq!(aux["aux"]["Tag"], "7");
    assert!(aux["aux"]["Digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert!(aux["aux"]["Size"].as_u64().unwrap() > 0);

    d.berth(["rmi", &name, "busybox"]).ok();
    let raw = d
        .raw(&format!(
            "POST /v1.45/images/create?fromImage={}/shape/bb&tag=7 HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n",
            reg.host
        ))
        .unwrap();
    let pull = json_lines(&raw);
    assert_eq!(pull[0]["status"], "Pulling from shape/bb");
    assert_eq!(pull[0]["id"], "7");
    for s in [
        "Pulling fs layer",
        "Downloading",
        "Download complete",
        "Extracting",
        "Pull complete",
    ] {
        assert!(has(&pull, s), "no {s:?} in {raw}");
    }
    let dl = pull.iter().find(|m| m["status"] == "Downloading").unwrap();
    assert!(dl["progressDetail"]["current"].as_u64().unwrap() > 0);
    assert!(dl["progressDetail"]["total"].as_u64().unwrap() > 100_000);
    assert_eq!(dl["id"].as_str().unwrap().len(), 12);
    assert!(dl["progress"].as_str().unwrap().starts_with('['));
    let n = pull.len();
    assert!(pull[n - 2]["status"]
        .as_str()
        .unwrap()
        .starts_with("Digest: sha256:"));
    assert_eq!(
        pull[n - 1]["status"],
        format!("Status: Downloaded newer image for {name}")
    );

    // A missing tag is the HTTP error itself, in Docker's words.
    let raw = d
        .raw(&format!(
            "POST /v1.45/images/create?fromImage={}/shape/bb&tag=nope HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n",
            reg.host
        ))
        .unwrap();
    assert!(raw.starts_with("HTTP/1.1 404"), "{raw}");
    assert!(
        raw.contains(&format!(
            "manifest for {}/shape/bb:nope not found: manifest unknown: manifest unknown",
            reg.host
        )),
        "{raw}"
    );
}
