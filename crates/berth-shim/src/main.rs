//! `berth-shim run <shim.json>`: the parent of one container's (or exec's) process.
//!
//! It outlives `berthd`: it holds the process's stdio, writes the log (json-file, `local`,
//! or a local copy plus a syslog/fluentd sender: `logging.rs`), serves
//! attach and control requests on a unix socket, reaps the process and leaves its exit
//! status on disk. The start sequence (see docs/shim-protocol.md):
//!
//! 1. read the [`ShimConfig`]; move a descriptor passed as stdin to its number
//!    (`stdin_fd`); new session, harmless SIGHUP/SIGPIPE, child subreaper;
//!    stderr to `shim.log` beside the config; write `shim_pid_file`;
//! 2. make the stdio (pipes; with a tty the process opens its pty inside the container)
//!    and open the log;
//! 3. create the process parked before `execve` (and take its pty master); bind the
//!    control socket; write `pid_file`; print one [`Reply`] line on stdout and put
//!    /dev/null over stdout;
//! 4. serve ([`server::Server`]) until the process has exited, then exit 0.
//!
//! Synchronous and single-threaded on purpose: the runtime forks, and the shim stays
//! small (one per container).

mod cgroup;
mod client;
mod launch;
mod logging;
mod server;
mod stdio;
mod sys;

use berth_types::shim::{Reply, ShimConfig, Task};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;

const USAGE: &str = "usage: berth-shim run <shim.json>";

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match (args.get(1).and_then(|a| a.to_str()), args.len()) {
        (Some("run"), 3) => std::process::exit(run(Path::new(&args[2]))),
        (Some("--version"), 2) => println!("berth-shim {}", env!("CARGO_PKG_VERSION")),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}

/// Write a diagnostic line to stderr (`shim.log` once set up).
pub(crate) fn diag(msg: &str) {
    let now = berth_types::time::rfc3339_nano(std::time::SystemTime::now());
    let _ = writeln!(
        std::io::stderr(),
        "{now} berth-shim[{}]: {msg}",
        std::process::id()
    );
}

