//! `create`/`run` flags → the `POST /containers/create` body (Config + HostConfig +
//! NetworkingConfig), following Docker's CLI parsing of ports, volumes, mounts,
//! restart policies, ulimits, devices, env/label files, sizes and health checks.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::cli::ContainerOpts;
use crate::units::{parse_go_duration, ram_in_bytes};

/// What `run`/`create` need besides the request body.
#[derive(Debug, Clone)]
pub struct CreatePlan {
    pub image: String,
    pub body: Value,
    pub name: Option<String>,
    pub platform: Option<String>,
}

/// A flag value that Docker's CLI rejects before talking to the daemon.
#[derive(Debug, PartialEq, Eq)]
pub struct OptError(pub String);

fn bad(msg: impl Into<String>) -> OptError {
    OptError(msg.into())
}

/// Reads a Docker env/label file: `KEY=VALUE` or `KEY` (taken from our environment),
/// blank lines and `#` comments skipped.
pub fn read_kv_file(path: &str, from_env: bool) -> Result<Vec<String>, OptError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad(format!("open {path}: {}", io_reason(&e))))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim_start();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if let Some((k, v)) = l.split_once('=') {
            if k.contains(char::is_whitespace) {
                return Err(bad(format!("variable '{k}' contains whitespaces")));
            }
            out.push(format!("{k}={v}"));
        } else if from_env {
            let k = l.trim_end();
            if let Ok(v) = std::env::var(k) {
                out.push(format!("{k}={v}"));
            }
        } else {
            out.push(l.trim_end().to_string());
        }
    }
    Ok(out)
}

/// Go's wording for common I/O errors ("no such file or directory").
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_lowercase(),
                None => s,
            }
        }
    }
}

/// `-e KEY` without a value takes the variable from our environment when set.
pub fn expand_env(e: &str) -> String {
    if e.contains('=') {
        return e.to_string();
    }
    match std::env::var(e) {
        Ok(v) => format!("{e}={v}"),
        Err(_) => e.to_string(),
    }
}

/// Parses a restart policy (`no`, `always`, `unless-stopped`, `on-failure[:N]`).
pub fn restart_policy(s: &str) -> Result<Value, OptError> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => (n, Some(c)),
        None => (s, None),
    };
    let max: i64 = match count {
        Some(c) => c.parse().map_err(|_| {
            bad("invalid restart policy format: maximum retry count must be an integer")
        })?,
        None => 0,
    };
    match name {
        "" | "no" | "always" | "unless-stopped" if count.is_some() => Err(bad(
            "invalid restart policy format: maximum retry count can only be used with 'on-failure'",
        )),
        "" | "no" => Ok(json!({"Name": "no", "MaximumRetryCount": 0})),
        // Other names are the daemon's to validate, as with Docker's CLI.
        _ => Ok(json!({"Name": name, "MaximumRetryCount": max})),
    }
}

/// One `-p` spec → (container port key like "80/tcp", bindings).
pub fn parse_publish(spec: &str) -> Result<Vec<(String, Value)>, OptError> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) if !r.is_empty() => (r, p.to_lowercase()),
        _ => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(bad(format!("invalid proto: {proto}")));
    }
    // Split off an IPv6 host address in brackets first.
    let (ip, rest) = if let Some(r) = rest.strip_prefix('[') {
        let Some((ip6, after)) = r.split_once(']') else {
            return Err(bad(format!("invalid IP address: {rest}")));
        };
        (
            ip6.to_string(),
            after.strip_prefix(':').unwrap_or(after).to_string(),
        )
    } else {
        let parts: Vec<&str> = rest.split(':').collect();
        match parts.len() {
            1 | 2 => (String::new(), rest.to_string()),
            3 => (parts[0].to_string(), format!("{}:{}", parts[1], parts[2])),
            _ => return Err(bad(format!("invalid port format: '{spec}'"))),
        }
    };
    let (host, container) = match rest.rsplit_once(':') {
        Some((h, c)) => (h.to_string(), c.to_string()),
        None => (String::new(), rest.clone()),
    };
    if container.is_empty() {
        return Err(bad(format!("no port specified: {spec}<empty>")));
    }
    let (c0, c1) =
        port_range(&container).ok_or_else(|| bad(format!("invalid containerPort: {container}")))?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(port_range(&host).ok_or_else(|| bad(format!("invalid hostPort: {host}")))?)
    };
    let count = c1 - c0 + 1;
    if let Some((h0, h1)) = host_range {
        let hcount = h1 - h0 + 1;
        if hcount != count && !(h0 != h1 && count == 1) {
            return Err(bad(format!(
                "invalid ranges specified for container and host Ports: {container} and {host}"
            )));
        }
    }
    let mut out = Vec::new();
    for i in 0..count {
        let cport = c0 + i;
        let hport = match host_range {
            None => String::new(),
            Some((h0, h1)) if count == 1 && h0 != h1 => format!("{h0}-{h1}"),
            Some((h0, _)) => (h0 + i).to_string(),
        };
        out.push((
            format!("{cport}/{proto}"),
            json!({"HostIp": ip, "HostPort": hport}),
        ));
    }
    Ok(out)
}

