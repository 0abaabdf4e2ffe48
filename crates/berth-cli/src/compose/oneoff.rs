//! `compose exec` and `compose run`: commands in a service's container, or in a new
//! one-off container (`<project>-<service>-run-<hex>`, labeled `oneoff=True`), with
//! the streams attached like `berth exec` / `berth run`. A TTY is used by default
//! when stdin is a terminal (`-T` turns it off), as Docker Compose does.

use std::time::{Duration, Instant};

use berth_client::Client;
use berth_compose::convert::{create_request, ContainerCtx};
use berth_compose::hash::service_hash;
use berth_compose::plan::UpOptions;
use berth_compose::run::{Runner, UpFlags};
use berth_compose::{labels, shellwords};
use serde_json::{json, Value};

use super::args::{CpArgs, ExecArgs, RunArgs, WaitArgs};
use crate::attach::{self, End, ResizeTarget, Signals, StreamOpts};
use crate::errors::{CliError, CliResult};
use crate::term;

fn exec_exit_code(c: &Client, exec_id: &str) -> CliResult<i64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = c.exec_inspect(exec_id)?;
        if !info["Running"].as_bool().unwrap_or(false) || Instant::now() >= deadline {
            return Ok(info["ExitCode"].as_i64().unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn exec(c: &Client, r: &Runner, a: &ExecArgs) -> CliResult {
    let target = r
        .service_containers(std::slice::from_ref(&a.service))?
        .into_iter()
        .find(|f| f.observed.number == a.index && f.observed.running())
        .ok_or_else(|| CliError::msg(format!("service \"{}\" is not running", a.service)))?;
    let tty = !a.no_tty && term::stdin_is_tty();
    let body = json!({
        "User": a.user.clone().unwrap_or_default(),
        "Privileged": a.privileged,
        "Tty": tty,
        "AttachStdin": !a.detach,
        "AttachStdout": !a.detach,
        "AttachStderr": !a.detach,
        "Env": a.env,
        "WorkingDir": a.workdir.clone().unwrap_or_default(),
        "Cmd": a.command,
    });
    let created = c.exec_create(&target.observed.id, &body)?;
    let exec_id = created["Id"].as_str().unwrap_or_default().to_string();
    if a.detach {
        c.exec_start_detached(&exec_id)?;
        return Ok(());
    }
    let signals = Signals::block(
        (tty && term::size().is_some()).then(|| ResizeTarget::Exec(exec_id.clone())),
        None,
    );
    let conn = c.exec_start_attached(&exec_id, tty)?;
    signals.run(c);
    let end = attach::stream(
        conn,
        &StreamOpts {
            tty,
            stdin: true,
            detach_keys: None,
        },
    )?;
    if end == End::Detached {
        return Ok(());
    }
    let code = exec_exit_code(c, &exec_id)?;
    if code != 0 {
        return Err(CliError::exit(code as i32));
    }
    Ok(())
}

fn random_hex() -> String {
    let mut b = [0u8; 6];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn run(c: &Client, r: &Runner, a: &RunArgs) -> CliResult {
    let p = r.project;
    let s = p.service(&a.service)?.clone();
    // Dependencies come up first, like `up` would bring them.
    if !a.no_deps && !s.depends_on.is_empty() {
        let o = UpOptions {
            services: s.depends_on.keys().cloned().collect(),
            ..Default::default()
        };
        r.up(&o, &UpFlags::default())?;
    }
    let mut svc = s.clone();
    if !a.command.is_empty() {
        svc.command = Some(a.command.clone());
    }
    if let Some(ep) = &a.entrypoint {
        svc.entrypoint = Some(
            shellwords::split(ep)
                .ok_or_else(|| CliError::msg(format!("invalid entrypoint {ep:?}")))?,
        );
    }
    for e in &a.env {
        match e.split_once('=') {
            Some((k, v)) => svc.environment.insert(k.to_string(), Some(v.to_string())),
            None => svc.environment.insert(e.clone(), std::env::var(e).ok()),
        };
    }
    for l in &a.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        svc.labels.insert(k.to_string(), v.to_string());
    }
    if let Some(u) = &a.user {
        svc.user = Some(u.clone());
    }
    if let Some(w) = &a.workdir {
        svc.working_dir = Some(w.clone());
    }
    // One-off containers publish the service's ports only when asked.
    if !a.service_ports {
        svc.ports.clear();
    }
    svc.container_name = None;
    let tty = !a.no_tty && !a.detach && term::stdin_is_tty();
    svc.tty = tty;
    svc.stdin_open = a.interactive && !a.detach;
    let ctx = ContainerCtx {
        number: 1,
        oneoff: true,
        config_hash: service_hash(&s),
        image_id: None,
        network_container: None,
        inherited_volumes: Vec::new(),
    };
    let images = r.ensure_images(
        &std::iter::once(s.name.clone()).collect(),
        &UpFlags::default(),
    )?;
    let ctx = ContainerCtx {
        image_id: images.get(&s.name).cloned(),
        ..ctx
    };
    r.ensure_networks(&std::iter::once(s.name.clone()).collect())?;
    r.ensure_volumes(&std::iter::once(s.name.clone()).collect())?;
    let mut body = create_request(p, &svc, &ctx);
    let attach_in = svc.stdin_open;
    body["AttachStdin"] = json!(attach_in);
    body["AttachStdout"] = json!(!a.detach);
    body["AttachStderr"] = json!(!a.detach);
    body["StdinOnce"] = json!(attach_in);
    body["HostConfig"]["AutoRemove"] = json!(a.rm);
    body["HostConfig"]["RestartPolicy"] = json!({"Name": "no", "MaximumRetryCount": 0});
    for pub_spec in &a.publish {
        add_publish(&mut body, pub_spec)?;
    }
    for v in &a.volume {
        let binds = body["HostConfig"]["Binds"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut binds = binds;
        binds.push(json!(v));
        body["HostConfig"]["Binds"] = Value::Array(binds);
    }
    body["Labels"][labels::ONEOFF] = json!("True");
    let name = a
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{}-run-{}", p.name, s.name, random_hex()));
    let created = c.container_create(Some(&name), None, &body)?;
    let id = created["Id"].as_str().unwrap_or_default().to_string();
    if a.detach {
        c.container_start(&id, None)?;
        println!("{name}");
        return Ok(());
    }
    let signals = Signals::block(
        (tty && term::size().is_some()).then(|| ResizeTarget::Container(id.clone())),
        (!tty).then(|| id.clone()),
    );
    let conn = c.container_attach(&id, attach_in, true, true, None)?;
    let status = crate::run::begin_wait(c, &id, if a.rm { "removed" } else { "next-exit" });
    c.container_start(&id, None)?;
    signals.run(c);
    let end = attach::stream(
        conn,
        &StreamOpts {
            tty,
            stdin: attach_in,
            detach_keys: None,
        },
    )?;
    if end == End::Detached {
        return Ok(());
    }
    match status.recv() {
        Ok(Ok(0)) => Ok(()),
        Ok(Ok(code)) => Err(CliError::exit(code as i32)),
        Ok(Err(m)) => Err(CliError::msg(m)),
        Err(_) => Err(CliError::exit(125)),
    }
}

/// `-p [ip:]host:container[/proto]` on a one-off container.
fn add_publish(body: &mut Value, spec: &str) -> CliResult {
    let (main, proto) = spec.rsplit_once('/').unwrap_or((spec, "tcp"));
    let parts: Vec<&str> = main.split(':').collect();
    let (ip, host, ctr) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [i, h, c] => (*i, *h, *c),
        _ => return Err(CliError::msg(format!("invalid publish spec {spec:?}"))),
    };
    let key = format!("{ctr}/{proto}");
    body["ExposedPorts"][&key] = json!({});
    let mut list = body["HostConfig"]["PortBindings"][&key]
        .as_array()
        .cloned()
        .unwrap_or_default();
    list.push(json!({"HostIp": ip, "HostPort": host}));
    body["HostConfig"]["PortBindings"][&key] = Value::Array(list);
    Ok(())
}

/// `SERVICE:PATH` → `CONTAINER:PATH` (replica `index`); local paths stay as they are.
fn container_path(r: &Runner, spec: &str, index: i64) -> CliResult<String> {
    let Some((svc, path)) = spec.split_once(':') else {
        return Ok(spec.to_string());
    };
    if svc.contains('/') || !r.project.all_services.iter().any(|s| s == svc) {
        return Ok(spec.to_string());
    }
    let c = r
        .service_containers(&[svc.to_string()])?
        .into_iter()
        .find(|f| f.observed.number == index)
        .ok_or_else(|| CliError::msg(format!("no container found for service {svc:?}")))?;
    Ok(format!("{}:{path}", c.observed.name))
}

/// `compose cp`: the regular `cp` with service names turned into container names.
pub fn cp(c: &Client, r: &Runner, a: &CpArgs) -> CliResult {
    let args = crate::cli::CpArgs {
        archive: a.archive,
        follow_link: a.follow_link,
        quiet: true,
        src: container_path(r, &a.src, a.index)?,
        dest: container_path(r, &a.dest, a.index)?,
    };
    crate::cp::cp(c, &args)
}

/// `compose wait`: blocks until the first container of the services stops and exits
/// with its status (with `--down-project`, the project is taken down then).
pub fn wait(c: &Client, r: &Runner, a: &WaitArgs) -> CliResult {
    let ids: Vec<String> = r
        .service_containers(&a.services)?
        .into_iter()
        .map(|f| f.observed.id)
        .collect();
    if ids.is_empty() {
        return Err(CliError::msg("no containers for the given services"));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    for id in ids {
        let tx = tx.clone();
        let c = c.clone();
        std::thread::spawn(move || {
            let code = c
                .container_wait(&id, Some("not-running"))
                .ok()
                .and_then(|v| v["StatusCode"].as_i64())
                .unwrap_or(1);
            let _ = tx.send(code);
        });
    }
    drop(tx);
    let code = rx.recv().unwrap_or(1);
    if a.down_project {
        r.down(false, false, None, None)?;
    }
    println!("{code}");
    if code != 0 {
        return Err(CliError::exit(code as i32));
    }
    Ok(())
}
