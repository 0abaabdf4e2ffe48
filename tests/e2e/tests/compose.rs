//! `berth compose` end to end: a three-service app (web → app → db) on busybox with a
//! health-gated `depends_on`, name resolution on the project network, a port
//! published on 127.0.0.1, a named volume; idempotent `up`, a changed service
//! recreated alone, and `down -v` leaving nothing. A second test drives the same
//! daemon with Debian's `docker-compose` 1.29 (the Python client).

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use berth_e2e::*;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on 127.0.0.1:port; the body when the answer is 200.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    let status = head.lines().next().unwrap_or("");
    status.contains(" 200 ").then(|| body.to_string())
}

/// The app: `db` serves a file from a named volume (healthy once it answers), `app`
/// copies it from `db` by name and serves it, `web` copies it from `app` and serves
/// it on a published port. The copy only arrives at the host if both names resolve.
const APP: &str = r#"
services:
  db:
    image: busybox
    command: ["sh", "-c", "echo \"db says ${GREETING:-hello}\" > /data/index.html; exec httpd -f -p 80 -h /data"]
    volumes:
      - dbdata:/data
    healthcheck:
      test: ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1/index.html"]
      interval: 300ms
      timeout: 2s
      retries: 60
  app:
    image: busybox
    environment:
      APP_MODE: ${APP_MODE:-one}
    command: ["sh", "-c", "mkdir -p /www; (while true; do wget -q -O /www/index.tmp http://db/index.html && mv /www/index.tmp /www/index.html; sleep 0.3; done) & exec httpd -f -p 8080 -h /www"]
    depends_on:
      db:
        condition: service_healthy
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /srv; (while true; do wget -q -O /srv/index.tmp http://app:8080/index.html && mv /srv/index.tmp /srv/index.html; sleep 0.3; done) & exec httpd -f -p 80 -h /srv"]
    ports:
      - "127.0.0.1:${WEB_PORT}:80"
    depends_on:
      - app
volumes:
  dbdata: {}
"#;

struct Project {
    dir: PathBuf,
    name: String,
}

impl Project {
    fn new(d: &Daemon, text: &str) -> Project {
        let name = format!("ct{}", rand_hex(6));
        let dir = d.root.join(&name);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("compose.yaml"), text).unwrap();
        Project { dir, name }
    }

    fn compose<S: AsRef<std::ffi::OsStr>>(
        &self,
        d: &Daemon,
        env: &[(&str, &str)],
        args: &[S],
    ) -> Run {
        let mut c = d.berth_cmd(["compose", "-p", &self.name]);
        c.args(args).current_dir(&self.dir);
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().expect("run berth compose");
        Run {
            status: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Container name → id of the project's containers (any state).
fn ids(d: &Daemon, project: &str) -> BTreeMap<String, String> {
    let r = d
        .berth([
            "ps",
            "-a",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
            "--format",
            "{{.Names}} {{.ID}}",
            "--no-trunc",
        ])
        .ok();
    r.stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, i)| (n.to_string(), i.to_string()))
        .collect()
}

fn inspect(d: &Daemon, what: &str, format: &str) -> Run {
    d.berth(["inspect", "--format", format, what])
}

fn line_index(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
}

#[test]
fn three_service_app_lifecycle() {
    assert!(is_root(), "end-to-end tests need root");
    let d = Daemon::start();
    d.import_busybox("busybox");
    let p = Project::new(&d, APP);
    let port = free_port().to_string();
    let env = [("WEB_PORT", port.as_str())];
    let n = &p.name;

    // `config` shows the interpolated, normalized model.
    let cfg = p.compose(&d, &env, &["config"]).ok();
    assert!(
        cfg.stdout.contains(&format!("published: '{port}'"))
            || cfg.stdout.contains(&format!("published: \"{port}\"")),
        "{}",
        cfg.stdout
    );
    assert!(cfg.stdout.contains("db says hello"), "{}", cfg.stdout);

    let t0 = std::time::Instant::now();
    let up = p.compose(&d, &env, &["up", "-d"]);
    figure("compose_first_up_3_services_ms", t0.elapsed().as_millis());
    assert_eq!(up.status, 0, "{up:#?}");
    // The health gate: app starts only after db is reported healthy.
    let healthy = line_index(&up.stderr, &format!("Container {n}-db-1  Healthy"));
    let app_started = line_index(&up.stderr, &format!("Container {n}-app-1  Started"));
    assert!(healthy < app_started, "{}", up.stderr);
    assert_eq!(
        inspect(&d, &format!("{n}-db-1"), "{{.State.Health.Status}}")
            .ok()
            .stdout
            .trim(),
        "healthy"
    );

    // Names and labels as Docker Compose v2 writes them.
    let before = ids(&d, n);
    let names: Vec<&String> = before.keys().collect();
    assert_eq!(
        names,
        vec![
            &format!("{n}-app-1"),
            &format!("{n}-db-1"),
            &format!("{n}-web-1")
        ]
    );
    let labels = inspect(&d, &format!("{n}-web-1"), "{{json .Config.Labels}}").ok();
    let labels: serde_json::Value = serde_json::from_str(labels.stdout.trim()).unwrap();
    assert_eq!(labels["com.docker.compose.project"], n.as_str());
    assert_eq!(labels["com.docker.compose.service"], "web");
    assert_eq!(labels["com.docker.compose.container-number"], "1");
    assert_eq!(labels["com.docker.compose.oneoff"], "False");
    assert_eq!(
        labels["com.docker.compose.config-hash"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    assert_eq!(
        labels["com.docker.compose.project.working_dir"],
        p.dir.to_str().unwrap()
    );
    assert_eq!(
        labels["com.docker.compose.project.config_files"],
        p.dir.join("compose.yaml").to_str().unwrap()
    );
    let net = format!("{n}_default");
    let r = d
        .berth([
            "network",
            "inspect",
            "--format",
            "{{index .Labels \"com.docker.compose.network\"}}",
            &net,
        ])
        .ok();
    assert_eq!(r.stdout.trim(), "default");
    let vol = format!("{n}_dbdata");
    let r = d
        .berth([
            "volume",
            "inspect",
            "--format",
            "{{index .Labels \"com.docker.compose.volume\"}}",
            &vol,
        ])
        .ok();
    assert_eq!(r.stdout.trim(), "dbdata");

    // Name resolution end to end, and the published port on 127.0.0.1.
    let mut body = None;
    d.wait_for(30, || {
        body = http_get(port.parse().unwrap(), "/index.html");
        body.is_some()
    });
    assert_eq!(
        body.as_deref(),
        Some("db says hello\n"),
        "web did not serve db's file through app"
    );

    // ps lists the three services.
    let ps = p.compose(&d, &env, &["ps"]).ok();
    for s in ["db", "app", "web"] {
        assert!(ps.stdout.contains(&format!("{n}-{s}-1")), "{}", ps.stdout);
    }
    assert!(
        ps.stdout.contains(&format!("127.0.0.1:{port}->80/tcp")),
        "{}",
        ps.stdout
    );

    // logs: per-service prefixes.
    let logs = p.compose(&d, &env, &["logs", "db"]).ok();
    assert!(
        logs.stdout.lines().all(|l| l.starts_with("db-1  | ")),
        "{}",
        logs.stdout
    );

    // An unchanged `up` recreates nothing.
    let t0 = std::time::Instant::now();
    let again = p.compose(&d, &env, &["up", "-d"]);
    figure("compose_unchanged_up_ms", t0.elapsed().as_millis());
    assert_eq!(again.status, 0, "{again:#?}");
    assert_eq!(
        ids(&d, n),
        before,
        "unchanged up changed containers: {}",
        again.stderr
    );
    assert!(!again.stderr.contains("Recreate"), "{}", again.stderr);

    // A changed service is recreated alone.
    let env2 = [("WEB_PORT", port.as_str()), ("APP_MODE", "two")];
    let changed = p.compose(&d, &env2, &["up", "-d"]);
    assert_eq!(changed.status, 0, "{changed:#?}");
    let after = ids(&d, n);
    assert_eq!(after.len(), 3, "{after:?}");
    assert_ne!(after[&format!("{n}-app-1")], before[&format!("{n}-app-1")]);
    assert_eq!(after[&format!("{n}-db-1")], before[&format!("{n}-db-1")]);
    assert_eq!(after[&format!("{n}-web-1")], before[&format!("{n}-web-1")]);
    let mode = inspect(&d, &format!("{n}-app-1"), "{{json .Config.Env}}").ok();
    assert!(mode.stdout.contains("APP_MODE=two"), "{}", mode.stdout);

    // exec and run reach the project network.
    let ex = p.compose(
        &d,
        &env2,
        &[
            "exec",
            "-T",
            "app",
            "wget",
            "-q",
            "-O",
            "-",
            "http://db/index.html",
        ],
    );
    assert_eq!(ex.status, 0, "{ex:#?}");
    assert_eq!(ex.stdout, "db says hello\n");
    let run = p.compose(
        &d,
        &env2,
        &[
            "run",
            "--rm",
            "-T",
            "--no-deps",
            "app",
            "sh",
            "-c",
            "exit 3",
        ],
    );
    assert_eq!(run.status, 3, "{run:#?}");

    // down -v leaves nothing: containers, network, volume.
    let t0 = std::time::Instant::now();
    let down = p.compose(&d, &env2, &["down", "-v", "-t", "1"]);
    figure("compose_down_3_services_ms", t0.elapsed().as_millis());
    assert_eq!(down.status, 0, "{down:#?}");
    assert!(ids(&d, n).is_empty(), "{:?}", ids(&d, n));
    assert_ne!(d.berth(["network", "inspect", &net]).status, 0);
    assert_ne!(d.berth(["volume", "inspect", &vol]).status, 0);
    assert!(http_get(port.parse().unwrap(), "/index.html").is_none());
}

#[test]
fn validation_errors_name_the_key() {
    let d = Daemon::start();
    let p = Project::new(
        &d,
        "services:\n  web:\n    image: busybox\n    bogus_key: 1\n",
    );
    let r = p.compose(&d, &[], &["config"]);
    assert_eq!(r.status, 1);
    assert!(
        r.stderr
            .contains("services.web additional property 'bogus_key' not allowed"),
        "{}",
        r.stderr
    );
    let p = Project::new(
        &d,
        "services:\n  web:\n    image: \"${NEED:?please set NEED}\"\n",
    );
    let r = p.compose(&d, &[], &["up", "-d"]);
    assert_eq!(r.status, 1);
    assert!(
        r.stderr
            .contains("required variable NEED is missing a value: please set NEED"),
        "{}",
        r.stderr
    );
}

#[test]
fn scale_and_orphans() {
    let d = Daemon::start();
    d.import_busybox("busybox");
    let loop_cmd =
        "command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 0.2; done\"]";
    let p = Project::new(&d, &format!("services:\n  w:\n    image: busybox\n    {loop_cmd}\n  gone:\n    image: busybox\n    {loop_cmd}\n"));
    let n = &p.name;
    p.compose(&d, &[], &["up", "-d", "--scale", "w=3"]).ok();
    let names: Vec<String> = ids(&d, n).into_keys().collect();
    assert_eq!(
        names,
        vec![
            format!("{n}-gone-1"),
            format!("{n}-w-1"),
            format!("{n}-w-2"),
            format!("{n}-w-3")
        ]
    );
    p.compose(&d, &[], &["up", "-d", "--scale", "w=1"]).ok();
    assert_eq!(ids(&d, n).len(), 2);
    // `gone` leaves the file: an orphan, removed only with --remove-orphans.
    fs::write(
        p.dir.join("compose.yaml"),
        format!("services:\n  w:\n    image: busybox\n    {loop_cmd}\n"),
    )
    .unwrap();
    let r = p.compose(&d, &[], &["up", "-d"]).ok();
    assert!(r.stderr.contains("Found orphan containers"), "{}", r.stderr);
    assert_eq!(ids(&d, n).len(), 2);
    p.compose(&d, &[], &["up", "-d", "--remove-orphans"]).ok();
    let names: Vec<String> = ids(&d, n).into_keys().collect();
    assert_eq!(names, vec![format!("{n}-w-1")]);
    p.compose(&d, &[], &["stop"]).ok();
    assert_eq!(
        inspect(&d, &format!("{n}-w-1"), "{{.State.Status}}")
            .ok()
            .stdout
            .trim(),
        "exited"
    );
    p.compose(&d, &[], &["start"]).ok();
    assert_eq!(
        inspect(&d, &format!("{n}-w-1"), "{{.State.Status}}")
            .ok()
            .stdout
            .trim(),
        "running"
    );
    p.compose(&d, &[], &["down"]).ok();
    assert!(ids(&d, n).is_empty());
}

fn docker_compose() -> Option<PathBuf> {
    let p = Path::new("/usr/bin/docker-compose");
    p.exists().then(|| p.to_path_buf())
}

#[test]
fn docker_compose_v1_drives_berthd() {
    let Some(dc) = docker_compose() else {
        panic!("docker-compose is not installed: run scripts/deps.sh test");
    };
    let d = Daemon::start();
    d.import_busybox("busybox");
    let port = free_port();
    let text = format!(
        "version: \"2.4\"\nservices:\n  db:\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo from-db > /data/index.html; echo db-ready; exec httpd -f -p 80 -h /data\"]\n    volumes:\n      - dbdata:/data\n  web:\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo web-ready; mkdir -p /srv; (while true; do wget -q -O /srv/index.tmp http://db/index.html && mv /srv/index.tmp /srv/index.html; sleep 0.3; done) & exec httpd -f -p 80 -h /srv\"]\n    ports:\n      - \"127.0.0.1:{port}:80\"\n    depends_on:\n      - db\nvolumes:\n  dbdata: {{}}\n"
    );
    let p = Project::new(&d, &text);
    let n = &p.name;
    let run = |args: &[&str]| -> Run {
        let o = Command::new(&dc)
            .args(["-p", n])
            .args(args)
            .current_dir(&p.dir)
            .env("DOCKER_HOST", d.host())
            .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run docker-compose");
        Run {
            status: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    };
    let up = run(&["up", "-d"]);
    assert_eq!(up.status, 0, "{up:#?}");
    // docker-compose 1.x names containers <project>_<service>_1.
    let names: Vec<String> = ids(&d, n).into_keys().collect();
    assert_eq!(
        names,
        vec![format!("{n}_db_1"), format!("{n}_web_1")],
        "{up:#?}"
    );
    let ps = run(&["ps"]);
    assert_eq!(ps.status, 0, "{ps:#?}");
    assert!(
        ps.stdout.contains(&format!("{n}_db_1")) && ps.stdout.contains("Up"),
        "{ps:#?}"
    );
    let mut body = None;
    d.wait_for(30, || {
        body = http_get(port, "/index.html");
        body.is_some()
    });
    if body.is_none() {
        let logs = run(&["logs", "--no-color"]);
        let web = inspect(&d, &format!("{n}_web_1"), "{{json .NetworkSettings}}");
        let db = inspect(
            &d,
            &format!("{n}_db_1"),
            "{{json .NetworkSettings.Networks}}",
        );
        let look = d.berth([
            "exec",
            &format!("{n}_web_1"),
            "wget",
            "-O-",
            "http://db/index.html",
        ]);
        let local = d.berth([
            "exec",
            &format!("{n}_web_1"),
            "wget",
            "-O-",
            "http://127.0.0.1/index.html",
        ]);
        panic!(
            "no answer on the published port:\n{logs:#?}\nweb: {}\ndb: {}\n{look:#?}\n{local:#?}",
            web.stdout, db.stdout
        );
    }
    assert_eq!(body.as_deref(), Some("from-db\n"));
    let logs = run(&["logs", "--no-color"]);
    assert_eq!(logs.status, 0, "{logs:#?}");
    assert!(
        logs.stdout.contains("db-ready") && logs.stdout.contains("web-ready"),
        "{logs:#?}"
    );
    // exec, one-off run, port, stop/start.
    let ex = run(&["exec", "-T", "db", "cat", "/data/index.html"]);
    assert_eq!((ex.status, ex.stdout.as_str()), (0, "from-db\n"), "{ex:#?}");
    // docker-compose 1.x attaches the one-off's streams only after starting it (a lazy
    // `map` in its terminal code), so a command that exits at once races the attach
    // (with Docker its output is lost); give it a moment.
    let one = run(&[
        "run",
        "--rm",
        "-T",
        "db",
        "sh",
        "-c",
        "sleep 1; echo one-off",
    ]);
    assert_eq!(one.status, 0, "{one:#?}\n{}", d.log());
    assert!(one.stdout.contains("one-off"), "{one:#?}");
    let pt = run(&["port", "web", "80"]);
    assert_eq!(pt.stdout.trim(), format!("127.0.0.1:{port}"), "{pt:#?}");
    let st = run(&["stop", "-t", "1"]);
    assert_eq!(st.status, 0, "{st:#?}");
    let ps = run(&["ps"]);
    assert!(ps.stdout.contains("Exit"), "{ps:#?}");
    let st = run(&["start"]);
    assert_eq!(st.status, 0, "{st:#?}");
    // A second `up` keeps the containers.
    let before = ids(&d, n);
    let again = run(&["up", "-d"]);
    assert_eq!(again.status, 0, "{again:#?}");
    assert_eq!(ids(&d, n), before, "{again:#?}");
    let down = run(&["down", "-v", "-t", "1"]);
    assert_eq!(down.status, 0, "{down:#?}");
    assert!(ids(&d, n).is_empty());
    assert_ne!(
        d.berth(["network", "inspect", &format!("{n}_default")])
            .status,
        0
    );
    assert_ne!(
        d.berth(["volume", "inspect", &format!("{n}_dbdata")])
            .status,
        0
    );
}

/// The Docker notes' todo application: a database and an app on their own `todo`
/// network, the app reaching the database by the name `mysql`, the data on a named
/// volume that outlives `down` and goes with `down -v`. Busybox stands in for MySQL
/// (httpd serving its data directory) and Node.js (httpd serving what it read).
#[test]
fn notes_todo_app_keeps_data_on_its_volume() {
    let d = Daemon::start();
    d.import_busybox("busybox");
    let port = free_port();
    let text = format!(
        r#"
services:
  mysql:
    image: busybox
    command: ["sh", "-c", "echo boot >> /var/lib/mysql/boots; exec httpd -f -p 3306 -h /var/lib/mysql"]
    volumes:
      - todo-mysql-data:/var/lib/mysql
    networks: [todo]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:3306/boots"]
      interval: 200ms
      retries: 50
  app:
    image: busybox
    command: ["sh", "-c", "mkdir -p /app; (while true; do wget -q -O /app/t http://mysql:3306/boots && mv /app/t /app/boots; sleep 0.2; done) & exec httpd -f -p 3000 -h /app"]
    ports: ["127.0.0.1:{port}:3000"]
    networks: [todo]
    depends_on:
      mysql: {{condition: service_healthy}}
networks:
  todo: {{}}
volumes:
  todo-mysql-data: {{}}
"#
    );
    let p = Project::new(&d, &text);
    let boots = |want: &str| {
        let mut got = None;
        d.wait_for(30, || {
            got = http_get(port, "/boots");
            got.as_deref() == Some(want)
        });
        assert_eq!(got.as_deref(), Some(want));
    };
    p.compose(&d, &[], &["up", "-d"]).ok();
    let net = format!("{}_todo", p.name);
    let r = d
        .berth(["network", "inspect", "--format", "{{.Name}}", &net])
        .ok();
    assert_eq!(r.stdout.trim(), net);
    boots("boot\n");
    // `down` keeps the volume: the second start sees the first one's data.
    p.compose(&d, &[], &["down", "-t", "1"]).ok();
    p.compose(&d, &[], &["up", "-d"]).ok();
    boots("boot\nboot\n");
    // `down -v` removes it: a fresh start.
    p.compose(&d, &[], &["down", "-v", "-t", "1"]).ok();
    p.compose(&d, &[], &["up", "-d", "--wait"]).ok();
    boots("boot\n");
    p.compose(&d, &[], &["down", "-v", "-t", "1"]).ok();
    assert!(ids(&d, &p.name).is_empty());
    assert_ne!(d.berth(["network", "inspect", &net]).status, 0);
}

#[test]
fn attached_up_prefixes_output_and_returns_when_done() {
    let d = Daemon::start();
    d.import_busybox("busybox");
    let p = Project::new(
        &d,
        "services:\n  hello:\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo hello from compose; echo second line\"]\n",
    );
    let r = p.compose(&d, &[], &["up"]);
    assert_eq!(r.status, 0, "{r:#?}");
    assert!(
        r.stdout
            .contains("hello-1  | hello from compose\nhello-1  | second line\n"),
        "{r:#?}"
    );
    assert!(r.stdout.contains("hello-1 exited with code 0"), "{r:#?}");
    let logs = p.compose(&d, &[], &["logs", "--no-log-prefix"]).ok();
    assert_eq!(logs.stdout, "hello from compose\nsecond line\n");
    p.compose(&d, &[], &["down"]).ok();
}

#[test]
fn build_and_rebuild_recreates() {
    let d = Daemon::start();
    d.import_busybox("busybox");
    let p = Project::new(
        &d,
        "services:\n  app:\n    build: ./app\n    command: [\"sh\", \"-c\", \"cat /version; trap 'exit 0' TERM; while true; do sleep 0.2; done\"]\n",
    );
    fs::create_dir_all(p.dir.join("app")).unwrap();
    let dockerfile = |v: &str| {
        fs::write(
            p.dir.join("app/Dockerfile"),
            format!("FROM busybox\nRUN echo {v} > /version\n"),
        )
        .unwrap();
    };
    dockerfile("v1");
    let n = &p.name;
    let up = p.compose(&d, &[], &["up", "-d"]);
    assert_eq!(up.status, 0, "{up:#?}");
    let image = format!("{n}-app");
    let r = d
        .berth(["image", "inspect", "--format", "{{.Id}}", &image])
        .ok();
    assert!(r.stdout.starts_with("sha256:"), "{r:#?}");
    let run = p.compose(&d, &[], &["run", "--rm", "-T", "app", "cat", "/version"]);
    assert_eq!(run.status, 0, "{run:#?}");
    assert_eq!(run.stdout, "v1\n");
    let first = ids(&d, n);
    // Unchanged: no rebuild needed, nothing recreated.
    p.compose(&d, &[], &["up", "-d"]).ok();
    assert_eq!(ids(&d, n), first);
    // A new image from `--build` recreates the container.
    dockerfile("v2");
    let up = p.compose(&d, &[], &["up", "-d", "--build"]);
    assert_eq!(up.status, 0, "{up:#?}");
    let second = ids(&d, n);
    assert_eq!(second.len(), 1);
    assert_ne!(second, first, "{}", up.stderr);
    let mut out = String::new();
    d.wait_for(10, || {
        out = p.compose(&d, &[], &["logs", "--no-log-prefix"]).stdout;
        out.contains("v2")
    });
    assert_eq!(out, "v2\n");
    p.compose(&d, &[], &["down", "--rmi", "local"]).ok();
    assert_ne!(d.berth(["image", "inspect", &image]).status, 0);
}

const SERVER_AND_CLIENT: &str = r#"
services:
  server:
    image: busybox
    command: ["sh", "-c", "trap 'echo server stopping; exit 0' TERM; echo server up; while true; do sleep 0.1; done"]
  client:
    image: busybox
    command: ["sh", "-c", "sleep 0.5; echo client done; exit 7"]
    depends_on: [server]
"#;

#[test]
fn exit_code_from_stops_the_rest() {
    let d = Daemon::start();
    d.import_busybox("busybox");
    let p = Project::new(&d, SERVER_AND_CLIENT);
    let n = &p.name;
    let r = p.compose(&d, &[], &["up", "--exit-code-from", "client"]);
    assert_eq!(r.status, 7, "{r:#?}");
    assert!(r.stdout.contains("client-1  | client done"), "{r:#?}");
    assert!(r.stdout.contains("server-1  | server stopping"), "{r:#?}");
    assert!(r.stdout.contains("Aborting on container exit..."), "{r:#?}");
    let st = inspect(&d, &format!("{n}-server-1"), "{{.State.Status}}").ok();
    assert_eq!(st.stdout.trim(), "exited");
    let bad = p.compose(&d, &[], &["up", "-d", "--abort-on-container-exit"]);
    assert_eq!(bad.status, 1);
    assert!(bad.stderr.contains("incompatible"), "{bad:#?}");
    p.compose(&d, &[], &["down"]).ok();
}

#[test]
fn interrupted_attached_up_stops_containers() {
    let d = Daemon::start();
    d.import_busybox("busybox");
    let p = Project::new(&d, SERVER_AND_CLIENT);
    let n = &p.name;
    let mut c = d.berth_cmd(["compose", "-p", n.as_str(), "up", "server"]);
    c.current_dir(&p.dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let running = d.wait_for(20, || {
        inspect(&d, &format!("{n}-server-1"), "{{.State.Status}}")
            .stdout
            .trim()
            == "running"
    });
    assert!(running);
    // Let the log stream attach before interrupting.
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill(2) on the child this test spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let mut status = None;
    d.wait_for(20, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let Some(status) = status else {
        let _ = child.kill();
        panic!("compose up did not end after SIGINT");
    };
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(130), "{out}\n{err}");
    assert!(err.contains("Gracefully stopping..."), "{err}");
    assert!(out.contains("server-1  | server stopping"), "{out}");
    let st = inspect(&d, &format!("{n}-server-1"), "{{.State.Status}}").ok();
    assert_eq!(st.stdout.trim(), "exited");
    assert!(!ids(&d, n).contains_key(&format!("{n}-client-1")));
    p.compose(&d, &[], &["down"]).ok();
}

#[test]
fn secrets_anonymous_volumes_pause_and_ls() {
    let d = Daemon::start();
    d.import_busybox("busybox");
    let text = r#"
services:
  s:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
    environment:
      REV: ${REV:-1}
    secrets: [pw]
    volumes: [/cache]
secrets:
  pw:
    file: ./pw.txt
"#;
    let p = Project::new(&d, text);
    fs::write(p.dir.join("pw.txt"), "s3cret\n").unwrap();
    let n = &p.name;
    p.compose(&d, &[], &["up", "-d"]).ok();
    let r = p
        .compose(&d, &[], &["exec", "-T", "s", "cat", "/run/secrets/pw"])
        .ok();
    assert_eq!(r.stdout, "s3cret\n");
    let w = p.compose(
        &d,
        &[],
        &[
            "exec",
            "-T",
            "s",
            "sh",
            "-c",
            "echo kept > /cache/marker; echo x > /run/secrets/pw",
        ],
    );
    assert_ne!(w.status, 0, "secrets are read-only: {w:#?}");
    // Recreated (REV changed), the anonymous volume comes along.
    let before = ids(&d, n);
    p.compose(&d, &[("REV", "2")], &["up", "-d"]).ok();
    assert_ne!(ids(&d, n), before);
    let r = p.compose(
        &d,
        &[("REV", "2")],
        &["exec", "-T", "s", "cat", "/cache/marker"],
    );
    assert_eq!((r.status, r.stdout.as_str()), (0, "kept\n"), "{r:#?}");
    assert_eq!(
        d.berth(["volume", "ls", "-q"]).ok().stdout.lines().count(),
        1
    );
    // -V: a fresh anonymous volume instead (the old one goes with the old container).
    p.compose(&d, &[("REV", "3")], &["up", "-d", "-V"]).ok();
    let r = p
        .compose(&d, &[("REV", "3")], &["exec", "-T", "s", "ls", "/cache"])
        .ok();
    assert_eq!(r.stdout, "");
    assert_eq!(
        d.berth(["volume", "ls", "-q"]).ok().stdout.lines().count(),
        1
    );
    p.compose(&d, &[("REV", "2")], &["up", "-d"]).ok();

    p.compose(&d, &[("REV", "2")], &["pause"]).ok();
    assert_eq!(
        inspect(&d, &format!("{n}-s-1"), "{{.State.Status}}")
            .ok()
            .stdout
            .trim(),
        "paused"
    );
    p.compose(&d, &[("REV", "2")], &["unpause"]).ok();
    assert_eq!(
        inspect(&d, &format!("{n}-s-1"), "{{.State.Status}}")
            .ok()
            .stdout
            .trim(),
        "running"
    );
    let ls = p.compose(&d, &[], &["ls"]).ok();
    let row = ls
        .stdout
        .lines()
        .find(|l| l.starts_with(n.as_str()))
        .unwrap_or_else(|| panic!("{ls:#?}"));
    assert!(
        row.contains("running(1)") && row.contains("compose.yaml"),
        "{row}"
    );
    let v = p.compose(&d, &[], &["version", "--short"]).ok();
    assert!(v.stdout.trim().starts_with('2'), "{v:#?}");
    p.compose(&d, &[("REV", "2")], &["down", "-v"]).ok();
    assert_eq!(d.berth(["volume", "ls", "-q"]).ok().stdout.trim(), "");
}

#[test]
fn files_env_files_profiles_and_dependent_restart() {
    let d = Daemon::start();
    d.import_busybox("busybox");
    let looped = r#"["sh", "-c", "trap 'exit 0' TERM; echo started $$NAME; while true; do sleep 0.1; done"]"#;
    let base = format!(
        "services:\n  db:\n    image: busybox\n    command: {looped}\n    environment: {{NAME: db, V: \"${{V:-0}}\"}}\n  api:\n    image: busybox\n    command: {looped}\n    environment: {{NAME: api}}\n    depends_on:\n      db: {{condition: service_started, restart: true}}\n  debug:\n    image: busybox\n    command: {looped}\n    profiles: [dev]\n"
    );
    let p = Project::new(&d, &base);
    fs::write(
        p.dir.join("override.yml"),
        "services:\n  api:\n    environment:\n      EXTRA: from-override\n",
    )
    .unwrap();
    fs::write(p.dir.join("one.env"), "V=1\n").unwrap();
    fs::write(p.dir.join("two.env"), "V=2\n").unwrap();
    let n = &p.name;
    let files = ["-f", "compose.yaml", "-f", "override.yml"];
    let with = |extra: &[&str]| -> Vec<String> {
        files.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    let env_file = |f: &str| -> Vec<String> {
        let mut v = vec!["--env-file".to_string(), f.to_string()];
        v.extend(with(&["up", "-d"]));
        v
    };
    let cfg = p.compose(&d, &[], &with(&["config", "--services"])).ok();
    assert_eq!(cfg.stdout, "api\ndb\n");
    let cfg = p
        .compose(&d, &[], &["--profile", "dev", "config", "--services"])
        .ok();
    assert_eq!(cfg.stdout, "api\ndb\ndebug\n");

    p.compose(&d, &[], &env_file("one.env")).ok();
    let env = inspect(&d, &format!("{n}-api-1"), "{{json .Config.Env}}").ok();
    assert!(env.stdout.contains("EXTRA=from-override"), "{}", env.stdout);
    assert!(!ids(&d, n).contains_key(&format!("{n}-debug-1")));
    let api_started = inspect(&d, &format!("{n}-api-1"), "{{.State.StartedAt}}")
        .ok()
        .stdout;

    // db changes (V=2): db is recreated; api is kept but restarted (restart: true).
    let before = ids(&d, n);
    let r = p.compose(&d, &[], &env_file("two.env")).ok();
    let after = ids(&d, n);
    assert_ne!(after[&format!("{n}-db-1")], before[&format!("{n}-db-1")]);
    assert_eq!(after[&format!("{n}-api-1")], before[&format!("{n}-api-1")]);
    assert!(
        r.stderr
            .contains(&format!("Container {n}-api-1  Restarting")),
        "{}",
        r.stderr
    );
    let api_restarted = inspect(&d, &format!("{n}-api-1"), "{{.State.StartedAt}}")
        .ok()
        .stdout;
    assert_ne!(api_started, api_restarted);

    // Naming a service with a profile enables it.
    p.compose(&d, &[], &["up", "-d", "debug"]).ok();
    assert!(ids(&d, n).contains_key(&format!("{n}-debug-1")));
    p.compose(&d, &[], &["--profile", "dev", "down"]).ok();
    assert!(ids(&d, n).is_empty());
}

/// The service keys users use reach the engine: two networks with a static address
/// and an alias (the second joined through `/networks/{id}/connect`), resources,
/// identity, filesystem and process settings, an external network.
#[test]
fn service_keys_reach_the_engine() {
    let d = Daemon::start();
    d.import_busybox("busybox");
    let front = d.net.subnet(5);
    let back = d.net.subnet(6);
    let static_ip = format!("{}.50", d.net.prefix24(6));
    let ext = format!("ext{}", rand_hex(4));
    d.berth(["network", "create", &ext]).ok();
    let text = format!(
        r#"
services:
  svc:
    image: busybox
    container_name: custom-${{COMPOSE_PROJECT_NAME}}
    hostname: svchost
    working_dir: /tmp
    user: "1000:1000"
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
    labels: {{tier: backend}}
    networks:
      front: {{}}
      back:
        aliases: [database]
        ipv4_address: {static_ip}
      outside: {{}}
    mem_limit: 64m
    cpus: 0.5
    tmpfs: [/scratch]
    cap_drop: [NET_RAW]
    cap_add: [SYS_TIME]
    read_only: true
    init: true
    stop_signal: SIGUSR1
    stop_grace_period: 3s
    ulimits: {{nofile: {{soft: 1000, hard: 2000}}}}
    logging: {{driver: json-file, options: {{max-size: 1m}}}}
    restart: unless-stopped
  client:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
    networks: [back]
    deploy: {{resources: {{limits: {{memory: 32m, cpus: "0.25"}}}}}}
networks:
  front:
    ipam: {{config: [{{subnet: "{front}"}}]}}
  back:
    internal: true
    ipam: {{config: [{{subnet: "{back}"}}]}}
  outside:
    external: true
    name: {ext}
"#
    );
    let p = Project::new(&d, &text);
    let n = &p.name;
    let env = [("COMPOSE_PROJECT_NAME", n.as_str())];
    let up = p.compose(&d, &env, &["up", "-d"]);
    assert_eq!(up.status, 0, "{up:#?}");
    let name = format!("custom-{n}");
    let f = |fmt: &str| inspect(&d, &name, fmt).ok().stdout.trim().to_string();
    assert_eq!(
        f("{{.Config.Hostname}} {{.Config.WorkingDir}} {{.Config.User}}"),
        "svchost /tmp 1000:1000"
    );
    assert_eq!(f("{{index .Config.Labels \"tier\"}} {{index .Config.Labels \"com.docker.compose.service\"}}"), "backend svc");
    assert_eq!(
        f("{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}"),
        "67108864 500000000"
    );
    assert_eq!(f("{{json .HostConfig.Tmpfs}}"), r#"{"/scratch":""}"#);
    assert_eq!(
        f("{{json .HostConfig.CapAdd}} {{json .HostConfig.CapDrop}}"),
        r#"["SYS_TIME"] ["NET_RAW"]"#
    );
    assert_eq!(
        f("{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.Init}}"),
        "true true"
    );
    assert_eq!(
        f("{{.Config.StopSignal}} {{.Config.StopTimeout}}"),
        "SIGUSR1 3"
    );
    let ul: serde_json::Value = serde_json::from_str(&f("{{json .HostConfig.Ulimits}}")).unwrap();
    assert_eq!(
        ul,
        serde_json::json!([{"Name": "nofile", "Soft": 1000, "Hard": 2000}])
    );
    assert_eq!(
        f("{{.HostConfig.LogConfig.Type}} {{index .HostConfig.LogConfig.Config \"max-size\"}}"),
        "json-file 1m"
    );
    assert_eq!(f("{{.HostConfig.RestartPolicy.Name}}"), "unless-stopped");
    // Three networks: the static address and the alias on `back`.
    let nets = f("{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}");
    for want in [format!("{n}_front"), format!("{n}_back"), ext.clone()] {
        assert!(nets.split(' ').any(|x| x == want), "{want} not in {nets}");
    }
    assert_eq!(
        f(&format!(
            "{{{{(index .NetworkSettings.Networks \"{n}_back\").IPAddress}}}}"
        )),
        static_ip
    );
    let internal = d
        .berth([
            "network",
            "inspect",
            "--format",
            "{{.Internal}}",
            &format!("{n}_back"),
        ])
        .ok();
    assert_eq!(internal.stdout.trim(), "true");
    // The client resolves the service by its alias and by its service name.
    for host in ["database", "svc"] {
        let r = p.compose(&d, &env, &["exec", "-T", "client", "nslookup", host]);
        assert!(r.stdout.contains(&static_ip), "{host}: {r:#?}");
    }
    let c = format!("{n}-client-1");
    assert_eq!(
        inspect(&d, &c, "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}")
            .ok()
            .stdout
            .trim(),
        "33554432 250000000"
    );
    p.compose(&d, &env, &["down", "-t", "1"]).ok();
    // The external network stays; the project's go.
    assert_eq!(d.berth(["network", "inspect", &ext]).status, 0);
    assert_ne!(
        d.berth(["network", "inspect", &format!("{n}_back")]).status,
        0
    );
    d.berth(["network", "rm", &ext]).ok();
}

#[test]
fn cp_and_wait() {
    let d = Daemon::start();
    d.import_busybox("busybox");
    let p = Project::new(&d, SERVER_AND_CLIENT);
    p.compose(&d, &[], &["up", "-d", "server"]).ok();
    fs::write(p.dir.join("in.txt"), "to the container\n").unwrap();
    p.compose(&d, &[], &["cp", "in.txt", "server:/tmp/in.txt"])
        .ok();
    let r = p
        .compose(&d, &[], &["exec", "-T", "server", "cat", "/tmp/in.txt"])
        .ok();
    assert_eq!(r.stdout, "to the container\n");
    p.compose(&d, &[], &["cp", "server:/tmp/in.txt", "out.txt"])
        .ok();
    assert_eq!(
        fs::read_to_string(p.dir.join("out.txt")).unwrap(),
        "to the container\n"
    );
    // `wait` returns the exit status of the first container to stop.
    p.compose(&d, &[], &["up", "-d", "client"]).ok();
    let w = p.compose(&d, &[], &["wait", "client"]);
    assert_eq!((w.status, w.stdout.as_str()), (7, "7\n"), "{w:#?}");
    p.compose(&d, &[], &["down", "-t", "1"]).ok();
}
