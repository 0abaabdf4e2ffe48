//! `create`, `run` and `start`: building the create request, pulling a missing
//! image, attaching before start, waiting for the exit, and mapping errors to
//! Docker's exit codes (125 daemon/flag errors, 126/127 from the start error).

use std::io::Write;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use berth_client::{Client, JsonLines};
use serde_json::Value;

use crate::attach::{self, End, ResizeTarget, Signals, StreamOpts};
use crate::cli::{CreateArgs, RunArgs, StartArgs};
use crate::errors::{CliError, CliResult};
use crate::opts::{self, CreatePlan};
use crate::term;

/// A flag-value error from `opts::build`: Docker prints pflag-style "invalid argument"
/// errors with the usage line and no prefix; other option errors as `berth: …`.
fn opt_error(e: opts::OptError, cmd: &str) -> CliError {
    if e.0.starts_with("invalid argument") {
        CliError {
            message: format!(
                "{}\n\nUsage:  berth {cmd} [OPTIONS] IMAGE [COMMAND] [ARG...]",
                e.0
            ),
            code: 125,
            hint: Some(cmd.to_string()),
            prefixed: false,
        }
    } else {
        CliError::run_style(e.0, cmd)
    }
}

/// Docker's client-side reference check: the grammar of `[domain/]path[:tag][@digest]`
/// and lowercase repositories. Returns Docker's error text.
pub fn validate_ref(r: &str) -> Result<(), String> {
    let invalid = || "invalid reference format".to_string();
    let (name, digest) = match r.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (r, None),
    };
    if let Some(d) = digest {
        let ok = d.split_once(':').is_some_and(|(alg, hex)| {
            !alg.is_empty() && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
        });
        if !ok {
            return Err(invalid());
        }
    }
    let (repo, tag) = match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag)),
        _ => (name, None),
    };
    if let Some(t) = tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
            && !t.starts_with(['.', '-']);
        if !ok {
            return Err(invalid());
        }
    }
    if repo.is_empty() {
        return Err(invalid());
    }
    let parts: Vec<&str> = repo.split('/').collect();
    let has_domain = parts.len() > 1
        && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost");
    let path = if has_domain { &parts[1..] } else { &parts[..] };
    for comp in path {
        let ok = !comp.is_empty()
            && comp
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            && comp.as_bytes()[0].is_ascii_alphanumeric()
            && comp.as_bytes()[comp.len() - 1].is_ascii_alphanumeric();
        if !ok {
            return Err(invalid());
        }
    }
    let path = path.join("/");
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        let shown = if has_domain || path.contains('/') {
            path
        } else {
            format!("library/{path}")
        };
        return Err(format!(
            "invalid reference format: repository name ({shown}) must be lowercase"
        ));
    }
    Ok(())
}

/// `busybox` → `busybox:latest`; references with a tag or digest stay as they are.
pub fn normalize_ref(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') || image.contains('@') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// Splits `repo[:tag]` (a registry port is not a tag).
pub fn split_ref(r: &str) -> (String, Option<String>) {
    if let Some((repo, digest)) = r.split_once('@') {
        return (repo.to_string(), Some(digest.to_string()));
    }
    match r.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), Some(tag.to_string())),
        _ => (r.to_string(), None),
    }
}

/// Pulls `image`, printing progress like Docker's non-TTY output. The error text is
/// the daemon's.
pub fn pull(c: &Client, image: &str, platform: Option<&str>, quiet: bool) -> CliResult {
    pull_to(c, image, platform, quiet, &mut std::io::stderr())
}

/// Pulls, writing progress lines to `err` (stderr for `run`, stdout for `pull`).
pub fn pull_to(
    c: &Client,
    image: &str,
    platform: Option<&str>,
    quiet: bool,
    err: &mut dyn Write,
) -> CliResult {
    let (repo, tag) = split_ref(image);
    let tag = tag.unwrap_or_else(|| "latest".into());
    let auth = crate::auth::registry_auth_header(image);
    let resp = c.image_pull_with_auth(&repo, Some(&tag), platform, &auth)?;
    print_progress(resp, quiet, err)
}

