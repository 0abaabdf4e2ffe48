//! The v1 (and hybrid) code path against the real kernel of a v1/hybrid host, as root:
//! limits read back from the kernel's files, membership, freezing, stats, OOM kills and
//! removal. Skipped (with a note) on v2-only hosts or without root.

mod common;

use berth_cgroups::{Cgroup, CgroupError, Hierarchy, Mode};
use berth_types::spec::Resources;
use common::{cpu_ticks, read, CgGuard, ChildGuard};
use std::path::Path;
use std::time::{Duration, Instant};

const MIB: i64 = 1 << 20;

fn v1_host() -> Option<Hierarchy> {
    if !common::is_root() {
        eprintln!("skipped: needs root");
        return None;
    }
    let h = Hierarchy::detect().expect("detect");
    if h.mode() == Mode::V2 {
        eprintln!("skipped: host is cgroup v2 only");
        return None;
    }
    Some(h)
}

fn file(cg: &Cgroup, controller: &str, name: &str) -> String {
    read(&cg.v1_dir(controller).expect("controller dir").join(name))
}

#[test]
fn apply_writes_limits_the_kernel_reads_back() {
    let Some(h) = v1_host() else { return };
    let g = CgGuard::new(h, "c1");
    let cg = &g.cg;
    // Created in every controller, cpuset seeded from the parent (or tasks would fail).
    for (c, _) in g.h.v1_controllers() {
        assert!(cg.v1_dir(c).unwrap().is_dir(), "{c} dir missing");
    }
    assert!(!file(cg, "cpuset", "cpuset.cpus").is_empty());
    assert!(!file(cg, "cpuset", "cpuset.mems").is_empty());

    cg.apply(&Resources {
        memory: Some(64 * MIB),
        memory_swap: Some(128 * MIB),
        memory_reservation: Some(32 * MIB),
        cpu_shares: Some(512),
        nano_cpus: Some(500_000_000),
        cpuset_cpus: Some("0".into()),
        cpuset_mems: Some("0".into()),
        pids_limit: Some(20),
        blkio_weight: Some(300),
        ..Default::default()
    })
    .expect("apply");
    assert_eq!(
        file(cg, "memory", "memory.limit_in_bytes"),
        (64 * MIB).to_string()
    );
    assert_eq!(
        file(cg, "memory", "memory.memsw.limit_in_bytes"),
        (128 * MIB).to_string()
    );
    assert_eq!(
        file(cg, "memory", "memory.soft_limit_in_bytes"),
        (32 * MIB).to_string()
    );
    assert_eq!(file(cg, "cpu", "cpu.shares"), "512");
    assert_eq!(file(cg, "cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(file(cg, "cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(file(cg, "cpuset", "cpuset.cpus"), "0");
    assert_eq!(file(cg, "cpuset", "cpuset.mems"), "0");
    assert_eq!(file(cg, "pids", "pids.max"), "20");
    let blkio = cg.v1_dir("blkio").unwrap();
    if blkio.join("blkio.weight").exists() {
        assert_eq!(read(&blkio.join("blkio.weight")), "300");
    } else if blkio.join("blkio.bfq.weight").exists() {
        assert!(read(&blkio.join("blkio.bfq.weight")).contains("300"));
    }

    // Raising both: memsw has to go first or the kernel refuses the memory limit.
    cg.apply(&Resources {
        memory: Some(256 * MIB),
        memory_swap: Some(512 * MIB),
        ..Default::default()
    })
    .expect("raise memory");
    assert_eq!(
        file(cg, "memory", "memory.limit_in_bytes"),
        (256 * MIB).to_string()
    );
    assert_eq!(
        file(cg, "memory", "memory.memsw.limit_in_bytes"),
        (512 * MIB).to_string()
    );
    // Lowering both: memory has to go first.
    cg.apply(&Resources {
        memory: Some(32 * MIB),
        memory_swap: Some(48 * MIB),
        ..Default::default()
    })
    .expect("lower memory");
    assert_eq!(
        file(cg, "memory", "memory.limit_in_bytes"),
        (32 * MIB).to_string()
    );
    assert_eq!(
        file(cg, "memory", "memory.memsw.limit_in_bytes"),
        (48 * MIB).to_string()
    );
    // Unlimited again (-1 both), and unlimited CPU / pids.
    cg.apply(&Resources {
        memory: Some(-1),
        memory_swap: Some(-1),
        cpu_quota: Some(-1),
        pids_limit: Some(0),
        ..Default::default()
    })
    .expect("unlimit");
    let unlimited: u64 = file(cg, "memory", "memory.limit_in_bytes").parse().unwrap();
    assert!(unlimited > 1 << 62, "{unlimited}");
    assert_eq!(file(cg, "cpu", "cpu.cfs_quota_us"), "-1");
    assert_eq!(file(cg, "pids", "pids.max"), "max");
    // Fields left None are untouched.
    assert_eq!(file(cg, "cpu", "cpu.shares"), "512");
}

#[test]
fn kernel_refusal_is_a_typed_error_naming_file_and_value() {
    let Some(h) = v1_host() else { return };
    let g = CgGuard::new(h, "c1");
    // The kernel's minimum CFS quota is 1 ms.
    let err =
        g.cg.apply(&Resources {
            cpu_quota: Some(500),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(err.errno(), Some(libc::EINVAL));
    assert_eq!(
        err.to_string(),
        "failed to write \"500\" to cpu.cfs_quota_us: invalid argument"
    );
    // memsw below memory is refused too.
    let err =
        g.cg.apply(&Resources {
            memory: Some(64 * MIB),
            memory_swap: Some(32 * MIB),
            ..Default::default()
        })
        .unwrap_err();
    assert!(matches!(err, CgroupError::Write { .. }), "{err}");
    assert!(err.to_string().contains("invalid argument"), "{err}");
    // A cpuset the host does not have.
    let err =
        g.cg.apply(&Resources {
            cpuset_cpus: Some("4095".into()),
            ..Default::default()
        })
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("failed to write \"4095\" to cpuset.cpus: "),
        "{err}"
    );
}

#[test]
fn processes_join_freeze_thaw_and_show_in_stats() {
    let Some(h) = v1_host() else { return };
    let g = CgGuard::new(h, "c1");
    let cg = &g.cg;
    cg.apply(&Resources {
        pids_limit: Some(20),
        memory: Some(64 * MIB),
        ..Default::default()
    })
    .unwrap();
    // Holds a 2 MB string (charged to the cgroup), then busy-loops: its CPU time shows
    // whether it runs.
    let mut child =
        ChildGuard::busybox_sh("a=$(head -c 2000000 /dev/zero | tr '\\0' a); while :; do :; done");
    cg.add_pid(child.pid()).expect("add_pid");
    // Before it runs: once it does, its command substitution forks into the cgroup too.
    assert_eq!(cg.pids().unwrap(), vec![child.pid()]);
    child.go();
    let own = std::fs::read_to_string(format!("/proc/{}/cgroup", child.pid())).unwrap();
    assert!(own.contains(&format!("memory:/{}/c1", g.parent)), "{own}");

    std::thread::sleep(Duration::from_millis(100));
    cg.freeze().expect("freeze");
    assert!(cg.is_frozen().unwrap());
    assert_eq!(file(cg, "freezer", "freezer.state"), "FROZEN");
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.pid())).unwrap();
    assert!(status.contains("State:\tD"), "frozen task state: {status}");
    let t0 = cpu_ticks(child.pid());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cpu_ticks(child.pid()), t0, "a frozen task must not run");

    cg.thaw().expect("thaw");
    assert!(!cg.is_frozen().unwrap());
    assert_eq!(file(cg, "freezer", "freezer.state"), "THAWED");
    let deadline = Instant::now() + Duration::from_secs(5);
    while cpu_ticks(child.pid()) == t0 {
        assert!(Instant::now() < deadline, "thawed task does not run");
        std::thread::sleep(Duration::from_millis(20));
    }

    let s = cg.stats().expect("stats");
    assert!(s.memory.usage > 0, "{s:?}");
    assert_eq!(s.memory.limit, Some(64 << 20));
    assert!(s.memory.stat.contains_key("total_rss") || s.memory.stat.contains_key("rss"));
    assert!(s.cpu.total_ns > 0, "{s:?}");
    assert!(s.cpu.user_ns + s.cpu.system_ns > 0, "{s:?}");
    assert!(!s.cpu.per_cpu_ns.is_empty());
    assert!(s.cpu.per_cpu_ns.iter().any(|&n| n > 0), "{s:?}");
    assert_eq!(s.pids.current, 1);
    assert_eq!(s.pids.limit, Some(20));

    // kill_all: freeze, SIGKILL each, thaw → the child dies.
    cg.kill_all(libc::SIGKILL).expect("kill_all");
    let status = child.child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(
        !cg.is_frozen().unwrap(),
        "kill_all must leave the cgroup thawed"
    );
}

