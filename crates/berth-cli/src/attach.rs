//! Streaming a hijacked attach/exec connection to the local terminal: output copy
//! (demultiplexed unless TTY), stdin copy with half-close at EOF, client-side
//! detach-key detection in TTY mode, raw mode, resize on SIGWINCH and the signal
//! proxy that forwards SIGINT/SIGTERM/… to the container with `POST /kill`.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use berth_client::{Client, FrameReader};
use nix::sys::signal::{SigSet, Signal};

use crate::cli::AttachArgs;
use crate::errors::{CliError, CliResult};
use crate::term;

/// How a stream ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The daemon closed the output (the process exited or the stream ended).
    Done,
    /// The user typed the detach keys.
    Detached,
}

/// Parses Docker's detach-keys syntax (`ctrl-p,ctrl-q`, `a,ctrl-@`).
pub fn parse_detach_keys(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for key in s.split(',') {
        let k = key.trim();
        if let Some(c) = k.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [b] if b.is_ascii_alphabetic() => b.to_ascii_lowercase() - b'a' + 1,
                [b'@'] => 0,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => return Err(format!("Unknown character: '{k}'")),
            };
            out.push(b);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return Err(format!("Unknown character: '{k}'"));
        }
    }
    Ok(out)
}

/// Copies stdin to the connection, holding back bytes that may start the detach
/// sequence. Returns `true` when the sequence was typed.
fn copy_input(mut conn: UnixStream, keys: Option<Vec<u8>>) -> io::Result<bool> {
    let mut stdin = io::stdin().lock();
    let mut buf = [0u8; 4096];
    let mut held: Vec<u8> = Vec::new();
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buf[..n];
        let Some(keys) = keys.as_deref().filter(|k| !k.is_empty()) else {
            conn.write_all(chunk)?;
            continue;
        };
        let mut out = Vec::with_capacity(n);
        for &b in chunk {
            if b == keys[held.len()] {
                held.push(b);
                if held.len() == keys.len() {
                    conn.write_all(&out)?;
                    return Ok(true);
                }
            } else {
                out.append(&mut held);
                if b == keys[0] {
                    held.push(b);
                } else {
                    out.push(b);
                }
            }
        }
        conn.write_all(&out)?;
    }
    conn.write_all(&held)?;
    // Tell the daemon stdin is finished; output keeps flowing.
    let _ = conn.shutdown(Shutdown::Write);
    Ok(false)
}

/// Options for [`stream`].
pub struct StreamOpts {
    pub tty: bool,
    pub stdin: bool,
    /// Detach keys to watch for in TTY mode (`None` = Docker's default ctrl-p,ctrl-q).
    pub detach_keys: Option<String>,
}

/// Streams until the output ends or the user detaches. Puts the terminal in raw
/// mode for TTY + stdin and restores it before returning.
pub fn stream(conn: UnixStream, o: &StreamOpts) -> io::Result<End> {
    let (tx, rx) = mpsc::channel::<io::Result<End>>();
    let out_conn = conn.try_clone()?;
    let tty = o.tty;
    let out_tx = tx.clone();
    thread::spawn(move || {
        let mut stdout = io::stdout();
        let r = if tty {
            let mut c = out_conn;
            berth_client::stream::copy_raw(&mut c, &mut stdout).map(|_| End::Done)
        } else {
            let mut stderr = io::stderr();
            FrameReader::new(out_conn)
                .copy_to(&mut stdout, &mut stderr)
                .map(|_| End::Done)
        };
        let _ = out_tx.send(r);
    });
    let raw = o.tty && o.stdin && term::make_raw();
    if o.stdin {
        let keys = if o.tty {
            Some(match &o.detach_keys {
                Some(k) => parse_detach_keys(k).map_err(io::Error::other)?,
                None => vec![0x10, 0x11],
            })
        } else {
            None
        };
        let in_conn = conn.try_clone()?;
        let in_tx = tx.clone();
        thread::spawn(move || match copy_input(in_conn, keys) {
            Ok(true) => {
                let _ = in_tx.send(Ok(End::Detached));
            }
            Ok(false) => {}
            // A write error means the daemon closed the stream; output reports the end.
            Err(_) => {}
        });
    }
    drop(tx);
    let r = rx.recv().unwrap_or(Ok(End::Done));
    if raw {
        term::restore_terminal();
    }
    if matches!(r, Ok(End::Detached)) {
        let _ = conn.shutdown(Shutdown::Both);
    }
    r
}

/// What to resize on SIGWINCH.
#[derive(Clone)]
pub enum ResizeTarget {
    Container(String),
    Exec(String),
}

fn resize(c: &Client, t: &ResizeTarget) -> bool {
    let Some((h, w)) = term::size() else {
        return true;
    };
    match t {
        ResizeTarget::Container(id) => c.container_resize(id, h, w).is_ok(),
        ResizeTarget::Exec(id) => c.exec_resize(id, h, w).is_ok(),
    }
}