/// Prints a pull/push progress stream like Docker's non-terminal output: one
/// `id: status` line per step, byte-progress updates skipped; an error in the
/// stream ends it with that message.
pub fn print_progress(resp: berth_client::Response, quiet: bool, out: &mut dyn Write) -> CliResult {
    for msg in JsonLines::new(resp) {
        let msg = msg?;
        if let Some(e) = msg.get("error").and_then(Value::as_str) {
            return Err(CliError::msg(e.to_string()));
        }
        if quiet {
            continue;
        }
        let has_progress = msg.get("progress").is_some_and(|p| !p.is_null())
            || msg["progressDetail"].get("current").is_some();
        if has_progress {
            continue;
        }
        let status = msg.get("status").and_then(Value::as_str).unwrap_or("");
        match msg.get("id").and_then(Value::as_str) {
            Some(id) => {
                let _ = writeln!(out, "{id}: {status}");
            }
            None if !status.is_empty() => {
                let _ = writeln!(out, "{status}");
            }
            None => {}
        }
    }
    Ok(())
}

/// Creates the container, pulling the image first when needed. Errors are worded
/// for `cmd` (`run`/`create`) with Docker's 125 status.
fn create_container(
    c: &Client,
    plan: &CreatePlan,
    pull_mode: &str,
    quiet: bool,
    cmd: &str,
) -> CliResult<String> {
    let run_err = |e: CliError| CliError::run_style(e.message, cmd);
    validate_ref(&plan.image).map_err(|m| CliError::run_style(m, cmd))?;
    if pull_mode == "always" {
        pull(c, &plan.image, plan.platform.as_deref(), quiet).map_err(run_err)?;
    }
    let first = c.container_create(plan.name.as_deref(), plan.platform.as_deref(), &plan.body);
    let resp = match first {
        Ok(v) => v,
        Err(e) if e.is_not_found() && pull_mode == "missing" && e.to_string().contains("image") => {
            eprintln!(
                "Unable to find image '{}' locally",
                normalize_ref(&plan.image)
            );
            pull(c, &plan.image, plan.platform.as_deref(), quiet).map_err(|e| {
                CliError::run_style(
                    format!(
                        "Error response from daemon: {}",
                        e.message.trim_start_matches("Error response from daemon: ")
                    ),
                    cmd,
                )
            })?;
            c.container_create(plan.name.as_deref(), plan.platform.as_deref(), &plan.body)
                .map_err(|e| CliError::run_style(e.to_string(), cmd))?
        }
        Err(e) => return Err(CliError::run_style(e.to_string(), cmd)),
    };
    if let Some(ws) = resp.get("Warnings").and_then(Value::as_array) {
        for w in ws.iter().filter_map(Value::as_str) {
            eprintln!("WARNING: {w}");
        }
    }
    let id = resp["Id"].as_str().unwrap_or_default().to_string();
    Ok(id)
}

fn write_cidfile(path: Option<&str>, id: &str) -> CliResult {
    if let Some(p) = path {
        std::fs::write(p, id).map_err(|e| {
            CliError::msg(format!("failed to write the container ID to the file: {e}"))
        })?;
    }
    Ok(())
}

pub fn create(c: &Client, a: &CreateArgs) -> CliResult {
    let plan =
        opts::build(&a.opts, a.rm.unwrap_or(false), true).map_err(|e| opt_error(e, "create"))?;
    if let Some(p) = &a.opts.cidfile {
        if std::path::Path::new(p).exists() {
            return Err(CliError::run_style(format!("container ID file found, make sure the other container isn't running or delete {p}"), "create"));
        }
    }
    // Docker's `create` reports daemon errors plainly with status 1 (unlike `run`).
    let id = create_container(c, &plan, &a.opts.pull, a.opts.quiet, "create")
        .map_err(|e| CliError::msg(e.message))?;
    write_cidfile(a.opts.cidfile.as_deref(), &id)?;
    println!("{id}");
    Ok(())
}

/// Docker's mapping of a start error to the exit status.
pub fn start_error_code(msg: &str) -> i32 {
    if msg.contains("executable file not found")
        || msg.contains("no such file or directory")
        || msg.contains("system cannot find the file specified")
    {
        127
    } else if msg.contains("permission denied") || msg.contains("is a directory") {
        126
    } else {
        125
    }
}

/// Sends the wait request; the receiver yields the exit status (or an error
/// message) when the container meets the condition. Returns once the daemon
/// has registered the wait (response head received) or after a short grace time.
pub fn begin_wait(c: &Client, id: &str, condition: &str) -> mpsc::Receiver<Result<i64, String>> {
    send_wait(c, id, condition).registered()
}

