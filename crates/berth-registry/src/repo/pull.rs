//! Pull side of a [`Repo`]: manifests by tag or digest (verified), platform resolution
//! through indexes, verified blob streaming, and tag listing.

use std::io::{self, Read, Write};

use ureq::http;

use super::{Manifest, ManifestHead, Repo, ResolvedImage, MAX_MANIFEST_BYTES};
use crate::client::{header, read_small, Request};
use crate::digest::{Digest, HashingWriter};
use crate::error::RegistryError;
use crate::manifest::{
    parse_image_manifest, parse_index, select_platform, sniff_media_type, Platform,
    ACCEPTED_MANIFEST_TYPES,
};

impl Repo {
    /// GET a manifest by tag or digest. Verifies the bytes against the digest when pulling
    /// by digest, and against Docker-Content-Digest when the registry sends one.
    pub fn get_manifest(&self, reference: &str) -> Result<Manifest, RegistryError> {
        let wanted = if reference.starts_with("sha256:") || reference.contains(':') {
            Some(Digest::parse(reference)?)
        } else {
            None
        };
        let url = self.path_url(&format!("manifests/{reference}"))?;
        let (mut resp, url) = self.send(Request {
            headers: vec![("accept", ACCEPTED_MANIFEST_TYPES.join(", "))],
            ..self.req(http::Method::GET, url)
        })?;
        if resp.status() != 200 {
            return Err(self.pull_error("Get", &url, resp, Some(reference)));
        }
        let content_type = header(&resp, "content-type");
        let header_digest = header(&resp, "docker-content-digest");
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_MANIFEST_BYTES)
            .read_to_vec()
            .map_err(|e| RegistryError::Protocol(format!("reading manifest: {e}")))?;
        let digest = Digest::of(&bytes);
        if let Some(w) = &wanted {
            if *w != digest {
                return Err(RegistryError::DigestMismatch {
                    expected: w.to_string(),
                    actual: digest.to_string(),
                });
            }
        } else if let Some(h) = header_digest.filter(|h| h.starts_with("sha256:")) {
            if h != digest.as_str() {
                return Err(RegistryError::DigestMismatch {
                    expected: h,
                    actual: digest.to_string(),
                });
            }
        }
        let media_type = sniff_media_type(content_type.as_deref(), &bytes);
        Ok(Manifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// HEAD a manifest: `None` when it does not exist.
    pub fn head_manifest(&self, reference: &str) -> Result<Option<ManifestHead>, RegistryError> {
        let url = self.path_url(&format!("manifests/{reference}"))?;
        let (resp, url) = self.send(Request {
            headers: vec![("accept", ACCEPTED_MANIFEST_TYPES.join(", "))],
            ..self.req(http::Method::HEAD, url)
        })?;
        match resp.status().as_u16() {
            200 => {
                let digest = header(&resp, "docker-content-digest")
                    .ok_or_else(|| {
                        RegistryError::Protocol("missing Docker-Content-Digest header".into())
                    })
                    .and_then(|d| Digest::parse(&d))?;
                Ok(Some(ManifestHead {
                    digest,
                    media_type: header(&resp, "content-type").unwrap_or_default(),
                    size: header(&resp, "content-length")
                        .and_then(|l| l.parse().ok())
                        .unwrap_or(0),
                }))
            }
            404 => Ok(None),
            _ => Err(self.pull_error("Head", &url, resp, Some(reference))),
        }
    }

    /// Resolve a tag or digest to the image manifest for `platform`, going through an
    /// index / manifest list when the reference names one.
    pub fn resolve_image(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> Result<ResolvedImage, RegistryError> {
        let top = self.get_manifest(reference)?;
        if top.is_index() {
            let index = parse_index(&top.bytes)?;
            let entry = select_platform(&index, platform)?;
            let manifest = self.get_manifest(&entry.digest)?;
            if manifest.is_index() {
                return Err(RegistryError::InvalidManifest(
                    "nested manifest lists are not supported".into(),
                ));
            }
            let image = parse_image_manifest(&manifest.bytes)?;
            return Ok(ResolvedImage {
                index: Some(top),
                manifest,
                image,
            });
        }
        // Schema 1 only (`application/vnd.docker.distribution.manifest.v1+…`); the OCI
        // manifest type also contains "manifest.v1".
        if top
            .media_type
            .starts_with("application/vnd.docker.distribution.manifest.v1")
        {
            return Err(RegistryError::InvalidManifest(format!(
                "Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed. Suggest the author of {} to upgrade the image to the OCI Format or Docker Image manifest v2, schema 2.",
                self.repository.familiar_name()
            )));
        }
        let image = parse_image_manifest(&top.bytes)?;
        Ok(ResolvedImage {
            index: None,
            manifest: top,
            image,
        })
    }

    /// Stream a blob into `out`, hashing it; OK only if its sha256 equals `digest` (and its
    /// length equals `expected_size` when given). On error the caller discards what was
    /// written.
    pub fn fetch_blob(
        &self,
        digest: &Digest,
        expected_size: Option<u64>,
        out: &mut dyn Write,
    ) -> Result<u64, RegistryError> {
        let url = self.path_url(&format!("blobs/{digest}"))?;
        let (resp, url) = self.send(self.req(http::Method::GET, url))?;
        if resp.status() != 200 {
            return Err(self.pull_error("Get", &url, resp, None));
        }
        read_verified(resp, HashingWriter::new(out), digest, expected_size)
    }

    /// Continue an interrupted download: the first `offset` bytes of the blob are already
    /// in `out`'s destination and readable from `prefix` (they are hashed again, never
    /// trusted). Asks for the rest with a `Range` request; when the registry answers with
    /// the whole blob instead, `restart` is called (the caller truncates its file) and the
    /// whole blob is written. Verified like [`Repo::fetch_blob`]; returns the total length.
    pub fn fetch_blob_resume(
        &self,
        digest: &Digest,
        expected_size: Option<u64>,
        offset: u64,
        prefix: &mut dyn Read,
        out: &mut dyn Write,
        restart: &mut dyn FnMut() -> io::Result<()>,
    ) -> Result<u64, RegistryError> {
        let whole = |out: &mut dyn Write, restart: &mut dyn FnMut() -> io::Result<()>| {
            restart().map_err(|e| RegistryError::io(format!("restarting blob {digest}"), e))?;
            self.fetch_blob(digest, expected_size, out)
        };
        if offset == 0 || expected_size.is_some_and(|n| offset >= n) {
            return whole(out, restart);
        }
        let url = self.path_url(&format!("blobs/{digest}"))?;
        let (resp, url) = self.send(Request {
            headers: vec![("range", format!("bytes={offset}-"))],
            ..self.req(http::Method::GET, url)
        })?;
        match resp.status().as_u16() {
            206 => {
                // `Content-Range: bytes <offset>-<end>/<total>`: anything else is not the
                // continuation we asked for.
                let from = header(&resp, "content-range").and_then(|r| {
                    r.strip_prefix("bytes ")?
                        .split('-')
                        .next()?
                        .parse::<u64>()
                        .ok()
                });
                if from != Some(offset) {
                    drop(resp);
                    return whole(out, restart);
                }
                let hw = HashingWriter::resume(out, prefix, offset)
                    .map_err(|e| RegistryError::io(format!("reading partial blob {digest}"), e))?;
                read_verified(resp, hw, digest, expected_size)
            }
            200 => {
                restart().map_err(|e| RegistryError::io(format!("restarting blob {digest}"), e))?;
                read_verified(resp, HashingWriter::new(out), digest, expected_size)
            }
            // Range not satisfiable (the blob is shorter than we thought): start over.
            416 => {
                drop(resp);
                whole(out, restart)
            }
            _ => Err(self.pull_error("Get", &url, resp, None)),
        }
    }

    /// Fetch a small blob (an image config) into memory, verified.
    pub fn fetch_blob_bytes(
        &self,
        digest: &Digest,
        expected_size: Option<u64>,
    ) -> Result<Vec<u8>, RegistryError> {
        let mut buf = Vec::new();
        self.fetch_blob(digest, expected_size, &mut buf)?;
        Ok(buf)
    }

    /// List the repository's tags (following `Link` pagination).
    pub fn list_tags(&self) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut out = Vec::new();
        let prefix = self.host_prefix()?;
        let mut next = Some(self.path_url("tags/list")?);
        while let Some(url) = next.take() {
            let (mut resp, url) = self.send(Request {
                headers: vec![("accept", "application/json".into())],
                ..self.req(http::Method::GET, url)
            })?;
            if resp.status() != 200 {
                return Err(self.pull_error("Get", &url, resp, None));
            }
            next = header(&resp, "link")
                .and_then(|l| parse_next_link(&l))
                .map(|n| {
                    if n.starts_with('/') {
                        format!("{prefix}{n}")
                    } else {
                        n
                    }
                });
            let body = read_small(&mut resp);
            let tags: Tags = serde_json::from_slice(&body)
                .map_err(|e| RegistryError::Protocol(format!("decoding tag list: {e}")))?;
            out.extend(tags.tags.unwrap_or_default());
        }
        Ok(out)
    }
}

/// Stream a blob response body into `hw` (which may already hold a resumed prefix) and
/// check the total length and digest.
fn read_verified(
    resp: http::Response<ureq::Body>,
    mut hw: HashingWriter<&mut dyn Write>,
    digest: &Digest,
    expected_size: Option<u64>,
) -> Result<u64, RegistryError> {
    let mut reader = resp.into_body().into_reader();
    // Read at most one byte past the expected size: enough to detect an oversize blob
    // without streaming an endless body.
    let copied = match expected_size {
        Some(n) => io::copy(
            &mut (&mut reader).take(n.saturating_sub(hw.count()) + 1),
            &mut hw,
        ),
        None => io::copy(&mut reader, &mut hw),
    };
    copied.map_err(|e| RegistryError::io(format!("reading blob {digest}"), e))?;
    hw.flush()
        .map_err(|e| RegistryError::io(format!("writing blob {digest}"), e))?;
    let (actual, n) = hw.finish();
    if let Some(size) = expected_size {
        if n != size {
            return Err(RegistryError::SizeMismatch {
                digest: digest.to_string(),
                expected: size,
                actual: n,
            });
        }
    }
    if actual != *digest {
        return Err(RegistryError::DigestMismatch {
            expected: digest.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(n)
}

/// The target of `Link: <url>; rel="next"`.
fn parse_next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link() {
        assert_eq!(
            parse_next_link(r#"</v2/x/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/x/tags/list?n=2&last=b")
        );
        assert_eq!(parse_next_link(r#"</a>; rel="prev""#), None);
    }
}
