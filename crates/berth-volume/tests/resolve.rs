//! Resolution of a container's mounts: binds, named/anonymous/image volumes, tmpfs,
//! volumes-from, duplicates, ordering, undo on failure, start/stop/removal.

use berth_types::docker::MountSpec;
use berth_volume::filters::Filters;
use berth_volume::parse::*;
use berth_volume::resolve::*;
use berth_volume::store::{CreateOptions, VolumeStore};
use serde_json::json;
use std::os::unix::fs::MetadataExt;

const CID: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

fn ctx(store: &VolumeStore) -> ResolveContext<'_> {
    ResolveContext {
        store,
        container_id: CID,
        volume_driver: "",
    }
}

fn names(store: &VolumeStore) -> Vec<String> {
    store
        .list(&Filters::new())
        .unwrap()
        .into_iter()
        .map(|v| v.name)
        .collect()
}

#[test]
fn binds_volumes_tmpfs_and_image_volumes() {
    let data_root = tempfile::tempdir().unwrap();
    let host = tempfile::tempdir().unwrap();
    let store = VolumeStore::open(data_root.path()).unwrap();
    let missing = host.path().join("made/by/dash-v");
    let reqs = vec![
        parse_bind_spec(&format!("{}:/etc/app:ro", missing.display()), "").unwrap(),
        parse_bind_spec("named1:/data", "").unwrap(),
        parse_bind_spec("/anon", "").unwrap(),
        parse_mount_spec(
            &serde_json::from_value::<MountSpec>(
                json!({"Type":"tmpfs","Target":"/scratch","TmpfsOptions":{"SizeBytes":65536}}),
            )
            .unwrap(),
        )
        .unwrap(),
        parse_tmpfs("/run", "size=64m,mode=1777").unwrap(),
        parse_bind_spec("named2:/data/sub:nocopy", "").unwrap(),
    ];
    // The image's VOLUME /data is covered by `named1`; /var/log is not.
    let out = resolve(&reqs, &["/data".into(), "/var/log/".into()], &ctx(&store)).unwrap();

    assert!(missing.is_dir(), "-v creates a missing host directory");
    assert_eq!(fs_mode(&missing), 0o755);
    let targets: Vec<&str> = out.iter().map(|m| m.spec.target.as_str()).collect();
    assert_eq!(targets.len(), 7);
    let depths: Vec<usize> = targets.iter().map(|t| t.matches('/').count()).collect();
    assert!(
        depths.windows(2).all(|w| w[0] <= w[1]),
        "parents before children: {targets:?}"
    );
    let pos = |t: &str| targets.iter().position(|x| *x == t).unwrap();
    assert!(pos("/data") < pos("/data/sub"));

    let by = |t: &str| out.iter().find(|m| m.spec.target == t).unwrap();
    let b = by("/etc/app");
    assert_eq!(b.spec.options, vec!["rbind", "ro", "rro", "rprivate"]);
    let p = b.point.as_ref().unwrap();
    assert_eq!(
        (
            p.kind.as_str(),
            p.mode.as_str(),
            p.rw,
            p.propagation.as_str()
        ),
        ("bind", "ro", false, "rprivate")
    );

    let n = by("/data");
    assert_eq!(n.volume.as_deref(), Some("named1"));
    assert!(n.copy_data && !n.anonymous);
    assert_eq!(n.spec.source, store.data_path("named1").to_string_lossy());
    let p = n.point.as_ref().unwrap();
    assert_eq!(
        (
            p.kind.as_str(),
            p.name.as_str(),
            p.driver.as_str(),
            p.mode.as_str(),
            p.rw
        ),
        ("volume", "named1", "local", "z", true)
    );
    assert!(!by("/data/sub").copy_data, "nocopy");

    let a = by("/anon");
    assert!(a.anonymous);
    assert_eq!(a.volume.as_ref().unwrap().len(), 64);
    let img = by("/var/log");
    assert!(img.anonymous && img.copy_data);
    assert_eq!(
        img.point.as_ref().unwrap().mode,
        "",
        "image volumes show no mode"
    );

    let t = by("/scratch");
    assert_eq!(t.spec.fstype, "tmpfs");
    assert_eq!(
        t.spec.options,
        vec!["noexec", "nosuid", "nodev", "size=64k"]
    );
    assert_eq!(t.point.as_ref().unwrap().kind, "tmpfs");
    let run = by("/run");
    assert!(run.point.is_none(), "--tmpfs is not listed in Mounts");
    assert_eq!(
        run.spec.options,
        vec!["noexec", "nosuid", "nodev", "size=64m", "mode=1777"]
    );

    assert_eq!(mount_points(&out).len(), 6);
    for v in volume_names(&out) {
        assert_eq!(store.refs(v), vec![CID], "{v} referenced by the container");
    }
    let e = store.remove("named1", false).unwrap_err().to_string();
    assert_eq!(e, format!("remove named1: volume is in use - [{CID}]"));

    // Removal with -v: anonymous volumes go, named ones stay.
    let removed = release(&store, CID, &out, true);
    assert_eq!(removed.len(), 2);
    let left = names(&store);
    assert_eq!(left, vec!["named1", "named2"]);
    assert!(store.refs("named1").is_empty());
}

