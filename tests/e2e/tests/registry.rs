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

    // `push --all-tags` says which repository once, then pushes every tag.
    let name2 = format!("{}/test/bb:2", reg.host);
    d.berth(["tag", &name, &name2]).ok();
    let all = d
        .berth(["push", "--all-tags", &format!("{}/test/bb", reg.host)])
        .ok();
    assert_eq!(
        all.stdout.matches("The push refers to repository").count(),
        1,
        "{all:#?}"
    );
    assert!(all.stdout.contains("1: digest: sha256:"), "{all:#?}");
    assert!(all.stdout.contains("2: digest: sha256:"), "{all:#?}");
    d.berth(["rmi", &name2]).ok();

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
    /// Requests seen with a `Range:` header (a resumed download).
    ranges: std::sync::atomic::AtomicUsize,
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
                let st2 = st.clone();
                std::thread::spawn(move || pipe(client, server, false, Some(&st2)));
                std::thread::spawn(move || pipe(s2, c2, true, None));
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

/// Copy `from` → `to`; `slow` limits the rate to about 2 MB/s. With `sniff`, requests
/// carrying a `Range:` header are counted.
fn pipe(mut from: TcpStream, mut to: TcpStream, slow: bool, sniff: Option<&ProxyState>) {
    use std::io::{Read, Write};
    let mut buf = vec![0u8; 32 << 10];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(st) = sniff {
            let text = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
            let hits = text.matches("\r\nrange: bytes=").count();
            st.ranges
                .fetch_add(hits, std::sync::atomic::Ordering::SeqCst);
        }
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
    let partial = d.data_root.join("distribution/partial");
    let partial_len = || -> u64 {
        fs::read_dir(&partial)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    };
    let downloading = d.wait_for(60, || partial_len() > (1 << 20));
    assert!(downloading, "no download seen in {}", partial.display());
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
    // What was downloaded is kept (unverified, outside the blob cache) for resuming.
    let kept = partial_len();
    assert!(kept > (1 << 20), "partial download not kept: {kept}");
    assert_eq!(
        proxy.state.ranges.load(std::sync::atomic::Ordering::SeqCst),
        0
    );

    // Back online, but the client goes away mid-download: the daemon stops too. The
    // download continued where the first one stopped (a Range request).
    proxy.heal();
    let mut child = d
        .berth_cmd(["pull", &name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(d.wait_for(60, || partial_len() > kept + (1 << 20)));
    assert_eq!(
        proxy.state.ranges.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the second pull did not resume"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        d.wait_for(20, || temp_leftovers(&d).is_empty()),
        "download went on without its client: {:?}",
        temp_leftovers(&d)
    );
    // The daemon stops writing the partial file soon after its client is gone.
    let mut last = partial_len();
    let mut stable = 0;
    assert!(
        d.wait_for(20, || {
            let now = partial_len();
            stable = if now == last { stable + 1 } else { 0 };
            last = now;
            stable >= 20
        }),
        "download went on without its client"
    );
    let cache = d.data_root.join("distribution/blobs/sha256");
    assert_eq!(
        fs::read_dir(&cache).unwrap().count(),
        0,
        "the abandoned download was completed"
    );
    assert!(d.berth(["image", "inspect", &name]).status != 0);

    // Then the pull completes, resuming again, and the partial file became the blob.
    let pull = d.berth(["pull", &name]).ok();
    assert!(pull.stdout.contains("Pull complete"), "{pull:#?}");
    assert_eq!(
        proxy.state.ranges.load(std::sync::atomic::Ordering::SeqCst),
        2
    );
    assert_eq!(partial_len(), 0);
    assert_eq!(fs::read_dir(&cache).unwrap().count(), 1);
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

/// Bytes and number of files in the daemon's compressed blob cache.
fn blob_cache(d: &Daemon) -> (u64, usize) {
    let files: Vec<u64> = ["distribution/blobs/sha256", "distribution/partial"]
        .iter()
        .filter_map(|p| fs::read_dir(d.data_root.join(p)).ok())
        .flat_map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
        })
        .collect();
    (files.iter().sum(), files.len())
}

#[test]
fn registry_blob_cache_is_counted_and_collected() {
    let reg = Registry::start(None);
    let d = daemon();
    let big = d.root.join("big.tar");
    write_big_tar(&big, 3 << 20);
    let name = format!("{}/gc/big:1", reg.host);
    let small = format!("{}/gc/bb:1", reg.host);
    d.berth(["import", big.to_str().unwrap(), &name]).ok();
    d.berth(["tag", "busybox", &small]).ok();
    d.berth(["push", &name]).ok();
    d.berth(["push", &small]).ok();
    d.berth(["rmi", &name, &small]).ok();
    d.berth(["pull", &name]).ok();
    // Its only layer is busybox's, which is still here: nothing is downloaded.
    let pull = d.berth(["pull", &small]).ok();
    assert!(!pull.stdout.contains("Pull complete"), "{pull:#?}");
    let (bytes, files) = blob_cache(&d);
    assert_eq!(files, 1, "one blob per downloaded layer");
    assert!(bytes > 3 << 20);

    // `system df` counts the cached blobs with the layers.
    let layers: u64 = ["big", "bb"]
        .iter()
        .map(|n| {
            let r = format!("{}/gc/{n}:1", reg.host);
            d.berth(["image", "inspect", "-f", "{{.Size}}", &r])
                .ok()
                .stdout
                .trim()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    let df = d
        .raw("GET /v1.45/system/df HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n")
        .unwrap();
    let body = &df[df.find("\r\n\r\n").unwrap() + 4..];
    let body = &body[body.find('{').unwrap()..=body.rfind('}').unwrap()];
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    let busybox = d
        .berth(["image", "inspect", "-f", "{{.Size}}", "busybox"])
        .ok()
        .stdout
        .trim()
        .parse::<u64>()
        .unwrap();
    let layers_size = v["LayersSize"].as_u64().unwrap();
    assert!(
        layers_size >= layers + bytes,
        "LayersSize {layers_size} < layers {layers} + cache {bytes}"
    );
    // busybox (imported) shares its layer with gc/bb; nothing else is counted.
    assert!(layers_size <= layers + busybox + bytes, "{layers_size}");

    // Untagging one of two names keeps the blob; removing the image drops it.
    let alias = format!("{}/gc/alias:1", reg.host);
    d.berth(["tag", &name, &alias]).ok();
    d.berth(["rmi", &name]).ok();
    assert_eq!(blob_cache(&d).1, 1, "the image is still there");
    d.berth(["rmi", &alias]).ok();
    assert_eq!(blob_cache(&d), (0, 0), "the removed image's blob stays");
    let meta: serde_json::Value =
        serde_json::from_slice(&fs::read(d.data_root.join("distribution/layers.json")).unwrap())
            .unwrap();
    assert!(
        meta.as_object()
            .unwrap()
            .values()
            .all(|i| i["diff_id"] != "")
            && !meta.to_string().contains(&format!("{}/gc/big", reg.host)),
        "{meta}"
    );

    // A partial download nobody resumes goes at `image prune` and counts as reclaimed.
    d.berth(["pull", &name]).ok();
    let stray = d
        .data_root
        .join("distribution/partial")
        .join("ab".repeat(32));
    fs::write(&stray, vec![7u8; 4096]).unwrap();
    let prune = d.berth(["image", "prune", "-f"]).ok();
    assert!(!stray.exists(), "partial download survived the prune");
    assert!(
        prune.stdout.contains("Total reclaimed space: 4.096kB"),
        "{prune:#?}"
    );
    assert_eq!(blob_cache(&d).1, 1, "a used image's blob stays");
    let prune = d.berth(["image", "prune", "-a", "-f"]).ok();
    assert_eq!(blob_cache(&d), (0, 0), "{prune:#?}");
}

#[test]
fn registry_login_through_a_credential_helper() {
    let dir = PathBuf::from(format!("/tmp/becred-{}", rand_hex(10)));
    fs::create_dir_all(&dir).unwrap();
    struct Rm(PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
    let _rm = Rm(dir.clone());
    // A helper keeping one credential in a file next to itself.
    let helper = dir.join("docker-credential-berthtest");
    fs::write(
        &helper,
        "#!/bin/sh\nf=\"$(dirname \"$0\")/creds.json\"\ncase \"$1\" in\nstore) cat > \"$f\" ;;\nget) read -r server; if [ -f \"$f\" ]; then cat \"$f\"; else echo 'credentials not found in native keychain'; exit 1; fi ;;\nerase) read -r server; echo \"$server\" > \"$f.erased\"; rm -f \"$f\" ;;\nesac\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
    let htpasswd = dir.join("htpasswd");
    let out = Command::new("htpasswd")
        .args(["-Bbn", "bob", "pw0rd"])
        .output()
        .expect("htpasswd (apt install apache2-utils)");
    fs::write(&htpasswd, out.stdout).unwrap();
    let reg = Registry::start(Some(&htpasswd));
    let d = daemon();
    let cfg = dir.join("cfg");
    fs::create_dir_all(&cfg).unwrap();
    fs::write(cfg.join("config.json"), r#"{"credsStore": "berthtest"}"#).unwrap();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let berth = |args: &[&str]| {
        let out = d
            .berth_cmd(args)
            .env("BERTH_CONFIG", &cfg)
            .env("PATH", &path)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = berth(&["login", "-u", "bob", "-p", "pw0rd", &reg.host]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Login Succeeded"), "{out}");
    assert!(!err.contains("unencrypted"), "{err}");
    let stored: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("creds.json")).unwrap()).unwrap();
    assert_eq!(stored["ServerURL"], reg.host.as_str());
    assert_eq!(stored["Username"], "bob");
    assert_eq!(stored["Secret"], "pw0rd");
    let file: serde_json::Value =
        serde_json::from_slice(&fs::read(cfg.join("config.json")).unwrap()).unwrap();
    assert_eq!(file["auths"][&reg.host], serde_json::json!({}), "{file}");
    assert_eq!(file["credsStore"], "berthtest");

    // Push and pull get their credentials from the helper.
    let name = format!("{}/helped/bb:1", reg.host);
    d.berth(["tag", "busybox", &name]).ok();
    let (code, out, err) = berth(&["push", &name]);
    assert_eq!(code, 0, "{out}{err}");
    d.berth(["rmi", &name]).ok();
    let (code, out, err) = berth(&["pull", &name]);
    assert_eq!(code, 0, "{out}{err}");

    let (code, out, _) = berth(&["logout", &reg.host]);
    assert_eq!(code, 0);
    assert!(out.contains("Removing login credentials"), "{out}");
    assert!(!dir.join("creds.json").exists(), "helper erase not called");
    assert_eq!(
        fs::read_to_string(dir.join("creds.json.erased"))
            .unwrap()
            .trim(),
        reg.host
    );
    d.berth(["rmi", &name]).ok();
    let (code, _, _) = berth(&["pull", &name]);
    assert_ne!(code, 0, "pulled without credentials");
}

/// `sha256:<hex>` of a file.
fn sha256_of(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    format!("sha256:{}", text.split_whitespace().next().unwrap())
}

/// Upload `path` as a blob of `repo` by hand (POST, then PUT with the digest).
fn put_blob(reg: &Registry, repo: &str, path: &Path) -> (String, u64) {
    let digest = sha256_of(path);
    let out = Command::new("curl")
        .args(["-sS", "-i", "-X", "POST"])
        .arg(format!("http://{}/v2/{repo}/blobs/uploads/", reg.host))
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout).into_owned();
    let loc = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("location:")
                .then(|| l[9..].trim().to_string())
        })
        .unwrap_or_else(|| panic!("no upload location: {head}"));
    let loc = if loc.starts_with('/') {
        format!("http://{}{loc}", reg.host)
    } else {
        loc
    };
    let sep = if loc.contains('?') { '&' } else { '?' };
    let st = Command::new("curl")
        .args([
            "-sSf",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/octet-stream",
        ])
        .arg("--data-binary")
        .arg(format!("@{}", path.display()))
        .arg(format!("{loc}{sep}digest={digest}"))
        .status()
        .unwrap();
    assert!(st.success(), "blob upload failed");
    (digest, fs::metadata(path).unwrap().len())
}

/// PUT a manifest (or index) under `reference`.
fn put_manifest(reg: &Registry, repo: &str, reference: &str, media_type: &str, body: &str) {
    let st = Command::new("curl")
        .args(["-sSf", "-X", "PUT", "-H"])
        .arg(format!("Content-Type: {media_type}"))
        .arg("--data-binary")
        .arg(body)
        .arg(format!(
            "http://{}/v2/{repo}/manifests/{reference}",
            reg.host
        ))
        .status()
        .unwrap();
    assert!(st.success(), "manifest upload failed: {body}");
}

/// An image config for the busybox layer with the given platform.
fn config_json(diff_id: &str, arch: &str) -> String {
    serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "by hand"}],
        "created": "2026-01-01T00:00:00Z"
    })
    .to_string()
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

