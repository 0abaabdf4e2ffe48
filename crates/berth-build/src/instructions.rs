//! Typed instructions: [`Node`] → [`Instruction`] with Docker's validation and error texts.
//!
//! Values stay unexpanded here (expansion needs the environment of the stage at that point,
//! which includes the base image's `Env`, so [`crate::builder`] expands at dispatch time).
//! What is checked here is everything that does not depend on variables: keywords, flags
//! and their values' syntax, argument counts, JSON requirements, ONBUILD triggers.

use crate::error::ParseError;
use crate::parser::{Heredoc, Node};

/// Command line of RUN/CMD/ENTRYPOINT/HEALTHCHECK CMD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdLine {
    /// JSON (exec) form.
    Exec(Vec<String>),
    /// Shell form: run with the stage's SHELL (default `/bin/sh -c`).
    Shell(String),
}

/// `RUN --mount` kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

/// One `RUN --mount=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMount {
    pub kind: MountKind,
    pub target: String,
    /// Path inside `from` (or the context for bind mounts without `from`).
    pub source: Option<String>,
    /// Stage name/index or image (unexpanded).
    pub from: Option<String>,
    pub readonly: bool,
    /// Cache id (defaults to the target).
    pub id: Option<String>,
    /// `shared` (default), `private` or `locked`.
    pub sharing: String,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub required: bool,
    /// `type=secret,env=VAR`: the secret's value also goes into the step's environment.
    pub env: Option<String>,
}

/// COPY and ADD arguments (unexpanded).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyArgs {
    /// Sources as written; heredoc sources look like `<<EOF`.
    pub sources: Vec<String>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
    pub excludes: Vec<String>,
    pub heredocs: Vec<Heredoc>,
}

/// HEALTHCHECK (durations in nanoseconds; 0 = inherit/default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSpec {
    /// `["NONE"]`, `["CMD", …]` or `["CMD-SHELL", cmd]`.
    pub test: Vec<String>,
    pub interval: i64,
    pub timeout: i64,
    pub start_period: i64,
    pub start_interval: i64,
    pub retries: i64,
}

/// A validated instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    From {
        image: String,
        name: Option<String>,
        platform: Option<String>,
    },
    Run {
        cmd: CmdLine,
        mounts: Vec<RunMount>,
        network: Option<String>,
        heredocs: Vec<Heredoc>,
    },
    Cmd(CmdLine),
    Entrypoint(CmdLine),
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    Arg(Vec<(String, Option<String>)>),
    Workdir(String),
    User(String),
    StopSignal(String),
    Maintainer(String),
    Copy(CopyArgs),
    Add(CopyArgs),
    Expose(Vec<String>),
    Volume(Vec<String>),
    Healthcheck(HealthSpec),
    Shell(Vec<String>),
    /// The trigger text as written after ONBUILD.
    OnBuild(String),
}

impl Instruction {
    /// Upper-case keyword (`RUN`).
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::From { .. } => "FROM",
            Instruction::Run { .. } => "RUN",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Env(_) => "ENV",
            Instruction::Label(_) => "LABEL",
            Instruction::Arg(_) => "ARG",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::User(_) => "USER",
            Instruction::StopSignal(_) => "STOPSIGNAL",
            Instruction::Maintainer(_) => "MAINTAINER",
            Instruction::Copy(_) => "COPY",
            Instruction::Add(_) => "ADD",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Volume(_) => "VOLUME",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::Shell(_) => "SHELL",
            Instruction::OnBuild(_) => "ONBUILD",
        }
    }
}

/// Leading `--flag` words of an instruction, checked against the allowed set.
struct Flags {
    values: Vec<(String, Option<String>)>,
}

impl Flags {
    fn parse(words: &[String], allowed: &[&str], multi: &[&str]) -> Result<Flags, String> {
        let mut values: Vec<(String, Option<String>)> = Vec::new();
        for w in words {
            let Some(body) = w.strip_prefix("--") else {
                return Err(format!("flag '{w}' must start with '--'"));
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (body.to_string(), None),
            };
            if !allowed.contains(&name.as_str()) {
                return Err(format!("unknown flag: {name}"));
            }
            if !multi.contains(&name.as_str()) && values.iter().any(|(n, _)| *n == name) {
                return Err(format!("duplicate flag specified: {name}"));
            }
            values.push((name, value));
        }
        Ok(Flags { values })
    }

