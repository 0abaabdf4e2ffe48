//! Issue "Faults and abuse": `kill -9` of berthd in the middle of a pull and of a build.
//! After the restart nothing is half-present — no image that is not whole, no
//! download or build temp dirs, no build container, no mount, cgroup or process left —
//! and the same pull and build then succeed.
//!
//! The registry is Debian's `docker-registry` on 127.0.0.1 behind a slowing proxy (so
//! the kill lands mid-download); nothing but loopback is contacted.

use berth_e2e::*;
use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn daemon() -> Daemon {
    assert!(is_root(), "end-to-end tests need root");
    let d = Daemon::start();
    d.import_busybox("busybox");
    d
}

/// A `docker-registry` on 127.0.0.1 with its own storage; killed and removed on drop.
struct Registry {
    child: Child,
    host: String,
    dir: PathBuf,
}

impl Registry {
    fn start() -> Registry {
        for _ in 0..10 {
            if let Some(r) = Registry::try_start() {
                return r;
            }
        }
        panic!("could not start docker-registry");
    }

    fn try_start() -> Option<Registry> {
        let dir = PathBuf::from(format!("/tmp/becrash-reg-{}", rand_hex(8)));
        fs::create_dir_all(dir.join("storage")).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let yaml = format!(
            "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("storage").display()
        );
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
                return None;
            }
            if TcpStream::connect(&reg.host).is_ok() {
                return Some(reg);
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        None
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A TCP proxy in front of the registry slowing registry → client traffic to about
/// 2 MB/s, so a 12 MB layer takes seconds to download.
struct SlowProxy {
    host: String,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl SlowProxy {
    fn start(upstream: &str) -> SlowProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let (st, cs, up) = (stop.clone(), conns.clone(), upstream.to_string());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = conn else { continue };
                let Ok(server) = TcpStream::connect(&up) else {
                    continue;
                };
                {
                    let mut c = cs.lock().unwrap();
                    c.push(client.try_clone().unwrap());
                    c.push(server.try_clone().unwrap());
                }
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pipe(client, server, false));
                std::thread::spawn(move || pipe(s2, c2, true));
            }
        });
        SlowProxy { host, stop, conns }
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        let _ = TcpStream::connect(&self.host);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream, slow: bool) {
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

/// Incompressible bytes (xorshift), different in every test run.
fn noise(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ u64::from_str_radix(&rand_hex(8), 16).unwrap();
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let n = chunk.len();
        chunk.copy_from_slice(&x.to_le_bytes()[..n]);
    }
    data
}

/// A one-file layer tar holding `data` as `/big.bin`.
fn write_layer_tar(path: &Path, data: &[u8]) {
    let f = fs::File::create(path).unwrap();
    let mut b = tar::Builder::new(f);
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_cksum();
    b.append_data(&mut h, "big.bin", data).unwrap();
    b.finish().unwrap();
}

/// Entries of the data root's temp dirs of the image store and downloads.
fn temp_leftovers(d: &Daemon) -> Vec<PathBuf> {
    ["image/tmp", "distribution/tmp"]
        .iter()
        .filter_map(|t| fs::read_dir(d.data_root.join(t)).ok())
        .flat_map(|rd| rd.flatten().map(|e| e.path()))
        .collect()
}

