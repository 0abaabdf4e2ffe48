//! Issue "Volumes and mounts": named, bind, anonymous and tmpfs mounts, `--mount`,
//! `--volumes-from`, the `volume` commands and `system df -v`, driven by `berth` and by the
//! real `docker` CLI against berthd. Images with special content (owners, modes, a `VOLUME`,
//! symlinks planted at mount targets) are made with the harness's import.

use berth_e2e::*;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

fn daemon() -> Daemon {
    assert!(
        is_root(),
        "end-to-end tests need root (namespaces, mounts, overlayfs)"
    );
    let d = Daemon::start();
    d.import_busybox("busybox");
    d
}

/// One extra entry of a test image.
enum Entry<'a> {
    Dir(&'a str, u32, u64, u64),
    File(&'a str, u32, u64, u64, &'a [u8]),
    Link(&'a str, &'a str),
}

/// Imports busybox plus `extra` entries as image `name`, with Dockerfile `changes`.
fn import_image(d: &Daemon, name: &str, extra: &[Entry], changes: &[&str]) {
    let path = d.root.join(format!("{name}.tar"));
    write_busybox_tar(&path);
    // Drop the end-of-archive blocks and append to the archive.
    let len = fs::metadata(&path).unwrap().len();
    let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len - 1024).unwrap();
    drop(f);
    let f = fs::OpenOptions::new().append(true).open(&path).unwrap();
    let mut b = tar::Builder::new(f);
    for e in extra {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_700_000_000);
        match e {
            Entry::Dir(p, mode, uid, gid) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                h.set_uid(*uid);
                h.set_gid(*gid);
                h.set_size(0);
                b.append_data(&mut h, p, std::io::empty()).unwrap();
            }
            Entry::File(p, mode, uid, gid, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_uid(*uid);
                h.set_gid(*gid);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, *data).unwrap();
            }
            Entry::Link(p, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_uid(0);
                h.set_gid(0);
                h.set_size(0);
                b.append_link(&mut h, p, target).unwrap();
            }
        }
    }
    b.finish().unwrap();
    drop(b);
    let mut args: Vec<String> = vec!["import".into()];
    for c in changes {
        args.push("--change".into());
        args.push(c.to_string());
    }
    args.push(path.display().to_string());
    args.push(name.into());
    d.berth(&args).ok();
}

fn volume_names(d: &Daemon) -> Vec<String> {
    d.berth(["volume", "ls", "-q"])
        .ok()
        .stdout
        .lines()
        .map(str::to_string)
        .collect()
}

fn is_anonymous_name(n: &str) -> bool {
    n.len() == 64 && n.chars().all(|c| c.is_ascii_hexdigit())
}

fn mountpoint(d: &Daemon, name: &str) -> PathBuf {
    PathBuf::from(
        d.berth(["volume", "inspect", "--format", "{{.Mountpoint}}", name])
            .ok()
            .stdout
            .trim(),
    )
}

/// `docker` when installed (the real CLI against berthd), else skip that half.
fn docker(d: &Daemon, args: &[&str]) -> Option<Run> {
    d.docker(args)
}

// ---------------------------------------------------------------------------------------
// Named volumes
// ---------------------------------------------------------------------------------------

fn named_volume_survives(d: &mut Daemon, cli: &dyn Fn(&Daemon, &[&str]) -> Run, vol: &str) {
    let spec = format!("{vol}:/var/lib/mysql");
    cli(
        d,
        &[
            "run",
            "--name",
            "db1",
            "-v",
            &spec,
            "busybox",
            "sh",
            "-c",
            "echo row1 > /var/lib/mysql/ibdata; mkdir /var/lib/mysql/db",
        ],
    )
    .ok();
    cli(d, &["rm", "db1"]).ok();
    let mp = mountpoint(d, vol);
    assert!(
        mp.starts_with(d.data_root.join("volumes")),
        "Mountpoint {} not under the data root",
        mp.display()
    );
    assert_eq!(fs::read_to_string(mp.join("ibdata")).unwrap(), "row1\n");
    let r = cli(
        d,
        &[
            "run",
            "--rm",
            "-v",
            &spec,
            "busybox",
            "cat",
            "/var/lib/mysql/ibdata",
        ],
    )
    .ok();
    assert_eq!(r.stdout, "row1\n");
    // A running container on the volume while the daemon is killed with SIGKILL.
    cli(
        d,
        &[
            "run", "-d", "--name", "db2", "-v", &spec, "busybox", "sh", "-c",
            "echo row2 >> /var/lib/mysql/ibdata; trap 'exit 0' TERM; while true; do sleep 0.1; done",
        ],
    )
    .ok();
    assert!(d.wait_for(10, || {
        fs::read_to_string(mp.join("ibdata"))
            .unwrap_or_default()
            .contains("row2")
    }));
    d.kill9();
    d.restart();
    // Still referenced by db2 after the restart: removal is refused.
    let rm = d.berth(["volume", "rm", vol]);
    assert_ne!(rm.status, 0, "{rm:#?}");
    assert!(rm.stderr.contains("volume is in use"), "{rm:#?}");
    cli(d, &["rm", "-f", "db2"]).ok();
    let r = cli(
        d,
        &[
            "run",
            "--rm",
            "-v",
            &spec,
            "busybox",
            "cat",
            "/var/lib/mysql/ibdata",
        ],
    )
    .ok();
    assert_eq!(r.stdout, "row1\nrow2\n");
    assert!(volume_names(d).contains(&vol.to_string()));
    cli(d, &["volume", "rm", vol]).ok();
    assert!(!mp.exists(), "volume data left behind");
}

#[test]
fn named_volume_survives_rm_and_daemon_kill9_berth() {
    let mut d = daemon();
    named_volume_survives(&mut d, &|d, a| d.berth(a), "mysqldata");
}

#[test]
fn named_volume_survives_rm_and_daemon_kill9_docker() {
    let mut d = daemon();
    if docker_cli().is_none() {
        return;
    }
    named_volume_survives(
        &mut d,
        &|d, a| docker(d, a).expect("docker"),
        "mysqldata-docker",
    );
}

// ---------------------------------------------------------------------------------------
// Copy-up
// ---------------------------------------------------------------------------------------

