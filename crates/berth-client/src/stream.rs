//! Docker's stream formats: the 8-byte multiplexed frames used by attach, logs and
//! exec when no TTY is allocated (`[stream, 0, 0, 0, len as u32 big-endian]` followed
//! by `len` bytes), and newline-delimited JSON used by events and image pulls.

use std::io::{self, BufRead, BufReader, Read, Write};

/// Which standard stream a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Stdin,
    Stdout,
    Stderr,
    /// Stream 3: the daemon reports an error in-band (exec/attach).
    SystemErr,
}

impl StreamKind {
    fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(StreamKind::Stdin),
            1 => Some(StreamKind::Stdout),
            2 => Some(StreamKind::Stderr),
            3 => Some(StreamKind::SystemErr),
            _ => None,
        }
    }
}

/// One multiplexed frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub stream: StreamKind,
    pub data: Vec<u8>,
}

/// Reads frames from a multiplexed stream.
pub struct FrameReader<R> {
    inner: R,
}

impl<R: Read> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        FrameReader { inner }
    }

    /// The next frame, `Ok(None)` at a clean end of stream.
    pub fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        let mut header = [0u8; 8];
        let mut got = 0;
        while got < header.len() {
            match self.inner.read(&mut header[got..]) {
                Ok(0) if got == 0 => return Ok(None),
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "stream ended inside a frame header",
                    ))
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let stream = StreamKind::from_byte(header[0]).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("Unrecognized input header: {}", header[0]),
            )
        })?;
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut data = vec![0u8; len];
        self.inner.read_exact(&mut data)?;
        Ok(Some(Frame { stream, data }))
    }

    /// Copies every frame to `stdout` / `stderr` until the end of the stream, flushing
    /// after each frame so interactive output appears at once. A system-error frame
    /// (stream 3) ends the copy with that message as the error.
    pub fn copy_to(&mut self, stdout: &mut dyn Write, stderr: &mut dyn Write) -> io::Result<()> {
        while let Some(frame) = self.next_frame()? {
            match frame.stream {
                StreamKind::Stdout | StreamKind::Stdin => {
                    stdout.write_all(&frame.data)?;
                    stdout.flush()?;
                }
                StreamKind::Stderr => {
                    stderr.write_all(&frame.data)?;
                    stderr.flush()?;
                }
                StreamKind::SystemErr => {
                    return Err(io::Error::other(
                        String::from_utf8_lossy(&frame.data).trim_end().to_string(),
                    ))
                }
            }
        }
        Ok(())
    }
}

impl<R: Read> Iterator for FrameReader<R> {
    type Item = io::Result<Frame>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame().transpose()
    }
}

/// Copies a raw (TTY) stream to `out`, flushing after each read.
pub fn copy_raw(r: &mut dyn Read, out: &mut dyn Write) -> io::Result<u64> {
    let mut buf = vec![0u8; 32 * 1024];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(&buf[..n])?;
        out.flush()?;
        total += n as u64;
    }
}

/// Iterates over a stream of JSON documents separated by newlines (events, pulls).
pub struct JsonLines<R> {
    inner: BufReader<R>,
}

impl<R: Read> JsonLines<R> {
    pub fn new(inner: R) -> Self {
        JsonLines {
            inner: BufReader::new(inner),
        }
    }
}

impl<R: Read> Iterator for JsonLines<R> {
    type Item = io::Result<serde_json::Value>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let mut line = String::new();
            match self.inner.read_line(&mut line) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(e)),
            }
            if line.trim().is_empty() {
                continue;
            }
            return Some(serde_json::from_str(line.trim()).map_err(io::Error::other));
        }
    }
}

/// Encodes one frame (used by tests and fake servers).
pub fn encode_frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + data.len());
    out.push(stream);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demuxes_frames() {
        let mut raw = encode_frame(1, b"out1\n");
        raw.extend(encode_frame(2, b"err\n"));
        raw.extend(encode_frame(1, b""));
        raw.extend(encode_frame(1, b"out2\n"));
        let (mut o, mut e) = (Vec::new(), Vec::new());
        FrameReader::new(&raw[..]).copy_to(&mut o, &mut e).unwrap();
        assert_eq!(o, b"out1\nout2\n");
        assert_eq!(e, b"err\n");
    }

    #[test]
    fn truncated_frame_is_an_error_and_bad_stream_byte_too() {
        let raw = encode_frame(1, b"hello");
        let mut r = FrameReader::new(&raw[..6]);
        assert!(r.next_frame().is_err());
        let mut r = FrameReader::new(&raw[..10]);
        assert!(r.next_frame().is_err());
        let bad = encode_frame(7, b"x");
        assert!(FrameReader::new(&bad[..]).next_frame().is_err());
    }

    #[test]
    fn system_error_frame_ends_copy() {
        let mut raw = encode_frame(1, b"a");
        raw.extend(encode_frame(3, b"boom\n"));
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let err = FrameReader::new(&raw[..])
            .copy_to(&mut o, &mut e)
            .unwrap_err();
        assert_eq!(err.to_string(), "boom");
    }

    #[test]
    fn json_lines_skip_blank_lines() {
        let raw = b"{\"a\":1}\n\n{\"b\":2}\n";
        let v: Vec<_> = JsonLines::new(&raw[..]).map(|r| r.unwrap()).collect();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1]["b"], 2);
    }
}
