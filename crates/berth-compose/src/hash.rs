//! The config hash stored in `com.docker.compose.config-hash`: SHA-256 (hex) of the
//! service's canonical JSON with object keys sorted, leaving out what does not
//! change the container (`build`, `pull_policy`, `scale`, `deploy.replicas`,
//! `depends_on`, `profiles`) — as Docker Compose leaves them out. Equal hashes mean
//! the container is up to date; `up` recreates a container only when they differ.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::Service;

/// The hash of a service's configuration.
pub fn service_hash(s: &Service) -> String {
    let mut v = s.raw.clone();
    if let Some(o) = v.as_object_mut() {
        for k in ["build", "pull_policy", "scale", "depends_on", "profiles"] {
            o.remove(k);
        }
        if let Some(Value::Object(d)) = o.get_mut("deploy") {
            d.remove("replicas");
            if d.is_empty() {
                o.remove("deploy");
            }
        }
    }
    let mut out = String::new();
    canonical(&v, &mut out);
    hex::encode(Sha256::digest(out.as_bytes()))
}

/// JSON with sorted keys and no whitespace.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(raw: Value) -> Service {
        Service {
            raw,
            ..Default::default()
        }
    }

    #[test]
    fn key_order_does_not_matter() {
        let a = svc(json!({"image": "x", "environment": {"A": "1", "B": "2"}}));
        let b = svc(json!({"environment": {"B": "2", "A": "1"}, "image": "x"}));
        assert_eq!(service_hash(&a), service_hash(&b));
        assert_eq!(service_hash(&a).len(), 64);
    }

    #[test]
    fn relevant_changes_change_the_hash_and_others_do_not() {
        let base = json!({"image": "x", "command": ["a"], "deploy": {"replicas": 1}});
        let h = service_hash(&svc(base.clone()));
        let mut changed = base.clone();
        changed["command"] = json!(["b"]);
        assert_ne!(h, service_hash(&svc(changed)));
        let mut scaled = base.clone();
        scaled["deploy"]["replicas"] = json!(3);
        scaled["scale"] = json!(3);
        scaled["depends_on"] = json!({"db": {"condition": "service_started"}});
        scaled["build"] = json!({"context": "/x"});
        assert_eq!(h, service_hash(&svc(scaled)));
        assert_eq!(
            service_hash(&svc(json!({"image": "x", "command": ["a"]}))),
            h,
            "an emptied deploy section counts as absent"
        );
    }
}
