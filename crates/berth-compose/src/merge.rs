//! Merging several compose files (`-f a.yml -f b.yml`) with Compose's rules, on the
//! canonical forms of [`crate::normalize`]: mappings merge key by key (later files win
//! for scalars); `command`, `entrypoint` and `healthcheck.test` are replaced whole;
//! service `volumes` merge by mount target and `secrets`/`configs` by source; other
//! lists (ports, expose, dns, cap_add, env_file, …) are appended without duplicates.

use serde_json::Value;

/// Merges `over` into `base`.
pub fn merge(base: &mut Value, over: &Value) {
    merge_at(base, over, &[]);
}

fn merge_at(base: &mut Value, over: &Value, path: &[&str]) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, ov) in o {
                let mut p = path.to_vec();
                p.push(k);
                match b.get_mut(k) {
                    Some(bv) => merge_at(bv, ov, &p),
                    None => {
                        b.insert(k.clone(), ov.clone());
                    }
                }
            }
        }
        (Value::Array(b), Value::Array(o)) => merge_list(b, o, path),
        (b, o) => *b = o.clone(),
    }
}

fn merge_list(base: &mut Vec<Value>, over: &[Value], path: &[&str]) {
    let in_service = path.len() == 3 && path[0] == "services";
    let last = path.last().copied().unwrap_or("");
    let replace = (in_service && matches!(last, "command" | "entrypoint" | "profiles"))
        || (path.len() == 4 && path[0] == "services" && path[2] == "healthcheck" && last == "test");
    if replace {
        *base = over.to_vec();
        return;
    }
    let key = match (in_service, last) {
        (true, "volumes") => Some("target"),
        (true, "secrets" | "configs") => Some("source"),
        _ => None,
    };
    for o in over {
        let slot = match key {
            Some(k) => base
                .iter()
                .position(|b| b.get(k).is_some() && b.get(k) == o.get(k)),
            None => base.iter().position(|b| b == o),
        };
        match slot {
            Some(i) => base[i] = o.clone(),
            None => base.push(o.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_merge_and_scalars_override() {
        let mut a = json!({"services": {"web": {"image": "a", "environment": {"A": "1", "B": "2"}, "labels": {"x": "1"}}}, "volumes": {"v": {}}});
        let b = json!({"services": {"web": {"image": "b", "environment": {"B": "3", "C": null}}, "db": {"image": "d"}}, "volumes": {"w": {}}});
        merge(&mut a, &b);
        assert_eq!(a["services"]["web"]["image"], json!("b"));
        assert_eq!(
            a["services"]["web"]["environment"],
            json!({"A": "1", "B": "3", "C": null})
        );
        assert_eq!(a["services"]["web"]["labels"], json!({"x": "1"}));
        assert_eq!(a["services"]["db"]["image"], json!("d"));
        assert_eq!(a["volumes"], json!({"v": {}, "w": {}}));
    }

    #[test]
    fn lists_by_rule() {
        let mut a = json!({"services": {"s": {
            "command": ["a", "b"], "healthcheck": {"test": ["CMD", "x"]},
            "ports": [{"target": 80}], "cap_add": ["NET_ADMIN"],
            "volumes": [{"type": "volume", "source": "a", "target": "/d"}, {"type": "volume", "target": "/keep"}]
        }}});
        let b = json!({"services": {"s": {
            "command": ["c"], "healthcheck": {"test": ["CMD", "y"]},
            "ports": [{"target": 80}, {"target": 81}], "cap_add": ["SYS_ADMIN", "NET_ADMIN"],
            "volumes": [{"type": "bind", "source": "/h", "target": "/d"}]
        }}});
        merge(&mut a, &b);
        let s = &a["services"]["s"];
        assert_eq!(s["command"], json!(["c"]));
        assert_eq!(s["healthcheck"]["test"], json!(["CMD", "y"]));
        assert_eq!(s["ports"], json!([{"target": 80}, {"target": 81}]));
        assert_eq!(s["cap_add"], json!(["NET_ADMIN", "SYS_ADMIN"]));
        assert_eq!(
            s["volumes"],
            json!([{"type": "bind", "source": "/h", "target": "/d"}, {"type": "volume", "target": "/keep"}])
        );
    }
}
