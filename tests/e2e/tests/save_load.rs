//! Issue "Images and registries": `save` writes what other tools read as a Docker
//! archive, and `load` takes archives other tools wrote. The reader is skopeo (Debian's),
//! which checks the archive's manifest, config and layer digests on its own; both the
//! `berth` and the real `docker` CLI drive berthd, and `save | gzip` loads back as the
//! Docker notes show.

use berth_e2e::*;
use std::process::Command;

fn daemon() -> Daemon {
    assert!(
        is_root(),
        "end-to-end tests need root (namespaces, mounts, overlayfs)"
    );
    let d = Daemon::start();
    d.import_busybox("busybox");
    d
}

fn skopeo(args: &[&str]) -> Run {
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .expect("skopeo is installed by scripts/deps.sh test");
    Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A two-layer image `bb2:v1`: busybox plus a committed file.
fn two_layer_image(d: &Daemon) -> (String, Vec<String>) {
    d.berth([
        "run",
        "--name",
        "mk",
        "busybox",
        "sh",
        "-c",
        "echo layer2 > /hello.txt",
    ])
    .ok();
    d.berth(["commit", "mk", "bb2:v1"]).ok();
    d.berth(["rm", "mk"]).ok();
    let id = d
        .berth(["image", "inspect", "-f", "{{.Id}}", "bb2:v1"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let layers: Vec<String> = serde_json::from_str(
        d.berth([
            "image",
            "inspect",
            "-f",
            "{{json .RootFS.Layers}}",
            "bb2:v1",
        ])
        .ok()
        .stdout
        .trim(),
    )
    .unwrap();
    assert_eq!(layers.len(), 2, "{layers:?}");
    (id, layers)
}

/// What skopeo reads from a Docker archive: its layer digests and the digest of the
/// config bytes (the image id).
fn skopeo_view(archive: &str) -> (Vec<String>, String) {
    let info = skopeo(&["inspect", archive]).ok();
    let v: serde_json::Value = serde_json::from_str(&info.stdout).unwrap();
    let layers = v["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    let out = Command::new("skopeo")
        .args(["--insecure-policy", "inspect", "--raw", "--config", archive])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    (layers, format!("sha256:{}", sha256_hex(&out.stdout)))
}

#[test]
fn saved_archives_are_read_by_skopeo_with_both_clients() {
    let d = daemon();
    let (id, layers) = two_layer_image(&d);

    let a = d.root.join("a.tar");
    d.berth(["save", "-o", a.to_str().unwrap(), "bb2:v1"]).ok();
    let (sk_layers, sk_config) = skopeo_view(&format!("docker-archive:{}", a.display()));
    assert_eq!(sk_layers, layers, "skopeo's layer digests are the diff ids");
    assert_eq!(
        sk_config, id,
        "the config skopeo reads hashes to the image id"
    );

    // The same through the real docker CLI's `save`.
    if let Some(r) = d.docker([
        "save",
        "-o",
        d.root.join("b.tar").to_str().unwrap(),
        "bb2:v1",
    ]) {
        r.ok();
        let (l, c) = skopeo_view(&format!(
            "docker-archive:{}",
            d.root.join("b.tar").display()
        ));
        assert_eq!((l, c), (layers.clone(), id.clone()));
    }

    // skopeo converts the archive to an OCI layout: every blob verified on the way.
    let oci = d.root.join("oci");
    skopeo(&[
        "copy",
        "-q",
        &format!("docker-archive:{}", a.display()),
        &format!("oci:{}:v1", oci.display()),
    ])
    .ok();
    assert!(oci.join("index.json").is_file());
}

#[test]
fn archives_written_by_skopeo_and_gzip_load_back() {
    let d = daemon();
    let (id, layers) = two_layer_image(&d);
    let a = d.root.join("a.tar");
    d.berth(["save", "-o", a.to_str().unwrap(), "bb2:v1"]).ok();

    // An archive skopeo wrote (from an OCI layout, with a new name) loads into berthd.
    let oci = d.root.join("oci");
    skopeo(&[
        "copy",
        "-q",
        &format!("docker-archive:{}", a.display()),
        &format!("oci:{}:v1", oci.display()),
    ])
    .ok();
    let c = d.root.join("c.tar");
    skopeo(&[
        "copy",
        "-q",
        &format!("oci:{}:v1", oci.display()),
        &format!("docker-archive:{}:other/img:v2", c.display()),
    ])
    .ok();
    let out = d.berth(["load", "-i", c.to_str().unwrap()]).ok();
    assert!(
        out.stdout.contains("Loaded image: other/img:v2"),
        "{out:#?}"
    );
    let got: Vec<String> = serde_json::from_str(
        d.berth([
            "image",
            "inspect",
            "-f",
            "{{json .RootFS.Layers}}",
            "other/img:v2",
        ])
        .ok()
        .stdout
        .trim(),
    )
    .unwrap();
    assert_eq!(got, layers);
    let run = d
        .berth(["run", "--rm", "other/img:v2", "cat", "/hello.txt"])
        .ok();
    assert_eq!(run.stdout, "layer2\n");

    // The Docker notes' `save | gzip` and `load < file.tar.gz`, after the image is gone.
    let gz = d.root.join("bb2.tar.gz");
    d.sh(
        &format!("berth save bb2:v1 | gzip > {}", gz.display()),
        false,
    )
    .ok();
    d.berth(["rmi", "bb2:v1"]).ok();
    assert_ne!(
        d.berth(["image", "inspect", "bb2:v1"]).status,
        0,
        "the image is really gone"
    );
    let out = d.sh(&format!("berth load < {}", gz.display()), false).ok();
    assert!(out.stdout.contains("Loaded image: bb2:v1"), "{out:#?}");
    let back = d
        .berth(["image", "inspect", "-f", "{{.Id}}", "bb2:v1"])
        .ok()
        .stdout;
    assert_eq!(back.trim(), id);

    // And the docker CLI loads a berth archive into berthd.
    d.berth(["rmi", "bb2:v1"]).ok();
    if let Some(r) = d.docker(["load", "-i", a.to_str().unwrap()]) {
        let r = r.ok();
        assert!(r.stdout.contains("Loaded image: bb2:v1"), "{r:#?}");
        let run = d.berth(["run", "--rm", "bb2:v1", "cat", "/hello.txt"]).ok();
        assert_eq!(run.stdout, "layer2\n");
    }
}
