//! The engine boundary: [`BuildHost`] is everything the [`crate::Builder`] needs from the
//! container engine, with the request types it passes.
//!
//! The builder never touches images, layers or processes itself. For each step it asks
//! the host, in this order: `cache_lookup` (unless `--no-cache`); on a miss, either a
//! metadata-only `commit` (no container: ENV, CMD, LABEL, …), or `create_container` →
//! (`run_container` | `copy_into` | `create_workdir`) → `commit` → `remove_container`.

use crate::error::HostError;
use crate::instructions::MountKind;
use berth_types::docker::ContainerConfig;
use std::io::Write;
use std::path::PathBuf;

/// An image known to the host.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    /// Full id, `sha256:<hex>`.
    pub id: String,
    /// The image config's `config` (Env, Cmd, OnBuild, …).
    pub config: ContainerConfig,
    /// The image's `author` (MAINTAINER).
    pub author: String,
}

/// One image history entry as the builder wants it written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Docker's legacy wording: `/bin/sh -c #(nop)  CMD ["sh"]`, `|1 A=b /bin/sh -c make`,
    /// `/bin/sh -c #(nop) COPY file:<hash> in /app `.
    pub created_by: String,
    /// True for metadata-only steps. For container steps the host sets `empty_layer`
    /// itself when the container's diff turned out empty (Docker does the same).
    pub empty_layer: bool,
}

/// Where a `RUN --mount` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// A path inside the build context directory.
    Context {
        root: PathBuf,
        path: String,
    },
    /// A path inside an image (a stage result or another image).
    Image {
        id: String,
        path: String,
    },
    /// A persistent build cache directory keyed by `id`.
    Cache {
        id: String,
        sharing: String,
    },
    Tmpfs,
    /// Secrets and SSH sockets: passed through by id only (their content never reaches
    /// the builder, a cache key or a history line); the host looks them up in the
    /// request's [`crate::BuildSecrets`]. Missing ones are skipped unless `required`.
    Secret {
        id: String,
    },
    Ssh {
        id: String,
    },
}

/// A resolved `RUN --mount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildMount {
    pub kind: MountKind,
    pub source: MountSource,
    /// Absolute path in the container.
    pub target: String,
    pub readonly: bool,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// `required` (secrets, ssh): fail when the source is missing instead of skipping.
    pub required: bool,
    /// Secrets: the step's environment variable that gets the secret's value. With it,
    /// an empty `target` means "no file", only the variable.
    pub env: Option<String>,
}

/// A build container to create.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerRequest {
    /// Image to start from; `None` = scratch.
    pub image: Option<String>,
    /// Cmd/Env (build args included)/User/WorkingDir/Shell to run with. Entrypoint is
    /// always empty for RUN (Docker runs RUN commands without the image's entrypoint).
    /// For COPY/WORKDIR steps Cmd is the `#(nop)` comment and nothing is run.
    pub config: ContainerConfig,
    pub mounts: Vec<BuildMount>,
    /// `RUN --network`: `default`, `none` or `host`.
    pub network: Option<String>,
}

/// Where COPY/ADD reads an item from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopySource {
    /// The build context directory; `src` is relative to it and already resolved
    /// (no globs).
    Context { root: PathBuf },
    /// An image (`--from=stage|image`); `src` may contain globs, resolved by the host
    /// against the image's filesystem.
    Image { id: String },
    /// A downloaded file (ADD of a URL).
    File { path: PathBuf },
    /// Heredoc content.
    Inline { content: Vec<u8> },
}

