//! import / resolve / list / layer_dirs / tag against a real busybox rootfs tar.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use berth_image::{ErrorKind, ImageId, ImageStore};
use common::*;

#[test]
fn import_busybox_makes_a_docker_shaped_image() {
    let f = Fixture::new();
    let tar = busybox_tar();
    let id = f.store.import(&tar[..], Some("busybox"), &[], "").unwrap();

    // The id is the sha256 of the stored config bytes.
    let bytes = f.store.config_bytes(&id).unwrap();
    assert_eq!(sha256(&bytes), id.as_str());
    let raw: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(raw["architecture"], "amd64");
    assert_eq!(raw["os"], "linux");
    assert_eq!(raw["comment"], "Imported from -");
    assert_eq!(raw["rootfs"]["type"], "layers");
    assert_eq!(raw["rootfs"]["diff_ids"], serde_json::json!([sha256(&tar)]));
    assert_eq!(raw["history"][0]["comment"], "Imported from -");
    assert_eq!(raw["history"][0]["created"], raw["created"]);
    assert!(berth_types::time::parse_rfc3339(raw["created"].as_str().unwrap()).is_some());
    // Docker's import adds no PATH: the engine supplies the default at run time.
    assert_eq!(raw["config"]["Env"], serde_json::Value::Null);
    assert_eq!(raw["config"]["Cmd"], serde_json::Value::Null);

    let img = f.store.resolve("busybox").unwrap();
    assert_eq!(img.id, id);
    assert_eq!(img.repo_tags, ["busybox:latest"]);
    assert!(img.repo_digests.is_empty());
    let bb_len = fs::metadata("/bin/busybox").unwrap().len();
    assert!(
        img.size >= bb_len,
        "size {} counts busybox {}",
        img.size,
        bb_len
    );
    assert_eq!(img.created, raw["created"].as_str().unwrap());

    // The layer is unpacked under layers/<diff id hex>/diff (chain id of a base layer).
    let dirs = f.store.layer_dirs(&id).unwrap();
    let hex = &sha256(&tar)["sha256:".len()..];
    assert_eq!(dirs, vec![f.root().join("layers").join(hex).join("diff")]);
    let busybox = dirs[0].join("bin/busybox");
    assert_eq!(fs::metadata(&busybox).unwrap().len(), bb_len);
    assert_eq!(fs::metadata(&busybox).unwrap().mode() & 0o7777, 0o755);
    assert_eq!(
        fs::read_link(dirs[0].join("bin/sh")).unwrap().to_str(),
        Some("busybox")
    );
    assert_eq!(
        fs::metadata(dirs[0].join("tmp")).unwrap().mode() & 0o7777,
        0o1777
    );
    assert_eq!(
        fs::metadata(dirs[0].join("etc/passwd")).unwrap().mtime() as u64,
        MTIME
    );
    let meta: serde_json::Value = serde_json::from_slice(
        &fs::read(f.root().join("layers").join(hex).join("meta.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(meta["diff_id"], sha256(&tar));
    assert_eq!(meta["chain_id"], sha256(&tar));
    assert_eq!(f.count("tmp"), 0, "no temp dirs left");

    // Survives a reopen.
    let again = ImageStore::open(&f.root()).unwrap();
    let img2 = again.resolve("busybox:latest").unwrap();
    assert_eq!(img2, img);
}

#[test]
fn importing_twice_shares_the_layer_and_gzip_gives_the_same_diff_id() {
    let f = Fixture::new();
    let tar = busybox_tar();
    let a = f.store.import(&tar[..], Some("a"), &[], "first").unwrap();
    let b = f
        .store
        .import(&gzip(&tar)[..], Some("b:1"), &[], "second")
        .unwrap();
    assert_ne!(
        a, b,
        "different created time and comment → different config"
    );
    assert_eq!(f.count("layers"), 1, "one shared layer");
    assert_eq!(
        f.store.layer_dirs(&a).unwrap(),
        f.store.layer_dirs(&b).unwrap()
    );
    let cb = f.store.resolve("b:1").unwrap().config;
    assert_eq!(cb.rootfs.diff_ids, vec![sha256(&tar)]);
    assert_eq!(cb.comment, "second");
    assert_eq!(f.count("tmp"), 0);
    let list = f.store.list();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].id, b, "newest first");
    assert_eq!(list[0].repo_tags, ["b:1"]);
    assert_eq!(list[1].repo_tags, ["a:latest"]);
}

#[test]
fn import_applies_changes_and_refuses_bad_input_before_unpacking() {
    let f = Fixture::new();
    let changes = vec![
        "CMD [\"/bin/sh\"]".to_string(),
        "ENV A=1".to_string(),
        "EXPOSE 80".to_string(),
        "WORKDIR /srv".to_string(),
    ];
    let id = f
        .store
        .import(
            &tiny_tar("x")[..],
            Some("localhost:5000/x:1"),
            &changes,
            "msg",
        )
        .unwrap();
    let img = f.store.resolve("localhost:5000/x:1").unwrap();
    assert_eq!(img.id, id);
    assert_eq!(img.repo_tags, ["localhost:5000/x:1"]);
    let c = img.config.container_config();
    assert_eq!(c.cmd, Some(vec!["/bin/sh".to_string()]));
    assert_eq!(c.env, Some(vec!["A=1".to_string()]));
    assert_eq!(c.working_dir, "/srv");
    assert!(c.exposed_ports.unwrap().contains_key("80/tcp"));

    let e = f
        .store
        .import(&tiny_tar("y")[..], None, &["RUN x".to_string()], "")
        .unwrap_err();
    assert_eq!(e.to_string(), "run is not a valid change command");
    let e = f
        .store
        .import(&tiny_tar("y")[..], Some("Bad"), &[], "")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid reference format: repository name (library/Bad) must be lowercase"
    );
    let d = format!("x@sha256:{}", "a".repeat(64));
    assert_eq!(
        f.store
            .import(&tiny_tar("y")[..], Some(&d), &[], "")
            .unwrap_err()
            .to_string(),
        "cannot import digest reference"
    );
    let e = f
        .store
        .import(&b"BZh91AY&SY"[..], None, &[], "")
        .unwrap_err();
    assert_eq!(e.to_string(), "unsupported compression format: bzip2");
    assert_eq!(f.count("layers"), 1);
    assert_eq!(f.store.list().len(), 1);
}

