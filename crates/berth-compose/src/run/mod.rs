//! The executor: carries out plans through the Docker Engine API with `berth-client`
//! — list the project's containers by label, create networks and volumes, pull or
//! build images, create/recreate/start containers in dependency order while waiting
//! for `depends_on` conditions, and take everything down again. Progress lines are
//! worded like Docker Compose's (` Container p-web-1  Started`).

use std::collections::BTreeSet;
use std::time::Duration;

mod lifecycle;
mod resources;
mod wait;

pub use resources::split_tag;

use berth_client::api::Filters;
use berth_client::Client;
use serde_json::{json, Value};

use crate::convert::{self, ContainerCtx};
use crate::error::{ComposeError, Result};
use crate::hash::service_hash;
use crate::labels;
use crate::model::{Project, Service};
use crate::plan::{self, Action, Observed, UpOptions};

/// Options of `up` beyond the plan's.
#[derive(Debug, Clone, Default)]
pub struct UpFlags {
    pub build: bool,
    pub no_build: bool,
    /// `--pull always|missing|never` (default: the service's `pull_policy`).
    pub pull: Option<String>,
    pub remove_orphans: bool,
    /// `--wait`: block until services are running/healthy.
    pub wait: bool,
    pub wait_timeout: Option<Duration>,
    /// Create only (`compose create`).
    pub no_start: bool,
    /// `-V`: recreated containers get fresh anonymous volumes.
    pub renew_anon_volumes: bool,
    /// `-t`: stop timeout (seconds) when replacing containers.
    pub timeout: Option<i64>,
}

/// Builds the image of one service (the CLI supplies it: it owns the context tar).
pub type Builder<'a> = &'a (dyn Fn(&Project, &Service) -> Result<()> + Sync);

/// Runs commands for one project against one daemon.
pub struct Runner<'a> {
    pub client: &'a Client,
    pub project: &'a Project,
    /// Receives progress lines (the CLI prints them on stderr).
    pub progress: &'a (dyn Fn(&str) + Sync),
    pub builder: Option<Builder<'a>>,
}

/// A container of the project with its list entry as the daemon gave it.
#[derive(Debug, Clone)]
pub struct Found {
    pub observed: Observed,
    pub summary: Value,
}

fn label<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get("Labels")
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
}

/// Reads the compose labels of a `GET /containers/json` entry.
pub fn observed_from_summary(v: &Value) -> Option<Observed> {
    let name = v
        .get("Names")
        .and_then(Value::as_array)
        .and_then(|n| n.first())
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim_start_matches('/')
        .to_string();
    Some(Observed {
        id: v.get("Id")?.as_str()?.to_string(),
        name,
        service: label(v, labels::SERVICE)?.to_string(),
        number: label(v, labels::NUMBER)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        config_hash: label(v, labels::CONFIG_HASH).unwrap_or("").to_string(),
        image: label(v, labels::IMAGE).map(String::from),
        state: v
            .get("State")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        oneoff: label(v, labels::ONEOFF).is_some_and(|o| o.eq_ignore_ascii_case("true")),
    })
}

fn is_not_found(e: &berth_client::Error) -> bool {
    e.is_not_found()
}

impl<'a> Runner<'a> {
    fn say(&self, kind: &str, name: &str, status: &str) {
        (self.progress)(&format!(" {kind} {name}  {status}"));
    }

    /// The project's containers (all states), oneoff ones included when asked.
    pub fn containers(&self, include_oneoff: bool) -> Result<Vec<Found>> {
        let mut f = Filters::new();
        f.add(
            "label",
            &format!("{}={}", labels::PROJECT, self.project.name),
        );
        let list = self.client.containers_list(true, None, false, &f)?;
        let mut out = Vec::new();
        for v in list.as_array().into_iter().flatten() {
            if let Some(o) = observed_from_summary(v) {
                if include_oneoff || !o.oneoff {
                    out.push(Found {
                        observed: o,
                        summary: v.clone(),
                    });
                }
            }
        }
        out.sort_by(|a, b| {
            (
                a.observed.service.as_str(),
                a.observed.number,
                a.observed.name.as_str(),
            )
                .cmp(&(
                    b.observed.service.as_str(),
                    b.observed.number,
                    b.observed.name.as_str(),
                ))
        });
        Ok(out)
    }

    /// Containers of the named services (all when empty), oneoffs left out.
    pub fn service_containers(&self, services: &[String]) -> Result<Vec<Found>> {
        for s in services {
            if !self.project.all_services.contains(s) {
                return Err(ComposeError::NoSuchService(s.clone()));
            }
        }
        Ok(self
            .containers(false)?
            .into_iter()
            .filter(|c| services.is_empty() || services.contains(&c.observed.service))
            .collect())
    }

