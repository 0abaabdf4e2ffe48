//! Loading a project: find the compose files, read `.env`, then for each file parse,
//! interpolate, validate against the specification and canonicalize, merge the files
//! in order, and finalize the model (paths made absolute, `env_file`s folded into
//! `environment`, numbers and sizes coerced, network and volume names resolved,
//! references checked, profiles applied).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::error::{ComposeError, Result};
use crate::interp::Interpolator;
use crate::model::{NetworkConfig, Project, Service, VolumeConfig};
use crate::normalize::scalar_string;
use crate::{dotenv, extends, merge, normalize, schema, units, yaml};

/// File names looked for when no `-f` is given, in Compose's order of preference.
pub const DEFAULT_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// How to find and read a project (the global `compose` flags).
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-f` files, in order; empty means `COMPOSE_FILE` or discovery.
    pub files: Vec<PathBuf>,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--project-directory`.
    pub project_dir: Option<PathBuf>,
    /// `--env-file` (replace `.env`).
    pub env_files: Vec<PathBuf>,
    /// `--profile`.
    pub profiles: Vec<String>,
    /// Services named on the command line: enabled whatever their profiles.
    pub services: Vec<String>,
    /// The process environment (wins over `.env`).
    pub environ: BTreeMap<String, String>,
    /// Where relative `-f` paths and discovery start.
    pub cwd: PathBuf,
}

