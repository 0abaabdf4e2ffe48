//! The `fluentd` driver's options and its forward-protocol messages.
//!
//! Records are sent in Forward mode, `[tag, [[time, record], …], option]`, a batch per
//! write. The record is Docker's: `container_id` (full), `container_name` (`/name`),
//! `source` (`stdout`/`stderr`), `log` (the line without its `\n`), and
//! `partial_message: "true"` on a piece of a longer line. `time` is whole seconds, or
//! an EventTime with `fluentd-sub-second-precision=true`. With
//! `fluentd-request-ack=true` the option map carries a `chunk` id and the batch counts
//! as delivered only when the receiver answers `{"ack": id}`; otherwise it is resent
//! after reconnecting, so a receiver dying mid-stream loses nothing.

use crate::msgpack;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Tcp(String),
    Unix(String),
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub address: Address,
    pub sub_second: bool,
    pub request_ack: bool,
    /// Records queued at most (`fluentd-buffer-limit`).
    pub buffer_limit: usize,
    /// First reconnect delay (`fluentd-retry-wait`).
    pub retry_wait: Duration,
    pub write_timeout: Duration,
}

/// Docker's default buffer limit, in records.
const DEFAULT_BUFFER_LIMIT: usize = 1024 * 1024;

impl Settings {
    pub fn parse(opts: &BTreeMap<String, String>) -> Result<Settings, String> {
        let get = |k: &str| opts.get(k).map(String::as_str);
        let bool_opt = |k: &str| -> Result<bool, String> {
            match get(k) {
                None | Some("") => Ok(false),
                Some(v) => crate::opts::parse_bool(v)
                    .ok_or_else(|| format!("strconv.ParseBool: parsing \"{v}\": invalid syntax")),
            }
        };
        let buffer_limit = match get("fluentd-buffer-limit") {
            None | Some("") => DEFAULT_BUFFER_LIMIT,
            Some(v) => crate::opts::parse_size(v)
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("invalid fluentd-buffer-limit: {v}"))?
                as usize,
        };
        let retry_wait = match get("fluentd-retry-wait") {
            None | Some("") => Duration::from_secs(1),
            Some(v) => {
                parse_duration(v).ok_or_else(|| format!("time: invalid duration \"{v}\""))?
            }
        };
        let write_timeout = match get("fluentd-write-timeout") {
            None | Some("") => Duration::from_secs(5),
            Some(v) => {
                parse_duration(v).ok_or_else(|| format!("time: invalid duration \"{v}\""))?
            }
        };
        if let Some(v) = get("fluentd-max-retries") {
            v.parse::<u64>()
                .map_err(|_| format!("strconv.ParseUint: parsing \"{v}\": invalid syntax"))?;
        }
        bool_opt("fluentd-async")?;
        bool_opt("fluentd-async-connect")?;
        Ok(Settings {
            address: parse_address(get("fluentd-address").unwrap_or(""))?,
            sub_second: bool_opt("fluentd-sub-second-precision")?,
            request_ack: bool_opt("fluentd-request-ack")?,
            buffer_limit,
            retry_wait: retry_wait.max(Duration::from_millis(10)),
            write_timeout,
        })
    }
}

/// Go durations as used in these options: `1s`, `500ms`, `2m`, `1.5s`.
fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    (n >= 0.0 && n.is_finite()).then(|| Duration::from_secs_f64(n * mult))
}

fn parse_address(a: &str) -> Result<Address, String> {
    if a.is_empty() {
        return Ok(Address::Tcp("localhost:24224".into()));
    }
    let full = if a.contains("://") {
        a.to_string()
    } else {
        format!("tcp://{a}")
    };
    let (scheme, rest) = full.split_once("://").unwrap_or(("tcp", a));
    match scheme {
        "unix" => {
            if rest.is_empty() {
                return Err(format!("invalid fluentd-address {a}: path is empty"));
            }
            Ok(Address::Unix(rest.into()))
        }
        "tcp" | "tls" => {
            if scheme == "tls" {
                return Err(format!("invalid fluentd-address {a}: tls is not supported"));
            }
            let host = rest.trim_end_matches('/');
            if host.contains('/') {
                return Err(format!(
                    "invalid fluentd-address {a}: should not contain a path element"
                ));
            }
            let (h, p) = match host.rsplit_once(':') {
                Some((h, p)) if !h.is_empty() || !p.is_empty() => (h, p),
                _ => (host, ""),
            };
            let h = if h.is_empty() { "localhost" } else { h };
            let port: u16 = if p.is_empty() {
                24224
            } else {
                p.parse()
                    .map_err(|_| format!("invalid fluentd-address {a}: invalid port"))?
            };
            Ok(Address::Tcp(format!("{h}:{port}")))
        }
        other => Err(format!(
            "invalid fluentd-address {a}: unsupported scheme: '{other}'"
        )),
    }
}