    /// Creates one container (not started) and connects its other networks.
    pub fn create_container(&self, s: &Service, name: &str, ctx: &ContainerCtx) -> Result<String> {
        let mut ctx = ctx.clone();
        if let Some(other) = s
            .network_mode
            .as_deref()
            .and_then(|m| m.strip_prefix("service:"))
        {
            let target = self
                .service_containers(&[other.to_string()])?
                .into_iter()
                .find(|c| c.observed.running())
                .ok_or_else(|| {
                    ComposeError::Run(format!(
                        "service {other:?} has no container running to share its network with {:?}",
                        s.name
                    ))
                })?;
            ctx.network_container = Some(target.observed.id);
        }
        let body = convert::create_request(self.project, s, &ctx);
        let created = self.client.container_create(Some(name), None, &body)?;
        let id = created
            .get("Id")
            .and_then(Value::as_str)
            .ok_or_else(|| ComposeError::Run("create returned no container id".into()))?
            .to_string();
        if s.network_mode.is_none() {
            for key in convert::service_networks(s).iter().skip(1) {
                let Some(n) = self.project.networks.get(key) else {
                    continue;
                };
                let body =
                    json!({"Container": id, "EndpointConfig": convert::endpoint_config(s, key)});
                self.client
                    .post_json(&format!("/networks/{}/connect", n.name), Some(&body))?;
            }
        }
        Ok(id)
    }

    fn start_container(&self, name: &str, id: &str) -> Result<()> {
        self.say("Container", name, "Starting");
        self.client.container_start(id, None)?;
        self.say("Container", name, "Started");
        Ok(())
    }

    fn stop_timeout(&self, service: &str) -> Option<i64> {
        self.project
            .services
            .get(service)
            .and_then(|s| s.stop_grace_period.as_deref())
            .and_then(crate::units::duration_ns)
            .map(|ns| ns / 1_000_000_000)
    }

    fn stop_and_remove(&self, c: &Observed, volumes: bool, timeout: Option<i64>) -> Result<()> {
        if c.running() {
            self.say("Container", &c.name, "Stopping");
            let t = timeout.or_else(|| self.stop_timeout(&c.service));
            self.client.container_stop(&c.id, t, None)?;
            self.say("Container", &c.name, "Stopped");
        }
        self.say("Container", &c.name, "Removing");
        match self.client.container_remove(&c.id, true, volumes, false) {
            Err(e) if is_not_found(&e) => {}
            r => r?,
        }
        self.say("Container", &c.name, "Removed");
        Ok(())
    }

