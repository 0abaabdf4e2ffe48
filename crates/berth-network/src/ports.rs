//! Published ports (`-p`): parsing Docker's publish syntax, binding the host sockets and
//! the userland proxy that forwards them to the container.
//!
//! Binding the host socket first is what detects a port in use (Docker's "port is
//! already allocated"), reserves it against other containers, and serves 127.0.0.1,
//! which DNAT cannot reach without `route_localnet`. The DNAT rules of
//! [`crate::firewall`] carry the traffic to the host's other addresses and from outside;
//! the proxy takes whatever reaches the socket (loopback, hairpin).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Mutex;
use tokio::task::{JoinHandle, JoinSet};

use crate::error::{NetworkError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// One requested publication: a container port and where on the host to expose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSpec {
    pub protocol: Protocol,
    pub container_port: u16,
    /// `None`: all IPv4 addresses (0.0.0.0).
    pub host_ip: Option<IpAddr>,
    /// First and last acceptable host port; `0`/`0` picks a free ephemeral port, a range
    /// takes its first free port (Docker's `-p 8000-8010:80`).
    pub host_port_start: u16,
    pub host_port_end: u16,
}

/// A publication in effect: the answer of `docker port` and `NetworkSettings.Ports`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    pub protocol: Protocol,
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_ip: IpAddr,
    pub container_port: u16,
}

fn bad(s: &str) -> NetworkError {
    NetworkError::InvalidArgument(format!("invalid port specification: \"{s}\""))
}

fn parse_range(s: &str, orig: &str) -> Result<(u16, u16)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u16 = a.parse().map_err(|_| bad(orig))?;
    let b: u16 = b.parse().map_err(|_| bad(orig))?;
    if a == 0 || b < a {
        return Err(bad(orig));
    }
    Ok((a, b))
}

/// Parses `-p [ip:][hostport[-end]:]containerport[-end][/tcp|/udp]`.
pub fn parse_publish(s: &str) -> Result<Vec<PortSpec>> {
    let (body, proto) = match s.rsplit_once('/') {
        Some((b, "tcp")) => (b, Protocol::Tcp),
        Some((b, "udp")) => (b, Protocol::Udp),
        Some(_) => return Err(bad(s)),
        None => (s, Protocol::Tcp),
    };
    // An IPv6 host address is written in brackets.
    let (ip, rest) = if let Some(r) = body.strip_prefix('[') {
        let (ip, rest) = r.split_once("]:").ok_or_else(|| bad(s))?;
        (Some(ip), rest)
    } else {
        let parts: Vec<&str> = body.split(':').collect();
        match parts.len() {
            1 | 2 => (None, body),
            3 => (Some(parts[0]), &body[parts[0].len() + 1..]),
            _ => return Err(bad(s)),
        }
    };
    let host_ip = match ip {
        Some(ip) if !ip.is_empty() => Some(ip.parse::<IpAddr>().map_err(|_| bad(s))?),
        _ => None,
    };
    let (host, cont) = match rest.split_once(':') {
        Some((h, c)) => (h, c),
        None => ("", rest),
    };
    let (c0, c1) = parse_range(cont, s)?;
    let (h0, h1) = if host.is_empty() {
        (0, 0)
    } else {
        parse_range(host, s)?
    };
    let n = c1 - c0;
    let mut out = Vec::new();
    if host.is_empty() {
        for c in c0..=c1 {
            out.push(PortSpec {
                protocol: proto,
                container_port: c,
                host_ip,
                host_port_start: 0,
                host_port_end: 0,
            });
        }
    } else if n == 0 {
        out.push(PortSpec {
            protocol: proto,
            container_port: c0,
            host_ip,
            host_port_start: h0,
            host_port_end: h1,
        });
    } else if h1 - h0 == n {
        for i in 0..=n {
            out.push(PortSpec {
                protocol: proto,
                container_port: c0 + i,
                host_ip,
                host_port_start: h0 + i,
                host_port_end: h0 + i,
            });
        }
    } else {
        return Err(NetworkError::InvalidArgument(format!(
            "invalid ranges specified for container and host Ports: {cont} and {host}"
        )));
    }
    Ok(out)
}

