//! Basic auth (htpasswd) and TLS (CA from a certs.d directory) against a real registry.

mod common;

use std::process::Command;

use berth_registry::{Access, Credentials, Platform, RegistryClient, RegistryConfig};
use common::*;

fn htpasswd(dir: &std::path::Path, user: &str, pass: &str) -> std::path::PathBuf {
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, pass])
        .output()
        .expect("htpasswd");
    assert!(out.status.success());
    let path = dir.join("htpasswd");
    write(&path, &out.stdout);
    path
}

#[test]
fn basic_auth_right_and_wrong_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let reg = TestRegistry::start_with(&Options {
        htpasswd: Some(htpasswd(dir.path(), "alice", "s3cret")),
        ..Options::default()
    });
    let client = client();
    let good = Credentials::new("alice", "s3cret");
    let bad = Credentials::new("alice", "wrong");

    client.login(&reg.host, &good).unwrap();
    let err = client.login(&reg.host, &bad).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "login attempt to http://{}/v2/ failed with status: 401 Unauthorized",
            reg.host
        )
    );
    assert!(err.is_unauthorized());

    let img = TestImage::new(10, "amd64", &[500, 600]);
    let repo = client.repo(&reg.repository("priv"), Some(good.clone()), Access::Push);
    let d = img.push(&repo, "v1");

    let pull = client.repo(&reg.repository("priv"), Some(good), Access::Pull);
    let r = pull.resolve_image("v1", &Platform::host()).unwrap();
    assert_eq!(r.manifest.digest, d);

    let wrong = client.repo(&reg.repository("priv"), Some(bad), Access::Pull);
    let err = wrong.get_manifest("v1").unwrap_err();
    assert_eq!(err.to_string(), "unauthorized: authentication required");
    let anon = client.repo(&reg.repository("priv"), None, Access::Pull);
    let err = anon.get_manifest("v1").unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    assert!(
        err.to_string()
            .ends_with("/v2/priv/manifests/v1\": no basic auth credentials"),
        "{err}"
    );
}

/// A CA and a server certificate for 127.0.0.1 signed by it (EC keys: fast to make).
fn make_certs(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let p = |n: &str| dir.join(n);
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=berth test CA",
            "-keyout",
        ])
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.pem")));
    run(Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
        ])
        .arg(p("server.key"))
        .arg("-out")
        .arg(p("server.csr")));
    write(
        &p("ext.cnf"),
        b"subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    );
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-in"])
        .arg(p("server.csr"))
        .arg("-CA")
        .arg(p("ca.pem"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-CAcreateserial")
        .arg("-extfile")
        .arg(p("ext.cnf"))
        .arg("-out")
        .arg(p("server.pem")));
    (p("ca.pem"), p("server.pem"), p("server.key"))
}

#[test]
fn tls_with_ca_dir_and_refusal_without() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_certs(dir.path());
    let reg = TestRegistry::start_with(&Options {
        tls: Some((cert, key)),
        ..Options::default()
    });
    let certs_d = dir.path().join("certs.d");
    std::fs::create_dir_all(certs_d.join(&reg.host)).unwrap();
    std::fs::copy(&ca, certs_d.join(&reg.host).join("ca.crt")).unwrap();

    // Verified TLS (loopback not treated as insecure) with the CA from certs.d.
    let strict = RegistryClient::new(RegistryConfig {
        certs_dir: Some(certs_d),
        loopback_is_insecure: false,
        ..RegistryConfig::default()
    })
    .unwrap();
    let img = TestImage::new(11, "amd64", &[700]);
    let repo = strict.repo(&reg.repository("secure"), None, Access::Push);
    let d = img.push(&repo, "v1");
    let pull = strict.repo(&reg.repository("secure"), None, Access::Pull);
    assert_eq!(pull.get_manifest("v1").unwrap().digest, d);

    // Same without the CA: refused with Go's x509 wording.
    let no_ca = RegistryClient::new(RegistryConfig {
        loopback_is_insecure: false,
        ..RegistryConfig::default()
    })
    .unwrap();
    let err = no_ca
        .repo(&reg.repository("secure"), None, Access::Pull)
        .get_manifest("v1")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Get \"https://{}/v2/\": tls: failed to verify certificate: x509: certificate signed by unknown authority",
            reg.host
        )
    );

    // Default client: loopback is insecure, so HTTPS without verification is used.
    let lax = client();
    let r = lax
        .repo(&reg.repository("secure"), None, Access::Pull)
        .get_manifest("v1")
        .unwrap();
    assert_eq!(r.digest, d);
}

