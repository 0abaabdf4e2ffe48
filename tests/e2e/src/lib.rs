//! End-to-end harness: each test starts its own `berthd` (own data root, exec root,
//! socket and cgroup parent) and drives it with the real `berth` and `docker` CLIs.
//!
//! Everything a test creates lives under one temp directory, one cgroup parent and one
//! [`NetSlot`] (default bridge name, /20 of addresses, iptables chain prefix), and
//! [`Daemon`]'s `Drop` tears it all down (daemon, shims, container processes, mounts,
//! cgroups, bridges, rules, files) even when the test panics, so tests run in parallel
//! and leave nothing.
//! Binaries come from the workspace's target dir (`BERTH_BIN_DIR` overrides it).

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Where `berth`, `berthd` and `berth-shim` are.
pub fn bin_dir() -> PathBuf {
    if let Ok(d) = std::env::var("BERTH_BIN_DIR") {
        return PathBuf::from(d);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("debug")
}

pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} is missing: build the workspace binaries first (cargo build --bins)",
        p.display()
    );
    p
}

/// The real docker CLI, when installed.
pub fn docker_cli() -> Option<PathBuf> {
    ["/usr/local/bin/docker", "/usr/bin/docker"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A random lowercase hex string (names, dirs).
pub fn rand_hex(n: usize) -> String {
    let mut b = vec![0u8; n.div_ceil(2)];
    getrandom::fill(&mut b).expect("getrandom");
    let s: String = b.iter().map(|x| format!("{x:02x}")).collect();
    s[..n].to_string()
}

/// Write a rootfs tar: /bin/busybox, every applet as a symlink, /etc/passwd and group.
pub fn write_busybox_tar(path: &Path) {
    let busybox = fs::read("/bin/busybox").expect("/bin/busybox (apt install busybox-static)");
    let list = Command::new("/bin/busybox")
        .arg("--list-full")
        .output()
        .expect("busybox --list-full");
    let f = fs::File::create(path).unwrap();
    let mut b = tar::Builder::new(f);
    let dir = |b: &mut tar::Builder<fs::File>, name: &str, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        b.append_data(&mut h, name, std::io::empty()).unwrap();
    };
    for (d, m) in [
        ("bin", 0o755),
        ("sbin", 0o755),
        ("usr", 0o755),
        ("usr/bin", 0o755),
        ("usr/sbin", 0o755),
        ("etc", 0o755),
        ("proc", 0o555),
        ("sys", 0o555),
        ("dev", 0o755),
        ("tmp", 0o1777),
        ("root", 0o700),
        ("home", 0o755),
        ("var", 0o755),
        ("var/www", 0o755),
    ] {
        dir(&mut b, d, m);
    }
    let file = |b: &mut tar::Builder<fs::File>, name: &str, mode: u32, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        b.append_data(&mut h, name, data).unwrap();
    };
    file(&mut b, "bin/busybox", 0o755, &busybox);
    file(
        &mut b,
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nwww-data:x:33:33:www-data:/var/www:/bin/false\n",
    );
    file(
        &mut b,
        "etc/group",
        0o644,
        b"root:x:0:\ndaemon:x:1:\ntty:x:5:\nwww-data:x:33:\nusers:x:100:\nnogroup:x:65534:\n",
    );
    for line in String::from_utf8_lossy(&list.stdout).lines() {
        let rel = line.trim_start_matches('/');
        if rel.is_empty() || rel == "bin/busybox" {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        b.append_link(&mut h, rel, "/bin/busybox").unwrap();
    }
    b.finish().unwrap();
}

/// The outcome of a CLI invocation.
#[derive(Debug)]
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Run {
        Run {
            status: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Panics with the whole output unless the command exited 0.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.status, 0, "command failed: {self:#?}");
        self
    }
}

/// One berthd with everything it owns.
pub struct Daemon {
    pub root: PathBuf,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub socket: PathBuf,
    pub cgroup_parent: String,
    /// This daemon's own default bridge, address block and iptables chains.
    pub net: NetSlot,
    /// Extra `berthd` arguments (kept for restarts).
    pub extra_args: Vec<String>,
    child: Option<Child>,
}

