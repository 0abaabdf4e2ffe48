//! The `syslog` driver's options and message formats.
//!
//! Formats (`syslog-format`), as Docker writes them:
//! - empty (default): `<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG` (no host name)
//! - `rfc3164`: `<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`
//! - `rfc5424`: `<PRI>1 2024-05-01T12:34:56+02:00 HOST TAG PID TAG - MSG` (the tag is
//!   also the MSGID, which rsyslog shows as `%syslogtag%`)
//! - `rfc5424micro`: the same with microseconds in the timestamp.
//!
//! Every message ends with `\n`. Severity is `info` for stdout and `err` for stderr;
//! the facility is `syslog-facility` (default `daemon`). PID is the shim's (Docker
//! puts the daemon's there; per container is more useful).

use std::collections::BTreeMap;
use std::time::SystemTime;

const FACILITIES: &[(&str, u8)] = &[
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// Where messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Udp(String),
    Tcp(String),
    /// `unix://`: a stream socket, or a datagram one when the path is that (`/dev/log`).
    Unix(String),
    Unixgram(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Unix,
    Rfc3164,
    Rfc5424,
    Rfc5424Micro,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub address: Address,
    pub facility: u8,
    pub format: Format,
}

impl Settings {
    /// Parse and check the options. `Err` holds Docker's text.
    pub fn parse(opts: &BTreeMap<String, String>) -> Result<Settings, String> {
        let get = |k: &str| opts.get(k).map(String::as_str).unwrap_or("");
        Ok(Settings {
            address: parse_address(get("syslog-address"))?,
            facility: parse_facility(get("syslog-facility"))?,
            format: match get("syslog-format") {
                "" => Format::Unix,
                "rfc3164" => Format::Rfc3164,
                "rfc5424" => Format::Rfc5424,
                "rfc5424micro" => Format::Rfc5424Micro,
                _ => return Err("Invalid syslog format".into()),
            },
        })
    }
}

fn parse_address(a: &str) -> Result<Address, String> {
    if a.is_empty() {
        return Ok(Address::Unixgram("/dev/log".into()));
    }
    let bad = || format!("syslog-address should be in form proto://address, got {a}");
    let (scheme, rest) = a.split_once("://").ok_or_else(bad)?;
    match scheme {
        "unix" | "unixgram" => {
            if let Err(e) = std::fs::metadata(rest) {
                return Err(format!("stat {rest}: {}", go_errno(&e)));
            }
            Ok(if scheme == "unix" {
                Address::Unix(rest.into())
            } else {
                Address::Unixgram(rest.into())
            })
        }
        "tcp" | "udp" => {
            let host = rest.split('/').next().unwrap_or("");
            if host.is_empty() {
                return Err(bad());
            }
            // `[v6]` or `host` without a port: syslog's 514.
            let has_port = match host.rsplit_once(':') {
                Some((h, p)) => !p.is_empty() && (!h.contains(':') || h.ends_with(']')),
                None => false,
            };
            let hp = if has_port {
                host.to_string()
            } else {
                format!("{host}:514")
            };
            Ok(if scheme == "tcp" {
                Address::Tcp(hp)
            } else {
                Address::Udp(hp)
            })
        }
        "tcp+tls" => Err("syslog-address: tcp+tls is not supported".into()),
        _ => Err(bad()),
    }
}

/// Go's lower-case errno texts for the stat error.
fn go_errno(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

fn parse_facility(f: &str) -> Result<u8, String> {
    if f.is_empty() {
        return Ok(3);
    }
    if let Some((_, v)) = FACILITIES.iter().find(|(n, _)| *n == f) {
        return Ok(*v);
    }
    match f.parse::<u8>() {
        Ok(n) if n <= 23 => Ok(n),
        _ => Err("invalid syslog facility".into()),
    }
}

/// Local broken-down time and UTC offset in seconds.
fn local_time(t: SystemTime) -> (libc::tm, i64, u32) {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as libc::time_t;
    // SAFETY: an all-zero tm is a valid value for localtime_r to overwrite.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to valid, live locals; localtime_r is thread-safe.
    unsafe { libc::localtime_r(&secs, &mut tm) };
    let off = tm.tm_gmtoff;
    (tm, off, d.subsec_nanos())
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Jan _2 15:04:05` (Go's time.Stamp).
fn stamp(t: SystemTime) -> String {
    let (tm, _, _) = local_time(t);
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// RFC 3339 in local time, with `micro` 6 fraction digits trimmed of trailing zeros.
fn rfc3339(t: SystemTime, micro: bool) -> String {
    let (tm, off, nanos) = local_time(t);
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    );
    if micro {
        let frac = format!("{:06}", nanos / 1000);
        let frac = frac.trim_end_matches('0');
        if !frac.is_empty() {
            s.push('.');
            s.push_str(frac);
        }
    }
    if off == 0 {
        s.push('Z');
    } else {
        let sign = if off < 0 { '-' } else { '+' };
        let a = off.abs();
        s.push_str(&format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60));
    }
    s
}

/// One message with its trailing `\n`.
#[allow(clippy::too_many_arguments)]
pub fn format_message(
    out: &mut Vec<u8>,
    s: &Settings,
    stderr: bool,
    time: SystemTime,
    hostname: &str,
    tag: &str,
    pid: u32,
    msg: &[u8],
) {
    let pri = s.facility as u32 * 8 + if stderr { 3 } else { 6 };
    let head = match s.format {
        Format::Unix => format!("<{pri}>{} {tag}[{pid}]: ", stamp(time)),
        Format::Rfc3164 => format!("<{pri}>{} {hostname} {tag}[{pid}]: ", stamp(time)),
        Format::Rfc5424 | Format::Rfc5424Micro => format!(
            "<{pri}>1 {} {hostname} {tag} {pid} {tag} - ",
            rfc3339(time, s.format == Format::Rfc5424Micro)
        ),
    };
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(msg);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options_parse_with_docker_errors() {
        let s = Settings::parse(&o(&[("syslog-address", "udp://127.0.0.1")])).unwrap();
        assert_eq!(s.address, Address::Udp("127.0.0.1:514".into()));
        assert_eq!(s.facility, 3);
        let s = Settings::parse(&o(&[
            ("syslog-address", "tcp://[::1]:601"),
            ("syslog-facility", "local3"),
            ("syslog-format", "rfc5424"),
        ]))
        .unwrap();
        assert_eq!(s.address, Address::Tcp("[::1]:601".into()));
        assert_eq!((s.facility, s.format), (19, Format::Rfc5424));
        assert_eq!(
            Settings::parse(&o(&[("syslog-address", "127.0.0.1:514")])).unwrap_err(),
            "syslog-address should be in form proto://address, got 127.0.0.1:514"
        );
        assert_eq!(
            Settings::parse(&o(&[("syslog-facility", "nope")])).unwrap_err(),
            "invalid syslog facility"
        );
        assert_eq!(
            Settings::parse(&o(&[("syslog-format", "x")])).unwrap_err(),
            "Invalid syslog format"
        );
        assert_eq!(
            Settings::parse(&o(&[("syslog-address", "unix:///nonexistent/sock")])).unwrap_err(),
            "stat /nonexistent/sock: no such file or directory"
        );
    }

    #[test]
    fn messages_have_docker_shapes() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_250);
        let mut s = Settings::parse(&o(&[("syslog-address", "udp://127.0.0.1:1")])).unwrap();
        let mut out = Vec::new();
        format_message(&mut out, &s, false, t, "h", "tg", 7, b"hello");
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("<30>Nov "), "{text}");
        assert!(text.ends_with(" tg[7]: hello\n"), "{text}");
        s.format = Format::Rfc5424Micro;
        let mut out = Vec::new();
        format_message(&mut out, &s, true, t, "h", "tg", 7, b"oops");
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("<27>1 2023-11-1"), "{text}");
        assert!(text.contains(":20.25"), "{text}");
        assert!(text.ends_with(" h tg 7 tg - oops\n"), "{text}");
    }
}
