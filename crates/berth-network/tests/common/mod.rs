//! Test harness for real-kernel network tests (root).
//!
//! Every test re-executes itself in a child process that has its own network namespace
//! (`unshare(CLONE_NEWNET)` before exec), so its bridges, veths, iptables chains and
//! sysctls live and die with that child: tests run in parallel, never see each other,
//! and no packet can leave the machine (the namespace has no way out). Names are still
//! unique per test (bridges `bt…`, chains `BT…`) and cleaned by guards, so a test also
//! behaves when run directly in a shared namespace.

#![allow(dead_code)]

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use berth_network::{ManagerConfig, NetnsRef};

const INNER: &str = "BERTH_NET_TEST_INNER";

pub fn rand_hex(n: usize) -> String {
    let mut b = vec![0u8; n.div_ceil(2)];
    getrandom::fill(&mut b).expect("random");
    let s: String = b.iter().map(|x| format!("{x:02x}")).collect();
    s[..n].to_string()
}

/// Runs `body` inside a private network namespace (see the module docs). `name` is the
/// test function's name.
pub fn run<F, Fut>(name: &str, body: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping {name}: needs root");
        return;
    }
    if std::env::var(INNER).ok().as_deref() == Some(name) {
        sh(&["ip", "link", "set", "lo", "up"]);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(body());
        return;
    }
    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = Command::new(exe);
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(INNER, name)
        .stdin(Stdio::null());
    // SAFETY: only async-signal-safe work (one syscall) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
        });
    }
    let out = cmd.output().expect("spawn test child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "test {name} failed in its namespace:\n{stdout}\n{stderr}"
    );
    println!("{stdout}");
}

/// Runs a command, panics on failure, returns stdout.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command, returns (success, stdout+stderr).
pub fn try_sh(args: &[&str]) -> (bool, String) {
    match Command::new(args[0]).args(&args[1..]).output() {
        Ok(o) => (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        ),
        Err(e) => (false, e.to_string()),
    }
}

/// A stand-in container: a sleeping process in a fresh network namespace.
pub struct Container {
    child: Child,
    pub id: String,
    pub name: String,
}

impl Container {
    pub fn new(name: &str) -> Container {
        let mut cmd = Command::new("sleep");
        cmd.arg("3600").stdin(Stdio::null());
        // SAFETY: one syscall between fork and exec. Spawn returns after the exec, so
        // the namespace exists by then.
        unsafe {
            cmd.pre_exec(|| {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(std::io::Error::from)
            });
        }
        let child = cmd.spawn().expect("spawn sleep");
        Container {
            child,
            id: format!("{}{}", rand_hex(12), "0".repeat(52)),
            name: name.to_string(),
        }
    }
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    pub fn netns(&self) -> NetnsRef {
        NetnsRef::Pid(self.pid())
    }
    pub fn ns_path(&self) -> PathBuf {
        self.netns().path()
    }
    /// Runs a command inside the container's netns.
    pub fn exec(&self, args: &[&str]) -> (bool, String) {
        let ns = format!("--net={}", self.ns_path().display());
        let mut a = vec!["nsenter", ns.as_str()];
        a.extend_from_slice(args);
        try_sh(&a)
    }
    /// TCP connect from inside the container; true when it connects within `timeout`.
    pub fn can_connect(&self, to: SocketAddr, timeout: Duration) -> bool {
        berth_network::netns::run_in_netns(&self.ns_path(), || {
            Ok(TcpStream::connect_timeout(&to, timeout).is_ok())
        })
        .expect("netns")
    }
    /// A TCP server inside the container that answers every connection with `reply`.
    pub fn tcp_server(&self, port: u16, reply: &'static str) {
        let l = berth_network::netns::run_in_netns(&self.ns_path(), || {
            Ok(TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).expect("bind in container"))
        })
        .expect("netns");
        std::thread::spawn(move || {
            use std::io::Write;
            for mut s in l.incoming().flatten() {
                let _ = s.write_all(reply.as_bytes());
            }
        });
    }
    /// A UDP echo server inside the container that prefixes answers with `tag`.
    pub fn udp_echo(&self, port: u16, tag: &'static str) {
        let u = berth_network::netns::run_in_netns(&self.ns_path(), || {
            Ok(UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)).expect("bind udp in container"))
        })
        .expect("netns");
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while let Ok((n, peer)) = u.recv_from(&mut buf) {
                let mut out = tag.as_bytes().to_vec();
                out.extend_from_slice(&buf[..n]);
                let _ = u.send_to(&out, peer);
            }
        });
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Per-test names and a config that touches only them.
pub struct Names {
    pub chain_prefix: String,
    pub tag: String,
}

impl Names {
    pub fn new() -> Names {
        let tag = rand_hex(6);
        Names {
            chain_prefix: format!("BT{tag}"),
            tag,
        }
    }
    /// A bridge name unique to this test: `b<letter><tag>` (≤ 15 chars).
    pub fn bridge(&self, letter: char) -> String {
        format!("bt{letter}{}", self.tag)
    }
    pub fn config(&self, pool: &str) -> ManagerConfig {
        ManagerConfig {
            chain_prefix: self.chain_prefix.clone(),
            bridge_prefix: "t-".into(),
            default_bridge: None,
            pools: vec![berth_network::ipam::PoolSpec {
                base: pool.parse().expect("pool"),
                size: 24,
            }],
            dns_upstreams: Vec::new(),
            enable_ip_forward: true,
            iptables: true,
        }
    }
}

/// Removes our chains and the named bridges even when a test panics.
pub struct Cleanup {
    pub chain_prefix: String,
    pub bridges: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = berth_network::firewall::Firewall::new(&self.chain_prefix).remove_all();
        for b in &self.bridges {
            let _ = try_sh(&["ip", "link", "del", b]);
        }
    }
}

/// Our chains as `iptables -S` prints them (both tables), for comparisons.
pub fn our_rules(prefix: &str) -> String {
    let mut out = String::new();
    for t in ["filter", "nat"] {
        let (_, s) = try_sh(&["iptables", "-w", "-t", t, "-S"]);
        for l in s.lines().filter(|l| l.contains(prefix)) {
            out.push_str(t);
            out.push(' ');
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}
