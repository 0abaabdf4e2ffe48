//! Real-kernel tests of `create`/`start` with a busybox rootfs on overlayfs (root only).
//! Every container runs with Docker's defaults: capabilities, masked and read-only
//! paths, the default seccomp profile, a cgroup, and new mnt/uts/ipc/pid/net namespaces.

mod common;
use berth_types::spec::{Mount, Rlimit};
use common::*;

#[test]
fn echo_hi_in_overlay() {
    let f = Fixture::new("echo");
    let out = run(&f, &f.spec(&["echo", "hi"])).unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "hi\n");
    // The overlay lives in the container's mount namespace only.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(f.base.to_str().unwrap()));
}

#[test]
fn hostname_pid1_and_proc() {
    let f = Fixture::new("basics");
    let out = sh(
        &f,
        "hostname; echo $$; test -r /proc/self/status && echo proc; grep -E ':(memory|pids):' /proc/self/cgroup",
    );
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "h-basics");
    assert_eq!(lines[1], "1");
    assert_eq!(lines[2], "proc");
    // PID 1 runs inside the container's cgroup from its first instruction.
    assert_eq!(lines.len(), 5, "{out:?}");
    for l in &lines[3..] {
        assert!(l.ends_with(&format!("/{}", f.cgroup)), "{out:?}");
    }
}

#[test]
fn exit_code_and_stderr() {
    let f = Fixture::new("exitcode");
    let out = sh(&f, "echo oops >&2; exit 42");
    assert_eq!(out.code, 42);
    assert_eq!(out.stderr, "oops\n");
}

#[test]
fn sys_is_read_only_and_dev_works() {
    let f = Fixture::new("sysdev");
    let out = sh(
        &f,
        "touch /sys/x 2>/dev/null && echo sys-writable; \
         grep ' /sys ' /proc/mounts | grep -q ' ro,' && echo sys-ro; \
         echo x > /dev/null && echo null-ok; \
         test -c /dev/zero -a -c /dev/urandom -a -c /dev/tty -a -c /dev/full && echo devs; \
         test -d /dev/shm && touch /dev/shm/a && echo shm; \
         test -d /dev/pts -a -L /dev/ptmx -a -L /dev/fd && echo pts; \
         grep ' /dev/shm ' /proc/mounts | grep -q 'size=65536k' && echo shm-size; \
         test -d /dev/mqueue && echo mq",
    );
    assert_eq!(
        out.stdout, "sys-ro\nnull-ok\ndevs\nshm\npts\nshm-size\nmq\n",
        "{out:?}"
    );
}

#[test]
fn masked_and_readonly_proc_paths() {
    let f = Fixture::new("masked");
    let out = sh(
        &f,
        "wc -c < /proc/keys; wc -c < /proc/timer_list; ls /proc/acpi | wc -l; \
         echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo sys-ro; \
         ls /sys/firmware | wc -l",
    );
    // (/proc/kcore is masked the same way; this kernel has none.)
    assert_eq!(out.stdout, "0\n0\n0\nsys-ro\n0\n", "{out:?}");
}

#[test]
fn default_capabilities_and_seccomp() {
    let f = Fixture::new("caps");
    let out = sh(
        &f,
        "grep -E '^(CapEff|CapPrm|CapBnd|CapInh|Seccomp|NoNewPrivs):' /proc/self/status; \
         unshare -U true 2>/dev/null && echo unshare-allowed || echo unshare-blocked",
    );
    let s = out.stdout;
    assert!(s.contains("CapEff:\t00000000a80425fb"), "{s}");
    assert!(s.contains("CapPrm:\t00000000a80425fb"), "{s}");
    assert!(s.contains("CapBnd:\t00000000a80425fb"), "{s}");
    assert!(s.contains("CapInh:\t0000000000000000"), "{s}");
    assert!(s.contains("Seccomp:\t2"), "{s}");
    assert!(s.contains("NoNewPrivs:\t0"), "{s}");
    assert!(s.contains("unshare-blocked"), "{s}");
}

