//! The seam between HTTP handlers and the engine: one typed method per operation.
//!
//! Handlers parse and validate a request into the option structs below, call one
//! [`Backend`] method and render its result. `berthd` serves the real engine through
//! the adapter in [`crate::engine`]; tests can serve an in-memory backend to pin the
//! HTTP side (framing, hijack, status codes) without containers.
//!
//! Methods return boxed futures so the trait stays object-safe without extra crates.

use crate::error::ApiError;
use crate::query::Filters;
use berth_types::docker::{
    ContainerConfig, ContainerCreateResponse, ContainerInspect, ContainerPruneResponse,
    ContainerStats, ContainerSummary, ContainerTopResponse, ContainerUpdateResponse,
    ContainerWaitResponse, CreateRequest, DiskUsage, EventMessage, ExecConfig, ExecInspect,
    FilesystemChange, ImageDeleteResponseItem, ImageHistoryItem, ImageInspect, ImagePruneResponse,
    ImageSummary, UpdateRequest,
};
use berth_types::docker::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest,
    NetworkPruneResponse, NetworkResource,
};
use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{broadcast, mpsc};

/// A boxed, sendable future of a backend result.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = Result<T, ApiError>> + Send + 'a>>;

/// A point in time as Docker's API sends it: unix seconds and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

