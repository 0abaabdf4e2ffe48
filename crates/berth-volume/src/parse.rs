//! Parsing of every way a container asks for a mount, with Docker's validation and error
//! texts, into one typed [`MountRequest`] list that [`crate::resolve()`] turns into mounts.
//!
//! Where each input comes from:
//! - `HostConfig.Binds` (`-v`): [`parse_bind_spec`] (daemon side, as Docker does).
//! - `HostConfig.Mounts` (`--mount`): the CLI turns the CSV into a
//!   [`berth_types::docker::MountSpec`] with [`parse_mount_csv`]; the daemon validates it
//!   with [`parse_mount_spec`] (a missing bind source is an error here, unlike `-v`).
//! - `HostConfig.Tmpfs` (`--tmpfs /p:opts`): [`split_tmpfs_flag`] on the CLI,
//!   [`parse_tmpfs`] in the daemon.
//! - `HostConfig.VolumesFrom`: [`parse_volumes_from`], then [`volumes_from_requests`] with
//!   the other container's mount points.

use crate::error::{Result, VolumeError};
use berth_types::docker::{MountPoint, MountSpec};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What kind of mount a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
}

impl MountKind {
    /// Docker's name of the type (`bind`, `volume`, `tmpfs`).
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Volume => "volume",
            MountKind::Tmpfs => "tmpfs",
        }
    }
}

/// Which flag a request came from; decides duplicate checks, host-dir creation and how
/// inspect's `Mode` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MountOrigin {
    /// `-v` / `HostConfig.Binds`.
    Bind,
    /// `--mount` / `HostConfig.Mounts`.
    Mount,
    /// `--tmpfs` / `HostConfig.Tmpfs` (not listed in inspect's `Mounts`, as in Docker).
    Tmpfs,
    /// `--volumes-from`.
    VolumesFrom,
    /// A `VOLUME` of the image config.
    Image,
}

/// One requested mount, validated, before any volume is created or path touched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MountRequest {
    pub kind: MountKind,
    pub origin: MountOrigin,
    /// Host path (bind), volume name (volume; empty = anonymous), empty for tmpfs.
    pub source: String,
    /// Absolute, cleaned path inside the container.
    pub target: String,
    pub read_only: bool,
    /// The raw `-v` mode (`ro,z`…), shown as inspect's `Mode`.
    pub mode: String,
    /// Bind propagation (`rprivate`, `rshared`, …) when given.
    pub propagation: Option<String>,
    /// `nocopy` / `volume-nocopy`: never fill the volume from the image.
    pub nocopy: bool,
    /// `bind-nonrecursive`: `bind` instead of `rbind`.
    pub non_recursive: bool,
    /// `BindOptions.ReadOnlyNonRecursive` (`bind-recursive=writable`): a read-only bind
    /// whose submounts stay writable.
    #[serde(default)]
    pub ro_non_recursive: bool,
    /// `BindOptions.ReadOnlyForceRecursive` (`bind-recursive=readonly`): fail at start
    /// when the mount cannot be made recursively read-only.
    #[serde(default)]
    pub ro_force_recursive: bool,
    /// Create a missing bind source directory (`-v` does, `--mount` does not).
    pub create_source: bool,
    /// `volume-driver` / `VolumeDriver` (empty = `local`).
    pub driver: String,
    /// `volume-label`s given with `--mount`, applied when the volume is created.
    pub volume_labels: BTreeMap<String, String>,
    /// `volume-opt`s given with `--mount`, applied when the volume is created.
    pub volume_options: BTreeMap<String, String>,
    /// tmpfs mount options (`size=…`, `mode=…`, flags), Docker's defaults not yet added.
    pub tmpfs_options: Vec<String>,
    /// For `--volumes-from`: the inherited mount point (its `Name`/`Source`/`Driver`…).
    pub inherited: Option<MountPoint>,
}

impl MountRequest {
    fn new(kind: MountKind, origin: MountOrigin) -> Self {
        MountRequest {
            kind,
            origin,
            source: String::new(),
            target: String::new(),
            read_only: false,
            mode: String::new(),
            propagation: None,
            nocopy: false,
            non_recursive: false,
            ro_non_recursive: false,
            ro_force_recursive: false,
            create_source: false,
            driver: String::new(),
            volume_labels: BTreeMap::new(),
            volume_options: BTreeMap::new(),
            tmpfs_options: Vec::new(),
            inherited: None,
        }
    }

