//! Docker-format seccomp profiles compiled into a libseccomp filter.
//!
//! The profile is read and compiled in the caller before forking (errors surface early
//! and cheaply); the forked child only calls `load()` right before `execve`. Rules are
//! filtered the way Docker does: `includes`/`excludes` by architecture (Go names such as
//! `amd64`), by capability (against the process's capability list) and `minKernel`.

use crate::error::RuntimeError;
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use serde_json::Value;
use std::str::FromStr;

fn err(msg: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Other(format!("seccomp: {msg}"))
}

/// Docker's name for the native architecture (Go's GOARCH).
fn go_arch(a: ScmpArch) -> &'static str {
    match a {
        ScmpArch::X8664 => "amd64",
        ScmpArch::X86 => "386",
        ScmpArch::X32 => "x32",
        ScmpArch::Aarch64 => "arm64",
        ScmpArch::Arm => "arm",
        ScmpArch::Ppc64Le => "ppc64le",
        ScmpArch::Ppc64 => "ppc64",
        ScmpArch::S390X => "s390x",
        ScmpArch::S390 => "s390",
        ScmpArch::Riscv64 => "riscv64",
        ScmpArch::Loongarch64 => "loong64",
        ScmpArch::Mips64 => "mips64",
        ScmpArch::Mipsel64 => "mips64le",
        ScmpArch::Mips => "mips",
        ScmpArch::Mipsel => "mipsle",
        _ => "unknown",
    }
}

fn kernel_version() -> (u32, u32) {
    let rel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut it = rel
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty());
    let major = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let minor = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    (major, minor)
}

fn parse_version(s: &str) -> (u32, u32) {
    let mut it = s.split('.');
    let major = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let minor = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    (major, minor)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn action(name: &str, errno: Option<i64>, default_errno: i64) -> Result<ScmpAction, RuntimeError> {
    let v = errno.unwrap_or(default_errno) as i32;
    match name {
        "SCMP_ACT_ERRNO" => Ok(ScmpAction::Errno(v)),
        "SCMP_ACT_TRACE" => Ok(ScmpAction::Trace(v as u16)),
        other => ScmpAction::from_str(other, None).map_err(|e| err(format!("action {other}: {e}"))),
    }
}

/// A compiled filter: the BPF program itself, generated in the caller so the child
/// only has to install it (fast, and no libseccomp work between release and exec).
pub struct Program(Vec<libc::sock_filter>);

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Program({} instructions)", self.0.len())
    }
}

impl Program {
    /// Generate the BPF program of a filter context.
    pub fn from_context(ctx: &ScmpFilterContext) -> Result<Program, RuntimeError> {
        use std::io::{Read, Seek};
        use std::os::fd::FromRawFd;
        // SAFETY: memfd_create with a static NUL-terminated name; we own the result.
        let fd = unsafe { libc::memfd_create(c"berth-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(RuntimeError::last_os("seccomp: memfd_create"));
        }
        // SAFETY: fresh descriptor.
        let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
        ctx.export_bpf(&file)
            .map_err(|e| err(format!("generating filter: {e}")))?;
        let mut bytes = Vec::new();
        file.rewind()
            .and_then(|()| file.read_to_end(&mut bytes))
            .map_err(|e| RuntimeError::sys("seccomp: reading filter", e))?;
        let insns: Vec<libc::sock_filter> = bytes
            .chunks_exact(8)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        if insns.is_empty() || insns.len() > u16::MAX as usize || bytes.len() % 8 != 0 {
            return Err(err(format!("bad filter of {} bytes", bytes.len())));
        }
        Ok(Program(insns))
    }

    /// Number of BPF instructions.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.len()
    }

    /// Install the filter on the calling thread (needs no_new_privs or CAP_SYS_ADMIN).
    pub fn install(&self) -> std::io::Result<()> {
        let prog = libc::sock_fprog {
            len: self.0.len() as u16,
            filter: self.0.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: seccomp(2) reads the program we own for the duration of the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &prog as *const libc::sock_fprog,
            )
        };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Compile a profile from its file for a process holding `caps`.
pub fn load_profile(path: &str, caps: &[String]) -> Result<Program, RuntimeError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| RuntimeError::sys(format!("opening seccomp profile ({path}) failed"), e))?;
    Program::from_context(&compile(&text, caps)?)
}

