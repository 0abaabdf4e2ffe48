//! Loader tests over real files in temporary directories.

use super::*;
use std::fs;

struct Dir(tempfile::TempDir);

impl Dir {
    fn new(name: &str) -> Dir {
        let t = tempfile::Builder::new()
            .prefix("compose-load")
            .tempdir()
            .unwrap();
        let d = Dir(t);
        fs::create_dir_all(d.path().join(name)).unwrap();
        d
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        p
    }
}

fn opts(cwd: PathBuf) -> LoadOptions {
    LoadOptions {
        cwd,
        environ: [("HOME".to_string(), "/home/u".to_string())]
            .into_iter()
            .collect(),
        ..Default::default()
    }
}

#[test]
fn discovers_file_and_override_and_names_project_from_dir() {
    let d = Dir::new("My App.dir");
    d.write(
        "My App.dir/compose.yaml",
        "services:\n  web:\n    image: busybox\n    environment: [A=1]\n",
    );
    d.write(
        "My App.dir/compose.override.yaml",
        "services:\n  web:\n    environment:\n      B: 2\n",
    );
    fs::create_dir_all(d.path().join("My App.dir/sub")).unwrap();
    let p = load(&opts(d.path().join("My App.dir/sub"))).unwrap();
    assert_eq!(p.name, "myappdir");
    assert_eq!(p.config_files.len(), 2);
    assert_eq!(p.working_dir, d.path().join("My App.dir"));
    let web = p.service("web").unwrap();
    assert_eq!(web.environment.get("A"), Some(&Some("1".to_string())));
    assert_eq!(web.environment.get("B"), Some(&Some("2".to_string())));
    assert_eq!(p.networks["default"].name, "myappdir_default");
    assert!(web.networks.contains_key("default"));
}

#[test]
fn no_file_is_an_error() {
    let d = Dir::new("empty");
    let e = load(&opts(d.path().join("empty"))).unwrap_err();
    assert!(matches!(e, ComposeError::NoConfigFile), "{e}");
}

#[test]
fn project_name_precedence_and_validation() {
    let d = Dir::new("p");
    let f = d.write("p/c.yml", "name: fromfile\nservices:\n  a:\n    image: x\n");
    let mut o = opts(d.path().to_path_buf());
    o.files = vec![f];
    assert_eq!(load(&o).unwrap().name, "fromfile");
    o.environ
        .insert("COMPOSE_PROJECT_NAME".into(), "fromenv".into());
    assert_eq!(load(&o).unwrap().name, "fromenv");
    o.project_name = Some("fromflag".into());
    assert_eq!(load(&o).unwrap().name, "fromflag");
    o.project_name = Some("Bad Name".into());
    let e = load(&o).unwrap_err().to_string();
    assert!(e.contains("invalid project name \"Bad Name\""), "{e}");
    assert_eq!(normalize_project_name("-_Hello.World_1"), "helloworld_1");
}

#[test]
fn dotenv_and_interpolation_with_process_env_winning() {
    let d = Dir::new("p");
    d.write(
        "p/.env",
        "TAG=1.0\nPORT=8080\nCOMPOSE_PROJECT_NAME=dotenvname\n",
    );
    d.write(
        "p/compose.yml",
        "services:\n  web:\n    image: \"busybox:${TAG}\"\n    ports: [\"${PORT:-80}:80\"]\n    command: echo $$HOME ${MISSING:-dflt}\n    environment:\n      - FROM_SHELL\n      - UNSET_ONE\n",
    );
    let mut o = opts(d.path().join("p"));
    o.environ.insert("PORT".into(), "9999".into());
    o.environ.insert("FROM_SHELL".into(), "yes".into());
    let p = load(&o).unwrap();
    assert_eq!(p.name, "dotenvname");
    let web = p.service("web").unwrap();
    assert_eq!(web.image.as_deref(), Some("busybox:1.0"));
    assert_eq!(web.ports[0].published.as_deref(), Some("9999"));
    assert_eq!(
        web.command.as_ref().unwrap(),
        &vec!["echo", "$HOME", "dflt"]
    );
    assert_eq!(web.environment["FROM_SHELL"], Some("yes".to_string()));
    assert_eq!(web.environment["UNSET_ONE"], None);
    // --env-file replaces .env.
    d.write("p/other.env", "TAG=2.0\n");
    o.env_files = vec![PathBuf::from("other.env")];
    let p = load(&o).unwrap();
    assert_eq!(
        p.service("web").unwrap().image.as_deref(),
        Some("busybox:2.0")
    );
    assert_eq!(p.name, "p");
}

