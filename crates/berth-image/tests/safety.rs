//! Hostile tars: every escape attempt is refused with a clear error and leaves nothing
//! behind, neither in the store nor outside it. Plus metadata and whiteout handling.

mod common;

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use berth_image::{unpack, ErrorKind, UnpackOptions};
use common::*;

/// Import `tar` into a fresh store whose parent dir also holds `outside/`; assert the
/// import fails with `want` in its message and that nothing was written anywhere.
fn refused(make: impl Fn(&Path) -> Vec<u8>, want: &str) {
    let f = Fixture::new();
    let outside = f.dir.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret"), b"s").unwrap();
    let before = snapshot(f.dir.path());
    let tar = make(&outside);
    let e = f.store.import(&tar[..], Some("evil"), &[], "").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(
        e.to_string().contains(want),
        "{e:?} should mention {want:?}"
    );
    assert_eq!(f.count("layers"), 0, "no layer registered");
    assert_eq!(f.count("tmp"), 0, "temp dir removed");
    assert!(f.store.list().is_empty());
    assert!(f.store.resolve("evil").is_err());
    assert_eq!(
        snapshot(f.dir.path()),
        before,
        "nothing written outside the store"
    );
}

/// Every path under `p` with its size, for before/after comparison.
fn snapshot(p: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    fn walk(p: &Path, out: &mut Vec<(String, u64)>) {
        for e in fs::read_dir(p).unwrap().flatten() {
            let m = e.path().symlink_metadata().unwrap();
            out.push((
                e.path().display().to_string(),
                if m.is_dir() { 0 } else { m.len() },
            ));
            if m.is_dir() {
                walk(&e.path(), out);
            }
        }
    }
    walk(p, &mut out);
    out.sort();
    out
}

const ESCAPE: &str = "path escapes the destination directory";

#[test]
fn dotdot_is_refused() {
    refused(
        |_| {
            Tar::new()
                .file("ok", 0o644, b"x")
                .file("../../../../../pwned", 0o644, b"x")
                .finish()
        },
        ESCAPE,
    );
    refused(
        |_| Tar::new().file("a/b/../../../pwned", 0o644, b"x").finish(),
        "a/b/../../../pwned",
    );
    refused(|_| Tar::new().dir("../../x/", 0o755).finish(), ESCAPE);
}

#[test]
fn absolute_escape_is_refused() {
    refused(
        |_| Tar::new().file("/../../../pwned", 0o644, b"x").finish(),
        ESCAPE,
    );
    refused(
        |o| {
            Tar::new()
                .file(&format!("/..{}/new", o.display()), 0o644, b"x")
                .finish()
        },
        ESCAPE,
    );
}

#[test]
fn absolute_names_land_inside() {
    let f = Fixture::new();
    let tar = Tar::new()
        .file("/etc/motd", 0o644, b"hi")
        .file("./x/../y", 0o600, b"y")
        .finish();
    let id = f.store.import(&tar[..], None, &[], "").unwrap();
    let d = &f.store.layer_dirs(&id).unwrap()[0];
    assert_eq!(fs::read(d.join("etc/motd")).unwrap(), b"hi");
    assert_eq!(fs::read(d.join("y")).unwrap(), b"y");
}

/// Import `tar` (made with the path of an `outside/` dir next to the store); assert it
/// succeeds, that nothing outside the store changed, and that each `(path, content)` of
/// `inside` is a file of the layer: symlinks were resolved inside the layer's root.
fn confined(make: impl Fn(&Path) -> Vec<u8>, inside: &[(&str, &[u8])]) {
    let f = Fixture::new();
    let outside = f.dir.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret"), b"s").unwrap();
    let tar = make(&outside);
    let before: Vec<_> = snapshot(f.dir.path())
        .into_iter()
        .filter(|(p, _)| !p.contains("/image"))
        .collect();
    let id = f.store.import(&tar[..], None, &[], "").unwrap();
    let after: Vec<_> = snapshot(f.dir.path())
        .into_iter()
        .filter(|(p, _)| !p.contains("/image"))
        .collect();
    assert_eq!(after, before, "nothing written outside the store");
    assert_eq!(fs::read(outside.join("secret")).unwrap(), b"s");
    let d = &f.store.layer_dirs(&id).unwrap()[0];
    for (path, content) in inside {
        let p = d.join(path.trim_start_matches('/'));
        let m = p
            .symlink_metadata()
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(m.is_file(), "{} is not a file", p.display());
        assert_eq!(&fs::read(&p).unwrap()[..], *content, "{}", p.display());
    }
}