fn port_range(s: &str) -> Option<(u32, u32)> {
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => {
            let p: u32 = s.parse().ok()?;
            (p, p)
        }
    };
    if a > b || b > 65535 {
        return None;
    }
    Some((a, b))
}

/// `--expose 80`, `--expose 8000-8010/udp` → port keys.
fn parse_expose(spec: &str) -> Result<Vec<String>, OptError> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, pr)) => (p, pr),
        None => (spec, "tcp"),
    };
    let (a, b) = port_range(ports)
        .ok_or_else(|| bad(format!("invalid range format for --expose: {spec}")))?;
    Ok((a..=b).map(|p| format!("{p}/{proto}")).collect())
}

/// `--mount type=bind,source=/a,target=/b,readonly` → a Mount object.
pub fn parse_mount(spec: &str) -> Result<Value, OptError> {
    let mut m = Map::new();
    let mut kind = "volume".to_string();
    let mut bind = Map::new();
    let mut vol = Map::new();
    let mut vol_labels = Map::new();
    let mut vol_opts = Map::new();
    let mut tmpfs = Map::new();
    for field in spec.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_lowercase(), Some(v.to_string())),
            None => (field.trim().to_lowercase(), None),
        };
        let truthy = |v: &Option<String>| -> Result<bool, OptError> {
            match v.as_deref() {
                None | Some("1") | Some("true") => Ok(true),
                Some("0") | Some("false") => Ok(false),
                Some(o) => Err(bad(format!("invalid value for {k}: {o}"))),
            }
        };
        match k.as_str() {
            "type" => kind = v.unwrap_or_default(),
            "source" | "src" => {
                m.insert("Source".into(), json!(v.unwrap_or_default()));
            }
            "target" | "destination" | "dst" => {
                m.insert("Target".into(), json!(v.unwrap_or_default()));
            }
            "readonly" | "ro" => {
                m.insert("ReadOnly".into(), json!(truthy(&v)?));
            }
            "consistency" => {
                m.insert("Consistency".into(), json!(v.unwrap_or_default()));
            }
            "bind-propagation" => {
                bind.insert("Propagation".into(), json!(v.unwrap_or_default()));
            }
            "bind-nonrecursive" => {
                bind.insert("NonRecursive".into(), json!(truthy(&v)?));
            }
            "bind-recursive" => {
                let v = v.unwrap_or_default();
                let field = match v.as_str() {
                    "enabled" => None,
                    "disabled" => Some("NonRecursive"),
                    "writable" => Some("ReadOnlyNonRecursive"),
                    "readonly" => Some("ReadOnlyForceRecursive"),
                    _ => return Err(bad(format!(
                        "invalid value for {k}: {v} (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")"
                    ))),
                };
                if let Some(f) = field {
                    bind.insert(f.into(), json!(true));
                }
            }
            "volume-nocopy" => {
                vol.insert("NoCopy".into(), json!(truthy(&v)?));
            }
            "volume-driver" => {
                vol.insert(
                    "DriverConfig".into(),
                    json!({"Name": v.unwrap_or_default()}),
                );
            }
            "volume-label" => {
                let s = v.unwrap_or_default();
                let (lk, lv) = s.split_once('=').unwrap_or((&s, ""));
                vol_labels.insert(lk.to_string(), json!(lv));
            }
            "volume-opt" => {
                let s = v.unwrap_or_default();
                let (ok, ov) = s.split_once('=').unwrap_or((&s, ""));
                vol_opts.insert(ok.to_string(), json!(ov));
            }
            "tmpfs-size" => {
                let s = v.unwrap_or_default();
                let n = ram_in_bytes(&s)
                    .ok_or_else(|| bad(format!("invalid value for tmpfs-size: {s}")))?;
                tmpfs.insert("SizeBytes".into(), json!(n));
            }
            "tmpfs-mode" => {
                let s = v.unwrap_or_default();
                let n = u32::from_str_radix(&s, 8)
                    .map_err(|_| bad(format!("invalid value for tmpfs-mode: {s}")))?;
                tmpfs.insert("Mode".into(), json!(n));
            }
            other => return Err(bad(format!("unexpected key '{other}' in '{field}'"))),
        }
    }
    if !matches!(
        kind.as_str(),
        "bind" | "volume" | "tmpfs" | "npipe" | "cluster" | "image"
    ) {
        return Err(bad(format!("invalid mount type: {kind:?}")));
    }
    if !m.contains_key("Target") {
        return Err(bad("target is required"));
    }
    m.insert("Type".into(), json!(kind));
    if !vol_labels.is_empty() {
        vol.insert("Labels".into(), Value::Object(vol_labels));
    }
    if !vol_opts.is_empty() {
        let driver = vol
            .entry("DriverConfig")
            .or_insert_with(|| json!({"Name": "local"}));
        if let Some(d) = driver.as_object_mut() {
            d.insert("Options".into(), Value::Object(vol_opts));
        }
    }
    check_bind_recursive(&m, &bind)?;
    if !bind.is_empty() {
        m.insert("BindOptions".into(), Value::Object(bind));
    }
    if !vol.is_empty() {
        m.insert("VolumeOptions".into(), Value::Object(vol));
    }
    if !tmpfs.is_empty() {
        m.insert("TmpfsOptions".into(), Value::Object(tmpfs));
    }
    // Order like Docker's mount.Mount struct.
    let order = [
        "Type",
        "Source",
        "Target",
        "ReadOnly",
        "Consistency",
        "BindOptions",
        "VolumeOptions",
        "TmpfsOptions",
    ];
    let mut out = Map::new();
    for k in order {
        if let Some(v) = m.remove(k) {
            out.insert(k.into(), v);
        }
    }
    Ok(Value::Object(out))
}