#[test]
fn without_seccomp_unshare_works() {
    // The control for the test above: the block comes from the profile.
    let f = Fixture::new("noseccomp");
    let mut spec = f.spec(&[
        "sh",
        "-c",
        "grep Seccomp: /proc/self/status; unshare -U true && echo unshare-allowed",
    ]);
    spec.process.seccomp_profile = None;
    let out = run(&f, &spec).unwrap();
    assert!(out.stdout.contains("Seccomp:\t0"), "{out:?}");
    assert!(out.stdout.contains("unshare-allowed"), "{out:?}");
}

#[test]
fn no_new_privileges_and_cap_drop() {
    let f = Fixture::new("nnp");
    let mut spec = f.spec(&["sh", "-c", "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; chown 1 /tmp 2>/dev/null || echo chown-denied"]);
    spec.process.no_new_privileges = true;
    spec.process.capabilities.retain(|c| c != "CAP_CHOWN");
    let out = run(&f, &spec).unwrap();
    assert!(out.stdout.contains("NoNewPrivs:\t1"), "{out:?}");
    assert!(out.stdout.contains("Seccomp:\t2"), "{out:?}");
    assert!(out.stdout.contains("CapEff:\t00000000a80425fa"), "{out:?}");
    assert!(out.stdout.contains("chown-denied"), "{out:?}");
}

#[test]
fn privileged_gets_everything() {
    let f = Fixture::new("priv");
    let mut spec = f.spec(&[
        "sh",
        "-c",
        "grep -E '^(CapEff|Seccomp):' /proc/self/status; grep ' /sys ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1; \
         test -c /dev/loop-control && echo host-devices",
    ]);
    spec.privileged = true;
    spec.masked_paths.clear();
    spec.readonly_paths.clear();
    let out = run(&f, &spec).unwrap();
    assert!(out.stdout.contains("Seccomp:\t0"), "{out:?}");
    let host_caps = std::fs::read_to_string("/proc/self/status").unwrap();
    let bnd = host_caps
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .unwrap()
        .trim()
        .to_string();
    assert!(out.stdout.contains(&format!("CapEff:\t{bnd}")), "{out:?}");
    assert!(out.stdout.contains("\nrw\n"), "{out:?}");
    if std::path::Path::new("/dev/loop-control").exists() {
        assert!(out.stdout.contains("host-devices"), "{out:?}");
    }
}

#[test]
fn user_resolution() {
    let f = Fixture::new("user");
    let script = "echo $(id -u) $(id -g) $(id -G); echo $HOME; grep CapEff /proc/self/status";
    let mut spec = f.spec(&["sh", "-c", script]);
    spec.process.user = "nobody".into();
    let out = run(&f, &spec).unwrap();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "65534 65534 65534", "{out:?}");
    assert_eq!(lines[1], "/nonexistent");
    // Docker: a non-root user has no effective capabilities.
    assert_eq!(lines[2], "CapEff:\t0000000000000000");

    spec.process.user = "1000:1000".into();
    let out = run(&f, &spec).unwrap();
    assert!(out.stdout.starts_with("1000 1000 1000\n"), "{out:?}");

    spec.process.user = "alice".into();
    spec.process.additional_groups = vec!["777".into()];
    let out = run(&f, &spec).unwrap();
    assert!(
        out.stdout.starts_with("1000 1000 10 777\n")
            || out.stdout.starts_with("1000 1000 1000 10 777\n"),
        "{out:?}"
    );

    spec.process.user = "ghost".into();
    spec.process.additional_groups.clear();
    let e = run(&f, &spec).unwrap_err();
    assert_eq!(
        e.to_string(),
        "unable to find user ghost: no matching entries in passwd file"
    );
}

