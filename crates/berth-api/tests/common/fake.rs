//! An in-memory [`Backend`] for HTTP-level tests (a test double, not an engine): it
//! "runs" two commands — `echo ARGS…` (prints its arguments) and `cat` (copies stdin to
//! stdout until EOF) — so tests can check framing, hijack, wait and logs without
//! containers.

use berth_api::backend::*;
use berth_api::body::{mux_frame, StdStream};
use berth_api::error::ApiError;
use berth_api::query::Filters;
use berth_types::docker::*;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc, watch};

#[derive(Clone)]
struct FakeCtr {
    id: String,
    name: String,
    image: String,
    cmd: Vec<String>,
    tty: bool,
    running: bool,
    exit_code: i64,
    log: Vec<LogChunk>,
    /// Attach clients waiting for the next start: where to send output, and stdin.
    exits: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    containers: BTreeMap<String, FakeCtr>,
    pending: BTreeMap<String, Vec<(tokio::io::DuplexStream, Option<tokio::io::DuplexStream>)>>,
    images: BTreeMap<String, String>,
    seq: u64,
}

pub struct Fake {
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<EventMessage>,
}

impl Fake {
    pub fn new() -> Fake {
        let mut st = State::default();
        st.images.insert(
            "busybox:latest".into(),
            format!("sha256:{}", "b".repeat(64)),
        );
        Fake {
            state: Arc::new(Mutex::new(st)),
            events: broadcast::channel(64).0,
        }
    }

    fn find(&self, name: &str) -> Result<String, ApiError> {
        let st = self.state.lock().unwrap();
        let name = name.trim_start_matches('/');
        st.containers
            .values()
            .find(|c| c.id == name || c.name == name || c.id.starts_with(name))
            .map(|c| c.id.clone())
            .ok_or_else(|| ApiError::not_found(format!("No such container: {name}")))
    }

    fn event(&self, action: &str, c: &FakeCtr) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        let _ = self.events.send(EventMessage {
            status: action.into(),
            id: c.id.clone(),
            from: c.image.clone(),
            kind: "container".into(),
            action: action.into(),
            actor: EventActor {
                id: c.id.clone(),
                attributes: [("name".to_string(), c.name.clone())].into(),
            },
            scope: "local".into(),
            time: now.as_secs() as i64,
            time_nano: now.as_nanos() as i64,
        });
    }
}

fn fut<'a, T: Send + 'a>(
    f: impl std::future::Future<Output = Result<T, ApiError>> + Send + 'a,
) -> BoxFut<'a, T> {
    Box::pin(f)
}

