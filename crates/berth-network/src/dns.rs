//! The embedded DNS server of user-defined networks (`nameserver 127.0.0.11`).
//!
//! One [`Resolver`] per daemon holds the names of every endpoint (container name,
//! hostname, network aliases, short id). Each container on a user network gets a
//! [`DnsServer`]: UDP and TCP sockets on 127.0.0.11 *inside the container's netns*
//! (created on a thread that joined it; port 53 is redirected to them by iptables rules
//! in that netns), served by tasks of the daemon's runtime.
//! A container sees the names of the networks it is attached to; several endpoints with
//! one name answer all their addresses, rotated per query (round robin). Other names are
//! forwarded, from the daemon's own netns, to the upstream resolvers (the container's
//! `--dns` list, else the daemon's list); internal networks never forward.
//!
//! The wire format is handled here directly: a query has one question, answers are A
//! or PTR records, everything else about a local name is an empty NOERROR.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use crate::error::{NetworkError, Result};
use crate::netns::run_in_netns;

/// The address the embedded server listens on inside containers.
pub const DNS_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
const TTL: u32 = 600;
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);

const TYPE_A: u16 = 1;
const TYPE_PTR: u16 = 12;
const RCODE_SERVFAIL: u8 = 2;
const RCODE_NXDOMAIN: u8 = 3;

/// The names one endpoint answers to on one network.
#[derive(Debug, Clone)]
pub struct DnsEndpoint {
    pub container_id: String,
    pub network_id: String,
    /// Lowercase, no trailing dot. The first one is the PTR answer.
    pub names: Vec<String>,
    pub ip: Ipv4Addr,
    /// An internal network: no forwarding for its containers.
    pub internal: bool,
}

#[derive(Default)]
struct Table {
    endpoints: Vec<DnsEndpoint>,
    upstreams_of: HashMap<String, Vec<SocketAddr>>,
}

/// Names of all endpoints and the upstream servers; shared by every [`DnsServer`].
pub struct Resolver {
    table: RwLock<Table>,
    upstreams: RwLock<Vec<SocketAddr>>,
    rotation: AtomicUsize,
}

/// What a lookup found.
#[derive(Debug, PartialEq)]
pub enum Answer {
    /// Local name; the list may be empty (the name exists, not with this type).
    Local(Vec<Ipv4Addr>),
    Ptr(String),
    /// Not ours: ask the upstreams (empty: answer NXDOMAIN).
    Forward(Vec<SocketAddr>),
    NxDomain,
}

