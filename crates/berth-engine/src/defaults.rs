//! Docker's defaults for unprivileged containers and the engine's own limits.
//!
//! The capability and path lists live in `berth_types::defaults` (shared with the
//! runtime); this module adds the values only the engine uses.

pub use berth_types::defaults::{
    ALL_CAPS, DEFAULT_CAPS, DEFAULT_PATH, MASKED_PATHS, READONLY_PATHS,
};

/// `/dev/shm` size when `--shm-size` is not given (64 MiB).
pub const DEFAULT_SHM_SIZE: i64 = 64 << 20;

/// Default stop timeout in seconds.
pub const DEFAULT_STOP_TIMEOUT: i64 = 10;

/// Smallest memory limit Docker accepts (6 MiB).
pub const MIN_MEMORY: i64 = 6 << 20;

/// Docker's zero time, shown for times that never happened.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