/// A wait request on its way (see [`send_wait`]).
pub struct PendingWait {
    ready: mpsc::Receiver<()>,
    status: mpsc::Receiver<Result<i64, String>>,
}

impl PendingWait {
    /// Once the daemon has registered the wait (or after a short grace time): the
    /// receiver of the exit status.
    pub fn registered(self) -> mpsc::Receiver<Result<i64, String>> {
        let _ = self.ready.recv_timeout(Duration::from_secs(5));
        self.status
    }
}

/// Sends the wait request from a thread of its own and returns at once, so that the
/// attach request can go out meanwhile: both must be in place before `start`, and
/// neither needs the other's answer (one round trip to the daemon less per `run`).
pub fn send_wait(c: &Client, id: &str, condition: &str) -> PendingWait {
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let c = c.clone();
    let id = id.to_string();
    let condition = condition.to_string();
    thread::spawn(move || {
        let resp = c.container_wait_begin(&id, Some(&condition));
        let _ = ready_tx.send(());
        let r = resp
            .and_then(|r| r.json())
            .map_err(|e| e.to_string())
            .and_then(|v| {
                if let Some(m) = v
                    .get("Error")
                    .and_then(|e| e.get("Message"))
                    .and_then(Value::as_str)
                {
                    if !m.is_empty() {
                        return Err(m.to_string());
                    }
                }
                Ok(v["StatusCode"].as_i64().unwrap_or(0))
            });
        let _ = tx.send(r);
    });
    PendingWait {
        ready: ready_rx,
        status: rx,
    }
}

pub fn run(c: &Client, a: &RunArgs) -> CliResult {
    let detach = a.detach.unwrap_or(false);
    let rm = a.rm.unwrap_or(false);
    let o = &a.opts;
    let plan = opts::build(o, rm, detach).map_err(|e| opt_error(e, "run"))?;
    let tty = o.tty.unwrap_or(false);
    let cfg = &plan.body;
    let a_in = cfg["AttachStdin"].as_bool().unwrap_or(false);
    let a_out = cfg["AttachStdout"].as_bool().unwrap_or(false);
    let a_err = cfg["AttachStderr"].as_bool().unwrap_or(false);
    if tty && a_in && !term::stdin_is_tty() {
        return Err(CliError::msg("the input device is not a TTY").with_code(1));
    }
    if let Some(k) = &o.detach_keys {
        attach::parse_detach_keys(k).map_err(|e| CliError::run_style(e, "run"))?;
    }
    if let Some(p) = &o.cidfile {
        if std::path::Path::new(p).exists() {
            return Err(CliError::run_style(format!("container ID file found, make sure the other container isn't running or delete {p}"), "run"));
        }
    }
    let sig_proxy = a.sig_proxy.unwrap_or(true) && !tty && !detach;
    let id = create_container(c, &plan, &o.pull, o.quiet, "run")?;
    write_cidfile(o.cidfile.as_deref(), &id)?;

    if detach {
        c.container_start(&id, None).map_err(|e| {
            let m = e.to_string();
            CliError::run_style(m.clone(), "run").with_code(start_error_code(&m))
        })?;
        println!("{id}");
        return Ok(());
    }

    // Block proxied signals before any other thread exists.
    let signals = Signals::block(
        (tty && term::size().is_some()).then(|| ResizeTarget::Container(id.clone())),
        sig_proxy.then(|| id.clone()),
    );
    let wait = send_wait(c, &id, if rm { "removed" } else { "next-exit" });
    let conn = if a_in || a_out || a_err {
        Some(
            c.container_attach(&id, a_in, a_out, a_err, o.detach_keys.as_deref())
                .map_err(|e| CliError::run_style(e.to_string(), "run"))?,
        )
    } else {
        None
    };
    let status = wait.registered();
    if let Err(e) = c.container_start(&id, None) {
        let m = e.to_string();
        let code = start_error_code(&m);
        if rm {
            // The daemon removes the container; give it a moment like Docker does.
            let _ = status.recv_timeout(Duration::from_secs(2));
        }
        return Err(CliError::run_style(m, "run").with_code(code));
    }
    signals.run(c);
    if let Some(conn) = conn {
        let end = attach::stream(
            conn,
            &StreamOpts {
                tty,
                stdin: a_in,
                detach_keys: o.detach_keys.clone(),
            },
        )
        .map_err(|e| CliError::msg(e.to_string()))?;
        if end == End::Detached {
            return Ok(());
        }
    }
    match status.recv() {
        Ok(Ok(code)) => {
            if code != 0 {
                return Err(CliError::exit(code as i32));
            }
            Ok(())
        }
        Ok(Err(m)) => Err(CliError::run_style(m, "run")),
        Err(_) => Err(CliError::exit(125)),
    }
}