    /// `up`: converge the selected services; returns the ids of their containers.
    pub fn up(&self, o: &UpOptions, flags: &UpFlags) -> Result<Vec<String>> {
        let existing = self.containers(false)?;
        let selected = plan::selection(self.project, &o.services, o.no_deps)?;
        let image_ids = self.ensure_images(&selected, flags)?;
        let observed: Vec<Observed> = existing.iter().map(|f| f.observed.clone()).collect();
        let mut o = o.clone();
        o.image_ids = image_ids.clone();
        let plan = plan::plan_up(self.project, &observed, &o)?;
        if !plan.orphans.is_empty() {
            if flags.remove_orphans {
                for c in &plan.orphans {
                    self.stop_and_remove(c, false, None)?;
                }
            } else {
                let names: Vec<&str> = plan.orphans.iter().map(|c| c.name.as_str()).collect();
                (self.progress)(&format!(
                    "WARN[0000] Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                    names.join(" ")
                ));
            }
        }
        let order_set: BTreeSet<String> = plan.order.iter().cloned().collect();
        self.ensure_networks(&order_set)?;
        self.ensure_volumes(&order_set)?;
        let mut ids = Vec::new();
        // Services whose containers were replaced in this run: dependents that ask
        // for it (`depends_on: {x: {restart: true}}`) are restarted after them.
        let mut replaced: BTreeSet<String> = BTreeSet::new();
        for name in &plan.order {
            let s = &self.project.services[name];
            let hash = service_hash(s);
            let restart_for_dep = s
                .depends_on
                .iter()
                .any(|(dep, d)| d.restart && replaced.contains(dep));
            let ctx = |number| ContainerCtx {
                number,
                oneoff: false,
                config_hash: hash.clone(),
                image_id: image_ids.get(name).cloned(),
                network_container: None,
                inherited_volumes: Vec::new(),
            };
            let mut to_start: Vec<(String, String)> = Vec::new();
            let mut to_restart: Vec<(String, String)> = Vec::new();
            for a in &plan.actions[name] {
                match a {
                    Action::Remove(c) => self.stop_and_remove(c, false, None)?,
                    Action::Keep(c) if restart_for_dep => {
                        to_restart.push((c.name.clone(), c.id.clone()));
                    }
                    Action::Keep(c) => {
                        self.say("Container", &c.name, "Running");
                        ids.push(c.id.clone());
                    }
                    Action::Start(c) => to_start.push((c.name.clone(), c.id.clone())),
                    Action::Create {
                        number,
                        name: cname,
                    } => {
                        self.say("Container", cname, "Creating");
                        let id = self.create_container(s, cname, &ctx(*number))?;
                        self.say("Container", cname, "Created");
                        to_start.push((cname.clone(), id));
                    }
                    Action::Recreate {
                        old,
                        number,
                        name: cname,
                    } => {
                        self.say("Container", cname, "Recreate");
                        if old.running() {
                            let t = flags.timeout.or_else(|| self.stop_timeout(name));
                            self.client.container_stop(&old.id, t, None)?;
                        }
                        let short: String = old.id.chars().take(12).collect();
                        self.client
                            .container_rename(&old.id, &format!("{short}_{cname}"))?;
                        let mut c = ctx(*number);
                        if !flags.renew_anon_volumes {
                            c.inherited_volumes = self.anonymous_volumes(&old.id)?;
                        }
                        let id = self.create_container(s, cname, &c)?;
                        // With -V the old anonymous volumes are not taken over: remove them too.
                        self.client.container_remove(
                            &old.id,
                            true,
                            flags.renew_anon_volumes,
                            false,
                        )?;
                        self.say("Container", cname, "Recreated");
                        replaced.insert(name.clone());
                        to_start.push((cname.clone(), id));
                    }
                }
            }
            if flags.no_start || (to_start.is_empty() && to_restart.is_empty()) {
                ids.extend(to_start.into_iter().map(|(_, id)| id));
                ids.extend(to_restart.into_iter().map(|(_, id)| id));
                continue;
            }
            self.wait_dependencies(s, &order_set)?;
            for (cname, id) in to_restart {
                self.say("Container", &cname, "Restarting");
                self.client
                    .container_restart(&id, self.stop_timeout(name), None)?;
                self.say("Container", &cname, "Started");
                ids.push(id);
            }
            for (cname, id) in to_start {
                self.start_container(&cname, &id)?;
                ids.push(id);
            }
        }
        if flags.wait {
            self.wait_ready(&plan.order, flags.wait_timeout)?;
        }
        Ok(ids)
    }

    /// Volumes of a container that no project volume names: its anonymous ones.
    fn anonymous_volumes(&self, id: &str) -> Result<Vec<(String, String)>> {
        let info = self.client.container_inspect(id, false)?;
        let named: Vec<&str> = self
            .project
            .volumes
            .values()
            .map(|v| v.name.as_str())
            .collect();
        Ok(info["Mounts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["Type"] == "volume")
            .filter_map(|m| {
                let name = m["Name"].as_str()?;
                let target = m["Destination"].as_str()?;
                (!named.contains(&name)).then(|| (name.to_string(), target.to_string()))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_labels_become_observed() {
        let v = json!({
            "Id": "abc", "Names": ["/p-web-2"], "State": "running",
            "Labels": {"com.docker.compose.service": "web", "com.docker.compose.container-number": "2",
                       "com.docker.compose.config-hash": "h", "com.docker.compose.oneoff": "False",
                       "com.docker.compose.project": "p"}
        });
        let o = observed_from_summary(&v).unwrap();
        assert_eq!(
            o,
            Observed {
                id: "abc".into(),
                name: "p-web-2".into(),
                service: "web".into(),
                number: 2,
                config_hash: "h".into(),
                image: None,
                state: "running".into(),
                oneoff: false
            }
        );
        assert!(o.running());
        assert!(observed_from_summary(&json!({"Id": "x", "Labels": {}})).is_none());
    }

    #[test]
    fn tags_split() {
        assert_eq!(split_tag("busybox"), ("busybox".into(), None));
        assert_eq!(split_tag("a/b:1.0"), ("a/b".into(), Some("1.0".into())));
        assert_eq!(
            split_tag("localhost:5000/x"),
            ("localhost:5000/x".into(), None)
        );
        assert_eq!(split_tag("x@sha256:ab"), ("x@sha256:ab".into(), None));
    }
}
