//! `berth compose`: the command-line side of Compose. Flags are parsed here; the
//! project is loaded and planned by `berth-compose`, which also runs the plans
//! through the API. This module adds what needs a terminal or the build context:
//! tables (`ps`, `top`, `images`), log streaming with per-service prefixes, `exec`
//! and `run` (attached streams), and image builds (`berth_build` context tars).

mod args;
mod logs;
mod oneoff;
mod show;

pub use args::ComposeArgs;

use std::collections::BTreeMap;
use std::time::Duration;

use berth_client::Client;
use berth_compose::plan::UpOptions;
use berth_compose::run::{Runner, UpFlags};
use berth_compose::{ComposeError, LoadOptions, Project, Service};

use crate::build::BuildArgs;
use crate::errors::{CliError, CliResult};
use args::{ComposeCmd, UpArgs};

impl From<ComposeError> for CliError {
    fn from(e: ComposeError) -> Self {
        CliError::msg(e.to_string())
    }
}

/// Progress lines go to stderr, as Docker Compose prints them.
fn progress(line: &str) {
    eprintln!("{line}");
}

/// Services named by a subcommand, used to enable their profiles.
fn named_services(cmd: &ComposeCmd) -> Vec<String> {
    match cmd {
        ComposeCmd::Up(a) | ComposeCmd::Create(a) => a.services.clone(),
        ComposeCmd::Run(a) => vec![a.service.clone()],
        ComposeCmd::Exec(a) => vec![a.service.clone()],
        _ => Vec::new(),
    }
}

fn load_project(a: &ComposeArgs) -> CliResult<Project> {
    let mut o = LoadOptions::from_process();
    o.files = a.files.clone();
    o.project_name = a.project_name.clone();
    o.project_dir = a.project_directory.clone();
    o.env_files = a.env_file.clone();
    o.profiles = a.profile.clone();
    o.services = named_services(&a.cmd);
    let p = berth_compose::load(&o)?;
    for w in &p.warnings {
        eprintln!("WARN[0000] {w}");
    }
    Ok(p)
}

/// Builds a service's image with the regular `build` command's client side.
fn build_service(c: &Client, p: &Project, s: &Service) -> berth_compose::Result<()> {
    let Some(b) = &s.build else {
        return Ok(());
    };
    let image = s.image_name(&p.name);
    eprintln!(" Service {}  Building", s.name);
    let args = BuildArgs {
        tag: vec![image],
        // `dockerfile` is relative to the context in Compose, to the working directory
        // for `build -f`: hand over an absolute path.
        file: b.dockerfile.as_ref().map(|f| {
            std::path::Path::new(&b.context)
                .join(f)
                .display()
                .to_string()
        }),
        build_arg: b
            .args
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => k.clone(),
            })
            .collect(),
        target: b.target.clone(),
        no_cache: b.no_cache,
        pull: b.pull,
        label: b.labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        quiet: false,
        iidfile: None,
        rm: true,
        force_rm: false,
        network: b.network.clone(),
        platform: s.platform.clone(),
        secret: Vec::new(),
        ssh: Vec::new(),
        context: b.context.clone(),
    };
    crate::build::build(c, &args).map_err(|e| ComposeError::Run(e.message))?;
    eprintln!(" Service {}  Built", s.name);
    Ok(())
}

fn parse_scale(list: &[String]) -> CliResult<BTreeMap<String, i64>> {
    let mut out = BTreeMap::new();
    for s in list {
        let (k, v) = s.split_once('=').ok_or_else(|| {
            CliError::msg(format!("invalid --scale value {s:?}: expected SERVICE=NUM"))
        })?;
        let n: i64 = v.parse().map_err(|_| {
            CliError::msg(format!("invalid --scale value {s:?}: expected SERVICE=NUM"))
        })?;
        out.insert(k.to_string(), n);
    }
    Ok(out)
}

fn up(c: &Client, p: &Project, a: &UpArgs, create_only: bool) -> CliResult {
    if a.detach && (a.abort_on_container_exit || a.exit_code_from.is_some()) {
        return Err(CliError::msg(
            "--abort-on-container-exit and --detach are incompatible options",
        ));
    }
    let builder = |p: &Project, s: &Service| build_service(c, p, s);
    let r = Runner {
        client: c,
        project: p,
        progress: &progress,
        builder: Some(&builder),
    };
    let o = UpOptions {
        services: a.services.clone(),
        no_deps: a.no_deps,
        force_recreate: a.force_recreate,
        no_recreate: a.no_recreate,
        scale: parse_scale(&a.scale)?,
        image_ids: BTreeMap::new(),
    };
    let flags = UpFlags {
        build: a.build,
        no_build: a.no_build,
        pull: a.pull.clone(),
        remove_orphans: a.remove_orphans,
        wait: a.wait,
        wait_timeout: a.wait_timeout.map(Duration::from_secs),
        no_start: create_only,
        renew_anon_volumes: a.renew_anon_volumes,
        timeout: a.timeout,
    };
    let ids = r.up(&o, &flags)?;
    if a.detach || create_only || a.wait {
        return Ok(());
    }
    // Attached: follow the logs of the started containers until they all exit.
    let builder = |p: &Project, s: &Service| build_service(c, p, s);
    let r = Runner {
        client: c,
        project: p,
        progress: &progress,
        builder: Some(&builder),
    };
    let how = logs::AttachedUp {
        abort_on_exit: a.abort_on_container_exit || a.exit_code_from.is_some(),
        exit_code_from: a.exit_code_from.clone(),
    };
    match logs::follow_ids(c, &r, &ids, &how)? {
        0 => Ok(()),
        code => Err(CliError::exit(code)),
    }
}

