//! Shared fixtures for the real-kernel tests (run as root): a busybox rootfs in a temp
//! dir, a container spec with Docker's defaults, and a runner capturing stdout/stderr
//! through pipes. Every fixture cleans up in `Drop` (process, cgroup, dirs).
#![allow(dead_code)]

use berth_runtime::{Created, RuntimeError, Stdio};
use berth_types::spec::{CgroupSpec, ContainerSpec, ProcessSpec, Rootfs};
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

/// Docker's default profile, as berthd embeds it.
pub const SECCOMP_PROFILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../berthd/seccomp-default.json"
);

/// A temp directory with a busybox rootfs (`lower`) and a container layer, removed on drop.
pub struct Fixture {
    pub base: PathBuf,
    pub name: String,
    pub cgroup: String,
    pids: std::cell::RefCell<Vec<i32>>,
}

impl Fixture {
    pub fn new(name: &str) -> Fixture {
        let base = std::env::temp_dir().join(format!("berth-rt-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let f = Fixture {
            base,
            name: name.to_string(),
            cgroup: format!("berth-rt-test-{name}-{}", std::process::id()),
            pids: Default::default(),
        };
        f.build_busybox();
        for d in ["c/upper", "c/work"] {
            std::fs::create_dir_all(f.base.join(d)).unwrap();
        }
        f
    }

    pub fn lower(&self) -> PathBuf {
        self.base.join("lower")
    }

    fn build_busybox(&self) {
        let root = self.lower();
        for d in [
            "bin",
            "etc",
            "proc",
            "sys",
            "dev",
            "tmp",
            "root",
            "home/alice",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
        let list = std::process::Command::new("/bin/busybox")
            .arg("--list")
            .output()
            .unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet != "busybox" && !applet.is_empty() {
                let _ = symlink("busybox", root.join("bin").join(applet));
            }
        }
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            root.join("etc/group"),
            "root:x:0:\nwheel:x:10:alice\nnogroup:x:65534:\nalice:x:1000:\n",
        )
        .unwrap();
        std::fs::write(root.join("etc/data.txt"), "not executable\n").unwrap();
        std::fs::set_permissions(
            root.join("etc/data.txt"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777))
            .unwrap();
        // A symlink pointing at /etc: mounting "through" it must stay in the rootfs.
        symlink("/etc", root.join("evil")).unwrap();
    }