fn copyup_image(d: &Daemon) {
    import_image(
        d,
        "withdata",
        &[
            Entry::Dir("srv", 0o755, 0, 0),
            Entry::Dir("srv/data", 0o750, 33, 33),
            Entry::File("srv/data/conf", 0o640, 33, 33, b"setting=1\n"),
            Entry::Dir("srv/data/private", 0o700, 1000, 100),
            Entry::File("srv/data/private/key", 0o600, 1000, 100, b"k\n"),
            Entry::Link("srv/data/link", "conf"),
            Entry::Dir("vol", 0o755, 0, 0),
            Entry::File("vol/seed", 0o604, 65534, 65534, b"seed\n"),
        ],
        &["VOLUME /vol"],
    );
}

fn check_copied(dir: &Path) {
    let md = |p: &str| fs::symlink_metadata(dir.join(p)).unwrap();
    let top = fs::metadata(dir).unwrap();
    assert_eq!(
        (top.uid(), top.gid(), top.mode() & 0o7777),
        (33, 33, 0o750),
        "volume root takes the image dir's owner and mode"
    );
    let conf = md("conf");
    assert_eq!(
        (conf.uid(), conf.gid(), conf.mode() & 0o7777),
        (33, 33, 0o640)
    );
    assert_eq!(fs::read_to_string(dir.join("conf")).unwrap(), "setting=1\n");
    let p = md("private");
    assert_eq!((p.uid(), p.gid(), p.mode() & 0o7777), (1000, 100, 0o700));
    let k = md("private/key");
    assert_eq!((k.uid(), k.gid(), k.mode() & 0o7777), (1000, 100, 0o600));
    assert!(md("link").file_type().is_symlink());
    assert_eq!(
        fs::read_link(dir.join("link")).unwrap(),
        PathBuf::from("conf")
    );
}

#[test]
fn copy_up_keeps_owners_and_modes_berth() {
    let d = daemon();
    copyup_image(&d);
    let r = d
        .berth([
            "run",
            "--rm",
            "-v",
            "appdata:/srv/data",
            "withdata",
            "stat",
            "-c",
            "%u:%g %a %n",
            "/srv/data",
            "/srv/data/conf",
            "/srv/data/private/key",
        ])
        .ok();
    assert_eq!(
        r.stdout,
        "33:33 750 /srv/data\n33:33 640 /srv/data/conf\n1000:100 600 /srv/data/private/key\n"
    );
    check_copied(&mountpoint(&d, "appdata"));
    // A volume that already has content is not filled again.
    fs::remove_file(mountpoint(&d, "appdata").join("conf")).unwrap();
    d.berth(["run", "--rm", "-v", "appdata:/srv/data", "withdata", "true"])
        .ok();
    assert!(!mountpoint(&d, "appdata").join("conf").exists());
    // nocopy keeps a new volume empty.
    let r = d
        .berth([
            "run",
            "--rm",
            "-v",
            "empty:/srv/data:nocopy",
            "withdata",
            "ls",
            "-A",
            "/srv/data",
        ])
        .ok();
    assert_eq!(r.stdout, "");
    // The image's VOLUME gets an anonymous volume filled from the image.
    let r = d
        .berth([
            "run",
            "--rm",
            "withdata",
            "stat",
            "-c",
            "%u %a",
            "/vol/seed",
        ])
        .ok();
    assert_eq!(r.stdout, "65534 604\n");
}

#[test]
fn copy_up_keeps_owners_and_modes_docker() {
    let d = daemon();
    copyup_image(&d);
    let Some(r) = docker(
        &d,
        &[
            "run",
            "--mount",
            "type=volume,source=appdata2,target=/srv/data",
            "withdata",
            "stat",
            "-c",
            "%u:%g %a",
            "/srv/data/conf",
        ],
    ) else {
        return;
    };
    let r = r.ok();
    assert_eq!(r.stdout, "33:33 640\n");
    check_copied(&mountpoint(&d, "appdata2"));
    // volume-nocopy through --mount.
    let r = docker(
        &d,
        &[
            "run",
            "--rm",
            "--mount",
            "type=volume,source=appdata3,target=/srv/data,volume-nocopy",
            "withdata",
            "ls",
            "-A",
            "/srv/data",
        ],
    )
    .unwrap()
    .ok();
    assert_eq!(r.stdout, "");
}

// ---------------------------------------------------------------------------------------
// Bind mounts
// ---------------------------------------------------------------------------------------

fn bind_ro_file(d: &Daemon, cli: &dyn Fn(&Daemon, &[&str]) -> Run) {
    let html = d.root.join("index.html");
    fs::write(&html, "<h1>hello berth</h1>\n").unwrap();
    let spec = format!("{}:/usr/local/apache2/htdocs/index.html:ro", html.display());
    let r = cli(
        d,
        &[
            "run",
            "--rm",
            "-v",
            &spec,
            "busybox",
            "cat",
            "/usr/local/apache2/htdocs/index.html",
        ],
    )
    .ok();
    assert_eq!(r.stdout, "<h1>hello berth</h1>\n");
    // Root in the container cannot write through it, nor remount it.
    let r = cli(
        d,
        &[
            "run",
            "--rm",
            "-v",
            &spec,
            "busybox",
            "sh",
            "-c",
            "echo pwned > /usr/local/apache2/htdocs/index.html; echo rc=$?; \
             mount -o remount,rw /usr/local/apache2/htdocs/index.html 2>/dev/null; echo mount=$?",
        ],
    );
    assert!(
        r.stderr.contains("Read-only file system"),
        "write must fail with EROFS: {r:#?}"
    );
    assert!(r.stdout.contains("rc=1"), "{r:#?}");
    assert!(!r.stdout.contains("mount=0"), "{r:#?}");
    assert_eq!(fs::read_to_string(&html).unwrap(), "<h1>hello berth</h1>\n");
    // Changes on the host are seen inside at once.
    cli(
        d,
        &[
            "run",
            "-d",
            "--name",
            "web",
            "-v",
            &spec,
            "busybox",
            "sh",
            "-c",
            "trap 'exit 0' TERM; while true; do sleep 0.1; done",
        ],
    )
    .ok();
    fs::write(&html, "<h1>edited</h1>\n").unwrap();
    let r = cli(
        d,
        &["exec", "web", "cat", "/usr/local/apache2/htdocs/index.html"],
    )
    .ok();
    assert_eq!(r.stdout, "<h1>edited</h1>\n");
    let r = d
        .berth(["inspect", "--format", "{{json .Mounts}}", "web"])
        .ok();
    let m: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(
        m,
        serde_json::json!([{
            "Type": "bind",
            "Source": html.display().to_string(),
            "Destination": "/usr/local/apache2/htdocs/index.html",
            "Mode": "ro",
            "RW": false,
            "Propagation": "rprivate"
        }])
    );
    cli(d, &["rm", "-f", "web"]).ok();
}