#[test]
fn missing_and_non_executable_commands() {
    let f = Fixture::new("notfound");
    let e = run(&f, &f.spec(&["nope-cmd"])).unwrap_err();
    assert_eq!(e.exit_code(), Some(127));
    assert_eq!(
        e.to_string(),
        "exec: \"nope-cmd\": executable file not found in $PATH"
    );
    let e = run(&f, &f.spec(&["/nope"])).unwrap_err();
    assert_eq!(e.exit_code(), Some(127));
    assert_eq!(
        e.to_string(),
        "exec: \"/nope\": stat /nope: no such file or directory"
    );
    let e = run(&f, &f.spec(&["/etc/data.txt"])).unwrap_err();
    assert_eq!(e.exit_code(), Some(126));
    assert_eq!(e.to_string(), "exec: \"/etc/data.txt\": permission denied");
    let e = run(&f, &f.spec(&["/etc"])).unwrap_err();
    assert_eq!(e.exit_code(), Some(126));
    assert_eq!(e.to_string(), "exec: \"/etc\": is a directory");
    // Nothing leaked: the cgroup was removed with the failed container.
    assert!(!std::path::Path::new("/sys/fs/cgroup/pids")
        .join(&f.cgroup)
        .exists());
}

#[test]
fn env_and_cwd() {
    let f = Fixture::new("envcwd");
    let mut spec = f.spec(&[
        "sh",
        "-c",
        "pwd; echo $FOO; echo $HOME; ls -ld . | cut -c1-10",
    ]);
    spec.process.env.push("FOO=bar baz".into());
    spec.process.cwd = "/app/dir".into();
    let out = run(&f, &spec).unwrap();
    assert_eq!(
        out.stdout, "/app/dir\nbar baz\n/root\ndrwxr-xr-x\n",
        "{out:?}"
    );
}

#[test]
fn read_only_rootfs() {
    let f = Fixture::new("rorootfs");
    let mut spec = f.spec(&["sh", "-c", "touch /x 2>&1; touch /dev/shm/y && echo shm-ok"]);
    spec.readonly_rootfs = true;
    let out = run(&f, &spec).unwrap();
    assert!(out.stdout.contains("Read-only file system"), "{out:?}");
    assert!(out.stdout.contains("shm-ok"), "{out:?}");
}

#[test]
fn bind_mounts_ro_and_symlinked_target() {
    let f = Fixture::new("binds");
    let vol = f.base.join("vol");
    std::fs::create_dir_all(&vol).unwrap();
    std::fs::write(vol.join("file"), "content\n").unwrap();
    let mut spec = f.spec(&[
        "sh",
        "-c",
        "cat /data/file; touch /data/new 2>&1; cat /etc/through/file; echo w > /evil/through/w && echo rw-ok",
    ]);
    spec.mounts = vec![
        Mount {
            source: vol.to_string_lossy().into(),
            target: "/data".into(),
            fstype: "bind".into(),
            options: vec!["rbind".into(), "ro".into()],
        },
        // /evil is a symlink to /etc: the mount must land in the rootfs's /etc.
        Mount {
            source: vol.to_string_lossy().into(),
            target: "/evil/through".into(),
            fstype: "bind".into(),
            options: vec!["rbind".into(), "rprivate".into()],
        },
    ];
    let out = run(&f, &spec).unwrap();
    assert!(out.stdout.starts_with("content\n"), "{out:?}");
    assert!(out.stdout.contains("Read-only file system"), "{out:?}");
    assert!(
        out.stdout.contains("content\ncontent\n") || out.stdout.matches("content").count() == 2,
        "{out:?}"
    );
    assert!(out.stdout.contains("rw-ok"), "{out:?}");
    assert!(!std::path::Path::new("/etc/through").exists());
    assert_eq!(std::fs::read_to_string(vol.join("w")).unwrap(), "w\n");
}

