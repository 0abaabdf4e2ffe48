//! NAT, isolation and published-port rules with iptables (docs/adr/0006 says why
//! iptables and not a table of our own in nftables).
//!
//! All rules live in chains of our own, named from a prefix (`BERTH` by default, so
//! `BERTH`, `BERTH-FORWARD`, `BERTH-ISOLATION-1`, `BERTH-ISOLATION-2`,
//! `BERTH-POSTROUTING`), reached by one jump each from the built-in chains. Their
//! content is a pure function of [`FirewallInput`] ([`render`]): every change rewrites
//! all our chains in one atomic `iptables-restore --noflush` run, so re-applying after a
//! daemon restart is idempotent and nothing stale survives. [`Firewall::remove_all`]
//! deletes the jumps and the chains when no network needs them any more.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{NetworkError, Result};
use crate::ipam::Ipv4Net;
use crate::ports::{PortMapping, Protocol};

/// What the rules are made from: one entry per bridge network, one per published port.
#[derive(Debug, Clone, Default)]
pub struct FirewallInput {
    pub networks: Vec<FwNetwork>,
    pub ports: Vec<FwPort>,
}

#[derive(Debug, Clone)]
pub struct FwNetwork {
    pub bridge: String,
    pub subnet: Ipv4Net,
    pub internal: bool,
    pub icc: bool,
    pub masquerade: bool,
}

#[derive(Debug, Clone)]
pub struct FwPort {
    pub bridge: String,
    pub mapping: PortMapping,
}

/// The chains of one prefix.
#[derive(Debug, Clone)]
pub struct Chains {
    /// nat: DNAT of published ports; filter: accepts for them.
    pub ports: String,
    pub forward: String,
    pub isolation1: String,
    pub isolation2: String,
    pub postrouting: String,
}

impl Chains {
    pub fn new(prefix: &str) -> Chains {
        Chains {
            ports: prefix.to_string(),
            forward: format!("{prefix}-FORWARD"),
            isolation1: format!("{prefix}-ISOLATION-1"),
            isolation2: format!("{prefix}-ISOLATION-2"),
            postrouting: format!("{prefix}-POSTROUTING"),
        }
    }

    fn filter(&self) -> [&str; 4] {
        [
            &self.ports,
            &self.forward,
            &self.isolation1,
            &self.isolation2,
        ]
    }
    fn nat(&self) -> [&str; 2] {
        [&self.ports, &self.postrouting]
    }

    /// (table, built-in chain, rule) of the jumps into our chains.
    fn jumps(&self) -> Vec<(&'static str, &'static str, Vec<String>)> {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        vec![
            ("filter", "FORWARD", s(&["-j", &self.forward])),
            (
                "nat",
                "PREROUTING",
                s(&["-m", "addrtype", "--dst-type", "LOCAL", "-j", &self.ports]),
            ),
            (
                "nat",
                "OUTPUT",
                s(&[
                    "!",
                    "-d",
                    "127.0.0.0/8",
                    "-m",
                    "addrtype",
                    "--dst-type",
                    "LOCAL",
                    "-j",
                    &self.ports,
                ]),
            ),
            ("nat", "POSTROUTING", s(&["-j", &self.postrouting])),
        ]
    }
}

