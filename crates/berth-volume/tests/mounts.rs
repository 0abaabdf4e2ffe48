//! Option volumes (`-o type=tmpfs`, `-o type=none,o=bind,device=…`): mounted on `_data`
//! at first use, unmounted after the last user, cleaned after a restart. Needs root.

use berth_volume::localmount::is_mount_point;
use berth_volume::store::{CreateOptions, VolumeStore};
use std::path::{Path, PathBuf};

/// Unmounts whatever a test left mounted under its temp dir, even when it fails.
struct MountGuard(Vec<PathBuf>);
impl Drop for MountGuard {
    fn drop(&mut self) {
        for p in &self.0 {
            while is_mount_point(p) {
                if nix::mount::umount2(p.as_path(), nix::mount::MntFlags::MNT_DETACH).is_err() {
                    break;
                }
            }
        }
    }
}

fn opts(pairs: &[(&str, &str)]) -> CreateOptions {
    CreateOptions {
        name: String::new(),
        options: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

fn fstype_of(p: &Path) -> String {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let s = p.to_string_lossy();
    text.lines()
        .rev()
        .filter(|l| l.split(' ').nth(4) == Some(&*s))
        .filter_map(|l| {
            l.split(" - ")
                .nth(1)
                .and_then(|t| t.split(' ').next())
                .map(str::to_string)
        })
        .next()
        .unwrap_or_default()
}

#[test]
fn tmpfs_volume_mounts_with_refcount() {
    let root = tempfile::tempdir().unwrap();
    let store = VolumeStore::open(root.path()).unwrap();
    let mut o = opts(&[
        ("type", "tmpfs"),
        ("device", "tmpfs"),
        ("o", "size=1m,mode=0711"),
    ]);
    o.name = "tmpvol".into();
    store.create(o).unwrap();
    let data = store.data_path("tmpvol");
    let _guard = MountGuard(vec![data.clone()]);
    assert!(!is_mount_point(&data), "not mounted before first use");

    let p1 = store.mount("tmpvol", "c1").unwrap();
    assert_eq!(p1, data);
    assert!(is_mount_point(&data));
    assert_eq!(fstype_of(&data), "tmpfs");
    std::fs::write(data.join("f"), b"in memory").unwrap();
    store.mount("tmpvol", "c2").unwrap();
    store.unmount("tmpvol", "c1").unwrap();
    assert!(is_mount_point(&data), "still used by c2");
    assert!(data.join("f").exists());
    store.unmount("tmpvol", "c2").unwrap();
    assert!(!is_mount_point(&data), "last user gone");
    assert!(!data.join("f").exists(), "the tmpfs content went with it");
    store.remove("tmpvol", false).unwrap();
}

#[test]
fn bind_volume_mounts_device_and_remove_keeps_host_data() {
    let root = tempfile::tempdir().unwrap();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("precious"), b"keep").unwrap();
    let store = VolumeStore::open(root.path()).unwrap();
    let mut o = opts(&[
        ("type", "none"),
        ("device", host.path().to_str().unwrap()),
        ("o", "bind"),
    ]);
    o.name = "bindvol".into();
    let v = store.create(o).unwrap();
    assert_eq!(v.options["o"], "bind");
    let data = store.data_path("bindvol");
    let _guard = MountGuard(vec![data.clone()]);

    store.mount("bindvol", "c1").unwrap();
    assert_eq!(std::fs::read(data.join("precious")).unwrap(), b"keep");
    std::fs::write(data.join("new"), b"via volume").unwrap();
    assert!(host.path().join("new").exists());

    // Removal while referenced is refused; with the container gone it unmounts first
    // and never deletes the device's files.
    store.acquire("bindvol", "c1").unwrap();
    assert!(store.remove("bindvol", true).is_err());
    store.release("bindvol", "c1");
    store.remove("bindvol", false).unwrap();
    assert!(!is_mount_point(&data));
    assert_eq!(
        std::fs::read(host.path().join("precious")).unwrap(),
        b"keep"
    );
    assert!(host.path().join("new").exists());
}

#[test]
fn missing_device_fails_at_first_use_with_docker_text() {
    let root = tempfile::tempdir().unwrap();
    let store = VolumeStore::open(root.path()).unwrap();
    let mut o = opts(&[
        ("type", "none"),
        ("device", "/nonexistent-berth-device"),
        ("o", "bind"),
    ]);
    o.name = "badbind".into();
    store.create(o).unwrap();
    let data = store.data_path("badbind");
    let _guard = MountGuard(vec![data.clone()]);
    let e = store.mount("badbind", "c1").unwrap_err().to_string();
    assert!(
        e.starts_with("failed to mount local volume: mount /nonexistent-berth-device:"),
        "{e}"
    );
    assert!(e.ends_with("No such file or directory (os error 2)"), "{e}");
    assert!(!store.is_mounted("badbind"));
}

#[test]
fn restart_cleans_stale_mounts() {
    let root = tempfile::tempdir().unwrap();
    let store = VolumeStore::open(root.path()).unwrap();
    for name in ["keepmounted", "stale"] {
        let mut o = opts(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")]);
        o.name = name.into();
        store.create(o).unwrap();
    }
    let keep = store.data_path("keepmounted");
    let stale = store.data_path("stale");
    let _guard = MountGuard(vec![keep.clone(), stale.clone()]);
    store.mount("keepmounted", "running").unwrap();
    store.mount("stale", "exited").unwrap();
    // The daemon dies: the store goes away, the mounts stay.
    drop(store);
    assert!(is_mount_point(&keep) && is_mount_point(&stale));

    let store = VolumeStore::open(root.path()).unwrap();
    assert!(store.is_mounted("keepmounted") && store.is_mounted("stale"));
    store.restore_active([("keepmounted", "running")]);
    assert!(
        is_mount_point(&keep),
        "a running container's volume stays mounted"
    );
    assert!(!is_mount_point(&stale), "nobody uses it any more");
    // Mounting again for the running container does not stack a second mount.
    store.mount("keepmounted", "running").unwrap();
    store.unmount("keepmounted", "running").unwrap();
    assert!(!is_mount_point(&keep));
}