/// One record of a batch.
pub struct Event<'a> {
    pub stderr: bool,
    pub partial: bool,
    pub time: SystemTime,
    pub line: &'a [u8],
}

/// Encode a Forward-mode message of `events`; `chunk` set when an ack is wanted.
pub fn encode_forward(
    out: &mut Vec<u8>,
    s: &Settings,
    tag: &str,
    container_id: &str,
    container_name: &str,
    events: &[Event<'_>],
    chunk: Option<&str>,
) {
    msgpack::array(out, if chunk.is_some() { 3 } else { 2 });
    msgpack::str(out, tag.as_bytes());
    msgpack::array(out, events.len());
    let name = format!("/{container_name}");
    for e in events {
        msgpack::array(out, 2);
        let d = e
            .time
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        if s.sub_second {
            msgpack::event_time(out, d.as_secs() as u32, d.subsec_nanos());
        } else {
            msgpack::uint(out, d.as_secs());
        }
        msgpack::map(out, if e.partial { 5 } else { 4 });
        msgpack::str(out, b"container_id");
        msgpack::str(out, container_id.as_bytes());
        msgpack::str(out, b"container_name");
        msgpack::str(out, name.as_bytes());
        msgpack::str(out, b"source");
        msgpack::str(out, if e.stderr { b"stderr" } else { b"stdout" });
        msgpack::str(out, b"log");
        msgpack::str(out, e.line);
        if e.partial {
            msgpack::str(out, b"partial_message");
            msgpack::str(out, b"true");
        }
    }
    if let Some(c) = chunk {
        msgpack::map(out, 1);
        msgpack::str(out, b"chunk");
        msgpack::str(out, c.as_bytes());
    }
}

/// Whether `reply` (a msgpack map read from the receiver) acknowledges `chunk`. The
/// reply is `{"ack": "<chunk>"}`; a scan for the id string is enough to check it.
pub fn is_ack(reply: &[u8], chunk: &str) -> bool {
    let mut want = Vec::new();
    msgpack::str(&mut want, b"ack");
    msgpack::str(&mut want, chunk.as_bytes());
    reply.windows(want.len()).any(|w| w == want)
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
    fn addresses_and_options() {
        let s = Settings::parse(&o(&[])).unwrap();
        assert_eq!(s.address, Address::Tcp("localhost:24224".into()));
        let s = Settings::parse(&o(&[("fluentd-address", "127.0.0.1:9000")])).unwrap();
        assert_eq!(s.address, Address::Tcp("127.0.0.1:9000".into()));
        let s = Settings::parse(&o(&[("fluentd-address", "unix:///tmp/f.sock")])).unwrap();
        assert_eq!(s.address, Address::Unix("/tmp/f.sock".into()));
        assert!(Settings::parse(&o(&[("fluentd-address", "udp://x:1")])).is_err());
        assert!(Settings::parse(&o(&[("fluentd-async", "maybe")])).is_err());
        let s = Settings::parse(&o(&[("fluentd-retry-wait", "250ms")])).unwrap();
        assert_eq!(s.retry_wait, Duration::from_millis(250));
    }

    #[test]
    fn forward_message_layout() {
        let s = Settings::parse(&o(&[])).unwrap();
        let mut out = Vec::new();
        let t = std::time::UNIX_EPOCH + Duration::from_secs(100);
        encode_forward(
            &mut out,
            &s,
            "tg",
            "id",
            "n",
            &[Event {
                stderr: false,
                partial: false,
                time: t,
                line: b"hi",
            }],
            Some("c1"),
        );
        // [ "tg", [[100, {…4 pairs}]], {"chunk": "c1"} ]
        assert_eq!(&out[..6], &[0x93, 0xa2, b't', b'g', 0x91, 0x92]);
        assert_eq!(out[6], 100);
        assert_eq!(out[7], 0x84);
        assert!(is_ack(
            &[0x81, 0xa3, b'a', b'c', b'k', 0xa2, b'c', b'1'],
            "c1"
        ));
        assert!(!is_ack(
            &[0x81, 0xa3, b'a', b'c', b'k', 0xa2, b'c', b'2'],
            "c1"
        ));
    }
}
