//! COPY and ADD: source resolution against the context (globs, `.dockerignore`,
//! `--exclude`), heredoc and URL sources, `--from` stages/images, destination rules, the
//! content hash that keys the cache, and the `file:/dir:/multi:` history text.

use super::{expand_error, short, w, workdir_or_root, Builder, State};
use crate::context::EntryKind;
use crate::dockerignore::{clean_path, has_glob};
use crate::error::BuildError;
use crate::host::{ContainerRequest, CopyItem, CopyRequest, CopySource, ImageInfo};
use crate::instructions::CopyArgs;
use crate::parser::Heredoc;
use crate::shell::Lexer;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};

impl Builder<'_> {
    /// `--from` value → image id: an earlier stage (name or index) or an image.
    pub(super) fn image_for_from(&self, st: &State, from: &str) -> Result<String, BuildError> {
        if let Some(idx) = self.plan.stage_ref(st.stage, from) {
            // Stages named in --from were built in an earlier wave (they are dependencies).
            return self.stage_image(idx);
        }
        let mut sink = std::io::sink();
        let info: ImageInfo =
            self.host
                .resolve_image(from, self.opts.platform.as_deref(), false, &mut sink)?;
        Ok(info.id)
    }

    fn stage_image(&self, idx: usize) -> Result<String, BuildError> {
        self.stage_images
            .lock()
            .ok()
            .and_then(|m| m.get(&idx).cloned())
            .ok_or_else(|| {
                BuildError::Invalid(format!(
                    "stage {idx} has no image (FROM scratch with no steps)"
                ))
            })
    }

    pub(super) fn copy_step(
        &self,
        st: &mut State,
        c: &CopyArgs,
        is_add: bool,
        out: &mut dyn Write,
    ) -> Result<(), BuildError> {
        let name = if is_add { "ADD" } else { "COPY" };
        let lx = Lexer::new(self.plan.escape);
        let env = self.env(st);
        let ex = |s: &str| lx.word(s, &env).map_err(|e| expand_error(s, e));
        let dest_raw = ex(&c.dest)?;
        let dest_is_dir = dest_raw.ends_with('/') || dest_raw == "." || dest_raw.ends_with("/.");
        let dest = if dest_raw.starts_with('/') {
            clean_path(&dest_raw)
        } else {
            clean_path(&format!("{}/{dest_raw}", workdir_or_root(&st.config)))
        };
        let dest = if dest.is_empty() {
            "/".to_string()
        } else {
            dest
        };
        let chown = c.chown.as_deref().map(&ex).transpose()?;
        let chmod = match c.chmod.as_deref().map(&ex).transpose()? {
            Some(m) => Some(
                u32::from_str_radix(&m, 8)
                    .ok()
                    .filter(|v| *v <= 0o7777)
                    .ok_or_else(|| BuildError::Invalid(format!("invalid chmod parameter: {m}")))?,
            ),
            None => None,
        };
        let excludes_raw = c
            .excludes
            .iter()
            .map(|e| ex(e))
            .collect::<Result<Vec<_>, _>>()?;
        let exclude_rules = crate::dockerignore::DockerIgnore::parse(&excludes_raw.join("\n"));
        let excludes = excludes_raw;
        let from_image = match &c.from {
            Some(f) => Some(self.image_for_from(st, &ex(f)?)?),
            None => None,
        };
        let mut items: Vec<CopyItem> = Vec::new();
        let mut hashes: Vec<String> = Vec::new();
        let mut kinds: Vec<&str> = Vec::new();
        let item = |source: CopySource, src: String, extract: bool, mode: Option<u32>| CopyItem {
            source,
            src,
            dest: dest.clone(),
            dest_is_dir,
            extract,
            mode,
            excludes: excludes.clone(),
            paths: Vec::new(),
        };
        for raw in &c.sources {
            if let Some(doc) = heredoc_named(raw, &c.heredocs) {
                let body = if doc.expand {
                    lx.heredoc(&doc.content, &env)
                        .map_err(|e| expand_error(&doc.content, e))?
                } else {
                    doc.content.clone()
                };
                hashes.push(sha_hex(body.as_bytes()));
                kinds.push("file");
                let mut it = item(
                    CopySource::Inline {
                        content: body.into_bytes(),
                    },
                    String::new(),
                    false,
                    Some(0o644),
                );
                if dest_is_dir {
                    it.dest = join_dest(&dest, &doc.name);
                    it.dest_is_dir = false;
                }
                items.push(it);
                continue;
            }
            let src = ex(raw)?;
            if is_add && crate::instructions::is_url(&src) {
                let fetched = self.host.fetch_url(&src)?;
                let bytes = std::fs::read(&fetched.path)
                    .map_err(|e| BuildError::io(format!("failed to read download of {src}"), e))?;
                let digest = sha_hex(&bytes);
                if let Some(want) = c.checksum.as_deref().map(&ex).transpose()? {
                    let got = digest_with(&want, &bytes);
                    if got != want {
                        return Err(BuildError::Invalid(format!(
                            "digest mismatch {want}: {got}"
                        )));
                    }
                }
                hashes.push(digest);
                kinds.push("file");
                let mut it = item(
                    CopySource::File { path: fetched.path },
                    String::new(),
                    false,
                    Some(0o600),
                );
                if dest_is_dir {
                    it.dest = join_dest(&dest, &fetched.name);
                    it.dest_is_dir = false;
                }
                items.push(it);
                continue;
            }
            if let Some(id) = &from_image {
                hashes.push(format!("{id}:{src}"));
                kinds.push(if has_glob(&src) { "multi" } else { "file" });
                items.push(item(CopySource::Image { id: id.clone() }, src, false, None));
                continue;
            }
            let cleaned = clean_path(&src);
            let rel = cleaned.trim_start_matches('/').to_string();
            if rel == ".." || rel.starts_with("../") {
                return Err(BuildError::Invalid(format!(
                    "forbidden path outside the build context: {src} ()"
                )));
            }
            let matches: Vec<String> = if has_glob(&rel) {
                let m: Vec<String> = self
                    .context
                    .glob(&rel)
                    .iter()
                    .map(|e| e.path.clone())
                    .collect();
                if m.is_empty() {
                    return Err(BuildError::Invalid(format!(
                        "{name} failed: no source files were specified"
                    )));
                }
                m
            } else if rel.is_empty() || self.context.get(&rel).is_some() {
                vec![rel.clone()]
            } else {
                return Err(BuildError::Invalid(format!(
                    "{name} failed: file not found in build context or excluded by .dockerignore: stat {src}: file does not exist"
                )));
            };
            for path in matches {
                let is_dir = path.is_empty()
                    || self
                        .context
                        .get(&path)
                        .is_some_and(|e| e.kind == EntryKind::Dir);
                let sel: Vec<&crate::context::ContextEntry> = self
                    .context
                    .subtree(&path)
                    .into_iter()
                    .filter(|e| !excluded_by(&exclude_rules, &path, &e.path))
                    .collect();
                hashes.push(self.context.hash_entries(&path, &sel)?);
                let paths: Vec<String> = sel.iter().map(|e| e.path.clone()).collect();
                kinds.push(if is_dir { "dir" } else { "file" });
                let extract = is_add && !is_dir && self.is_archive(&path);
                let mut it = item(
                    CopySource::Context {
                        root: self.context.root().to_path_buf(),
                    },
                    path,
                    extract,
                    None,
                );
                it.paths = paths;
                items.push(it);
            }
        }
        if items.len() > 1 && !dest_is_dir {
            return Err(BuildError::Invalid(format!(
                "When using {name} with more than one source file, the destination must be a directory and end with a /"
            )));
        }
        let joined = sha_hex(hashes.join("\n").as_bytes());
        let label = if kinds.len() == 1 { kinds[0] } else { "multi" };
        // The legacy builder glues the chown flag to the hash (no space); kept verbatim.
        let chown_comment = chown
            .as_deref()
            .map(|c| format!("--chown={c}"))
            .unwrap_or_default();
        let created_by = format!(
            "{} #(nop) {name} {chown_comment}{label}:{joined} in {dest_raw} ",
            Self::shell(st).join(" ")
        );
        let content = format!(
            "{joined}\nchown={}\nchmod={:?}\nexclude={}",
            chown.as_deref().unwrap_or(""),
            chmod,
            excludes.join(",")
        );
        let cfg = st.config.clone();
        let key = self.key(st, &cfg, &created_by, &content);
        if let Some(id) = self.lookup(st, &key, out)? {
            st.image = Some(id);
            return Ok(());
        }
        let mut probe = cfg.clone();
        probe.cmd = Some(
            Self::shell(st)
                .into_iter()
                .chain([format!(
                    "#(nop) {name} {chown_comment}{label}:{joined} in {dest_raw} "
                )])
                .collect(),
        );
        probe.image = st.image.clone().unwrap_or_default();
        let id = self.host.create_container(&ContainerRequest {
            image: st.image.clone(),
            config: probe,
            mounts: Vec::new(),
            network: None,
        })?;
        let r = self
            .host
            .copy_into(
                &id,
                &CopyRequest {
                    items,
                    chown,
                    chmod,
                },
            )
            .map_err(BuildError::from)
            .and_then(|_| self.commit(st, cfg, Some(id.clone()), created_by, key, false));
        let _ = self.host.remove_container(&id);
        let new_id = r?;
        w(out, format!(" ---> {}\n", short(&new_id)))?;
        Ok(())
    }

    /// Local archives ADD extracts: tar (ustar magic), gzip, bzip2, xz.
    fn is_archive(&self, path: &str) -> bool {
        let mut head = [0u8; 512];
        let Ok(mut f) = std::fs::File::open(self.context.root().join(path)) else {
            return false;
        };
        let mut n = 0;
        while n < head.len() {
            match f.read(&mut head[n..]) {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k,
            }
        }
        let h = &head[..n];
        h.starts_with(&[0x1f, 0x8b])
            || h.starts_with(b"BZh")
            || h.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00])
            || (n >= 262 && &h[257..262] == b"ustar")
    }
}