    /// An anonymous volume for a `VOLUME` of the image config.
    pub fn image_volume(target: &str, driver: &str) -> Result<Self> {
        let mut r = MountRequest::new(MountKind::Volume, MountOrigin::Image);
        validate_target(target).map_err(|e| mount_config_err(MountKind::Volume, &e))?;
        r.target = clean_path(target);
        r.driver = driver.to_string();
        Ok(r)
    }
}

// ---------------------------------------------------------------------------------------
// Modes of `-v`
// ---------------------------------------------------------------------------------------

const RW_MODES: &[&str] = &["rw", "ro", "ro-non-recursive", "ro-force-recursive", "rro"];
const LABEL_MODES: &[&str] = &["z", "Z"];
/// Propagation modes a bind may carry.
pub const PROPAGATION_MODES: &[&str] = &[
    "private", "rprivate", "slave", "rslave", "shared", "rshared",
];
const CONSISTENCY_MODES: &[&str] = &["consistent", "cached", "delegated"];

/// Docker's check of a `-v` mode list: known words, at most one of each group.
fn valid_mount_mode(mode: &str) -> bool {
    if mode.is_empty() {
        return true;
    }
    let mut counts = [0u8; 5];
    for o in mode.split(',') {
        let group = if RW_MODES.contains(&o) {
            0
        } else if LABEL_MODES.contains(&o) {
            1
        } else if PROPAGATION_MODES.contains(&o) {
            2
        } else if o == "nocopy" {
            3
        } else if CONSISTENCY_MODES.contains(&o) {
            4
        } else {
            return false;
        };
        counts[group] += 1;
    }
    counts.iter().all(|&c| c <= 1)
}

fn mode_read_only(mode: &str) -> bool {
    mode.split(',')
        .any(|o| matches!(o, "ro" | "ro-non-recursive" | "ro-force-recursive" | "rro"))
}

fn mode_propagation(mode: &str) -> Option<String> {
    mode.split(',')
        .find(|o| PROPAGATION_MODES.contains(o))
        .map(str::to_string)
}

fn invalid_spec(raw: &str) -> String {
    format!("invalid volume specification: '{raw}'")
}

fn invalid_mode(mode: &str) -> VolumeError {
    VolumeError::invalid(format!("invalid mode: {mode}"))
}

fn mount_config_err(kind: MountKind, msg: &str) -> VolumeError {
    VolumeError::invalid(mount_config_msg(kind.as_str(), msg))
}

fn mount_config_msg(kind: &str, msg: &str) -> String {
    format!("invalid mount config for type \"{kind}\": {msg}")
}

/// Lexically cleans an absolute path like Go's `path.Clean`.
pub fn clean_path(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    if p.starts_with('/') {
        format!("/{}", out.join("/"))
    } else if out.is_empty() {
        ".".into()
    } else {
        out.join("/")
    }
}

/// Target checks shared by every mount kind: set, absolute, not `/`.
fn validate_target(target: &str) -> Result<(), String> {
    if target.is_empty() {
        return Err("field Target must not be empty".into());
    }
    if clean_path(target) == "/" {
        return Err("invalid specification: destination can't be '/'".into());
    }
    validate_absolute(target)
}

fn validate_absolute(p: &str) -> Result<(), String> {
    if p.starts_with('/') {
        Ok(())
    } else {
        Err(format!(
            "invalid mount path: '{p}' mount path must be absolute"
        ))
    }
}

