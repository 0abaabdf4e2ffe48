//! `compose logs` and the attached mode of `compose up`: the logs of several
//! containers interleaved line by line, each line prefixed with the container's
//! name without the project (`web-1  | …`), padded to the widest name, as Docker
//! Compose prints them. One reader thread per container; whole lines are written
//! under a lock so lines of different containers never mix.

use std::io::{self, Write};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

use berth_client::{Client, FrameReader, Query};
use berth_compose::run::Runner;
use berth_compose::Project;
use nix::sys::signal::{SigSet, Signal};

use super::args::LogsArgs;
use crate::errors::{CliError, CliResult};
use crate::units::api_timestamp;

/// The prefix name: `<project>-web-1` → `web-1`.
pub fn short_name(project: &str, container: &str) -> String {
    container
        .strip_prefix(&format!("{project}-"))
        .unwrap_or(container)
        .to_string()
}

/// Prefixes complete lines and keeps a partial last line for the next chunk.
#[derive(Default)]
struct LineBuf {
    pending: Vec<u8>,
}

impl LineBuf {
    fn push(&mut self, data: &[u8], prefix: &str, out: &Mutex<io::Stdout>) {
        self.pending.extend_from_slice(data);
        let Some(last_nl) = self.pending.iter().rposition(|b| *b == b'\n') else {
            return;
        };
        let ready: Vec<u8> = self.pending.drain(..=last_nl).collect();
        let mut text = Vec::with_capacity(ready.len() + prefix.len() * 4);
        for line in ready.split_inclusive(|b| *b == b'\n') {
            text.extend_from_slice(prefix.as_bytes());
            text.extend_from_slice(line);
        }
        if let Ok(mut o) = out.lock() {
            let _ = o.write_all(&text);
            let _ = o.flush();
        }
    }

    fn finish(&mut self, prefix: &str, out: &Mutex<io::Stdout>) {
        if !self.pending.is_empty() {
            self.pending.push(b'\n');
            let rest = std::mem::take(&mut self.pending);
            self.push(&rest, prefix, out);
        }
    }
}

struct Source {
    id: String,
    prefix: String,
    tty: bool,
}

/// What the reader threads report to the waiting side.
pub enum Event {
    /// The log stream of source `i` ended (its container stopped), with an error text
    /// when it could not be read.
    Ended(usize, Option<String>),
    /// SIGINT or SIGTERM arrived (attached `up`).
    Interrupted,
}

/// Starts one reader thread per source; each reports its end on `tx`.
fn spawn_readers(c: &Client, sources: Vec<Source>, q: &Query, tx: &mpsc::Sender<Event>) -> usize {
    let out = Arc::new(Mutex::new(io::stdout()));
    let n = sources.len();
    for (i, s) in sources.into_iter().enumerate() {
        let c = c.clone();
        let q = q.clone();
        let out = Arc::clone(&out);
        let tx = tx.clone();
        thread::spawn(move || {
            let r = (|| -> Result<(), String> {
                let mut resp = c.container_logs(&s.id, &q).map_err(|e| e.to_string())?;
                let mut buf = LineBuf::default();
                if s.tty {
                    let mut chunk = [0u8; 8192];
                    loop {
                        match io::Read::read(&mut resp, &mut chunk) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => buf.push(&chunk[..n], &s.prefix, &out),
                        }
                    }
                } else {
                    let mut frames = FrameReader::new(resp);
                    while let Ok(Some(f)) = frames.next_frame() {
                        buf.push(&f.data, &s.prefix, &out);
                    }
                }
                buf.finish(&s.prefix, &out);
                Ok(())
            })();
            let _ = tx.send(Event::Ended(i, r.err()));
        });
    }
    n
}

fn stream_all(c: &Client, sources: Vec<Source>, q: Query) -> CliResult {
    let (tx, rx) = mpsc::channel();
    let n = spawn_readers(c, sources, &q, &tx);
    drop(tx);
    let mut first_err = None;
    for _ in 0..n {
        if let Ok(Event::Ended(_, Some(e))) = rx.recv() {
            first_err.get_or_insert(e);
        }
    }
    match first_err {
        Some(e) => Err(CliError::msg(e)),
        None => Ok(()),
    }
}

