//! Talking to `berth-shim`: spawning one for a container or exec, and the control
//! socket requests (one JSON line each way; after an `attach` reply the connection is a
//! raw stream).
//!
//! Replies are peeked before they are read, so that no byte past the newline is
//! taken: after `attach` the bytes that follow the reply line belong to the container's
//! output and must stay in the socket for the caller.

use crate::error::{EngineError, Result};
use berth_types::shim::{Reply, Request};
use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// How long a shim may take to create the process and print its first reply.
const SPAWN_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `<shim> run <config>` and returns its first reply line (`ok` + pid, or the error
/// with 126/127). The shim keeps running (it calls `setsid`); a thread reaps it when it
/// exits so it never lingers as a zombie of the daemon.
pub async fn spawn(shim_binary: &Path, config: &Path) -> Result<Reply> {
    spawn_with_fd(shim_binary, config, None).await
}

/// [`spawn`], with descriptor `inherit` of this process as the shim's stdin (the
/// config's `stdin_fd` tells the shim where it belongs).
///
/// Nothing runs in the child before `execve`, so the standard library spawns with
/// `posix_spawn` (a vfork): a fork of the daemon would copy its page tables and make
/// every thread of it take copy-on-write faults afterwards, about 1 ms per start.
pub async fn spawn_with_fd(
    shim_binary: &Path,
    config: &Path,
    inherit: Option<RawFd>,
) -> Result<Reply> {
    let bin = shim_binary.to_path_buf();
    let cfg = config.to_path_buf();
    // A copy the child gets as its stdin; this one closes when the spawn is done.
    let stdin = match inherit {
        // SAFETY: the caller keeps `fd` open for the duration of this call.
        Some(fd) => Stdio::from(
            unsafe { BorrowedFd::borrow_raw(fd) }
                .try_clone_to_owned()
                .map_err(|e| EngineError::io("passing a descriptor to the shim", e))?,
        ),
        None => Stdio::null(),
    };
    let task = tokio::task::spawn_blocking(move || -> Result<Reply> {
        let mut cmd = Command::new(&bin);
        cmd.arg("run")
            .arg(&cfg)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd
            .spawn()
            .map_err(|e| EngineError::io(format!("starting shim {}", bin.display()), e))?;
        let stdout = child.stdout.take();
        // Reap the shim whenever it exits (it outlives this call).
        std::thread::spawn(move || {
            let _ = child.wait();
        });
        let Some(stdout) = stdout else {
            return Err(EngineError::internal("shim stdout missing"));
        };
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| EngineError::io("reading shim reply", e))?;
        if line.trim().is_empty() {
            return Err(EngineError::internal(
                "shim exited without a reply (see shim.log in the container's directory under the exec root)",
            ));
        }
        serde_json::from_str(line.trim())
            .map_err(|e| EngineError::internal(format!("bad shim reply {line:?}: {e}")))
    });
    match tokio::time::timeout(SPAWN_TIMEOUT, task).await {
        Ok(r) => r?,
        Err(_) => Err(EngineError::internal(
            "timed out waiting for the shim to start",
        )),
    }
}

/// Connects to a shim's control socket.
pub async fn connect(socket: &Path) -> Result<UnixStream> {
    UnixStream::connect(socket)
        .await
        .map_err(|e| EngineError::io(format!("connecting to shim {}", socket.display()), e))
}

/// Sends one request line.
pub async fn send(conn: &mut UnixStream, req: &Request) -> Result<()> {
    send_all(conn, std::slice::from_ref(req)).await
}

/// Sends request lines in one write; the shim answers them in order.
pub async fn send_all(conn: &mut UnixStream, reqs: &[Request]) -> Result<()> {
    let mut lines = Vec::with_capacity(32 * reqs.len());
    for req in reqs {
        serde_json::to_writer(&mut lines, req)
            .map_err(|e| EngineError::internal(format!("encoding shim request: {e}")))?;
        lines.push(b'\n');
    }
    conn.write_all(&lines)
        .await
        .map_err(|e| EngineError::io("writing to shim", e))
}