fn norm(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Resolver {
    pub fn new(upstreams: Vec<SocketAddr>) -> Arc<Resolver> {
        Arc::new(Resolver {
            table: RwLock::default(),
            upstreams: RwLock::new(upstreams),
            rotation: AtomicUsize::new(0),
        })
    }

    pub fn set_upstreams(&self, upstreams: Vec<SocketAddr>) {
        // A poisoned lock only means a panic elsewhere mid-write of a Vec; the data is
        // still a valid Vec, so keep serving.
        *self.upstreams.write().unwrap_or_else(|e| e.into_inner()) = upstreams;
    }

    /// Per-container upstreams (`--dns` on a user network); empty = the daemon's.
    pub fn set_container_upstreams(&self, container_id: &str, upstreams: Vec<SocketAddr>) {
        let mut t = self.table.write().unwrap_or_else(|e| e.into_inner());
        if upstreams.is_empty() {
            t.upstreams_of.remove(container_id);
        } else {
            t.upstreams_of.insert(container_id.to_string(), upstreams);
        }
    }

    pub fn add(&self, mut ep: DnsEndpoint) {
        ep.names = ep
            .names
            .iter()
            .map(|n| norm(n))
            .filter(|n| !n.is_empty())
            .collect();
        ep.names.dedup();
        let mut t = self.table.write().unwrap_or_else(|e| e.into_inner());
        t.endpoints
            .retain(|e| !(e.container_id == ep.container_id && e.network_id == ep.network_id));
        t.endpoints.push(ep);
    }

    pub fn remove(&self, container_id: &str, network_id: &str) {
        let mut t = self.table.write().unwrap_or_else(|e| e.into_inner());
        t.endpoints
            .retain(|e| !(e.container_id == container_id && e.network_id == network_id));
        if !t.endpoints.iter().any(|e| e.container_id == container_id) {
            t.upstreams_of.remove(container_id);
        }
    }

    /// Answers `name`/`qtype` as seen from `container_id`.
    pub fn lookup(&self, container_id: &str, name: &str, qtype: u16) -> Answer {
        let name = norm(name);
        let t = self.table.read().unwrap_or_else(|e| e.into_inner());
        let mine: Vec<&DnsEndpoint> = t
            .endpoints
            .iter()
            .filter(|e| e.container_id == container_id)
            .collect();
        let nets: Vec<&str> = mine.iter().map(|e| e.network_id.as_str()).collect();
        let visible = || {
            t.endpoints
                .iter()
                .filter(|e| nets.contains(&e.network_id.as_str()))
        };
        if qtype == TYPE_PTR {
            if let Some(ip) = parse_reverse(&name) {
                if let Some(e) = visible().find(|e| e.ip == ip) {
                    if let Some(n) = e.names.first() {
                        return Answer::Ptr(n.clone());
                    }
                }
            }
        }
        let mut ips: Vec<Ipv4Addr> = Vec::new();
        let mut found = false;
        for e in visible() {
            if e.names.contains(&name) {
                found = true;
                if !ips.contains(&e.ip) {
                    ips.push(e.ip);
                }
            }
        }
        if found {
            if qtype != TYPE_A {
                return Answer::Local(Vec::new());
            }
            if ips.len() > 1 {
                let k = self.rotation.fetch_add(1, Ordering::Relaxed) % ips.len();
                ips.rotate_left(k);
            }
            return Answer::Local(ips);
        }
        if mine.iter().any(|e| e.internal) {
            return Answer::NxDomain;
        }
        let ups = t
            .upstreams_of
            .get(container_id)
            .cloned()
            .unwrap_or_else(|| {
                self.upstreams
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
            });
        if ups.is_empty() {
            Answer::NxDomain
        } else {
            Answer::Forward(ups)
        }
    }

    /// Handles one wire-format query; `None` means "drop it" (garbage).
    pub async fn handle(&self, container_id: &str, query: &[u8], tcp: bool) -> Option<Vec<u8>> {
        let q = parse_query(query)?;
        match self.lookup(container_id, &q.name, q.qtype) {
            Answer::Local(ips) => Some(reply(query, &q, 0, &ips, None)),
            Answer::Ptr(n) => Some(reply(query, &q, 0, &[], Some(&n))),
            Answer::NxDomain => Some(reply(query, &q, RCODE_NXDOMAIN, &[], None)),
            Answer::Forward(ups) => {
                for up in ups {
                    let r = if tcp {
                        forward_tcp(up, query).await
                    } else {
                        forward_udp(up, query).await
                    };
                    if let Ok(r) = r {
                        return Some(r);
                    }
                }
                Some(reply(query, &q, RCODE_SERVFAIL, &[], None))
            }
        }
    }
}

/// `4.3.2.1.in-addr.arpa` → 1.2.3.4
fn parse_reverse(name: &str) -> Option<Ipv4Addr> {
    let rest = name.strip_suffix(".in-addr.arpa")?;
    let mut o: Vec<u8> = rest
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if o.len() != 4 {
        return None;
    }
    o.reverse();
    Some(Ipv4Addr::new(o[0], o[1], o[2], o[3]))
}

/// The question of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    pub name: String,
    pub qtype: u16,
    /// Byte offset just past the question (header + question).
    end: usize,
}

/// Parses a standard query with exactly one question.
pub fn parse_query(m: &[u8]) -> Option<Question> {
    if m.len() < 12 || m[2] & 0x80 != 0 || u16::from_be_bytes([m[4], m[5]]) != 1 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *m.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        if len & 0xC0 != 0 {
            return None; // no compression in a question
        }
        labels.push(String::from_utf8_lossy(m.get(i..i + len)?).into_owned());
        i += len;
    }
    let qtype = u16::from_be_bytes([*m.get(i)?, *m.get(i + 1)?]);
    m.get(i + 3)?;
    Some(Question {
        name: labels.join("."),
        qtype,
        end: i + 4,
    })
}

fn encode_name(out: &mut Vec<u8>, name: &str) {
    for l in name.split('.').filter(|l| !l.is_empty()) {
        let b = &l.as_bytes()[..l.len().min(63)];
        out.push(b.len() as u8);
        out.extend_from_slice(b);
    }
    out.push(0);
}

