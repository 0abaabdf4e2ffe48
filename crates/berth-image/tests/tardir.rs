//! tar_dir: deterministic, faithful, and a round trip through unpack.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use berth_image::{tar_dir, tar_dir_with, unpack, TarOptions, UnpackOptions, WhiteoutMode};
use common::*;

fn names(tar: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(tar);
    a.entries()
        .unwrap()
        .map(|e| String::from_utf8(e.unwrap().path_bytes().into_owned()).unwrap())
        .collect()
}

#[test]
fn round_trip_and_determinism() {
    let src = tempfile::tempdir().unwrap();
    let long = "n".repeat(150);
    let tar = Tar::new()
        .dir("b/", 0o750)
        .file_owned("b/suid", 0o4755, 7, 8, 1_000_000, b"bin")
        .hardlink("b/hl", "b/suid")
        .file("a", 0o600, b"a")
        .symlink("c", "/nowhere")
        .node("fifo", tar::EntryType::Fifo, 0o644, 0, 0)
        .node("null", tar::EntryType::Char, 0o666, 1, 3)
        .finish();
    unpack(&tar[..], src.path(), &UnpackOptions::default()).unwrap();
    fs::create_dir(src.path().join(&long)).unwrap();
    fs::write(src.path().join(&long).join("deep"), b"x").unwrap();
    std::os::unix::fs::symlink(format!("/{long}/{long}"), src.path().join("longlink")).unwrap();

    let mut out1 = Vec::new();
    tar_dir(src.path(), &mut out1).unwrap();
    let mut out2 = Vec::new();
    tar_dir(src.path(), &mut out2).unwrap();
    assert_eq!(out1, out2, "deterministic");
    assert_eq!(
        names(&out1),
        [
            "a",
            "b/",
            "b/hl",
            "b/suid",
            "c",
            "fifo",
            "longlink",
            &format!("{long}/"),
            &format!("{long}/deep"),
            "null"
        ]
    );

    let dst = tempfile::tempdir().unwrap();
    unpack(&out1[..], dst.path(), &UnpackOptions::default()).unwrap();
    let m = fs::metadata(dst.path().join("b/suid")).unwrap();
    assert_eq!(
        (m.uid(), m.gid(), m.mode() & 0o7777, m.mtime(), m.nlink()),
        (7, 8, 0o4755, 1_000_000, 2)
    );
    assert_eq!(
        fs::read_link(dst.path().join("c")).unwrap().to_str(),
        Some("/nowhere")
    );
    assert!(fs::metadata(dst.path().join("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(
        fs::metadata(dst.path().join("null")).unwrap().rdev(),
        libc::makedev(1, 3)
    );
    assert_eq!(fs::read(dst.path().join(&long).join("deep")).unwrap(), b"x");
    assert_eq!(
        fs::read_link(dst.path().join("longlink"))
            .unwrap()
            .to_str()
            .unwrap(),
        format!("/{long}/{long}")
    );
    assert_eq!(
        fs::metadata(dst.path().join("b")).unwrap().mode() & 0o7777,
        0o750
    );
}

#[test]
fn overlay_whiteouts_are_written_as_aufs_entries() {
    let layer = Tar::new()
        .dir("d/", 0o755)
        .file("d/.wh..wh..opq", 0o644, b"")
        .file("d/.wh.gone", 0o644, b"")
        .file("keep", 0o644, b"k")
        .finish();
    let dir = tempfile::tempdir().unwrap();
    let overlay = UnpackOptions::layer();
    unpack(&layer[..], dir.path(), &overlay).unwrap();
    let mut out = Vec::new();
    tar_dir_with(
        dir.path(),
        &mut out,
        &TarOptions {
            whiteouts: WhiteoutMode::Overlay,
            exclude: vec!["keep".into()],
        },
    )
    .unwrap();
    assert_eq!(
        names(&out),
        ["d/", "d/.wh..wh..opq", "d/.wh.gone"],
        "keep is excluded"
    );
    // And back: the same overlay form.
    let again = tempfile::tempdir().unwrap();
    unpack(&out[..], again.path(), &overlay).unwrap();
    assert!(fs::symlink_metadata(again.path().join("d/gone"))
        .unwrap()
        .file_type()
        .is_char_device());
    // Plain mode keeps the device as a device.
    let mut plain = Vec::new();
    tar_dir(dir.path(), &mut plain).unwrap();
    assert_eq!(names(&plain), ["d/", "d/gone", "keep"]);
}