    fn string(&self, name: &str) -> Result<Option<String>, String> {
        match self.values.iter().find(|(n, _)| n == name) {
            None => Ok(None),
            Some((_, Some(v))) => Ok(Some(v.clone())),
            Some((_, None)) => Err(format!("missing a value on flag: {name}")),
        }
    }

    fn strings(&self, name: &str) -> Result<Vec<String>, String> {
        self.values
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(n, v)| {
                v.clone()
                    .ok_or_else(|| format!("missing a value on flag: {n}"))
            })
            .collect()
    }

    fn boolean(&self, name: &str) -> Result<bool, String> {
        match self.values.iter().find(|(n, _)| n == name) {
            None => Ok(false),
            Some((_, None)) => Ok(true),
            Some((_, Some(v))) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(format!("expecting boolean value for flag {name}, not: {v}")),
            },
        }
    }
}

/// Converts a parsed node to an instruction.
pub fn parse_instruction(node: &Node) -> Result<Instruction, ParseError> {
    parse_inner(node).map_err(|message| ParseError {
        line: node.start_line,
        column: node.column,
        end_line: node.end_line,
        message,
    })
}

fn at_least_one(kw: &str) -> String {
    format!("{kw} requires at least one argument")
}

fn exactly_one(kw: &str) -> String {
    format!("{kw} requires exactly one argument")
}

