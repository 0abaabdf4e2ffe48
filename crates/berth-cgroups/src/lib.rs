//! Control groups for Berth: create a container's cgroup, write its limits (at start and
//! on `docker update`), move processes in, freeze/thaw (`pause`), read stats and the OOM
//! counter, signal every process, and remove the cgroup — on cgroup v1, v2 and hybrid
//! hosts, with Docker's semantics for every limit.
//!
//! Used by `berth-runtime` / `berth-shim` (create, apply, add_pid, oom_kill_count,
//! destroy) and `berth-engine` (apply for update, freeze/thaw, stats, kill_all).
//!
//! # API
//!
//! ```no_run
//! use berth_cgroups::{Cgroup, Hierarchy, Mode};
//! use berth_types::spec::Resources;
//!
//! # fn main() -> Result<(), berth_cgroups::CgroupError> {
//! let h = Hierarchy::detect()?;                 // /sys/fs/cgroup via /proc/self/mountinfo
//! let cg = Cgroup::create(&h, "berth/0123abcd")?; // mkdir -p in every hierarchy
//! cg.apply(&Resources { memory: Some(64 << 20), pids_limit: Some(20), ..Default::default() })?;
//! cg.add_pid(1234)?;
//! cg.freeze()?;                                 // returns once the kernel says FROZEN
//! cg.thaw()?;
//! let stats = cg.stats()?;                      // memory / cpu / pids / blkio
//! let ooms = cg.oom_kill_count()?;
//! cg.kill_all(libc::SIGKILL)?;
//! cg.destroy()?;                                // rmdir everywhere; missing is fine
//! # let _ = (stats, ooms, h.mode() == Mode::V2); Ok(()) }
//! ```
//!
//! * [`Hierarchy::detect`] finds the host's mounts; [`Hierarchy::at`] judges a directory
//!   by its contents (fake trees in tests). [`Mode`]: `V1`, `Hybrid` (v1 controllers plus
//!   an empty unified tree: every limit goes through v1), `V2`.
//! * [`Cgroup`] is one relative path (`berth/<id>`) in every hierarchy. [`Cgroup::open`]
//!   for an existing one (exec, update, stats after a daemon restart). In hybrid mode it
//!   also exists (best effort, no limits) in the unified tree, so `/proc/<pid>/cgroup`
//!   shows the same path for `0::`.
//! * [`Cgroup::apply`] writes only the fields of `Resources` that are `Some` (and, like
//!   `docker update`, not zero): v1 `memory.limit_in_bytes`, `memory.memsw.limit_in_bytes`
//!   (ordered against the memory limit so the kernel accepts raising and lowering),
//!   `memory.soft_limit_in_bytes`, `cpu.shares`, `cpu.cfs_period_us`/`cpu.cfs_quota_us`
//!   (`nano_cpus` → period 100000, quota = nano_cpus × period / 1e9), `cpuset.cpus/mems`,
//!   `pids.max` (`max` for ≤ 0), `blkio.weight` (or `blkio.bfq.weight`); v2
//!   `memory.max`, `memory.swap.max` (= memory_swap − memory; `-1` → `max`), `memory.low`,
//!   `cpu.weight` ([`shares_to_weight`]), `cpu.max` (`"quota period"`, `max` unlimited),
//!   `cpuset.*`, `pids.max`, `io.weight`.
//!   Missing swap accounting or I/O-weight support is skipped silently (Docker discards
//!   those with a warning of its own); any other refusal is a [`CgroupError::Write`]
//!   naming file and value: `failed to write "100000" to cpu.cfs_quota_us: invalid argument`.
//! * [`Cgroup::kill_all`] uses v2 `cgroup.kill` for SIGKILL, else freezes, signals each
//!   process, and thaws.
//! * [`Cgroup::destroy`] also removes child cgroups and retries on EBUSY for about a
//!   second (exiting processes leave their cgroup asynchronously).
//! * [`Cgroup::set_devices`] limits device access: [`default_device_rules`] is Docker's
//!   list for unprivileged containers (append one [`DeviceRule::device`] per `--device`),
//!   [`privileged_device_rules`] allows everything. v1 writes `devices.deny`/`allow`; v2
//!   attaches a generated eBPF `CGROUP_DEVICE` program.

mod bpf;
mod cgroup;
mod convert;
mod devices;
mod error;
mod fsio;
mod hierarchy;
mod stats;
mod v1;
mod v2;

pub use cgroup::Cgroup;
pub use convert::{blkio_weight_to_io_weight, shares_to_weight, DEFAULT_CFS_PERIOD_US};
pub use devices::{default_device_rules, privileged_device_rules, DeviceKind, DeviceRule};
pub use error::CgroupError;
pub use hierarchy::{Hierarchy, Mode, DEFAULT_ROOT};
pub use stats::{BlkioEntry, BlkioStats, CpuStats, MemoryStats, PidsStats, Stats};
