//! Canonical forms of one compose file, applied right after validation and before
//! files are merged: every "short syntax" becomes its long form so that merging can
//! work key by key (`environment: [A=1]` → `{A: "1"}`, `ports: ["8080:80"]` →
//! `[{target: 80, published: "8080", protocol: tcp, mode: ingress}]`, volume strings →
//! `{type, source, target, …}`, `depends_on: [db]` → `{db: {condition: service_started,
//! required: true}}`, command strings → word lists, and so on).

use serde_json::{json, Map, Value};

use crate::error::{ComposeError, Result};
use crate::shellwords;

/// Canonicalizes a validated file in place.
pub fn file(doc: &mut Value) -> Result<()> {
    let Some(root) = doc.as_object_mut() else {
        return Ok(());
    };
    for section in ["networks", "volumes", "secrets", "configs"] {
        if let Some(Value::Object(m)) = root.get_mut(section) {
            for (_, v) in m.iter_mut() {
                if v.is_null() {
                    *v = json!({});
                }
                // `external: {name: x}` is the old spelling of `external: true, name: x`.
                if let Some(obj) = v.as_object_mut() {
                    if let Some(Value::Object(ext)) = obj.get("external").cloned() {
                        obj.insert("external".into(), Value::Bool(true));
                        if let Some(n) = ext.get("name") {
                            obj.insert("name".into(), n.clone());
                        }
                    }
                    if let Some(labels) = obj.get_mut("labels") {
                        *labels = dict(labels, false);
                    }
                }
            }
        }
    }
    if let Some(Value::Object(services)) = root.get_mut("services") {
        for (name, svc) in services.iter_mut() {
            if svc.is_null() {
                *svc = json!({});
            }
            if let Some(obj) = svc.as_object_mut() {
                service(name, obj)?;
            }
        }
    }
    Ok(())
}

fn service(name: &str, s: &mut Map<String, Value>) -> Result<()> {
    for key in ["environment", "labels", "annotations", "sysctls"] {
        if let Some(v) = s.get_mut(key) {
            *v = dict(v, key == "environment");
        }
    }
    if let Some(v) = s.get_mut("extra_hosts") {
        *v = extra_hosts(v);
    }
    for key in ["command", "entrypoint"] {
        if let Some(Value::String(text)) = s.get(key) {
            let words = shellwords::split(text).ok_or_else(|| {
                ComposeError::invalid(format!(
                    "services.{name}.{key}: unterminated quote in {text:?}"
                ))
            })?;
            s.insert(key.into(), json!(words));
        }
    }
    for key in [
        "dns",
        "dns_search",
        "tmpfs",
        "dns_opt",
        "cap_add",
        "cap_drop",
    ] {
        if let Some(Value::String(one)) = s.get(key) {
            let one = one.clone();
            s.insert(key.into(), json!([one]));
        }
    }
    if let Some(v) = s.get_mut("env_file") {
        *v = env_files(v);
    }
    if let Some(Value::Array(items)) = s.get_mut("expose") {
        for item in items.iter_mut() {
            *item = Value::String(scalar_string(item));
        }
    }
    if let Some(b) = s.get_mut("build") {
        if let Value::String(ctx) = b {
            *b = json!({ "context": ctx.clone() });
        }
        if let Some(bo) = b.as_object_mut() {
            for key in ["args", "labels"] {
                if let Some(v) = bo.get_mut(key) {
                    *v = dict(v, key == "args");
                }
            }
        }
    }
    if let Some(Value::Object(hc)) = s.get_mut("healthcheck") {
        if let Some(Value::String(cmd)) = hc.get("test") {
            let cmd = cmd.clone();
            hc.insert("test".into(), json!(["CMD-SHELL", cmd]));
        }
    }
    if let Some(d) = s.get_mut("depends_on") {
        *d = depends_on(d);
    }
    if let Some(Value::Array(list)) = s.get("networks") {
        let m: Map<String, Value> = list
            .iter()
            .map(|n| (scalar_string(n), Value::Null))
            .collect();
        s.insert("networks".into(), Value::Object(m));
    }
    if let Some(Value::Array(items)) = s.get("ports") {
        let mut out = Vec::new();
        for p in items {
            out.extend(port(name, p)?);
        }
        s.insert("ports".into(), Value::Array(out));
    }
    if let Some(Value::Array(items)) = s.get("volumes") {
        let mut out = Vec::new();
        for v in items {
            out.push(volume(name, v)?);
        }
        s.insert("volumes".into(), Value::Array(out));
    }
    for key in ["secrets", "configs"] {
        if let Some(Value::Array(items)) = s.get_mut(key) {
            for item in items.iter_mut() {
                if let Value::String(src) = item {
                    *item = json!({ "source": src.clone() });
                }
            }
        }
    }
    if let Some(Value::Object(ul)) = s.get_mut("ulimits") {
        for (_, v) in ul.iter_mut() {
            if !v.is_object() {
                *v = json!({"soft": v.clone(), "hard": v.clone()});
            }
        }
    }
    Ok(())
}

