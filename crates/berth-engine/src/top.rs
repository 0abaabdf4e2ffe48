//! `docker top`: runs `ps` on the host and keeps the rows of the container's processes
//! (the pids in its cgroup), as Docker does.

use crate::error::{EngineError, Result};
use crate::Engine;
use berth_types::docker::ContainerTopResponse;
use std::process::Command;

/// Filters `ps` output to the rows whose PID column is in `pids`. The last column
/// (the command) may contain spaces and takes the rest of the line.
pub fn parse_ps(output: &str, pids: &[i32]) -> Result<ContainerTopResponse> {
    let mut lines = output.lines();
    let header = lines.next().unwrap_or_default();
    let titles: Vec<String> = header.split_whitespace().map(String::from).collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| EngineError::internal("Couldn't find PID field in ps output"))?;
    let mut processes = Vec::new();
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < titles.len() {
            continue;
        }
        let Ok(pid) = fields[pid_col].parse::<i32>() else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        let mut row: Vec<String> = fields[..titles.len() - 1]
            .iter()
            .map(|s| s.to_string())
            .collect();
        row.push(fields[titles.len() - 1..].join(" "));
        processes.push(row);
    }
    Ok(ContainerTopResponse { titles, processes })
}

/// All pids whose ancestry leads to `root` (inclusive), from /proc.
fn descendants(root: i32) -> Vec<i32> {
    let mut parent_of = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // The command may contain spaces and parentheses: ppid follows the last ')'.
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                continue;
            };
            let ppid = rest
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<i32>().ok());
            if let Some(pp) = ppid {
                parent_of.push((pid, pp));
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        for (c, pp) in &parent_of {
            if *pp == p && !out.contains(c) {
                out.push(*c);
            }
        }
        i += 1;
    }
    out
}

impl Engine {
    /// `GET /containers/{id}/top`.
    pub async fn top(&self, name: &str, ps_args: Option<&str>) -> Result<ContainerTopResponse> {
        let ctr = self.lookup(name)?;
        let rec = ctr.snapshot();
        if !rec.state.running {
            return Err(EngineError::not_running(&ctr.id));
        }
        if rec.state.restarting {
            return Err(EngineError::conflict(format!(
                "Container {} is restarting, wait until the container is running",
                ctr.id
            )));
        }
        let init = rec.state.pid as i32;
        let mut pids = Vec::new();
        if let Some(h) = &self.cgroups {
            if let Ok(cg) = berth_cgroups::Cgroup::open(h, &self.cgroup_rel(&rec)) {
                pids = cg.pids().unwrap_or_default();
            }
        }
        if pids.is_empty() {
            pids = descendants(init);
        }
        let args: Vec<String> = match ps_args.filter(|a| !a.trim().is_empty()) {
            Some(a) => a.split_whitespace().map(String::from).collect(),
            None => vec!["-ef".into()],
        };
        let out = tokio::task::spawn_blocking(move || Command::new("ps").args(&args).output())
            .await?
            .map_err(|e| EngineError::internal(format!("Error running ps: {e}")))?;
        if !out.status.success() {
            return Err(EngineError::internal(format!(
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_container_rows_and_joins_command() {
        let out = "UID PID PPID C STIME TTY TIME CMD\n\
                   root 1 0 0 10:00 ? 00:00:01 /sbin/init\n\
                   root 4242 4200 0 10:01 ? 00:00:00 sleep 100 extra\n";
        let r = parse_ps(out, &[4242]).unwrap();
        assert_eq!(
            r.titles,
            vec!["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
        );
        assert_eq!(r.processes.len(), 1);
        assert_eq!(r.processes[0][1], "4242");
        assert_eq!(r.processes[0][7], "sleep 100 extra");
        assert!(parse_ps("USER COMMAND\n", &[1]).is_err());
    }

    #[test]
    fn descendants_include_self() {
        let me = std::process::id() as i32;
        assert!(descendants(me).contains(&me));
    }
}
