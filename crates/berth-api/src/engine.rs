//! The [`Backend`] of `berthd`: each method forwards to one `berth_engine::Engine`
//! method, converting option structs, stream types and errors. No logic lives here
//! beyond those conversions.

use crate::backend::*;
use crate::body::StdStream;
use crate::error::ApiError;
use crate::query::Filters;
use berth_engine::{Engine, EngineError, ErrorKind};
use berth_types::docker::*;
use bytes::Bytes;
use hyper::StatusCode;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, mpsc};

/// Kind → HTTP status: the single table for every engine error.
impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        let status = match e.kind {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
            ErrorKind::NotModified => StatusCode::NOT_MODIFIED,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.message)
    }
}

/// How many past events `/events?since=` can replay (Docker keeps a similar window in
/// memory).
const EVENT_HISTORY: usize = 1024;

/// Recent events plus a re-broadcast of the live ones. One task moves each engine event
/// into the history and out to subscribers under one lock, so a subscriber that copies
/// the history and subscribes under that lock sees every event exactly once.
struct EventHub {
    past: VecDeque<EventMessage>,
    live: broadcast::Sender<EventMessage>,
}

/// Serves the engine.
pub struct EngineBackend {
    engine: Arc<Engine>,
    hub: Arc<std::sync::Mutex<EventHub>>,
}

impl EngineBackend {
    /// Wrap `engine`; must be called inside the tokio runtime (it starts the task that
    /// records events).
    pub fn new(engine: Arc<Engine>) -> EngineBackend {
        let hub = Arc::new(std::sync::Mutex::new(EventHub {
            past: VecDeque::with_capacity(EVENT_HISTORY),
            live: broadcast::channel(1024).0,
        }));
        let mut rx = engine.subscribe();
        let h = hub.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(e) => {
                        let mut hub = h.lock().unwrap_or_else(|p| p.into_inner());
                        if hub.past.len() == EVENT_HISTORY {
                            hub.past.pop_front();
                        }
                        hub.past.push_back(e.clone());
                        // No subscriber is fine: nobody is listening right now.
                        let _ = hub.live.send(e);
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        EngineBackend { engine, hub }
    }
}

fn fut<'a, T: Send + 'a>(
    f: impl std::future::Future<Output = Result<T, EngineError>> + Send + 'a,
) -> BoxFut<'a, T> {
    Box::pin(async move { f.await.map_err(ApiError::from) })
}

fn filters(f: Filters) -> berth_engine::Filters {
    berth_engine::Filters(f)
}

fn system_time(t: Option<Timestamp>) -> Option<SystemTime> {
    t.map(|t| {
        let d = Duration::new(t.secs.unsigned_abs(), t.nanos);
        if t.secs >= 0 {
            UNIX_EPOCH + d
        } else {
            UNIX_EPOCH - d
        }
    })
}

/// Split the engine's duplex attach socket into the output and stdin halves. The
/// write half is only handed out when stdin was asked for; its `shutdown` is stdin
/// EOF, while dropping it (detach) closes nothing until the output half goes too.
fn attach_io(s: berth_engine::AttachStream, stdin: bool, detach_keys: Option<String>) -> AttachIo {
    let (rd, wr) = tokio::io::split(s.conn);
    AttachIo {
        tty: s.tty,
        detach_keys,
        output: Box::new(rd),
        stdin: stdin.then(|| Box::new(wr) as Input),
    }
}

