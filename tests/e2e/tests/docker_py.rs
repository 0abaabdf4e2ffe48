//! docker-py against berthd, pinned to API 1.41 as many of its users are.

use berth_e2e::*;
use std::process::Command;

const SCRIPT: &str = r#"
import sys, docker
c = docker.DockerClient(base_url=sys.argv[1], version="1.41")
assert c.version()["ApiVersion"] == "1.45", c.version()
assert c.ping()
out = c.containers.run("busybox", ["sh", "-c", "echo hello; echo err >&2"], remove=True, stderr=True)
assert out == b"hello\nerr\n", out
ct = c.containers.run("busybox", ["sh", "-c", "echo started; sleep 100"], detach=True, name="py", environment={"A": "1"})
ct.reload()
assert ct.status == "running", ct.status
assert ct.name == "py"
code, out = ct.exec_run(["sh", "-c", "echo $A-$HOSTNAME"])
assert code == 0 and out == ("1-" + ct.id[:12] + "\n").encode(), (code, out)
assert ct.logs() == b"started\n", ct.logs()
assert [x.name for x in c.containers.list()] == ["py"]
ct.stop(timeout=1)
assert ct.wait()["StatusCode"] == 137
ct.reload()
assert ct.attrs["State"]["Status"] == "exited"
ct.remove()
assert c.containers.list(all=True) == []
tags = [t for i in c.images.list() for t in i.tags]
assert "busybox:latest" in tags, tags
try:
    c.containers.get("nope")
    raise SystemExit("expected NotFound")
except docker.errors.NotFound as e:
    assert "No such container: nope" in str(e), str(e)
print("docker-py ok")
"#;

#[test]
fn docker_py_pinned_to_1_41_drives_berthd() {
    assert!(is_root(), "end-to-end tests need root");
    let probe = Command::new("python3")
        .args(["-c", "import docker"])
        .output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        eprintln!("docker-py not installed (scripts/deps.sh test installs it): skipped");
        return;
    }
    let d = Daemon::start();
    d.import_busybox("busybox");
    let out = Command::new("python3")
        .args(["-c", SCRIPT, &d.host()])
        .output()
        .unwrap();
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "docker-py failed:\n{so}\n{se}");
    assert_eq!(so.trim(), "docker-py ok");
}
