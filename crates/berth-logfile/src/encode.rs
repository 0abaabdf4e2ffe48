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

use crate::scan::{find_quote_or_backslash, find_special};
use crate::writer::MAX_PARTIAL;
use crate::{Record, RecordTime, Stream};
use serde::Deserialize;

/// Append one record (with its trailing `\n`) to `out`.
pub(crate) fn encode_record(out: &mut Vec<u8>, stream: Stream, time_text: &str, bytes: &[u8]) {
    out.extend_from_slice(b"{\"log\":\"");
    let mut i = 0;
    while i < bytes.len() {
        i += escape_line(out, &bytes[i..]).unwrap_or(bytes.len() - i);
    }
    out.extend_from_slice(&json_tail(stream, time_text));
}

/// What follows the `log` text in every record of one stream and time:
/// `","stream":"stdout","time":"…"}` and the newline. Made once per batch of output.
pub(crate) fn json_tail(stream: Stream, time_text: &str) -> Vec<u8> {
    let mut t = Vec::with_capacity(64);
    t.extend_from_slice(b"\",\"stream\":\"");
    t.extend_from_slice(stream.as_str().as_bytes());
    t.extend_from_slice(b"\",\"time\":\"");
    t.extend_from_slice(time_text.as_bytes());
    t.extend_from_slice(b"\"}\n");
    t
}

/// Encode the record at the start of `input` into `out` (`tail` from [`json_tail`]):
/// the line up to and with its `\n`, or its first [`MAX_PARTIAL`] bytes when it is
/// longer. Returns the bytes used, or `None` (and `out` unchanged) when `input` holds
/// only the beginning of a shorter line. One pass over the bytes: the search for the
/// next byte to escape also finds the newline.
pub(crate) fn encode_json_line(out: &mut Vec<u8>, tail: &[u8], input: &[u8]) -> Option<usize> {
    let window = &input[..input.len().min(MAX_PARTIAL)];
    let start = out.len();
    out.extend_from_slice(b"{\"log\":\"");
    let used = match escape_line(out, window) {
        Some(n) => n,
        None if window.len() == MAX_PARTIAL => MAX_PARTIAL,
        None => {
            out.truncate(start);
            return None;
        }
    };
    out.extend_from_slice(tail);
    Some(used)
}

/// Escape `b` into `out` as the inside of a JSON string, as Docker's encoder does
/// (`"`, `\`, controls, HTML-sensitive `<`, `>`, `&`, U+2028/U+2029 escaped; invalid
/// UTF-8 as U+FFFD, one per maximal invalid sequence like `String::from_utf8_lossy`),
/// stopping after the first `\n`: returns the bytes used up to and with it, `None`
/// when `b` holds no newline (then all of `b` was escaped).
fn escape_line(out: &mut Vec<u8>, b: &[u8]) -> Option<usize> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut i = 0;
    loop {
        let Some(p) = find_special(&b[i..]) else {
            out.extend_from_slice(&b[i..]);
            return None;
        };
        let j = i + p;
        out.extend_from_slice(&b[i..j]);
        let c = b[j];
        if c >= 0x80 {
            i = j + escape_non_ascii(out, &b[j..]);
            continue;
        }
        i = j + 1;
        match c {
            b'\n' => {
                out.extend_from_slice(b"\\n");
                return Some(i);
            }
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(c >> 4) as usize],
                HEX[(c & 0xf) as usize],
            ]),
        }
    }
}