/// Docker's checks of `bind-recursive=writable|readonly` against the other fields.
fn check_bind_recursive(m: &Map<String, Value>, bind: &Map<String, Value>) -> Result<(), OptError> {
    let ro = m.get("ReadOnly") == Some(&json!(true));
    if bind.get("ReadOnlyNonRecursive") == Some(&json!(true)) && !ro {
        return Err(bad(
            "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction",
        ));
    }
    if bind.get("ReadOnlyForceRecursive") == Some(&json!(true)) {
        if !ro {
            return Err(bad(
                "option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction",
            ));
        }
        if bind.get("Propagation") != Some(&json!("rprivate")) {
            return Err(bad(
                "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction",
            ));
        }
    }
    Ok(())
}

/// `--ulimit nofile=1024:2048`.
pub fn parse_ulimit(s: &str) -> Result<Value, OptError> {
    parse_ulimit_inner(s).map_err(|e| {
        bad(format!(
            "invalid argument \"{s}\" for \"--ulimit\" flag: {}",
            e.0
        ))
    })
}

fn parse_ulimit_inner(s: &str) -> Result<Value, OptError> {
    let (name, vals) = s
        .split_once('=')
        .ok_or_else(|| bad(format!("invalid ulimit argument: {s}")))?;
    let (soft, hard) = match vals.split_once(':') {
        Some((a, b)) => (a, b),
        None => (vals, vals),
    };
    let soft: i64 = soft
        .parse()
        .map_err(|_| bad(format!("invalid ulimit soft value: {soft}")))?;
    let hard: i64 = hard
        .parse()
        .map_err(|_| bad(format!("invalid ulimit hard value: {hard}")))?;
    if soft > hard {
        return Err(bad(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )));
    }
    Ok(json!({"Name": name, "Hard": hard, "Soft": soft}))
}

/// `--device /dev/a[:/dev/b[:rwm]]`.
fn parse_device(s: &str) -> Result<Value, OptError> {
    let parts: Vec<&str> = s.split(':').collect();
    let (host, ctr, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, p] if p.chars().all(|c| "rwm".contains(c)) && !p.is_empty() => (*h, *h, *p),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] => (*h, *c, *p),
        _ => return Err(bad(format!("invalid device specification: {s}"))),
    };
    Ok(json!({"PathOnHost": host, "PathInContainer": ctr, "CgroupPermissions": perms}))
}

