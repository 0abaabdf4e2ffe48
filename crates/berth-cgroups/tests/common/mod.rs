//! Shared helpers of the integration tests: unique names, and guards that kill child
//! processes and remove cgroups even when a test fails half-way.

#![allow(dead_code)] // each test binary uses a different subset

use berth_cgroups::{Cgroup, Hierarchy};
use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// `berth-test-<pid>-<nanos>-<n>`: unique across parallel tests and test binaries.
pub fn unique_name() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "berth-test-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A cgroup `<unique>/<leaf>` whose whole tree is removed on drop (processes killed).
pub struct CgGuard {
    pub h: Hierarchy,
    pub parent: String,
    pub cg: Cgroup,
}

impl CgGuard {
    pub fn new(h: Hierarchy, leaf: &str) -> CgGuard {
        let parent = unique_name();
        let cg = Cgroup::create(&h, &format!("{parent}/{leaf}")).expect("create cgroup");
        CgGuard { h, parent, cg }
    }
}

impl Drop for CgGuard {
    fn drop(&mut self) {
        let _ = self.cg.kill_all(libc::SIGKILL);
        let _ = self.cg.destroy();
        if let Ok(p) = Cgroup::open(&self.h, &self.parent) {
            let _ = p.destroy();
        }
    }
}

/// A child process killed and reaped on drop. It blocks reading one line of stdin
/// before running `script`, so a test can move it into a cgroup first.
pub struct ChildGuard {
    pub child: Child,
    stdin: Option<ChildStdin>,
}

impl ChildGuard {
    pub fn busybox_sh(script: &str) -> ChildGuard {
        let child = Command::new("/bin/busybox")
            .args(["sh", "-c", &format!("read _go; {script}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn busybox");
        let mut g = ChildGuard { child, stdin: None };
        g.stdin = g.child.stdin.take();
        g
    }

    /// Like [`busybox_sh`], with stdout captured for [`ChildGuard::output`].
    pub fn busybox_sh_piped(script: &str) -> ChildGuard {
        let child = Command::new("/bin/busybox")
            .args(["sh", "-c", &format!("read _go; {script}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn busybox");
        let mut g = ChildGuard { child, stdin: None };
        g.stdin = g.child.stdin.take();
        g
    }

    /// Wait for the child and return its stdout.
    pub fn output(&mut self) -> String {
        use std::io::Read;
        let mut out = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            o.read_to_string(&mut out).expect("read child stdout");
        }
        let _ = self.child.wait();
        out
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Let the script run.
    pub fn go(&mut self) {
        if let Some(mut s) = self.stdin.take() {
            s.write_all(b"go\n").expect("release child");
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// utime + stime of a process in clock ticks (from /proc/<pid>/stat).
pub fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    // The command name (field 2) may hold spaces: fields after the last ')' are clean.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

pub fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_string()
}