/// Reads one reply line without reading past it: the bytes are peeked first and only
/// those up to the newline taken (what follows may be a raw stream for the caller).
pub async fn read_reply(conn: &mut UnixStream) -> Result<Reply> {
    let fd = conn.as_raw_fd();
    let mut line = Vec::with_capacity(256);
    let mut buf = [0u8; 4096];
    loop {
        conn.readable()
            .await
            .map_err(|e| EngineError::io("reading from shim", e))?;
        let peeked = conn.try_io(tokio::io::Interest::READABLE, || {
            // SAFETY: recv into a buffer we own, of its length; MSG_PEEK leaves the
            // bytes in the socket.
            let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_PEEK) };
            if n < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        let n = match peeked {
            Ok(0) => return Err(EngineError::internal("shim closed the connection")),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(EngineError::io("reading from shim", e)),
        };
        // Through the newline when it is there; else all of it belongs to the line.
        let take = buf[..n]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(n, |i| i + 1);
        conn.read_exact(&mut buf[..take])
            .await
            .map_err(|e| EngineError::io("reading from shim", e))?;
        line.extend_from_slice(&buf[..take]);
        if line.last() == Some(&b'\n') {
            line.pop();
            break;
        }
        if line.len() > 1 << 20 {
            return Err(EngineError::internal("shim reply too long"));
        }
    }
    serde_json::from_slice(&line).map_err(|e| {
        EngineError::internal(format!(
            "bad shim reply {:?}: {e}",
            String::from_utf8_lossy(&line)
        ))
    })
}

/// One request, one reply, on a fresh connection.
pub async fn request(socket: &Path, req: &Request) -> Result<Reply> {
    let mut c = connect(socket).await?;
    send(&mut c, req).await?;
    read_reply(&mut c).await
}

/// A connection turned into the attach stream of the chosen stdio.
pub async fn attach(socket: &Path, stdin: bool, stdout: bool, stderr: bool) -> Result<UnixStream> {
    attach_finish(attach_send(socket, stdin, stdout, stderr).await?).await
}

/// First half of [`attach`]: connects and sends the request, without waiting for the
/// reply. The shim serves its connections in the order they were made, so a `start`
/// sent on a connection made after this one finds this client attached.
pub async fn attach_send(
    socket: &Path,
    stdin: bool,
    stdout: bool,
    stderr: bool,
) -> Result<UnixStream> {
    let mut c = connect(socket).await?;
    send(
        &mut c,
        &Request::Attach {
            stdin,
            stdout,
            stderr,
        },
    )
    .await?;
    Ok(c)
}

/// Second half of [`attach`]: the shim's answer; the stream follows on `c`.
pub async fn attach_finish(mut c: UnixStream) -> Result<UnixStream> {
    let r = read_reply(&mut c).await?;
    if !r.ok {
        return Err(EngineError::internal(r.error));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reply_is_read_up_to_its_newline_and_no_further() {
        let (mut ours, mut shim) = UnixStream::pair().unwrap();
        // The reply and the first stream bytes in one write, as after `attach`.
        shim.write_all(b"{\"ok\":true,\"pid\":7}\nRAW OUTPUT")
            .await
            .unwrap();
        let r = read_reply(&mut ours).await.unwrap();
        assert!(r.ok);
        assert_eq!(r.pid, Some(7));
        let mut rest = [0u8; 10];
        ours.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"RAW OUTPUT");
    }

    #[tokio::test]
    async fn a_reply_in_pieces_is_put_together() {
        let (mut ours, mut shim) = UnixStream::pair().unwrap();
        let writer = tokio::spawn(async move {
            shim.write_all(b"{\"ok\":false,").await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            shim.write_all(b"\"error\":\"no\"}\n{\"ok\":true}\n")
                .await
                .unwrap();
            shim
        });
        let r = read_reply(&mut ours).await.unwrap();
        assert!(!r.ok);
        assert_eq!(r.error, "no");
        // The second line is still there, whole.
        assert!(read_reply(&mut ours).await.unwrap().ok);
        drop(writer.await.unwrap());
        // Then the end of the connection is an error, not a reply.
        assert!(read_reply(&mut ours).await.is_err());
    }
}
