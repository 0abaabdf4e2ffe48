//! Detect the compression of an incoming archive by its magic bytes and return a reader
//! of the uncompressed stream. gzip and zstd (OCI `tar+zstd` layers) are supported;
//! bzip2 and xz are recognized and refused with a clear error (no decoder is linked).

use std::io::{self, BufRead, Cursor, Read};

use crate::error::{ImageError, IoContext};

/// The uncompressed view of `r`.
pub fn decompress<'a>(r: impl Read + 'a) -> Result<Box<dyn Read + 'a>, ImageError> {
    let (what, stream) = sniff(r)?;
    match what {
        "gzip" => Ok(Box::new(flate2::read::MultiGzDecoder::new(stream))),
        "zstd" => {
            let src: Box<dyn Read + 'a> = Box::new(stream);
            Ok(Box::new(ZstdFrames::new(src, |c| Box::new(c))?))
        }
        "none" => Ok(Box::new(stream)),
        other => Err(unsupported(other)),
    }
}

/// [`decompress`] for a stream that is read on another thread than the one making it
/// (a pull's unpack pipeline).
pub fn decompress_send<'a>(
    r: impl Read + Send + 'a,
) -> Result<Box<dyn Read + Send + 'a>, ImageError> {
    let (what, stream) = sniff(r)?;
    match what {
        "gzip" => Ok(Box::new(flate2::read::MultiGzDecoder::new(stream))),
        "zstd" => {
            let src: Box<dyn Read + Send + 'a> = Box::new(stream);
            Ok(Box::new(ZstdFrames::new(src, |c| Box::new(c))?))
        }
        "none" => Ok(Box::new(stream)),
        other => Err(unsupported(other)),
    }
}

/// [`decompress_send`] for a stream whose compressed bytes are verified by digest and
/// whose uncompressed bytes are verified by digest too (a registry layer blob and its
/// diff id; nothing is used before both checks passed): gzip members are decoded
/// without computing their CRC-32, which those digests make redundant. Everything
/// else about the format is still checked (headers, each member's length).
pub fn decompress_digest_verified<'a>(
    r: impl BufRead + Send + 'a,
) -> Result<Box<dyn Read + Send + 'a>, ImageError> {
    let (what, stream) = sniff(r)?;
    if what != "gzip" {
        return decompress_send(stream);
    }
    Ok(Box::new(UncheckedGzip::new(stream)))
}

/// gzip members, one after another, inflated with a raw deflate decoder: the header
/// and trailer are parsed here, the trailer's CRC-32 is not checked (see
/// [`decompress_digest_verified`]), its length is.
struct UncheckedGzip<R: BufRead> {
    /// The input between members (header not read yet).
    input: Option<R>,
    /// The deflate data of the current member.
    member: Option<flate2::bufread::DeflateDecoder<R>>,
    /// Bytes the current member inflated to so far.
    len: u64,
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("invalid gzip stream: {msg}"),
    )
}

impl<R: BufRead> UncheckedGzip<R> {
    fn new(r: R) -> Self {
        UncheckedGzip {
            input: Some(r),
            member: None,
            len: 0,
        }
    }

    fn byte(r: &mut R) -> io::Result<u8> {
        let mut b = [0u8; 1];
        r.read_exact(&mut b)
            .map_err(|_| invalid("truncated header"))?;
        Ok(b[0])
    }

    /// Skip a zero-terminated header field.
    fn skip_string(r: &mut R) -> io::Result<()> {
        while Self::byte(r)? != 0 {}
        Ok(())
    }

    /// Read a member header (RFC 1952 2.3), leaving `r` at its deflate data.
    fn header(r: &mut R) -> io::Result<()> {
        let mut fixed = [0u8; 10];
        r.read_exact(&mut fixed)
            .map_err(|_| invalid("truncated header"))?;
        if fixed[..3] != [0x1f, 0x8b, 8] {
            return Err(invalid("bad header"));
        }
        let flags = fixed[3];
        if flags & 0xe0 != 0 {
            return Err(invalid("reserved header flags set"));
        }
        if flags & 0x04 != 0 {
            let mut xlen = [0u8; 2];
            r.read_exact(&mut xlen)
                .map_err(|_| invalid("truncated header"))?;
            let n = u16::from_le_bytes(xlen) as u64;
            if io::copy(&mut r.by_ref().take(n), &mut io::sink())? != n {
                return Err(invalid("truncated header"));
            }
        }
        if flags & 0x08 != 0 {
            Self::skip_string(r)?;
        }
        if flags & 0x10 != 0 {
            Self::skip_string(r)?;
        }
        if flags & 0x02 != 0 {
            Self::byte(r)?;
            Self::byte(r)?;
        }
        Ok(())
    }
}