fn duration_ns(flag: &str, s: &str) -> Result<i64, OptError> {
    match parse_go_duration(s) {
        Some((false, d)) => Ok(d.as_nanos() as i64),
        _ => Err(bad(format!(
            "invalid argument \"{s}\" for \"--{flag}\" flag: time: invalid duration \"{s}\""
        ))),
    }
}

fn size(flag: &str, s: &str) -> Result<i64, OptError> {
    ram_in_bytes(s).ok_or_else(|| {
        // Docker's wording: a bad unit is an "invalid suffix", anything else an "invalid size".
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let why = if split > 0 && t[..split].parse::<f64>().is_ok() {
            format!("invalid suffix: '{}'", &t[split..])
        } else {
            format!("invalid size: '{s}'")
        };
        let shown = if flag == "memory" {
            "-m, --memory".to_string()
        } else {
            format!("--{flag}")
        };
        bad(format!(
            "invalid argument \"{s}\" for \"{shown}\" flag: {why}"
        ))
    })
}

/// `--cpus 1.5` → NanoCpus.
pub fn nano_cpus(s: &str) -> Result<i64, OptError> {
    let f: f64 = s.parse().map_err(|_| bad(format!("invalid argument \"{s}\" for \"--cpus\" flag: failed to parse {s} as a rational number")))?;
    if f < 0.0 {
        return Err(bad("invalid value: cpus must be non-negative"));
    }
    Ok((f * 1e9).round() as i64)
}

/// Resource flags shared with `update`, added to `host` (HostConfig or UpdateConfig).
#[allow(clippy::too_many_arguments)]
pub fn resources(
    host: &mut Map<String, Value>,
    memory: Option<&str>,
    memory_swap: Option<&str>,
    memory_reservation: Option<&str>,
    cpu_shares: Option<i64>,
    cpus: Option<&str>,
    cpu_period: Option<i64>,
    cpu_quota: Option<i64>,
    cpuset_cpus: Option<&str>,
    cpuset_mems: Option<&str>,
    pids_limit: Option<i64>,
    blkio_weight: Option<u16>,
) -> Result<(), OptError> {
    if let Some(m) = memory {
        host.insert("Memory".into(), json!(size("memory", m)?));
    }
    if let Some(s) = memory_swap {
        let v = if s == "-1" {
            -1
        } else {
            size("memory-swap", s)?
        };
        host.insert("MemorySwap".into(), json!(v));
    }
    if let Some(r) = memory_reservation {
        host.insert(
            "MemoryReservation".into(),
            json!(size("memory-reservation", r)?),
        );
    }
    if let Some(c) = cpu_shares {
        host.insert("CpuShares".into(), json!(c));
    }
    if let Some(c) = cpus {
        if cpu_period.is_some() || cpu_quota.is_some() {
            return Err(bad(
                "conflicting options: Nano CPUs and CPU Period cannot both be set",
            ));
        }
        host.insert("NanoCpus".into(), json!(nano_cpus(c)?));
    }
    if let Some(p) = cpu_period {
        host.insert("CpuPeriod".into(), json!(p));
    }
    if let Some(q) = cpu_quota {
        host.insert("CpuQuota".into(), json!(q));
    }
    if let Some(c) = cpuset_cpus {
        host.insert("CpusetCpus".into(), json!(c));
    }
    if let Some(m) = cpuset_mems {
        host.insert("CpusetMems".into(), json!(m));
    }
    if let Some(p) = pids_limit {
        host.insert("PidsLimit".into(), json!(p));
    }
    if let Some(w) = blkio_weight {
        host.insert("BlkioWeight".into(), json!(w));
    }
    Ok(())
}

