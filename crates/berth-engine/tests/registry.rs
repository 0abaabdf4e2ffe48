//! Pull and push at the engine level against a real registry (`docker-registry` on
//! 127.0.0.1): a two-layer OCI image whose second layer is tampered with fails without
//! registering anything, keeps the verified first layer, and the next pull reuses it;
//! a push to a sibling repository mounts the original blobs instead of uploading. A
//! pulled gzip blob (one or several members) is the layer's kept archive as is.

mod common;

use berth_engine::Engine;
use berth_registry::manifest::{
    DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST_V2, OCI_CONFIG, OCI_LAYER_TAR, OCI_MANIFEST,
};
use berth_registry::{
    Access, Descriptor, Digest, ImageManifest, RegistryClient, RegistryConfig, Repository,
};
use common::Fixture;
use serde_json::Value;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A registry with its own storage; killed on drop.
struct Registry {
    child: Child,
    host: String,
    dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        for _ in 0..10 {
            let dir = tempfile::tempdir().unwrap();
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let yaml = format!(
                "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("storage").display()
            );
            std::fs::write(dir.path().join("config.yml"), yaml).unwrap();
            let mut child = Command::new("docker-registry")
                .arg("serve")
                .arg(dir.path().join("config.yml"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("docker-registry binary");
            let host = format!("127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if TcpStream::connect(&host).is_ok() {
                    return Registry { child, host, dir };
                }
                std::thread::sleep(Duration::from_millis(30));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("could not start docker-registry");
    }

    fn blob_file(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An uncompressed layer tar with one file.
fn layer(name: &str, content: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_cksum();
    b.append_data(&mut h, name, content).unwrap();
    b.into_inner().unwrap()
}

/// Push a two-layer OCI image (plain tar layers) as `ns/two:1`; returns the layers.
fn push_image(reg: &Registry) -> Vec<Vec<u8>> {
    let layers = vec![
        layer("one.txt", b"first layer\n"),
        layer("two.bin", &vec![7u8; 300_000]),
    ];
    let diff_ids: Vec<String> = layers.iter().map(|l| Digest::of(l).to_string()).collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": berth_image::store::go_arch(),
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let client = RegistryClient::new(RegistryConfig::default()).unwrap();
    let repo = client.repo(
        &Repository::new(&reg.host, "ns/two").unwrap(),
        None,
        Access::Push,
    );
    for b in std::iter::once(&config).chain(layers.iter()) {
        repo.upload_blob(&Digest::of(b), b.len() as u64, &mut &b[..])
            .unwrap();
    }
    let m = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.into()),
        config: Descriptor::new(OCI_CONFIG, &Digest::of(&config), config.len() as u64),
        layers: layers
            .iter()
            .map(|l| Descriptor::new(OCI_LAYER_TAR, &Digest::of(l), l.len() as u64))
            .collect(),
        annotations: None,
    };
    repo.put_manifest("1", OCI_MANIFEST, &serde_json::to_vec(&m).unwrap())
        .unwrap();
    layers
}

/// Every message of a progress stream.
async fn collect(mut rx: tokio::sync::mpsc::Receiver<Value>) -> Vec<Value> {
    let mut out = Vec::new();
    while let Some(m) = rx.recv().await {
        out.push(m);
    }
    out
}

fn has(msgs: &[Value], status: &str, id: Option<&str>) -> bool {
    msgs.iter().any(|m| {
        m["status"].as_str() == Some(status) && id.is_none_or(|i| m["id"].as_str() == Some(i))
    })
}

fn empty_dir(p: PathBuf) -> bool {
    std::fs::read_dir(p).map_or(true, |mut rd| rd.next().is_none())
}

fn short(d: &Digest) -> String {
    d.hex()[..12].to_string()
}

async fn pull(e: &Arc<Engine>, name: &str) -> Vec<Value> {
    collect(e.image_pull(name, None, None).await.unwrap()).await
}

#[test]
fn failed_pull_keeps_verified_layers_and_push_recompresses_plain_tar() {
    let reg = Registry::start();
    let layers = push_image(&reg);
    let (d1, d2) = (Digest::of(&layers[0]), Digest::of(&layers[1]));
    let fx = Fixture::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let e = fx.engine().await;
        let name = format!("{}/ns/two:1", reg.host);

        // The second layer is corrupted in the registry: the pull fails.
        let file = reg.blob_file(&d2);
        let good = std::fs::read(&file).unwrap();
        let mut bad = good.clone();
        bad[1000] ^= 0xff;
        std::fs::write(&file, &bad).unwrap();
        let msgs = pull(&e, &name).await;
        let last = msgs.last().unwrap();
        assert!(
            last["error"].as_str().unwrap_or("").contains("digest"),
            "{msgs:?}"
        );
        assert!(e.images().resolve(&name).is_err(), "half image registered");
        assert!(e.images().list().is_empty());
        let data = &fx.cfg.data_root;
        assert!(empty_dir(data.join("distribution/tmp")));
        assert!(empty_dir(data.join("image/tmp")));
        // The verified first layer stays: cached blob and unpacked layer.
        let cached = |d: &Digest| data.join("distribution/blobs/sha256").join(d.hex());
        assert!(cached(&d1).exists());
        assert!(!cached(&d2).exists());
        assert!(e.images().layers().meta(d1.as_str()).is_ok());

        // Repaired: the first layer is reused, the second fetched.
        std::fs::write(&file, &good).unwrap();
        let msgs = pull(&e, &name).await;
        assert!(has(&msgs, "Already exists", Some(&short(&d1))), "{msgs:?}");
        assert!(has(&msgs, "Pull complete", Some(&short(&d2))), "{msgs:?}");
        assert!(
            has(
                &msgs,
                &format!("Status: Downloaded newer image for {name}"),
                None
            ),
            "{msgs:?}"
        );
        let img = e.images().resolve(&name).unwrap();
        assert_eq!(img.repo_digests.len(), 1);
        assert!(img.repo_digests[0].starts_with(&format!("{}/ns/two@sha256:", reg.host)));
        let dirs = e.images().layer_dirs(&img.id).unwrap();
        assert_eq!(
            std::fs::read(dirs[1].join("one.txt")).unwrap(),
            b"first layer\n"
        );
        assert_eq!(
            std::fs::read(dirs[0].join("two.bin")).unwrap().len(),
            300_000
        );

        // Pushed to a sibling repository. These layers were pulled as plain tar, which a
        // Docker v2 manifest cannot name, so they are not mounted: each is pushed as our
        // own gzip archive of the same content (diff ids unchanged), as Docker does.
        let copy = format!("{}/ns/copy:2", reg.host);
        e.images().tag(&name, &copy).unwrap();
        let msgs = collect(e.image_push(&copy, None).await.unwrap()).await;
        assert!(msgs.iter().all(|m| m.get("error").is_none()), "{msgs:?}");
        for d in [&d1, &d2] {
            assert!(has(&msgs, "Pushed", Some(&short(d))), "{msgs:?}");
            assert!(
                !has(&msgs, "Mounted from ns/two", Some(&short(d))),
                "{msgs:?}"
            );
        }
        let client = RegistryClient::new(RegistryConfig::default()).unwrap();
        let repo = client.repo(
            &Repository::new(&reg.host, "ns/copy").unwrap(),
            None,
            Access::Pull,
        );
        let m = repo
            .resolve_image("2", &berth_registry::Platform::host())
            .unwrap();
        assert_eq!(m.image.layers.len(), 2);
        for l in &m.image.layers {
            assert_eq!(
                l.media_type,
                "application/vnd.docker.image.rootfs.diff.tar.gzip"
            );
            assert!(l.digest != d1.as_str() && l.digest != d2.as_str(), "{l:?}");
        }
        let img = e.images().resolve(&copy).unwrap();
        assert!(img
            .repo_digests
            .contains(&format!("{}/ns/copy@{}", reg.host, m.manifest.digest)));

        // Again: everything is already there.
        let msgs = collect(e.image_push(&copy, None).await.unwrap()).await;
        assert!(has(&msgs, "Layer already exists", Some(&short(&d1))));
        assert!(has(&msgs, "Layer already exists", Some(&short(&d2))));
    });
}

