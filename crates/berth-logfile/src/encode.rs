//! Encoding and decoding of single json-file records (one line each).
//!
//! Encoding is hand-written so the shim formats a record without building a JSON value:
//! fields in Docker's order (`log`, `stream`, `time`), strings escaped as Docker's encoder
//! does (HTML-sensitive `<`, `>`, `&` and U+2028/U+2029 as `\uXXXX`, invalid UTF-8 as
//! U+FFFD). Decoding uses serde_json and returns `None` for anything that does not parse.
//!
//! The `local` format (Berth's compact one) is line based too, so rotation, `--tail`
//! scanning and following work on both formats unchanged:
//! `<kind><unix nanos> <raw bytes>\n`, where `kind` is `o`/`e` for a stdout/stderr line
//! whose trailing `\n` was dropped, `O`/`E` for a piece without one (a 16 KiB part of a
//! long line, or the last unfinished line). The bytes need no escaping: records are cut
//! at `\n`, so a payload never holds one. About 21 bytes of overhead per line instead of
//! ~60 in json-file, invalid UTF-8 is kept as is, and decoding is a scan, not a parse.
//! [`decode_record`] tells the formats apart by the first byte (`{` is json-file).

use crate::{Entry, Stream};
use serde::Deserialize;

/// Append one record (with its trailing `\n`) to `out`.
pub(crate) fn encode_record(out: &mut Vec<u8>, stream: Stream, time_text: &str, bytes: &[u8]) {
    out.extend_from_slice(b"{\"log\":\"");
    // Valid UTF-8 (nearly always) is checked with the fast validator; only invalid
    // bytes pay for the lossy conversion.
    match std::str::from_utf8(bytes) {
        Ok(s) => escape_into(out, s),
        Err(_) => escape_into(out, &String::from_utf8_lossy(bytes)),
    }
    out.extend_from_slice(b"\",\"stream\":\"");
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(b"\",\"time\":\"");
    out.extend_from_slice(time_text.as_bytes());
    out.extend_from_slice(b"\"}\n");
}

/// Bytes that may need escaping: controls, `"`, `\\`, `<`, `>`, `&`, and 0xE2 (the lead
/// byte of U+2028/U+2029).
static SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'&' as usize] = true;
    t[0xe2] = true;
    t
};

fn escape_into(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Byte-wise: in UTF-8 every byte of a multi-byte character is >= 0x80, so ASCII
    // bytes are whole characters; U+2028/U+2029 are E2 80 A8/A9.
    let b = s.as_bytes();
    out.reserve(b.len() + 8);
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        // Skip plain bytes with a table lookup each (the common case).
        while i < b.len() && !SPECIAL[b[i] as usize] {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let c = b[i];
        let (esc, len): (Option<&[u8]>, usize) = match c {
            b'"' => (Some(b"\\\""), 1),
            b'\\' => (Some(b"\\\\"), 1),
            b'\n' => (Some(b"\\n"), 1),
            b'\r' => (Some(b"\\r"), 1),
            b'\t' => (Some(b"\\t"), 1),
            0..=0x1f | b'<' | b'>' | b'&' => (None, 1),
            0xe2 if b.get(i + 1) == Some(&0x80) && matches!(b.get(i + 2), Some(0xa8 | 0xa9)) => {
                (None, 3)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&b[start..i]);
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => {
                let v: u32 = if len == 3 {
                    0x2000 + b[i + 2] as u32 - 0xa8 + 0x28
                } else {
                    c as u32
                };
                out.extend_from_slice(b"\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(HEX[((v >> shift) & 0xf) as usize]);
                }
            }
        }
        i += len;
        start = i;
    }
    out.extend_from_slice(&b[start..]);
}

