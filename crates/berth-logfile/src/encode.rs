//! Encoding and decoding of single json-file records (one line each).
//!
//! Encoding is hand-written so the shim formats a record without building a JSON value:
//! fields in Docker's order (`log`, `stream`, `time`), strings escaped as Docker's encoder
//! does (HTML-sensitive `<`, `>`, `&` and U+2028/U+2029 as `\uXXXX`, invalid UTF-8 as
//! U+FFFD). Decoding uses serde_json and returns `None` for anything that does not parse.

use crate::{Entry, Stream};
use serde::Deserialize;

/// Append one record (with its trailing `\n`) to `out`.
pub(crate) fn encode_record(out: &mut Vec<u8>, stream: Stream, time_text: &str, bytes: &[u8]) {
    out.extend_from_slice(b"{\"log\":\"");
    escape_into(out, &String::from_utf8_lossy(bytes));
    out.extend_from_slice(b"\",\"stream\":\"");
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(b"\",\"time\":\"");
    out.extend_from_slice(time_text.as_bytes());
    out.extend_from_slice(b"\"}\n");
}

fn escape_into(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&[u8]> = match c {
            '"' => Some(b"\\\""),
            '\\' => Some(b"\\\\"),
            '\n' => Some(b"\\n"),
            '\r' => Some(b"\\r"),
            '\t' => Some(b"\\t"),
            _ => None,
        };
        let needs_u = matches!(
            c,
            '\u{0}'..='\u{1f}' | '<' | '>' | '&' | '\u{2028}' | '\u{2029}'
        );
        if esc.is_none() && !needs_u {
            continue;
        }
        out.extend_from_slice(&s.as_bytes()[start..i]);
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => {
                let v = c as u32;
                out.extend_from_slice(b"\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(HEX[((v >> shift) & 0xf) as usize]);
                }
            }
        }
        start = i + c.len_utf8();
    }
    out.extend_from_slice(&s.as_bytes()[start..]);
}

#[derive(Deserialize)]
struct Record {
    log: String,
    stream: String,
    time: String,
}

/// Parse one line (without or with its trailing `\n`). `None` when it is not a record.
pub(crate) fn decode_record(line: &[u8]) -> Option<Entry> {
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
    fn garbage_is_none() {
        assert!(decode_record(b"{\"log\":\"x").is_none());
        assert!(decode_record(
            b"{\"log\":\"x\",\"stream\":\"nope\",\"time\":\"2024-05-01T12:34:56Z\"}"
        )
        .is_none());
        assert!(decode_record(b"").is_none());
    }
}
