//! Attach: a duplex byte stream to a container's stdio, for the API to splice onto the
//! hijacked HTTP connection.
//!
//! Output arrives framed with Docker's 8-byte header when the container has no tty
//! (the shim frames it), raw with a tty; input written to the stream goes to the
//! container's stdin, and shutting down the write side is stdin EOF.
//!
//! Attaching before start (`docker run`): the caller gets one end of a socket pair at
//! once; the other end waits in the container's pending list and is spliced to a shim
//! attach connection between create-in-shim and `start`, so no output is missed.

use crate::error::{EngineError, Result};
use crate::logs::frame;
use crate::{lock, shimctl, Engine};
use berth_logfile::{ReadOptions, Stream};
use berth_types::shim::{STREAM_STDERR, STREAM_STDOUT};
use std::sync::atomic::Ordering;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

/// Query options of `POST /containers/{id}/attach`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Stream live output (and input).
    pub stream: bool,
    /// Replay the log first.
    pub logs: bool,
}

/// The attached stream. `tty` tells the API which content type to announce
/// (`application/vnd.docker.raw-stream` with a tty, `…multiplexed-stream` without).
#[derive(Debug)]
pub struct AttachStream {
    pub conn: UnixStream,
    pub tty: bool,
}

/// An attach client waiting for the container's next start.
pub(crate) struct Pending {
    pub end: UnixStream,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

impl Engine {
    /// `POST /containers/{id}/attach`.
    pub async fn attach(&self, name: &str, opts: AttachOptions) -> Result<AttachStream> {
        let ctr = self.lookup(name)?;
        let rec = ctr.snapshot();
        let tty = rec.config.tty;
        let stdin = opts.stdin && rec.config.open_stdin;

        let mut prefix = Vec::new();
        if opts.logs && !rec.log_path.is_empty() {
            let path = std::path::PathBuf::from(&rec.log_path);
            let entries = tokio::task::spawn_blocking(move || {
                berth_logfile::read(&path, &ReadOptions::default())
            })
            .await?
            .map_err(|e| EngineError::internal(e.to_string()))?;
            for e in entries {
                let (want, id) = match e.stream {
                    Stream::Stdout => (opts.stdout, STREAM_STDOUT),
                    Stream::Stderr => (opts.stderr, STREAM_STDERR),
                };
                if want {
                    if tty {
                        prefix.extend_from_slice(&e.line);
                    } else {
                        prefix.extend_from_slice(&frame(id, &e.line));
                    }
                }
            }
        }

        let (mine, theirs) =
            UnixStream::pair().map_err(|e| EngineError::io("creating attach socket pair", e))?;
        let mut mine = mine;
        if !prefix.is_empty() {
            mine.write_all(&prefix)
                .await
                .map_err(|e| EngineError::io("writing attach logs", e))?;
        }
        if !opts.stream {
            let _ = mine.shutdown().await;
            return Ok(AttachStream { conn: theirs, tty });
        }
        let pending = Pending {
            end: mine,
            stdin,
            stdout: opts.stdout,
            stderr: opts.stderr,
        };
        // Decide under the record lock so a start cannot slip between the check and
        // the registration.
        let running = {
            let r = lock(&ctr.rec);
            if !r.state.running && !ctr.shim_up.load(Ordering::SeqCst) {
                lock(&ctr.pending).push(pending);
                None
            } else {
                Some(pending)
            }
        };
        if let Some(p) = running {
            match shimctl::attach(&ctr.socket, p.stdin, p.stdout, p.stderr).await {
                Ok(conn) => splice(p.end, conn),
                // The process exited between our look at the state and the shim's
                // answer (or the shim is gone). Docker's API does not fail an attach
                // to a container that has stopped: the stream (with the logs asked
                // for) just ends. Clients such as docker-compose 1.x start a one-off
                // container first and attach after, and must not see an error.
                Err(e)
                    if e.to_string().contains("stopped container")
                        || !ctr.shim_up.load(Ordering::SeqCst)
                        || !lock(&ctr.rec).state.running =>
                {
                    let mut end = p.end;
                    let _ = end.shutdown().await;
                }
                Err(e) => return Err(e),
            }
        }
        self.container_event(&rec, "attach", &[]);
        Ok(AttachStream { conn: theirs, tty })
    }
}

/// Copies both ways until both directions end; each side's EOF is passed on as a write
/// shutdown (client stdin EOF → shim; shim output end → client).
pub(crate) fn splice(a: UnixStream, b: UnixStream) {
    tokio::spawn(async move {
        let (mut ar, mut aw) = a.into_split();
        let (mut br, mut bw) = b.into_split();
        let up = async {
            let _ = tokio::io::copy(&mut ar, &mut bw).await;
            let _ = bw.shutdown().await;
        };
        let down = async {
            let _ = tokio::io::copy(&mut br, &mut aw).await;
            let _ = aw.shutdown().await;
        };
        tokio::join!(up, down);
    });
}
