//! Dockerfile-style "change" lines (`docker import --change`, `docker commit --change`)
//! applied to an image's `config`. Accepted instructions are Docker's: CMD, ENTRYPOINT,
//! ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR; anything
//! else fails with Docker's `<instr> is not a valid change command`.
//!
//! Word splitting, quote removal and `$VAR` / `${VAR}` / `${VAR:-x}` / `${VAR:+x}`
//! expansion follow the Dockerfile rules for the instructions that expand (ENV, LABEL,
//! EXPOSE, USER, WORKDIR, VOLUME, STOPSIGNAL); CMD/ENTRYPOINT/HEALTHCHECK keep their text.

use std::collections::BTreeMap;

use crate::config::{ContainerConfig, Empty, HealthConfig};
use crate::error::ImageError;

/// The shell Docker prepends to shell-form commands on Linux.
pub const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

const VALID: &[&str] = &[
    "cmd",
    "entrypoint",
    "env",
    "expose",
    "healthcheck",
    "label",
    "onbuild",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

fn err(msg: impl Into<String>) -> ImageError {
    ImageError::InvalidArgument(msg.into())
}

/// Apply `changes` (each may hold several lines) to `config`, Docker's way.
pub fn apply_changes(config: &mut ContainerConfig, changes: &[String]) -> Result<(), ImageError> {
    if changes.is_empty() {
        return Ok(());
    }
    let text = changes.join("\n");
    let lines = logical_lines(&text);
    // Validate every instruction before changing anything, as Docker does.
    let mut parsed: Vec<(String, String)> = Vec::new();
    for line in lines {
        let line = line.trim();
        let (instr, rest) = match line.find(char::is_whitespace) {
            Some(i) => (&line[..i], line[i..].trim()),
            None => (line, ""),
        };
        let lower = instr.to_lowercase();
        if !VALID.contains(&lower.as_str()) {
            return Err(err(format!("{lower} is not a valid change command")));
        }
        parsed.push((lower, rest.to_string()));
    }
    let mut cmd_set = false;
    for (instr, rest) in parsed {
        dispatch(config, &instr, &rest, &mut cmd_set)?;
    }
    Ok(())
}

/// Join continuation lines (trailing `\`), drop blank lines and `#` comments.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for raw in text.lines() {
        let t = raw.trim_start();
        if cur.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        if let Some(head) = raw.trim_end().strip_suffix('\\') {
            cur.push_str(head);
            continue;
        }
        cur.push_str(raw);
        out.push(std::mem::take(&mut cur));
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

fn dispatch(
    c: &mut ContainerConfig,
    instr: &str,
    rest: &str,
    cmd_set: &mut bool,
) -> Result<(), ImageError> {
    let upper = instr.to_uppercase();
    let env = c.env.clone().unwrap_or_default();
    match instr {
        "cmd" => {
            c.cmd = Some(command_form(rest, &upper)?);
            *cmd_set = true;
        }
        "entrypoint" => {
            c.entrypoint = Some(command_form(rest, &upper)?);
            if !*cmd_set {
                c.cmd = None;
            }
        }
        "env" => {
            for (k, v) in name_values(rest, &upper, &env)? {
                let mut vars = c.env.take().unwrap_or_default();
                let entry = format!("{k}={v}");
                match vars
                    .iter_mut()
                    .find(|e| e.split('=').next() == Some(k.as_str()))
                {
                    Some(slot) => *slot = entry,
                    None => vars.push(entry),
                }
                c.env = Some(vars);
            }
        }
        "label" => {
            for (k, v) in name_values(rest, &upper, &env)? {
                c.labels.get_or_insert_with(BTreeMap::new).insert(k, v);
            }
        }
        "expose" => {
            let words = process_words(rest, &env)?;
            if words.is_empty() {
                return Err(err("EXPOSE requires at least one argument"));
            }
            for w in words {
                for port in parse_port_spec(&w)? {
                    c.exposed_ports
                        .get_or_insert_with(BTreeMap::new)
                        .insert(port, Empty {});
                }
            }
        }
        "user" => c.user = single(rest, &upper, &env)?,
        "workdir" => {
            let dir = single(rest, &upper, &env)?;
            c.working_dir = if dir.starts_with('/') {
                dir
            } else {
                join_workdir(&c.working_dir, &dir)
            };
        }
        "stopsignal" => {
            let sig = single(rest, &upper, &env)?;
            validate_signal(&sig)?;
            c.stop_signal = sig;
        }
        "volume" => {
            let vols = match json_array(rest) {
                Some(v) => v
                    .into_iter()
                    .map(|w| process_word(&w, &env))
                    .collect::<Result<Vec<_>, _>>()?,
                None => process_words(rest, &env)?,
            };
            if vols.is_empty() {
                return Err(err("VOLUME requires at least one argument"));
            }
            for v in vols {
                let v = v.trim().to_string();
                if v.is_empty() {
                    return Err(err("VOLUME specified can not be an empty string"));
                }
                c.volumes
                    .get_or_insert_with(BTreeMap::new)
                    .insert(v, Empty {});
            }
        }
        "onbuild" => {
            if rest.is_empty() {
                return Err(err("ONBUILD requires at least one argument"));
            }
            let (trigger, tail) = match rest.find(char::is_whitespace) {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            let trigger = trigger.to_uppercase();
            match trigger.as_str() {
                "ONBUILD" => {
                    return Err(err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"))
                }
                "FROM" | "MAINTAINER" => {
                    return Err(err(format!(
                        "{trigger} isn't allowed as an ONBUILD trigger"
                    )))
                }
                _ => {}
            }
            c.on_build
                .get_or_insert_with(Vec::new)
                .push(format!("{trigger}{tail}"));
        }
        "healthcheck" => c.healthcheck = Some(healthcheck(rest)?),
        other => return Err(err(format!("{other} is not a valid change command"))),
    }
    Ok(())
}

/// Exec form (a JSON array of strings) or shell form (`/bin/sh -c "<text>"`).
fn command_form(rest: &str, instr: &str) -> Result<Vec<String>, ImageError> {
    if let Some(v) = json_array(rest) {
        return Ok(v);
    }
    if rest.is_empty() {
        return Err(err(format!("{instr} requires at least one argument")));
    }
    let mut v: Vec<String> = DEFAULT_SHELL.iter().map(|s| s.to_string()).collect();
    v.push(rest.to_string());
    Ok(v)
}

fn json_array(rest: &str) -> Option<Vec<String>> {
    if !rest.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(rest).ok()
}

/// `KEY value…` (old form, the rest of the line is the value) or `k=v k2="v 2"…`.
fn name_values(
    rest: &str,
    instr: &str,
    env: &[String],
) -> Result<Vec<(String, String)>, ImageError> {
    let words = split_words(rest);
    let Some(first) = words.first() else {
        return Err(err(format!("{instr} requires at least one argument")));
    };
    if !first.contains('=') {
        let Some(i) = rest.find(char::is_whitespace) else {
            return Err(err(format!("{instr} must have two arguments")));
        };
        let key = process_word(&rest[..i], env)?;
        let value = process_word(rest[i..].trim_start(), env)?;
        return Ok(vec![(key, value)]);
    }
    let mut out = Vec::new();
    for w in &words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(err(format!(
                "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
            )));
        };
        let key = process_word(k, env)?;
        if key.is_empty() {
            return Err(err(format!("{instr} names can not be blank")));
        }
        out.push((key, process_word(v, env)?));
    }
    Ok(out)
}

fn single(rest: &str, instr: &str, env: &[String]) -> Result<String, ImageError> {
    let v = process_word(rest, env)?;
    if v.is_empty() {
        return Err(err(format!("{instr} requires exactly one argument")));
    }
    Ok(v)
}

/// Split on unquoted whitespace, keeping quotes and escapes in the words.
fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        match (quote, ch) {
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            (_, '\\') => {
                cur.push('\\');
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (None, '"' | '\'') => {
                quote = Some(ch);
                cur.push(ch);
            }
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            (_, c) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Quote removal, escapes and variable expansion of one word.
fn process_word(word: &str, env: &[String]) -> Result<String, ImageError> {
    let mut out = String::new();
    let chars: Vec<char> = word.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\'' => {
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    out.push(chars[i]);
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(err(
                        "unexpected end of statement while looking for matching single-quote",
                    ));
                }
                i += 1;
            }
            '"' => {
                i += 1;
                loop {
                    if i >= chars.len() {
                        return Err(err(
                            "unexpected end of statement while looking for matching double-quote",
                        ));
                    }
                    match chars[i] {
                        '"' => {
                            i += 1;
                            break;
                        }
                        '\\' if i + 1 < chars.len() && matches!(chars[i + 1], '"' | '\\' | '$') => {
                            out.push(chars[i + 1]);
                            i += 2;
                        }
                        '$' => i = expand(&chars, i, env, &mut out)?,
                        c => {
                            out.push(c);
                            i += 1;
                        }
                    }
                }
            }
            '\\' => {
                if i + 1 < chars.len() {
                    out.push(chars[i + 1]);
                }
                i += 2;
            }
            '$' => i = expand(&chars, i, env, &mut out)?,
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Words after processing (for EXPOSE and VOLUME's list form).
fn process_words(s: &str, env: &[String]) -> Result<Vec<String>, ImageError> {
    split_words(s)
        .iter()
        .map(|w| process_word(w, env))
        .collect()
}

fn lookup<'a>(env: &'a [String], name: &str) -> Option<&'a str> {
    env.iter().rev().find_map(|e| {
        e.split_once('=')
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v)
    })
}

/// Expand `$NAME`, `${NAME}`, `${NAME:-word}`, `${NAME:+word}` at `chars[i] == '$'`;
/// returns the index after the expression.
fn expand(chars: &[char], i: usize, env: &[String], out: &mut String) -> Result<usize, ImageError> {
    let mut j = i + 1;
    if j < chars.len() && chars[j] == '{' {
        j += 1;
        let start = j;
        while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
            j += 1;
        }
        let name: String = chars[start..j].iter().collect();
        if j < chars.len() && chars[j] == '}' {
            out.push_str(lookup(env, &name).unwrap_or(""));
            return Ok(j + 1);
        }
        if j + 1 < chars.len() && chars[j] == ':' && matches!(chars[j + 1], '-' | '+') {
            let op = chars[j + 1];
            let wstart = j + 2;
            let mut k = wstart;
            while k < chars.len() && chars[k] != '}' {
                k += 1;
            }
            if k >= chars.len() {
                return Err(err("missing '}' in variable expansion"));
            }
            let word: String = chars[wstart..k].iter().collect();
            let val = lookup(env, &name).filter(|v| !v.is_empty());
            match (op, val) {
                ('-', Some(v)) => out.push_str(v),
                ('-', None) => out.push_str(&word),
                ('+', Some(_)) => out.push_str(&word),
                _ => {}
            }
            return Ok(k + 1);
        }
        return Err(err("missing '}' in variable expansion"));
    }
    let start = j;
    while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
        j += 1;
    }
    if j == start {
        out.push('$');
        return Ok(j);
    }
    let name: String = chars[start..j].iter().collect();
    out.push_str(lookup(env, &name).unwrap_or(""));
    Ok(j)
}

