//! Push and pull against a real local registry: round trip, mounts, chunked uploads,
//! digests, platform selection, and Docker-worded errors.

mod common;

use berth_registry::manifest::{DOCKER_MANIFEST_V2, OCI_INDEX};
use berth_registry::{
    Access, Digest, MountResult, Platform, RegistryClient, RegistryConfig, RegistryError,
};
use common::*;

#[test]
fn push_then_pull_round_trip() {
    let reg = TestRegistry::start();
    let client = client();
    let img = TestImage::new(1, "amd64", &[3000, 5000]);
    let repo = push_repo(&client, &reg, "ns/app");
    let config_digest = Digest::of(&img.config);
    assert_eq!(repo.blob_exists(&config_digest).unwrap(), None);
    let pushed = img.push(&repo, "v1");
    assert_eq!(pushed, Digest::of(&img.manifest));
    assert_eq!(
        repo.blob_exists(&config_digest).unwrap(),
        Some(img.config.len() as u64)
    );

    // Pull with a fresh client (no shared state with the pusher).
    let puller = common::client();
    let r = berth_registry::Reference::parse(&format!("{}/ns/app:v1", reg.host)).unwrap();
    let prepo = puller.repo(r.repository(), None, Access::Pull);
    let resolved = prepo
        .resolve_image(
            &r.manifest_reference(),
            &Platform::parse("linux/amd64").unwrap(),
        )
        .unwrap();
    assert!(resolved.index.is_none());
    assert_eq!(resolved.manifest.bytes, img.manifest);
    assert_eq!(resolved.manifest.media_type, DOCKER_MANIFEST_V2);
    assert_eq!(resolved.manifest.digest, pushed);
    assert_eq!(resolved.repo_digest(), &pushed);
    let cfg = &resolved.image.config;
    let got = prepo
        .fetch_blob_bytes(&Digest::parse(&cfg.digest).unwrap(), Some(cfg.size))
        .unwrap();
    assert_eq!(got, img.config);
    // Layers in parallel threads sharing clones of the handle.
    let handles: Vec<_> = resolved
        .image
        .layers
        .iter()
        .cloned()
        .map(|l| {
            let prepo = prepo.clone();
            std::thread::spawn(move || {
                let mut out = Vec::new();
                let n = prepo
                    .fetch_blob(&Digest::parse(&l.digest).unwrap(), Some(l.size), &mut out)
                    .unwrap();
                assert_eq!(n, l.size);
                out
            })
        })
        .collect();
    let layers: Vec<Vec<u8>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(layers, img.layers);

    // By digest, HEAD, and tags.
    let by_digest = prepo.get_manifest(pushed.as_str()).unwrap();
    assert_eq!(by_digest.bytes, img.manifest);
    let head = prepo.head_manifest("v1").unwrap().unwrap();
    assert_eq!(head.digest, pushed);
    assert_eq!(head.size, img.manifest.len() as u64);
    assert_eq!(prepo.head_manifest("nope").unwrap(), None);
    img.push(&repo, "v2");
    let mut tags = prepo.list_tags().unwrap();
    tags.sort();
    assert_eq!(tags, vec!["v1", "v2"]);
}

#[test]
fn blob_mount_across_repositories() {
    let reg = TestRegistry::start();
    let client = client();
    let img = TestImage::new(2, "amd64", &[1234]);
    let a = push_repo(&client, &reg, "a");
    img.push(&a, "latest");
    let b = push_repo(&client, &reg, "b");
    let layer = Digest::of(&img.layers[0]);
    assert_eq!(b.blob_exists(&layer).unwrap(), None);
    match b.mount_blob(&layer, "a").unwrap() {
        MountResult::Mounted => {}
        MountResult::Upload(_) => panic!("expected the blob to be mounted"),
    }
    assert_eq!(b.blob_exists(&layer).unwrap(), Some(1234));

    // Unknown blob: the registry opens an upload session instead, which we use.
    let data = bytes(99, 777);
    let d = Digest::of(&data);
    match b.mount_blob(&d, "a").unwrap() {
        MountResult::Mounted => panic!("mounted a blob that does not exist"),
        MountResult::Upload(session) => b
            .upload_blob_in(session, &d, data.len() as u64, &mut &data[..])
            .unwrap(),
    }
    let mut out = Vec::new();
    b.fetch_blob(&d, Some(777), &mut out).unwrap();
    assert_eq!(out, data);
}

#[test]
fn chunked_upload() {
    let reg = TestRegistry::start();
    let client = RegistryClient::new(RegistryConfig {
        chunk_threshold: 1000,
        chunk_size: 4096,
        ..RegistryConfig::default()
    })
    .unwrap();
    let repo = push_repo(&client, &reg, "chunky");
    // 3 full chunks and a partial one, through upload_blob's automatic choice.
    let data = bytes(3, 4096 * 3 + 17);
    let d = Digest::of(&data);
    repo.upload_blob(&d, data.len() as u64, &mut &data[..])
        .unwrap();
    let mut out = Vec::new();
    repo.fetch_blob(&d, Some(data.len() as u64), &mut out)
        .unwrap();
    assert_eq!(out, data);
    // Exactly a multiple of the chunk size.
    let data = bytes(4, 8192);
    let d = Digest::of(&data);
    let session = repo.start_upload().unwrap();
    assert_eq!(
        repo.upload_chunked(session, &d, &mut &data[..], 4096)
            .unwrap(),
        8192
    );
    assert_eq!(repo.blob_exists(&d).unwrap(), Some(8192));
    // Wrong digest: refused locally, nothing stored under it.
    let wrong = Digest::of(b"something else");
    let session = repo.start_upload().unwrap();
    let err = repo
        .upload_chunked(session, &wrong, &mut &data[..], 4096)
        .unwrap_err();
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
    assert_eq!(repo.blob_exists(&wrong).unwrap(), None);
}

