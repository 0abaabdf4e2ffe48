//! save / load: archives round-trip, older layouts load, hostile archives are refused.

mod common;

use std::collections::BTreeMap;
use std::fs;

use berth_image::{CommitOptions, ErrorKind, ImageStore};
use common::*;

/// name → content of every regular file in an archive.
fn entries(tar: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut a = tar::Archive::new(tar);
    let mut out = BTreeMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        out.insert(name, data);
    }
    out
}

#[test]
fn save_then_load_round_trips() {
    let f = Fixture::new();
    let tar = busybox_tar();
    let id = f
        .store
        .import(&tar[..], Some("busybox"), &["CMD [\"sh\"]".into()], "")
        .unwrap();
    f.store.tag("busybox", "busybox:1").unwrap();
    let up = tempfile::tempdir().unwrap();
    fs::write(up.path().join("added"), b"new file").unwrap();
    let child = f
        .store
        .commit(
            &id,
            up.path(),
            &CommitOptions {
                reference: Some("kid".into()),
                ..Default::default()
            },
        )
        .unwrap();

    let mut out = Vec::new();
    f.store
        .save(&["busybox".into(), "kid".into()], &mut out)
        .unwrap();
    let e = entries(&out);
    for must in ["manifest.json", "index.json", "oci-layout"] {
        assert!(e.contains_key(must), "{must}");
    }
    let manifest: serde_json::Value = serde_json::from_slice(&e["manifest.json"]).unwrap();
    assert_eq!(
        manifest[0]["RepoTags"],
        serde_json::json!(["busybox:1", "busybox:latest"])
    );
    assert_eq!(manifest[0]["Config"], format!("blobs/sha256/{}", id.hex()));
    assert_eq!(manifest[1]["RepoTags"], serde_json::json!(["kid:latest"]));
    assert_eq!(manifest[1]["Layers"].as_array().unwrap().len(), 2);
    // Every blob's name is its digest; the base layer is stored once.
    for (name, data) in &e {
        if let Some(hex) = name.strip_prefix("blobs/sha256/").filter(|h| !h.is_empty()) {
            assert_eq!(sha256(data), format!("sha256:{hex}"), "{name}");
        }
    }
    assert_eq!(
        e[&format!("blobs/sha256/{}", &sha256(&tar)[7..])],
        tar,
        "the original layer bytes"
    );

    // Into a fresh store.
    let g = Fixture::new();
    let msgs = g.store.load(&out[..]).unwrap();
    assert_eq!(
        msgs,
        [
            "Loaded image: busybox:1",
            "Loaded image: busybox:latest",
            "Loaded image: kid:latest"
        ]
    );
    assert_eq!(g.store.resolve("busybox:1").unwrap().id, id);
    let k = g.store.resolve("kid").unwrap();
    assert_eq!(k.id, child);
    let dirs = g.store.layer_dirs(&child).unwrap();
    assert_eq!(fs::read(dirs[0].join("added")).unwrap(), b"new file");
    assert!(dirs[1].join("bin/busybox").exists());
    assert_eq!(g.count("tmp"), 0);
    // Gzip'd archives load too; loading again moves nothing.
    assert_eq!(g.store.load(&gzip(&out)[..]).unwrap().len(), 3);
    assert_eq!(g.count("layers"), 2);
}

#[test]
fn load_renames_a_moved_tag_and_reports_untagged_ids() {
    let f = Fixture::new();
    let a = f
        .store
        .import(&tiny_tar("a")[..], Some("app"), &[], "")
        .unwrap();
    let mut by_tag = Vec::new();
    f.store.save(&["app".into()], &mut by_tag).unwrap();
    let mut by_id = Vec::new();
    f.store
        .save(&[a.hex()[..12].to_string()], &mut by_id)
        .unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&entries(&by_id)["manifest.json"]).unwrap();
    assert_eq!(manifest[0]["RepoTags"], serde_json::Value::Null);

    let g = Fixture::new();
    let other = g
        .store
        .import(&tiny_tar("other")[..], Some("app"), &[], "")
        .unwrap();
    let msgs = g.store.load(&by_tag[..]).unwrap();
    assert_eq!(
        msgs,
        [
            format!("The image app:latest already exists, renaming the old one with ID {other} to empty string"),
            "Loaded image: app:latest".to_string()
        ]
    );
    assert!(g
        .store
        .resolve(other.as_str())
        .unwrap()
        .repo_tags
        .is_empty());
    let h = Fixture::new();
    assert_eq!(
        h.store.load(&by_id[..]).unwrap(),
        [format!("Loaded image ID: {a}")]
    );
    assert!(h.store.list()[0].repo_tags.is_empty());
    assert_eq!(
        f.store
            .save(&["nope".into()], Vec::new())
            .unwrap_err()
            .to_string(),
        "No such image: nope:latest"
    );
}

