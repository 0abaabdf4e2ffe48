//! Copy-up from fake image layers: owners, modes, links, devices, xattrs; symlinked
//! image paths stay inside the image; overlay whiteouts and opaque dirs. Needs root.

use berth_volume::copyup::{copy_up, CopyOutcome};
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{chown, symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

fn c(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

fn mknod(p: &Path, kind: libc::mode_t, perm: u32, major: u32, minor: u32) {
    // SAFETY: valid NUL-terminated path.
    let rc = unsafe { libc::mknod(c(p).as_ptr(), kind | perm, libc::makedev(major, minor)) };
    assert_eq!(
        rc,
        0,
        "mknod {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
}

fn setxattr(p: &Path, name: &str, value: &[u8]) {
    let n = CString::new(name).unwrap();
    // SAFETY: valid pointers and lengths.
    let rc = unsafe {
        libc::lsetxattr(
            c(p).as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(
        rc,
        0,
        "setxattr {name} on {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
}

fn getxattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let n = CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: valid pointers and lengths.
    let len = unsafe {
        libc::lgetxattr(
            c(p).as_ptr(),
            n.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (len >= 0).then(|| {
        buf.truncate(len as usize);
        buf
    })
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

fn listing(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn keeps_owners_modes_links_devices_xattrs() {
    let img = tempfile::tempdir().unwrap();
    let vol = tempfile::tempdir().unwrap();
    let data = img.path().join("srv/data");
    fs::create_dir_all(data.join("sub")).unwrap();
    chown(&data, Some(1234), Some(5678)).unwrap();
    chmod(&data, 0o750);
    fs::write(data.join("conf"), b"hello").unwrap();
    chown(data.join("conf"), Some(42), Some(43)).unwrap();
    chmod(&data.join("conf"), 0o640);
    fs::write(data.join("suid"), b"#!/bin/sh").unwrap();
    chown(data.join("suid"), Some(7), Some(8)).unwrap();
    chmod(&data.join("suid"), 0o4755);
    chown(data.join("sub"), Some(99), Some(98)).unwrap();
    chmod(&data.join("sub"), 0o1777);
    fs::write(data.join("sub/deep"), b"deep").unwrap();
    fs::hard_link(data.join("conf"), data.join("sub/conf-link")).unwrap();
    symlink("/etc/shadow", data.join("abs-link")).unwrap();
    symlink("../conf", data.join("sub/rel-link")).unwrap();
    chown_link(&data.join("abs-link"), 11, 12);
    mknod(&data.join("null"), libc::S_IFCHR, 0o666, 1, 3);
    mknod(&data.join("fifo"), libc::S_IFIFO, 0o620, 0, 0);
    setxattr(&data.join("conf"), "user.origin", b"image");
    setxattr(&data.join("conf"), "trusted.overlay.origin", b"x");

    let out = copy_up(&[img.path().to_path_buf()], "/srv/data", vol.path()).unwrap();
    assert_eq!(out, CopyOutcome::Copied);
    let v = vol.path();
    let m = fs::metadata(v).unwrap();
    assert_eq!(
        (m.uid(), m.gid(), m.mode() & 0o7777),
        (1234, 5678, 0o750),
        "the volume root takes the dir's owner/mode"
    );
    assert_eq!(
        listing(v),
        vec!["abs-link", "conf", "fifo", "null", "sub", "suid"]
    );
    let m = fs::metadata(v.join("conf")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (42, 43, 0o640));
    assert_eq!(fs::read(v.join("conf")).unwrap(), b"hello");
    let m = fs::metadata(v.join("suid")).unwrap();
    assert_eq!(
        (m.uid(), m.gid(), m.mode() & 0o7777),
        (7, 8, 0o4755),
        "set-id bit survives chown"
    );
    let m = fs::metadata(v.join("sub")).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o7777), (99, 0o1777));
    assert_eq!(fs::read(v.join("sub/deep")).unwrap(), b"deep");
    assert_eq!(
        fs::metadata(v.join("sub/conf-link")).unwrap().ino(),
        fs::metadata(v.join("conf")).unwrap().ino(),
        "hard links stay linked"
    );
    let l = fs::symlink_metadata(v.join("abs-link")).unwrap();
    assert!(l.file_type().is_symlink(), "copied as a link, not followed");
    assert_eq!((l.uid(), l.gid()), (11, 12));
    assert_eq!(
        fs::read_link(v.join("abs-link")).unwrap(),
        Path::new("/etc/shadow")
    );
    assert_eq!(
        fs::read_link(v.join("sub/rel-link")).unwrap(),
        Path::new("../conf")
    );
    let n = fs::symlink_metadata(v.join("null")).unwrap();
    assert!(n.file_type().is_char_device());
    assert_eq!(n.rdev(), libc::makedev(1, 3));
    assert!(fs::symlink_metadata(v.join("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(
        getxattr(&v.join("conf"), "user.origin").as_deref(),
        Some(&b"image"[..])
    );
    assert_eq!(
        getxattr(&v.join("conf"), "trusted.overlay.origin"),
        None,
        "overlay's own xattrs dropped"
    );
    let src_mtime = fs::metadata(data.join("conf")).unwrap().mtime_nsec();
    assert_eq!(
        fs::metadata(v.join("conf")).unwrap().mtime_nsec(),
        src_mtime
    );

    // A second copy into the now non-empty volume does nothing.
    fs::write(data.join("late"), b"x").unwrap();
    assert_eq!(
        copy_up(&[img.path().to_path_buf()], "/srv/data", v).unwrap(),
        CopyOutcome::NotEmpty
    );
    assert!(!v.join("late").exists());
}

fn chown_link(p: &Path, uid: u32, gid: u32) {
    // SAFETY: valid NUL-terminated path.
    assert_eq!(unsafe { libc::lchown(c(p).as_ptr(), uid, gid) }, 0);
}

#[test]
fn symlinked_image_paths_resolve_inside_the_image() {
    let img = tempfile::tempdir().unwrap();
    let root = img.path();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/image-only"), b"from the image").unwrap();
    symlink("/etc", root.join("data")).unwrap();
    symlink("../../../../../..", root.join("escape")).unwrap();
    fs::create_dir(root.join("d")).unwrap();
    symlink("../../../../etc", root.join("d/up")).unwrap();
    fs::write(root.join("file"), b"f").unwrap();

    for path in ["/data", "/escape/etc", "/d/up", "/escape/../../data/"] {
        let vol = tempfile::tempdir().unwrap();
        let out = copy_up(&[root.to_path_buf()], path, vol.path()).unwrap();
        assert_eq!(out, CopyOutcome::Copied, "{path}");
        assert_eq!(
            listing(vol.path()),
            vec!["image-only"],
            "{path} copied the image's /etc, not the host's"
        );
    }
    let vol = tempfile::tempdir().unwrap();
    assert_eq!(
        copy_up(&[root.to_path_buf()], "/missing", vol.path()).unwrap(),
        CopyOutcome::SourceMissing
    );
    assert_eq!(
        copy_up(&[root.to_path_buf()], "/file", vol.path()).unwrap(),
        CopyOutcome::SourceNotDir
    );
    assert_eq!(
        copy_up(&[root.to_path_buf()], "/file/x", vol.path()).unwrap(),
        CopyOutcome::SourceMissing
    );
    assert!(listing(vol.path()).is_empty());

    // A loop is an error, not a hang.
    symlink("/loop", root.join("loop")).unwrap();
    assert!(copy_up(&[root.to_path_buf()], "/loop", vol.path()).is_err());
}

#[test]
fn whiteouts_and_opaque_dirs_hide_lower_layers() {
    let lower = tempfile::tempdir().unwrap();
    let upper = tempfile::tempdir().unwrap();
    let l = lower.path().join("data");
    let u = upper.path().join("data");
    fs::create_dir_all(l.join("sub")).unwrap();
    fs::create_dir_all(l.join("plain")).unwrap();
    fs::create_dir_all(u.join("sub")).unwrap();
    fs::create_dir_all(u.join("plain")).unwrap();
    fs::write(l.join("a"), b"lower a").unwrap();
    fs::write(l.join("b"), b"lower b").unwrap();
    fs::write(l.join("c"), b"lower c").unwrap();
    fs::write(l.join("sub/x"), b"hidden by opaque").unwrap();
    fs::write(l.join("plain/lower-file"), b"merged").unwrap();
    fs::write(l.join("replaced"), b"lower file").unwrap();
    mknod(&u.join("a"), libc::S_IFCHR, 0, 0, 0); // overlay whiteout
    fs::write(u.join(".wh.b"), b"").unwrap(); // tar-style whiteout marker
    fs::write(u.join("c"), b"upper c").unwrap();
    setxattr(&u.join("sub"), "trusted.overlay.opaque", b"y");
    fs::write(u.join("sub/y"), b"upper y").unwrap();
    fs::write(u.join("plain/upper-file"), b"merged").unwrap();
    fs::create_dir(u.join("replaced")).unwrap();
    fs::write(u.join("replaced/inside"), b"dir now").unwrap();
    // A whole lower tree under a path the upper layer deleted.
    fs::create_dir_all(lower.path().join("gone/deep")).unwrap();
    mknod(&upper.path().join("gone"), libc::S_IFCHR, 0, 0, 0);

    let layers: Vec<PathBuf> = vec![upper.path().to_path_buf(), lower.path().to_path_buf()];
    let vol = tempfile::tempdir().unwrap();
    assert_eq!(
        copy_up(&layers, "/data", vol.path()).unwrap(),
        CopyOutcome::Copied
    );
    let v = vol.path();
    assert_eq!(listing(v), vec!["c", "plain", "replaced", "sub"]);
    assert_eq!(fs::read(v.join("c")).unwrap(), b"upper c");
    assert_eq!(
        listing(&v.join("sub")),
        vec!["y"],
        "opaque dir hides the lower content"
    );
    assert_eq!(
        listing(&v.join("plain")),
        vec!["lower-file", "upper-file"],
        "plain dirs merge"
    );
    assert_eq!(listing(&v.join("replaced")), vec!["inside"]);
    assert_eq!(getxattr(&v.join("sub"), "trusted.overlay.opaque"), None);

    let vol2 = tempfile::tempdir().unwrap();
    assert_eq!(
        copy_up(&layers, "/gone/deep", vol2.path()).unwrap(),
        CopyOutcome::SourceMissing
    );
}
