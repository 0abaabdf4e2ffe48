//! Which options each driver takes, checked as Docker checks them, with its texts.
//!
//! [`validate`] runs at create (the engine turns an error into a 400). [`FileSettings`]
//! is what the log file of a container is made of: the driver's own file for
//! `json-file`/`local`, and the local copy (cache) for the remote drivers.

use std::collections::BTreeMap;

/// Options every driver accepts (handled outside the driver in Docker).
const COMMON: &[&str] = &["mode", "max-buffer-size"];
/// The local copy of remote drivers (Docker's dual logging cache).
const CACHE: &[&str] = &[
    "cache-disabled",
    "cache-max-size",
    "cache-max-file",
    "cache-compress",
];
/// Attributes every driver with records accepts.
const ATTRS: &[&str] = &["labels", "labels-regex", "env", "env-regex", "tag"];

const JSON_FILE: &[&str] = &["max-file", "max-size", "compress"];
const LOCAL: &[&str] = &["max-file", "max-size", "compress"];
const SYSLOG: &[&str] = &[
    "syslog-address",
    "syslog-facility",
    "syslog-tls-ca-cert",
    "syslog-tls-cert",
    "syslog-tls-key",
    "syslog-tls-skip-verify",
    "syslog-format",
];
const FLUENTD: &[&str] = &[
    "fluentd-address",
    "fluentd-buffer-limit",
    "fluentd-retry-wait",
    "fluentd-max-retries",
    "fluentd-sub-second-precision",
    "fluentd-async-connect",
    "fluentd-async",
    "fluentd-request-ack",
    "fluentd-write-timeout",
];

/// Check `driver` and its options. `Err` holds Docker's message.
pub fn validate(driver: &str, opts: &BTreeMap<String, String>) -> Result<(), String> {
    if driver == "none" {
        return Ok(());
    }
    match opts.get("mode").map(String::as_str) {
        None | Some("") | Some("blocking") | Some("non-blocking") => {}
        Some(m) => return Err(format!("logger: logging mode not supported: {m}")),
    }
    if opts.contains_key("max-buffer-size")
        && opts.get("mode").map(String::as_str) != Some("non-blocking")
    {
        return Err(
            "logger: max-buffer-size option is only supported with 'mode=non-blocking'".into(),
        );
    }
    if !crate::DRIVERS.contains(&driver) {
        return Err(format!(
            "logger: no log driver named '{driver}' is registered"
        ));
    }
    let own: &[&str] = match driver {
        "json-file" => JSON_FILE,
        "local" => LOCAL,
        "syslog" => SYSLOG,
        _ => FLUENTD,
    };
    for key in opts.keys() {
        let k = key.as_str();
        let known = COMMON.contains(&k)
            || ATTRS.contains(&k)
            || own.contains(&k)
            || (crate::is_remote(driver) && CACHE.contains(&k));
        if !known {
            return Err(match driver {
                "local" => format!("unknown log opt '{k}' for log driver local"),
                d => format!("unknown log opt '{k}' for {d} log driver"),
            });
        }
    }
    match driver {
        "json-file" | "local" => file_settings(driver, opts).map(|_| ()),
        "syslog" => crate::syslog::Settings::parse(opts).map(|_| ()),
        _ => crate::fluentd::Settings::parse(opts).map(|_| ()),
    }?;
    if crate::is_remote(driver) {
        file_settings(driver, opts)?;
    }
    Ok(())
}

/// How the container's own log file is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSettings {
    /// `json-file` or `local` (record format), or `none` (no file at all).
    pub format: &'static str,
    pub max_size: u64,
    pub max_file: u32,
    pub compress: bool,
}

