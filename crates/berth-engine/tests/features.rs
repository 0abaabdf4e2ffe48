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
            out.push_str(&String::from_utf8_lossy(&c.data));
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
    let removed = e.image_remove("mybox:v1", false, false).await.unwrap();
    assert_eq!(removed[0].untagged.as_deref(), Some("mybox:v1"));

    // Prune removes the stopped container only.
    let p = e.prune(&Filters::default()).await.unwrap();
    assert_eq!(p.containers_deleted, Some(vec![a.id.clone()]));
    assert!(e.inspect("lb", false).await.is_ok());
    e.remove("lb", true, false).await.unwrap();
}
