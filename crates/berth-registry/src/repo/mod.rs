//! A [`Repo`]: one repository on one registry with its credentials, and the types its
//! primitives return. The primitives are in `pull.rs` (manifests, platform resolution,
//! verified blob streaming, tags) and `push.rs` (blob existence, mounts, uploads,
//! manifest PUT).
//!
//! A [`Repo`] is created by [`RegistryClient::repo`]; every request goes through the
//! client's shared endpoint and auth handling (`client.rs`), and the error statuses are
//! mapped here, where it is known whether a pull or a push failed.

use ureq::http::{self, Response};
use ureq::Body;

use crate::auth::{Credentials, HostAuth};
use crate::client::{RegistryClient, Request};
use crate::digest::Digest;
use crate::error::{RegistryError, RegistryErrorEntry, RegistryErrors};
use crate::manifest::{is_index, ImageManifest};
use crate::reference::Repository;

mod pull;
mod push;

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

    /// `<scheme>://<host>/v2/<name>/<rest>`; the first call probes the endpoint (which
    /// decides the scheme and learns the auth scheme).
    fn path_url(&self, rest: &str) -> Result<String, RegistryError> {
        Ok(format!(
            "{}/v2/{}/{rest}",
            self.host_prefix()?,
            self.repository.path()
        ))
    }

    /// `<scheme>://<host>` of the registry.
    fn host_prefix(&self) -> Result<String, RegistryError> {
        Ok(self.client.endpoint(self.host())?.base)
    }

    /// A request on this repository with the default scopes and no headers or body.
    fn req<'a>(&self, method: http::Method, url: String) -> Request<'a> {
        Request {
            host: self.host().to_string(),
            method,
            url,
            headers: Vec::new(),
            body: None,
            scopes: self.scopes(),
        }
    }

    /// Send with the client's auth handling; returns the response and the URL (for
    /// error texts).
    fn send(&self, req: Request<'_>) -> Result<(Response<Body>, String), RegistryError> {
        let url = req.url.clone();
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
        if errors.has_code("NAME_UNKNOWN") && !errors.has_code("DENIED") {
            return RegistryError::RepositoryUnknown {
                repository: self.repository.familiar_name(),
                errors,
            };
        }
        if errors.has_code("DENIED")
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
}
