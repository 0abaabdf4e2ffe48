//! The foundation's command list, flag by flag, with `berth` and the `docker` CLI giving
//! the same answers.

use berth_e2e::*;

fn daemon() -> Daemon {
    assert!(is_root(), "end-to-end tests need root");
    let d = Daemon::start();
    d.import_busybox("busybox");
    d
}

/// Run the same arguments through both CLIs; both must agree on stdout and exit code.
fn both(d: &Daemon, args: &[&str]) -> Run {
    let b = d.berth(args);
    if let Some(k) = d.docker(args) {
        assert_eq!(
            (b.status, &b.stdout),
            (k.status, &k.stdout),
            "berth vs docker for {args:?}:\n{b:#?}\n{k:#?}"
        );
    }
    b
}

#[test]
fn run_flags_env_workdir_user_entrypoint_init() {
    let d = daemon();
    let envfile = d.root.join("env.list");
    std::fs::write(&envfile, "# comment\nFROM_FILE=yes\nEMPTY=\n").unwrap();
    let r = both(
        &d,
        &[
            "run",
            "--rm",
            "-e",
            "A=1",
            "--env-file",
            envfile.to_str().unwrap(),
            "-w",
            "/tmp/work",
            "-h",
            "box",
            "busybox",
            "sh",
            "-c",
            "echo $A $FROM_FILE $HOSTNAME $(pwd) $PATH",
        ],
    );
    assert_eq!(
        r.stdout,
        "1 yes box /tmp/work /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
    );
    assert_eq!(
        both(&d, &["run", "--rm", "-u", "nobody", "busybox", "id"]).stdout,
        "uid=65534(nobody) gid=65534(nogroup)\n"
    );
    assert_eq!(
        both(&d, &["run", "--rm", "-u", "1000:33", "busybox", "id", "-u"]).stdout,
        "1000\n"
    );
    let unknown = d.berth(["run", "--rm", "-u", "ghost", "busybox", "id"]);
    // Docker's CLI maps this start error to 125 (only "not found" and EACCES map to 127/126).
    assert_eq!(unknown.status, 125, "{unknown:#?}");
    assert!(
        unknown.stderr.contains("unable to find user ghost"),
        "{unknown:#?}"
    );
    assert_eq!(
        both(
            &d,
            &[
                "run",
                "--rm",
                "--entrypoint",
                "echo",
                "busybox",
                "hello",
                "world"
            ]
        )
        .stdout,
        "hello world\n"
    );
    // --init: PID 1 is the init, the command is its child, and nothing of the host
    // (shim path, data root) shows through /proc/1.
    let init = d
        .berth([
            "run",
            "--rm",
            "--init",
            "busybox",
            "sh",
            "-c",
            "echo $$; cat /proc/1/cmdline; echo; cat /proc/1/comm",
        ])
        .ok();
    let lines: Vec<&str> = init.stdout.lines().collect();
    assert_ne!(lines[0], "1", "{init:#?}");
    assert_eq!(lines[1].trim_end_matches('\0'), "berth-init", "{init:#?}");
    assert_eq!(lines[2], "berth-init", "{init:#?}");
    // -t sets TERM; without it there is none.
    assert_eq!(
        d.berth(["run", "--rm", "busybox", "sh", "-c", "echo ${TERM:-none}"])
            .ok()
            .stdout,
        "none\n"
    );
}

#[test]
fn security_options_caps_seccomp_nnp_ulimit() {
    let d = daemon();
    let capeff = |extra: &[&str]| {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["busybox", "grep", "CapEff", "/proc/self/status"]);
        d.berth(&a).ok().stdout
    };
    assert_eq!(capeff(&[]), "CapEff:\t00000000a80425fb\n");
    // Dropping CHOWN (bit 0) and adding NET_ADMIN (bit 12).
    assert_eq!(
        capeff(&["--cap-drop", "CHOWN", "--cap-add", "NET_ADMIN"]),
        "CapEff:\t00000000a80435fa\n"
    );
    assert_eq!(
        capeff(&["--cap-drop", "ALL"]),
        "CapEff:\t0000000000000000\n"
    );
    let unconfined = d
        .berth([
            "run",
            "--rm",
            "--security-opt",
            "seccomp=unconfined",
            "busybox",
            "grep",
            "^Seccomp:",
            "/proc/self/status",
        ])
        .ok();
    assert_eq!(unconfined.stdout, "Seccomp:\t0\n");
    let nnp = d
        .berth([
            "run",
            "--rm",
            "--security-opt",
            "no-new-privileges",
            "busybox",
            "grep",
            "NoNewPrivs",
            "/proc/self/status",
        ])
        .ok();
    assert_eq!(nnp.stdout, "NoNewPrivs:\t1\n");
    let ul = d
        .berth([
            "run",
            "--rm",
            "--ulimit",
            "nofile=512:1024",
            "busybox",
            "sh",
            "-c",
            "ulimit -n; ulimit -Hn",
        ])
        .ok();
    assert_eq!(ul.stdout, "512\n1024\n");
    let bad = d.berth([
        "run",
        "--rm",
        "--security-opt",
        "seccomp=/no/such/profile.json",
        "busybox",
        "true",
    ]);
    assert_eq!(bad.status, 125, "{bad:#?}");
}