impl Daemon {
    /// Start a fresh daemon and wait until it answers `/_ping`.
    pub fn start() -> Daemon {
        Daemon::start_with(&[])
    }

    /// [`Daemon::start`] with extra `berthd` arguments.
    pub fn start_with(extra: &[&str]) -> Daemon {
        let tag = rand_hex(8);
        // Short paths: unix socket paths are limited to 108 bytes.
        let root = PathBuf::from(format!("/tmp/be-{tag}"));
        fs::create_dir_all(&root).unwrap();
        let mut d = Daemon {
            data_root: root.join("data"),
            exec_root: root.join("run"),
            socket: root.join("run/berth.sock"),
            cgroup_parent: format!("berth-e2e-{tag}"),
            net: NetSlot::claim(&tag),
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
            root,
            child: None,
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.join("berthd.log"))
            .unwrap();
        let child = Command::new(bin("berthd"))
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .arg("--data-root")
            .arg(&self.data_root)
            .arg("--exec-root")
            .arg(&self.exec_root)
            .arg("--cgroup-parent")
            .arg(&self.cgroup_parent)
            .arg("--config-file")
            .arg(self.root.join("daemon.json"))
            .args(self.net.daemon_args())
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn berthd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.ping() {
                return;
            }
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("berthd exited early ({st}); log:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "berthd did not answer /_ping; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The daemon's own log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.root.join("berthd.log")).unwrap_or_default()
    }

    /// True when `GET /_ping` answers OK.
    pub fn ping(&self) -> bool {
        self.raw("GET /_ping HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n")
            .map(|r| r.contains(" 200 ") && r.ends_with("OK"))
            .unwrap_or(false)
    }

    /// Send a raw HTTP request and read the whole answer (connection closes).
    pub fn raw(&self, req: &str) -> std::io::Result<String> {
        let mut s = UnixStream::connect(&self.socket)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        s.write_all(req.as_bytes())?;
        let mut out = Vec::new();
        s.read_to_end(&mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// `kill -9` the daemon (containers and shims keep running).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Send `sig` to the daemon process.
    pub fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            // SAFETY: kill(2) on the pid of our own child, which we have not reaped.
            unsafe { libc::kill(c.id() as i32, sig) };
        }
    }

    /// Start the daemon again on the same data root.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Run `berth -H <sock> args…`.
    pub fn berth<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.berth_cmd(args)
            .output()
            .map(Run::from)
            .expect("run berth")
    }