impl Timestamp {
    /// Nanoseconds since the epoch.
    pub fn as_nanos(self) -> i128 {
        self.secs as i128 * 1_000_000_000 + self.nanos as i128
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListOptions {
    pub all: bool,
    /// Show only the `n` most recently created (also includes stopped ones).
    pub limit: Option<usize>,
    pub size: bool,
    pub filters: Filters,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StopOptions {
    /// Seconds to wait before SIGKILL; `None` = the container's `StopTimeout` or 10.
    pub timeout: Option<i64>,
    /// Overrides the container's stop signal.
    pub signal: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitCondition {
    #[default]
    NotRunning,
    NextExit,
    Removed,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoveOptions {
    pub force: bool,
    /// Remove anonymous volumes too.
    pub volumes: bool,
    pub link: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogsOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Last `n` lines only; `None` = all.
    pub tail: Option<usize>,
    /// Prefix each line with its time (RFC 3339, fixed nanoseconds) and a space.
    pub timestamps: bool,
    /// Prefix each line with the log driver's extra attributes.
    pub details: bool,
}

/// Which stream a log or output chunk belongs to.
pub use crate::body::StdStream;

/// One piece of a container's log, with the requested prefixes already applied; the
/// API only frames it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogChunk {
    pub stream: StdStream,
    pub data: Bytes,
    /// `data` is already on-the-wire bytes (frames, or raw tty output): send as is.
    pub framed: bool,
}

/// A log stream: chunks in order; the channel closes at the end (or when following
/// stops because the container stopped or went away).
pub struct LogStream {
    pub tty: bool,
    pub chunks: mpsc::Receiver<LogChunk>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttachOptions {
    /// Attach to the live streams (otherwise only `logs` is replayed).
    pub stream: bool,
    /// Replay the log first.
    pub logs: bool,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// A boxed output byte stream.
pub type Output = Box<dyn AsyncRead + Send + Unpin>;
/// A boxed stdin sink; shutting it down is stdin EOF.
pub type Input = Box<dyn AsyncWrite + Send + Unpin>;

/// The two halves of an attached process's stdio. `output` already carries Docker's
/// framing (multiplexed frames, or raw bytes with a tty): the handler copies it as is.
pub struct AttachIo {
    pub tty: bool,
    /// Detach keys set when the session was configured (an exec's `DetachKeys`);
    /// `None` uses the request's or the default.
    pub detach_keys: Option<String>,
    pub output: Output,
    pub stdin: Option<Input>,
}

/// An exec started by `POST /exec/{id}/start`.
pub enum ExecStarted {
    /// `Detach: true`: running in the background.
    Detached,
    Attached(AttachIo),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageListOptions {
    pub all: bool,
    pub digests: bool,
    pub filters: Filters,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportOptions {
    /// `repo[:tag]` to tag the image with (empty: untagged).
    pub reference: Option<String>,
    /// Dockerfile instructions (`CMD ["sh"]`, `ENV A=b`, …).
    pub changes: Vec<String>,
    pub message: String,
    pub platform: Option<String>,
}

/// Counts for `/info`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub containers: usize,
    pub running: usize,
    pub paused: usize,
    pub stopped: usize,
    pub images: usize,
}

/// Events: recorded ones (at least those since the asked time), then the live feed.
/// The two never overlap and leave no gap: every event is in exactly one of them.
pub struct EventFeed {
    pub past: Vec<EventMessage>,
    pub live: broadcast::Receiver<EventMessage>,
}

/// Options of `POST /commit`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommitOptions {
    pub repo: String,
    pub tag: String,
    pub comment: String,
    pub author: String,
    /// Dockerfile instructions (`--change`).
    pub changes: Vec<String>,
    pub pause: bool,
    /// The request body: config fields overriding the container's.
    pub config: Option<ContainerConfig>,
}

/// A byte stream produced by the engine (tar archives).
pub type ByteStream = mpsc::Receiver<Vec<u8>>;

/// The answer of an operation a backend does not offer.
pub fn not_supported<'a, T: Send + 'a>(what: &str) -> BoxFut<'a, T> {
    let e = ApiError::new(
        hyper::StatusCode::NOT_IMPLEMENTED,
        format!("{what} is not supported yet by Berth"),
    );
    Box::pin(async move { Err(e) })
}

/// Every operation the API needs from the engine. Operations added after the first
/// set have default bodies answering 501, so a backend offers them one by one.
pub trait Backend: Send + Sync + 'static {
    fn counts(&self) -> BoxFut<'_, Counts>;

    fn container_create(
        &self,
        name: Option<String>,
        platform: Option<String>,
        body: CreateRequest,
    ) -> BoxFut<'_, ContainerCreateResponse>;
    fn container_list(&self, opts: ListOptions) -> BoxFut<'_, Vec<ContainerSummary>>;
    fn container_inspect(&self, id: String, size: bool) -> BoxFut<'_, ContainerInspect>;
    fn container_start(&self, id: String) -> BoxFut<'_, ()>;
    fn container_stop(&self, id: String, opts: StopOptions) -> BoxFut<'_, ()>;
    fn container_restart(&self, id: String, opts: StopOptions) -> BoxFut<'_, ()>;
    fn container_kill(&self, id: String, signal: Option<String>) -> BoxFut<'_, ()>;
    fn container_pause(&self, id: String) -> BoxFut<'_, ()>;
    fn container_unpause(&self, id: String) -> BoxFut<'_, ()>;
    /// Resolves when the condition is met (the caller has already sent its headers).
    fn container_wait(
        &self,
        id: String,
        condition: WaitCondition,
    ) -> BoxFut<'_, BoxFut<'static, ContainerWaitResponse>>;
    fn container_rename(&self, id: String, new_name: String) -> BoxFut<'_, ()>;
    fn container_resize(&self, id: String, height: u16, width: u16) -> BoxFut<'_, ()>;
    fn container_update(
        &self,
        id: String,
        body: UpdateRequest,
    ) -> BoxFut<'_, ContainerUpdateResponse>;
    fn container_remove(&self, id: String, opts: RemoveOptions) -> BoxFut<'_, ()>;
    fn container_logs(&self, id: String, opts: LogsOptions) -> BoxFut<'_, LogStream>;
    /// Validates and connects before the handler takes the connection over, so errors
    /// still reach the client as JSON. Before `start`, output arrives once it runs.
    fn container_attach(&self, id: String, opts: AttachOptions) -> BoxFut<'_, AttachIo>;
    fn container_top(
        &self,
        id: String,
        ps_args: Option<String>,
    ) -> BoxFut<'_, ContainerTopResponse>;
    fn container_prune(&self, filters: Filters) -> BoxFut<'_, ContainerPruneResponse>;
    fn container_changes(&self, id: String) -> BoxFut<'_, Vec<FilesystemChange>>;

    fn exec_create(&self, container: String, config: ExecConfig) -> BoxFut<'_, String>;
    fn exec_inspect(&self, id: String) -> BoxFut<'_, ExecInspect>;
    fn exec_start(
        &self,
        id: String,
        detach: bool,
        tty: bool,
        console_size: Option<[u32; 2]>,
    ) -> BoxFut<'_, ExecStarted>;
    fn exec_resize(&self, id: String, height: u16, width: u16) -> BoxFut<'_, ()>;

    fn image_list(&self, opts: ImageListOptions) -> BoxFut<'_, Vec<ImageSummary>>;
    fn image_inspect(&self, name: String) -> BoxFut<'_, ImageInspect>;
    fn image_remove(
        &self,
        name: String,
        force: bool,
        noprune: bool,
    ) -> BoxFut<'_, Vec<ImageDeleteResponseItem>>;
    fn image_history(&self, name: String) -> BoxFut<'_, Vec<ImageHistoryItem>>;
    fn image_tag(&self, name: String, repo: String, tag: Option<String>) -> BoxFut<'_, ()>;
    /// Import a rootfs tarball fed chunk by chunk; returns the image id.
    fn image_import(&self, body: mpsc::Receiver<Bytes>, opts: ImportOptions) -> BoxFut<'_, String>;

    fn events(&self, since: Option<Timestamp>, until: Option<Timestamp>) -> BoxFut<'_, EventFeed>;

    /// Samples of resource usage; one sample when `!stream`.
    fn container_stats(
        &self,
        _id: String,
        _stream: bool,
        _one_shot: bool,
    ) -> BoxFut<'_, mpsc::Receiver<ContainerStats>> {
        not_supported("container stats")
    }
    /// The container's file system as a tar stream.
    fn container_export(&self, _id: String) -> BoxFut<'_, ByteStream> {
        not_supported("container export")
    }
    /// Stat of a path in the container, as the JSON of `X-Docker-Container-Path-Stat`.
    fn archive_stat(&self, _id: String, _path: String) -> BoxFut<'_, String> {
        not_supported("copying files")
    }
    /// A path of the container as a tar stream, with its stat JSON.
    fn archive_get(&self, _id: String, _path: String) -> BoxFut<'_, (String, ByteStream)> {
        not_supported("copying files")
    }
    /// Extract a tar stream into a directory of the container.
    fn archive_put(
        &self,
        _id: String,
        _path: String,
        _tar: mpsc::Receiver<Bytes>,
        _no_overwrite_dir_non_dir: bool,
    ) -> BoxFut<'_, ()> {
        not_supported("copying files")
    }
    /// Commit a container to an image; returns the image id.
    fn commit(&self, _container: String, _opts: CommitOptions) -> BoxFut<'_, String> {
        not_supported("commit")
    }
    fn image_save(&self, _names: Vec<String>) -> BoxFut<'_, ByteStream> {
        not_supported("saving images")
    }
    /// Load images from a `docker save` tarball; returns the progress lines
    /// (`Loaded image: …`).
    fn image_load(&self, _tar: mpsc::Receiver<Bytes>) -> BoxFut<'_, Vec<String>> {
        not_supported("loading images")
    }
    fn image_prune(&self, _filters: Filters) -> BoxFut<'_, ImagePruneResponse> {
        not_supported("image prune")
    }
    fn disk_usage(&self) -> BoxFut<'_, DiskUsage> {
        not_supported("disk usage (system df)")
    }
    /// Pull `reference` (`name[:tag]` or `name@digest`) from its registry; progress as
    /// Docker's JSON messages (`{"status":…,"id":…}`, errors as
    /// `{"errorDetail":{"message":…},"error":…}`). `auth` is the raw `X-Registry-Auth`.
    fn image_pull(
        &self,
        reference: String,
        _platform: Option<String>,
        _auth: Option<String>,
    ) -> BoxFut<'_, mpsc::Receiver<serde_json::Value>> {
        let e = crate::handlers::images::pull_not_supported(&reference);
        Box::pin(async move { Err(e) })
    }
    /// Push `reference` to its registry; progress as for [`Backend::image_pull`].
    fn image_push(
        &self,
        _reference: String,
        _auth: Option<String>,
    ) -> BoxFut<'_, mpsc::Receiver<serde_json::Value>> {
        not_supported("pushing images")
    }
    /// `POST /build`: builds from the context tar fed chunk by chunk. The stream carries
    /// Docker's JSON lines (`{"stream":…}`, then `{"aux":{"ID":…}}` or an error message),
    /// each ending in `\r\n`.
    fn image_build(
        &self,
        _context: mpsc::Receiver<Bytes>,
        _req: berth_build::BuildRequest,
    ) -> BoxFut<'_, ByteStream> {
        not_supported("image builds")
    }
    /// `GET /volumes`: volumes in Docker's JSON shape.
    fn volume_list(&self, _filters: Filters) -> BoxFut<'_, Vec<serde_json::Value>> {
        not_supported("volume management")
    }
    /// `GET /volumes/{name}`.
    fn volume_inspect(&self, _name: String) -> BoxFut<'_, serde_json::Value> {
        not_supported("volume management")
    }
    /// `POST /volumes/create`: the body (`Name`, `Driver`, `DriverOpts`, `Labels`) →
    /// the volume.
    fn volume_create(&self, _body: serde_json::Value) -> BoxFut<'_, serde_json::Value> {
        not_supported("volume management")
    }
    /// `DELETE /volumes/{name}`; `force` makes a missing volume fine.
    fn volume_remove(&self, _name: String, _force: bool) -> BoxFut<'_, ()> {
        not_supported("volume management")
    }
    /// `POST /volumes/prune`: `{"VolumesDeleted": [...], "SpaceReclaimed": n}`.
    fn volume_prune(&self, _filters: Filters) -> BoxFut<'_, serde_json::Value> {
        not_supported("volume management")
    }
    /// `POST /auth`: check credentials against a registry; the reply body.
    fn registry_login(&self, _auth: serde_json::Value) -> BoxFut<'_, serde_json::Value> {
        not_supported("registry login")
    }
    /// `GET /networks` (Docker's network shape; `Containers` left empty).
    fn network_list(&self, _filters: Filters) -> BoxFut<'_, Vec<NetworkResource>> {
        not_supported("networks")
    }
    /// `GET /networks/{id}`: by id, name or unique id prefix, with its containers.
    fn network_inspect(&self, _id: String) -> BoxFut<'_, NetworkResource> {
        not_supported("networks")
    }
    /// `POST /networks/create`.
    fn network_create(&self, _body: NetworkCreateRequest) -> BoxFut<'_, NetworkCreateResponse> {
        not_supported("networks")
    }
    /// `DELETE /networks/{id}`.
    fn network_remove(&self, _id: String) -> BoxFut<'_, ()> {
        not_supported("networks")
    }
    /// `POST /networks/{id}/connect`.
    fn network_connect(&self, _id: String, _body: NetworkConnectRequest) -> BoxFut<'_, ()> {
        not_supported("networks")
    }
    /// `POST /networks/{id}/disconnect`.
    fn network_disconnect(&self, _id: String, _body: NetworkDisconnectRequest) -> BoxFut<'_, ()> {
        not_supported("networks")
    }
    /// `POST /networks/prune`.
    fn network_prune(&self, _filters: Filters) -> BoxFut<'_, NetworkPruneResponse> {
        not_supported("networks")
    }
}