pub fn compose(c: &Client, a: &ComposeArgs) -> CliResult {
    // These two need no project.
    match &a.cmd {
        ComposeCmd::Ls(x) => return show::ls(c, x),
        ComposeCmd::Version(x) => return show::version(x),
        _ => {}
    }
    let p = load_project(a)?;
    let builder = |p: &Project, s: &Service| build_service(c, p, s);
    let r = Runner {
        client: c,
        project: &p,
        progress: &progress,
        builder: Some(&builder),
    };
    match &a.cmd {
        ComposeCmd::Up(u) => up(c, &p, u, false),
        ComposeCmd::Create(u) => up(c, &p, u, true),
        ComposeCmd::Down(d) => {
            let rmi = d.rmi.as_deref();
            if let Some(m) = rmi {
                if m != "all" && m != "local" {
                    return Err(CliError::msg(format!("invalid value for --rmi: {m}")));
                }
            }
            Ok(r.down(d.remove_orphans, d.volumes, rmi, d.timeout)?)
        }
        ComposeCmd::Ps(x) => show::ps(&r, x),
        ComposeCmd::Logs(x) => logs::logs(c, &r, x),
        ComposeCmd::Build(x) => Ok(r.build_services(&x.services)?),
        ComposeCmd::Pull(x) => Ok(r.pull(&x.services, x.ignore_pull_failures)?),
        ComposeCmd::Push(x) => Ok(r.push(&x.services, x.ignore_push_failures)?),
        ComposeCmd::Start(x) => Ok(r.start(&x.services)?),
        ComposeCmd::Stop(x) => Ok(r.stop(&x.services, x.timeout)?),
        ComposeCmd::Restart(x) => Ok(r.restart(&x.services, x.timeout)?),
        ComposeCmd::Rm(x) => show::rm(&r, x),
        ComposeCmd::Exec(x) => oneoff::exec(c, &r, x),
        ComposeCmd::Run(x) => oneoff::run(c, &r, x),
        ComposeCmd::Config(x) => show::config(&p, x),
        ComposeCmd::Top(x) => show::top(&r, x),
        ComposeCmd::Port(x) => show::port(&r, x),
        ComposeCmd::Images(x) => show::images(&r, x),
        ComposeCmd::Kill(x) => show::kill(&r, x),
        ComposeCmd::Pause(x) => show::pause(&r, x, true),
        ComposeCmd::Unpause(x) => show::pause(&r, x, false),
        ComposeCmd::Cp(x) => oneoff::cp(c, &r, x),
        ComposeCmd::Wait(x) => oneoff::wait(c, &r, x),
        ComposeCmd::Ls(_) | ComposeCmd::Version(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Cmd};
    use clap::Parser;
    use std::path::PathBuf;

    fn parse(args: &[&str]) -> ComposeArgs {
        let mut all = vec!["berth", "compose"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all).unwrap().cmd {
            Some(Cmd::Compose(a)) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn global_flags_and_up() {
        let a = parse(&[
            "-f",
            "a.yml",
            "-f",
            "b.yml",
            "-p",
            "demo",
            "--profile",
            "dev",
            "--env-file",
            "x.env",
            "up",
            "-d",
            "--build",
            "--scale",
            "web=3",
            "--wait",
            "--no-deps",
            "web",
        ]);
        assert_eq!(
            a.files,
            vec![PathBuf::from("a.yml"), PathBuf::from("b.yml")]
        );
        assert_eq!(a.project_name.as_deref(), Some("demo"));
        assert_eq!(a.profile, vec!["dev"]);
        assert_eq!(named_services(&a.cmd), vec!["web"]);
        let ComposeCmd::Up(u) = a.cmd else { panic!() };
        assert!(u.detach && u.build && u.wait && u.no_deps);
        assert_eq!(parse_scale(&u.scale).unwrap()["web"], 3);
        assert!(parse_scale(&["web".into()]).is_err());
        assert!(parse_scale(&["web=x".into()]).is_err());
    }

    #[test]
    fn subcommands_with_trailing_commands() {
        let a = parse(&["exec", "-T", "app", "sh", "-c", "echo -n hi"]);
        let ComposeCmd::Exec(e) = a.cmd else { panic!() };
        assert!(e.no_tty);
        assert_eq!(e.command, vec!["sh", "-c", "echo -n hi"]);
        let a = parse(&["run", "--rm", "-e", "A=1", "app", "ls", "-l"]);
        let ComposeCmd::Run(r) = a.cmd else { panic!() };
        assert!(r.rm);
        assert_eq!(
            (r.service.as_str(), r.command.clone()),
            ("app", vec!["ls".to_string(), "-l".to_string()])
        );
        let a = parse(&[
            "down",
            "-v",
            "--rmi",
            "local",
            "--remove-orphans",
            "-t",
            "3",
        ]);
        let ComposeCmd::Down(d) = a.cmd else { panic!() };
        assert!(d.volumes && d.remove_orphans);
        assert_eq!((d.rmi.as_deref(), d.timeout), (Some("local"), Some(3)));
        let a = parse(&["logs", "-f", "--tail", "5", "web"]);
        let ComposeCmd::Logs(l) = a.cmd else { panic!() };
        assert!(l.follow);
        assert_eq!(l.tail, "5");
    }
}
