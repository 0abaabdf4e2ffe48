//! `/etc/resolv.conf` and `/etc/hosts` of a container, per network mode, as Docker
//! writes them. Pure text functions: the engine reads the host's files, calls these and
//! writes the results into the container's bundle (they are bind-mounted).

use std::net::{IpAddr, SocketAddr};

use crate::error::{NetworkError, Result};

/// Which resolv.conf a container gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsMode {
    /// `--network host`: the host's file (with `--dns…` overrides).
    Host,
    /// The default bridge and `none`: the host's nameservers minus loopback ones (they
    /// cannot be reached from the container's netns).
    Copy,
    /// A user-defined network: the embedded server at 127.0.0.11.
    Embedded,
}

/// `--dns`, `--dns-search`, `--dns-option`. Empty means "from the host".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DnsSettings {
    pub servers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

/// The result: file text, and for [`DnsMode::Embedded`] the servers the embedded DNS
/// must forward to for this container (its `--dns` list, else the host's, including
/// loopback ones: forwarding happens in the daemon's netns).
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvConf {
    pub content: String,
    pub upstreams: Vec<SocketAddr>,
}

/// Parsed pieces of a resolv.conf.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct HostResolv {
    pub nameservers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

pub fn parse_resolv_conf(text: &str) -> HostResolv {
    let mut r = HostResolv::default();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("").trim();
        let mut f = line.split_whitespace();
        match f.next() {
            Some("nameserver") => {
                if let Some(Ok(ip)) = f.next().map(|s| s.split('%').next().unwrap_or(s).parse()) {
                    r.nameservers.push(ip);
                }
            }
            Some("search") | Some("domain") => r.search = f.map(String::from).collect(),
            Some("options") => r.options.extend(f.map(String::from)),
            _ => {}
        }
    }
    r
}

/// Docker's fallback when no usable nameserver is left.
const DEFAULT_DNS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

pub fn resolv_conf(host_text: &str, mode: DnsMode, s: &DnsSettings) -> ResolvConf {
    let host = parse_resolv_conf(host_text);
    let search = if s.search.is_empty() {
        host.search.clone()
    } else {
        // `--dns-search .` means "no search domains"
        s.search
            .iter()
            .filter(|d| d.as_str() != ".")
            .cloned()
            .collect()
    };
    let mut options = if s.options.is_empty() {
        host.options.clone()
    } else {
        s.options.clone()
    };
    let mut out = String::new();
    let mut upstreams = Vec::new();
    match mode {
        DnsMode::Embedded => {
            out.push_str("nameserver 127.0.0.11\n");
            let ext = if s.servers.is_empty() {
                &host.nameservers
            } else {
                &s.servers
            };
            upstreams = ext.iter().map(|ip| SocketAddr::new(*ip, 53)).collect();
            if !options.iter().any(|o| o.starts_with("ndots:")) {
                options.insert(0, "ndots:0".into());
            }
        }
        DnsMode::Host | DnsMode::Copy => {
            let mut ns: Vec<IpAddr> = if s.servers.is_empty() {
                host.nameservers.clone()
            } else {
                s.servers.clone()
            };
            if mode == DnsMode::Copy && s.servers.is_empty() {
                ns.retain(|ip| !ip.is_loopback());
                if ns.is_empty() {
                    ns = DEFAULT_DNS.iter().filter_map(|s| s.parse().ok()).collect();
                }
            }
            for ip in ns {
                out.push_str(&format!("nameserver {ip}\n"));
            }
        }
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    ResolvConf {
        content: out,
        upstreams,
    }
}

/// One `--add-host name:ip` entry (`host-gateway` is replaced by the caller's address).
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraHost {
    pub name: String,
    pub ip: IpAddr,
}

/// Parses `name:ip` (also `name=ip`); `host_gateway` stands in for `host-gateway`.
pub fn parse_add_host(s: &str, host_gateway: Option<IpAddr>) -> Result<ExtraHost> {
    let bad = || {
        NetworkError::InvalidArgument(format!("invalid argument \"{s}\" for \"--add-host\" flag: invalid IP address in add-host: \"{s}\""))
    };
    let (name, ip) = s
        .split_once('=')
        .or_else(|| s.split_once(':'))
        .ok_or_else(bad)?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    let ip = if ip == "host-gateway" {
        host_gateway.ok_or_else(|| {
            NetworkError::InvalidArgument("unable to derive the IP value for host-gateway".into())
        })?
    } else {
        ip.parse().map_err(|_| bad())?
    };
    if name.is_empty() {
        return Err(bad());
    }
    Ok(ExtraHost {
        name: name.to_string(),
        ip,
    })
}

const HOSTS_HEAD: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// A container's `/etc/hosts`: the standard loopback lines, `--add-host` entries, and a
/// line for each of its own addresses with its hostname (`hostname.domain` first when
/// a domain is set) and network aliases.
pub fn hosts_file(
    hostname: &str,
    domainname: &str,
    own: &[(IpAddr, Vec<String>)],
    extra: &[ExtraHost],
) -> String {
    let mut out = String::from(HOSTS_HEAD);
    for e in extra {
        out.push_str(&format!("{}\t{}\n", e.ip, e.name));
    }
    for (ip, aliases) in own {
        let mut names = Vec::new();
        if !domainname.is_empty() {
            names.push(format!("{hostname}.{domainname}"));
        }
        names.push(hostname.to_string());
        for a in aliases {
            if !names.contains(a) {
                names.push(a.clone());
            }
        }
        out.push_str(&format!("{ip}\t{}\n", names.join(" ")));
    }
    out
}

/// `--network host`: the host's own file plus `--add-host` entries.
pub fn hosts_file_host_mode(host_hosts: &str, extra: &[ExtraHost]) -> String {
    let mut out = host_hosts.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for e in extra {
        out.push_str(&format!("{}\t{}\n", e.ip, e.name));
    }
    out
}

/// The names of a container's own line: `hostname.domain` (when a domain is set),
/// then `hostname`.
fn own_names(hostname: &str, domainname: &str) -> String {
    if domainname.is_empty() {
        hostname.to_string()
    } else {
        format!("{hostname}.{domainname} {hostname}")
    }
}

/// `network connect` of a running container: its hosts file gains a line for the new
/// address with its hostname, as Docker adds one per joined network. Unchanged when a
/// line for that address is already there.
pub fn hosts_add_own(text: &str, ip: IpAddr, hostname: &str, domainname: &str) -> String {
    let ip_s = ip.to_string();
    if text
        .lines()
        .any(|l| l.split_whitespace().next() == Some(ip_s.as_str()))
    {
        return text.to_string();
    }
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!("{ip_s}\t{}\n", own_names(hostname, domainname)));
    out
}