/// An archive in the pre-v25 layout: `<id>/layer.tar` (the second a symlink to the first).
fn legacy_archive(config: &[u8], layer: &[u8], manifest: &str) -> Vec<u8> {
    let cfg_name = format!("{}.json", &sha256(config)[7..]);
    Tar::new()
        .dir("aaaa/", 0o755)
        .file("aaaa/VERSION", 0o644, b"1.0")
        .file("aaaa/layer.tar", 0o644, layer)
        .dir("bbbb/", 0o755)
        .symlink("bbbb/layer.tar", "../aaaa/layer.tar")
        .file(&cfg_name, 0o644, config)
        .file(
            "manifest.json",
            0o644,
            manifest.replace("CFG", &cfg_name).as_bytes(),
        )
        .finish()
}

#[test]
fn legacy_layout_with_linked_layers_loads() {
    let layer = tiny_tar("legacy");
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(&layer)]},
    }))
    .unwrap();
    let manifest = r#"[{"Config":"CFG","RepoTags":["old:1"],"Layers":["bbbb/layer.tar"]}]"#;
    let f = Fixture::new();
    let msgs = f
        .store
        .load(&legacy_archive(&config, &gzip(&layer), manifest)[..])
        .unwrap();
    assert_eq!(msgs, ["Loaded image: old:1"]);
    let img = f.store.resolve("old:1").unwrap();
    assert_eq!(img.id.as_str(), sha256(&config));
    assert_eq!(
        fs::read(f.store.layer_dirs(&img.id).unwrap()[0].join("etc/hostname")).unwrap(),
        b"legacy"
    );
    // The config bytes are kept verbatim.
    assert_eq!(f.store.config_bytes(&img.id).unwrap(), config);
    // A reopened store still knows it.
    assert_eq!(
        ImageStore::open(&f.root())
            .unwrap()
            .resolve("old:1")
            .unwrap()
            .id,
        img.id
    );
}

#[test]
fn hostile_or_broken_archives_are_refused() {
    let layer = tiny_tar("x");
    let good = serde_json::to_vec(&serde_json::json!({
        "os": "linux", "rootfs": {"type": "layers", "diff_ids": [sha256(&layer)]},
    }))
    .unwrap();
    let wrong = serde_json::to_vec(&serde_json::json!({
        "os": "linux", "rootfs": {"type": "layers", "diff_ids": [sha256(b"other")]},
    }))
    .unwrap();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            legacy_archive(
                &wrong,
                &layer,
                r#"[{"Config":"CFG","Layers":["aaaa/layer.tar"]}]"#,
            ),
            "invalid diffID for layer 0",
        ),
        (
            legacy_archive(
                &good,
                &layer,
                r#"[{"Config":"CFG","Layers":["aaaa/layer.tar","aaaa/layer.tar"]}]"#,
            ),
            "layers length mismatch",
        ),
        // Paths in the manifest cannot reach the host: these resolve inside the archive.
        (
            legacy_archive(
                &good,
                &layer,
                r#"[{"Config":"../../../../etc/passwd","Layers":[]}]"#,
            ),
            "etc/passwd",
        ),
        (
            legacy_archive(
                &good,
                &layer,
                r#"[{"Config":"CFG","Layers":["/etc/passwd"]}]"#,
            ),
            "etc/passwd",
        ),
        (
            Tar::new().symlink("manifest.json", "/etc/passwd").finish(),
            "manifest.json not found",
        ),
        (
            Tar::new().file("x", 0o644, b"x").finish(),
            "manifest.json not found",
        ),
        (
            Tar::new().file("../escape", 0o644, b"x").finish(),
            "path escapes the destination directory",
        ),
    ];
    for (archive, want) in cases {
        let f = Fixture::new();
        let e = f.store.load(&archive[..]).unwrap_err();
        assert!(e.to_string().contains(want), "{e} should mention {want}");
        assert_ne!(e.kind(), ErrorKind::NotFound);
        assert!(f.store.list().is_empty());
        assert_eq!(f.count("layers"), 0, "{want}");
        assert_eq!(f.count("tmp"), 0);
    }
}