#[test]
fn bind_ro_serves_host_file_berth() {
    let d = daemon();
    bind_ro_file(&d, &|d, a| d.berth(a));
}

#[test]
fn bind_ro_serves_host_file_docker() {
    let d = daemon();
    if docker_cli().is_none() {
        return;
    }
    bind_ro_file(&d, &|d, a| docker(d, a).expect("docker"));
}

#[test]
fn bind_source_creation_and_mount_validation() {
    let d = daemon();
    let missing = d.root.join("made/by/dash-v");
    let spec = format!("{}:/data", missing.display());
    d.berth([
        "run",
        "--rm",
        "-v",
        &spec,
        "busybox",
        "sh",
        "-c",
        "echo hi > /data/f",
    ])
    .ok();
    assert!(missing.is_dir(), "-v creates a missing host dir");
    assert_eq!(fs::read_to_string(missing.join("f")).unwrap(), "hi\n");

    let gone = d.root.join("no-such-dir");
    let m = format!("type=bind,source={},target=/data", gone.display());
    let want = format!(
        "invalid mount config for type \"bind\": bind source path does not exist: {}",
        gone.display()
    );
    let r = d.berth(["run", "--rm", "--mount", &m, "busybox", "true"]);
    assert_eq!(r.status, 125, "{r:#?}");
    assert!(r.stderr.contains(&want), "{r:#?}");
    assert!(!gone.exists(), "--mount must not create the source");
    if let Some(r) = docker(&d, &["run", "--rm", "--mount", &m, "busybox", "true"]) {
        assert_eq!(r.status, 125, "{r:#?}");
        assert!(r.stderr.contains(&want), "{r:#?}");
        // -v through the docker CLI creates the dir as well.
        let other = d.root.join("made-by-docker");
        let spec = format!("{}:/x:rw", other.display());
        docker(&d, &["run", "--rm", "-v", &spec, "busybox", "true"])
            .unwrap()
            .ok();
        assert!(other.is_dir());
    }
    // --mount bind with readonly and a propagation.
    let src = d.root.join("mnt-src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("a"), "A").unwrap();
    let m = format!(
        "type=bind,source={},target=/m,readonly,bind-propagation=rslave",
        src.display()
    );
    let r = d.berth([
        "run",
        "--rm",
        "--mount",
        &m,
        "busybox",
        "sh",
        "-c",
        "cat /m/a; touch /m/b 2>/dev/null && echo wrote || echo refused",
    ]);
    assert_eq!(r.stdout, "Arefused\n", "{r:#?}");
    // Invalid specs are Docker's errors, before anything is created.
    let r = d.berth(["create", "-v", "a:b:c:d", "busybox", "true"]);
    assert_eq!(r.status, 1, "create reports daemon errors with 1: {r:#?}");
    assert!(
        r.stderr.contains("invalid volume specification: 'a:b:c:d'"),
        "{r:#?}"
    );
    let r = d.berth(["create", "-v", "vol:/x:bogus", "busybox", "true"]);
    assert!(r.stderr.contains("invalid mode: bogus"), "{r:#?}");
    let r = d.berth(["create", "-v", "/a:/x", "-v", "/b:/x", "busybox", "true"]);
    assert!(r.stderr.contains("Duplicate mount point: /x"), "{r:#?}");
    assert!(!Path::new("/a").exists() && !Path::new("/b").exists());
    assert!(volume_names(&d).is_empty());
    assert!(d.berth(["ps", "-aq"]).stdout.trim().is_empty());
}

// ---------------------------------------------------------------------------------------
// Anonymous volumes
// ---------------------------------------------------------------------------------------

fn anonymous_volumes(d: &Daemon, cli: &dyn Fn(&Daemon, &[&str]) -> Run) {
    import_image(d, "withvol", &[], &["VOLUME /declared"]);
    cli(
        d,
        &[
            "create",
            "--name",
            "a1",
            "-v",
            "/anon",
            "-v",
            "keepme:/named",
            "withvol",
            "true",
        ],
    )
    .ok();
    let vols = volume_names(d);
    assert_eq!(vols.len(), 3, "{vols:?}");
    assert!(vols.contains(&"keepme".to_string()));
    let anon: Vec<&String> = vols.iter().filter(|n| is_anonymous_name(n)).collect();
    assert_eq!(anon.len(), 2, "{vols:?}");
    // Inspect shows the volumes in Docker's shape.
    let r = d
        .berth(["inspect", "--format", "{{json .Mounts}}", "a1"])
        .ok();
    let mounts: Vec<serde_json::Value> = serde_json::from_str(r.stdout.trim()).unwrap();
    let dests: Vec<&str> = mounts
        .iter()
        .map(|m| m["Destination"].as_str().unwrap())
        .collect();
    assert_eq!(mounts.len(), 3, "{mounts:?}");
    for dst in ["/anon", "/declared", "/named"] {
        assert!(dests.contains(&dst), "{mounts:?}");
    }
    for m in &mounts {
        assert_eq!(m["Type"], "volume");
        assert_eq!(m["Driver"], "local");
        assert_eq!(m["RW"], true);
        let name = m["Name"].as_str().unwrap();
        assert_eq!(
            m["Source"].as_str().unwrap(),
            d.data_root
                .join("volumes")
                .join(name)
                .join("_data")
                .display()
                .to_string()
        );
    }
    // ps filters by volume name or mount destination.
    for f in ["volume=keepme", "volume=/declared"] {
        let r = d.berth(["ps", "-aq", "--filter", f]).ok();
        assert_eq!(r.stdout.lines().count(), 1, "{f}: {r:#?}");
    }
    assert!(d
        .berth(["ps", "-aq", "--filter", "volume=other"])
        .ok()
        .stdout
        .is_empty());
    // rm without -v keeps them all; the anonymous ones are dangling now.
    cli(d, &["rm", "a1"]).ok();
    assert_eq!(volume_names(d).len(), 3);
    let dangling = d
        .berth(["volume", "ls", "-q", "--filter", "dangling=true"])
        .ok();
    assert_eq!(dangling.stdout.lines().count(), 3);
    // rm -v removes only the anonymous ones.
    cli(
        d,
        &[
            "create",
            "--name",
            "a2",
            "-v",
            "/anon",
            "-v",
            "keepme:/named",
            "withvol",
            "true",
        ],
    )
    .ok();
    assert_eq!(volume_names(d).len(), 5);
    cli(d, &["rm", "-v", "a2"]).ok();
    assert_eq!(volume_names(d).len(), 3);
    // run --rm removes its anonymous volumes at exit, named ones stay.
    cli(
        d,
        &[
            "run",
            "--rm",
            "-v",
            "/anon",
            "-v",
            "keepme:/named",
            "withvol",
            "sh",
            "-c",
            "echo x > /anon/f; echo y > /named/g",
        ],
    )
    .ok();
    assert!(d.wait_for(10, || volume_names(d).len() == 3));
    assert!(mountpoint(d, "keepme").join("g").exists());
    // prune (no -a) removes the dangling anonymous ones, never named ones.
    let r = d.berth(["volume", "prune", "-f"]).ok();
    assert!(r.stdout.contains("Deleted Volumes:"), "{r:#?}");
    assert_eq!(volume_names(d), vec!["keepme".to_string()]);
}

#[test]
fn anonymous_volumes_removed_by_rm_v_and_run_rm_berth() {
    let d = daemon();
    anonymous_volumes(&d, &|d, a| d.berth(a));
}

#[test]
fn anonymous_volumes_removed_by_rm_v_and_run_rm_docker() {
    let d = daemon();
    if docker_cli().is_none() {
        return;
    }
    anonymous_volumes(&d, &|d, a| docker(d, a).expect("docker"));
}

// ---------------------------------------------------------------------------------------
// tmpfs
// ---------------------------------------------------------------------------------------

fn tmpfs_mounts(d: &Daemon, cli: &dyn Fn(&Daemon, &[&str]) -> Run) {
    let r = cli(
        d,
        &[
            "run",
            "--rm",
            "--tmpfs",
            "/t:size=1m,mode=1770",
            "--mount",
            "type=tmpfs,destination=/m,tmpfs-size=2m,tmpfs-mode=0700",
            "busybox",
            "sh",
            "-c",
            "stat -c '%a' /t /m; grep -E ' /(t|m) ' /proc/mounts | cut -d' ' -f1-4 | sort",
        ],
    )
    .ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "1770", "{r:#?}");
    assert_eq!(lines[1], "700", "{r:#?}");
    assert!(
        lines[2].starts_with("tmpfs /m tmpfs rw,nosuid,nodev,noexec")
            && lines[2].contains("size=2048k"),
        "{r:#?}"
    );
    assert!(
        lines[3].starts_with("tmpfs /t tmpfs rw,nosuid,nodev,noexec")
            && lines[3].contains("size=1024k"),
        "{r:#?}"
    );
    // The size is enforced.
    let r = cli(
        d,
        &[
            "run",
            "--rm",
            "--tmpfs",
            "/t:size=64k",
            "busybox",
            "sh",
            "-c",
            "dd if=/dev/zero of=/t/big bs=1k count=200 2>&1",
        ],
    );
    assert!(r.stdout.contains("No space left on device"), "{r:#?}");
    // Inspect lists --mount tmpfs but not --tmpfs, as Docker does.
    cli(
        d,
        &[
            "create",
            "--name",
            "tm",
            "--tmpfs",
            "/t",
            "--mount",
            "type=tmpfs,dst=/m",
            "busybox",
            "true",
        ],
    )
    .ok();
    let r = d
        .berth(["inspect", "--format", "{{json .Mounts}}", "tm"])
        .ok();
    let m: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(
        m,
        serde_json::json!([{"Type":"tmpfs","Source":"","Destination":"/m","Mode":"","RW":true,"Propagation":""}])
    );
    cli(d, &["rm", "tm"]).ok();
}