#[test]
fn registry_zstd_layers_and_platform_selection() {
    let reg = Registry::start(None);
    let d = daemon();
    // The busybox rootfs as a zstd layer, pushed by hand.
    let tar = d.busybox_tar();
    let diff_id = sha256_of(&tar);
    let zst = d.root.join("layer.tar.zst");
    let st = Command::new("zstd")
        .args(["-q", "-f", "-o"])
        .arg(&zst)
        .arg(&tar)
        .status()
        .expect("zstd (apt install zstd)");
    assert!(st.success());
    let repo = "zstd/bb";
    let (layer, layer_size) = put_blob(&reg, repo, &zst);
    let mut manifests = Vec::new();
    for arch in ["amd64", "arm64"] {
        let cfg_path = d.root.join(format!("config-{arch}.json"));
        fs::write(&cfg_path, config_json(&diff_id, arch)).unwrap();
        let (cfg, cfg_size) = put_blob(&reg, repo, &cfg_path);
        let m = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": cfg_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": layer, "size": layer_size}]
        })
        .to_string();
        put_manifest(&reg, repo, arch, OCI_MANIFEST, &m);
        let mpath = d.root.join(format!("manifest-{arch}.json"));
        fs::write(&mpath, &m).unwrap();
        manifests.push(serde_json::json!({
            "mediaType": OCI_MANIFEST,
            "digest": sha256_of(&mpath),
            "size": m.len(),
            "platform": {"os": "linux", "architecture": arch}
        }));
    }
    let index =
        serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})
            .to_string();
    put_manifest(&reg, repo, "multi", OCI_INDEX, &index);

    // The zstd layer unpacks and runs (busybox's own copy of it gone first).
    d.berth(["rmi", "busybox"]).ok();
    let single = format!("{}/{repo}:amd64", reg.host);
    let pull = d.berth(["pull", &single]).ok();
    assert!(pull.stdout.contains("Pull complete"), "{pull:#?}");
    let run = d.berth(["run", "--rm", &single, "echo", "from zstd"]).ok();
    assert_eq!(run.stdout, "from zstd\n");
    // Pushed again, the layer goes up gzipped (a Docker manifest has no zstd type):
    // uploaded, not mounted from the zstd blob's repository.
    let regz = format!("{}/zstd/regz:1", reg.host);
    d.berth(["tag", &single, &regz]).ok();
    let push = d.berth(["push", &regz]).ok();
    assert!(push.stdout.contains(": Pushed"), "{push:#?}");
    assert!(!push.stdout.contains("Mounted from"), "{push:#?}");
    d.berth(["rmi", &regz, &single]).ok();
    d.berth(["pull", &regz]).ok();
    let run = d.berth(["run", "--rm", &regz, "echo", "regz"]).ok();
    assert_eq!(run.stdout, "regz\n");

    // An index gives the platform asked for, the host's by default.
    let multi = format!("{}/{repo}:multi", reg.host);
    let arch = |r: &str| {
        d.berth(["image", "inspect", "-f", "{{.Architecture}}", r])
            .ok()
            .stdout
            .trim()
            .to_string()
    };
    d.berth(["pull", "--platform", "linux/arm64", &multi]).ok();
    assert_eq!(arch(&multi), "arm64");
    d.berth(["pull", &multi]).ok();
    assert_eq!(arch(&multi), "amd64");
    let none = d.berth(["pull", "--platform", "linux/s390x", &multi]);
    assert_ne!(none.status, 0);
    assert!(
        none.stderr
            .contains("no matching manifest for linux/s390x in the manifest list entries"),
        "{none:#?}"
    );

    // A single-platform image is checked against an explicit --platform.
    let arm = format!("{}/{repo}:arm64", reg.host);
    let wrong = d.berth(["pull", "--platform", "linux/amd64", &arm]);
    assert_ne!(wrong.status, 0);
    assert!(
        wrong.stderr.contains(&format!(
            "image with reference {arm} was found but does not match the specified platform: wanted linux/amd64, actual: linux/arm64"
        )),
        "{wrong:#?}"
    );
    assert!(d.berth(["image", "inspect", &arm]).status != 0);
    d.berth(["pull", "--platform", "linux/arm64", &arm]).ok();
    // And so is a local image at create.
    let body = format!("{{\"Image\": \"{arm}\"}}");
    let raw = d
        .raw_bytes(
            &format!("POST /v1.45/containers/create?platform=linux/amd64 HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()),
            body.as_bytes(),
        )
        .unwrap();
    assert!(raw.starts_with("HTTP/1.1 404"), "{raw}");
    assert!(
        raw.contains("was found but does not match the specified platform: wanted linux/amd64, actual: linux/arm64"),
        "{raw}"
    );
}

#[test]
fn registry_insecure_registries_show_in_info() {
    let d = Daemon::start_with(&[
        "--insecure-registry",
        "10.99.0.0/16",
        "--insecure-registry",
        "reg.example:5000",
    ]);
    let raw = d
        .raw("GET /v1.45/info HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n")
        .unwrap();
    let body = &raw[raw.find('{').unwrap()..=raw.rfind('}').unwrap()];
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    let rc = &v["RegistryConfig"];
    let cidrs: Vec<&str> = rc["InsecureRegistryCIDRs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert_eq!(cidrs, ["::1/128", "127.0.0.0/8", "10.99.0.0/16"], "{rc}");
    assert_eq!(
        rc["IndexConfigs"]["reg.example:5000"]["Secure"], false,
        "{rc}"
    );
    assert_eq!(rc["IndexConfigs"]["docker.io"]["Official"], true, "{rc}");
    if let Some(info) = d.docker(["info"]) {
        assert!(info.stdout.contains("Insecure Registries:"), "{info:#?}");
        assert!(info.stdout.contains("reg.example:5000"), "{info:#?}");
        assert!(info.stdout.contains("10.99.0.0/16"), "{info:#?}");
    }
}