#[test]
fn resolve_by_every_form_and_short_ids() {
    let f = Fixture::new();
    // 17 images: by pigeonhole two share their first hex digit.
    let mut ids: Vec<ImageId> = Vec::new();
    for i in 0..17 {
        ids.push(
            f.store
                .import(
                    &tiny_tar(&format!("img{i}"))[..],
                    None,
                    &[],
                    &format!("m{i}"),
                )
                .unwrap(),
        );
    }
    f.store.tag(ids[0].as_str(), "busybox").unwrap();
    let id = &ids[0];
    for form in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox",
        "docker.io/library/busybox:latest",
        "library/busybox",
        id.as_str(),
        id.hex(),
        &id.hex()[..12],
        &format!("sha256:{}", &id.hex()[..12]),
    ] {
        assert_eq!(
            &f.store
                .resolve(form)
                .unwrap_or_else(|e| panic!("{form}: {e}"))
                .id,
            id,
            "{form}"
        );
    }
    let e = f.store.resolve("nope").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.to_string(), "No such image: nope:latest");
    assert_eq!(
        f.store.resolve("busybox:2").unwrap_err().to_string(),
        "No such image: busybox:2"
    );
    let missing = format!("sha256:{}", "0".repeat(64));
    assert_eq!(
        f.store.resolve(&missing).unwrap_err().to_string(),
        format!("No such image: {missing}")
    );
    assert_eq!(
        f.store.resolve("Bad").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );

    // Ambiguous prefix → not found (as Docker does); each image's full hex is unique.
    let mut by_first: std::collections::BTreeMap<char, usize> = Default::default();
    for i in &ids {
        *by_first.entry(i.hex().chars().next().unwrap()).or_default() += 1;
    }
    let (shared, _) = by_first.iter().find(|(_, n)| **n > 1).unwrap();
    let e = f.store.resolve(&shared.to_string()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    for i in &ids {
        assert_eq!(&f.store.resolve(&i.hex()[..20]).unwrap().id, i);
    }
    // Dangling images are listed with no tags.
    let list = f.store.list();
    assert_eq!(list.len(), 17);
    assert_eq!(list.iter().filter(|i| i.repo_tags.is_empty()).count(), 16);
}