#[test]
fn oom_kill_is_counted() {
    let Some(h) = v1_host() else { return };
    let g = CgGuard::new(h, "c1");
    let cg = &g.cg;
    cg.apply(&Resources {
        memory: Some(16 * MIB),
        memory_swap: Some(16 * MIB),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(cg.oom_kill_count().unwrap(), 0);
    // The shell keeps a 64 MB string: far beyond the 16 MiB limit with no swap.
    let mut child =
        ChildGuard::busybox_sh("a=$(head -c 64000000 /dev/zero | tr '\\0' a); echo ${#a}");
    cg.add_pid(child.pid()).unwrap();
    child.go();
    let status = child.child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert!(
        !status.success(),
        "the allocation must not succeed: {status:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let n = cg.oom_kill_count().unwrap();
        if n >= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "oom_kill stayed 0 (status {status:?})"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = status.signal();
}

#[test]
fn destroy_removes_every_directory_even_with_children() {
    let Some(h) = v1_host() else { return };
    let g = CgGuard::new(h, "c1");
    // A nested cgroup below ours must not block removal.
    let nested = Cgroup::create(&g.h, &format!("{}/c1/sub", g.parent)).unwrap();
    let mut child = ChildGuard::busybox_sh("sleep 1000");
    g.cg.add_pid(child.pid()).unwrap();
    child.go();
    // Busy while the process lives.
    let err = g.cg.destroy().unwrap_err();
    assert_eq!(err.errno(), Some(libc::EBUSY), "{err}");
    g.cg.kill_all(libc::SIGKILL).unwrap();
    let _ = child.child.wait();
    g.cg.destroy().expect("destroy");
    for (c, _) in g.h.v1_controllers() {
        assert!(!g.cg.v1_dir(c).unwrap().exists(), "{c} dir still there");
        assert!(!nested.v1_dir(c).unwrap().exists());
    }
    if let Some(u) = g.cg.unified_dir() {
        assert!(!u.exists());
    }
    // Missing is fine; open says NotFound.
    g.cg.destroy().expect("second destroy");
    let err = Cgroup::open(&g.h, &format!("{}/c1", g.parent)).unwrap_err();
    assert!(err.is_not_found());
    assert!(Path::new("/proc/self").exists());
}

/// Opens /dev/null and /dev/kmsg for reading and reports which worked.
const DEVICE_PROBE: &str = "(: < /dev/null) 2>/dev/null && echo null-ok; \
                            (: < /dev/kmsg) 2>/dev/null && echo kmsg-ok; echo end";

#[test]
fn device_rules_restrict_access() {
    let Some(h) = v1_host() else { return };
    let g = CgGuard::new(h, "c1");
    let cg = &g.cg;
    cg.set_devices(&berth_cgroups::default_device_rules())
        .expect("set_devices");
    let list = file(cg, "devices", "devices.list");
    assert!(list.lines().any(|l| l == "c 1:3 rwm"), "{list}");
    assert!(list.lines().any(|l| l == "c *:* m"), "{list}");
    assert!(list.lines().any(|l| l == "c 136:* rwm"), "{list}");
    assert!(!list.contains("a *:* rwm"), "{list}");

    let mut child = ChildGuard::busybox_sh_piped(DEVICE_PROBE);
    cg.add_pid(child.pid()).unwrap();
    child.go();
    assert_eq!(
        child.output(),
        "null-ok\nend\n",
        "/dev/kmsg (1:11) must be denied"
    );

    // --device /dev/kmsg:r, on top of the defaults.
    let mut rules = berth_cgroups::default_device_rules();
    rules.push(berth_cgroups::DeviceRule::device(true, 'c', 1, 11, "r"));
    cg.set_devices(&rules).unwrap();
    let mut child = ChildGuard::busybox_sh_piped(DEVICE_PROBE);
    cg.add_pid(child.pid()).unwrap();
    child.go();
    assert_eq!(child.output(), "null-ok\nkmsg-ok\nend\n");

    cg.set_devices(&berth_cgroups::privileged_device_rules())
        .unwrap();
    assert_eq!(file(cg, "devices", "devices.list"), "a *:* rwm");
}
