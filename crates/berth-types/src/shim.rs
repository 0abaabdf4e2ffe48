//! The contract between `berthd` and `berth-shim`: the shim's config file, its control
//! socket messages, and the exit record it leaves on disk.
//!
//! One shim runs per container (and one per exec). The engine writes a [`ShimConfig`] as
//! JSON and runs `berth-shim run <config.json>`. The shim creates the process (stopped
//! before `execve`), prints one [`Reply`] line on its stdout — `ok` with the pid, or the
//! error with Docker's exit code (126/127) — and serves its control socket. The engine
//! then attaches whatever clients wait and sends [`Request::Start`]. See
//! `docs/shim-protocol.md` for the full sequence and the on-disk layout.
//!
//! Every message is one line of JSON. After an `attach` reply the connection turns into a
//! raw stream: shim → client output (framed as Docker's 8-byte multiplexed header
//! `[stream, 0, 0, 0, len_be32]` + payload when not a tty, raw bytes with a tty), client →
//! shim stdin bytes; the client's write shutdown is stdin EOF.

use crate::spec::{ContainerSpec, ExecSpec};
use serde::{Deserialize, Serialize};

/// Written by the engine, read once by the shim at start.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ShimConfig {
    /// Container id, or exec id for an exec shim.
    pub id: String,
    /// Control socket path (short: unix socket paths are limited to 108 bytes).
    pub socket: String,
    /// Where the shim writes its pid and the process's pid (host view), as decimal text.
    pub shim_pid_file: String,
    pub pid_file: String,
    /// Written atomically when the process has exited: an [`ExitStatus`] as JSON.
    pub exit_file: String,
    pub log: LogConfig,
    /// `-i`: keep stdin open (a pipe, or the pty) for attach clients.
    pub open_stdin: bool,
    /// Close the process's stdin when the first attached client detaches/ends its input.
    pub stdin_once: bool,
    /// `-t`: run on a pseudo-terminal; output is not multiplexed.
    pub tty: bool,
    /// The shim's stdin is a descriptor the engine passes on (a spare network
    /// namespace), to be moved to this number, where the task names it as
    /// `/proc/self/fd/<n>`; stdin then becomes /dev/null. Passing it as stdin lets the
    /// engine spawn the shim without forking its own large address space.
    pub stdin_fd: Option<i32>,
    /// Print the start reply as soon as the container process exists, while it still
    /// sets itself up: the engine then does its part of the start (attach clients,
    /// `start`) meanwhile, and `start` releases the process once it is ready. A setup
    /// that fails after that reply is reported on the control socket, as the reply to
    /// every request (`start` included). Only for an engine that needs nothing of the
    /// process's namespaces before `start` (its network namespace may not be in place
    /// at the reply).
    pub reply_at_pid: bool,
    /// At the exit, answer `wait` before removing the control socket and the cgroup,
    /// not after (`exit.json` is written first either way). For a container removed at its exit
    /// (`--rm`): nothing starts it again, so no new shim can meet the old socket or
    /// cgroup, and the engine's `wait` (and the user's `run --rm`) returns sooner.
    pub exit_reply_first: bool,
    pub task: Task,
}

// The spec is read once per shim start; boxing it would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", content = "spec", rename_all = "lowercase")]
pub enum Task {
    Container(ContainerSpec),
    Exec(ExecSpec),
}

impl Default for Task {
    fn default() -> Self {
        Task::Container(ContainerSpec::default())
    }
}

/// How the shim records output. Docker's json-file format: one JSON object per line
/// with `log`, `stream` (`stdout`/`stderr`) and `time` (RFC 3339, nanoseconds, UTC).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct LogConfig {
    /// `json-file`, `local`, `syslog`, `fluentd` or `none` (empty = `none`).
    pub driver: String,
    pub path: String,
    /// `max-size` in bytes (0 = unlimited) and `max-file` count for rotation.
    pub max_size: u64,
    pub max_file: u32,
    /// Gzip rotated files (`path.N.gz`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub compress: bool,
    /// Record format of `path`: `json-file` (also when empty), `local`, or `none` for no
    /// file (a remote driver with its local copy disabled).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub format: String,
    /// The driver's options as given (`--log-opt`), for the remote drivers.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub opts: std::collections::BTreeMap<String, String>,
    /// The expanded `tag` option (remote drivers).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tag: String,
    /// Container name without `/` (fluentd's `container_name`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// Requests on the control socket, one JSON line each.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Where the process is: reply has `pid`, `running`, and `exit` once exited.
    State,
    /// Let the created process `execve`. Reply `ok`, or the exec error with 126/127.
    Start,
    /// Turn this connection into a stream of the chosen stdio.
    Attach {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    Resize {
        height: u16,
        width: u16,
    },
    /// Signal the process (`all`: every process in the container's cgroup/pid ns).
    Kill {
        signal: i32,
        all: bool,
    },
    /// Reply only when the process has exited, with `exit` filled.
    Wait,
    /// Close the process's stdin (its write end in the shim).
    CloseStdin,
}

/// The single reply line to a request (and the shim's first stdout line at start).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Reply {
    pub ok: bool,
    /// Docker-worded error text when `ok` is false.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// Exit code to report for a failed start (126 cannot invoke, 127 not found).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    pub running: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitStatus>,
}

impl Reply {
    pub fn ok() -> Self {
        Reply {
            ok: true,
            ..Default::default()
        }
    }
    pub fn err(msg: impl Into<String>) -> Self {
        Reply {
            ok: false,
            error: msg.into(),
            ..Default::default()
        }
    }
}

/// How the process ended. Written to `exit_file` before the shim exits, so the engine
/// learns it even if it was down at the time.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ExitStatus {
    /// The exit code, or 128 + signal number when killed by a signal (Docker's rule).
    pub exit_code: i32,
    /// The signal that killed it, if any.
    pub signal: Option<i32>,
    /// The kernel's OOM killer ended it (cgroup oom_kill count went up).
    pub oom_killed: bool,
    /// RFC 3339 with nanoseconds, UTC.
    pub started_at: String,
    pub finished_at: String,
}

/// Attach stream ids in the multiplexed header (Docker's).
pub const STREAM_STDIN: u8 = 0;
pub const STREAM_STDOUT: u8 = 1;
pub const STREAM_STDERR: u8 = 2;