#[test]
fn client_certificate_from_certs_dir() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_certs(dir.path());
    let p = |n: &str| dir.path().join(n);
    // A client certificate signed by the same CA.
    run(Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-subj", "/CN=berth client", "-keyout"])
        .arg(p("client.key"))
        .arg("-out")
        .arg(p("client.csr")));
    write(
        &p("client.cnf"),
        b"extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
    );
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-in"])
        .arg(p("client.csr"))
        .arg("-CA")
        .arg(&ca)
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-CAcreateserial")
        .arg("-extfile")
        .arg(p("client.cnf"))
        .arg("-out")
        .arg(p("client.pem")));
    let reg = TestRegistry::start_with(&Options {
        tls: Some((cert, key)),
        client_ca: Some(ca.clone()),
        ..Options::default()
    });
    let strict = |with_client_cert: bool| {
        let certs_d = dir.path().join(format!("certs.d-{with_client_cert}"));
        let host_dir = certs_d.join(&reg.host);
        std::fs::create_dir_all(&host_dir).unwrap();
        std::fs::copy(&ca, host_dir.join("ca.crt")).unwrap();
        if with_client_cert {
            std::fs::copy(p("client.pem"), host_dir.join("client.cert")).unwrap();
            std::fs::copy(p("client.key"), host_dir.join("client.key")).unwrap();
        }
        RegistryClient::new(RegistryConfig {
            certs_dir: Some(certs_d),
            loopback_is_insecure: false,
            ..RegistryConfig::default()
        })
        .unwrap()
    };
    let with = strict(true);
    let img = TestImage::new(12, "amd64", &[64]);
    let d = img.push(
        &with.repo(&reg.repository("mtls"), None, Access::Push),
        "v1",
    );
    let got = with
        .repo(&reg.repository("mtls"), None, Access::Pull)
        .get_manifest("v1")
        .unwrap();
    assert_eq!(got.digest, d);

    let without = strict(false);
    let err = without
        .repo(&reg.repository("mtls"), None, Access::Pull)
        .get_manifest("v1")
        .unwrap_err();
    assert!(
        matches!(err, berth_registry::RegistryError::Connect(_)),
        "{err}"
    );
    // The server refuses the handshake (TLS 1.3 or 1.2 alert, depending on the server).
    let text = err.to_string();
    let prefix = format!("Get \"https://{}/v2/\": remote error: tls: ", reg.host);
    assert!(
        text == format!("{prefix}bad certificate")
            || text == format!("{prefix}certificate required"),
        "{text}"
    );

    // A key without its certificate is a configuration error, worded like Docker.
    let broken = dir.path().join("certs.d-broken");
    std::fs::create_dir_all(broken.join(&reg.host)).unwrap();
    std::fs::copy(p("client.key"), broken.join(&reg.host).join("client.key")).unwrap();
    let client = RegistryClient::new(RegistryConfig {
        certs_dir: Some(broken),
        loopback_is_insecure: false,
        ..RegistryConfig::default()
    })
    .unwrap();
    let err = client
        .repo(&reg.repository("mtls"), None, Access::Pull)
        .get_manifest("v1")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "missing client certificate client.cert for key client.key"
    );
}
