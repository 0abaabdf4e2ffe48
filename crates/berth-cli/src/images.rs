//! Image commands: `images` (Docker's columns, one row per tag, digests, `-q`
//! de-duplicated), `rmi`, `tag` and `import` (file or stdin, streamed chunked).

use std::fs::File;
use std::io::{self, Read};

use berth_client::api::Filters;
use berth_client::{Client, JsonLines};
use serde_json::{json, Map, Value};

use crate::cli::{ImagesArgs, ImportArgs, RmiArgs, TagArgs};
use crate::errors::{CliError, CliResult};
use crate::opts::io_reason;
use crate::ps::{go_time_string, running_for, truncate_id};
use crate::run::split_ref;
use crate::table::{self, Format, HeaderHooks, RowHooks};
use crate::units::{human_size, human_size_prec};

pub const DEFAULT_TABLE: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
pub const DIGEST_TABLE: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

fn headers() -> Map<String, Value> {
    table::headers(&[
        ("ID", "IMAGE ID"),
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("Digest", "DIGEST"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("Size", "SIZE"),
        ("Containers", "CONTAINERS"),
        ("VirtualSize", "SIZE"),
        ("SharedSize", "SHARED SIZE"),
        ("UniqueSize", "UNIQUE SIZE"),
    ])
}

fn count_or_na(v: &Value) -> String {
    match v.as_i64() {
        Some(n) if n >= 0 => n.to_string(),
        _ => "N/A".into(),
    }
}

fn size_or_na(v: &Value) -> String {
    match v.as_i64() {
        Some(n) if n >= 0 => human_size(n),
        _ => "N/A".into(),
    }
}

/// Rows for one image: one per tag (or `<none>`), with digests matched by repo.
pub(crate) fn image_rows(img: &Value, trunc: bool, digests: bool) -> Vec<Value> {
    let id_full = img["Id"].as_str().unwrap_or("");
    let id = if trunc {
        truncate_id(id_full)
    } else {
        id_full.to_string()
    };
    let created = img["Created"].as_i64().unwrap_or(0);
    let size = img["Size"].as_i64().unwrap_or(0);
    let tags: Vec<String> = img["RepoTags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let repo_digests: Vec<String> = img["RepoDigests"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let mut pairs: Vec<(String, String, String)> = Vec::new();
    for t in &tags {
        if t == "<none>:<none>" {
            continue;
        }
        let (repo, tag) = split_ref(t);
        let digest = repo_digests
            .iter()
            .find_map(|d| {
                d.split_once('@')
                    .filter(|(r, _)| *r == repo)
                    .map(|(_, dg)| dg.to_string())
            })
            .unwrap_or_else(|| "<none>".into());
        pairs.push((repo, tag.unwrap_or_else(|| "<none>".into()), digest));
    }
    if pairs.is_empty() {
        // Untagged: show digests when asked, else one <none> row.
        let digested: Vec<(String, String)> = repo_digests
            .iter()
            .filter_map(|d| {
                d.split_once('@')
                    .map(|(r, dg)| (r.to_string(), dg.to_string()))
            })
            .collect();
        if digests && !digested.is_empty() {
            for (r, d) in digested {
                pairs.push((r, "<none>".into(), d));
            }
        } else {
            let repo = digested
                .first()
                .map(|(r, _)| r.clone())
                .unwrap_or_else(|| "<none>".into());
            let d = digested
                .first()
                .map(|(_, d)| d.clone())
                .unwrap_or_else(|| "<none>".into());
            pairs.push((repo, "<none>".into(), d));
        }
    }
    pairs
        .into_iter()
        .map(|(repo, tag, digest)| {
            json!({
                "Containers": count_or_na(&img["Containers"]),
                "CreatedAt": go_time_string(created),
                "CreatedSince": running_for(created),
                "Digest": digest,
                "ID": id,
                "Repository": repo,
                "SharedSize": size_or_na(&img["SharedSize"]),
                "Size": human_size(size),
                "Tag": tag,
                "UniqueSize": match (img["Size"].as_i64(), img["SharedSize"].as_i64()) {
                    (Some(s), Some(sh)) if sh >= 0 => human_size(s - sh),
                    _ => "N/A".into(),
                },
                "VirtualSize": human_size_prec(img["VirtualSize"].as_i64().unwrap_or(size) as f64, 4),
            })
        })
        .collect()
}

pub fn images(c: &Client, a: &ImagesArgs) -> CliResult {
    let mut filters = Filters::new();
    for f in &a.filter {
        if filters.add_arg(f).is_none() {
            return Err(CliError::msg("bad format of filter (expected name=value)"));
        }
    }
    if let Some(r) = &a.reference {
        filters.add("reference", r);
    }
    let list = c.images_list(a.all, a.digests, &filters)?;
    let mut imgs = list.as_array().cloned().unwrap_or_default();
    // Newest first, as Docker's daemon returns them (stable for equal times).
    imgs.sort_by_key(|i| std::cmp::Reverse(i["Created"].as_i64().unwrap_or(0)));
    let trunc = !a.no_trunc;
    let default = if a.digests {
        DIGEST_TABLE
    } else {
        DEFAULT_TABLE
    };
    // `-q` is one ID per row (Docker 28 does not de-duplicate tags of one image).
    let user = if a.quiet {
        Some("{{.ID}}")
    } else {
        a.format.as_deref()
    };
    let format = Format::resolve(user, default);
    let rows_data: Vec<(Value, Option<Map<String, Value>>)> = imgs
        .iter()
        .flat_map(|img| {
            let labels = img["Labels"].as_object().cloned();
            image_rows(img, trunc, a.digests)
                .into_iter()
                .map(move |r| (r, labels.clone()))
        })
        .collect();
    let rows: Vec<(Value, Box<dyn berth_gotmpl::Hooks + '_>)> = rows_data
        .iter()
        .map(|(r, l)| {
            let h: Box<dyn berth_gotmpl::Hooks> = Box::new(RowHooks {
                labels: l.as_ref(),
                type_name: "*formatter.imageContext",
            });
            (r.clone(), h)
        })
        .collect();
    print!(
        "{}",
        table::render(
            table::IMAGES_ERRORS,
            &format,
            &headers(),
            &HeaderHooks,
            &rows
        )?
    );
    Ok(())
}

pub fn rmi(c: &Client, a: &RmiArgs) -> CliResult {
    let mut failed = false;
    for name in &a.images {
        match c.image_remove(name, a.force, a.no_prune) {
            Ok(v) => {
                for item in v.as_array().into_iter().flatten() {
                    if let Some(u) = item["Untagged"].as_str() {
                        println!("Untagged: {u}");
                    }
                    if let Some(d) = item["Deleted"].as_str() {
                        println!("Deleted: {d}");
                    }
                }
            }
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(CliError::exit(1));
    }
    Ok(())
}

pub fn tag(c: &Client, a: &TagArgs) -> CliResult {
    let (repo, tag) = split_ref(&a.target);
    if repo.is_empty() || repo.chars().any(|ch| ch.is_ascii_uppercase()) {
        return Err(CliError::msg(format!(
            "invalid reference format: repository name ({repo}) must be lowercase"
        )));
    }
    c.image_tag(&a.source, &repo, Some(tag.as_deref().unwrap_or("latest")))?;
    Ok(())
}

pub fn import(c: &Client, a: &ImportArgs) -> CliResult {
    let (repo, tag) = match &a.reference {
        Some(r) => {
            let (repo, tag) = split_ref(r);
            (Some(repo), tag)
        }
        None => (None, None),
    };
    let mut input: Box<dyn Read> = if a.source == "-" {
        Box::new(io::stdin())
    } else if a.source.starts_with("http://") || a.source.starts_with("https://") {
        return Err(CliError::msg("importing from a URL is not supported by this daemon client; download the file and import it"));
    } else {
        Box::new(
            File::open(&a.source)
                .map_err(|e| CliError::msg(format!("open {}: {}", a.source, io_reason(&e))))?,
        )
    };
    let resp = c.image_import(
        &mut *input,
        repo.as_deref(),
        tag.as_deref(),
        &a.change,
        a.message.as_deref(),
        a.platform.as_deref(),
    )?;
    for msg in JsonLines::new(resp) {
        let msg = msg?;
        if let Some(e) = msg.get("error").and_then(Value::as_str) {
            return Err(CliError::msg(e.to_string()));
        }
        if let Some(s) = msg.get("status").and_then(Value::as_str) {
            println!("{s}");
        }
    }
    Ok(())
}

/// `berth history IMAGE`.
pub fn history(c: &Client, a: &crate::cli::HistoryArgs) -> CliResult {
    let v = c.get_json(&format!("/images/{}/history", a.image))?;
    let trunc = !a.no_trunc;
    let human = a.human.unwrap_or(true);
    let rows: Vec<Value> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let id = h["Id"].as_str().unwrap_or("<missing>");
            let id = if id == "<missing>" || !trunc {
                id.to_string()
            } else {
                truncate_id(id)
            };
            let created = h["Created"].as_i64().unwrap_or(0);
            let created_at = berth_types::time::rfc3339_nano_trimmed(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(created.max(0) as u64),
            );
            let mut by = h["CreatedBy"].as_str().unwrap_or("").replace('\t', " ");
            if trunc {
                by = crate::ps::ellipsis(&by, 45);
            }
            let size = h["Size"].as_i64().unwrap_or(0);
            json!({
                "Comment": h["Comment"].as_str().unwrap_or(""),
                "CreatedAt": created_at,
                "CreatedBy": by,
                "CreatedSince": if human { running_for(created) } else { created_at.clone() },
                "ID": id,
                "Size": if human { human_size(size) } else { size.to_string() },
            })
        })
        .collect();
    let user = if a.quiet {
        Some("{{.ID}}")
    } else {
        a.format.as_deref()
    };
    let default = if human {
        "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    } else {
        "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    };
    let format = Format::resolve(user, default);
    let heads = table::headers(&[
        ("ID", "IMAGE"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("CreatedBy", "CREATED BY"),
        ("Size", "SIZE"),
        ("Comment", "COMMENT"),
    ]);
    let rows: Vec<(Value, Box<dyn berth_gotmpl::Hooks>)> = rows
        .into_iter()
        .map(|r| {
            let h: Box<dyn berth_gotmpl::Hooks> = Box::new(RowHooks {
                labels: None,
                type_name: "*formatter.historyContext",
            });
            (r, h)
        })
        .collect();
    print!(
        "{}",
        table::render(table::IMAGES_ERRORS, &format, &heads, &HeaderHooks, &rows)?
    );
    Ok(())
}

/// Docker's fully-qualified name: `busybox` → `docker.io/library/busybox:latest`.
pub fn full_reference(r: &str) -> String {
    let (repo, tag) = split_ref(r);
    let first = repo.split('/').next().unwrap_or("");
    let has_domain =
        repo.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let repo = if has_domain {
        repo
    } else if repo.contains('/') {
        format!("docker.io/{repo}")
    } else {
        format!("docker.io/library/{repo}")
    };
    match tag {
        Some(t) if t.starts_with("sha256:") => format!("{repo}@{t}"),
        Some(t) => format!("{repo}:{t}"),
        None => format!("{repo}:latest"),
    }
}

/// `berth pull NAME[:TAG]`.
pub fn pull(c: &Client, a: &crate::cli::PullArgs) -> CliResult {
    let (_, tag) = split_ref(&a.name);
    if tag.is_none() && !a.quiet {
        println!("Using default tag: latest");
    }
    crate::run::pull_to(
        c,
        &a.name,
        a.platform.as_deref(),
        a.quiet,
        &mut io::stdout(),
    )?;
    println!("{}", full_reference(&a.name));
    Ok(())
}

/// `berth load [-i FILE]`: sends the archive, prints the daemon's messages.
pub fn load(c: &Client, a: &crate::cli::LoadArgs) -> CliResult {
    use std::io::IsTerminal;
    let mut input: Box<dyn Read> = match &a.input {
        Some(p) => Box::new(
            File::open(p).map_err(|e| CliError::msg(format!("open {p}: {}", io_reason(&e))))?,
        ),
        None => {
            if io::stdin().is_terminal() {
                return Err(CliError::msg(
                    "requested load from stdin, but stdin is empty",
                ));
            }
            Box::new(io::stdin())
        }
    };
    let q = berth_client::Query::new().flag("quiet", a.quiet);
    let resp = c.request(
        "POST",
        &format!("/images/load{}", q.to_suffix()),
        &[],
        berth_client::Body::Stream(&mut *input, "application/x-tar"),
    )?;
    let json = resp
        .head
        .header("Content-Type")
        .is_some_and(|t| t.contains("json"));
    if !json {
        io::copy(&mut { resp }, &mut io::stdout())?;
        return Ok(());
    }
    for msg in JsonLines::new(resp) {
        let msg = msg?;
        if let Some(e) = msg.get("error").and_then(Value::as_str) {
            return Err(CliError::msg(e.to_string()));
        }
        if let Some(s) = msg.get("stream").and_then(Value::as_str) {
            print!("{s}");
        } else if let Some(s) = msg.get("status").and_then(Value::as_str) {
            println!("{s}");
        }
    }
    Ok(())
}

/// `berth image prune`.
pub fn prune(c: &Client, a: &crate::cli::ImagePruneArgs) -> CliResult {
    let mut f = Filters::new();
    for x in &a.filter {
        f.add_arg(x)
            .ok_or_else(|| CliError::msg("bad format of filter (expected name=value)"))?;
    }
    f.add("dangling", if a.all { "false" } else { "true" });
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !a.force && !crate::objects::confirm(warning) {
        return Ok(());
    }
    let (text, space) = prune_images(c, &f)?;
    print!("{text}");
    println!(
        "Total reclaimed space: {}",
        human_size_prec(space as f64, 4)
    );
    Ok(())
}

/// Calls the image prune endpoint; returns Docker's "Deleted Images:" section and
/// the reclaimed bytes.
pub fn prune_images(c: &Client, f: &Filters) -> Result<(String, i64), CliError> {
    let q = berth_client::Query::new().add("filters", f.to_json());
    let v = c.post_json(&format!("/images/prune{}", q.to_suffix()), None)?;
    let mut out = String::new();
    let items = v["ImagesDeleted"].as_array().cloned().unwrap_or_default();
    if !items.is_empty() {
        out.push_str("Deleted Images:\n");
        for i in items {
            if let Some(u) = i["Untagged"].as_str() {
                out.push_str(&format!("untagged: {u}\n"));
            }
            if let Some(d) = i["Deleted"].as_str() {
                out.push_str(&format!("deleted: {d}\n"));
            }
        }
        out.push('\n');
    }
    Ok((out, v["SpaceReclaimed"].as_i64().unwrap_or(0)))
}

/// `berth push NAME[:TAG]`: streams the daemon's progress; an in-stream error is
/// printed as is and exits 1, like Docker.
pub fn push(c: &Client, a: &crate::cli::PushArgs) -> CliResult {
    let (repo, tag) = split_ref(&a.name);
    let tag = if a.all_tags {
        None
    } else {
        Some(tag.unwrap_or_else(|| "latest".into()))
    };
    // The daemon's stream starts with "The push refers to repository […]" for one tag
    // and for all of them alike; printing it here too doubled it.
    let q = berth_client::Query::new().opt("tag", tag.as_deref());
    let auth = crate::auth::registry_auth_header(&a.name);
    let resp = c.request(
        "POST",
        &format!("/images/{repo}/push{}", q.to_suffix()),
        &[("X-Registry-Auth", &auth)],
        berth_client::Body::Empty,
    )?;
    let mut out = io::stdout();
    crate::run::print_progress(resp, a.quiet, &mut out)?;
    if a.quiet {
        println!("{}", a.name);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_references() {
        assert_eq!(
            full_reference("busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(full_reference("me/app:1"), "docker.io/me/app:1");
        assert_eq!(
            full_reference("localhost:5000/app"),
            "localhost:5000/app:latest"
        );
        assert_eq!(full_reference("reg.io/a/b:2"), "reg.io/a/b:2");
    }

    #[test]
    fn rows_per_tag_and_none() {
        let img = json!({"Id": "sha256:d8cf10d09417d15f3ed30afb0a7b750e", "RepoTags": ["busybox:latest", "bb:1"],
                         "RepoDigests": [], "Created": 1_700_000_000, "Size": 1_984_000, "SharedSize": -1, "Containers": -1});
        let rows = image_rows(&img, true, false);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["Repository"], "busybox");
        assert_eq!(rows[0]["Tag"], "latest");
        assert_eq!(rows[0]["ID"], "d8cf10d09417");
        assert_eq!(rows[0]["Size"], "1.98MB");
        assert_eq!(rows[0]["Digest"], "<none>");
        assert_eq!(rows[0]["Containers"], "N/A");
        let none = json!({"Id": "sha256:abc", "RepoTags": [], "Created": 0, "Size": 0});
        let rows = image_rows(&none, false, false);
        assert_eq!(rows[0]["Repository"], "<none>");
        assert_eq!(rows[0]["Tag"], "<none>");
        assert_eq!(rows[0]["ID"], "sha256:abc");
    }
}
