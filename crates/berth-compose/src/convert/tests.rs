//! Converter tests: the API bodies Docker Compose would send.

use super::*;
use crate::plan::tests_support::project;
use serde_json::json;

const SVC: &str = "services:
  web:
    image: busybox
    command: httpd -f -p 80
    environment: {B: '2', A: '1', UNSET: null}
    ports: ['127.0.0.1:8080:80', '9000']
    expose: ['81']
    volumes: ['data:/data:ro', '/anon', './site:/site', {type: tmpfs, target: /t, tmpfs: {size: 1m}}]
    networks:
      front: {aliases: [www], ipv4_address: 10.1.0.5}
      back: {}
    healthcheck: {test: [CMD, 'true'], interval: 1s, timeout: 500ms, retries: 3}
    restart: on-failure:3
    mem_limit: 64m
    cpus: 0.5
    labels: [mine=1]
    ulimits: {nofile: 1024}
    tmpfs: ['/run:size=1m']
    stop_grace_period: 1m
    init: true
    read_only: true
    cap_add: [NET_ADMIN]
    logging: {driver: json-file, options: {max-size: 1m}}
networks:
  front: {}
  back: {}
volumes:
  data: {}
";

#[test]
fn create_body_matches_compose() {
    let mut p = project(SVC);
    p.config_files = vec!["/srv/proj/compose.yml".into()];
    let s = &p.services["web"];
    let ctx = ContainerCtx {
        number: 2,
        config_hash: "abc".into(),
        image_id: Some("sha256:i".into()),
        ..Default::default()
    };
    let b = create_request(&p, s, &ctx);
    assert_eq!(b["Image"], json!("busybox"));
    assert_eq!(b["Cmd"], json!(["httpd", "-f", "-p", "80"]));
    assert_eq!(b["Env"], json!(["A=1", "B=2"]));
    assert_eq!(
        b["ExposedPorts"],
        json!({"81/tcp": {}, "80/tcp": {}, "9000/tcp": {}})
    );
    let l = &b["Labels"];
    assert_eq!(l["com.docker.compose.project"], json!("proj"));
    assert_eq!(l["com.docker.compose.service"], json!("web"));
    assert_eq!(l["com.docker.compose.container-number"], json!("2"));
    assert_eq!(l["com.docker.compose.oneoff"], json!("False"));
    assert_eq!(l["com.docker.compose.config-hash"], json!("abc"));
    assert_eq!(
        l["com.docker.compose.project.working_dir"],
        json!("/srv/proj")
    );
    assert_eq!(
        l["com.docker.compose.project.config_files"],
        json!("/srv/proj/compose.yml")
    );
    assert_eq!(l["com.docker.compose.image"], json!("sha256:i"));
    assert_eq!(l["mine"], json!("1"));
    assert_eq!(
        b["Healthcheck"],
        json!({"Test": ["CMD", "true"], "Interval": 1_000_000_000i64, "Timeout": 500_000_000, "Retries": 3})
    );
    assert_eq!(b["StopTimeout"], json!(60));
    assert_eq!(b["Volumes"], json!({"/anon": {}}));
    let h = &b["HostConfig"];
    assert_eq!(
        h["PortBindings"]["80/tcp"],
        json!([{"HostIp": "127.0.0.1", "HostPort": "8080"}])
    );
    assert_eq!(
        h["PortBindings"]["9000/tcp"],
        json!([{"HostIp": "", "HostPort": ""}])
    );
    assert_eq!(
        h["Mounts"][0],
        json!({"Type": "volume", "Source": "proj_data", "Target": "/data", "ReadOnly": true})
    );
    assert_eq!(
        h["Mounts"][1]["TmpfsOptions"],
        json!({"SizeBytes": 1048576})
    );
    assert_eq!(h["Binds"], json!(["/srv/proj/site:/site"]));
    assert_eq!(h["NetworkMode"], json!("proj_back"));
    assert_eq!(
        h["RestartPolicy"],
        json!({"Name": "on-failure", "MaximumRetryCount": 3})
    );
    assert_eq!(h["Memory"], json!(64 << 20));
    assert_eq!(h["NanoCpus"], json!(500_000_000));
    assert_eq!(
        h["Ulimits"],
        json!([{"Name": "nofile", "Soft": 1024, "Hard": 1024}])
    );
    assert_eq!(h["Tmpfs"], json!({"/run": "size=1m"}));
    assert_eq!(h["Init"], json!(true));
    assert_eq!(h["ReadonlyRootfs"], json!(true));
    assert_eq!(
        h["LogConfig"],
        json!({"Type": "json-file", "Config": {"max-size": "1m"}})
    );
    // Primary network first (names sort: back < front); the other is connected later.
    assert_eq!(service_networks(s), vec!["back", "front"]);
    assert_eq!(
        b["NetworkingConfig"]["EndpointsConfig"],
        json!({"proj_back": {"Aliases": ["web"]}})
    );
    assert_eq!(
        endpoint_config(s, "front"),
        json!({"IPAMConfig": {"IPv4Address": "10.1.0.5"}, "Aliases": ["web", "www"]})
    );
}