impl Backend for Fake {
    fn counts(&self) -> BoxFut<'_, Counts> {
        let st = self.state.lock().unwrap();
        let running = st.containers.values().filter(|c| c.running).count();
        let c = Counts {
            containers: st.containers.len(),
            running,
            paused: 0,
            stopped: st.containers.len() - running,
            images: st.images.len(),
        };
        fut(async move { Ok(c) })
    }

    fn container_create(
        &self,
        name: Option<String>,
        _platform: Option<String>,
        body: CreateRequest,
    ) -> BoxFut<'_, ContainerCreateResponse> {
        fut(async move {
            let mut st = self.state.lock().unwrap();
            let image = if body.config.image.contains(':') {
                body.config.image.clone()
            } else {
                format!("{}:latest", body.config.image)
            };
            if !st.images.contains_key(&image) {
                return Err(ApiError::not_found(format!("No such image: {image}")));
            }
            st.seq += 1;
            let id = format!("{:064x}", st.seq * 0x1234_5678_9abc);
            let name = name.unwrap_or_else(|| format!("fake_{}", st.seq));
            if let Some(other) = st.containers.values().find(|c| c.name == name) {
                return Err(ApiError::conflict(format!(
                    "Conflict. The container name \"/{name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                    other.id
                )));
            }
            let c = FakeCtr {
                id: id.clone(),
                name,
                image: body.config.image.clone(),
                cmd: body.config.cmd.clone().unwrap_or_default(),
                tty: body.config.tty,
                running: false,
                exit_code: 0,
                log: Vec::new(),
                exits: watch::channel(0).0,
            };
            self.event("create", &c);
            st.containers.insert(id.clone(), c);
            Ok(ContainerCreateResponse {
                id,
                warnings: Vec::new(),
            })
        })
    }

    fn container_list(&self, opts: ListOptions) -> BoxFut<'_, Vec<ContainerSummary>> {
        fut(async move {
            let st = self.state.lock().unwrap();
            Ok(st
                .containers
                .values()
                .filter(|c| opts.all || c.running)
                .map(|c| ContainerSummary {
                    id: c.id.clone(),
                    names: vec![format!("/{}", c.name)],
                    image: c.image.clone(),
                    state: if c.running { "running" } else { "exited" }.into(),
                    ..Default::default()
                })
                .collect())
        })
    }

    fn container_inspect(&self, id: String, _size: bool) -> BoxFut<'_, ContainerInspect> {
        fut(async move {
            let id = self.find(&id)?;
            let st = self.state.lock().unwrap();
            let c = &st.containers[&id];
            Ok(ContainerInspect {
                id: c.id.clone(),
                name: format!("/{}", c.name),
                state: ContainerState {
                    status: if c.running { "running" } else { "exited" }.into(),
                    running: c.running,
                    exit_code: c.exit_code,
                    ..Default::default()
                },
                config: ContainerConfig {
                    tty: c.tty,
                    image: c.image.clone(),
                    ..Default::default()
                },
                ..Default::default()
            })
        })
    }

    fn container_start(&self, id: String) -> BoxFut<'_, ()> {
        fut(async move {
            let id = self.find(&id)?;
            let (c, clients) = {
                let mut st = self.state.lock().unwrap();
                let c = st.containers.get_mut(&id).unwrap();
                if c.running {
                    return Err(ApiError::new(hyper::StatusCode::NOT_MODIFIED, ""));
                }
                c.running = true;
                let c = c.clone();
                let clients = st.pending.remove(&id).unwrap_or_default();
                (c, clients)
            };
            self.event("start", &c);
            let state = self.state.clone();
            let events = self.events.clone();
            tokio::spawn(run_fake(state, events, c, clients));
            Ok(())
        })
    }

    fn container_stop(&self, id: String, _opts: StopOptions) -> BoxFut<'_, ()> {
        fut(async move {
            self.find(&id)?;
            Ok(())
        })
    }
    fn container_restart(&self, id: String, _opts: StopOptions) -> BoxFut<'_, ()> {
        fut(async move {
            self.find(&id)?;
            Ok(())
        })
    }
    fn container_kill(&self, id: String, _signal: Option<String>) -> BoxFut<'_, ()> {
        fut(async move {
            let id = self.find(&id)?;
            let st = self.state.lock().unwrap();
            if !st.containers[&id].running {
                return Err(ApiError::conflict(format!("Container {id} is not running")));
            }
            Ok(())
        })
    }
    fn container_pause(&self, id: String) -> BoxFut<'_, ()> {
        fut(async move {
            self.find(&id)?;
            Ok(())
        })
    }
    fn container_unpause(&self, id: String) -> BoxFut<'_, ()> {
        fut(async move {
            self.find(&id)?;
            Ok(())
        })
    }

    fn container_wait(
        &self,
        id: String,
        condition: WaitCondition,
    ) -> BoxFut<'_, BoxFut<'static, ContainerWaitResponse>> {
        fut(async move {
            let id = self.find(&id)?;
            let (mut rx, running) = {
                let st = self.state.lock().unwrap();
                let c = &st.containers[&id];
                (c.exits.subscribe(), c.running)
            };
            let state = self.state.clone();
            let inner: BoxFut<'static, ContainerWaitResponse> = Box::pin(async move {
                let seen = *rx.borrow_and_update();
                if condition == WaitCondition::NextExit || running {
                    let _ = rx.wait_for(|n| *n > seen).await;
                }
                let st = state.lock().unwrap();
                let code = st.containers.get(&id).map(|c| c.exit_code).unwrap_or(0);
                Ok(ContainerWaitResponse {
                    status_code: code,
                    error: None,
                })
            });
            Ok(inner)
        })
    }

    fn container_rename(&self, id: String, new_name: String) -> BoxFut<'_, ()> {
        fut(async move {
            let id = self.find(&id)?;
            self.state
                .lock()
                .unwrap()
                .containers
                .get_mut(&id)
                .unwrap()
                .name = new_name;
            Ok(())
        })
    }
    fn container_resize(&self, id: String, _h: u16, _w: u16) -> BoxFut<'_, ()> {
        fut(async move {
            self.find(&id)?;
            Ok(())
        })
    }
    fn container_update(
        &self,
        id: String,
        _body: UpdateRequest,
    ) -> BoxFut<'_, ContainerUpdateResponse> {
        fut(async move {
            self.find(&id)?;
            Ok(ContainerUpdateResponse {
                warnings: Some(Vec::new()),
            })
        })
    }
    fn container_remove(&self, id: String, opts: RemoveOptions) -> BoxFut<'_, ()> {
        fut(async move {
            let id = self.find(&id)?;
            let mut st = self.state.lock().unwrap();
            if st.containers[&id].running && !opts.force {
                return Err(ApiError::conflict(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    st.containers[&id].name
                )));
            }
            let c = st.containers.remove(&id).unwrap();
            self.event("destroy", &c);
            Ok(())
        })
    }

    fn container_logs(&self, id: String, opts: LogsOptions) -> BoxFut<'_, LogStream> {
        fut(async move {
            let id = self.find(&id)?;
            let st = self.state.lock().unwrap();
            let c = &st.containers[&id];
            let (tx, rx) = mpsc::channel(1024);
            let mut entries: Vec<LogChunk> = c
                .log
                .iter()
                .filter(|e| match e.stream {
                    StdStream::Stdout => opts.stdout,
                    StdStream::Stderr => opts.stderr,
                    StdStream::Stdin => false,
                })
                .cloned()
                .collect();
            if let Some(n) = opts.tail {
                let skip = entries.len().saturating_sub(n);
                entries.drain(..skip);
            }
            for mut e in entries {
                if opts.timestamps {
                    let mut d = b"2024-05-01T12:34:56.000000001Z ".to_vec();
                    d.extend_from_slice(&e.data);
                    e.data = Bytes::from(d);
                }
                let _ = tx.try_send(e);
            }
            Ok(LogStream {
                tty: c.tty,
                chunks: rx,
            })
        })
    }

    fn container_attach(&self, id: String, opts: AttachOptions) -> BoxFut<'_, AttachIo> {
        fut(async move {
            let id = self.find(&id)?;
            let mut st = self.state.lock().unwrap();
            let tty = st.containers[&id].tty;
            let (out_engine, out_api) = tokio::io::duplex(64 * 1024);
            let (in_api, in_engine) = if opts.stdin {
                let (a, b) = tokio::io::duplex(64 * 1024);
                (Some(a), Some(b))
            } else {
                (None, None)
            };
            st.pending
                .entry(id)
                .or_default()
                .push((out_engine, in_engine));
            Ok(AttachIo {
                tty,
                detach_keys: None,
                output: Box::new(out_api),
                stdin: in_api.map(|w| Box::new(w) as Input),
            })
        })
    }

    fn container_top(
        &self,
        id: String,
        _ps_args: Option<String>,
    ) -> BoxFut<'_, ContainerTopResponse> {
        fut(async move {
            self.find(&id)?;
            Ok(ContainerTopResponse {
                titles: vec!["PID".into(), "CMD".into()],
                processes: vec![vec!["1".into(), "fake".into()]],
            })
        })
    }
    fn container_prune(&self, _filters: Filters) -> BoxFut<'_, ContainerPruneResponse> {
        fut(async move { Ok(ContainerPruneResponse::default()) })
    }

    fn container_changes(&self, id: String) -> BoxFut<'_, Vec<FilesystemChange>> {
        fut(async move {
            self.find(&id)?;
            Ok(Vec::new())
        })
    }

    fn exec_create(&self, container: String, _config: ExecConfig) -> BoxFut<'_, String> {
        fut(async move {
            self.find(&container)?;
            Ok("e".repeat(64))
        })
    }
    fn exec_inspect(&self, id: String) -> BoxFut<'_, ExecInspect> {
        fut(async move { Err(ApiError::not_found(format!("No such exec instance: {id}"))) })
    }
    fn exec_start(
        &self,
        id: String,
        _detach: bool,
        _tty: bool,
        _console_size: Option<[u32; 2]>,
    ) -> BoxFut<'_, ExecStarted> {
        fut(async move { Err(ApiError::not_found(format!("No such exec instance: {id}"))) })
    }
    fn exec_resize(&self, id: String, _h: u16, _w: u16) -> BoxFut<'_, ()> {
        fut(async move { Err(ApiError::not_found(format!("No such exec instance: {id}"))) })
    }

    fn image_list(&self, _opts: ImageListOptions) -> BoxFut<'_, Vec<ImageSummary>> {
        fut(async move {
            let st = self.state.lock().unwrap();
            Ok(st
                .images
                .iter()
                .map(|(name, id)| ImageSummary {
                    id: id.clone(),
                    repo_tags: vec![name.clone()],
                    size: 1000,
                    ..Default::default()
                })
                .collect())
        })
    }
    fn image_inspect(&self, name: String) -> BoxFut<'_, ImageInspect> {
        fut(async move {
            let st = self.state.lock().unwrap();
            let id = st
                .images
                .get(&name)
                .ok_or_else(|| ApiError::not_found(format!("No such image: {name}")))?;
            Ok(ImageInspect {
                id: id.clone(),
                repo_tags: vec![name],
                size: 1000,
                ..Default::default()
            })
        })
    }
    fn image_remove(
        &self,
        name: String,
        _force: bool,
        _noprune: bool,
    ) -> BoxFut<'_, Vec<ImageDeleteResponseItem>> {
        fut(async move {
            let mut st = self.state.lock().unwrap();
            let id = st
                .images
                .remove(&name)
                .ok_or_else(|| ApiError::not_found(format!("No such image: {name}")))?;
            Ok(vec![
                ImageDeleteResponseItem {
                    untagged: Some(name),
                    deleted: None,
                },
                ImageDeleteResponseItem {
                    untagged: None,
                    deleted: Some(id),
                },
            ])
        })
    }
    fn image_history(&self, name: String) -> BoxFut<'_, Vec<ImageHistoryItem>> {
        fut(async move { Err(ApiError::not_found(format!("No such image: {name}"))) })
    }

    fn image_tag(&self, name: String, repo: String, tag: Option<String>) -> BoxFut<'_, ()> {
        fut(async move {
            let mut st = self.state.lock().unwrap();
            let id = st
                .images
                .get(&name)
                .cloned()
                .ok_or_else(|| ApiError::not_found(format!("No such image: {name}")))?;
            st.images
                .insert(format!("{repo}:{}", tag.unwrap_or("latest".into())), id);
            Ok(())
        })
    }
    fn image_import(
        &self,
        mut body: mpsc::Receiver<Bytes>,
        opts: ImportOptions,
    ) -> BoxFut<'_, String> {
        fut(async move {
            let mut total = Vec::new();
            while let Some(b) = body.recv().await {
                total.extend_from_slice(&b);
            }
            // The id of the fake image is the length of what was sent, in hex.
            let id = format!("sha256:{:064x}", total.len());
            if let Some(r) = opts.reference {
                self.state.lock().unwrap().images.insert(r, id.clone());
            }
            Ok(id)
        })
    }

    fn image_pull(
        &self,
        reference: String,
        _platform: Option<String>,
        auth: Option<String>,
    ) -> BoxFut<'_, mpsc::Receiver<serde_json::Value>> {
        fut(async move {
            if reference != "demo/img:1" {
                return Err(ApiError::not_found(format!(
                    "pull access denied for {reference}"
                )));
            }
            let (tx, rx) = mpsc::channel(4);
            let _ = tx.try_send(serde_json::json!({"status": "Pulling from demo/img", "id": "1"}));
            let _ = tx.try_send(
                serde_json::json!({"status": format!("auth={}", auth.unwrap_or_default())}),
            );
            Ok(rx)
        })
    }

    fn events(
        &self,
        _since: Option<Timestamp>,
        _until: Option<Timestamp>,
    ) -> BoxFut<'_, EventFeed> {
        let live = self.events.subscribe();
        fut(async move {
            Ok(EventFeed {
                past: Vec::new(),
                live,
            })
        })
    }
}

