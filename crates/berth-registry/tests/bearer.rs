//! Bearer token flow: against the real registry with `auth: token` and a test token
//! server that signs JWTs (RS256 via the openssl command, certificate in `x5c`); and
//! against a fake registry for token caching and manifest digest verification.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use berth_registry::{Access, Credentials, Digest, Platform, RegistryError, Repository};
use common::http::{FakeServer, Req, Resp};
use common::*;

const USER: &str = "alice";
const PASS: &str = "s3cret";

fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Signs registry tokens with a throwaway RSA key.
struct Signer {
    key: std::path::PathBuf,
    x5c: String,
}

impl Signer {
    fn new(dir: &std::path::Path) -> (Signer, std::path::PathBuf) {
        let key = dir.join("signer.key");
        let cert = dir.join("signer.pem");
        run(Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=berth token signer", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert));
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()
            .unwrap()
            .stdout;
        let x5c = base64::engine::general_purpose::STANDARD.encode(der);
        (Signer { key, x5c }, cert)
    }

    fn token(&self, sub: &str, access: &[serde_json::Value]) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]});
        let claims = serde_json::json!({
            "iss": "berth-issuer", "sub": sub, "aud": "berth-test",
            "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{sub}"),
            "access": access,
        });
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let mut child = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&self.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let sig = child.wait_with_output().unwrap().stdout;
        format!("{input}.{}", b64url(&sig))
    }
}

/// Grants: alice gets what she asks; anonymous gets pull on `public/*` only.
fn grant(req: &Req) -> Result<(String, Vec<serde_json::Value>), Resp> {
    let user = match req.header("authorization") {
        None => None,
        Some(h) => {
            let ok = Credentials::new(USER, PASS).basic_header();
            if h != ok {
                return Err(Resp::new(401).body(
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"incorrect username or password"}]}"#,
                ));
            }
            Some(USER)
        }
    };
    let mut access = Vec::new();
    for scope in req.query_all("scope") {
        let parts: Vec<&str> = scope.splitn(3, ':').collect();
        if parts.len() != 3 || parts[0] != "repository" {
            continue;
        }
        let actions: Vec<&str> = parts[2]
            .split(',')
            .filter(|a| user.is_some() || (*a == "pull" && parts[1].starts_with("public/")))
            .collect();
        access
            .push(serde_json::json!({"type": "repository", "name": parts[1], "actions": actions}));
    }
    Ok((user.unwrap_or("").to_string(), access))
}

#[test]
fn bearer_flow_against_token_auth_registry() {
    let dir = tempfile::tempdir().unwrap();
    let (signer, cert) = Signer::new(dir.path());
    let fetches = Arc::new(AtomicUsize::new(0));
    let seen_service = Arc::new(Mutex::new(Vec::<String>::new()));
    let (f2, s2) = (fetches.clone(), seen_service.clone());
    let token_server = FakeServer::start(move |req| {
        if req.path() != "/token" {
            return Resp::new(404);
        }
        f2.fetch_add(1, Ordering::SeqCst);
        s2.lock().unwrap().extend(req.query_all("service"));
        match grant(req) {
            Err(resp) => resp,
            Ok((sub, access)) => Resp::new(200)
                .header("Content-Type", "application/json")
                .body(
                serde_json::json!({"access_token": signer.token(&sub, &access), "expires_in": 300})
                    .to_string(),
            ),
        }
    });
    let reg = TestRegistry::start_with(&Options {
        auth_yaml: Some(format!(
            "auth:\n  token:\n    realm: http://{}/token\n    service: berth-test\n    issuer: berth-issuer\n    rootcertbundle: {}\n",
            token_server.addr,
            cert.display()
        )),
        ..Options::default()
    });
    let client = client();
    let alice = Credentials::new(USER, PASS);

    client.login(&reg.host, &alice).unwrap();
    let err = client
        .login(&reg.host, &Credentials::new(USER, "nope"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Get \"http://{}/v2/\": unauthorized: incorrect username or password",
            reg.host
        )
    );
    assert!(err.is_unauthorized());

    let img = TestImage::new(20, "amd64", &[300, 400]);
    let push = client.repo(
        &reg.repository("private/app"),
        Some(alice.clone()),
        Access::Push,
    );
    let d = img.push(&push, "v1");
    img.push(
        &client.repo(
            &reg.repository("public/app"),
            Some(alice.clone()),
            Access::Push,
        ),
        "v1",
    );
    assert!(seen_service
        .lock()
        .unwrap()
        .iter()
        .all(|s| s == "berth-test"));

    // Pull with credentials: one token for the pull scope serves every request.
    let before = fetches.load(Ordering::SeqCst);
    let pull = client.repo(&reg.repository("private/app"), Some(alice), Access::Pull);
    let r = pull.resolve_image("v1", &Platform::host()).unwrap();
    assert_eq!(r.manifest.digest, d);
    // Layers in parallel threads: all use the cached token.
    let threads: Vec<_> = r
        .image
        .layers
        .iter()
        .cloned()
        .map(|l| {
            let pull = pull.clone();
            std::thread::spawn(move || {
                let mut out = Vec::new();
                pull.fetch_blob(&Digest::parse(&l.digest).unwrap(), Some(l.size), &mut out)
                    .unwrap();
                out
            })
        })
        .collect();
    let layers: Vec<Vec<u8>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(layers, img.layers);
    assert_eq!(fetches.load(Ordering::SeqCst) - before, 1);

    // Cross-repository mount needs a token for both repositories (two scopes).
    let other = client.repo(
        &reg.repository("other/app"),
        Some(Credentials::new(USER, PASS)),
        Access::Push,
    );
    let layer = Digest::parse(&r.image.layers[0].digest).unwrap();
    assert!(matches!(
        other.mount_blob(&layer, "private/app").unwrap(),
        berth_registry::MountResult::Mounted
    ));
    assert_eq!(other.blob_exists(&layer).unwrap(), Some(300));

    // Anonymous: public works, private is Docker's "pull access denied".
    let anon_public = client.repo(&reg.repository("public/app"), None, Access::Pull);
    assert_eq!(anon_public.get_manifest("v1").unwrap().digest, d);
    let anon = client.repo(&reg.repository("private/app"), None, Access::Pull);
    let err = anon.get_manifest("v1").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "pull access denied for {}/private/app, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
            reg.host
        )
    );
    // Anonymous push is refused.
    let anon_push = client.repo(&reg.repository("public/app"), None, Access::Push);
    let err = anon_push.start_upload().unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
}