#[test]
fn required_variable_error() {
    let d = Dir::new("p");
    d.write(
        "p/compose.yml",
        "services:\n  web:\n    image: \"${IMG:?set IMG please}\"\n",
    );
    let e = load(&opts(d.path().join("p"))).unwrap_err().to_string();
    assert_eq!(
        e,
        "required variable IMG is missing a value: set IMG please"
    );
}

#[test]
fn schema_errors_name_file_and_key() {
    let d = Dir::new("p");
    let f = d.write(
        "p/compose.yml",
        "services:\n  web:\n    image: x\n    restart_policy: always\n",
    );
    let e = load(&opts(d.path().join("p"))).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "validating {}: services.web additional property 'restart_policy' not allowed",
            f.display()
        )
    );
}

#[test]
fn several_files_merge_in_order() {
    let d = Dir::new("p");
    let a = d.write("p/a.yml", "services:\n  web:\n    image: a\n    command: [one]\n    ports: [\"80:80\"]\n    volumes: [\"data:/d\"]\nvolumes:\n  data: {}\n");
    let b = d.write("p/b.yml", "services:\n  web:\n    image: b\n    command: two three\n    ports: [\"81:81\"]\n    volumes: [\"./x:/d\"]\n  extra:\n    image: e\n");
    let mut o = opts(d.path().to_path_buf());
    o.files = vec![a, b];
    let p = load(&o).unwrap();
    let web = p.service("web").unwrap();
    assert_eq!(web.image.as_deref(), Some("b"));
    assert_eq!(web.command.as_ref().unwrap(), &vec!["two", "three"]);
    assert_eq!(web.ports.len(), 2);
    assert_eq!(web.volumes.len(), 1);
    assert_eq!(web.volumes[0].kind, "bind");
    assert_eq!(
        web.volumes[0].source.as_deref(),
        Some(d.path().join("p/x").to_str().unwrap())
    );
    assert!(p.services.contains_key("extra"));
    assert_eq!(p.volumes["data"].name, "p_data");
}

#[test]
fn env_file_paths_build_and_coercion() {
    let d = Dir::new("p");
    d.write("p/web.env", "A=from_file\nB=from_file\n");
    d.write(
        "p/compose.yml",
        "services:\n  web:\n    build: ./ctx\n    env_file: web.env\n    environment:\n      B: inline\n    mem_limit: 64m\n    cpus: \"0.5\"\n    read_only: \"true\"\n    deploy:\n      resources:\n        limits:\n          memory: 1g\n    healthcheck:\n      test: [\"CMD\", \"true\"]\n      retries: \"3\"\n    volumes:\n      - ~/cache:/cache\n",
    );
    let p = load(&opts(d.path().join("p"))).unwrap();
    let web = p.service("web").unwrap();
    assert_eq!(web.environment["A"], Some("from_file".to_string()));
    assert_eq!(web.environment["B"], Some("inline".to_string()));
    assert_eq!(
        web.build.as_ref().unwrap().context,
        d.path().join("p/ctx").display().to_string()
    );
    assert_eq!(
        web.build.as_ref().unwrap().dockerfile.as_deref(),
        Some("Dockerfile")
    );
    assert_eq!(web.image_name(&p.name), "p-web");
    assert_eq!(web.mem_limit, Some(64 << 20));
    assert_eq!(web.cpus, Some(0.5));
    assert!(web.read_only);
    assert_eq!(web.healthcheck.as_ref().unwrap().retries, Some(3));
    let lim = web
        .deploy
        .as_ref()
        .unwrap()
        .resources
        .as_ref()
        .unwrap()
        .limits
        .as_ref()
        .unwrap();
    assert_eq!(lim.memory, Some(1 << 30));
    assert_eq!(web.volumes[0].source.as_deref(), Some("/home/u/cache"));
    assert!(p.model["services"]["web"].get("env_file").is_none());
    d.write(
        "p/compose.yml",
        "services:\n  web:\n    image: x\n    env_file: missing.env\n",
    );
    let e = load(&opts(d.path().join("p"))).unwrap_err().to_string();
    assert!(e.contains("missing.env not found"), "{e}");
}