/// Append one `local` record (with its trailing `\n`) to `out`.
pub(crate) fn encode_local(out: &mut Vec<u8>, stream: Stream, nanos: i128, bytes: &[u8]) {
    let (body, complete) = match bytes.split_last() {
        Some((b'\n', body)) => (body, true),
        _ => (bytes, false),
    };
    out.push(match (stream, complete) {
        (Stream::Stdout, true) => b'o',
        (Stream::Stderr, true) => b'e',
        (Stream::Stdout, false) => b'O',
        (Stream::Stderr, false) => b'E',
    });
    // itoa by hand: the shim formats one number per line.
    let mut digits = [0u8; 40];
    let mut n = nanos.max(0) as u128;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.push(b' ');
    out.extend_from_slice(body);
    out.push(b'\n');
}

fn decode_local(line: &[u8]) -> Option<Entry> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let (&kind, rest) = line.split_first()?;
    let (stream, complete) = match kind {
        b'o' => (Stream::Stdout, true),
        b'e' => (Stream::Stderr, true),
        b'O' => (Stream::Stdout, false),
        b'E' => (Stream::Stderr, false),
        _ => return None,
    };
    let sp = rest.iter().position(|&b| b == b' ')?;
    if sp == 0 || sp > 39 {
        return None;
    }
    let mut nanos: u128 = 0;
    for &d in &rest[..sp] {
        if !d.is_ascii_digit() {
            return None;
        }
        nanos = nanos.checked_mul(10)?.checked_add((d - b'0') as u128)?;
    }
    let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
    let time =
        std::time::UNIX_EPOCH + std::time::Duration::new(secs, (nanos % 1_000_000_000) as u32);
    let mut bytes = Vec::with_capacity(rest.len() - sp);
    bytes.extend_from_slice(&rest[sp + 1..]);
    if complete {
        bytes.push(b'\n');
    }
    Some(Entry {
        stream,
        time,
        time_text: String::new(),
        line: bytes,
    })
}

/// The records this crate writes have one shape, `{"log":"…","stream":"…","time":"…"}`:
/// read that shape with a scan (several times faster than a JSON parser, which matters
/// for `logs` of a large log). Anything else (other key order, extra keys) is `None`
/// and goes to serde_json.
fn decode_fast(line: &[u8]) -> Option<Entry> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let rest = line.strip_prefix(b"{\"log\":\"")?;
    let mut log = Vec::with_capacity(rest.len().min(256));
    let mut i = 0;
    loop {
        // Copy the run up to the next quote or backslash at once.
        let run = rest[i..].iter().position(|&b| b == b'"' || b == b'\\')?;
        log.extend_from_slice(&rest[i..i + run]);
        i += run;
        if rest[i] == b'"' {
            break;
        }
        let esc = *rest.get(i + 1)?;
        i += 2;
        match esc {
            b'"' => log.push(b'"'),
            b'\\' => log.push(b'\\'),
            b'/' => log.push(b'/'),
            b'n' => log.push(b'\n'),
            b'r' => log.push(b'\r'),
            b't' => log.push(b'\t'),
            b'b' => log.push(8),
            b'f' => log.push(12),
            b'u' => {
                let mut c = hex4(rest.get(i..i + 4)?)?;
                i += 4;
                if (0xd800..0xdc00).contains(&c) {
                    // A surrogate pair: the low half must follow.
                    if rest.get(i..i + 2)? != b"\\u" {
                        return None;
                    }
                    let lo = hex4(rest.get(i + 2..i + 6)?)?;
                    if !(0xdc00..0xe000).contains(&lo) {
                        return None;
                    }
                    i += 6;
                    c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
                }
                let ch = char::from_u32(c)?;
                let mut b = [0u8; 4];
                log.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
            }
            _ => return None,
        }
    }
    let rest = &rest[i + 1..];
    let (stream, rest) = if let Some(r) = rest.strip_prefix(b",\"stream\":\"stdout\",\"time\":\"") {
        (Stream::Stdout, r)
    } else {
        (
            Stream::Stderr,
            rest.strip_prefix(b",\"stream\":\"stderr\",\"time\":\"")?,
        )
    };
    let time_text = std::str::from_utf8(rest.strip_suffix(b"\"}")?).ok()?;
    if time_text.contains('"') {
        return None;
    }
    Some(Entry {
        stream,
        time: parse_time(time_text)?,
        time_text: time_text.to_string(),
        line: log,
    })
}