#[test]
fn tag_moves_and_validates() {
    let f = Fixture::new();
    let a = f
        .store
        .import(&tiny_tar("a")[..], Some("app:1"), &[], "")
        .unwrap();
    let b = f
        .store
        .import(&tiny_tar("b")[..], Some("app:2"), &[], "")
        .unwrap();
    f.store.tag("app:1", "app:latest").unwrap();
    f.store.tag(&a.hex()[..8], "localhost:5000/app:v1").unwrap();
    assert_eq!(f.store.resolve("app").unwrap().id, a);
    assert_eq!(
        f.store.resolve(a.as_str()).unwrap().repo_tags,
        ["app:1", "app:latest", "localhost:5000/app:v1"]
    );
    // Moving a tag to another image.
    f.store.tag("app:2", "app").unwrap();
    assert_eq!(f.store.resolve("app").unwrap().id, b);
    assert_eq!(
        f.store.resolve("app:1").unwrap().repo_tags,
        ["app:1", "localhost:5000/app:v1"]
    );
    let e = f
        .store
        .tag("app:1", &format!("app@sha256:{}", "a".repeat(64)))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "refusing to create a tag with a digest reference"
    );
    assert_eq!(
        f.store.tag("app:1", "UPPER").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        f.store.tag("missing", "x").unwrap_err().to_string(),
        "No such image: missing:latest"
    );
    // Persisted in Docker's repositories.json shape.
    let raw: serde_json::Value =
        serde_json::from_slice(&fs::read(f.root().join("repositories.json")).unwrap()).unwrap();
    assert_eq!(raw["Repositories"]["app"]["app:latest"], b.as_str());
    assert_eq!(
        raw["Repositories"]["localhost:5000/app"]["localhost:5000/app:v1"],
        a.as_str()
    );
}

#[test]
fn leftover_tmp_files_are_ignored_and_swept() {
    let f = Fixture::new();
    let id = f
        .store
        .import(&tiny_tar("a")[..], Some("keep"), &[], "")
        .unwrap();
    let root = f.root();
    // A crash mid-write leaves temp files next to the real ones, and a half import.
    fs::write(
        root.join(".repositories.json.123-abc-0.tmp"),
        b"{\"Repositories\":{\"x\"",
    )
    .unwrap();
    fs::write(root.join("images/sha256/.deadbeef.json.1-2-3.tmp"), b"{").unwrap();
    fs::write(root.join("blobs/sha256/.x.1-2-3.tmp"), b"torn").unwrap();
    fs::create_dir_all(root.join("tmp/layer-1-2-3/diff/etc")).unwrap();
    let s = ImageStore::open(&root).unwrap();
    assert_eq!(s.resolve("keep").unwrap().id, id);
    assert_eq!(s.list().len(), 1);
    assert_eq!(count_entries(&root.join("tmp")), 0);
    assert!(!root.join(".repositories.json.123-abc-0.tmp").exists());
    assert_eq!(count_entries(&root.join("blobs/sha256")), 1);
    // A blob whose bytes do not match its name is not trusted.
    let blob = root.join("blobs/sha256").join(id.hex());
    fs::write(&blob, b"{}").unwrap();
    let s = ImageStore::open(&root).unwrap();
    assert!(s.resolve(id.as_str()).is_err());
}

#[test]
fn concurrent_imports_of_the_same_layer() {
    let f = std::sync::Arc::new(Fixture::new());
    let tar = std::sync::Arc::new(busybox_tar());
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let (f, tar) = (f.clone(), tar.clone());
            std::thread::spawn(move || {
                f.store
                    .import(&tar[..], Some(&format!("t{i}")), &[], &format!("{i}"))
                    .unwrap()
            })
        })
        .collect();
    let ids: Vec<ImageId> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(f.count("layers"), 1);
    assert_eq!(f.count("tmp"), 0);
    for id in &ids {
        assert!(f.store.layer_dirs(id).unwrap()[0]
            .join("bin/busybox")
            .exists());
    }
}

