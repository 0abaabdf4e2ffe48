//! `extends`: a service built on another one, from the same file or another file
//! (`extends: {file: common.yml, service: base}` or `extends: base`). The base is
//! resolved first (it may extend further; cycles are refused), then the service's own
//! keys are merged over it with the usual merge rules. Relative paths of a base from
//! another directory are made absolute against that file's directory, so they keep
//! pointing where its author meant.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::error::{ComposeError, Result};
use crate::interp::Interpolator;
use crate::{merge, normalize, schema, yaml};

/// Resolves every `extends` of a canonicalized file in place (`file` is its path,
/// `lookup` gives the interpolation variables).
pub fn resolve(
    doc: &mut Value,
    file: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<()> {
    let names: Vec<String> = doc
        .get("services")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let snapshot = doc.clone();
    for name in names {
        let mut stack = Vec::new();
        let resolved = service(&snapshot, file, &name, lookup, &mut stack)?;
        doc["services"][&name] = resolved;
    }
    Ok(())
}

fn read_file(path: &Path, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|source| ComposeError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let shown = path.display().to_string();
    let mut doc = yaml::parse(&shown, &text)?;
    Interpolator::new(lookup).value(&mut doc, "")?;
    schema::validate(&doc).map_err(|message| ComposeError::Schema {
        file: shown,
        message,
    })?;
    normalize::file(&mut doc)?;
    Ok(doc)
}

fn service(
    doc: &Value,
    file: &Path,
    name: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    stack: &mut Vec<(PathBuf, String)>,
) -> Result<Value> {
    let key = (file.to_path_buf(), name.to_string());
    if stack.contains(&key) {
        let chain: Vec<String> = stack.iter().map(|(_, s)| s.clone()).collect();
        return Err(ComposeError::invalid(format!(
            "circular reference with extends: {} -> {name}",
            chain.join(" -> ")
        )));
    }
    let mut local = doc
        .get("services")
        .and_then(|s| s.get(name))
        .cloned()
        .ok_or_else(|| {
            ComposeError::invalid(format!(
                "cannot extend service {name:?} in {}: service not found",
                file.display()
            ))
        })?;
    let Some(ext) = local.as_object_mut().and_then(|o| o.remove("extends")) else {
        return Ok(local);
    };
    let (base_file, base_name) = match &ext {
        Value::String(s) => (None, s.clone()),
        Value::Object(o) => (
            o.get("file").and_then(Value::as_str).map(String::from),
            o.get("service")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        ),
        _ => (None, String::new()),
    };
    stack.push(key);
    let base = match base_file {
        None => service(doc, file, &base_name, lookup, stack)?,
        Some(f) => {
            let dir = file.parent().unwrap_or(Path::new("/"));
            let path = dir.join(&f);
            let other = read_file(&path, lookup)?;
            let mut base = service(&other, &path, &base_name, lookup, stack)?;
            let other_dir = path.parent().unwrap_or(Path::new("/"));
            if other_dir != dir {
                absolutize(&mut base, other_dir);
            }
            base
        }
    };
    stack.pop();
    let mut merged = json!({"services": {"s": base}});
    merge::merge(&mut merged, &json!({"services": {"s": local}}));
    Ok(merged["services"]["s"].take())
}

/// Makes the relative paths of a service (build context, env files, bind sources)
/// absolute against `dir`.
fn absolutize(s: &mut Value, dir: &Path) {
    let abs = |p: &str| -> Option<String> {
        (!p.starts_with('/') && !p.starts_with('~') && !p.contains("://"))
            .then(|| dir.join(p).display().to_string())
    };
    if let Some(Value::String(ctx)) = s.pointer("/build/context").cloned() {
        if let Some(a) = abs(&ctx) {
            s["build"]["context"] = json!(a);
        }
    }
    if let Some(Value::Array(files)) = s.get_mut("env_file") {
        for f in files.iter_mut() {
            if let Some(Value::String(p)) = f.get("path").cloned() {
                if let Some(a) = abs(&p) {
                    f["path"] = json!(a);
                }
            }
        }
    }
    if let Some(Value::Array(vols)) = s.get_mut("volumes") {
        for v in vols.iter_mut() {
            let bind = v.get("type").and_then(Value::as_str) == Some("bind");
            if let (true, Some(Value::String(src))) = (bind, v.get("source").cloned()) {
                if let Some(a) = abs(&src) {
                    v["source"] = json!(a);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    fn load(path: &Path) -> Result<Value> {
        let lookup = |_: &str| None;
        let mut doc = read_file(path, &lookup)?;
        resolve(&mut doc, path, &lookup)?;
        Ok(doc)
    }

    #[test]
    fn same_file_and_chains() {
        let t = tempfile::tempdir().unwrap();
        let f = write(
            t.path(),
            "c.yml",
            "services:\n  base:\n    image: busybox\n    environment: [A=1, B=1]\n    command: [a]\n  mid:\n    extends: base\n    environment: {B: '2'}\n  top:\n    extends: {service: mid}\n    command: [top]\n",
        );
        let doc = load(&f).unwrap();
        let top = &doc["services"]["top"];
        assert_eq!(top["image"], json!("busybox"));
        assert_eq!(top["environment"], json!({"A": "1", "B": "2"}));
        assert_eq!(top["command"], json!(["top"]));
        assert!(top.get("extends").is_none());
        assert_eq!(doc["services"]["mid"]["command"], json!(["a"]));
    }

    #[test]
    fn other_file_paths_stay_its_own() {
        let t = tempfile::tempdir().unwrap();
        write(
            t.path(),
            "common/base.yml",
            "services:\n  web:\n    build: ./ctx\n    volumes: ['./data:/data']\n    env_file: web.env\n",
        );
        let f = write(
            t.path(),
            "app/c.yml",
            "services:\n  site:\n    extends:\n      file: ../common/base.yml\n      service: web\n    ports: ['80']\n",
        );
        let doc = load(&f).unwrap();
        let site = &doc["services"]["site"];
        let common = t.path().join("app/../common");
        assert_eq!(
            site["build"]["context"],
            json!(common.join("./ctx").display().to_string())
        );
        assert_eq!(
            site["volumes"][0]["source"],
            json!(common.join("./data").display().to_string())
        );
        assert_eq!(
            site["env_file"][0]["path"],
            json!(common.join("web.env").display().to_string())
        );
        assert_eq!(site["ports"][0]["target"], json!(80));
    }

    #[test]
    fn cycles_and_missing_bases() {
        let t = tempfile::tempdir().unwrap();
        let f = write(
            t.path(),
            "c.yml",
            "services:\n  a:\n    extends: b\n  b:\n    extends: a\n",
        );
        let e = load(&f).unwrap_err().to_string();
        assert!(e.contains("circular reference with extends"), "{e}");
        let f = write(t.path(), "d.yml", "services:\n  a:\n    extends: nope\n");
        let e = load(&f).unwrap_err().to_string();
        assert!(e.contains("cannot extend service \"nope\""), "{e}");
    }
}
