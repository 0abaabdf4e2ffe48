//! Detect the compression of an incoming archive by its magic bytes and return a reader
//! of the uncompressed stream. gzip and zstd (OCI `tar+zstd` layers) are supported;
//! bzip2 and xz are recognized and refused with a clear error (no decoder is linked).

use std::io::{self, Cursor, Read};

use crate::error::{ImageError, IoContext};

/// The uncompressed view of `r`.
pub fn decompress<'a>(mut r: impl Read + 'a) -> Result<Box<dyn Read + 'a>, ImageError> {
    let mut head = [0u8; 6];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).ctx(|| "read archive".to_string()),
        }
    }
    let head = head[..n].to_vec();
    let what = if head.starts_with(&[0x1f, 0x8b]) {
        "gzip"
    } else if head.starts_with(b"BZh") {
        "bzip2"
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        "xz"
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        "zstd"
    } else {
        "none"
    };
    let stream = Cursor::new(head).chain(r);
    match what {
        "gzip" => Ok(Box::new(flate2::read::MultiGzDecoder::new(stream))),
        "zstd" => {
            let src: Box<dyn Read + 'a> = Box::new(stream);
            let d = ruzstd::decoding::StreamingDecoder::new(src)
                .map_err(|e| ImageError::invalid(format!("invalid zstd stream: {e}")))?;
            Ok(Box::new(ZstdFrames { dec: Some(d) }))
        }
        "none" => Ok(Box::new(stream)),
        other => Err(ImageError::invalid(format!(
            "unsupported compression format: {other}"
        ))),
    }
}

/// A zstd stream may hold several frames back to back (like multi-member gzip): decode
/// them one after another until the input ends.
struct ZstdFrames<'a> {
    dec: Option<
        ruzstd::decoding::StreamingDecoder<Box<dyn Read + 'a>, ruzstd::decoding::FrameDecoder>,
    >,
}

impl Read for ZstdFrames<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(d) = self.dec.as_mut() else {
                return Ok(0);
            };
            let n = d.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // This frame is done: another follows unless the input is at its end.
            let Some(old) = self.dec.take() else {
                return Ok(0);
            };
            let mut src = old.into_inner();
            let mut probe = [0u8; 1];
            let k = loop {
                match src.read(&mut probe) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other?,
                }
            };
            if k == 0 {
                return Ok(0);
            }
            let next: Box<dyn Read + '_> = Box::new(Cursor::new(probe).chain(src));
            let d = ruzstd::decoding::StreamingDecoder::new(next).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("invalid zstd stream: {e}"),
                )
            })?;
            self.dec = Some(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    /// Compress with the system `zstd` tool (the Debian package), if present.
    fn zstd(data: &[u8]) -> Option<Vec<u8>> {
        let mut child = Command::new("zstd")
            .args(["-q", "-c", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        let mut stdin = child.stdin.take()?;
        let data = data.to_vec();
        let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &data));
        let out = child.wait_with_output().ok()?;
        writer.join().ok()?.ok()?;
        out.status.success().then_some(out.stdout)
    }

    fn read_all(r: &[u8]) -> Result<Vec<u8>, ImageError> {
        let mut out = Vec::new();
        decompress(r)?
            .read_to_end(&mut out)
            .map_err(|e| ImageError::invalid(e.to_string()))?;
        Ok(out)
    }

    #[test]
    fn zstd_single_and_concatenated_frames() {
        let a: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let b = b"second frame".to_vec();
        let (Some(za), Some(zb)) = (zstd(&a), zstd(&b)) else {
            panic!("the zstd tool is needed (apt install zstd)");
        };
        assert_eq!(read_all(&za).unwrap(), a);
        let mut both = za.clone();
        both.extend_from_slice(&zb);
        let mut want = a.clone();
        want.extend_from_slice(&b);
        assert_eq!(read_all(&both).unwrap(), want);
        // A corrupted stream is an error, not short data.
        let mut bad = za;
        let mid = bad.len() / 2;
        bad.truncate(mid);
        assert!(read_all(&bad).is_err());
    }

    #[test]
    fn plain_gzip_and_refused_formats() {
        assert_eq!(read_all(b"plain tar bytes").unwrap(), b"plain tar bytes");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, b"gz data").unwrap();
        assert_eq!(read_all(&gz.finish().unwrap()).unwrap(), b"gz data");
        let e = decompress(&b"BZh91AY"[..]).err().unwrap();
        assert!(e.to_string().contains("bzip2"), "{e}");
    }
}
