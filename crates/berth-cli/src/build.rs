//! `berth build` (and `berth image build`): the legacy builder's client side.
//!
//! The context directory is walked with `berth_build::BuildContext` (which applies
//! `.dockerignore` and always sends the Dockerfile), written as a tar to an unlinked
//! temporary file and streamed to `POST /build`. The answer's JSON lines are printed as
//! the legacy builder's text; `aux.ID` is the image id (`-q`, `--iidfile`); an `error`
//! line fails the command with the failing step's exit code (1 by default), as Docker's
//! client does. A context of `-` reads the tar from stdin. `--secret`/`--ssh` are read
//! here and sent in the `X-Berth-Build-Secrets` header (see `berth_build::secrets`).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use berth_client::{Client, JsonLines, Query};
use clap::Args;
use serde_json::Value;

use crate::errors::{CliError, CliResult};
use crate::units::human_size;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short = 't', long = "tag")]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (Default is "PATH/Dockerfile")
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    pub build_arg: Vec<String>,
    /// Set the target build stage to build.
    #[arg(long = "target")]
    pub target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long = "pull")]
    pub pull: bool,
    /// Set metadata for an image
    #[arg(long = "label")]
    pub label: Vec<String>,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Write the image ID to the file
    #[arg(long = "iidfile")]
    pub iidfile: Option<String>,
    /// Remove intermediate containers after a successful build
    #[arg(long = "rm", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub rm: bool,
    /// Always remove intermediate containers
    #[arg(long = "force-rm")]
    pub force_rm: bool,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long = "network")]
    pub network: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform")]
    pub platform: Option<String>,
    /// Secret to expose to the build (format: "id=mysecret[,src=/local/secret]")
    #[arg(long = "secret")]
    pub secret: Vec<String>,
    /// SSH agent socket or keys to expose to the build (format: "default|<id>[=<socket>|<key>[,<key>]]")
    #[arg(long = "ssh")]
    pub ssh: Vec<String>,
    #[arg(value_name = "PATH | URL | -")]
    pub context: String,
}

/// `--build-arg K=V`; a bare `K` takes the value from the environment (or none).
fn build_args(args: &[String]) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    for a in args {
        match a.split_once('=') {
            Some((k, v)) => m.insert(k.to_string(), Value::String(v.to_string())),
            None => m.insert(
                a.clone(),
                std::env::var(a).map(Value::String).unwrap_or(Value::Null),
            ),
        };
    }
    m
}

fn labels(args: &[String]) -> serde_json::Map<String, Value> {
    args.iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            (k.to_string(), Value::String(v.to_string()))
        })
        .collect()
}

/// Largest context (estimated from its files' sizes) built in memory rather than in a
/// temp file.
const IN_MEMORY_CONTEXT: u64 = 64 << 20;

