//! commit: a container's upper dir becomes a layer of a child image.

mod common;

use std::fs;
use std::os::unix::fs::FileTypeExt;

use berth_image::{CommitOptions, ContainerConfig, ContainerUse, ErrorKind, RemovedItem};
use common::*;

fn none(_: &str) -> Option<ContainerUse> {
    None
}

/// An overlay upper dir: a new file, a whiteout (0/0 char device), an opaque dir.
fn upper() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::create_dir_all(d.path().join("app")).unwrap();
    fs::write(d.path().join("app/run.sh"), b"#!/bin/sh\necho hi\n").unwrap();
    fs::create_dir_all(d.path().join("etc")).unwrap();
    let tar = Tar::new()
        .node("etc/hostname", tar::EntryType::Char, 0o600, 0, 0)
        .finish();
    berth_image::unpack(&tar[..], d.path(), &Default::default()).unwrap();
    fs::create_dir_all(d.path().join("run/mnt")).unwrap();
    d
}

#[test]
fn commit_adds_a_layer_and_history() {
    let f = Fixture::new();
    let base = f
        .store
        .import(&tiny_tar("base")[..], Some("base"), &["ENV A=1".into()], "")
        .unwrap();
    let up = upper();
    let cfg = ContainerConfig {
        env: Some(vec!["A=1".into()]),
        cmd: Some(vec!["sh".into()]),
        ..Default::default()
    };
    let opts = CommitOptions {
        reference: Some("child:v1".into()),
        author: "me".into(),
        comment: "added app".into(),
        changes: vec!["CMD [\"/app/run.sh\"]".into()],
        config: cfg,
        container_id: "c0ffee".repeat(10) + "abcd",
        created_by: "sh".into(),
        exclude: vec!["run/mnt".into()],
    };
    let child = f.store.commit(&base, up.path(), &opts).unwrap();
    let img = f.store.resolve("child:v1").unwrap();
    assert_eq!(img.id, child);
    assert_eq!(img.parent, base.as_str());
    let c = &img.config;
    assert_eq!(c.author, "me");
    assert_eq!(c.comment, "added app");
    assert_eq!(c.container, opts.container_id);
    assert_eq!(c.rootfs.diff_ids.len(), 2);
    assert_eq!(c.history.len(), 2);
    assert_eq!(c.history[1].created_by, "sh");
    assert_eq!(c.history[1].comment, "added app");
    assert!(!c.history[1].empty_layer);
    let cc = c.container_config();
    assert_eq!(cc.cmd, Some(vec!["/app/run.sh".to_string()]));
    assert_eq!(cc.env, Some(vec!["A=1".to_string()]));

    let dirs = f.store.layer_dirs(&child).unwrap();
    assert_eq!(dirs.len(), 2);
    assert_eq!(
        dirs[1],
        f.store.layer_dirs(&base).unwrap()[0],
        "the base layer is shared"
    );
    assert_eq!(
        fs::read(dirs[0].join("app/run.sh")).unwrap(),
        b"#!/bin/sh\necho hi\n"
    );
    let wh = fs::symlink_metadata(dirs[0].join("etc/hostname")).unwrap();
    assert!(
        wh.file_type().is_char_device(),
        "whiteout kept in overlay form"
    );
    assert!(!dirs[0].join("run/mnt").exists(), "excluded");
    assert!(dirs[0].join("run").exists());

    // The parent cannot go while the child exists.
    let e = f
        .store
        .remove(base.as_str(), true, true, &none)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(
        e.to_string(),
        format!(
            "conflict: unable to delete {} (cannot be forced) - image has dependent child images",
            base.short()
        )
    );
    // By tag it is only untagged (it is not dangling: it has a child).
    assert_eq!(
        f.store.remove("base", false, true, &none).unwrap(),
        [RemovedItem::Untagged("base:latest".into())]
    );
    // Removing the child prunes the untagged parent, and both layers go.
    let out = f.store.remove("child:v1", false, true, &none).unwrap();
    assert_eq!(out.len(), 5, "{out:?}");
    assert_eq!(out[0], RemovedItem::Untagged("child:v1".into()));
    assert_eq!(out[1], RemovedItem::Deleted(child.as_str().into()));
    assert!(out.contains(&RemovedItem::Deleted(base.as_str().into())));
    assert!(f.store.list().is_empty());
    assert_eq!(f.count("layers"), 0);
}

#[test]
fn empty_commit_adds_only_history() {
    let f = Fixture::new();
    let base = f
        .store
        .import(&tiny_tar("base")[..], None, &[], "")
        .unwrap();
    let empty = tempfile::tempdir().unwrap();
    let opts = CommitOptions {
        created_by: "true".into(),
        ..Default::default()
    };
    let child = f.store.commit(&base, empty.path(), &opts).unwrap();
    let img = f.store.resolve(child.as_str()).unwrap();
    assert_eq!(img.config.rootfs.diff_ids.len(), 1);
    assert!(img.config.history[1].empty_layer);
    assert_eq!(
        f.store.layer_dirs(&child).unwrap(),
        f.store.layer_dirs(&base).unwrap()
    );
    assert_eq!(f.count("layers"), 1);
    assert_eq!(f.count("tmp"), 0);
    let e = f.store.commit(
        &base,
        empty.path(),
        &CommitOptions {
            reference: Some("Bad".into()),
            ..Default::default()
        },
    );
    assert_eq!(e.unwrap_err().kind(), ErrorKind::InvalidArgument);
}
