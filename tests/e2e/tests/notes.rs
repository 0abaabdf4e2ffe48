//! The Docker notes' exercises, run verbatim through bash with `docker` meaning `berth`.
//! Images the notes pull from Docker Hub are stood in for by images built here from
//! busybox (nothing can be pulled in tests).

use berth_e2e::*;

fn daemon() -> Daemon {
    assert!(is_root(), "end-to-end tests need root");
    let d = Daemon::start();
    d.import_busybox("busybox");
    // An `nginx` stand-in: a long-running service that stops cleanly on SIGTERM.
    d.berth([
        "import".as_ref(),
        "--change".as_ref(),
        r#"CMD ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]"#.as_ref(),
        d.busybox_tar().as_os_str(),
        "nginx".as_ref(),
    ])
    .ok();
    d
}

#[test]
fn lifecycle_basic_removal() {
    let d = daemon();
    let r = d
        .sh(
            "docker run -d --name nginx nginx\n\
             docker inspect nginx --format '{{json .State}}' | jq -r .Status\n\
             docker stop nginx\n\
             docker ps -a\n\
             docker rm nginx\n\
             echo left=$(docker ps -aq | wc -l)",
            true,
        )
        .ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0].len(), 64, "{}", r.stdout);
    assert_eq!(lines[1], "running");
    assert_eq!(lines[2], "nginx", "stop echoes the name");
    assert!(lines[3].starts_with("CONTAINER ID"), "{}", r.stdout);
    assert!(
        lines[4].contains("Exited (0)") && lines[4].ends_with("nginx"),
        "{}",
        r.stdout
    );
    assert_eq!(lines[5], "nginx", "rm echoes the name");
    assert_eq!(lines[6], "left=0");
}

#[test]
fn lifecycle_rm_option_and_force() {
    let d = daemon();
    let r = d
        .sh(
            "docker run --rm -d --name nginx nginx >/dev/null\n\
             docker stop nginx\n\
             sleep 0.5; echo after-stop=$(docker ps -aq | wc -l)\n\
             docker run -d --name nginx nginx >/dev/null\n\
             docker rm -f nginx\n\
             echo after-rm-f=$(docker ps -aq | wc -l)",
            true,
        )
        .ok();
    assert_eq!(r.stdout, "nginx\nafter-stop=0\nnginx\nafter-rm-f=0\n");
}

#[test]
fn stop_and_rm_everything_by_subshell() {
    let d = daemon();
    let r = d
        .sh(
            "for i in 1 2 3; do docker run -d nginx >/dev/null; done\n\
             docker stop $(docker ps -a -q) >/dev/null\n\
             docker rm $(docker ps -aq) >/dev/null\n\
             echo left=$(docker ps -aq | wc -l)",
            true,
        )
        .ok();
    assert_eq!(r.stdout, "left=0\n");
}
