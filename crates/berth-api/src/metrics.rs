//! The Prometheus endpoint: `GET /metrics` on its own TCP listener (`--metrics-addr`),
//! apart from the Docker API so scraping never needs the API socket's rights.
//!
//! A deliberately tiny HTTP/1.x responder: read the request head (bounded), answer
//! `/metrics` with the page made by `render` (run on a blocking thread: it reads
//! cgroup and proc files) in the text exposition format, anything else with 404, and
//! close the connection. Scrapers open a connection per scrape anyway.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Makes the metrics page.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// Request heads larger than this are refused.
const MAX_HEAD: usize = 16 * 1024;
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Serve until `shutdown` completes.
pub async fn serve_metrics(
    listener: TcpListener,
    render: Render,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            acc = listener.accept() => {
                let Ok((stream, _)) = acc else {
                    // Out of descriptors and the like: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let render = render.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(IO_TIMEOUT, handle(stream, render)).await;
                });
            }
        }
    }
}

async fn handle(mut s: TcpStream, render: Render) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_HEAD {
            return respond(
                &mut s,
                "431 Request Header Fields Too Large",
                "text/plain",
                b"",
            )
            .await;
        }
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    if path != "/metrics" {
        return respond(
            &mut s,
            "404 Not Found",
            "text/plain",
            b"404 page not found\n",
        )
        .await;
    }
    if method != "GET" && method != "HEAD" {
        return respond(&mut s, "405 Method Not Allowed", "text/plain", b"").await;
    }
    let page = tokio::task::spawn_blocking(move || render())
        .await
        .unwrap_or_default();
    let body = if method == "HEAD" {
        &b""[..]
    } else {
        page.as_bytes()
    };
    respond(
        &mut s,
        "200 OK",
        "text/plain; version=0.0.4; charset=utf-8",
        body,
    )
    .await
}

async fn respond(s: &mut TcpStream, status: &str, ctype: &str, body: &[u8]) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await?;
    s.write_all(body).await?;
    s.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: std::net::SocketAddr, req: &str) -> String {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_metrics_and_404s_the_rest() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let render: Render = Arc::new(|| "# TYPE x gauge\nx 1\n".to_string());
        let server = tokio::spawn(serve_metrics(l, render, async {
            let _ = rx.await;
        }));
        let r = get(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("version=0.0.4"));
        assert!(r.ends_with("\r\n\r\n# TYPE x gauge\nx 1\n"), "{r}");
        let r = get(addr, "GET / HTTP/1.1\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 404"), "{r}");
        let _ = tx.send(());
        server.await.unwrap();
    }
}