/// Copy the run of non-ASCII bytes at the start of `b` (it starts with one): valid
/// characters as they are (U+2028/U+2029 escaped), each maximal invalid sequence as
/// U+FFFD. Returns the length of the run. An invalid sequence never holds an ASCII
/// byte, so cutting the input at ASCII bytes gives the same replacements as
/// converting it whole.
fn escape_non_ascii(out: &mut Vec<u8>, b: &[u8]) -> usize {
    let len = b.iter().position(|&c| c < 0x80).unwrap_or(b.len());
    for chunk in b[..len].utf8_chunks() {
        let valid = chunk.valid().as_bytes();
        let mut k = 0;
        while let Some(p) = valid[k..].iter().position(|&c| c == 0xe2) {
            let at = k + p;
            // U+2028 / U+2029 are E2 80 A8 / E2 80 A9.
            if valid[at + 1] == 0x80 && matches!(valid[at + 2], 0xa8 | 0xa9) {
                out.extend_from_slice(&valid[k..at]);
                out.extend_from_slice(if valid[at + 2] == 0xa8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
            } else {
                out.extend_from_slice(&valid[k..at + 3]);
            }
            k = at + 3;
        }
        out.extend_from_slice(&valid[k..]);
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{fffd}".as_bytes());
        }
    }
    len
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

fn decode_local(line: &[u8]) -> Option<Record<'_>> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let (&kind, rest) = line.split_first()?;
    let (stream, newline) = match kind {
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
    Some(Record {
        stream,
        text: &rest[sp + 1..],
        newline,
        time: RecordTime::At(time),
    })
}

/// `","stream":"stdout","time":"` and the stderr one: what lies between the `log`
/// text and the time in the records this crate writes.
const MID_STDOUT: &[u8] = b"\",\"stream\":\"stdout\",\"time\":\"";
const MID_STDERR: &[u8] = b"\",\"stream\":\"stderr\",\"time\":\"";

/// The records this crate writes have one shape, `{"log":"…","stream":"…","time":"…"}`:
/// read that shape with a scan (many times faster than a JSON parser, which matters
/// for `logs` of a large log). The text is used as it is when its only escape is the
/// final `\n` (nearly always). Anything else (other key order, extra keys) is `None`
/// and goes to serde_json.
fn decode_fast(line: &[u8]) -> Option<Fast<'_>> {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let rest = body.strip_prefix(b"{\"log\":\"")?.strip_suffix(b"\"}")?;
    // The time holds no quote: the last quote opens it. The writer's time is 30 bytes.
    let q = if rest.len() > 30 && rest[rest.len() - 31] == b'"' {
        rest.len() - 31
    } else {
        rest.iter().rposition(|&b| b == b'"')?
    };
    let (head, time) = (&rest[..=q], &rest[q + 1..]);
    let (stream, content) = if let Some(c) = head.strip_suffix(MID_STDOUT) {
        (Stream::Stdout, c)
    } else {
        (Stream::Stderr, head.strip_suffix(MID_STDERR)?)
    };
    if !is_fixed_time(time) {
        // Another form of time (not ours): it must parse now, as serde's path would.
        parse_time(std::str::from_utf8(time).ok()?)?;
    }
    let text = match find_quote_or_backslash(content) {
        None => Text::Plain(content, false),
        Some(i) if i + 2 == content.len() && &content[i..] == b"\\n" => {
            Text::Plain(&content[..i], true)
        }
        Some(_) => Text::Escaped(content),
    };
    Some(Fast { stream, text, time })
}

/// What [`decode_fast`] found.
struct Fast<'a> {
    stream: Stream,
    text: Text<'a>,
    time: &'a [u8],
}

