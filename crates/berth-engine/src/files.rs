//! The per-container `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf`, generated in
//! the container directory and bind-mounted by the runtime.
//!
//! Rules follow Docker: resolv.conf is the host's with loopback nameservers dropped
//! (they cannot be reached from the container's network namespace) and Google's public
//! servers as the fallback when none remain; `--dns*` options replace the respective
//! lines. With `--network host` the host's files are used as they are.

use berth_types::docker::HostConfig;

/// Docker's fallback nameservers.
const FALLBACK_DNS: &[&str] = &["8.8.8.8", "8.8.4.4"];

/// The content of `/etc/hostname`.
pub fn hostname_file(hostname: &str) -> String {
    format!("{hostname}\n")
}

/// The content of `/etc/hosts`. `ip` is the container's address when it has one (no
/// networks yet: the hostname then maps to loopback so `ping $(hostname)` works).
pub fn hosts_file(hostname: &str, domainname: &str, ip: Option<&str>, extra: &[String]) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\n\
         ff00::0\tip6-mcastprefix\n\
         ff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n",
    );
    // `--add-host name:ip` (or `name=ip` in newer clients).
    for e in extra {
        let (name, addr) = match e.split_once('=') {
            Some(p) => p,
            None => match e.split_once(':') {
                Some(p) => p,
                None => continue,
            },
        };
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        s.push_str(&format!("{addr}\t{name}\n"));
    }
    let fqdn = if domainname.is_empty() {
        hostname.to_string()
    } else {
        format!("{hostname}.{domainname} {hostname}")
    };
    s.push_str(&format!("{}\t{fqdn}\n", ip.unwrap_or("127.0.0.1")));
    s
}

fn is_loopback(ns: &str) -> bool {
    ns.starts_with("127.") || ns == "::1"
}

/// The content of `/etc/resolv.conf` from the host's `host` content and the container's
/// DNS options.
pub fn resolv_conf(host: &str, hc: &HostConfig) -> String {
    let dns = hc.dns.clone().unwrap_or_default();
    let search = hc.dns_search.clone().unwrap_or_default();
    let options = hc.dns_options.clone().unwrap_or_default();

    let mut nameservers = Vec::new();
    let mut searches = Vec::new();
    let mut opts = Vec::new();
    let mut other = Vec::new();
    for line in host.lines() {
        let t = line.trim();
        let mut words = t.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(ns) = words.next() {
                    if !is_loopback(ns) {
                        nameservers.push(ns.to_string());
                    }
                }
            }
            Some("search") | Some("domain") => searches = words.map(String::from).collect(),
            Some("options") => opts.extend(words.map(String::from)),
            Some(w) if !w.starts_with('#') && !w.starts_with(';') => other.push(t.to_string()),
            _ => {}
        }
    }
    if !dns.is_empty() {
        nameservers = dns;
    } else if nameservers.is_empty() {
        nameservers = FALLBACK_DNS.iter().map(|s| s.to_string()).collect();
    }
    if !search.is_empty() {
        // `--dns-search .` means: no search domains.
        searches = search.into_iter().filter(|s| s != ".").collect();
    }
    if !options.is_empty() {
        opts = options;
    }

    let mut s = String::new();
    for l in other {
        s.push_str(&l);
        s.push('\n');
    }
    if !searches.is_empty() {
        s.push_str(&format!("search {}\n", searches.join(" ")));
    }
    for ns in nameservers {
        s.push_str(&format!("nameserver {ns}\n"));
    }
    if !opts.is_empty() {
        s.push_str(&format!("options {}\n", opts.join(" ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_drops_loopback_and_falls_back() {
        let host = "# generated\nnameserver 127.0.0.53\nsearch lan\noptions edns0\n";
        let r = resolv_conf(host, &HostConfig::default());
        assert_eq!(
            r,
            "search lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\noptions edns0\n"
        );
        let host = "nameserver 10.0.0.1\nnameserver 127.0.0.1\n";
        assert_eq!(
            resolv_conf(host, &HostConfig::default()),
            "nameserver 10.0.0.1\n"
        );
        let hc = HostConfig {
            dns: Some(vec!["1.1.1.1".into()]),
            dns_search: Some(vec!["example.com".into()]),
            dns_options: Some(vec!["ndots:2".into()]),
            ..Default::default()
        };
        assert_eq!(
            resolv_conf(host, &hc),
            "search example.com\nnameserver 1.1.1.1\noptions ndots:2\n"
        );
    }

    #[test]
    fn hosts_has_localhost_and_hostname() {
        let h = hosts_file("abc123", "", None, &["db:10.0.0.5".to_string()]);
        assert!(h.starts_with("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"));
        assert!(h.contains("10.0.0.5\tdb\n"));
        assert!(h.ends_with("127.0.0.1\tabc123\n"));
        let h = hosts_file("web", "example.com", Some("172.17.0.2"), &[]);
        assert!(h.ends_with("172.17.0.2\tweb.example.com web\n"));
        assert_eq!(hostname_file("x"), "x\n");
    }
}