fn split_ws(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn cmdline(node: &Node) -> CmdLine {
    match &node.json {
        Some(v) => CmdLine::Exec(v.clone()),
        None => CmdLine::Shell(node.rest.clone()),
    }
}

fn parse_inner(node: &Node) -> Result<Instruction, String> {
    let kw = node.keyword.to_ascii_uppercase();
    let none: &[&str] = &[];
    let flags_for = |allowed: &[&str], multi: &[&str]| Flags::parse(&node.flags, allowed, multi);
    match node.keyword.as_str() {
        "from" => {
            let f = flags_for(&["platform"], none)?;
            let args = split_ws(&node.rest);
            let name = match args.len() {
                1 => None,
                3 if args[1].eq_ignore_ascii_case("as") => {
                    let name = args[2].to_ascii_lowercase();
                    if !valid_stage_name(&name) {
                        return Err(format!(
                            "invalid name for build stage: \"{}\", name can't start with a number or contain symbols",
                            args[2]
                        ));
                    }
                    Some(name)
                }
                _ => return Err("FROM requires either one or three arguments".into()),
            };
            Ok(Instruction::From {
                image: args[0].clone(),
                name,
                platform: f.string("platform")?,
            })
        }
        "run" => {
            let f = flags_for(&["mount", "network", "security"], &["mount"])?;
            if node.rest.trim().is_empty() && node.json.is_none() {
                return Err(at_least_one(&kw));
            }
            let mounts = f
                .strings("mount")?
                .iter()
                .map(|m| parse_mount(m))
                .collect::<Result<Vec<_>, _>>()?;
            let network = f.string("network")?;
            if let Some(n) = &network {
                if !matches!(n.as_str(), "default" | "none" | "host") {
                    return Err(format!("unsupported network mode {n:?}"));
                }
            }
            if let Some(s) = f.string("security")? {
                if !matches!(s.as_str(), "sandbox" | "insecure") {
                    return Err(format!("unsupported security mode {s:?}"));
                }
            }
            Ok(Instruction::Run {
                cmd: cmdline(node),
                mounts,
                network,
                heredocs: node.heredocs.clone(),
            })
        }
        "cmd" | "entrypoint" => {
            flags_for(none, none)?;
            let c = cmdline(node);
            Ok(if node.keyword == "cmd" {
                Instruction::Cmd(c)
            } else {
                Instruction::Entrypoint(c)
            })
        }
        "env" | "label" => {
            flags_for(none, none)?;
            let pairs = parse_name_val(&node.rest, &kw, node.escape)?;
            Ok(if node.keyword == "env" {
                Instruction::Env(pairs)
            } else {
                Instruction::Label(pairs)
            })
        }
        "arg" => {
            flags_for(none, none)?;
            let words = parse_words(&node.rest, node.escape);
            if words.is_empty() {
                return Err("ARG requires exactly one argument".into());
            }
            let mut args = Vec::new();
            for w in words {
                match w.split_once('=') {
                    Some((k, v)) => args.push((k.to_string(), Some(v.to_string()))),
                    None => args.push((w, None)),
                }
                if args.last().is_some_and(|(k, _)| k.is_empty()) {
                    return Err("ARG names can not be blank".into());
                }
            }
            Ok(Instruction::Arg(args))
        }
        "workdir" | "user" | "stopsignal" | "maintainer" => {
            flags_for(none, none)?;
            let v = node.rest.trim().to_string();
            if v.is_empty() {
                return Err(exactly_one(&kw));
            }
            Ok(match node.keyword.as_str() {
                "workdir" => Instruction::Workdir(v),
                "user" => Instruction::User(v),
                "stopsignal" => Instruction::StopSignal(v),
                _ => Instruction::Maintainer(v),
            })
        }
        "copy" | "add" => {
            let is_copy = node.keyword == "copy";
            let f = if is_copy {
                flags_for(
                    &["from", "chown", "chmod", "link", "parents", "exclude"],
                    &["exclude"],
                )?
            } else {
                flags_for(
                    &[
                        "chown",
                        "chmod",
                        "link",
                        "checksum",
                        "keep-git-dir",
                        "exclude",
                    ],
                    &["exclude"],
                )?
            };
            let mut words = match &node.json {
                Some(v) => v.clone(),
                None => split_ws(&node.rest),
            };
            if words.is_empty() {
                return Err(format!("{kw} requires at least two arguments"));
            }
            if words.len() == 1 {
                return Err(format!(
                    "{kw} requires at least two arguments, but only one was provided. Destination could not be determined."
                ));
            }
            let dest = words.pop().unwrap_or_default();
            let chmod = f.string("chmod")?;
            if let Some(m) = &chmod {
                if !m.contains('$')
                    && u32::from_str_radix(m, 8)
                        .map(|v| v > 0o7777)
                        .unwrap_or(true)
                {
                    return Err(format!("invalid chmod parameter: {m}"));
                }
            }
            let checksum = if is_copy { None } else { f.string("checksum")? };
            if let Some(c) = &checksum {
                if !words.iter().all(|s| is_url(s)) {
                    return Err("checksum can't be specified for non-HTTP(S) sources".into());
                }
                if !c.starts_with("sha256:")
                    && !c.starts_with("sha384:")
                    && !c.starts_with("sha512:")
                {
                    return Err(format!("invalid checksum digest format: {c}"));
                }
            }
            let args = CopyArgs {
                sources: words,
                dest,
                from: if is_copy { f.string("from")? } else { None },
                chown: f.string("chown")?,
                chmod,
                link: f.boolean("link")?,
                checksum,
                keep_git_dir: if is_copy {
                    false
                } else {
                    f.boolean("keep-git-dir")?
                },
                excludes: f.strings("exclude")?,
                heredocs: node.heredocs.clone(),
            };
            Ok(if is_copy {
                Instruction::Copy(args)
            } else {
                Instruction::Add(args)
            })
        }
        "expose" => {
            flags_for(none, none)?;
            let ports = split_ws(&node.rest);
            if ports.is_empty() {
                return Err(at_least_one(&kw));
            }
            Ok(Instruction::Expose(ports))
        }
        "volume" => {
            flags_for(none, none)?;
            let vols = match &node.json {
                Some(v) => v.clone(),
                None => split_ws(&node.rest),
            };
            if vols.is_empty() {
                return Err(at_least_one(&kw));
            }
            if vols.iter().any(|v| v.trim().is_empty()) {
                return Err("VOLUME specified can not be an empty string".into());
            }
            Ok(Instruction::Volume(vols))
        }
        "shell" => {
            flags_for(none, none)?;
            match &node.json {
                Some(v) if !v.is_empty() => Ok(Instruction::Shell(v.clone())),
                Some(_) => Err(at_least_one(&kw)),
                None if node.rest.trim().is_empty() => Err(at_least_one(&kw)),
                None => Err("SHELL requires the arguments to be in JSON form".into()),
            }
        }
        "healthcheck" => parse_healthcheck(node),
        "onbuild" => {
            let Some(sub) = &node.sub else {
                return Err(at_least_one(&kw));
            };
            match sub.keyword.as_str() {
                "onbuild" => {
                    return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into())
                }
                "from" | "maintainer" => {
                    return Err(format!(
                        "{} isn't allowed as an ONBUILD trigger",
                        sub.keyword.to_ascii_uppercase()
                    ))
                }
                _ => {}
            }
            // The trigger must itself be a valid instruction.
            parse_inner(sub)?;
            Ok(Instruction::OnBuild(node.rest.trim().to_string()))
        }
        _ => Err(format!(
            "unknown instruction: {}",
            node.keyword.to_ascii_uppercase()
        )),
    }
}

