//! Issue "Faults and abuse", faults part: kill -9 of the daemon in the middle of work and
//! of a shim, containers that fork, eat memory, flood stdout, never read stdin or ignore
//! SIGTERM, a data root whose disk fills up, and 20 clients racing on the same names.
//! After each fault the state must be true, nothing lost, nothing leaked.
//!
//! Tests print `FIGURE name=value` lines on stderr (`scripts/faults.sh` sums them up);
//! latencies are measured and printed, never asserted.

use berth_e2e::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

fn daemon() -> Daemon {
    assert!(is_root(), "end-to-end tests need root");
    let d = Daemon::start();
    d.import_busybox("busybox");
    d
}

/// `berth -H host args…` without borrowing the Daemon (worker threads use this while the
/// main thread kills and restarts it).
fn berth_at(host: &str, args: &[&str]) -> Run {
    let o = Command::new(bin("berth"))
        .arg("-H")
        .arg(host)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run berth");
    Run {
        status: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// True when a CLI failure means "the daemon is not there right now".
fn daemon_unreachable(r: &Run) -> bool {
    let e = r.stderr.to_lowercase();
    e.contains("cannot connect")
        || e.contains("connection")
        || e.contains("broken pipe")
        || e.contains("unexpected eof")
        || e.contains("end of file")
}

/// Retry `args` while the daemon is unreachable (it is being killed and restarted).
fn with_retry(host: &str, args: &[&str]) -> Run {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = berth_at(host, args);
        if r.status == 0 || !daemon_unreachable(&r) || Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn inspect(d: &Daemon, name: &str, fmt: &str) -> String {
    d.berth(["inspect", "-f", fmt, name])
        .stdout
        .trim()
        .to_string()
}

/// Parse `lineN` log output into numbers; panics on anything else.
fn numbers(out: &str, what: &str) -> Vec<u64> {
    out.lines()
        .map(|l| {
            l.trim_start_matches("line")
                .parse()
                .unwrap_or_else(|_| panic!("{what}: unexpected log line {l:?}"))
        })
        .collect()
}

/// Numbers must be 0, 1, 2, … with no gap and no duplicate.
fn assert_contiguous(nums: &[u64], what: &str) {
    if let Some((k, v)) = nums.iter().enumerate().find(|(k, v)| **v != *k as u64) {
        panic!("{what}: gap or duplicate at index {k} (value {v}) in {nums:?}");
    }
}

fn pid_alive(pid: i32) -> bool {
    pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Remove every container and check nothing is left on the host.
fn remove_all_and_check_leaks(d: &Daemon) {
    let ids = d.berth(["ps", "-aq"]).ok().stdout;
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(ids);
        d.berth(args).ok();
    }
    let ok = d.wait_for(15, || d.leaks().is_empty() && d.container_dirs().is_empty());
    assert!(
        ok,
        "left behind after rm -f: {:?}, dirs {:?}",
        d.leaks(),
        d.container_dirs()
    );
}

const COUNTER: &str = "i=0; while :; do echo line$i; i=$((i+1)); sleep 0.05; done";

/// 50 containers being created, started and stopped by 5 clients, a `logs -f` and an
/// `exec -it` in flight, and berthd is killed with SIGKILL in the middle of it.
#[test]
fn kill9_daemon_mid_churn_of_50_containers_keeps_true_state() {
    let mut d = daemon();
    let host = d.host();
    const COUNTERS: usize = 3;
    for i in 0..COUNTERS {
        d.berth([
            "run",
            "-d",
            "--name",
            &format!("cnt{i}"),
            "busybox",
            "sh",
            "-c",
            COUNTER,
        ])
        .ok();
    }
    let follow_path = d.root.join("follow.out");
    let mut follow = d
        .berth_cmd(["logs", "-f", "cnt0"])
        .stdout(fs::File::create(&follow_path).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut ex = PtySession::spawn(d.berth_cmd(["exec", "-it", "cnt1", "sh"]));
    ex.send(b"echo ex$((40+2))\r");
    assert!(ex.expect("ex42", 15), "exec -it: {:?}", ex.output());

    // Each worker creates 10 containers: kind 0 exits with its own code, kind 1 is
    // stopped (137), kind 2 stays running.
    const WORKERS: usize = 5;
    const PER: usize = 10;
    let created = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::<String>::new());
    let expect: Mutex<BTreeMap<String, (usize, i32)>> = Mutex::new(BTreeMap::new());
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for t in 0..WORKERS {
            let (host, created, failures, expect) = (&host, &created, &failures, &expect);
            s.spawn(move || {
                for k in 0..PER {
                    let name = format!("q{t}_{k}");
                    let kind = k % 3;
                    let code = (10 + t * PER + k) as i32;
                    let script = match kind {
                        0 => format!("sleep 0.{k}; exit {code}"),
                        _ => "sleep 1000".to_string(),
                    };
                    let mut c = with_retry(
                        host,
                        &["create", "--name", &name, "busybox", "sh", "-c", &script],
                    );
                    if c.status != 0 && c.stderr.contains("is already in use") {
                        // The attempt the kill interrupted did create it.
                        c.status = 0;
                    }
                    if c.status != 0 {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("create {name}: {c:?}"));
                        continue;
                    }
                    created.fetch_add(1, Ordering::SeqCst);
                    let st = with_retry(host, &["start", &name]);
                    if st.status != 0 {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("start {name}: {st:?}"));
                        continue;
                    }
                    let want = match kind {
                        0 => code,
                        1 => {
                            let sp = with_retry(host, &["stop", "-t", "1", &name]);
                            if sp.status != 0 {
                                failures
                                    .lock()
                                    .unwrap()
                                    .push(format!("stop {name}: {sp:?}"));
                            }
                            137
                        }
                        _ => -1,
                    };
                    expect.lock().unwrap().insert(name, (kind, want));
                }
            });
        }
        // Kill the daemon once a third of the containers exist.
        while created.load(Ordering::SeqCst) < (WORKERS * PER) / 3 {
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "killing berthd after {} containers ({:?})",
            created.load(Ordering::SeqCst),
            t0.elapsed()
        );
        d.kill9();
        std::thread::sleep(Duration::from_millis(700));
        d.restart();
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "operations failed: {failures:#?}");
    let expect = expect.into_inner().unwrap();
    assert_eq!(expect.len(), WORKERS * PER);

    // Clients in flight end (with an error) instead of hanging.
    let follow_end = Instant::now() + Duration::from_secs(15);
    while follow.try_wait().unwrap().is_none() && Instant::now() < follow_end {
        std::thread::sleep(Duration::from_millis(50));
    }
    let follow_ended = follow.try_wait().unwrap().is_some();
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(follow_ended, "logs -f did not end when berthd died");
    assert!(
        ex.wait(15).is_some(),
        "exec -it did not end when berthd died: {:?}",
        ex.output()
    );

    // Quick containers finish; then every state must be the true one.
    assert!(
        d.wait_for(30, || expect
            .iter()
            .filter(|(_, (kind, _))| *kind == 0)
            .all(|(n, _)| inspect(&d, n, "{{.State.Status}}") == "exited")),
        "quick containers did not all exit"
    );
    let mut wrong = Vec::new();
    for (name, (kind, want)) in &expect {
        let st = inspect(
            &d,
            name,
            "{{.State.Status}} {{.State.ExitCode}} {{.State.Pid}}",
        );
        let f: Vec<&str> = st.split(' ').collect();
        let ok = match kind {
            2 => {
                f.len() == 3
                    && f[0] == "running"
                    && pid_alive(f[2].parse().unwrap_or(0))
                    && d.container_pids().contains(&f[2].parse().unwrap_or(0))
            }
            _ => st == format!("exited {want} 0"),
        };
        if !ok {
            wrong.push(format!("{name}: kind {kind}, want {want}, got {st:?}"));
        }
    }
    assert!(wrong.is_empty(), "untrue states after kill -9: {wrong:#?}");

    // Every listed container has its directory. (Directories of creates the kill cut
    // short are the subject of `kill9_during_creates_leaves_no_orphan_directory`.)
    let listed: BTreeSet<String> = d
        .berth(["ps", "-aq", "--no-trunc"])
        .ok()
        .stdout
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(listed.len(), WORKERS * PER + COUNTERS);
    let dirs: BTreeSet<String> = d.container_dirs().into_iter().collect();
    assert!(
        listed.is_subset(&dirs),
        "listed containers without a directory"
    );
    figure("orphan_dirs", dirs.difference(&listed).count());
    let names: BTreeSet<String> = d
        .berth(["ps", "-a", "--format", "{{.Names}}"])
        .ok()
        .stdout
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(names.len(), WORKERS * PER + COUNTERS, "duplicate names");

    // No log line lost or doubled, and what `logs -f` printed before the kill is a prefix.
    let mut lines_checked = 0;
    for i in 0..COUNTERS {
        let out = d.berth(["logs", &format!("cnt{i}")]).ok().stdout;
        let nums = numbers(&out, &format!("cnt{i}"));
        assert_contiguous(&nums, &format!("cnt{i}"));
        lines_checked += nums.len();
    }
    let followed = fs::read_to_string(&follow_path).unwrap();
    // The last line may be cut by the kill.
    let complete = &followed[..followed.rfind('\n').map_or(0, |p| p + 1)];
    let fnums = numbers(complete, "logs -f");
    assert!(!fnums.is_empty(), "logs -f printed nothing");
    assert_contiguous(&fnums, "logs -f");
    // A new follower after the restart sees new lines.
    let mut f2 = d
        .berth_cmd(["logs", "-f", "--tail", "1", "cnt0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out2 = f2.stdout.take().unwrap();
    let mut buf = [0u8; 256];
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.lines().count() < 3 && Instant::now() < deadline {
        use std::io::Read;
        match out2.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    let _ = f2.kill();
    let _ = f2.wait();
    assert!(seen.lines().count() >= 3, "logs -f after restart: {seen:?}");
    // The exec'd container is still usable.
    assert_eq!(
        d.berth(["exec", "cnt1", "echo", "alive"]).ok().stdout,
        "alive\n"
    );
    figure("load_containers", WORKERS * PER + COUNTERS);
    figure("faults_survived", 1);
    figure("log_lines_checked", lines_checked + fnums.len());
    figure("lost_log_lines", 0);
    figure("lost_containers", 0);

    remove_all_and_check_leaks(&d);
}

/// kill -9 while clients create containers: after the restart every container
/// directory belongs to a listed container (a create cut short is undone or completed).
#[test]
fn kill9_during_creates_leaves_no_orphan_directory() {
    let mut d = daemon();
    let host = d.host();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..4 {
            let (host, stop) = (&host, &stop);
            s.spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let _ = berth_at(host, &["create", "busybox", "true"]);
                }
            });
        }
        for round in 0..4 {
            std::thread::sleep(Duration::from_millis(150 + 100 * round));
            d.kill9();
            std::thread::sleep(Duration::from_millis(100));
            d.restart();
        }
        stop.store(true, Ordering::SeqCst);
    });
    let listed: BTreeSet<String> = d
        .berth(["ps", "-aq", "--no-trunc"])
        .ok()
        .stdout
        .split_whitespace()
        .map(String::from)
        .collect();
    let dirs: BTreeSet<String> = d.container_dirs().into_iter().collect();
    let orphans: Vec<&String> = dirs.difference(&listed).collect();
    let shown: Vec<String> = orphans
        .iter()
        .map(|o| {
            let mut names: Vec<String> = fs::read_dir(bundle(&d, o))
                .map(|rd| {
                    rd.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            format!("{o}: {names:?}")
        })
        .collect();
    assert!(
        orphans.is_empty(),
        "{} of {} containers created; orphan directories: {shown:#?}",
        listed.len(),
        dirs.len()
    );
    remove_all_and_check_leaks(&d);
}

/// `tar` with one more file appended (`name` holding `data`), end-of-archive rewritten.
fn tar_plus(tar: &[u8], name: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = tar.to_vec();
    while bytes.len() >= 512 && bytes[bytes.len() - 512..].iter().all(|b| *b == 0) {
        bytes.truncate(bytes.len() - 512);
    }
    let mut b = tar::Builder::new(bytes);
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    b.append_data(&mut h, name, data).unwrap();
    b.into_inner().unwrap()
}

/// busybox's rootfs plus `/blob` (`size` random bytes): an import that takes a while.
fn big_rootfs_tar(d: &Daemon, size: usize) -> Vec<u8> {
    let mut blob = vec![0u8; size];
    getrandom_fill(&mut blob);
    tar_plus(&fs::read(d.busybox_tar()).unwrap(), "blob", &blob)
}

/// sha256 of `data` in hex, by the host's `sha256sum` (the e2e crate has no hash crate).
fn sha256_hex(data: &[u8]) -> String {
    use std::io::Write;
    let mut c = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    c.stdin.take().unwrap().write_all(data).unwrap();
    let out = c.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)[..64].to_string()
}

