//! Pure translations of Docker's resource values into what the cgroup files take.
//!
//! Kept apart from the file writing so every rule (what "unset" means, `max`, the v1→v2
//! conversions) is tested without a kernel. In [`Resources`], `None` means "leave alone",
//! and — as `docker update` treats them — zero values mean the same for memory, CPU and
//! weights; only `pids_limit` gives `≤ 0` a meaning (unlimited).

use crate::error::CgroupError;
use berth_types::spec::Resources;

/// The CFS period Docker uses for `--cpus` (100 ms in µs).
pub const DEFAULT_CFS_PERIOD_US: u64 = 100_000;

/// A set value, with Docker's "0 = unchanged" folded into `None`.
pub(crate) fn nonzero_i64(v: Option<i64>) -> Option<i64> {
    v.filter(|&x| x != 0)
}

pub(crate) fn nonzero_u64(v: Option<u64>) -> Option<u64> {
    v.filter(|&x| x != 0)
}

pub(crate) fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.trim().is_empty())
}

/// CFS (period µs, quota µs) requested by `r`: `--cpus` wins (period 100 ms, quota =
/// nano_cpus × period / 1e9); otherwise `--cpu-period` / `--cpu-quota` as given (quota
/// `< 0` means unlimited).
pub(crate) fn cfs_period_quota(r: &Resources) -> (Option<u64>, Option<i64>) {
    if let Some(nano) = r.nano_cpus.filter(|&n| n > 0) {
        let period = DEFAULT_CFS_PERIOD_US;
        let quota = (i128::from(nano) * i128::from(period) / 1_000_000_000) as i64;
        return (Some(period), Some(quota));
    }
    (nonzero_u64(r.cpu_period), nonzero_i64(r.cpu_quota))
}

/// v1 `pids.max` / v2 `pids.max` value: `max` for `≤ 0`.
pub(crate) fn pids_max(limit: i64) -> String {
    if limit <= 0 {
        "max".to_string()
    } else {
        limit.to_string()
    }
}

/// cpu.shares → cpu.weight, the conversion runc and crun use: shares 2..262144 map
/// linearly onto weight 1..10000 (1024 → 39).
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// blkio.weight (10..1000) → io.weight (1..10000).
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    let w = u64::from(weight.clamp(10, 1000));
    1 + ((w - 10) * 9999) / 990
}

/// A v1-style byte limit (`-1` = unlimited) as a v2 file value.
pub(crate) fn v2_limit(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

/// Docker's memory+swap (`memory_swap`) as v2 `memory.swap.max` (swap alone).
/// `memory` is the memory limit in effect (the new one, or the current one when only
/// swap changes; `-1` when unlimited). Returns `None` when nothing is to be written.
pub(crate) fn v2_swap(
    memory_swap: Option<i64>,
    memory: Option<i64>,
) -> Result<Option<String>, CgroupError> {
    match (nonzero_i64(memory_swap), memory) {
        // Memory made unlimited without a swap value: swap follows (v1 semantics, where
        // memsw can never be below memory).
        (None, Some(-1)) => Ok(Some("max".to_string())),
        (None, _) => Ok(None),
        (Some(s), _) if s < 0 => Ok(Some("max".to_string())),
        (Some(_), None) | (Some(_), Some(-1)) => Err(CgroupError::InvalidResources(
            "unable to set swap limit without memory limit".to_string(),
        )),
        (Some(s), Some(m)) if s < m => Err(CgroupError::InvalidResources(
            "Minimum memoryswap limit should be larger than memory limit, see usage".to_string(),
        )),
        (Some(s), Some(m)) => Ok(Some((s - m).to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_and_weights() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(512), 20);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1), 1);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
        assert_eq!(blkio_weight_to_io_weight(500), 1 + (490 * 9999) / 990);
    }

    #[test]
    fn cpus_to_quota() {
        let r = Resources {
            nano_cpus: Some(500_000_000),
            ..Default::default()
        };
        assert_eq!(cfs_period_quota(&r), (Some(100_000), Some(50_000)));
        let r = Resources {
            nano_cpus: Some(1_500_000_000),
            cpu_period: Some(7),
            ..Default::default()
        };
        assert_eq!(cfs_period_quota(&r), (Some(100_000), Some(150_000)));
        let r = Resources {
            cpu_period: Some(50_000),
            cpu_quota: Some(-1),
            ..Default::default()
        };
        assert_eq!(cfs_period_quota(&r), (Some(50_000), Some(-1)));
        let r = Resources {
            cpu_period: Some(0),
            cpu_quota: Some(0),
            nano_cpus: Some(0),
            ..Default::default()
        };
        assert_eq!(cfs_period_quota(&r), (None, None));
    }

    #[test]
    fn swap_conversion() {
        let mib = 1 << 20;
        assert_eq!(
            v2_swap(Some(128 * mib), Some(64 * mib)).unwrap(),
            Some((64 * mib).to_string())
        );
        assert_eq!(
            v2_swap(Some(64 * mib), Some(64 * mib)).unwrap(),
            Some("0".into())
        );
        assert_eq!(
            v2_swap(Some(-1), Some(64 * mib)).unwrap(),
            Some("max".into())
        );
        assert_eq!(v2_swap(None, Some(-1)).unwrap(), Some("max".into()));
        assert_eq!(v2_swap(None, Some(64 * mib)).unwrap(), None);
        assert_eq!(v2_swap(Some(0), Some(64 * mib)).unwrap(), None);
        assert!(v2_swap(Some(64 * mib), None).is_err());
        assert!(v2_swap(Some(32 * mib), Some(64 * mib)).is_err());
        assert_eq!(pids_max(0), "max");
        assert_eq!(pids_max(-1), "max");
        assert_eq!(pids_max(20), "20");
        assert_eq!(v2_limit(-1), "max");
    }
}
