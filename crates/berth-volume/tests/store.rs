//! The volume store: create/inspect/list/filters/remove/prune/references/sizes.

use berth_volume::filters::Filters;
use berth_volume::store::{CreateOptions, VolumeStore, ANONYMOUS_LABEL};
use berth_volume::VolumeError;
use std::collections::BTreeMap;
use std::path::Path;

fn f(pairs: &[(&str, &str)]) -> Filters {
    let mut out = Filters::new();
    for (k, v) in pairs {
        out.entry(k.to_string()).or_default().push(v.to_string());
    }
    out
}

fn named(name: &str) -> CreateOptions {
    CreateOptions {
        name: name.into(),
        ..Default::default()
    }
}

fn entries(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn create_inspect_and_idempotence() {
    let root = tempfile::tempdir().unwrap();
    let store = VolumeStore::open(root.path()).unwrap();
    let labels: BTreeMap<String, String> = [("team".to_string(), "a".to_string())].into();
    let v = store
        .create(CreateOptions {
            name: "data1".into(),
            labels: labels.clone(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(v.name, "data1");
    assert_eq!(v.driver, "local");
    assert_eq!(v.scope, "local");
    assert_eq!(v.labels, labels);
    let mp = root.path().join("volumes/data1/_data");
    assert_eq!(v.mountpoint, mp.to_string_lossy());
    assert!(mp.is_dir());
    // RFC 3339 to the second, UTC.
    assert_eq!(v.created_at.len(), 20, "{}", v.created_at);
    assert!(v.created_at.ends_with('Z') && v.created_at.as_bytes()[10] == b'T');
    let json = serde_json::to_value(&v).unwrap();
    for k in [
        "CreatedAt",
        "Driver",
        "Labels",
        "Mountpoint",
        "Name",
        "Options",
        "Scope",
    ] {
        assert!(json.get(k).is_some(), "missing {k} in {json}");
    }
    assert!(json.get("UsageData").is_none());

    // Same name again: the same volume, data untouched.
    std::fs::write(mp.join("f"), b"x").unwrap();
    let again = store.create(named("data1")).unwrap();
    assert_eq!(again, v);
    assert!(mp.join("f").exists());

    // Persisted: a new store sees it with its labels.
    drop(store);
    let store = VolumeStore::open(root.path()).unwrap();
    assert_eq!(store.get("data1").unwrap(), v);
}

#[test]
fn anonymous_volumes_get_hex_names_and_label() {
    let root = tempfile::tempdir().unwrap();
    let store = VolumeStore::open(root.path()).unwrap();
    let a = store.create(CreateOptions::default()).unwrap();
    let b = store.create(CreateOptions::default()).unwrap();
    assert_ne!(a.name, b.name);
    assert_eq!(a.name.len(), 64);
    assert!(a
        .name
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_eq!(a.labels.get(ANONYMOUS_LABEL).map(String::as_str), Some(""));
    assert!(a.is_anonymous());
}

#[test]
fn create_errors_have_docker_texts_and_leave_nothing() {
    let root = tempfile::tempdir().unwrap();
    let store = VolumeStore::open(root.path()).unwrap();
    let before = entries(store.root());
    let cases: Vec<(CreateOptions, &str, u16)> = vec![
        (named("a"), "create a: volume name is too short, names should be at least two alphanumeric characters", 400),
        (
            named("./x"),
            "create ./x: \"./x\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path",
            400,
        ),
        (
            CreateOptions { name: "v1".into(), driver: "flocker".into(), ..Default::default() },
            "create v1: error looking up volume plugin flocker: plugin \"flocker\" not found",
            404,
        ),
        (
            CreateOptions { name: "v1".into(), options: [("foo".to_string(), "1".to_string())].into(), ..Default::default() },
            "create v1: invalid option: \"foo\"",
            400,
        ),
        (
            CreateOptions { name: "v1".into(), options: [("type".to_string(), "tmpfs".to_string())].into(), ..Default::default() },
            "create v1: missing required option: \"device\"",
            400,
        ),
    ];
    for (opts, want, status) in cases {
        let e = store.create(opts).unwrap_err();
        assert_eq!(e.to_string(), want);
        assert_eq!(e.status(), status);
    }
    assert_eq!(
        entries(store.root()),
        before,
        "a failed create leaves nothing behind"
    );
    assert!(store.list(&Filters::new()).unwrap().is_empty());
}

#[test]
fn list_filters() {
    let root = tempfile::tempdir().unwrap();
    let store = VolumeStore::open(root.path()).unwrap();
    store
        .create(CreateOptions {
            name: "web-data".into(),
            labels: [("app".into(), "web".into())].into(),
            ..Default::default()
        })
        .unwrap();
    store
        .create(CreateOptions {
            name: "db-data".into(),
            labels: [("app".into(), "db".into())].into(),
            ..Default::default()
        })
        .unwrap();
    store.create(named("cache")).unwrap();
    store.acquire("db-data", "c1").unwrap();

    let names = |fl: &Filters| -> Vec<String> {
        store
            .list(fl)
            .unwrap()
            .into_iter()
            .map(|v| v.name)
            .collect()
    };
    assert_eq!(names(&Filters::new()), vec!["cache", "db-data", "web-data"]);
    assert_eq!(
        names(&f(&[("dangling", "true")])),
        vec!["cache", "web-data"]
    );
    assert_eq!(names(&f(&[("dangling", "false")])), vec!["db-data"]);
    assert_eq!(names(&f(&[("name", "data")])), vec!["db-data", "web-data"]);
    assert_eq!(names(&f(&[("label", "app")])), vec!["db-data", "web-data"]);
    assert_eq!(names(&f(&[("label", "app=web")])), vec!["web-data"]);
    assert_eq!(
        names(&f(&[("driver", "local"), ("name", "^cache$")])),
        vec!["cache"]
    );
    assert_eq!(
        store
            .list(&f(&[("colour", "red")]))
            .unwrap_err()
            .to_string(),
        "invalid filter 'colour'"
    );
    assert_eq!(
        store
            .list(&f(&[("dangling", "yes")]))
            .unwrap_err()
            .to_string(),
        "invalid filter 'dangling=yes'"
    );
}

#[test]
fn remove_refuses_in_use_and_missing() {
    let root = tempfile::tempdir().unwrap();
    let store = VolumeStore::open(root.path()).unwrap();
    store.create(named("busy")).unwrap();
    let id = "4f2b1a".repeat(10) + "abcd";
    store.acquire("busy", &id).unwrap();
    for force in [false, true] {
        let e = store.remove("busy", force).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("remove busy: volume is in use - [{id}]")
        );
        assert_eq!(e.status(), 409);
    }
    assert!(store.data_path("busy").is_dir());
    assert_eq!(store.refs("busy"), vec![id.clone()]);

    let e = store.remove("nosuch", false).unwrap_err();
    assert_eq!(e.to_string(), "get nosuch: no such volume");
    assert_eq!(e.status(), 404);
    store.remove("nosuch", true).unwrap();
    assert_eq!(
        store.get("nosuch").unwrap_err().to_string(),
        "get nosuch: no such volume"
    );
    assert!(matches!(
        store.acquire("nosuch", "c"),
        Err(VolumeError::NotFound { .. })
    ));

    store.release("busy", &id);
    std::fs::write(store.data_path("busy").join("f"), b"data").unwrap();
    store.remove("busy", false).unwrap();
    assert!(!store.root().join("busy").exists());
    assert!(store.get("busy").is_err());
    let left: Vec<String> = entries(store.root());
    assert!(left.is_empty(), "nothing left: {left:?}");
}

#[test]
fn set_refs_rebuilds_references() {
    let root = tempfile::tempdir().unwrap();
    let store = VolumeStore::open(root.path()).unwrap();
    store.create(named("v1")).unwrap();
    store.create(named("v2")).unwrap();
    store.acquire("v2", "old").unwrap();
    store.set_refs([("v1", "c1"), ("v1", "c2"), ("gone", "c3")]);
    assert_eq!(store.refs("v1"), vec!["c1", "c2"]);
    assert!(store.refs("v2").is_empty());
    assert!(store.remove("v1", false).is_err());
    store.remove("v2", false).unwrap();
}

#[test]
fn prune_anonymous_only_unless_all() {
    let root = tempfile::tempdir().unwrap();
    let store = VolumeStore::open(root.path()).unwrap();
    let anon = store.create(CreateOptions::default()).unwrap().name;
    let anon_used = store.create(CreateOptions::default()).unwrap().name;
    store.acquire(&anon_used, "c1").unwrap();
    store.create(named("keepme")).unwrap();
    store
        .create(CreateOptions {
            name: "labelled".into(),
            labels: [("x".into(), "1".into())].into(),
            ..Default::default()
        })
        .unwrap();
    store
        .create(CreateOptions {
            name: "withopts".into(),
            options: [
                ("type".into(), "tmpfs".into()),
                ("device".into(), "tmpfs".into()),
            ]
            .into(),
            ..Default::default()
        })
        .unwrap();
    std::fs::write(store.data_path(&anon).join("f"), vec![0u8; 1000]).unwrap();

    let rep = store.prune(&Filters::new()).unwrap();
    assert_eq!(rep.volumes_deleted, vec![anon.clone()]);
    assert_eq!(rep.space_reclaimed, 1000);
    assert!(store.get("keepme").is_ok());

    assert_eq!(
        store
            .prune(&f(&[("all", "maybe")]))
            .unwrap_err()
            .to_string(),
        "invalid filter 'all': strconv.ParseBool: parsing \"maybe\": invalid syntax"
    );
    assert_eq!(
        store
            .prune(&f(&[("dangling", "true")]))
            .unwrap_err()
            .to_string(),
        "invalid filter 'dangling'"
    );

    let rep = store
        .prune(&f(&[("all", "true"), ("label", "x=1")]))
        .unwrap();
    assert_eq!(rep.volumes_deleted, vec!["labelled"]);
    let rep = store.prune(&f(&[("all", "1")])).unwrap();
    assert_eq!(rep.volumes_deleted, vec!["keepme"]);
    // In use and option volumes stay.
    let left: Vec<String> = store
        .list(&Filters::new())
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect();
    let mut want = vec![anon_used.clone(), "withopts".to_string()];
    want.sort();
    assert_eq!(left, want);
}

#[test]
fn usage_reports_sizes_and_refcounts() {
    let root = tempfile::tempdir().unwrap();
    let store = VolumeStore::open(root.path()).unwrap();
    store.create(named("sized")).unwrap();
    let d = store.data_path("sized");
    std::fs::create_dir(d.join("sub")).unwrap();
    std::fs::write(d.join("sub/a"), vec![1u8; 3000]).unwrap();
    std::fs::write(d.join("b"), vec![1u8; 500]).unwrap();
    std::fs::hard_link(d.join("b"), d.join("b2")).unwrap();
    store.acquire("sized", "c1").unwrap();
    let u = store.usage();
    assert_eq!(u.len(), 1);
    let ud = u[0].usage_data.as_ref().unwrap();
    assert_eq!(ud.size, 3500, "hard links count once");
    assert_eq!(ud.ref_count, 1);
    let json = serde_json::to_value(&u[0]).unwrap();
    assert_eq!(
        json["UsageData"],
        serde_json::json!({"Size": 3500, "RefCount": 1})
    );
}

#[test]
fn leftovers_of_interrupted_creates_are_cleaned() {
    let root = tempfile::tempdir().unwrap();
    let store = VolumeStore::open(root.path()).unwrap();
    let vroot = store.root().to_path_buf();
    drop(store);
    std::fs::create_dir_all(vroot.join(".tmp-deadbeef/_data")).unwrap();
    // A volume directory without its record (e.g. copied in by hand) is still a volume.
    std::fs::create_dir_all(vroot.join("bare/_data")).unwrap();
    let store = VolumeStore::open(root.path()).unwrap();
    assert!(!vroot.join(".tmp-deadbeef").exists());
    assert_eq!(store.get("bare").unwrap().driver, "local");
}

#[test]
fn api_create_body_converts() {
    let body: berth_volume::VolumeCreateBody = serde_json::from_str(
        r#"{"Name":"fromapi","Driver":"local","DriverOpts":{"type":"tmpfs","device":"tmpfs"},"Labels":null}"#,
    )
    .unwrap();
    let root = tempfile::tempdir().unwrap();
    let store = VolumeStore::open(root.path()).unwrap();
    let v = store.create(body.into()).unwrap();
    assert_eq!(v.name, "fromapi");
    assert_eq!(v.options["type"], "tmpfs");
    assert!(v.labels.is_empty());
    let anon: berth_volume::VolumeCreateBody = serde_json::from_str("{}").unwrap();
    assert!(store.create(anon.into()).unwrap().is_anonymous());
}

#[test]
fn activity_is_tracked_per_container() {
    let root = tempfile::tempdir().unwrap();
    let store = VolumeStore::open(root.path()).unwrap();
    store.create(named("act")).unwrap();
    assert!(!store.is_active("act", "c1"));
    store.mount("act", "c1").unwrap();
    store.mount("act", "c2").unwrap();
    assert!(store.is_active("act", "c1") && store.is_active("act", "c2"));
    store.unmount("act", "c1").unwrap();
    assert!(!store.is_active("act", "c1"));
    assert!(store.is_active("act", "c2"));
    // Unmounting twice, or an unknown container, is fine.
    store.unmount("act", "c1").unwrap();
    store.unmount("act", "nobody").unwrap();
    store.restore_active([("act", "c3")]);
    assert!(!store.is_active("act", "c2"));
    assert!(store.is_active("act", "c3"));
    assert!(!store.is_active("missing", "c3"));
}
