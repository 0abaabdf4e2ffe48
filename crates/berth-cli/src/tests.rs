//! Flag-parsing tests for tricky command lines.

use super::*;
use clap::Parser;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    let mut v = vec!["berth"];
    v.extend_from_slice(args);
    Cli::try_parse_from(v)
}

fn run_args(args: &[&str]) -> cli::RunArgs {
    match parse(args).unwrap().cmd {
        Some(Cmd::Run(r)) => r,
        other => panic!("not run: {other:?}"),
    }
}

#[test]
fn run_passes_command_through() {
    let r = run_args(&[
        "run", "-it", "--rm", "-e", "A=1", "busybox", "sh", "-c", "echo hi",
    ]);
    assert_eq!(r.opts.interactive, Some(true));
    assert_eq!(r.opts.tty, Some(true));
    assert_eq!(r.rm, Some(true));
    assert_eq!(r.opts.env, vec!["A=1"]);
    assert_eq!(r.opts.image_and_cmd, vec!["busybox", "sh", "-c", "echo hi"]);
    let r = run_args(&["run", "busybox", "ls", "-la", "--rm"]);
    assert_eq!(r.rm, None);
    assert_eq!(r.opts.image_and_cmd, vec!["busybox", "ls", "-la", "--rm"]);
}

#[test]
fn run_ports_names_and_double_dash() {
    let r = run_args(&[
        "run",
        "-d",
        "-p",
        "8080:80",
        "--name=web",
        "-p127.0.0.1:1:2",
        "busybox",
    ]);
    assert_eq!(r.detach, Some(true));
    assert_eq!(r.opts.publish, vec!["8080:80", "127.0.0.1:1:2"]);
    assert_eq!(r.opts.name.as_deref(), Some("web"));
    let r = run_args(&["run", "--", "busybox", "echo", "x"]);
    assert_eq!(r.opts.image_and_cmd, vec!["busybox", "echo", "x"]);
    let r = run_args(&["run", "busybox", "--", "echo"]);
    assert_eq!(r.opts.image_and_cmd, vec!["busybox", "--", "echo"]);
}

#[test]
fn run_bool_flags_take_explicit_values_and_hostname_is_h() {
    let r = run_args(&[
        "run",
        "--sig-proxy=false",
        "--rm=false",
        "-h",
        "box",
        "-itd",
        "busybox",
    ]);
    assert_eq!(r.sig_proxy, Some(false));
    assert_eq!(r.rm, Some(false));
    assert_eq!(r.opts.hostname.as_deref(), Some("box"));
    assert_eq!(r.detach, Some(true));
    assert_eq!(r.opts.interactive, Some(true));
    let r = run_args(&[
        "run",
        "-m",
        "512m",
        "--memory-swap=-1",
        "-c",
        "512",
        "--cpus",
        "1.5",
        "--net",
        "none",
        "busybox",
    ]);
    assert_eq!(r.opts.memory.as_deref(), Some("512m"));
    assert_eq!(r.opts.memory_swap.as_deref(), Some("-1"));
    assert_eq!(r.opts.cpu_shares, Some(512));
    assert_eq!(r.opts.network.as_deref(), Some("none"));
}

#[test]
fn create_body_from_run_line() {
    let r = run_args(&[
        "run",
        "-it",
        "--rm",
        "-e",
        "A=1",
        "-p",
        "8080:80",
        "-v",
        "/a:/b:ro",
        "-v",
        "/anon",
        "-l",
        "k=v",
        "--restart",
        "no",
        "busybox",
        "sh",
        "-c",
        "echo hi",
    ]);
    let plan = opts::build(&r.opts, true, false).unwrap();
    let b = &plan.body;
    assert_eq!(b["Image"], "busybox");
    assert_eq!(b["Cmd"], serde_json::json!(["sh", "-c", "echo hi"]));
    assert_eq!(b["Env"], serde_json::json!(["A=1"]));
    assert_eq!(b["AttachStdin"], true);
    assert_eq!(b["OpenStdin"], true);
    assert_eq!(b["StdinOnce"], true);
    assert_eq!(b["Tty"], true);
    assert_eq!(b["ExposedPorts"]["80/tcp"], serde_json::json!({}));
    assert_eq!(
        b["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"],
        "8080"
    );
    assert_eq!(b["HostConfig"]["Binds"], serde_json::json!(["/a:/b:ro"]));
    assert_eq!(b["Volumes"]["/anon"], serde_json::json!({}));
    assert_eq!(b["HostConfig"]["AutoRemove"], true);
    assert_eq!(b["Labels"]["k"], "v");
    assert_eq!(b["Entrypoint"], serde_json::Value::Null);
    let r = run_args(&["run", "--rm", "--restart", "always", "busybox"]);
    assert!(opts::build(&r.opts, true, false).is_err());
    let r = run_args(&["run", "--entrypoint", "", "busybox"]);
    assert_eq!(
        opts::build(&r.opts, false, true).unwrap().body["Entrypoint"],
        serde_json::json!([""])
    );
}

