//! Issue "Networking": bridges, embedded DNS, port publishing, network modes — driven
//! by `berth` and by the real `docker` CLI against berthd.
//!
//! Every daemon of the harness has its own default bridge, its own /20 of addresses and
//! its own iptables chains (`NetSlot`), removed at teardown. Traffic only goes to
//! 127.0.0.1 or to containers on this daemon's bridges; no container reaches out through
//! NAT; the DNS forwarding test answers from a resolver this test runs on loopback.

use berth_e2e::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

fn daemon() -> Daemon {
    daemon_with(&[])
}

fn daemon_with(extra: &[&str]) -> Daemon {
    assert!(
        is_root(),
        "end-to-end tests need root (namespaces, bridges, iptables)"
    );
    let d = Daemon::start_with(extra);
    d.import_busybox("busybox");
    d
}

/// Runs the command with `berth`, or with the docker CLI when `docker` (and it is
/// installed; else with `berth`).
fn cli(d: &Daemon, docker: bool, args: &[&str]) -> Run {
    if docker {
        if let Some(r) = d.docker(args) {
            return r;
        }
    }
    d.berth(args)
}

/// A busybox httpd serving `text` at `/` on port 80, detached, on `net`.
fn web(d: &Daemon, docker: bool, name: &str, extra: &[&str], text: &str) -> String {
    let script =
        format!("mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 80 -h /www");
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sh", "-c", &script]);
    cli(d, docker, &args).ok().stdout.trim().to_string()
}

/// `GET /` from the host to 127.0.0.1:port; the body, or None.
fn http_get(port: u16) -> Option<String> {
    http_get_at("127.0.0.1", port)
}

