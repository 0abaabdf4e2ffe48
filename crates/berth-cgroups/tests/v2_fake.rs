//! The v2 code path against a fake cgroupfs in a temp dir holding the kernel's file
//! formats: exactly what is written for each limit, controller enabling, stats parsing,
//! OOM counter, freezing, killing and removal.

use berth_cgroups::{Cgroup, CgroupError, Hierarchy, Mode};
use berth_types::spec::Resources;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

const MIB: i64 = 1 << 20;

/// A fake v2 root plus a created `berth/abc` cgroup whose files hold kernel defaults.
struct Fake {
    dir: tempfile::TempDir,
    h: Hierarchy,
    cg: Cgroup,
}

fn put(dir: &Path, name: &str, content: &str) {
    fs::write(dir.join(name), content).unwrap();
}

fn get(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).unwrap()
}

fn fake() -> Fake {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    put(
        root,
        "cgroup.controllers",
        "cpuset cpu io memory hugetlb pids rdma misc\n",
    );
    put(root, "cgroup.subtree_control", "");
    let h = Hierarchy::at(root).unwrap();
    assert_eq!(h.mode(), Mode::V2);
    let cg = Cgroup::create(&h, "berth/abc").unwrap();
    let leaf = root.join("berth/abc");
    for (name, content) in [
        ("cgroup.procs", ""),
        ("cgroup.freeze", "0\n"),
        ("cgroup.events", "populated 0\nfrozen 0\n"),
        ("memory.max", "max\n"),
        ("memory.swap.max", "max\n"),
        ("memory.low", "0\n"),
        ("cpu.max", "max 100000\n"),
        ("cpu.weight", "100\n"),
        ("cpuset.cpus", "\n"),
        ("cpuset.mems", "\n"),
        ("pids.max", "max\n"),
        ("io.weight", "default 100\n"),
    ] {
        put(&leaf, name, content);
    }
    Fake { dir, h, cg }
}

impl Fake {
    fn leaf(&self) -> std::path::PathBuf {
        self.dir.path().join("berth/abc")
    }
}

#[test]
fn create_enables_controllers_in_every_ancestor() {
    let f = fake();
    let all = "+cpuset +cpu +io +memory +hugetlb +pids +rdma +misc";
    assert_eq!(get(f.dir.path(), "cgroup.subtree_control"), all);
    assert_eq!(
        get(&f.dir.path().join("berth"), "cgroup.subtree_control"),
        all
    );
    assert!(
        !f.leaf().join("cgroup.subtree_control").exists(),
        "the leaf keeps no controllers for children"
    );
    assert_eq!(f.cg.unified_dir(), Some(f.leaf().as_path()));
    // Already enabled controllers are not written again.
    put(
        &f.dir.path().join("berth"),
        "cgroup.subtree_control",
        "cpu memory\n",
    );
    put(f.dir.path(), "cgroup.controllers", "cpu memory pids\n");
    Cgroup::create(&f.h, "berth/def").unwrap();
    assert_eq!(
        get(&f.dir.path().join("berth"), "cgroup.subtree_control"),
        "+pids"
    );
    // open() of an existing cgroup works; a missing one is NotFound.
    assert_eq!(Cgroup::open(&f.h, "berth/abc").unwrap().rel(), "berth/abc");
    assert!(matches!(
        Cgroup::open(&f.h, "berth/nope"),
        Err(CgroupError::NotFound { .. })
    ));
}

