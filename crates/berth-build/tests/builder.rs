//! Builder against an in-memory `BuildHost` that records every call. This is a unit-test
//! double of the engine boundary: it checks config evolution, history, cache behaviour,
//! failure handling and stage selection without containers.

use berth_build::*;
use berth_types::docker::ContainerConfig;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Paths in a fake filesystem → what was written there.
type Files = BTreeMap<String, String>;

#[derive(Debug, Clone)]
struct FakeImage {
    config: ContainerConfig,
    author: String,
    history: Vec<HistoryEntry>,
    /// Paths written by COPY items (dest → description).
    files: BTreeMap<String, String>,
}

#[derive(Default)]
struct FakeHost {
    images: Mutex<BTreeMap<String, FakeImage>>,
    named: Mutex<BTreeMap<String, String>>,
    cache: Mutex<BTreeMap<(Option<String>, String), String>>,
    containers: Mutex<BTreeMap<String, (ContainerRequest, Files)>>,
    calls: Mutex<Vec<String>>,
    commits: Mutex<Vec<CommitRequest>>,
    copies: Mutex<Vec<CopyRequest>>,
    runs: Mutex<Vec<ContainerRequest>>,
    tags: Mutex<BTreeMap<String, String>>,
    counter: AtomicU64,
    downloads: Mutex<BTreeMap<String, std::path::PathBuf>>,
    /// Set when a container runs (simulates the client going away mid-build).
    cancel_on_run: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl FakeHost {
    fn new() -> Self {
        let h = FakeHost::default();
        let cfg = ContainerConfig {
            env: Some(vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            ]),
            cmd: Some(vec!["sh".into()]),
            ..Default::default()
        };
        h.add_image("busybox", cfg.clone());
        h.add_image("alpine", cfg);
        h
    }

    fn add_image(&self, name: &str, config: ContainerConfig) -> String {
        let id = self.next_id();
        self.images.lock().unwrap().insert(
            id.clone(),
            FakeImage {
                config,
                author: String::new(),
                history: vec![HistoryEntry {
                    created_by: format!("base {name}"),
                    empty_layer: false,
                }],
                files: BTreeMap::new(),
            },
        );
        self.named
            .lock()
            .unwrap()
            .insert(name.to_string(), id.clone());
        id
    }

    fn next_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        format!("sha256:{n:012x}{}", "0".repeat(52))
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn count(&self, what: &str) -> usize {
        self.calls().iter().filter(|c| c.starts_with(what)).count()
    }

    fn image(&self, id: &str) -> FakeImage {
        self.images.lock().unwrap().get(id).cloned().unwrap()
    }

    fn clear_calls(&self) {
        self.calls.lock().unwrap().clear();
    }
}

