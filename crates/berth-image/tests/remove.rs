//! Docker's `rmi` semantics: untag vs delete, shared layers, conflicts, force.

mod common;

use berth_image::{ContainerUse, ErrorKind, RemovedItem};
use common::*;

fn none(_: &str) -> Option<ContainerUse> {
    None
}

const CID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn untagged(s: &str) -> RemovedItem {
    RemovedItem::Untagged(s.to_string())
}

fn deleted(s: &str) -> RemovedItem {
    RemovedItem::Deleted(s.to_string())
}

#[test]
fn untag_then_delete_with_its_layer() {
    let f = Fixture::new();
    let tar = tiny_tar("a");
    let id = f.store.import(&tar[..], Some("app:1"), &[], "").unwrap();
    f.store.tag("app:1", "other").unwrap();
    assert_eq!(
        f.store.remove("app:1", false, true, &none).unwrap(),
        [untagged("app:1")]
    );
    assert_eq!(
        f.store.resolve(id.as_str()).unwrap().repo_tags,
        ["other:latest"]
    );
    let out = f.store.remove("other", false, true, &none).unwrap();
    assert_eq!(
        out,
        [
            untagged("other:latest"),
            deleted(id.as_str()),
            deleted(&sha256(&tar))
        ]
    );
    assert!(f.store.list().is_empty());
    assert_eq!(f.count("layers"), 0);
    assert_eq!(f.count("blobs/sha256"), 0);
    assert_eq!(f.count("images/sha256"), 0);
    let e = f.store.remove("other", false, true, &none).unwrap_err();
    assert_eq!(
        (e.kind(), e.to_string()),
        (
            ErrorKind::NotFound,
            "No such image: other:latest".to_string()
        )
    );
}

#[test]
fn shared_layers_stay_until_the_last_image_goes() {
    let f = Fixture::new();
    let tar = busybox_tar();
    let a = f.store.import(&tar[..], Some("a"), &[], "1").unwrap();
    let b = f.store.import(&tar[..], Some("b"), &[], "2").unwrap();
    assert_eq!(
        f.store.remove("a", false, true, &none).unwrap(),
        [untagged("a:latest"), deleted(a.as_str())]
    );
    assert_eq!(f.count("layers"), 1);
    assert!(f.store.layer_dirs(&b).unwrap()[0]
        .join("bin/busybox")
        .exists());
    let out = f.store.remove("b", false, true, &none).unwrap();
    assert_eq!(
        out,
        [
            untagged("b:latest"),
            deleted(b.as_str()),
            deleted(&sha256(&tar))
        ]
    );
    assert_eq!(f.count("layers"), 0);
}

#[test]
fn by_id_with_several_tags_needs_force() {
    let f = Fixture::new();
    let id = f
        .store
        .import(&tiny_tar("a")[..], Some("x:1"), &[], "")
        .unwrap();
    f.store.tag("x:1", "y:2").unwrap();
    let e = f
        .store
        .remove(&id.hex()[..12], false, true, &none)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(
        e.to_string(),
        format!("conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories", id.short())
    );
    assert_eq!(f.store.resolve(id.as_str()).unwrap().repo_tags.len(), 2);
    let out = f.store.remove(id.as_str(), true, true, &none).unwrap();
    assert_eq!(out[..2], [untagged("x:1"), untagged("y:2")]);
    assert_eq!(out[2], deleted(id.as_str()));
    assert!(f.store.list().is_empty());

    // By id with a single tag: untag and delete without force.
    let id = f
        .store
        .import(&tiny_tar("b")[..], Some("z"), &[], "")
        .unwrap();
    let out = f.store.remove(id.hex(), false, true, &none).unwrap();
    assert_eq!(out[..2], [untagged("z:latest"), deleted(id.as_str())]);
}