/// The log file of `driver` with `opts` (validated): Docker's defaults are unlimited
/// for json-file, 20 MB × 5 compressed for `local` and for the remote drivers' copy.
pub fn file_settings(
    driver: &str,
    opts: &BTreeMap<String, String>,
) -> Result<FileSettings, String> {
    let (prefix, format, defaults) = match driver {
        "json-file" => ("", "json-file", (0, 1, false)),
        "local" => ("", "local", (20 << 20, 5, true)),
        "none" => {
            return Ok(FileSettings {
                format: "none",
                max_size: 0,
                max_file: 1,
                compress: false,
            })
        }
        _ => {
            if opts.get("cache-disabled").map(String::as_str) == Some("true") {
                return Ok(FileSettings {
                    format: "none",
                    max_size: 0,
                    max_file: 1,
                    compress: false,
                });
            }
            ("cache-", "local", (20 << 20, 5, true))
        }
    };
    let get = |k: &str| opts.get(&format!("{prefix}{k}")).map(String::as_str);
    let max_size = match get("max-size") {
        None => defaults.0,
        Some(s) => match parse_size(s) {
            Some(n) if n > 0 => n,
            Some(_) => return Err("max-size must be a positive number".into()),
            None => return Err(format!("invalid value for max-size: {s}")),
        },
    };
    let max_file = match get("max-file") {
        None => defaults.1,
        Some(s) => match s.trim().parse::<i64>() {
            Ok(n) if n >= 1 => n.min(u32::MAX as i64) as u32,
            Ok(_) => return Err("max-file cannot be less than 1".into()),
            Err(_) => return Err(format!("strconv.Atoi: parsing \"{s}\": invalid syntax")),
        },
    };
    let compress = match get("compress") {
        None => defaults.2,
        Some(s) => parse_bool(s)
            .ok_or_else(|| format!("strconv.ParseBool: parsing \"{s}\": invalid syntax"))?,
    };
    if compress && driver == "json-file" && (max_file == 1 || max_size == 0) {
        return Err(
            "compress cannot be true when max-file is less than 2 or max-size is not set".into(),
        );
    }
    if compress && max_file == 1 && driver != "json-file" && get("compress").is_some() {
        return Err("compression cannot be enabled when max file count is 1".into());
    }
    Ok(FileSettings {
        format,
        max_size,
        max_file,
        // One file has nothing to compress.
        compress: compress && max_file > 1,
    })
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Docker's human sizes for `max-size`: `10m`, `1g`, `512k`, `100` (bytes), decimal
/// fractions allowed, binary multiples (as Docker's `RAMInBytes`).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_suffix('b').unwrap_or(&s);
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        't' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    let n: f64 = num.trim().parse().ok()?;
    (n >= 0.0 && n.is_finite()).then_some((n * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn docker_texts_for_bad_drivers_and_options() {
        assert_eq!(
            validate("nope", &o(&[])).unwrap_err(),
            "logger: no log driver named 'nope' is registered"
        );
        assert_eq!(
            validate("json-file", &o(&[("foo", "1")])).unwrap_err(),
            "unknown log opt 'foo' for json-file log driver"
        );
        assert_eq!(
            validate("local", &o(&[("foo", "1")])).unwrap_err(),
            "unknown log opt 'foo' for log driver local"
        );
        assert_eq!(
            validate("syslog", &o(&[("fluentd-address", "x")])).unwrap_err(),
            "unknown log opt 'fluentd-address' for syslog log driver"
        );
        assert_eq!(
            validate("json-file", &o(&[("compress", "true"), ("max-file", "3")])).unwrap_err(),
            "compress cannot be true when max-file is less than 2 or max-size is not set"
        );
        assert_eq!(
            validate("json-file", &o(&[("max-file", "0")])).unwrap_err(),
            "max-file cannot be less than 1"
        );
        assert_eq!(
            validate("json-file", &o(&[("mode", "fast")])).unwrap_err(),
            "logger: logging mode not supported: fast"
        );
        assert!(validate("none", &o(&[("anything", "x")])).is_ok());
        assert!(validate(
            "json-file",
            &o(&[("max-size", "10m"), ("max-file", "3"), ("compress", "true")])
        )
        .is_ok());
        assert!(validate("fluentd", &o(&[("cache-disabled", "true")])).is_ok());
    }

    #[test]
    fn file_defaults_per_driver() {
        let j = file_settings("json-file", &o(&[("max-size", "1k")])).unwrap();
        assert_eq!(
            (j.format, j.max_size, j.max_file, j.compress),
            ("json-file", 1024, 1, false)
        );
        let l = file_settings("local", &o(&[])).unwrap();
        assert_eq!(
            (l.format, l.max_size, l.max_file, l.compress),
            ("local", 20 << 20, 5, true)
        );
        let s = file_settings("syslog", &o(&[("cache-max-file", "2")])).unwrap();
        assert_eq!((s.format, s.max_file), ("local", 2));
        let off = file_settings("fluentd", &o(&[("cache-disabled", "true")])).unwrap();
        assert_eq!(off.format, "none");
        assert_eq!(parse_size("1.5k"), Some(1536));
        assert_eq!(parse_size("x"), None);
    }
}
