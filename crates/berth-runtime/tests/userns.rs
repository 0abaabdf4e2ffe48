//! A container in a new user namespace (Docker's `userns-remap`): root inside is an
//! unprivileged id outside.

mod common;
use berth_types::spec::NsMode;
use common::*;

fn chown_tree(p: &std::path::Path, uid: u32) {
    let st = std::process::Command::new("chown")
        .arg("-hR")
        .arg(format!("{uid}:{uid}"))
        .arg(p)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn remapped_root() {
    let f = Fixture::new("userns");
    chown_tree(&f.base, 200000);
    let mut spec = f.spec(&[
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map; touch /newfile && echo write-ok; hostname",
    ]);
    spec.namespaces.user = NsMode::New;
    spec.namespaces.uid_map = vec![(0, 200000, 65536)];
    spec.namespaces.gid_map = vec![(0, 200000, 65536)];
    let out = run(&f, &spec).unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "0");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "200000", "65536"]
    );
    assert_eq!(lines[2], "write-ok");
    assert_eq!(lines[3], "h-userns");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(f.base.join("c/upper/newfile"))
            .unwrap()
            .uid(),
        200000
    );
}

#[test]
fn exec_into_remapped_container() {
    let f = Fixture::new("userns-exec");
    chown_tree(&f.base, 300000);
    let mut spec = f.spec(&["sleep", "100"]);
    spec.namespaces.user = NsMode::New;
    spec.namespaces.uid_map = vec![(0, 300000, 65536)];
    spec.namespaces.gid_map = vec![(0, 300000, 65536)];
    let mut cap = Capture::new();
    let c = berth_runtime::create(&spec, cap.stdio.take().unwrap()).unwrap();
    f.track(c.pid());
    let pid = c.start().unwrap();
    let exec = berth_types::spec::ExecSpec {
        container_id: spec.id.clone(),
        target_pid: pid,
        cgroup_path: f.cgroup.clone(),
        process: f
            .spec(&["sh", "-c", "id -u; touch /from-exec && echo ok"])
            .process,
        privileged: false,
    };
    let mut ecap = Capture::new();
    let e = berth_runtime::create_exec(&exec, ecap.stdio.take().unwrap()).unwrap();
    let epid = start(e).unwrap();
    let (out, err) = ecap.collect();
    assert_eq!(wait(epid), 0, "{out} {err}");
    assert_eq!(out, "0\nok\n");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(f.base.join("c/upper/from-exec"))
            .unwrap()
            .uid(),
        300000
    );
}

/// A remapped container's terminal is a pts of its own devpts as well.
#[test]
fn tty_in_remapped_container() {
    let f = Fixture::new("userns-tty");
    chown_tree(&f.base, 400000);
    let mut spec = f.spec(&["sh", "-c", "tty; stty size; stat -c '%u %g %a' /dev/pts/0"]);
    spec.namespaces.user = NsMode::New;
    spec.namespaces.uid_map = vec![(0, 400000, 65536)];
    spec.namespaces.gid_map = vec![(0, 400000, 65536)];
    spec.process.terminal = true;
    spec.process.console_size = Some((12, 34));
    let c = berth_runtime::create(&spec, berth_runtime::ProcessIo::Pty).unwrap();
    let (code, text) = run_on_pty(&f, c);
    assert_eq!(code, 0, "{text:?}");
    assert_eq!(text, "/dev/pts/0\n12 34\n0 5 620\n");
}
