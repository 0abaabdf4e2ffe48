//! Service → Docker Engine API bodies: the `POST /containers/create` body of one
//! replica, with the labels Docker Compose writes, and the bodies of the project's
//! networks and volumes. Pure; the executor sends them.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::labels;
use crate::model::{Mount, NetworkConfig, Project, Service, VolumeConfig};
use crate::units::duration_ns;

/// What varies per container beyond the service.
#[derive(Debug, Clone, Default)]
pub struct ContainerCtx {
    pub number: i64,
    pub oneoff: bool,
    pub config_hash: String,
    /// Image id the container is created from (recorded as a label).
    pub image_id: Option<String>,
    /// `network_mode: service:x` resolved to a container id.
    pub network_container: Option<String>,
    /// Anonymous volumes (name, target) of the container being replaced: a recreated
    /// container keeps their data, as Docker Compose does.
    pub inherited_volumes: Vec<(String, String)>,
}

/// The networks a service joins, primary first (higher `priority`, then name).
pub fn service_networks(s: &Service) -> Vec<String> {
    let mut nets: Vec<(&String, i64)> = s
        .networks
        .iter()
        .map(|(k, v)| (k, v.as_ref().and_then(|n| n.priority).unwrap_or(0)))
        .collect();
    nets.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    nets.into_iter().map(|(k, _)| k.clone()).collect()
}

/// The endpoint settings for `net` (a key of the service's networks).
pub fn endpoint_config(s: &Service, net: &str) -> Value {
    let mut aliases = vec![s.name.clone()];
    let mut ep = Map::new();
    if let Some(Some(n)) = s.networks.get(net) {
        aliases.extend(n.aliases.iter().cloned());
        let mut ipam = Map::new();
        if let Some(ip) = &n.ipv4_address {
            ipam.insert("IPv4Address".into(), json!(ip));
        }
        if let Some(ip) = &n.ipv6_address {
            ipam.insert("IPv6Address".into(), json!(ip));
        }
        if !ipam.is_empty() {
            ep.insert("IPAMConfig".into(), Value::Object(ipam));
        }
    }
    ep.insert("Aliases".into(), json!(aliases));
    Value::Object(ep)
}

fn restart_policy(s: &Service) -> Value {
    let (name, max) = match s.restart.as_deref() {
        Some(r) => match r.split_once(':') {
            Some((n, m)) => (n.to_string(), m.parse::<i64>().unwrap_or(0)),
            None => (r.to_string(), 0),
        },
        None => match s.deploy.as_ref().and_then(|d| d.restart_policy.as_ref()) {
            Some(rp) => {
                let n = match rp.condition.as_deref() {
                    Some("none") => "no",
                    Some("on-failure") => "on-failure",
                    _ => "always",
                };
                (n.to_string(), rp.max_attempts.unwrap_or(0))
            }
            None => ("no".to_string(), 0),
        },
    };
    json!({"Name": name, "MaximumRetryCount": max})
}

fn healthcheck(s: &Service) -> Option<Value> {
    let h = s.healthcheck.as_ref()?;
    let mut o = Map::new();
    if h.disable {
        o.insert("Test".into(), json!(["NONE"]));
        return Some(Value::Object(o));
    }
    if let Some(t) = &h.test {
        o.insert("Test".into(), json!(t));
    }
    let dur = |v: &Option<String>| v.as_deref().and_then(duration_ns);
    for (key, v) in [
        ("Interval", dur(&h.interval)),
        ("Timeout", dur(&h.timeout)),
        ("StartPeriod", dur(&h.start_period)),
        ("StartInterval", dur(&h.start_interval)),
    ] {
        if let Some(ns) = v {
            o.insert(key.into(), json!(ns));
        }
    }
    if let Some(r) = h.retries {
        o.insert("Retries".into(), json!(r));
    }
    Some(Value::Object(o))
}

fn port_key(target: u16, proto: Option<&str>) -> String {
    format!("{target}/{}", proto.unwrap_or("tcp"))
}

