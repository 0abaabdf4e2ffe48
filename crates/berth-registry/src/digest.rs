//! Content digests (`sha256:<64 hex>`) and a writer that hashes what passes through it.
//!
//! Everything fetched by digest is verified with [`HashingWriter`] before the client
//! reports success, so a caller that streams a blob into a temp file only has to discard
//! the file on error.

use std::fmt;
use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

use crate::error::RegistryError;

/// A validated `sha256:<64 lowercase hex>` digest (the only algorithm registries use).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// Validate a digest string.
    pub fn parse(s: &str) -> Result<Digest, RegistryError> {
        match s.split_once(':') {
            Some(("sha256", hex)) if is_hex64(hex) => Ok(Digest(s.to_string())),
            Some((alg, _)) if alg != "sha256" && !alg.is_empty() => Err(
                RegistryError::InvalidReference(format!("unsupported digest algorithm: {alg}")),
            ),
            _ => Err(RegistryError::InvalidReference(format!(
                "invalid checksum digest format: {s}"
            ))),
        }
    }

    /// The digest of some bytes.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// `sha256:…`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 64 hex characters.
    pub fn hex(&self) -> &str {
        &self.0[7..]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Digest {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Digest, RegistryError> {
        Digest::parse(s)
    }
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Wraps a writer, hashing and counting every byte written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Start hashing writes to `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Continue a download: hash the first `len` bytes of the blob, already in `inner`'s
    /// destination, from `prefix` (without writing them again); later writes add to it.
    /// Fails when `prefix` holds fewer than `len` bytes.
    pub fn resume(inner: W, prefix: &mut dyn Read, len: u64) -> io::Result<Self> {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 << 10];
        let mut left = len;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = prefix.read(&mut buf[..want])?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "partial download shorter than expected",
                ));
            }
            hasher.update(&buf[..n]);
            left -= n as u64;
        }
        Ok(HashingWriter {
            inner,
            hasher,
            count: len,
        })
    }

    /// Bytes written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The digest of everything written, and the byte count.
    pub fn finish(self) -> (Digest, u64) {
        (
            Digest(format!("sha256:{}", hex::encode(self.hasher.finalize()))),
            self.count,
        )
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_hashes() {
        let d = Digest::of(b"");
        assert_eq!(
            d.as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Digest::parse(d.as_str()).unwrap(), d);
        assert!(Digest::parse("sha256:ABC").is_err());
        assert!(Digest::parse("md5:abc").is_err());
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"hello").unwrap();
        let (d2, n) = w.finish();
        assert_eq!(n, 5);
        assert_eq!(d2, Digest::of(b"hello"));
    }
}
