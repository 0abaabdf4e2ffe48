//! Push side of a [`Repo`]: blob existence, cross-repository mounts, monolithic and
//! chunked uploads (hashed on the way, cancelled on a digest mismatch), and manifest PUT.

use std::io::{self, Read, Write};

use ureq::http::{self, Response};
use ureq::Body;

use super::{MountResult, Repo, UploadSession};
use crate::client::{header, query_escape, Request};
use crate::digest::{Digest, HashingWriter};
use crate::error::RegistryError;

impl Repo {
    /// HEAD a blob: its size when the repository has it, `None` when not.
    pub fn blob_exists(&self, digest: &Digest) -> Result<Option<u64>, RegistryError> {
        let url = self.path_url(&format!("blobs/{digest}"))?;
        let (resp, url) = self.send(self.req(http::Method::HEAD, url))?;
        match resp.status().as_u16() {
            200 => Ok(Some(
                header(&resp, "content-length")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0),
            )),
            404 => Ok(None),
            _ => Err(self.pull_error("Head", &url, resp, None)),
        }
    }

    /// Open an upload session (`POST /v2/<name>/blobs/uploads/`).
    pub fn start_upload(&self) -> Result<UploadSession, RegistryError> {
        match self.post_upload(None)? {
            MountResult::Upload(s) => Ok(s),
            MountResult::Mounted => Err(RegistryError::Protocol(
                "registry answered an upload request with 201 Created".into(),
            )),
        }
    }

    /// Cross-repository mount from `from_path` (a repository path on the same registry).
    /// 201 → mounted; 202 → not mounted, and the returned session is ready for an upload.
    pub fn mount_blob(
        &self,
        digest: &Digest,
        from_path: &str,
    ) -> Result<MountResult, RegistryError> {
        self.post_upload(Some((digest, from_path)))
    }

    fn post_upload(&self, mount: Option<(&Digest, &str)>) -> Result<MountResult, RegistryError> {
        let mut url = self.path_url("blobs/uploads/")?;
        let mut scopes = self.push_scopes();
        if let Some((digest, from)) = mount {
            url.push_str(&format!(
                "?mount={}&from={}",
                query_escape(digest.as_str()),
                query_escape(from)
            ));
            scopes.push(format!("repository:{from}:pull"));
        }
        let (resp, url) = self.send(Request {
            headers: vec![("content-length", "0".into())],
            body: Some(&[]),
            scopes,
            ..self.req(http::Method::POST, url)
        })?;
        match resp.status().as_u16() {
            201 => Ok(MountResult::Mounted),
            202 => Ok(MountResult::Upload(UploadSession {
                location: self.location(&resp)?,
            })),
            _ => Err(self.push_error("Post", &url, resp)),
        }
    }

    fn push_scopes(&self) -> Vec<String> {
        vec![format!("repository:{}:pull,push", self.repository.path())]
    }

    /// The absolute Location of an upload response.
    fn location(&self, resp: &Response<Body>) -> Result<String, RegistryError> {
        let loc = header(resp, "location").ok_or_else(|| {
            RegistryError::Protocol("upload response without Location header".into())
        })?;
        Ok(
            if loc.starts_with("http://") || loc.starts_with("https://") {
                loc
            } else if loc.starts_with('/') {
                format!("{}{loc}", self.host_prefix()?)
            } else {
                format!("{}/{loc}", self.host_prefix()?)
            },
        )
    }

    /// Upload a whole blob in the session's final PUT (`?digest=`).
    pub fn upload_monolithic(
        &self,
        session: UploadSession,
        digest: &Digest,
        data: &[u8],
    ) -> Result<(), RegistryError> {
        let actual = Digest::of(data);
        if actual != *digest {
            return Err(RegistryError::DigestMismatch {
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        self.finish_upload(&session.location, digest, data)
    }

    fn finish_upload(
        &self,
        location: &str,
        digest: &Digest,
        data: &[u8],
    ) -> Result<(), RegistryError> {
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={}", query_escape(digest.as_str()));
        let (resp, url) = self.send(Request {
            headers: vec![
                ("content-type", "application/octet-stream".into()),
                ("content-length", data.len().to_string()),
            ],
            body: Some(data),
            scopes: self.push_scopes(),
            ..self.req(http::Method::PUT, url)
        })?;
        match resp.status().as_u16() {
            201 | 204 => Ok(()),
            _ => Err(self.push_error("Put", &url, resp)),
        }
    }

    /// Upload in PATCH chunks of `chunk_size` with Content-Range, then the final PUT. The
    /// data is hashed on the way; a mismatch with `digest` cancels the upload.
    pub fn upload_chunked(
        &self,
        session: UploadSession,
        digest: &Digest,
        reader: &mut dyn Read,
        chunk_size: u64,
    ) -> Result<u64, RegistryError> {
        let chunk_size = usize::try_from(chunk_size.max(1)).unwrap_or(usize::MAX);
        let mut location = session.location;
        let mut hasher = HashingWriter::new(io::sink());
        let mut offset: u64 = 0;
        let mut buf = vec![0u8; chunk_size];
        loop {
            let n = read_full(reader, &mut buf)
                .map_err(|e| RegistryError::io(format!("reading blob {digest}"), e))?;
            if n == 0 {
                break;
            }
            let chunk = &buf[..n];
            hasher
                .write_all(chunk)
                .map_err(|e| RegistryError::io("hashing", e))?;
            let end = offset + n as u64 - 1;
            let (resp, url) = self.send(Request {
                headers: vec![
                    ("content-type", "application/octet-stream".into()),
                    ("content-range", format!("{offset}-{end}")),
                    ("content-length", n.to_string()),
                ],
                body: Some(chunk),
                scopes: self.push_scopes(),
                ..self.req(http::Method::PATCH, location.clone())
            })?;
            if resp.status() != 202 {
                return Err(self.push_error("Patch", &url, resp));
            }
            location = self.location(&resp)?;
            offset += n as u64;
            if n < chunk_size {
                break;
            }
        }
        let (actual, total) = hasher.finish();
        if actual != *digest {
            self.cancel_upload(&location);
            return Err(RegistryError::DigestMismatch {
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        self.finish_upload(&location, digest, &[])?;
        Ok(total)
    }

    /// Best-effort DELETE of an upload session.
    fn cancel_upload(&self, location: &str) {
        let _ = self.send(Request {
            scopes: self.push_scopes(),
            ..self.req(http::Method::DELETE, location.to_string())
        });
    }

    /// Upload a blob of known size: one PUT at or below the configured threshold, chunks
    /// above it. Skips nothing: check [`Repo::blob_exists`] / [`Repo::mount_blob`] first.
    pub fn upload_blob(
        &self,
        digest: &Digest,
        size: u64,
        reader: &mut dyn Read,
    ) -> Result<(), RegistryError> {
        let session = self.start_upload()?;
        self.upload_blob_in(session, digest, size, reader)
    }

    /// Like [`Repo::upload_blob`] in an already open session (from a declined mount).
    pub fn upload_blob_in(
        &self,
        session: UploadSession,
        digest: &Digest,
        size: u64,
        reader: &mut dyn Read,
    ) -> Result<(), RegistryError> {
        let cfg = self.client.config();
        if size <= cfg.chunk_threshold {
            let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            reader
                .take(size + 1)
                .read_to_end(&mut data)
                .map_err(|e| RegistryError::io(format!("reading blob {digest}"), e))?;
            if data.len() as u64 != size {
                return Err(RegistryError::SizeMismatch {
                    digest: digest.to_string(),
                    expected: size,
                    actual: data.len() as u64,
                });
            }
            self.upload_monolithic(session, digest, &data)
        } else {
            let n = self.upload_chunked(session, digest, reader, cfg.chunk_size)?;
            if n != size {
                return Err(RegistryError::SizeMismatch {
                    digest: digest.to_string(),
                    expected: size,
                    actual: n,
                });
            }
            Ok(())
        }
    }

    /// PUT a manifest under a tag or digest with its media type; returns its digest.
    pub fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, RegistryError> {
        let url = self.path_url(&format!("manifests/{reference}"))?;
        let (resp, url) = self.send(Request {
            headers: vec![
                ("content-type", media_type.to_string()),
                ("content-length", bytes.len().to_string()),
            ],
            body: Some(bytes),
            scopes: self.push_scopes(),
            ..self.req(http::Method::PUT, url)
        })?;
        if resp.status() != 201 && resp.status() != 200 {
            return Err(self.push_error("Put", &url, resp));
        }
        let digest = Digest::of(bytes);
        if let Some(h) = header(&resp, "docker-content-digest") {
            if h.starts_with("sha256:") && h != digest.as_str() {
                return Err(RegistryError::DigestMismatch {
                    expected: digest.to_string(),
                    actual: h,
                });
            }
        }
        Ok(digest)
    }
}

/// Read until `buf` is full or EOF; returns the count.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_full_fills_or_stops_at_eof() {
        let mut buf = [0u8; 4];
        let mut r: &[u8] = b"abcdef";
        assert_eq!(read_full(&mut r, &mut buf).unwrap(), 4);
        assert_eq!(&buf, b"abcd");
        assert_eq!(read_full(&mut r, &mut buf).unwrap(), 2);
        assert_eq!(read_full(&mut r, &mut buf).unwrap(), 0);
    }
}