/// An unlinked temporary file for the context tar.
fn temp_file() -> io::Result<File> {
    let path = std::env::temp_dir().join(format!(
        "berth-build-{}-{:x}.tar",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    let _ = std::fs::remove_file(&path);
    Ok(f)
}

/// The Dockerfile's path relative to the context root.
fn dockerfile_in_context(root: &Path, file: Option<&str>) -> Result<String, CliError> {
    let Some(f) = file else {
        return Ok("Dockerfile".into());
    };
    let p = PathBuf::from(f);
    let abs = if p.is_absolute() {
        p
    } else {
        std::env::current_dir()?.join(p)
    };
    let abs = abs
        .canonicalize()
        .map_err(|e| CliError::msg(format!("unable to prepare context: {f}: {e}")))?;
    let root = root
        .canonicalize()
        .map_err(|e| CliError::msg(format!("unable to prepare context: {e}")))?;
    abs.strip_prefix(&root)
        .map(|r| r.to_string_lossy().into_owned())
        .map_err(|_| {
            CliError::msg(format!(
                "unable to prepare context: the Dockerfile ({f}) must be within the build context"
            ))
        })
}

/// An empty buffer with room for `cap` bytes whose pages are already mapped: a
/// context of a few MB otherwise takes a page fault per 4 KiB as the tar is written,
/// which in a VM was a tenth of a cached build. Best effort (an older kernel just
/// faults as before).
fn prefaulted(cap: usize) -> Vec<u8> {
    let v: Vec<u8> = Vec::with_capacity(cap);
    // Whole pages inside the allocation only.
    let page = 4096usize;
    let start = (v.as_ptr() as usize).div_ceil(page) * page;
    let end = (v.as_ptr() as usize + cap) / page * page;
    if end > start {
        // SAFETY: the range lies inside the Vec's own allocation; MADV_POPULATE_WRITE
        // only maps its pages (zeroed), it changes no byte we could observe.
        unsafe {
            libc::madvise(
                start as *mut libc::c_void,
                end - start,
                libc::MADV_POPULATE_WRITE,
            )
        };
    }
    v
}

/// The context as it is sent: a small one whole from memory (with its length, and
/// without a version handshake first, as it can be sent again), anything else streamed.
enum Upload {
    Memory(Vec<u8>),
    Stream(Box<dyn Read>),
}

/// `berth build`.
pub fn build(c: &Client, a: &BuildArgs) -> CliResult {
    let mut q = Query::new();
    for t in &a.tag {
        q = q.add("t", t);
    }
    let mut tar: Upload = if a.context == "-" {
        if let Some(f) = &a.file {
            q = q.add("dockerfile", f);
        }
        Upload::Stream(Box::new(io::stdin()))
    } else {
        let root = PathBuf::from(&a.context);
        if !root.is_dir() {
            return Err(CliError::msg(format!(
                "unable to prepare context: path {:?} not found",
                a.context
            )));
        }
        let dockerfile = dockerfile_in_context(&root, a.file.as_deref())?;
        let ctx = berth_build::BuildContext::from_dir(&root, &dockerfile)
            .map_err(|e| CliError::msg(format!("unable to prepare context: {e}")))?;
        if ctx.read(&dockerfile).is_err() {
            return Err(CliError::msg(format!(
                "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory",
                root.join(&dockerfile).display()
            )));
        }
        // Small contexts (nearly all) are built in memory; writing them to a temp file
        // and reading them back was a third of a cached build's time.
        let estimate: u64 = ctx.entries().map(|e| e.size + 1024).sum();
        let (size, body): (u64, Upload) = if estimate <= IN_MEMORY_CONTEXT {
            let buf = ctx
                .write_tar(prefaulted(estimate as usize + 64 * 1024))
                .map_err(|e| CliError::msg(e.to_string()))?;
            (buf.len() as u64, Upload::Memory(buf))
        } else {
            let mut f = ctx
                .write_tar(temp_file()?)
                .map_err(|e| CliError::msg(e.to_string()))?;
            let size = f.stream_position()?;
            f.seek(SeekFrom::Start(0))?;
            (size, Upload::Stream(Box::new(f)))
        };
        if !a.quiet {
            println!(
                "Sending build context to Docker daemon  {}",
                human_size(size as i64)
            );
        }
        if dockerfile != "Dockerfile" {
            q = q.add("dockerfile", &dockerfile);
        }
        body
    };
    let args = build_args(&a.build_arg);
    if !args.is_empty() {
        q = q.add("buildargs", Value::Object(args).to_string());
    }
    let l = labels(&a.label);
    if !l.is_empty() {
        q = q.add("labels", Value::Object(l).to_string());
    }
    q = q
        .opt("target", a.target.as_deref())
        .opt("networkmode", a.network.as_deref())
        .opt("platform", a.platform.as_deref())
        .flag("nocache", a.no_cache)
        .flag("pull", a.pull)
        .flag("q", a.quiet)
        .flag("forcerm", a.force_rm)
        .add("rm", if a.rm { "1" } else { "0" })
        .add("version", "1");
    // Secrets travel in a header of their own, never in the context or the query.
    let mut secrets = berth_build::BuildSecrets::default();
    for spec in &a.secret {
        secrets.add_secret_flag(spec).map_err(CliError::msg)?;
    }
    for spec in &a.ssh {
        secrets.add_ssh_flag(spec).map_err(CliError::msg)?;
    }
    let header = (!secrets.is_empty()).then(|| secrets.to_header());
    let headers: Vec<(&str, &str)> = header
        .iter()
        .map(|h| (berth_build::SECRETS_HEADER, h.as_str()))
        .collect();
    let resp = c.request(
        "POST",
        &format!("/build{}", q.to_suffix()),
        &headers,
        match &mut tar {
            Upload::Memory(b) => berth_client::Body::Bytes(b, "application/x-tar"),
            Upload::Stream(r) => berth_client::Body::Stream(&mut **r, "application/x-tar"),
        },
    )?;
    let mut id = None;
    let mut out = io::stdout();
    for msg in JsonLines::new(resp) {
        let msg = msg?;
        if let Some(e) = msg.get("error").and_then(Value::as_str) {
            let code = msg
                .pointer("/errorDetail/code")
                .and_then(Value::as_i64)
                .filter(|c| *c > 0)
                .unwrap_or(1);
            let _ = out.flush();
            return Err(CliError::msg(e.to_string()).with_code(code as i32));
        }
        if let Some(s) = msg.get("stream").and_then(Value::as_str) {
            if !a.quiet {
                print!("{s}");
                let _ = out.flush();
            }
        }
        if let Some(i) = msg.pointer("/aux/ID").and_then(Value::as_str) {
            id = Some(i.to_string());
        }
    }
    let Some(id) = id else {
        return Err(CliError::msg("build did not report an image id"));
    };
    if a.quiet {
        println!("{id}");
    }
    if let Some(p) = &a.iidfile {
        std::fs::write(p, &id)
            .map_err(|e| CliError::msg(format!("failed to write image ID to {p}: {e}")))?;
    }
    Ok(())
}
