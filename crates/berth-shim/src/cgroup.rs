//! What the shim does with the container's cgroup and pid namespace: read the OOM
//! counter at exit, signal every process (`kill --all`), and remove the cgroup when the
//! container is gone. Exec shims never touch the cgroup: it belongs to the container.

use crate::sys;
use berth_cgroups::{Cgroup, Hierarchy};
use berth_types::shim::Task;
use berth_types::spec::ContainerSpec;

/// The container's spec, for a container task with a cgroup.
fn container_cgroup(task: &Task) -> Option<&ContainerSpec> {
    match task {
        Task::Container(spec) if !spec.cgroup.path.is_empty() => Some(spec),
        _ => None,
    }
}

fn open(spec: &ContainerSpec) -> Option<Cgroup> {
    // Found once: the exit reads the OOM counter and removes the cgroup right after
    // each other (from the spec's mounts, or by parsing the mount table).
    static HIERARCHY: std::sync::OnceLock<Option<Hierarchy>> = std::sync::OnceLock::new();
    let h = HIERARCHY
        .get_or_init(|| berth_runtime::cgroup_hierarchy(spec).ok())
        .as_ref()?;
    Cgroup::open(h, &spec.cgroup.path).ok()
}

/// Did the kernel's OOM killer kill a process of the container?
pub fn oom_killed(task: &Task) -> bool {
    let Some(cg) = container_cgroup(task).and_then(open) else {
        return false;
    };
    match cg.oom_kill_count() {
        Ok(n) => n > 0,
        Err(e) => {
            crate::diag(&format!("reading the OOM counter: {e}"));
            false
        }
    }
}

/// Remove the container's cgroup (after its processes are gone).
pub fn destroy(task: &Task) {
    if let Some(cg) = container_cgroup(task).and_then(open) {
        if let Err(e) = cg.destroy() {
            crate::diag(&format!("removing cgroup {}: {e}", cg.rel()));
        }
    }
}

/// Signal `pid`, or with `all` every process of the container: through its cgroup, else
/// every process sharing `pid`'s pid namespace (when that is not ours), else `pid` alone.
pub fn kill(task: &Task, pid: i32, sig: i32, all: bool) -> std::io::Result<()> {
    if !all || matches!(task, Task::Exec(_)) {
        return sys::kill(pid, sig);
    }
    if let Some(cg) = container_cgroup(task).and_then(open) {
        match cg.kill_all(sig) {
            Ok(()) => return Ok(()),
            Err(e) => crate::diag(&format!("signalling cgroup {}: {e}", cg.rel())),
        }
    }
    let target = sys::pid_ns(&pid.to_string());
    if target.is_none() || target == sys::pid_ns("self") {
        return sys::kill(pid, sig);
    }
    sys::kill(pid, sig)?;
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let name = entry.file_name();
        let Some(p) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if p != pid && sys::pid_ns(&p.to_string()) == target {
            sys::kill(p, sig)?;
        }
    }
    Ok(())
}