#[test]
fn pull_errors_are_dockers() {
    let reg = Registry::start();
    let fx = Fixture::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let e = fx.engine().await;
        let err = e
            .image_pull(&format!("{}/no/such:tag", reg.host), None, None)
            .await
            .unwrap_err();
        assert_eq!(err.kind, berth_engine::ErrorKind::NotFound);
        assert_eq!(
            err.message,
            format!(
                "manifest for {}/no/such:tag not found: manifest unknown: manifest unknown",
                reg.host
            )
        );
        let err = e.image_pull("Bad/Name", None, None).await.unwrap_err();
        assert_eq!(err.kind, berth_engine::ErrorKind::InvalidArgument);
        let err = e
            .image_push(&format!("{}/not/local:1", reg.host), None)
            .await
            .unwrap_err();
        assert_eq!(
            err.message,
            format!(
                "An image does not exist locally with the tag: {}/not/local",
                reg.host
            )
        );
    });
}

/// gzip of `data` as one member.
fn gz(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn pulled_gzip_blobs_are_kept_as_layer_archives_and_pushed_back_unchanged() {
    let reg = Registry::start();
    let tars = [
        layer("a.txt", b"gzip layer one\n"),
        layer(
            "b.bin",
            &(0..400_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
        ),
    ];
    // The second blob has two gzip members (split on a tar block), as some tools write.
    let (head, tail) = tars[1].split_at(1024);
    let blobs = [gz(&tars[0]), [gz(head), gz(tail)].concat()];
    let diff_ids: Vec<String> = tars.iter().map(|l| Digest::of(l).to_string()).collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": berth_image::store::go_arch(),
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let client = RegistryClient::new(RegistryConfig::default()).unwrap();
    let repo = client.repo(
        &Repository::new(&reg.host, "ns/gz").unwrap(),
        None,
        Access::Push,
    );
    for b in std::iter::once(&config).chain(blobs.iter()) {
        repo.upload_blob(&Digest::of(b), b.len() as u64, &mut &b[..])
            .unwrap();
    }
    let m = ImageManifest {
        schema_version: 2,
        media_type: Some(DOCKER_MANIFEST_V2.into()),
        config: Descriptor::new(DOCKER_CONFIG, &Digest::of(&config), config.len() as u64),
        layers: blobs
            .iter()
            .map(|b| Descriptor::new(DOCKER_LAYER_GZIP, &Digest::of(b), b.len() as u64))
            .collect(),
        annotations: None,
    };
    repo.put_manifest("1", DOCKER_MANIFEST_V2, &serde_json::to_vec(&m).unwrap())
        .unwrap();

    let fx = Fixture::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let e = fx.engine().await;
        let name = format!("{}/ns/gz:1", reg.host);
        let msgs = pull(&e, &name).await;
        assert!(msgs.iter().all(|m| m.get("error").is_none()), "{msgs:?}");
        let chain = berth_image::digest::chain_ids(&diff_ids);
        let data = &fx.cfg.data_root;
        for (i, blob) in blobs.iter().enumerate() {
            let meta = e.images().layers().meta(&chain[i]).unwrap();
            let digest = Digest::of(blob);
            assert_eq!(meta.archive_digest, digest.as_str());
            assert_eq!(meta.archive_size, blob.len() as u64);
            // The cached blob itself, linked, not a second compressed copy.
            use std::os::unix::fs::MetadataExt;
            let kept = e.images().layers().layer_path(&chain[i]).unwrap();
            let kept = std::fs::metadata(kept.join("layer.tar.gz")).unwrap();
            let cached = data.join("distribution/blobs/sha256").join(digest.hex());
            assert_eq!(kept.ino(), std::fs::metadata(cached).unwrap().ino());
            // Read back whole, both members, as the layer's tar (save, export).
            let (mut r, len) = e.images().layers().open_archive(&chain[i]).unwrap();
            let mut back = Vec::new();
            std::io::Read::read_to_end(&mut r, &mut back).unwrap();
            assert_eq!(len, tars[i].len() as u64);
            assert_eq!(back, tars[i]);
        }
        let dirs = e
            .images()
            .layer_dirs(&e.images().resolve(&name).unwrap().id)
            .unwrap();
        assert_eq!(
            std::fs::read(dirs[1].join("a.txt")).unwrap(),
            b"gzip layer one\n"
        );
        assert_eq!(
            std::fs::read(dirs[0].join("b.bin")).unwrap(),
            &tars[1][512..400_512]
        );

        // Pushed to a sibling repository: the same blobs, mounted, not recompressed.
        let copy = format!("{}/ns/gzcopy:2", reg.host);
        e.images().tag(&name, &copy).unwrap();
        let msgs = collect(e.image_push(&copy, None).await.unwrap()).await;
        assert!(msgs.iter().all(|m| m.get("error").is_none()), "{msgs:?}");
        let repo = client.repo(
            &Repository::new(&reg.host, "ns/gzcopy").unwrap(),
            None,
            Access::Pull,
        );
        let pushed = repo
            .resolve_image("2", &berth_registry::Platform::host())
            .unwrap();
        let got: Vec<&str> = pushed
            .image
            .layers
            .iter()
            .map(|l| l.digest.as_str())
            .collect();
        let want: Vec<String> = blobs.iter().map(|b| Digest::of(b).to_string()).collect();
        assert_eq!(got, want);
    });
}