impl BuildHost for FakeHost {
    fn resolve_image(
        &self,
        reference: &str,
        _p: Option<&str>,
        pull: bool,
        progress: &mut dyn Write,
    ) -> Result<ImageInfo, HostError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("resolve {reference} pull={pull}"));
        let id = self
            .named
            .lock()
            .unwrap()
            .get(reference)
            .cloned()
            .ok_or_else(|| HostError::not_found(format!("pull access denied for {reference}, repository does not exist or may require 'docker login'")))?;
        if pull {
            writeln!(progress, "latest: Pulling from library/{reference}").unwrap();
        }
        let img = self.image(&id);
        Ok(ImageInfo {
            id,
            config: img.config,
            author: img.author,
        })
    }

    fn cache_lookup(&self, parent: Option<&str>, key: &str) -> Result<Option<String>, HostError> {
        Ok(self
            .cache
            .lock()
            .unwrap()
            .get(&(parent.map(str::to_string), key.to_string()))
            .cloned())
    }

    fn create_container(&self, req: &ContainerRequest) -> Result<String, HostError> {
        let id = format!("c{:011x}", self.counter.fetch_add(1, Ordering::SeqCst));
        let files = req
            .image
            .as_ref()
            .map(|i| self.image(i).files)
            .unwrap_or_default();
        self.calls.lock().unwrap().push(format!("create {id}"));
        self.containers
            .lock()
            .unwrap()
            .insert(id.clone(), (req.clone(), files));
        Ok(id)
    }

    fn run_container(&self, id: &str, output: &mut dyn Write) -> Result<i64, HostError> {
        let req = self.containers.lock().unwrap().get(id).unwrap().0.clone();
        self.calls.lock().unwrap().push(format!("run {id}"));
        self.runs.lock().unwrap().push(req.clone());
        if let Some(flag) = &self.cancel_on_run {
            flag.store(true, Ordering::SeqCst);
        }
        let script = req.config.cmd.clone().unwrap_or_default().join(" ");
        writeln!(output, "output of: {script}").unwrap();
        if let Some(pos) = script.find("exit ") {
            let code: i64 = script[pos + 5..].trim().parse().unwrap_or(1);
            return Ok(code);
        }
        Ok(if script.ends_with("false") { 1 } else { 0 })
    }

    fn copy_into(&self, id: &str, req: &CopyRequest) -> Result<(), HostError> {
        self.calls.lock().unwrap().push(format!("copy {id}"));
        self.copies.lock().unwrap().push(req.clone());
        let mut cs = self.containers.lock().unwrap();
        let files = &mut cs.get_mut(id).unwrap().1;
        for it in &req.items {
            let what = match &it.source {
                CopySource::Inline { content } => String::from_utf8_lossy(content).into_owned(),
                CopySource::Context { root } => {
                    let p = root.join(&it.src);
                    if p.is_file() {
                        std::fs::read_to_string(p).unwrap_or_default()
                    } else {
                        format!("dir {}", it.src)
                    }
                }
                CopySource::Image { id } => format!("from {id}:{}", it.src),
                CopySource::File { path } => std::fs::read_to_string(path).unwrap_or_default(),
            };
            files.insert(it.dest.clone(), what);
        }
        Ok(())
    }

    fn create_workdir(&self, id: &str) -> Result<(), HostError> {
        self.calls.lock().unwrap().push(format!("workdir {id}"));
        Ok(())
    }

    fn commit(&self, req: &CommitRequest) -> Result<String, HostError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("commit {}", req.history.created_by));
        self.commits.lock().unwrap().push(req.clone());
        let (history, author_files) = match &req.parent {
            Some(p) => {
                let img = self.image(p);
                (img.history, img.files)
            }
            None => (Vec::new(), BTreeMap::new()),
        };
        let files = match &req.container {
            Some(c) => self.containers.lock().unwrap().get(c).unwrap().1.clone(),
            None => author_files,
        };
        let mut history = history;
        history.push(req.history.clone());
        let id = self.next_id();
        self.images.lock().unwrap().insert(
            id.clone(),
            FakeImage {
                config: req.config.clone(),
                author: req.author.clone(),
                history,
                files,
            },
        );
        self.cache
            .lock()
            .unwrap()
            .insert((req.parent.clone(), req.cache_key.clone()), id.clone());
        Ok(id)
    }

    fn remove_container(&self, id: &str) -> Result<(), HostError> {
        self.calls.lock().unwrap().push(format!("remove {id}"));
        self.containers.lock().unwrap().remove(id);
        Ok(())
    }

    fn fetch_url(&self, url: &str) -> Result<FetchedFile, HostError> {
        self.calls.lock().unwrap().push(format!("fetch {url}"));
        let path = self
            .downloads
            .lock()
            .unwrap()
            .get(url)
            .cloned()
            .ok_or_else(|| HostError::new(format!("failed to GET {url}")))?;
        Ok(FetchedFile {
            path,
            name: url.rsplit('/').next().unwrap_or("download").to_string(),
        })
    }

    fn tag(&self, image_id: &str, reference: &str) -> Result<(), HostError> {
        self.calls.lock().unwrap().push(format!("tag {reference}"));
        self.tags
            .lock()
            .unwrap()
            .insert(reference.to_string(), image_id.to_string());
        Ok(())
    }
}

/// A temporary build context.
struct Ctx {
    dir: tempfile::TempDir,
}

impl Ctx {
    fn new(dockerfile: &str) -> Ctx {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
        Ctx { dir }
    }
    fn file(&self, rel: &str, body: &str) -> &Self {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
        self
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn build(
        &self,
        host: &FakeHost,
        opts: &BuildOptions,
    ) -> (Result<BuildOutcome, BuildError>, String) {
        let ctx = BuildContext::from_dir(self.path(), "Dockerfile").unwrap();
        let mut out: Vec<u8> = Vec::new();
        let r = build(host, &ctx, "Dockerfile", opts, &mut out);
        (r, String::from_utf8(out).unwrap())
    }
}

fn tagged(t: &str) -> BuildOptions {
    BuildOptions {
        tags: vec![t.to_string()],
        parallel: true,
        ..Default::default()
    }
}

const FULL: &str = r#"FROM busybox
LABEL org.example.a=1 "b c"="d e"
ENV A=1 B="two words"
ENV C=${A}x
ENV D legacy $A
WORKDIR app
WORKDIR sub
USER 1000:1000
ENV PORTS="80 81"
EXPOSE $PORTS 53/udp
VOLUME /data ["/other"]
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5m --timeout=3s --retries=3 CMD curl -f http://localhost/ || exit 1
SHELL ["/bin/bash", "-c"]
ONBUILD RUN echo triggered
MAINTAINER someone@example.com
RUN echo hi
ENTRYPOINT ["/entry"]
CMD echo $A
"#;

#[test]
fn config_evolution_and_history() {
    let host = FakeHost::new();
    let c = Ctx::new(FULL);
    let (r, out) = c.build(&host, &tagged("x"));
    let r = r.unwrap();
    let img = host.image(&r.image_id);
    let cfg = &img.config;
    assert_eq!(
        cfg.env.as_ref().unwrap(),
        &vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            "A=1".into(),
            "B=two words".into(),
            "C=1x".into(),
            "D=legacy 1".into(),
            "PORTS=80 81".into(),
        ]
    );
    let labels = cfg.labels.as_ref().unwrap();
    assert_eq!(labels["org.example.a"], "1");
    assert_eq!(labels["b c"], "d e");
    assert_eq!(cfg.working_dir, "/app/sub");
    assert_eq!(cfg.user, "1000:1000");
    let ports: Vec<&String> = cfg.exposed_ports.as_ref().unwrap().keys().collect();
    assert_eq!(ports, vec!["53/udp", "80/tcp", "81/tcp"]);
    let vols: Vec<&String> = cfg.volumes.as_ref().unwrap().keys().collect();
    assert_eq!(vols, vec!["/data", "[/other]"]);
    assert_eq!(cfg.stop_signal.as_deref(), Some("SIGINT"));
    let hc = cfg.healthcheck.as_ref().unwrap();
    assert_eq!(
        hc.test.as_ref().unwrap(),
        &vec![
            "CMD-SHELL".to_string(),
            "curl -f http://localhost/ || exit 1".into()
        ]
    );
    assert_eq!(hc.interval, 300_000_000_000);
    assert_eq!(hc.retries, 3);
    assert_eq!(
        cfg.shell.as_ref().unwrap(),
        &vec!["/bin/bash".to_string(), "-c".into()]
    );
    assert_eq!(
        cfg.on_build.as_ref().unwrap(),
        &vec!["RUN echo triggered".to_string()]
    );
    assert_eq!(
        cfg.entrypoint.as_ref().unwrap(),
        &vec!["/entry".to_string()]
    );
    // CMD after ENTRYPOINT: shell form through the SHELL in effect, not expanded.
    assert_eq!(
        cfg.cmd.as_ref().unwrap(),
        &vec!["/bin/bash".to_string(), "-c".into(), "echo $A".into()]
    );
    assert_eq!(img.author, "someone@example.com");
    // config.Image is the parent's id.
    let parent_id = host
        .commits
        .lock()
        .unwrap()
        .last()
        .unwrap()
        .parent
        .clone()
        .unwrap();
    assert_eq!(cfg.image, parent_id);