/// A response to `query`: header and question copied, `rcode`, A records for `ips` or
/// one PTR record naming `ptr`.
fn reply(query: &[u8], q: &Question, rcode: u8, ips: &[Ipv4Addr], ptr: Option<&str>) -> Vec<u8> {
    let mut out = Vec::with_capacity(q.end + 16 * ips.len() + 64);
    out.extend_from_slice(&query[..2]);
    // QR=1, opcode and RD copied; AA=1 for our own names; RA=1.
    let aa = if rcode == 0 { 0x04 } else { 0 };
    out.push(0x80 | (query[2] & 0x79) | aa);
    out.push(0x80 | (rcode & 0x0F));
    let an = (ips.len() + usize::from(ptr.is_some())) as u16;
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&an.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&query[12..q.end]);
    for ip in ips {
        out.extend_from_slice(&[0xC0, 0x0C]); // name: pointer to the question
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&ip.octets());
    }
    if let Some(n) = ptr {
        let mut rd = Vec::new();
        encode_name(&mut rd, n);
        out.extend_from_slice(&[0xC0, 0x0C]);
        out.extend_from_slice(&TYPE_PTR.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&(rd.len() as u16).to_be_bytes());
        out.extend_from_slice(&rd);
    }
    out
}

async fn forward_udp(up: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
    let bind: SocketAddr = if up.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = UdpSocket::bind(bind).await?;
    s.connect(up).await?;
    s.send(query).await?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = tokio::time::timeout(UPSTREAM_TIMEOUT, s.recv(&mut buf))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        // Only the answer to this query id counts.
        if n >= 12 && buf[..2] == query[..2] {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn forward_tcp(up: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
    let work = async {
        let mut s = TcpStream::connect(up).await?;
        s.write_all(&(query.len() as u16).to_be_bytes()).await?;
        s.write_all(query).await?;
        read_tcp_msg(&mut s).await
    };
    tokio::time::timeout(UPSTREAM_TIMEOUT, work)
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

async fn read_tcp_msg(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).await?;
    Ok(buf)
}

/// The embedded server of one container; dropping it closes its sockets.
pub struct DnsServer {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl DnsServer {
    /// Binds 127.0.0.11:53 (UDP and TCP) inside the netns at `netns` and serves queries
    /// of `container_id` from `resolver`. Must be called inside a tokio runtime; the
    /// container's `lo` must be up.
    ///
    /// Like Docker, the sockets take random ports on 127.0.0.11 and iptables rules in
    /// the netns (chains named from `chain_prefix`) redirect port 53 to them, leaving
    /// port 53 free for the container's own use.
    pub fn start(
        netns: &Path,
        container_id: &str,
        resolver: Arc<Resolver>,
        chain_prefix: &str,
    ) -> Result<DnsServer> {
        let addr = SocketAddr::from((DNS_ADDR, 0));
        let prefix = chain_prefix.to_string();
        let (udp, tcp) = run_in_netns(netns, move || {
            let u = std::net::UdpSocket::bind(addr)
                .map_err(|e| NetworkError::io(format!("bind dns udp {addr}"), e))?;
            let t = std::net::TcpListener::bind(addr)
                .map_err(|e| NetworkError::io(format!("bind dns tcp {addr}"), e))?;
            let port = |a: std::io::Result<SocketAddr>| {
                a.map(|a| a.port())
                    .map_err(|e| NetworkError::io("dns socket address", e))
            };
            let (up, tp) = (port(u.local_addr())?, port(t.local_addr())?);
            crate::firewall::install_dns_redirect(&prefix, up, tp)?;
            Ok((u, t))
        })?;
        udp.set_nonblocking(true)
            .and_then(|_| tcp.set_nonblocking(true))
            .map_err(|e| NetworkError::io("dns sockets nonblocking", e))?;
        let udp = Arc::new(UdpSocket::from_std(udp).map_err(|e| NetworkError::io("dns udp", e))?);
        let tcp = TcpListener::from_std(tcp).map_err(|e| NetworkError::io("dns tcp", e))?;
        let id: Arc<str> = Arc::from(container_id);

        let (r, i) = (resolver.clone(), id.clone());
        let udp_task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                    continue;
                };
                let q = buf[..n].to_vec();
                let (r, i, udp) = (r.clone(), i.clone(), udp.clone());
                // Each query on its own task: a slow upstream must not stall local names.
                tokio::spawn(async move {
                    if let Some(resp) = r.handle(&i, &q, false).await {
                        let _ = udp.send_to(&resp, peer).await;
                    }
                });
            }
        });
        let tcp_task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = tcp.accept().await else {
                    continue;
                };
                let (r, i) = (resolver.clone(), id.clone());
                tokio::spawn(async move {
                    while let Ok(Ok(q)) =
                        tokio::time::timeout(Duration::from_secs(10), read_tcp_msg(&mut s)).await
                    {
                        let Some(resp) = r.handle(&i, &q, true).await else {
                            break;
                        };
                        let mut out = (resp.len() as u16).to_be_bytes().to_vec();
                        out.extend_from_slice(&resp);
                        if s.write_all(&out).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Ok(DnsServer {
            tasks: vec![udp_task, tcp_task],
        })
    }
}

/// Builds a query (tests, health checks).
pub fn build_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    encode_name(&mut m, name);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m
}

/// Reads the rcode and the A addresses of a response (tests, health checks).
pub fn parse_response(m: &[u8]) -> Option<(u8, Vec<Ipv4Addr>)> {
    let q = parse_query_any(m)?;
    let rcode = m[3] & 0x0F;
    let an = u16::from_be_bytes([m[6], m[7]]);
    let mut i = q;
    let mut ips = Vec::new();
    for _ in 0..an {
        // name: a pointer or labels
        loop {
            let l = *m.get(i)?;
            if l & 0xC0 == 0xC0 {
                i += 2;
                break;
            }
            i += 1 + l as usize;
            if l == 0 {
                break;
            }
        }
        let ty = u16::from_be_bytes([*m.get(i)?, *m.get(i + 1)?]);
        let len = u16::from_be_bytes([*m.get(i + 8)?, *m.get(i + 9)?]) as usize;
        let data = m.get(i + 10..i + 10 + len)?;
        if ty == TYPE_A && len == 4 {
            ips.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        }
        i += 10 + len;
    }
    Some((rcode, ips))
}

fn parse_query_any(m: &[u8]) -> Option<usize> {
    if m.len() < 12 {
        return None;
    }
    let mut i = 12;
    loop {
        let len = *m.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        i += len;
    }
    Some(i + 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(c: &str, n: &str, names: &[&str], ip: [u8; 4]) -> DnsEndpoint {
        DnsEndpoint {
            container_id: c.into(),
            network_id: n.into(),
            names: names.iter().map(|s| s.to_string()).collect(),
            ip: ip.into(),
            internal: false,
        }
    }

    #[test]
    fn lookup_scopes_names_to_shared_networks() {
        let up: SocketAddr = "127.0.0.1:5300".parse().unwrap();
        let r = Resolver::new(vec![up]);
        r.add(ep("a", "n1", &["web", "Alias"], [10, 0, 0, 2]));
        r.add(ep("b", "n1", &["db", "alias"], [10, 0, 0, 3]));
        r.add(ep("c", "n2", &["other"], [10, 1, 0, 2]));
        assert_eq!(
            r.lookup("b", "WEB.", TYPE_A),
            Answer::Local(vec![[10, 0, 0, 2].into()])
        );
        assert_eq!(r.lookup("b", "other", TYPE_A), Answer::Forward(vec![up]));
        assert_eq!(r.lookup("a", "web", 28), Answer::Local(vec![]));
        let first = |a| match a {
            Answer::Local(v) => v[0],
            x => panic!("{x:?}"),
        };
        let x = first(r.lookup("a", "alias", TYPE_A));
        let y = first(r.lookup("a", "alias", TYPE_A));
        assert_ne!(x, y, "round robin");
        assert_eq!(
            r.lookup("a", "3.0.0.10.in-addr.arpa", TYPE_PTR),
            Answer::Ptr("db".into())
        );
        r.remove("b", "n1");
        assert_eq!(r.lookup("a", "db", TYPE_A), Answer::Forward(vec![up]));
    }

    #[test]
    fn wire_roundtrip() {
        let q = build_query(0x1234, "web.example", TYPE_A);
        let parsed = parse_query(&q).unwrap();
        assert_eq!(parsed.name, "web.example");
        let resp = reply(
            &q,
            &parsed,
            0,
            &[[10, 0, 0, 9].into(), [10, 0, 0, 8].into()],
            None,
        );
        assert_eq!(&resp[..2], &[0x12, 0x34]);
        assert_eq!(
            parse_response(&resp).unwrap(),
            (0, vec![[10, 0, 0, 9].into(), [10, 0, 0, 8].into()])
        );
        let nx = reply(&q, &parsed, RCODE_NXDOMAIN, &[], None);
        assert_eq!(parse_response(&nx).unwrap(), (3, vec![]));
        assert!(parse_query(&resp).is_none(), "a response is not a query");
        assert!(parse_query(&q[..14]).is_none());
    }
}
