//! Docker's logging drivers beyond the log file: option validation (used by the engine
//! at create), `tag` templates, and the `syslog` and `fluentd` senders (used by the shim).
//!
//! Synchronous and small, because `berth-shim` links it: no async runtime, no
//! dependencies beyond `libc`. The shim keeps writing its local copy (Docker's "dual
//! logging") with `berth_logfile::Writer` and installs a [`Remote`] as the writer's
//! record sink. A [`Remote`] only queues records in memory; one sender thread delivers
//! them, reconnecting with backoff, so a slow or dead destination never blocks the
//! container's output. The queue is bounded (oldest records are dropped beyond it, and
//! counted); the local copy holds every line regardless.
//!
//! Modules: [`opts`] (which driver takes which option, Docker's error texts, defaults),
//! [`tag`] (`{{.Name}}`-style templates), `syslog` and `fluentd` (message encoding and
//! addresses), `msgpack` (the encoder fluentd needs), `remote` (queue and sender thread).

mod fluentd;
mod msgpack;
pub mod opts;
mod remote;
mod syslog;
pub mod tag;

pub use remote::{Remote, RemoteConfig, RemoteSink};

/// Drivers Berth provides.
pub const DRIVERS: &[&str] = &["json-file", "local", "none", "syslog", "fluentd"];

/// Whether `driver` sends records somewhere else than the container's own log file.
pub fn is_remote(driver: &str) -> bool {
    matches!(driver, "syslog" | "fluentd")
}