impl LoadOptions {
    /// Options with the real process environment and working directory.
    pub fn from_process() -> Self {
        LoadOptions {
            environ: std::env::vars().collect(),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
            ..Default::default()
        }
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| ComposeError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn absolute(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        clean(p)
    } else {
        clean(&base.join(p))
    }
}

/// Lexical `.`/`..` removal (paths need not exist).
fn clean(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Docker Compose's normalization of a directory name into a project name.
pub fn normalize_project_name(s: &str) -> String {
    let lower: String = s
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    lower.trim_start_matches(['_', '-']).to_string()
}

fn valid_project_name(s: &str) -> bool {
    normalize_project_name(s) == s && !s.is_empty()
}

/// Finds the compose file (and its override) in `dir` or its parents.
fn discover(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut d = Some(dir);
    while let Some(here) = d {
        for name in DEFAULT_FILES {
            let p = here.join(name);
            if p.is_file() {
                let mut files = vec![p];
                let (stem, ext) = name.rsplit_once('.').unwrap_or((name, "yml"));
                for ov in [
                    format!("{stem}.override.{ext}"),
                    format!("{stem}.override.yaml"),
                ] {
                    let o = here.join(ov);
                    if o.is_file() {
                        files.push(o);
                        break;
                    }
                }
                return Ok(files);
            }
        }
        d = here.parent();
    }
    Err(ComposeError::NoConfigFile)
}

fn env_file_vars(path: &Path, base: &BTreeMap<String, String>) -> Result<Vec<(String, String)>> {
    let text = read(path)?;
    let lookup = |k: &str| base.get(k).cloned();
    dotenv::parse(&path.display().to_string(), &text, &lookup)
}

/// Loads and finalizes a project.
pub fn load(opts: &LoadOptions) -> Result<Project> {
    // `.env` of the working (or project) directory may set COMPOSE_FILE and friends.
    let first_dir = opts.project_dir.clone().unwrap_or_else(|| opts.cwd.clone());
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    if opts.env_files.is_empty() {
        let dot = absolute(&opts.cwd, &first_dir).join(".env");
        if dot.is_file() {
            env.extend(env_file_vars(&dot, &opts.environ)?);
        }
    } else {
        for f in &opts.env_files {
            env.extend(env_file_vars(&absolute(&opts.cwd, f), &opts.environ)?);
        }
    }
    env.extend(opts.environ.iter().map(|(k, v)| (k.clone(), v.clone())));

    let files: Vec<PathBuf> = if !opts.files.is_empty() {
        opts.files.iter().map(|f| absolute(&opts.cwd, f)).collect()
    } else if let Some(cf) = env.get("COMPOSE_FILE").filter(|s| !s.is_empty()) {
        let sep = env
            .get("COMPOSE_PATH_SEPARATOR")
            .cloned()
            .unwrap_or_else(|| ":".into());
        cf.split(sep.as_str())
            .map(|f| absolute(&opts.cwd, Path::new(f)))
            .collect()
    } else {
        discover(&opts.cwd)?
    };
    let working_dir = match &opts.project_dir {
        Some(d) => absolute(&opts.cwd, d),
        None => files[0]
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| opts.cwd.clone()),
    };

    let lookup = |k: &str| env.get(k).cloned();
    let mut interp = Interpolator::new(&lookup);
    let mut merged = json!({});
    for f in &files {
        let shown = f.display().to_string();
        let text = read(f)?;
        let mut doc = yaml::parse(&shown, &text)?;
        interp.value(&mut doc, "")?;
        schema::validate(&doc).map_err(|message| ComposeError::Schema {
            file: shown.clone(),
            message,
        })?;
        normalize::file(&mut doc)?;
        extends::resolve(&mut doc, f, &lookup)?;
        merge::merge(&mut merged, &doc);
    }
    let warnings = interp.warnings();

    let name = project_name(opts, &env, &merged, &working_dir)?;
    let mut profiles: Vec<String> = opts.profiles.clone();
    if profiles.is_empty() {
        if let Some(p) = env.get("COMPOSE_PROFILES") {
            profiles = p
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
        }
    }
    let mut project = finalize(merged, &name, &working_dir, &env, &profiles, &opts.services)?;
    project.config_files = files;
    project.warnings = warnings;
    project.environment = env;
    Ok(project)
}

fn project_name(
    opts: &LoadOptions,
    env: &BTreeMap<String, String>,
    merged: &Value,
    working_dir: &Path,
) -> Result<String> {
    let explicit = opts
        .project_name
        .clone()
        .or_else(|| env.get("COMPOSE_PROJECT_NAME").cloned())
        .filter(|s| !s.is_empty())
        .or_else(|| merged.get("name").and_then(Value::as_str).map(String::from));
    match explicit {
        Some(n) if valid_project_name(&n) => Ok(n),
        Some(n) => Err(ComposeError::invalid(format!(
            "invalid project name {n:?}: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number"
        ))),
        None => {
            let base = working_dir
                .file_name()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let n = normalize_project_name(&base);
            if n.is_empty() {
                return Err(ComposeError::invalid(
                    "project name must not be empty: use -p or a top-level name",
                ));
            }
            Ok(n)
        }
    }
}

/// Turns the merged canonical document into the project.
pub fn finalize(
    mut merged: Value,
    name: &str,
    working_dir: &Path,
    env: &BTreeMap<String, String>,
    profiles: &[String],
    explicit: &[String],
) -> Result<Project> {
    let root = merged
        .as_object_mut()
        .ok_or_else(|| ComposeError::invalid("top-level object must be a mapping"))?;
    let mut services_json = match root.remove("services") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let mut nets_json = match root.remove("networks") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let vols_json = match root.remove("volumes") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };

    for (sname, svc) in services_json.iter_mut() {
        let Some(s) = svc.as_object_mut() else {
            continue;
        };
        finalize_service(sname, s, working_dir, env)?;
    }

    // The implicit default network exists as soon as one service uses it.
    let uses_default = services_json.values().any(|s| {
        s.get("networks")
            .and_then(Value::as_object)
            .is_some_and(|n| n.contains_key("default"))
    });
    if uses_default && !nets_json.contains_key("default") {
        nets_json.insert("default".into(), json!({}));
    }
    let mut networks = BTreeMap::new();
    for (key, v) in nets_json.iter_mut() {
        resolve_name(v, name, key);
        let cfg: NetworkConfig = serde_json::from_value(v.clone())
            .map_err(|e| ComposeError::invalid(format!("networks.{key}: {e}")))?;
        networks.insert(key.clone(), cfg);
    }
    let mut vols_json = vols_json;
    let mut volumes = BTreeMap::new();
    for (key, v) in vols_json.iter_mut() {
        resolve_name(v, name, key);
        let cfg: VolumeConfig = serde_json::from_value(v.clone())
            .map_err(|e| ComposeError::invalid(format!("volumes.{key}: {e}")))?;
        volumes.insert(key.clone(), cfg);
    }