/// Stage names: a letter first, then letters, digits, `-`, `_`, `.`.
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

pub(crate) fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// Splits on whitespace outside quotes, keeping quotes and escapes (they are removed by
/// expansion later).
fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut blank_ok = false;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
            }
            None => {
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    blank_ok = true;
                }
                word.push(c);
                if c == escape {
                    if let Some(n) = chars.next() {
                        word.push(n);
                    }
                }
            }
            Some(q) => {
                if c == q {
                    quote = None;
                }
                word.push(c);
                if c == escape && q != '\'' {
                    if let Some(n) = chars.next() {
                        word.push(n);
                    }
                }
            }
        }
    }
    if blank_ok || !word.is_empty() {
        words.push(word);
    }
    words
}

/// ENV/LABEL: `k=v k2="v 2"` or the legacy `k value with spaces`.
fn parse_name_val(rest: &str, kw: &str, escape: char) -> Result<Vec<(String, String)>, String> {
    let words = parse_words(rest, escape);
    if words.is_empty() {
        return Err(at_least_one(kw));
    }
    if !words[0].contains('=') {
        let trimmed = rest.trim();
        let Some(p) = trimmed.find(char::is_whitespace) else {
            return Err(format!("{kw} must have two arguments"));
        };
        let (k, v) = (&trimmed[..p], trimmed[p..].trim_start());
        return Ok(vec![(k.to_string(), v.to_string())]);
    }
    let mut pairs = Vec::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
            ));
        };
        if k.is_empty() {
            return Err(format!("{kw} names can not be blank"));
        }
        pairs.push((k.to_string(), v.to_string()));
    }
    Ok(pairs)
}

fn parse_mount(spec: &str) -> Result<RunMount, String> {
    let mut m = RunMount {
        kind: MountKind::Bind,
        target: String::new(),
        source: None,
        from: None,
        readonly: false,
        id: None,
        sharing: "shared".into(),
        mode: None,
        uid: None,
        gid: None,
        required: false,
        env: None,
    };
    let mut readonly: Option<bool> = None;
    for field in spec.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim().to_string())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let need = |v: &Option<String>| {
            v.clone()
                .ok_or_else(|| format!("invalid field '{field}' must be a key=value pair"))
        };
        let num = |v: &Option<String>, radix: u32| -> Result<u32, String> {
            let s = need(v)?;
            u32::from_str_radix(&s, radix).map_err(|_| format!("invalid value for {k}: {s}"))
        };
        match k.as_str() {
            "type" => {
                m.kind = match need(&v)?.as_str() {
                    "bind" => MountKind::Bind,
                    "cache" => MountKind::Cache,
                    "tmpfs" => MountKind::Tmpfs,
                    "secret" => MountKind::Secret,
                    "ssh" => MountKind::Ssh,
                    other => return Err(format!("unsupported mount type {other:?}")),
                }
            }
            "target" | "dst" | "destination" => m.target = need(&v)?,
            "source" | "src" => m.source = Some(need(&v)?),
            "from" => m.from = Some(need(&v)?),
            "id" => m.id = Some(need(&v)?),
            "sharing" => {
                let s = need(&v)?;
                if !matches!(s.as_str(), "shared" | "private" | "locked") {
                    return Err(format!("unsupported sharing value {s:?}"));
                }
                m.sharing = s;
            }
            "ro" | "readonly" => readonly = Some(v.map(|v| v != "false").unwrap_or(true)),
            "rw" | "readwrite" => readonly = Some(!v.map(|v| v != "false").unwrap_or(true)),
            "mode" => m.mode = Some(num(&v, 8)?),
            "uid" => m.uid = Some(num(&v, 10)?),
            "gid" => m.gid = Some(num(&v, 10)?),
            "required" => m.required = v.map(|v| v != "false").unwrap_or(true),
            "env" => m.env = Some(need(&v)?),
            "size" => {}
            _ => return Err(format!("unexpected key '{k}' in '{field}'")),
        }
    }
    // Bind mounts are read-only unless asked otherwise; caches are writable.
    m.readonly = readonly.unwrap_or(m.kind == MountKind::Bind);
    if m.target.is_empty() && !matches!(m.kind, MountKind::Secret | MountKind::Ssh) {
        return Err("mount destination (target) must be set".into());
    }
    if m.env.is_some() && m.kind != MountKind::Secret {
        return Err("env is only supported for secret mounts".into());
    }
    // A secret's `source` is its id (BuildKit accepts both spellings).
    if m.kind == MountKind::Secret && m.id.is_none() {
        m.id = m.source.take();
    }
    if m.kind == MountKind::Secret && m.id.is_none() && m.target.is_empty() {
        return Err("one of source, target required".into());
    }
    Ok(m)
}