    let h: Vec<(String, bool)> = img
        .history
        .iter()
        .skip(1)
        .map(|h| (h.created_by.clone(), h.empty_layer))
        .collect();
    let want: Vec<(&str, bool)> = vec![
        ("/bin/sh -c #(nop)  LABEL org.example.a=1 b c=d e", true),
        ("/bin/sh -c #(nop)  ENV A=1 B=two words", true),
        ("/bin/sh -c #(nop)  ENV C=1x", true),
        ("/bin/sh -c #(nop)  ENV D=legacy 1", true),
        ("/bin/sh -c #(nop) WORKDIR /app", false),
        ("/bin/sh -c #(nop) WORKDIR /app/sub", false),
        ("/bin/sh -c #(nop)  USER 1000:1000", true),
        ("/bin/sh -c #(nop)  ENV PORTS=80 81", true),
        ("/bin/sh -c #(nop)  EXPOSE 80 81 53/udp", true),
        ("/bin/sh -c #(nop)  VOLUME [/data [/other]]", true),
        ("/bin/sh -c #(nop)  STOPSIGNAL SIGINT", true),
        (
            "/bin/sh -c #(nop)  HEALTHCHECK &{[\"CMD-SHELL\" \"curl -f http://localhost/ || exit 1\"] \"5m0s\" \"3s\" \"0s\" \"0s\" '\\x03'}",
            true,
        ),
        ("/bin/sh -c #(nop)  SHELL [/bin/bash -c]", true),
        ("/bin/bash -c #(nop)  ONBUILD RUN echo triggered", true),
        ("/bin/bash -c #(nop)  MAINTAINER someone@example.com", true),
        ("/bin/bash -c echo hi", false),
        ("/bin/bash -c #(nop)  ENTRYPOINT [\"/entry\"]", true),
        ("/bin/bash -c #(nop)  CMD [\"/bin/bash\" \"-c\" \"echo $A\"]", true),
    ];
    let want: Vec<(String, bool)> = want.into_iter().map(|(s, b)| (s.to_string(), b)).collect();
    assert_eq!(h, want);

    // RUN ran with the stage's env/user/workdir, no entrypoint, no healthcheck.
    let runs = host.runs.lock().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0].config;
    assert_eq!(
        run.cmd.as_ref().unwrap(),
        &vec!["/bin/bash".to_string(), "-c".into(), "echo hi".into()]
    );
    assert_eq!(run.user, "1000:1000");
    assert_eq!(run.working_dir, "/app/sub");
    assert_eq!(run.entrypoint.as_ref().unwrap(), &vec![String::new()]);
    assert!(run.healthcheck.is_none());

    // Progress text.
    let total = 19;
    assert!(
        out.starts_with(&format!(
            "Step 1/{total} : FROM busybox\n ---> 000000000000\n"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("Step 17/{total} : RUN echo hi\n ---> Running in ")),
        "{out}"
    );
    assert!(
        out.contains("output of: /bin/bash -c echo hi\nRemoving intermediate container "),
        "{out}"
    );
    let short = &r.image_id[7..19];
    assert!(
        out.ends_with(&format!(
            "Successfully built {short}\nSuccessfully tagged x:latest\n"
        )),
        "{out}"
    );
    assert_eq!(host.tags.lock().unwrap()["x:latest"], r.image_id);
    assert_eq!(r.tags, vec!["x:latest"]);
}