/// `80`, `80/tcp`, `8000-8002/udp` → `["80/tcp"]`, ….
pub fn parse_port_spec(spec: &str) -> Result<Vec<String>, ImageError> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, proto.to_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(err(format!("invalid proto: {proto}")));
    }
    let bad = || err(format!("invalid containerPort: {ports}"));
    let parse = |s: &str| s.parse::<u16>().map_err(|_| bad());
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let p = parse(ports)?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(bad());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

fn join_workdir(current: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in current.split('/').chain(rel.split('/')) {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

const SIGNALS: &[&str] = &[
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "UNUSED", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
];

/// Docker accepts a number, a name with or without `SIG`, or `RTMIN+n` / `RTMAX-n`.
fn validate_signal(s: &str) -> Result<(), ImageError> {
    if let Ok(n) = s.parse::<u32>() {
        if n == 0 {
            return Err(err(format!("Invalid signal: {s}")));
        }
        return Ok(());
    }
    let up = s.to_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let rt = |p: &str| {
        name.strip_prefix(p)
            .is_some_and(|n| n.is_empty() || n[1..].parse::<u8>().is_ok())
    };
    if SIGNALS.contains(&name) || rt("RTMIN") || rt("RTMAX") {
        Ok(())
    } else {
        Err(err(format!("Invalid signal: {s}")))
    }
}

/// `HEALTHCHECK [--interval=…] [--timeout=…] [--start-period=…] [--start-interval=…]
/// [--retries=N] CMD …` or `HEALTHCHECK NONE`.
fn healthcheck(rest: &str) -> Result<HealthConfig, ImageError> {
    let mut h = HealthConfig::default();
    let mut s = rest.trim_start();
    let mut had_flags = false;
    while let Some(flag) = s.strip_prefix("--") {
        let end = flag.find(char::is_whitespace).unwrap_or(flag.len());
        let (kv, tail) = flag.split_at(end);
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| err(format!("missing a value on flag: {kv}")))?;
        let v = v.trim_matches('"');
        match k {
            "interval" => h.interval = duration_flag(k, v)?,
            "timeout" => h.timeout = duration_flag(k, v)?,
            "start-period" => h.start_period = duration_flag(k, v)?,
            "start-interval" => h.start_interval = duration_flag(k, v)?,
            "retries" => {
                let n: i64 = v
                    .parse()
                    .map_err(|_| err(format!("invalid value for --retries: {v}")))?;
                if n < 0 {
                    return Err(err(format!("--retries cannot be negative ({n})")));
                }
                h.retries = n;
            }
            _ => return Err(err(format!("Unknown flag: {k}"))),
        }
        had_flags = true;
        s = tail.trim_start();
    }
    let (kind, args) = match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, ""),
    };
    match kind.to_uppercase().as_str() {
        "NONE" => {
            if had_flags || !args.is_empty() {
                return Err(err("HEALTHCHECK NONE takes no arguments"));
            }
            h.test = vec!["NONE".into()];
        }
        "CMD" => {
            if args.is_empty() {
                return Err(err("Missing command after HEALTHCHECK CMD"));
            }
            h.test = match json_array(args) {
                Some(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
                None => vec!["CMD-SHELL".into(), args.to_string()],
            };
        }
        other => {
            return Err(err(format!(
                "Unknown type {other:?} in HEALTHCHECK (try CMD)"
            )))
        }
    }
    Ok(h)
}