/// Scalars as Compose prints them in string contexts.
pub fn scalar_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `list_or_dict` → mapping. With `nullable`, `KEY` alone maps to null (environment:
/// the value comes from the shell later); otherwise to "".
pub fn dict(v: &Value, nullable: bool) -> Value {
    let mut out = Map::new();
    match v {
        Value::Array(items) => {
            for item in items {
                let s = scalar_string(item);
                match s.split_once('=') {
                    Some((k, val)) => out.insert(k.to_string(), Value::String(val.to_string())),
                    None if nullable => out.insert(s, Value::Null),
                    None => out.insert(s, Value::String(String::new())),
                };
            }
        }
        Value::Object(m) => {
            for (k, val) in m {
                let val = match val {
                    Value::Null if nullable => Value::Null,
                    other => Value::String(scalar_string(other)),
                };
                out.insert(k.clone(), val);
            }
        }
        _ => return v.clone(),
    }
    Value::Object(out)
}

/// `extra_hosts` → `["host:ip", …]` (list or mapping input, `=` or `:` separators).
fn extra_hosts(v: &Value) -> Value {
    let mut out = Vec::new();
    match v {
        Value::Array(items) => {
            for item in items {
                let s = scalar_string(item);
                let entry = match s.split_once('=') {
                    Some((h, ip)) => format!("{h}:{ip}"),
                    None => s,
                };
                out.push(Value::String(entry));
            }
        }
        Value::Object(m) => {
            for (h, ips) in m {
                match ips {
                    Value::Array(list) => {
                        for ip in list {
                            out.push(Value::String(format!("{h}:{}", scalar_string(ip))));
                        }
                    }
                    other => out.push(Value::String(format!("{h}:{}", scalar_string(other)))),
                }
            }
        }
        _ => return v.clone(),
    }
    Value::Array(out)
}

fn env_files(v: &Value) -> Value {
    let one = |x: &Value| match x {
        Value::String(p) => json!({"path": p, "required": true}),
        Value::Object(o) => {
            let mut o = o.clone();
            o.entry("required").or_insert(Value::Bool(true));
            Value::Object(o)
        }
        other => other.clone(),
    };
    match v {
        Value::Array(items) => Value::Array(items.iter().map(one).collect()),
        other => Value::Array(vec![one(other)]),
    }
}

fn depends_on(v: &Value) -> Value {
    let mut out = Map::new();
    match v {
        Value::Array(items) => {
            for s in items {
                out.insert(
                    scalar_string(s),
                    json!({"condition": "service_started", "required": true}),
                );
            }
        }
        Value::Object(m) => {
            for (k, d) in m {
                let mut d = d.as_object().cloned().unwrap_or_default();
                d.entry("condition")
                    .or_insert(Value::String("service_started".into()));
                d.entry("required").or_insert(Value::Bool(true));
                out.insert(k.clone(), Value::Object(d));
            }
        }
        _ => return v.clone(),
    }
    Value::Object(out)
}

fn bad_port(service: &str, spec: &str) -> ComposeError {
    ComposeError::invalid(format!(
        "services.{service}.ports: invalid port specification: {spec:?}"
    ))
}

fn parse_range(service: &str, spec: &str, s: &str) -> Result<(u32, u32)> {
    let num = |x: &str| {
        x.parse::<u32>()
            .ok()
            .filter(|p| *p <= 65535)
            .ok_or_else(|| bad_port(service, spec))
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if b < a {
                return Err(bad_port(service, spec));
            }
            Ok((a, b))
        }
        None => {
            let a = num(s)?;
            Ok((a, a))
        }
    }
}