    /// A `berth` command ready to customize (stdin, env).
    pub fn berth_cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut c = Command::new(bin("berth"));
        c.arg("-H").arg(self.host()).args(args).stdin(Stdio::null());
        c
    }

    /// Run the real `docker` CLI against this daemon; None when docker is not installed.
    pub fn docker<I, S>(&self, args: I) -> Option<Run>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut c = self.docker_cmd(args)?;
        Some(c.output().map(Run::from).expect("run docker"))
    }

    pub fn docker_cmd<I, S>(&self, args: I) -> Option<Command>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let docker = docker_cli()?;
        let cfg = self.root.join("docker-config");
        fs::create_dir_all(&cfg).ok()?;
        let mut c = Command::new(docker);
        c.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", cfg)
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .args(args)
            .stdin(Stdio::null());
        Some(c)
    }

    /// Run a bash script in which `berth` (and `docker`, when `docker_is_berth`) talk to this
    /// daemon: the Docker notes' commands run verbatim.
    pub fn sh(&self, script: &str, docker_is_berth: bool) -> Run {
        let berth = bin("berth");
        let mut prelude = format!(
            "set -euo pipefail\nberth() {{ '{}' -H '{}' \"$@\"; }}\n",
            berth.display(),
            self.host()
        );
        if docker_is_berth {
            prelude.push_str("docker() { berth \"$@\"; }\n");
        }
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("{prelude}{script}"))
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .output()
            .expect("bash");
        Run::from(out)
    }

    /// Import the busybox rootfs as `name` (e.g. `busybox`).
    pub fn import_busybox(&self, name: &str) {
        let tar = self.busybox_tar();
        self.berth(["import".as_ref(), tar.as_os_str(), name.as_ref()])
            .ok();
    }

    /// This daemon's copy of the busybox rootfs tar (made on first use).
    pub fn busybox_tar(&self) -> PathBuf {
        let path = self.root.join("busybox.tar");
        if !path.exists() {
            write_busybox_tar(&path);
        }
        path
    }

    /// Poll `f` until it returns true or `secs` pass.
    pub fn wait_for(&self, secs: u64, mut f: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Pids of every process in this daemon's containers (host view), from the cgroups.
    pub fn container_pids(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        for ctrl in ["pids", "memory", "cpu", "freezer", "unified"] {
            let base = Path::new("/sys/fs/cgroup")
                .join(ctrl)
                .join(&self.cgroup_parent);
            collect_procs(&base, &mut pids);
        }
        let base = Path::new("/sys/fs/cgroup").join(&self.cgroup_parent);
        collect_procs(&base, &mut pids);
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    fn teardown(&mut self) {
        self.kill9();
        // Shims first (they would otherwise report the container exits), then containers.
        let mut pids = Vec::new();
        if let Ok(rd) = fs::read_dir(self.exec_root.join("c")) {
            for e in rd.flatten() {
                for f in ["shim.pid", "init.pid"] {
                    if let Ok(s) = fs::read_to_string(e.path().join(f)) {
                        if let Ok(p) = s.trim().parse::<i32>() {
                            pids.push(p);
                        }
                    }
                }
            }
        }
        for _ in 0..3 {
            // Unfreeze paused containers so SIGKILL is delivered.
            thaw_all(&self.cgroup_parent);
            let mut all = pids.clone();
            all.extend(self.container_pids());
            for p in &all {
                if *p > 1 {
                    // SAFETY: plain kill(2) of pids this test's daemon created.
                    unsafe { libc::kill(*p, libc::SIGKILL) };
                }
            }
            std::thread::sleep(Duration::from_millis(50));
            if self.container_pids().is_empty() {
                break;
            }
        }
        unmount_under(&self.root);
        remove_cgroups(&self.cgroup_parent);
        self.net.cleanup(&self.data_root);
        let _ = fs::remove_dir_all(&self.root);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- berthd log ({}) ----\n{}",
                self.root.display(),
                self.log()
            );
        }
        self.teardown();
    }
}

/// A daemon's share of the host's networking: a default bridge name, a /20 of
/// 10.128.0.0/9 (the default bridge takes its first /24, user networks without
/// `--subnet` the others, via `--default-address-pool`), and an iptables chain prefix.
/// Blocks are claimed with a lock file per block (reclaimed when its process is gone),
/// so daemons of parallel test processes never share a subnet; [`NetSlot::cleanup`]
/// deletes the bridges and chains the daemon left (it was killed with -9).
pub struct NetSlot {
    pub bridge: String,
    pub chain_prefix: String,
    /// Index of the /20 block.
    pub block: u32,
    lock: PathBuf,
}

const NET_LOCK_DIR: &str = "/tmp/berth-e2e-netslots";
const NET_BLOCKS: u32 = 2048;

