//! Helpers for the shim tests: write a config, run the shim binary, talk to its socket,
//! demultiplex attach streams, and clean everything up in Drop guards.
#![allow(dead_code)]

use berth_types::shim::{ExitStatus, LogConfig, Reply, Request, ShimConfig, Task};
use berth_types::spec::{ContainerSpec, ExecSpec, ProcessSpec};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SHIM: &str = env!("CARGO_BIN_EXE_berth-shim");

pub fn process(args: &[&str]) -> ProcessSpec {
    ProcessSpec {
        args: args.iter().map(|s| s.to_string()).collect(),
        env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
        cwd: "/".into(),
        ..Default::default()
    }
}

/// A config in a fresh temp dir with every path filled in.
pub fn config(dir: &Path, task: Task) -> ShimConfig {
    ShimConfig {
        id: "0123456789ab".into(),
        socket: dir.join("s.sock").to_string_lossy().into_owned(),
        shim_pid_file: dir.join("shim.pid").to_string_lossy().into_owned(),
        pid_file: dir.join("init.pid").to_string_lossy().into_owned(),
        exit_file: dir.join("exit.json").to_string_lossy().into_owned(),
        log: LogConfig {
            driver: "json-file".into(),
            path: dir.join("c-json.log").to_string_lossy().into_owned(),
            max_size: 0,
            max_file: 1,
            ..Default::default()
        },
        task,
        ..Default::default()
    }
}

pub fn container_task(p: ProcessSpec) -> Task {
    Task::Container(ContainerSpec {
        process: p,
        ..Default::default()
    })
}

pub fn exec_task(p: ProcessSpec) -> Task {
    Task::Exec(ExecSpec {
        process: p,
        ..Default::default()
    })
}

/// A running shim (our child) and what it runs; killed and reaped on drop.
pub struct Shim {
    pub dir: tempfile::TempDir,
    pub cfg: ShimConfig,
    pub child: Option<Child>,
    pub reply: Reply,
    /// Extra pids to SIGKILL on drop (the shim may not be our child).
    pub pids: Vec<i32>,
}

