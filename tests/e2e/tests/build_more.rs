//! Issue "Build", the rest: `COPY`/`ADD` with `--chown`/`--chmod`, `ADD` of a local tar
//! (extracted) and of an http URL (a loopback server of the test), `RUN --mount`
//! (cache, bind from the context and from a stage, tmpfs, secrets), and independent
//! stages running at the same time.

use berth_e2e::*;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

fn daemon() -> Daemon {
    assert!(is_root(), "end-to-end tests need root");
    let d = Daemon::start();
    d.import_busybox("busybox");
    d
}

/// A context directory under the daemon's root (removed with it).
fn context(d: &Daemon, files: &[(&str, &[u8])]) -> PathBuf {
    let dir = d.root.join(format!("ctx-{}", rand_hex(6)));
    for (name, body) in files {
        let p = dir.join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    }
    dir
}

fn build_in(d: &Daemon, dir: &Path, args: &[&str]) -> Run {
    let mut c = d.berth_cmd(["build"].iter().chain(args));
    c.current_dir(dir);
    let o = c.output().expect("run berth build");
    Run {
        status: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// `cat` of `path` in a fresh container of `image`.
fn cat(d: &Daemon, image: &str, path: &str) -> String {
    d.berth(["run", "--rm", image, "cat", path]).ok().stdout
}

/// A tar holding `x/y.txt` (0640, owned 7:8), optionally gzipped.
fn small_tar(gzip: bool) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o640);
    h.set_uid(7);
    h.set_gid(8);
    h.set_mtime(1_000_000);
    h.set_cksum();
    b.append_data(&mut h, "x/y.txt", &b"inside"[..]).unwrap();
    let bytes = b.into_inner().unwrap();
    if !gzip {
        return bytes;
    }
    let out = std::process::Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(&bytes)?;
            c.wait_with_output()
        })
        .unwrap();
    out.stdout
}

#[test]
fn build_copy_add_chown_chmod_and_local_tar_extraction() {
    let d = daemon();
    let dir = context(
        &d,
        &[
            (
                "Dockerfile",
                b"FROM busybox\n\
                  COPY --chown=1000:2000 a.txt /c/a.txt\n\
                  COPY --chmod=751 a.txt /c/m.txt\n\
                  ADD --chown=12:13 --chmod=600 dir /d/\n\
                  ADD arch.tar /t/\n\
                  ADD arch.tar.gz /tg/\n\
                  COPY arch.tar /raw/\n\
                  RUN stat -c '%u:%g %a %n' /c/a.txt /c/m.txt /d/b.txt /t/x/y.txt /tg/x/y.txt /raw/arch.tar > /stat\n",
            ),
            ("a.txt", b"a"),
            ("dir/b.txt", b"b"),
            ("arch.tar", &small_tar(false)),
            ("arch.tar.gz", &small_tar(true)),
        ],
    );
    let r = build_in(&d, &dir, &["-t", "perms", "."]);
    assert_eq!(r.status, 0, "{r:#?}");
    let stat = cat(&d, "perms", "/stat");
    let lines: Vec<&str> = stat.lines().collect();
    assert_eq!(
        lines,
        [
            "1000:2000 644 /c/a.txt",
            "0:0 751 /c/m.txt",
            "12:13 600 /d/b.txt",
            "7:8 640 /t/x/y.txt",
            "7:8 640 /tg/x/y.txt",
            "0:0 644 /raw/arch.tar",
        ],
        "{stat}"
    );
    assert_eq!(cat(&d, "perms", "/tg/x/y.txt"), "inside");
}

/// Serves `/files/hello.txt` (with a Last-Modified) and 404 for the rest, until dropped.
struct Http {
    addr: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Http {
    fn start() -> Http {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let st = stop.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                if st.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let Ok(mut s) = conn else { continue };
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut first = String::new();
                let _ = r.read_line(&mut first);
                let mut line = String::new();
                while r.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                    line.clear();
                }
                let (status, body) = if first.starts_with("GET /files/hello.txt ") {
                    ("200 OK", "hello over http\n")
                } else {
                    ("404 Not Found", "no such file\n")
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Http { addr, stop }
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(&self.addr);
    }
}

#[test]
fn build_add_from_an_http_url() {
    let http = Http::start();
    let d = daemon();
    let url = format!("http://{}/files/hello.txt", http.addr);
    // sha256 of "hello over http\n".
    let sum = {
        let out = std::process::Command::new("sh")
            .args(["-c", "printf 'hello over http\\n' | sha256sum"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()[..64].to_string()
    };
    let df = format!(
        "FROM busybox\nADD {url} /srv/\nADD --checksum=sha256:{sum} {url} /srv/checked.txt\n\
         RUN stat -c '%a %Y' /srv/hello.txt > /stat\n"
    );
    let dir = context(&d, &[("Dockerfile", df.as_bytes())]);
    let r = build_in(&d, &dir, &["-t", "fromurl", "."]);
    assert_eq!(r.status, 0, "{r:#?}");
    assert_eq!(cat(&d, "fromurl", "/srv/hello.txt"), "hello over http\n");
    assert_eq!(cat(&d, "fromurl", "/srv/checked.txt"), "hello over http\n");
    // Mode 0600 and the server's Last-Modified, like Docker's legacy builder.
    assert_eq!(cat(&d, "fromurl", "/stat").trim(), "600 784111777");

    let bad = context(
        &d,
        &[(
            "Dockerfile",
            format!("FROM busybox\nADD http://{}/missing.txt /srv/\n", http.addr).as_bytes(),
        )],
    );
    let r = build_in(&d, &bad, &["."]);
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("with status 404 Not Found"), "{r:#?}");
    let wrong = context(
        &d,
        &[(
            "Dockerfile",
            format!(
                "FROM busybox\nADD --checksum=sha256:{} {url} /srv/\n",
                "0".repeat(64)
            )
            .as_bytes(),
        )],
    );
    let r = build_in(&d, &wrong, &["."]);
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("digest mismatch"), "{r:#?}");
}

/// Mounts of the daemon's mount namespace under the test root that a build left.
fn build_mounts_left(d: &Daemon) -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&format!("{}/", d.data_root.display())) && l.contains("builder/"))
        .map(str::to_string)
        .collect()
}