fn layer_dirs(d: &Daemon) -> BTreeSet<String> {
    fs::read_dir(d.data_root.join("image/layers"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// True when `image` exists; then its `/big.bin` must be exactly `data` (read back
/// through a created container and `cp`).
fn image_whole(d: &Daemon, image: &str, data: &[u8]) -> bool {
    if d.berth(["image", "inspect", image]).status != 0 {
        return false;
    }
    let name = format!("chk-{}", rand_hex(4));
    d.berth(["create", "--name", &name, image, "/nothing"]).ok();
    let out = d.root.join(format!("{name}.bin"));
    d.berth(["cp", &format!("{name}:/big.bin"), out.to_str().unwrap()])
        .ok();
    let got = fs::read(&out).unwrap();
    let _ = fs::remove_file(&out);
    d.berth(["rm", &name]).ok();
    assert!(
        got == data,
        "{image}: /big.bin differs ({} bytes)",
        got.len()
    );
    true
}

fn no_leaks(d: &Daemon) {
    let ok = d.wait_for(20, || d.leaks().is_empty());
    assert!(ok, "leaked: {:?}", d.leaks());
}

#[test]
fn kill9_during_pull_leaves_no_half_image_and_the_pull_then_succeeds() {
    let reg = Registry::start();
    let proxy = SlowProxy::start(&reg.host);
    let mut d = daemon();
    let data = noise(12 << 20);
    let tar = d.root.join("big.tar");
    write_layer_tar(&tar, &data);
    let name = format!("{}/crash/pull:1", proxy.host);
    // Pushed through the proxy (uploads are not slowed), then removed locally.
    d.berth(["import", tar.to_str().unwrap(), &name]).ok();
    d.berth(["push", &name]).ok();
    d.berth(["rmi", &name]).ok();
    let layers_before = layer_dirs(&d);
    let partial = d.data_root.join("distribution/partial");
    let downloaded = |d: &Daemon| -> u64 {
        fs::read_dir(&partial)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
            + fs::read_dir(d.data_root.join("distribution/blobs/sha256"))
                .map(|rd| rd.count() as u64)
                .unwrap_or(0)
    };

    // Round 1: the daemon dies while the layer downloads.
    let mut faults = 0;
    let child = d
        .berth_cmd(["pull", &name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        d.wait_for(60, || downloaded(&d) > (1 << 20)),
        "no download seen"
    );
    d.kill9();
    faults += 1;
    let out = child.wait_with_output().unwrap();
    assert_ne!(
        out.status.code(),
        Some(0),
        "pull succeeded without its daemon"
    );
    d.restart();
    assert!(
        !image_whole(&d, &name, &data),
        "an image appeared from a killed pull"
    );
    let repos = d
        .berth(["images", "--format", "{{.Repository}}"])
        .ok()
        .stdout;
    assert!(
        repos.lines().all(|l| l == "busybox"),
        "a half image is listed: {repos}"
    );
    assert!(temp_leftovers(&d).is_empty(), "{:?}", temp_leftovers(&d));
    assert_eq!(
        layer_dirs(&d),
        layers_before,
        "a layer of the killed pull stayed"
    );
    no_leaks(&d);

    // Round 2: the daemon dies around the end (verification, unpacking, registering):
    // afterwards the image is either whole or absent, never in between.
    let child = d
        .berth_cmd(["pull", &name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let cache = d.data_root.join("distribution/blobs/sha256");
    let cached = || fs::read_dir(&cache).map(|rd| rd.count()).unwrap_or(0) > 0;
    assert!(d.wait_for(90, cached), "the download never finished");
    d.kill9();
    faults += 1;
    let _ = child.wait_with_output();
    d.restart();
    let whole_after_kill = image_whole(&d, &name, &data);
    eprintln!(
        "after the late kill the image is {}",
        if whole_after_kill { "whole" } else { "absent" }
    );
    assert!(temp_leftovers(&d).is_empty(), "{:?}", temp_leftovers(&d));
    if !whole_after_kill {
        assert_eq!(
            layer_dirs(&d),
            layers_before,
            "a layer of the killed pull stayed"
        );
    }
    no_leaks(&d);

    // The same pull now succeeds and the image is whole; a container runs from it.
    let pull = d.berth(["pull", &name]);
    assert_eq!(pull.status, 0, "{pull:#?}");
    assert!(image_whole(&d, &name, &data), "pulled image missing");
    assert!(temp_leftovers(&d).is_empty(), "{:?}", temp_leftovers(&d));
    figure("faults_survived", faults);
    figure("lost_images", 0);
    no_leaks(&d);
}

/// A build context directory with `Dockerfile`.
fn context(d: &Daemon, dockerfile: &str) -> PathBuf {
    let dir = d.root.join(format!("ctx-{}", rand_hex(4)));
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    fs::write(dir.join("payload.txt"), "payload\n").unwrap();
    dir
}

/// Entries under `<data-root>/builder` other than the cache index.
fn builder_leftovers(d: &Daemon) -> Vec<String> {
    fs::read_dir(d.data_root.join("builder"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with("cache.json"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn kill9_during_build_leaves_nothing_and_the_build_then_succeeds() {
    let mut d = daemon();
    let ctx = context(
        &d,
        "FROM busybox\n\
         COPY payload.txt /payload.txt\n\
         RUN echo one > /one\n\
         RUN echo building-now && sleep 30 && echo two > /two\n\
         CMD [\"cat\", \"/one\", \"/payload.txt\"]\n",
    );
    let tag = "crash/build:1";
    let containers_before = d.container_dirs();
    let mut child = d
        .berth_cmd(["build", "-t", tag, ctx.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the long RUN step to be running, then kill the daemon.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let hit = line.contains("building-now") && !line.contains("RUN");
            let _ = tx.send(line);
            if hit {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = Vec::new();
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("the RUN step never started: {seen:#?}"));
        let hit = line.contains("building-now") && !line.contains("RUN");
        seen.push(line);
        if hit {
            break;
        }
    }
    d.kill9();
    let _ = child.kill();
    let _ = child.wait();
    d.restart();

    // Nothing of the interrupted build is left: no build container (running or not),
    // no process in a container cgroup, no work dir, no tagged image.
    assert!(
        d.wait_for(30, || d.container_dirs() == containers_before),
        "build containers left: {:?} (before: {containers_before:?})",
        d.container_dirs()
    );
    let ps = d.berth(["ps", "-aq"]).ok().stdout;
    assert!(ps.trim().is_empty(), "containers listed: {ps}");
    assert!(d.berth(["image", "inspect", tag]).status != 0);
    assert!(
        d.wait_for(10, || builder_leftovers(&d).is_empty()),
        "builder dir: {:?}",
        builder_leftovers(&d)
    );
    no_leaks(&d);
    // Images the build committed before the kill (the cache of its first steps) are
    // whole: a container runs from each.
    let ids = d.berth(["images", "-aq", "--no-trunc"]).ok().stdout;
    for id in ids.split_whitespace() {
        let r = d.berth([
            "run",
            "--rm",
            id,
            "sh",
            "-c",
            "cat /payload.txt 2>/dev/null; true",
        ]);
        assert_eq!(r.status, 0, "image {id} is not whole: {r:#?}");
    }

    // The same build succeeds (without the sleep's output needed: it ends in 30 s).
    let ctx2 = context(
        &d,
        "FROM busybox\n\
         COPY payload.txt /payload.txt\n\
         RUN echo one > /one\n\
         RUN echo two > /two\n\
         CMD [\"cat\", \"/one\", \"/payload.txt\"]\n",
    );
    let b = d.berth(["build", "-t", tag, ctx2.to_str().unwrap()]);
    assert_eq!(b.status, 0, "{b:#?}");
    let r = d.berth(["run", "--rm", tag]).ok();
    assert_eq!(r.stdout, "one\npayload\n");
    // (The context directory goes in the background once the build answered.)
    assert!(
        d.wait_for(10, || builder_leftovers(&d).is_empty()),
        "{:?}",
        builder_leftovers(&d)
    );
    figure("faults_survived", 1);
    figure("lost_images", 0);
    no_leaks(&d);
}

/// A daemon whose data root is a small loop-mounted filesystem; the daemon drops
/// (and stops) before the filesystem is unmounted.
struct OnDisk {
    d: Daemon,
    disk: LoopFs,
}

fn daemon_on_small_disk(size_mb: u64) -> OnDisk {
    assert!(is_root(), "end-to-end tests need root");
    let mut d = Daemon::start();
    d.kill9();
    let disk = LoopFs::mount(size_mb, &d.data_root);
    d.restart();
    d.import_busybox("busybox");
    OnDisk { d, disk }
}

/// Fill the filesystem of `dir` until not even a small write fits.
fn fill_disk(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 1 << 16];
    while f.write_all(&chunk).is_ok() {}
    let small = [0u8; 512];
    while f.write_all(&small).is_ok() {}
    let _ = f.sync_all();
    path
}

/// The data root's disk fills up during a pull and during a build: clear errors, no
/// half image, no build container or temp dir left, and both work once space is back.
#[test]
fn disk_full_during_pull_and_build() {
    let reg = Registry::start();
    let t = daemon_on_small_disk(96);
    let d = &t.d;
    let data = noise(12 << 20);
    let tar = PathBuf::from(format!("/tmp/becrash-{}.tar", rand_hex(6)));
    write_layer_tar(&tar, &data);
    let name = format!("{}/full/pull:1", reg.host);
    let imported = d.berth(["import", tar.to_str().unwrap(), &name]);
    let _ = fs::remove_file(&tar);
    imported.ok();
    d.berth(["push", &name]).ok();
    d.berth(["rmi", &name]).ok();
    let layers_before = layer_dirs(d);
    let containers_before = d.container_dirs();
    let ctx = PathBuf::from(format!("/tmp/becrash-ctx-{}", rand_hex(6)));
    fs::create_dir_all(&ctx).unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN dd if=/dev/zero of=/fill bs=1M count=16 && echo wrote\nCMD [\"ls\", \"-l\", \"/fill\"]\n",
    )
    .unwrap();

    let filler = fill_disk(&d.data_root);
    eprintln!("data root free when full: {}", t.disk.free_bytes());
    let mut bad = 0;
    // The pull cannot fit: a clear error, no image, no temp files, no layer.
    let p = d.berth(["pull", &name]);
    bad += 1;
    assert_ne!(p.status, 0, "pull on a full disk succeeded: {p:#?}");
    let text = format!("{}{}", p.stdout, p.stderr).to_lowercase();
    assert!(
        text.contains("no space left on device"),
        "unclear pull error: {p:#?}"
    );
    assert!(d.berth(["image", "inspect", &name]).status != 0);
    assert!(temp_leftovers(d).is_empty(), "{:?}", temp_leftovers(d));
    assert_eq!(layer_dirs(d), layers_before);
    // The build cannot fit either: a clear error, no container or image left.
    let b = d.berth(["build", "-t", "full/build:1", ctx.to_str().unwrap()]);
    bad += 1;
    assert_ne!(b.status, 0, "build on a full disk succeeded: {b:#?}");
    let text = format!("{}{}", b.stdout, b.stderr).to_lowercase();
    assert!(
        text.contains("no space left on device"),
        "unclear build error: {b:#?}"
    );
    assert!(d.berth(["image", "inspect", "full/build:1"]).status != 0);
    assert!(
        d.wait_for(20, || d.container_dirs() == containers_before),
        "build containers left: {:?}",
        d.container_dirs()
    );
    assert!(
        builder_leftovers(d).is_empty(),
        "{:?}",
        builder_leftovers(d)
    );
    // The daemon still answers.
    d.berth(["ps", "-a"]).ok();

    // Space is back: both work, and the image is whole.
    fs::remove_file(&filler).unwrap();
    let p = d.berth(["pull", &name]);
    assert_eq!(p.status, 0, "{p:#?}");
    assert!(image_whole(d, &name, &data));
    let b = d.berth(["build", "-t", "full/build:1", ctx.to_str().unwrap()]);
    let _ = fs::remove_dir_all(&ctx);
    assert_eq!(b.status, 0, "{b:#?}");
    let r = d.berth(["run", "--rm", "full/build:1"]).ok();
    assert!(r.stdout.contains("16777216"), "{r:#?}");
    assert!(temp_leftovers(d).is_empty(), "{:?}", temp_leftovers(d));
    figure("faults_survived", 2);
    figure("bad_inputs", bad);
    figure("lost_images", 0);
    no_leaks(d);
}

/// Host network objects of this daemon that should not exist when no container runs:
/// interfaces attached to its bridges, and port-publishing (DNAT) rules in its chains.
fn net_leaks(d: &Daemon, bridges: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for b in bridges {
        if let Ok(rd) = fs::read_dir(Path::new("/sys/class/net").join(b).join("brif")) {
            for e in rd.flatten() {
                out.push(format!(
                    "interface {} on {b}",
                    e.file_name().to_string_lossy()
                ));
            }
        }
    }
    if let Ok(o) = Command::new("iptables")
        .args(["-w", "-t", "nat", "-S"])
        .stderr(Stdio::null())
        .output()
    {
        for l in String::from_utf8_lossy(&o.stdout).lines() {
            if l.contains(&d.net.chain_prefix) && l.contains("DNAT") {
                out.push(format!("rule {l}"));
            }
        }
    }
    out
}

fn veths_on(bridge: &str) -> usize {
    fs::read_dir(Path::new("/sys/class/net").join(bridge).join("brif"))
        .map(|rd| rd.count())
        .unwrap_or(0)
}

/// kill -9 of the daemon (and of one shim while it is down) with containers on the
/// default bridge and a user network, ports published: after the restart the dead
/// container is reported 137 and its veth and port rule are gone; once all are removed
/// no veth, rule, mount, cgroup or process is left.
#[test]
fn kill9_with_networked_containers_leaks_no_veth_or_rule() {
    let mut d = daemon();
    let net = format!("fznet{}", rand_hex(3));
    let subnet = d.net.subnet(3);
    let created = d.berth(["network", "create", "--subnet", &subnet, &net]);
    assert_eq!(created.status, 0, "{created:#?}");
    let net_bridge = {
        let id = d
            .berth(["network", "inspect", "-f", "{{.Id}}", &net])
            .ok()
            .stdout
            .trim()
            .to_string();
        format!("br-{}", &id[..12])
    };
    let bridges = vec![d.net.bridge.clone(), net_bridge.clone()];
    for i in 0..3 {
        d.berth([
            "run",
            "-d",
            "--name",
            &format!("nb{i}"),
            "-p",
            "127.0.0.1::80",
            "busybox",
            "sleep",
            "1000",
        ])
        .ok();
    }
    for i in 0..2 {
        d.berth([
            "run",
            "-d",
            "--name",
            &format!("nu{i}"),
            "--network",
            &net,
            "busybox",
            "sleep",
            "1000",
        ])
        .ok();
    }
    // The test can fail: veths and rules are really there.
    assert_eq!(veths_on(&d.net.bridge), 3, "veths on the default bridge");
    assert_eq!(veths_on(&net_bridge), 2, "veths on {net_bridge}");
    let rules_before = net_leaks(&d, &[]).len();
    assert_eq!(rules_before, 3, "DNAT rules: {:?}", net_leaks(&d, &[]));

    d.kill9();
    // While the daemon is down, one container's shim dies (taking the container).
    let victim = container_id_from_disk(&d, "nb0");
    let shim: i32 = fs::read_to_string(d.exec_root.join("c").join(&victim).join("shim.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: kill(2) of a shim this test's daemon started.
    assert_eq!(unsafe { libc::kill(shim, libc::SIGKILL) }, 0);
    std::thread::sleep(Duration::from_millis(300));
    d.restart();
    let state = d
        .berth([
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "nb0",
        ])
        .ok()
        .stdout;
    assert_eq!(state.trim(), "exited 137");
    assert!(
        d.wait_for(20, || veths_on(&d.net.bridge) == 2),
        "the dead container's veth stayed: {} on {}",
        veths_on(&d.net.bridge),
        d.net.bridge
    );
    assert!(
        d.wait_for(20, || net_leaks(&d, &[]).len() == 2),
        "the dead container's port rule stayed: {:?}",
        net_leaks(&d, &[])
    );
    // The survivors still run and still have their networking.
    for n in ["nb1", "nb2", "nu0", "nu1"] {
        let s = d
            .berth(["inspect", "-f", "{{.State.Running}}", n])
            .ok()
            .stdout;
        assert_eq!(s.trim(), "true", "{n}");
    }
    assert_eq!(veths_on(&net_bridge), 2);
    // It starts again, with its networking.
    d.berth(["start", "nb0"]).ok();
    assert!(d.wait_for(10, || veths_on(&d.net.bridge) == 3));

    for n in ["nb0", "nb1", "nb2", "nu0", "nu1"] {
        d.berth(["rm", "-f", n]).ok();
    }
    assert!(
        d.wait_for(20, || net_leaks(&d, &bridges).is_empty()),
        "network leaks: {:?}",
        net_leaks(&d, &bridges)
    );
    d.berth(["network", "rm", &net]).ok();
    assert!(
        !Path::new("/sys/class/net").join(&net_bridge).exists(),
        "{net_bridge} stayed after network rm"
    );
    figure("faults_survived", 2);
    figure("lost_containers", 0);
    no_leaks(&d);
}

/// The id of the container named `name`, read from the data root (the daemon is down).
fn container_id_from_disk(d: &Daemon, name: &str) -> String {
    for id in d.container_dirs() {
        let cfg = d
            .data_root
            .join("containers")
            .join(&id)
            .join("config.v2.json");
        if let Ok(text) = fs::read_to_string(cfg) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                let n = v["Name"]
                    .as_str()
                    .or_else(|| v["name"].as_str())
                    .unwrap_or("");
                if n.trim_start_matches('/') == name {
                    return id;
                }
            }
        }
    }
    panic!("no container {name} on disk");
}
