//! Pull and push primitives of one repository: manifests (GET / HEAD / PUT, platform
//! resolution through indexes), blobs (verified streaming GET, HEAD, cross-repository
//! mount, monolithic and chunked uploads) and tag listing.
//!
//! A [`Repo`] is created by [`RegistryClient::repo`]; every request goes through the
//! client's shared endpoint and auth handling (`client.rs`), and the error statuses are
//! mapped here, where it is known whether a pull or a push failed.

use std::io::{self, Read, Write};

use ureq::http::{self, Response};
use ureq::Body;

use crate::auth::{Credentials, HostAuth};
use crate::client::{header, query_escape, read_small, RegistryClient, Request};
use crate::digest::{Digest, HashingWriter};
use crate::error::{RegistryError, RegistryErrorEntry, RegistryErrors};
use crate::manifest::{
    is_index, parse_image_manifest, parse_index, select_platform, sniff_media_type, ImageManifest,
    Platform, ACCEPTED_MANIFEST_TYPES,
};
use crate::reference::Repository;

/// Largest manifest accepted (Docker's limit is 4 MiB as well).
const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// A manifest as fetched: exact bytes, media type, digest of the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The bytes exactly as served (their sha256 is the digest).
    pub bytes: Vec<u8>,
    /// Media type from Content-Type (or sniffed from the body).
    pub media_type: String,
    /// `sha256:` of `bytes`.
    pub digest: Digest,
}

impl Manifest {
    /// Whether this is a multi-platform index / manifest list.
    pub fn is_index(&self) -> bool {
        is_index(&self.media_type)
    }
}

/// Answer of a manifest HEAD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestHead {
    /// Docker-Content-Digest.
    pub digest: Digest,
    /// Content-Type.
    pub media_type: String,
    /// Content-Length.
    pub size: u64,
}

/// A platform-resolved image: the index it came through (if any) and its manifest.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// The index / manifest list the reference pointed at, if it was one.
    pub index: Option<Manifest>,
    /// The image manifest for the platform.
    pub manifest: Manifest,
    /// Parsed view of `manifest`.
    pub image: ImageManifest,
}

impl ResolvedImage {
    /// The digest the reference resolved to (index digest when there was an index): what
    /// Docker records as the RepoDigest.
    pub fn repo_digest(&self) -> &Digest {
        self.index
            .as_ref()
            .map_or(&self.manifest.digest, |i| &i.digest)
    }
}

/// An open blob upload (its Location).
#[derive(Debug, Clone)]
pub struct UploadSession {
    location: String,
}

/// Outcome of a cross-repository mount.
#[derive(Debug)]
pub enum MountResult {
    /// 201: the blob now exists in the target repository.
    Mounted,
    /// 202: not mounted; the registry opened an upload session to use instead.
    Upload(UploadSession),
}

/// What a repository handle is used for: decides the token scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `repository:<name>:pull`.
    Pull,
    /// `repository:<name>:pull,push`.
    Push,
}

impl RegistryClient {
    /// A handle for one repository with optional credentials.
    pub fn repo(
        &self,
        repository: &Repository,
        credentials: Option<Credentials>,
        access: Access,
    ) -> Repo {
        Repo {
            client: self.clone(),
            repository: repository.clone(),
            credentials,
            access,
        }
    }
}

/// One repository on one registry, with the credentials to use. Cheap to clone; all
/// clones share the client's connections and token cache.
#[derive(Clone)]
pub struct Repo {
    client: RegistryClient,
    repository: Repository,
    credentials: Option<Credentials>,
    access: Access,
}

impl Repo {
    /// The repository.
    pub fn repository(&self) -> &Repository {
        &self.repository
    }

    fn host(&self) -> &str {
        self.repository.api_host()
    }

    fn scopes(&self) -> Vec<String> {
        let actions = match self.access {
            Access::Pull => "pull",
            Access::Push => "pull,push",
        };
        vec![format!("repository:{}:{actions}", self.repository.path())]
    }

    fn path_url(&self, rest: &str) -> String {
        format!(
            "{}/v2/{}/{rest}",
            self.host_prefix(),
            self.repository.path()
        )
    }