/// The fake process: `echo` prints, `cat` copies stdin; every attached client gets the
/// output (framed unless tty); the exit is recorded and waiters are woken.
async fn run_fake(
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<EventMessage>,
    c: FakeCtr,
    mut clients: Vec<(tokio::io::DuplexStream, Option<tokio::io::DuplexStream>)>,
) {
    let frame = |stream: StdStream, data: &[u8]| -> Bytes {
        if c.tty {
            Bytes::copy_from_slice(data)
        } else {
            mux_frame(stream, data)
        }
    };
    let mut outputs: Vec<(StdStream, Vec<u8>)> = Vec::new();
    match c.cmd.first().map(String::as_str) {
        Some("echo") => {
            outputs.push((
                StdStream::Stdout,
                format!("{}\n", c.cmd[1..].join(" ")).into_bytes(),
            ));
            outputs.push((StdStream::Stderr, b"to stderr\n".to_vec()));
        }
        Some("cat") => {
            // Read stdin of the first client with stdin until EOF, echoing it.
            if let Some(pos) = clients.iter().position(|(_, i)| i.is_some()) {
                let mut input = clients[pos].1.take().unwrap();
                let mut buf = [0u8; 4096];
                loop {
                    match input.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let chunk = buf[..n].to_vec();
                            for (out, _) in clients.iter_mut() {
                                let _ = out.write_all(&frame(StdStream::Stdout, &chunk)).await;
                            }
                            outputs.push((StdStream::Stdout, chunk));
                        }
                    }
                }
            } else {
                // Nobody holds stdin: like `cat` on an open pipe, run until removed.
                std::future::pending::<()>().await;
            }
        }
        _ => {}
    }
    if c.cmd.first().map(String::as_str) != Some("cat") {
        for (stream, data) in &outputs {
            for (out, _) in clients.iter_mut() {
                let _ = out.write_all(&frame(*stream, data)).await;
            }
        }
    }
    drop(clients);
    let mut st = state.lock().unwrap();
    if let Some(ctr) = st.containers.get_mut(&c.id) {
        ctr.running = false;
        ctr.exit_code = 0;
        for (stream, data) in outputs {
            ctr.log.push(LogChunk {
                stream,
                data: Bytes::from(data),
                framed: false,
            });
        }
        ctr.exits.send_modify(|n| *n += 1);
        let _ = events.send(EventMessage {
            kind: "container".into(),
            action: "die".into(),
            actor: EventActor {
                id: ctr.id.clone(),
                attributes: [("name".to_string(), ctr.name.clone())].into(),
            },
            ..Default::default()
        });
    }
}