fn duration_flag(name: &str, v: &str) -> Result<i64, ImageError> {
    let d = parse_go_duration(v).ok_or_else(|| err(format!("time: invalid duration {v:?}")))?;
    if d != 0 && d < 1_000_000 {
        return Err(err(format!("Interval {name:?} cannot be less than 1ms")));
    }
    Ok(d)
}

/// Go's `time.ParseDuration` for non-negative values: `1h2m3.5s`, `300ms`, `0`.
pub fn parse_go_duration(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[unit_end..];
    }
    Some(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(lines: &[&str]) -> Result<ContainerConfig, ImageError> {
        let mut c = ContainerConfig::default();
        apply_changes(
            &mut c,
            &lines.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )?;
        Ok(c)
    }

    fn v(s: &[&str]) -> Option<Vec<String>> {
        Some(s.iter().map(|x| x.to_string()).collect())
    }

    #[test]
    fn cmd_and_entrypoint_forms() {
        let c = apply(&["CMD [\"/bin/echo\", \"hi\"]"]).unwrap();
        assert_eq!(c.cmd, v(&["/bin/echo", "hi"]));
        let c = apply(&["cmd echo $HOME && ls"]).unwrap();
        assert_eq!(c.cmd, v(&["/bin/sh", "-c", "echo $HOME && ls"]));
        let c = apply(&["CMD [not json"]).unwrap();
        assert_eq!(c.cmd, v(&["/bin/sh", "-c", "[not json"]));
        // ENTRYPOINT clears a CMD not set by these changes, keeps one that was.
        let mut base = ContainerConfig {
            cmd: v(&["old"]),
            ..Default::default()
        };
        apply_changes(&mut base, &["ENTRYPOINT [\"/bin/top\"]".into()]).unwrap();
        assert_eq!(base.cmd, None);
        assert_eq!(base.entrypoint, v(&["/bin/top"]));
        let c = apply(&["CMD [\"-b\"]", "ENTRYPOINT top"]).unwrap();
        assert_eq!(c.cmd, v(&["-b"]));
        assert_eq!(c.entrypoint, v(&["/bin/sh", "-c", "top"]));
    }

    #[test]
    fn env_label_forms_and_expansion() {
        let c = apply(&[
            "ENV A=1 B=\"two words\"",
            "ENV C $A-x",
            "ENV A=3 D=${B:-no}/${Z:-dflt}",
        ])
        .unwrap();
        assert_eq!(
            c.env,
            v(&["A=3", "B=two words", "C=1-x", "D=two words/dflt"])
        );
        let c = apply(&["LABEL a=b \"c d\"='e f'", "LABEL old style value"]).unwrap();
        let labels = c.labels.unwrap();
        assert_eq!(labels["a"], "b");
        assert_eq!(labels["c d"], "e f");
        assert_eq!(labels["old"], "style value");
        assert_eq!(
            apply(&["ENV A=1 B"]).unwrap_err().to_string(),
            "Syntax error - can't find = in \"B\". Must be of the form: name=value"
        );
        assert_eq!(
            apply(&["ENV"]).unwrap_err().to_string(),
            "ENV requires at least one argument"
        );
    }

    #[test]
    fn other_instructions() {
        let c = apply(&[
            "EXPOSE 80 53/udp 8000-8001",
            "WORKDIR /app",
            "WORKDIR sub/../x",
            "USER nobody:nogroup",
            "VOLUME [\"/data\", \"/logs\"]",
            "VOLUME /a /b",
            "STOPSIGNAL SIGUSR1",
            "ONBUILD run echo hi",
        ])
        .unwrap();
        let ports: Vec<_> = c.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(ports, ["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
        assert_eq!(c.working_dir, "/app/x");
        assert_eq!(c.user, "nobody:nogroup");
        let vols: Vec<_> = c.volumes.unwrap().into_keys().collect();
        assert_eq!(vols, ["/a", "/b", "/data", "/logs"]);
        assert_eq!(c.stop_signal, "SIGUSR1");
        assert_eq!(c.on_build, v(&["RUN echo hi"]));
        assert_eq!(
            apply(&["STOPSIGNAL FOO"]).unwrap_err().to_string(),
            "Invalid signal: FOO"
        );
        assert_eq!(
            apply(&["EXPOSE abc"]).unwrap_err().to_string(),
            "invalid containerPort: abc"
        );
        assert_eq!(
            apply(&["ONBUILD FROM x"]).unwrap_err().to_string(),
            "FROM isn't allowed as an ONBUILD trigger"
        );
    }

    #[test]
    fn healthcheck_forms() {
        let c = apply(&["HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://x/ || exit 1"])
            .unwrap();
        let h = c.healthcheck.unwrap();
        assert_eq!(h.test, ["CMD-SHELL", "curl -f http://x/ || exit 1"]);
        assert_eq!(h.interval, 5_000_000_000);
        assert_eq!(h.retries, 3);
        let c = apply(&["HEALTHCHECK CMD [\"/bin/true\"]"]).unwrap();
        assert_eq!(c.healthcheck.unwrap().test, ["CMD", "/bin/true"]);
        assert_eq!(
            apply(&["HEALTHCHECK NONE"])
                .unwrap()
                .healthcheck
                .unwrap()
                .test,
            ["NONE"]
        );
        assert_eq!(parse_go_duration("1m30.5s"), Some(90_500_000_000));
        assert_eq!(parse_go_duration("5x"), None);
    }

    #[test]
    fn unknown_instructions_are_refused_first() {
        assert_eq!(
            apply(&["RUN echo"]).unwrap_err().to_string(),
            "run is not a valid change command"
        );
        assert_eq!(
            apply(&["FOO bar"]).unwrap_err().to_string(),
            "foo is not a valid change command"
        );
        // Nothing is applied when a later line is invalid.
        let mut c = ContainerConfig::default();
        assert!(apply_changes(&mut c, &["USER x".into(), "COPY a b".into()]).is_err());
        assert_eq!(c.user, "");
        // Blank lines, comments and continuations.
        let c = apply(&["# comment\n\nENV A=1 \\\n  B=2"]).unwrap();
        assert_eq!(c.env, v(&["A=1", "B=2"]));
    }
}
