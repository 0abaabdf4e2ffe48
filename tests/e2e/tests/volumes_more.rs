//! Volumes, part two: `cp` (the archive endpoints) sees a container's volumes and binds
//! at their mount points also when the container is stopped, honours read-only mounts
//! with Docker's error, and never follows a volume's symlink out of the container; and
//! read-only binds are read-only all the way down (submounts included) unless
//! `bind-recursive` says otherwise. Driven by `berth` and by the real `docker` CLI.

use berth_e2e::*;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

fn daemon() -> Daemon {
    assert!(
        is_root(),
        "end-to-end tests need root (namespaces, mounts, overlayfs)"
    );
    let d = Daemon::start();
    d.import_busybox("busybox");
    d
}

/// Which client talks to the daemon.
#[derive(Clone, Copy, Debug)]
enum Cli {
    Berth,
    Docker,
}

/// The clients to test with: berth always, docker when installed.
fn clis() -> Vec<Cli> {
    let mut v = vec![Cli::Berth];
    if docker_cli().is_some() {
        v.push(Cli::Docker);
    }
    v
}

fn cmd(d: &Daemon, cli: Cli, args: &[&str]) -> Command {
    match cli {
        Cli::Berth => d.berth_cmd(args),
        Cli::Docker => d.docker_cmd(args).expect("docker CLI"),
    }
}

