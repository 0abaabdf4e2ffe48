//! docker-py (the Python SDK, when installed) against the `berthd` binary: the calls
//! compose and scripts make, including the buffered-socket exec path that loses output
//! when a server writes stream data together with the `101` head.

mod common;
use common::{busybox_tar, CgroupGuard, Daemon};
use std::process::{Command, Stdio};

fn have_docker_py() -> bool {
    Command::new("python3")
        .args(["-c", "import docker"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

const SCRIPT: &str = r#"
import docker, sys
c = docker.DockerClient(base_url="unix://" + sys.argv[1], version="auto")
assert c.ping()
assert c.version()["ApiVersion"] == "1.45"
with open(sys.argv[2], "rb") as f:
    c.api.import_image_from_data(f.read(), repository="busybox", tag="latest")
out = c.containers.run("busybox", ["sh", "-c", "echo hello; echo err >&2"], remove=True, stderr=True)
assert out == b"hello\nerr\n", out
ct = c.containers.run("busybox", ["sleep", "60"], detach=True, name="py1")
for i in range(10):
    r = ct.exec_run(["sh", "-c", "echo o; echo e >&2; exit %d" % i], demux=True)
    assert r.exit_code == i, r
    assert r.output == (b"o\n", b"e\n"), r
ct.reload()
assert ct.status == "running"
assert [x.name for x in c.containers.list()] == ["py1"]
ct.stop(timeout=1)
assert ct.wait()["StatusCode"] == 137
ct.remove()
try:
    c.containers.get("py1")
    sys.exit("still there")
except docker.errors.NotFound:
    pass
print("ok")
"#;

#[test]
fn docker_py_run_exec_wait_remove() {
    if !have_docker_py() {
        eprintln!("skipped: python docker SDK not installed");
        return;
    }
    let _cg = CgroupGuard(format!("berth-test-py-{}", std::process::id()));
    let d = Daemon::start("py");
    let tar = busybox_tar(&d.dir);
    let out = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(&d.socket)
        .arg(&tar)
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