#[test]
fn tmpfs_flag_and_mount_berth() {
    let d = daemon();
    tmpfs_mounts(&d, &|d, a| d.berth(a));
}

#[test]
fn tmpfs_flag_and_mount_docker() {
    let d = daemon();
    if docker_cli().is_none() {
        return;
    }
    tmpfs_mounts(&d, &|d, a| docker(d, a).expect("docker"));
}

// ---------------------------------------------------------------------------------------
// --volumes-from
// ---------------------------------------------------------------------------------------

fn volumes_from(d: &Daemon, cli: &dyn Fn(&Daemon, &[&str]) -> Run) {
    let host = d.root.join("shared-host");
    fs::create_dir_all(&host).unwrap();
    let bind = format!("{}:/hostdir", host.display());
    cli(
        d,
        &[
            "create",
            "--name",
            "store",
            "-v",
            "/data",
            "-v",
            "conf:/conf",
            "-v",
            &bind,
            "busybox",
            "true",
        ],
    )
    .ok();
    cli(
        d,
        &[
            "run",
            "--rm",
            "--volumes-from",
            "store",
            "busybox",
            "sh",
            "-c",
            "echo one > /data/f; echo two > /conf/g; echo three > /hostdir/h",
        ],
    )
    .ok();
    assert_eq!(fs::read_to_string(host.join("h")).unwrap(), "three\n");
    let r = cli(
        d,
        &[
            "run",
            "--rm",
            "--volumes-from",
            "store:ro",
            "busybox",
            "sh",
            "-c",
            "cat /data/f /conf/g /hostdir/h; echo x > /data/f",
        ],
    );
    assert_eq!(r.stdout, "one\ntwo\nthree\n", "{r:#?}");
    assert!(r.stderr.contains("Read-only file system"), "{r:#?}");
    // A second generation: volumes-from a container that got them by volumes-from.
    cli(
        d,
        &[
            "create",
            "--name",
            "gen2",
            "--volumes-from",
            "store",
            "busybox",
            "true",
        ],
    )
    .ok();
    let r = cli(
        d,
        &[
            "run",
            "--rm",
            "--volumes-from",
            "gen2",
            "busybox",
            "cat",
            "/data/f",
        ],
    )
    .ok();
    assert_eq!(r.stdout, "one\n");
    // Removing the data container with -v does not remove a volume gen2 still uses.
    cli(d, &["rm", "-v", "store"]).ok();
    let r = cli(
        d,
        &[
            "run",
            "--rm",
            "--volumes-from",
            "gen2",
            "busybox",
            "cat",
            "/data/f",
        ],
    )
    .ok();
    assert_eq!(r.stdout, "one\n");
    let r = cli(
        d,
        &["run", "--rm", "--volumes-from", "nosuch", "busybox", "true"],
    );
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("No such container: nosuch"), "{r:#?}");
    cli(d, &["rm", "gen2"]).ok();
}