#[test]
fn apply_writes_v2_values_with_conversions() {
    let f = fake();
    let leaf = f.leaf();
    f.cg.apply(&Resources {
        memory: Some(64 * MIB),
        memory_swap: Some(128 * MIB),
        memory_reservation: Some(32 * MIB),
        cpu_shares: Some(512),
        nano_cpus: Some(500_000_000),
        cpuset_cpus: Some("0-1".into()),
        cpuset_mems: Some("0".into()),
        pids_limit: Some(20),
        blkio_weight: Some(300),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(get(&leaf, "memory.max"), "67108864");
    assert_eq!(
        get(&leaf, "memory.swap.max"),
        "67108864",
        "swap alone = memory_swap - memory"
    );
    assert_eq!(get(&leaf, "memory.low"), "33554432");
    assert_eq!(get(&leaf, "cpu.weight"), "20", "1 + (512-2)*9999/262142");
    assert_eq!(get(&leaf, "cpu.max"), "50000 100000");
    assert_eq!(get(&leaf, "cpuset.cpus"), "0-1");
    assert_eq!(get(&leaf, "cpuset.mems"), "0");
    assert_eq!(get(&leaf, "pids.max"), "20");
    assert_eq!(get(&leaf, "io.weight"), "2930", "1 + (300-10)*9999/990");

    // Only the period: the quota in effect is kept.
    f.cg.apply(&Resources {
        cpu_period: Some(200_000),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(get(&leaf, "cpu.max"), "50000 200000");
    // Unlimited quota.
    f.cg.apply(&Resources {
        cpu_quota: Some(-1),
        cpu_period: Some(50_000),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(get(&leaf, "cpu.max"), "max 50000");
    // Only the quota: written alone (the kernel keeps the period).
    f.cg.apply(&Resources {
        cpu_quota: Some(25_000),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(get(&leaf, "cpu.max"), "25000");

    // Only swap: computed against the memory limit in effect.
    f.cg.apply(&Resources {
        memory_swap: Some(96 * MIB),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(get(&leaf, "memory.swap.max"), (32 * MIB).to_string());
    assert_eq!(get(&leaf, "memory.max"), "67108864", "untouched");

    // Unlimited memory without a swap value: swap follows; pids ≤ 0 → max.
    f.cg.apply(&Resources {
        memory: Some(-1),
        pids_limit: Some(0),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(get(&leaf, "memory.max"), "max");
    assert_eq!(get(&leaf, "memory.swap.max"), "max");
    assert_eq!(get(&leaf, "pids.max"), "max");
    f.cg.apply(&Resources {
        pids_limit: Some(-1),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(get(&leaf, "pids.max"), "max");

    // Explicit unlimited swap.
    f.cg.apply(&Resources {
        memory: Some(10 * MIB),
        memory_swap: Some(-1),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(get(&leaf, "memory.max"), "10485760");
    assert_eq!(get(&leaf, "memory.swap.max"), "max");

    // Zero / None values change nothing.
    let before: Vec<String> = [
        "memory.max",
        "cpu.max",
        "cpu.weight",
        "pids.max",
        "io.weight",
    ]
    .iter()
    .map(|n| get(&leaf, n))
    .collect();
    f.cg.apply(&Resources {
        memory: Some(0),
        memory_swap: Some(0),
        cpu_shares: Some(0),
        nano_cpus: Some(0),
        blkio_weight: Some(0),
        cpuset_cpus: Some(String::new()),
        ..Default::default()
    })
    .unwrap();
    let after: Vec<String> = [
        "memory.max",
        "cpu.max",
        "cpu.weight",
        "pids.max",
        "io.weight",
    ]
    .iter()
    .map(|n| get(&leaf, n))
    .collect();
    assert_eq!(before, after);
}

#[test]
fn swap_without_memory_limit_is_refused() {
    let f = fake();
    // memory.max is "max": a swap-only update has nothing to subtract from.
    let err =
        f.cg.apply(&Resources {
            memory_swap: Some(128 * MIB),
            ..Default::default()
        })
        .unwrap_err();
    assert!(matches!(err, CgroupError::InvalidResources(_)), "{err}");
    assert_eq!(get(&f.leaf(), "memory.swap.max"), "max\n");
    let err =
        f.cg.apply(&Resources {
            memory: Some(64 * MIB),
            memory_swap: Some(32 * MIB),
            ..Default::default()
        })
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("memoryswap limit should be larger than memory limit"),
        "{err}"
    );
}

#[test]
fn refused_write_is_a_typed_error() {
    let f = fake();
    // Fake trees create missing files on write, so make the write itself fail: a
    // directory in place of pids.max (EISDIR).
    fs::remove_file(f.leaf().join("pids.max")).unwrap();
    fs::create_dir(f.leaf().join("pids.max")).unwrap();
    let err =
        f.cg.apply(&Resources {
            pids_limit: Some(5),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to write \"5\" to pids.max: is a directory"
    );
    assert_eq!(err.errno(), Some(libc::EISDIR));
}

#[test]
fn stats_parse_real_format_samples() {
    let f = fake();
    let leaf = f.leaf();
    put(&leaf, "memory.current", "5427200\n");
    put(&leaf, "memory.peak", "7000000\n");
    put(&leaf, "memory.max", "67108864\n");
    put(
        &leaf,
        "memory.stat",
        "anon 1708032\nfile 3387392\nkernel 294912\nkernel_stack 32768\npagetables 61440\n\
         sec_pagetables 0\npercpu 0\nsock 0\nvmalloc 0\nshmem 0\nzswap 0\nzswapped 0\n\
         file_mapped 2351104\nfile_dirty 0\nfile_writeback 0\nswapcached 0\nanon_thp 0\n\
         file_thp 0\nshmem_thp 0\ninactive_anon 1699840\nactive_anon 8192\n\
         inactive_file 3371008\nactive_file 16384\nunevictable 0\nslab_reclaimable 55296\n\
         slab_unreclaimable 115456\nslab 170752\nworkingset_refault_anon 0\npgfault 1731\n\
         pgmajfault 36\n",
    );
    put(
        &leaf,
        "cpu.stat",
        "usage_usec 53108\nuser_usec 26554\nsystem_usec 26554\ncore_sched.force_idle_usec 0\n\
         nr_periods 7\nnr_throttled 2\nthrottled_usec 1500\nnr_bursts 0\nburst_usec 0\n",
    );
    put(&leaf, "pids.current", "3\n");
    put(&leaf, "pids.max", "20\n");
    put(
        &leaf,
        "memory.events",
        "low 0\nhigh 0\nmax 5\noom 2\noom_kill 1\noom_group_kill 0\n",
    );
    put(
        &leaf,
        "io.stat",
        "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
    );

    let s = f.cg.stats().unwrap();
    assert_eq!(s.memory.usage, 5_427_200);
    assert_eq!(s.memory.max_usage, 7_000_000);
    assert_eq!(s.memory.limit, Some(64 << 20));
    assert_eq!(s.memory.failcnt, 5);
    assert_eq!(s.memory.cache, 3_387_392, "cache is memory.stat file");
    assert_eq!(s.memory.stat["inactive_file"], 3_371_008);
    assert_eq!(s.memory.stat["pgmajfault"], 36);
    assert_eq!(s.memory.stat.len(), 30);
    assert_eq!(s.cpu.total_ns, 53_108_000);
    assert_eq!(s.cpu.user_ns, 26_554_000);
    assert_eq!(s.cpu.system_ns, 26_554_000);
    assert!(s.cpu.per_cpu_ns.is_empty());
    assert_eq!(
        (s.cpu.nr_periods, s.cpu.nr_throttled, s.cpu.throttled_ns),
        (7, 2, 1_500_000)
    );
    assert_eq!(s.pids.current, 3);
    assert_eq!(s.pids.limit, Some(20));
    assert_eq!(s.blkio.io_service_bytes.len(), 2);
    assert_eq!(s.blkio.io_service_bytes[0].value, 4096);
    assert_eq!(f.cg.oom_kill_count().unwrap(), 1);

    // Unlimited reads as None.
    put(&leaf, "memory.max", "max\n");
    put(&leaf, "pids.max", "max\n");
    let s = f.cg.stats().unwrap();
    assert_eq!(s.memory.limit, None);
    assert_eq!(s.pids.limit, None);

    // A destroyed cgroup has no stats.
    f.cg.destroy().unwrap();
    assert!(f.cg.stats().unwrap_err().is_not_found());
}

#[test]
fn procs_are_written_and_listed() {
    let f = fake();
    f.cg.add_pid(4242).unwrap();
    assert_eq!(get(&f.leaf(), "cgroup.procs"), "4242");
    put(&f.leaf(), "cgroup.procs", "12\n34\n");
    assert_eq!(f.cg.pids().unwrap(), vec![12, 34]);
    put(&f.leaf(), "cgroup.procs", "");
    assert_eq!(f.cg.pids().unwrap(), Vec::<i32>::new());
}

#[test]
fn freeze_writes_cgroup_freeze_and_waits_for_events() {
    let f = fake();
    let leaf = f.leaf();
    assert!(!f.cg.is_frozen().unwrap());
    // The "kernel" reports frozen only 200 ms later: freeze() must wait for it.
    let events = leaf.join("cgroup.events");
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        fs::write(events, "populated 1\nfrozen 1\n").unwrap();
    });
    let t0 = Instant::now();
    f.cg.freeze().unwrap();
    assert!(
        t0.elapsed() >= Duration::from_millis(150),
        "returned before frozen"
    );
    writer.join().unwrap();
    assert_eq!(get(&leaf, "cgroup.freeze"), "1");
    assert!(f.cg.is_frozen().unwrap());

    put(&leaf, "cgroup.events", "populated 1\nfrozen 0\n");
    f.cg.thaw().unwrap();
    assert_eq!(get(&leaf, "cgroup.freeze"), "0");
    assert!(!f.cg.is_frozen().unwrap());
}

#[test]
fn kill_all_uses_cgroup_kill_for_sigkill() {
    let f = fake();
    put(&f.leaf(), "cgroup.kill", "");
    f.cg.kill_all(libc::SIGKILL).unwrap();
    assert_eq!(get(&f.leaf(), "cgroup.kill"), "1");
}

#[test]
fn destroy_removes_the_leaf_only_and_tolerates_missing() {
    let f = fake();
    f.cg.destroy().unwrap();
    assert!(!f.leaf().exists());
    assert!(f.dir.path().join("berth").is_dir());
    f.cg.destroy().unwrap();
}
