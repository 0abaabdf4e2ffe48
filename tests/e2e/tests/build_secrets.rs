//! `berth build --secret` / `--ssh` with `RUN --mount=type=secret|ssh`: the secret
//! reaches the step (file and `env=`), never the image, its history or its config; a
//! required secret that was not sent fails with BuildKit's wording; the host's agent
//! socket is bound into the step with `SSH_AUTH_SOCK`; and after a `kill -9` of the
//! daemon during such a step, the next start sweeps the step's mounts and directories.

use berth_e2e::*;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn daemon() -> Daemon {
    assert!(is_root(), "end-to-end tests need root");
    let d = Daemon::start();
    d.import_busybox("busybox");
    d
}

/// A context directory under the daemon's root (removed with it).
fn context(d: &Daemon, dockerfile: &str) -> PathBuf {
    let dir = d.root.join(format!("ctx-{}", rand_hex(6)));
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    dir
}

fn build(d: &Daemon, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = d.berth_cmd(["build"].iter().chain(args).chain(["."].iter()));
    c.current_dir(dir);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().expect("run berth build");
    Run {
        status: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn sha256_hex(data: &[u8]) -> String {
    let mut c = std::process::Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut c.stdin.take().unwrap(), data).unwrap();
    let o = c.wait_with_output().unwrap();
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Mounts of this daemon's builder directory still in the mount table.
fn builder_mounts(d: &Daemon) -> Vec<String> {
    let prefix = format!("{}/", d.data_root.join("builder").display());
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| p.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}

/// Entries of `<data-root>/builder` named `mnt-*` (the step mounts' work dirs).
fn mount_dirs(d: &Daemon) -> Vec<String> {
    fs::read_dir(d.data_root.join("builder"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("mnt-"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn build_secret_from_file_and_env_reaches_the_step_but_not_the_image() {
    let d = daemon();
    let secret = format!("file-secret-{}", rand_hex(12));
    let env_secret = format!("env-secret-{}", rand_hex(12));
    let marker = format!("layer-marker-{}", rand_hex(8));
    let file = d.root.join(format!("secret-{}", rand_hex(4)));
    fs::write(&file, &secret).unwrap();
    let df = format!(
        "FROM busybox\n\
         RUN --mount=type=secret,id=tok sh -c 'echo \"file-sum=$(sha256sum < /run/secrets/tok | cut -d\" \" -f1)\"; stat -c \"file-mode=%a %u:%g\" /run/secrets/tok; echo {marker} > /marker'\n\
         RUN --mount=type=secret,id=tok,target=/etc/app/token,mode=0440,uid=33,gid=100 stat -c 'custom=%a %u:%g' /etc/app/token\n\
         RUN --mount=type=secret,id=envtok,env=APP_TOKEN sh -c 'echo \"env-sum=$(printf %s \"$APP_TOKEN\" | sha256sum | cut -d\" \" -f1)\"; test ! -e /run/secrets/envtok && echo no-env-file'\n\
         RUN --mount=type=secret,id=absent sh -c 'test ! -e /run/secrets/absent && echo absent-skipped'\n"
    );
    let dir = context(&d, &df);
    let r = build(
        &d,
        &dir,
        &[
            "-t",
            "secrets:1",
            "--secret",
            &format!("id=tok,src={}", file.display()),
            "--secret",
            "id=envtok,env=BERTH_E2E_SECRET_VAR",
        ],
        &[("BERTH_E2E_SECRET_VAR", env_secret.as_str())],
    );
    assert_eq!(r.status, 0, "{r:#?}");
    // Visible in the steps, with BuildKit's defaults and the asked-for owner and mode.
    assert!(
        r.stdout
            .contains(&format!("file-sum={}", sha256_hex(secret.as_bytes()))),
        "{r:#?}"
    );
    assert!(r.stdout.contains("file-mode=400 0:0"), "{r:#?}");
    assert!(r.stdout.contains("custom=440 33:100"), "{r:#?}");
    assert!(
        r.stdout
            .contains(&format!("env-sum={}", sha256_hex(env_secret.as_bytes()))),
        "{r:#?}"
    );
    assert!(r.stdout.contains("no-env-file"), "{r:#?}");
    assert!(r.stdout.contains("absent-skipped"), "{r:#?}");
    // Never in the build output itself.
    assert!(!r.stdout.contains(&secret) && !r.stdout.contains(&env_secret));

    // Not in the image: no file at the targets, nothing in config or history.
    let run = d.berth(["run", "--rm", "secrets:1", "cat", "/run/secrets/tok"]);
    assert_ne!(run.status, 0, "{run:#?}");
    let run = d.berth(["run", "--rm", "secrets:1", "cat", "/etc/app/token"]);
    assert_ne!(run.status, 0, "{run:#?}");
    assert_eq!(
        d.berth(["run", "--rm", "secrets:1", "cat", "/marker"])
            .ok()
            .stdout
            .trim(),
        marker
    );
    let inspect = d.berth(["image", "inspect", "secrets:1"]).ok().stdout;
    let history = d.berth(["history", "--no-trunc", "secrets:1"]).ok().stdout;
    for text in [&inspect, &history] {
        assert!(!text.contains(&secret) && !text.contains(&env_secret));
    }
    assert!(!inspect.contains("APP_TOKEN"), "{inspect}");
    // Nor anywhere in the saved image, whose layers the grep does see (the marker).
    let tar = d.root.join(format!("save-{}.tar", rand_hex(4)));
    d.berth(["save", "-o", tar.to_str().unwrap(), "secrets:1"])
        .ok();
    let bytes = fs::read(&tar).unwrap();
    let has = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(has(&marker), "the saved tar does not show layer contents");
    assert!(!has(&secret), "the file secret is in the saved image");
    assert!(!has(&env_secret), "the env secret is in the saved image");
    // The step mounts are gone.
    assert!(builder_mounts(&d).is_empty(), "{:?}", builder_mounts(&d));
    assert!(mount_dirs(&d).is_empty(), "{:?}", mount_dirs(&d));

    // Changing the secret's content does not change the cache key (only its id counts):
    // the same build is fully cached.
    fs::write(&file, "another value").unwrap();
    let r2 = build(
        &d,
        &dir,
        &[
            "-t",
            "secrets:2",
            "--secret",
            &format!("id=tok,src={}", file.display()),
            "--secret",
            "id=envtok,env=BERTH_E2E_SECRET_VAR",
        ],
        &[("BERTH_E2E_SECRET_VAR", "x")],
    );
    assert_eq!(r2.status, 0, "{r2:#?}");
    assert!(!r2.stdout.contains("Running in"), "{r2:#?}");
    let id = |r: &str| {
        d.berth(["image", "inspect", "-f", "{{.Id}}", r])
            .ok()
            .stdout
    };
    assert_eq!(id("secrets:1"), id("secrets:2"));
}

#[test]
fn build_required_secret_missing_fails_with_buildkit_wording() {
    let d = daemon();
    let dir = context(
        &d,
        "FROM busybox\nRUN --mount=type=secret,id=tok,required=true cat /run/secrets/tok\n",
    );
    // Another secret is sent, not this one.
    let other = d.root.join("other-secret");
    fs::write(&other, "x").unwrap();
    let r = build(
        &d,
        &dir,
        &["--secret", &format!("id=other,src={}", other.display())],
        &[],
    );
    assert_ne!(r.status, 0, "{r:#?}");
    assert!(r.stderr.contains("secret tok: not found"), "{r:#?}");
    // Sent: the same build passes.
    let r = build(
        &d,
        &dir,
        &["--secret", &format!("id=tok,src={}", other.display())],
        &[],
    );
    assert_eq!(r.status, 0, "{r:#?}");
    // A failed step whose environment held a secret leaves no container behind (its
    // config would keep the value); one without secrets stays, as Docker keeps it.
    let failing = context(
        &d,
        "FROM busybox\nRUN --mount=type=secret,id=tok,env=TOK false\n",
    );
    let r = build(
        &d,
        &failing,
        &["--secret", &format!("id=tok,src={}", other.display())],
        &[],
    );
    assert_ne!(r.status, 0, "{r:#?}");
    let ps = d.berth(["ps", "-aq"]).ok().stdout;
    assert!(ps.trim().is_empty(), "containers left: {ps}");
    let plain = context(&d, "FROM busybox\nRUN false\n");
    assert_ne!(build(&d, &plain, &[], &[]).status, 0);
    let ps = d.berth(["ps", "-aq"]).ok().stdout;
    assert_eq!(ps.lines().count(), 1, "{ps}");
    // Client-side errors: a missing file or variable.
    let r = build(&d, &dir, &["--secret", "id=tok,src=/nonexistent/file"], &[]);
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("failed to read secret tok"), "{r:#?}");
    let r = build(
        &d,
        &dir,
        &["--secret", "id=tok,env=BERTH_E2E_SURELY_UNSET"],
        &[],
    );
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("is not set"), "{r:#?}");
}

/// A unix socket server standing in for an SSH agent; removed on drop.
struct Agent {
    path: PathBuf,
    _listener: std::os::unix::net::UnixListener,
}

impl Agent {
    fn start(dir: &Path) -> Agent {
        let path = dir.join(format!("agent-{}.sock", rand_hex(4)));
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        Agent {
            path,
            _listener: listener,
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[test]
fn build_ssh_forwards_the_agent_socket() {
    let d = daemon();
    let agent = Agent::start(&d.root);
    let ino = fs::metadata(&agent.path).unwrap().ino();
    let dir = context(
        &d,
        "FROM busybox\n\
         RUN --mount=type=ssh sh -c 'if test -S \"$SSH_AUTH_SOCK\"; then echo \"sock=$SSH_AUTH_SOCK ino=$(stat -c %i \"$SSH_AUTH_SOCK\")\"; else echo \"no-agent=[$SSH_AUTH_SOCK]\"; fi'\n\
         RUN --mount=type=ssh,id=deploy,target=/tmp/deploy.sock,required sh -c 'test -S /tmp/deploy.sock && echo deploy-ok'\n",
    );
    // `--ssh default` takes $SSH_AUTH_SOCK; `--ssh id=path` names the socket.
    let sock = agent.path.to_str().unwrap();
    let r = build(
        &d,
        &dir,
        &[
            "-t",
            "ssh:1",
            "--ssh",
            "default",
            "--ssh",
            &format!("deploy={sock}"),
        ],
        &[("SSH_AUTH_SOCK", sock)],
    );
    assert_eq!(r.status, 0, "{r:#?}");
    // The very socket of the host (same inode), at BuildKit's default path.
    assert!(
        r.stdout
            .contains(&format!("sock=/run/buildkit/ssh_agent.0 ino={ino}")),
        "{r:#?}"
    );
    assert!(r.stdout.contains("deploy-ok"), "{r:#?}");
    let run = d.berth([
        "run",
        "--rm",
        "ssh:1",
        "sh",
        "-c",
        "test -e /run/buildkit/ssh_agent.0 || test -e /tmp/deploy.sock",
    ]);
    assert_ne!(run.status, 0, "the socket is in the image: {run:#?}");
    let env = d
        .berth(["image", "inspect", "-f", "{{.Config.Env}}", "ssh:1"])
        .ok()
        .stdout;
    assert!(!env.contains("SSH_AUTH_SOCK"), "{env}");

    // Not forwarded: the optional mount is skipped, the required one fails.
    let r = build(&d, &dir, &["--no-cache"], &[]);
    assert_ne!(r.status, 0, "{r:#?}");
    assert!(
        r.stderr
            .contains("no SSH key \"deploy\" forwarded from the client"),
        "{r:#?}"
    );
    assert!(r.stdout.contains("no-agent=[]"), "{r:#?}");
}

#[test]
fn kill9_during_a_secret_mount_step_sweeps_its_mounts_at_the_next_start() {
    let mut d = daemon();
    let file = d.root.join("crash-secret");
    fs::write(&file, "crash-secret-value").unwrap();
    let dir = context(
        &d,
        "FROM busybox\n\
         RUN --mount=type=secret,id=tok --mount=type=tmpfs,target=/scratch sh -c 'test -f /run/secrets/tok && echo building-now && sleep 30'\n",
    );
    let containers_before = d.container_dirs();
    let mut child = d
        .berth_cmd([
            "build",
            "--secret",
            &format!("id=tok,src={}", file.display()),
            dir.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let hit = line.contains("building-now") && !line.contains("RUN");
            let _ = tx.send(line);
            if hit {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = Vec::new();
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("the RUN step never started: {seen:#?}"));
        let hit = line.contains("building-now") && !line.contains("RUN");
        seen.push(line);
        if hit {
            break;
        }
    }
    d.kill9();
    let _ = child.kill();
    let _ = child.wait();
    // The dead daemon left the step's secret tmpfs mounted and its directory behind.
    assert!(
        !mount_dirs(&d).is_empty(),
        "no mnt-* dir while the step ran"
    );
    assert!(
        !builder_mounts(&d).is_empty(),
        "no builder mount while the step ran"
    );
    d.restart();
    assert!(
        d.wait_for(30, || builder_mounts(&d).is_empty()
            && mount_dirs(&d).is_empty()),
        "left after the restart: mounts {:?}, dirs {:?}",
        builder_mounts(&d),
        mount_dirs(&d)
    );
    assert!(
        d.wait_for(30, || d.container_dirs() == containers_before),
        "build containers left: {:?}",
        d.container_dirs()
    );
    // Builds with secrets work again afterwards.
    let dir2 = context(
        &d,
        "FROM busybox\nRUN --mount=type=secret,id=tok,required cat /run/secrets/tok\n",
    );
    let r = build(
        &d,
        &dir2,
        &["--secret", &format!("id=tok,src={}", file.display())],
        &[],
    );
    assert_eq!(r.status, 0, "{r:#?}");
    assert!(r.stdout.contains("crash-secret-value"), "{r:#?}");
    assert!(builder_mounts(&d).is_empty(), "{:?}", builder_mounts(&d));
}
