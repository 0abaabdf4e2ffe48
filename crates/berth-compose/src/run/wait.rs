//! Waiting: `depends_on` conditions (`service_healthy`,
//! `service_completed_successfully`) before a dependent starts, and `up --wait`.
//! Both poll `GET /containers/{id}/json`, as Docker Compose does.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Runner;
use crate::error::{ComposeError, Result};
use crate::model::Service;

impl<'a> Runner<'a> {
    /// Blocks until every dependency of `s` that is part of this run meets its
    /// `depends_on` condition.
    pub fn wait_dependencies(&self, s: &Service, in_run: &BTreeSet<String>) -> Result<()> {
        for (dep, d) in &s.depends_on {
            if !in_run.contains(dep) || d.condition == "service_started" {
                continue;
            }
            let r = self.wait_condition(dep, &d.condition);
            match r {
                Err(e) if !d.required => (self.progress)(&format!(
                    "WARN[0000] optional dependency {dep:?} failed: {e}"
                )),
                r => r?,
            }
        }
        Ok(())
    }

    fn wait_condition(&self, service: &str, condition: &str) -> Result<()> {
        let containers = self.service_containers(&[service.to_string()])?;
        for c in containers {
            let name = c.observed.name.clone();
            self.say("Container", &name, "Waiting");
            loop {
                let info = self.client.container_inspect(&c.observed.id, false)?;
                let state = &info["State"];
                let status = state["Status"].as_str().unwrap_or("");
                let code = state["ExitCode"].as_i64().unwrap_or(0);
                match condition {
                    "service_healthy" => {
                        let health = state
                            .get("Health")
                            .and_then(|h| h.get("Status"))
                            .and_then(Value::as_str);
                        match health {
                            Some("healthy") => {
                                self.say("Container", &name, "Healthy");
                                break;
                            }
                            Some("unhealthy") => {
                                return Err(ComposeError::Run(format!(
                                    "dependency failed to start: container {name} is unhealthy"
                                )))
                            }
                            None if info["Config"].get("Healthcheck").is_none_or(Value::is_null) => {
                                return Err(ComposeError::Run(format!(
                                    "dependency failed to start: container {name} has no healthcheck configured"
                                )))
                            }
                            _ => {}
                        }
                        if status == "exited" || status == "dead" {
                            return Err(ComposeError::Run(format!(
                                "dependency failed to start: container {name} exited ({code})"
                            )));
                        }
                    }
                    "service_completed_successfully" => {
                        if status == "exited" || status == "dead" {
                            if code != 0 {
                                return Err(ComposeError::Run(format!(
                                    "service {service:?} didn't complete successfully: exit {code}"
                                )));
                            }
                            self.say("Container", &name, "Exited");
                            break;
                        }
                    }
                    _ => break,
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    /// `--wait`: every container running, and healthy when it has a healthcheck.
    pub fn wait_ready(&self, services: &[String], timeout: Option<Duration>) -> Result<()> {
        let deadline = timeout.map(|t| Instant::now() + t);
        for c in self.service_containers(services)? {
            let name = c.observed.name.clone();
            self.say("Container", &name, "Waiting");
            loop {
                let info = self.client.container_inspect(&c.observed.id, false)?;
                let state = &info["State"];
                let status = state["Status"].as_str().unwrap_or("");
                let health = state
                    .get("Health")
                    .and_then(|h| h.get("Status"))
                    .and_then(Value::as_str);
                match (status, health) {
                    ("running", None | Some("healthy")) => {
                        self.say("Container", &name, "Healthy");
                        break;
                    }
                    (_, Some("unhealthy")) => {
                        return Err(ComposeError::Run(format!("container {name} is unhealthy")))
                    }
                    ("exited" | "dead", _) => {
                        return Err(ComposeError::Run(format!(
                            "container {name} exited ({})",
                            state["ExitCode"].as_i64().unwrap_or(0)
                        )))
                    }
                    _ => {}
                }
                if deadline.is_some_and(|d| Instant::now() > d) {
                    return Err(ComposeError::Run(format!(
                        "timeout waiting for container {name} to be ready"
                    )));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }
}