#[test]
fn defaults_network_mode_and_restart() {
    let p = project("services:\n  a:\n    image: x\n  b:\n    image: x\n    network_mode: service:a\n    deploy: {restart_policy: {condition: any}}\n  c:\n    image: x\n    network_mode: host\n    healthcheck: {disable: true}\n");
    let ctx = ContainerCtx {
        number: 1,
        ..Default::default()
    };
    let a = create_request(&p, &p.services["a"], &ctx);
    assert_eq!(a["HostConfig"]["NetworkMode"], json!("proj_default"));
    assert_eq!(a["HostConfig"]["RestartPolicy"]["Name"], json!("no"));
    assert_eq!(
        a["NetworkingConfig"]["EndpointsConfig"]["proj_default"]["Aliases"],
        json!(["a"])
    );
    let ctx_b = ContainerCtx {
        network_container: Some("cid".into()),
        ..ctx.clone()
    };
    let b = create_request(&p, &p.services["b"], &ctx_b);
    assert_eq!(b["HostConfig"]["NetworkMode"], json!("container:cid"));
    assert_eq!(b["HostConfig"]["RestartPolicy"]["Name"], json!("always"));
    assert_eq!(b["NetworkingConfig"]["EndpointsConfig"], json!({}));
    let c = create_request(&p, &p.services["c"], &ctx);
    assert_eq!(c["HostConfig"]["NetworkMode"], json!("host"));
    assert_eq!(c["Healthcheck"], json!({"Test": ["NONE"]}));
}

#[test]
fn network_and_volume_bodies() {
    let p = project("services:\n  a:\n    image: x\n    networks: [n]\n    volumes: [v:/v]\nnetworks:\n  n:\n    internal: true\n    ipam: {config: [{subnet: 10.5.0.0/24}]}\nvolumes:\n  v:\n    driver_opts: {type: tmpfs}\n");
    let n = network_request(&p, "n", &p.networks["n"]);
    assert_eq!(n["Name"], json!("proj_n"));
    assert_eq!(n["Driver"], json!("bridge"));
    assert_eq!(n["Internal"], json!(true));
    assert_eq!(n["Labels"]["com.docker.compose.network"], json!("n"));
    assert_eq!(n["Labels"]["com.docker.compose.project"], json!("proj"));
    assert_eq!(n["IPAM"]["Config"], json!([{"Subnet": "10.5.0.0/24"}]));
    let v = volume_request(&p, "v", &p.volumes["v"]);
    assert_eq!(v["Name"], json!("proj_v"));
    assert_eq!(v["Labels"]["com.docker.compose.volume"], json!("v"));
    assert_eq!(v["DriverOpts"], json!({"type": "tmpfs"}));
}

#[test]
fn secrets_and_configs_are_read_only_binds() {
    let p = project("services:\n  a:\n    image: x\n    secrets: [pw, {source: pw, target: other}]\n    configs: [{source: cfg, target: /etc/app.conf}]\nsecrets:\n  pw: {file: ./pw.txt}\nconfigs:\n  cfg: {file: /abs/app.conf}\n");
    assert_eq!(p.secrets["pw"].file.as_deref(), Some("/srv/proj/pw.txt"));
    let b = create_request(&p, &p.services["a"], &ContainerCtx::default());
    assert_eq!(
        b["HostConfig"]["Mounts"],
        json!([
            {"Type": "bind", "Source": "/srv/proj/pw.txt", "Target": "/run/secrets/pw", "ReadOnly": true},
            {"Type": "bind", "Source": "/srv/proj/pw.txt", "Target": "/run/secrets/other", "ReadOnly": true},
            {"Type": "bind", "Source": "/abs/app.conf", "Target": "/etc/app.conf", "ReadOnly": true}
        ])
    );
    let mut doc =
        crate::yaml::parse("t", "services:\n  a:\n    image: x\n    secrets: [nope]\n").unwrap();
    crate::normalize::file(&mut doc).unwrap();
    let e = crate::load::finalize(
        doc,
        "p",
        std::path::Path::new("/"),
        &Default::default(),
        &[],
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("undefined secret nope"), "{e}");
}

#[test]
fn recreated_containers_keep_anonymous_volumes() {
    let p = project("services:\n  a:\n    image: x\n    volumes: [/anon, /other]\n");
    let ctx = ContainerCtx {
        inherited_volumes: vec![("0123abcd".into(), "/anon".into())],
        ..Default::default()
    };
    let b = create_request(&p, &p.services["a"], &ctx);
    assert_eq!(b["Volumes"], json!({"/other": {}}));
    assert_eq!(
        b["HostConfig"]["Mounts"],
        json!([{"Type": "volume", "Source": "0123abcd", "Target": "/anon", "ReadOnly": false}])
    );
}
