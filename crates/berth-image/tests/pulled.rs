//! A pulled layer: its gzip blob inflated on a helper thread while the files are
//! written, the blob kept as the layer's archive, and every failure on either thread
//! (bad data, a path escaping the layer, the wrong diff id) an error with no debris.

mod common;

use std::fs;
use std::io::Write;

use berth_image::compression::decompress_digest_verified;
use berth_image::layers::KeptArchive;
use common::*;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A tar of several MiB (more than the read-ahead between the two threads).
fn big_tar() -> Vec<u8> {
    let mut t = Tar::new().dir("data/", 0o755);
    for i in 0..6 {
        let body: Vec<u8> = (0..(1u32 << 20))
            .map(|k| (k.wrapping_mul(i + 7) >> 3) as u8)
            .collect();
        t = t.file(&format!("data/f{i}"), 0o644, &body);
    }
    t.file("etc/hostname", 0o644, b"pulled").finish()
}

/// Prepare `gz` (the blob, written to a file first) as a pulled layer.
fn prepare(
    f: &Fixture,
    gz: &[u8],
    diff_id: &str,
) -> Result<berth_image::layers::PendingLayer, berth_image::ImageError> {
    let blob = f.dir.path().join("blob.gz");
    fs::write(&blob, gz).unwrap();
    let digest = sha256(gz);
    let kept = KeptArchive {
        path: &blob,
        digest: &digest,
        size: gz.len() as u64,
    };
    let tar = decompress_digest_verified(std::io::BufReader::new(fs::File::open(&blob).unwrap()))?;
    f.store
        .prepare_pulled_layer(None, tar, Some((0, diff_id)), &kept)
}

#[test]
fn a_pulled_layer_unpacks_on_two_threads_and_keeps_its_blob() {
    let f = Fixture::new();
    let tar = big_tar();
    let gz = gzip(&tar);
    let pending = prepare(&f, &gz, &sha256(&tar)).unwrap();
    assert_eq!(pending.meta().diff_id, sha256(&tar));
    assert_eq!(pending.meta().tar_size, tar.len() as u64);
    assert_eq!(pending.meta().archive_digest, sha256(&gz));
    let _lease = f.store.commit_layer(pending).unwrap();
    let found = walk_find(&f.root(), "hostname").expect("the layer's etc/hostname");
    assert_eq!(fs::read(found).unwrap(), b"pulled");
    // The blob itself is the layer's archive (hard-linked, same bytes).
    let archive = walk_find(&f.root(), "layer.tar.gz").expect("the layer's archive");
    assert_eq!(fs::read(archive).unwrap(), gz);
    assert_eq!(f.count("tmp"), 0);
}

#[test]
fn failures_on_either_thread_leave_nothing_behind() {
    let f = Fixture::new();
    let tar = big_tar();
    let gz = gzip(&tar);
    // The inflating thread fails: data cut in the middle.
    let err = prepare(&f, &gz[..gz.len() / 2], &sha256(&tar)).unwrap_err();
    assert!(err.to_string().contains("layer stream"), "{err}");
    assert_eq!(f.count("tmp"), 0);
    // The unpacking thread fails: a path out of the layer, after a few MiB of data.
    let bad = {
        let mut t = Tar::new().dir("data/", 0o755);
        for i in 0..4 {
            t = t.file(&format!("data/f{i}"), 0o644, &vec![i as u8; 1 << 20]);
        }
        t.file("../escape", 0o644, b"x").finish()
    };
    let err = prepare(&f, &gzip(&bad), &sha256(&bad)).unwrap_err();
    assert!(err.to_string().contains("escape"), "{err}");
    assert!(!f.dir.path().join("escape").exists());
    assert_eq!(f.count("tmp"), 0);
    // Both threads succeed, but not to the diff id the image config names.
    let err = prepare(&f, &gz, &sha256(b"other")).unwrap_err();
    assert!(
        err.to_string().contains("invalid diffID for layer 0"),
        "{err}"
    );
    assert_eq!(f.count("tmp"), 0);
}

fn walk_find(dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    for e in fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if e.file_type().ok()?.is_dir() {
            if let Some(found) = walk_find(&p, name) {
                return Some(found);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}