fn proto(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// The `iptables-restore` input for `input` (both tables).
pub fn render(chains: &Chains, input: &FirewallInput) -> String {
    let mut f = String::new();
    let mut n = String::new();
    let c = chains;
    let _ = writeln!(f, "*filter");
    for ch in c.filter() {
        let _ = writeln!(f, ":{ch} - [0:0]");
    }
    let _ = writeln!(f, "-A {} -j {}", c.forward, c.isolation1);
    for net in &input.networks {
        let (b, s) = (&net.bridge, net.subnet);
        let _ = writeln!(f, "-A {} -o {b} -j {}", c.forward, c.ports);
        if !net.internal {
            let _ = writeln!(
                f,
                "-A {} -o {b} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                c.forward
            );
            let _ = writeln!(f, "-A {} -i {b} ! -o {b} -j ACCEPT", c.forward);
        }
        let icc = if net.icc { "ACCEPT" } else { "DROP" };
        let _ = writeln!(f, "-A {} -i {b} -o {b} -j {icc}", c.forward);
        if net.internal {
            let _ = writeln!(f, "-A {} ! -s {s} -o {b} -j DROP", c.isolation1);
            let _ = writeln!(f, "-A {} ! -d {s} -i {b} -j DROP", c.isolation1);
        }
        let _ = writeln!(f, "-A {} -i {b} ! -o {b} -j {}", c.isolation1, c.isolation2);
        let _ = writeln!(f, "-A {} -o {b} -j DROP", c.isolation2);
    }
    let _ = writeln!(f, "-A {} -j RETURN", c.isolation1);
    let _ = writeln!(f, "-A {} -j RETURN", c.isolation2);

    let _ = writeln!(n, "*nat");
    for ch in c.nat() {
        let _ = writeln!(n, ":{ch} - [0:0]");
    }
    for net in &input.networks {
        // Traffic from our own bridges is never DNATed here: hairpin goes through the
        // userland proxy, as with Docker's default.
        let _ = writeln!(n, "-A {} -i {} -j RETURN", c.ports, net.bridge);
        if net.masquerade && !net.internal {
            let _ = writeln!(
                n,
                "-A {} -s {} ! -o {} -j MASQUERADE",
                c.postrouting, net.subnet, net.bridge
            );
        }
    }
    for p in &input.ports {
        let m = &p.mapping;
        let IpAddr::V4(cip) = m.container_ip else {
            continue;
        };
        let pr = proto(m.protocol);
        let dst = match m.host_ip {
            IpAddr::V4(ip) if ip != Ipv4Addr::UNSPECIFIED => format!(" -d {ip}/32"),
            _ => String::new(),
        };
        let _ = writeln!(
            n,
            "-A {} ! -i {b}{dst} -p {pr} -m {pr} --dport {hp} -j DNAT --to-destination {cip}:{cp}",
            c.ports,
            b = p.bridge,
            hp = m.host_port,
            cp = m.container_port
        );
        let _ = writeln!(
            f,
            "-A {} -d {cip}/32 ! -i {b} -o {b} -p {pr} -m {pr} --dport {cp} -j ACCEPT",
            c.ports,
            b = p.bridge,
            cp = m.container_port
        );
    }
    let _ = writeln!(f, "COMMIT");
    let _ = writeln!(n, "COMMIT");
    f + &n
}

/// Applies rendered rules and manages the jumps into them.
#[derive(Debug, Clone)]
pub struct Firewall {
    chains: Chains,
    /// The jumps were checked since the last [`Firewall::remove_all`]: later applies are
    /// one `iptables-restore` run, nothing more (a `run -p` stays cheap).
    jumps_checked: Arc<AtomicBool>,
}

impl Firewall {
    pub fn new(prefix: &str) -> Firewall {
        Firewall {
            chains: Chains::new(prefix),
            jumps_checked: Arc::default(),
        }
    }

    pub fn chains(&self) -> &Chains {
        &self.chains
    }

    /// Rewrites all our chains from `input` and makes sure the jumps exist.
    pub fn apply(&self, input: &FirewallInput) -> Result<()> {
        let text = render(&self.chains, input);
        retry(|| restore(&text))?;
        if self.jumps_checked.load(Ordering::Acquire) {
            return Ok(());
        }
        for (table, chain, rule) in self.chains.jumps() {
            let mut check = vec!["-t", table, "-C", chain];
            check.extend(rule.iter().map(String::as_str));
            if iptables(&check).is_err() {
                let mut ins = vec!["-t", table, "-I", chain, "1"];
                ins.extend(rule.iter().map(String::as_str));
                retry(|| iptables(&ins).map(drop))?;
            }
        }
        self.jumps_checked.store(true, Ordering::Release);
        Ok(())
    }

    /// Deletes the jumps and our chains. Missing ones are fine.
    pub fn remove_all(&self) -> Result<()> {
        self.jumps_checked.store(false, Ordering::Release);
        for (table, chain, rule) in self.chains.jumps() {
            let mut del = vec!["-t", table, "-D", chain];
            del.extend(rule.iter().map(String::as_str));
            // A jump may have been added twice by hand; delete until none is left.
            for _ in 0..16 {
                if iptables(&del).is_err() {
                    break;
                }
            }
        }
        for (table, chains) in [
            ("filter", self.chains.filter().to_vec()),
            ("nat", self.chains.nat().to_vec()),
        ] {
            for ch in &chains {
                let _ = iptables(&["-t", table, "-F", ch]);
            }
            for ch in &chains {
                let _ = iptables(&["-t", table, "-X", ch]);
            }
        }
        Ok(())
    }

    /// Whether any of our chains exists (for tests and diagnostics).
    pub fn any_chain_exists(&self) -> bool {
        self.chains
            .filter()
            .iter()
            .any(|c| iptables(&["-t", "filter", "-S", c]).is_ok())
            || self
                .chains
                .nat()
                .iter()
                .any(|c| iptables(&["-t", "nat", "-S", c]).is_ok())
    }
}

/// Rules inside a container's netns that send its DNS traffic for 127.0.0.11:53 to the
/// embedded server's real ports (`udp_port`, `tcp_port`, both on 127.0.0.11), and
/// rewrite the answers' source port back to 53. The server does not bind port 53
/// itself, so a container may run its own DNS server on 0.0.0.0:53.
pub fn dns_redirect_rules(prefix: &str, udp_port: u16, tcp_port: u16, with_jumps: bool) -> String {
    let out = format!("{prefix}-DNS-OUTPUT");
    let post = format!("{prefix}-DNS-POSTROUTING");
    let mut t = format!("*nat\n:{out} - [0:0]\n:{post} - [0:0]\n");
    if with_jumps {
        let _ = writeln!(t, "-A OUTPUT -d 127.0.0.11/32 -j {out}");
        let _ = writeln!(t, "-A POSTROUTING -d 127.0.0.11/32 -j {post}");
    }
    for (p, port) in [("udp", udp_port), ("tcp", tcp_port)] {
        let _ = writeln!(
            t,
            "-A {out} -d 127.0.0.11/32 -p {p} -m {p} --dport 53 -j DNAT --to-destination 127.0.0.11:{port}"
        );
        let _ = writeln!(
            t,
            "-A {post} -s 127.0.0.11/32 -p {p} -m {p} --sport {port} -j SNAT --to-source :53"
        );
    }
    t.push_str("COMMIT\n");
    t
}

/// Installs [`dns_redirect_rules`] in the current thread's netns (call it on a thread
/// that joined the container's netns: child processes inherit the namespace). Jumps are
/// added only when missing, so re-installing after a daemon restart is idempotent.
pub fn install_dns_redirect(prefix: &str, udp_port: u16, tcp_port: u16) -> Result<()> {
    let out = format!("{prefix}-DNS-OUTPUT");
    // Fresh namespace (the common case): one process. Otherwise check the jump first.
    let has_jump = iptables(&["-t", "nat", "-S", &out]).is_ok()
        && iptables(&[
            "-t",
            "nat",
            "-C",
            "OUTPUT",
            "-d",
            "127.0.0.11/32",
            "-j",
            &out,
        ])
        .is_ok();
    retry(|| restore(&dns_redirect_rules(prefix, udp_port, tcp_port, !has_jump)))
}

fn retry(mut f: impl FnMut() -> Result<()>) -> Result<()> {
    let mut last = Ok(());
    for i in 0..5 {
        last = f();
        if last.is_ok() {
            return last;
        }
        // nf_tables transactions of concurrent callers can collide; try again shortly.
        std::thread::sleep(std::time::Duration::from_millis(20 * (i + 1)));
    }
    last
}

fn restore(text: &str) -> Result<()> {
    let mut child = Command::new("iptables-restore")
        .args(["-w", "--noflush"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| NetworkError::io("run iptables-restore", e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| NetworkError::io("write to iptables-restore", e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetworkError::io("wait for iptables-restore", e))?;
    if !out.status.success() {
        return Err(NetworkError::Firewall(format!(
            "iptables-restore: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Runs `iptables -w ARGS`; stderr becomes the error text.
pub fn iptables(args: &[&str]) -> Result<String> {
    let out = Command::new("iptables")
        .arg("-w")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| NetworkError::io("run iptables", e))?;
    if !out.status.success() {
        return Err(NetworkError::Firewall(format!(
            "iptables {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_has_isolation_nat_and_ports() {
        let input = FirewallInput {
            networks: vec![
                FwNetwork {
                    bridge: "br-a".into(),
                    subnet: "10.1.0.0/24".parse().unwrap(),
                    internal: false,
                    icc: true,
                    masquerade: true,
                },
                FwNetwork {
                    bridge: "br-b".into(),
                    subnet: "10.2.0.0/24".parse().unwrap(),
                    internal: true,
                    icc: false,
                    masquerade: true,
                },
            ],
            ports: vec![FwPort {
                bridge: "br-a".into(),
                mapping: PortMapping {
                    protocol: Protocol::Udp,
                    host_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    host_port: 5353,
                    container_ip: IpAddr::V4(Ipv4Addr::new(10, 1, 0, 2)),
                    container_port: 53,
                },
            }],
        };
        let t = render(&Chains::new("XY"), &input);
        assert!(t.contains("-A XY-POSTROUTING -s 10.1.0.0/24 ! -o br-a -j MASQUERADE"));
        assert!(
            !t.contains("-s 10.2.0.0/24 ! -o br-b -j MASQUERADE"),
            "internal: no NAT"
        );
        assert!(
            t.contains("-A XY-FORWARD -i br-b -o br-b -j DROP"),
            "icc off"
        );
        assert!(t.contains("-A XY-ISOLATION-2 -o br-a -j DROP"));
        assert!(t.contains("-A XY-ISOLATION-1 -i br-b ! -o br-b -j XY-ISOLATION-2"));
        assert!(t.contains(
            "-A XY ! -i br-a -p udp -m udp --dport 5353 -j DNAT --to-destination 10.1.0.2:53"
        ));
        assert_eq!(t.matches("COMMIT").count(), 2);
    }
}
