//! Property tests of tar extraction (issue "Faults and abuse", fuzzing): random archives
//! of files, directories, symlinks and hardlinks with hostile names (`..`, absolute
//! paths, links that climb out or point at a file beside the destination) never make
//! `unpack` panic and never write, link or change anything outside the destination.

use berth_image::{unpack, UnpackOptions};
use proptest::prelude::*;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Placeholder in generated names/targets for the absolute path of the sandbox's
/// `outside` directory (known only when the case runs).
const OUT: &str = "@OUT@";

#[derive(Debug, Clone)]
enum Ent {
    Dir(String),
    File(String, Vec<u8>),
    Sym(String, String),
    Hard(String, String),
}

fn name() -> impl Strategy<Value = String> {
    let comp = prop::sample::select(vec!["a", "b", "..", ".", "", "outside", "canary", "dest"]);
    (
        prop::option::weighted(0.15, prop::sample::select(vec!["/", OUT])),
        prop::collection::vec(comp, 1..5),
    )
        .prop_map(|(lead, comps)| {
            let body = comps.join("/");
            match lead {
                Some("/") => format!("/{body}"),
                Some(_) => format!("{OUT}/{body}"),
                _ => body,
            }
        })
        .prop_filter("fits a ustar name", |n| n.len() < 90)
}

fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        name(),
        prop::sample::select(vec![
            "..",
            "../..",
            "../outside",
            "../outside/canary",
            "../../outside/canary",
            OUT,
            "@OUT@/canary",
            "a/../../outside/canary",
            "a",
            "a/b",
        ])
        .prop_map(String::from),
    ]
}

fn entry() -> impl Strategy<Value = Ent> {
    prop_oneof![
        name().prop_map(Ent::Dir),
        (name(), prop::collection::vec(any::<u8>(), 0..16)).prop_map(|(n, d)| Ent::File(n, d)),
        (name(), target()).prop_map(|(n, t)| Ent::Sym(n, t)),
        (name(), target()).prop_map(|(n, t)| Ent::Hard(n, t)),
    ]
}

/// A tar with the names written byte for byte (the tar crate's safe setters refuse them).
fn build_tar(entries: &[Ent], outside: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_old();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        let (name, data, link): (&String, &[u8], Option<&String>) = match e {
            Ent::Dir(n) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                (n, b"", None)
            }
            Ent::File(n, d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                (n, d.as_slice(), None)
            }
            Ent::Sym(n, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                (n, b"", Some(t))
            }
            Ent::Hard(n, t) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                (n, b"", Some(t))
            }
        };
        let name = name.replace(OUT, outside);
        let link = link.map(|l| l.replace(OUT, outside));
        h.set_size(data.len() as u64);
        let old = h.as_old_mut();
        let nb = name.as_bytes();
        old.name[..nb.len().min(99)].copy_from_slice(&nb[..nb.len().min(99)]);
        if let Some(l) = &link {
            let lb = l.as_bytes();
            old.linkname[..lb.len().min(99)].copy_from_slice(&lb[..lb.len().min(99)]);
        }
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

/// Every path below `dir` (not following symlinks), sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        if let Ok(rd) = fs::read_dir(d) {
            for e in rd.flatten() {
                let p = e.path();
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    walk(base, &p, out);
                }
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(600),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Whatever the archive, nothing outside the destination is touched.
    #[test]
    fn nothing_escapes(entries in prop::collection::vec(entry(), 1..8), layer in any::<bool>()) {
        let sandbox = tempfile::tempdir().unwrap();
        let dest = sandbox.path().join("dest");
        let outside = sandbox.path().join("outside");
        fs::create_dir(&dest).unwrap();
        fs::create_dir(&outside).unwrap();
        let canary = outside.join("canary");
        fs::write(&canary, b"canary").unwrap();
        let before = fs::metadata(&canary).unwrap();
        let tar = build_tar(&entries, &outside.to_string_lossy());
        let opts = if layer { UnpackOptions::layer() } else { UnpackOptions::default() };
        let _ = unpack(tar.as_slice(), &dest, &opts);

        // The sandbox holds exactly dest/ and outside/canary, unchanged and unlinked.
        let mut top: Vec<String> = fs::read_dir(sandbox.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        top.sort();
        prop_assert_eq!(top, vec!["dest".to_string(), "outside".to_string()]);
        prop_assert_eq!(tree(&outside), vec!["canary".to_string()]);
        let after = fs::symlink_metadata(&canary).unwrap();
        prop_assert!(after.file_type().is_file());
        prop_assert_eq!(after.nlink(), 1, "the canary was hardlinked into dest");
        prop_assert_eq!(after.ino(), before.ino());
        prop_assert_eq!(fs::read(&canary).unwrap(), b"canary".to_vec());
        prop_assert_eq!(after.mode(), before.mode());
        // No regular file in dest shares the canary's inode.
        for p in tree(&dest) {
            let m = fs::symlink_metadata(dest.join(&p)).unwrap();
            prop_assert!(m.ino() != before.ino() || m.dev() != before.dev(), "{} is the canary", p);
        }
    }
}

/// `default` cases, or `PROPTEST_CASES` when set (longer fuzzing runs).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