#[test]
fn writing_through_a_symlink_stays_inside() {
    // a -> <outside dir> then a/secret: lands in <layer>/<outside dir>/secret.
    confined(
        |o| {
            Tar::new()
                .symlink("a", &o.display().to_string())
                .file("a/secret", 0o644, b"pwned!")
                .finish()
        },
        &[],
    );
    // a -> /etc then a/passwd: Docker writes the layer's own etc/passwd.
    confined(
        |_| {
            Tar::new()
                .dir("etc/", 0o755)
                .symlink("a", "/etc")
                .file("a/passwd", 0o644, b"root::0:0::/:/bin/sh\n")
                .finish()
        },
        &[("etc/passwd", b"root::0:0::/:/bin/sh\n")],
    );
    // Relative climb via a symlink: d/up -> ../../.. stops at the root.
    confined(
        |_| {
            Tar::new()
                .dir("d/", 0o755)
                .symlink("d/up", "../../..")
                .file("d/up/pwned", 0o644, b"x")
                .finish()
        },
        &[("pwned", b"x")],
    );
    // A directory entry below a dangling symlink is made inside.
    confined(
        |_| {
            Tar::new()
                .symlink("a", "/srv/data")
                .dir("a/newdir/", 0o755)
                .file("a/newdir/f", 0o600, b"f")
                .finish()
        },
        &[("srv/data/newdir/f", b"f")],
    );
}

#[test]
fn written_paths_through_symlinks_are_where_docker_puts_them() {
    // The absolute-target case spelled out with the outside dir's real path.
    let f = Fixture::new();
    let outside = f.dir.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let tar = Tar::new()
        .symlink("a", &outside.display().to_string())
        .file("a/secret", 0o644, b"pwned!")
        .finish();
    let id = f.store.import(&tar[..], None, &[], "").unwrap();
    assert!(!outside.join("secret").exists());
    let d = &f.store.layer_dirs(&id).unwrap()[0];
    let inner = d.join(outside.strip_prefix("/").unwrap()).join("secret");
    assert_eq!(fs::read(inner).unwrap(), b"pwned!");
    // The link itself is kept as it was written.
    assert_eq!(fs::read_link(d.join("a")).unwrap(), outside);
}

#[test]
fn symlink_chains_resolve_inside() {
    // x -> y, y -> /data; then x/f lands in <layer>/data/f.
    confined(
        |_| {
            Tar::new()
                .symlink("y", "/data")
                .symlink("x", "y")
                .file("x/f", 0o644, b"x")
                .finish()
        },
        &[("data/f", b"x")],
    );
    // A nested chain: l1 -> /, d/l2 -> ../l1, then d/l2/tmp/pwned → <layer>/tmp/pwned.
    confined(
        |_| {
            Tar::new()
                .symlink("l1", "/")
                .dir("d/", 0o755)
                .symlink("d/l2", "../l1")
                .file("d/l2/tmp/pwned", 0o644, b"x")
                .finish()
        },
        &[("tmp/pwned", b"x")],
    );
}

#[test]
fn symlink_loops_and_files_in_the_way_are_refused() {
    refused(
        |_| {
            Tar::new()
                .symlink("a", "b")
                .symlink("b", "a")
                .file("a/x", 0o644, b"x")
                .finish()
        },
        "too many levels of symbolic links",
    );
    refused(
        |_| {
            Tar::new()
                .file("f", 0o644, b"f")
                .file("f/x", 0o644, b"x")
                .finish()
        },
        "not a directory",
    );
}

#[test]
fn hardlinks_cannot_escape() {
    refused(
        |_| Tar::new().hardlink("h", "../../../../etc/passwd").finish(),
        "hardlink target escapes",
    );
    // An absolute target is read inside the layer, where it does not exist.
    refused(
        |_| Tar::new().hardlink("h", "/etc/passwd").finish(),
        "no such file or directory",
    );
    // Through a symlink extracted earlier: resolved inside, where nothing is.
    refused(
        |o| {
            Tar::new()
                .symlink("a", &o.display().to_string())
                .hardlink("h", "a/secret")
                .finish()
        },
        "no such file or directory",
    );
}

#[test]
fn replacing_a_symlink_with_a_file_does_not_follow_it() {
    // A later entry with the same name replaces the symlink itself.
    let f = Fixture::new();
    let outside = f.dir.path().join("victim");
    fs::write(&outside, b"original").unwrap();
    let tar = Tar::new()
        .symlink("f", &outside.display().to_string())
        .file("f", 0o644, b"new")
        .finish();
    let id = f.store.import(&tar[..], None, &[], "").unwrap();
    assert_eq!(fs::read(&outside).unwrap(), b"original");
    let d = &f.store.layer_dirs(&id).unwrap()[0];
    assert!(d.join("f").symlink_metadata().unwrap().is_file());
    assert_eq!(fs::read(d.join("f")).unwrap(), b"new");
}