fn fs_mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().mode() & 0o7777
}

#[test]
fn duplicates_and_mount_bind_missing_source() {
    let data_root = tempfile::tempdir().unwrap();
    let store = VolumeStore::open(data_root.path()).unwrap();
    let dup = vec![
        parse_bind_spec("v1:/data", "").unwrap(),
        parse_bind_spec("/tmp:/data/", "").unwrap(),
    ];
    assert_eq!(
        resolve(&dup, &[], &ctx(&store)).unwrap_err().to_string(),
        "Duplicate mount point: /data"
    );
    let dup2 = vec![
        parse_bind_spec("/tmp:/run", "").unwrap(),
        parse_tmpfs("/run", "").unwrap(),
    ];
    assert_eq!(
        resolve(&dup2, &[], &ctx(&store)).unwrap_err().to_string(),
        "Duplicate mount point: /run"
    );
    assert!(
        names(&store).is_empty(),
        "nothing created by a failed resolution"
    );

    let gone = tempfile::tempdir().unwrap();
    let missing = gone.path().join("x");
    let spec: MountSpec =
        serde_json::from_value(json!({"Type":"bind","Source":missing,"Target":"/x"})).unwrap();
    assert_eq!(
        parse_mount_spec(&spec).unwrap_err().to_string(),
        format!(
            "invalid mount config for type \"bind\": bind source path does not exist: {}",
            missing.display()
        )
    );
    assert!(!missing.exists(), "--mount never creates the source");
}

#[test]
fn failure_undoes_references_and_anonymous_volumes_only() {
    let data_root = tempfile::tempdir().unwrap();
    let store = VolumeStore::open(data_root.path()).unwrap();
    let reqs = vec![
        parse_bind_spec("/a1", "").unwrap(),
        parse_bind_spec("keep:/b1", "").unwrap(),
        // An invalid volume name fails at creation, after the others.
        parse_bind_spec("z:/c1", "").unwrap(),
    ];
    let e = resolve(&reqs, &[], &ctx(&store)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "create z: volume name is too short, names should be at least two alphanumeric characters"
    );
    assert_eq!(
        names(&store),
        vec!["keep"],
        "named volume kept, anonymous one undone"
    );
    assert!(store.refs("keep").is_empty(), "reference released");

    let reqs = vec![parse_bind_spec("vol:/d", "flocker").unwrap()];
    assert_eq!(
        resolve(&reqs, &[], &ctx(&store)).unwrap_err().to_string(),
        "create vol: error looking up volume plugin flocker: plugin \"flocker\" not found"
    );
}