    let secrets = file_objects(root.get_mut("secrets"), working_dir, env, "secrets")?;
    let configs = file_objects(root.get_mut("configs"), working_dir, env, "configs")?;

    let all_services: Vec<String> = services_json.keys().cloned().collect();
    let mut services = BTreeMap::new();
    for (sname, raw) in &services_json {
        let mut svc: Service = serde_json::from_value(raw.clone())
            .map_err(|e| ComposeError::invalid(format!("services.{sname}: {e}")))?;
        svc.name = sname.clone();
        svc.raw = raw.clone();
        check_refs(&svc, &all_services, &networks, &volumes)?;
        for (kind, uses, defined) in [
            ("secret", &svc.secrets, &secrets),
            ("config", &svc.configs, &configs),
        ] {
            for u in uses {
                if !defined.contains_key(&u.source) {
                    return Err(ComposeError::invalid(format!(
                        "service {sname:?} refers to undefined {kind} {}: invalid compose project",
                        u.source
                    )));
                }
            }
        }
        services.insert(sname.clone(), svc);
    }
    let services = apply_profiles(services, profiles, explicit)?;

    let mut model = Map::new();
    model.insert("name".into(), json!(name));
    let mut sorted: Vec<(&String, &Service)> = services.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    model.insert(
        "services".into(),
        Value::Object(
            sorted
                .into_iter()
                .map(|(k, s)| (k.clone(), s.raw.clone()))
                .collect(),
        ),
    );
    if !nets_json.is_empty() {
        model.insert("networks".into(), Value::Object(nets_json));
    }
    if !vols_json.is_empty() {
        model.insert("volumes".into(), Value::Object(vols_json));
    }
    for (k, v) in root.iter() {
        if k != "name" && k != "version" {
            model.insert(k.clone(), v.clone());
        }
    }
    Ok(Project {
        name: name.to_string(),
        working_dir: working_dir.to_path_buf(),
        config_files: Vec::new(),
        services,
        all_services,
        networks,
        volumes,
        secrets,
        configs,
        model: Value::Object(model),
        warnings: Vec::new(),
        environment: env.clone(),
    })
}

/// Top-level `secrets`/`configs`: `file` paths made absolute (in the model too).
fn file_objects(
    section: Option<&mut Value>,
    wd: &Path,
    env: &BTreeMap<String, String>,
    what: &str,
) -> Result<BTreeMap<String, crate::model::FileObject>> {
    let mut out = BTreeMap::new();
    let Some(Value::Object(m)) = section else {
        return Ok(out);
    };
    for (k, v) in m.iter_mut() {
        if let Some(Value::String(f)) = v.get("file").cloned() {
            v["file"] = json!(path_in(wd, &f, env));
        }
        let obj = serde_json::from_value(v.clone())
            .map_err(|e| ComposeError::invalid(format!("{what}.{k}: {e}")))?;
        out.insert(k.clone(), obj);
    }
    Ok(out)
}

fn resolve_name(v: &mut Value, project: &str, key: &str) {
    let Some(o) = v.as_object_mut() else {
        return;
    };
    let external = o.get("external").and_then(Value::as_bool) == Some(true);
    if o.get("name").and_then(Value::as_str).is_none() {
        let n = if external {
            key.to_string()
        } else {
            format!("{project}_{key}")
        };
        o.insert("name".into(), json!(n));
    }
}

fn expand_home(p: &str, env: &BTreeMap<String, String>) -> String {
    match p.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            format!(
                "{}{rest}",
                env.get("HOME").map(String::as_str).unwrap_or("/root")
            )
        }
        _ => p.to_string(),
    }
}

fn path_in(base: &Path, p: &str, env: &BTreeMap<String, String>) -> String {
    let p = expand_home(p, env);
    absolute(base, Path::new(&p)).display().to_string()
}

