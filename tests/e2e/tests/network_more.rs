//! Networking gaps, checked against what Docker 20.10 does: the embedded DNS follows
//! `rename`, live `network connect`/`disconnect` edit the container's /etc/hosts (and
//! switch its resolv.conf to the embedded server), UDP published ports deliver from the
//! host over loopback and the bridge address, and a container may be disconnected
//! from its only network (loopback only, empty `Networks`, reconnect works).
//!
//! Same setup as network.rs: each daemon has its own bridge, /20 and chains
//! (`NetSlot`); user networks take their subnets from that /20. Names the embedded DNS
//! does not know are forwarded to a resolver this test runs on loopback (it answers
//! NXDOMAIN), so no lookup leaves the machine. The UDP server is a socket the test
//! opens inside the container's network namespace (Debian's busybox `nc` has no UDP
//! mode), so the path checked is the real one: host → proxy or DNAT → veth → netns.

use berth_e2e::*;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A resolver on 127.0.0.1 answering NXDOMAIN to every query; stops with the test.
struct NxUpstream {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NxUpstream {
    fn start() -> NxUpstream {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = sock.local_addr().unwrap().port();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !s2.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if n < 12 {
                    continue;
                }
                let mut r = buf[..n].to_vec();
                r[2] = 0x81; // QR, RD
                r[3] = 0x83; // RA, NXDOMAIN
                let _ = sock.send_to(&r, from);
            }
        });
        NxUpstream {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for NxUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A daemon whose embedded DNS forwards to `up`, with busybox imported.
fn daemon(up: &NxUpstream) -> Daemon {
    assert!(
        is_root(),
        "end-to-end tests need root (namespaces, bridges, iptables)"
    );
    let d = Daemon::start_with(&["--embedded-dns-upstream", &format!("127.0.0.1:{}", up.port)]);
    d.import_busybox("busybox");
    d
}

/// Runs the command with the docker CLI when asked and installed, else with `berth`.
fn cli(d: &Daemon, docker: bool, args: &[&str]) -> Run {
    if docker {
        if let Some(r) = d.docker(args) {
            return r;
        }
    }
    d.berth(args)
}

fn inspect(d: &Daemon, what: &str) -> serde_json::Value {
    let r = d.berth(["inspect", what]).ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    v[0].clone()
}

fn ip_on(d: &Daemon, ctr: &str, net: &str) -> String {
    let v = inspect(d, ctr)["NetworkSettings"]["Networks"][net]["IPAddress"].clone();
    let ip = v.as_str().unwrap_or_default().to_string();
    assert!(!ip.is_empty(), "{ctr} has no address on {net}: {v}");
    ip
}

/// The addresses `name` resolves to from inside `from` (nslookup asks the server of
/// the container's resolv.conf directly; busybox's C library cannot look names up).
fn resolve(d: &Daemon, from: &str, name: &str) -> Vec<String> {
    let r = d.berth(["exec", from, "nslookup", "-type=a", name]);
    // The first "Address:" is the server's own (127.0.0.11:53).
    r.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Address:"))
        .map(|a| a.trim().to_string())
        .filter(|a| !a.contains(':') && a != "127.0.0.11")
        .collect()
}

fn sleeper(d: &Daemon, docker: bool, name: &str, extra: &[&str]) {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sleep", "600"]);
    cli(d, docker, &args).ok();
}

fn links_of(d: &Daemon, ctr: &str) -> Vec<String> {
    let r = d.berth(["exec", ctr, "ls", "/sys/class/net"]).ok();
    let mut v: Vec<String> = r.stdout.split_whitespace().map(str::to_string).collect();
    v.sort();
    v
}

fn rename_moves_the_dns_name(docker: bool) {
    let up = NxUpstream::start();
    let mut d = daemon(&up);
    cli(&d, docker, &["network", "create", "ren"]).ok();
    sleeper(&d, docker, "aa", &["--network", "ren"]);
    sleeper(&d, docker, "qq", &["--network", "ren"]);
    let ip = ip_on(&d, "aa", "ren");
    assert_eq!(resolve(&d, "qq", "aa"), vec![ip.clone()]);
    cli(&d, docker, &["rename", "aa", "bb"]).ok();
    // The new name answers at once, the old one is gone (forwarded, NXDOMAIN).
    assert_eq!(resolve(&d, "qq", "bb"), vec![ip.clone()]);
    assert!(resolve(&d, "qq", "aa").is_empty());
    // The renamed container sees its peers as before.
    let qip = ip_on(&d, "qq", "ren");
    assert_eq!(resolve(&d, "bb", "qq"), vec![qip]);
    // network inspect and DNSNames show the new name.
    let id = inspect(&d, "bb")["Id"].as_str().unwrap().to_string();
    let net = d.berth(["network", "inspect", "ren"]).ok();
    let v: serde_json::Value = serde_json::from_str(&net.stdout).unwrap();
    assert_eq!(v[0]["Containers"][&id]["Name"], "bb", "{v}");
    let names = inspect(&d, "bb")["NetworkSettings"]["Networks"]["ren"]["DNSNames"].clone();
    let names: Vec<&str> = names
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    assert!(names.contains(&"bb") && !names.contains(&"aa"), "{names:?}");
    // The old name is free for a new container, which gets it in DNS.
    sleeper(&d, docker, "aa", &["--network", "ren"]);
    let new_ip = ip_on(&d, "aa", "ren");
    assert_ne!(new_ip, ip);
    assert_eq!(resolve(&d, "qq", "aa"), vec![new_ip]);
    // The new name survives a daemon restart (it is in the saved state).
    d.restart();
    assert_eq!(resolve(&d, "qq", "bb"), vec![ip]);
    cli(&d, docker, &["rm", "-f", "aa", "bb", "qq"]).ok();
}

#[test]
fn rename_moves_the_dns_name_berth() {
    rename_moves_the_dns_name(false);
}

#[test]
fn rename_moves_the_dns_name_docker() {
    rename_moves_the_dns_name(true);
}

fn live_connect_and_disconnect_edit_etc_files(docker: bool) {
    let up = NxUpstream::start();
    let d = daemon(&up);
    cli(&d, docker, &["network", "create", "h1"]).ok();
    cli(&d, docker, &["network", "create", "h2"]).ok();
    sleeper(&d, docker, "hc", &["--network", "h1"]);
    let host = d
        .berth(["exec", "hc", "hostname"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let hosts = || d.berth(["exec", "hc", "cat", "/etc/hosts"]).ok().stdout;
    let ip1 = ip_on(&d, "hc", "h1");
    let line1 = format!("{ip1}\t{host}\n");
    assert!(hosts().contains(&line1), "{}", hosts());
    // Connect: a line for the new address, with the hostname.
    cli(&d, docker, &["network", "connect", "h2", "hc"]).ok();
    let ip2 = ip_on(&d, "hc", "h2");
    let line2 = format!("{ip2}\t{host}\n");
    let h = hosts();
    assert!(h.contains(&line1) && h.contains(&line2), "{h}");
    assert_eq!(h.matches(&line2).count(), 1, "{h}");
    // Disconnect: that line goes, the first network's stays.
    cli(&d, docker, &["network", "disconnect", "h2", "hc"]).ok();
    let h = hosts();
    assert!(h.contains(&line1), "{h}");
    assert!(!h.contains(&ip2), "{h}");

    // A container on the default bridge joining a user network live: its hosts file
    // gains the line and its resolv.conf now names the embedded server, so the
    // network's names resolve from it.
    sleeper(&d, docker, "peer", &["--network", "h2"]);
    sleeper(&d, docker, "bc", &[]);
    let resolv = d
        .berth(["exec", "bc", "cat", "/etc/resolv.conf"])
        .ok()
        .stdout;
    assert!(!resolv.contains("127.0.0.11"), "{resolv}");
    cli(&d, docker, &["network", "connect", "h2", "bc"]).ok();
    let resolv = d
        .berth(["exec", "bc", "cat", "/etc/resolv.conf"])
        .ok()
        .stdout;
    assert!(resolv.starts_with("nameserver 127.0.0.11\n"), "{resolv}");
    let peer_ip = ip_on(&d, "peer", "h2");
    assert_eq!(resolve(&d, "bc", "peer"), vec![peer_ip]);
    let bhost = d
        .berth(["exec", "bc", "hostname"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let bip = ip_on(&d, "bc", "h2");
    let bh = d.berth(["exec", "bc", "cat", "/etc/hosts"]).ok().stdout;
    assert!(bh.contains(&format!("{bip}\t{bhost}\n")), "{bh}");
    cli(&d, docker, &["rm", "-f", "hc", "peer", "bc"]).ok();
}

#[test]
fn live_connect_and_disconnect_edit_etc_files_berth() {
    live_connect_and_disconnect_edit_etc_files(false);
}

#[test]
fn live_connect_and_disconnect_edit_etc_files_docker() {
    live_connect_and_disconnect_edit_etc_files(true);
}

/// A UDP server inside the network namespace of process `pid`: a thread that joined
/// it binds 0.0.0.0:`port` there and answers every datagram with `pong:` + its
/// payload until dropped.
struct NetnsUdpEcho {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NetnsUdpEcho {
    fn start(pid: i64, port: u16) -> NetnsUdpEcho {
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            // SAFETY: setns(2) on an open namespace file; it changes only this
            // thread's network namespace, and this thread does nothing else.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc != 0 {
                let _ = tx.send(Err(std::io::Error::last_os_error().to_string()));
                return;
            }
            let sock = match UdpSocket::bind(("0.0.0.0", port)) {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                    return;
                }
            };
            sock.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let _ = tx.send(Ok(()));
            let mut buf = [0u8; 1500];
            while !s2.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    let mut r = b"pong:".to_vec();
                    r.extend_from_slice(&buf[..n]);
                    let _ = sock.send_to(&r, from);
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("echo thread started")
            .expect("UDP socket in the container's netns");
        NetnsUdpEcho {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for NetnsUdpEcho {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sends `msg` to `addr:port` over UDP until an answer comes (the first datagrams may
/// race the proxy's start); the answer, or None after a few seconds.
fn udp_ask(addr: &str, port: u16, msg: &str) -> Option<String> {
    let s = UdpSocket::bind(if addr.starts_with("127.") {
        "127.0.0.1:0"
    } else {
        "0.0.0.0:0"
    })
    .ok()?;
    s.connect((addr, port)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(300))).ok()?;
    let mut buf = [0u8; 1500];
    for _ in 0..20 {
        let _ = s.send(msg.as_bytes());
        if let Ok(n) = s.recv(&mut buf) {
            return Some(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    None
}

/// A UDP port free on 127.0.0.1 now (the daemon binds it right after).
fn free_udp_port() -> u16 {
    loop {
        let p = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Also free for the all-address publish of the same test.
        if UdpSocket::bind(("0.0.0.0", p)).is_ok() {
            return p;
        }
    }
}

fn udp_published_ports_deliver(docker: bool) {
    let up = NxUpstream::start();
    let d = daemon(&up);
    let p = free_udp_port();
    let q = loop {
        let q = free_udp_port();
        if q != p {
            break q;
        }
    };
    // -p 127.0.0.1:P:P/udp and -p Q:P/udp (all addresses).
    sleeper(
        &d,
        docker,
        "ud",
        &[
            "-p",
            &format!("127.0.0.1:{p}:{p}/udp"),
            "-p",
            &format!("{q}:{p}/udp"),
        ],
    );
    let pid = inspect(&d, "ud")["State"]["Pid"].as_i64().unwrap();
    let echo = NetnsUdpEcho::start(pid, p);
    // Loopback: through the proxy bound on 127.0.0.1.
    assert_eq!(udp_ask("127.0.0.1", p, "one").as_deref(), Some("pong:one"));
    // Two clients at once get their own answers.
    let a = std::thread::spawn(move || udp_ask("127.0.0.1", p, "alpha"));
    let b = udp_ask("127.0.0.1", p, "beta");
    assert_eq!(b.as_deref(), Some("pong:beta"));
    assert_eq!(a.join().unwrap().as_deref(), Some("pong:alpha"));
    // All addresses: also through the host's address on this daemon's bridge (DNAT),
    // and over loopback.
    let gw = format!("{}.1", d.net.prefix24(0));
    assert_eq!(udp_ask(&gw, q, "gw").as_deref(), Some("pong:gw"));
    assert_eq!(udp_ask("127.0.0.1", q, "lo").as_deref(), Some("pong:lo"));
    // port and ps show /udp.
    let r = cli(&d, docker, &["port", "ud"]).ok();
    assert!(
        r.stdout.contains(&format!("{p}/udp -> 127.0.0.1:{p}")),
        "{r:#?}"
    );
    assert!(
        r.stdout.contains(&format!("{p}/udp -> 0.0.0.0:{q}")),
        "{r:#?}"
    );
    let r = cli(&d, docker, &["port", "ud", &format!("{p}/udp")]).ok();
    assert!(r.stdout.contains(&format!("127.0.0.1:{p}")), "{r:#?}");
    let ps = cli(&d, docker, &["ps", "--format", "{{.Ports}}"]).ok();
    assert!(
        ps.stdout.contains(&format!("127.0.0.1:{p}->{p}/udp")),
        "{ps:#?}"
    );
    assert!(
        ps.stdout.contains(&format!("0.0.0.0:{q}->{p}/udp")),
        "{ps:#?}"
    );
    drop(echo);
    cli(&d, docker, &["rm", "-f", "ud"]).ok();
    // Released with the container.
    assert!(d.wait_for(5, || UdpSocket::bind(("127.0.0.1", p)).is_ok()));
    assert!(udp_ask("127.0.0.1", p, "gone").is_none());
}

#[test]
fn udp_published_ports_deliver_berth() {
    udp_published_ports_deliver(false);
}

#[test]
fn udp_published_ports_deliver_docker() {
    udp_published_ports_deliver(true);
}

fn disconnect_from_the_only_network(docker: bool) {
    let up = NxUpstream::start();
    let d = daemon(&up);
    cli(&d, docker, &["network", "create", "solo"]).ok();
    sleeper(&d, docker, "lone", &["--network", "solo"]);
    sleeper(&d, docker, "other", &["--network", "solo"]);
    let ip = ip_on(&d, "lone", "solo");
    let host = d
        .berth(["exec", "lone", "hostname"])
        .ok()
        .stdout
        .trim()
        .to_string();
    assert_eq!(resolve(&d, "other", "lone"), vec![ip.clone()]);
    cli(&d, docker, &["network", "disconnect", "solo", "lone"]).ok();
    // Loopback only, nothing in Networks, the mode kept, gone from the network.
    assert_eq!(links_of(&d, "lone"), vec!["lo".to_string()]);
    let v = inspect(&d, "lone");
    assert_eq!(
        v["NetworkSettings"]["Networks"],
        serde_json::json!({}),
        "{v}"
    );
    assert_eq!(v["HostConfig"]["NetworkMode"], "solo");
    let id = v["Id"].as_str().unwrap().to_string();
    let net = d.berth(["network", "inspect", "solo"]).ok();
    assert!(!net.stdout.contains(&id), "{}", net.stdout);
    assert!(resolve(&d, "other", "lone").is_empty());
    let h = d.berth(["exec", "lone", "cat", "/etc/hosts"]).ok().stdout;
    assert!(!h.contains(&ip), "{h}");
    // A restart keeps it that way (no network is joined behind the user's back).
    cli(&d, docker, &["restart", "-t", "0", "lone"]).ok();
    assert_eq!(links_of(&d, "lone"), vec!["lo".to_string()]);
    let v = inspect(&d, "lone");
    assert_eq!(
        v["NetworkSettings"]["Networks"],
        serde_json::json!({}),
        "{v}"
    );
    let h = d.berth(["exec", "lone", "cat", "/etc/hosts"]).ok().stdout;
    assert!(!h.contains(&host), "{h}");
    // Disconnecting again: not connected.
    let r = cli(&d, docker, &["network", "disconnect", "solo", "lone"]);
    assert_ne!(r.status, 0, "{r:#?}");
    assert!(
        r.stderr.contains("is not connected to network solo"),
        "{r:#?}"
    );
    // Reconnected: eth0 again, an address, the name resolves, the hosts line is back.
    cli(&d, docker, &["network", "connect", "solo", "lone"]).ok();
    assert_eq!(
        links_of(&d, "lone"),
        vec!["eth0".to_string(), "lo".to_string()]
    );
    let ip2 = ip_on(&d, "lone", "solo");
    assert_eq!(resolve(&d, "other", "lone"), vec![ip2.clone()]);
    let h = d.berth(["exec", "lone", "cat", "/etc/hosts"]).ok().stdout;
    assert!(h.contains(&format!("{ip2}\t{host}\n")), "{h}");
    // Only that network after a restart too.
    cli(&d, docker, &["restart", "-t", "0", "lone"]).ok();
    assert_eq!(
        links_of(&d, "lone"),
        vec!["eth0".to_string(), "lo".to_string()]
    );
    let nets = inspect(&d, "lone")["NetworkSettings"]["Networks"].clone();
    let keys: Vec<&String> = nets.as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["solo"], "{nets}");

    // The default bridge, on a stopped container: it starts with loopback only.
    cli(
        &d,
        docker,
        &["create", "--name", "quiet", "busybox", "sleep", "600"],
    )
    .ok();
    cli(&d, docker, &["network", "disconnect", "bridge", "quiet"]).ok();
    let v = inspect(&d, "quiet");
    assert_eq!(
        v["NetworkSettings"]["Networks"],
        serde_json::json!({}),
        "{v}"
    );
    cli(&d, docker, &["start", "quiet"]).ok();
    assert_eq!(links_of(&d, "quiet"), vec!["lo".to_string()]);
    // Connected to a user network: that one only, not the bridge back.
    cli(&d, docker, &["network", "connect", "solo", "quiet"]).ok();
    let nets = inspect(&d, "quiet")["NetworkSettings"]["Networks"].clone();
    let keys: Vec<&String> = nets.as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["solo"], "{nets}");
    cli(&d, docker, &["rm", "-f", "lone", "other", "quiet"]).ok();
    cli(&d, docker, &["network", "rm", "solo"]).ok();
}

#[test]
fn disconnect_from_the_only_network_berth() {
    disconnect_from_the_only_network(false);
}

#[test]
fn disconnect_from_the_only_network_docker() {
    disconnect_from_the_only_network(true);
}