impl Shim {
    /// Write the config and run the shim. `host` selects the test launcher.
    pub fn start(cfg_of: impl FnOnce(&Path) -> ShimConfig, host: bool) -> Shim {
        let dir = tempfile::Builder::new().prefix("bshim").tempdir().unwrap();
        let cfg = cfg_of(dir.path());
        let cfg_path = dir.path().join("shim.json");
        std::fs::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
        let mut cmd = Command::new(SHIM);
        cmd.arg("run")
            .arg(&cfg_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if host {
            cmd.env("BERTH_SHIM_TEST_HOST", "1");
        } else {
            cmd.env_remove("BERTH_SHIM_TEST_HOST");
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let reply: Reply =
            serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("bad reply {line:?}: {e}"));
        let mut pids = Vec::new();
        if let Some(p) = reply.pid {
            pids.push(p);
        }
        Shim {
            dir,
            cfg,
            child: Some(child),
            reply,
            pids,
        }
    }

    pub fn socket(&self) -> &Path {
        Path::new(&self.cfg.socket)
    }

    pub fn request(&self, req: &Request) -> Reply {
        request(self.socket(), req)
    }

    /// Wait for the shim process (our child) to exit; its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let child = self.child.as_mut().expect("shim is our child");
        let end = Instant::now() + timeout;
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            assert!(Instant::now() < end, "shim did not exit in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn exit_status(&self) -> ExitStatus {
        serde_json::from_slice(&std::fs::read(&self.cfg.exit_file).unwrap()).unwrap()
    }

    pub fn log_path(&self) -> PathBuf {
        PathBuf::from(&self.cfg.log.path)
    }

    pub fn shim_pid(&self) -> i32 {
        std::fs::read_to_string(&self.cfg.shim_pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for Shim {
    fn drop(&mut self) {
        for &p in &self.pids {
            // SAFETY: plain kill(2) of a pid this test created.
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Read one line byte by byte (so nothing after it is consumed).
pub fn read_line(s: &mut UnixStream) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match s.read(&mut b) {
            Ok(0) => break,
            Ok(_) if b[0] == b'\n' => break,
            Ok(_) => out.push(b[0]),
            Err(e) => panic!("reading a reply: {e}"),
        }
    }
    String::from_utf8(out).unwrap()
}

pub fn connect(sock: &Path) -> UnixStream {
    let s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

pub fn send(s: &mut UnixStream, req: &Request) -> Reply {
    let mut line = serde_json::to_vec(req).unwrap();
    line.push(b'\n');
    s.write_all(&line).unwrap();
    let text = read_line(s);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad reply {text:?}: {e}"))
}

pub fn request(sock: &Path, req: &Request) -> Reply {
    send(&mut connect(sock), req)
}

/// Connect and attach; the stream is positioned after the ok line.
pub fn attach(sock: &Path, stdin: bool, stdout: bool, stderr: bool) -> UnixStream {
    let mut s = connect(sock);
    let r = send(
        &mut s,
        &Request::Attach {
            stdin,
            stdout,
            stderr,
        },
    );
    assert!(r.ok, "attach: {r:?}");
    s
}

/// Split a multiplexed stream into (stdout, stderr); panics on a malformed frame.
pub fn demux(mut data: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while !data.is_empty() {
        assert!(data.len() >= 8, "short header: {data:?}");
        assert_eq!(&data[1..4], &[0, 0, 0]);
        let len = u32::from_be_bytes([data[4], data[5], data[6], data[7]]) as usize;
        let payload = &data[8..8 + len];
        match data[0] {
            1 => out.extend_from_slice(payload),
            2 => err.extend_from_slice(payload),
            s => panic!("bad stream id {s}"),
        }
        data = &data[8 + len..];
    }
    (out, err)
}

pub fn read_all(s: &mut UnixStream) -> Vec<u8> {
    let mut v = Vec::new();
    s.read_to_end(&mut v).unwrap();
    v
}

/// Poll `f` until it returns true or the timeout passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

pub fn alive(pid: i32) -> bool {
    // A zombie still has a /proc entry: look at its state.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit(')')
            .next()
            .map(|r| !r.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// A busybox image layer and a container layer in a temp dir, plus a cgroup name;
/// removes both on drop.
pub struct Bundle {
    pub base: tempfile::TempDir,
    pub cgroup: String,
}

impl Bundle {
    pub fn new(name: &str) -> Bundle {
        let base = tempfile::Builder::new().prefix("bshimc").tempdir().unwrap();
        let root = base.path().join("lower");
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
        let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet != "busybox" && !applet.is_empty() {
                let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
            }
        }
        std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
        std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
        for d in ["upper", "work"] {
            std::fs::create_dir_all(base.path().join(d)).unwrap();
        }
        Bundle {
            base,
            cgroup: format!("berth-shim-test-{name}-{}", std::process::id()),
        }
    }

    /// Docker's defaults for an unprivileged container running `args`.
    pub fn spec(&self, args: &[&str]) -> ContainerSpec {
        use berth_types::spec::{CgroupSpec, Rootfs};
        let p = self.base.path();
        let mut process = process(args);
        process.capabilities = berth_runtime::default_capabilities();
        ContainerSpec {
            id: format!("{:0<64}", "5417"),
            rootfs: Rootfs::Overlay {
                lower: vec![p.join("lower").to_string_lossy().into()],
                upper: p.join("upper").to_string_lossy().into(),
                work: p.join("work").to_string_lossy().into(),
            },
            hostname: "shimtest".into(),
            process,
            masked_paths: berth_runtime::default_masked_paths(),
            readonly_paths: berth_runtime::default_readonly_paths(),
            cgroup: CgroupSpec {
                path: self.cgroup.clone(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    pub fn cgroup_exists(&self) -> bool {
        let h = berth_cgroups::Hierarchy::detect().unwrap();
        berth_cgroups::Cgroup::open(&h, &self.cgroup).is_ok()
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        if let Ok(h) = berth_cgroups::Hierarchy::detect() {
            if let Ok(cg) = berth_cgroups::Cgroup::open(&h, &self.cgroup) {
                let _ = cg.kill_all(libc::SIGKILL);
                let _ = cg.destroy();
            }
        }
    }
}

/// Start a shim for a container made from `bundle`; None (after printing why) when the
/// runtime cannot run containers yet.
pub fn container_shim(
    bundle: &Bundle,
    spec: ContainerSpec,
    tweak: impl FnOnce(&mut ShimConfig),
) -> Option<Shim> {
    let shim = Shim::start(
        |d| {
            let mut c = config(d, Task::Container(spec));
            tweak(&mut c);
            c
        },
        false,
    );
    let _ = bundle;
    if !shim.reply.ok
        && shim.reply.exit_code.is_none()
        && shim.reply.error.contains("not built yet")
    {
        eprintln!("skipped: the runtime is not ready: {}", shim.reply.error);
        return None;
    }
    Some(shim)
}