enum Text<'a> {
    /// Bytes as they are, and whether a `\n` ends them.
    Plain(&'a [u8], bool),
    /// The inside of a JSON string with escapes.
    Escaped(&'a [u8]),
}

/// The record at the start of `b`, when it is exactly what the writer makes of a
/// plain line: `{"log":"` text without escapes but a final `\n`, `","stream":"…",
/// "time":"` and a 30-byte time, `"}` and the newline. Returns it with its length.
/// Faster than cutting the line first: the scan for the end of the text is the only
/// pass over the bytes; everything after it has a fixed length. `None` for anything
/// else (including a record cut off by the end of `b`): decode that line with
/// [`decode`].
#[inline]
pub(crate) fn decode_own(b: &[u8]) -> Option<(Record<'_>, usize)> {
    const PREFIX: &[u8] = b"{\"log\":\"";
    const END: &[u8] = b"\"}\n";
    let content = b.strip_prefix(PREFIX)?;
    let i = find_quote_or_backslash(content)?;
    let (newline, q) = match content[i] {
        b'"' => (false, i),
        _ if content.get(i + 1..i + 3) == Some(b"n\"") => (true, i + 2),
        _ => return None,
    };
    let rest = content.get(q..q + MID_STDOUT.len() + 30 + END.len())?;
    let (mid, rest) = rest.split_at(MID_STDOUT.len());
    let stream = if mid == MID_STDOUT {
        Stream::Stdout
    } else if mid == MID_STDERR {
        Stream::Stderr
    } else {
        return None;
    };
    let (time, end) = rest.split_at(30);
    if end != END || !is_fixed_time(time) {
        return None;
    }
    Some((
        Record {
            stream,
            text: &content[..i],
            newline,
            time: RecordTime::Text(time),
        },
        PREFIX.len() + q + MID_STDOUT.len() + 30 + END.len(),
    ))
}

/// Unescape the inside of a JSON string into `out`; `None` on a bad escape or an
/// unescaped quote.
fn unescape_into(out: &mut Vec<u8>, s: &[u8]) -> Option<()> {
    let mut i = 0;
    loop {
        let Some(run) = find_quote_or_backslash(&s[i..]) else {
            out.extend_from_slice(&s[i..]);
            return Some(());
        };
        out.extend_from_slice(&s[i..i + run]);
        i += run;
        if s[i] == b'"' {
            return None;
        }
        let esc = *s.get(i + 1)?;
        i += 2;
        match esc {
            b'"' => out.push(b'"'),
            b'\\' => out.push(b'\\'),
            b'/' => out.push(b'/'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'u' => {
                let mut c = hex4(s.get(i..i + 4)?)?;
                i += 4;
                if (0xd800..0xdc00).contains(&c) {
                    // A surrogate pair: the low half must follow.
                    if s.get(i..i + 2)? != b"\\u" {
                        return None;
                    }
                    let lo = hex4(s.get(i + 2..i + 6)?)?;
                    if !(0xdc00..0xe000).contains(&lo) {
                        return None;
                    }
                    i += 6;
                    c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
                }
                let ch = char::from_u32(c)?;
                let mut b = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
            }
            _ => return None,
        }
    }
}

/// The writer's time form, `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (by its separators; the
/// digits are checked when the time is parsed).
pub(crate) fn is_fixed_time(t: &[u8]) -> bool {
    t.len() == 30
        && t[4] == b'-'
        && t[7] == b'-'
        && t[10] == b'T'
        && t[13] == b':'
        && t[16] == b':'
        && t[19] == b'.'
        && t[29] == b'Z'
}

thread_local! {
    /// The date-and-seconds part of the last time parsed and its unix seconds: records
    /// written in the same second share it, so most times only need their fraction.
    static LAST_SECOND: std::cell::Cell<([u8; 19], u64)> = const { std::cell::Cell::new(([0; 19], 0)) };
}

/// The writer's `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, with a one-entry cache of the
/// seconds; any other form goes to the general parser.
pub(crate) fn parse_time(t: &str) -> Option<std::time::SystemTime> {
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
struct JsonRecord {
    log: String,
    stream: String,
    time: String,
}

/// Parse one line (without or with its trailing `\n`). `None` when it is not a record.
/// Either format: `local` records are told apart by their first byte. `scratch` holds
/// the text when it cannot be borrowed from `line`.
pub(crate) fn decode<'a>(line: &'a [u8], scratch: &'a mut Vec<u8>) -> Option<Record<'a>> {
    if line.first() != Some(&b'{') {
        return decode_local(line);
    }
    if let Some(f) = decode_fast(line) {
        let (text, newline) = match f.text {
            Text::Plain(t, newline) => (t, newline),
            Text::Escaped(t) => {
                scratch.clear();
                match unescape_into(scratch, t) {
                    Some(()) => (&scratch[..], false),
                    // A bad escape: let the parser have its say.
                    None => return decode_serde(line, scratch),
                }
            }
        };
        return Some(Record {
            stream: f.stream,
            text,
            newline,
            time: RecordTime::Text(f.time),
        });
    }
    decode_serde(line, scratch)
}

fn decode_serde<'a>(line: &[u8], scratch: &'a mut Vec<u8>) -> Option<Record<'a>> {
    let rec: JsonRecord = serde_json::from_slice(line).ok()?;
    let stream = Stream::parse(&rec.stream)?;
    berth_types::time::parse_rfc3339(&rec.time)?;
    scratch.clear();
    scratch.extend_from_slice(rec.log.as_bytes());
    let n = scratch.len();
    scratch.extend_from_slice(rec.time.as_bytes());
    let (text, time) = scratch.split_at(n);
    Some(Record {
        stream,
        text,
        newline: false,
        time: RecordTime::Text(time),
    })
}

/// [`decode`] into an owned entry.
#[cfg(test)]
pub(crate) fn decode_record(line: &[u8]) -> Option<crate::Entry> {
    decode(line, &mut Vec::new())?.to_entry()
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

    /// The text of `line` through the fast path alone (no serde fallback).
    fn fast_text(line: &[u8]) -> Option<(Vec<u8>, String, Stream)> {
        let f = decode_fast(line)?;
        let text = match f.text {
            Text::Plain(t, newline) => {
                let mut v = t.to_vec();
                if newline {
                    v.push(b'\n');
                }
                v
            }
            Text::Escaped(t) => {
                let mut v = Vec::new();
                unescape_into(&mut v, t)?;
                v
            }
        };
        Some((text, String::from_utf8(f.time.to_vec()).unwrap(), f.stream))
    }

    #[test]
    fn fast_path_agrees_with_serde() {
        let texts: [&[u8]; 7] = [
            b"plain\n",
            "q\"b\\s/<>&\u{1}\u{2028}\u{1F600}\t\r\n".as_bytes(),
            b"",
            b"no newline",
            "\u{7f}\u{ff}\u{ffff}".as_bytes(),
            b"ends in a backslash n: \\n",
            b"\\\n",
        ];
        for t in texts {
            let mut out = Vec::new();
            encode_record(
                &mut out,
                Stream::Stderr,
                "2024-05-01T12:34:56.123456789Z",
                t,
            );
            let (text, time, stream) = fast_text(&out).unwrap();
            let rec: JsonRecord = serde_json::from_slice(&out).unwrap();
            assert_eq!(text, rec.log.as_bytes());
            assert_eq!(time, rec.time);
            assert_eq!(stream, Stream::Stderr);
            let e = decode_record(&out).unwrap();
            assert_eq!(e.line, rec.log.into_bytes());
        }
        // Docker's own escapes the encoder never writes still decode.
        let line = br#"{"log":"a\/b\u00e9\ud83d\ude00\b","stream":"stdout","time":"2024-05-01T12:34:56Z"}"#;
        assert_eq!(
            fast_text(line).unwrap().0,
            "a/b\u{e9}\u{1F600}\u{8}".as_bytes()
        );
        // Other shapes fall back to serde.
        let other = br#"{"stream":"stdout","log":"x","time":"2024-05-01T12:34:56Z"}"#;
        assert!(fast_text(other).is_none());
        let e = decode_record(other).unwrap();
        assert_eq!(
            (&e.line[..], &e.time_text[..]),
            (&b"x"[..], "2024-05-01T12:34:56Z")
        );
        let lone = br#"{"log":"\ud800","stream":"stdout","time":"2024-05-01T12:34:56Z"}"#;
        assert!(fast_text(lone).is_none());
        assert!(decode_record(lone).is_none());
        // An unescaped quote is not our shape; neither is a time that does not parse.
        assert!(decode_record(
            br#"{"log":"a"b","stream":"stdout","time":"2024-05-01T12:34:56.123456789Z"}"#
        )
        .is_none());
        assert!(decode_record(br#"{"log":"a","stream":"stdout","time":"yesterday"}"#).is_none());
    }

    #[test]
    fn own_records_decode_in_place() {
        let time = "2024-05-01T12:34:56.123456789Z";
        let mut out = Vec::new();
        encode_record(&mut out, Stream::Stdout, time, b"plain\n");
        let first = out.len();
        encode_record(&mut out, Stream::Stderr, time, b"no newline");
        encode_record(&mut out, Stream::Stdout, time, b"tab\there\n");
        let (r, n) = decode_own(&out).unwrap();
        assert_eq!(
            (r.stream, r.text, r.newline, n),
            (Stream::Stdout, &b"plain"[..], true, first)
        );
        assert_eq!(r.time().unwrap(), parse_time(time).unwrap());
        let (r, m) = decode_own(&out[n..]).unwrap();
        assert_eq!(
            (r.stream, r.text, r.newline),
            (Stream::Stderr, &b"no newline"[..], false)
        );
        // An escape inside the text, a cut-off record, another shape: not in place.
        assert!(decode_own(&out[n + m..]).is_none());
        assert!(decode_own(&out[..first - 1]).is_none());
        assert!(
            decode_own(br#"{"log":"x\n","stream":"stdout","time":"2024-05-01T12:34:56Z"}"#)
                .is_none()
        );
        assert!(decode_own(b"o1 x\n").is_none());
        // Whatever decodes in place decodes the same way through the general path.
        for line in out.split_inclusive(|&b| b == b'\n') {
            if let Some((r, n)) = decode_own(line) {
                assert_eq!(n, line.len());
                let mut scratch = Vec::new();
                let g = decode(line, &mut scratch).unwrap();
                assert_eq!((r.stream, r.text, r.newline), (g.stream, g.text, g.newline));
            }
        }
    }

    /// The escaper the encoder had before its one-pass form: Docker's rules, written
    /// the plain way (validate, lossy-convert, then a byte at a time).
    fn reference_escape(bytes: &[u8]) -> Vec<u8> {
        let s = String::from_utf8_lossy(bytes);
        let mut out = Vec::new();
        for ch in s.chars() {
            match ch {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '\u{0}'..='\u{1f}' | '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                    out.extend_from_slice(format!("\\u{:04x}", ch as u32).as_bytes())
                }
                _ => {
                    let mut b = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
                }
            }
        }
        out
    }

    /// Bytes weighted towards what is hard: escapes, newlines, UTF-8 pieces.
    fn random_bytes(seed: &mut u64, len: usize) -> Vec<u8> {
        const PICKS: &[u8] = b"ab\n\"\\<>&\t\x01\x7f\xe2\x80\xa8\xa9\xc3\xa9\xf0\x9f\xff\xed\xa0";
        (0..len)
            .map(|_| {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                PICKS[(*seed % PICKS.len() as u64) as usize]
            })
            .collect()
    }

    #[test]
    fn one_pass_escaping_matches_the_reference() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let time = "2024-05-01T12:34:56.123456789Z";
        for round in 0..3000 {
            let bytes = random_bytes(&mut seed, round % 97);
            let mut out = Vec::new();
            encode_record(&mut out, Stream::Stdout, time, &bytes);
            let mut want = b"{\"log\":\"".to_vec();
            want.extend(reference_escape(&bytes));
            want.extend(json_tail(Stream::Stdout, time));
            assert_eq!(out, want, "{bytes:?}");
            // What serde reads back is the lossy text.
            let rec: JsonRecord = serde_json::from_slice(&out).unwrap();
            assert_eq!(rec.log, String::from_utf8_lossy(&bytes), "{bytes:?}");
            assert_eq!(decode_record(&out).unwrap().line, rec.log.as_bytes());
        }
    }

    #[test]
    fn line_encoder_cuts_like_the_record_encoder() {
        let mut seed = 7u64;
        let tail = json_tail(Stream::Stderr, "2024-05-01T12:34:56.123456789Z");
        let mut inputs: Vec<Vec<u8>> = (0..300).map(|n| random_bytes(&mut seed, n * 3)).collect();
        // Long lines: exactly the limit with and without newline, past it, and a
        // multi-byte character across the 16 KiB cut.
        let mut exact = vec![b'x'; MAX_PARTIAL - 1];
        exact.push(b'\n');
        inputs.push(exact);
        inputs.push(vec![b'y'; MAX_PARTIAL]);
        inputs.push(vec![b'z'; 3 * MAX_PARTIAL + 5]);
        let mut across = vec![b'w'; MAX_PARTIAL - 1];
        across.extend_from_slice("é\n".as_bytes());
        inputs.push(across);
        for input in inputs {
            let mut got = Vec::new();
            let mut rest = &input[..];
            while let Some(n) = encode_json_line(&mut got, &tail, rest) {
                rest = &rest[n..];
            }
            // The reference: cut at newlines and the limit, then encode each record.
            let mut want = Vec::new();
            let mut r = &input[..];
            loop {
                let w = &r[..r.len().min(MAX_PARTIAL)];
                let end = match w.iter().position(|&b| b == b'\n') {
                    Some(i) => i + 1,
                    None if w.len() == MAX_PARTIAL => MAX_PARTIAL,
                    None => break,
                };
                encode_record(
                    &mut want,
                    Stream::Stderr,
                    "2024-05-01T12:34:56.123456789Z",
                    &r[..end],
                );
                r = &r[end..];
            }
            assert_eq!(got, want);
            assert_eq!(rest, r, "the unfinished line is left");
        }
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