/// Labels of a service's containers.
pub fn container_labels(p: &Project, s: &Service, ctx: &ContainerCtx) -> Map<String, Value> {
    let mut l = Map::new();
    for (k, v) in &s.labels {
        l.insert(k.clone(), json!(v));
    }
    let files: Vec<String> = p
        .config_files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    let deps: Vec<String> = s
        .depends_on
        .iter()
        .map(|(k, d)| format!("{k}:{}:{}", d.condition, d.restart))
        .collect();
    for (k, v) in [
        (labels::PROJECT, p.name.clone()),
        (labels::SERVICE, s.name.clone()),
        (labels::NUMBER, ctx.number.to_string()),
        (
            labels::ONEOFF,
            if ctx.oneoff { "True" } else { "False" }.to_string(),
        ),
        (labels::CONFIG_HASH, ctx.config_hash.clone()),
        (labels::WORKING_DIR, p.working_dir.display().to_string()),
        (labels::CONFIG_FILES, files.join(",")),
        (labels::VERSION, labels::COMPOSE_VERSION.to_string()),
        (labels::DEPENDS_ON, deps.join(",")),
    ] {
        l.insert(k.into(), json!(v));
    }
    if let Some(img) = &ctx.image_id {
        l.insert(labels::IMAGE.into(), json!(img));
    }
    l
}

fn mount(
    p: &Project,
    m: &Mount,
    binds: &mut Vec<String>,
    mounts: &mut Vec<Value>,
    anon: &mut Map<String, Value>,
) {
    match m.kind.as_str() {
        "volume" => match &m.source {
            None => {
                anon.insert(m.target.clone(), json!({}));
            }
            Some(src) => {
                let name = p
                    .volumes
                    .get(src)
                    .map(|v| v.name.clone())
                    .unwrap_or_else(|| src.clone());
                let mut o = json!({"Type": "volume", "Source": name, "Target": m.target, "ReadOnly": m.read_only});
                if m.volume.as_ref().is_some_and(|v| v.nocopy) {
                    o["VolumeOptions"] = json!({"NoCopy": true});
                }
                mounts.push(o);
            }
        },
        "bind" => {
            let src = m.source.clone().unwrap_or_default();
            let create = m
                .bind
                .as_ref()
                .and_then(|b| b.create_host_path)
                .unwrap_or(false);
            let prop = m.bind.as_ref().and_then(|b| b.propagation.clone());
            if create {
                // Binds create a missing host path, as the short syntax promises.
                let mut opts: Vec<String> = Vec::new();
                if m.read_only {
                    opts.push("ro".into());
                }
                if let Some(pr) = prop {
                    opts.push(pr);
                }
                let mut b = format!("{src}:{}", m.target);
                if !opts.is_empty() {
                    b.push(':');
                    b.push_str(&opts.join(","));
                }
                binds.push(b);
            } else {
                let mut o = json!({"Type": "bind", "Source": src, "Target": m.target, "ReadOnly": m.read_only});
                if let Some(pr) = prop {
                    o["BindOptions"] = json!({"Propagation": pr});
                }
                mounts.push(o);
            }
        }
        "tmpfs" => {
            let mut o = json!({"Type": "tmpfs", "Target": m.target, "ReadOnly": m.read_only});
            if let Some(t) = &m.tmpfs {
                let mut to = Map::new();
                if let Some(size) = &t.size {
                    let bytes = match size {
                        Value::String(s) => crate::units::ram_in_bytes(s),
                        other => other.as_i64(),
                    };
                    if let Some(b) = bytes {
                        to.insert("SizeBytes".into(), json!(b));
                    }
                }
                if let Some(mode) = t.mode.as_ref().and_then(Value::as_i64) {
                    to.insert("Mode".into(), json!(mode));
                }
                o["TmpfsOptions"] = Value::Object(to);
            }
            mounts.push(o);
        }
        other => mounts.push(
            json!({"Type": other, "Source": m.source, "Target": m.target, "ReadOnly": m.read_only}),
        ),
    }
}

