//! Issue "Faults and abuse", more path escapes: build contexts with `../` and absolute
//! names, symlinks and hardlinks pointing outside, an `ADD`ed archive that climbs out;
//! and a `cp` racing a container that swaps a directory for a symlink. Host files are
//! canaries with a secret: no build or copy may write next to them or read them.

use berth_e2e::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn daemon() -> Daemon {
    assert!(is_root(), "end-to-end tests need root");
    let d = Daemon::start();
    d.import_busybox("busybox");
    d
}

enum E<'a> {
    File(&'a str, &'a [u8]),
    Sym(&'a str, &'a str),
    Hard(&'a str, &'a str),
}

/// A tar with names and link targets written byte for byte (the tar crate refuses
/// `..` and absolute names in `set_path`, which is exactly what must be sent).
fn raw_tar(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_old();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        let (name, data, link): (&str, &[u8], Option<&str>) = match e {
            E::File(n, d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                (n, d, None)
            }
            E::Sym(n, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                (n, b"", Some(t))
            }
            E::Hard(n, t) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                (n, b"", Some(t))
            }
        };
        h.set_size(data.len() as u64);
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(t) = link {
            old.linkname[..t.len()].copy_from_slice(t.as_bytes());
        }
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A host directory holding a secret file, removed at the end of the test.
struct Canary {
    dir: PathBuf,
    secret: String,
}

impl Canary {
    fn new() -> Canary {
        let dir = PathBuf::from(format!("/tmp/be-canary-{}", rand_hex(8)));
        fs::create_dir_all(&dir).unwrap();
        let secret = format!("SECRET-{}", rand_hex(12));
        fs::write(dir.join("secret"), &secret).unwrap();
        Canary { dir, secret }
    }

    /// Everything in the canary dir besides the secret (what an escape wrote).
    fn intruders(&self) -> Vec<String> {
        fs::read_dir(&self.dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "secret")
            .collect()
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// POST /build with a raw context tar; the whole streamed answer.
fn build_raw(d: &Daemon, tag: &str, context: &[u8]) -> String {
    let head = format!(
        "POST /v1.45/build?t={tag}&rm=1 HTTP/1.1\r\nHost: b\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        context.len()
    );
    d.raw_bytes(&head, context).unwrap()
}

#[test]
fn build_context_escapes_stay_inside() {
    let d = daemon();
    let c = Canary::new();
    let canary = c.dir.to_str().unwrap().to_string();
    let up = format!("../../../../../../..{canary}");
    let secret_abs = format!("{canary}/secret");
    // An archive ADD extracts inside the image: its entries climb out too.
    let inner = raw_tar(&[
        E::File(&format!("{up}/from-add"), b"x"),
        E::File(&format!("{canary}/from-add-abs"), b"x"),
        E::Sym("inner-link", &canary),
        E::File("inner-link/through-inner-link", b"x"),
    ]);
    let mut tried = 0;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dotdot names",
            raw_tar(&[E::File(&format!("{up}/from-dotdot"), b"x")]),
            "COPY . /ctx/\n",
        ),
        (
            "absolute names",
            raw_tar(&[E::File(&format!("{canary}/from-abs"), b"x")]),
            "COPY . /ctx/\n",
        ),
        (
            "symlink out, then a file through it",
            raw_tar(&[E::Sym("out", &canary), E::File("out/through-symlink", b"x")]),
            "COPY . /ctx/\n",
        ),
        (
            "COPY through an absolute symlink",
            raw_tar(&[E::Sym("abs", &canary)]),
            "COPY abs/secret /x\n",
        ),
        (
            "COPY through a relative symlink",
            raw_tar(&[E::Sym("rel", &up)]),
            "COPY rel/secret /x\n",
        ),
        (
            "hardlink to a host file",
            raw_tar(&[E::Hard("hl", &secret_abs)]),
            "COPY hl /x\n",
        ),
        (
            "hardlink with dotdot",
            raw_tar(&[E::Hard("hl2", &format!("{up}/secret"))]),
            "COPY hl2 /x\n",
        ),
        (
            "ADD of an archive that climbs out",
            raw_tar(&[E::File("evil.tar", &inner)]),
            "ADD evil.tar /dst/\n",
        ),
    ];
    for (i, (what, mut ctx_tar, step)) in cases.into_iter().enumerate() {
        // The Dockerfile goes in front of the hostile entries.
        let dockerfile =
            format!("FROM busybox\n{step}RUN grep -rl SECRET- /ctx /x /dst 2>/dev/null; true\n");
        let mut full = raw_tar(&[E::File("Dockerfile", dockerfile.as_bytes())]);
        // Drop the two zero blocks that end the first archive, then append the rest.
        full.truncate(full.len() - 1024);
        full.append(&mut ctx_tar);
        let tag = format!("esc{i}");
        let out = build_raw(&d, &tag, &full);
        tried += 1;
        assert!(
            !out.contains(&c.secret),
            "{what}: the build read the host's secret: {out}"
        );
        assert!(
            c.intruders().is_empty(),
            "{what}: the build wrote on the host: {:?}",
            c.intruders()
        );
        let built = d.berth(["image", "inspect", &tag]).status == 0;
        let last = out
            .lines()
            .rev()
            .find(|l| l.contains("\"error\"") || l.contains("stream"))
            .unwrap_or("");
        eprintln!(
            "{what}: {} — {last}",
            if built { "built" } else { "refused" }
        );
        if built {
            // Built: nothing of the host is in it.
            let r = d.berth([
                "run",
                "--rm",
                &tag,
                "sh",
                "-c",
                "cat /x 2>/dev/null; grep -rh SECRET- /ctx /dst 2>/dev/null; true",
            ]);
            assert!(
                !r.stdout.contains(&c.secret),
                "{what}: the image holds the secret"
            );
        }
    }
    assert!(c.intruders().is_empty(), "{:?}", c.intruders());
    // No half-finished build containers.
    assert!(d.wait_for(20, || d.berth(["ps", "-aq"]).ok().stdout.trim().is_empty()));
    figure("bad_inputs", tried);
    figure("escapes", 0);
}