fn run(d: &Daemon, cli: Cli, args: &[&str]) -> Run {
    let o = cmd(d, cli, args).output().expect("run the CLI");
    Run {
        status: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// `cp <ctr>:<path> -`: the files of the tar on stdout (name → content), or the error.
fn cp_out(d: &Daemon, cli: Cli, src: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let o = cmd(d, cli, &["cp", src, "-"]).output().expect("run cp");
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    let mut a = tar::Archive::new(&o.stdout[..]);
    let mut out = Vec::new();
    for e in a.entries().map_err(|e| e.to_string())? {
        let mut e = e.map_err(|e| e.to_string())?;
        let name = e.path().unwrap().display().to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        out.push((name, data));
    }
    Ok(out)
}

fn file_of(entries: &[(String, Vec<u8>)], name: &str) -> Option<String> {
    entries
        .iter()
        .find(|(n, _)| n.trim_end_matches('/') == name)
        .map(|(_, d)| String::from_utf8_lossy(d).into_owned())
}

fn mountpoint(d: &Daemon, name: &str) -> PathBuf {
    PathBuf::from(
        d.berth(["volume", "inspect", "--format", "{{.Mountpoint}}", name])
            .ok()
            .stdout
            .trim(),
    )
}

fn no_leaks(d: &Daemon) {
    let leaks = d.leaks();
    assert!(leaks.is_empty(), "left behind: {leaks:#?}");
    // No scratch view directory may stay in a container's rootfs dir.
    for id in d.container_dirs() {
        let rootfs = d.data_root.join("containers").join(&id).join("rootfs");
        for e in fs::read_dir(&rootfs).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            assert!(!n.starts_with("view-"), "scratch dir {n} left in {id}");
        }
    }
    // Nothing of ours may stay mounted anywhere on the host.
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let data = d.data_root.display().to_string();
    for l in info.lines() {
        let p = l.split(' ').nth(4).unwrap_or("");
        assert!(
            !(p.starts_with(&data) && p.contains("/view-")),
            "view mount left: {l}"
        );
    }
}

/// A host directory outside the daemon's root (so `leaks()` stays about the daemon),
/// removed on drop; mounts made below it with [`HostDir::tmpfs`] are unmounted first.
struct HostDir {
    path: PathBuf,
    mounts: Vec<PathBuf>,
}

impl HostDir {
    fn new(tag: &str) -> HostDir {
        let path = std::env::temp_dir().join(format!("berth-volmore-{tag}-{}", rand_hex(6)));
        fs::create_dir_all(&path).unwrap();
        HostDir {
            path,
            mounts: Vec::new(),
        }
    }

    /// Mounts a small tmpfs at `rel` (created) below the directory.
    fn tmpfs(&mut self, rel: &str) -> PathBuf {
        let p = self.path.join(rel);
        fs::create_dir_all(&p).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(&p)
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs on {}", p.display());
        self.mounts.push(p.clone());
        p
    }
}

impl Drop for HostDir {
    fn drop(&mut self) {
        for m in self.mounts.iter().rev() {
            let c = std::ffi::CString::new(m.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: a valid C string; a failure only leaves the mount (reported below).
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Puts the container in `state` (`created` or `exited`).
fn make_stopped(d: &Daemon, name: &str, state: &str, mounts: &[&str]) {
    let mut args: Vec<&str> = vec!["create", "--name", name];
    for m in mounts {
        args.extend(["-v", m]);
    }
    args.extend(["busybox", "true"]);
    d.berth(&args).ok();
    if state == "exited" {
        d.berth(["start", "-a", name]).ok();
    }
    let st = d
        .berth(["inspect", "--format", "{{.State.Status}}", name])
        .ok();
    assert_eq!(st.stdout.trim(), state);
}

// ---------------------------------------------------------------------------------------
// cp on stopped containers
// ---------------------------------------------------------------------------------------

#[test]
fn cp_sees_volume_and_bind_of_stopped_containers() {
    let d = daemon();
    let bind = HostDir::new("bind");
    fs::write(bind.path.join("g"), "from the bind\n").unwrap();
    let local = d.root.join("in.txt");
    for cli in clis() {
        for state in ["created", "exited"] {
            let tag = format!("{cli:?}-{state}").to_lowercase();
            let vol = format!("vm-{tag}");
            d.berth([
                "run",
                "--rm",
                "-v",
                &format!("{vol}:/data"),
                "busybox",
                "sh",
                "-c",
                "mkdir /data/dir && echo hello > /data/dir/f",
            ])
            .ok();
            let name = format!("c-{tag}");
            make_stopped(
                &d,
                &name,
                state,
                &[
                    &format!("{vol}:/data"),
                    &format!("{}:/srv/b", bind.path.display()),
                ],
            );
            // Out of the volume: a file and a directory.
            let t = cp_out(&d, cli, &format!("{name}:/data/dir/f")).unwrap();
            assert_eq!(
                file_of(&t, "f").as_deref(),
                Some("hello\n"),
                "{cli:?} {state}"
            );
            let t = cp_out(&d, cli, &format!("{name}:/data")).unwrap();
            assert_eq!(file_of(&t, "data/dir/f").as_deref(), Some("hello\n"));
            // Out of the bind.
            let t = cp_out(&d, cli, &format!("{name}:/srv/b/g")).unwrap();
            assert_eq!(file_of(&t, "g").as_deref(), Some("from the bind\n"));
            // HEAD (stat) of a path only the volume has.
            let dest = d.root.join(format!("out-{tag}"));
            run(
                &d,
                cli,
                &[
                    "cp",
                    &format!("{name}:/data/dir"),
                    &dest.display().to_string(),
                ],
            )
            .ok();
            assert_eq!(fs::read_to_string(dest.join("f")).unwrap(), "hello\n");

            // Into the volume and the bind: the files land in them, not in the rootfs.
            fs::write(&local, format!("in {tag}\n")).unwrap();
            let lp = local.display().to_string();
            run(&d, cli, &["cp", &lp, &format!("{name}:/data/dir/")]).ok();
            run(&d, cli, &["cp", &lp, &format!("{name}:/srv/b/")]).ok();
            assert_eq!(
                fs::read_to_string(mountpoint(&d, &vol).join("dir/in.txt")).unwrap(),
                format!("in {tag}\n")
            );
            assert_eq!(
                fs::read_to_string(bind.path.join("in.txt")).unwrap(),
                format!("in {tag}\n")
            );
            let id = d.berth(["inspect", "--format", "{{.Id}}", &name]).ok();
            let upper = d
                .data_root
                .join("containers")
                .join(id.stdout.trim())
                .join("rootfs/upper");
            assert!(!upper.join("data/dir").exists(), "copy went to the rootfs");
            assert!(
                !upper.join("srv/b/in.txt").exists(),
                "copy went to the rootfs"
            );
            // And a new container sees it through the volume.
            let r = d
                .berth([
                    "run",
                    "--rm",
                    "-v",
                    &format!("{vol}:/v"),
                    "busybox",
                    "cat",
                    "/v/dir/in.txt",
                ])
                .ok();
            assert_eq!(r.stdout, format!("in {tag}\n"));
            // The container still starts with its mounts afterwards.
            let r = d.berth(["start", "-a", &name]).ok();
            assert_eq!(r.status, 0);
            d.berth(["rm", "-f", &name]).ok();
            fs::remove_file(bind.path.join("in.txt")).unwrap();
        }
    }
    no_leaks(&d);
}

#[test]
fn cp_into_readonly_volume_or_bind_is_refused() {
    let d = daemon();
    let bind = HostDir::new("robind");
    fs::write(bind.path.join("keep"), "k").unwrap();
    d.berth([
        "run",
        "--rm",
        "-v",
        "rovol:/data",
        "busybox",
        "sh",
        "-c",
        "echo orig > /data/f",
    ])
    .ok();
    let local = d.root.join("f");
    fs::write(&local, "changed\n").unwrap();
    let lp = local.display().to_string();
    for cli in clis() {
        for state in ["created", "exited"] {
            let name = format!("ro-{cli:?}-{state}").to_lowercase();
            make_stopped(
                &d,
                &name,
                state,
                &["rovol:/data:ro", &format!("{}:/b:ro", bind.path.display())],
            );
            for dst in ["/data", "/data/", "/b"] {
                let r = run(&d, cli, &["cp", &lp, &format!("{name}:{dst}")]);
                assert_ne!(r.status, 0, "{cli:?} {state} {dst}: {r:#?}");
                assert!(
                    r.stderr.contains("mounted volume is marked read-only"),
                    "{cli:?} {state} {dst}: {r:#?}"
                );
            }
            // Reading a read-only volume is fine.
            let t = cp_out(&d, cli, &format!("{name}:/data/f")).unwrap();
            assert_eq!(file_of(&t, "f").as_deref(), Some("orig\n"));
            d.berth(["rm", "-f", &name]).ok();
        }
    }
    assert_eq!(
        fs::read_to_string(mountpoint(&d, "rovol").join("f")).unwrap(),
        "orig\n"
    );
    let names: Vec<_> = fs::read_dir(&bind.path)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("keep")]);

    // The API answers 400 with Docker's message (a PUT of an empty archive).
    d.berth([
        "create",
        "--name",
        "ro-api",
        "-v",
        "rovol:/data:ro",
        "busybox",
        "true",
    ])
    .ok();
    let resp = d
        .raw_bytes(
            "PUT /containers/ro-api/archive?path=/data HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/x-tar\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n",
            &[0u8; 1024],
        )
        .unwrap();
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(
        resp.contains("mounted volume is marked read-only"),
        "{resp}"
    );
    no_leaks(&d);
}

#[test]
fn cp_follows_no_volume_symlink_out_of_the_container() {
    let d = daemon();
    let secret = HostDir::new("secret");
    fs::write(secret.path.join("secret"), "HOST SECRET\n").unwrap();
    let sp = secret.path.display().to_string();
    d.berth([
        "run",
        "--rm",
        "-v",
        "linkvol:/data",
        "busybox",
        "sh",
        "-c",
        &format!(
            "ln -s / /data/root && ln -s {sp} /data/esc && ln -s {sp}/secret /data/file \
             && mkdir -p /data/inner"
        ),
    ])
    .ok();
    let local = d.root.join("planted");
    fs::write(&local, "x").unwrap();
    let lp = local.display().to_string();
    for cli in clis() {
        for state in ["created", "exited", "running"] {
            let name = format!("ln-{cli:?}-{state}").to_lowercase();
            if state == "running" {
                d.berth([
                    "run",
                    "-d",
                    "--name",
                    &name,
                    "-v",
                    "linkvol:/data",
                    "busybox",
                    "sleep",
                    "300",
                ])
                .ok();
            } else {
                make_stopped(&d, &name, state, &["linkvol:/data"]);
            }
            for p in [
                "/data/esc/secret",
                "/data/root",
                "/data/file",
                "/data/root/tmp",
            ] {
                let path = if p == "/data/root" {
                    format!("/data/root{sp}/secret")
                } else if p == "/data/root/tmp" {
                    format!("/data/root/{sp}/secret")
                } else {
                    p.to_string()
                };
                match cp_out(&d, cli, &format!("{name}:{path}")) {
                    Err(e) => assert!(
                        e.contains("Could not find the file") || e.contains("No such"),
                        "{cli:?} {state} {path}: {e}"
                    ),
                    Ok(t) => {
                        // `/data/file` itself is the link: only the link may come out.
                        for (n, data) in &t {
                            assert!(
                                !String::from_utf8_lossy(data).contains("HOST SECRET"),
                                "{cli:?} {state}: host file read through {path} ({n})"
                            );
                        }
                    }
                }
            }
            // A copy into the link's directory must not write on the host.
            let r = run(&d, cli, &["cp", &lp, &format!("{name}:/data/esc/")]);
            assert_ne!(r.status, 0, "{cli:?} {state}: {r:#?}");
            // Through the link to the container's `/`: lands in the container's /tmp.
            run(&d, cli, &["cp", &lp, &format!("{name}:/data/root{sp}")]);
            assert!(!secret.path.join("planted").exists(), "{cli:?} {state}");
            // A copy into a real directory of the volume works.
            run(&d, cli, &["cp", &lp, &format!("{name}:/data/inner/")]).ok();
            assert!(mountpoint(&d, "linkvol").join("inner/planted").exists());
            fs::remove_file(mountpoint(&d, "linkvol").join("inner/planted")).unwrap();
            d.berth(["rm", "-f", &name]).ok();
        }
    }
    assert_eq!(
        fs::read_dir(&secret.path).unwrap().count(),
        1,
        "the host directory changed"
    );
    no_leaks(&d);
}

#[test]
fn cp_on_running_container_sees_volume_and_refuses_readonly() {
    let d = daemon();
    let bind = HostDir::new("runbind");
    d.berth([
        "run",
        "-d",
        "--name",
        "live",
        "-v",
        "livevol:/data",
        "-v",
        "livero:/ro:ro",
        "-v",
        &format!("{}:/b", bind.path.display()),
        "busybox",
        "sh",
        "-c",
        "echo live > /data/f; sleep 300",
    ])
    .ok();
    assert!(d.wait_for(10, || mountpoint(&d, "livevol").join("f").exists()));
    let local = d.root.join("in.txt");
    fs::write(&local, "in\n").unwrap();
    let lp = local.display().to_string();
    for cli in clis() {
        let t = cp_out(&d, cli, "live:/data/f").unwrap();
        assert_eq!(file_of(&t, "f").as_deref(), Some("live\n"));
        run(&d, cli, &["cp", &lp, "live:/data/"]).ok();
        run(&d, cli, &["cp", &lp, "live:/b/"]).ok();
        assert_eq!(
            fs::read_to_string(mountpoint(&d, "livevol").join("in.txt")).unwrap(),
            "in\n"
        );
        assert_eq!(
            fs::read_to_string(bind.path.join("in.txt")).unwrap(),
            "in\n"
        );
        let r = run(&d, cli, &["cp", &lp, "live:/ro/"]);
        assert_ne!(r.status, 0);
        assert!(
            r.stderr.contains("mounted volume is marked read-only"),
            "{r:#?}"
        );
        fs::remove_file(bind.path.join("in.txt")).unwrap();
    }
    let r = d.berth(["exec", "live", "cat", "/data/in.txt"]).ok();
    assert_eq!(r.stdout, "in\n");
    d.berth(["rm", "-f", "live"]).ok();
    no_leaks(&d);
}

// ---------------------------------------------------------------------------------------
// Recursively read-only binds
// ---------------------------------------------------------------------------------------

/// Runs `sh -c script` in a new container with `mount_args`; the combined result.
fn sh_with(d: &Daemon, cli: Cli, mount_args: &[&str], script: &str) -> Run {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(mount_args);
    args.extend(["busybox", "sh", "-c", script]);
    run(d, cli, &args)
}

#[test]
fn readonly_bind_covers_submounts_unless_writable() {
    let d = daemon();
    let mut src = HostDir::new("rro");
    let sub = src.tmpfs("sub");
    fs::write(sub.join("seen"), "s").unwrap();
    let s = src.path.display().to_string();
    let write_sub = "cat /b/sub/seen && touch /b/sub/new";
    let write_top = "touch /b/top";
    for cli in clis() {
        // `-v :ro` and `--mount readonly`: the submount is read-only too.
        for m in [
            vec!["-v".to_string(), format!("{s}:/b:ro")],
            vec![
                "--mount".to_string(),
                format!("type=bind,src={s},dst=/b,readonly"),
            ],
            vec![
                "--mount".to_string(),
                format!(
                    "type=bind,src={s},dst=/b,readonly,bind-recursive=readonly,bind-propagation=rprivate"
                ),
            ],
            vec!["-v".to_string(), format!("{s}:/b:rro")],
        ] {
            let ma: Vec<&str> = m.iter().map(String::as_str).collect();
            let r = sh_with(&d, cli, &ma, write_sub);
            assert_ne!(r.status, 0, "{cli:?} {m:?}: {r:#?}");
            assert!(r.stdout.contains('s'), "{cli:?} {m:?}: submount not visible {r:#?}");
            assert!(r.stderr.contains("Read-only file system"), "{cli:?} {m:?}: {r:#?}");
            let r = sh_with(&d, cli, &ma, write_top);
            assert!(r.stderr.contains("Read-only file system"), "{cli:?} {m:?}: {r:#?}");
            assert!(!sub.join("new").exists());
        }
        // `bind-recursive=writable` (and `-v :ro-non-recursive`): only the top is
        // read-only.
        for m in [
            vec![
                "--mount".to_string(),
                format!("type=bind,src={s},dst=/b,readonly,bind-recursive=writable"),
            ],
            vec!["-v".to_string(), format!("{s}:/b:ro-non-recursive")],
        ] {
            let ma: Vec<&str> = m.iter().map(String::as_str).collect();
            let r = sh_with(&d, cli, &ma, write_sub);
            assert_eq!(r.status, 0, "{cli:?} {m:?}: {r:#?}");
            assert!(sub.join("new").exists(), "{cli:?} {m:?}");
            fs::remove_file(sub.join("new")).unwrap();
            let r = sh_with(&d, cli, &ma, write_top);
            assert!(
                r.stderr.contains("Read-only file system"),
                "{cli:?} {m:?}: {r:#?}"
            );
        }
        // `bind-recursive=disabled`: no submount at all, the directory below it.
        let r = sh_with(
            &d,
            cli,
            &[
                "--mount",
                &format!("type=bind,src={s},dst=/b,bind-recursive=disabled"),
            ],
            "ls -A /b/sub",
        );
        assert_eq!((r.status, r.stdout.as_str()), (0, ""), "{cli:?}: {r:#?}");
        // A writable bind leaves the submount writable.
        let r = sh_with(&d, cli, &["-v", &format!("{s}:/b")], write_sub);
        assert_eq!(r.status, 0, "{cli:?}: {r:#?}");
        fs::remove_file(sub.join("new")).unwrap();
        fs::remove_file(src.path.join("top")).ok();
    }
    // The mounts are what inspect says: read-only.
    d.berth([
        "create",
        "--name",
        "insp",
        "--mount",
        &format!("type=bind,src={s},dst=/b,readonly,bind-recursive=writable"),
        "busybox",
        "true",
    ])
    .ok();
    let r = d
        .berth([
            "inspect",
            "--format",
            "{{range .Mounts}}{{.RW}}{{end}} {{json .HostConfig.Mounts}}",
            "insp",
        ])
        .ok();
    assert!(r.stdout.starts_with("false "), "{r:#?}");
    assert!(r.stdout.contains("\"ReadOnlyNonRecursive\":true"), "{r:#?}");
    d.berth(["rm", "insp"]).ok();
    no_leaks(&d);
}

#[test]
fn bind_recursive_option_errors_are_dockers() {
    let d = daemon();
    let src = HostDir::new("errs");
    let s = src.path.display().to_string();
    let cases = [
        (
            format!("type=bind,src={s},dst=/x,bind-recursive=foo"),
            "invalid value for bind-recursive: foo (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")",
        ),
        (
            format!("type=bind,src={s},dst=/x,bind-recursive=writable"),
            "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction",
        ),
        (
            format!("type=bind,src={s},dst=/x,bind-recursive=readonly"),
            "option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction",
        ),
        (
            format!("type=bind,src={s},dst=/x,readonly,bind-recursive=readonly"),
            "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction",
        ),
    ];
    for cli in clis() {
        for (m, want) in &cases {
            let r = run(&d, cli, &["create", "--mount", m, "busybox"]);
            assert_ne!(r.status, 0, "{cli:?} {m}");
            assert!(r.stderr.contains(want), "{cli:?} {m}: {r:#?}");
        }
    }
    // The daemon checks the API fields itself.
    let body = format!(
        r#"{{"Image":"busybox","HostConfig":{{"Mounts":[{{"Type":"bind","Source":"{s}","Target":"/x","BindOptions":{{"ReadOnlyNonRecursive":true}}}}]}}}}"#
    );
    let resp = d
        .raw_bytes(
            &format!(
                "POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            ),
            body.as_bytes(),
        )
        .unwrap();
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("ReadOnlyNonRecursive"), "{resp}");
    // `-v` read-only variants belong to binds only.
    let r = d.berth(["create", "-v", "somevol:/x:ro-non-recursive", "busybox"]);
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("requires a bind mount"), "{r:#?}");
    assert!(d.container_dirs().is_empty());
}

#[test]
fn cp_of_a_missing_path_in_a_stopped_container_is_not_found() {
    let d = daemon();
    d.berth([
        "create", "--name", "empty", "-v", "ev:/data", "busybox", "true",
    ])
    .ok();
    for cli in clis() {
        for p in ["/no/such", "/data/nothing"] {
            let e = cp_out(&d, cli, &format!("empty:{p}")).unwrap_err();
            assert!(e.contains("Could not find the file"), "{cli:?}: {e}");
        }
    }
    no_leaks(&d);
}
