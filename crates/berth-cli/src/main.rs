//! `berth`: the command-line client. Parses flags (clap, with Docker's wording for
//! flag errors), connects to the daemon through `berth-client`, and dispatches to
//! one module per command family. Exit codes follow Docker: 0 ok, 1 daemon/usage
//! errors, 125 flag errors and run/create failures, the container's own status for
//! `run`/`start -a`.

mod attach;
mod auth;
mod build;
mod cli;
mod compose;
mod container;
mod cp;
mod errors;
mod events;
mod exec;
mod images;
mod inspect;
mod logs;
mod objects;
mod opts;
mod ps;
mod run;
mod stats;
mod system;
mod table;
mod term;
mod units;
mod volume;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::Parser;

use cli::{Cli, Cmd, ContainerCmd, ImageCmd, NetworkCmd, SystemCmd, VolumeCmd};
use errors::CliResult;

/// Docker's usage line (after the command path) for each command.
fn usage_args(path: &str) -> &'static str {
    let last = path.rsplit(' ').next().unwrap_or(path);
    match (path, last) {
        (_, "run") | (_, "create") => "[OPTIONS] IMAGE [COMMAND] [ARG...]",
        ("ps" | "container ls" | "container ps" | "container list", _) => "[OPTIONS]",
        ("images" | "image ls" | "image list", _) => "[OPTIONS] [REPOSITORY[:TAG]]",
        (_, "pause" | "unpause" | "wait") => "CONTAINER [CONTAINER...]",
        (_, "start" | "stop" | "restart" | "kill" | "rm" | "remove") => {
            "[OPTIONS] CONTAINER [CONTAINER...]"
        }
        (_, "logs" | "attach") => "[OPTIONS] CONTAINER",
        (_, "exec") => "[OPTIONS] CONTAINER COMMAND [ARG...]",
        (_, "rename") => "CONTAINER NEW_NAME",
        (_, "top") => "CONTAINER [ps OPTIONS]",
        (_, "update") => "[OPTIONS] CONTAINER [CONTAINER...]",
        (_, "inspect") => "[OPTIONS] NAME|ID [NAME|ID...]",
        (_, "import") => "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
        (_, "build") => "[OPTIONS] PATH | URL | -",
        (_, "rmi") | ("image rm" | "image remove", _) => "[OPTIONS] IMAGE [IMAGE...]",
        (_, "tag") => "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
        (_, "prune") => "[OPTIONS]",
        (_, "stats") => "[OPTIONS] [CONTAINER...]",
        (_, "port") => "CONTAINER [PRIVATE_PORT[/PROTO]]",
        (_, "history") => "[OPTIONS] IMAGE",
        (_, "pull") => "[OPTIONS] NAME[:TAG|@DIGEST]",
        ("container", _) | ("image", _) | ("system", _) | ("volume", _) | ("network", _) => "",
        _ => "[OPTIONS]",
    }
}

/// Command words from the raw arguments: global flags skipped, then the command
/// and, for the `container`/`image` groups, the subcommand. Returns the words.
fn argv_path(args: &[String]) -> Vec<String> {
    let mut words = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let a = &args[i];
        if words.is_empty() && (a == "-H" || a == "--host") {
            i += 2;
            continue;
        }
        if a.starts_with('-') {
            if words.is_empty() {
                i += 1;
                continue;
            }
            break;
        }
        words.push(a.clone());
        if words.len() == 2
            || !matches!(
                words[0].as_str(),
                "container" | "image" | "system" | "volume" | "network"
            )
        {
            break;
        }
        i += 1;
    }
    words
}

/// Command path ("run", "container ls") from clap's usage text.
fn command_path(err: &clap::Error) -> String {
    let usage = match err.get(ContextKind::Usage) {
        Some(ContextValue::StyledStr(s)) => s.to_string(),
        _ => String::new(),
    };
    let mut words = Vec::new();
    let mut seen_berth = false;
    for w in usage.split_whitespace() {
        if w == "berth" {
            seen_berth = true;
            continue;
        }
        if !seen_berth {
            continue;
        }
        if w.starts_with('[') || w.starts_with('<') || w.starts_with('-') || w.contains('|') {
            break;
        }
        words.push(w);
    }
    words.join(" ")
}

/// Turns clap's errors into Docker's wording and exit codes.
fn flag_error(err: clap::Error) -> i32 {
    flag_error_for(err, &std::env::args().collect::<Vec<_>>())
}

