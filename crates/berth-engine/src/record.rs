//! The persisted state of one container (`containers/<id>/config.v2.json`) and the
//! atomic file helpers every state file uses.
//!
//! The record holds Docker's own `Config`/`HostConfig`/`State` structs, so inspect and ps
//! are built from it without translation, plus a few engine-private fields.

use crate::defaults::ZERO_TIME;
use crate::error::{EngineError, Result};
use berth_types::docker::{ContainerConfig, ContainerState, HostConfig, NetworkingConfig};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Name of the state file inside a container directory.
pub const CONFIG_FILE: &str = "config.v2.json";

/// Everything the engine knows about a container that must survive a daemon restart.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ContainerRecord {
    /// Full 64-hex id.
    pub id: String,
    /// `/name`.
    pub name: String,
    /// RFC 3339 with nanoseconds.
    pub created: String,
    /// The command: entrypoint + cmd, split as Docker shows it in inspect.
    pub path: String,
    pub args: Vec<String>,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    pub networking_config: NetworkingConfig,
    /// `sha256:<hex>` of the image.
    pub image: String,
    pub state: ContainerState,
    pub restart_count: i64,
    /// Stopped by the user (`stop`/`kill`): restart policies must not restart it.
    pub manually_stopped: bool,
    pub has_been_started: bool,
    /// Capabilities, env and the rest computed at create; filled at start (exec reuses).
    pub log_path: String,
    /// Binds, `--mount`s, `--tmpfs`, `--volumes-from` and image volumes resolved at create
    /// (volumes.rs): what the runtime mounts and what inspect's `Mounts` shows.
    pub mounts: Vec<berth_volume::ResolvedMount>,
}

impl ContainerRecord {
    /// A fresh `created` state.
    pub fn created_state() -> ContainerState {
        ContainerState {
            status: "created".into(),
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            ..Default::default()
        }
    }

    pub fn is_running(&self) -> bool {
        self.state.running
    }

    pub fn is_paused(&self) -> bool {
        self.state.paused
    }

    /// The bare name (without the leading `/`).
    pub fn bare_name(&self) -> &str {
        self.name.strip_prefix('/').unwrap_or(&self.name)
    }
}

/// Writes `bytes` to `path` atomically: temp file in the same directory, fsync, rename.
/// A crash leaves either the old or the new file. (The directory is not synced: a
/// crash may bring back the previous version, never a torn one; one fsync less on
/// every container create and start.)
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_file(path, bytes, true)
}

/// [`write_atomic`] without the fsync, for files that are rewritten before every use
/// and mean nothing after a crash of the machine (`shim.json`, written before each
/// start). Readers still never see a partial file.
pub fn write_replace(path: &Path, bytes: &[u8]) -> Result<()> {
    write_file(path, bytes, false)
}

fn write_file(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| EngineError::internal(format!("no parent dir for {}", path.display())))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Unique per write, not only per process: two tasks writing the same file at once
    // (a monitor recording an exit while a rename runs) must not share a temp file, or
    // one renames the other's half-written bytes into place.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp{}-{seq}", std::process::id()));
    let res = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        if durable {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res.map_err(|e| EngineError::io(format!("writing {}", path.display()), e))
}

/// Serializes `value` as JSON and writes it atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| EngineError::internal(format!("encoding {}: {e}", path.display())))?;
    write_atomic(path, &bytes)
}

/// Saves a container's `config.v2.json`: atomically always, durably (fsync) unless the
/// container is removed at its exit (`--rm`): such a record is gone a moment later,
/// and after a crash of the machine Docker drops those containers anyway.
pub fn save_record(path: &Path, rec: &ContainerRecord) -> Result<()> {
    if rec.host_config.auto_remove {
        write_json_replace(path, rec)
    } else {
        write_json(path, rec)
    }
}

/// Serializes `value` as JSON and writes it with [`write_replace`] (no fsync).
pub fn write_json_replace<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| EngineError::internal(format!("encoding {}: {e}", path.display())))?;
    write_replace(path, &bytes)
}

/// Reads a JSON file; `None` when missing or unreadable (state files are read
/// tolerantly: a torn or foreign file is skipped, never a crash).
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(v) => Some(v),
        Err(e) => {
            eprintln!("berth-engine: skipping unreadable {}: {e}", path.display());
            None
        }
    }
}

/// Paths of a container's files: its state under the data root (`dir`), and what only
/// matters while its shim lives under the exec root (`run`, `/run/berth/c/<id>`, a
/// tmpfs on a normal host, like the shim sockets): the shim's config, pid files, exit
/// record and diagnostics, and the `/etc` files made for each start. Those files are made and replaced at every start and exit;
/// on a disk each is an inode allocated and freed, which is where a start spent much of
/// its file system time.
#[derive(Debug, Clone)]
pub struct ContainerPaths {
    pub dir: PathBuf,
    pub run: PathBuf,
}

impl ContainerPaths {
    pub fn new(containers_dir: &Path, run_root: &Path, id: &str) -> ContainerPaths {
        ContainerPaths {
            dir: containers_dir.join(id),
            run: run_root.join(id),
        }
    }
    pub fn config(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }
    pub fn shim_config(&self) -> PathBuf {
        self.run.join("shim.json")
    }
    pub fn log(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}-json.log"))
    }
    pub fn shim_pid(&self) -> PathBuf {
        self.run.join("shim.pid")
    }
    pub fn init_pid(&self) -> PathBuf {
        self.run.join("init.pid")
    }
    pub fn exit(&self) -> PathBuf {
        self.run.join("exit.json")
    }
    // Written again at every start (and edited by network connect/disconnect while
    // running), bind-mounted into the container.
    pub fn hostname(&self) -> PathBuf {
        self.run.join("hostname")
    }
    pub fn hosts(&self) -> PathBuf {
        self.run.join("hosts")
    }
    pub fn resolv_conf(&self) -> PathBuf {
        self.run.join("resolv.conf")
    }
    pub fn upper(&self) -> PathBuf {
        self.dir.join("rootfs").join("upper")
    }
    pub fn work(&self) -> PathBuf {
        self.dir.join("rootfs").join("work")
    }
    pub fn seccomp(&self) -> PathBuf {
        self.run.join("seccomp.json")
    }
    pub fn exec_dir(&self) -> PathBuf {
        self.run.join("exec")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_json_round_trip_and_tolerant_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(CONFIG_FILE);
        let rec = ContainerRecord {
            id: "a".repeat(64),
            name: "/web".into(),
            state: ContainerRecord::created_state(),
            ..Default::default()
        };
        write_json(&p, &rec).unwrap();
        let back: ContainerRecord = read_json(&p).unwrap();
        assert_eq!(back, rec);
        assert_eq!(back.bare_name(), "web");
        // No temp file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        std::fs::write(&p, b"{torn").unwrap();
        assert!(read_json::<ContainerRecord>(&p).is_none());
        assert!(read_json::<ContainerRecord>(&dir.path().join("missing")).is_none());
    }
}