#[test]
fn volumes_from_shares_and_ro_berth() {
    let d = daemon();
    volumes_from(&d, &|d, a| d.berth(a));
}

#[test]
fn volumes_from_shares_and_ro_docker() {
    let d = daemon();
    if docker_cli().is_none() {
        return;
    }
    volumes_from(&d, &|d, a| docker(d, a).expect("docker"));
}

// ---------------------------------------------------------------------------------------
// volume commands
// ---------------------------------------------------------------------------------------

fn volume_commands(d: &Daemon, cli: &dyn Fn(&Daemon, &[&str]) -> Run) {
    let r = cli(d, &["volume", "create", "--label", "tier=db", "dbvol"]).ok();
    assert_eq!(r.stdout, "dbvol\n");
    // create is idempotent
    cli(d, &["volume", "create", "dbvol"]).ok();
    cli(d, &["volume", "create", "--name", "cache", "-d", "local"]).ok();
    let anon = cli(d, &["volume", "create"]).ok().stdout.trim().to_string();
    assert!(is_anonymous_name(&anon), "{anon}");
    let r = cli(
        d,
        &[
            "volume",
            "create",
            "-o",
            "type=tmpfs",
            "-o",
            "device=tmpfs",
            "-o",
            "o=size=1m",
            "memvol",
        ],
    )
    .ok();
    assert_eq!(r.stdout, "memvol\n");

    let r = cli(d, &["volume", "ls"]).ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["DRIVER", "VOLUME", "NAME"]
    );
    assert_eq!(lines.len(), 5, "{r:#?}");
    assert!(lines
        .iter()
        .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["local", "dbvol"]));
    let q = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["volume", "ls", "-q"];
        a.extend_from_slice(args);
        let mut v: Vec<String> = cli(d, &a).ok().stdout.lines().map(String::from).collect();
        v.sort();
        v
    };
    assert_eq!(q(&["--filter", "label=tier=db"]), ["dbvol"]);
    assert_eq!(q(&["--filter", "label=tier"]), ["dbvol"]);
    assert_eq!(q(&["--filter", "name=cach"]), ["cache"]);
    assert_eq!(q(&["--filter", "dangling=true"]).len(), 4);
    cli(
        d,
        &[
            "create",
            "--name",
            "user",
            "-v",
            "dbvol:/db",
            "busybox",
            "true",
        ],
    )
    .ok();
    assert_eq!(q(&["--filter", "dangling=false"]), ["dbvol"]);
    let r = cli(
        d,
        &[
            "volume",
            "ls",
            "--format",
            "{{.Name}}:{{.Driver}}:{{.Labels}}",
            "--filter",
            "name=dbvol",
        ],
    )
    .ok();
    assert_eq!(r.stdout, "dbvol:local:tier=db\n");

    // inspect
    let r = cli(d, &["volume", "inspect", "dbvol"]).ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let v = &v[0];
    assert_eq!(v["Name"], "dbvol");
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    assert_eq!(v["Labels"], serde_json::json!({"tier": "db"}));
    assert_eq!(
        v["Mountpoint"].as_str().unwrap(),
        d.data_root
            .join("volumes/dbvol/_data")
            .display()
            .to_string()
    );
    assert!(
        v["CreatedAt"].as_str().unwrap().ends_with('Z')
            || v["CreatedAt"].as_str().unwrap().contains('+')
    );
    let r = cli(d, &["volume", "inspect", "nosuch"]);
    assert_eq!(r.status, 1);
    assert!(r.stderr.contains("no such volume"), "{r:#?}");

    // The option volume is a tmpfs while a container uses it.
    let r = cli(
        d,
        &[
            "run",
            "--rm",
            "-v",
            "memvol:/mem",
            "busybox",
            "sh",
            "-c",
            "grep ' /mem ' /proc/mounts | cut -d' ' -f1,3",
        ],
    )
    .ok();
    assert_eq!(r.stdout, "tmpfs tmpfs\n");

    // rm: refused in use (even with -f), missing ok with -f.
    let r = cli(d, &["volume", "rm", "dbvol"]);
    assert_eq!(r.status, 1, "{r:#?}");
    assert!(
        r.stderr.contains("remove dbvol: volume is in use - ["),
        "{r:#?}"
    );
    let r = cli(d, &["volume", "rm", "-f", "dbvol"]);
    assert_ne!(r.status, 0, "{r:#?}");
    cli(d, &["volume", "rm", "-f", "never-existed"]).ok();
    let r = cli(d, &["volume", "rm", "never-existed"]);
    assert_eq!(r.status, 1);
    cli(d, &["rm", "user"]).ok();
    let r = cli(d, &["volume", "rm", "dbvol"]).ok();
    assert_eq!(r.stdout, "dbvol\n");

    // prune: anonymous only by default, -a for named, filters.
    let r = cli(d, &["volume", "prune", "-f"]).ok();
    assert!(r.stdout.contains(&anon), "{r:#?}");
    assert_eq!(q(&[]), ["cache", "memvol"]);
    cli(d, &["volume", "create", "--label", "keep=1", "kept"]).ok();
    let r = cli(
        d,
        &["volume", "prune", "-a", "-f", "--filter", "label!=keep"],
    )
    .ok();
    assert!(r.stdout.contains("cache"), "{r:#?}");
    assert!(r.stdout.contains("Total reclaimed space:"), "{r:#?}");
    // Volumes with driver options are never pruned.
    assert_eq!(q(&[]), ["kept", "memvol"]);
    cli(d, &["volume", "rm", "kept", "memvol"]).ok();
    assert!(q(&[]).is_empty());
}