fn flag_error_for(err: clap::Error, args: &[String]) -> i32 {
    let words = argv_path(args);
    let mut path = command_path(&err);
    if path.is_empty() && err.kind() != ErrorKind::InvalidSubcommand {
        path = words.join(" ");
    }
    let usage = usage_args(&path);
    let usage_line = if path.is_empty() {
        "Usage:  berth [OPTIONS] COMMAND".to_string()
    } else {
        format!("Usage:  berth {path} {usage}")
            .trim_end()
            .to_string()
    };
    let help_hint = if path.is_empty() {
        "Run 'berth --help' for more information".to_string()
    } else {
        format!("Run 'berth {path} --help' for more information")
    };
    let invalid = match err.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            0
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            0
        }
        ErrorKind::InvalidSubcommand => {
            let name = if invalid.is_empty() {
                words.last().cloned().unwrap_or_default()
            } else {
                invalid
            };
            let path = words[..words.len().saturating_sub(1)].join(" ");
            let usage_line = format!("Usage:  berth {path}");
            let help_hint = if path.is_empty() {
                "Run 'berth --help' for more information".to_string()
            } else {
                format!("Run 'berth {path} --help' for more information")
            };
            let full = if path.is_empty() {
                format!("berth {name}")
            } else {
                format!("berth {path} {name}")
            };
            if path.is_empty() {
                eprintln!("berth: unknown command: {full}\n\n{help_hint}");
            } else {
                eprintln!("berth: unknown command: {full}\n\n{usage_line}\n\n{help_hint}");
            }
            1
        }
        ErrorKind::MissingSubcommand => {
            eprintln!(
                "berth: '{}' requires a subcommand\n\n{usage_line}\n\n{help_hint}",
                format!("berth {path}").trim()
            );
            1
        }
        ErrorKind::UnknownArgument if !invalid.starts_with('-') => {
            // An extra positional argument, not a flag.
            let what = match path.rsplit(' ').next().unwrap_or("") {
                "images" | "ls" if path.contains("image") || path == "images" => {
                    "requires at most 1 argument"
                }
                "logs" | "attach" | "pull" | "push" | "history" => "requires 1 argument",
                "rename" | "tag" => "requires 2 arguments",
                "port" | "import" => "requires at least 1 and at most 2 arguments",
                _ => "accepts no arguments",
            };
            eprintln!("berth: 'berth {path}' {what}\n\n{usage_line}\n\n{help_hint}");
            1
        }
        ErrorKind::UnknownArgument => {
            let flag = invalid.split('=').next().unwrap_or(&invalid).to_string();
            let shown = if flag.starts_with("--") || flag.len() <= 2 {
                flag
            } else {
                // Docker reports the first unknown letter of a short cluster.
                format!("-{}", flag.chars().nth(1).unwrap_or('?'))
            };
            let msg = if shown.starts_with("--") {
                format!("unknown flag: {shown}")
            } else {
                format!(
                    "unknown shorthand flag: '{}' in {invalid}",
                    shown.trim_start_matches('-')
                )
            };
            eprintln!("{msg}\n\n{usage_line}\n\n{help_hint}");
            125
        }
        ErrorKind::MissingRequiredArgument
        | ErrorKind::TooFewValues
        | ErrorKind::WrongNumberOfValues => {
            // Docker words exact-count commands differently from minimum-count ones.
            let (what, verb) = match path.rsplit(' ').next().unwrap_or("") {
                "logs" | "attach" | "pull" | "push" | "history" => ("1 argument", "Run"),
                "rename" | "tag" | "cp" => ("2 arguments", "Run"),
                "diff" | "export" => ("1 argument", "Run"),
                "port" => ("at least 1 and at most 2 arguments", "Run"),
                "exec" => ("at least 2 arguments", "See"),
                "import" => ("at least 1 and at most 2 arguments", "See"),
                _ => ("at least 1 argument", "See"),
            };
            eprintln!("berth: 'berth {path}' requires {what}\n\n{usage_line}\n\n{verb} 'berth {path} --help' for more information");
            1
        }
        _ if first_line(&err).starts_with("a value is required for") => {
            eprintln!(
                "{}\n\n{usage_line}\n\n{help_hint}",
                needs_argument(&err, args)
            );
            125
        }
        ErrorKind::ArgumentConflict | ErrorKind::TooManyValues => {
            eprintln!("berth: {}\n\n{usage_line}\n\n{help_hint}", first_line(&err));
            1
        }
        _ => {
            eprintln!("{}\n\n{usage_line}\n\n{help_hint}", first_line(&err));
            125
        }
    }
}