/// Signals blocked for a proxy/resize handler. Create it before spawning any other
/// thread (threads inherit the blocked mask, so only the handler receives them),
/// then [`Signals::run`] once the container runs.
pub struct Signals {
    set: SigSet,
    resize: Option<ResizeTarget>,
    proxy_to: Option<String>,
}

impl Signals {
    pub fn block(resize_target: Option<ResizeTarget>, proxy_to: Option<String>) -> Signals {
        let mut set = SigSet::empty();
        if resize_target.is_some() {
            set.add(Signal::SIGWINCH);
        }
        if proxy_to.is_some() {
            for s in [
                Signal::SIGHUP,
                Signal::SIGINT,
                Signal::SIGQUIT,
                Signal::SIGTERM,
                Signal::SIGUSR1,
                Signal::SIGUSR2,
                Signal::SIGALRM,
            ] {
                set.add(s);
            }
        }
        if set.iter().next().is_some() {
            let _ = set.thread_block();
        }
        Signals {
            set,
            resize: resize_target,
            proxy_to,
        }
    }

    /// Sends the initial size (retrying briefly while the process starts), keeps it
    /// in sync on SIGWINCH and forwards the blocked termination signals.
    pub fn run(self, c: &Client) {
        if self.set.iter().next().is_none() {
            return;
        }
        let c = c.clone();
        if let Some(t) = &self.resize {
            let c2 = c.clone();
            let t = t.clone();
            thread::spawn(move || {
                for i in 0..10u64 {
                    if resize(&c2, &t) {
                        break;
                    }
                    thread::sleep(Duration::from_millis(10 * (i + 1)));
                }
            });
        }
        thread::spawn(move || loop {
            let Ok(sig) = self.set.wait() else {
                return;
            };
            if sig == Signal::SIGWINCH {
                if let Some(t) = &self.resize {
                    resize(&c, t);
                }
            } else if let Some(id) = &self.proxy_to {
                let _ = c.container_kill(id, Some(&(sig as i32).to_string()));
            }
        });
    }
}

/// `berth attach`.
pub fn attach_cmd(c: &Client, a: &AttachArgs) -> CliResult {
    let info = c.container_inspect(&a.container, false)?;
    let id = info["Id"].as_str().unwrap_or(&a.container).to_string();
    if !info["State"]["Running"].as_bool().unwrap_or(false) {
        return Err(CliError::msg(
            "You cannot attach to a stopped container, start it first",
        ));
    }
    if info["State"]["Paused"].as_bool().unwrap_or(false) {
        return Err(CliError::msg(
            "You cannot attach to a paused container, unpause it first",
        ));
    }
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let open_stdin = info["Config"]["OpenStdin"].as_bool().unwrap_or(false);
    let use_stdin = open_stdin && !a.no_stdin;
    if tty && use_stdin && !term::stdin_is_tty() {
        return Err(CliError::msg("the input device is not a TTY"));
    }
    let sig_proxy = a.sig_proxy.unwrap_or(true) && !tty;
    // Block the proxied signals before any helper thread exists.
    let signals = Signals::block(
        tty.then(|| ResizeTarget::Container(id.clone())),
        sig_proxy.then(|| id.clone()),
    );
    // Registered before attaching, like Docker, so a quick exit is not missed.
    let status = crate::run::begin_wait(c, &id, "not-running");
    let conn = c.container_attach(&id, use_stdin, true, true, a.detach_keys.as_deref())?;
    if tty {
        // Resize to a different size and back so the program redraws its screen,
        // as Docker's attach does.
        let (h, w) = term::size().unwrap_or((0, 0));
        let _ = c.container_resize(&id, h.saturating_add(1), w.saturating_add(1));
        let _ = c.container_resize(&id, h, w);
    }
    signals.run(c);
    let end = stream(
        conn,
        &StreamOpts {
            tty,
            stdin: use_stdin,
            detach_keys: a.detach_keys.clone(),
        },
    )?;
    if end == End::Detached {
        return Err(CliError::msg("read escape sequence"));
    }
    // The container's exit code, as Docker's attach reports it.
    match status.recv() {
        Ok(Ok(0)) | Err(_) => Ok(()),
        Ok(Ok(code)) => Err(CliError::exit(code as i32)),
        Ok(Err(m)) => Err(CliError::msg(m)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_syntax() {
        assert_eq!(
            parse_detach_keys("ctrl-p,ctrl-q").unwrap(),
            vec![0x10, 0x11]
        );
        assert_eq!(parse_detach_keys("a,ctrl-@").unwrap(), vec![b'a', 0]);
        assert!(parse_detach_keys("ctrl-").is_err());
        assert!(parse_detach_keys("abc").is_err());
    }
}
