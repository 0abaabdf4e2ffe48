//! Live restore: the engine is dropped (its runtime shut down, so no task of it
//! survives) while containers run; a new engine on the same data root reconnects to the
//! running one and learns the exit of the one that ended meanwhile. Startup also
//! sweeps layers that an interrupted import left without an image.

mod common;

use berth_engine::{ErrorKind, WaitCondition};
use common::{busybox, Fixture};
use std::time::Duration;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn reopen_reconnects_running_and_records_exits() {
    let fx = Fixture::new();
    let rt1 = runtime();
    let (long_pid, long_id) = rt1.block_on(async {
        let e = fx.engine_with_busybox().await;
        e.create(Some("long"), busybox(&["sleep", "1000"]))
            .await
            .unwrap();
        e.start("long").await.unwrap();
        e.create(Some("short"), busybox(&["sh", "-c", "sleep 1; exit 5"]))
            .await
            .unwrap();
        e.start("short").await.unwrap();
        let mut body = busybox(&["sh", "-c", "sleep 1"]);
        body.host_config.auto_remove = true;
        e.create(Some("gone"), body).await.unwrap();
        e.start("gone").await.unwrap();
        let ins = e.inspect("long", false).await.unwrap();
        (ins.state.pid, ins.id)
    });
    // The daemon goes away: every task of the first engine ends with its runtime.
    rt1.shutdown_timeout(Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(2500));

    let rt2 = runtime();
    rt2.block_on(async {
        let e = fx.engine().await;
        let ins = e.inspect("long", false).await.unwrap();
        assert!(ins.state.running, "long should still run");
        assert_eq!(ins.state.pid, long_pid);
        assert_eq!(ins.id, long_id);

        let short = e.inspect("short", false).await.unwrap();
        assert!(!short.state.running);
        assert_eq!(short.state.exit_code, 5);
        assert_eq!(short.state.status, "exited");

        // AutoRemove containers that exited while the daemon was down are removed.
        let mut gone = false;
        for _ in 0..50 {
            if e.inspect("gone", false)
                .await
                .is_err_and(|x| x.kind == ErrorKind::NotFound)
            {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(gone, "auto-remove container still present");

        // The new engine watches the restored container's exit.
        let w = e.wait("long", WaitCondition::NextExit).await.unwrap();
        e.kill("long", None).await.unwrap();
        let r = tokio::time::timeout(Duration::from_secs(20), w.result())
            .await
            .unwrap();
        assert_eq!(r.status_code, 137);
        assert!(!e.inspect("long", false).await.unwrap().state.running);
        // The name map is restored too.
        assert_eq!(
            e.create(Some("long"), busybox(&["true"]))
                .await
                .unwrap_err()
                .kind,
            ErrorKind::Conflict
        );
    });
}

#[test]
fn shim_gone_without_exit_record_is_137() {
    let fx = Fixture::new();
    let rt1 = runtime();
    let (id, shim_pid_file) = rt1.block_on(async {
        let e = fx.engine_with_busybox().await;
        let c = e
            .create(Some("xx"), busybox(&["sleep", "1000"]))
            .await
            .unwrap();
        e.start("xx").await.unwrap();
        let dir = fx.cfg.exec_root.join("c").join(&c.id);
        (c.id, dir.join("shim.pid"))
    });
    rt1.shutdown_timeout(Duration::from_secs(5));
    // Kill the shim and the container hard: no exit record is written.
    let dir = fx.cfg.exec_root.join("c").join(&id);
    for f in [dir.join("init.pid"), shim_pid_file] {
        let pid: i32 = std::fs::read_to_string(f).unwrap().trim().parse().unwrap();
        // SAFETY: kill(2) of processes this test started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    std::thread::sleep(Duration::from_millis(300));
    let _ = std::fs::remove_file(dir.join("exit.json"));
    let rt2 = runtime();
    rt2.block_on(async {
        let e = fx.engine().await;
        let ins = e.inspect("xx", false).await.unwrap();
        assert!(!ins.state.running);
        assert_eq!(ins.state.exit_code, 137);
        e.remove("xx", false, false).await.unwrap();
    });
}

/// A layer registered but never used by an image (a `kill -9` between the two) is
/// removed at the next start; the layers of images and of containers stay. With a
/// container whose image was force-removed, nothing is swept.
#[test]
fn startup_sweeps_layers_no_image_uses() {
    fn tar_of(name: &str) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, name, &b"abc"[..]).unwrap();
        b.into_inner().unwrap()
    }
    let fx = Fixture::new();
    let layers = fx.cfg.data_root.join("image/layers");
    let count = || std::fs::read_dir(&layers).unwrap().count();
    let rt = runtime();
    let before = rt.block_on(async {
        let e = fx.engine_with_busybox().await;
        e.create(Some("user"), busybox(&["true"])).await.unwrap();
        let before = count();
        // Registered, lease dropped, no image: what an interrupted import leaves.
        drop(
            e.images()
                .add_layer(None, &tar_of("orphan")[..], None)
                .unwrap(),
        );
        assert_eq!(count(), before + 1);
        before
    });
    rt.shutdown_timeout(Duration::from_secs(5));
    let rt = runtime();
    rt.block_on(async {
        let e = fx.engine().await;
        assert_eq!(
            count(),
            before,
            "the orphan layer is gone, the image's stay"
        );
        e.inspect("user", false).await.unwrap();
        // The busybox image goes (forced) while "user" needs its layer.
        let img = e.inspect("user", false).await.unwrap().image;
        e.image_remove(&img, true, false).await.unwrap();
        drop(
            e.images()
                .add_layer(None, &tar_of("orphan2")[..], None)
                .unwrap(),
        );
    });
    rt.shutdown_timeout(Duration::from_secs(5));
    let rt = runtime();
    rt.block_on(async {
        let _e = fx.engine().await;
        assert_eq!(
            count(),
            before + 1,
            "nothing swept: a container's layers are unknown"
        );
    });
}
