//! Human-readable units the way Docker's CLI prints and parses them: durations
//! ("About a minute"), sizes ("1.98MB", 1000-based, 3 significant digits), byte
//! sizes in flags ("512m", 1024-based), Go durations ("2h30m") and `--since` times.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Docker's `units.HumanDuration`.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    let seconds = d.as_secs() as i64;
    if secs < 1.0 {
        return "Less than a second".into();
    }
    if seconds == 1 {
        return "1 second".into();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = (secs / 60.0) as i64;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (secs / 3600.0).round() as i64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", hours / 24 / 365)
}

/// Formats like Go's `%.<sig>g` (what Docker's size helpers use): exponent chosen
/// after rounding, trailing zeros removed.
fn fmt_g(v: f64, sig: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let sig = sig.max(1);
    let e = format!("{:.*e}", sig - 1, v);
    let exp: i32 = e
        .split_once('e')
        .and_then(|(_, x)| x.parse().ok())
        .unwrap_or(0);
    if exp < -4 || exp >= sig as i32 {
        return trim_exp(&e);
    }
    let decimals = (sig as i32 - 1 - exp).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn trim_exp(s: &str) -> String {
    match s.split_once('e') {
        Some((m, e)) => {
            let m = if m.contains('.') {
                m.trim_end_matches('0').trim_end_matches('.')
            } else {
                m
            };
            let exp: i32 = e.parse().unwrap_or(0);
            format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
        }
        None => s.to_string(),
    }
}

/// Docker's `units.HumanSizeWithPrecision`: 1000-based units.
pub fn human_size_prec(size: f64, precision: usize) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut s = size;
    let mut i = 0;
    while s >= 1000.0 && i < UNITS.len() - 1 {
        s /= 1000.0;
        i += 1;
    }
    format!("{}{}", fmt_g(s, precision), UNITS[i])
}

/// Sizes in the ps/images columns: 3 significant digits ("1.98MB"). Docker's
/// plain `HumanSize` (4 digits) is `human_size_prec(x, 4)`.
pub fn human_size(size: i64) -> String {
    human_size_prec(size as f64, 3)
}

/// Docker's `units.BytesSize`: 1024-based ("1.5GiB").
pub fn bytes_size(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut s = size;
    let mut i = 0;
    while s >= 1024.0 && i < UNITS.len() - 1 {
        s /= 1024.0;
        i += 1;
    }
    format!("{}{}", fmt_g(s, 4), UNITS[i])
}

/// Docker's `units.RAMInBytes`: "512m", "1g", "1.5GB", "100" (bytes); 1024-based.
pub fn ram_in_bytes(s: &str) -> Option<i64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024f64.powi(4),
        "p" | "pb" | "pib" => 1024f64.powi(5),
        _ => return None,
    };
    if n < 0.0 {
        return None;
    }
    Some((n * mult) as i64)
}

/// Go's `time.ParseDuration` ("300ms", "1.5h", "2h45m", "-1m").
pub fn parse_go_duration(s: &str) -> Option<(bool, Duration)> {
    let mut rest = s;
    let neg = rest.starts_with('-');
    rest = rest.trim_start_matches(['-', '+']);
    if rest == "0" {
        return Some((false, Duration::ZERO));
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n_end == 0 {
            return None;
        }
        let n: f64 = rest[..n_end].parse().ok()?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..u_end];
        rest = &rest[u_end..];
        let mult = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * mult;
    }
    Some((neg, Duration::from_secs_f64(total)))
}

/// Docker's `timetypes.GetTimestamp`: a `--since`/`--until` value → "secs.nanos"
/// (relative durations count back from now; RFC 3339 and dates are converted;
/// unix timestamps pass through).
pub fn api_timestamp(value: &str, now: SystemTime) -> Option<String> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if let Some((neg, d)) = parse_go_duration(v) {
        let t = if neg { now + d } else { now.checked_sub(d)? };
        let dd = t.duration_since(UNIX_EPOCH).ok()?;
        return Some(format!("{}.{:09}", dd.as_secs(), dd.subsec_nanos()));
    }
    if v.bytes().all(|c| c.is_ascii_digit() || c == b'.')
        && v.bytes().filter(|&c| c == b'.').count() <= 1
    {
        return Some(v.to_string());
    }
    let candidates = [
        v.to_string(),
        format!("{v}Z"),
        format!("{v}:00Z"),
        format!("{v}T00:00:00Z"),
    ];
    for c in candidates {
        if let Some(t) = berth_types::time::parse_rfc3339(&c) {
            let (secs, nanos) = match t.duration_since(UNIX_EPOCH) {
                Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
                Err(_) => return None,
            };
            return Some(format!("{secs}.{nanos:09}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_like_docker() {
        let s = Duration::from_secs;
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(s(1)), "1 second");
        assert_eq!(human_duration(s(5)), "5 seconds");
        assert_eq!(human_duration(s(59)), "59 seconds");
        assert_eq!(human_duration(s(60)), "About a minute");
        assert_eq!(human_duration(s(119)), "About a minute");
        assert_eq!(human_duration(s(120)), "2 minutes");
        assert_eq!(human_duration(s(59 * 60)), "59 minutes");
        assert_eq!(human_duration(s(3600)), "About an hour");
        assert_eq!(human_duration(s(5399)), "About an hour");
        assert_eq!(human_duration(s(5400)), "2 hours");
        assert_eq!(human_duration(s(47 * 3600)), "47 hours");
        assert_eq!(human_duration(s(48 * 3600)), "2 days");
        assert_eq!(human_duration(s(14 * 86400)), "2 weeks");
        assert_eq!(human_duration(s(60 * 86400)), "2 months");
        assert_eq!(human_duration(s(800 * 86400)), "2 years");
    }

    #[test]
    fn human_sizes_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1_984_000), "1.98MB");
        assert_eq!(human_size(2_129_920), "2.13MB");
        assert_eq!(human_size(123_456_789), "123MB");
        assert_eq!(human_size(1_500_000_000), "1.5GB");
        assert_eq!(human_size_prec(1_984_123.0, 4), "1.984MB");
        assert_eq!(human_size(999_900), "1e+03kB");
        assert_eq!(bytes_size(1024.0 * 1024.0 * 1.5), "1.5MiB");
    }

    #[test]
    fn parses_flag_sizes_and_durations() {
        assert_eq!(ram_in_bytes("512m"), Some(512 * 1024 * 1024));
        assert_eq!(ram_in_bytes("1g"), Some(1 << 30));
        assert_eq!(ram_in_bytes("1.5GB"), Some(1_610_612_736));
        assert_eq!(ram_in_bytes("100"), Some(100));
        assert_eq!(ram_in_bytes("12x"), None);
        assert_eq!(
            parse_go_duration("2h30m"),
            Some((false, Duration::from_secs(9000)))
        );
        assert_eq!(
            parse_go_duration("1.5s"),
            Some((false, Duration::from_millis(1500)))
        );
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration("abc"), None);
    }

    #[test]
    fn since_values() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(api_timestamp("10m", now).unwrap(), "999400.000000000");
        assert_eq!(api_timestamp("1700000000", now).unwrap(), "1700000000");
        assert_eq!(api_timestamp("1700000000.5", now).unwrap(), "1700000000.5");
        assert_eq!(
            api_timestamp("2023-11-14T22:13:20Z", now).unwrap(),
            "1700000000.000000000"
        );
        assert_eq!(
            api_timestamp("2023-11-14", now).unwrap(),
            "1699920000.000000000"
        );
        assert_eq!(api_timestamp("nonsense", now), None);
    }
}
