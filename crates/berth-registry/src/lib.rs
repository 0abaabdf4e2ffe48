//! OCI distribution / Docker registry client for `berth pull` and `berth push`.
//!
//! Synchronous (blocking) on purpose: the engine calls it from `spawn_blocking`, and the
//! image store downloads layers in parallel on plain threads. [`RegistryClient`] is
//! `Clone + Send + Sync`; its clones share connections, endpoint probes and the bearer
//! token cache.
//!
//! Modules: [`mod@reference`] (names → registry host and repository path), [`transport`]
//! (HTTP vs TLS, insecure registries, `certs.d` CAs), [`auth`] (challenges, tokens),
//! [`client`] (the pull / push primitives), [`manifest`] (media types, index platform
//! selection), [`digest`] (verified hashing), [`docker_config`] (config.json credentials
//! for login / logout), [`error`] (typed, Docker-worded errors), [`fetch`] (plain HTTP(S)
//! downloads for a Dockerfile's `ADD <url>`).
//!
//! # How the image store uses it
//!
//! Pull (`berth pull busybox`):
//! ```no_run
//! # use berth_registry::*;
//! # fn main() -> Result<(), RegistryError> {
//! let client = RegistryClient::new(RegistryConfig::default())?; // once per daemon
//! let r = Reference::parse_tagged("busybox")?;
//! // From the API's X-Registry-Auth header (`decode_registry_auth`), or for CLI-side use
//! // `DockerConfigFile::load(&default_config_path())?.get(domain)`.
//! let creds = None;
//! let repo = client.repo(r.repository(), creds, Access::Pull);
//! let resolved = repo.resolve_image(&r.manifest_reference(), &Platform::host())?;
//! let config = repo.fetch_blob_bytes(
//!     &Digest::parse(&resolved.image.config.digest)?, Some(resolved.image.config.size))?;
//! for layer in &resolved.image.layers {
//!     // In parallel threads, each with a clone of `repo`: stream into a temp file in
//!     // the store, then rename it into place only on Ok (a digest or size mismatch is
//!     // Err). For "Downloading 1.2MB/3MB" progress, wrap the file in a counting Write.
//!     let mut tmp = std::fs::File::create("/tmp/layer.partial").unwrap();
//!     repo.fetch_blob(&Digest::parse(&layer.digest)?, Some(layer.size), &mut tmp)?;
//! }
//! // Record `resolved.repo_digest()` as the image's RepoDigest; keep `config` and the
//! // manifest bytes verbatim.
//! # let _ = config; Ok(()) }
//! ```
//!
//! Push (`berth push localhost:5000/x:1`): for each layer and the config,
//! [`Repo::blob_exists`] → skip; else if the store knows another repository on the same
//! registry holding it, [`Repo::mount_blob`] (`Mounted`, or an upload session to use with
//! [`Repo::upload_blob_in`]); else [`Repo::upload_blob`] (one PUT below
//! `RegistryConfig::chunk_threshold`, PATCH chunks above). Then [`Repo::put_manifest`]
//! with the manifest bytes and media type under the tag.
//!
//! Login / logout: [`RegistryClient::login`] checks the credentials, then
//! [`DockerConfigFile`] `load` / `set` / `remove` / `save` updates config.json.
//!
//! Configuration: [`RegistryConfig`] carries the daemon's `--insecure-registry` list, the
//! `certs.d` directory, and the push chunking threshold.
//!
//! Errors: [`RegistryError`] displays Docker's texts (`manifest for x:nope not found:
//! manifest unknown: manifest unknown`, `pull access denied for x, …`); use
//! [`RegistryError::is_not_found`] / [`RegistryError::is_unauthorized`] for status codes.

pub mod auth;
pub mod client;
pub mod digest;
pub mod docker_config;
pub mod error;
pub mod fetch;
pub mod manifest;
pub mod reference;
pub mod repo;
pub mod transport;

pub use auth::{decode_registry_auth, Credentials};
pub use client::RegistryClient;
pub use digest::Digest;
pub use docker_config::{default_config_path, DockerConfigFile};
pub use error::{RegistryError, RegistryErrors};
pub use manifest::{Descriptor, ImageIndex, ImageManifest, Platform};
pub use reference::{Reference, Repository};
pub use repo::{Access, Manifest, ManifestHead, MountResult, Repo, ResolvedImage, UploadSession};
pub use transport::RegistryConfig;

#[cfg(test)]
mod tests {
    use super::*;

    fn shareable<T: Clone + Send + Sync + 'static>() {}

    #[test]
    fn client_and_repo_are_shareable_across_threads() {
        shareable::<RegistryClient>();
        shareable::<Repo>();
    }
}