/// One source of a COPY/ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyItem {
    pub source: CopySource,
    /// Path in the source (empty for File/Inline).
    pub src: String,
    /// Absolute destination. When `dest_is_dir` the item goes *inside* it (a directory
    /// source's contents, a file under its base name); otherwise a file is written at
    /// `dest` — unless `dest` already exists as a directory in the container, then inside
    /// it (Docker's rule, only the host can check it).
    pub dest: String,
    pub dest_is_dir: bool,
    /// ADD of a local archive (tar, optionally gzip/bzip2/xz): extract into `dest`.
    pub extract: bool,
    /// Mode for Inline/File items (heredocs 0644, downloads 0600); `None` keeps the
    /// source's mode.
    pub mode: Option<u32>,
    /// `--exclude` patterns (relative to the source). Already applied to `paths` for
    /// context sources; image sources must apply them.
    pub excludes: Vec<String>,
    /// For context sources: exactly the context paths to copy (`src` itself and what
    /// under it passed `.dockerignore` and `--exclude`), sorted. Files present in the
    /// directory but not listed must not be copied.
    pub paths: Vec<String>,
}

/// A COPY/ADD into a created container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyRequest {
    pub items: Vec<CopyItem>,
    /// `--chown` (`user[:group]`, names resolved in the container's /etc/passwd and /etc/group).
    /// Without it, files from the context or downloads are owned by 0:0 and files from an
    /// image (`--from`) keep their owners.
    pub chown: Option<String>,
    /// `--chmod` (octal) applied to every copied file and directory.
    pub chmod: Option<u32>,
}

/// Turning a container (or nothing) into a new image.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitRequest {
    /// Parent image; `None` when building on scratch.
    pub parent: Option<String>,
    /// The container whose diff becomes the layer; `None` for metadata-only steps (no
    /// layer, `empty_layer` history).
    pub container: Option<String>,
    /// The new image's `config`.
    pub config: ContainerConfig,
    /// The new image's `author` (MAINTAINER; inherited otherwise).
    pub author: String,
    /// Appended to the parent's history.
    pub history: HistoryEntry,
    /// Key under which `cache_lookup(parent, key)` must find this image later.
    pub cache_key: String,
}

/// A file downloaded for `ADD <url>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedFile {
    /// Local temporary path of the body.
    pub path: PathBuf,
    /// File name for the destination (last URL path element or Content-Disposition).
    pub name: String,
}

/// What the engine implements for builds. Methods may be called from several threads at
/// once (independent stages build in parallel).
pub trait BuildHost: Sync {
    /// Finds (and with `pull`, or when missing, pulls) an image. Pull progress goes to
    /// `progress` in the legacy text form. Unknown image → `HostError::not_found`.
    fn resolve_image(
        &self,
        reference: &str,
        platform: Option<&str>,
        pull: bool,
        progress: &mut dyn Write,
    ) -> Result<ImageInfo, HostError>;

    /// The image committed earlier with this parent and cache key, if it still exists.
    fn cache_lookup(&self, parent: Option<&str>, key: &str) -> Result<Option<String>, HostError>;

    /// Creates (does not start) a build container; returns its id.
    fn create_container(&self, req: &ContainerRequest) -> Result<String, HostError>;

    /// Starts the container, streams its stdout+stderr into `output` while it runs and
    /// returns its exit code.
    fn run_container(&self, id: &str, output: &mut dyn Write) -> Result<i64, HostError>;

    /// Copies files into the container's filesystem (its writable layer).
    fn copy_into(&self, id: &str, req: &CopyRequest) -> Result<(), HostError>;

    /// Creates the container config's WorkingDir (owned by its User) in the container's
    /// filesystem, if missing.
    fn create_workdir(&self, id: &str) -> Result<(), HostError>;

    /// Creates an image; returns its id (`sha256:<hex>`).
    fn commit(&self, req: &CommitRequest) -> Result<String, HostError>;

    /// Removes a build container (after commit, or after a failed RUN).
    fn remove_container(&self, id: &str) -> Result<(), HostError>;

    /// Downloads `url` for ADD.
    fn fetch_url(&self, url: &str) -> Result<FetchedFile, HostError>;

    /// Tags an image (`name:tag`).
    fn tag(&self, image_id: &str, reference: &str) -> Result<(), HostError>;
}