impl NetSlot {
    fn claim(tag: &str) -> NetSlot {
        fs::create_dir_all(NET_LOCK_DIR).unwrap();
        let mut seed = [0u8; 4];
        getrandom::fill(&mut seed).expect("getrandom");
        let start = u32::from_le_bytes(seed) % NET_BLOCKS;
        let routed = routed_10_128();
        for i in 0..NET_BLOCKS {
            let block = (start + i) % NET_BLOCKS;
            let (a, b) = (128 + block / 16, (block % 16) * 16);
            if routed.iter().any(|(x, y)| *x == a && *y / 16 == b / 16) {
                continue;
            }
            let lock = Path::new(NET_LOCK_DIR).join(block.to_string());
            let mine = std::process::id().to_string();
            let claimed = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock)
                .and_then(|mut f| f.write_all(mine.as_bytes()));
            if claimed.is_err() {
                // Reclaim the block of a process that is gone.
                let owner = fs::read_to_string(&lock).unwrap_or_default();
                let dead = owner
                    .trim()
                    .parse::<u32>()
                    .map(|p| !Path::new(&format!("/proc/{p}")).exists())
                    .unwrap_or(false);
                if dead && fs::remove_file(&lock).is_ok() {
                    if fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&lock)
                        .and_then(|mut f| f.write_all(mine.as_bytes()))
                        .is_err()
                    {
                        continue;
                    }
                } else {
                    continue;
                }
            }
            return NetSlot {
                bridge: format!("be{tag}"),
                chain_prefix: format!("BE{tag}"),
                block,
                lock,
            };
        }
        panic!("no free 10.128.0.0/9 block for a test daemon");
    }

    /// `10.A.B` of the n-th /24 of this block (0 is the default bridge).
    pub fn prefix24(&self, n: u32) -> String {
        assert!(n < 16);
        format!(
            "10.{}.{}",
            128 + self.block / 16,
            (self.block % 16) * 16 + n
        )
    }

    /// The subnet of the n-th /24 of this block, for `--subnet` in tests.
    pub fn subnet(&self, n: u32) -> String {
        format!("{}.0/24", self.prefix24(n))
    }

    fn daemon_args(&self) -> Vec<String> {
        let base = format!(
            "10.{}.{}.0/20",
            128 + self.block / 16,
            (self.block % 16) * 16
        );
        vec![
            "--bridge".into(),
            self.bridge.clone(),
            "--bip".into(),
            format!("{}.1/24", self.prefix24(0)),
            "--default-address-pool".into(),
            format!("base={base},size=24"),
            "--iptables-chain-prefix".into(),
            self.chain_prefix.clone(),
        ]
    }

    /// Bridges of networks the daemon created (from its state file), the default
    /// bridge, and every iptables chain and jump of this daemon's prefix.
    pub fn cleanup(&self, data_root: &Path) {
        let mut bridges = vec![self.bridge.clone()];
        if let Ok(text) = fs::read_to_string(data_root.join("network/state.json")) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                for n in v["networks"].as_array().into_iter().flatten() {
                    if let Some(b) = n["bridge"].as_str() {
                        bridges.push(b.to_string());
                    }
                }
            }
        }
        for b in bridges {
            if Path::new("/sys/class/net").join(&b).exists() {
                let _ = Command::new("ip")
                    .args(["link", "del", &b])
                    .stderr(Stdio::null())
                    .status();
            }
        }
        remove_chains(&self.chain_prefix);
        let _ = fs::remove_file(&self.lock);
    }
}

/// Deletes the jumps into chains named `prefix*` and those chains (filter and nat).
pub fn remove_chains(prefix: &str) {
    for table in ["filter", "nat"] {
        let Ok(out) = Command::new("iptables")
            .args(["-w", "-t", table, "-S"])
            .stderr(Stdio::null())
            .output()
        else {
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let ours = |name: &str| name.starts_with(prefix);
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.first() == Some(&"-A")
                && !words.get(1).is_some_and(|c| ours(c))
                && words.windows(2).any(|w| w[0] == "-j" && ours(w[1]))
            {
                let mut args = vec!["-w", "-t", table, "-D"];
                args.extend(&words[1..]);
                let _ = Command::new("iptables")
                    .args(&args)
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let chains: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("-N "))
            .filter(|c| ours(c))
            .collect();
        for c in &chains {
            let _ = Command::new("iptables")
                .args(["-w", "-t", table, "-F", c])
                .status();
        }
        for c in &chains {
            let _ = Command::new("iptables")
                .args(["-w", "-t", table, "-X", c])
                .status();
        }
    }
}

/// `(a, b)` of the 10.a.b.0 routes in 10.128.0.0/9 (taken by someone else).
fn routed_10_128() -> Vec<(u32, u32)> {
    let text = fs::read_to_string("/proc/net/route").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let dest = u32::from_str_radix(l.split_whitespace().nth(1)?, 16).ok()?;
            // /proc/net/route stores the address in host (little-endian) byte order.
            let b = dest.to_le_bytes();
            (b[0] == 10 && b[1] >= 128).then_some((b[1] as u32, b[2] as u32))
        })
        .collect()
}

fn collect_procs(dir: &Path, out: &mut Vec<i32>) {
    if let Ok(s) = fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                collect_procs(&e.path(), out);
            }
        }
    }
}

fn thaw_all(parent: &str) {
    let base = Path::new("/sys/fs/cgroup/freezer").join(parent);
    if let Ok(rd) = fs::read_dir(&base) {
        for e in rd.flatten() {
            let _ = fs::write(e.path().join("freezer.state"), "THAWED");
        }
    }
}

