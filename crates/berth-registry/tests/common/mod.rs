//! Test harness: a real registry (the `docker-registry` binary) per test on
//! 127.0.0.1 with a free port and its own storage dir, killed by a Drop guard; plus
//! helpers that build small images (config + layers + manifest) in memory.

#![allow(dead_code)]

pub mod http;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_registry::manifest::{DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST_V2};
use berth_registry::{
    Access, Descriptor, Digest, ImageManifest, RegistryClient, RegistryConfig, Repo, Repository,
};

/// Extra configuration of a test registry.
#[derive(Default, Clone)]
pub struct Options {
    /// htpasswd file for basic auth.
    pub htpasswd: Option<PathBuf>,
    /// (certificate, key) for TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// CA bundle that client certificates must chain to (mutual TLS).
    pub client_ca: Option<PathBuf>,
    /// Raw YAML for `auth:` (token auth), replacing htpasswd.
    pub auth_yaml: Option<String>,
}

/// A running registry; killed and its storage removed on drop.
pub struct TestRegistry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub host: String,
    pub dir: tempfile::TempDir,
}

impl TestRegistry {
    pub fn start() -> TestRegistry {
        TestRegistry::start_with(&Options::default())
    }

    pub fn start_with(opts: &Options) -> TestRegistry {
        for _ in 0..10 {
            if let Some(r) = TestRegistry::try_start(opts) {
                return r;
            }
        }
        panic!("could not start a test registry");
    }

    fn try_start(opts: &Options) -> Option<TestRegistry> {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let storage = dir.path().join("storage");
        std::fs::create_dir(&storage).unwrap();
        let mut yaml = format!(
            "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        );
        if let Some((cert, key)) = &opts.tls {
            let client_cas = opts
                .client_ca
                .as_ref()
                .map(|ca| format!(", clientcas: [{}]", ca.display()))
                .unwrap_or_default();
            yaml.push_str(&format!(
                "  tls: {{certificate: {}, key: {}{client_cas}}}\n",
                cert.display(),
                key.display()
            ));
        }
        if let Some(auth) = &opts.auth_yaml {
            yaml.push_str(auth);
        } else if let Some(h) = &opts.htpasswd {
            yaml.push_str(&format!(
                "auth: {{htpasswd: {{realm: r, path: {}}}}}\n",
                h.display()
            ));
        }
        let cfg = dir.path().join("config.yml");
        std::fs::write(&cfg, yaml).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry binary");
        let mut reg = TestRegistry {
            child,
            host: format!("127.0.0.1:{port}"),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = reg.child.try_wait() {
                return None; // port taken meanwhile, or bad config: retry
            }
            if TcpStream::connect(&reg.host).is_ok() {
                std::thread::sleep(Duration::from_millis(100));
                if let Ok(Some(_)) = reg.child.try_wait() {
                    return None;
                }
                return Some(reg);
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        None
    }

    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Path of a blob's data file in the filesystem storage driver's layout.
    pub fn blob_file(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    pub fn repository(&self, path: &str) -> Repository {
        Repository::new(&self.host, path).unwrap()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub fn client() -> RegistryClient {
    RegistryClient::new(RegistryConfig::default()).unwrap()
}

/// Deterministic pseudo-random bytes.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A small test image: config, layers and the manifest bytes.
pub struct TestImage {
    pub config: Vec<u8>,
    pub layers: Vec<Vec<u8>>,
    pub manifest: Vec<u8>,
}

impl TestImage {
    pub fn new(seed: u64, arch: &str, layer_sizes: &[usize]) -> TestImage {
        let layers: Vec<Vec<u8>> = layer_sizes
            .iter()
            .enumerate()
            .map(|(i, n)| bytes(seed * 100 + i as u64, *n))
            .collect();
        let diff_ids: Vec<String> = layers.iter().map(|l| Digest::of(l).to_string()).collect();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"], "Env": [format!("SEED={seed}")]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap();
        let m = ImageManifest {
            schema_version: 2,
            media_type: Some(DOCKER_MANIFEST_V2.into()),
            config: Descriptor::new(DOCKER_CONFIG, &Digest::of(&config), config.len() as u64),
            layers: layers
                .iter()
                .map(|l| Descriptor::new(DOCKER_LAYER_GZIP, &Digest::of(l), l.len() as u64))
                .collect(),
            annotations: None,
        };
        let manifest = serde_json::to_vec_pretty(&m).unwrap();
        TestImage {
            config,
            layers,
            manifest,
        }
    }

    pub fn blobs(&self) -> Vec<&[u8]> {
        let mut v: Vec<&[u8]> = vec![&self.config];
        v.extend(self.layers.iter().map(|l| l.as_slice()));
        v
    }

    /// Push every blob (skipping existing ones) and the manifest under `tag`.
    pub fn push(&self, repo: &Repo, tag: &str) -> Digest {
        for b in self.blobs() {
            let d = Digest::of(b);
            if repo.blob_exists(&d).unwrap().is_none() {
                repo.upload_blob(&d, b.len() as u64, &mut &*b).unwrap();
            }
        }
        repo.put_manifest(tag, DOCKER_MANIFEST_V2, &self.manifest)
            .unwrap()
    }
}

pub fn push_repo(client: &RegistryClient, reg: &TestRegistry, path: &str) -> Repo {
    client.repo(&reg.repository(path), None, Access::Push)
}

/// Run a command, panicking with its output on failure.
pub fn run(cmd: &mut Command) {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Write a file.
pub fn write(path: &Path, data: &[u8]) {
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(data).unwrap();
}
