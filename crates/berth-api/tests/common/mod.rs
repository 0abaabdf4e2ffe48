//! Test harness: an API server on a temp unix socket in this process, and a raw
//! HTTP/1.1 client written by hand over `UnixStream` (so the tests see exactly the
//! bytes a client sees).
#![allow(dead_code)]

pub mod fake;
#[cfg(feature = "engine")]
pub mod real;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Builds the backend of a test server inside its runtime.
pub type MakeBackend =
    std::pin::Pin<Box<dyn std::future::Future<Output = Arc<dyn berth_api::Backend>> + Send>>;

/// A running server; dropping it stops the server and removes the temp dir.
pub struct TestServer {
    pub dir: PathBuf,
    pub socket: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// A server over the in-memory test backend.
    pub fn start(name: &str) -> TestServer {
        Self::start_with(name, |_dir| {
            Box::pin(async { Arc::new(fake::Fake::new()) as _ })
        })
    }

    /// A server over the backend `make` builds (given the server's temp dir), on a
    /// runtime owned by the server.
    pub fn start_with(
        name: &str,
        make: impl FnOnce(PathBuf) -> MakeBackend + Send + 'static,
    ) -> TestServer {
        let dir = std::env::temp_dir().join(format!("berth-api-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("api.sock");
        let config = berth_api::DaemonConfig {
            id: "TEST-ID".into(),
            data_root: dir.join("data"),
            exec_root: dir.join("run"),
            ..Default::default()
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let sock = socket.clone();
        let backend_dir = dir.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::UnixListener::bind(&sock).unwrap();
                let backend = make(backend_dir).await;
                let api = Arc::new(berth_api::Api { config, backend });
                ready_tx.send(()).unwrap();
                berth_api::serve(listener, api, async move {
                    let _ = stop_rx.await;
                })
                .await;
            });
            rt.shutdown_background();
        });
        ready_rx.recv().unwrap();
        TestServer {
            dir,
            socket,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Send one request (with `Connection: close`) and read the whole response.
    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> Response {
        self.request_with(method, path, &[], body.map(str::as_bytes))
    }

    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Response {
        let mut s = self.connect();
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: api\r\nConnection: close\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(b) = body {
            req.push_str("Content-Type: application/json\r\n");
            req.push_str(&format!("Content-Length: {}\r\n", b.len()));
        }
        req.push_str("\r\n");
        // Head and body in one write, as real clients send small requests: the server
        // may answer (and close) as soon as it has seen the head.
        let mut bytes = req.into_bytes();
        if let Some(b) = body {
            bytes.extend_from_slice(b);
        }
        s.write_all(&bytes).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        Response::parse(&raw)
    }

    pub fn connect(&self) -> UnixStream {
        let s = UnixStream::connect(&self.socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }

    pub fn path(&self) -> &Path {
        &self.socket
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// Parse a complete response; decodes a chunked body.
    pub fn parse(raw: &[u8]) -> Response {
        let end = find(raw, b"\r\n\r\n").expect("end of headers");
        let head = std::str::from_utf8(&raw[..end]).unwrap();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let mut parts = status_line.splitn(3, ' ');
        assert_eq!(parts.next(), Some("HTTP/1.1"));
        let status = parts.next().unwrap().parse().unwrap();
        let reason = parts.next().unwrap_or("").to_string();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (k, v) = l.split_once(':').unwrap();
                (k.trim().to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        let rest = &raw[end + 4..];
        let chunked = headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
        let body = if chunked {
            dechunk(rest)
        } else {
            rest.to_vec()
        };
        Response {
            status,
            reason,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }

    /// The `message` of a Docker error body.
    pub fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = find(data, b"\r\n") {
        let size_text = std::str::from_utf8(&data[..eol]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        data = &data[eol + 2..];
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
    out
}

/// Split Docker's multiplexed stream into (stream id, payload) frames.
pub fn demux(mut data: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while data.len() >= 8 {
        let len = u32::from_be_bytes([data[4], data[5], data[6], data[7]]) as usize;
        assert_eq!(&data[1..4], &[0, 0, 0], "frame header padding");
        frames.push((data[0], data[8..8 + len].to_vec()));
        data = &data[8 + len..];
    }
    assert!(data.is_empty(), "trailing partial frame: {data:?}");
    frames
}