/// Compile a profile given as JSON text for a process holding `caps`.
pub fn compile(json: &str, caps: &[String]) -> Result<ScmpFilterContext, RuntimeError> {
    let p: Value = serde_json::from_str(json).map_err(|e| err(format!("decoding profile: {e}")))?;
    let default_errno = p
        .get("defaultErrnoRet")
        .and_then(Value::as_i64)
        .unwrap_or(libc::EPERM as i64);
    let default_action = action(
        p.get("defaultAction")
            .and_then(Value::as_str)
            .unwrap_or("SCMP_ACT_ALLOW"),
        None,
        default_errno,
    )?;
    let mut ctx = ScmpFilterContext::new(default_action).map_err(err)?;
    // no_new_privs is decided by the spec, not by libseccomp.
    ctx.set_ctl_nnp(false).map_err(err)?;

    let native = ScmpArch::native();
    let mut arches: Vec<String> = strings(p.get("architectures"));
    if let Some(map) = p.get("archMap").and_then(Value::as_array) {
        for entry in map {
            let Some(a) = entry.get("architecture").and_then(Value::as_str) else {
                continue;
            };
            if ScmpArch::from_str(a).ok() == Some(native) {
                arches.push(a.to_string());
                arches.extend(strings(entry.get("subArchitectures")));
            }
        }
    }
    for a in &arches {
        let arch = ScmpArch::from_str(a).map_err(|e| err(format!("architecture {a}: {e}")))?;
        if arch != native {
            ctx.add_arch(arch)
                .map_err(|e| err(format!("adding architecture {a}: {e}")))?;
        }
    }

    let goarch = go_arch(native);
    let kernel = kernel_version();
    let has_cap = |c: &str| caps.iter().any(|x| x.eq_ignore_ascii_case(c));
    for rule in p
        .get("syscalls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let inc = rule.get("includes");
        let exc = rule.get("excludes");
        let inc_arches = strings(inc.and_then(|v| v.get("arches")));
        if !inc_arches.is_empty() && !inc_arches.iter().any(|a| a == goarch) {
            continue;
        }
        if strings(exc.and_then(|v| v.get("arches")))
            .iter()
            .any(|a| a == goarch)
        {
            continue;
        }
        if !strings(inc.and_then(|v| v.get("caps")))
            .iter()
            .all(|c| has_cap(c))
        {
            continue;
        }
        if strings(exc.and_then(|v| v.get("caps")))
            .iter()
            .any(|c| has_cap(c))
        {
            continue;
        }
        if let Some(min) = inc.and_then(|v| v.get("minKernel")).and_then(Value::as_str) {
            if kernel < parse_version(min) {
                continue;
            }
        }
        let act = action(
            rule.get("action")
                .and_then(Value::as_str)
                .unwrap_or("SCMP_ACT_ALLOW"),
            rule.get("errnoRet").and_then(Value::as_i64),
            libc::EPERM as i64,
        )?;
        if act == default_action {
            continue;
        }
        let conds = conditions(rule.get("args"))?;
        let mut names = strings(rule.get("names"));
        if let Some(n) = rule.get("name").and_then(Value::as_str) {
            names.push(n.to_string());
        }
        for name in names {
            // Names this libseccomp does not know do not exist on this system.
            let Ok(sc) = ScmpSyscall::from_name(&name) else {
                continue;
            };
            add_rule(&mut ctx, act, sc, &conds)
                .map_err(|e| err(format!("adding rule for {name}: {e}")))?;
        }
    }
    Ok(ctx)
}

