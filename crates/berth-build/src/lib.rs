//! Dockerfile front end and build planner for `docker build` (the legacy, non-BuildKit
//! builder's behaviour and output, with BuildKit's Dockerfile syntax).
//!
//! This crate does not run containers. It parses, plans and drives a build through the
//! [`BuildHost`] trait, which the engine implements. Pipeline:
//!
//! ```text
//! Dockerfile text ──parser::parse──▶ Dockerfile (nodes with line/column)
//!        ──instructions::parse_instruction──▶ Instruction (validated, unexpanded)
//!        ──Plan::new──▶ stages, DAG, --target pruning, waves
//! context dir ──BuildContext::from_dir──▶ filtered entries, content hashes, tar
//! Builder::new(host, &plan, &context, &options).build(progress) ──▶ BuildOutcome
//! ```
//!
//! ## Using it from the engine
//!
//! ```ignore
//! // POST /build: extract the (already .dockerignore-filtered) tar into a temp dir first.
//! let ctx = BuildContext::from_dir(&dir, &dockerfile_name)?;
//! let source = String::from_utf8_lossy(&ctx.read(&dockerfile_name)?).into_owned();
//! let plan = Plan::from_source(&source, &opts.build_args, opts.target.as_deref())?;
//! let outcome = Builder::new(&engine_host, &plan, &ctx, &opts).build(&mut progress)?;
//! ```
//! [`build`] does the three steps in one call ([`build_source`] for a Dockerfile given as
//! text). [`BuildRequest::from_query`] parses the `POST /build` query; [`JsonStream`] turns
//! progress into Docker's `{"stream":…}` lines and [`stream::aux_id`] /
//! [`stream::error_message`] give the closing line. Errors: [`BuildError`]; a parse
//! error's `Display` is Docker's `dockerfile parse error on line N: …` and
//! [`ParseError::excerpt`] renders the `Dockerfile:N` block.
//!
//! ## What the engine implements ([`BuildHost`])
//!
//! - `resolve_image(ref, platform, pull, progress)` → id + config (pull when missing or
//!   `pull`).
//! - `cache_lookup(parent, key)` → an image committed earlier with that parent and
//!   [`CommitRequest::cache_key`].
//! - `create_container(req)` (image, config with Cmd/Env/User/WorkingDir, RUN mounts,
//!   network) → id; `run_container(id, output)` → exit code, streaming output;
//!   `copy_into(id, items)`; `create_workdir(id)`; `remove_container(id)`.
//! - `commit(req)`: parent + optional container diff + config + history entry → image
//!   id (`empty_layer` when there is no container or its diff is empty).
//! - `fetch_url(url)` for `ADD <url>`; `tag(id, ref)`.
//!
//! ## Behaviour
//!
//! - Progress text is the legacy builder's: `Step 3/7 : RUN …`, ` ---> Using cache`,
//!   ` ---> Running in <id>`, RUN output, `Removing intermediate container <id>`,
//!   ` ---> <id>`, `Successfully built <id>`, `Successfully tagged x:y`.
//! - History `created_by` strings follow the legacy builder: metadata steps are
//!   `/bin/sh -c #(nop)  CMD ["sh"]` (two spaces), COPY/ADD/WORKDIR
//!   `/bin/sh -c #(nop) COPY file:<hash> in /dst ` (one space, trailing space), RUN is the
//!   command (`/bin/sh -c echo hi`), prefixed with `|N K=V …` when build args are in
//!   effect. The SHELL in effect replaces `/bin/sh -c`.
//! - Cache keys: parent id + history line (so expanded arguments and RUN build args) +
//!   resulting config + content hash of COPY/ADD inputs (paths, modes, uid/gid,
//!   contents) and of RUN bind mounts. A rebuild with nothing changed creates no
//!   container.
//! - Metadata-only steps (ENV, CMD, LABEL, …) commit without a container, unless
//!   [`BuildOptions::legacy_containers`] asks for the legacy builder's create/commit/remove
//!   (and its ` ---> Running in` / `Removing intermediate container` lines). WORKDIR
//!   always uses a container (the host creates the directory in it), as Docker does.
//! - `rm`/`forcerm`: containers are removed after successful steps unless
//!   [`BuildOptions::keep_intermediate`]; a failed RUN's container stays unless
//!   [`BuildOptions::force_rm`] (Docker's defaults).
//! - Only the stages the target needs are built; independent ones run in parallel
//!   ([`BuildOptions::parallel`]), their progress written in stage order.
//! - [`Builder::with_cancel`] stops the build before its next step (`context canceled`).
//! - `RUN --mount=type=secret|ssh` pass only ids to the host (never content, so not in
//!   cache keys); the client's secrets and agent sockets reach the host as
//!   [`BuildRequest::secrets`], sent in the [`SECRETS_HEADER`] header ([`secrets`]).
//! - A failing RUN returns [`BuildError::RunFailed`] (`The command '/bin/sh -c false'
//!   returned a non-zero code: 1`); nothing is tagged.

pub mod builder;
pub mod context;
pub mod dockerignore;
pub mod error;
pub mod gofmt;
pub mod host;
pub mod instructions;
pub mod parser;
pub mod plan;
pub mod request;
pub mod secrets;
pub mod shell;
pub mod stream;

pub use builder::{normalize_tag, BuildOptions, BuildOutcome, Builder};
pub use context::{BuildContext, ContextEntry, ContextFilter, EntryKind};
pub use dockerignore::DockerIgnore;
pub use error::{BuildError, HostError, ParseError};
pub use host::{
    BuildHost, BuildMount, CommitRequest, ContainerRequest, CopyItem, CopyRequest, CopySource,
    FetchedFile, HistoryEntry, ImageInfo, MountSource,
};
pub use instructions::{Instruction, MountKind};
pub use parser::{parse, Dockerfile, Node};
pub use plan::{Plan, Stage, Step};
pub use request::BuildRequest;
pub use secrets::{BuildSecrets, SECRETS_HEADER};
pub use stream::JsonStream;

use std::io::Write;

/// Parses the Dockerfile `dockerfile` (relative to the context root), plans and builds.
pub fn build(
    host: &dyn BuildHost,
    context: &BuildContext,
    dockerfile: &str,
    opts: &BuildOptions,
    progress: &mut (dyn Write + Send),
) -> Result<BuildOutcome, BuildError> {
    let bytes = context.read(dockerfile).map_err(|_| {
        BuildError::Invalid(format!("Cannot locate specified Dockerfile: {dockerfile}"))
    })?;
    build_source(
        host,
        context,
        &String::from_utf8_lossy(&bytes),
        opts,
        progress,
    )
}

/// Plans and builds a Dockerfile given as text (`-f -`, or a Dockerfile outside the
/// context).
pub fn build_source(
    host: &dyn BuildHost,
    context: &BuildContext,
    source: &str,
    opts: &BuildOptions,
    progress: &mut (dyn Write + Send),
) -> Result<BuildOutcome, BuildError> {
    let plan = Plan::from_source(source, &opts.build_args, opts.target.as_deref())?;
    Builder::new(host, &plan, context, opts).build(progress)
}