fn device(v: &Value) -> Value {
    match v {
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            let host = parts.first().copied().unwrap_or("");
            let cont = parts.get(1).copied().unwrap_or(host);
            let perms = parts.get(2).copied().unwrap_or("rwm");
            json!({"PathOnHost": host, "PathInContainer": cont, "CgroupPermissions": perms})
        }
        Value::Object(o) => json!({
            "PathOnHost": o.get("source").cloned().unwrap_or(Value::Null),
            "PathInContainer": o.get("target").or(o.get("source")).cloned().unwrap_or(Value::Null),
            "CgroupPermissions": o.get("permissions").cloned().unwrap_or(json!("rwm")),
        }),
        other => other.clone(),
    }
}

/// The create body of one container of `s`.
pub fn create_body(p: &Project, s: &Service, ctx: &ContainerCtx) -> Value {
    let mut env: Vec<String> = s
        .environment
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
    env.sort();
    let mut exposed = Map::new();
    let mut bindings: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in &s.expose {
        let key = if e.contains('/') {
            e.clone()
        } else {
            format!("{e}/tcp")
        };
        exposed.insert(key, json!({}));
    }
    for port in &s.ports {
        let key = port_key(port.target, port.protocol.as_deref());
        exposed.insert(key.clone(), json!({}));
        bindings.entry(key).or_default().push(json!({
            "HostIp": port.host_ip.clone().unwrap_or_default(),
            "HostPort": port.published.clone().unwrap_or_default(),
        }));
    }
    let mut binds = Vec::new();
    let mut mounts = Vec::new();
    let mut anon = Map::new();
    for m in &s.volumes {
        mount(p, m, &mut binds, &mut mounts, &mut anon);
    }
    for (uses, defined, dir) in [
        (&s.secrets, &p.secrets, "/run/secrets/"),
        (&s.configs, &p.configs, "/"),
    ] {
        for u in uses {
            let Some(file) = defined.get(&u.source).and_then(|o| o.file.clone()) else {
                continue;
            };
            let target = match &u.target {
                Some(t) if t.starts_with('/') => t.clone(),
                Some(t) => format!("{dir}{t}"),
                None => format!("{dir}{}", u.source),
            };
            mounts
                .push(json!({"Type": "bind", "Source": file, "Target": target, "ReadOnly": true}));
        }
    }
    for (name, target) in &ctx.inherited_volumes {
        let taken = mounts.iter().any(|m| m["Target"] == json!(target))
            || binds
                .iter()
                .any(|b| b.split(':').nth(1) == Some(target.as_str()));
        if !taken {
            anon.remove(target);
            mounts.push(
                json!({"Type": "volume", "Source": name, "Target": target, "ReadOnly": false}),
            );
        }
    }
    let mut tmpfs = Map::new();
    for t in &s.tmpfs {
        let (path, opts) = t.split_once(':').unwrap_or((t, ""));
        tmpfs.insert(path.to_string(), json!(opts));
    }
    let limits = s
        .deploy
        .as_ref()
        .and_then(|d| d.resources.as_ref())
        .and_then(|r| r.limits.as_ref());
    let reservations = s
        .deploy
        .as_ref()
        .and_then(|d| d.resources.as_ref())
        .and_then(|r| r.reservations.as_ref());
    let memory = s.mem_limit.or(limits.and_then(|l| l.memory)).unwrap_or(0);
    let cpus = s.cpus.or(limits.and_then(|l| l.cpus)).unwrap_or(0.0);
    let pids = s.pids_limit.or(limits.and_then(|l| l.pids));
    let reservation = s.mem_reservation.or(reservations.and_then(|r| r.memory));

    let nets = service_networks(s);
    let network_mode = match (&s.network_mode, &ctx.network_container) {
        (Some(m), Some(id)) if m.starts_with("service:") => format!("container:{id}"),
        (Some(m), _) => m.clone(),
        (None, _) => nets
            .first()
            .and_then(|n| p.networks.get(n))
            .map(|n| n.name.clone())
            .unwrap_or_else(|| "default".into()),
    };
    let mut endpoints = Map::new();
    if s.network_mode.is_none() {
        if let Some(first) = nets.first() {
            if let Some(cfg) = p.networks.get(first) {
                endpoints.insert(cfg.name.clone(), endpoint_config(s, first));
            }
        }
    }
    let ulimits: Vec<Value> = s
        .ulimits
        .iter()
        .map(|(k, u)| json!({"Name": k, "Soft": u.soft, "Hard": u.hard}))
        .collect();
    let stop_timeout = s
        .stop_grace_period
        .as_deref()
        .and_then(duration_ns)
        .map(|ns| ns / 1_000_000_000);

    let mut config = Map::new();
    let put = |m: &mut Map<String, Value>, k: &str, v: Value| {
        if !v.is_null() {
            m.insert(k.to_string(), v);
        }
    };
    put(
        &mut config,
        "Hostname",
        json!(s.hostname.clone().unwrap_or_default()),
    );
    put(
        &mut config,
        "Domainname",
        json!(s.domainname.clone().unwrap_or_default()),
    );
    put(
        &mut config,
        "User",
        json!(s.user.clone().unwrap_or_default()),
    );
    put(&mut config, "AttachStdin", json!(false));
    put(&mut config, "AttachStdout", json!(false));
    put(&mut config, "AttachStderr", json!(false));
    put(&mut config, "ExposedPorts", Value::Object(exposed));
    put(&mut config, "Tty", json!(s.tty));
    put(&mut config, "OpenStdin", json!(s.stdin_open));
    put(&mut config, "StdinOnce", json!(false));
    put(&mut config, "Env", json!(env));
    put(&mut config, "Cmd", json!(s.command));
    put(&mut config, "Entrypoint", json!(s.entrypoint));
    put(&mut config, "Image", json!(s.image_name(&p.name)));
    put(&mut config, "Volumes", Value::Object(anon));
    put(
        &mut config,
        "WorkingDir",
        json!(s.working_dir.clone().unwrap_or_default()),
    );
    put(
        &mut config,
        "Labels",
        Value::Object(container_labels(p, s, ctx)),
    );
    put(
        &mut config,
        "Healthcheck",
        healthcheck(s).unwrap_or(Value::Null),
    );
    put(&mut config, "StopSignal", json!(s.stop_signal));
    put(&mut config, "StopTimeout", json!(stop_timeout));
    put(&mut config, "MacAddress", json!(s.mac_address));

    let mut host = Map::new();
    put(&mut host, "Binds", json!(binds));
    put(&mut host, "Mounts", json!(mounts));
    put(&mut host, "NetworkMode", json!(network_mode));
    put(&mut host, "PortBindings", json!(bindings));
    put(&mut host, "RestartPolicy", restart_policy(s));
    put(&mut host, "Init", json!(s.init));
    put(&mut host, "ReadonlyRootfs", json!(s.read_only));
    put(&mut host, "Privileged", json!(s.privileged));
    put(&mut host, "CapAdd", json!(s.cap_add));
    put(&mut host, "CapDrop", json!(s.cap_drop));
    put(&mut host, "Tmpfs", Value::Object(tmpfs));
    put(&mut host, "Ulimits", json!(ulimits));
    put(&mut host, "Memory", json!(memory));
    put(
        &mut host,
        "MemoryReservation",
        json!(reservation.unwrap_or(0)),
    );
    put(&mut host, "MemorySwap", json!(s.memswap_limit.unwrap_or(0)));
    put(&mut host, "NanoCpus", json!((cpus * 1e9).round() as i64));
    put(&mut host, "CpuShares", json!(s.cpu_shares.unwrap_or(0)));
    put(&mut host, "PidsLimit", json!(pids));
    put(
        &mut host,
        "OomScoreAdj",
        json!(s.oom_score_adj.unwrap_or(0)),
    );
    put(&mut host, "Dns", json!(s.dns));
    put(&mut host, "DnsSearch", json!(s.dns_search));
    put(&mut host, "DnsOptions", json!(s.dns_opt));
    put(&mut host, "ExtraHosts", json!(s.extra_hosts));
    put(&mut host, "Sysctls", json!(s.sysctls));
    put(&mut host, "SecurityOpt", json!(s.security_opt));
    put(
        &mut host,
        "GroupAdd",
        json!(s
            .group_add
            .iter()
            .map(crate::normalize::scalar_string)
            .collect::<Vec<_>>()),
    );
    put(
        &mut host,
        "Devices",
        json!(s.devices.iter().map(device).collect::<Vec<_>>()),
    );
    put(&mut host, "ShmSize", json!(s.shm_size));
    put(
        &mut host,
        "PidMode",
        json!(s.pid.clone().unwrap_or_default()),
    );
    put(
        &mut host,
        "IpcMode",
        json!(s.ipc.clone().unwrap_or_default()),
    );
    if let Some(l) = &s.logging {
        put(
            &mut host,
            "LogConfig",
            json!({"Type": l.driver.clone().unwrap_or_default(), "Config": l.options}),
        );
    }

    json!({
        "Config": Value::Object(config),
        "HostConfig": Value::Object(host),
        "NetworkingConfig": {"EndpointsConfig": endpoints},
    })
}