pub fn start(c: &Client, a: &StartArgs) -> CliResult {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            return Err(CliError::msg(
                "you cannot start and attach multiple containers at once",
            ));
        }
        let info = c.container_inspect(&a.containers[0], false)?;
        let id = info["Id"].as_str().unwrap_or(&a.containers[0]).to_string();
        let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
        let stdin = a.interactive && info["Config"]["OpenStdin"].as_bool().unwrap_or(false);
        if tty && stdin && !term::stdin_is_tty() {
            return Err(CliError::msg("the input device is not a TTY"));
        }
        let auto_remove = info["HostConfig"]["AutoRemove"].as_bool().unwrap_or(false);
        let signals = Signals::block(
            (tty && term::size().is_some()).then(|| ResizeTarget::Container(id.clone())),
            (!tty).then(|| id.clone()),
        );
        let conn = c.container_attach(&id, stdin, true, true, a.detach_keys.as_deref())?;
        let status = begin_wait(c, &id, if auto_remove { "removed" } else { "next-exit" });
        if let Err(e) = c.container_start(&id, a.detach_keys.as_deref()) {
            return Err(CliError::msg(e.to_string()));
        }
        signals.run(c);
        let end = attach::stream(
            conn,
            &StreamOpts {
                tty,
                stdin,
                detach_keys: a.detach_keys.clone(),
            },
        )?;
        if end == End::Detached {
            return Ok(());
        }
        return match status.recv() {
            Ok(Ok(0)) => Ok(()),
            Ok(Ok(code)) => Err(CliError::exit(code as i32)),
            Ok(Err(m)) => Err(CliError::msg(m)),
            Err(_) => Err(CliError::exit(1)),
        };
    }
    let mut failed = Vec::new();
    for name in &a.containers {
        match c.container_start(name, a.detach_keys.as_deref()) {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("{e}");
                failed.push(name.clone());
            }
        }
    }
    if !failed.is_empty() {
        return Err(CliError::msg(format!(
            "Error: failed to start containers: {}",
            failed.join(", ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs() {
        assert_eq!(normalize_ref("busybox"), "busybox:latest");
        assert_eq!(normalize_ref("busybox:1"), "busybox:1");
        assert_eq!(normalize_ref("localhost:5000/x"), "localhost:5000/x:latest");
        assert_eq!(
            split_ref("localhost:5000/x"),
            ("localhost:5000/x".into(), None)
        );
        assert_eq!(split_ref("x:2"), ("x".into(), Some("2".into())));
    }

    #[test]
    fn reference_validation_like_docker() {
        for ok in [
            "busybox",
            "busybox:1.36",
            "localhost:5000/a/b:tag",
            "a.b/c",
            "x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(validate_ref(ok), Ok(()), "{ok}");
        }
        for bad in [
            "–itd",
            "bad name",
            "busybox:",
            ":tag",
            "a//b",
            "-x",
            "x@sha256:zz",
        ] {
            assert_eq!(
                validate_ref(bad),
                Err("invalid reference format".to_string()),
                "{bad}"
            );
        }
        assert_eq!(
            validate_ref("Busybox"),
            Err(
                "invalid reference format: repository name (library/Busybox) must be lowercase"
                    .into()
            )
        );
        assert_eq!(
            validate_ref("me/Busybox:1"),
            Err("invalid reference format: repository name (me/Busybox) must be lowercase".into())
        );
    }

    #[test]
    fn start_error_codes() {
        assert_eq!(
            start_error_code("exec: \"nosuch\": executable file not found in $PATH"),
            127
        );
        assert_eq!(
            start_error_code("exec: \"/etc/passwd\": permission denied"),
            126
        );
        assert_eq!(start_error_code("something else"), 125);
    }
}