#[test]
fn add_layer_stacks_and_leases_protect_layers() {
    let f = Fixture::new();
    let base = tiny_tar("base");
    let top = Tar::new()
        .dir("etc/", 0o755)
        .file("etc/.wh.hostname", 0o644, b"")
        .file("etc/new", 0o644, b"n")
        .finish();
    let l0 = f.store.add_layer(None, &base[..], None).unwrap();
    let l1 = f
        .store
        .add_layer(
            Some(&l0.meta().chain_id),
            &top[..],
            Some((1, &sha256(&top))),
        )
        .unwrap();
    let bad = f
        .store
        .add_layer(None, &top[..], Some((0, &sha256(b"x"))))
        .unwrap_err();
    assert!(
        bad.to_string()
            .starts_with("invalid diffID for layer 0: expected "),
        "{bad}"
    );
    assert_eq!(f.count("layers"), 2, "the refused layer is not kept");
    assert_eq!(l0.meta().chain_id, sha256(&base));
    assert_eq!(l1.meta().diff_id, sha256(&top));
    let chain1 = sha256(format!("{} {}", sha256(&base), sha256(&top)).as_bytes());
    assert_eq!(l1.meta().chain_id, chain1);
    assert_eq!(l1.meta().parent, l0.meta().chain_id);
    // Pinned layers survive a gc before any image uses them.
    assert!(f.store.gc_layers(&[]).unwrap().is_empty());
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha256(&base), sha256(&top)]},
        "config": {"Cmd": ["/bin/sh"]}
    });
    let bytes = serde_json::to_vec(&config).unwrap();
    let r = berth_image::Reference::parse_tagged("stacked").unwrap();
    let id = f.store.register(&bytes, String::new(), Some(&r)).unwrap();
    drop((l0, l1));
    let dirs = f.store.layer_dirs(&id).unwrap();
    assert_eq!(dirs.len(), 2);
    assert!(dirs[0].join("etc/new").exists(), "top-most first");
    assert!(dirs[1].join("etc/hostname").exists());
    assert!(fs::symlink_metadata(dirs[0].join("etc/hostname"))
        .unwrap()
        .file_type()
        .is_char_device());
    assert!(
        f.store.gc_layers(&[]).unwrap().is_empty(),
        "used by the image"
    );
    // The config bytes are kept verbatim: the id is their digest.
    assert_eq!(f.store.config_bytes(&id).unwrap(), bytes);
    // Registering with a missing layer fails.
    let missing = serde_json::json!({"rootfs": {"type": "layers", "diff_ids": [sha256(b"nope")]}});
    let e = f
        .store
        .register(&serde_json::to_vec(&missing).unwrap(), String::new(), None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[test]
fn digest_references_resolve_and_list_as_repo_digests() {
    let f = Fixture::new();
    let id = f
        .store
        .import(&tiny_tar("d")[..], Some("app:1"), &[], "")
        .unwrap();
    let manifest_digest = sha256(b"a manifest");
    let r = berth_image::Reference::parse(&format!("app@{manifest_digest}")).unwrap();
    f.store.set_reference(&id, &r).unwrap();
    let img = f
        .store
        .resolve(&format!("docker.io/library/app@{manifest_digest}"))
        .unwrap();
    assert_eq!(img.id, id);
    assert_eq!(img.repo_tags, ["app:1"]);
    assert_eq!(img.repo_digests, [format!("app@{manifest_digest}")]);
    // Removing the repository's last tag drops its digests too (Docker's rule).
    let out = f
        .store
        .remove("app:1", false, true, &|_: &str| None)
        .unwrap();
    assert_eq!(out[0], berth_image::RemovedItem::Untagged("app:1".into()));
    assert_eq!(
        out[1],
        berth_image::RemovedItem::Untagged(format!("app@{manifest_digest}"))
    );
    assert_eq!(
        out[2],
        berth_image::RemovedItem::Deleted(id.as_str().into())
    );
    let missing = ImageId::parse(&sha256(b"none")).unwrap();
    assert_eq!(
        f.store.set_reference(&missing, &r).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn an_imported_layer_is_kept_plain_until_compressed_once_for_a_push() {
    use std::io::Read;
    let f = Fixture::new();
    let tar = Tar::new()
        .dir("etc", 0o755)
        .file("etc/motd", 0o644, b"hello\n")
        .finish();
    f.store.import(&tar[..], Some("plain"), &[], "").unwrap();
    let chain = sha256(&tar); // a base layer's chain id is its diff id
    let layers = f.store.layers();
    let dir = layers.layer_path(&chain).unwrap();
    assert!(dir.join("layer.tar").exists());
    assert!(!dir.join("layer.tar.gz").exists());
    assert!(layers.meta(&chain).unwrap().archive_digest.is_empty());
    // Read back as is: the exact stream (its digest is the diff id).
    let (mut r, len) = layers.open_archive(&chain).unwrap();
    let mut back = Vec::new();
    r.read_to_end(&mut back).unwrap();
    assert_eq!((back.len() as u64, &back), (len, &tar));

    // The first push compresses it: the gzip replaces the plain copy and is named in
    // the meta with its digest and length; a second call changes nothing.
    let meta = layers.compressed(&chain).unwrap();
    let gz = fs::read(dir.join("layer.tar.gz")).unwrap();
    assert_eq!(meta.archive_digest, sha256(&gz));
    assert_eq!(meta.archive_size, gz.len() as u64);
    assert!(!dir.join("layer.tar").exists());
    assert_eq!(layers.meta(&chain).unwrap(), meta);
    assert_eq!(layers.compressed(&chain).unwrap(), meta);
    let (mut r, _) = layers.open_archive(&chain).unwrap();
    let mut back = Vec::new();
    r.read_to_end(&mut back).unwrap();
    assert_eq!(back, tar);
}
