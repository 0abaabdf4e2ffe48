//! The planner: from the project and the containers that exist (found by their
//! `com.docker.compose.*` labels) it decides, per service, which containers to
//! create, recreate, start, keep or remove, and in which order services go (their
//! dependencies first). Pure: the executor ([`crate::run`]) carries the plan out.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{ComposeError, Result};
use crate::hash::service_hash;
use crate::model::{Project, Service};

/// A container of the project as the daemon reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub id: String,
    pub name: String,
    pub service: String,
    pub number: i64,
    pub config_hash: String,
    /// Image id recorded at creation (`com.docker.compose.image`), if any.
    pub image: Option<String>,
    /// Docker's state word: created, running, paused, restarting, exited, dead.
    pub state: String,
    pub oneoff: bool,
}

impl Observed {
    pub fn running(&self) -> bool {
        matches!(self.state.as_str(), "running" | "restarting" | "paused")
    }
}

/// What `up` should do.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// Services named on the command line (empty: all).
    pub services: Vec<String>,
    pub no_deps: bool,
    pub force_recreate: bool,
    pub no_recreate: bool,
    /// `--scale svc=N`.
    pub scale: BTreeMap<String, i64>,
    /// Current image id per service, when known: a container made from another
    /// image is recreated (e.g. after `--build`).
    pub image_ids: BTreeMap<String, String>,
}

/// One step for one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create container number `number` named `name`.
    Create { number: i64, name: String },
    /// Replace `old` (out of date) by a new container with the same number and name.
    Recreate {
        old: Observed,
        number: i64,
        name: String,
    },
    /// Start an existing, up-to-date container that is not running.
    Start(Observed),
    /// Up to date and running.
    Keep(Observed),
    /// Scale down: stop and remove.
    Remove(Observed),
}

/// The plan for `up`.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Services to converge, dependencies first.
    pub order: Vec<String>,
    pub actions: BTreeMap<String, Vec<Action>>,
    /// Containers labeled with the project whose service is not in the files.
    pub orphans: Vec<Observed>,
}

/// Docker Compose's container name for replica `n` of a service.
pub fn container_name(project: &str, s: &Service, n: i64) -> String {
    match &s.container_name {
        Some(c) => c.clone(),
        None => format!("{project}-{}-{n}", s.name),
    }
}

/// Services `s` must wait for: `depends_on`, plus `network_mode: service:x`.
pub fn dependencies(s: &Service) -> Vec<String> {
    let mut deps: Vec<String> = s.depends_on.keys().cloned().collect();
    if let Some(other) = s
        .network_mode
        .as_deref()
        .and_then(|m| m.strip_prefix("service:"))
    {
        if !deps.iter().any(|d| d == other) {
            deps.push(other.to_string());
        }
    }
    deps
}

/// The selected services plus (unless `no_deps`) everything they depend on.
pub fn selection(p: &Project, wanted: &[String], no_deps: bool) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    if wanted.is_empty() {
        out.extend(p.services.keys().cloned());
        return Ok(out);
    }
    let mut stack: Vec<String> = Vec::new();
    for w in wanted {
        p.service(w)?;
        stack.push(w.clone());
    }
    while let Some(n) = stack.pop() {
        if !out.insert(n.clone()) || no_deps {
            continue;
        }
        if let Some(s) = p.services.get(&n) {
            stack.extend(dependencies(s));
        }
    }
    Ok(out)
}

/// Orders `names` so that every service comes after its dependencies (ties by
/// name); a cycle is an error naming it.
pub fn dependency_order(p: &Project, names: &BTreeSet<String>) -> Result<Vec<String>> {
    let mut order = Vec::new();
    let mut state: BTreeMap<&str, u8> = BTreeMap::new(); // 1 visiting, 2 done
    fn visit<'a>(
        p: &'a Project,
        n: &'a str,
        names: &BTreeSet<String>,
        state: &mut BTreeMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
        order: &mut Vec<String>,
    ) -> Result<()> {
        match state.get(n) {
            Some(2) => return Ok(()),
            Some(1) => {
                let start = path.iter().position(|x| *x == n).unwrap_or(0);
                let mut cyc: Vec<&str> = path[start..].to_vec();
                cyc.push(n);
                return Err(ComposeError::Cycle(cyc.join(" -> ")));
            }
            _ => {}
        }
        let Some((key, s)) = p.services.get_key_value(n) else {
            return Ok(());
        };
        state.insert(key, 1);
        path.push(key);
        let mut deps = dependencies(s);
        deps.sort();
        for d in deps {
            if let Some((dk, _)) = p.services.get_key_value(&d) {
                visit(p, dk, names, state, path, order)?;
            }
        }
        path.pop();
        state.insert(key, 2);
        if names.contains(n) {
            order.push(n.to_string());
        }
        Ok(())
    }
    for n in names {
        visit(p, n, names, &mut state, &mut Vec::new(), &mut order)?;
    }
    Ok(order)
}

/// Plans `up`.
pub fn plan_up(p: &Project, observed: &[Observed], o: &UpOptions) -> Result<Plan> {
    let selected = selection(p, &o.services, o.no_deps)?;
    // A cycle anywhere among the services is refused, as Compose does.
    let all: BTreeSet<String> = p.services.keys().cloned().collect();
    dependency_order(p, &all)?;
    let order = dependency_order(p, &selected)?;
    let mut plan = Plan {
        order: order.clone(),
        ..Default::default()
    };
    plan.orphans = observed
        .iter()
        .filter(|c| !c.oneoff && !p.all_services.contains(&c.service))
        .cloned()
        .collect();
    for name in &order {
        let s = &p.services[name];
        let want = o
            .scale
            .get(name)
            .copied()
            .unwrap_or_else(|| s.replicas())
            .max(0);
        let hash = service_hash(s);
        let mut mine: Vec<&Observed> = observed
            .iter()
            .filter(|c| !c.oneoff && &c.service == name)
            .collect();
        mine.sort_by_key(|c| (c.number, c.name.clone()));
        let mut actions = Vec::new();
        // Highest numbers go first when scaling down.
        let keep = mine.len().min(want as usize);
        for c in mine[keep..].iter().rev() {
            actions.push(Action::Remove((*c).clone()));
        }
        for c in &mine[..keep] {
            let stale_image = match (o.image_ids.get(name), &c.image) {
                (Some(now), Some(was)) => now != was,
                _ => false,
            };
            let outdated = c.config_hash != hash || stale_image;
            let c = (*c).clone();
            if o.force_recreate || (outdated && !o.no_recreate) {
                let name = container_name(&p.name, s, c.number);
                actions.push(Action::Recreate {
                    number: c.number,
                    name,
                    old: c,
                });
            } else if c.running() {
                actions.push(Action::Keep(c));
            } else {
                actions.push(Action::Start(c));
            }
        }
        // New replicas take numbers after the highest kept one (1 when none is left).
        let first = mine[..keep].iter().map(|c| c.number).max().unwrap_or(0) + 1;
        for number in first..first + (want - keep as i64).max(0) {
            actions.push(Action::Create {
                number,
                name: container_name(&p.name, s, number),
            });
        }
        plan.actions.insert(name.clone(), actions);
    }
    Ok(plan)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) mod tests_support {
    pub(crate) use super::tests::project;
}