    /// Absolute base like `http://host` once the endpoint is known.
    fn host_prefix(&self) -> String {
        // The endpoint probe decides the scheme; execute() resolves absolute URLs against
        // the endpoint, so build them from it here.
        match self.client.endpoint(self.host()) {
            Ok(ep) => ep.base,
            Err(_) => format!("https://{}", self.host()),
        }
    }

    fn send(&self, req: Request<'_>) -> Result<(Response<Body>, String), RegistryError> {
        let url = req.url.clone();
        // Make sure the endpoint (and thus its auth scheme) is known before the request.
        self.client.endpoint(self.host())?;
        let req = Request {
            host: self.host().to_string(),
            ..req
        };
        let resp = self.client.execute(&req, self.credentials.as_ref())?;
        Ok((resp, url))
    }

    /// Map an error response of a pull-side request (manifests, blobs).
    fn pull_error(
        &self,
        method: &'static str,
        url: &str,
        resp: Response<Body>,
        reference: Option<&str>,
    ) -> RegistryError {
        let err = self.client.status_error(method, url, resp);
        let errors = match &err {
            RegistryError::Unauthorized(e) => e.clone(),
            RegistryError::Status {
                errors: Some(e), ..
            } => e.clone(),
            RegistryError::Status {
                status: 404,
                errors: None,
                ..
            } if reference.is_some() => {
                // A HEAD has no body: a 404 on a manifest means it is unknown.
                RegistryErrors(vec![RegistryErrorEntry {
                    code: "MANIFEST_UNKNOWN".into(),
                    message: "manifest unknown".into(),
                }])
            }
            _ => return err,
        };
        let familiar = |r: &str| {
            let name = self.repository.familiar_name();
            if r.starts_with("sha256:") {
                format!("{name}@{r}")
            } else {
                format!("{name}:{r}")
            }
        };
        if errors.has_code("DENIED")
            || errors.has_code("NAME_UNKNOWN")
            || (matches!(err, RegistryError::Unauthorized(_))
                && self.credentials.is_none()
                && matches!(
                    self.client.host_auth(self.host()),
                    Some(HostAuth::Bearer { .. })
                ))
        {
            // Docker's wording for a missing repository or one that needs a login.
            let errors = if errors.has_code("DENIED") {
                errors
            } else {
                RegistryErrors(vec![RegistryErrorEntry {
                    code: "DENIED".into(),
                    message: "requested access to the resource is denied".into(),
                }])
            };
            return RegistryError::PullAccessDenied {
                repository: self.repository.familiar_name(),
                errors,
            };
        }
        if let Some(r) = reference {
            if errors.has_code("MANIFEST_UNKNOWN") {
                return RegistryError::ManifestUnknown {
                    reference: familiar(r),
                    errors,
                };
            }
        }
        if errors.has_code("BLOB_UNKNOWN") {
            return RegistryError::BlobUnknown {
                digest: url.rsplit('/').next().unwrap_or("").to_string(),
                errors,
            };
        }
        err
    }

    /// Map an error response of a push-side request.
    fn push_error(&self, method: &'static str, url: &str, resp: Response<Body>) -> RegistryError {
        let err = self.client.status_error(method, url, resp);
        match err {
            RegistryError::Status {
                errors: Some(errors),
                ..
            } if errors.has_code("DENIED") => RegistryError::PushAccessDenied {
                repository: self.repository.familiar_name(),
                errors,
            },
            other => other,
        }
    }

    // ---------------------------------------------------------------- pull primitives

