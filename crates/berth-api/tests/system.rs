//! System routes, versioning, errors and response headers, over raw HTTP.

mod common;
use common::TestServer;

fn assert_docker_headers(r: &common::Response) {
    assert_eq!(r.header("Api-Version"), Some("1.45"));
    assert_eq!(r.header("Docker-Experimental"), Some("false"));
    assert_eq!(r.header("Ostype"), Some("linux"));
    let server = r.header("Server").unwrap();
    assert!(
        server.starts_with("Docker/") && server.ends_with(" (linux)"),
        "{server}"
    );
}

#[test]
fn ping_get_and_head_have_docker_headers() {
    let srv = TestServer::start("ping");
    let r = srv.request("GET", "/_ping", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "OK");
    assert_docker_headers(&r);
    assert_eq!(
        r.header("Cache-Control"),
        Some("no-cache, no-store, must-revalidate")
    );
    assert_eq!(r.header("Pragma"), Some("no-cache"));
    assert_eq!(r.header("Builder-Version"), Some("1"));

    let r = srv.request("HEAD", "/_ping", None);
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(r.header("Content-Length"), Some("0"));
    assert_docker_headers(&r);
}

#[test]
fn version_reports_api_range_and_host() {
    let srv = TestServer::start("version");
    let r = srv.request("GET", "/version", None);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let v = r.json();
    assert_eq!(v["ApiVersion"], "1.45");
    assert_eq!(v["MinAPIVersion"], "1.24");
    assert_eq!(v["Os"], "linux");
    assert_eq!(v["Arch"], "amd64");
    assert!(v["GoVersion"].is_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(v["KernelVersion"], kernel.trim());
    assert_eq!(v["Components"][0]["Name"], "Engine");
    assert_eq!(v["Components"][0]["Details"]["MinAPIVersion"], "1.24");
}

#[test]
fn version_prefixes_in_range_are_served() {
    let srv = TestServer::start("prefix-ok");
    for v in ["1.24", "1.41", "1.45"] {
        let r = srv.request("GET", &format!("/v{v}/_ping"), None);
        assert_eq!(r.status, 200, "v{v}");
        assert_eq!(r.text(), "OK");
        let r = srv.request("GET", &format!("/v{v}/version"), None);
        assert_eq!(r.status, 200, "v{v}");
    }
}

#[test]
fn version_prefixes_out_of_range_are_rejected_with_docker_text() {
    let srv = TestServer::start("prefix-bad");
    let r = srv.request("GET", "/v1.12/version", None);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.message(),
        "client version 1.12 is too old. Minimum supported API version is 1.24, \
         please upgrade your client to a newer version"
    );
    assert_docker_headers(&r);
    let r = srv.request("GET", "/v1.99/containers/json", None);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.message(),
        "client version 1.99 is too new. Maximum supported API version is 1.45"
    );
}

#[test]
fn unknown_route_is_page_not_found() {
    let srv = TestServer::start("404");
    for (m, p) in [
        ("GET", "/nope"),
        ("GET", "/v1.45/containers/x/start"),
        ("PUT", "/_ping"),
    ] {
        let r = srv.request(m, p, None);
        assert_eq!(r.status, 404, "{m} {p}");
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert_eq!(r.message(), "page not found");
    }
}

#[test]
fn info_has_the_fields_the_cli_prints() {
    let srv = TestServer::start("info");
    let r = srv.request("GET", "/v1.45/info", None);
    assert_eq!(r.status, 200);
    let v = r.json();
    for key in [
        "Containers",
        "ContainersRunning",
        "ContainersPaused",
        "ContainersStopped",
        "Images",
        "NCPU",
        "MemTotal",
    ] {
        assert!(v[key].is_u64(), "{key}: {}", v[key]);
    }
    assert_eq!(v["Driver"], "overlay2");
    assert_eq!(v["CgroupDriver"], "cgroupfs");
    assert_eq!(v["OSType"], "linux");
    assert_eq!(v["ID"], "TEST-ID");
    assert_eq!(v["Swarm"]["LocalNodeState"], "inactive");
    assert_eq!(v["SecurityOptions"][0], "name=seccomp,profile=builtin");
    assert!(v["DockerRootDir"].as_str().unwrap().ends_with("/data"));
    let cg = v["CgroupVersion"].as_str().unwrap();
    assert!(cg == "1" || cg == "2");
    assert!(v["MemTotal"].as_u64().unwrap() > 0);
}

#[test]
fn known_docker_areas_not_served_yet_are_501_with_a_clear_message() {
    let srv = TestServer::start("501");
    let r = srv.request("GET", "/v1.45/plugins", None);
    assert_eq!(r.status, 501);
    assert_eq!(r.message(), "plugins are not supported yet by Berth");
    let r = srv.request("POST", "/swarm/init", Some("{}"));
    assert_eq!(r.status, 501);
    assert_eq!(r.message(), "swarm mode is not supported yet by Berth");
}