fn conditions(args: Option<&Value>) -> Result<Vec<(u32, ScmpArgCompare)>, RuntimeError> {
    let mut out = Vec::new();
    for a in args.and_then(Value::as_array).into_iter().flatten() {
        let index = a.get("index").and_then(Value::as_u64).unwrap_or(0) as u32;
        let value = a.get("value").and_then(Value::as_u64).unwrap_or(0);
        let value_two = a.get("valueTwo").and_then(Value::as_u64).unwrap_or(0);
        let op = a.get("op").and_then(Value::as_str).unwrap_or("");
        let cmp = match op {
            "SCMP_CMP_NE" => ScmpArgCompare::new(index, ScmpCompareOp::NotEqual, value),
            "SCMP_CMP_LT" => ScmpArgCompare::new(index, ScmpCompareOp::Less, value),
            "SCMP_CMP_LE" => ScmpArgCompare::new(index, ScmpCompareOp::LessOrEqual, value),
            "SCMP_CMP_EQ" => ScmpArgCompare::new(index, ScmpCompareOp::Equal, value),
            "SCMP_CMP_GE" => ScmpArgCompare::new(index, ScmpCompareOp::GreaterEqual, value),
            "SCMP_CMP_GT" => ScmpArgCompare::new(index, ScmpCompareOp::Greater, value),
            // Docker's `value` is the mask and `valueTwo` the expected result.
            "SCMP_CMP_MASKED_EQ" => {
                ScmpArgCompare::new(index, ScmpCompareOp::MaskedEqual(value), value_two)
            }
            other => return Err(err(format!("unknown comparison {other:?}"))),
        };
        out.push((index, cmp));
    }
    Ok(out)
}

fn add_rule(
    ctx: &mut ScmpFilterContext,
    act: ScmpAction,
    sc: ScmpSyscall,
    conds: &[(u32, ScmpArgCompare)],
) -> Result<(), libseccomp::error::SeccompError> {
    if conds.is_empty() {
        ctx.add_rule(act, sc)?;
        return Ok(());
    }
    // libseccomp takes one comparison per argument per rule: conditions on distinct
    // arguments form one rule (AND); repeated arguments become separate rules (OR).
    let mut seen = std::collections::HashSet::new();
    let distinct = conds.iter().all(|(i, _)| seen.insert(*i));
    if distinct {
        let all: Vec<ScmpArgCompare> = conds.iter().map(|(_, c)| *c).collect();
        ctx.add_rule_conditional(act, sc, &all)?;
    } else {
        for (_, c) in conds {
            ctx.add_rule_conditional(act, sc, std::slice::from_ref(c))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = "/work/shared/reference/seccomp-default.json";

    /// Size of the compiled BPF program.
    fn bpf_len(ctx: &ScmpFilterContext, tag: &str) -> u64 {
        let p = std::env::temp_dir().join(format!("berth-bpf-{tag}-{}", std::process::id()));
        let f = std::fs::File::create(&p).unwrap();
        ctx.export_bpf(&f).unwrap();
        let n = std::fs::metadata(&p).unwrap().len();
        std::fs::remove_file(&p).unwrap();
        n
    }

    #[test]
    fn docker_default_profile_compiles() {
        let Ok(text) = std::fs::read_to_string(PROFILE) else {
            return;
        };
        let caps = crate::defaults::default_capabilities();
        let ctx = compile(&text, &caps).unwrap();
        assert!(bpf_len(&ctx, "default") > 100);
    }

    #[test]
    fn program_matches_libseccomp_export() {
        let Ok(text) = std::fs::read_to_string(PROFILE) else {
            return;
        };
        let ctx = compile(&text, &crate::defaults::default_capabilities()).unwrap();
        let prog = Program::from_context(&ctx).unwrap();
        assert_eq!(prog.len() as u64 * 8, bpf_len(&ctx, "prog"));
    }

    #[test]
    fn rules_filter_by_caps_and_arch() {
        let json = r#"{
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "syscalls": [
                {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["not_a_syscall"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}
            ]}"#;
        let with = compile(json, &["CAP_SYS_ADMIN".into()]).unwrap();
        let without = compile(json, &[]).unwrap();
        // The cap-gated rule only exists with the cap: the filter is bigger.
        assert!(bpf_len(&with, "with") > bpf_len(&without, "without"));
        assert!(compile("{", &[]).is_err());
        assert!(compile(r#"{"defaultAction":"SCMP_ACT_BOGUS"}"#, &[]).is_err());
    }
}