/// Docker's "flag needs an argument: 'm' in -m" / "flag needs an argument: --memory".
fn needs_argument(err: &clap::Error, args: &[String]) -> String {
    match args.iter().rev().find(|a| a.starts_with('-')) {
        Some(f) if f.starts_with("--") => format!("flag needs an argument: {f}"),
        Some(f) if f.len() >= 2 => format!(
            "flag needs an argument: '{}' in {f}",
            f.chars().last().unwrap_or('?')
        ),
        _ => first_line(err),
    }
}

fn first_line(err: &clap::Error) -> String {
    let s = err.render().to_string();
    let line = s
        .lines()
        .next()
        .unwrap_or("")
        .trim_start_matches("error: ")
        .to_string();
    line
}

fn main() {
    // Docker ignores SIGPIPE-style failures on stdout (e.g. `berth ps | head`).
    term::ignore_sigpipe_default();
    // A panic must not leave the user's terminal in raw mode.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        term::restore_terminal();
        default_hook(info);
    }));
    // `run` and `build` get a parser of their own (see `cli::RunOnly`): they are the
    // commands whose start-up users feel. Non-UTF-8 arguments still reach clap
    // untouched.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let words: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let parsed = if matches!(
        argv_path(&words).first().map(String::as_str),
        Some("run" | "build")
    ) {
        cli::RunOnly::try_parse_from(&args).map(Cli::from)
    } else {
        Cli::try_parse_from(&args)
    };
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => std::process::exit(flag_error(e)),
    };
    let code = match dispatch(cli) {
        Ok(()) => 0,
        Err(e) => {
            e.print();
            e.code
        }
    };
    term::restore_terminal();
    std::process::exit(code);
}

fn client(cli: &Cli) -> CliResult<berth_client::Client> {
    let host = cli
        .g
        .host
        .clone()
        .unwrap_or_else(|| berth_client::DEFAULT_HOST.to_string());
    let mut c = berth_client::Client::new(&host)?;
    // Docker's TLS flags and DOCKER_TLS_VERIFY/DOCKER_CERT_PATH (tcp:// hosts only).
    if let Some(tls) = berth_client::TlsOptions::from_flags(
        cli.g.tls,
        cli.g.tlsverify,
        cli.g.tlscacert.clone(),
        cli.g.tlscert.clone(),
        cli.g.tlskey.clone(),
    ) {
        c = c.with_tls(&tls)?;
    }
    if let Ok(v) = std::env::var("BERTH_API_VERSION") {
        if !v.is_empty() {
            return Ok(c.with_version(&v));
        }
    }
    Ok(c)
}