thread_local! {
    /// The date-and-seconds part of the last time parsed and its unix seconds: records
    /// written in the same second share it, so most times only need their fraction.
    static LAST_SECOND: std::cell::Cell<([u8; 19], u64)> = const { std::cell::Cell::new(([0; 19], 0)) };
}

/// The writer's `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, with a one-entry cache of the
/// seconds; any other form goes to the general parser.
fn parse_time(t: &str) -> Option<std::time::SystemTime> {
    let b = t.as_bytes();
    if b.len() == 30 && b[19] == b'.' && b[29] == b'Z' {
        let mut nanos = 0u32;
        for &d in &b[20..29] {
            if !d.is_ascii_digit() {
                return berth_types::time::parse_rfc3339(t);
            }
            nanos = nanos * 10 + (d - b'0') as u32;
        }
        let (prefix, secs) = LAST_SECOND.with(|c| c.get());
        let secs = if prefix[..] == b[..19] {
            secs
        } else {
            let whole = berth_types::time::parse_rfc3339(&format!("{}Z", &t[..19]))?;
            let secs = whole.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
            let mut p = [0u8; 19];
            p.copy_from_slice(&b[..19]);
            LAST_SECOND.with(|c| c.set((p, secs)));
            secs
        };
        return Some(std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos));
    }
    berth_types::time::parse_rfc3339(t)
}

fn hex4(h: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(h).ok()?;
    u32::from_str_radix(s, 16).ok()
}

#[derive(Deserialize)]
struct Record {
    log: String,
    stream: String,
    time: String,
}