#[test]
fn build_run_mounts_cache_bind_tmpfs_and_secrets() {
    let d = daemon();
    let id = format!("c-{}", rand_hex(6));
    let df = format!(
        "FROM busybox AS tools\n\
         RUN mkdir -p /opt && echo tool > /opt/tool.txt && echo second > /second.txt\n\
         FROM busybox\n\
         RUN --mount=type=cache,target=/cache,id={id} sh -c 'echo run >> /cache/log; wc -l < /cache/log > /count'\n\
         RUN --mount=type=bind,source=data,target=/data cp /data/in.txt /in.txt\n\
         RUN --mount=type=bind,from=tools,source=/opt,target=/tools cat /tools/tool.txt > /tool.txt\n\
         RUN --mount=type=tmpfs,target=/scratch sh -c 'echo x > /scratch/f && grep \" /scratch tmpfs \" /proc/mounts > /dev/null && echo tmpfs > /tmpfs'\n\
         RUN --mount=type=secret,id=none ls / > /ls\n"
    );
    let dir = context(
        &d,
        &[
            ("Dockerfile", df.as_bytes()),
            ("data/in.txt", b"from context\n"),
        ],
    );
    let r = build_in(&d, &dir, &["-t", "mounts", "."]);
    assert_eq!(r.status, 0, "{r:#?}");
    assert_eq!(cat(&d, "mounts", "/count").trim(), "1");
    assert_eq!(cat(&d, "mounts", "/in.txt"), "from context\n");
    assert_eq!(cat(&d, "mounts", "/tool.txt"), "tool\n");
    assert_eq!(cat(&d, "mounts", "/tmpfs"), "tmpfs\n");
    // Mount targets are not part of the image.
    let ls = cat(&d, "mounts", "/ls");
    for t in ["cache", "data", "tools", "scratch"] {
        assert!(!ls.lines().any(|l| l == t), "/{t} in the image: {ls}");
    }
    assert!(
        build_mounts_left(&d).is_empty(),
        "{:?}",
        build_mounts_left(&d)
    );

    // The cache outlives the build: a rebuild without the layer cache sees it.
    let r = build_in(&d, &dir, &["--no-cache", "-t", "mounts2", "."]);
    assert_eq!(r.status, 0, "{r:#?}");
    assert_eq!(cat(&d, "mounts2", "/count").trim(), "2");

    // A required secret the client did not send fails the step.
    let sec = context(
        &d,
        &[(
            "Dockerfile",
            b"FROM busybox\nRUN --mount=type=secret,id=tok,required cat /run/secrets/tok\n",
        )],
    );
    let r = build_in(&d, &sec, &["."]);
    assert_ne!(r.status, 0);
    assert!(r.stderr.contains("secret tok: not found"), "{r:#?}");
    // Read-only bind: writes fail.
    let ro = context(
        &d,
        &[
            (
                "Dockerfile",
                b"FROM busybox\nRUN --mount=type=bind,target=/ctx touch /ctx/new\n",
            ),
            ("f", b"f"),
        ],
    );
    let r = build_in(&d, &ro, &["."]);
    assert_ne!(r.status, 0, "{r:#?}");
    assert!(!ro.join("new").exists());
}

#[test]
fn build_independent_stages_run_at_the_same_time() {
    let d = daemon();
    let id = format!("par-{}", rand_hex(6));
    // Each stage waits (up to 10 s) for the other to show up in a shared cache mount:
    // only when both run at once do both see each other.
    let stage = |me: &str, other: &str| {
        format!(
            "FROM busybox AS {me}\n\
             RUN --mount=type=cache,target=/sync,id={id} sh -c 'touch /sync/{me}; i=0; while [ ! -e /sync/{other} ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; if [ -e /sync/{other} ]; then echo together; else echo alone; fi > /{me}.txt'\n"
        )
    };
    let df = format!(
        "{}{}FROM busybox\nCOPY --from=a /a.txt /a.txt\nCOPY --from=b /b.txt /b.txt\n",
        stage("a", "b"),
        stage("b", "a")
    );
    let dir = context(&d, &[("Dockerfile", df.as_bytes())]);
    let r = build_in(&d, &dir, &["-t", "par", "."]);
    assert_eq!(r.status, 0, "{r:#?}");
    assert_eq!(cat(&d, "par", "/a.txt"), "together\n");
    assert_eq!(cat(&d, "par", "/b.txt"), "together\n");
    // Progress is still written stage by stage, in order.
    let a = r
        .stdout
        .find("RUN --mount=type=cache,target=/sync,id=")
        .unwrap();
    let b = r
        .stdout
        .rfind("RUN --mount=type=cache,target=/sync,id=")
        .unwrap();
    assert!(a < b);
}