/// Parses one `-v` / `HostConfig.Binds` entry: `/dst`, `src:/dst` or `src:/dst:mode`. A
/// source starting with `/` is a host path (bind), anything else a volume name. The bind
/// source may be missing (it is created at resolution, as Docker does for `-v`).
pub fn parse_bind_spec(raw: &str, volume_driver: &str) -> Result<MountRequest> {
    let arr: Vec<&str> = raw.splitn(4, ':').collect();
    if arr[0].is_empty() {
        return Err(VolumeError::invalid(invalid_spec(raw)));
    }
    let (source, target, mode) = match arr.len() {
        1 => ("", arr[0], ""),
        2 => {
            // `/foo:rw`: a destination with a mode is not a valid volume.
            if valid_mount_mode(arr[1]) {
                return Err(VolumeError::invalid(invalid_spec(raw)));
            }
            (arr[0], arr[1], "")
        }
        3 => (arr[0], arr[1], arr[2]),
        _ => return Err(VolumeError::invalid(invalid_spec(raw))),
    };
    if !valid_mount_mode(mode) {
        return Err(invalid_mode(mode));
    }
    let kind = if source.starts_with('/') {
        MountKind::Bind
    } else {
        MountKind::Volume
    };
    let mut r = MountRequest::new(kind, MountOrigin::Bind);
    r.read_only = mode_read_only(mode);
    r.mode = mode.to_string();
    r.nocopy = mode.split(',').any(|o| o == "nocopy");
    r.propagation = mode_propagation(mode);
    let wrap = |msg: String| {
        VolumeError::invalid(format!(
            "{}: {}",
            invalid_spec(raw),
            mount_config_msg(kind.as_str(), &msg)
        ))
    };
    // Docker 25's read-only variants of binds: how far the read-only reaches.
    for m in mode.split(',') {
        if m.starts_with("ro-") || m == "rro" {
            if kind != MountKind::Bind {
                return Err(VolumeError::invalid(format!(
                    "mount mode {mode:?} requires a bind mount: {}",
                    invalid_spec(raw)
                )));
            }
            r.ro_non_recursive |= m == "ro-non-recursive";
            r.ro_force_recursive |= m != "ro-non-recursive";
        }
    }
    validate_target(target).map_err(wrap)?;
    match kind {
        MountKind::Bind => {
            if r.nocopy {
                return Err(wrap("field VolumeOptions must not be specified".into()));
            }
            r.source = clean_path(source);
            r.create_source = true;
        }
        MountKind::Volume => {
            if r.propagation.is_some() {
                return Err(wrap("field BindOptions must not be specified".into()));
            }
            r.source = source.to_string();
            r.driver = volume_driver.to_string();
        }
        MountKind::Tmpfs => {}
    }
    r.target = clean_path(target);
    Ok(r)
}

// ---------------------------------------------------------------------------------------
// --mount
// ---------------------------------------------------------------------------------------

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Splits one CSV record (Go's `encoding/csv` rules for a single line: fields separated by
/// commas, a field may be double-quoted with `""` as an escaped quote).
fn csv_fields(s: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut at_start = true;
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '"' if at_start => {
                quoted = true;
                at_start = false;
            }
            '"' => {
                return Err(VolumeError::invalid(format!(
                    "parse error on line 1, column {}: bare \" in non-quoted-field",
                    s.len() - chars.clone().count()
                )))
            }
            ',' => {
                out.push(std::mem::take(&mut cur));
                at_start = true;
            }
            c => {
                cur.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err(VolumeError::invalid(format!(
            "parse error on line 1, column {}: extraneous or missing \" in quoted-field",
            s.len() + 1
        )));
    }
    out.push(cur);
    Ok(out)
}

/// Parses a size with binary units like Docker's `RAMInBytes` (`64m`, `1.5g`, `100KiB`).
pub fn parse_ram_bytes(s: &str) -> Option<i64> {
    let t = s.trim();
    let num_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, rest) = t.split_at(num_end);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let lower = rest.to_ascii_lowercase();
    let mut it = lower.chars();
    let mult: f64 = match it.next() {
        None => 1.0,
        Some(u) => {
            let m = match u {
                'k' => 1u64 << 10,
                'm' => 1 << 20,
                'g' => 1 << 30,
                't' => 1 << 40,
                'p' => 1 << 50,
                'b' if it.clone().next().is_none() => 1,
                _ => return None,
            } as f64;
            let tail: String = it.collect();
            if u != 'b' && !matches!(tail.as_str(), "" | "b" | "i" | "ib") {
                return None;
            }
            m
        }
    };
    Some((value * mult) as i64)
}