/// Parse one line (without or with its trailing `\n`). `None` when it is not a record.
/// Either format: `local` records are told apart by their first byte. A `local`
/// entry's `time_text` is left empty (format `time` when needed).
pub(crate) fn decode_record(line: &[u8]) -> Option<Entry> {
    if line.first() != Some(&b'{') {
        return decode_local(line);
    }
    if let Some(e) = decode_fast(line) {
        return Some(e);
    }
    let rec: Record = serde_json::from_slice(line).ok()?;
    let stream = Stream::parse(&rec.stream)?;
    let time = berth_types::time::parse_rfc3339(&rec.time)?;
    Some(Entry {
        stream,
        time,
        time_text: rec.time,
        line: rec.log.into_bytes(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_docker_and_round_trips() {
        let mut out = Vec::new();
        let text = "a\"b\\c<d>&e\tf\u{1}\u{2028}é\n";
        encode_record(
            &mut out,
            Stream::Stderr,
            "2024-05-01T12:34:56.123456789Z",
            text.as_bytes(),
        );
        let s = String::from_utf8(out.clone()).unwrap();
        assert_eq!(
            s,
            "{\"log\":\"a\\\"b\\\\c\\u003cd\\u003e\\u0026e\\tf\\u0001\\u2028é\\n\",\
             \"stream\":\"stderr\",\"time\":\"2024-05-01T12:34:56.123456789Z\"}\n"
        );
        let e = decode_record(&out).unwrap();
        assert_eq!(e.line, text.as_bytes());
        assert_eq!(e.stream, Stream::Stderr);
        assert_eq!(e.time_text, "2024-05-01T12:34:56.123456789Z");
    }

    #[test]
    fn cached_time_parse_agrees_with_the_general_one() {
        for t in [
            "2024-05-01T12:34:56.123456789Z",
            "2024-05-01T12:34:56.000000001Z",
            "2024-05-01T12:34:57.999999999Z",
            "1999-12-31T23:59:59.5Z",
            "2024-05-01T12:34:56+02:00",
        ] {
            assert_eq!(parse_time(t), berth_types::time::parse_rfc3339(t), "{t}");
            assert_eq!(
                parse_time(t),
                berth_types::time::parse_rfc3339(t),
                "{t} cached"
            );
        }
        assert_eq!(parse_time("2024-05-01T12:34:56.12345678xZ"), None);
    }

    #[test]
    fn fast_path_agrees_with_serde() {
        let texts: [&[u8]; 5] = [
            b"plain\n",
            "q\"b\\s/<>&\u{1}\u{2028}\u{1F600}\t\r\n".as_bytes(),
            b"",
            b"no newline",
            "\u{7f}\u{ff}\u{ffff}".as_bytes(),
        ];
        for t in texts {
            let mut out = Vec::new();
            encode_record(
                &mut out,
                Stream::Stderr,
                "2024-05-01T12:34:56.123456789Z",
                t,
            );
            let fast = decode_fast(&out).unwrap();
            let rec: Record = serde_json::from_slice(&out).unwrap();
            assert_eq!(fast.line, rec.log.into_bytes());
            assert_eq!(fast.time_text, rec.time);
            assert_eq!(fast.stream, Stream::Stderr);
        }
        // Docker's own escapes the encoder never writes still decode.
        let line = br#"{"log":"a\/b\u00e9\ud83d\ude00\b","stream":"stdout","time":"2024-05-01T12:34:56Z"}"#;
        assert_eq!(
            decode_fast(line).unwrap().line,
            "a/b\u{e9}\u{1F600}\u{8}".as_bytes()
        );
        // Other shapes fall back to serde.
        assert!(
            decode_fast(br#"{"stream":"stdout","log":"x","time":"2024-05-01T12:34:56Z"}"#)
                .is_none()
        );
        assert!(
            decode_record(br#"{"stream":"stdout","log":"x","time":"2024-05-01T12:34:56Z"}"#)
                .is_some()
        );
        assert!(decode_fast(
            br#"{"log":"\ud800","stream":"stdout","time":"2024-05-01T12:34:56Z"}"#
        )
        .is_none());
    }

    #[test]
    fn invalid_utf8_becomes_replacement() {
        let mut out = Vec::new();
        encode_record(
            &mut out,
            Stream::Stdout,
            "2024-05-01T12:34:56.000000000Z",
            b"a\xffb",
        );
        assert_eq!(decode_record(&out).unwrap().line, "a\u{fffd}b".as_bytes());
    }

    #[test]
    fn local_records_round_trip() {
        let mut out = Vec::new();
        encode_local(
            &mut out,
            Stream::Stdout,
            1_700_000_000_123_456_789,
            b"a b\xff\r\n",
        );
        encode_local(&mut out, Stream::Stderr, 5, b"partial");
        assert_eq!(&out[..], b"o1700000000123456789 a b\xff\r\nE5 partial\n");
        let mut lines = out.split_inclusive(|&b| b == b'\n');
        let a = decode_record(lines.next().unwrap()).unwrap();
        assert_eq!(a.stream, Stream::Stdout);
        assert_eq!(a.line, b"a b\xff\r\n");
        assert_eq!(
            berth_types::time::unix_nanos(a.time),
            1_700_000_000_123_456_789
        );
        let b = decode_record(lines.next().unwrap()).unwrap();
        assert_eq!((b.stream, &b.line[..]), (Stream::Stderr, &b"partial"[..]));
        assert!(decode_record(b"x12 a\n").is_none());
        assert!(decode_record(b"o12a\n").is_none());
        assert!(decode_record(b"o 12\n").is_none());
    }

    #[test]
    fn garbage_is_none() {
        assert!(decode_record(b"{\"log\":\"x").is_none());
        assert!(decode_record(
            b"{\"log\":\"x\",\"stream\":\"nope\",\"time\":\"2024-05-01T12:34:56Z\"}"
        )
        .is_none());
        assert!(decode_record(b"").is_none());
    }
}