#[test]
fn tmpfs_mount_with_options() {
    let f = Fixture::new("tmpfs");
    let mut spec = f.spec(&[
        "sh",
        "-c",
        "grep ' /run/t ' /proc/mounts; stat -c %a /run/t",
    ]);
    spec.mounts = vec![Mount {
        source: "tmpfs".into(),
        target: "/run/t".into(),
        fstype: "tmpfs".into(),
        options: vec!["nosuid".into(), "size=1m".into(), "mode=1777".into()],
    }];
    let out = run(&f, &spec).unwrap();
    assert!(out.stdout.contains("size=1024k"), "{out:?}");
    assert!(out.stdout.ends_with("1777\n"), "{out:?}");
}

#[test]
fn rlimits_sysctls_cgroup_limits() {
    let f = Fixture::new("limits");
    let mut spec = f.spec(&[
        "sh",
        "-c",
        "ulimit -n; cat /proc/sys/net/ipv4/ip_forward; cat /sys/fs/cgroup/memory/memory.limit_in_bytes; \
         cat /proc/self/oom_score_adj; cat /proc/sys/kernel/domainname",
    ]);
    spec.process.rlimits = vec![Rlimit {
        name: "nofile".into(),
        soft: 100,
        hard: 200,
    }];
    spec.sysctls
        .insert("net.ipv4.ip_forward".into(), "1".into());
    spec.cgroup.resources.memory = Some(64 << 20);
    spec.oom_score_adj = Some(500);
    spec.domainname = "example.org".into();
    let out = run(&f, &spec).unwrap();
    assert_eq!(
        out.stdout, "100\n1\n67108864\n500\nexample.org\n",
        "{out:?}"
    );
}

#[test]
fn unknown_rlimit_is_an_error() {
    let f = Fixture::new("badrlimit");
    let mut spec = f.spec(&["true"]);
    spec.process.rlimits = vec![Rlimit {
        name: "bogus".into(),
        soft: 1,
        hard: 1,
    }];
    let e = run(&f, &spec).unwrap_err();
    assert_eq!(e.to_string(), "invalid ulimit type: bogus");
}