/// `network disconnect` of a running container: the line of the address it had on
/// that network goes (only a line that names the container's hostname: an
/// `--add-host` entry for the same address stays).
pub fn hosts_remove_own(text: &str, ip: IpAddr, hostname: &str) -> String {
    let ip_s = ip.to_string();
    let mut out = String::with_capacity(text.len());
    for l in text.split_inclusive('\n') {
        let mut f = l.split_whitespace();
        let own = f.next() == Some(ip_s.as_str()) && f.any(|n| n == hostname);
        if !own {
            out.push_str(l);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "# comment\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch corp.example\noptions edns0 trust-ad\n";

    #[test]
    fn copy_mode_drops_loopback() {
        let r = resolv_conf(HOST, DnsMode::Copy, &DnsSettings::default());
        assert_eq!(
            r.content,
            "nameserver 192.0.2.53\nsearch corp.example\noptions edns0 trust-ad\n"
        );
        let r = resolv_conf(
            "nameserver 127.0.0.53\n",
            DnsMode::Copy,
            &DnsSettings::default(),
        );
        assert_eq!(r.content, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
        let s = DnsSettings {
            servers: vec!["10.0.0.1".parse().unwrap()],
            search: vec!["a.example".into()],
            options: vec!["ndots:2".into()],
        };
        let r = resolv_conf(HOST, DnsMode::Copy, &s);
        assert_eq!(
            r.content,
            "nameserver 10.0.0.1\nsearch a.example\noptions ndots:2\n"
        );
        let r = resolv_conf(HOST, DnsMode::Host, &DnsSettings::default());
        assert!(r.content.starts_with("nameserver 127.0.0.53\n"));
    }

    #[test]
    fn embedded_mode() {
        let r = resolv_conf(HOST, DnsMode::Embedded, &DnsSettings::default());
        assert_eq!(
            r.content,
            "nameserver 127.0.0.11\nsearch corp.example\noptions ndots:0 edns0 trust-ad\n"
        );
        assert_eq!(
            r.upstreams,
            vec![
                "127.0.0.53:53".parse().unwrap(),
                "192.0.2.53:53".parse().unwrap()
            ]
        );
        let s = DnsSettings {
            servers: vec!["10.0.0.1".parse().unwrap()],
            ..Default::default()
        };
        let r = resolv_conf(HOST, DnsMode::Embedded, &s);
        assert_eq!(r.upstreams, vec!["10.0.0.1:53".parse().unwrap()]);
        assert!(!r.content.contains("10.0.0.1"));
    }

    #[test]
    fn hosts() {
        let gw: IpAddr = "172.17.0.1".parse().unwrap();
        let e = parse_add_host("db:10.1.2.3", None).unwrap();
        let g = parse_add_host("host.docker.internal:host-gateway", Some(gw)).unwrap();
        assert_eq!(g.ip, gw);
        assert!(parse_add_host("x:notanip", None).is_err());
        let h = hosts_file(
            "abc123",
            "",
            &[("172.17.0.2".parse().unwrap(), vec!["web".into()])],
            &[e, g],
        );
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.contains("10.1.2.3\tdb\n"));
        assert!(h.contains("172.17.0.1\thost.docker.internal\n"));
        assert!(h.ends_with("172.17.0.2\tabc123 web\n"));
        let six = parse_add_host("v6:[::1]", None).unwrap();
        assert_eq!(six.ip, "::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn live_connect_adds_and_disconnect_removes_own_lines() {
        let base = hosts_file("abc123", "", &[("10.0.0.2".parse().unwrap(), vec![])], &[]);
        let ip: IpAddr = "10.0.1.2".parse().unwrap();
        let added = hosts_add_own(&base, ip, "abc123", "");
        assert!(
            added.ends_with("10.0.0.2\tabc123\n10.0.1.2\tabc123\n"),
            "{added}"
        );
        // Twice: one line.
        assert_eq!(hosts_add_own(&added, ip, "abc123", ""), added);
        let fq = hosts_add_own(&base, ip, "abc123", "example.org");
        assert!(
            fq.ends_with("10.0.1.2\tabc123.example.org abc123\n"),
            "{fq}"
        );
        // Only that address's own line goes; an --add-host entry for it stays.
        let with_extra = format!("{added}10.0.1.2\tdb\n");
        let removed = hosts_remove_own(&with_extra, ip, "abc123");
        assert_eq!(removed, format!("{base}10.0.1.2\tdb\n"));
        assert_eq!(hosts_remove_own(&base, ip, "abc123"), base);
    }
}