impl Backend for EngineBackend {
    fn counts(&self) -> BoxFut<'_, Counts> {
        let c = self.engine.counts();
        Box::pin(async move {
            Ok(Counts {
                containers: c.containers.max(0) as usize,
                running: c.running.max(0) as usize,
                paused: c.paused.max(0) as usize,
                stopped: c.stopped.max(0) as usize,
                images: c.images.max(0) as usize,
            })
        })
    }

    fn container_create(
        &self,
        name: Option<String>,
        platform: Option<String>,
        body: CreateRequest,
    ) -> BoxFut<'_, ContainerCreateResponse> {
        fut(async move {
            if let Some(p) = platform.as_deref() {
                self.engine
                    .check_image_platform(&body.config.image, p)
                    .await?;
            }
            self.engine.create(name.as_deref(), body).await
        })
    }

    fn container_list(&self, opts: ListOptions) -> BoxFut<'_, Vec<ContainerSummary>> {
        fut(async move {
            self.engine
                .list(berth_engine::ListOptions {
                    all: opts.all,
                    limit: opts.limit.map(|n| n as i64),
                    size: opts.size,
                    filters: filters(opts.filters),
                })
                .await
        })
    }

    fn container_inspect(&self, id: String, size: bool) -> BoxFut<'_, ContainerInspect> {
        fut(async move { self.engine.inspect(&id, size).await })
    }

    fn container_start(&self, id: String) -> BoxFut<'_, ()> {
        fut(async move { self.engine.start(&id).await })
    }

    fn container_stop(&self, id: String, opts: StopOptions) -> BoxFut<'_, ()> {
        fut(async move {
            self.engine
                .stop(&id, opts.timeout, opts.signal.as_deref())
                .await
        })
    }

    fn container_restart(&self, id: String, opts: StopOptions) -> BoxFut<'_, ()> {
        fut(async move {
            self.engine
                .restart(&id, opts.timeout, opts.signal.as_deref())
                .await
        })
    }

    fn container_kill(&self, id: String, signal: Option<String>) -> BoxFut<'_, ()> {
        fut(async move { self.engine.kill(&id, signal.as_deref()).await })
    }

    fn container_pause(&self, id: String) -> BoxFut<'_, ()> {
        fut(async move { self.engine.pause(&id).await })
    }

    fn container_unpause(&self, id: String) -> BoxFut<'_, ()> {
        fut(async move { self.engine.unpause(&id).await })
    }

    fn container_wait(
        &self,
        id: String,
        condition: WaitCondition,
    ) -> BoxFut<'_, BoxFut<'static, ContainerWaitResponse>> {
        let cond = match condition {
            WaitCondition::NotRunning => berth_engine::WaitCondition::NotRunning,
            WaitCondition::NextExit => berth_engine::WaitCondition::NextExit,
            WaitCondition::Removed => berth_engine::WaitCondition::Removed,
        };
        fut(async move {
            let handle = self.engine.wait(&id, cond).await?;
            let inner: BoxFut<'static, ContainerWaitResponse> =
                Box::pin(async move { Ok(handle.result().await) });
            Ok(inner)
        })
    }

    fn container_rename(&self, id: String, new_name: String) -> BoxFut<'_, ()> {
        fut(async move { self.engine.rename(&id, &new_name).await })
    }

    fn container_resize(&self, id: String, height: u16, width: u16) -> BoxFut<'_, ()> {
        fut(async move { self.engine.resize(&id, height, width).await })
    }

    fn container_update(
        &self,
        id: String,
        body: UpdateRequest,
    ) -> BoxFut<'_, ContainerUpdateResponse> {
        fut(async move { self.engine.update(&id, body).await })
    }

    fn container_remove(&self, id: String, opts: RemoveOptions) -> BoxFut<'_, ()> {
        fut(async move { self.engine.remove(&id, opts.force, opts.volumes).await })
    }

    fn container_logs(&self, id: String, opts: LogsOptions) -> BoxFut<'_, LogStream> {
        fut(async move {
            let mut s = self
                .engine
                .logs(
                    &id,
                    berth_engine::LogsOptions {
                        stdout: opts.stdout,
                        stderr: opts.stderr,
                        follow: opts.follow,
                        since: system_time(opts.since),
                        until: system_time(opts.until),
                        timestamps: opts.timestamps,
                        tail: opts.tail,
                        details: opts.details,
                    },
                )
                .await?;
            // The engine's batches are large (1 MiB): two in flight keep the pipe full
            // without holding much memory for a slow client.
            let (tx, rx) = mpsc::channel(2);
            tokio::spawn(async move {
                while let Some(c) = s.rx.recv().await {
                    let stream = if c.stream == 2 {
                        StdStream::Stderr
                    } else {
                        StdStream::Stdout
                    };
                    let chunk = LogChunk {
                        stream,
                        // The buffer goes back to the engine once written.
                        data: Bytes::from_owner(berth_engine::Recycled(c.data)),
                        framed: c.framed,
                    };
                    if tx.send(chunk).await.is_err() {
                        return;
                    }
                }
            });
            Ok(LogStream {
                tty: s.tty,
                chunks: rx,
            })
        })
    }

    fn container_attach(&self, id: String, opts: AttachOptions) -> BoxFut<'_, AttachIo> {
        fut(async move {
            let s = self
                .engine
                .attach(
                    &id,
                    berth_engine::AttachOptions {
                        stdin: opts.stdin,
                        stdout: opts.stdout,
                        stderr: opts.stderr,
                        stream: opts.stream,
                        logs: opts.logs,
                    },
                )
                .await?;
            Ok(attach_io(s, opts.stdin, None))
        })
    }

    fn container_top(
        &self,
        id: String,
        ps_args: Option<String>,
    ) -> BoxFut<'_, ContainerTopResponse> {
        fut(async move { self.engine.top(&id, ps_args.as_deref()).await })
    }

    fn container_prune(&self, f: Filters) -> BoxFut<'_, ContainerPruneResponse> {
        fut(async move { self.engine.prune(&filters(f)).await })
    }

    fn container_changes(&self, id: String) -> BoxFut<'_, Vec<FilesystemChange>> {
        fut(async move { self.engine.changes(&id).await })
    }

    fn exec_create(&self, container: String, config: ExecConfig) -> BoxFut<'_, String> {
        fut(async move { Ok(self.engine.exec_create(&container, config).await?.id) })
    }

    fn exec_inspect(&self, id: String) -> BoxFut<'_, ExecInspect> {
        fut(async move { self.engine.exec_inspect(&id).await })
    }

    fn exec_start(
        &self,
        id: String,
        detach: bool,
        tty: bool,
        console_size: Option<[u32; 2]>,
    ) -> BoxFut<'_, ExecStarted> {
        fut(async move {
            let info = self.engine.exec_inspect(&id).await?;
            let started = self
                .engine
                .exec_start(
                    &id,
                    ExecStartConfig {
                        detach,
                        tty,
                        console_size,
                    },
                )
                .await?;
            Ok(match started {
                None => ExecStarted::Detached,
                Some(s) => {
                    let keys = Some(info.detach_keys).filter(|k| !k.is_empty());
                    ExecStarted::Attached(attach_io(s, info.open_stdin, keys))
                }
            })
        })
    }

    fn exec_resize(&self, id: String, height: u16, width: u16) -> BoxFut<'_, ()> {
        fut(async move { self.engine.exec_resize(&id, height, width).await })
    }

    fn image_list(&self, opts: ImageListOptions) -> BoxFut<'_, Vec<ImageSummary>> {
        fut(async move {
            self.engine
                .image_list(opts.all, &filters(opts.filters))
                .await
        })
    }

    fn image_inspect(&self, name: String) -> BoxFut<'_, ImageInspect> {
        fut(async move { self.engine.image_inspect(&name).await })
    }

    fn image_remove(
        &self,
        name: String,
        force: bool,
        noprune: bool,
    ) -> BoxFut<'_, Vec<ImageDeleteResponseItem>> {
        fut(async move { self.engine.image_remove(&name, force, noprune).await })
    }

    fn image_history(&self, name: String) -> BoxFut<'_, Vec<ImageHistoryItem>> {
        fut(async move { self.engine.image_history(&name).await })
    }

    fn image_tag(&self, name: String, repo: String, tag: Option<String>) -> BoxFut<'_, ()> {
        fut(async move {
            self.engine
                .image_tag(&name, &repo, tag.as_deref().unwrap_or(""))
                .await
        })
    }

    fn image_import(&self, body: mpsc::Receiver<Bytes>, opts: ImportOptions) -> BoxFut<'_, String> {
        fut(async move {
            self.engine
                .image_import(
                    blocking_reader(body),
                    opts.reference,
                    opts.changes,
                    opts.message,
                )
                .await
        })
    }

    fn events(&self, since: Option<Timestamp>, _until: Option<Timestamp>) -> BoxFut<'_, EventFeed> {
        let (past, live) = {
            let hub = self.hub.lock().unwrap_or_else(|p| p.into_inner());
            let past = if since.is_some() {
                hub.past.iter().cloned().collect()
            } else {
                Vec::new()
            };
            (past, hub.live.subscribe())
        };
        Box::pin(async move { Ok(EventFeed { past, live }) })
    }

    fn container_stats(
        &self,
        id: String,
        stream: bool,
        one_shot: bool,
    ) -> BoxFut<'_, mpsc::Receiver<ContainerStats>> {
        fut(async move { self.engine.stats(&id, stream, one_shot).await })
    }

    fn container_export(&self, id: String) -> BoxFut<'_, ByteStream> {
        fut(async move { self.engine.export(&id).await })
    }

    fn archive_stat(&self, id: String, path: String) -> BoxFut<'_, String> {
        fut(async move {
            let stat = self.engine.archive_stat(&id, &path).await?;
            Ok(stat_json(&stat))
        })
    }

    fn archive_get(&self, id: String, path: String) -> BoxFut<'_, (String, ByteStream)> {
        fut(async move {
            let (stat, rx) = self.engine.archive_get(&id, &path).await?;
            Ok((stat_json(&stat), rx))
        })
    }

    fn archive_put(
        &self,
        id: String,
        path: String,
        tar: mpsc::Receiver<Bytes>,
        no_overwrite_dir_non_dir: bool,
    ) -> BoxFut<'_, ()> {
        fut(async move {
            self.engine
                .archive_put(&id, &path, blocking_reader(tar), no_overwrite_dir_non_dir)
                .await
        })
    }

    fn commit(&self, container: String, opts: CommitOptions) -> BoxFut<'_, String> {
        fut(async move {
            self.engine
                .commit(
                    &container,
                    berth_engine::CommitRequest {
                        repo: opts.repo,
                        tag: opts.tag,
                        comment: opts.comment,
                        author: opts.author,
                        changes: opts.changes,
                        pause: opts.pause,
                        config: opts.config,
                    },
                )
                .await
        })
    }

    fn image_save(&self, names: Vec<String>) -> BoxFut<'_, ByteStream> {
        fut(async move { self.engine.image_save(names).await })
    }

    fn image_load(&self, tar: mpsc::Receiver<Bytes>) -> BoxFut<'_, Vec<String>> {
        fut(async move { self.engine.image_load(blocking_reader(tar)).await })
    }

    fn image_build(
        &self,
        context: mpsc::Receiver<Bytes>,
        req: berth_build::BuildRequest,
    ) -> BoxFut<'_, crate::backend::ByteStream> {
        fut(async move { self.engine.build(blocking_reader(context), req).await })
    }

    fn image_prune(&self, f: Filters) -> BoxFut<'_, ImagePruneResponse> {
        fut(async move { self.engine.image_prune(&filters(f)).await })
    }

    fn disk_usage(&self) -> BoxFut<'_, DiskUsage> {
        fut(async move { self.engine.disk_usage().await })
    }

    fn image_pull(
        &self,
        reference: String,
        platform: Option<String>,
        auth: Option<String>,
    ) -> BoxFut<'_, mpsc::Receiver<serde_json::Value>> {
        fut(async move {
            self.engine
                .image_pull(&reference, platform.as_deref(), auth.as_deref())
                .await
        })
    }

    fn image_push(
        &self,
        reference: String,
        auth: Option<String>,
    ) -> BoxFut<'_, mpsc::Receiver<serde_json::Value>> {
        fut(async move { self.engine.image_push(&reference, auth.as_deref()).await })
    }

    fn registry_login(&self, auth: serde_json::Value) -> BoxFut<'_, serde_json::Value> {
        fut(async move { self.engine.registry_login(auth).await })
    }

    fn network_list(&self, f: Filters) -> BoxFut<'_, Vec<NetworkResource>> {
        fut(async move { self.engine.network_list(&filters(f)).await })
    }

    fn network_inspect(&self, id: String) -> BoxFut<'_, NetworkResource> {
        fut(async move { self.engine.network_inspect(&id).await })
    }

    fn network_create(&self, body: NetworkCreateRequest) -> BoxFut<'_, NetworkCreateResponse> {
        fut(async move { self.engine.network_create(body).await })
    }

    fn network_remove(&self, id: String) -> BoxFut<'_, ()> {
        fut(async move { self.engine.network_remove(&id).await })
    }

    fn network_connect(&self, id: String, body: NetworkConnectRequest) -> BoxFut<'_, ()> {
        fut(async move { self.engine.network_connect(&id, body).await })
    }

    fn network_disconnect(&self, id: String, body: NetworkDisconnectRequest) -> BoxFut<'_, ()> {
        fut(async move {
            self.engine
                .network_disconnect(&id, &body.container, body.force)
                .await
        })
    }

    fn network_prune(&self, f: Filters) -> BoxFut<'_, NetworkPruneResponse> {
        fut(async move { self.engine.network_prune(&filters(f)).await })
    }

    fn volume_list(&self, f: Filters) -> BoxFut<'_, Vec<serde_json::Value>> {
        fut(async move {
            let vols = self.engine.volume_list(&filters(f))?;
            Ok(vols.iter().map(to_json).collect())
        })
    }

    fn volume_inspect(&self, name: String) -> BoxFut<'_, serde_json::Value> {
        fut(async move { Ok(to_json(&self.engine.volume_inspect(&name)?)) })
    }

    fn volume_create(&self, body: serde_json::Value) -> BoxFut<'_, serde_json::Value> {
        fut(async move {
            let body: berth_engine::VolumeCreateBody = serde_json::from_value(body)
                .map_err(|e| EngineError::invalid(format!("invalid JSON: {e}")))?;
            Ok(to_json(&self.engine.volume_create(body).await?))
        })
    }

    fn volume_remove(&self, name: String, force: bool) -> BoxFut<'_, ()> {
        fut(async move { self.engine.volume_remove(&name, force).await })
    }

    fn volume_prune(&self, f: Filters) -> BoxFut<'_, serde_json::Value> {
        fut(async move { Ok(to_json(&self.engine.volume_prune(&filters(f)).await?)) })
    }
}

/// The stat JSON of the archive endpoints' header.
/// A serializable engine answer as JSON (the volume types always serialize).
fn to_json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn stat_json(stat: &berth_engine::PathStat) -> String {
    serde_json::to_string(stat).unwrap_or_else(|_| "{}".into())
}

/// A blocking reader over an async body channel, for the engine's archive readers
/// (they run on blocking threads).
fn blocking_reader(mut body: mpsc::Receiver<Bytes>) -> Box<dyn std::io::Read + Send> {
    let (tx, reader) = berth_engine::ChannelReader::new(8);
    tokio::spawn(async move {
        while let Some(b) = body.recv().await {
            if tx.send(b.to_vec()).await.is_err() {
                return;
            }
        }
    });
    Box::new(reader)
}