#[test]
fn token_cache_and_manifest_verification_against_fake_registry() {
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#.to_vec();
    let good = Digest::of(&manifest);
    let token_fetches = Arc::new(AtomicUsize::new(0));
    let scopes = Arc::new(Mutex::new(Vec::<String>::new()));
    let (tf, sc) = (token_fetches.clone(), scopes.clone());
    let m = manifest.clone();
    let g = good.clone();
    let addr_cell: Arc<Mutex<String>> = Arc::new(Mutex::new(String::new()));
    let a2 = addr_cell.clone();
    let server = FakeServer::start(move |req| {
        let addr = a2.lock().unwrap().clone();
        let challenge = format!(
            r#"Bearer realm="http://{addr}/token",service="fake",scope="repository:x:pull""#
        );
        if req.path() == "/token" {
            tf.fetch_add(1, Ordering::SeqCst);
            sc.lock().unwrap().extend(req.query_all("scope"));
            assert_eq!(req.query_all("service"), vec!["fake".to_string()]);
            // The `token` field this time (the real-registry test uses access_token).
            return Resp::new(200).body(r#"{"token":"T1","expires_in":120}"#);
        }
        if req.header("authorization") != Some("Bearer T1") {
            return Resp::new(401).header("WWW-Authenticate", &challenge).body(
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            );
        }
        match req.path() {
            "/v2/" => Resp::new(200),
            "/v2/x/manifests/v1" => Resp::new(200)
                .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                .header("Docker-Content-Digest", g.as_str())
                .body(m.clone()),
            // Lies about the digest in the header.
            "/v2/x/manifests/liar" => Resp::new(200)
                .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                .header("Docker-Content-Digest", Digest::of(b"other").as_str())
                .body(m.clone()),
            // Serves different bytes than the digest asked for.
            p if p.starts_with("/v2/x/manifests/sha256:") => Resp::new(200)
                .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                .body(b"{\"schemaVersion\":2}".to_vec()),
            _ => Resp::new(404),
        }
    });
    *addr_cell.lock().unwrap() = server.addr.clone();

    let client = client();
    let repo = client.repo(
        &Repository::new(&server.addr, "x").unwrap(),
        None,
        Access::Pull,
    );
    let got = repo.get_manifest("v1").unwrap();
    assert_eq!(got.digest, good);
    assert_eq!(got.bytes, manifest);
    // Cached: more requests, no more token fetches.
    repo.get_manifest("v1").unwrap();
    repo.clone().head_manifest("v1").unwrap();
    assert_eq!(token_fetches.load(Ordering::SeqCst), 1);
    assert_eq!(
        *scopes.lock().unwrap(),
        vec!["repository:x:pull".to_string()]
    );

    let err = repo.get_manifest("liar").unwrap_err();
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
    let wanted = Digest::of(b"wanted");
    let err = repo.get_manifest(wanted.as_str()).unwrap_err();
    match err {
        RegistryError::DigestMismatch { expected, .. } => assert_eq!(expected, wanted.to_string()),
        other => panic!("expected digest mismatch, got {other}"),
    }
}

#[test]
fn stalled_registry_times_out() {
    let server = FakeServer::start(|req| {
        if req.path() != "/v2/" {
            std::thread::sleep(std::time::Duration::from_secs(3));
        }
        Resp::new(200)
    });
    let client = berth_registry::RegistryClient::new(berth_registry::RegistryConfig {
        io_timeout: Some(std::time::Duration::from_millis(300)),
        ..berth_registry::RegistryConfig::default()
    })
    .unwrap();
    let repo = client.repo(
        &Repository::new(&server.addr, "x").unwrap(),
        None,
        Access::Pull,
    );
    let started = std::time::Instant::now();
    let err = repo.get_manifest("v1").unwrap_err();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        err.to_string(),
        format!(
            "Get \"http://{0}/v2/x/manifests/v1\": read tcp {0}: i/o timeout",
            server.addr
        )
    );
}