#[test]
fn volumes_from_inherits_and_overrides() {
    let data_root = tempfile::tempdir().unwrap();
    let store = VolumeStore::open(data_root.path()).unwrap();
    let first = resolve(
        &[
            parse_bind_spec("shared:/data", "").unwrap(),
            parse_bind_spec("/tmp:/hostdir", "").unwrap(),
        ],
        &["/anon".into()],
        &ResolveContext {
            store: &store,
            container_id: "first",
            volume_driver: "",
        },
    )
    .unwrap();
    let theirs = mount_points(&first);

    let (id, rw) = parse_volumes_from("first:ro").unwrap();
    assert_eq!(id, "first");
    let mut reqs = volumes_from_requests(rw, &theirs);
    // An explicit -v on an inherited destination replaces it without a duplicate error.
    reqs.push(parse_bind_spec("/tmp:/hostdir", "").unwrap());
    let second = resolve(
        &reqs,
        &[],
        &ResolveContext {
            store: &store,
            container_id: "second",
            volume_driver: "",
        },
    )
    .unwrap();
    assert_eq!(second.len(), 3);
    let data = second.iter().find(|m| m.spec.target == "/data").unwrap();
    assert_eq!(data.volume.as_deref(), Some("shared"));
    assert!(data.spec.options.contains(&"ro".to_string()));
    assert!(!data.point.as_ref().unwrap().rw);
    assert!(!data.copy_data);
    let anon = second.iter().find(|m| m.spec.target == "/anon").unwrap();
    assert!(anon.anonymous);
    assert_eq!(store.refs("shared"), vec!["first", "second"]);
    let hostdir = second.iter().find(|m| m.spec.target == "/hostdir").unwrap();
    assert!(hostdir.point.as_ref().unwrap().rw, "the explicit -v won");

    // Removing the first container with -v keeps the anonymous volume the second uses.
    let removed = release(&store, "first", &first, true);
    assert!(removed.is_empty());
    assert!(store.exists(anon.volume.as_deref().unwrap()));
    let removed = release(&store, "second", &second, true);
    assert_eq!(removed, vec![anon.volume.clone().unwrap()]);
    assert_eq!(names(&store), vec!["shared"]);
}

#[test]
fn activate_copies_image_content_once() {
    let data_root = tempfile::tempdir().unwrap();
    let image = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(image.path().join("app/conf")).unwrap();
    std::fs::write(image.path().join("app/conf/settings"), b"default").unwrap();
    let store = VolumeStore::open(data_root.path()).unwrap();
    store
        .create(CreateOptions {
            name: "prefilled".into(),
            ..Default::default()
        })
        .unwrap();
    std::fs::write(store.data_path("prefilled").join("mine"), b"user data").unwrap();
    let reqs = vec![
        parse_bind_spec("fresh:/app/conf", "").unwrap(),
        parse_bind_spec("prefilled:/app", "").unwrap(),
        parse_bind_spec("skip:/app/other:nocopy", "").unwrap(),
    ];
    let mounts = resolve(&reqs, &[], &ctx(&store)).unwrap();
    let layers = vec![image.path().to_path_buf()];
    let spec = activate(&store, CID, &mounts, &layers).unwrap();
    assert_eq!(spec.len(), 3);
    assert_eq!(
        std::fs::read(store.data_path("fresh").join("settings")).unwrap(),
        b"default"
    );
    assert_eq!(
        berth_volume::store::dir_size(&store.data_path("prefilled")),
        9,
        "non-empty volume untouched"
    );
    assert!(std::fs::read_dir(store.data_path("skip"))
        .unwrap()
        .next()
        .is_none());
    deactivate(&store, CID, &mounts).unwrap();
    release(&store, CID, &mounts, true);
    assert_eq!(
        names(&store),
        vec!["fresh", "prefilled", "skip"],
        "named volumes survive rm -v"
    );
}

#[test]
fn start_makes_a_missing_dash_v_source_again_but_not_a_mount_one() {
    let data_root = tempfile::tempdir().unwrap();
    let store = VolumeStore::open(data_root.path()).unwrap();
    let host = tempfile::tempdir().unwrap();
    let v_src = host.path().join("by-v");
    let m_src = host.path().join("by-mount");
    std::fs::create_dir(&m_src).unwrap();
    let spec: MountSpec =
        serde_json::from_value(json!({"Type":"bind","Source":m_src,"Target":"/m"})).unwrap();
    let reqs = vec![
        parse_bind_spec(&format!("{}:/v", v_src.display()), "").unwrap(),
        parse_mount_spec(&spec).unwrap(),
    ];
    let mounts = resolve(&reqs, &[], &ctx(&store)).unwrap();
    assert!(v_src.is_dir(), "made at create");
    std::fs::remove_dir(&v_src).unwrap();
    std::fs::remove_dir(&m_src).unwrap();
    let spec = activate(&store, CID, &mounts, &[]).unwrap();
    assert_eq!(spec.len(), 2);
    assert!(v_src.is_dir(), "made again at start");
    assert!(!m_src.exists(), "a --mount source is never made");
    // Records written before the field existed read as "do not create".
    let mut old = serde_json::to_value(&mounts[0]).unwrap();
    old.as_object_mut().unwrap().remove("create_source");
    let back: ResolvedMount = serde_json::from_value(old).unwrap();
    assert!(!back.create_source);
}