/// `--exclude` rules match paths relative to the copied source, or to the context root.
fn excluded_by(rules: &crate::dockerignore::DockerIgnore, base: &str, path: &str) -> bool {
    if rules.is_empty() {
        return false;
    }
    let rel = path
        .strip_prefix(base)
        .map(|r| r.trim_start_matches('/'))
        .filter(|r| !r.is_empty() && !base.is_empty())
        .unwrap_or(path);
    rules.excludes(rel) || rules.excludes(path)
}

fn join_dest(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn digest_with(want: &str, bytes: &[u8]) -> String {
    use sha2::{Sha384, Sha512};
    match want.split(':').next() {
        Some("sha384") => format!("sha384:{}", hex::encode(Sha384::digest(bytes))),
        Some("sha512") => format!("sha512:{}", hex::encode(Sha512::digest(bytes))),
        _ => format!("sha256:{}", sha_hex(bytes)),
    }
}

/// `<<EOF` / `<<-"EOF"` as a COPY source → its heredoc.
fn heredoc_named<'h>(word: &str, docs: &'h [Heredoc]) -> Option<&'h Heredoc> {
    let rest = word.strip_prefix("<<")?;
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    let name = rest.trim_matches(|c| c == '\'' || c == '"');
    docs.iter().find(|d| d.name == name)
}