/// One entry of the API's `HostConfig.PortBindings`: key `"80/tcp"`, `HostIp`, `HostPort`
/// (`""` = random, `"8080"`, or a range `"8000-8010"` of which the first free is taken).
pub fn from_binding(key: &str, host_ip: &str, host_port: &str) -> Result<PortSpec> {
    let (port, proto) = match key.split_once('/') {
        Some((p, "tcp")) => (p, Protocol::Tcp),
        Some((p, "udp")) => (p, Protocol::Udp),
        Some(_) => return Err(bad(key)),
        None => (key, Protocol::Tcp),
    };
    let container_port: u16 = port.parse().map_err(|_| bad(key))?;
    let host_ip = match host_ip.trim_start_matches('[').trim_end_matches(']') {
        "" => None,
        ip => Some(ip.parse::<IpAddr>().map_err(|_| {
            NetworkError::InvalidArgument(format!("invalid host IP address: {ip}"))
        })?),
    };
    let (host_port_start, host_port_end) = if host_port.is_empty() || host_port == "0" {
        (0, 0)
    } else {
        parse_range(host_port, host_port)?
    };
    Ok(PortSpec {
        protocol: proto,
        container_port,
        host_ip,
        host_port_start,
        host_port_end,
    })
}

/// A bound host socket, not yet serving.
pub(crate) enum Bound {
    Tcp(std::net::TcpListener),
    Udp(std::net::UdpSocket),
}

fn bind_one(proto: Protocol, addr: SocketAddr) -> std::io::Result<Bound> {
    match proto {
        Protocol::Tcp => std::net::TcpListener::bind(addr).map(Bound::Tcp),
        Protocol::Udp => std::net::UdpSocket::bind(addr).map(Bound::Udp),
    }
}

impl Bound {
    fn port(&self) -> std::io::Result<u16> {
        match self {
            Bound::Tcp(l) => l.local_addr().map(|a| a.port()),
            Bound::Udp(u) => u.local_addr().map(|a| a.port()),
        }
    }
}

/// Binds every spec; on any failure everything bound so far is closed (dropped) and the
/// error names the endpoint as Docker does.
pub(crate) fn bind_all(
    specs: &[PortSpec],
    container_ip: IpAddr,
    endpoint: &str,
    endpoint_id: &str,
) -> Result<Vec<(PortMapping, Bound)>> {
    let mut out: Vec<(PortMapping, Bound)> = Vec::new();
    for spec in specs {
        let host_ip = spec.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let in_use = |port: u16| NetworkError::PortAllocated {
            endpoint: endpoint.to_string(),
            id: endpoint_id.to_string(),
            addr: SocketAddr::new(host_ip, port).to_string(),
        };
        let bound = if spec.host_port_start == 0 {
            // Port 0: the kernel picks a free port from ip_local_port_range, the same
            // ephemeral range Docker draws from.
            bind_one(spec.protocol, SocketAddr::new(host_ip, 0))
                .map_err(|e| NetworkError::io(format!("bind {host_ip}:0"), e))?
        } else {
            let mut found = None;
            let mut last_err = None;
            for port in spec.host_port_start..=spec.host_port_end {
                match bind_one(spec.protocol, SocketAddr::new(host_ip, port)) {
                    Ok(b) => {
                        found = Some(b);
                        break;
                    }
                    Err(e) => last_err = Some(e),
                }
            }
            match (found, last_err) {
                (Some(b), _) => b,
                (None, Some(e)) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    return Err(in_use(spec.host_port_start))
                }
                (None, e) => {
                    return Err(NetworkError::io(
                        format!("bind {host_ip}:{}", spec.host_port_start),
                        e.unwrap_or_else(|| std::io::Error::other("no port")),
                    ))
                }
            }
        };
        let host_port = bound
            .port()
            .map_err(|e| NetworkError::io("local address of a published port", e))?;
        out.push((
            PortMapping {
                protocol: spec.protocol,
                host_ip,
                host_port,
                container_ip,
                container_port: spec.container_port,
            },
            bound,
        ));
    }
    Ok(out)
}

/// The forwarding tasks of one published port; dropping it closes the host socket and
/// every forwarded connection.
pub struct ProxyHandle(JoinHandle<()>);

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Buffer per direction of a proxied TCP connection: the 8 KiB default costs one
/// wakeup per 8 KiB; 128 KiB moves bulk transfers in far fewer rounds.
const PROXY_BUF: usize = 128 * 1024;

/// How long a UDP "connection" of the proxy lives without traffic.
const UDP_IDLE: Duration = Duration::from_secs(90);