/// CLI side of `--mount`: the CSV `type=…,source=…,target=…` → the API `MountSpec`, with
/// the Docker CLI's error texts (the CLI prefixes `invalid argument "…" for "--mount" flag: `).
pub fn parse_mount_csv(value: &str) -> Result<MountSpec> {
    let fields = csv_fields(value)?;
    let mut spec = MountSpec {
        kind: "volume".into(),
        ..Default::default()
    };
    let mut volume_opts: Option<Map<String, Value>> = None;
    let mut bind_opts: Option<Map<String, Value>> = None;
    let mut tmpfs_opts: Option<Map<String, Value>> = None;
    fn vol(o: &mut Option<Map<String, Value>>) -> &mut Map<String, Value> {
        o.get_or_insert_with(|| {
            let mut m = Map::new();
            m.insert("Labels".into(), Value::Object(Map::new()));
            m.insert("DriverConfig".into(), serde_json::json!({}));
            m
        })
    }
    fn sub<'a>(m: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
        let v = m
            .entry(key.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !v.is_object() {
            *v = Value::Object(Map::new());
        }
        match v {
            Value::Object(o) => o,
            // The value was made an object just above.
            _ => unreachable!("made an object above"),
        }
    }
    let bad_value = |k: &str, v: &str| VolumeError::invalid(format!("invalid value for {k}: {v}"));
    for field in &fields {
        let Some((key, val)) = field.split_once('=') else {
            match field.as_str() {
                "readonly" | "ro" => spec.read_only = true,
                "volume-nocopy" => {
                    vol(&mut volume_opts).insert("NoCopy".into(), Value::Bool(true));
                }
                "bind-nonrecursive" => {
                    bind_opts
                        .get_or_insert_with(Map::new)
                        .insert("NonRecursive".into(), Value::Bool(true));
                }
                _ => {
                    return Err(VolumeError::invalid(format!(
                        "invalid field '{field}' must be a key=value pair"
                    )))
                }
            }
            continue;
        };
        match key {
            "type" => spec.kind = val.to_ascii_lowercase(),
            "source" | "src" => {
                spec.source = val.to_string();
                if val == "." || val.starts_with("./") {
                    if let Ok(cwd) = std::env::current_dir() {
                        spec.source = clean_path(&format!("{}/{val}", cwd.display()));
                    }
                }
            }
            "target" | "dst" | "destination" => spec.target = val.to_string(),
            "readonly" | "ro" => {
                spec.read_only = parse_go_bool(val).ok_or_else(|| bad_value(key, val))?
            }
            "consistency" => spec.consistency = val.to_ascii_lowercase(),
            "bind-propagation" => {
                bind_opts.get_or_insert_with(Map::new).insert(
                    "Propagation".into(),
                    Value::String(val.to_ascii_lowercase()),
                );
            }
            "bind-nonrecursive" => {
                let b = parse_go_bool(val).ok_or_else(|| bad_value(key, val))?;
                bind_opts
                    .get_or_insert_with(Map::new)
                    .insert("NonRecursive".into(), Value::Bool(b));
            }
            "bind-recursive" => {
                let field = match val {
                    "enabled" => None,
                    "disabled" => Some("NonRecursive"),
                    "writable" => Some("ReadOnlyNonRecursive"),
                    "readonly" => Some("ReadOnlyForceRecursive"),
                    _ => {
                        return Err(VolumeError::invalid(format!(
                            "invalid value for {key}: {val} (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")"
                        )))
                    }
                };
                let opts = bind_opts.get_or_insert_with(Map::new);
                if let Some(f) = field {
                    opts.insert(f.into(), Value::Bool(true));
                }
            }
            "volume-nocopy" => {
                let b = parse_go_bool(val).ok_or_else(|| {
                    VolumeError::invalid(format!("invalid value for volume-nocopy: {val}"))
                })?;
                vol(&mut volume_opts).insert("NoCopy".into(), Value::Bool(b));
            }
            "volume-label" | "volume-opt" => {
                let (k, v) = val.split_once('=').unwrap_or((val, ""));
                let m = vol(&mut volume_opts);
                let target = if key == "volume-label" {
                    sub(m, "Labels")
                } else {
                    sub(sub(m, "DriverConfig"), "Options")
                };
                if !k.is_empty() {
                    target.insert(k.to_string(), Value::String(v.to_string()));
                }
            }
            "volume-driver" => {
                sub(vol(&mut volume_opts), "DriverConfig")
                    .insert("Name".into(), Value::String(val.into()));
            }
            "volume-subpath" => {
                vol(&mut volume_opts).insert("Subpath".into(), Value::String(val.into()));
            }
            "tmpfs-size" => {
                let n = parse_ram_bytes(val).ok_or_else(|| bad_value(key, val))?;
                tmpfs_opts
                    .get_or_insert_with(Map::new)
                    .insert("SizeBytes".into(), n.into());
            }
            "tmpfs-mode" => {
                let n = u32::from_str_radix(val, 8).map_err(|_| bad_value(key, val))?;
                tmpfs_opts
                    .get_or_insert_with(Map::new)
                    .insert("Mode".into(), n.into());
            }
            _ => {
                return Err(VolumeError::invalid(format!(
                    "unexpected key '{key}' in '{field}'"
                )));
            }
        }
    }
    if spec.kind.is_empty() {
        return Err(VolumeError::invalid("type is required"));
    }
    if spec.target.is_empty() {
        return Err(VolumeError::invalid("target is required"));
    }
    let mix = |what: &str| {
        VolumeError::invalid(format!(
            "cannot mix '{what}-*' options with mount type '{}'",
            spec.kind
        ))
    };
    if volume_opts.is_some() && spec.kind != "volume" {
        return Err(mix("volume"));
    }
    if bind_opts.is_some() && spec.kind != "bind" {
        return Err(mix("bind"));
    }
    if tmpfs_opts.is_some() && spec.kind != "tmpfs" {
        return Err(mix("tmpfs"));
    }
    if let Some(b) = &bind_opts {
        let set = |k: &str| b.get(k).and_then(Value::as_bool).unwrap_or(false);
        if set("ReadOnlyNonRecursive") && !spec.read_only {
            return Err(VolumeError::invalid(
                "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction",
            ));
        }
        if set("ReadOnlyForceRecursive") {
            if !spec.read_only {
                return Err(VolumeError::invalid(
                    "option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction",
                ));
            }
            if b.get("Propagation").and_then(Value::as_str) != Some("rprivate") {
                return Err(VolumeError::invalid(
                    "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction",
                ));
            }
        }
    }
    spec.volume_options = volume_opts.map(Value::Object);
    spec.bind_options = bind_opts.map(Value::Object);
    spec.tmpfs_options = tmpfs_opts.map(Value::Object);
    Ok(spec)
}