#[test]
fn volume_commands_berth() {
    let d = daemon();
    volume_commands(&d, &|d, a| d.berth(a));
}

#[test]
fn volume_commands_docker() {
    let d = daemon();
    if docker_cli().is_none() {
        return;
    }
    volume_commands(&d, &|d, a| docker(d, a).expect("docker"));
}

#[test]
fn volume_api_shapes_and_errors() {
    let d = daemon();
    let body = r#"{"Name":"apivol","Labels":{"a":"b"}}"#;
    let r = d
        .raw(&format!(
            "POST /v1.45/volumes/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ))
        .unwrap();
    assert!(r.starts_with("HTTP/1.1 201"), "{r}");
    let r = d
        .raw("GET /v1.45/volumes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert!(
        r.contains("\"Volumes\":[{") && r.contains("\"Warnings\":[]"),
        "{r}"
    );
    let r = d
        .raw("GET /v1.45/volumes/nosuch HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    assert!(r.contains("get nosuch: no such volume"), "{r}");
    let r = d
        .raw("POST /v1.45/volumes/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 13\r\nConnection: close\r\n\r\n{\"Name\":\"a\"}\n")
        .unwrap();
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    let r = d
        .raw("POST /v1.45/volumes/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 32\r\nConnection: close\r\n\r\n{\"Name\":\"x1\",\"Driver\":\"nfsplug\"}")
        .unwrap();
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    assert!(!d.data_root.join("volumes/x1").exists());
    // An old client's prune removes named unused volumes too (before API 1.42).
    let r = d
        .raw("POST /v1.41/volumes/prune HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(r.contains("\"VolumesDeleted\":[\"apivol\"]"), "{r}");
    let r = d
        .raw("DELETE /v1.45/volumes/apivol HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    let r = d
        .raw(
            "DELETE /v1.45/volumes/apivol?force=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    assert!(r.starts_with("HTTP/1.1 204"), "{r}");
}

// ---------------------------------------------------------------------------------------
// Safety
// ---------------------------------------------------------------------------------------

/// Mount points of this (host) mount namespace.
fn host_mount_points() -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .collect()
}

#[test]
fn symlink_escape_attempts_are_refused() {
    let d = daemon();
    import_image(
        &d,
        "evil",
        &[
            Entry::Link("data", "/etc"),
            Entry::Link("up", "../../../../../../etc"),
            Entry::Dir("nest", 0o755, 0, 0),
            Entry::Link("nest/deep", "../../../etc/berth-escape"),
        ],
        &[],
    );
    let marker = format!("berth-escape-{}", rand_hex(8));
    let host_etc_before: Vec<String> = fs::read_dir("/etc")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let mounts_before = host_mount_points();
    // A volume on /data lands in the container's /etc (the image's), never the host's.
    let script = format!("echo x > /data/{marker}; ls /etc/{marker}");
    let r = d
        .berth([
            "run",
            "--rm",
            "-v",
            "evilvol:/data",
            "evil",
            "sh",
            "-c",
            &script,
        ])
        .ok();
    assert!(r.stdout.contains(&format!("/etc/{marker}")), "{r:#?}");
    // Copy-up through /data -> /etc copied the image's /etc, not the host's.
    let mp = mountpoint(&d, "evilvol");
    let image_passwd = d
        .berth(["run", "--rm", "busybox", "cat", "/etc/passwd"])
        .ok()
        .stdout;
    assert_eq!(fs::read_to_string(mp.join("passwd")).unwrap(), image_passwd);
    // tmpfs, bind and anonymous volumes on planted links: the same.
    let host = d.root.join("bindsrc");
    fs::create_dir_all(&host).unwrap();
    let bind = format!("{}:/up/sub", host.display());
    d.berth([
        "run",
        "--rm",
        "--tmpfs",
        "/data",
        "-v",
        &bind,
        "-v",
        "/nest/deep",
        "evil",
        "sh",
        "-c",
        "touch /data/t /up/sub/b /nest/deep/c",
    ])
    .ok();
    assert!(host.join("b").exists());
    assert!(!Path::new("/etc/berth-escape").exists());
    assert!(!Path::new("/etc/sub").exists());
    assert!(!Path::new(&format!("/etc/{marker}")).exists());
    let host_etc_after: Vec<String> = fs::read_dir("/etc")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(host_etc_before.len(), host_etc_after.len());
    let new_mounts: Vec<String> = host_mount_points()
        .into_iter()
        .filter(|m| !mounts_before.contains(m))
        .collect();
    assert!(
        new_mounts.iter().all(|m| !m.starts_with("/etc")),
        "{new_mounts:?}"
    );
    // A volume name cannot be a path that escapes the volumes dir.
    let r = d.berth(["volume", "create", "../../escape"]);
    assert_ne!(r.status, 0);
    assert!(!d.data_root.join("escape").exists());
}

// ---------------------------------------------------------------------------------------
// A database-like workload
// ---------------------------------------------------------------------------------------

#[test]
fn append_loop_across_restarts_loses_no_line() {
    let mut d = daemon();
    // Each run continues after the last line on the volume; TERM ends it between writes.
    let script = "i=$(tail -n1 /db/log 2>/dev/null || echo 0); trap 'exit 0' TERM; \
                  while true; do i=$((i+1)); echo $i >> /db/log; sleep 0.005; done";
    d.berth([
        "run",
        "-d",
        "--name",
        "writer",
        "-v",
        "journal:/db",
        "busybox",
        "sh",
        "-c",
        script,
    ])
    .ok();
    let log = d.data_root.join("volumes/journal/_data/log");
    let lines = |n: usize| {
        let log = log.clone();
        move || {
            fs::read_to_string(&log)
                .map(|s| s.lines().count() >= n)
                .unwrap_or(false)
        }
    };
    assert!(d.wait_for(20, lines(20)));
    d.berth(["restart", "-t", "2", "writer"]).ok();
    assert!(d.wait_for(20, lines(60)));
    d.berth(["stop", "-t", "2", "writer"]).ok();
    d.berth(["start", "writer"]).ok();
    assert!(d.wait_for(20, lines(100)));
    d.kill9();
    d.restart();
    assert!(d.wait_for(20, lines(140)));
    if let Some(r) = docker(&d, &["restart", "-t", "2", "writer"]) {
        r.ok();
        assert!(d.wait_for(20, lines(180)));
    }
    d.berth(["kill", "writer"]).ok();
    d.berth(["start", "writer"]).ok();
    assert!(d.wait_for(20, lines(220)));
    d.berth(["stop", "-t", "2", "writer"]).ok();
    let text = fs::read_to_string(&log).unwrap();
    let nums: Vec<u64> = text
        .lines()
        .map(|l| l.parse().unwrap_or_else(|_| panic!("torn line {l:?}")))
        .collect();
    for (i, n) in nums.iter().enumerate() {
        assert_eq!(*n, i as u64 + 1, "line {} of {}", i + 1, nums.len());
    }
    figure("appended lines across restarts", nums.len());
}

// ---------------------------------------------------------------------------------------
// system df / prune / events
// ---------------------------------------------------------------------------------------

#[test]
fn system_df_counts_volume_sizes() {
    let d = daemon();
    d.berth([
        "run",
        "--rm",
        "-v",
        "big:/b",
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/b/blob",
        "bs=1000",
        "count=150",
    ])
    .ok();
    d.berth(["volume", "create", "small"]).ok();
    let r = d.berth(["system", "df", "-v"]).ok();
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("big "))
        .unwrap_or_else(|| panic!("{r:#?}"));
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>(),
        ["big", "0", "150kB"]
    );
    let r = d.berth(["system", "df"]).ok();
    let line = r
        .stdout
        .lines()
        .find(|l| l.starts_with("Local Volumes"))
        .unwrap();
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&cols[2..5], ["2", "0", "150kB"], "{line}");
    if let Some(r) = docker(&d, &["system", "df", "-v"]) {
        let r = r.ok();
        assert!(
            r.stdout
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["big", "0", "150kB"]),
            "{r:#?}"
        );
    }
    // system prune --volumes removes unused anonymous volumes only (API >= 1.42).
    d.berth(["create", "-v", "/anon", "busybox", "true"]).ok();
    let id = d.berth(["ps", "-aq"]).ok().stdout.trim().to_string();
    d.berth(["rm", &id]).ok();
    assert_eq!(volume_names(&d).len(), 3);
    d.berth(["system", "prune", "-f", "--volumes"]).ok();
    let mut left = volume_names(&d);
    left.sort();
    assert_eq!(left, ["big", "small"]);
}

