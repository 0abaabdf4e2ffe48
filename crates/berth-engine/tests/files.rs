//! Container files from the host: export, cp in/out (running and stopped), commit,
//! changes, stats, save/load.

mod common;

use berth_engine::{CommitRequest, ErrorKind, WaitCondition};
use common::{busybox, Fixture};
use std::io::Read;
use std::time::Duration;

async fn collect(mut rx: tokio::sync::mpsc::Receiver<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(c) = rx.recv().await {
        out.extend_from_slice(&c);
    }
    out
}

fn tar_names(bytes: &[u8]) -> Vec<String> {
    tar::Archive::new(bytes)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

fn tar_file(bytes: &[u8], name: &str) -> Option<String> {
    let mut a = tar::Archive::new(bytes);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().display().to_string() == name {
            let mut s = String::new();
            e.read_to_string(&mut s).unwrap();
            return Some(s);
        }
    }
    None
}

fn one_file_tar(name: &str, content: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    b.append_data(&mut h, name, content.as_bytes()).unwrap();
    b.into_inner().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_cp_commit_changes() {
    let fx = Fixture::new();
    let e = fx.engine_with_busybox().await;
    e.create(
        Some("fs"),
        busybox(&["sh", "-c", "echo data > /made; rm /bin/vi; sleep 1000"]),
    )
    .await
    .unwrap();
    e.start("fs").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // cp out of a running container: the live view.
    let (st, rx) = e.archive_get("fs", "/made").await.unwrap();
    assert_eq!(st.name, "made");
    assert_eq!(st.size, 5);
    let t = collect(rx).await;
    assert_eq!(tar_file(&t, "made").as_deref(), Some("data\n"));
    let err = e.archive_stat("fs", "/nope").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);

    // cp into a running container.
    e.archive_put(
        "fs",
        "/tmp",
        Box::new(std::io::Cursor::new(one_file_tar("in.txt", "hi\n"))),
        false,
    )
    .await
    .unwrap();
    let err = e
        .archive_put(
            "fs",
            "/",
            Box::new(std::io::Cursor::new(one_file_tar("tmp", "x"))),
            true,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "cannot overwrite directory \"/tmp\" with non-directory \"/tmp\""
    );
    e.archive_put(
        "fs",
        "/tmp",
        Box::new(std::io::Cursor::new(one_file_tar("in2.txt", "2"))),
        true,
    )
    .await
    .unwrap();
    let (_, rx) = e.archive_get("fs", "/tmp/in.txt").await.unwrap();
    assert_eq!(
        tar_file(&collect(rx).await, "in.txt").as_deref(),
        Some("hi\n")
    );

    // diff: added and deleted entries.
    let ch = e.changes("fs").await.unwrap();
    assert!(
        ch.iter().any(|c| c.path == "/made" && c.kind == 1),
        "{ch:?}"
    );
    assert!(
        ch.iter().any(|c| c.path == "/bin/vi" && c.kind == 2),
        "{ch:?}"
    );

    // export: the overlay view, without /proc contents.
    let t = collect(e.export("fs").await.unwrap()).await;
    let names = tar_names(&t);
    assert!(names.iter().any(|n| n == "bin/busybox"), "{names:?}");
    assert!(names.iter().any(|n| n == "made"));
    assert!(!names.iter().any(|n| n == "bin/vi"));
    assert!(!names.iter().any(|n| n.starts_with("proc/") && n.len() > 5));

    // commit while running (paused meanwhile), then run the new image.
    let id = e
        .commit(
            "fs",
            CommitRequest {
                repo: "snap".into(),
                tag: "v1".into(),
                pause: true,
                changes: vec!["CMD [\"cat\", \"/made\"]".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(id.starts_with("sha256:"));
    assert!(e.inspect("fs", false).await.unwrap().state.running);
    let mut body = busybox(&[]);
    body.config.image = "snap:v1".into();
    e.create(Some("fromsnap"), body).await.unwrap();
    let w = e.wait("fromsnap", WaitCondition::NextExit).await.unwrap();
    e.start("fromsnap").await.unwrap();
    assert_eq!(w.result().await.status_code, 0);
    let mut ls = e
        .logs(
            "fromsnap",
            berth_engine::LogsOptions {
                stdout: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut out = Vec::new();
    while let Some(c) = ls.rx.recv().await {
        for (_, data) in c.records(ls.tty) {
            out.extend_from_slice(data);
        }
    }
    assert_eq!(String::from_utf8_lossy(&out), "data\n");

    // cp into a stopped container goes to its writable layer.
    e.kill("fs", None).await.unwrap();
    e.archive_put(
        "fs",
        "/",
        Box::new(std::io::Cursor::new(one_file_tar("late", "x"))),
        false,
    )
    .await
    .unwrap();
    assert!(fx
        .cfg
        .data_root
        .join("containers")
        .join(e.inspect("fs", false).await.unwrap().id)
        .join("rootfs/upper/late")
        .exists());
    let (_, rx) = e.archive_get("fs", "/late").await.unwrap();
    assert_eq!(tar_file(&collect(rx).await, "late").as_deref(), Some("x"));
    // No scratch mount points are left behind.
    let rootfs = fx
        .cfg
        .data_root
        .join("containers")
        .join(e.inspect("fs", false).await.unwrap().id)
        .join("rootfs");
    let left: Vec<_> = std::fs::read_dir(rootfs)
        .unwrap()
        .flatten()
        .map(|d| d.file_name())
        .collect();
    assert!(
        left.iter()
            .all(|n| !n.to_string_lossy().starts_with("view-")),
        "{left:?}"
    );

    // save → load round trip.
    let tarball = collect(e.image_save(vec!["snap:v1".into()]).await.unwrap()).await;
    e.remove("fromsnap", true, false).await.unwrap();
    e.image_remove("snap:v1", false, false).await.unwrap();
    let lines = e
        .image_load(Box::new(std::io::Cursor::new(tarball)))
        .await
        .unwrap();
    assert!(lines.iter().any(|l| l.contains("snap:v1")), "{lines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_samples() {
    let fx = Fixture::new();
    let e = fx.engine_with_busybox().await;
    let mut body = busybox(&["sleep", "1000"]);
    body.host_config.resources.memory = 32 << 20;
    e.create(Some("st"), body).await.unwrap();
    e.start("st").await.unwrap();
    let mut rx = e.stats("st", false, false).await.unwrap();
    let s = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.name, "/st");
    assert_eq!(s.memory_stats.limit, 32 << 20);
    assert!(s.memory_stats.usage > 0);
    assert_eq!(s.pids_stats.current, Some(1));
    assert!(s.cpu_stats.system_cpu_usage >= s.precpu_stats.system_cpu_usage);
    assert_ne!(s.preread, "0001-01-01T00:00:00Z");
    assert!(rx.recv().await.is_none(), "one sample without stream");
    e.remove("st", true, false).await.unwrap();
}