fn sources(
    c: &Client,
    p: &Project,
    list: &[(String, String)],
    no_prefix: bool,
) -> CliResult<Vec<Source>> {
    let width = list
        .iter()
        .map(|(_, n)| short_name(&p.name, n).chars().count())
        .max()
        .unwrap_or(0);
    let mut out = Vec::new();
    for (id, name) in list {
        let info = c.container_inspect(id, false)?;
        let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
        let prefix = if no_prefix {
            String::new()
        } else {
            format!("{:<width$}  | ", short_name(&p.name, name))
        };
        out.push(Source {
            id: id.clone(),
            prefix,
            tty,
        });
    }
    Ok(out)
}

pub fn logs(c: &Client, r: &Runner, a: &LogsArgs) -> CliResult {
    let list: Vec<(String, String)> = r
        .service_containers(&a.services)?
        .into_iter()
        .map(|f| (f.observed.id, f.observed.name))
        .collect();
    let now = std::time::SystemTime::now();
    let mut q = Query::new()
        .add("stdout", "1")
        .add("stderr", "1")
        .flag("follow", a.follow)
        .flag("timestamps", a.timestamps)
        .add("tail", &a.tail);
    for (key, v) in [("since", &a.since), ("until", &a.until)] {
        if let Some(v) = v {
            let ts = api_timestamp(v, now).ok_or_else(|| {
                CliError::msg(format!(
                    "invalid value for \"{key}\": failed to parse value as time or duration: \"{v}\""
                ))
            })?;
            q = q.add(key, ts);
        }
    }
    let src = sources(c, r.project, &list, a.no_log_prefix)?;
    stream_all(c, src, q)
}

/// How attached `up` ends.
#[derive(Debug, Default, Clone)]
pub struct AttachedUp {
    /// `--abort-on-container-exit`: stop everything when one container stops.
    pub abort_on_exit: bool,
    /// `--exit-code-from`: exit with this service's container's code.
    pub exit_code_from: Option<String>,
}

/// Follows the given containers' output (attached `up`) until all have ended, or
/// until one ends with `abort_on_exit`, or SIGINT/SIGTERM (then the containers are
/// stopped, as Docker Compose does). Returns the exit status for the command.
pub fn follow_ids(c: &Client, r: &Runner, ids: &[String], how: &AttachedUp) -> CliResult<i32> {
    let p = r.project;
    // Block the termination signals before any thread exists, so only the waiter
    // below receives them.
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    let _ = set.thread_block();
    let mut list = Vec::new();
    for id in ids {
        let info = c.container_inspect(id, false)?;
        let name = info["Name"]
            .as_str()
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_else(|| id.clone());
        let service = info["Config"]["Labels"][berth_compose::labels::SERVICE]
            .as_str()
            .unwrap_or("")
            .to_string();
        list.push((id.clone(), name, service));
    }
    let pairs: Vec<(String, String)> = list
        .iter()
        .map(|(i, n, _)| (i.clone(), n.clone()))
        .collect();
    let q = Query::new()
        .add("stdout", "1")
        .add("stderr", "1")
        .add("follow", "1");
    let src = sources(c, p, &pairs, false)?;
    let (tx, rx) = mpsc::channel();
    let n = spawn_readers(c, src, &q, &tx);
    let sig_tx = tx.clone();
    thread::spawn(move || {
        if set.wait().is_ok() {
            let _ = sig_tx.send(Event::Interrupted);
        }
    });
    drop(tx);
    let exit_code_of = |id: &str| {
        c.container_inspect(id, false)
            .ok()
            .and_then(|i| i["State"]["ExitCode"].as_i64())
            .unwrap_or(0)
    };
    let mut ended = 0;
    let mut stopping = false;
    let mut status = 0;
    while ended < n {
        match rx.recv() {
            Ok(Event::Ended(i, _)) => {
                ended += 1;
                let (id, name, _) = &list[i];
                let code = exit_code_of(id);
                println!("{} exited with code {code}", short_name(&p.name, name));
                if how.abort_on_exit && !stopping {
                    stopping = true;
                    println!("Aborting on container exit...");
                    r.stop(&[], None)?;
                }
            }
            Ok(Event::Interrupted) if !stopping => {
                stopping = true;
                eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
                r.stop(&[], None)?;
                status = 130;
            }
            Ok(Event::Interrupted) => return Ok(130),
            Err(_) => break,
        }
    }
    if let Some(svc) = &how.exit_code_from {
        if let Some((id, _, _)) = list.iter().find(|(_, _, s)| s == svc) {
            status = exit_code_of(id) as i32;
        }
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_the_project() {
        assert_eq!(short_name("demo", "demo-web-1"), "web-1");
        assert_eq!(short_name("demo", "custom"), "custom");
    }
}