#[test]
fn aliases_and_groups() {
    assert!(matches!(
        parse(&["container", "ls", "-a"]).unwrap().cmd,
        Some(Cmd::Container(ContainerCmd::Ls(_)))
    ));
    assert!(matches!(
        parse(&["container", "ps"]).unwrap().cmd,
        Some(Cmd::Container(ContainerCmd::Ls(_)))
    ));
    assert!(matches!(
        parse(&["image", "ls"]).unwrap().cmd,
        Some(Cmd::Image(ImageCmd::Ls(_)))
    ));
    assert!(matches!(
        parse(&["image", "rm", "x"]).unwrap().cmd,
        Some(Cmd::Image(ImageCmd::Rm(_)))
    ));
    assert!(matches!(
        parse(&["container", "rm", "-f", "x"]).unwrap().cmd,
        Some(Cmd::Container(ContainerCmd::Rm(_)))
    ));
    let c = parse(&["-H", "unix:///tmp/x.sock", "ps", "-aq", "--no-trunc"]).unwrap();
    assert_eq!(c.g.host.as_deref(), Some("unix:///tmp/x.sock"));
    match c.cmd {
        Some(Cmd::Ps(p)) => assert!(p.all && p.quiet && p.no_trunc),
        _ => panic!(),
    }
    match parse(&["top", "c1", "-eo", "pid,comm"]).unwrap().cmd {
        Some(Cmd::Top(t)) => assert_eq!(t.container_and_args, vec!["c1", "-eo", "pid,comm"]),
        _ => panic!(),
    }
    match parse(&["exec", "-it", "c1", "sh", "-c", "ls -l"])
        .unwrap()
        .cmd
    {
        Some(Cmd::Exec(e)) => assert_eq!(e.container_and_cmd, vec!["c1", "sh", "-c", "ls -l"]),
        _ => panic!(),
    }
    match parse(&["logs", "-n", "5", "-f", "c1"]).unwrap().cmd {
        Some(Cmd::Logs(l)) => assert_eq!((l.tail.as_str(), l.follow), ("5", true)),
        _ => panic!(),
    }
}

#[test]
fn flag_errors_are_worded_like_docker() {
    let e = parse(&["run", "--foo", "busybox"]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnknownArgument);
    assert_eq!(command_path(&e), "run");
    let e = parse(&["container", "ls", "--foo"]).unwrap_err();
    assert_eq!(command_path(&e), "container ls");
    assert_eq!(flag_error(e), 125);
    let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let e = parse(&["stop"]).unwrap_err();
    assert_eq!(flag_error_for(e, &args(&["berth", "stop"])), 1);
    let e = parse(&["nosuchcmd"]).unwrap_err();
    assert_eq!(flag_error_for(e, &args(&["berth", "nosuchcmd"])), 1);
    let e = parse(&["run", "-m"]).unwrap_err();
    assert_eq!(flag_error_for(e, &args(&["berth", "run", "-m"])), 125);
    assert_eq!(
        argv_path(&args(&["berth", "-H", "x", "container", "ls", "-a"])),
        vec!["container", "ls"]
    );
    assert_eq!(
        argv_path(&args(&["berth", "-D", "run", "busybox", "ls"])),
        vec!["run"]
    );
}
