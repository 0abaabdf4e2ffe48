//! Container lifecycle through the real shim: create, start, wait, logs, stop, kill,
//! remove, names, start errors, attach, exec, events, AutoRemove.
//! Runs as root (namespaces, overlay, cgroups).

mod common;

use berth_engine::{AttachOptions, ErrorKind, ListOptions, LogsOptions, WaitCondition};
use berth_types::docker::{ExecConfig, ExecStartConfig};
use common::{busybox, demux, Fixture};
use std::time::Duration;
use tokio::io::AsyncReadExt;

async fn read_all(mut s: tokio::net::UnixStream) -> Vec<u8> {
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf))
        .await
        .expect("stream did not end")
        .expect("read");
    buf
}

async fn collect_logs(e: &berth_engine::Engine, id: &str, opts: LogsOptions) -> (String, String) {
    let mut ls = e.logs(id, opts).await.unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    while let Some(c) = ls.rx.recv().await {
        for (stream, data) in c.records(ls.tty) {
            let s = String::from_utf8_lossy(data);
            if stream == 1 {
                out.push_str(&s);
            } else {
                err.push_str(&s);
            }
        }
    }
    (out, err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_start_wait_logs_inspect() {
    let fx = Fixture::new();
    let e = fx.engine_with_busybox().await;
    let resp = e
        .create(
            Some("job"),
            busybox(&["sh", "-c", "echo hello; echo oops >&2; exit 3"]),
        )
        .await
        .unwrap();
    assert_eq!(resp.id.len(), 64);
    let ins = e.inspect("job", false).await.unwrap();
    assert_eq!(ins.state.status, "created");
    assert_eq!(ins.name, "/job");
    assert_eq!(ins.path, "sh");
    assert_eq!(ins.config.hostname, resp.id[..12]);
    assert_eq!(ins.host_config.log_config.kind, "json-file");
    assert_eq!(ins.state.started_at, "0001-01-01T00:00:00Z");

    let w = e.wait("job", WaitCondition::NextExit).await.unwrap();
    e.start("job").await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(20), w.result())
        .await
        .unwrap();
    assert_eq!(r.status_code, 3);

    let ins = e.inspect(&resp.id[..10], false).await.unwrap();
    assert_eq!(ins.state.status, "exited");
    assert_eq!(ins.state.exit_code, 3);
    assert!(!ins.state.running);
    assert_ne!(ins.state.finished_at, "0001-01-01T00:00:00Z");
    assert!(ins.log_path.ends_with("-json.log"));

    let (out, err) = collect_logs(
        &e,
        "job",
        LogsOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(out, "hello\n");
    assert_eq!(err, "oops\n");
    let (out, _) = collect_logs(
        &e,
        "job",
        LogsOptions {
            stdout: true,
            timestamps: true,
            ..Default::default()
        },
    )
    .await;
    assert!(out.ends_with("Z hello\n") && out.starts_with("20"), "{out}");

    // Not listed without `all`; listed with it.
    let l = e.list(ListOptions::default()).await.unwrap();
    assert!(l.iter().all(|c| c.id != resp.id));
    let l = e
        .list(ListOptions {
            all: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let s = l.iter().find(|c| c.id == resp.id).unwrap();
    assert_eq!(s.names, vec!["/job"]);
    assert!(s.status.starts_with("Exited (3) "), "{}", s.status);
    assert_eq!(s.command, "sh -c 'echo hello; echo oops >&2; exit 3'");

    // Start again: a second run appends to the log.
    let w = e.wait("job", WaitCondition::NextExit).await.unwrap();
    e.start("job").await.unwrap();
    assert_eq!(w.result().await.status_code, 3);
    let (out, _) = collect_logs(
        &e,
        "job",
        LogsOptions {
            stdout: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(out, "hello\nhello\n");
    let (out, _) = collect_logs(
        &e,
        "job",
        LogsOptions {
            stdout: true,
            tail: Some(2),
            ..Default::default()
        },
    )
    .await;
    // The tail counts records of both streams (the last one is stderr), as Docker's does.
    assert_eq!(out, "hello\n");

    e.remove("job", false, false).await.unwrap();
    let err = e.inspect("job", false).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert_eq!(err.message, "No such container: job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_images_and_start_errors() {
    let fx = Fixture::new();
    let e = fx.engine_with_busybox().await;
    let a = e.create(Some("web"), busybox(&["true"])).await.unwrap();
    let err = e
        .create(Some("/web"), busybox(&["true"]))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict);
    assert_eq!(
        err.message,
        format!("Conflict. The container name \"/web\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.", a.id)
    );
    let err = e
        .create(Some("-bad"), busybox(&["true"]))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidArgument);
    let mut body = busybox(&["true"]);
    body.config.image = "nosuchimage".into();
    let err = e.create(None, body).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert_eq!(err.message, "No such image: nosuchimage:latest");

    // A random name is generated.
    let b = e.create(None, busybox(&["true"])).await.unwrap();
    let name = e.inspect(&b.id, false).await.unwrap().name;
    assert!(name.starts_with('/') && name.contains('_'), "{name}");

    // Rename frees the old name.
    e.rename("web", "web2").await.unwrap();
    e.create(Some("web"), busybox(&["true"])).await.unwrap();
    assert_eq!(e.inspect("web2", false).await.unwrap().id, a.id);

    // Command not found: 400-kind error with Docker's text, container stays created.
    let c = e.create(Some("nope"), busybox(&["nope"])).await.unwrap();
    let err = e.start("nope").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidArgument, "{}", err.message);
    assert!(
        err.message
            .contains("exec: \"nope\": executable file not found in $PATH"),
        "{}",
        err.message
    );
    assert!(
        err.message
            .starts_with("failed to create task for container:"),
        "{}",
        err.message
    );
    let ins = e.inspect(&c.id, false).await.unwrap();
    assert_eq!(ins.state.status, "created");
    assert_eq!(ins.state.exit_code, 127);
    assert!(ins.state.error.contains("executable file not found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_kill_remove_and_events() {
    let fx = Fixture::new();
    let e = fx.engine_with_busybox().await;
    let mut events = e.subscribe();
    // Exits 7 on SIGTERM: proves the stop signal reaches the process.
    e.create(
        Some("svc"),
        busybox(&[
            "sh",
            "-c",
            "trap 'exit 7' TERM; while true; do sleep 0.1; done",
        ]),
    )
    .await
    .unwrap();
    e.start("svc").await.unwrap();
    let err = e.start("svc").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotModified);
    let ins = e.inspect("svc", false).await.unwrap();
    assert!(ins.state.running && ins.state.pid > 0);
    assert_eq!(ins.state.status, "running");
    let l = e.list(ListOptions::default()).await.unwrap();
    assert!(l[0].status.starts_with("Up "), "{}", l[0].status);

    let err = e.remove("svc", false, false).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict);
    assert_eq!(
        err.message,
        format!(
            "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
            ins.id
        )
    );

    // Give the shell a moment to install its trap.
    tokio::time::sleep(Duration::from_millis(300)).await;
    e.stop("svc", Some(10), None).await.unwrap();
    let ins = e.inspect("svc", false).await.unwrap();
    assert_eq!(ins.state.exit_code, 7);
    assert_eq!(
        e.stop("svc", None, None).await.unwrap_err().kind,
        ErrorKind::NotModified
    );
    let err = e.kill("svc", None).await.unwrap_err();
    assert_eq!(err.message, format!("Container {} is not running", ins.id));

    // kill defaults to SIGKILL and returns once it is down.
    e.start("svc").await.unwrap();
    e.kill("svc", Some("KILL")).await.unwrap();
    let ins = e.inspect("svc", false).await.unwrap();
    assert_eq!(ins.state.exit_code, 137);
    assert!(!ins.state.running);
    assert_eq!(
        e.kill("svc", Some("FOO")).await.unwrap_err().message,
        "Invalid signal: FOO"
    );

    // rm -f of a running container.
    e.start("svc").await.unwrap();
    e.remove("svc", true, false).await.unwrap();
    assert_eq!(
        e.inspect("svc", false).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert!(!fx.cfg.data_root.join("containers").join(&ins.id).exists());

    let mut actions = Vec::new();
    while let Ok(ev) = events.try_recv() {
        if ev.actor.id == ins.id {
            actions.push(ev.action);
        }
    }
    for want in ["create", "start", "kill", "die", "stop", "destroy"] {
        assert!(
            actions.iter().any(|a| a == want),
            "missing {want} in {actions:?}"
        );
    }
    // The same events can be replayed from the history (`/events?since=`).
    let past: Vec<String> = e
        .events_since(0, None)
        .into_iter()
        .filter(|ev| ev.actor.id == ins.id)
        .map(|ev| ev.action)
        .collect();
    assert_eq!(past, actions);
    let die = e
        .events_since(0, None)
        .into_iter()
        .find(|ev| ev.action == "die")
        .unwrap();
    assert_eq!(die.kind, "container");
    assert_eq!(die.actor.attributes["name"], "svc");
    assert_eq!(die.actor.attributes["image"], "busybox");
    assert!(die.actor.attributes.contains_key("exitCode"));
    assert!(e.events_since(i64::MAX, None).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_before_start_sees_all_output() {
    let fx = Fixture::new();
    let e = fx.engine_with_busybox().await;
    let mut body = busybox(&["sh", "-c", "echo one; echo two >&2"]);
    body.config.attach_stdout = true;
    body.config.attach_stderr = true;
    e.create(Some("att"), body).await.unwrap();
    let a = e
        .attach(
            "att",
            AttachOptions {
                stdout: true,
                stderr: true,
                stream: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!a.tty);
    let w = e.wait("att", WaitCondition::NextExit).await.unwrap();
    e.start("att").await.unwrap();
    let bytes = read_all(a.conn).await;
    let (out, err) = demux(&bytes);
    assert_eq!(String::from_utf8_lossy(&out), "one\n");
    assert_eq!(String::from_utf8_lossy(&err), "two\n");
    assert_eq!(w.result().await.status_code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_top_and_auto_remove() {
    let fx = Fixture::new();
    let e = fx.engine_with_busybox().await;
    let mut body = busybox(&["sleep", "1000"]);
    body.host_config.auto_remove = true;
    let c = e.create(Some("ex"), body).await.unwrap();
    e.start("ex").await.unwrap();

    let id = e
        .exec_create(
            "ex",
            ExecConfig {
                attach_stdout: true,
                attach_stderr: true,
                cmd: Some(vec![
                    "sh".into(),
                    "-c".into(),
                    "echo in-exec; exit 4".into(),
                ]),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    let s = e
        .exec_start(&id, ExecStartConfig::default())
        .await
        .unwrap()
        .unwrap();
    let (out, _) = demux(&read_all(s.conn).await);
    assert_eq!(String::from_utf8_lossy(&out), "in-exec\n");
    let mut code = None;
    for _ in 0..100 {
        let ins = e.exec_inspect(&id).await.unwrap();
        if !ins.running && ins.exit_code.is_some() {
            code = ins.exit_code;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(code, Some(4));
    assert_eq!(
        e.inspect("ex", false).await.unwrap().exec_ids,
        Some(vec![id.clone()])
    );
    assert_eq!(
        e.exec_inspect("nope").await.unwrap_err().message,
        "No such exec instance: nope"
    );

    let top = e.top("ex", None).await.unwrap();
    assert!(top.titles.contains(&"PID".to_string()));
    assert!(
        top.processes
            .iter()
            .any(|p| p.last().is_some_and(|c| c.contains("sleep 1000"))),
        "{:?}",
        top.processes
    );

    // AutoRemove: removed after the exit.
    let w = e.wait("ex", WaitCondition::Removed).await.unwrap();
    e.kill("ex", None).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(20), w.result())
        .await
        .unwrap();
    assert_eq!(r.status_code, 137);
    assert_eq!(
        e.inspect(&c.id, false).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
}