#[test]
fn references_are_checked() {
    let d = Dir::new("p");
    let cases = [
        (
            "services:\n  a:\n    image: x\n    networks: [nope]\n",
            "undefined network nope",
        ),
        (
            "services:\n  a:\n    image: x\n    volumes: [\"nope:/d\"]\n",
            "undefined volume nope",
        ),
        (
            "services:\n  a:\n    image: x\n    depends_on: [db]\n",
            "depends on undefined service \"db\"",
        ),
        (
            "services:\n  a:\n    command: x\n",
            "neither an image nor a build context",
        ),
    ];
    d.write(
        "p/compose.yml",
        "services:\n  a:\n    image: x\n    depends_on:\n      gone: {condition: service_started, required: false}\n",
    );
    let p = load(&opts(d.path().join("p"))).unwrap();
    assert!(
        p.service("a").unwrap().depends_on.is_empty(),
        "optional missing dependency dropped"
    );
    for (text, want) in cases {
        d.write("p/compose.yml", text);
        let e = load(&opts(d.path().join("p"))).unwrap_err().to_string();
        assert!(e.contains(want), "{e} should contain {want}");
    }
}

#[test]
fn external_and_named_resources() {
    let d = Dir::new("p");
    d.write(
        "p/compose.yml",
        "services:\n  a:\n    image: x\n    networks: [ext, named]\n    volumes: [\"ev:/e\"]\nnetworks:\n  ext:\n    external: true\n  named:\n    name: exactly\nvolumes:\n  ev:\n    external: true\n    name: real-vol\n",
    );
    let p = load(&opts(d.path().join("p"))).unwrap();
    assert_eq!(p.networks["ext"].name, "ext");
    assert!(p.networks["ext"].external);
    assert_eq!(p.networks["named"].name, "exactly");
    assert!(!p.networks.contains_key("default"));
    assert_eq!(p.volumes["ev"].name, "real-vol");
}

#[test]
fn profiles_enable_services() {
    let d = Dir::new("p");
    d.write(
        "p/compose.yml",
        "services:\n  web:\n    image: x\n  debug:\n    image: x\n    profiles: [dbg]\n  tool:\n    image: x\n    profiles: [tools]\n    depends_on: [debug]\n",
    );
    let mut o = opts(d.path().join("p"));
    let p = load(&o).unwrap();
    assert_eq!(p.services.keys().collect::<Vec<_>>(), vec!["web"]);
    assert_eq!(p.all_services.len(), 3);
    o.profiles = vec!["dbg".into()];
    let p = load(&o).unwrap();
    assert_eq!(p.services.keys().collect::<Vec<_>>(), vec!["debug", "web"]);
    o.profiles = vec!["tools".into()];
    let e = load(&o).unwrap_err().to_string();
    assert!(e.contains("pulled in as a dependency"), "{e}");
    o.profiles = vec!["tools".into(), "dbg".into()];
    assert_eq!(load(&o).unwrap().services.len(), 3);
    o.profiles = vec![];
    o.environ.insert("COMPOSE_PROFILES".into(), "dbg".into());
    assert_eq!(load(&o).unwrap().services.len(), 2);
    o.environ.remove("COMPOSE_PROFILES");
    o.services = vec!["debug".into()];
    assert!(load(&o).unwrap().services.contains_key("debug"));
}

#[test]
fn config_model_round_trips_through_yaml() {
    let d = Dir::new("p");
    d.write(
        "p/compose.yml",
        "services:\n  web:\n    image: x\n    ports: [\"8080:80\"]\n",
    );
    let p = load(&opts(d.path().join("p"))).unwrap();
    let text = crate::yaml::to_yaml(&p.model);
    assert!(
        text.contains("published: '8080'") || text.contains("published: \"8080\""),
        "{text}"
    );
    let back = crate::yaml::parse("x", &text).unwrap();
    assert_eq!(back, p.model);
    assert_eq!(p.model["name"], json!("p"));
}
