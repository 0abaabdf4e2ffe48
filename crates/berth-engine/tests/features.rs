//! Pause/unpause, live update, restart policies, logs --follow, stdin/tty attach,
//! prune, filters and the image wrappers, through the real shim and runtime.

mod common;

use berth_engine::{AttachOptions, ErrorKind, Filters, ListOptions, LogsOptions, WaitCondition};
use berth_types::docker::{RestartPolicy, UpdateRequest};
use common::{busybox, demux, Fixture};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn wait_until<F: Fn() -> bool>(f: F) -> bool {
    for _ in 0..200 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_unpause_and_update() {
    let fx = Fixture::new();
    let e = fx.engine_with_busybox().await;
    e.create(Some("pp"), busybox(&["sleep", "1000"]))
        .await
        .unwrap();
    let err = e.pause("pp").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict);
    e.start("pp").await.unwrap();
    e.pause("pp").await.unwrap();
    let ins = e.inspect("pp", false).await.unwrap();
    assert!(ins.state.paused && ins.state.running);
    assert_eq!(ins.state.status, "paused");
    let pid = ins.state.pid;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let st = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(st == "D" || st == "S" || st == "T", "state {st}");
    assert!(e
        .pause("pp")
        .await
        .unwrap_err()
        .message
        .contains("is already paused"));
    assert_eq!(
        e.start("pp").await.unwrap_err().message,
        "cannot start a paused container, try unpause instead"
    );
    let l = e.list(ListOptions::default()).await.unwrap();
    assert!(l[0].status.ends_with("(Paused)"), "{}", l[0].status);
    assert_eq!(l[0].state, "paused");
    e.unpause("pp").await.unwrap();
    assert!(!e.inspect("pp", false).await.unwrap().state.paused);
    assert!(e
        .unpause("pp")
        .await
        .unwrap_err()
        .message
        .contains("is not paused"));

    // Live update of the memory limit lands in the cgroup and in inspect.
    let mut req = UpdateRequest::default();
    req.resources.memory = 64 << 20;
    e.update("pp", req).await.unwrap();
    let ins = e.inspect("pp", false).await.unwrap();
    assert_eq!(ins.host_config.resources.memory, 64 << 20);
    let cg = format!(
        "/sys/fs/cgroup/memory/{}/{}/memory.limit_in_bytes",
        fx.cfg.cgroup_parent, ins.id
    );
    if let Ok(v) = std::fs::read_to_string(&cg) {
        assert_eq!(v.trim(), (64u64 << 20).to_string());
    }
    let mut req = UpdateRequest::default();
    req.resources.memory = 1 << 20;
    assert_eq!(
        e.update("pp", req).await.unwrap_err().message,
        "Minimum memory limit allowed is 6MB"
    );

    // Stopping a paused container works (it is thawed after the signal).
    e.pause("pp").await.unwrap();
    e.stop("pp", Some(1), None).await.unwrap();
    let ins = e.inspect("pp", false).await.unwrap();
    assert!(!ins.state.running && !ins.state.paused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_policy_on_failure_and_restart() {
    let fx = Fixture::new();
    let e = fx.engine_with_busybox().await;
    let mut body = busybox(&["sh", "-c", "exit 2"]);
    body.host_config.restart_policy = RestartPolicy {
        name: "on-failure".into(),
        maximum_retry_count: 2,
    };
    e.create(Some("rp"), body).await.unwrap();
    e.start("rp").await.unwrap();
    let ok = wait_until(|| {
        futures_lite_inspect(&e, "rp")
            .is_some_and(|(count, running, restarting)| count == 2 && !running && !restarting)
    })
    .await;
    assert!(ok, "expected two restarts");
    let ins = e.inspect("rp", false).await.unwrap();
    assert_eq!(ins.restart_count, 2);
    assert_eq!(ins.state.exit_code, 2);

    // An AutoRemove container refuses a restart policy.
    let mut body = busybox(&["true"]);
    body.host_config.auto_remove = true;
    body.host_config.restart_policy = RestartPolicy {
        name: "always".into(),
        maximum_retry_count: 0,
    };
    assert_eq!(
        e.create(None, body).await.unwrap_err().kind,
        ErrorKind::InvalidArgument
    );

    // restart: a running container gets a new pid.
    e.create(Some("rs"), busybox(&["sleep", "1000"]))
        .await
        .unwrap();
    e.start("rs").await.unwrap();
    let p1 = e.inspect("rs", false).await.unwrap().state.pid;
    e.restart("rs", Some(0), None).await.unwrap();
    let ins = e.inspect("rs", false).await.unwrap();
    assert!(ins.state.running);
    assert_ne!(ins.state.pid, p1);
    e.remove("rs", true, false).await.unwrap();
}

/// A synchronous peek at a container's restart state (the record is in memory).
fn futures_lite_inspect(e: &berth_engine::Engine, name: &str) -> Option<(i64, bool, bool)> {
    let rt = tokio::runtime::Handle::current();
    let ins = tokio::task::block_in_place(|| rt.block_on(e.inspect(name, false))).ok()?;
    Some((ins.restart_count, ins.state.running, ins.state.restarting))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_follow_until_exit() {
    let fx = Fixture::new();
    let e = fx.engine_with_busybox().await;
    e.create(
        Some("fl"),
        busybox(&["sh", "-c", "echo a; sleep 1; echo b; sleep 1; echo c"]),
    )
    .await
    .unwrap();
    e.start("fl").await.unwrap();
    let mut ls = e
        .logs(
            "fl",
            LogsOptions {
                stdout: true,
                stderr: true,
                follow: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut out = String::new();
    let res = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(c) = ls.rx.recv().await {
            for (_, data) in c.records(ls.tty) {
                out.push_str(&String::from_utf8_lossy(data));
            }
        }
    })
    .await;
    assert!(res.is_ok(), "follow did not end at exit");
    assert_eq!(out, "a\nb\nc\n");
    let err = e.logs("fl", LogsOptions::default()).await.unwrap_err();
    assert_eq!(
        err.message,
        "Bad parameters: you must choose at least one stream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_stdin_and_tty() {
    let fx = Fixture::new();
    let e = fx.engine_with_busybox().await;
    // stdin: `cat` echoes what we write, exits at stdin EOF.
    let mut body = busybox(&["cat"]);
    body.config.open_stdin = true;
    body.config.stdin_once = true;
    body.config.attach_stdin = true;
    body.config.attach_stdout = true;
    e.create(Some("in"), body).await.unwrap();
    let a = e
        .attach(
            "in",
            AttachOptions {
                stdin: true,
                stdout: true,
                stream: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let w = e.wait("in", WaitCondition::NextExit).await.unwrap();
    e.start("in").await.unwrap();
    let (mut r, mut wr) = a.conn.into_split();
    wr.write_all(b"ping\n").await.unwrap();
    wr.shutdown().await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), r.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&demux(&buf).0), "ping\n");
    assert_eq!(w.result().await.status_code, 0);

    // tty: raw stream, TERM set.
    let mut body = busybox(&["sh", "-c", "echo $TERM"]);
    body.config.tty = true;
    e.create(Some("tt"), body).await.unwrap();
    let a = e
        .attach(
            "tt",
            AttachOptions {
                stdout: true,
                stream: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(a.tty);
    e.start("tt").await.unwrap();
    let mut buf = Vec::new();
    let mut c = a.conn;
    tokio::time::timeout(Duration::from_secs(20), c.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&buf), "xterm\r\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_prune_and_images() {
    let fx = Fixture::new();
    let e = fx.engine_with_busybox().await;
    let mut body = busybox(&["true"]);
    body.config.labels = Some([("app".to_string(), "x".to_string())].into());
    let a = e.create(Some("la"), body).await.unwrap();
    let b = e
        .create(Some("lb"), busybox(&["sleep", "1000"]))
        .await
        .unwrap();
    e.start("lb").await.unwrap();

    let f = Filters::parse(r#"{"label":["app=x"]}"#).unwrap();
    let l = e
        .list(ListOptions {
            all: true,
            filters: f,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        l.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        vec![a.id.clone()]
    );
    let f = Filters::parse(r#"{"status":{"running":true}}"#).unwrap();
    let l = e
        .list(ListOptions {
            all: true,
            filters: f,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].id, b.id);
    let f = Filters::parse(r#"{"ancestor":["busybox"]}"#).unwrap();
    let l = e
        .list(ListOptions {
            all: true,
            filters: f,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(l.len(), 2);
    let l = e
        .list(ListOptions {
            all: true,
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].id, b.id, "newest first");

    let df = e.disk_usage().await.unwrap();
    assert_eq!(df.images.len(), 1);
    assert_eq!(df.images[0].containers, 2);
    assert!(df.layers_size > 0);
    assert_eq!(df.containers.len(), 2);
    assert!(df.containers.iter().all(|c| c.size_rw.is_some()));

    // The image is in use: rmi refuses; images list/inspect/tag/history work.
    let imgs = e.image_list(false, &Filters::default()).await.unwrap();
    assert_eq!(imgs.len(), 1);
    assert_eq!(imgs[0].repo_tags, vec!["busybox:latest"]);
    let ins = e.image_inspect("busybox").await.unwrap();
    assert_eq!(ins.id, imgs[0].id);
    assert_eq!(
        ins.config.as_ref().unwrap().cmd,
        Some(vec!["sh".to_string()])
    );
    e.image_tag("busybox", "mybox", "v1").await.unwrap();
    assert!(e.image_inspect("mybox:v1").await.is_ok());
    let h = e.image_history("busybox").await.unwrap();
    assert_eq!(h[0].id, ins.id);
    let err = e.image_remove(&ins.id, false, false).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict, "{}", err.message);
    let mut body = busybox(&["true"]);
    body.config.image = "mybox:v1".into();
    let t = e.create(Some("tagged"), body).await.unwrap();
    let removed = e.image_remove("mybox:v1", false, false).await.unwrap();
    assert_eq!(removed[0].untagged.as_deref(), Some("mybox:v1"));
    // The name no longer means its image: ps shows the image id instead (as Docker).
    let l = e
        .list(ListOptions {
            all: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let tagged = l.iter().find(|c| c.id == t.id).unwrap();
    assert_eq!(tagged.image, ins.id);
    assert_eq!(l.iter().find(|c| c.id == a.id).unwrap().image, "busybox");
    e.remove("tagged", false, false).await.unwrap();

    // Prune removes the stopped container only.
    let p = e.prune(&Filters::default()).await.unwrap();
    assert_eq!(p.containers_deleted, Some(vec![a.id.clone()]));
    assert!(e.inspect("lb", false).await.is_ok());

    // Image prune: nothing dangling; with dangling=false the image is still in use.
    let all = Filters::parse(r#"{"dangling":["false"]}"#).unwrap();
    assert_eq!(
        e.image_prune(&Filters::default())
            .await
            .unwrap()
            .images_deleted,
        None
    );
    assert_eq!(e.image_prune(&all).await.unwrap().images_deleted, None);
    e.remove("lb", true, false).await.unwrap();
    let p = e.image_prune(&all).await.unwrap();
    assert!(p
        .images_deleted
        .unwrap()
        .iter()
        .any(|d| d.deleted.as_deref() == Some(ins.id.as_str())));
    assert!(p.space_reclaimed > 0);
    assert!(e
        .image_list(false, &Filters::default())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_follow_the_probe() {
    let fx = Fixture::new();
    let e = fx.engine_with_busybox().await;
    let mut events = e.subscribe();
    let mut body = busybox(&["sleep", "1000"]);
    body.config.healthcheck = Some(berth_types::docker::HealthConfig {
        test: Some(vec!["CMD-SHELL".into(), "test -f /tmp/ok".into()]),
        interval: 200_000_000,
        timeout: 5_000_000_000,
        retries: 2,
        ..Default::default()
    });
    e.create(Some("hc"), body).await.unwrap();
    e.start("hc").await.unwrap();
    let status = |e: &berth_engine::Engine| {
        let rt = tokio::runtime::Handle::current();
        tokio::task::block_in_place(|| rt.block_on(e.inspect("hc", false)))
            .unwrap()
            .state
            .health
            .map(|h| (h.status, h.failing_streak, h.log.len()))
    };
    assert_eq!(status(&e).map(|s| s.0), Some("starting".to_string()));
    assert!(wait_until(|| status(&e).is_some_and(|s| s.0 == "unhealthy" && s.1 >= 2)).await);
    let l = e.list(ListOptions::default()).await.unwrap();
    assert!(l[0].status.ends_with("(unhealthy)"), "{}", l[0].status);

    let id = e
        .exec_create(
            "hc",
            berth_types::docker::ExecConfig {
                cmd: Some(vec!["touch".into(), "/tmp/ok".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    e.exec_start(
        &id,
        berth_types::docker::ExecStartConfig {
            detach: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(wait_until(|| status(&e).is_some_and(|s| s.0 == "healthy" && s.1 == 0)).await);
    let f = Filters::parse(r#"{"health":["healthy"]}"#).unwrap();
    assert_eq!(
        e.list(ListOptions {
            filters: f,
            ..Default::default()
        })
        .await
        .unwrap()
        .len(),
        1
    );
    // Probe execs do not pile up in ExecIDs.
    let ids = e
        .inspect("hc", false)
        .await
        .unwrap()
        .exec_ids
        .unwrap_or_default();
    assert!(ids.len() <= 2, "{ids:?}");
    // The event may follow the state change by a moment: wait for it, bounded.
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(&"health_status: healthy".to_string()) {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(ev)) if ev.action.starts_with("health_status") => seen.push(ev.action),
            Ok(Ok(_)) => {}
            _ => break,
        }
    }
    assert!(
        seen.contains(&"health_status: unhealthy".to_string()),
        "{seen:?}"
    );
    assert!(
        seen.contains(&"health_status: healthy".to_string()),
        "{seen:?}"
    );
    e.remove("hc", true, false).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binds_mounts_tmpfs_and_devices() {
    let fx = Fixture::new();
    let e = fx.engine_with_busybox().await;
    let src = fx.dir.path().join("shared");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "from-host\n").unwrap();
    let mut body = busybox(&[
        "sh",
        "-c",
        "cat /data/f /ro/f; touch /ro/x 2>/dev/null && echo ro-writable; ls -l /dev/mynull; grep -c ' /scratch tmpfs' /proc/mounts; grep -c ' /run tmpfs' /proc/mounts",
    ]);
    body.host_config.binds = Some(vec![format!("{}:/data", src.display())]);
    body.host_config.mounts = Some(vec![
        berth_types::docker::MountSpec {
            kind: "bind".into(),
            source: src.display().to_string(),
            target: "/ro".into(),
            read_only: true,
            ..Default::default()
        },
        berth_types::docker::MountSpec {
            kind: "tmpfs".into(),
            target: "/run".into(),
            ..Default::default()
        },
    ]);
    body.host_config.tmpfs = Some([("/scratch".to_string(), "size=1m".to_string())].into());
    body.host_config.resources.devices = Some(vec![berth_types::docker::DeviceMapping {
        path_on_host: "/dev/null".into(),
        path_in_container: "/dev/mynull".into(),
        cgroup_permissions: "rwm".into(),
    }]);
    e.create(Some("mnt"), body).await.unwrap();
    let w = e.wait("mnt", WaitCondition::NextExit).await.unwrap();
    e.start("mnt").await.unwrap();
    assert_eq!(w.result().await.status_code, 0);
    let mut ls = e
        .logs(
            "mnt",
            LogsOptions {
                stdout: true,
                stderr: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut out = String::new();
    while let Some(c) = ls.rx.recv().await {
        for (_, data) in c.records(ls.tty) {
            out.push_str(&String::from_utf8_lossy(data));
        }
    }
    assert!(out.starts_with("from-host\nfrom-host\n"), "{out}");
    assert!(!out.contains("ro-writable"), "{out}");
    assert!(
        out.contains("1,   3") && out.contains("/dev/mynull"),
        "{out}"
    );
    assert!(out.ends_with("1\n1\n"), "{out}");
    let ins = e.inspect("mnt", false).await.unwrap();
    let dests: Vec<&str> = ins.mounts.iter().map(|m| m.destination.as_str()).collect();
    // `--tmpfs` mounts are not listed in `Mounts` (Docker keeps them in HostConfig.Tmpfs).
    assert_eq!(dests, vec!["/data", "/ro", "/run"]);
    assert!(!ins.mounts[1].rw);
    // The writable layer holds no mount targets in a diff.
    let ch = e.changes("mnt").await.unwrap();
    assert!(!ch.iter().any(|c| c.path.starts_with("/etc/")), "{ch:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oom_kill_is_recorded() {
    let fx = Fixture::new();
    let e = fx.engine_with_busybox().await;
    let mut events = e.subscribe();
    let mut body = busybox(&[
        "sh",
        "-c",
        "a=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived",
    ]);
    body.host_config.resources.memory = 8 << 20;
    e.create(Some("oom"), body).await.unwrap();
    let w = e.wait("oom", WaitCondition::NextExit).await.unwrap();
    e.start("oom").await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(60), w.result())
        .await
        .unwrap();
    let ins = e.inspect("oom", false).await.unwrap();
    assert!(ins.state.oom_killed, "exit {} without OOM", r.status_code);
    assert_eq!(ins.host_config.resources.memory, 8 << 20);
    let mut saw_oom = false;
    while let Ok(ev) = events.try_recv() {
        saw_oom |= ev.action == "oom";
    }
    assert!(saw_oom, "no oom event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_starts_with_default_signal_dispositions() {
    // Regression guard: the daemon ignores SIGPIPE (Rust does); the container must not
    // inherit that, or `yes | head -1` would end with write errors instead of SIGPIPE.
    let fx = Fixture::new();
    let e = fx.engine_with_busybox().await;
    e.create(
        Some("sig"),
        busybox(&["grep", "SigIgn", "/proc/self/status"]),
    )
    .await
    .unwrap();
    let w = e.wait("sig", WaitCondition::NextExit).await.unwrap();
    e.start("sig").await.unwrap();
    assert_eq!(w.result().await.status_code, 0);
    let mut ls = e
        .logs(
            "sig",
            LogsOptions {
                stdout: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut out = String::new();
    while let Some(c) = ls.rx.recv().await {
        for (_, data) in c.records(ls.tty) {
            out.push_str(&String::from_utf8_lossy(data));
        }
    }
    assert_eq!(out, "SigIgn:\t0000000000000000\n");
}