#[test]
fn images_used_by_containers() {
    let f = Fixture::new();
    let tar = tiny_tar("a");
    let id = f.store.import(&tar[..], Some("busybox"), &[], "").unwrap();
    let want_id = id.as_str().to_string();
    let stopped = move |i: &str| {
        assert_eq!(i, want_id, "the engine is asked with the full image id");
        Some(ContainerUse {
            id: CID.to_string(),
            running: false,
        })
    };
    let running = |_: &str| {
        Some(ContainerUse {
            id: CID.to_string(),
            running: true,
        })
    };

    let e = f
        .store
        .remove("busybox", false, true, &stopped)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(
        e.to_string(),
        format!(
            "conflict: unable to remove repository reference \"busybox\" (must force) - container 0123456789ab is using its referenced image {}",
            id.short()
        )
    );
    let e = f
        .store
        .remove(id.as_str(), false, true, &stopped)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("conflict: unable to delete {} (must be forced) - image is being used by stopped container 0123456789ab", id.short())
    );
    let e = f
        .store
        .remove(id.as_str(), true, true, &running)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("conflict: unable to delete {} (cannot be forced) - image is being used by running container 0123456789ab", id.short())
    );
    assert_eq!(
        f.store.resolve("busybox").unwrap().id,
        id,
        "nothing changed"
    );

    // Forced by tag while a container runs: untagged only, the image stays dangling.
    assert_eq!(
        f.store.remove("busybox", true, true, &running).unwrap(),
        [untagged("busybox:latest")]
    );
    let list = f.store.list();
    assert_eq!(list.len(), 1);
    assert!(list[0].repo_tags.is_empty());
    assert_eq!(f.store.layer_dirs(&id).unwrap().len(), 1);

    // Forced by id with only a stopped container: the image goes, its layer stays for
    // the container's rootfs.
    let out = f
        .store
        .remove(&id.hex()[..6], true, true, &stopped)
        .unwrap();
    assert_eq!(out, [deleted(id.as_str())]);
    assert!(f.store.list().is_empty());
    assert_eq!(f.count("layers"), 1);
}

#[test]
fn dangling_image_removed_by_id() {
    let f = Fixture::new();
    let a = f
        .store
        .import(&tiny_tar("a")[..], Some("t"), &[], "")
        .unwrap();
    // Re-tagging moves the tag; the old image becomes dangling.
    let b = f
        .store
        .import(&tiny_tar("b")[..], Some("t"), &[], "")
        .unwrap();
    let dangling: Vec<_> = f
        .store
        .list()
        .into_iter()
        .filter(|i| i.repo_tags.is_empty())
        .collect();
    assert_eq!(dangling.len(), 1);
    assert_eq!(dangling[0].id, a);
    let out = f.store.remove(a.short(), false, false, &none).unwrap();
    assert_eq!(out[0], deleted(a.as_str()));
    assert_eq!(f.store.resolve("t").unwrap().id, b);
}

#[test]
fn gc_layers_keeps_what_containers_and_images_use() {
    let f = Fixture::new();
    let a = f
        .store
        .import(&tiny_tar("a")[..], Some("a"), &[], "")
        .unwrap();
    let b = f
        .store
        .import(&tiny_tar("b")[..], Some("b"), &[], "")
        .unwrap();
    let c = f
        .store
        .import(&tiny_tar("c")[..], Some("c"), &[], "")
        .unwrap();
    let dirs_a = f.store.layer_dirs(&a).unwrap();
    let dirs_b = f.store.layer_dirs(&b).unwrap();
    let stopped = |_: &str| {
        Some(ContainerUse {
            id: CID.to_string(),
            running: false,
        })
    };
    // Force-removed while containers use them: the layers stay.
    f.store.remove(a.as_str(), true, true, &stopped).unwrap();
    f.store.remove(b.as_str(), true, true, &stopped).unwrap();
    assert_eq!(f.count("layers"), 3);
    // Only a's container is left: b's layer goes, a's and c's stay.
    let removed = f.store.gc_layers(&dirs_a).unwrap();
    assert_eq!(removed, [sha256(&tiny_tar("b"))]);
    assert!(!dirs_b[0].exists());
    assert!(dirs_a[0].exists());
    assert!(f.store.layer_dirs(&c).unwrap()[0].exists());
    assert_eq!(f.store.gc_layers(&[]).unwrap(), [sha256(&tiny_tar("a"))]);
    assert_eq!(f.count("layers"), 1);
}
