//! The container's log: the file (json-file, `local`, or the local copy of a remote
//! driver) and, for `syslog`/`fluentd`, the remote sender installed as the file
//! writer's record sink.
//!
//! The file is opened before the process is created (an unwritable log fails the
//! start, as in Docker); the remote sender starts a thread, so it is attached only
//! after the runtime has forked the process ([`attach_remote`]). At the end the
//! sender gets [`REMOTE_GRACE`] to deliver what is queued ([`finish`]); the container
//! is already recorded as exited by then, so nobody waits on it.

use berth_logdriver::{Remote, RemoteConfig};
use berth_logfile::{Format, Writer, WriterOptions};
use berth_types::shim::{ShimConfig, Task};
use std::time::Duration;

/// How long a remote destination gets, after the container exited, for queued records.
pub const REMOTE_GRACE: Duration = Duration::from_secs(5);

/// Open the log file of a container task; `None` for execs and the `none` driver.
pub fn open(cfg: &ShimConfig) -> Result<Option<Writer>, String> {
    if !matches!(cfg.task, Task::Container(_)) {
        return Ok(None);
    }
    let l = &cfg.log;
    let remote = berth_logdriver::is_remote(&l.driver);
    if !(remote || l.driver == "json-file" || l.driver == "local") {
        return Ok(None);
    }
    let format = match l.format.as_str() {
        "local" => Format::Local,
        "none" => Format::Discard,
        _ if l.driver == "local" => Format::Local,
        _ => Format::Json,
    };
    Writer::with_options(
        &l.path,
        WriterOptions {
            format,
            max_size: l.max_size,
            max_file: l.max_file,
            compress: l.compress,
        },
    )
    .map(Some)
    .map_err(|e| e.to_string())
}

/// Start the remote sender of `syslog`/`fluentd` and hook it to `writer`.
pub fn attach_remote(cfg: &ShimConfig, writer: Option<&mut Writer>) -> Option<Remote> {
    let writer = writer?;
    if !berth_logdriver::is_remote(&cfg.log.driver) {
        return None;
    }
    let remote = Remote::start(RemoteConfig {
        driver: cfg.log.driver.clone(),
        opts: cfg.log.opts.clone(),
        tag: cfg.log.tag.clone(),
        container_id: cfg.id.clone(),
        container_name: cfg.log.name.clone(),
    });
    match remote {
        Ok(r) => {
            writer.set_sink(r.sink());
            Some(r)
        }
        Err(e) => {
            // Options were checked at create; keep the local copy going regardless.
            crate::diag(&format!("{} log driver: {e}", cfg.log.driver));
            None
        }
    }
}

/// After the exit: let the sender deliver the rest, and report what it could not.
pub fn finish(remote: Option<Remote>) {
    if let Some(r) = remote {
        let lost = r.close(REMOTE_GRACE);
        if lost > 0 {
            crate::diag(&format!(
                "log driver: {lost} records were not delivered (kept in the local copy)"
            ));
        }
    }
}
