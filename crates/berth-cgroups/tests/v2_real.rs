//! The v2 code path against a real cgroup2 kernel tree, as root: the host's unified
//! hierarchy (in hybrid mode it has no controllers, but membership, freezing,
//! `cgroup.kill`, `cpu.stat` and removal are core v2 features and work there).
//! Skipped when no cgroup2 tree is mounted or without root.

mod common;

use berth_cgroups::{Hierarchy, Mode};
use common::{cpu_ticks, CgGuard, ChildGuard};
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

fn v2_tree() -> Option<Hierarchy> {
    if !common::is_root() {
        eprintln!("skipped: needs root");
        return None;
    }
    let host = Hierarchy::detect().expect("detect");
    let unified = host.unified()?.to_path_buf();
    let h = Hierarchy::at(&unified).expect("at unified");
    assert_eq!(
        h.mode(),
        Mode::V2,
        "a cgroup2 mount must be detected as v2 by its magic"
    );
    Some(h)
}

#[test]
fn freeze_thaw_kill_and_destroy_on_real_v2() {
    let Some(h) = v2_tree() else { return };
    let g = CgGuard::new(h, "c1");
    let cg = &g.cg;
    let mut child = ChildGuard::busybox_sh("while :; do :; done");
    cg.add_pid(child.pid()).unwrap();
    child.go();
    assert_eq!(cg.pids().unwrap(), vec![child.pid()]);
    let own = std::fs::read_to_string(format!("/proc/{}/cgroup", child.pid())).unwrap();
    assert!(own.contains(&format!("0::/{}/c1", g.parent)), "{own}");

    std::thread::sleep(Duration::from_millis(100));
    cg.freeze().unwrap();
    assert!(cg.is_frozen().unwrap());
    let t0 = cpu_ticks(child.pid());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cpu_ticks(child.pid()), t0, "a frozen task must not run");
    cg.thaw().unwrap();
    assert!(!cg.is_frozen().unwrap());
    let deadline = Instant::now() + Duration::from_secs(5);
    while cpu_ticks(child.pid()) == t0 {
        assert!(Instant::now() < deadline, "thawed task does not run");
        std::thread::sleep(Duration::from_millis(20));
    }

    // cpu.stat is a core v2 file: the loop's CPU time shows up.
    let s = cg.stats().unwrap();
    assert!(s.cpu.total_ns > 0, "{s:?}");
    assert!(s.cpu.user_ns > 0, "{s:?}");
    assert_eq!(cg.oom_kill_count().ok().unwrap_or(0), 0);

    // SIGTERM goes through freeze → signal → thaw; busybox sh dies of it.
    cg.kill_all(libc::SIGTERM).unwrap();
    let status = child.child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    assert!(!cg.is_frozen().unwrap());

    // SIGKILL through cgroup.kill, also for a frozen cgroup.
    let mut child = ChildGuard::busybox_sh("sleep 1000");
    cg.add_pid(child.pid()).unwrap();
    child.go();
    cg.freeze().unwrap();
    cg.kill_all(libc::SIGKILL).unwrap();
    let status = child.child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));

    cg.destroy().unwrap();
    assert!(!cg.unified_dir().unwrap().exists());
}

/// Opens /dev/null and /dev/kmsg for reading and reports which worked.
const DEVICE_PROBE: &str = "(: < /dev/null) 2>/dev/null && echo null-ok; \
                            (: < /dev/kmsg) 2>/dev/null && echo kmsg-ok; echo end";

#[test]
fn device_filter_program_restricts_access_on_real_v2() {
    let Some(h) = v2_tree() else { return };
    let g = CgGuard::new(h, "c1");
    let cg = &g.cg;
    cg.set_devices(&berth_cgroups::default_device_rules())
        .expect("attach device filter");
    let mut child = ChildGuard::busybox_sh_piped(DEVICE_PROBE);
    cg.add_pid(child.pid()).unwrap();
    child.go();
    assert_eq!(
        child.output(),
        "null-ok\nend\n",
        "/dev/kmsg (1:11) must be denied"
    );

    // Attaching again replaces the filter (does not stack a second one).
    cg.set_devices(&berth_cgroups::privileged_device_rules())
        .unwrap();
    let mut child = ChildGuard::busybox_sh_piped(DEVICE_PROBE);
    cg.add_pid(child.pid()).unwrap();
    child.go();
    assert_eq!(child.output(), "null-ok\nkmsg-ok\nend\n");
}
