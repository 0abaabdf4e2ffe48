//! Talking to `berth-shim`: spawning one for a container or exec, and the control
//! socket requests (one JSON line each way; after an `attach` reply the connection is a
//! raw stream).
//!
//! Replies are read one byte at a time on purpose: after `attach` the bytes that follow
//! the reply line belong to the container's output and must stay in the socket for the
//! caller.

use crate::error::{EngineError, Result};
use berth_types::shim::{Reply, Request};
use std::io::{BufRead, BufReader};
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
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

/// [`spawn`], with descriptor `inherit` of this process open in the shim under the same
/// number (the config names it as `/proc/self/fd/<n>`).
pub async fn spawn_with_fd(
    shim_binary: &Path,
    config: &Path,
    inherit: Option<RawFd>,
) -> Result<Reply> {
    let bin = shim_binary.to_path_buf();
    let cfg = config.to_path_buf();
    let task = tokio::task::spawn_blocking(move || -> Result<Reply> {
        let mut cmd = Command::new(&bin);
        cmd.arg("run")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(fd) = inherit {
            // SAFETY: runs in the forked child before exec and only clears the
            // close-on-exec flag of a descriptor the caller keeps open meanwhile
            // (fcntl is async-signal-safe).
            unsafe {
                cmd.pre_exec(move || {
                    if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
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

/// Reads one reply line without reading past it.
pub async fn read_reply(conn: &mut UnixStream) -> Result<Reply> {
    let mut buf = Vec::with_capacity(128);
    loop {
        let mut b = [0u8; 1];
        let n = conn
            .read(&mut b)
            .await
            .map_err(|e| EngineError::io("reading from shim", e))?;
        if n == 0 {
            return Err(EngineError::internal("shim closed the connection"));
        }
        if b[0] == b'\n' {
            break;
        }
        buf.push(b[0]);
        if buf.len() > 1 << 20 {
            return Err(EngineError::internal("shim reply too long"));
        }
    }
    serde_json::from_slice(&buf).map_err(|e| {
        EngineError::internal(format!(
            "bad shim reply {:?}: {e}",
            String::from_utf8_lossy(&buf)
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
    let r = read_reply(&mut c).await?;
    if !r.ok {
        return Err(EngineError::internal(r.error));
    }
    Ok(c)
}