fn parse_healthcheck(node: &Node) -> Result<Instruction, String> {
    let f = Flags::parse(
        &node.flags,
        &[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ],
        &[],
    )?;
    let rest = node.rest.trim();
    if rest.is_empty() {
        return Err(at_least_one("HEALTHCHECK"));
    }
    let (typ, args) = match rest.find(char::is_whitespace) {
        Some(p) => (&rest[..p], rest[p..].trim_start()),
        None => (rest, ""),
    };
    let typ = typ.to_ascii_uppercase();
    let test = match typ.as_str() {
        "NONE" => {
            if !args.is_empty() || !node.flags.is_empty() {
                return Err("HEALTHCHECK NONE takes no arguments".into());
            }
            vec!["NONE".to_string()]
        }
        "CMD" => {
            if args.is_empty() {
                return Err("Missing command after HEALTHCHECK CMD".into());
            }
            match crate::parser::parse_json_array(args)? {
                Some(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
                None => vec!["CMD-SHELL".to_string(), args.to_string()],
            }
        }
        other => return Err(format!("Unknown type \"{other}\" in HEALTHCHECK (try CMD)")),
    };
    let dur = |name: &str| -> Result<i64, String> {
        match f.string(name)? {
            None => Ok(0),
            Some(v) => {
                let d = crate::gofmt::parse_duration(&v).map_err(|e| format!("time: {e}"))?;
                if d == 0 {
                    return Ok(0);
                }
                if d < 1_000_000 {
                    return Err(format!("Interval \"{name}\" cannot be less than 1ms"));
                }
                Ok(d)
            }
        }
    };
    let retries = match f.string("retries")? {
        None => 0,
        Some(v) => {
            let n: i64 = v
                .parse()
                .map_err(|_| format!("strconv.ParseInt: parsing \"{v}\": invalid syntax"))?;
            if n < 0 {
                return Err(format!("--retries cannot be negative ({n})"));
            }
            n
        }
    };
    Ok(Instruction::Healthcheck(HealthSpec {
        test,
        interval: dur("interval")?,
        timeout: dur("timeout")?,
        start_period: dur("start-period")?,
        start_interval: dur("start-interval")?,
        retries,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    fn instr(src: &str) -> Result<Instruction, ParseError> {
        let df = parse(src)?;
        parse_instruction(df.nodes.last().unwrap())
    }

    fn err(src: &str) -> String {
        instr(src).unwrap_err().to_string()
    }

    #[test]
    fn from_forms() {
        assert_eq!(
            instr("FROM --platform=linux/amd64 busybox AS Build").unwrap(),
            Instruction::From {
                image: "busybox".into(),
                name: Some("build".into()),
                platform: Some("linux/amd64".into())
            }
        );
        assert_eq!(
            err("FROM a b"),
            "dockerfile parse error on line 1: FROM requires either one or three arguments"
        );
        assert!(err("FROM a AS 1x").contains("invalid name for build stage"));
    }

    #[test]
    fn unknown_instruction_and_flags() {
        assert_eq!(
            err("FROM x\n\nfoo bar"),
            "dockerfile parse error on line 3: unknown instruction: FOO"
        );
        assert_eq!(
            err("FROM x\nCOPY --bogus=1 a b"),
            "dockerfile parse error on line 2: unknown flag: bogus"
        );
        assert_eq!(
            err("COPY --from a b"),
            "dockerfile parse error on line 1: missing a value on flag: from"
        );
        assert!(err("COPY --from=a --from=b a b").contains("duplicate flag specified: from"));
    }

    #[test]
    fn env_forms() {
        assert_eq!(
            instr("ENV A=1 B=\"two words\" C=x\\ y").unwrap(),
            Instruction::Env(vec![
                ("A".into(), "1".into()),
                ("B".into(), "\"two words\"".into()),
                ("C".into(), "x\\ y".into())
            ])
        );
        assert_eq!(
            instr("ENV PATH /usr/bin  /x").unwrap(),
            Instruction::Env(vec![("PATH".into(), "/usr/bin  /x".into())])
        );
        assert!(err("ENV A").ends_with("ENV must have two arguments"));
        assert!(err("ENV A=1 B")
            .contains("Syntax error - can't find = in \"B\". Must be of the form: name=value"));
        assert!(err("LABEL =x").ends_with("LABEL names can not be blank"));
        assert!(err("ENV").ends_with("ENV requires at least one argument"));
    }

    #[test]
    fn env_with_backtick_escape() {
        assert_eq!(
            instr("# escape=`\nENV A=a` b C=\"x`\"y\"").unwrap(),
            Instruction::Env(vec![
                ("A".into(), "a` b".into()),
                ("C".into(), "\"x`\"y\"".into())
            ])
        );
    }

    #[test]
    fn arg_forms() {
        assert_eq!(
            instr("ARG A B=2 C=\"x y\"").unwrap(),
            Instruction::Arg(vec![
                ("A".into(), None),
                ("B".into(), Some("2".into())),
                ("C".into(), Some("\"x y\"".into()))
            ])
        );
    }

    #[test]
    fn copy_forms() {
        let Instruction::Copy(c) =
            instr("COPY --from=0 --chown=1:1 --chmod=755 a b* /dst/").unwrap()
        else {
            panic!()
        };
        assert_eq!(c.sources, vec!["a", "b*"]);
        assert_eq!(c.dest, "/dst/");
        assert_eq!(c.from.as_deref(), Some("0"));
        assert_eq!(c.chmod.as_deref(), Some("755"));
        let Instruction::Copy(c) = instr("COPY [\"a b\", \"/x y/\"]").unwrap() else {
            panic!()
        };
        assert_eq!(c.sources, vec!["a b"]);
        assert!(err("COPY a").ends_with(
            "COPY requires at least two arguments, but only one was provided. Destination could not be determined."
        ));
        assert!(err("COPY --chmod=999 a b").ends_with("invalid chmod parameter: 999"));
        assert!(err("ADD --checksum=sha256:00 a b").contains("checksum can't be specified"));
        assert!(err("ADD --from=x a b").ends_with("unknown flag: from"));
    }

    #[test]
    fn run_mounts() {
        let Instruction::Run { mounts, network, .. } =
            instr("RUN --mount=type=cache,target=/root/.cache,id=c --mount=target=/src,from=build,rw --network=none make").unwrap()
        else {
            panic!()
        };
        assert_eq!(mounts[0].kind, MountKind::Cache);
        assert_eq!(mounts[0].id.as_deref(), Some("c"));
        assert!(!mounts[0].readonly);
        assert_eq!(mounts[1].kind, MountKind::Bind);
        assert_eq!(mounts[1].from.as_deref(), Some("build"));
        assert!(!mounts[1].readonly);
        assert_eq!(network.as_deref(), Some("none"));
        assert!(
            err("RUN --mount=type=weird,target=/x a").contains("unsupported mount type \"weird\"")
        );
        assert!(err("RUN --mount=type=cache a").contains("mount destination (target) must be set"));
        assert!(err("RUN --network=bridge a").contains("unsupported network mode"));
    }

    #[test]
    fn secret_and_ssh_mounts() {
        let Instruction::Run { mounts, .. } = instr(
            "RUN --mount=type=secret,id=tok,required,mode=0440,uid=5 --mount=type=secret,source=aws,env=AWS --mount=type=ssh,required=false cat",
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(mounts[0].kind, MountKind::Secret);
        assert_eq!(mounts[0].id.as_deref(), Some("tok"));
        assert!(mounts[0].required && mounts[0].target.is_empty());
        assert_eq!((mounts[0].mode, mounts[0].uid), (Some(0o440), Some(5)));
        assert_eq!(mounts[1].id.as_deref(), Some("aws"));
        assert_eq!(mounts[1].env.as_deref(), Some("AWS"));
        assert_eq!(mounts[2].kind, MountKind::Ssh);
        assert!(!mounts[2].required);
        assert!(err("RUN --mount=type=secret a").contains("one of source, target required"));
        assert!(
            err("RUN --mount=type=cache,target=/c,env=X a").contains("only supported for secret")
        );
    }

    #[test]
    fn healthcheck_forms() {
        let Instruction::Healthcheck(h) = instr(
            "HEALTHCHECK --interval=5m --timeout=3s --retries=3 CMD curl -f http://x/ || exit 1",
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(h.test, vec!["CMD-SHELL", "curl -f http://x/ || exit 1"]);
        assert_eq!(h.interval, 300_000_000_000);
        assert_eq!(h.timeout, 3_000_000_000);
        assert_eq!(h.retries, 3);
        let Instruction::Healthcheck(h) = instr("HEALTHCHECK CMD [\"true\"]").unwrap() else {
            panic!()
        };
        assert_eq!(h.test, vec!["CMD", "true"]);
        let Instruction::Healthcheck(h) = instr("healthcheck none").unwrap() else {
            panic!()
        };
        assert_eq!(h.test, vec!["NONE"]);
        assert!(err("HEALTHCHECK NONE x").ends_with("HEALTHCHECK NONE takes no arguments"));
        assert!(err("HEALTHCHECK FOO x").ends_with("Unknown type \"FOO\" in HEALTHCHECK (try CMD)"));
        assert!(err("HEALTHCHECK --interval=1ns CMD x").contains("cannot be less than 1ms"));
        assert!(err("HEALTHCHECK --retries=-1 CMD x").contains("--retries cannot be negative (-1)"));
        assert!(err("HEALTHCHECK CMD").ends_with("Missing command after HEALTHCHECK CMD"));
    }

    #[test]
    fn shell_volume_onbuild() {
        assert_eq!(
            instr("SHELL [\"/bin/bash\", \"-c\"]").unwrap(),
            Instruction::Shell(vec!["/bin/bash".into(), "-c".into()])
        );
        assert!(
            err("SHELL /bin/bash -c").ends_with("SHELL requires the arguments to be in JSON form")
        );
        assert_eq!(
            instr("VOLUME /a /b").unwrap(),
            Instruction::Volume(vec!["/a".into(), "/b".into()])
        );
        assert_eq!(
            instr("VOLUME [\"/a\"]").unwrap(),
            Instruction::Volume(vec!["/a".into()])
        );
        assert!(err("VOLUME [\"\"]").ends_with("VOLUME specified can not be an empty string"));
        assert_eq!(
            instr("ONBUILD RUN echo hi").unwrap(),
            Instruction::OnBuild("RUN echo hi".into())
        );
        assert!(err("ONBUILD ONBUILD RUN x")
            .ends_with("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"));
        assert!(err("ONBUILD FROM x").ends_with("FROM isn't allowed as an ONBUILD trigger"));
        assert!(err("ONBUILD BOGUS x").ends_with("unknown instruction: BOGUS"));
        assert!(err("WORKDIR").ends_with("WORKDIR requires exactly one argument"));
    }
}