fn finalize_service(
    sname: &str,
    s: &mut Map<String, Value>,
    wd: &Path,
    env: &BTreeMap<String, String>,
) -> Result<()> {
    if let Some(Value::Object(b)) = s.get_mut("build") {
        if let Some(Value::String(ctx)) = b.get("context") {
            let remote = ctx.contains("://") || ctx.starts_with("git@");
            if !remote {
                let abs = path_in(wd, ctx, env);
                b.insert("context".into(), json!(abs));
            }
        } else {
            b.insert("context".into(), json!(wd.display().to_string()));
        }
        b.entry("dockerfile").or_insert(json!("Dockerfile"));
    }
    if let Some(Value::Array(vols)) = s.get_mut("volumes") {
        for v in vols.iter_mut() {
            let is_bind = v.get("type").and_then(Value::as_str) == Some("bind");
            if let (true, Some(Value::String(src))) = (is_bind, v.get("source")) {
                let abs = path_in(wd, src, env);
                v["source"] = json!(abs);
            }
        }
    }
    // env_file values sit under `environment`, which wins.
    let mut environment: Map<String, Value> = Map::new();
    if let Some(Value::Array(files)) = s.remove("env_file") {
        for f in files {
            let path = f.get("path").map(scalar_string).unwrap_or_default();
            let required = f.get("required").and_then(Value::as_bool) != Some(false);
            let abs = absolute(wd, Path::new(&expand_home(&path, env)));
            if !abs.is_file() {
                if required {
                    return Err(ComposeError::invalid(format!(
                        "env file {} not found: stat {}: no such file or directory",
                        abs.display(),
                        abs.display()
                    )));
                }
                continue;
            }
            for (k, v) in env_file_vars(&abs, env)? {
                environment.insert(k, json!(v));
            }
        }
    }
    if let Some(Value::Object(e)) = s.get("environment") {
        for (k, v) in e {
            environment.insert(k.clone(), v.clone());
        }
    }
    if !environment.is_empty() || s.contains_key("environment") {
        for (k, v) in environment.iter_mut() {
            if v.is_null() {
                if let Some(val) = env.get(k) {
                    *v = json!(val);
                }
            }
        }
        s.insert("environment".into(), Value::Object(environment));
    }
    if s.get("image").is_none() && s.get("build").is_none() {
        return Err(ComposeError::NoImage(sname.to_string()));
    }
    if s.get("network_mode").is_none() && s.get("networks").is_none() {
        s.insert("networks".into(), json!({"default": null}));
    }
    if s.get("container_name").is_some() && s.get("scale").and_then(Value::as_i64).unwrap_or(1) > 1
    {
        return Err(ComposeError::invalid(format!(
            "services.{sname}: container_name and scale > 1 cannot be combined"
        )));
    }
    coerce(sname, s)
}

/// Numbers and sizes given as strings become numbers, as Compose's model has them.
fn coerce(sname: &str, s: &mut Map<String, Value>) -> Result<()> {
    let bad = |k: &str, v: &Value| {
        ComposeError::invalid(format!("services.{sname}.{k}: invalid value {v}"))
    };
    fn at<'a>(s: &'a mut Map<String, Value>, path: &[&str]) -> Option<&'a mut Value> {
        let (first, rest) = path.split_first()?;
        let mut v = s.get_mut(*first)?;
        for p in rest {
            v = v.get_mut(*p)?;
        }
        Some(v)
    }
    let bytes: &[&[&str]] = &[
        &["mem_limit"],
        &["mem_reservation"],
        &["memswap_limit"],
        &["shm_size"],
        &["deploy", "resources", "limits", "memory"],
        &["deploy", "resources", "reservations", "memory"],
    ];
    for p in bytes {
        if let Some(v) = at(s, p) {
            if let Value::String(t) = v {
                let n = units::ram_in_bytes(t).ok_or_else(|| bad(&p.join("."), v))?;
                *v = json!(n);
            }
        }
    }
    let floats: &[&[&str]] = &[
        &["cpus"],
        &["deploy", "resources", "limits", "cpus"],
        &["deploy", "resources", "reservations", "cpus"],
    ];
    for p in floats {
        if let Some(v) = at(s, p) {
            if let Value::String(t) = v {
                let n: f64 = t.trim().parse().map_err(|_| bad(&p.join("."), v))?;
                *v = json!(n);
            }
        }
    }
    let ints: &[&[&str]] = &[
        &["scale"],
        &["cpu_shares"],
        &["pids_limit"],
        &["oom_score_adj"],
        &["healthcheck", "retries"],
        &["deploy", "replicas"],
        &["deploy", "resources", "limits", "pids"],
    ];
    for p in ints {
        if let Some(v) = at(s, p) {
            if let Value::String(t) = v {
                let n: i64 = t.trim().parse().map_err(|_| bad(&p.join("."), v))?;
                *v = json!(n);
            }
        }
    }
    for key in ["read_only", "init", "privileged", "tty", "stdin_open"] {
        if let Some(v) = s.get_mut(key) {
            if let Value::String(t) = v {
                let b = match t.as_str() {
                    "true" | "True" | "1" | "yes" => true,
                    "false" | "False" | "0" | "no" => false,
                    _ => return Err(bad(key, v)),
                };
                *v = json!(b);
            }
        }
    }
    if let Some(Value::Object(ul)) = s.get_mut("ulimits") {
        for (k, u) in ul.iter_mut() {
            for f in ["soft", "hard"] {
                if let Some(Value::String(t)) = u.get(f) {
                    let n: i64 = t.parse().map_err(|_| {
                        ComposeError::invalid(format!(
                            "services.{sname}.ulimits.{k}.{f}: invalid value {t:?}"
                        ))
                    })?;
                    u[f] = json!(n);
                }
            }
        }
    }
    if let Some(Value::Object(deps)) = s.get_mut("depends_on") {
        for (_, d) in deps.iter_mut() {
            if let Some(Value::String(r)) = d.get("restart") {
                let b = r == "true";
                d["restart"] = json!(b);
            }
        }
    }
    Ok(())
}