/// The create body flattened the way the API takes it (`Config` fields at the top
/// level beside `HostConfig` and `NetworkingConfig`).
pub fn create_request(p: &Project, s: &Service, ctx: &ContainerCtx) -> Value {
    let body = create_body(p, s, ctx);
    let mut out = body["Config"].as_object().cloned().unwrap_or_default();
    out.insert("HostConfig".into(), body["HostConfig"].clone());
    out.insert("NetworkingConfig".into(), body["NetworkingConfig"].clone());
    Value::Object(out)
}

/// `POST /networks/create` body for a project network.
pub fn network_request(p: &Project, key: &str, n: &NetworkConfig) -> Value {
    let mut labels: Map<String, Value> = n
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    labels.insert(labels::NETWORK.into(), json!(key));
    labels.insert(labels::PROJECT.into(), json!(p.name));
    labels.insert(labels::VERSION.into(), json!(labels::COMPOSE_VERSION));
    let mut body = json!({
        "Name": n.name,
        "CheckDuplicate": true,
        "Driver": n.driver.clone().unwrap_or_else(|| "bridge".into()),
        "Internal": n.internal,
        "Attachable": n.attachable,
        "Options": n.driver_opts,
        "Labels": labels,
    });
    if let Some(v6) = n.enable_ipv6 {
        body["EnableIPv6"] = json!(v6);
    }
    if let Some(ipam) = &n.ipam {
        let config: Vec<Value> = ipam
            .get("config")
            .and_then(Value::as_array)
            .map(|c| {
                c.iter()
                    .map(|e| {
                        let mut o = Map::new();
                        for (from, to) in [
                            ("subnet", "Subnet"),
                            ("gateway", "Gateway"),
                            ("ip_range", "IPRange"),
                        ] {
                            if let Some(v) = e.get(from) {
                                o.insert(to.into(), v.clone());
                            }
                        }
                        Value::Object(o)
                    })
                    .collect()
            })
            .unwrap_or_default();
        body["IPAM"] = json!({
            "Driver": ipam.get("driver").cloned().unwrap_or(json!("default")),
            "Config": config,
            "Options": ipam.get("options").cloned().unwrap_or(json!({})),
        });
    }
    body
}

/// `POST /volumes/create` body for a project volume.
pub fn volume_request(p: &Project, key: &str, v: &VolumeConfig) -> Value {
    let mut labels: Map<String, Value> = v
        .labels
        .iter()
        .map(|(k, x)| (k.clone(), json!(x)))
        .collect();
    labels.insert(labels::VOLUME.into(), json!(key));
    labels.insert(labels::PROJECT.into(), json!(p.name));
    labels.insert(labels::VERSION.into(), json!(labels::COMPOSE_VERSION));
    json!({
        "Name": v.name,
        "Driver": v.driver.clone().unwrap_or_else(|| "local".into()),
        "DriverOpts": v.driver_opts,
        "Labels": labels,
    })
}

#[cfg(test)]
mod tests;
