//! Issue "Build": `berth build` and `DOCKER_BUILDKIT=0 docker build` against berthd —
//! the Docker notes' Node-style example on busybox, the layer history, the build cache,
//! `.dockerignore`, a failing RUN, multi-stage `COPY --from`, and a timing figure.

use berth_e2e::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

const NODE_STYLE: &str = "FROM busybox
ENV APP=/app
WORKDIR /app
COPY a.txt b.txt ./
RUN echo built > /app/c.txt
CMD [\"cat\", \"/app/c.txt\"]
";

fn daemon() -> Daemon {
    assert!(
        is_root(),
        "end-to-end tests need root (namespaces, cgroups, overlayfs)"
    );
    let d = Daemon::start();
    d.import_busybox("busybox");
    d
}

/// A context directory under the daemon's root (removed with it).
fn context(d: &Daemon, files: &[(&str, &str)]) -> PathBuf {
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

fn ps_all(d: &Daemon) -> String {
    d.berth(["ps", "-aq"]).ok().stdout
}

#[test]
fn build_node_style_example_runs_and_has_one_layer_per_fs_step() {
    let d = daemon();
    let dir = context(
        &d,
        &[
            ("Dockerfile", NODE_STYLE),
            ("a.txt", "A\n"),
            ("b.txt", "B\n"),
        ],
    );
    let r = build_in(&d, &dir, &["-t", "noderun:1.0", "."]);
    assert_eq!(r.status, 0, "{r:#?}");
    let out = &r.stdout;
    for want in [
        "Sending build context to Docker daemon",
        "Step 1/6 : FROM busybox\n",
        "Step 2/6 : ENV APP=/app\n",
        "Step 3/6 : WORKDIR /app\n",
        "Step 4/6 : COPY a.txt b.txt ./\n",
        "Step 5/6 : RUN echo built > /app/c.txt\n",
        " ---> Running in ",
        "Removing intermediate container ",
        "Step 6/6 : CMD [\"cat\", \"/app/c.txt\"]\n",
        "Successfully tagged noderun:1.0\n",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    let built = out
        .lines()
        .find_map(|l| l.strip_prefix("Successfully built "))
        .expect("Successfully built line");
    let id = d
        .berth(["image", "inspect", "-f", "{{.Id}}", "noderun:1.0"])
        .ok()
        .stdout;
    assert!(
        id.trim().trim_start_matches("sha256:").starts_with(built),
        "{id} vs {built}"
    );

    let run = d.berth(["run", "--rm", "noderun:1.0"]).ok();
    assert_eq!(run.stdout, "built\n");
    let env = d
        .berth([
            "run",
            "--rm",
            "noderun:1.0",
            "sh",
            "-c",
            "echo $APP; pwd; cat a.txt b.txt",
        ])
        .ok();
    assert_eq!(env.stdout, "/app\n/app\nA\nB\n");

    // base + WORKDIR (creates /app) + COPY + RUN; ENV and CMD add no layer.
    let layers = d
        .berth([
            "image",
            "inspect",
            "-f",
            "{{len .RootFS.Layers}}",
            "noderun:1.0",
        ])
        .ok();
    assert_eq!(layers.stdout.trim(), "4");
    let hist = d
        .berth([
            "image",
            "history",
            "--format",
            "{{.CreatedBy}}|{{.Size}}",
            "noderun:1.0",
        ])
        .ok()
        .stdout;
    let rows: Vec<&str> = hist.lines().collect();
    assert_eq!(rows.len(), 6, "{hist}");
    assert_eq!(
        rows[0],
        "/bin/sh -c #(nop)  CMD [\"cat\" \"/app/c.txt\"]|0B"
    );
    assert_eq!(rows[1], "/bin/sh -c echo built > /app/c.txt|6B");
    assert!(
        rows[2].starts_with("/bin/sh -c #(nop) COPY multi:") && rows[2].ends_with("|4B"),
        "{hist}"
    );
    assert!(
        rows[3].starts_with("/bin/sh -c #(nop) WORKDIR /app|"),
        "{hist}"
    );
    assert_eq!(rows[4], "/bin/sh -c #(nop)  ENV APP=/app|0B");
    // The intermediate step images are hidden from `images`, not dangling.
    let listed = d.berth(["images", "-q"]).ok().stdout;
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(ps_all(&d).trim().is_empty(), "build containers left behind");
}

#[test]
fn build_again_uses_cache_and_a_changed_file_invalidates_from_its_copy() {
    let d = daemon();
    let dir = context(
        &d,
        &[
            ("Dockerfile", NODE_STYLE),
            ("a.txt", "A\n"),
            ("b.txt", "B\n"),
        ],
    );
    let first = build_in(&d, &dir, &["-t", "noderun:1.0", "."]);
    assert_eq!(first.status, 0, "{first:#?}");
    let id1 = d
        .berth(["image", "inspect", "-f", "{{.Id}}", "noderun:1.0"])
        .ok()
        .stdout;

    let again = build_in(&d, &dir, &["-t", "noderun:1.0", "."]);
    assert_eq!(again.status, 0, "{again:#?}");
    assert_eq!(
        again.stdout.matches(" ---> Using cache\n").count(),
        5,
        "{}",
        again.stdout
    );
    assert!(!again.stdout.contains("Running in"), "{}", again.stdout);
    assert!(ps_all(&d).trim().is_empty());
    let id2 = d
        .berth(["image", "inspect", "-f", "{{.Id}}", "noderun:1.0"])
        .ok()
        .stdout;
    assert_eq!(id1, id2);

    fs::write(dir.join("a.txt"), "A2\n").unwrap();
    let changed = build_in(&d, &dir, &["-t", "noderun:1.0", "."]);
    assert_eq!(changed.status, 0, "{changed:#?}");
    let out = &changed.stdout;
    // ENV and WORKDIR still cached; COPY and everything after rebuilt.
    assert_eq!(out.matches(" ---> Using cache\n").count(), 2, "{out}");
    let copy_at = out.find("Step 4/6").unwrap();
    assert!(!out[copy_at..].contains("Using cache"), "{out}");
    assert!(out[copy_at..].contains("Running in"), "{out}");
    let cat = d
        .berth(["run", "--rm", "noderun:1.0", "cat", "/app/a.txt"])
        .ok();
    assert_eq!(cat.stdout, "A2\n");

    // --no-cache rebuilds everything.
    let nc = build_in(&d, &dir, &["--no-cache", "-t", "noderun:1.0", "."]);
    assert_eq!(nc.status, 0, "{nc:#?}");
    assert!(!nc.stdout.contains("Using cache"), "{}", nc.stdout);
}

#[test]
fn build_dockerignore_excludes_files_from_copy() {
    let d = daemon();
    let dir = context(
        &d,
        &[
            (
                "Dockerfile",
                "FROM busybox\nCOPY . /ctx/\nRUN ls -a /ctx | sort | tr '\\n' ' '\n",
            ),
            (".dockerignore", "secret.txt\nlogs\n"),
            ("keep.txt", "k"),
            ("secret.txt", "s"),
            ("logs/x.log", "l"),
            ("src/main.c", "int main;"),
        ],
    );
    let r = build_in(&d, &dir, &["-t", "ign", "."]);
    assert_eq!(r.status, 0, "{r:#?}");
    let ls = d
        .berth(["run", "--rm", "ign", "ls", "-a", "/ctx"])
        .ok()
        .stdout;
    let names: Vec<&str> = ls.split_whitespace().collect();
    assert!(
        names.contains(&"keep.txt") && names.contains(&"src"),
        "{ls}"
    );
    assert!(names.contains(&"Dockerfile"), "{ls}");
    assert!(!names.contains(&"secret.txt"), "{ls}");
    assert!(!names.contains(&"logs"), "{ls}");
    let c = d
        .berth(["run", "--rm", "ign", "cat", "/ctx/src/main.c"])
        .ok();
    assert_eq!(c.stdout, "int main;");
}

#[test]
fn build_failing_run_exits_non_zero_and_tags_nothing() {
    let d = daemon();
    let dir = context(
        &d,
        &[("Dockerfile", "FROM busybox\nRUN echo before\nRUN false\n")],
    );
    let r = build_in(&d, &dir, &["-t", "broken:1", "."]);
    assert_eq!(r.status, 1, "{r:#?}");
    assert!(r.stdout.contains("before\n"), "{r:#?}");
    assert!(
        r.stderr
            .contains("The command '/bin/sh -c false' returned a non-zero code: 1"),
        "{r:#?}"
    );
    assert!(!r.stdout.contains("Successfully"), "{r:#?}");
    let img = d.berth(["image", "inspect", "broken:1"]);
    assert_ne!(img.status, 0, "a failed build must not tag: {img:#?}");
    // A missing base image fails before any step runs (the pull goes to a loopback port
    // nobody listens on).
    let dir2 = context(
        &d,
        &[("Dockerfile", "FROM localhost:1/nosuchbase\nRUN true\n")],
    );
    let r2 = build_in(&d, &dir2, &["."]);
    assert_eq!(r2.status, 1, "{r2:#?}");
    assert!(!r2.stdout.contains("Step 2/2"), "{r2:#?}");
    assert!(!r2.stderr.trim().is_empty(), "{r2:#?}");
}

#[test]
fn build_multi_stage_copy_from_an_earlier_stage() {
    let d = daemon();
    let dir = context(
        &d,
        &[(
            "Dockerfile",
            "FROM busybox\nRUN mkdir -p /out && echo artifact > /out/app.txt && echo two > /out/b\n\
             FROM busybox\nCOPY --from=0 /out/app.txt /final/\nCOPY --from=0 /out /all\n\
             CMD [\"cat\", \"/final/app.txt\"]\n",
        )],
    );
    let r = build_in(&d, &dir, &["-t", "multi", "."]);
    assert_eq!(r.status, 0, "{r:#?}");
    assert!(r.stdout.contains("Step 3/6 : FROM busybox"), "{}", r.stdout);
    let run = d.berth(["run", "--rm", "multi"]).ok();
    assert_eq!(run.stdout, "artifact\n");
    let all = d.berth(["run", "--rm", "multi", "cat", "/all/b"]).ok();
    assert_eq!(all.stdout, "two\n");
    // The final image has no trace of the first stage's /out.
    let ls = d.berth(["run", "--rm", "multi", "ls", "/"]).ok().stdout;
    assert!(!ls.split_whitespace().any(|n| n == "out"), "{ls}");
}

#[test]
fn build_with_docker_cli_legacy_builder_through_the_api() {
    let d = daemon();
    let dir = context(
        &d,
        &[
            ("Dockerfile", NODE_STYLE),
            ("a.txt", "A\n"),
            ("b.txt", "B\n"),
        ],
    );
    let Some(mut c) = d.docker_cmd(["build", "-t", "viadocker", "."]) else {
        return;
    };
    let o = c
        .env("DOCKER_BUILDKIT", "0")
        .current_dir(&dir)
        .output()
        .expect("docker build");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("Step 1/6 : FROM busybox"), "{out}");
    assert!(out.contains("Successfully built "), "{out}");
    assert!(
        out.contains("Successfully tagged viadocker:latest"),
        "{out}"
    );
    let run = d.docker(["run", "--rm", "viadocker"]).unwrap();
    assert_eq!(run.stdout, "built\n", "{run:#?}");

    // -q prints only the id; a failing RUN carries its exit code to the client.
    let mut q = d.docker_cmd(["build", "-q", "."]).unwrap();
    let o = q
        .env("DOCKER_BUILDKIT", "0")
        .current_dir(&dir)
        .output()
        .unwrap();
    let qout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && qout.trim().starts_with("sha256:"),
        "{qout}"
    );
    let bad = context(&d, &[("Dockerfile", "FROM busybox\nRUN exit 3\n")]);
    let mut b = d.docker_cmd(["build", "."]).unwrap();
    let o = b
        .env("DOCKER_BUILDKIT", "0")
        .current_dir(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("The command '/bin/sh -c exit 3' returned a non-zero code: 3"),
        "{err}"
    );
}

/// The 9-step Dockerfile (ENV, WORKDIR, 3 COPY of 1 MB files, 3 RUN), cold and
/// fully cached. Prints the numbers; asserts only that both builds work and the second
/// one is all cache.
#[test]
fn build_timing_nine_steps_cold_and_cached() {
    let d = daemon();
    let mb: String = "x".repeat(1 << 20);
    let dir = context(
        &d,
        &[
            (
                "Dockerfile",
                "FROM busybox\nENV APP=/app\nWORKDIR /app\nCOPY f1 ./\nCOPY f2 ./\nCOPY f3 ./\n\
                 RUN cat f1 f2 f3 | wc -c > total\nRUN echo one > one\nRUN echo two > two\n",
            ),
            ("f1", &mb),
            ("f2", &mb),
            ("f3", &mb),
        ],
    );
    let t = Instant::now();
    let cold = build_in(&d, &dir, &["-t", "timing", "."]);
    let cold_ms = t.elapsed().as_millis();
    assert_eq!(cold.status, 0, "{cold:#?}");
    let t = Instant::now();
    let warm = build_in(&d, &dir, &["-t", "timing", "."]);
    let warm_ms = t.elapsed().as_millis();
    assert_eq!(warm.status, 0, "{warm:#?}");
    assert_eq!(
        warm.stdout.matches(" ---> Using cache\n").count(),
        8,
        "{}",
        warm.stdout
    );
    let total = d.berth(["run", "--rm", "timing", "cat", "/app/total"]).ok();
    assert_eq!(total.stdout.trim(), (3u64 << 20).to_string());
    figure("build_9_steps_cold_ms", cold_ms);
    figure("build_9_steps_cached_ms", warm_ms);
    println!("9-step build: cold {cold_ms} ms, cached {warm_ms} ms");
}

#[test]
fn build_flags_file_build_arg_target_label_quiet_iidfile() {
    let d = daemon();
    let dir = context(
        &d,
        &[
            (
                "docker/app.Dockerfile",
                "ARG GREETING=hello\nFROM busybox AS base\nARG GREETING\n\
                 RUN echo \"$GREETING\" > /greeting\n\
                 FROM base AS extra\nRUN echo extra > /extra\n",
            ),
            ("x.txt", "x"),
        ],
    );
    let iid = d.root.join("iid.txt");
    let r = build_in(
        &d,
        &dir,
        &[
            "-f",
            "docker/app.Dockerfile",
            "--build-arg",
            "GREETING=bonjour",
            "--target",
            "base",
            "--label",
            "team=core",
            "-q",
            "--iidfile",
            iid.to_str().unwrap(),
            "-t",
            "flags:1",
            ".",
        ],
    );
    assert_eq!(r.status, 0, "{r:#?}");
    // -q: the id is the only output, and the iidfile holds it too.
    let id = r.stdout.trim();
    assert!(
        id.starts_with("sha256:") && r.stdout.lines().count() == 1,
        "{r:#?}"
    );
    assert_eq!(fs::read_to_string(&iid).unwrap(), id);
    let greet = d.berth(["run", "--rm", "flags:1", "cat", "/greeting"]).ok();
    assert_eq!(greet.stdout, "bonjour\n");
    // --target base: the later stage was not built into the image.
    let extra = d.berth(["run", "--rm", "flags:1", "ls", "/extra"]);
    assert_ne!(extra.status, 0, "{extra:#?}");
    let label = d
        .berth([
            "image",
            "inspect",
            "-f",
            "{{index .Config.Labels \"team\"}}",
            "flags:1",
        ])
        .ok();
    assert_eq!(label.stdout.trim(), "core");
}

#[test]
fn build_from_scratch_with_copy_from_and_metadata_first() {
    let d = daemon();
    let dir = context(
        &d,
        &[
            (
                "Dockerfile",
                "FROM busybox AS b\nRUN echo x > /x\nFROM scratch\nENV A=1\nWORKDIR /w\n\
                 COPY --from=b /x /x\nCOPY --from=b /bin/busybox /bin/\nCOPY l.txt .\n\
                 CMD [\"/bin/busybox\", \"cat\", \"/x\", \"/w/l.txt\"]\n",
            ),
            ("l.txt", "local\n"),
        ],
    );
    let r = build_in(&d, &dir, &["-t", "scr", "."]);
    assert_eq!(r.status, 0, "{r:#?}");
    let run = d.berth(["run", "--rm", "scr"]).ok();
    assert_eq!(run.stdout, "x\nlocal\n");
    let env = d
        .berth([
            "run",
            "--rm",
            "scr",
            "/bin/busybox",
            "sh",
            "-c",
            "echo $A; pwd",
        ])
        .ok();
    assert_eq!(env.stdout, "1\n/w\n");
    // Only the scratch stage's own files: no shell, no base layers.
    let layers = d
        .berth(["image", "inspect", "-f", "{{len .RootFS.Layers}}", "scr"])
        .ok();
    assert_eq!(layers.stdout.trim(), "4", "WORKDIR + 3 COPY");
    let ls = d
        .berth(["run", "--rm", "scr", "/bin/busybox", "ls", "/bin"])
        .ok();
    assert_eq!(ls.stdout, "busybox\n");
    // RUN has nothing to run on scratch.
    let bad = context(&d, &[("Dockerfile", "FROM scratch\nRUN true\n")]);
    let r = build_in(&d, &bad, &["."]);
    assert_eq!(r.status, 1, "{r:#?}");
    assert!(r.stderr.contains("/bin/sh"), "{r:#?}");
    // The context directory goes in the background once the build answered.
    let left = || -> Vec<String> {
        fs::read_dir(d.data_root.join("builder"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".json"))
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !left().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(left().is_empty(), "builder temp files left: {:?}", left());
}