#[test]
fn rebuild_uses_cache_and_creates_no_container() {
    let host = FakeHost::new();
    let c = Ctx::new("FROM busybox\nCOPY a.txt /a.txt\nRUN echo hi\nENV X=1\nWORKDIR /w\n");
    c.file("a.txt", "hello");
    let (first, _) = c.build(&host, &tagged("x"));
    let first = first.unwrap();
    host.clear_calls();
    let (second, out) = c.build(&host, &tagged("x"));
    let second = second.unwrap();
    assert_eq!(first.image_id, second.image_id);
    assert_eq!(host.count("create"), 0, "{:?}", host.calls());
    assert_eq!(host.count("commit"), 0);
    assert_eq!(out.matches(" ---> Using cache\n").count(), 4, "{out}");

    // --no-cache rebuilds every step.
    host.clear_calls();
    let opts = BuildOptions {
        no_cache: true,
        ..tagged("x")
    };
    let (third, _) = c.build(&host, &opts);
    assert_ne!(third.unwrap().image_id, first.image_id);
    assert_eq!(host.count("commit"), 4);
}

#[test]
fn content_change_invalidates_copy_and_later_steps_only() {
    let host = FakeHost::new();
    let c = Ctx::new("FROM busybox\nRUN echo before\nCOPY src/ /src/\nRUN make\n");
    c.file("src/a.c", "int a;");
    c.file("src/b.c", "int b;");
    c.build(&host, &tagged("x")).0.unwrap();
    // Same content, new mtime: still cached.
    c.file("src/a.c", "int a;");
    host.clear_calls();
    let (_, out) = c.build(&host, &tagged("x"));
    assert_eq!(out.matches("Using cache").count(), 3, "{out}");
    // Changed content: COPY and RUN make rerun, RUN before does not.
    c.file("src/b.c", "int b2;");
    host.clear_calls();
    let (r, out) = c.build(&host, &tagged("x"));
    r.unwrap();
    assert_eq!(out.matches("Using cache").count(), 1, "{out}");
    assert_eq!(host.count("copy"), 1);
    assert_eq!(host.count("run"), 1);
    // The copy saw the new content.
    let copies = host.copies.lock().unwrap();
    let item = &copies.last().unwrap().items[0];
    assert_eq!(item.src, "src");
    assert_eq!(item.paths, vec!["src", "src/a.c", "src/b.c"]);
    assert_eq!(item.dest, "/src");
    assert!(item.dest_is_dir);
    // History uses Docker's `dir:<hash> in <dest> ` form.
    let commits = host.commits.lock().unwrap();
    let copy_commit = commits
        .iter()
        .rev()
        .find(|c| c.history.created_by.contains("COPY"))
        .unwrap();
    let cb = &copy_commit.history.created_by;
    assert!(
        cb.starts_with("/bin/sh -c #(nop) COPY dir:") && cb.ends_with(" in /src/ "),
        "{cb}"
    );
}

#[test]
fn build_args_scope_history_and_cache() {
    let host = FakeHost::new();
    let df = "ARG V=meta\nARG BASE=busybox\nFROM $BASE\nRUN echo no-args\nARG V\nARG W=dflt\nRUN echo $V $W\n";
    let c = Ctx::new(df);
    let (r, out) = c.build(&host, &tagged("x"));
    r.unwrap();
    assert!(
        out.starts_with(
            "Step 1/7 : ARG V=meta\nStep 2/7 : ARG BASE=busybox\nStep 3/7 : FROM $BASE\n"
        ),
        "{out}"
    );
    {
        let runs = host.runs.lock().unwrap();
        // First RUN: the meta ARG is not visible in the stage.
        let env0 = runs[0].config.env.clone().unwrap();
        assert!(!env0.iter().any(|e| e.starts_with("V=")), "{env0:?}");
        let env1 = runs[1].config.env.clone().unwrap();
        assert!(
            env1.contains(&"V=meta".to_string()) && env1.contains(&"W=dflt".to_string()),
            "{env1:?}"
        );
        let commits = host.commits.lock().unwrap();
        let runs_hist: Vec<&String> = commits
            .iter()
            .map(|c| &c.history.created_by)
            .filter(|c| c.contains("echo"))
            .collect();
        assert_eq!(
            runs_hist,
            vec![
                "/bin/sh -c echo no-args",
                "|2 V=meta W=dflt /bin/sh -c echo $V $W"
            ]
        );
    }
    // A different --build-arg value only invalidates the RUN that sees it.
    host.clear_calls();
    let mut opts = tagged("x");
    opts.build_args.insert("W".into(), "given".into());
    opts.build_args.insert("UNUSED".into(), "1".into());
    let (r, out) = c.build(&host, &opts);
    r.unwrap();
    assert_eq!(host.count("run"), 1, "{out}");
    assert!(
        out.contains("[Warning] One or more build-args [UNUSED] were not consumed\n"),
        "{out}"
    );
    // A proxy arg reaches every RUN's environment but not the history text (Docker still
    // marks the RUN with `|0`, so it is a cache miss there too).
    host.clear_calls();
    opts.build_args
        .insert("HTTP_PROXY".into(), "http://proxy".into());
    let (r, out) = c.build(&host, &opts);
    r.unwrap();
    assert_eq!(host.count("run"), 2, "{out}");
    let runs = host.runs.lock().unwrap();
    let env = runs.last().unwrap().config.env.clone().unwrap();
    assert!(
        env.contains(&"W=given".to_string())
            && env.contains(&"HTTP_PROXY=http://proxy".to_string())
    );
    let commits = host.commits.lock().unwrap();
    // Undeclared proxy args stay out of the history line.
    let n = commits.len();
    assert_eq!(
        commits[n - 4].history.created_by,
        "|0 /bin/sh -c echo no-args"
    );
    assert_eq!(
        commits[n - 1].history.created_by,
        "|2 V=meta W=given /bin/sh -c echo $V $W"
    );
}