/// Remove every cgroup dir under `parent` in every hierarchy, deepest first.
fn remove_cgroups(parent: &str) {
    fn rm(dir: &Path) {
        if let Ok(rd) = fs::read_dir(dir) {
            for e in rd.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    rm(&e.path());
                }
            }
        }
        for _ in 0..20 {
            match fs::remove_dir(dir) {
                Ok(()) => return,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
                Err(_) => std::thread::sleep(Duration::from_millis(25)),
            }
        }
    }
    if let Ok(rd) = fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            rm(&e.path().join(parent));
        }
    }
    rm(&Path::new("/sys/fs/cgroup").join(parent));
}

/// Lazily unmount everything mounted below `root` (deepest first).
fn unmount_under(root: &Path) {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let prefix = root.to_string_lossy().to_string();
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(|s| s.replace("\\040", " ")))
        .filter(|p| p.starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        if let Ok(c) = std::ffi::CString::new(p) {
            // SAFETY: umount2 with a valid NUL-terminated path; failure is harmless here.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// True when the test runs as root (the kernel tests need it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A command running on a fresh pseudo-terminal, driven like a person at a keyboard.
pub struct PtySession {
    master: std::fs::File,
    pub child: Child,
    seen: Vec<u8>,
}

impl PtySession {
    /// Spawn `cmd` with a new pty as its controlling terminal and stdio.
    pub fn spawn(mut cmd: Command) -> PtySession {
        use std::os::fd::FromRawFd;
        use std::os::unix::process::CommandExt;
        let (mut m, mut s) = (0, 0);
        let ws = libc::winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two fds into the provided ints; the other args may be null.
        let rc =
            unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both fds were just returned by openpty and are owned here.
        let (master, slave) =
            unsafe { (std::fs::File::from_raw_fd(m), std::fs::File::from_raw_fd(s)) };
        cmd.stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave);
        // SAFETY: setsid and ioctl(TIOCSCTTY) are async-signal-safe; run in the child before exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn on pty");
        // SAFETY: fcntl on an fd we own.
        unsafe {
            let fl = libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&master), libc::F_GETFL);
            libc::fcntl(
                std::os::fd::AsRawFd::as_raw_fd(&master),
                libc::F_SETFL,
                fl | libc::O_NONBLOCK,
            );
        }
        PtySession {
            master,
            child,
            seen: Vec::new(),
        }
    }

    /// Type bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).unwrap();
    }

    /// Read until `needle` shows up in the output (true) or `secs` pass (false).
    pub fn expect(&mut self, needle: &str, secs: u64) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut buf = [0u8; 4096];
        loop {
            if String::from_utf8_lossy(&self.seen).contains(needle) {
                return true;
            }
            match self.master.read(&mut buf) {
                Ok(0) => {}
                Ok(n) => {
                    self.seen.extend_from_slice(&buf[..n]);
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => {
                    // EIO: the other side closed; nothing more will come.
                    return String::from_utf8_lossy(&self.seen).contains(needle);
                }
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything read so far.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.seen).into_owned()
    }

    /// Wait for the process to end (draining the pty meanwhile); its exit code.
    pub fn wait(&mut self, secs: u64) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            self.expect("\u{0}never\u{0}", 0);
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PtySession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- Faults and abuse helpers (appended; used by tests/faults.rs and tests/abuse.rs) ----

/// Print one `FIGURE name=value` line on stderr; `scripts/faults.sh` collects them.
pub fn figure(name: &str, value: impl std::fmt::Display) {
    eprintln!("FIGURE {name}={value}");
}

impl Daemon {
    /// Send a raw HTTP request head plus a binary body; the whole answer (connection closes).
    pub fn raw_bytes(&self, head: &str, body: &[u8]) -> std::io::Result<String> {
        let mut s = UnixStream::connect(&self.socket)?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        s.write_all(head.as_bytes())?;
        s.write_all(body)?;
        let mut out = Vec::new();
        s.read_to_end(&mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// What this daemon left behind on the host, one line per leak: cgroup dirs below the
    /// cgroup parent, processes in them, mounts (overlays, binds, netns files) below the
    /// test root, shim control sockets. Empty when nothing leaked.
    pub fn leaks(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in self.container_pids() {
            out.push(format!("process {p} still in a container cgroup"));
        }
        let mut dirs = vec![Path::new("/sys/fs/cgroup").join(&self.cgroup_parent)];
        if let Ok(rd) = fs::read_dir("/sys/fs/cgroup") {
            dirs.extend(rd.flatten().map(|e| e.path().join(&self.cgroup_parent)));
        }
        for d in dirs {
            if let Ok(rd) = fs::read_dir(&d) {
                for e in rd.flatten() {
                    if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                        out.push(format!("cgroup {}", e.path().display()));
                    }
                }
            }
        }
        let prefix = self.root.to_string_lossy().to_string();
        if let Ok(info) = fs::read_to_string("/proc/self/mountinfo") {
            for l in info.lines() {
                if let Some(p) = l.split(' ').nth(4) {
                    // The test's own loop-mounted data root is not a leak.
                    if p.starts_with(&prefix) && Path::new(p) != self.data_root {
                        out.push(format!("mount {p}"));
                    }
                }
            }
        }
        if let Ok(rd) = fs::read_dir(self.exec_root.join("s")) {
            for e in rd.flatten() {
                out.push(format!("shim socket {}", e.path().display()));
            }
        }
        out
    }

    /// Container directories in the data root (ids).
    pub fn container_dirs(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.data_root.join("containers"))
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

/// A small ext4 filesystem in a loop-mounted image file (a disk that can fill up).
/// `Drop` unmounts it (lazily), detaches the loop device and deletes the image.
/// Declare it before the [`Daemon`] that uses it so it is dropped after the daemon.
pub struct LoopFs {
    pub image: PathBuf,
    pub mountpoint: PathBuf,
    pub device: String,
}

impl LoopFs {
    /// Make a `size_mb` ext4 image and mount it on `mountpoint` (created if missing).
    pub fn mount(size_mb: u64, mountpoint: &Path) -> LoopFs {
        let image = PathBuf::from(format!("/tmp/be-loop-{}.img", rand_hex(8)));
        let f = fs::File::create(&image).unwrap();
        f.set_len(size_mb << 20).unwrap();
        drop(f);
        let mut guard = LoopFs {
            image: image.clone(),
            mountpoint: mountpoint.to_path_buf(),
            device: String::new(),
        };
        let mk = Command::new("mkfs.ext4")
            .args(["-q", "-F", "-m", "0"])
            .arg(&image)
            .output()
            .expect("mkfs.ext4");
        assert!(mk.status.success(), "mkfs.ext4: {mk:?}");
        let dev = Command::new("losetup")
            .args(["--find", "--show"])
            .arg(&image)
            .output()
            .expect("losetup");
        assert!(dev.status.success(), "losetup: {dev:?}");
        guard.device = String::from_utf8_lossy(&dev.stdout).trim().to_string();
        fs::create_dir_all(mountpoint).unwrap();
        let m = Command::new("mount")
            .arg(&guard.device)
            .arg(mountpoint)
            .output()
            .expect("mount");
        assert!(m.status.success(), "mount: {m:?}");
        guard
    }

    /// Bytes still free for root on the filesystem.
    pub fn free_bytes(&self) -> u64 {
        let c = std::ffi::CString::new(self.mountpoint.to_string_lossy().as_bytes()).unwrap();
        // SAFETY: statvfs writes into the zeroed struct; the path is NUL-terminated.
        unsafe {
            let mut st: libc::statvfs = std::mem::zeroed();
            if libc::statvfs(c.as_ptr(), &mut st) != 0 {
                return 0;
            }
            st.f_bavail * st.f_frsize
        }
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        if let Ok(c) = std::ffi::CString::new(self.mountpoint.to_string_lossy().as_bytes()) {
            // SAFETY: umount2 with a valid path; failure (already unmounted) is harmless.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
        if !self.device.is_empty() {
            for _ in 0..20 {
                let st = Command::new("losetup").arg("-d").arg(&self.device).status();
                if matches!(st, Ok(s) if s.success()) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = fs::remove_file(&self.image);
    }
}