/// A container swaps `/w/d` between a directory and a symlink to a host path (which in
/// the container means its own, missing, path) as fast as it can, while `cp` copies
/// into and out of `/w/d` again and again: nothing lands on the host path, nothing is
/// read from it.
#[test]
fn cp_racing_a_symlink_swap_stays_inside() {
    let d = daemon();
    let c = Canary::new();
    let canary = c.dir.to_str().unwrap().to_string();
    let script = format!(
        "mkdir -p /w; while true; do rm -rf /w/d; mkdir /w/d; echo inside > /w/d/secret; \
         rm -rf /w/d; ln -s {canary} /w/d; done"
    );
    d.berth([
        "run", "-d", "--name", "swapper", "busybox", "sh", "-c", &script,
    ])
    .ok();
    let payload = d.root.join("payload");
    fs::write(&payload, "payload").unwrap();
    let out_dir = d.root.join("out");
    fs::create_dir_all(&out_dir).unwrap();
    let stop = AtomicBool::new(false);
    let mut copies = 0;
    let deadline = Instant::now() + Duration::from_secs(8);
    while Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
        let _ = d.berth(["cp", payload.to_str().unwrap(), "swapper:/w/d/dropped"]);
        let dest = out_dir.join(format!("o{copies}"));
        let r = d.berth(["cp", "swapper:/w/d/secret", dest.to_str().unwrap()]);
        copies += 2;
        if r.status == 0 {
            let got = fs::read_to_string(&dest).unwrap_or_default();
            assert!(!got.contains(&c.secret), "cp read the host's file: {got}");
        }
        assert!(
            c.intruders().is_empty(),
            "cp wrote on the host after {copies} copies: {:?}",
            c.intruders()
        );
    }
    stop.store(true, Ordering::SeqCst);
    // The archive API directly, too (docker cp's GET/PUT).
    let tar = raw_tar(&[E::File("dropped2", b"x")]);
    for _ in 0..20 {
        let head = format!(
            "PUT /v1.45/containers/swapper/archive?path=/w/d HTTP/1.1\r\nHost: b\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            tar.len()
        );
        let _ = d.raw_bytes(&head, &tar);
        copies += 1;
    }
    assert!(c.intruders().is_empty(), "{:?}", c.intruders());
    assert!(!Path::new(&format!("{canary}/dropped")).exists());
    d.berth(["rm", "-f", "swapper"]).ok();
    figure("bad_inputs", copies);
    figure("escapes", 0);
}