#[test]
fn env_shadows_arg_and_expands_with_previous_values() {
    let host = FakeHost::new();
    let c = Ctx::new("FROM busybox\nARG X=arg\nENV X=env\nENV Y=$X X=new Z=${X}\nLABEL l=$Z\n");
    let (r, _) = c.build(&host, &tagged("x"));
    let img = host.image(&r.unwrap().image_id);
    let env = img.config.env.unwrap();
    assert!(env.contains(&"X=new".to_string()));
    assert!(env.contains(&"Y=env".to_string()));
    assert!(env.contains(&"Z=env".to_string()));
    assert_eq!(img.config.labels.unwrap()["l"], "env");
}

#[test]
fn failing_run_leaves_no_image() {
    let host = FakeHost::new();
    let c = Ctx::new("FROM busybox\nRUN echo ok\nRUN false\nCMD x\n");
    let (r, out) = c.build(&host, &tagged("bad"));
    let err = r.unwrap_err();
    assert_eq!(
        err.to_string(),
        "The command '/bin/sh -c false' returned a non-zero code: 1"
    );
    assert!(out.contains("output of: /bin/sh -c false\n"), "{out}");
    assert!(!out.contains("Successfully"));
    assert!(host.tags.lock().unwrap().is_empty());
    // The failed container was never committed; Docker keeps it unless --force-rm.
    assert_eq!(host.count("commit"), 1);
    assert_eq!(host.containers.lock().unwrap().len(), 1);
    host.containers.lock().unwrap().clear();
    let opts = BuildOptions {
        force_rm: true,
        ..tagged("bad")
    };
    let (r, _) = c.build(&host, &opts);
    assert!(matches!(r, Err(BuildError::RunFailed { code: 1, .. })));
    assert!(host.containers.lock().unwrap().is_empty());

    let c = Ctx::new("FROM busybox\nRUN [\"sh\", \"-c\", \"exit 3\"]\n");
    let opts = BuildOptions {
        quiet: true,
        ..tagged("q")
    };
    let (r, out) = c.build(&host, &opts);
    match r.unwrap_err() {
        BuildError::RunFailed {
            command,
            code,
            output,
        } => {
            assert_eq!(command, "sh -c exit 3");
            assert_eq!(code, 3);
            assert_eq!(output, "output of: sh -c exit 3\n");
        }
        e => panic!("{e}"),
    }
    assert!(out.is_empty(), "quiet build wrote {out}");
}

const STAGES: &str = "FROM busybox AS a\nRUN build-a\n\
FROM alpine AS b\nRUN build-b\n\
FROM busybox AS unused\nRUN never\n\
FROM scratch AS final\nCOPY --from=a /out /a\nCOPY --from=1 /out /b\n";

#[test]
fn multi_stage_target_and_parallel_waves() {
    let host = FakeHost::new();
    let c = Ctx::new(STAGES);
    let (r, out) = c.build(&host, &tagged("m"));
    let r = r.unwrap();
    // The unused stage was never built.
    assert!(!host.calls().iter().any(|c| c.contains("never")));
    assert_eq!(host.count("run"), 2);
    assert_eq!(
        r.stage_images.keys().copied().collect::<Vec<_>>(),
        vec![0, 1, 3]
    );
    // Stages a and b ran in parallel; output still comes in stage order.
    let pa = out.find("Step 1/7 : FROM busybox AS a").unwrap();
    let pb = out.find("Step 3/7 : FROM alpine AS b").unwrap();
    let pf = out.find("Step 5/7 : FROM scratch AS final").unwrap();
    assert!(pa < pb && pb < pf, "{out}");
    // COPY --from passes the stage images.
    let copies = host.copies.lock().unwrap();
    let srcs: Vec<CopySource> = copies.iter().map(|c| c.items[0].source.clone()).collect();
    assert_eq!(
        srcs,
        vec![
            CopySource::Image {
                id: r.stage_images[&0].clone()
            },
            CopySource::Image {
                id: r.stage_images[&1].clone()
            }
        ]
    );
    // The final image sits on scratch: first commit has no parent.
    let commits = host.commits.lock().unwrap();
    let first_final = commits
        .iter()
        .find(|c| c.history.created_by.contains("COPY"))
        .unwrap();
    assert_eq!(first_final.parent, None);
    drop(commits);
    drop(copies);

    // --target builds only what the target needs.
    host.clear_calls();
    let opts = BuildOptions {
        target: Some("b".into()),
        no_cache: true,
        ..tagged("t")
    };
    let (r, out) = c.build(&host, &opts);
    r.unwrap();
    assert!(out.starts_with("Step 1/2 : FROM alpine AS b\n"), "{out}");
    assert_eq!(host.count("run"), 1);
    assert!(!host.calls().iter().any(|c| c.contains("resolve busybox")));
}