#[test]
fn volume_events_are_published() {
    let d = daemon();
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    d.berth(["run", "--rm", "-v", "ev:/e", "busybox", "true"])
        .ok();
    assert!(d.wait_for(10, || d.berth(["ps", "-aq"]).stdout.trim().is_empty()));
    d.berth(["volume", "rm", "ev"]).ok();
    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    let r = d
        .berth([
            "events",
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "type=volume",
            "--format",
            "{{.Action}} {{.Actor.ID}}",
        ])
        .ok();
    let got: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        got,
        ["create ev", "mount ev", "unmount ev", "destroy ev"],
        "{r:#?}"
    );
}

// ---------------------------------------------------------------------------------------
// The Docker notes' exercises
// ---------------------------------------------------------------------------------------

#[test]
fn notes_volume_exercises() {
    let d = daemon();
    let r = d.sh(
        "echo '<p>notes</p>' > index.html\n\
         docker run --rm -v \"$(pwd)\"/index.html:/usr/local/apache2/htdocs/index.html:ro busybox cat /usr/local/apache2/htdocs/index.html\n\
         docker run --rm -v \"$(pwd)\"/shared:/shared busybox sh -c 'echo from-ctr > /shared/x'\n\
         cat shared/x\n\
         docker run -d --name volume_container -v /data busybox sh -c 'echo vc > /data/f; sleep 600' >/dev/null\n\
         sleep 0.5\n\
         docker run --rm --volumes-from volume_container busybox cat /data/f\n\
         docker volume create myvolume\n\
         docker volume ls --format '{{.Driver}} {{.Name}}' | grep myvolume\n\
         docker run --rm -v myvolume:/root/ busybox sh -c 'echo hello >> /root/volume'\n\
         docker run --rm -v myvolume:/root/ busybox cat /root/volume\n\
         docker inspect --type volume myvolume --format '{{.Driver}} {{.Name}}'\n\
         docker volume inspect myvolume --format '{{.Scope}}'\n\
         docker run --rm --mount type=volume,source=myvolume,target=/root busybox cat /root/volume\n\
         docker rm -f volume_container >/dev/null\n\
         docker volume prune -f >/dev/null\n\
         docker volume ls -q\n",
        true,
    );
    assert_eq!(
        r.stdout,
        "<p>notes</p>\nfrom-ctr\nvc\nmyvolume\nlocal myvolume\nhello\nlocal myvolume\nlocal\nhello\nmyvolume\n",
        "{r:#?}"
    );
}

/// Removes directories a test's `-v` created on the host (Docker creates missing bind
/// sources; the notes' cAdvisor commands name host paths that may not exist here).
struct HostDirGuard(Vec<PathBuf>);

impl HostDirGuard {
    fn new(paths: &[&str]) -> HostDirGuard {
        HostDirGuard(
            paths
                .iter()
                .map(PathBuf::from)
                .filter(|p| !p.exists())
                .collect(),
        )
    }
}

impl Drop for HostDirGuard {
    fn drop(&mut self) {
        for p in &self.0 {
            // Only what is still an empty directory: nothing else can be ours.
            let _ = fs::remove_dir(p);
        }
    }
}