/// `GET /` to `addr:port`: 127.0.0.1 or an address of this daemon's bridge.
fn http_get_at(addr: &str, port: u16) -> Option<String> {
    let mut s = TcpStream::connect((addr, port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

/// A shell line printing the body of `http://<addr>:80/` (`nc`: Debian's static
/// busybox `wget` crashes in its C library's service lookup inside a container).
fn fetch_ip(addr: &str) -> String {
    format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {addr} 80 | tail -n 1 | grep .")
}

/// [`fetch_ip`] of a name: the static busybox cannot look names up through its C
/// library either, so `nslookup`, which speaks DNS itself to the resolv.conf server,
/// resolves it and the first address answered is fetched.
fn fetch_by_name(name: &str) -> String {
    format!(
        "ip=$(nslookup -type=a {name} 2>/dev/null | awk '/^Address: [0-9]/ {{print $2; exit}}'); \
         [ -n \"$ip\" ] && {}",
        fetch_ip("$ip")
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn inspect(d: &Daemon, what: &str) -> serde_json::Value {
    let r = d.berth(["inspect", what]).ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    v[0].clone()
}

fn net_inspect(d: &Daemon, what: &str) -> serde_json::Value {
    let r = d.berth(["network", "inspect", what]).ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    v[0].clone()
}

fn sh(cmd: &[&str]) -> String {
    let o = std::process::Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Our rules (both tables) for this daemon's chain prefix.
fn our_rules(d: &Daemon) -> String {
    let mut out = String::new();
    for t in ["filter", "nat"] {
        for l in sh(&["iptables", "-w", "-t", t, "-S"]).lines() {
            if l.contains(&d.net.chain_prefix) {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    out
}

/// Host-side veths enslaved to `bridge`.
fn ports_of_bridge(bridge: &str) -> Vec<String> {
    std::fs::read_dir(format!("/sys/class/net/{bridge}/brif"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn user_network_name_resolution(docker: bool) {
    let d = daemon();
    cli(&d, docker, &["network", "create", "app"]).ok();
    web(&d, docker, "db", &["--network", "app"], "db-ok");
    let r = cli(
        &d,
        docker,
        &[
            "run",
            "--rm",
            "--network",
            "app",
            "busybox",
            "sh",
            "-c",
            &format!(
                "for i in 1 2 3 4 5 6 7 8 9 10; do {} && exit 0; sleep 0.2; done; exit 1",
                fetch_by_name("db")
            ),
        ],
    );
    assert_eq!(r.status, 0, "{r:#?}");
    assert_eq!(r.stdout.trim(), "db-ok");
    let db_ip = inspect(&d, "db")["NetworkSettings"]["Networks"]["app"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!db_ip.is_empty());
    // nslookup asks 127.0.0.11, the embedded server; the short id resolves too.
    let r = cli(
        &d,
        docker,
        &[
            "run",
            "--rm",
            "--network",
            "app",
            "busybox",
            "nslookup",
            "db",
        ],
    )
    .ok();
    assert!(r.stdout.contains(&db_ip), "{r:#?}");
    let r = cli(
        &d,
        docker,
        &[
            "run",
            "--rm",
            "--network",
            "app",
            "busybox",
            "cat",
            "/etc/resolv.conf",
        ],
    )
    .ok();
    assert!(r.stdout.contains("nameserver 127.0.0.11"), "{r:#?}");
    // The name is scoped to its network.
    cli(&d, docker, &["network", "create", "other"]).ok();
    let r = cli(
        &d,
        docker,
        &[
            "run",
            "--rm",
            "--network",
            "other",
            "busybox",
            "sh",
            "-c",
            "ping -c1 -W1 db",
        ],
    );
    assert_ne!(
        r.status, 0,
        "db must not resolve on another network: {r:#?}"
    );
    cli(&d, docker, &["rm", "-f", "db"]).ok();
}

#[test]
fn user_network_name_resolution_berth() {
    user_network_name_resolution(false);
}

#[test]
fn user_network_name_resolution_docker() {
    user_network_name_resolution(true);
}

fn alias_round_robin(docker: bool) {
    let d = daemon();
    cli(&d, docker, &["network", "create", "rr"]).ok();
    web(
        &d,
        docker,
        "w1",
        &["--network", "rr", "--network-alias", "svc"],
        "one",
    );
    web(
        &d,
        docker,
        "w2",
        &["--network", "rr", "--network-alias", "svc"],
        "two",
    );
    let ip = |n: &str| {
        inspect(&d, n)["NetworkSettings"]["Networks"]["rr"]["IPAddress"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (ip1, ip2) = (ip("w1"), ip("w2"));
    let r = cli(
        &d,
        docker,
        &[
            "run",
            "--rm",
            "--network",
            "rr",
            "busybox",
            "nslookup",
            "svc",
        ],
    )
    .ok();
    assert!(r.stdout.contains(&ip1) && r.stdout.contains(&ip2), "{r:#?}");
    // Successive lookups rotate the answers: both servers get asked.
    let r = cli(
        &d,
        docker,
        &[
            "run",
            "--rm",
            "--network",
            "rr",
            "busybox",
            "sh",
            "-c",
            &format!(
                "for i in 1 2 3 4 5 6 7 8; do {}; echo; done",
                fetch_by_name("svc")
            ),
        ],
    )
    .ok();
    assert!(
        r.stdout.contains("one") && r.stdout.contains("two"),
        "{r:#?}"
    );
}

#[test]
fn alias_round_robin_berth() {
    alias_round_robin(false);
}

#[test]
fn alias_round_robin_docker() {
    alias_round_robin(true);
}

fn isolation_and_live_connect(docker: bool) {
    let d = daemon();
    cli(&d, docker, &["network", "create", "front"]).ok();
    cli(&d, docker, &["network", "create", "back"]).ok();
    web(&d, docker, "api", &["--network", "back"], "api-ok");
    let api_ip = inspect(&d, "api")["NetworkSettings"]["Networks"]["back"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    cli(
        &d,
        docker,
        &[
            "run",
            "-d",
            "--name",
            "client",
            "--network",
            "front",
            "busybox",
            "sleep",
            "600",
        ],
    )
    .ok();
    let fetch = |target: &str| {
        let line = if target.starts_with(|c: char| c.is_ascii_digit()) {
            fetch_ip(target)
        } else {
            fetch_by_name(target)
        };
        cli(&d, docker, &["exec", "client", "sh", "-c", &line])
    };
    // Different networks: neither the address nor the name is reachable.
    assert_ne!(fetch(&api_ip).status, 0);
    assert_ne!(fetch("api").status, 0);
    // Connected live: a second interface, the name resolves, the page loads.
    cli(&d, docker, &["network", "connect", "back", "client"]).ok();
    let ok = d.wait_for(10, || fetch("api").stdout.trim() == "api-ok");
    assert!(ok, "after connect: {:#?}", fetch("api"));
    let links = cli(&d, docker, &["exec", "client", "ls", "/sys/class/net"]).ok();
    assert!(links.stdout.contains("eth1"), "{links:#?}");
    let nets = inspect(&d, "client")["NetworkSettings"]["Networks"].clone();
    assert!(
        nets["back"]["IPAddress"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{nets}"
    );
    let net = cli(&d, docker, &["network", "inspect", "back"]).ok();
    assert!(net.stdout.contains("\"client\""), "{net:#?}");
    // Disconnected live: unreachable again, the interface is gone.
    cli(&d, docker, &["network", "disconnect", "back", "client"]).ok();
    assert_ne!(fetch(&api_ip).status, 0);
    let links = cli(&d, docker, &["exec", "client", "ls", "/sys/class/net"]).ok();
    assert!(!links.stdout.contains("eth1"), "{links:#?}");
    // A network with endpoints cannot be removed; without, it can.
    let r = cli(&d, docker, &["network", "rm", "back"]);
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("has active endpoints"), "{r:#?}");
    cli(&d, docker, &["rm", "-f", "api", "client"]).ok();
    cli(&d, docker, &["network", "rm", "back", "front"]).ok();
}

#[test]
fn isolation_and_live_connect_berth() {
    isolation_and_live_connect(false);
}

#[test]
fn isolation_and_live_connect_docker() {
    isolation_and_live_connect(true);
}

fn publish_ports(docker: bool) {
    let d = daemon();
    // -p 127.0.0.1:HOST:80, reachable from the host.
    let port = free_port();
    web(
        &d,
        docker,
        "pub",
        &["-p", &format!("127.0.0.1:{port}:80")],
        "published",
    );
    let mut body = None;
    d.wait_for(10, || {
        body = http_get(port);
        body.is_some()
    });
    assert_eq!(body.as_deref().map(str::trim), Some("published"));
    let ps = cli(&d, docker, &["ps", "--format", "{{.Ports}}"]).ok();
    assert!(
        ps.stdout.contains(&format!("127.0.0.1:{port}->80/tcp")),
        "{ps:#?}"
    );
    // -p 80: a random host port, shown by `port`.
    web(&d, docker, "rnd", &["-p", "80"], "random");
    let r = cli(&d, docker, &["port", "rnd", "80"]).ok();
    let line = r.stdout.lines().next().unwrap_or_default().to_string();
    let rport: u16 = line
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("{r:#?}"));
    assert!(line.starts_with("0.0.0.0:"), "{r:#?}");
    let mut body = None;
    d.wait_for(10, || {
        body = http_get(rport);
        body.is_some()
    });
    assert_eq!(body.as_deref().map(str::trim), Some("random"));
    // Published on all addresses: also through the host's address on this daemon's
    // own bridge (DNAT in OUTPUT), not only through the loopback proxy.
    let gw = format!("{}.1", d.net.prefix24(0));
    assert_eq!(
        http_get_at(&gw, rport).as_deref().map(str::trim),
        Some("random")
    );
    let all = cli(&d, docker, &["port", "rnd"]).ok();
    assert!(
        all.stdout.contains(&format!("80/tcp -> 0.0.0.0:{rport}")),
        "{all:#?}"
    );
    // The same host port again: Docker's error, and that container does not start.
    let r = cli(
        &d,
        docker,
        &[
            "run",
            "-d",
            "--name",
            "dup",
            "-p",
            &format!("127.0.0.1:{port}:80"),
            "busybox",
            "sleep",
            "600",
        ],
    );
    assert_ne!(r.status, 0, "{r:#?}");
    assert!(r.stderr.contains("port is already allocated"), "{r:#?}");
    let st = inspect(&d, "dup")["State"].clone();
    assert_eq!(st["Status"], "created", "{st}");
    assert_eq!(st["Running"], false);
    // The first container still serves.
    assert_eq!(http_get(port).as_deref().map(str::trim), Some("published"));
    cli(&d, docker, &["rm", "-f", "pub", "rnd", "dup"]).ok();
    // The ports are free again.
    assert!(d.wait_for(5, || TcpListener::bind(("127.0.0.1", port)).is_ok()));
}

#[test]
fn publish_ports_berth() {
    publish_ports(false);
}

#[test]
fn publish_ports_docker() {
    publish_ports(true);
}

#[test]
fn publish_all_exposed_ports() {
    let d = daemon();
    let tar = d.busybox_tar();
    d.berth([
        "import".as_ref(),
        "-c".as_ref(),
        "EXPOSE 80 81/udp".as_ref(),
        tar.as_os_str(),
        "exposing".as_ref(),
    ])
    .ok();
    d.berth([
        "run",
        "-d",
        "--name",
        "pall",
        "-P",
        "exposing",
        "sh",
        "-c",
        "mkdir -p /www && echo all > /www/index.html && exec httpd -f -p 80 -h /www",
    ])
    .ok();
    let ports = inspect(&d, "pall")["NetworkSettings"]["Ports"].clone();
    let tcp = ports["80/tcp"][0]["HostPort"]
        .as_str()
        .unwrap()
        .parse::<u16>()
        .unwrap();
    assert!(ports["81/udp"][0]["HostPort"].as_str().is_some(), "{ports}");
    let mut body = None;
    d.wait_for(10, || {
        body = http_get(tcp);
        body.is_some()
    });
    assert_eq!(body.as_deref().map(str::trim), Some("all"));
}

fn modes(docker: bool) {
    let d = daemon();
    // The default bridge exists once a container needed it.
    cli(&d, docker, &["run", "--rm", "busybox", "true"]).ok();
    // host: the host's interfaces and hostname.
    let r = cli(
        &d,
        docker,
        &[
            "run",
            "--rm",
            "--network",
            "host",
            "busybox",
            "ls",
            "/sys/class/net",
        ],
    )
    .ok();
    assert!(r.stdout.contains(&d.net.bridge), "{r:#?}");
    let host_name = sh(&["hostname"]);
    let r = cli(
        &d,
        docker,
        &["run", "--rm", "--network", "host", "busybox", "hostname"],
    )
    .ok();
    assert_eq!(r.stdout.trim(), host_name.trim());
    // none: loopback only.
    let r = cli(
        &d,
        docker,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "ls",
            "/sys/class/net",
        ],
    )
    .ok();
    assert_eq!(r.stdout.split_whitespace().collect::<Vec<_>>(), ["lo"]);
    // default bridge: eth0 with an address of this daemon's bridge.
    cli(
        &d,
        docker,
        &["run", "-d", "--name", "base", "busybox", "sleep", "600"],
    )
    .ok();
    let ip = inspect(&d, "base")["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(ip.starts_with(&format!("{}.", d.net.prefix24(0))), "{ip}");
    // container:<name>: the same namespace, same address, no new veth.
    let before = ports_of_bridge(&d.net.bridge).len();
    let r = cli(
        &d,
        docker,
        &[
            "run",
            "--rm",
            "--network",
            "container:base",
            "busybox",
            "ip",
            "-4",
            "addr",
            "show",
            "eth0",
        ],
    )
    .ok();
    assert!(r.stdout.contains(&format!("{ip}/24")), "{r:#?}");
    assert_eq!(ports_of_bridge(&d.net.bridge).len(), before);
    // The default bridge gives no name resolution; --link writes /etc/hosts.
    let r = cli(
        &d,
        docker,
        &[
            "run",
            "--rm",
            "--link",
            "base:pal",
            "busybox",
            "sh",
            "-c",
            "grep pal /etc/hosts && ping -c1 -W2 pal",
        ],
    )
    .ok();
    assert!(r.stdout.contains(&ip), "{r:#?}");
    cli(&d, docker, &["rm", "-f", "base"]).ok();
}

#[test]
fn modes_host_none_container_berth() {
    modes(false);
}

#[test]
fn modes_host_none_container_docker() {
    modes(true);
}

#[test]
fn dns_options_and_etc_files() {
    let d = daemon();
    let r = d
        .berth([
            "run",
            "--rm",
            "--dns",
            "10.1.2.3",
            "--dns-search",
            "corp.example",
            "--dns-option",
            "ndots:3",
            "--add-host",
            "db:10.9.9.9",
            "--add-host",
            "gw:host-gateway",
            "--hostname",
            "myhost",
            "busybox",
            "sh",
            "-c",
            "cat /etc/resolv.conf /etc/hosts; hostname",
        ])
        .ok();
    let out = &r.stdout;
    assert!(out.contains("nameserver 10.1.2.3\n"), "{out}");
    assert!(out.contains("search corp.example\n"), "{out}");
    assert!(out.contains("options ndots:3\n"), "{out}");
    assert!(out.contains("10.9.9.9\tdb\n"), "{out}");
    assert!(
        out.contains(&format!("{}.1\tgw\n", d.net.prefix24(0))),
        "{out}"
    );
    assert!(out.contains("\tmyhost\n"), "{out}");
    assert!(out.trim_end().ends_with("myhost"), "{out}");
    // On a user network: the embedded server, with the search domain kept.
    d.berth(["network", "create", "n"]).ok();
    let r = d
        .berth([
            "run",
            "--rm",
            "--network",
            "n",
            "--dns-search",
            "corp.example",
            "busybox",
            "cat",
            "/etc/resolv.conf",
        ])
        .ok();
    assert!(r.stdout.starts_with("nameserver 127.0.0.11\n"), "{r:#?}");
    assert!(r.stdout.contains("search corp.example"), "{r:#?}");
}

/// A resolver on loopback answering every A question with 192.0.2.77 (never sent
/// anywhere: the answer only travels back to the daemon that asked).
fn fake_upstream() -> (u16, std::thread::JoinHandle<()>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let h = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            if n < 12 {
                continue;
            }
            // Header: same id, QR=1 RD RA, one question, one answer.
            let mut r = buf[..n].to_vec();
            r[2] = 0x81;
            r[3] = 0x80;
            r[6] = 0;
            r[7] = 1;
            r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 77]);
            // Only A questions get the address; others an empty answer.
            let qtype_at = n - 4;
            if buf[qtype_at] != 0 || buf[qtype_at + 1] != 1 {
                r.truncate(n);
                r[7] = 0;
            }
            let _ = sock.send_to(&r, from);
        }
    });
    (port, h)
}

#[test]
fn embedded_dns_forwards_unknown_names() {
    let (port, _h) = fake_upstream();
    let up = format!("127.0.0.1:{port}");
    let d = daemon_with(&["--embedded-dns-upstream", &up]);
    d.berth(["network", "create", "fw"]).ok();
    d.berth([
        "run",
        "-d",
        "--name",
        "known",
        "--network",
        "fw",
        "busybox",
        "sleep",
        "600",
    ])
    .ok();
    let r = d
        .berth([
            "run",
            "--rm",
            "--network",
            "fw",
            "busybox",
            "nslookup",
            "outside.example",
        ])
        .ok();
    assert!(r.stdout.contains("192.0.2.77"), "{r:#?}");
    // Our own names are answered locally, not forwarded.
    let r = d
        .berth([
            "run",
            "--rm",
            "--network",
            "fw",
            "busybox",
            "nslookup",
            "known",
        ])
        .ok();
    assert!(!r.stdout.contains("192.0.2.77"), "{r:#?}");
    let known = inspect(&d, "known")["NetworkSettings"]["Networks"]["fw"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(r.stdout.contains(&known), "{r:#?}");
}

#[test]
fn nothing_left_behind_after_rm() {
    let d = daemon();
    // A fresh daemon has made nothing yet: the default bridge comes with the first
    // container that needs it.
    assert!(our_rules(&d).is_empty());
    assert!(!std::path::Path::new("/sys/class/net")
        .join(&d.net.bridge)
        .exists());
    d.berth(["run", "--rm", "busybox", "true"]).ok();
    let base_rules = our_rules(&d);
    assert!(base_rules.contains("MASQUERADE"), "{base_rules}");
    d.berth(["network", "create", "--subnet", &d.net.subnet(9), "tmpnet"])
        .ok();
    let bridge = {
        let v = net_inspect(&d, "tmpnet");
        v["Options"]["com.docker.network.bridge.name"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| format!("br-{}", &v["Id"].as_str().unwrap()[..12]))
    };
    assert!(std::path::Path::new("/sys/class/net")
        .join(&bridge)
        .exists());
    let port = free_port();
    d.berth([
        "run",
        "-d",
        "--name",
        "ca",
        "--network",
        "tmpnet",
        "-p",
        &format!("{port}:80"),
        "busybox",
        "sleep",
        "600",
    ])
    .ok();
    d.berth([
        "run",
        "-d",
        "--name",
        "cb",
        "-p",
        "127.0.0.1::80",
        "busybox",
        "sleep",
        "600",
    ])
    .ok();
    assert_eq!(ports_of_bridge(&bridge).len(), 1);
    assert_eq!(ports_of_bridge(&d.net.bridge).len(), 1);
    let rules = our_rules(&d);
    assert!(rules.contains(&format!("--dport {port}")), "{rules}");
    d.berth(["rm", "-f", "ca", "cb"]).ok();
    assert!(d.wait_for(5, || ports_of_bridge(&bridge).is_empty()
        && ports_of_bridge(&d.net.bridge).is_empty()));
    assert!(!our_rules(&d).contains(&format!("--dport {port}")));
    d.berth(["network", "rm", "tmpnet"]).ok();
    assert!(!std::path::Path::new("/sys/class/net")
        .join(&bridge)
        .exists());
    let addrs = sh(&["ip", "-4", "-o", "addr"]);
    assert!(!addrs.contains(&d.net.prefix24(9)), "{addrs}");
    assert_eq!(our_rules(&d), base_rules);
    assert!(TcpListener::bind(("0.0.0.0", port)).is_ok());
    // run --rm leaves no veth either.
    d.berth(["run", "--rm", "busybox", "true"]).ok();
    assert!(d.wait_for(5, || ports_of_bridge(&d.net.bridge).is_empty()));
}

#[test]
fn rules_and_names_back_after_kill9_restart() {
    let mut d = daemon();
    d.berth(["network", "create", "persist"]).ok();
    let lport = free_port();
    let dport = free_port();
    web(
        &d,
        false,
        "srv",
        &[
            "--network",
            "persist",
            "-p",
            &format!("127.0.0.1:{lport}:80"),
            "-p",
            &format!("{dport}:80"),
        ],
        "still-here",
    );
    d.berth([
        "run",
        "-d",
        "--name",
        "cl",
        "--network",
        "persist",
        "busybox",
        "sleep",
        "600",
    ])
    .ok();
    assert!(d.wait_for(10, || http_get(lport).is_some()));
    assert!(our_rules(&d).contains(&format!("--dport {dport}")));
    d.kill9();
    // The rules disappear (a firewall reload, a reboot of the rules): the daemon's
    // restart must bring them back from its state.
    remove_chains(&d.net.chain_prefix);
    assert!(our_rules(&d).is_empty());
    d.restart();
    let rules = our_rules(&d);
    assert!(rules.contains(&format!("--dport {dport}")), "{rules}");
    assert!(rules.contains("MASQUERADE"), "{rules}");
    let mut body = None;
    d.wait_for(10, || {
        body = http_get(lport);
        body.is_some()
    });
    assert_eq!(body.as_deref().map(str::trim), Some("still-here"));
    // The embedded DNS of the running containers is back too.
    let r = d.berth(["exec", "cl", "sh", "-c", &fetch_by_name("srv")]);
    assert_eq!(r.stdout.trim(), "still-here", "{r:#?}");
    // And everything goes away with the containers.
    d.berth(["rm", "-f", "srv", "cl"]).ok();
    assert!(!our_rules(&d).contains(&format!("--dport {dport}")));
}

#[test]
fn network_commands_ls_inspect_rm_prune() {
    let d = daemon();
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1;
    let sub = d.net.subnet(5);
    let id = d
        .berth([
            "network",
            "create",
            "--subnet",
            &sub,
            "--gateway",
            &format!("{}.254", d.net.prefix24(5)),
            "--label",
            "team=a",
            "-o",
            "com.docker.network.driver.mtu=1400",
            "labeled",
        ])
        .ok()
        .stdout
        .trim()
        .to_string();
    assert_eq!(id.len(), 64);
    let ls = d
        .berth([
            "network",
            "ls",
            "--format",
            "{{.Name}} {{.Driver}} {{.Scope}}",
        ])
        .ok();
    for want in [
        "bridge bridge local",
        "host host local",
        "none null local",
        "labeled bridge local",
    ] {
        assert!(ls.stdout.contains(want), "{ls:#?}");
    }
    let table = d.berth(["network", "ls"]).ok();
    assert!(table.stdout.starts_with("NETWORK ID"), "{table:#?}");
    let f = d
        .berth(["network", "ls", "-q", "--filter", "label=team=a"])
        .ok();
    assert_eq!(f.stdout.trim(), &id[..12]);
    let f = d
        .berth([
            "network",
            "ls",
            "--filter",
            "type=custom",
            "--format",
            "{{.Name}}",
        ])
        .ok();
    assert_eq!(f.stdout.trim(), "labeled");
    let v = net_inspect(&d, "labeled");
    assert_eq!(v["IPAM"]["Config"][0]["Subnet"], sub.as_str());
    assert_eq!(
        v["IPAM"]["Config"][0]["Gateway"],
        format!("{}.254", d.net.prefix24(5))
    );
    assert_eq!(v["Labels"]["team"], "a");
    assert_eq!(v["Driver"], "bridge");
    // --ip on a user network, MAC derived from the address.
    let ip = format!("{}.77", d.net.prefix24(5));
    d.berth([
        "run",
        "-d",
        "--name",
        "fixed",
        "--network",
        "labeled",
        "--ip",
        &ip,
        "busybox",
        "sleep",
        "600",
    ])
    .ok();
    let ep = inspect(&d, "fixed")["NetworkSettings"]["Networks"]["labeled"].clone();
    assert_eq!(ep["IPAddress"], ip.as_str());
    assert!(
        ep["MacAddress"].as_str().unwrap().starts_with("02:42:"),
        "{ep}"
    );
    let r = d.berth(["network", "rm", "bridge"]);
    assert!(r.stderr.contains("pre-defined network"), "{r:#?}");
    let r = d.berth(["run", "--rm", "--network", "nosuch", "busybox", "true"]);
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("network nosuch not found"), "{r:#?}");
    d.berth(["network", "create", "unused"]).ok();
    let p = d.berth(["network", "prune", "-f"]).ok();
    assert!(
        p.stdout.contains("unused") && !p.stdout.contains("labeled"),
        "{p:#?}"
    );
    d.berth(["rm", "-f", "fixed"]).ok();
    d.berth(["network", "rm", "labeled"]).ok();
    let ls = d.berth(["network", "ls", "--format", "{{.Name}}"]).ok();
    assert_eq!(
        ls.stdout.split_whitespace().collect::<Vec<_>>(),
        ["bridge", "host", "none"]
    );
    // Network events.
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let ev = d
        .berth([
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &until.to_string(),
            "--filter",
            "type=network",
            "--format",
            "{{.Action}}",
        ])
        .ok();
    assert!(
        ev.stdout.contains("create")
            && ev.stdout.contains("destroy")
            && ev.stdout.contains("connect"),
        "{ev:#?}"
    );
}

#[test]
fn publish_udp_and_port_ranges() {
    let d = daemon();
    // UDP: the host port is held for the container (this busybox has no UDP server
    // to check delivery with; the proxy path is the TCP one's, tested above).
    let up = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    d.berth([
        "run",
        "-d",
        "--name",
        "udp",
        "-p",
        &format!("127.0.0.1:{up}:5353/udp"),
        "busybox",
        "sleep",
        "600",
    ])
    .ok();
    let held = UdpSocket::bind(("127.0.0.1", up));
    assert!(held.is_err(), "the published UDP port is not held");
    let ports = inspect(&d, "udp")["NetworkSettings"]["Ports"].clone();
    assert_eq!(ports["5353/udp"][0]["HostPort"], up.to_string(), "{ports}");
    let r = d.berth(["port", "udp"]).ok();
    assert!(
        r.stdout.contains(&format!("5353/udp -> 127.0.0.1:{up}")),
        "{r:#?}"
    );
    // A range: two host ports for two container ports, in order.
    let p = loop {
        let p = free_port();
        if p < 65000 && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            break p;
        }
    };
    d.berth([
        "run",
        "-d",
        "--name",
        "rng",
        "-p",
        &format!("127.0.0.1:{}-{}:80-81", p, p + 1),
        "busybox",
        "sleep",
        "600",
    ])
    .ok();
    let r = d.berth(["port", "rng"]).ok();
    assert!(
        r.stdout.contains(&format!("80/tcp -> 127.0.0.1:{p}")),
        "{r:#?}"
    );
    assert!(
        r.stdout.contains(&format!("81/tcp -> 127.0.0.1:{}", p + 1)),
        "{r:#?}"
    );
    d.berth(["rm", "-f", "udp", "rng"]).ok();
    // Released with the container.
    assert!(d.wait_for(5, || UdpSocket::bind(("127.0.0.1", up)).is_ok()));
}

#[test]
fn connect_and_disconnect_of_a_stopped_container_apply_at_start() {
    let d = daemon();
    d.berth(["network", "create", "later"]).ok();
    d.berth(["create", "--name", "cs", "busybox", "sleep", "600"])
        .ok();
    d.berth(["network", "connect", "--alias", "late", "later", "cs"])
        .ok();
    let nets = inspect(&d, "cs")["NetworkSettings"]["Networks"].clone();
    assert!(
        nets.get("bridge").is_some() && nets.get("later").is_some(),
        "{nets}"
    );
    d.berth(["start", "cs"]).ok();
    let links = d.berth(["exec", "cs", "ls", "/sys/class/net"]).ok();
    assert!(
        links.stdout.contains("eth0") && links.stdout.contains("eth1"),
        "{links:#?}"
    );
    let ep = inspect(&d, "cs")["NetworkSettings"]["Networks"]["later"].clone();
    let ip = ep["IPAddress"].as_str().unwrap().to_string();
    assert!(!ip.is_empty(), "{ep}");
    let r = d
        .berth([
            "run",
            "--rm",
            "--network",
            "later",
            "busybox",
            "nslookup",
            "late",
        ])
        .ok();
    assert!(r.stdout.contains(&ip), "{r:#?}");
    // Stopped again and disconnected: the next start joins the default bridge only.
    d.berth(["stop", "-t", "0", "cs"]).ok();
    d.berth(["network", "disconnect", "later", "cs"]).ok();
    d.berth(["start", "cs"]).ok();
    let links = d.berth(["exec", "cs", "ls", "/sys/class/net"]).ok();
    assert!(!links.stdout.contains("eth1"), "{links:#?}");
    d.berth(["rm", "-f", "cs"]).ok();
    d.berth(["network", "rm", "later"]).ok();
}