#[test]
fn tampered_blob_and_manifest_are_refused() {
    let reg = TestRegistry::start();
    let client = client();
    let img = TestImage::new(5, "amd64", &[4000]);
    let repo = push_repo(&client, &reg, "t");
    img.push(&repo, "v1");
    let layer = Digest::of(&img.layers[0]);
    // Flip one byte of the stored layer: same size, different content.
    let path = reg.blob_file(&layer);
    let mut data = std::fs::read(&path).unwrap();
    data[100] ^= 0xff;
    std::fs::write(&path, &data).unwrap();
    let mut out = Vec::new();
    let err = repo.fetch_blob(&layer, Some(4000), &mut out).unwrap_err();
    match err {
        RegistryError::DigestMismatch { expected, actual } => {
            assert_eq!(expected, layer.to_string());
            assert_eq!(actual, Digest::of(&data).to_string());
        }
        other => panic!("expected a digest mismatch, got {other}"),
    }
    // (A manifest whose bytes do not match its digest is tested against a fake server in
    // auth.rs: this registry re-verifies manifests itself and answers 500.)
    // Wrong size is refused too.
    let cfg = Digest::of(&img.config);
    let err = repo
        .fetch_blob(&cfg, Some(img.config.len() as u64 + 1), &mut Vec::new())
        .unwrap_err();
    assert!(matches!(err, RegistryError::SizeMismatch { .. }), "{err}");
}

#[test]
fn index_with_two_platforms_picks_the_right_one() {
    let reg = TestRegistry::start();
    let client = client();
    let repo = push_repo(&client, &reg, "multi");
    let amd = TestImage::new(6, "amd64", &[100]);
    let arm = TestImage::new(7, "arm64", &[200]);
    let amd_d = amd.push(&repo, "amd");
    let arm_d = arm.push(&repo, "arm");
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": DOCKER_MANIFEST_V2, "digest": arm_d.to_string(),
             "size": arm.manifest.len(), "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
            {"mediaType": DOCKER_MANIFEST_V2, "digest": amd_d.to_string(),
             "size": amd.manifest.len(), "platform": {"architecture": "amd64", "os": "linux"}},
        ]
    }))
    .unwrap();
    let index_d = repo.put_manifest("both", OCI_INDEX, &index).unwrap();

    let pull = client.repo(&reg.repository("multi"), None, Access::Pull);
    let r = pull
        .resolve_image("both", &Platform::parse("linux/amd64").unwrap())
        .unwrap();
    assert_eq!(r.manifest.digest, amd_d);
    assert_eq!(r.manifest.bytes, amd.manifest);
    assert_eq!(r.repo_digest(), &index_d);
    assert_eq!(r.index.as_ref().unwrap().media_type, OCI_INDEX);
    let r = pull
        .resolve_image(index_d.as_str(), &Platform::parse("linux/arm64").unwrap())
        .unwrap();
    assert_eq!(r.manifest.digest, arm_d);
    assert_eq!(r.image.layers[0].size, 200);
    let err = pull
        .resolve_image("both", &Platform::parse("linux/s390x").unwrap())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no matching manifest for linux/s390x in the manifest list entries"
    );
}

#[test]
fn errors_are_worded_like_docker() {
    let reg = TestRegistry::start();
    let client = client();
    let img = TestImage::new(8, "amd64", &[10]);
    img.push(&push_repo(&client, &reg, "x"), "v1");
    let pull = client.repo(&reg.repository("x"), None, Access::Pull);
    let err = pull.get_manifest("nope").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "manifest for {}/x:nope not found: manifest unknown: manifest unknown",
            reg.host
        )
    );
    assert!(err.is_not_found());
    let missing = client.repo(&reg.repository("never/pushed"), None, Access::Pull);
    let err = missing.get_manifest("latest").unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "manifest for {}/never/pushed:latest not found: manifest unknown: manifest unknown",
            reg.host
        )
    );
    // Tags of a repository that does not exist: the registry's NAME_UNKNOWN.
    let err = missing.list_tags().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "repository {}/never/pushed not found: name unknown: repository name not known to registry",
            reg.host
        )
    );
    let unknown = Digest::of(b"absent");
    let err = pull
        .fetch_blob(&unknown, None, &mut Vec::new())
        .unwrap_err();
    assert!(matches!(err, RegistryError::BlobUnknown { .. }), "{err}");

    // Nothing listens: Go-style dial error naming the plain-HTTP URL.
    let port = free_port();
    let dead = client.repo(
        &berth_registry::Repository::new(&format!("127.0.0.1:{port}"), "x").unwrap(),
        None,
        Access::Pull,
    );
    let err = dead.get_manifest("latest").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Get \"http://127.0.0.1:{port}/v2/\": dial tcp 127.0.0.1:{port}: connect: connection refused"
        )
    );
}