#[test]
fn onbuild_triggers_run_when_used_as_base() {
    let host = FakeHost::new();
    let mut cfg = host
        .image(&host.named.lock().unwrap()["busybox"].clone())
        .config;
    cfg.on_build = Some(vec![
        "RUN echo triggered".into(),
        "ENV FROM_TRIGGER=1".into(),
    ]);
    host.add_image("withtriggers", cfg);
    let c = Ctx::new("FROM withtriggers\nCMD [\"x\"]\n");
    let (r, out) = c.build(&host, &tagged("o"));
    let img = host.image(&r.unwrap().image_id);
    assert!(
        out.contains("# Executing 2 build triggers\n ---> Running in"),
        "{out}"
    );
    assert!(img.config.on_build.is_none());
    assert!(img
        .config
        .env
        .unwrap()
        .contains(&"FROM_TRIGGER=1".to_string()));
    assert_eq!(host.count("run"), 1);
}

#[test]
fn copy_rules_heredocs_and_errors() {
    let host = FakeHost::new();
    let c = Ctx::new("FROM busybox\nWORKDIR /app\nARG NAME=world\nCOPY <<EOF <<'RAW' ./\nhello \"$NAME\" don't\nEOF\nraw $NAME\nRAW\nCOPY --chown=1:2 --chmod=640 a.txt b.txt sub/\nCOPY *.txt single\n");
    c.file("a.txt", "A")
        .file("b.txt", "B")
        .file(".dockerignore", "b.txt\n");
    let (r, _) = c.build(&host, &tagged("c"));
    // b.txt is ignored: COPY fails with Docker's text.
    let e = r.unwrap_err().to_string();
    assert_eq!(e, "COPY failed: file not found in build context or excluded by .dockerignore: stat b.txt: file does not exist");
    c.file(".dockerignore", "");
    let (r, _) = c.build(&host, &tagged("c"));
    let e = r.unwrap_err().to_string();
    assert_eq!(e, "When using COPY with more than one source file, the destination must be a directory and end with a /");
    // The heredoc step ran before the failure.
    {
        let copies = host.copies.lock().unwrap();
        let items = &copies[0].items;
        assert_eq!(items[0].dest, "/app/EOF");
        assert_eq!(
            items[0].source,
            CopySource::Inline {
                content: b"hello \"world\" don't\n".to_vec()
            }
        );
        assert_eq!(items[1].dest, "/app/RAW");
        assert_eq!(
            items[1].source,
            CopySource::Inline {
                content: b"raw $NAME\n".to_vec()
            }
        );
        let second = &copies[1];
        assert_eq!(second.chown.as_deref(), Some("1:2"));
        assert_eq!(second.chmod, Some(0o640));
        assert_eq!(second.items.len(), 2);
        assert_eq!(second.items[0].dest, "/app/sub");
    }
    std::fs::write(
        c.path().join("Dockerfile"),
        "FROM busybox\nCOPY nope* /x/\n",
    )
    .unwrap();
    let (r, _) = c.build(&host, &tagged("c"));
    assert_eq!(
        r.unwrap_err().to_string(),
        "COPY failed: no source files were specified"
    );
    std::fs::write(c.path().join("Dockerfile"), "FROM busybox\nCOPY ../x /x\n").unwrap();
    let (r, _) = c.build(&host, &tagged("c"));
    assert!(r
        .unwrap_err()
        .to_string()
        .starts_with("forbidden path outside the build context"));
}

#[test]
fn copy_exclude_filters_paths_and_hash() {
    let host = FakeHost::new();
    let c = Ctx::new("FROM busybox\nCOPY --exclude=*.log --exclude=tmp app /app/\n");
    c.file("app/main.c", "m")
        .file("app/debug.log", "l")
        .file("app/tmp/x", "t");
    c.build(&host, &tagged("e")).0.unwrap();
    let paths = host.copies.lock().unwrap()[0].items[0].paths.clone();
    assert_eq!(paths, vec!["app", "app/main.c"]);
    // Changing an excluded file keeps the cache.
    c.file("app/debug.log", "changed");
    host.clear_calls();
    let (_, out) = c.build(&host, &tagged("e"));
    assert!(out.contains("Using cache"), "{out}");
    assert_eq!(host.count("copy"), 0);
}