/// One `ports` entry → long forms (ranges expand to one entry per port).
fn port(service: &str, v: &Value) -> Result<Vec<Value>> {
    let spec = match v {
        Value::Object(o) => {
            let mut o = o.clone();
            if let Some(p) = o.get("published").cloned() {
                o.insert("published".into(), Value::String(scalar_string(&p)));
            }
            if let Some(Value::String(t)) = o.get("target").cloned() {
                let n: u64 = t.parse().map_err(|_| bad_port(service, &t))?;
                o.insert("target".into(), json!(n));
            }
            o.entry("protocol").or_insert(json!("tcp"));
            o.entry("mode").or_insert(json!("ingress"));
            return Ok(vec![Value::Object(o)]);
        }
        other => scalar_string(other),
    };
    let (body, protocol) = match spec.rsplit_once('/') {
        Some((b, p)) => (b, p),
        None => (spec.as_str(), "tcp"),
    };
    // Host IP: `1.2.3.4:8080:80` or `[::1]:8080:80`.
    let (host_ip, rest) = if let Some(r) = body.strip_prefix('[') {
        let (ip, after) = r.split_once("]:").ok_or_else(|| bad_port(service, &spec))?;
        (Some(ip.to_string()), after)
    } else {
        let parts: Vec<&str> = body.split(':').collect();
        match parts.len() {
            3 => (Some(parts[0].to_string()), &body[parts[0].len() + 1..]),
            1 | 2 => (None, body),
            _ => return Err(bad_port(service, &spec)),
        }
    };
    let (published, target) = match rest.split_once(':') {
        Some((p, t)) => (Some(p), t),
        None => (None, rest),
    };
    let (t0, t1) = parse_range(service, &spec, target)?;
    let published = published.filter(|p| !p.is_empty());
    let host_ip = host_ip.filter(|h| !h.is_empty());
    let mut out = Vec::new();
    let entry = |t: u32, p: Option<String>| {
        let mut o = Map::new();
        o.insert("mode".into(), json!("ingress"));
        if let Some(ip) = &host_ip {
            o.insert("host_ip".into(), json!(ip));
        }
        o.insert("target".into(), json!(t));
        if let Some(p) = p {
            o.insert("published".into(), json!(p));
        }
        o.insert("protocol".into(), json!(protocol));
        Value::Object(o)
    };
    match published {
        None => (t0..=t1).for_each(|t| out.push(entry(t, None))),
        Some(p) => {
            let (p0, p1) = parse_range(service, &spec, p)?;
            if t0 == t1 {
                out.push(entry(t0, Some(p.to_string())));
            } else if p1 - p0 == t1 - t0 {
                for i in 0..=(t1 - t0) {
                    out.push(entry(t0 + i, Some((p0 + i).to_string())));
                }
            } else {
                return Err(bad_port(service, &spec));
            }
        }
    }
    Ok(out)
}