fn getrandom_fill(buf: &mut [u8]) {
    // Random enough and cheap: a xorshift stream seeded from the OS.
    let seed = rand_hex(16);
    let mut x = u64::from_str_radix(&seed, 16).unwrap() | 1;
    for c in buf.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x.to_le_bytes();
        c.copy_from_slice(&b[..c.len()]);
    }
}

/// kill -9 while images are being imported and committed: after the restart every listed
/// image is whole (runs, full content), interrupted work left nothing in the store's
/// temp space, and import and commit work again.
#[test]
fn kill9_during_import_and_commit_keeps_the_image_store_whole() {
    let mut d = daemon();
    let host = d.host();
    let big = big_rootfs_tar(&d, 12 << 20);
    d.berth([
        "run",
        "-d",
        "--name",
        "maker",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/urandom of=/blob bs=1M count=8 2>/dev/null; echo made; sleep 1000",
    ])
    .ok();
    assert!(d.wait_for(20, || d.berth(["logs", "maker"]).stdout.contains("made")));
    let stop = std::sync::atomic::AtomicBool::new(false);
    let done = AtomicUsize::new(0);
    let root = d.root.clone();
    std::thread::scope(|s| {
        let (host, stop, done, big) = (&host, &stop, &done, &big);
        let big_dir = &root;
        s.spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                // Each import has its own content, so its layer is its own.
                let path = big_dir.join(format!("big{n}.tar"));
                fs::write(&path, tar_plus(big, "stamp", n.to_string().as_bytes())).unwrap();
                let r = berth_at(
                    host,
                    &["import", &path.to_string_lossy(), &format!("big:{n}")],
                );
                let _ = fs::remove_file(&path);
                if r.status == 0 {
                    done.fetch_add(1, Ordering::SeqCst);
                }
                n += 1;
            }
        });
        s.spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                // Each commit has its own content too.
                let _ = berth_at(
                    host,
                    &["exec", "maker", "sh", "-c", &format!("echo {n} > /stamp")],
                );
                let r = berth_at(host, &["commit", "maker", &format!("snap:{n}")]);
                if r.status == 0 {
                    done.fetch_add(1, Ordering::SeqCst);
                }
                n += 1;
            }
        });
        for round in 0..2 {
            std::thread::sleep(Duration::from_millis(600 + 300 * round));
            d.kill9();
            std::thread::sleep(Duration::from_millis(150));
            d.restart();
        }
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::SeqCst);
    });
    // A clean restart: startup sweeps whatever the kills interrupted.
    d.restart();
    let images = d
        .berth(["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok()
        .stdout;
    let mut checked = 0;
    for img in images
        .lines()
        .filter(|l| l.starts_with("big:") || l.starts_with("snap:"))
    {
        let want = if img.starts_with("big:") {
            12 << 20
        } else {
            8 << 20
        };
        let r = d.berth(["run", "--rm", img, "sh", "-c", "wc -c < /blob"]);
        assert_eq!(
            (r.status, r.stdout.trim().to_string()),
            (0, want.to_string()),
            "{img} is not whole: {r:?}"
        );
        checked += 1;
    }
    eprintln!(
        "{} imports/commits finished, {checked} images checked",
        done.load(Ordering::SeqCst)
    );
    let tmp = d.data_root.join("image/tmp");
    let leftovers: Vec<String> = fs::read_dir(&tmp)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        leftovers.is_empty(),
        "image/tmp after restart: {leftovers:?}"
    );
    // Every unpacked layer belongs to an image: chain ids from the images' diff ids.
    let mut referenced = BTreeSet::new();
    for id in d
        .berth(["images", "-q", "--no-trunc"])
        .ok()
        .stdout
        .split_whitespace()
    {
        let diffs = d
            .berth([
                "image",
                "inspect",
                "-f",
                "{{range .RootFS.Layers}}{{.}} {{end}}",
                id,
            ])
            .ok()
            .stdout;
        let mut chain = String::new();
        for diff in diffs.split_whitespace() {
            chain = if chain.is_empty() {
                diff.to_string()
            } else {
                format!(
                    "sha256:{}",
                    sha256_hex(format!("{chain} {diff}").as_bytes())
                )
            };
            referenced.insert(chain.trim_start_matches("sha256:").to_string());
        }
    }
    let layer_dirs: BTreeSet<String> = fs::read_dir(d.data_root.join("image/layers"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let unreferenced: Vec<&String> = layer_dirs.difference(&referenced).collect();
    figure("unreferenced_layers_after_kill", unreferenced.len());
    assert!(
        unreferenced.is_empty(),
        "layers no image uses after the restart: {unreferenced:?} (images use {referenced:?})"
    );
    // Service is normal.
    let after = d.root.join("after.tar");
    fs::write(&after, &big).unwrap();
    d.berth(["import".as_ref(), after.as_os_str(), "big:after".as_ref()])
        .ok();
    d.berth(["commit", "maker", "snap:after"]).ok();
    assert_eq!(
        d.berth(["run", "--rm", "snap:after", "sh", "-c", "wc -c < /blob"])
            .ok()
            .stdout
            .trim(),
        (8 << 20).to_string()
    );
    figure("faults_survived", 2);
    figure("images_checked_after_kill", checked);
    figure("lost_state", 0);
    remove_all_and_check_leaks(&d);
}

fn bundle(d: &Daemon, id: &str) -> PathBuf {
    d.data_root.join("containers").join(id)
}

/// Where the shim keeps its pid files (under the exec root).
fn run_dir(d: &Daemon, id: &str) -> PathBuf {
    d.exec_root.join("c").join(id)
}

fn read_pid(p: PathBuf) -> i32 {
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .parse()
        .unwrap()
}

/// kill -9 of a shim: Docker reports such a container exited with 137 and keeps its logs.
#[test]
fn kill9_shim_reports_137_and_keeps_logs() {
    let mut d = daemon();
    let id = d
        .berth([
            "run",
            "-d",
            "--name",
            "ks",
            "busybox",
            "sh",
            "-c",
            "echo before; echo err >&2; sleep 1000",
        ])
        .ok()
        .stdout
        .trim()
        .to_string();
    assert!(d.wait_for(10, || d.berth(["logs", "ks"]).stdout == "before\n"));
    let shim = read_pid(run_dir(&d, &id).join("shim.pid"));
    // SAFETY: kill(2) of the shim this test's daemon started.
    assert_eq!(unsafe { libc::kill(shim, libc::SIGKILL) }, 0);
    assert!(
        d.wait_for(15, || inspect(
            &d,
            "ks",
            "{{.State.Status}} {{.State.ExitCode}}"
        ) == "exited 137"),
        "after the shim's death: {}",
        inspect(&d, "ks", "{{json .State}}")
    );
    let logs = d.berth(["logs", "ks"]).ok();
    assert_eq!(
        (logs.stdout.as_str(), logs.stderr.as_str()),
        ("before\n", "err\n")
    );
    // The same after a daemon restart.
    d.restart();
    assert_eq!(
        inspect(&d, "ks", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 137"
    );
    assert_eq!(d.berth(["logs", "ks"]).ok().stdout, "before\n");
    // It starts again.
    d.berth(["start", "ks"]).ok();
    assert_eq!(inspect(&d, "ks", "{{.State.Running}}"), "true");
    figure("faults_survived", 1);
    figure("lost_log_lines", 0);
    d.berth(["rm", "-f", "ks"]).ok();
}

/// kill -9 of a shim must take the container's processes with it (Docker's runtime
/// kills the task when its shim dies): nothing may run on unsupervised.
#[test]
fn kill9_shim_ends_the_container_processes() {
    let d = daemon();
    let id = d
        .berth(["run", "-d", "--name", "ks2", "busybox", "sleep", "1000"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let shim = read_pid(run_dir(&d, &id).join("shim.pid"));
    let init = read_pid(run_dir(&d, &id).join("init.pid"));
    assert!(pid_alive(init));
    // SAFETY: kill(2) of the shim this test's daemon started.
    assert_eq!(unsafe { libc::kill(shim, libc::SIGKILL) }, 0);
    assert!(d.wait_for(15, || inspect(&d, "ks2", "{{.State.Status}}") == "exited"));
    assert!(
        d.wait_for(10, || !pid_alive(init)),
        "container reported exited but its pid 1 ({init}) still runs"
    );
    d.berth(["rm", "-f", "ks2"]).ok();
    assert!(d.wait_for(10, || d.leaks().is_empty()), "{:?}", d.leaks());
}

fn cgroup_file(d: &Daemon, ctrl: &str, id: &str, file: &str) -> String {
    fs::read_to_string(format!(
        "/sys/fs/cgroup/{ctrl}/{}/{id}/{file}",
        d.cgroup_parent
    ))
    .unwrap_or_default()
}

/// A fork bomb under `--pids-limit` is held at the limit; the daemon and other containers
/// carry on and `rm -f` ends it all.
#[test]
fn fork_bomb_is_held_by_pids_limit() {
    let d = daemon();
    let id = d
        .berth([
            "run",
            "-d",
            "--pids-limit",
            "32",
            "busybox",
            "sh",
            "-c",
            "sh -c 'while :; do sleep 1000 & done' 2>/dev/null; echo bombed; sleep 1000",
        ])
        .ok()
        .stdout
        .trim()
        .to_string();
    assert!(
        d.wait_for(20, || d.berth(["logs", &id]).stdout.contains("bombed")),
        "the bomb never hit the limit: {:?}",
        d.berth(["logs", &id])
    );
    let current: u64 = cgroup_file(&d, "pids", &id, "pids.current")
        .trim()
        .parse()
        .unwrap();
    assert!(
        (20..=32).contains(&current),
        "pids.current {current} (limit 32)"
    );
    let events = cgroup_file(&d, "pids", &id, "pids.events");
    let refused: u64 = events
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(refused > 0, "pids.events: {events}");
    // The daemon and other containers are fine.
    let t = Instant::now();
    d.berth(["ps"]).ok();
    figure("forkbomb_ps_ms", t.elapsed().as_millis());
    assert_eq!(
        d.berth(["run", "--rm", "busybox", "echo", "fine"])
            .ok()
            .stdout,
        "fine\n"
    );
    // An exec into the full container may fail, but it must answer.
    let e = d.berth(["exec", &id, "true"]);
    let said = format!("{}{}", e.stdout, e.stderr);
    eprintln!("exec into the full container: {} {}", e.status, said.trim());
    if e.status != 0 {
        assert!(
            said.contains("resource temporarily unavailable"),
            "exec failed without a clear error: {e:?}"
        );
    }
    figure("forkbomb_pids_held", current);
    figure("faults_survived", 1);
    remove_all_and_check_leaks(&d);
}

/// A memory eater under `--memory` is OOM-killed: 137, OOMKilled, its logs kept.
#[test]
fn memory_eater_is_oom_killed() {
    let d = daemon();
    // `tail` keeps the current "line" in memory: /dev/zero has no newline.
    let r = d.berth([
        "run",
        "--name",
        "eater",
        "--memory",
        "32m",
        "--memory-swap",
        "32m",
        "busybox",
        "sh",
        "-c",
        "echo start; exec tail /dev/zero",
    ]);
    assert_eq!(r.status, 137, "{r:#?}");
    assert_eq!(
        inspect(
            &d,
            "eater",
            "{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}"
        ),
        "exited 137 true"
    );
    assert_eq!(d.berth(["logs", "eater"]).ok().stdout, "start\n");
    assert!(d.ping());
    figure("faults_survived", 1);
    remove_all_and_check_leaks(&d);
}

/// 10 containers write to stdout as fast as they can; `ps` keeps answering. Latency is
/// printed, not asserted. Log rotation bounds the disk use.
#[test]
fn stdout_floods_leave_the_daemon_responsive() {
    let d = daemon();
    const N: usize = 10;
    for i in 0..N {
        d.berth([
            "run",
            "-d",
            "--name",
            &format!("fl{i}"),
            "--log-opt",
            "max-size=1m",
            "--log-opt",
            "max-file=2",
            "busybox",
            "yes",
            "flood-flood-flood-flood-flood-flood-flood-flood-flood-flood",
        ])
        .ok();
    }
    let mut lat = Vec::new();
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        let t = Instant::now();
        let ps = d.berth(["ps", "-q"]).ok();
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(ps.stdout.lines().count(), N, "{ps:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let t = Instant::now();
    let tail = d.berth(["logs", "--tail", "1", "fl0"]).ok();
    let logs_ms = t.elapsed().as_secs_f64() * 1000.0;
    assert!(tail.stdout.starts_with("flood-flood"), "{tail:?}");
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    figure("flood_writers", N);
    figure("flood_ps_calls", lat.len());
    figure("flood_ps_p50_ms", format!("{:.1}", lat[lat.len() / 2]));
    figure("flood_ps_max_ms", format!("{:.1}", lat[lat.len() - 1]));
    figure("flood_logs_tail_ms", format!("{logs_ms:.1}"));
    // Rotation held: at most 2 files of about 1 MiB each per container.
    let mut total = 0u64;
    for id in d.container_dirs() {
        for e in fs::read_dir(bundle(&d, &id)).unwrap().flatten() {
            if e.file_name().to_string_lossy().contains("-json.log") {
                total += e.metadata().unwrap().len();
            }
        }
    }
    figure("flood_log_bytes_on_disk", total);
    assert!(
        total <= (N as u64) * 2 * (1 << 20) + (N as u64) * (64 << 10),
        "rotation did not bound the logs: {total} bytes"
    );
    let t = Instant::now();
    remove_all_and_check_leaks(&d);
    figure("flood_rm_ms", t.elapsed().as_millis());
    figure("load_flood_writers", N);
}

/// A container that never reads its stdin while the client pushes megabytes into it:
/// `run -i` still ends with the container's exit code and full output.
#[test]
fn stdin_never_read_still_ends_cleanly() {
    let d = daemon();
    for round in 0..4 {
        let mut c = d.berth_cmd([
            "run",
            "--rm",
            "-i",
            "busybox",
            "sh",
            "-c",
            "sleep 1; echo done",
        ]);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let chunk = vec![0u8; 1 << 20];
            for _ in 0..20 {
                if stdin.write_all(&chunk).is_err() {
                    break;
                }
            }
        });
        let out = child.wait_with_output().unwrap();
        let _ = writer.join();
        assert_eq!(
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).as_ref()
            ),
            (Some(0), "done\n"),
            "round {round}: stderr {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    remove_all_and_check_leaks(&d);
}

/// A detached container started with -i that never reads stdin does not block anything.
#[test]
fn stdin_never_read_in_a_detached_container() {
    let d = daemon();
    d.berth([
        "run", "-d", "-i", "--name", "deaf", "busybox", "sleep", "1000",
    ])
    .ok();
    // Attach with a flood of input and detach by closing: the daemon stays responsive.
    let mut c = d.berth_cmd(["attach", "--sig-proxy=false", "deaf"]);
    c.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let chunk = vec![b'x'; 1 << 16];
        let until = Instant::now() + Duration::from_secs(2);
        let mut sent = 0usize;
        while Instant::now() < until {
            if stdin.write_all(&chunk).is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    });
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    d.berth(["ps"]).ok();
    figure("stdin_flood_ps_ms", t.elapsed().as_millis());
    let _ = child.kill();
    let _ = child.wait();
    let sent = writer.join().unwrap();
    eprintln!("sent {sent} bytes of stdin to a container that never reads");
    assert_eq!(inspect(&d, "deaf", "{{.State.Running}}"), "true");
    assert_eq!(d.berth(["exec", "deaf", "echo", "ok"]).ok().stdout, "ok\n");
    figure("faults_survived", 1);
    remove_all_and_check_leaks(&d);
}

/// A container ignoring SIGTERM (and its children too) is still ended by `stop -t 1`.
#[test]
fn stop_t1_ends_a_container_that_ignores_sigterm() {
    let d = daemon();
    d.berth([
        "run",
        "-d",
        "--name",
        "stubborn",
        "busybox",
        "sh",
        "-c",
        "trap '' TERM; sleep 1000 & sleep 1000 & echo up; wait",
    ])
    .ok();
    assert!(d.wait_for(10, || d.berth(["logs", "stubborn"]).stdout == "up\n"));
    let t = Instant::now();
    d.berth(["stop", "-t", "1", "stubborn"]).ok();
    figure("stop_t1_ms", t.elapsed().as_millis());
    assert_eq!(
        inspect(&d, "stubborn", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 137"
    );
    assert!(
        d.wait_for(5, || d.container_pids().is_empty()),
        "processes left: {:?}",
        d.container_pids()
    );
    figure("faults_survived", 1);
    remove_all_and_check_leaks(&d);
}

/// Fill the filesystem under `dir` with a file until ENOSPC; returns the filler's path.
fn fill_disk(dir: &std::path::Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 1 << 16];
    loop {
        if f.write_all(&chunk).is_err() {
            break;
        }
    }
    let _ = f.sync_all();
    // Small writes until nothing fits at all.
    let small = [0u8; 512];
    while f.write_all(&small).is_ok() {}
    path
}

/// The data root's disk fills up while a container logs and while a commit runs: clear
/// errors, no corrupt state, and normal service once space is back — also after a
/// daemon restart.
#[test]
fn disk_full_during_logging_and_commit() {
    assert!(is_root(), "end-to-end tests need root");
    let d = Daemon::start();
    // Put the data root on a small filesystem: stop the daemon, mount over its data
    // root, start it again there.
    let mut t = {
        let mut d = d;
        d.kill9();
        let disk = LoopFs::mount(64, &d.data_root);
        OnDisk { d, _disk: disk }
    };
    t.d.restart();
    let d = &t.d;
    d.import_busybox("busybox");
    let base_free = free_bytes(&d.data_root);
    eprintln!("data root free at start: {base_free}");

    d.berth([
        "run", "-d", "--name", "talker", "busybox", "sh", "-c", COUNTER,
    ])
    .ok();
    d.berth([
        "run",
        "-d",
        "--name",
        "maker",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/urandom of=/blob bs=1M count=6 2>/dev/null; sync; echo made; sleep 1000",
    ])
    .ok();
    assert!(d.wait_for(20, || d.berth(["logs", "maker"]).stdout.contains("made")));
    std::thread::sleep(Duration::from_millis(300));

    let filler = fill_disk(&d.data_root);
    eprintln!("data root free when full: {}", free_bytes(&d.data_root));
    // Logging hits ENOSPC for a while.
    std::thread::sleep(Duration::from_millis(1500));
    let mut bad = 0;
    // A commit of a container with 6 MiB of changes cannot fit: a clear error.
    let c = d.berth(["commit", "maker", "fullimg"]);
    bad += 1;
    assert_ne!(c.status, 0, "commit on a full disk succeeded: {c:?}");
    assert!(
        c.stderr.to_lowercase().contains("no space left on device"),
        "unclear commit error: {c:?}"
    );
    assert!(!d.berth(["images"]).ok().stdout.contains("fullimg"));
    // Creating a container either fails clearly or works; the daemon keeps answering.
    let cr = d.berth(["create", "--name", "newbie", "busybox", "true"]);
    eprintln!("create on a full disk: {} {}", cr.status, cr.stderr.trim());
    if cr.status != 0 {
        assert!(
            cr.stderr.to_lowercase().contains("no space left"),
            "unclear create error: {cr:?}"
        );
    }
    assert!(d.ping());
    d.berth(["ps", "-a"]).ok();
    assert_eq!(inspect(d, "talker", "{{.State.Running}}"), "true");

    // Space comes back.
    fs::remove_file(&filler).unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let c2 = d.berth(["commit", "maker", "fullimg"]).ok();
    assert!(c2.stdout.starts_with("sha256:"), "{c2:?}");
    assert_eq!(
        d.berth(["run", "--rm", "fullimg", "sh", "-c", "wc -c < /blob"])
            .ok()
            .stdout
            .trim(),
        (6 << 20).to_string()
    );
    if cr.status != 0 {
        d.berth(["create", "--name", "newbie", "busybox", "true"])
            .ok();
    }
    // The log is whole: every record parses and the numbers only go up (lines written
    // while the disk was full are lost, but nothing is torn or repeated).
    let check_log = |d: &Daemon| {
        let out = d.berth(["logs", "talker"]).ok();
        let nums = numbers(&out.stdout, "talker");
        assert!(
            nums.windows(2).all(|w| w[0] < w[1]),
            "log went backwards or repeated: {nums:?}"
        );
        let last = *nums.last().unwrap();
        let id = inspect(d, "talker", "{{.Id}}");
        let raw = fs::read_to_string(bundle(d, &id).join(format!("{id}-json.log"))).unwrap();
        for l in raw.lines() {
            let v: Result<serde_json::Value, _> = serde_json::from_str(l);
            assert!(v.is_ok(), "torn log record: {l:?}");
        }
        (nums.len(), last)
    };
    let (n1, last1) = check_log(d);
    assert!(
        d.wait_for(10, || check_log(d).1 > last1 + 5),
        "logging did not resume"
    );
    eprintln!(
        "talker: {n1} lines kept, {} lost while full",
        last1 + 1 - n1 as u64
    );
    // After a restart the state reads back whole.
    t.d.restart();
    let d = &t.d;
    assert_eq!(inspect(d, "talker", "{{.State.Running}}"), "true");
    assert!(d.berth(["images"]).ok().stdout.contains("fullimg"));
    assert!(d.berth(["ps", "-a"]).ok().stdout.contains("newbie"));
    check_log(d);
    // No orphan from the failed create: one directory per listed container.
    let listed: BTreeSet<String> = d
        .berth(["ps", "-aq", "--no-trunc"])
        .ok()
        .stdout
        .split_whitespace()
        .map(String::from)
        .collect();
    let dirs: BTreeSet<String> = d.container_dirs().into_iter().collect();
    assert_eq!(
        listed, dirs,
        "orphan container directories after a full disk"
    );
    figure("faults_survived", 2);
    figure("bad_inputs", bad);
    figure("lost_state", 0);
    remove_all_and_check_leaks(d);
}

/// A daemon on a loop-mounted filesystem: fields drop in order, the daemon first.
struct OnDisk {
    d: Daemon,
    _disk: LoopFs,
}

fn free_bytes(p: &std::path::Path) -> u64 {
    let c = std::ffi::CString::new(p.to_string_lossy().as_bytes()).unwrap();
    // SAFETY: statvfs writes into the zeroed struct; the path is NUL-terminated.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        libc::statvfs(c.as_ptr(), &mut st);
        st.f_bavail * st.f_frsize
    }
}

/// 20 clients create, start, rename and remove containers with the same few names at
/// once: no duplicate names, no orphan directories, before and after a restart.
#[test]
fn twenty_clients_race_on_the_same_names() {
    let mut d = daemon();
    let host = d.host();
    const CLIENTS: usize = 20;
    const ROUNDS: usize = 6;
    let ops = AtomicUsize::new(0);
    let oddities = Mutex::new(Vec::<String>::new());
    std::thread::scope(|s| {
        for c in 0..CLIENTS {
            let (host, ops, oddities) = (&host, &ops, &oddities);
            s.spawn(move || {
                for r in 0..ROUNDS {
                    let a = format!("race{}", (c + r) % 4);
                    let b = format!("race{}", (c + r + 1) % 4);
                    let mut steps: Vec<Vec<&str>> = vec![
                        vec!["create", "--name", &a, "busybox", "sleep", "1000"],
                        vec!["start", &a],
                        vec!["rename", &a, &b],
                        vec!["rm", "-f", &b],
                    ];
                    // Half the clients leave their last container behind: state to check.
                    if r == ROUNDS - 1 && c % 2 == 0 {
                        steps.pop();
                    }
                    for st in steps {
                        let out = berth_at(host, &st);
                        ops.fetch_add(1, Ordering::SeqCst);
                        // Losing a race is fine; a crash or an unworded error is not.
                        if out.status != 0
                            && (out.stderr.trim().is_empty()
                                || out.stderr.contains("panick")
                                || daemon_unreachable(&out))
                        {
                            oddities.lock().unwrap().push(format!("{st:?}: {out:?}"));
                        }
                    }
                }
            });
        }
    });
    let oddities = oddities.into_inner().unwrap();
    assert!(oddities.is_empty(), "{oddities:#?}");
    let check = |d: &Daemon, when: &str| {
        let rows = d
            .berth(["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}"])
            .ok()
            .stdout;
        let mut names = BTreeSet::new();
        let mut ids = BTreeSet::new();
        for l in rows.lines() {
            let (id, name) = l.split_once(' ').unwrap();
            assert!(
                names.insert(name.to_string()),
                "{when}: duplicate name {name}: {rows}"
            );
            ids.insert(id.to_string());
            // Inspect by name finds this very container.
            assert_eq!(
                inspect(d, name, "{{.Id}}"),
                id,
                "{when}: name {name} points elsewhere"
            );
        }
        let dirs: BTreeSet<String> = d.container_dirs().into_iter().collect();
        assert_eq!(ids, dirs, "{when}: orphan or missing container directories");
        ids.len()
    };
    let left = check(&d, "after the race");
    d.restart();
    assert_eq!(check(&d, "after a restart"), left);
    figure("race_clients", CLIENTS);
    figure("race_ops", ops.load(Ordering::SeqCst));
    figure("race_containers_left", left);
    figure("load_clients", CLIENTS);
    remove_all_and_check_leaks(&d);
}