pub(crate) fn serve(mapping: PortMapping, bound: Bound) -> Result<ProxyHandle> {
    let target = SocketAddr::new(mapping.container_ip, mapping.container_port);
    let task = match bound {
        Bound::Tcp(l) => {
            l.set_nonblocking(true)
                .map_err(|e| NetworkError::io("set nonblocking", e))?;
            let l = TcpListener::from_std(l).map_err(|e| NetworkError::io("proxy listener", e))?;
            tokio::spawn(tcp_proxy(l, target))
        }
        Bound::Udp(u) => {
            u.set_nonblocking(true)
                .map_err(|e| NetworkError::io("set nonblocking", e))?;
            let u = UdpSocket::from_std(u).map_err(|e| NetworkError::io("proxy socket", e))?;
            tokio::spawn(udp_proxy(Arc::new(u), target))
        }
    };
    Ok(ProxyHandle(task))
}

async fn tcp_proxy(l: TcpListener, target: SocketAddr) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = l.accept() => {
                let Ok((mut inbound, _)) = accepted else { continue };
                conns.spawn(async move {
                    if let Ok(mut out) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional_with_sizes(
                            &mut inbound,
                            &mut out,
                            PROXY_BUF,
                            PROXY_BUF,
                        )
                        .await;
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn udp_proxy(sock: Arc<UdpSocket>, target: SocketAddr) {
    let sessions: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>> = Arc::default();
    let mut tasks = JoinSet::new();
    let mut buf = vec![0u8; 65536];
    loop {
        tokio::select! {
            r = sock.recv_from(&mut buf) => {
                let Ok((n, client)) = r else { continue };
                let existing = sessions.lock().await.get(&client).cloned();
                let up = match existing {
                    Some(up) => up,
                    None => {
                        let bind: SocketAddr = if target.is_ipv4() {
                            (Ipv4Addr::UNSPECIFIED, 0).into()
                        } else {
                            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                        };
                        let Ok(up) = UdpSocket::bind(bind).await else { continue };
                        if up.connect(target).await.is_err() {
                            continue;
                        }
                        let up = Arc::new(up);
                        sessions.lock().await.insert(client, up.clone());
                        let (up2, sock2, sessions2) = (up.clone(), sock.clone(), sessions.clone());
                        tasks.spawn(async move {
                            let mut b = vec![0u8; 65536];
                            while let Ok(Ok(n)) = tokio::time::timeout(UDP_IDLE, up2.recv(&mut b)).await {
                                let _ = sock2.send_to(&b[..n], client).await;
                            }
                            sessions2.lock().await.remove(&client);
                        });
                        up
                    }
                };
                let _ = up.send(&buf[..n]).await;
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_syntax() {
        let p = parse_publish("8080:80").unwrap();
        assert_eq!(
            p,
            vec![PortSpec {
                protocol: Protocol::Tcp,
                container_port: 80,
                host_ip: None,
                host_port_start: 8080,
                host_port_end: 8080
            }]
        );
        let p = parse_publish("127.0.0.1:53:53/udp").unwrap();
        assert_eq!(p[0].protocol, Protocol::Udp);
        assert_eq!(p[0].host_ip, Some("127.0.0.1".parse().unwrap()));
        let p = parse_publish("127.0.0.1::80").unwrap();
        assert_eq!((p[0].host_port_start, p[0].container_port), (0, 80));
        let p = parse_publish("80").unwrap();
        assert_eq!((p[0].host_port_start, p[0].host_port_end), (0, 0));
        let p = parse_publish("8000-8002:80-82").unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!((p[2].host_port_start, p[2].container_port), (8002, 82));
        let p = parse_publish("8000-8010:80").unwrap();
        assert_eq!((p[0].host_port_start, p[0].host_port_end), (8000, 8010));
        assert_eq!(parse_publish("80-81").unwrap().len(), 2);
        let p = parse_publish("[::1]:8080:80").unwrap();
        assert_eq!(p[0].host_ip, Some("::1".parse().unwrap()));
        assert!(parse_publish("8000-8001:80-83").is_err());
        assert!(parse_publish("80/sctpx").is_err());
        assert!(parse_publish("abc").is_err());
        assert!(parse_publish("1:2:3:4").is_err());
        let b = from_binding("53/udp", "127.0.0.1", "").unwrap();
        assert_eq!(
            (b.protocol, b.container_port, b.host_port_start),
            (Protocol::Udp, 53, 0)
        );
        let b = from_binding("80", "", "8000-8010").unwrap();
        assert_eq!(
            (b.host_port_start, b.host_port_end, b.host_ip),
            (8000, 8010, None)
        );
        assert!(from_binding("80/sctp", "", "").is_err());
        assert!(from_binding("80/tcp", "nope", "").is_err());
    }
}