#[test]
fn notes_cadvisor_host_mounts() {
    let d = daemon();
    let _guard = HostDirGuard::new(&["/var/lib/docker", "/dev/disk"]);
    // A cAdvisor stand-in: reads the host through its mounts and keeps running.
    d.berth([
        "import".as_ref(),
        "--change".as_ref(),
        r#"CMD ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]"#.as_ref(),
        d.busybox_tar().as_os_str(),
        "gcr.io/cadvisor/cadvisor:latest".as_ref(),
    ])
    .ok();
    let r = d.sh(
        "docker run \\\n\
         --volume=/:/rootfs:ro \\\n\
         --volume=/var/run:/var/run:rw \\\n\
         --volume=/sys/fs/cgroup:/sys/fs/cgroup:ro \\\n\
         --volume=/var/lib/docker/:/var/lib/docker:ro \\\n\
         --volume=/dev/disk/:/dev/disk:ro \\\n\
         --detach=true \\\n\
         --name=cadvisor \\\n\
         --privileged \\\n\
         --device=/dev/kmsg \\\n\
         gcr.io/cadvisor/cadvisor:latest >/dev/null\n\
         docker exec cadvisor cat /rootfs/etc/hostname\n\
         docker exec cadvisor sh -c 'touch /rootfs/berth-probe 2>/dev/null && echo writable || echo read-only'\n\
         docker exec cadvisor sh -c 'test -d /var/lib/docker && test -d /dev/disk && echo dirs'\n\
         docker exec cadvisor sh -c 'ls /sys/fs/cgroup | grep -c . >/dev/null && echo cgroups'\n\
         docker inspect cadvisor --format '{{range .Mounts}}{{.Destination}}={{.RW}} {{end}}'\n\
         docker rm -f cadvisor >/dev/null\n",
        true,
    );
    let host = fs::read_to_string("/etc/hostname").unwrap_or_default();
    assert_eq!(
        r.stdout,
        format!(
            "{host}read-only\ndirs\ncgroups\n/rootfs=false /dev/disk=false /var/run=true /sys/fs/cgroup=false /var/lib/docker=false \n"
        ),
        "{r:#?}"
    );
    assert!(!Path::new("/berth-probe").exists());
}

fn host_mounted(p: &Path) -> bool {
    host_mount_points().contains(&p.display().to_string())
}

#[test]
fn option_volumes_mount_at_use_and_survive_daemon_restart() {
    let mut d = daemon();
    d.berth([
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=2m",
        "scratch",
    ])
    .ok();
    let src = d.root.join("bind-device");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("from-host"), "h\n").unwrap();
    let dev = format!("device={}", src.display());
    d.berth([
        "volume",
        "create",
        "-o",
        "type=none",
        "-o",
        &dev,
        "-o",
        "o=bind",
        "hostbound",
    ])
    .ok();
    let scratch = mountpoint(&d, "scratch");
    assert!(!host_mounted(&scratch), "mounted only while used");
    d.berth([
        "run", "-d", "--name", "user", "-v", "scratch:/s", "-v", "hostbound:/h", "busybox",
        "sh", "-c",
        "echo kept > /s/f; cat /h/from-host > /s/copy; trap 'exit 0' TERM; while true; do sleep 0.1; done",
    ])
    .ok();
    assert!(d.wait_for(10, || scratch.join("copy").exists()));
    assert!(host_mounted(&scratch));
    // A second user shares the same tmpfs.
    let r = d
        .berth(["run", "--rm", "-v", "scratch:/s", "busybox", "cat", "/s/f"])
        .ok();
    assert_eq!(r.stdout, "kept\n");
    assert!(host_mounted(&scratch), "still used by the first container");
    d.kill9();
    d.restart();
    assert!(host_mounted(&scratch), "a running user keeps it mounted");
    let r = d.berth(["exec", "user", "cat", "/s/f", "/s/copy"]).ok();
    assert_eq!(r.stdout, "kept\nh\n");
    d.berth(["stop", "-t", "2", "user"]).ok();
    assert!(!host_mounted(&scratch), "unmounted after its last user");
    assert!(!host_mounted(&mountpoint(&d, "hostbound")));
    assert_eq!(fs::read_to_string(src.join("from-host")).unwrap(), "h\n");
    d.berth(["rm", "user"]).ok();
    d.berth(["volume", "rm", "scratch", "hostbound"]).ok();
    // Removing a bind-device volume never deletes the device's content.
    assert!(src.join("from-host").exists());
}

#[test]
fn readonly_volumes_names_and_recreated_bind_dirs() {
    let d = daemon();
    d.berth([
        "run",
        "--rm",
        "-v",
        "rov:/d",
        "busybox",
        "sh",
        "-c",
        "echo v > /d/f",
    ])
    .ok();
    for flag in [
        vec!["-v", "rov:/d:ro"],
        vec!["--mount", "type=volume,src=rov,dst=/d,readonly"],
    ] {
        let mut args = vec!["run", "--rm"];
        args.extend(flag);
        args.extend(["busybox", "sh", "-c", "cat /d/f; echo x > /d/f"]);
        let r = d.berth(&args);
        assert_eq!(r.stdout, "v\n", "{r:#?}");
        assert!(r.stderr.contains("Read-only file system"), "{r:#?}");
    }
    let r = d.berth([
        "inspect",
        "--format",
        "{{json .Mounts}}",
        "--type",
        "container",
        "nosuch",
    ]);
    assert_ne!(r.status, 0);
    // Docker's rule for volume names, before anything exists.
    let r = d.berth(["run", "--rm", "-v", "bad name:/x", "busybox", "true"]);
    assert_eq!(r.status, 125, "{r:#?}");
    assert!(
        r.stderr
            .contains("includes invalid characters for a local volume name"),
        "{r:#?}"
    );
    let r = d.berth(["volume", "create", "x"]);
    assert!(r.stderr.contains("volume name is too short"), "{r:#?}");
    // A -v host dir deleted between runs is made again at start, as Docker does.
    let host = d.root.join("recreated");
    let spec = format!("{}:/h", host.display());
    d.berth([
        "create", "--name", "again", "-v", &spec, "busybox", "ls", "/h",
    ])
    .ok();
    fs::remove_dir(&host).unwrap();
    d.berth(["start", "-a", "again"]).ok();
    assert!(host.is_dir());
    d.berth(["rm", "again"]).ok();
    d.berth(["volume", "rm", "rov"]).ok();
}
