//! Detect the compression of an incoming archive by its magic bytes and return a reader
//! of the uncompressed stream. gzip is supported; bzip2, xz and zstd are recognized and
//! refused with a clear error (no decoder is linked).

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
        "none" => Ok(Box::new(stream)),
        other => Err(ImageError::invalid(format!(
            "unsupported compression format: {other}"
        ))),
    }
}
