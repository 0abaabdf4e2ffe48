//! `berth exec`: creates an exec instance, starts it attached (hijacked stream,
//! resize for TTY) or detached, and exits with the process's exit code.

use std::time::{Duration, Instant};

use berth_client::Client;
use serde_json::json;

use crate::attach::{self, End, ResizeTarget, Signals, StreamOpts};
use crate::cli::ExecArgs;
use crate::errors::{CliError, CliResult};
use crate::opts::{expand_env, read_kv_file};
use crate::term;

/// The exec's exit code. The output stream can end a moment before the daemon has
/// recorded the exit, so poll briefly while it still reports the process running.
fn exit_code(c: &Client, exec_id: &str) -> CliResult<i64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = c.exec_inspect(exec_id)?;
        let running = info["Running"].as_bool().unwrap_or(false);
        if !running || Instant::now() >= deadline {
            return Ok(info["ExitCode"].as_i64().unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn exec(c: &Client, a: &ExecArgs) -> CliResult {
    let container = &a.container_and_cmd[0];
    let cmd = &a.container_and_cmd[1..];
    if a.tty && a.interactive && !term::stdin_is_tty() {
        return Err(CliError::msg("the input device is not a TTY"));
    }
    if let Some(k) = &a.detach_keys {
        attach::parse_detach_keys(k).map_err(CliError::msg)?;
    }
    let mut env = Vec::new();
    for f in &a.env_file {
        env.extend(read_kv_file(f, true).map_err(|e| CliError::msg(e.0))?);
    }
    env.extend(a.env.iter().map(|e| expand_env(e)));
    let mut body = json!({
        "User": a.user.clone().unwrap_or_default(),
        "Privileged": a.privileged,
        "Tty": a.tty,
        "AttachStdin": a.interactive && !a.detach,
        "AttachStdout": !a.detach,
        "AttachStderr": !a.detach,
        "DetachKeys": a.detach_keys.clone().unwrap_or_default(),
        "Env": env,
        "WorkingDir": a.workdir.clone().unwrap_or_default(),
        "Cmd": cmd,
    });
    if a.tty {
        if let Some((h, w)) = term::size() {
            body["ConsoleSize"] = json!([h, w]);
        }
    }
    let created = c.exec_create(container, &body)?;
    let exec_id = created["Id"].as_str().unwrap_or_default().to_string();
    if a.detach {
        c.exec_start_detached(&exec_id)?;
        return Ok(());
    }
    let signals = Signals::block(
        (a.tty && term::size().is_some()).then(|| ResizeTarget::Exec(exec_id.clone())),
        None,
    );
    let conn = match c.exec_start_attached(&exec_id, a.tty) {
        Ok(conn) => conn,
        // Docker's daemon reports a failed start inside the stream (text, then exit
        // code 126); a daemon that refuses the upgrade instead gets the same output.
        Err(e) if matches!(e.status(), Some(404 | 409)) || e.status().is_none() => {
            return Err(e.into())
        }
        Err(e) => {
            let msg = e
                .daemon_message()
                .map(String::from)
                .unwrap_or_else(|| e.to_string());
            eprintln!("{msg}");
            let code = c
                .exec_inspect(&exec_id)
                .ok()
                .and_then(|i| i["ExitCode"].as_i64())
                .filter(|&c| c > 0)
                .unwrap_or(126);
            return Err(CliError::exit(code as i32));
        }
    };
    signals.run(c);
    let end = attach::stream(
        conn,
        &StreamOpts {
            tty: a.tty,
            stdin: a.interactive,
            detach_keys: a.detach_keys.clone(),
        },
    )?;
    if end == End::Detached {
        return Ok(());
    }
    let code = exit_code(c, &exec_id)?;
    if code != 0 {
        return Err(CliError::exit(code as i32));
    }
    Ok(())
}
