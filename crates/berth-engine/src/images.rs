//! Image operations for the API, as thin wrappers over `berth-image` that add what the
//! engine knows: which containers use an image, Docker's JSON models, and events.

use crate::error::{EngineError, Result};
use crate::filters::{match_labels, Filters};
use crate::{lock, Engine};
use berth_image::{ContainerUse, Image, RemovedItem};
use berth_types::docker::{
    DiskUsage, GraphDriverData, ImageDeleteResponseItem, ImageHistoryItem, ImageInspect,
    ImageMetadata, ImagePruneResponse, ImageRootFs, ImageSummary,
};
use std::collections::BTreeMap;
use std::io::Read;
use tokio::sync::mpsc;

/// A blocking [`Read`] fed by an async producer: the API pushes body chunks into the
/// sender while the image store reads in a blocking thread.
pub struct ChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl ChannelReader {
    /// A reader and the sender that feeds it; dropping the sender is EOF.
    pub fn new(capacity: usize) -> (mpsc::Sender<Vec<u8>>, ChannelReader) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (
            tx,
            ChannelReader {
                rx,
                buf: Vec::new(),
                pos: 0,
            },
        )
    }
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.buf.len() {
            match self.rx.blocking_recv() {
                Some(b) => {
                    self.buf = b;
                    self.pos = 0;
                }
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn unix_secs(rfc: &str) -> i64 {
    berth_types::time::parse_rfc3339(rfc)
        .and_then(|t| t.duration_since(std::time::SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn image_labels(img: &Image) -> Option<BTreeMap<String, String>> {
    crate::containers::image_container_config(img)
        .labels
        .filter(|l| !l.is_empty())
}

/// Glob match of Docker's `reference` filter (`*` within a path segment).
fn glob(pattern: &str, s: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], s) || (!s.is_empty() && s[0] != b'/' && go(p, &s[1..])),
            (Some(a), Some(b)) if a == b => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), s.as_bytes())
}

/// Docker's refusal of an image whose platform is not the one asked for, or `None`
/// when it matches. `os`, `arch`, `variant` come from the image config.
pub(crate) fn platform_mismatch(
    reference: &str,
    wanted: &berth_registry::Platform,
    os: &str,
    arch: &str,
    variant: &str,
) -> Option<EngineError> {
    let actual = berth_registry::Platform {
        architecture: arch.to_string(),
        os: os.to_string(),
        variant: (!variant.is_empty()).then(|| variant.to_string()),
        os_version: None,
        os_features: None,
    };
    if wanted.matches(&actual) {
        return None;
    }
    Some(EngineError::not_found(format!(
        "image with reference {reference} was found but does not match the specified platform: wanted {wanted}, actual: {actual}"
    )))
}

impl Engine {
    /// `POST /images/create?fromSrc=-` (`docker import`). Returns the `sha256:` id.
    pub async fn image_import(
        &self,
        tar: Box<dyn Read + Send>,
        reference: Option<String>,
        changes: Vec<String>,
        message: String,
    ) -> Result<String> {
        let images = self.images.clone();
        let r2 = reference.clone();
        let id = tokio::task::spawn_blocking(move || {
            images.import(tar, r2.as_deref(), &changes, &message)
        })
        .await??;
        self.image_event(
            "import",
            id.as_str(),
            reference.as_deref().unwrap_or(id.as_str()),
        );
        Ok(id.as_str().to_string())
    }

    /// `GET /images/json`. Without `all`, untagged images that are the parent of another
    /// (a build's intermediate steps) are hidden, and they are not dangling, as in Docker.
    pub async fn image_list(&self, all: bool, f: &Filters) -> Result<Vec<ImageSummary>> {
        f.validate(&["dangling", "label", "reference", "before", "since", "until"])?;
        let images = self.images.list();
        let bound = |key: &str| -> Result<Option<String>> {
            match f.get(key).first() {
                Some(n) => Ok(Some(self.images.resolve(n)?.created)),
                None => Ok(None),
            }
        };
        let before = bound("before")?;
        let since = bound("since")?;
        let parents: std::collections::HashSet<String> =
            images.iter().map(|i| i.parent.clone()).collect();
        let mut out = Vec::new();
        for img in images {
            let intermediate = img.repo_tags.is_empty() && parents.contains(img.id.as_str());
            if intermediate && !all {
                continue;
            }
            if let Some(d) = f.get("dangling").first() {
                let dangling = img.repo_tags.is_empty() && !intermediate;
                if (d == "true" || d == "1") != dangling {
                    continue;
                }
            }
            let labels = image_labels(&img).unwrap_or_default();
            if !match_labels(f.get("label"), &labels) {
                continue;
            }
            let refs = f.get("reference");
            if !refs.is_empty()
                && !img.repo_tags.iter().any(|t| {
                    let repo = t.rsplit_once(':').map_or(t.as_str(), |(r, _)| r);
                    refs.iter().any(|p| glob(p, t) || glob(p, repo))
                })
            {
                continue;
            }
            if before.as_ref().is_some_and(|b| img.created >= *b) {
                continue;
            }
            if since.as_ref().is_some_and(|s| img.created <= *s) {
                continue;
            }
            out.push(ImageSummary {
                containers: -1,
                created: unix_secs(&img.created),
                id: img.id.as_str().to_string(),
                labels: image_labels(&img),
                parent_id: img.parent.clone(),
                repo_digests: img.repo_digests.clone(),
                repo_tags: img.repo_tags.clone(),
                shared_size: -1,
                size: img.size as i64,
                virtual_size: None,
            });
        }
        Ok(out)
    }

    /// `GET /system/df`: images with their container counts and shared sizes,
    /// containers with their sizes, the total size of all layers.
    pub async fn disk_usage(&self) -> Result<DiskUsage> {
        let mut images = self.image_list(true, &Filters::default()).await?;
        let containers = self
            .list(crate::ListOptions {
                all: true,
                size: true,
                ..Default::default()
            })
            .await?;
        // Layer → (size, number of images using it).
        let mut layers: BTreeMap<String, (u64, i64)> = BTreeMap::new();
        let mut chains: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for img in &images {
            let Some(id) = berth_image::ImageId::parse(&img.id) else {
                continue;
            };
            let chain = self.images.chain_ids(&id).unwrap_or_default();
            for c in &chain {
                let size = self.images.layers().meta(c).map(|m| m.size).unwrap_or(0);
                layers.entry(c.clone()).or_insert((size, 0)).1 += 1;
            }
            chains.insert(img.id.clone(), chain);
        }
        for img in &mut images {
            img.containers = containers.iter().filter(|c| c.image_id == img.id).count() as i64;
            img.shared_size = chains
                .get(&img.id)
                .map(|ch| {
                    ch.iter()
                        .filter_map(|c| layers.get(c))
                        .filter(|(_, users)| *users > 1)
                        .map(|(s, _)| *s as i64)
                        .sum()
                })
                .unwrap_or(0);
        }
        // The compressed blobs kept for pull/push reuse take disk space too.
        let dist = self.dist();
        let cached = tokio::task::spawn_blocking(move || dist.disk_usage())
            .await
            .unwrap_or(0);
        Ok(DiskUsage {
            layers_size: layers.values().map(|(s, _)| *s as i64).sum::<i64>() + cached as i64,
            images,
            containers,
            volumes: self
                .volume_usage()
                .await?
                .iter()
                .filter_map(|v| serde_json::to_value(v).ok())
                .collect(),
            build_cache: vec![],
        })
    }

    /// `POST /images/prune`: removes dangling images (with `dangling=false`, every image
    /// no container uses), honouring `until` and `label`.
    pub async fn image_prune(&self, f: &Filters) -> Result<ImagePruneResponse> {
        f.validate(&["dangling", "until", "label", "label!"])?;
        let all = f
            .get("dangling")
            .first()
            .is_some_and(|d| d == "false" || d == "0");
        let until = match f.get("until").first() {
            Some(u) => Some(crate::containers::parse_until(u)?),
            None => None,
        };
        let used: Vec<String> = self
            .all()
            .iter()
            .map(|c| lock(&c.rec).image.clone())
            .collect();
        let mut deleted = Vec::new();
        let mut reclaimed = 0u64;
        let list = self.images.list();
        // A build's intermediate images (parents of others) are not dangling.
        let parents: std::collections::HashSet<String> =
            list.iter().map(|i| i.parent.clone()).collect();
        for img in list {
            if used.iter().any(|u| u == img.id.as_str())
                || (!all && (!img.repo_tags.is_empty() || parents.contains(img.id.as_str())))
            {
                continue;
            }
            if until
                .as_ref()
                .is_some_and(|u| img.created.as_str() >= u.as_str())
            {
                continue;
            }
            let labels = image_labels(&img).unwrap_or_default();
            if !match_labels(f.get("label"), &labels) {
                continue;
            }
            let neg = f.get("label!");
            if !neg.is_empty() && match_labels(&neg[..1], &labels) {
                continue;
            }
            let before = self.images.list().len();
            match self.image_remove_only(img.id.as_str(), true, false).await {
                Ok(items) => {
                    if self.images.list().len() < before {
                        reclaimed += img.size;
                    }
                    deleted.extend(items);
                }
                Err(e) if e.kind == crate::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        reclaimed += self.gc_blobs().await;
        Ok(ImagePruneResponse {
            images_deleted: if deleted.is_empty() {
                None
            } else {
                Some(deleted)
            },
            space_reclaimed: reclaimed,
        })
    }

    /// `GET /images/{name}/json`.
    pub async fn image_inspect(&self, name: &str) -> Result<ImageInspect> {
        let img = self.images.resolve(name)?;
        let cfg = crate::containers::image_container_config(&img);
        let lower: Vec<String> = self
            .images
            .layer_dirs(&img.id)
            .unwrap_or_default()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let mut data = BTreeMap::new();
        if let Some((top, rest)) = lower.split_first() {
            data.insert("UpperDir".to_string(), top.clone());
            if !rest.is_empty() {
                data.insert("LowerDir".to_string(), rest.join(":"));
            }
            data.insert("MergedDir".to_string(), String::new());
            data.insert("WorkDir".to_string(), String::new());
        }
        let c = &img.config;
        Ok(ImageInspect {
            id: img.id.as_str().to_string(),
            repo_tags: img.repo_tags.clone(),
            repo_digests: img.repo_digests.clone(),
            parent: img.parent.clone(),
            comment: c.comment.clone(),
            created: img.created.clone(),
            container: None,
            container_config: None,
            docker_version: c.docker_version.clone(),
            author: c.author.clone(),
            config: Some(cfg),
            architecture: c.architecture.clone(),
            variant: (!c.variant.is_empty()).then(|| c.variant.clone()),
            os: c.os.clone(),
            os_version: None,
            size: img.size as i64,
            virtual_size: None,
            graph_driver: GraphDriverData {
                data: Some(data),
                name: "overlay2".into(),
            },
            root_fs: ImageRootFs {
                kind: c.rootfs.kind.clone(),
                layers: c.rootfs.diff_ids.clone(),
            },
            metadata: ImageMetadata::default(),
        })
    }

    /// `DELETE /images/{name}`; when an image went, the cached compressed blobs of layers
    /// no image uses any more go too.
    pub async fn image_remove(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
    ) -> Result<Vec<ImageDeleteResponseItem>> {
        let out = self.image_remove_only(name, force, noprune).await?;
        if out.iter().any(|i| i.deleted.is_some()) {
            self.gc_blobs().await;
        }
        Ok(out)
    }

    /// Drop the distribution cache's blobs of layers no image uses; returns bytes freed.
    pub(crate) async fn gc_blobs(&self) -> u64 {
        let images = self.images.clone();
        let dist = self.dist();
        tokio::task::spawn_blocking(move || {
            let live: std::collections::HashSet<String> = images
                .list()
                .into_iter()
                .flat_map(|i| i.config.rootfs.diff_ids)
                .collect();
            dist.gc(&live)
        })
        .await
        .unwrap_or(0)
    }

    /// `rmi` itself, without the blob collection.
    async fn image_remove_only(
        &self,
        name: &str,
        force: bool,
        noprune: bool,
    ) -> Result<Vec<ImageDeleteResponseItem>> {
        let users: Vec<(String, String, bool)> = self
            .all()
            .iter()
            .map(|c| {
                let r = lock(&c.rec);
                (r.image.clone(), r.id.clone(), r.state.running)
            })
            .collect();
        let in_use = move |image_id: &str| -> Option<ContainerUse> {
            let mut found: Option<ContainerUse> = None;
            for (img, id, running) in &users {
                if img == image_id {
                    if *running {
                        return Some(ContainerUse {
                            id: id.clone(),
                            running: true,
                        });
                    }
                    found.get_or_insert(ContainerUse {
                        id: id.clone(),
                        running: false,
                    });
                }
            }
            found
        };
        let images = self.images.clone();
        let name2 = name.to_string();
        let removed =
            tokio::task::spawn_blocking(move || images.remove(&name2, force, !noprune, &in_use))
                .await??;
        let mut out = Vec::new();
        for item in removed {
            match item {
                RemovedItem::Untagged(t) => {
                    self.image_event("untag", &t, &t);
                    out.push(ImageDeleteResponseItem {
                        untagged: Some(t),
                        deleted: None,
                    });
                }
                RemovedItem::Deleted(d) => {
                    self.image_event("delete", &d, &d);
                    out.push(ImageDeleteResponseItem {
                        untagged: None,
                        deleted: Some(d),
                    });
                }
            }
        }
        Ok(out)
    }

    /// `POST /containers/create?platform=`: the image must be of that platform (an
    /// image that is not here is left to create's own "No such image").
    pub async fn check_image_platform(&self, image: &str, platform: &str) -> Result<()> {
        if platform.is_empty() {
            return Ok(());
        }
        let wanted = berth_registry::Platform::parse(platform)
            .map_err(crate::distribution::registry_error)?;
        let Ok(img) = self.images.resolve(image) else {
            return Ok(());
        };
        let c = &img.config;
        match platform_mismatch(image, &wanted, &c.os, &c.architecture, &c.variant) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// `POST /images/{name}/tag?repo=&tag=`.
    pub async fn image_tag(&self, name: &str, repo: &str, tag: &str) -> Result<()> {
        if repo.is_empty() {
            return Err(EngineError::invalid(
                "repository name must have at least one component",
            ));
        }
        let reference = if tag.is_empty() {
            repo.to_string()
        } else {
            format!("{repo}:{tag}")
        };
        self.images.tag(name, &reference)?;
        let id = self.images.resolve(&reference)?.id;
        let shown = if tag.is_empty() {
            format!("{repo}:latest")
        } else {
            reference
        };
        self.image_event("tag", id.as_str(), &shown);
        Ok(())
    }

    /// `GET /images/{name}/history`, newest first.
    pub async fn image_history(&self, name: &str) -> Result<Vec<ImageHistoryItem>> {
        let img = self.images.resolve(name)?;
        let chain = self.images.chain_ids(&img.id).unwrap_or_default();
        let mut sizes = chain
            .iter()
            .map(|c| self.images.layers().meta(c).map(|m| m.size).unwrap_or(0));
        let mut items: Vec<ImageHistoryItem> = img
            .config
            .history
            .iter()
            .map(|h| ImageHistoryItem {
                id: "<missing>".into(),
                created: unix_secs(h.created.as_deref().unwrap_or("")),
                created_by: h.created_by.clone(),
                tags: None,
                size: if h.empty_layer {
                    0
                } else {
                    sizes.next().unwrap_or(0) as i64
                },
                comment: h.comment.clone(),
            })
            .collect();
        if items.is_empty() {
            items.push(ImageHistoryItem {
                created: unix_secs(&img.created),
                size: img.size as i64,
                ..Default::default()
            });
        }
        items.reverse();
        if let Some(top) = items.first_mut() {
            top.id = img.id.as_str().to_string();
            top.tags = Some(img.repo_tags.clone());
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_reader_reads_across_chunks() {
        let (tx, mut r) = ChannelReader::new(4);
        tx.blocking_send(b"hel".to_vec()).unwrap();
        tx.blocking_send(b"lo".to_vec()).unwrap();
        drop(tx);
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
    }

    #[test]
    fn reference_glob() {
        assert!(glob("busy*", "busybox"));
        assert!(glob("busybox:*", "busybox:latest"));
        assert!(!glob("busy*", "library/busybox"));
        assert!(glob("*/busybox", "library/busybox"));
    }
}
