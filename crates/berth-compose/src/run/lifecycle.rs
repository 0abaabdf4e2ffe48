//! Taking a project down and the per-container lifecycle commands (`start`, `stop`,
//! `restart`, `rm`): dependents before their dependencies, containers of one service
//! in parallel.

use std::collections::BTreeSet;

use berth_client::api::Filters;
use berth_client::Query;
use serde_json::Value;

use super::{is_not_found, label, Found, Runner};
use crate::error::{ComposeError, Result};
use crate::labels;
use crate::plan;

impl<'a> Runner<'a> {
    /// Services in reverse dependency order, followed by unknown ones (orphans).
    fn reverse_order(&self) -> Vec<String> {
        let all: BTreeSet<String> = self.project.services.keys().cloned().collect();
        let mut order = plan::dependency_order(self.project, &all)
            .unwrap_or_else(|_| all.iter().cloned().collect());
        order.reverse();
        order
    }

    /// `down`.
    pub fn down(
        &self,
        remove_orphans: bool,
        volumes: bool,
        rmi: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let containers = self.containers(true)?;
        let order = self.reverse_order();
        let rank = |s: &str| order.iter().position(|x| x == s).unwrap_or(0);
        let mut doomed: Vec<&Found> = Vec::new();
        let mut orphans: Vec<&Found> = Vec::new();
        for c in &containers {
            let known = self.project.all_services.contains(&c.observed.service);
            if known || c.observed.oneoff || remove_orphans {
                doomed.push(c);
            } else {
                orphans.push(c);
            }
        }
        doomed.sort_by_key(|c| rank(&c.observed.service));
        // Dependents go before their dependencies; containers of one service (and
        // orphans, one-offs) go down in parallel, as Docker Compose does.
        let mut i = 0;
        while i < doomed.len() {
            let r = rank(&doomed[i].observed.service);
            let j = doomed[i..]
                .iter()
                .position(|c| rank(&c.observed.service) != r)
                .map_or(doomed.len(), |k| i + k);
            self.parallel(&doomed[i..j], |c| {
                self.stop_and_remove(&c.observed, volumes, timeout)
            })?;
            i = j;
        }
        if !orphans.is_empty() {
            let names: Vec<&str> = orphans.iter().map(|c| c.observed.name.as_str()).collect();
            (self.progress)(&format!(
                "WARN[0000] Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                names.join(" ")
            ));
        }
        // Networks: the declared ones plus any still labeled with the project.
        let mut nets: BTreeSet<String> = self
            .project
            .networks
            .values()
            .filter(|n| !n.external)
            .map(|n| n.name.clone())
            .collect();
        nets.extend(self.labeled("networks")?);
        for n in nets {
            match self.client.get_json(&format!("/networks/{n}")) {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => continue,
                Err(e) => return Err(e.into()),
            }
            self.say("Network", &n, "Removing");
            match self.client.delete(&format!("/networks/{n}")) {
                Err(e) if is_not_found(&e) => {}
                r => {
                    r?;
                }
            }
            self.say("Network", &n, "Removed");
        }
        if volumes {
            let mut vols: BTreeSet<String> = self
                .project
                .volumes
                .values()
                .filter(|v| !v.external)
                .map(|v| v.name.clone())
                .collect();
            vols.extend(self.labeled("volumes")?);
            for v in vols {
                match self.client.get_json(&format!("/volumes/{v}")) {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) => continue,
                    Err(e) => return Err(e.into()),
                }
                self.say("Volume", &v, "Removing");
                match self.client.delete(&format!("/volumes/{v}")) {
                    Err(e) if is_not_found(&e) => {}
                    r => {
                        r?;
                    }
                }
                self.say("Volume", &v, "Removed");
            }
        }
        if let Some(mode) = rmi {
            let mut images = BTreeSet::new();
            for s in self.project.services.values() {
                if mode == "all" || s.image.is_none() {
                    images.insert(s.image_name(&self.project.name));
                }
            }
            for img in images {
                match self.client.image_remove(&img, false, false) {
                    Ok(_) => self.say("Image", &img, "Removed"),
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    /// Runs `f` on every container at once; the first error wins.
    fn parallel<F>(&self, list: &[&Found], f: F) -> Result<()>
    where
        F: Fn(&Found) -> Result<()> + Sync,
    {
        if list.len() <= 1 {
            return list.iter().try_for_each(|c| f(c));
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = list.iter().map(|c| scope.spawn(|| f(c))).collect();
            let mut first = Ok(());
            for h in handles {
                let r = h
                    .join()
                    .unwrap_or_else(|_| Err(ComposeError::Run("a worker thread panicked".into())));
                if first.is_ok() {
                    first = r;
                }
            }
            first
        })
    }

    /// Names of networks/volumes labeled with this project (empty when the daemon
    /// has no such list).
    fn labeled(&self, kind: &str) -> Result<Vec<String>> {
        let mut f = Filters::new();
        f.add(
            "label",
            &format!("{}={}", labels::PROJECT, self.project.name),
        );
        let q = Query::new().add("filters", f.to_json());
        let v = match self.client.get_json(&format!("/{kind}{}", q.to_suffix())) {
            Ok(v) => v,
            Err(e) if matches!(e.status(), Some(404 | 501)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let list = match kind {
            "volumes" => v.get("Volumes").cloned().unwrap_or(Value::Null),
            _ => v,
        };
        Ok(list
            .as_array()
            .into_iter()
            .flatten()
            .filter(|x| label(x, labels::PROJECT) == Some(self.project.name.as_str()))
            .filter_map(|x| x.get("Name").and_then(Value::as_str).map(String::from))
            .collect())
    }

    /// `start`: starts existing containers in dependency order.
    pub fn start(&self, services: &[String]) -> Result<()> {
        let all: BTreeSet<String> = self.project.services.keys().cloned().collect();
        let order = plan::dependency_order(self.project, &all)?;
        let containers = self.service_containers(services)?;
        if containers.is_empty() {
            return Err(ComposeError::Run("service(s) not created yet".into()));
        }
        for svc in order {
            let mine: Vec<&Found> = containers
                .iter()
                .filter(|c| c.observed.service == svc)
                .collect();
            if mine.is_empty() {
                continue;
            }
            if let Some(s) = self.project.services.get(&svc) {
                self.wait_dependencies(s, &all)?;
            }
            for c in mine {
                if !c.observed.running() {
                    self.start_container(&c.observed.name, &c.observed.id)?;
                }
            }
        }
        Ok(())
    }

    /// `stop`: dependents first.
    pub fn stop(&self, services: &[String], timeout: Option<i64>) -> Result<()> {
        let order = self.reverse_order();
        let mut containers = self.service_containers(services)?;
        containers.sort_by_key(|c| order.iter().position(|x| *x == c.observed.service));
        let running: Vec<&Found> = containers.iter().filter(|c| c.observed.running()).collect();
        let rank = |s: &str| order.iter().position(|x| x == s);
        let mut i = 0;
        while i < running.len() {
            let r = rank(&running[i].observed.service);
            let j = running[i..]
                .iter()
                .position(|c| rank(&c.observed.service) != r)
                .map_or(running.len(), |k| i + k);
            self.parallel(&running[i..j], |c| {
                self.say("Container", &c.observed.name, "Stopping");
                let t = timeout.or_else(|| self.stop_timeout(&c.observed.service));
                self.client.container_stop(&c.observed.id, t, None)?;
                self.say("Container", &c.observed.name, "Stopped");
                Ok(())
            })?;
            i = j;
        }
        Ok(())
    }

    /// `restart`.
    pub fn restart(&self, services: &[String], timeout: Option<i64>) -> Result<()> {
        for c in self.service_containers(services)? {
            self.say("Container", &c.observed.name, "Restarting");
            let t = timeout.or_else(|| self.stop_timeout(&c.observed.service));
            self.client.container_restart(&c.observed.id, t, None)?;
            self.say("Container", &c.observed.name, "Started");
        }
        Ok(())
    }

    /// `rm`: removes stopped containers (with `stop`, stops running ones first);
    /// returns the names removed.
    pub fn rm(&self, services: &[String], stop: bool, volumes: bool) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for c in self.service_containers(services)? {
            if c.observed.running() {
                if !stop {
                    continue;
                }
                self.say("Container", &c.observed.name, "Stopping");
                self.client.container_stop(&c.observed.id, None, None)?;
                self.say("Container", &c.observed.name, "Stopped");
            }
            self.say("Container", &c.observed.name, "Removing");
            self.client
                .container_remove(&c.observed.id, true, volumes, false)?;
            self.say("Container", &c.observed.name, "Removed");
            removed.push(c.observed.name.clone());
        }
        Ok(removed)
    }
}
