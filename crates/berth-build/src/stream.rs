//! Docker's JSON message stream for `POST /build` responses.
//!
//! [`JsonStream`] wraps a writer so every progress write becomes
//! `{"stream":"…"}\r\n` (UTF-8 sequences split across writes are held back until
//! complete). [`aux_id`] and [`error_message`] give the closing lines: the CLI reads the
//! image id from `aux.ID` (for `-q` and `--iidfile`) and prints `error` on failure.

use crate::error::BuildError;
use serde_json::json;
use std::io::{self, Write};

/// Turns raw progress bytes into `{"stream":…}` lines.
pub struct JsonStream<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> JsonStream<W> {
    pub fn new(inner: W) -> Self {
        JsonStream {
            inner,
            pending: Vec::new(),
        }
    }

    /// Writes any held-back bytes (lossily) and returns the writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        if !self.pending.is_empty() {
            let text = String::from_utf8_lossy(&self.pending).into_owned();
            self.pending.clear();
            self.emit(&text)?;
        }
        Ok(self.inner)
    }

    fn emit(&mut self, text: &str) -> io::Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        let line = json!({ "stream": text }).to_string();
        self.inner.write_all(line.as_bytes())?;
        self.inner.write_all(b"\r\n")
    }
}

impl<W: Write> Write for JsonStream<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(s) => s.len(),
            // An incomplete sequence at the end waits for the next write; invalid bytes in
            // the middle are replaced.
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => self.pending.len(),
        };
        let chunk: Vec<u8> = self.pending.drain(..valid).collect();
        let text = String::from_utf8_lossy(&chunk).into_owned();
        self.emit(&text)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// `{"aux":{"ID":"sha256:…"}}` (without the line terminator).
pub fn aux_id(image_id: &str) -> String {
    json!({ "aux": { "ID": image_id } }).to_string()
}

/// `{"errorDetail":{…},"error":"…"}`; a failed RUN carries its exit code.
pub fn error_message(err: &BuildError) -> String {
    let message = err.to_string();
    let detail = match err {
        BuildError::RunFailed { code, .. } => json!({ "code": code, "message": message }),
        _ => json!({ "message": message }),
    };
    json!({ "errorDetail": detail, "error": message }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_writes_and_keeps_utf8_whole() {
        let mut s = JsonStream::new(Vec::new());
        s.write_all(b"Step 1/2 : FROM x\n").unwrap();
        let e = "é".as_bytes();
        s.write_all(&e[..1]).unwrap();
        s.write_all(&e[1..]).unwrap();
        s.write_all(b"\"q\"\n").unwrap();
        let out = String::from_utf8(s.into_inner().unwrap()).unwrap();
        assert_eq!(
            out,
            "{\"stream\":\"Step 1/2 : FROM x\\n\"}\r\n{\"stream\":\"é\"}\r\n{\"stream\":\"\\\"q\\\"\\n\"}\r\n"
        );
    }

    #[test]
    fn closing_messages() {
        assert_eq!(aux_id("sha256:ab"), r#"{"aux":{"ID":"sha256:ab"}}"#);
        let e = BuildError::RunFailed {
            command: "/bin/sh -c false".into(),
            code: 1,
            output: String::new(),
        };
        let m: serde_json::Value = serde_json::from_str(&error_message(&e)).unwrap();
        assert_eq!(m["errorDetail"]["code"], 1);
        assert_eq!(
            m["error"],
            "The command '/bin/sh -c false' returned a non-zero code: 1"
        );
    }
}