#[test]
fn add_archives_and_urls() {
    let host = FakeHost::new();
    let c = Ctx::new("");
    // A tiny tar archive in the context.
    let mut tb = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_mode(0o644);
    tb.append_data(&mut h, "inside.txt", &b"hi"[..]).unwrap();
    std::fs::write(c.path().join("data.tar"), tb.into_inner().unwrap()).unwrap();
    c.file("plain.txt", "p");
    let dl = c.path().join("downloaded");
    std::fs::write(&dl, "payload").unwrap();
    host.downloads
        .lock()
        .unwrap()
        .insert("https://example.com/f.bin".into(), dl.clone());
    let good = "sha256:239f59ed55e737c77147cf55ad0c1b030b6d7ee748a7426952f9b852d5a935e5";
    std::fs::write(
        c.path().join("Dockerfile"),
        format!("FROM busybox\nADD data.tar plain.txt /opt/\nADD --checksum={good} https://example.com/f.bin /dl/\n"),
    )
    .unwrap();
    let (r, _) = c.build(&host, &tagged("a"));
    r.unwrap();
    {
        let copies = host.copies.lock().unwrap();
        assert!(copies[0].items[0].extract);
        assert!(!copies[0].items[1].extract);
        assert_eq!(copies[1].items[0].dest, "/dl/f.bin");
        assert_eq!(copies[1].items[0].mode, Some(0o600));
    }
    std::fs::write(
        c.path().join("Dockerfile"),
        "FROM busybox\nADD --checksum=sha256:0000 https://example.com/f.bin /dl/\n",
    )
    .unwrap();
    let (r, _) = c.build(&host, &tagged("a"));
    assert!(r
        .unwrap_err()
        .to_string()
        .starts_with("digest mismatch sha256:0000: sha256:239f"));
}

#[test]
fn legacy_container_mode_prints_like_docker() {
    let host = FakeHost::new();
    let c = Ctx::new("FROM busybox\nENV A=1\nWORKDIR /w\nCOPY --chown=1:2 f /f\n");
    c.file("f", "x");
    let opts = BuildOptions {
        legacy_containers: true,
        ..tagged("l")
    };
    let (r, out) = c.build(&host, &opts);
    r.unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[2].starts_with("Step 2/4 : ENV A=1"), "{out}");
    assert!(lines[3].starts_with(" ---> Running in c"), "{out}");
    assert!(
        lines[4].starts_with("Removing intermediate container c"),
        "{out}"
    );
    assert!(lines[5].starts_with(" ---> 0"), "{out}");
    assert!(lines[7].starts_with(" ---> Running in c"), "{out}");
    // The metadata container carried the `#(nop)` command and was committed.
    let commits = host.commits.lock().unwrap();
    assert!(commits[0].container.is_some() && commits[0].history.empty_layer);
    assert_eq!(commits[0].history.created_by, "/bin/sh -c #(nop)  ENV A=1");
    assert!(
        commits[2]
            .history
            .created_by
            .starts_with("/bin/sh -c #(nop) COPY --chown=1:2file:"),
        "{}",
        commits[2].history.created_by
    );
    drop(commits);
    assert!(host.containers.lock().unwrap().is_empty());
    // rm=false keeps them.
    let opts = BuildOptions {
        legacy_containers: true,
        keep_intermediate: true,
        no_cache: true,
        ..tagged("l")
    };
    let (r, out) = c.build(&host, &opts);
    r.unwrap();
    assert!(!out.contains("Removing intermediate container"), "{out}");
    assert_eq!(host.containers.lock().unwrap().len(), 2);
}

#[test]
fn dispatch_time_errors_use_docker_wording() {
    let host = FakeHost::new();
    let cases = [
        (
            "FROM busybox\nSTOPSIGNAL SIGFOO\n",
            "Invalid signal: SIGFOO",
        ),
        ("FROM busybox\nEXPOSE 80/foo\n", "Invalid proto: foo"),
        ("FROM busybox\nEXPOSE abc\n", "Invalid containerPort: abc"),
        // Words split before expansion (as Docker does), so spaces need quotes.
        (
            "FROM busybox\nENV A=\"${NEED:?must be set}\"\n",
            "failed to process \"\\\"${NEED:?must be set}\\\"\": NEED: must be set",
        ),
        (
            "FROM busybox\nUSER ${A\n",
            "failed to process \"${A\": missing '}'",
        ),
    ];
    for (df, want) in cases {
        let (r, _) = Ctx::new(df).build(&host, &tagged("e"));
        assert_eq!(r.unwrap_err().to_string(), want, "{df}");
    }
    assert!(host.tags.lock().unwrap().is_empty());
}