fn getxattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let cp = CString::new(p.as_os_str().as_bytes()).unwrap();
    let cn = CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: valid C strings and a buffer of buf.len() bytes.
    let n =
        unsafe { libc::lgetxattr(cp.as_ptr(), cn.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}

#[test]
fn metadata_devices_fifos_hardlinks_and_xattrs_are_kept() {
    let d = tempfile::tempdir().unwrap();
    let tar = Tar::new()
        .dir("d/", 0o750)
        .file_owned("d/suid", 0o4755, 1234, 5678, 1_000_000, b"bin")
        .hardlink("d/suid-link", "d/suid")
        .node("dev/null", tar::EntryType::Char, 0o666, 1, 3)
        .node("fifo", tar::EntryType::Fifo, 0o640, 0, 0)
        .file_with_pax(
            "x",
            0o644,
            &[
                ("SCHILY.xattr.user.test", b"v1"),
                ("SCHILY.xattr.trusted.overlay.redirect", b"/etc"),
            ],
            b"data",
        )
        .symlink("link", "d/suid")
        .finish();
    let stats = unpack(&tar[..], d.path(), &UnpackOptions::default()).unwrap();
    assert_eq!(stats.size, 3 + 4);
    let m = fs::metadata(d.path().join("d/suid")).unwrap();
    assert_eq!(
        (m.uid(), m.gid(), m.mode() & 0o7777, m.mtime()),
        (1234, 5678, 0o4755, 1_000_000)
    );
    assert_eq!(m.nlink(), 2);
    assert_eq!(
        fs::metadata(d.path().join("d/suid-link")).unwrap().ino(),
        m.ino()
    );
    let dm = fs::metadata(d.path().join("d")).unwrap();
    assert_eq!(
        (dm.mode() & 0o7777, dm.mtime() as u64),
        (0o750, MTIME),
        "dir times set after children"
    );
    let n = fs::metadata(d.path().join("dev/null")).unwrap();
    assert!(n.file_type().is_char_device());
    assert_eq!(n.rdev(), libc::makedev(1, 3));
    assert!(fs::metadata(d.path().join("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(
        getxattr(&d.path().join("x"), "user.test").as_deref(),
        Some(&b"v1"[..])
    );
    assert_eq!(
        getxattr(&d.path().join("x"), "trusted.overlay.redirect"),
        None,
        "overlay xattrs are not taken from tars"
    );
    assert_eq!(
        fs::read_link(d.path().join("link")).unwrap().to_str(),
        Some("d/suid")
    );
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    let tar = Tar::new()
        .dir("d/", 0o755)
        .file("d/.wh..wh..opq", 0o644, b"")
        .file("d/.wh.gone", 0o644, b"")
        .file(".wh.top", 0o644, b"")
        .file(".wh..wh.plnk", 0o644, b"")
        .file("d/kept", 0o644, b"k")
        .finish();
    let d = tempfile::tempdir().unwrap();
    let opts = UnpackOptions::layer();
    unpack(&tar[..], d.path(), &opts).unwrap();
    assert_eq!(
        getxattr(&d.path().join("d"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    for w in ["d/gone", "top"] {
        let m = fs::symlink_metadata(d.path().join(w)).unwrap();
        assert!(m.file_type().is_char_device(), "{w}");
        assert_eq!(m.rdev(), 0, "{w}");
    }
    let mut names: Vec<_> = fs::read_dir(d.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["d", "top"], "no .wh.* files written");
    assert_eq!(fs::read(d.path().join("d/kept")).unwrap(), b"k");

    // Plain mode extracts them as files.
    let p = tempfile::tempdir().unwrap();
    unpack(&tar[..], p.path(), &UnpackOptions::default()).unwrap();
    assert!(p.path().join("d/.wh.gone").is_file());
    assert!(getxattr(&p.path().join("d"), "trusted.overlay.opaque").is_none());
}

#[test]
fn later_entries_replace_earlier_ones() {
    let d = tempfile::tempdir().unwrap();
    let tar = Tar::new()
        .dir("a/", 0o755)
        .file("a/inner", 0o644, b"x")
        .file("a", 0o600, b"now a file")
        .file("b", 0o644, b"file")
        .dir("b/", 0o700)
        .finish();
    unpack(&tar[..], d.path(), &UnpackOptions::default()).unwrap();
    assert_eq!(fs::read(d.path().join("a")).unwrap(), b"now a file");
    assert!(d.path().join("b").is_dir());
}

#[test]
fn no_overwrite_dir_non_dir() {
    let d = tempfile::tempdir().unwrap();
    fs::create_dir(d.path().join("dir")).unwrap();
    fs::write(d.path().join("file"), b"f").unwrap();
    let opts = UnpackOptions {
        no_overwrite_dir_non_dir: true,
        ..Default::default()
    };
    let e = unpack(
        &Tar::new().file("dir", 0o644, b"x").finish()[..],
        d.path(),
        &opts,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot overwrite directory \"dir\" with non-directory \"dir\""
    );
    let e = unpack(
        &Tar::new().dir("file/", 0o755).finish()[..],
        d.path(),
        &opts,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot overwrite non-directory \"file\" with directory \"file\""
    );
    assert!(d.path().join("dir").is_dir());
    assert_eq!(fs::read(d.path().join("file")).unwrap(), b"f");
    // Same kinds still replace/merge.
    unpack(
        &Tar::new()
            .dir("dir/", 0o700)
            .file("file", 0o644, b"g")
            .finish()[..],
        d.path(),
        &opts,
    )
    .unwrap();
    assert_eq!(fs::read(d.path().join("file")).unwrap(), b"g");
}

#[test]
fn garbage_is_an_invalid_archive() {
    let f = Fixture::new();
    let mut junk = vec![b'x'; 1024];
    junk[0] = b'a';
    let e = f.store.import(&junk[..], None, &[], "").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert_eq!(f.count("tmp"), 0);
    assert_eq!(f.count("layers"), 0);
}