#[test]
fn ps_filters_and_formats() {
    let d = daemon();
    d.berth([
        "run", "-d", "--name", "alpha", "-l", "tier=web", "busybox", "sleep", "1000",
    ])
    .ok();
    d.berth([
        "run", "--name", "beta", "-e", "X=1", "-e", "Y=2", "busybox", "sh", "-c", "exit 2",
    ]);
    d.berth(["create", "--name", "gamma", "busybox", "true"])
        .ok();
    assert_eq!(
        both(&d, &["ps", "--format", "{{.Names}}"]).stdout,
        "alpha\n"
    );
    assert_eq!(
        both(
            &d,
            &[
                "ps",
                "-a",
                "--filter",
                "status=exited",
                "--format",
                "{{.Names}} {{.Status}}"
            ]
        )
        .stdout
        .split(" (")
        .next()
        .unwrap(),
        "beta Exited"
    );
    assert_eq!(
        both(
            &d,
            &["ps", "-a", "-f", "exited=2", "--format", "{{.Names}}"]
        )
        .stdout,
        "beta\n"
    );
    assert_eq!(
        both(
            &d,
            &[
                "ps",
                "-a",
                "-f",
                "status=created",
                "--format",
                "{{.Names}} {{.Status}}"
            ]
        )
        .stdout,
        "gamma Created\n"
    );
    assert_eq!(
        both(
            &d,
            &[
                "ps",
                "-f",
                "label=tier=web",
                "--format",
                "{{.Names}} {{.Label \"tier\"}}"
            ]
        )
        .stdout,
        "alpha web\n"
    );
    assert_eq!(
        both(&d, &["ps", "-a", "-f", "name=alp", "-q"])
            .stdout
            .trim()
            .len(),
        12
    );
    assert_eq!(
        both(&d, &["ps", "-a", "--no-trunc", "-q", "-f", "name=alpha"])
            .stdout
            .trim()
            .len(),
        64
    );
    assert_eq!(
        both(&d, &["ps", "-a", "-f", "ancestor=busybox", "-q"])
            .stdout
            .lines()
            .count(),
        3
    );
    assert_eq!(
        both(&d, &["ps", "-l", "--format", "{{.Names}}"]).stdout,
        "gamma\n"
    );
    assert_eq!(
        both(&d, &["ps", "-a", "-n", "2", "--format", "{{.Names}}"]).stdout,
        "gamma\nbeta\n"
    );
    let table = both(
        &d,
        &["ps", "--format", "table {{.ID}}\t{{.Status}}\t{{.Image}}"],
    )
    .stdout;
    assert!(table.starts_with("CONTAINER ID   STATUS"), "{table}");
    let json = both(&d, &["ps", "--format", "{{json .Names}}"]).stdout;
    assert_eq!(json, "\"alpha\"\n");
    let inspect = both(&d, &["inspect", "-f", "{{.Name}} {{.State.ExitCode}} {{json .Config.Cmd}} {{upper .State.Status}} {{join .Config.Cmd \",\"}} {{index .Config.Labels \"tier\"}}", "alpha"]);
    assert_eq!(
        inspect.stdout,
        "/alpha 0 [\"sleep\",\"1000\"] RUNNING sleep,1000 web\n"
    );
    let ranged = both(
        &d,
        &[
            "inspect",
            "-f",
            "{{range .Config.Env}}{{if eq . \"X=1\"}}x{{else if eq . \"Y=2\"}}y{{end}}{{end}}",
            "beta",
        ],
    );
    assert_eq!(ranged.stdout, "xy\n");
    // inspect of several objects is a JSON array in Docker's shape.
    let arr: serde_json::Value =
        serde_json::from_str(&both(&d, &["inspect", "alpha", "beta"]).stdout).unwrap();
    assert_eq!(arr.as_array().unwrap().len(), 2);
    assert_eq!(arr[1]["State"]["ExitCode"], 2);
}

