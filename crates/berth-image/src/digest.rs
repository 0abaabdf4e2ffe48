//! Content digests: `sha256:<64 hex>` strings, the image id type, chain ids of layer
//! stacks, and a reader that hashes what passes through it (diff ids are computed while
//! a layer streams into the unpacker).

use std::fmt;
use std::io::{self, Read};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The only digest algorithm the store writes.
pub const SHA256_PREFIX: &str = "sha256:";

/// `sha256:` + hex of the SHA-256 of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("{SHA256_PREFIX}{}", hex::encode(Sha256::digest(bytes)))
}

/// Whether `s` is 64 lowercase hex digits.
pub fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The hex part of a `sha256:<hex>` digest, if it is one.
pub fn digest_hex(d: &str) -> Option<&str> {
    d.strip_prefix(SHA256_PREFIX).filter(|h| is_hex64(h))
}

/// An image id: `sha256:<hex>` of the image config bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ImageId(String);

impl ImageId {
    /// Parse `sha256:<64 hex>`.
    pub fn parse(s: &str) -> Option<ImageId> {
        digest_hex(s).map(|_| ImageId(s.to_string()))
    }

    /// Id of the given config bytes.
    pub fn of_config(bytes: &[u8]) -> ImageId {
        ImageId(sha256_digest(bytes))
    }

    pub(crate) fn from_hex(hex: &str) -> ImageId {
        ImageId(format!("{SHA256_PREFIX}{hex}"))
    }

    /// The full `sha256:<hex>` form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        &self.0[SHA256_PREFIX.len()..]
    }

    /// The first 12 hex digits, as `docker images` shows them.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ImageId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Truncate an id (with or without `sha256:`) to 12 hex digits, Docker's short form.
pub fn short_id(id: &str) -> &str {
    let hex = id.split_once(':').map_or(id, |(_, h)| h);
    &hex[..hex.len().min(12)]
}

/// Chain ids of a stack of diff ids, bottom first (OCI image spec):
/// `chain(L0) = diff(L0)`, `chain(Ln) = sha256(chain(Ln-1) + " " + diff(Ln))`.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(parent) => sha256_digest(format!("{parent} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// A reader that hashes every byte read through it and counts them.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Read the rest of the stream (so trailing padding is part of the digest) and
    /// return `sha256:<hex>` of everything.
    pub fn finish(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        let hex = hex::encode(self.hasher.finalize());
        Ok((format!("{SHA256_PREFIX}{hex}"), self.count))
    }
}

impl<R: Read> HashingReader<R> {
    /// Like [`finish`](Self::finish), also giving back the inner reader.
    pub fn finish_with_inner(mut self) -> io::Result<(String, u64, R)> {
        io::copy(&mut self, &mut io::sink())?;
        let hex = hex::encode(self.hasher.finalize());
        Ok((format!("{SHA256_PREFIX}{hex}"), self.count, self.inner))
    }
}

/// A writer that hashes and counts every byte written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: io::Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Flush and return (`sha256:<hex>`, bytes written, inner writer).
    pub fn finish(mut self) -> io::Result<(String, u64, W)> {
        self.inner.flush()?;
        let hex = hex::encode(self.hasher.finalize());
        Ok((format!("{SHA256_PREFIX}{hex}"), self.count, self.inner))
    }
}

impl<W: io::Write> io::Write for HashingWriter<W> {
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

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_oci_rule() {
        let a = sha256_digest(b"a");
        let b = sha256_digest(b"b");
        let c = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(c[0], a);
        assert_eq!(c[1], sha256_digest(format!("{a} {b}").as_bytes()));
        assert_ne!(c[1], b);
    }

    #[test]
    fn hashing_reader_hashes_everything() {
        let data = vec![7u8; 10_000];
        let mut r = HashingReader::new(&data[..]);
        let mut first = [0u8; 100];
        r.read_exact(&mut first).unwrap();
        let (d, n) = r.finish().unwrap();
        assert_eq!(n, 10_000);
        assert_eq!(d, sha256_digest(&data));
    }

    #[test]
    fn ids() {
        let id = ImageId::of_config(b"{}");
        assert!(ImageId::parse(id.as_str()).is_some());
        assert_eq!(id.short().len(), 12);
        assert!(ImageId::parse("sha256:abc").is_none());
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(short_id("0123"), "0123");
    }
}