fn dispatch(cli: Cli) -> CliResult {
    if cli.g.version {
        println!(
            "Berth version {}, build {}",
            env!("CARGO_PKG_VERSION"),
            system::GIT_COMMIT
        );
        return Ok(());
    }
    let Some(cmd) = cli.cmd.as_ref() else {
        use clap::CommandFactory;
        let _ = Cli::command().print_help();
        return Ok(());
    };
    let c = client(&cli)?;
    match cmd {
        Cmd::Run(a) | Cmd::Container(ContainerCmd::Run(a)) => run::run(&c, a),
        Cmd::Create(a) | Cmd::Container(ContainerCmd::Create(a)) => run::create(&c, a),
        Cmd::Start(a) | Cmd::Container(ContainerCmd::Start(a)) => run::start(&c, a),
        Cmd::Ps(a) | Cmd::Container(ContainerCmd::Ls(a)) => ps::ps(&c, a),
        Cmd::Inspect(a) => inspect::inspect(&c, a),
        Cmd::Container(ContainerCmd::Inspect(a)) => inspect::inspect_containers(&c, a),
        Cmd::Image(ImageCmd::Inspect(a)) => inspect::inspect_images(&c, a),
        Cmd::Logs(a) | Cmd::Container(ContainerCmd::Logs(a)) => logs::logs(&c, a),
        Cmd::Stop(a) | Cmd::Container(ContainerCmd::Stop(a)) => container::stop(&c, a, false),
        Cmd::Restart(a) | Cmd::Container(ContainerCmd::Restart(a)) => container::stop(&c, a, true),
        Cmd::Kill(a) | Cmd::Container(ContainerCmd::Kill(a)) => container::kill(&c, a),
        Cmd::Pause(a) | Cmd::Container(ContainerCmd::Pause(a)) => container::pause(&c, a, true),
        Cmd::Unpause(a) | Cmd::Container(ContainerCmd::Unpause(a)) => {
            container::pause(&c, a, false)
        }
        Cmd::Rm(a) | Cmd::Container(ContainerCmd::Rm(a)) => container::rm(&c, a),
        Cmd::Rename(a) | Cmd::Container(ContainerCmd::Rename(a)) => container::rename(&c, a),
        Cmd::Wait(a) | Cmd::Container(ContainerCmd::Wait(a)) => container::wait(&c, a),
        Cmd::Exec(a) | Cmd::Container(ContainerCmd::Exec(a)) => exec::exec(&c, a),
        Cmd::Attach(a) | Cmd::Container(ContainerCmd::Attach(a)) => attach::attach_cmd(&c, a),
        Cmd::Top(a) | Cmd::Container(ContainerCmd::Top(a)) => container::top(&c, a),
        Cmd::Update(a) | Cmd::Container(ContainerCmd::Update(a)) => container::update(&c, a),
        Cmd::Container(ContainerCmd::Prune(a)) => container::prune(&c, a),
        Cmd::Build(a) | Cmd::Image(ImageCmd::Build(a)) => build::build(&c, a),
        Cmd::Import(a) | Cmd::Image(ImageCmd::Import(a)) => images::import(&c, a),
        Cmd::Images(a) | Cmd::Image(ImageCmd::Ls(a)) => images::images(&c, a),
        Cmd::Rmi(a) | Cmd::Image(ImageCmd::Rm(a)) => images::rmi(&c, a),
        Cmd::Tag(a) | Cmd::Image(ImageCmd::Tag(a)) => images::tag(&c, a),
        Cmd::Version(a) => system::version(&c, a),
        Cmd::Info(a) | Cmd::System(SystemCmd::Info(a)) => system::info(&c, a),
        Cmd::Stats(a) | Cmd::Container(ContainerCmd::Stats(a)) => stats::stats(&c, a),
        Cmd::Events(a) | Cmd::System(SystemCmd::Events(a)) => events::events(&c, a),
        Cmd::Port(a) | Cmd::Container(ContainerCmd::Port(a)) => container::port(&c, a),
        Cmd::History(a) | Cmd::Image(ImageCmd::History(a)) => images::history(&c, a),
        Cmd::Pull(a) | Cmd::Image(ImageCmd::Pull(a)) => images::pull(&c, a),
        Cmd::Push(a) | Cmd::Image(ImageCmd::Push(a)) => images::push(&c, a),
        Cmd::Login(a) => auth::login(&c, a),
        Cmd::Logout(a) => auth::logout(a),
        Cmd::System(SystemCmd::Df(a)) => system::df(&c, a),
        Cmd::System(SystemCmd::Prune(a)) => system::prune(&c, a),
        Cmd::Cp(a) | Cmd::Container(ContainerCmd::Cp(a)) => cp::cp(&c, a),
        Cmd::Diff(a) | Cmd::Container(ContainerCmd::Diff(a)) => container::diff(&c, a),
        Cmd::Commit(a) | Cmd::Container(ContainerCmd::Commit(a)) => container::commit(&c, a),
        Cmd::Export(a) | Cmd::Container(ContainerCmd::Export(a)) => container::export(&c, a),
        Cmd::Save(a) | Cmd::Image(ImageCmd::Save(a)) => container::save(&c, a),
        Cmd::Load(a) | Cmd::Image(ImageCmd::Load(a)) => images::load(&c, a),
        Cmd::Image(ImageCmd::Prune(a)) => images::prune(&c, a),
        Cmd::Volume(VolumeCmd::Create(a)) => objects::volume_create(&c, a),
        Cmd::Volume(VolumeCmd::Ls(a)) => objects::volume_ls(&c, a),
        Cmd::Volume(VolumeCmd::Inspect(a)) => objects::volume_inspect(&c, a),
        Cmd::Volume(VolumeCmd::Rm(a)) => objects::volume_rm(&c, a),
        Cmd::Volume(VolumeCmd::Prune(a)) => objects::volume_prune(&c, a),
        Cmd::Network(NetworkCmd::Create(a)) => objects::network_create(&c, a),
        Cmd::Network(NetworkCmd::Ls(a)) => objects::network_ls(&c, a),
        Cmd::Network(NetworkCmd::Inspect(a)) => objects::network_inspect(&c, a),
        Cmd::Network(NetworkCmd::Rm(a)) => objects::network_rm(&c, a),
        Cmd::Network(NetworkCmd::Connect(a)) => objects::network_connect(&c, a),
        Cmd::Network(NetworkCmd::Disconnect(a)) => objects::network_disconnect(&c, a),
        Cmd::Network(NetworkCmd::Prune(a)) => objects::network_prune(&c, a),
        Cmd::Compose(a) => compose::compose(&c, a),
    }
}

#[cfg(test)]
mod tests;