#[test]
fn logs_since_until_follow_and_details() {
    let d = daemon();
    d.berth([
        "run",
        "-d",
        "--name",
        "lg",
        "busybox",
        "sh",
        "-c",
        "echo early; sleep 3; echo late; sleep 1000",
    ])
    .ok();
    assert!(d.wait_for(10, || d.berth(["logs", "lg"]).stdout.contains("late")));
    // Cut between the two lines at their real timestamps, so load cannot move the
    // boundary: unix seconds (what the docker CLI sends) and RFC 3339 both work.
    let stamped = d.berth(["logs", "-t", "lg"]).ok().stdout;
    let secs: Vec<f64> = stamped
        .lines()
        .map(|l| {
            let ts = l.split(' ').next().unwrap();
            let out = std::process::Command::new("date")
                .args(["-u", "-d", ts, "+%s.%N"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        })
        .collect();
    let mid = format!("{:.9}", (secs[0] + secs[1]) / 2.0);
    assert_eq!(both(&d, &["logs", "--since", &mid, "lg"]).stdout, "late\n");
    assert_eq!(both(&d, &["logs", "--until", &mid, "lg"]).stdout, "early\n");
    // Relative forms, far from any boundary.
    assert_eq!(
        both(&d, &["logs", "--since", "1h", "lg"]).stdout,
        "early\nlate\n"
    );
    assert_eq!(both(&d, &["logs", "--until", "1h", "lg"]).stdout, "");
    assert_eq!(
        both(&d, &["logs", "--until", "2000-01-01T00:00:00Z", "lg"]).stdout,
        ""
    );
    assert_eq!(both(&d, &["logs", "-n", "1", "lg"]).stdout, "late\n");
    // -f streams new lines and ends when the container stops.
    let mut f = d.berth_cmd(["logs", "-f", "--tail", "0", "lg"]);
    f.stdout(std::process::Stdio::piped());
    let child = f.spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    d.berth(["exec", "lg", "sh", "-c", "echo from-exec > /proc/1/fd/1"])
        .ok();
    std::thread::sleep(std::time::Duration::from_millis(500));
    d.berth(["stop", "-t", "1", "lg"]).ok();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from-exec\n");
}

#[test]
fn kill_wait_top_update_prune() {
    let d = daemon();
    d.berth([
        "run",
        "-d",
        "--name",
        "kk",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 42' USR1; while true; do sleep 0.1; done",
    ])
    .ok();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let top = d.berth(["top", "kk"]).ok().stdout;
    assert!(
        top.starts_with("UID") && top.contains("PID") && top.contains("CMD"),
        "{top}"
    );
    assert!(top.contains("sh -c trap"), "{top}");
    d.berth(["kill", "-s", "USR1", "kk"]).ok();
    assert_eq!(both(&d, &["wait", "kk"]).stdout, "42\n");
    d.berth(["run", "-d", "--name", "uu", "busybox", "sleep", "1000"])
        .ok();
    d.berth(["update", "--cpus", "1.5", "--pids-limit", "99", "uu"])
        .ok();
    let hc = d
        .berth([
            "inspect",
            "-f",
            "{{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}",
            "uu",
        ])
        .ok();
    assert_eq!(hc.stdout, "1500000000 99\n");
    d.berth(["kill", "uu"]).ok();
    assert_eq!(d.berth(["wait", "uu"]).ok().stdout, "137\n");
    let pr = d.berth(["container", "prune", "-f"]).ok().stdout;
    assert!(
        pr.starts_with("Deleted Containers:") && pr.contains("Total reclaimed space:"),
        "{pr}"
    );
    assert_eq!(d.berth(["ps", "-aq"]).ok().stdout, "");
    // Errors in Docker's words.
    let nosuch = both(&d, &["kill", "nope"]);
    assert_eq!(nosuch.status, 1);
    let ks = d.berth(["stop", "nope"]);
    assert!(ks.stderr.contains("No such container: nope"), "{ks:#?}");
}

#[test]
fn import_changes_images_tag_rmi_version_info() {
    let d = daemon();
    let tar = d.busybox_tar();
    let id = d
        .berth([
            "import",
            "-c",
            "CMD [\"echo\", \"from-cmd\"]",
            "-c",
            "ENV GREETING=hi",
            "-c",
            "WORKDIR /srv",
            "-c",
            "EXPOSE 8080",
            "-c",
            "USER nobody",
            "-c",
            "LABEL team=core",
            "-m",
            "first import",
            tar.to_str().unwrap(),
            "app:1",
        ])
        .ok()
        .stdout;
    assert!(id.trim().starts_with("sha256:"), "{id}");
    assert_eq!(both(&d, &["run", "--rm", "app:1"]).stdout, "from-cmd\n");
    assert_eq!(
        both(
            &d,
            &[
                "run",
                "--rm",
                "app:1",
                "sh",
                "-c",
                "echo $GREETING $(pwd) $(id -u)"
            ]
        )
        .stdout,
        "hi /srv 65534\n"
    );
    let cfg = both(
        &d,
        &[
            "image",
            "inspect",
            "-f",
            "{{json .Config.ExposedPorts}} {{.Config.Labels.team}} {{.Comment}}",
            "app:1",
        ],
    )
    .stdout;
    assert_eq!(cfg, "{\"8080/tcp\":{}} core first import\n");
    d.berth(["tag", "app:1", "app:latest"]).ok();
    let imgs = both(
        &d,
        &["images", "app", "--format", "{{.Repository}}:{{.Tag}}"],
    )
    .stdout;
    assert_eq!(imgs, "app:1\napp:latest\n");
    let header = both(&d, &["images"]).stdout;
    assert!(
        header.starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"),
        "{header}"
    );
    d.berth(["run", "--name", "user", "app:1"]).ok();
    // Untagging one of two tags is fine even in use; the last tag in use is refused.
    let refused = d.berth(["rmi", "app:1", "app:latest"]);
    assert_ne!(refused.status, 0, "{refused:#?}");
    assert_eq!(refused.stdout, "Untagged: app:1\n");
    assert!(
        refused.stderr.contains("conflict: unable to remove repository reference \"app:latest\" (must force) - container"),
        "{refused:#?}"
    );
    d.berth(["rm", "user"]).ok();
    let del = d.berth(["rmi", "app:latest"]).ok().stdout;
    assert!(
        del.starts_with("Untagged: app:latest\nDeleted: sha256:"),
        "{del}"
    );
    let missing = both(&d, &["rmi", "app:nope"]);
    assert_eq!(missing.status, 1);
    let v = d
        .berth([
            "version",
            "--format",
            "{{.Server.APIVersion}} {{.Server.MinAPIVersion}}",
        ])
        .ok()
        .stdout;
    assert_eq!(v, "1.45 1.24\n");
    let info = d
        .berth([
            "info",
            "--format",
            "{{.Driver}} {{.Containers}} {{.Images}}",
        ])
        .ok()
        .stdout;
    assert_eq!(info, "overlay2 0 1\n");
    let bad_ref = d.berth(["tag", "busybox", "Bad:Ref"]);
    assert!(
        bad_ref.stderr.contains("invalid reference format"),
        "{bad_ref:#?}"
    );
}

#[test]
fn random_names_and_short_id_prefixes() {
    let d = daemon();
    let id = d
        .berth(["create", "busybox", "true"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let name = d
        .berth(["inspect", "-f", "{{.Name}}", &id[..5]])
        .ok()
        .stdout;
    let name = name.trim().trim_start_matches('/');
    let (adj, surname) = name.split_once('_').expect("adjective_surname");
    assert!(
        !adj.is_empty()
            && !surname.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit()),
        "{name}"
    );
    d.berth(["start", "-a", &id[..8]]).ok();
    assert_eq!(
        d.berth(["inspect", "-f", "{{.State.Status}}", name])
            .ok()
            .stdout,
        "exited\n"
    );
}

#[test]
fn api_versions_from_1_24_to_1_45() {
    let d = daemon();
    for v in ["1.24", "1.30", "1.41", "1.45"] {
        let r = d
            .raw(&format!(
                "GET /v{v}/containers/json?all=1 HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n"
            ))
            .unwrap();
        assert!(r.starts_with("HTTP/1.1 200"), "{v}: {r}");
    }
    let old = d
        .raw("GET /v1.12/version HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert!(
        old.starts_with("HTTP/1.1 400")
            && old.contains("is too old. Minimum supported API version is 1.24"),
        "{old}"
    );
    let new = d
        .raw("GET /v1.99/version HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert!(
        new.starts_with("HTTP/1.1 400")
            && new.contains("is too new. Maximum supported API version is 1.45"),
        "{new}"
    );
    let ping = d
        .raw("GET /_ping HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert!(
        ping.contains("Api-Version: 1.45") || ping.contains("api-version: 1.45"),
        "{ping}"
    );
    // The socket is 0660.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
}