/// Print the one start reply line on stdout.
fn print_reply(reply: &Reply) {
    let mut out = std::io::stdout().lock();
    if let Ok(line) = serde_json::to_string(reply) {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
}

/// Report a failure to start on stdout (and in shim.log), and return exit status 1.
/// Writes `pid_file`, then prints the ok reply with `pid` and puts /dev/null over
/// stdout. Nothing is printed when the pid file cannot be written.
fn announce_pid(cfg: &ShimConfig, pid: i32) -> std::io::Result<()> {
    if !cfg.pid_file.is_empty() {
        sys::write_replace_nosync(Path::new(&cfg.pid_file), pid.to_string().as_bytes())?;
    }
    print_reply(&Reply {
        pid: Some(pid),
        ..Reply::ok()
    });
    if let Err(e) = sys::devnull_over(1) {
        diag(&format!("closing stdout: {e}"));
    }
    Ok(())
}

fn fail(msg: String, exit_code: Option<i32>) -> i32 {
    diag(&msg);
    print_reply(&Reply {
        exit_code,
        ..Reply::err(msg)
    });
    1
}

fn run(config_path: &Path) -> i32 {
    let dir = config_path.parent().unwrap_or(Path::new("."));
    let _ = sys::stderr_to(&dir.join("shim.log"));
    let mut cfg: ShimConfig = match std::fs::read(config_path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            return fail(
                format!("reading shim config {}: {e}", config_path.display()),
                None,
            )
        }
    };
    if let Some(fd) = cfg.stdin_fd {
        // Before anything else is opened: the number is free (only stdio is open).
        if let Err(e) = sys::move_stdin_to(fd) {
            return fail(format!("taking the passed descriptor: {e}"), None);
        }
    }
    if let Err(e) = sys::detach_and_reap() {
        return fail(format!("shim setup: {e}"), None);
    }
    if !cfg.shim_pid_file.is_empty() {
        if let Err(e) = sys::write_replace_nosync(
            Path::new(&cfg.shim_pid_file),
            std::process::id().to_string().as_bytes(),
        ) {
            return fail(format!("writing {}: {e}", cfg.shim_pid_file), None);
        }
    }
    let cleanup_pid_files = |cfg: &ShimConfig| {
        for f in [&cfg.shim_pid_file, &cfg.pid_file] {
            if !f.is_empty() {
                let _ = std::fs::remove_file(f);
            }
        }
    };

    // The config's `tty` decides: the runtime opens a terminal for `process.terminal`.
    let tty = cfg.tty;
    match &mut cfg.task {
        Task::Container(s) => s.process.terminal = tty,
        Task::Exec(s) => s.process.terminal = tty,
    }
    let (mut io, stdio) = match stdio::prepare(&cfg) {
        Ok(x) => x,
        Err(e) => {
            cleanup_pid_files(&cfg);
            return fail(format!("setting up stdio: {e}"), None);
        }
    };
    let mut log = match logging::open(&cfg) {
        Ok(w) => w,
        Err(e) => {
            cleanup_pid_files(&cfg);
            return fail(e, None);
        }
    };

    // With `reply_at_pid` the control socket exists before the reply (requests wait in
    // its backlog until the process is ready and the server runs).
    let early = cfg.reply_at_pid && matches!(cfg.task, Task::Container(_));
    let mut listener = None;
    if early {
        match bind(&cfg.socket) {
            Ok(l) => listener = Some(l),
            Err(e) => {
                cleanup_pid_files(&cfg);
                return fail(format!("binding control socket {}: {e}", cfg.socket), None);
            }
        }
    }
    let mut announced = false;
    let mut announce = |pid: i32| {
        if !early || announced {
            return;
        }
        // A pid file that cannot be written is reported by the usual path once
        // creation returns.
        announced = announce_pid(&cfg, pid).is_ok();
    };
    let created = launch::create(&cfg.task, stdio, &mut announce);
    let mut launched = match created {
        Ok(l) => l,
        Err(e) => {
            cleanup_pid_files(&cfg);
            if announced {
                return fail_after_reply(listener, &cfg.socket, e.message, e.exit_code);
            }
            if listener.is_some() {
                let _ = std::fs::remove_file(&cfg.socket);
            }
            return fail(e.message, e.exit_code);
        }
    };
    let pid = launched.pid();
    // Keep the container's mount namespace alive in the shim: when PID 1 exits, the
    // kernel then skips unmounting its ~50 mounts before it notifies us, so the exit is
    // reported 1.5-3 ms sooner; the teardown happens when the shim exits, after the
    // engine has its answer. (A quick restart may overlap that teardown; overlayfs
    // allows it, as the old mount has no process left.)
    let _mnt_ns = match &cfg.task {
        Task::Container(_) => std::fs::File::open(format!("/proc/{pid}/ns/mnt")).ok(),
        Task::Exec(_) => None,
    };
    // Threads only now: the process exists, the runtime will not fork again.
    let remote = logging::attach_remote(&cfg, log.as_mut());
    let abandon = |msg: String,
                   cfg: &ShimConfig,
                   launched: launch::Launched,
                   listener: Option<UnixListener>| {
        // The process never ran: take it down and reap it before reporting.
        launched.abandon();
        if matches!(cfg.task, Task::Container(_)) {
            cgroup::destroy(&cfg.task);
        }
        cleanup_pid_files(cfg);
        if announced {
            return fail_after_reply(listener, &cfg.socket, msg, None);
        }
        if listener.is_some() {
            let _ = std::fs::remove_file(&cfg.socket);
        }
        fail(msg, None)
    };
    if cfg.tty {
        let r = launched
            .take_pty_master()
            .ok_or_else(|| std::io::Error::other("the process has no terminal"))
            .and_then(|m| io.use_master(m, cfg.open_stdin));
        if let Err(e) = r {
            return abandon(
                format!("setting up the terminal: {e}"),
                &cfg,
                launched,
                listener,
            );
        }
    }
    let sigchld = match sys::sigchld_pipe() {
        Ok(fd) => fd,
        Err(e) => return abandon(format!("shim setup: {e}"), &cfg, launched, listener),
    };
    let listener = match listener {
        Some(l) => l,
        None => match bind(&cfg.socket) {
            Ok(l) => l,
            Err(e) => {
                return abandon(
                    format!("binding control socket {}: {e}", cfg.socket),
                    &cfg,
                    launched,
                    None,
                )
            }
        },
    };
    if !announced {
        if let Err(e) = announce_pid(&cfg, pid) {
            let _ = std::fs::remove_file(&cfg.socket);
            return abandon(
                format!("writing {}: {e}", cfg.pid_file),
                &cfg,
                launched,
                None,
            );
        }
    }

    match server::Server::new(cfg, listener, io, log, launched, sigchld) {
        Ok(server) => server.run(),
        Err(e) => diag(&format!("serving: {e}")),
    }
    logging::finish(remote);
    0
}

/// How long a shim whose process failed after an early reply (`reply_at_pid`) waits for
/// the engine's `start` to tell it why.
const FAILURE_REPORT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The process failed to set up after the start reply already said ok: answer every
/// request on the control socket with the error (the engine's `start` among them),
/// until `start` had its answer or the wait is over, then remove the socket.
fn fail_after_reply(
    listener: Option<UnixListener>,
    socket: &str,
    msg: String,
    exit_code: Option<i32>,
) -> i32 {
    diag(&msg);
    let reply = Reply {
        exit_code,
        ..Reply::err(msg)
    };
    if let Some(l) = listener {
        client::answer_all_until_start(&l, &reply, FAILURE_REPORT_WAIT);
    }
    let _ = std::fs::remove_file(socket);
    1
}

/// Bind the control socket: remove a stale file first, mode 0600.
fn bind(path: &str) -> std::io::Result<UnixListener> {
    if path.is_empty() {
        return Err(std::io::Error::other("no socket path configured"));
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    if let Some(parent) = Path::new(path).parent() {
        std::fs::create_dir_all(parent)?;
    }
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(l)
}