#[test]
fn terminal_is_controlling_tty() {
    let f = Fixture::new("tty");
    let (master, slave) = berth_runtime::pty::open().unwrap();
    let mut spec = f.spec(&[
        "sh",
        "-c",
        "test -t 0 && echo is-tty; stty size; test -c /dev/console && echo console",
    ]);
    spec.process.terminal = true;
    spec.process.console_size = Some((30, 100));
    let stdio = berth_runtime::Stdio {
        stdin: slave.try_clone().unwrap(),
        stdout: slave.try_clone().unwrap(),
        stderr: slave,
    };
    let c = berth_runtime::create(&spec, stdio).unwrap();
    f.track(c.pid());
    let pid = start(c).unwrap();
    let code = wait(pid);
    f.untrack(pid);
    let mut buf = vec![0u8; 4096];
    // SAFETY: reading into our buffer from the master we own (the slave is closed, so
    // this returns what is buffered and then EIO).
    let n = unsafe {
        libc::read(
            std::os::fd::AsRawFd::as_raw_fd(&master),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    let text = String::from_utf8_lossy(&buf[..n.max(0) as usize]).replace('\r', "");
    assert_eq!(code, 0);
    assert_eq!(text, "is-tty\n30 100\nconsole\n");
}

/// The terminal comes from the container's own devpts: `tty` names /dev/pts/0, the
/// slave is listed in /dev/pts, is the controlling terminal, is /dev/console too, and
/// has the size asked for.
#[test]
fn tty_is_dev_pts_0_inside() {
    let f = Fixture::new("ptyin");
    let mut spec = f.spec(&[
        "sh",
        "-c",
        "tty; stty size; ls -l /dev/pts; \
         exec 3</dev/tty && echo ctty; \
         test \"$(stat -c %t:%T /dev/console)\" = \"$(stat -c %t:%T /dev/pts/0)\" && echo console; \
         stat -c '%u %g %a' /dev/pts/0",
    ]);
    spec.process.terminal = true;
    spec.process.console_size = Some((30, 100));
    let c = berth_runtime::create(&spec, berth_runtime::ProcessIo::Pty).unwrap();
    let (code, text) = run_on_pty(&f, c);
    assert_eq!(code, 0, "{text:?}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "/dev/pts/0", "{text:?}");
    assert_eq!(lines[1], "30 100", "{text:?}");
    // `ls -l /dev/pts`: the slave (owner root, group tty = 5, mode 0620) and ptmx.
    let slave = lines
        .iter()
        .find(|l| l.starts_with('c') && l.ends_with(" 0"))
        .unwrap_or_else(|| panic!("no slave in /dev/pts: {text:?}"));
    assert!(slave.starts_with("crw--w----"), "{slave:?} in {text:?}");
    let fields: Vec<&str> = slave.split_whitespace().collect();
    assert_eq!((fields[2], fields[3]), ("root", "5"), "{slave:?}");
    assert!(lines.iter().any(|l| l.ends_with(" ptmx")), "{text:?}");
    assert_eq!(&lines[lines.len() - 3..], ["ctty", "console", "0 5 620"]);
}

/// The slave belongs to the process's user (group tty, 0620), and `--init` keeps the
/// terminal working for the child it forks.
#[test]
fn tty_slave_is_owned_by_the_user() {
    let f = Fixture::new("ptyuser");
    let mut spec = f.spec(&["sh", "-c", "id -u; tty; stat -c '%u %g %a' $(tty)"]);
    spec.process.terminal = true;
    spec.process.user = "alice".into();
    spec.init = true;
    let c = berth_runtime::create(&spec, berth_runtime::ProcessIo::Pty).unwrap();
    let (code, text) = run_on_pty(&f, c);
    assert_eq!(code, 0, "{text:?}");
    assert_eq!(text, "1000\n/dev/pts/0\n1000 5 620\n");
}

#[test]
fn pty_without_terminal_is_refused() {
    let f = Fixture::new("ptynoterm");
    let spec = f.spec(&["true"]);
    let e = berth_runtime::create(&spec, berth_runtime::ProcessIo::Pty).unwrap_err();
    assert!(e.to_string().contains("without a terminal"), "{e}");
}

/// Caller-given streams carry no pty master.
#[test]
fn plain_stdio_has_no_pty_master() {
    let f = Fixture::new("nomaster");
    let mut cap = Capture::new();
    let mut c = berth_runtime::create(&f.spec(&["true"]), cap.stdio.take().unwrap()).unwrap();
    assert!(c.take_pty_master().is_none());
    f.track(c.pid());
    let pid = start(c).unwrap();
    assert_eq!(wait(pid), 0);
    f.untrack(pid);
}

#[test]
fn dropping_created_kills_the_process() {
    let f = Fixture::new("drop");
    let mut cap = Capture::new();
    let c = berth_runtime::create(&f.spec(&["echo", "never"]), cap.stdio.take().unwrap()).unwrap();
    let pid = c.pid();
    drop(c);
    // Reaped by the drop: no such child any more.
    // SAFETY: plain waitpid probe.
    assert_eq!(
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) },
        -1
    );
    let (out, _) = cap.collect();
    assert_eq!(out, "");
}

#[test]
fn many_layers_top_first() {
    let f = Fixture::new("layers");
    let mut lower = Vec::new();
    for i in 0..50 {
        let d = f.base.join(format!("layers/{i:064}/diff"));
        std::fs::create_dir_all(d.join("etc")).unwrap();
        if i == 0 {
            std::fs::write(d.join("etc/which"), "top\n").unwrap();
        } else if i == 1 {
            std::fs::write(d.join("etc/which"), "second\n").unwrap();
            std::fs::write(d.join("etc/second-only"), "2\n").unwrap();
        }
        lower.push(d.to_string_lossy().into_owned());
    }
    lower.push(f.lower().to_string_lossy().into_owned());
    let mut spec = f.spec(&["cat", "/etc/which", "/etc/second-only"]);
    if let berth_types::spec::Rootfs::Overlay { lower: l, .. } = &mut spec.rootfs {
        *l = lower;
    }
    let out = run(&f, &spec).unwrap();
    assert_eq!(out.stdout, "top\n2\n", "{out:?}");
}

#[test]
fn privileged_monitoring_style_mounts() {
    // The shape of a host-monitoring container: host / read-only, /var/run, /sys, a device.
    let f = Fixture::new("monitor");
    let mut spec = f.spec(&[
        "sh",
        "-c",
        "test -d /rootfs/proc && echo rootfs; touch /rootfs/berth-x 2>&1 | grep -q Read-only && echo rootfs-ro; \
         test -c /dev/kmsg && echo kmsg; ls /sys/fs/cgroup | grep -q memory && echo cgroup; test -d /var/run && echo run",
    ]);
    spec.privileged = true;
    spec.masked_paths.clear();
    spec.readonly_paths.clear();
    spec.process.seccomp_profile = None;
    let bind = |src: &str, dst: &str, ro: bool| Mount {
        source: src.into(),
        target: dst.into(),
        fstype: "bind".into(),
        options: if ro {
            vec!["rbind".into(), "ro".into()]
        } else {
            vec!["rbind".into()]
        },
    };
    spec.mounts = vec![
        bind("/", "/rootfs", true),
        bind("/var/run", "/var/run", false),
        bind("/sys", "/sys", true),
        bind("/sys/fs/cgroup", "/sys/fs/cgroup", true),
    ];
    spec.devices = vec![berth_types::spec::Device {
        path: "/dev/kmsg".into(),
        kind: 'c',
        major: 1,
        minor: 11,
        mode: 0o644,
        uid: 0,
        gid: 0,
    }];
    let out = run(&f, &spec).unwrap();
    assert_eq!(
        out.stdout, "rootfs\nrootfs-ro\nkmsg\ncgroup\nrun\n",
        "{out:?}"
    );
    assert!(!std::path::Path::new("/berth-x").exists());
}

#[test]
fn device_cgroup_blocks_unlisted_devices() {
    if !std::path::Path::new("/dev/loop0").exists() {
        return;
    }
    let f = Fixture::new("devcg");
    let script = "rm -f /tmp/blk; mknod /tmp/blk b 7 0 && echo made; head -c1 /tmp/blk >/dev/null 2>&1 && echo opened || echo denied";
    let out = run(&f, &f.spec(&["sh", "-c", script])).unwrap();
    assert_eq!(out.stdout, "made\ndenied\n", "{out:?}");
    // Listed with --device, the same node opens.
    let mut spec = f.spec(&["sh", "-c", script]);
    spec.devices = vec![berth_types::spec::Device {
        path: "/dev/loop0".into(),
        kind: 'b',
        major: 7,
        minor: 0,
        mode: 0o660,
        uid: 0,
        gid: 0,
    }];
    let out = run(&f, &spec).unwrap();
    assert_eq!(out.stdout, "made\nopened\n", "{out:?}");
}

/// Unmounts a host mount point on drop (lazily, so a failing test cannot leave it busy).
struct HostMount(std::path::PathBuf);
impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

fn sh_host(cmd: &str) {
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .status()
        .unwrap();
    assert!(st.success(), "{cmd}");
}

#[test]
fn rslave_volume_sees_later_host_mounts() {
    let f = Fixture::new("rslave");
    let vol = f.base.join("vol");
    std::fs::create_dir_all(vol.join("sub")).unwrap();
    let v = vol.display();
    sh_host(&format!("mount --bind {v} {v} && mount --make-shared {v}"));
    let _vol_guard = HostMount(vol.clone());
    let script = "for i in $(seq 100); do test -f /data/sub/marker && { echo seen; exit 0; }; sleep 0.05; done; echo not-seen";
    let mut spec = f.spec(&["sh", "-c", script]);
    spec.mounts = vec![Mount {
        source: vol.to_string_lossy().into(),
        target: "/data".into(),
        fstype: "bind".into(),
        options: vec!["rbind".into(), "rslave".into()],
    }];
    let mut cap = Capture::new();
    let c = berth_runtime::create(&spec, cap.stdio.take().unwrap()).unwrap();
    f.track(c.pid());
    let pid = start(c).unwrap();
    // Mounted on the host after the container started: must show up inside.
    let sub = vol.join("sub");
    sh_host(&format!(
        "mount -t tmpfs tmpfs {} && touch {}/marker",
        sub.display(),
        sub.display()
    ));
    let _sub_guard = HostMount(sub.clone());
    let (out, _) = cap.collect();
    assert_eq!(wait(pid), 0);
    f.untrack(pid);
    assert_eq!(out, "seen\n");
}

#[test]
fn cap_add_beyond_callers_bounding_set_is_clamped() {
    let f = Fixture::new("capadd");
    let mut spec = f.spec(&["grep", "CapEff", "/proc/self/status"]);
    spec.process.capabilities.push("CAP_SYS_RESOURCE".into());
    spec.process.capabilities.push("CAP_NET_ADMIN".into());
    let out = run(&f, &spec).unwrap();
    assert_eq!(out.code, 0, "{out:?}");
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let bnd = u64::from_str_radix(
        status
            .lines()
            .find_map(|l| l.strip_prefix("CapBnd:"))
            .unwrap()
            .trim(),
        16,
    )
    .unwrap();
    let want = (0xa80425fb_u64 | 1 << 24 | 1 << 12) & bnd;
    assert_eq!(out.stdout, format!("CapEff:\t{want:016x}\n"));
}

#[test]
fn callers_signal_state_does_not_leak() {
    let f = Fixture::new("signals");
    // The test harness ignores SIGPIPE; block SIGTERM in this thread too (fork copies
    // the calling thread's mask).
    // SAFETY: changing this thread's own mask with an initialized set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    let out = run(
        &f,
        &f.spec(&["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"]),
    )
    .unwrap();
    assert_eq!(
        out.stdout, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n",
        "{out:?}"
    );
}