/// Builds the create request from the parsed flags.
pub fn build(o: &ContainerOpts, auto_remove: bool, detach: bool) -> Result<CreatePlan, OptError> {
    let image = o.image_and_cmd.first().cloned().unwrap_or_default();
    if image.is_empty() {
        return Err(bad("invalid reference format"));
    }
    let cmd: Option<Vec<String>> =
        (o.image_and_cmd.len() > 1).then(|| o.image_and_cmd[1..].to_vec());
    let interactive = o.interactive.unwrap_or(false);
    let tty = o.tty.unwrap_or(false);

    // Which streams to attach (Docker: -a wins; otherwise stdout+stderr unless -d,
    // stdin with -i).
    let (mut a_in, mut a_out, mut a_err) = (false, false, false);
    if !o.attach.is_empty() {
        if detach {
            return Err(bad(
                "conflicting options: cannot specify both --attach and --detach",
            ));
        }
        for s in &o.attach {
            match s.to_lowercase().as_str() {
                "stdin" => a_in = true,
                "stdout" => a_out = true,
                "stderr" => a_err = true,
                other => return Err(bad(format!("invalid argument \"{other}\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR"))),
            }
        }
    } else if !detach {
        a_out = true;
        a_err = true;
        a_in = interactive;
    }

    let mut env: Vec<String> = Vec::new();
    for f in &o.env_file {
        env.extend(read_kv_file(f, true)?);
    }
    env.extend(o.env.iter().map(|e| expand_env(e)));

    let mut labels = Map::new();
    let mut label_lines = Vec::new();
    for f in &o.label_file {
        label_lines.extend(read_kv_file(f, false)?);
    }
    label_lines.extend(o.label.iter().cloned());
    for l in label_lines {
        let (k, v) = l.split_once('=').unwrap_or((&l, ""));
        labels.insert(k.to_string(), json!(v));
    }

    let mut exposed = BTreeMap::<String, Value>::new();
    let mut bindings = Map::new();
    for p in &o.publish {
        for (key, b) in parse_publish(p)? {
            exposed.insert(key.clone(), json!({}));
            let e = bindings.entry(key).or_insert_with(|| json!([]));
            if let Some(a) = e.as_array_mut() {
                a.push(b);
            }
        }
    }
    for e in &o.expose {
        for key in parse_expose(e)? {
            exposed.insert(key, json!({}));
        }
    }

    let mut volumes = Map::new();
    let mut binds = Vec::new();
    for v in &o.volume {
        if v.is_empty() {
            return Err(bad("invalid empty volume spec"));
        }
        if v.contains(':') {
            binds.push(v.clone());
        } else {
            volumes.insert(v.clone(), json!({}));
        }
    }
    let mounts: Vec<Value> = o
        .mount
        .iter()
        .map(|m| parse_mount(m))
        .collect::<Result<_, _>>()?;
    let mut tmpfs = Map::new();
    for t in &o.tmpfs {
        let (path, opts) = t.split_once(':').unwrap_or((t, ""));
        tmpfs.insert(path.to_string(), json!(opts));
    }

    let entrypoint = o.entrypoint.as_ref().map(|e| {
        if e.is_empty() {
            json!([""])
        } else {
            json!([e])
        }
    });

    let healthcheck = if o.no_healthcheck.unwrap_or(false) {
        if o.health_cmd.is_some()
            || o.health_interval.is_some()
            || o.health_retries.is_some()
            || o.health_timeout.is_some()
            || o.health_start_period.is_some()
        {
            return Err(bad("--no-healthcheck conflicts with --health-* options"));
        }
        Some(json!({"Test": ["NONE"]}))
    } else if o.health_cmd.is_some()
        || o.health_interval.is_some()
        || o.health_retries.is_some()
        || o.health_timeout.is_some()
        || o.health_start_period.is_some()
        || o.health_start_interval.is_some()
    {
        let mut h = Map::new();
        if let Some(c) = &o.health_cmd {
            h.insert("Test".into(), json!(["CMD-SHELL", c]));
        }
        h.insert(
            "Interval".into(),
            json!(o
                .health_interval
                .as_deref()
                .map(|s| duration_ns("health-interval", s))
                .transpose()?
                .unwrap_or(0)),
        );
        h.insert(
            "Timeout".into(),
            json!(o
                .health_timeout
                .as_deref()
                .map(|s| duration_ns("health-timeout", s))
                .transpose()?
                .unwrap_or(0)),
        );
        h.insert(
            "StartPeriod".into(),
            json!(o
                .health_start_period
                .as_deref()
                .map(|s| duration_ns("health-start-period", s))
                .transpose()?
                .unwrap_or(0)),
        );
        h.insert(
            "StartInterval".into(),
            json!(o
                .health_start_interval
                .as_deref()
                .map(|s| duration_ns("health-start-interval", s))
                .transpose()?
                .unwrap_or(0)),
        );
        let retries = o.health_retries.unwrap_or(0);
        if retries < 0 {
            return Err(bad("--health-retries cannot be negative"));
        }
        h.insert("Retries".into(), json!(retries));
        Some(Value::Object(h))
    } else {
        None
    };

    let mut config = Map::new();
    config.insert(
        "Hostname".into(),
        json!(o.hostname.clone().unwrap_or_default()),
    );
    config.insert(
        "Domainname".into(),
        json!(o.domainname.clone().unwrap_or_default()),
    );
    config.insert("User".into(), json!(o.user.clone().unwrap_or_default()));
    config.insert("AttachStdin".into(), json!(a_in));
    config.insert("AttachStdout".into(), json!(a_out));
    config.insert("AttachStderr".into(), json!(a_err));
    if !exposed.is_empty() {
        config.insert("ExposedPorts".into(), json!(exposed));
    }
    config.insert("Tty".into(), json!(tty));
    config.insert("OpenStdin".into(), json!(interactive));
    config.insert("StdinOnce".into(), json!(interactive && a_in));
    config.insert("Env".into(), json!(env));
    config.insert("Cmd".into(), cmd.map(|c| json!(c)).unwrap_or(Value::Null));
    if let Some(h) = healthcheck {
        config.insert("Healthcheck".into(), h);
    }
    config.insert("Image".into(), json!(image));
    config.insert("Volumes".into(), Value::Object(volumes));
    config.insert(
        "WorkingDir".into(),
        json!(o.workdir.clone().unwrap_or_default()),
    );
    config.insert("Entrypoint".into(), entrypoint.unwrap_or(Value::Null));
    if let Some(mac) = &o.mac_address {
        config.insert("MacAddress".into(), json!(mac));
    }
    config.insert("OnBuild".into(), Value::Null);
    config.insert("Labels".into(), Value::Object(labels));
    if let Some(s) = &o.stop_signal {
        config.insert("StopSignal".into(), json!(s));
    }
    if let Some(t) = o.stop_timeout {
        config.insert("StopTimeout".into(), json!(t));
    }

    let mut host = Map::new();
    host.insert(
        "Binds".into(),
        if binds.is_empty() {
            Value::Null
        } else {
            json!(binds)
        },
    );
    if let Some(f) = &o.cidfile {
        host.insert("ContainerIDFile".into(), json!(f));
    }
    let mut log_cfg = Map::new();
    for l in &o.log_opt {
        let (k, v) = l.split_once('=').ok_or_else(|| {
            bad(format!(
                "invalid key/value pair format in logging opts: {l}"
            ))
        })?;
        log_cfg.insert(k.to_string(), json!(v));
    }
    host.insert(
        "LogConfig".into(),
        json!({"Type": o.log_driver.clone().unwrap_or_default(), "Config": log_cfg}),
    );
    let network = o.network.clone().unwrap_or_else(|| "default".to_string());
    host.insert("NetworkMode".into(), json!(network));
    host.insert("PortBindings".into(), Value::Object(bindings));
    let restart = match &o.restart {
        Some(r) => restart_policy(r)?,
        None => json!({"Name": "no", "MaximumRetryCount": 0}),
    };
    if auto_remove && restart["Name"] != "no" {
        return Err(bad(
            "conflicting options: cannot specify both --restart and --rm",
        ));
    }
    host.insert("RestartPolicy".into(), restart);
    host.insert("AutoRemove".into(), json!(auto_remove));
    if let Some(d) = &o.volume_driver {
        host.insert("VolumeDriver".into(), json!(d));
    }
    if !o.volumes_from.is_empty() {
        host.insert("VolumesFrom".into(), json!(o.volumes_from));
    }
    if tty {
        if let Some((rows, cols)) = crate::term::size() {
            host.insert("ConsoleSize".into(), json!([rows, cols]));
        }
    }
    host.insert(
        "CapAdd".into(),
        if o.cap_add.is_empty() {
            Value::Null
        } else {
            json!(o.cap_add)
        },
    );
    host.insert(
        "CapDrop".into(),
        if o.cap_drop.is_empty() {
            Value::Null
        } else {
            json!(o.cap_drop)
        },
    );
    if let Some(c) = &o.cgroupns {
        host.insert("CgroupnsMode".into(), json!(c));
    }
    host.insert("Dns".into(), json!(o.dns));
    host.insert("DnsOptions".into(), json!(o.dns_option));
    host.insert("DnsSearch".into(), json!(o.dns_search));
    if !o.link.is_empty() {
        host.insert("Links".into(), json!(o.link));
    }
    host.insert(
        "ExtraHosts".into(),
        if o.add_host.is_empty() {
            Value::Null
        } else {
            json!(o.add_host)
        },
    );
    host.insert(
        "GroupAdd".into(),
        if o.group_add.is_empty() {
            Value::Null
        } else {
            json!(o.group_add)
        },
    );
    host.insert("IpcMode".into(), json!(o.ipc.clone().unwrap_or_default()));
    host.insert("OomScoreAdj".into(), json!(o.oom_score_adj.unwrap_or(0)));
    host.insert("PidMode".into(), json!(o.pid.clone().unwrap_or_default()));
    host.insert("Privileged".into(), json!(o.privileged.unwrap_or(false)));
    host.insert(
        "PublishAllPorts".into(),
        json!(o.publish_all.unwrap_or(false)),
    );
    host.insert("ReadonlyRootfs".into(), json!(o.read_only.unwrap_or(false)));
    let mut secopts = Vec::new();
    for s in &o.security_opt {
        secopts.push(security_opt(s)?);
    }
    host.insert(
        "SecurityOpt".into(),
        if secopts.is_empty() {
            Value::Null
        } else {
            json!(secopts)
        },
    );
    if !tmpfs.is_empty() {
        host.insert("Tmpfs".into(), Value::Object(tmpfs));
    }
    host.insert("UTSMode".into(), json!(o.uts.clone().unwrap_or_default()));
    host.insert(
        "UsernsMode".into(),
        json!(o.userns.clone().unwrap_or_default()),
    );
    if let Some(s) = &o.shm_size {
        host.insert("ShmSize".into(), json!(size("shm-size", s)?));
    }
    if !o.sysctl.is_empty() {
        let mut m = Map::new();
        for s in &o.sysctl {
            let (k, v) = s.split_once('=').ok_or_else(|| {
                bad(format!(
                    "invalid argument \"{s}\" for \"--sysctl\" flag: sysctl '{s}' is not allowed"
                ))
            })?;
            m.insert(k.to_string(), json!(v));
        }
        host.insert("Sysctls".into(), Value::Object(m));
    }
    if let Some(r) = &o.runtime {
        host.insert("Runtime".into(), json!(r));
    }
    if o.init.unwrap_or(false) {
        host.insert("Init".into(), json!(true));
    }
    if let Some(p) = &o.cgroup_parent {
        host.insert("CgroupParent".into(), json!(p));
    }
    resources(
        &mut host,
        o.memory.as_deref(),
        o.memory_swap.as_deref(),
        o.memory_reservation.as_deref(),
        o.cpu_shares,
        o.cpus.as_deref(),
        o.cpu_period,
        o.cpu_quota,
        o.cpuset_cpus.as_deref(),
        o.cpuset_mems.as_deref(),
        o.pids_limit,
        o.blkio_weight,
    )?;
    if let Some(s) = o.memory_swappiness {
        host.insert("MemorySwappiness".into(), json!(s));
    }
    if let Some(k) = o.oom_kill_disable {
        host.insert("OomKillDisable".into(), json!(k));
    }
    let devices: Vec<Value> = o
        .device
        .iter()
        .map(|d| parse_device(d))
        .collect::<Result<_, _>>()?;
    host.insert("Devices".into(), json!(devices));
    let ulimits: Vec<Value> = o
        .ulimit
        .iter()
        .map(|u| parse_ulimit(u))
        .collect::<Result<_, _>>()?;
    host.insert(
        "Ulimits".into(),
        if ulimits.is_empty() {
            Value::Null
        } else {
            json!(ulimits)
        },
    );
    if !mounts.is_empty() {
        host.insert("Mounts".into(), json!(mounts));
    }

    let mut body = config;
    body.insert("HostConfig".into(), Value::Object(host));
    let net_name = match network.as_str() {
        "default" | "" => None,
        n => Some(n.to_string()),
    };
    let mut endpoints = Map::new();
    if let Some(n) = net_name {
        if !o.network_alias.is_empty() || o.ip.is_some() || o.mac_address.is_some() {
            let mut ep = Map::new();
            if !o.network_alias.is_empty() {
                ep.insert("Aliases".into(), json!(o.network_alias));
            }
            if let Some(ip) = &o.ip {
                ep.insert("IPAMConfig".into(), json!({"IPv4Address": ip}));
            }
            endpoints.insert(n, Value::Object(ep));
        }
    }
    body.insert(
        "NetworkingConfig".into(),
        json!({"EndpointsConfig": endpoints}),
    );

    Ok(CreatePlan {
        image,
        body: Value::Object(body),
        name: o.name.clone(),
        platform: o.platform.clone(),
    })
}