    /// GET a manifest by tag or digest. Verifies the bytes against the digest when pulling
    /// by digest, and against Docker-Content-Digest when the registry sends one.
    pub fn get_manifest(&self, reference: &str) -> Result<Manifest, RegistryError> {
        let wanted = if reference.starts_with("sha256:") || reference.contains(':') {
            Some(Digest::parse(reference)?)
        } else {
            None
        };
        let url = self.path_url(&format!("manifests/{reference}"));
        let (mut resp, url) = self.send(Request {
            host: String::new(),
            method: http::Method::GET,
            url,
            headers: vec![("accept", ACCEPTED_MANIFEST_TYPES.join(", "))],
            body: None,
            scopes: self.scopes(),
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
        let url = self.path_url(&format!("manifests/{reference}"));
        let (resp, url) = self.send(Request {
            host: String::new(),
            method: http::Method::HEAD,
            url,
            headers: vec![("accept", ACCEPTED_MANIFEST_TYPES.join(", "))],
            body: None,
            scopes: self.scopes(),
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
        if top.media_type.contains("manifest.v1") {
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
        let url = self.path_url(&format!("blobs/{digest}"));
        let (resp, url) = self.send(Request {
            host: String::new(),
            method: http::Method::GET,
            url,
            headers: Vec::new(),
            body: None,
            scopes: self.scopes(),
        })?;
        if resp.status() != 200 {
            return Err(self.pull_error("Get", &url, resp, None));
        }
        let mut reader = resp.into_body().into_reader();
        let mut hw = HashingWriter::new(out);
        // Read at most one byte past the expected size: enough to detect an oversize blob
        // without streaming an endless body.
        let copied = match expected_size {
            Some(n) => io::copy(&mut (&mut reader).take(n + 1), &mut hw),
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
        let mut next = Some(self.path_url("tags/list"));
        while let Some(url) = next.take() {
            let (mut resp, url) = self.send(Request {
                host: String::new(),
                method: http::Method::GET,
                url,
                headers: vec![("accept", "application/json".into())],
                body: None,
                scopes: self.scopes(),
            })?;
            if resp.status() != 200 {
                return Err(self.pull_error("Get", &url, resp, None));
            }
            next = header(&resp, "link")
                .and_then(|l| parse_next_link(&l))
                .map(|n| {
                    if n.starts_with('/') {
                        format!("{}{n}", self.host_prefix())
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

    // ---------------------------------------------------------------- push primitives

    /// HEAD a blob: its size when the repository has it, `None` when not.
    pub fn blob_exists(&self, digest: &Digest) -> Result<Option<u64>, RegistryError> {
        let url = self.path_url(&format!("blobs/{digest}"));
        let (resp, url) = self.send(Request {
            host: String::new(),
            method: http::Method::HEAD,
            url,
            headers: Vec::new(),
            body: None,
            scopes: self.scopes(),
        })?;
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
        let mut url = self.path_url("blobs/uploads/");
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
            host: String::new(),
            method: http::Method::POST,
            url,
            headers: vec![("content-length", "0".into())],
            body: Some(&[]),
            scopes,
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
                format!("{}{loc}", self.host_prefix())
            } else {
                format!("{}/{loc}", self.host_prefix())
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
            host: String::new(),
            method: http::Method::PUT,
            url,
            headers: vec![
                ("content-type", "application/octet-stream".into()),
                ("content-length", data.len().to_string()),
            ],
            body: Some(data),
            scopes: self.push_scopes(),
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
                host: String::new(),
                method: http::Method::PATCH,
                url: location.clone(),
                headers: vec![
                    ("content-type", "application/octet-stream".into()),
                    ("content-range", format!("{offset}-{end}")),
                    ("content-length", n.to_string()),
                ],
                body: Some(chunk),
                scopes: self.push_scopes(),
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
            host: String::new(),
            method: http::Method::DELETE,
            url: location.to_string(),
            headers: Vec::new(),
            body: None,
            scopes: self.push_scopes(),
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
        let url = self.path_url(&format!("manifests/{reference}"));
        let (resp, url) = self.send(Request {
            host: String::new(),
            method: http::Method::PUT,
            url,
            headers: vec![
                ("content-type", media_type.to_string()),
                ("content-length", bytes.len().to_string()),
            ],
            body: Some(bytes),
            scopes: self.push_scopes(),
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
    fn helpers() {
        assert_eq!(
            parse_next_link(r#"</v2/x/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/x/tags/list?n=2&last=b")
        );
        let mut buf = [0u8; 4];
        let mut r: &[u8] = b"abcdef";
        assert_eq!(read_full(&mut r, &mut buf).unwrap(), 4);
    }
}