    /// A spec with Docker's defaults for an unprivileged container running `args`.
    pub fn spec(&self, args: &[&str]) -> ContainerSpec {
        ContainerSpec {
            id: format!(
                "{:0<64}",
                self.name.replace(|c: char| !c.is_ascii_alphanumeric(), "")
            ),
            rootfs: Rootfs::Overlay {
                lower: vec![self.lower().to_string_lossy().into()],
                upper: self.base.join("c/upper").to_string_lossy().into(),
                work: self.base.join("c/work").to_string_lossy().into(),
            },
            hostname: format!("h-{}", self.name),
            process: ProcessSpec {
                args: args.iter().map(|s| s.to_string()).collect(),
                env: vec![
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                    "HOSTNAME=test".into(),
                ],
                cwd: "/".into(),
                capabilities: berth_runtime::default_capabilities(),
                seccomp_profile: Some(SECCOMP_PROFILE.into()),
                ..Default::default()
            },
            masked_paths: berth_runtime::default_masked_paths(),
            readonly_paths: berth_runtime::default_readonly_paths(),
            cgroup: CgroupSpec {
                path: self.cgroup.clone(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// Remember a pid to kill on drop.
    pub fn track(&self, pid: i32) {
        self.pids.borrow_mut().push(pid);
    }

    /// Reaped: no need to kill it any more.
    pub fn untrack(&self, pid: i32) {
        self.pids.borrow_mut().retain(|p| *p != pid);
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for pid in self.pids.borrow().iter() {
            // SAFETY: killing and reaping our own children.
            unsafe {
                libc::kill(*pid, libc::SIGKILL);
                libc::waitpid(*pid, std::ptr::null_mut(), 0);
            }
        }
        if let Ok(h) = berth_cgroups::Hierarchy::detect() {
            if let Ok(cg) = berth_cgroups::Cgroup::open(&h, &self.cgroup) {
                let _ = cg.destroy();
            }
        }
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

pub fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: valid array for pipe2.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh descriptors.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Stdio for a process: stdin from /dev/null, stdout/stderr into pipes we read.
pub struct Capture {
    pub stdio: Option<Stdio>,
    out: OwnedFd,
    err: OwnedFd,
}

impl Capture {
    pub fn new() -> Capture {
        let (out_r, out_w) = pipe();
        let (err_r, err_w) = pipe();
        let null = std::fs::File::open("/dev/null").unwrap();
        Capture {
            stdio: Some(Stdio {
                stdin: null.into(),
                stdout: out_w,
                stderr: err_w,
            }),
            out: out_r,
            err: err_r,
        }
    }

    /// Read both streams to EOF.
    pub fn collect(self) -> (String, String) {
        let mut err_file = std::fs::File::from(self.err);
        let t = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err_file.read_to_string(&mut s);
            s
        });
        let mut out = String::new();
        let _ = std::fs::File::from(self.out).read_to_string(&mut out);
        (out, t.join().unwrap())
    }
}

/// Wait for `pid`; the exit code as Docker reports it (128+N for signal N).
pub fn wait(pid: i32) -> i32 {
    let mut st = 0;
    // SAFETY: our own child.
    let r = unsafe { libc::waitpid(pid, &mut st, 0) };
    assert_eq!(r, pid, "waitpid: {}", std::io::Error::last_os_error());
    if libc::WIFEXITED(st) {
        libc::WEXITSTATUS(st)
    } else {
        128 + libc::WTERMSIG(st)
    }
}

/// Output of a finished container.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Create, start and wait for a container.
pub fn run(f: &Fixture, spec: &ContainerSpec) -> Result<Output, RuntimeError> {
    let mut cap = Capture::new();
    let created = berth_runtime::create(spec, cap.stdio.take().unwrap())?;
    let pid0 = created.pid();
    f.track(pid0);
    let pid = match start(created) {
        Ok(p) => p,
        Err(e) => {
            f.untrack(pid0);
            return Err(e);
        }
    };
    let (stdout, stderr) = cap.collect();
    let code = wait(pid);
    f.untrack(pid);
    Ok(Output {
        code,
        stdout,
        stderr,
    })
}

/// Start; on a start error the caller still reaps the process.
pub fn start(c: Created) -> Result<i32, RuntimeError> {
    let pid = c.pid();
    match c.start() {
        Ok(p) => Ok(p),
        Err(e) => {
            let _ = wait(pid);
            Err(e)
        }
    }
}

pub fn sh(f: &Fixture, script: &str) -> Output {
    let spec = f.spec(&["sh", "-c", script]);
    run(f, &spec).unwrap_or_else(|e| panic!("container failed: {e}"))
}

pub fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

/// Everything a pty master yields until every slave holder is gone (EIO), read on a
/// thread so the process never blocks on a full terminal; `\r` removed.
pub struct PtyOutput(Option<std::thread::JoinHandle<String>>);

impl PtyOutput {
    pub fn new(master: OwnedFd) -> PtyOutput {
        PtyOutput(Some(std::thread::spawn(move || {
            let mut f = std::fs::File::from(master);
            let mut out = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match f.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                }
            }
            String::from_utf8_lossy(&out).replace('\r', "")
        })))
    }

    pub fn collect(mut self) -> String {
        self.0.take().unwrap().join().unwrap()
    }
}

/// Start a process created with `ProcessIo::Pty`, read its terminal until it exits;
/// (exit code, output).
pub fn run_on_pty(f: &Fixture, mut c: Created) -> (i32, String) {
    let master = c.take_pty_master().expect("a pty master");
    assert!(
        c.take_pty_master().is_none(),
        "the master is handed out once"
    );
    let out = PtyOutput::new(master);
    f.track(c.pid());
    let pid = start(c).unwrap();
    let code = wait(pid);
    f.untrack(pid);
    (code, out.collect())
}
