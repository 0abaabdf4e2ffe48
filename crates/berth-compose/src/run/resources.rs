//! Project resources the containers need: networks and volumes (created with
//! Compose's names and labels; external ones must exist) and images (pulled or built
//! by policy), plus the `pull`, `push` and `build` commands.

use std::collections::{BTreeMap, BTreeSet};

use berth_client::{JsonLines, Query};
use serde_json::Value;

use super::{is_not_found, Runner, UpFlags};
use crate::convert;
use crate::error::{ComposeError, Result};
use crate::model::Service;

impl<'a> Runner<'a> {
    /// Creates the networks the services use (external ones must exist).
    pub fn ensure_networks(&self, services: &BTreeSet<String>) -> Result<()> {
        let mut keys = BTreeSet::new();
        for s in services {
            if let Some(svc) = self.project.services.get(s) {
                keys.extend(svc.networks.keys().cloned());
            }
        }
        for key in keys {
            let Some(n) = self.project.networks.get(&key) else {
                continue;
            };
            let path = format!("/networks/{}", n.name);
            match self.client.get_json(&path) {
                Ok(_) => continue,
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
            if n.external {
                return Err(ComposeError::Run(format!(
                    "network {} declared as external, but could not be found",
                    n.name
                )));
            }
            self.say("Network", &n.name, "Creating");
            let body = convert::network_request(self.project, &key, n);
            self.client.post_json("/networks/create", Some(&body))?;
            self.say("Network", &n.name, "Created");
        }
        Ok(())
    }

    /// Creates the named volumes the services mount (external ones must exist).
    pub fn ensure_volumes(&self, services: &BTreeSet<String>) -> Result<()> {
        let mut keys = BTreeSet::new();
        for s in services {
            if let Some(svc) = self.project.services.get(s) {
                for m in &svc.volumes {
                    if let (true, Some(src)) = (m.kind == "volume", &m.source) {
                        keys.insert(src.clone());
                    }
                }
            }
        }
        for key in keys {
            let Some(v) = self.project.volumes.get(&key) else {
                continue;
            };
            match self.client.get_json(&format!("/volumes/{}", v.name)) {
                Ok(_) => continue,
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
            if v.external {
                return Err(ComposeError::Run(format!(
                    "external volume \"{}\" not found",
                    v.name
                )));
            }
            self.say("Volume", &format!("\"{}\"", v.name), "Creating");
            let body = convert::volume_request(self.project, &key, v);
            self.client.post_json("/volumes/create", Some(&body))?;
            self.say("Volume", &format!("\"{}\"", v.name), "Created");
        }
        Ok(())
    }

    fn image_id(&self, image: &str) -> Result<Option<String>> {
        match self.client.image_inspect(image) {
            Ok(v) => Ok(v.get("Id").and_then(Value::as_str).map(String::from)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Pulls one image, failing on an error line of the progress stream.
    pub fn pull_image(&self, image: &str) -> Result<()> {
        let (repo, tag) = split_tag(image);
        let resp = self.client.image_pull(&repo, tag.as_deref(), None)?;
        for line in JsonLines::new(resp) {
            let line = line.map_err(berth_client::Error::from)?;
            if let Some(e) = line.get("error").and_then(Value::as_str) {
                return Err(ComposeError::Run(e.to_string()));
            }
        }
        Ok(())
    }

    fn build(&self, s: &Service) -> Result<()> {
        match self.builder {
            Some(b) => b(self.project, s),
            None => Err(ComposeError::Run(format!(
                "service {:?} needs a build, which this client cannot do",
                s.name
            ))),
        }
    }

    /// Makes sure each service's image exists (building or pulling as its policy
    /// says); returns the image id per service.
    pub fn ensure_images(
        &self,
        services: &BTreeSet<String>,
        flags: &UpFlags,
    ) -> Result<BTreeMap<String, String>> {
        let mut ids = BTreeMap::new();
        for name in services {
            let Some(s) = self.project.services.get(name) else {
                continue;
            };
            let image = s.image_name(&self.project.name);
            let policy = flags
                .pull
                .clone()
                .or_else(|| s.pull_policy.clone())
                .unwrap_or_else(|| "missing".into());
            let must_build =
                s.build.is_some() && !flags.no_build && (flags.build || policy == "build");
            if must_build {
                self.build(s)?;
            } else if policy == "always" && s.image.is_some() {
                self.pull_image(&image)?;
            }
            let id = match self.image_id(&image)? {
                Some(id) => id,
                None if s.build.is_some() && !flags.no_build => {
                    self.build(s)?;
                    self.image_id(&image)?
                        .ok_or_else(|| ComposeError::Run(format!("No such image: {image}")))?
                }
                None if policy == "never" => {
                    return Err(ComposeError::Run(format!("No such image: {image}")))
                }
                None => {
                    self.say("Image", &image, "Pulling");
                    self.pull_image(&image)?;
                    self.say("Image", &image, "Pulled");
                    self.image_id(&image)?
                        .ok_or_else(|| ComposeError::Run(format!("No such image: {image}")))?
                }
            };
            ids.insert(name.clone(), id);
        }
        Ok(ids)
    }

    /// `pull`: images of services that have `image:`.
    pub fn pull(&self, services: &[String], ignore_failures: bool) -> Result<()> {
        for s in self.selected(services)? {
            let Some(img) = &s.image else {
                continue;
            };
            self.say("Image", img, "Pulling");
            match self.pull_image(img) {
                Ok(()) => self.say("Image", img, "Pulled"),
                Err(e) if ignore_failures || s.build.is_some() => {
                    (self.progress)(&format!("WARN[0000] {}: {e}", s.name))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// `push`: images of services that have `image:`.
    pub fn push(&self, services: &[String], ignore_failures: bool) -> Result<()> {
        for s in self.selected(services)? {
            let Some(img) = &s.image else {
                continue;
            };
            self.say("Image", img, "Pushing");
            let (repo, tag) = split_tag(img);
            let q = Query::new().opt("tag", tag.as_deref());
            let r = self
                .client
                .request(
                    "POST",
                    &format!("/images/{repo}/push{}", q.to_suffix()),
                    &[("X-Registry-Auth", "e30=")],
                    berth_client::Body::Empty,
                )
                .map_err(ComposeError::from)
                .and_then(|resp| {
                    for line in JsonLines::new(resp) {
                        let line = line.map_err(berth_client::Error::from)?;
                        if let Some(e) = line.get("error").and_then(Value::as_str) {
                            return Err(ComposeError::Run(e.to_string()));
                        }
                    }
                    Ok(())
                });
            match r {
                Ok(()) => self.say("Image", img, "Pushed"),
                Err(e) if ignore_failures => {
                    (self.progress)(&format!("WARN[0000] {}: {e}", s.name))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// `build`: services with a `build` section.
    pub fn build_services(&self, services: &[String]) -> Result<()> {
        for s in self.selected(services)? {
            if s.build.is_some() {
                self.build(s)?;
            }
        }
        Ok(())
    }

    fn selected(&self, services: &[String]) -> Result<Vec<&'a Service>> {
        if services.is_empty() {
            return Ok(self.project.services.values().collect());
        }
        services.iter().map(|n| self.project.service(n)).collect()
    }
}

/// `repo:tag` → (`repo`, `tag`); a digest or a registry port is not a tag.
pub fn split_tag(image: &str) -> (String, Option<String>) {
    if image.contains('@') {
        return (image.to_string(), None);
    }
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), Some(tag.to_string())),
        _ => (image.to_string(), None),
    }
}