fn str_field<'a>(v: &'a Option<Value>, key: &str) -> Option<&'a str> {
    v.as_ref()?.get(key)?.as_str()
}

fn bool_field(v: &Option<Value>, key: &str) -> bool {
    v.as_ref()
        .and_then(|o| o.get(key))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(Value::Object(m)) = v {
        for (k, v) in m {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            out.insert(k.clone(), s);
        }
    }
    out
}

/// Formats a tmpfs size the way Docker converts `SizeBytes` to a mount option.
fn tmpfs_size_option(size: i64) -> String {
    for (suffix, div) in [("g", 1i64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
        if size % div == 0 {
            return format!("size={}{suffix}", size / div);
        }
    }
    format!("size={size}")
}

/// Daemon side of `--mount` (`HostConfig.Mounts`): Docker's validation, including that a
/// bind source must exist (`bind source path does not exist: /x`).
pub fn parse_mount_spec(spec: &MountSpec) -> Result<MountRequest> {
    let kind_name = spec.kind.as_str();
    let err = |msg: &str| VolumeError::invalid(mount_config_msg(kind_name, msg));
    validate_target(&spec.target).map_err(|m| err(&m))?;
    let kind = match kind_name {
        "bind" => MountKind::Bind,
        "volume" => MountKind::Volume,
        "tmpfs" => MountKind::Tmpfs,
        _ => return Err(err("mount type unknown")),
    };
    let mut r = MountRequest::new(kind, MountOrigin::Mount);
    r.read_only = spec.read_only;
    match kind {
        MountKind::Bind => {
            if spec.source.is_empty() {
                return Err(err("field Source must not be empty"));
            }
            if let Some(p) = str_field(&spec.bind_options, "Propagation") {
                if !p.is_empty() {
                    if !PROPAGATION_MODES.contains(&p) {
                        return Err(err(&format!("invalid propagation mode: {p}")));
                    }
                    r.propagation = Some(p.to_string());
                }
            }
            if spec.volume_options.is_some() {
                return Err(err("field VolumeOptions must not be specified"));
            }
            validate_absolute(&spec.source).map_err(|m| err(&m))?;
            r.create_source = bool_field(&spec.bind_options, "CreateMountpoint");
            r.non_recursive = bool_field(&spec.bind_options, "NonRecursive");
            r.ro_non_recursive = bool_field(&spec.bind_options, "ReadOnlyNonRecursive");
            r.ro_force_recursive = bool_field(&spec.bind_options, "ReadOnlyForceRecursive");
            if r.ro_non_recursive && !spec.read_only {
                return Err(err("option ReadOnlyNonRecursive requires ReadOnly"));
            }
            if r.ro_force_recursive {
                if !spec.read_only {
                    return Err(err("option ReadOnlyForceRecursive requires ReadOnly"));
                }
                if r.ro_non_recursive {
                    return Err(err(
                        "option ReadOnlyForceRecursive conflicts with ReadOnlyNonRecursive",
                    ));
                }
            }
            match std::fs::metadata(&spec.source) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if !r.create_source {
                        return Err(err(&format!(
                            "bind source path does not exist: {}",
                            spec.source
                        )));
                    }
                }
                Err(e) => return Err(err(&format!("stat {}: {e}", spec.source))),
            }
            r.source = clean_path(&spec.source);
        }
        MountKind::Volume => {
            if spec.bind_options.is_some() {
                return Err(err("field BindOptions must not be specified"));
            }
            let anonymous = spec.source.is_empty();
            if let Some(sub) = str_field(&spec.volume_options, "Subpath") {
                if !sub.is_empty() {
                    if anonymous {
                        return Err(err("must not set Subpath when using anonymous volumes"));
                    }
                    return Err(err("Subpath is not supported by this daemon"));
                }
            }
            if spec.read_only && anonymous {
                return Err(err(
                    "must not set ReadOnly mode when using anonymous volumes",
                ));
            }
            r.source = spec.source.clone();
            r.nocopy = bool_field(&spec.volume_options, "NoCopy");
            if let Some(vo) = &spec.volume_options {
                r.volume_labels = string_map(vo.get("Labels"));
                if let Some(dc) = vo.get("DriverConfig") {
                    r.driver = dc
                        .get("Name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    r.volume_options = string_map(dc.get("Options"));
                }
            }
        }
        MountKind::Tmpfs => {
            if spec.bind_options.is_some() {
                return Err(err("field BindOptions must not be specified"));
            }
            if !spec.source.is_empty() {
                return Err(err("field Source must not be specified"));
            }
            let to = &spec.tmpfs_options;
            if spec.read_only {
                r.tmpfs_options.push("ro".into());
            }
            let mode = to
                .as_ref()
                .and_then(|o| o.get("Mode"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            if mode != 0 {
                r.tmpfs_options.push(format!("mode={:o}", mode & 0o7777));
            }
            let size = to
                .as_ref()
                .and_then(|o| o.get("SizeBytes"))
                .and_then(Value::as_i64)
                .unwrap_or(0);
            if size < 0 {
                return Err(err("invalid tmpfs size"));
            }
            if size != 0 {
                r.tmpfs_options.push(tmpfs_size_option(size));
            }
            if let Some(Value::Array(opts)) = to.as_ref().and_then(|o| o.get("Options")) {
                for o in opts {
                    let parts: Vec<&str> = o
                        .as_array()
                        .map(|a| a.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    if parts.is_empty() || parts.len() > 2 {
                        return Err(err("invalid option array length"));
                    }
                    if !matches!(parts[0], "exec" | "noexec") {
                        return Err(err(&format!("invalid option: {}", parts[0])));
                    }
                    r.tmpfs_options.push(parts.join("="));
                }
            }
        }
    }
    r.target = clean_path(&spec.target);
    Ok(r)
}

// ---------------------------------------------------------------------------------------
// --tmpfs
// ---------------------------------------------------------------------------------------

/// Mount flags a tmpfs option list may carry, besides `key=value` data.
const TMPFS_FLAGS: &[&str] = &[
    "defaults",
    "ro",
    "rw",
    "suid",
    "nosuid",
    "dev",
    "nodev",
    "exec",
    "noexec",
    "sync",
    "async",
    "dirsync",
    "remount",
    "mand",
    "nomand",
    "atime",
    "noatime",
    "diratime",
    "nodiratime",
    "bind",
    "rbind",
    "relatime",
    "norelatime",
    "strictatime",
    "nostrictatime",
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "unbindable",
    "runbindable",
];
const TMPFS_DATA_KEYS: &[&str] = &[
    "size",
    "mode",
    "uid",
    "gid",
    "nr_inodes",
    "nr_blocks",
    "mpol",
];

/// CLI side of `--tmpfs /path[:opts]` → (`path`, `opts`) for `HostConfig.Tmpfs`.
pub fn split_tmpfs_flag(value: &str) -> (String, String) {
    match value.split_once(':') {
        Some((p, o)) => (p.to_string(), o.to_string()),
        None => (value.to_string(), String::new()),
    }
}

/// Daemon side of one `HostConfig.Tmpfs` entry (`/run` → `size=64m,mode=1777`).
pub fn parse_tmpfs(target: &str, options: &str) -> Result<MountRequest> {
    validate_target(target).map_err(VolumeError::Invalid)?;
    let mut r = MountRequest::new(MountKind::Tmpfs, MountOrigin::Tmpfs);
    for o in options.split(',').filter(|o| !o.is_empty()) {
        if TMPFS_FLAGS.contains(&o) {
            if o == "ro" {
                r.read_only = true;
            } else if o == "rw" {
                r.read_only = false;
            }
        } else {
            let key = o.split_once('=').map_or(o, |(k, _)| k);
            if !TMPFS_DATA_KEYS.contains(&key) {
                let parts: Vec<String> = o.splitn(2, '=').map(|s| format!("\"{s}\"")).collect();
                return Err(VolumeError::invalid(format!(
                    "Invalid tmpfs option [{}]",
                    parts.join(" ")
                )));
            }
        }
        r.tmpfs_options.push(o.to_string());
    }
    r.target = clean_path(target);
    Ok(r)
}

/// The option words that cancel each other in a tmpfs option list.
fn opposite(flag: &str) -> Option<&'static str> {
    Some(match flag {
        "ro" => "rw",
        "rw" => "ro",
        "exec" => "noexec",
        "noexec" => "exec",
        "suid" => "nosuid",
        "nosuid" => "suid",
        "dev" => "nodev",
        "nodev" => "dev",
        "atime" => "noatime",
        "noatime" => "atime",
        "diratime" => "nodiratime",
        "nodiratime" => "diratime",
        _ => return None,
    })
}

/// Docker's tmpfs options: `noexec,nosuid,nodev` first, then the user's, later words
/// overriding earlier ones (a flag drops its opposite; `key=` keeps the last value).
pub fn merge_tmpfs_options(user: &[String]) -> Vec<String> {
    let mut all: Vec<String> = vec!["noexec".into(), "nosuid".into(), "nodev".into()];
    all.extend(user.iter().cloned());
    let mut out: Vec<String> = Vec::new();
    for o in all {
        if let Some((k, _)) = o.split_once('=') {
            out.retain(|e| e.split_once('=').map(|(ek, _)| ek) != Some(k));
        } else {
            if let Some(op) = opposite(&o) {
                out.retain(|e| e != op);
            }
            out.retain(|e| *e != o);
        }
        out.push(o);
    }
    out
}

// ---------------------------------------------------------------------------------------
// --volumes-from
// ---------------------------------------------------------------------------------------

/// Parses `ctr[:ro|rw]` → (container, read-write). Propagation and copy modes are refused
/// as Docker does.
pub fn parse_volumes_from(spec: &str) -> Result<(String, bool)> {
    if spec.is_empty() {
        return Err(VolumeError::invalid(
            "volumes-from specification cannot be an empty string",
        ));
    }
    let (id, mode) = spec.split_once(':').unwrap_or((spec, ""));
    if mode.is_empty() {
        return Ok((id.to_string(), true));
    }
    if !valid_mount_mode(mode)
        || mode_propagation(mode).is_some()
        || mode.split(',').any(|o| o == "nocopy")
    {
        return Err(invalid_mode(mode));
    }
    Ok((id.to_string(), !mode_read_only(mode)))
}

/// The requests inheriting another container's mounts (`--volumes-from`), given that
/// container's inspect mount points; `rw = false` makes all of them read-only.
pub fn volumes_from_requests(rw: bool, theirs: &[MountPoint]) -> Vec<MountRequest> {
    theirs
        .iter()
        .filter_map(|mp| {
            let kind = match mp.kind.as_str() {
                "bind" => MountKind::Bind,
                "volume" => MountKind::Volume,
                // tmpfs mounts are the other container's own memory: not shared.
                _ => return None,
            };
            let mut r = MountRequest::new(kind, MountOrigin::VolumesFrom);
            r.source = if kind == MountKind::Volume {
                mp.name.clone()
            } else {
                mp.source.clone()
            };
            r.target = clean_path(&mp.destination);
            r.read_only = !(mp.rw && rw);
            r.mode = mp.mode.clone();
            r.driver = mp.driver.clone();
            r.propagation = (!mp.propagation.is_empty()).then(|| mp.propagation.clone());
            r.nocopy = true;
            r.inherited = Some(mp.clone());
            Some(r)
        })
        .collect()
}