impl<R: BufRead> Read for UncheckedGzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if let Some(d) = self.member.as_mut() {
                let n = d.read(buf)?;
                if n > 0 {
                    self.len += n as u64;
                    return Ok(n);
                }
                // The member's deflate data ended: its trailer is CRC-32 and length.
                let Some(d) = self.member.take() else {
                    return Ok(0);
                };
                let mut r = d.into_inner();
                let mut trailer = [0u8; 8];
                r.read_exact(&mut trailer)
                    .map_err(|_| invalid("truncated member"))?;
                let isize = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
                if isize != self.len as u32 {
                    return Err(invalid("member length mismatch"));
                }
                self.input = Some(r);
            }
            let Some(mut r) = self.input.take() else {
                return Ok(0);
            };
            // Another member follows unless the input is at its end.
            if r.fill_buf()?.is_empty() {
                return Ok(0);
            }
            Self::header(&mut r)?;
            self.len = 0;
            self.member = Some(flate2::bufread::DeflateDecoder::new(r));
        }
    }
}

fn unsupported(what: &str) -> ImageError {
    ImageError::invalid(format!("unsupported compression format: {what}"))
}

/// A stream with the bytes read to detect its compression put back in front.
type Sniffed<R> = io::Chain<Cursor<Vec<u8>>, R>;

/// The compression of `r` by its magic bytes, and `r` with those bytes put back.
fn sniff<R: Read>(mut r: R) -> Result<(&'static str, Sniffed<R>), ImageError> {
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
    Ok((what, Cursor::new(head).chain(r)))
}

/// A zstd stream may hold several frames back to back (like multi-member gzip): decode
/// them one after another until the input ends. `B` is the boxed input (`Send` or not);
/// `rebox` boxes the input again with the byte probed for the next frame in front.
struct ZstdFrames<B: Read> {
    dec: Option<ruzstd::decoding::StreamingDecoder<B, ruzstd::decoding::FrameDecoder>>,
    rebox: fn(io::Chain<Cursor<[u8; 1]>, B>) -> B,
}

impl<B: Read> ZstdFrames<B> {
    fn new(src: B, rebox: fn(io::Chain<Cursor<[u8; 1]>, B>) -> B) -> Result<Self, ImageError> {
        let d = ruzstd::decoding::StreamingDecoder::new(src)
            .map_err(|e| ImageError::invalid(format!("invalid zstd stream: {e}")))?;
        Ok(ZstdFrames {
            dec: Some(d),
            rebox,
        })
    }
}

impl<B: Read> Read for ZstdFrames<B> {
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
            let next = (self.rebox)(Cursor::new(probe).chain(src));
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

    fn read_unchecked(r: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        decompress_digest_verified(r)
            .map_err(|e| io::Error::other(e.to_string()))?
            .read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn gzip_without_crc_check() {
        let a: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let gz = |d: &[u8], name: Option<&str>| {
            let mut b = flate2::GzBuilder::new();
            if let Some(n) = name {
                b = b.filename(n).comment("c").extra(vec![1, 2, 3]);
            }
            let mut e = b.write(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut e, d).unwrap();
            e.finish().unwrap()
        };
        let one = gz(&a, None);
        assert_eq!(read_unchecked(&one).unwrap(), a);
        // Several members, optional header fields, an empty member.
        let multi = [
            gz(&a[..1000], Some("x")),
            gz(b"", None),
            gz(&a[1000..], None),
        ]
        .concat();
        assert_eq!(read_unchecked(&multi).unwrap(), a);
        // A wrong CRC is not looked at (digests cover it)...
        let mut bad_crc = one.clone();
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 0xff;
        assert_eq!(read_unchecked(&bad_crc).unwrap(), a);
        // ...but the length, truncation, corrupt data and trailing garbage are errors.
        let mut bad_len = one.clone();
        bad_len[n - 1] ^= 0xff;
        assert!(read_unchecked(&bad_len).is_err());
        assert!(read_unchecked(&one[..n - 4]).is_err());
        assert!(read_unchecked(&one[..n / 2]).is_err());
        let mut garbage = one.clone();
        garbage.extend_from_slice(b"not gzip");
        assert!(read_unchecked(&garbage).is_err());
        let mut corrupt = one.clone();
        corrupt[10] = 0xff; // an invalid deflate block type
        assert!(read_unchecked(&corrupt).is_err());
        // Not gzip: as `decompress`.
        assert_eq!(read_unchecked(b"plain").unwrap(), b"plain");
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