fn check_refs(
    svc: &Service,
    all: &[String],
    networks: &BTreeMap<String, NetworkConfig>,
    volumes: &BTreeMap<String, VolumeConfig>,
) -> Result<()> {
    let n = &svc.name;
    for net in svc.networks.keys() {
        if !networks.contains_key(net) {
            return Err(ComposeError::invalid(format!(
                "service {n:?} refers to undefined network {net}: invalid compose project"
            )));
        }
    }
    for m in &svc.volumes {
        if m.kind == "volume" {
            if let Some(src) = &m.source {
                if !volumes.contains_key(src) {
                    return Err(ComposeError::invalid(format!(
                        "service {n:?} refers to undefined volume {src}: invalid compose project"
                    )));
                }
            }
        }
    }
    for (dep, d) in &svc.depends_on {
        // An optional dependency may name a service that does not exist.
        if !all.contains(dep) && d.required {
            return Err(ComposeError::invalid(format!(
                "service {n:?} depends on undefined service {dep:?}: invalid compose project"
            )));
        }
    }
    if let Some(mode) = svc.network_mode.as_deref() {
        if let Some(other) = mode.strip_prefix("service:") {
            if !all.iter().any(|s| s == other) {
                return Err(ComposeError::invalid(format!(
                    "service {n:?} uses network_mode of undefined service {other:?}"
                )));
            }
        }
    }
    Ok(())
}

/// Keeps the services enabled by `profiles` (or named on the command line), and checks
/// that their required dependencies are enabled too.
fn apply_profiles(
    services: BTreeMap<String, Service>,
    profiles: &[String],
    explicit: &[String],
) -> Result<BTreeMap<String, Service>> {
    let wildcard = profiles.iter().any(|p| p == "*");
    let enabled = |s: &Service| {
        s.profiles.is_empty()
            || wildcard
            || s.profiles.iter().any(|p| profiles.contains(p))
            || explicit.contains(&s.name)
    };
    let active: BTreeSet<String> = services
        .values()
        .filter(|s| enabled(s))
        .map(|s| s.name.clone())
        .collect();
    for name in &active {
        let s = &services[name];
        for (dep, d) in &s.depends_on {
            if d.required && !active.contains(dep) {
                return Err(ComposeError::invalid(format!(
                    "service {dep:?} was pulled in as a dependency of service {name:?} but is not enabled by the active profiles. You may fix this by adding a common profile to {dep:?} and {name:?}."
                )));
            }
        }
    }
    let mut out = services;
    out.retain(|k, _| active.contains(k));
    for s in out.values_mut() {
        // Optional dependencies on disabled services are dropped.
        s.depends_on.retain(|d, _| active.contains(d));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