/// One `volumes` entry → long form.
fn volume(service: &str, v: &Value) -> Result<Value> {
    let spec = match v {
        Value::Object(o) => return Ok(Value::Object(o.clone())),
        other => scalar_string(other),
    };
    let bad = || {
        ComposeError::invalid(format!(
            "services.{service}.volumes: invalid volume specification: {spec:?}"
        ))
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [t] => (None, *t, None),
        [s, t] => (Some(*s), *t, None),
        [s, t, m] => (Some(*s), *t, Some(*m)),
        _ => return Err(bad()),
    };
    if target.is_empty() || source == Some("") {
        return Err(bad());
    }
    let mut o = Map::new();
    let is_path = |s: &str| s.starts_with(['/', '.', '~']);
    match source {
        None => {
            o.insert("type".into(), json!("volume"));
        }
        Some(s) if is_path(s) => {
            o.insert("type".into(), json!("bind"));
            o.insert("source".into(), json!(s));
        }
        Some(s) => {
            o.insert("type".into(), json!("volume"));
            o.insert("source".into(), json!(s));
        }
    }
    o.insert("target".into(), json!(target));
    let mut bind = Map::new();
    let mut vol = Map::new();
    for m in mode.unwrap_or("").split(',').filter(|m| !m.is_empty()) {
        match m {
            "ro" => {
                o.insert("read_only".into(), json!(true));
            }
            "rw" => {}
            "nocopy" => {
                vol.insert("nocopy".into(), json!(true));
            }
            "z" | "Z" => {
                bind.insert("selinux".into(), json!(m));
            }
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                bind.insert("propagation".into(), json!(m));
            }
            _ => return Err(bad()),
        }
    }
    if o.get("type") == Some(&json!("bind")) {
        bind.insert("create_host_path".into(), json!(true));
        o.insert("bind".into(), Value::Object(bind));
    } else if !vol.is_empty() {
        o.insert("volume".into(), Value::Object(vol));
    }
    Ok(Value::Object(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(svc: Value) -> Value {
        let mut doc = json!({"services": {"s": svc}});
        file(&mut doc).unwrap();
        doc["services"]["s"].clone()
    }

    #[test]
    fn dicts_from_lists_and_maps() {
        let s = norm(json!({
            "environment": ["A=1", "B", "C=x=y"],
            "labels": {"n": 1, "b": true, "e": null},
            "sysctls": ["net.core.somaxconn=1024"],
            "build": {"context": ".", "args": ["V=2"]}
        }));
        assert_eq!(s["environment"], json!({"A": "1", "B": null, "C": "x=y"}));
        assert_eq!(s["labels"], json!({"n": "1", "b": "true", "e": ""}));
        assert_eq!(s["sysctls"], json!({"net.core.somaxconn": "1024"}));
        assert_eq!(s["build"]["args"], json!({"V": "2"}));
        assert_eq!(
            norm(json!({"build": "./app"}))["build"],
            json!({"context": "./app"})
        );
    }

    #[test]
    fn commands_healthchecks_depends_networks() {
        let s = norm(json!({
            "command": "sh -c 'echo hi; sleep 1'",
            "healthcheck": {"test": "nc -z localhost 80"},
            "depends_on": ["db"],
            "networks": ["front", "back"],
            "dns": "1.1.1.1",
            "ulimits": {"nofile": 1024, "nproc": {"soft": 1, "hard": 2}},
            "extra_hosts": {"h": "1.2.3.4"}
        }));
        assert_eq!(s["command"], json!(["sh", "-c", "echo hi; sleep 1"]));
        assert_eq!(
            s["healthcheck"]["test"],
            json!(["CMD-SHELL", "nc -z localhost 80"])
        );
        assert_eq!(
            s["depends_on"],
            json!({"db": {"condition": "service_started", "required": true}})
        );
        assert_eq!(s["networks"], json!({"front": null, "back": null}));
        assert_eq!(s["dns"], json!(["1.1.1.1"]));
        assert_eq!(s["ulimits"]["nofile"], json!({"soft": 1024, "hard": 1024}));
        assert_eq!(s["ulimits"]["nproc"], json!({"soft": 1, "hard": 2}));
        assert_eq!(s["extra_hosts"], json!(["h:1.2.3.4"]));
        let s = norm(json!({"depends_on": {"db": {"condition": "service_healthy"}}}));
        assert_eq!(
            s["depends_on"]["db"],
            json!({"condition": "service_healthy", "required": true})
        );
    }

    #[test]
    fn port_short_syntax() {
        let s = norm(
            json!({"ports": [80, "8080:80", "127.0.0.1:9000:90/udp", "[::1]:53:53", "7000-7001:70-71", "3000-3001", {"target": 5, "published": 6}]}),
        );
        let p = s["ports"].as_array().unwrap();
        assert_eq!(
            p[0],
            json!({"mode": "ingress", "target": 80, "protocol": "tcp"})
        );
        assert_eq!(
            p[1],
            json!({"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"})
        );
        assert_eq!(
            p[2],
            json!({"mode": "ingress", "host_ip": "127.0.0.1", "target": 90, "published": "9000", "protocol": "udp"})
        );
        assert_eq!(p[3]["host_ip"], json!("::1"));
        assert_eq!(
            (p[4]["target"].clone(), p[4]["published"].clone()),
            (json!(70), json!("7000"))
        );
        assert_eq!(
            (p[5]["target"].clone(), p[5]["published"].clone()),
            (json!(71), json!("7001"))
        );
        assert_eq!(
            (p[6]["target"].clone(), p[7]["target"].clone()),
            (json!(3000), json!(3001))
        );
        assert_eq!(p[8]["published"], json!("6"));
        assert_eq!(p.len(), 9);
        let mut bad = json!({"services": {"s": {"ports": ["1:2:3:4"]}}});
        assert!(file(&mut bad)
            .unwrap_err()
            .to_string()
            .contains("invalid port"));
        let mut bad = json!({"services": {"s": {"ports": ["70000:80"]}}});
        assert!(file(&mut bad).is_err());
    }

    #[test]
    fn volume_short_syntax() {
        let s = norm(
            json!({"volumes": ["/anon", "data:/data:ro", "./src:/src", "/h:/c:rw,rslave", "v:/n:nocopy"]}),
        );
        let v = s["volumes"].as_array().unwrap();
        assert_eq!(v[0], json!({"type": "volume", "target": "/anon"}));
        assert_eq!(
            v[1],
            json!({"type": "volume", "source": "data", "target": "/data", "read_only": true})
        );
        assert_eq!(
            v[2],
            json!({"type": "bind", "source": "./src", "target": "/src", "bind": {"create_host_path": true}})
        );
        assert_eq!(v[3]["bind"]["propagation"], json!("rslave"));
        assert_eq!(v[4]["volume"], json!({"nocopy": true}));
        let mut bad = json!({"services": {"s": {"volumes": ["a:/b:bogus"]}}});
        assert!(file(&mut bad)
            .unwrap_err()
            .to_string()
            .contains("invalid volume"));
    }

    #[test]
    fn top_level_sections() {
        let mut doc = json!({"networks": {"a": null, "b": {"external": {"name": "real"}}}, "volumes": {"v": null}});
        file(&mut doc).unwrap();
        assert_eq!(doc["networks"]["a"], json!({}));
        assert_eq!(
            doc["networks"]["b"],
            json!({"external": true, "name": "real"})
        );
        assert_eq!(doc["volumes"]["v"], json!({}));
    }
}