/// `--security-opt seccomp=<file>` sends the profile's content, as Docker's CLI does.
fn security_opt(s: &str) -> Result<String, OptError> {
    let normalized = s.replacen(':', "=", if s.contains('=') { 0 } else { 1 });
    if let Some(path) = normalized.strip_prefix("seccomp=") {
        if path != "unconfined" && path != "builtin" {
            let text = std::fs::read_to_string(path).map_err(|e| {
                bad(format!(
                    "opening seccomp profile ({path}) failed: open {path}: {}",
                    io_reason(&e)
                ))
            })?;
            let v: Value = serde_json::from_str(&text).map_err(|e| {
                bad(format!(
                    "compacting json for seccomp profile ({path}) failed: {e}"
                ))
            })?;
            return Ok(format!("seccomp={v}"));
        }
    }
    Ok(normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_specs() {
        let p = parse_publish("8080:80").unwrap();
        assert_eq!(
            p,
            vec![(
                "80/tcp".to_string(),
                json!({"HostIp": "", "HostPort": "8080"})
            )]
        );
        let p = parse_publish("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(
            p,
            vec![(
                "80/udp".to_string(),
                json!({"HostIp": "127.0.0.1", "HostPort": "8080"})
            )]
        );
        let p = parse_publish("80").unwrap();
        assert_eq!(
            p,
            vec![("80/tcp".to_string(), json!({"HostIp": "", "HostPort": ""}))]
        );
        let p = parse_publish("127.0.0.1::80").unwrap();
        assert_eq!(p[0].1, json!({"HostIp": "127.0.0.1", "HostPort": ""}));
        let p = parse_publish("[::1]:8080:80").unwrap();
        assert_eq!(p[0].1, json!({"HostIp": "::1", "HostPort": "8080"}));
        let p = parse_publish("8000-8001:80-81").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(
            p[1],
            (
                "81/tcp".to_string(),
                json!({"HostIp": "", "HostPort": "8001"})
            )
        );
        assert!(parse_publish("abc").is_err());
        assert!(parse_publish("1:2:3:4").is_err());
        assert!(parse_publish("80/xyz").is_err());
    }

    #[test]
    fn restart_policies() {
        assert_eq!(
            restart_policy("on-failure:3").unwrap(),
            json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        assert_eq!(restart_policy("always").unwrap()["Name"], "always");
        assert_eq!(restart_policy("sometimes").unwrap()["Name"], "sometimes");
        assert!(restart_policy("always:3").is_err());
    }

    #[test]
    fn mounts_and_ulimits() {
        let m = parse_mount("type=bind,source=/a,target=/b,readonly").unwrap();
        assert_eq!(
            m.to_string(),
            r#"{"Type":"bind","Source":"/a","Target":"/b","ReadOnly":true}"#
        );
        let m = parse_mount("type=tmpfs,dst=/t,tmpfs-size=64m").unwrap();
        assert_eq!(m["TmpfsOptions"]["SizeBytes"], 64 * 1024 * 1024);
        assert!(parse_mount("type=bind,source=/a").is_err());
        assert_eq!(
            parse_ulimit("nofile=1024:2048").unwrap(),
            json!({"Name": "nofile", "Hard": 2048, "Soft": 1024})
        );
        assert_eq!(
            parse_ulimit("nofile=9:1").unwrap_err().0,
            "invalid argument \"nofile=9:1\" for \"--ulimit\" flag: ulimit soft limit must be less than or equal to hard limit: 9 > 1"
        );
        assert_eq!(
            size("memory", "12x").unwrap_err().0,
            "invalid argument \"12x\" for \"-m, --memory\" flag: invalid suffix: 'x'"
        );
        assert_eq!(
            parse_device("/dev/fuse").unwrap()["CgroupPermissions"],
            "rwm"
        );
        assert_eq!(
            parse_device("/dev/a:/dev/b:r").unwrap()["PathInContainer"],
            "/dev/b"
        );
    }

    #[test]
    fn env_file_parsing() {
        let dir = std::env::temp_dir().join(format!("berth-cli-envfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        struct Guard(std::path::PathBuf);
        impl Drop for Guard {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let _g = Guard(dir.clone());
        let f = dir.join("env");
        std::fs::write(
            &f,
            "# comment\n\nA=1\n  B=two words\nBERTH_SURELY_UNSET_VAR\nPATH\n",
        )
        .unwrap();
        let v = read_kv_file(f.to_str().unwrap(), true).unwrap();
        assert_eq!(v[0], "A=1");
        assert_eq!(v[1], "B=two words");
        assert!(v[2].starts_with("PATH="));
        assert_eq!(v.len(), 3);
        assert!(read_kv_file("/nonexistent/x", true)
            .unwrap_err()
            .0
            .contains("no such file or directory"));
    }
}