#[test]
fn cancel_stops_before_the_next_step() {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut host = FakeHost::new();
    host.cancel_on_run = Some(flag.clone());
    let c = Ctx::new("FROM busybox\nRUN first\nRUN second\n");
    let ctx = BuildContext::from_dir(c.path(), "Dockerfile").unwrap();
    let plan = Plan::from_source(
        "FROM busybox\nRUN first\nRUN second\n",
        &BTreeMap::new(),
        None,
    )
    .unwrap();
    let opts = tagged("c");
    let mut out: Vec<u8> = Vec::new();
    let r = Builder::new(&host, &plan, &ctx, &opts)
        .with_cancel(&flag)
        .build(&mut out);
    assert_eq!(r.unwrap_err().to_string(), "context canceled");
    assert_eq!(host.count("run"), 1);
    assert!(host.tags.lock().unwrap().is_empty());
}

#[test]
fn labels_option_adds_a_step_and_pull_is_passed() {
    let host = FakeHost::new();
    let c = Ctx::new("FROM busybox\nRUN true\n");
    let mut opts = tagged("l:v1");
    opts.tags.push("l:v2".into());
    opts.labels.insert("team".into(), "core".into());
    opts.pull = true;
    let (r, out) = c.build(&host, &opts);
    let r = r.unwrap();
    assert!(out.contains("Step 3/3 : LABEL \"team\"='core'\n"), "{out}");
    assert!(out.contains("latest: Pulling from library/busybox"));
    assert!(host
        .calls()
        .contains(&"resolve busybox pull=true".to_string()));
    assert_eq!(
        host.image(&r.image_id).config.labels.unwrap()["team"],
        "core"
    );
    assert!(
        out.ends_with("Successfully tagged l:v1\nSuccessfully tagged l:v2\n"),
        "{out}"
    );
}

#[test]
fn run_mounts_and_errors_surface_with_lines() {
    let host = FakeHost::new();
    let c = Ctx::new("FROM busybox AS dep\nRUN x\nFROM busybox\nRUN --mount=type=cache,target=/root/.cache --mount=type=bind,from=dep,source=/out,target=out --network=none make\n");
    let (r, _) = c.build(&host, &tagged("m"));
    r.unwrap();
    let runs = host.runs.lock().unwrap();
    let last = runs.last().unwrap();
    assert_eq!(last.network.as_deref(), Some("none"));
    assert_eq!(last.mounts.len(), 2);
    assert_eq!(
        last.mounts[0].source,
        MountSource::Cache {
            id: "/root/.cache".into(),
            sharing: "shared".into()
        }
    );
    assert_eq!(last.mounts[1].target, "/out");
    assert!(matches!(&last.mounts[1].source, MountSource::Image { path, .. } if path == "/out"));
    drop(runs);

    let c = Ctx::new("FROM busybox\nRUN ok\nBOGUS x\n");
    let (r, _) = c.build(&host, &tagged("e"));
    let e = r.unwrap_err();
    assert_eq!(
        e.to_string(),
        "dockerfile parse error on line 3: unknown instruction: BOGUS"
    );
    let (r, _) = Ctx::new("ARG B\nFROM $B\n").build(&host, &tagged("e"));
    assert_eq!(
        r.unwrap_err().to_string(),
        "base name ($B) should not be blank"
    );
    let (r, _) = Ctx::new("FROM nosuchimage\n").build(&host, &tagged("e"));
    assert!(matches!(r.unwrap_err(), BuildError::Host(h) if h.not_found));
}

#[test]
fn secret_and_ssh_mounts_resolve_to_buildkit_defaults_by_id_only() {
    let host = FakeHost::new();
    let c = Ctx::new(
        "FROM busybox\nARG SID=tok\nRUN --mount=type=secret,id=$SID --mount=type=secret,id=aws,env=AWS_KEY --mount=type=secret,target=key.pem,required --mount=type=ssh --mount=type=ssh,id=deploy,target=/s make\n",
    );
    let (r, _) = c.build(&host, &tagged("s"));
    r.unwrap();
    let runs = host.runs.lock().unwrap();
    let m = &runs.last().unwrap().mounts;
    let got: Vec<(&str, &MountSource, bool, Option<&str>)> = m
        .iter()
        .map(|m| (m.target.as_str(), &m.source, m.required, m.env.as_deref()))
        .collect();
    let secret = |id: &str| MountSource::Secret { id: id.into() };
    let ssh = |id: &str| MountSource::Ssh { id: id.into() };
    assert_eq!(
        got,
        [
            ("/run/secrets/tok", &secret("tok"), false, None),
            // env only: no file.
            ("", &secret("aws"), false, Some("AWS_KEY")),
            // Relative target under the working directory; id from its base name.
            ("/key.pem", &secret("key.pem"), true, None),
            ("/run/buildkit/ssh_agent.0", &ssh("default"), false, None),
            ("/s", &ssh("deploy"), false, None),
        ]
    );
    drop(runs);
    // Secret contents are not the builder's business: the same Dockerfile is cached.
    let before = host.runs.lock().unwrap().len();
    let (r, out) = c.build(&host, &tagged("s"));
    r.unwrap();
    assert!(out.contains("Using cache"), "{out}");
    assert_eq!(host.runs.lock().unwrap().len(), before);
}