#[test]
fn refused_rlimit_names_itself() {
    // This sandbox's bounding set lacks CAP_SYS_RESOURCE, so raising a hard limit fails.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = u64::from_str_radix(
        status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .unwrap()
            .trim(),
        16,
    )
    .unwrap();
    if eff & (1 << 24) != 0 {
        return;
    }
    let f = Fixture::new("rlimitdenied");
    let mut spec = f.spec(&["true"]);
    spec.process.rlimits = vec![Rlimit {
        name: "nofile".into(),
        soft: 1 << 30,
        hard: 1 << 30,
    }];
    let e = run(&f, &spec).unwrap_err();
    assert_eq!(
        e.to_string(),
        "setrlimit RLIMIT_NOFILE: operation not permitted"
    );
}

#[test]
fn pids_limit_of_one_still_starts() {
    let f = Fixture::new("pids1");
    let mut spec = f.spec(&["cat", "/sys/fs/cgroup/pids/pids.max"]);
    spec.cgroup.resources.pids_limit = Some(1);
    let out = run(&f, &spec).unwrap();
    assert_eq!(out.stdout, "1\n", "{out:?}");
    // …and the limit holds: a shell cannot fork.
    let mut spec = f.spec(&["sh", "-c", "true & wait; echo forked"]);
    spec.cgroup.resources.pids_limit = Some(1);
    let out = run(&f, &spec).unwrap();
    assert!(!out.stdout.contains("forked") || out.code != 0, "{out:?}");
    assert!(
        out.stderr.contains("can't fork") || out.stderr.contains("Resource"),
        "{out:?}"
    );
}
