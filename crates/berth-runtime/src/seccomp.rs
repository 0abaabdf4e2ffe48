//! Docker-format seccomp profiles compiled into a libseccomp filter.
//!
//! The profile is read and compiled in the caller before forking (errors surface early
//! and cheaply); the forked child only calls `load()` right before `execve`. Rules are
//! filtered the way Docker does: `includes`/`excludes` by architecture (Go names such as
//! `amd64`), by capability (against the process's capability list) and `minKernel`.
//!
//! Compiling Docker's default profile with libseccomp takes 10–15 ms, the biggest single
//! cost of starting a container, and gives the same program every time. So the program
//! is cached in a file beside the profile (`<profile>.<key>.bpf`; the default profile
//! lives in the daemon's exec root), keyed by everything that decides it: the profile
//! text, the capability list, the kernel release, the libseccomp version and ours. The
//! file holds the full key and a checksum: a different key or a torn file is a miss,
//! and a miss just compiles again.

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

/// Compile a profile from its file for a process holding `caps` (from the cache beside
/// it when the cache has this exact profile and capability list).
pub fn load_profile(path: &str, caps: &[String]) -> Result<Program, RuntimeError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| RuntimeError::sys(format!("opening seccomp profile ({path}) failed"), e))?;
    let key = cache::key(&text, caps);
    let file = cache::path(path, &key);
    if let Some(p) = cache::read(&file, &key) {
        return Ok(p);
    }
    let prog = Program::from_context(&compile(&text, caps)?)?;
    cache::write(&file, &key, &prog);
    Ok(prog)
}

/// The compiled-program cache (see the module docs).
mod cache {
    use super::Program;
    use std::io::Write;
    use std::path::PathBuf;

    const MAGIC: &[u8; 8] = b"BERTHBPF";

    /// FNV-1a: stable across runs and builds (it only names the file; the full key
    /// inside the file decides a hit).
    fn fnv(data: &[u8]) -> u64 {
        data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        })
    }

    /// Everything the compiled program depends on.
    pub fn key(text: &str, caps: &[String]) -> Vec<u8> {
        let lib = libseccomp::ScmpVersion::current()
            .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
            .unwrap_or_default();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut k = format!(
            "berth {}\nlibseccomp {lib}\nlayout tree\nkernel {}\narch {:?}\ncaps {}\n",
            env!("CARGO_PKG_VERSION"),
            kernel.trim(),
            libseccomp::ScmpArch::native(),
            caps.join(",")
        )
        .into_bytes();
        k.extend_from_slice(text.as_bytes());
        k
    }

    pub fn path(profile: &str, key: &[u8]) -> PathBuf {
        PathBuf::from(format!("{profile}.{:016x}.bpf", fnv(key)))
    }

    /// Layout: MAGIC, key length (u64 LE), key, instruction count (u64 LE),
    /// instructions (8 bytes each, native order), FNV of all that (u64 LE).
    fn encode(key: &[u8], prog: &Program) -> Vec<u8> {
        let mut out = Vec::with_capacity(40 + key.len() + prog.0.len() * 8);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(key.len() as u64).to_le_bytes());
        out.extend_from_slice(key);
        out.extend_from_slice(&(prog.0.len() as u64).to_le_bytes());
        for i in &prog.0 {
            out.extend_from_slice(&i.code.to_ne_bytes());
            out.push(i.jt);
            out.push(i.jf);
            out.extend_from_slice(&i.k.to_ne_bytes());
        }
        let sum = fnv(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    fn decode(data: &[u8], key: &[u8]) -> Option<Program> {
        let (body, sum) = data.split_at_checked(data.len().checked_sub(8)?)?;
        if fnv(body).to_le_bytes() != sum {
            return None;
        }
        let rest = body.strip_prefix(MAGIC)?;
        let u64_at = |b: &[u8]| -> Option<usize> {
            Some(u64::from_le_bytes(b.get(..8)?.try_into().ok()?) as usize)
        };
        let klen = u64_at(rest)?;
        let rest = rest.get(8..)?;
        if rest.get(..klen)? != key {
            return None;
        }
        let rest = rest.get(klen..)?;
        let n = u64_at(rest)?;
        let insns = rest.get(8..)?;
        if n == 0 || n > u16::MAX as usize || insns.len() != n * 8 {
            return None;
        }
        Some(Program(
            insns
                .chunks_exact(8)
                .map(|c| libc::sock_filter {
                    code: u16::from_ne_bytes([c[0], c[1]]),
                    jt: c[2],
                    jf: c[3],
                    k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
                })
                .collect(),
        ))
    }

    pub fn read(file: &std::path::Path, key: &[u8]) -> Option<Program> {
        decode(&std::fs::read(file).ok()?, key)
    }

    /// Best effort: a read-only directory just means no cache. Written to a temporary
    /// name and renamed, so readers never see a partial file; no fsync (a file torn by
    /// a crash fails its checksum and is compiled again).
    pub fn write(file: &std::path::Path, key: &[u8], prog: &Program) {
        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
        let ok = std::fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(&encode(key, prog)))
            .and_then(|()| std::fs::rename(&tmp, file));
        if ok.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn prog() -> Program {
            Program(vec![
                libc::sock_filter {
                    code: 0x20,
                    jt: 0,
                    jf: 0,
                    k: 4,
                },
                libc::sock_filter {
                    code: 0x06,
                    jt: 1,
                    jf: 2,
                    k: 0x7fff_0000,
                },
            ])
        }

        #[test]
        fn round_trip_and_rejections() {
            let key = key("{}", &["CAP_CHOWN".into()]);
            let data = encode(&key, &prog());
            let back = decode(&data, &key).unwrap();
            assert_eq!(back.0.len(), 2);
            assert_eq!((back.0[1].code, back.0[1].jt, back.0[1].jf), (0x06, 1, 2));
            assert_eq!(back.0[1].k, 0x7fff_0000);
            // Another key (other caps) misses.
            assert!(decode(&data, &super::key("{}", &[])).is_none());
            // Torn or flipped files miss.
            assert!(decode(&data[..data.len() - 3], &key).is_none());
            let mut bad = data.clone();
            let mid = bad.len() / 2;
            bad[mid] ^= 1;
            assert!(decode(&bad, &key).is_none());
            assert!(decode(b"", &key).is_none());
        }

        #[test]
        fn file_cache_hits_only_its_key() {
            let dir = std::env::temp_dir().join(format!("berth-bpf-cache-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            struct Rm(PathBuf);
            impl Drop for Rm {
                fn drop(&mut self) {
                    let _ = std::fs::remove_dir_all(&self.0);
                }
            }
            let _rm = Rm(dir.clone());
            let profile = dir.join("p.json").display().to_string();
            let (k1, k2) = (key("a", &[]), key("b", &[]));
            let (f1, f2) = (path(&profile, &k1), path(&profile, &k2));
            assert_ne!(f1, f2);
            write(&f1, &k1, &prog());
            assert_eq!(read(&f1, &k1).unwrap().0.len(), 2);
            assert!(read(&f1, &k2).is_none());
            assert!(read(&f2, &k2).is_none());
        }
    }
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
    // Syscall numbers as a binary tree instead of a chain of compares. Same decisions,
    // but the kernel checks each new filter by running it once per syscall number
    // (its allow-cache): with Docker's ~350 rules in a chain that made loading the
    // filter take ~1.1 ms on the way to `execve`; the tree takes ~0.4 ms, and every
    // syscall the container makes walks a few compares instead of hundreds.
    // libseccomp older than 2.5 has no such level: the chain is as good, only slower.
    let _ = ctx.set_ctl_optimize(2);

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

    const PROFILE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../berthd/seccomp-default.json"
    );

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
    fn cached_program_equals_compiled() {
        let Ok(text) = std::fs::read_to_string(PROFILE) else {
            return;
        };
        let dir = std::env::temp_dir().join(format!("berth-seccomp-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        struct Rm(std::path::PathBuf);
        impl Drop for Rm {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let _rm = Rm(dir.clone());
        let profile = dir.join("default.json");
        std::fs::write(&profile, &text).unwrap();
        let caps = crate::defaults::default_capabilities();
        let path = profile.display().to_string();
        let first = load_profile(&path, &caps).unwrap();
        let cached = cache::path(&path, &cache::key(&text, &caps));
        assert!(cached.exists(), "the compiled program is cached");
        let second = load_profile(&path, &caps).unwrap();
        let words = |p: &Program| -> Vec<(u16, u8, u8, u32)> {
            p.0.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect()
        };
        assert_eq!(words(&first), words(&second));
        let compiled = Program::from_context(&compile(&text, &caps).unwrap()).unwrap();
        assert_eq!(words(&compiled), words(&second));
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

    /// Runs a classic BPF seccomp program on one `seccomp_data` (x86-64 byte order).
    fn run_bpf(prog: &Program, nr: u32, arch: u32, args: &[u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        for (i, a) in args.iter().enumerate() {
            data[16 + i * 8..24 + i * 8].copy_from_slice(&a.to_le_bytes());
        }
        let (mut a, mut x, mut mem, mut pc) = (0u32, 0u32, [0u32; 16], 0usize);
        loop {
            let i = prog.0[pc];
            pc += 1;
            let k = i.k;
            let src = if i.code & 0x08 != 0 { x } else { k };
            match i.code & 0x07 {
                0x00 => {
                    a = match i.code & 0xe0 {
                        0x20 => {
                            u32::from_le_bytes(data[k as usize..k as usize + 4].try_into().unwrap())
                        }
                        0x60 => mem[k as usize],
                        0x00 => k,
                        other => panic!("ld mode {other:#x}"),
                    }
                }
                0x01 => {
                    x = if i.code & 0xe0 == 0x60 {
                        mem[k as usize]
                    } else {
                        k
                    }
                }
                0x02 => mem[k as usize] = a,
                0x03 => mem[k as usize] = x,
                0x04 => {
                    a = match i.code & 0xf0 {
                        0x00 => a.wrapping_add(src),
                        0x10 => a.wrapping_sub(src),
                        0x50 => a & src,
                        0x40 => a | src,
                        0x60 => a << src,
                        0x70 => a >> src,
                        other => panic!("alu op {other:#x}"),
                    }
                }
                0x05 => {
                    let taken = match i.code & 0xf0 {
                        0x00 => {
                            pc += k as usize;
                            continue;
                        }
                        0x10 => a == src,
                        0x20 => a > src,
                        0x30 => a >= src,
                        0x40 => a & src != 0,
                        other => panic!("jmp op {other:#x}"),
                    };
                    pc += if taken { i.jt } else { i.jf } as usize;
                }
                0x06 => return if i.code & 0x18 == 0x10 { a } else { k },
                0x07 => {
                    if i.code & 0xf8 == 0x00 {
                        x = a
                    } else {
                        a = x
                    }
                }
                _ => unreachable!(),
            }
        }
    }

    #[test]
    fn tree_layout_decides_like_the_chain() {
        let Ok(text) = std::fs::read_to_string(PROFILE) else {
            return;
        };
        let caps = crate::defaults::default_capabilities();
        let tree = Program::from_context(&compile(&text, &caps).unwrap()).unwrap();
        let mut chain_ctx = compile(&text, &caps).unwrap();
        chain_ctx.set_ctl_optimize(1).unwrap();
        let chain = Program::from_context(&chain_ctx).unwrap();
        let words = |p: &Program| -> Vec<(u16, u8, u8, u32)> {
            p.0.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect()
        };
        assert_ne!(
            words(&tree),
            words(&chain),
            "the filter is laid out as a tree"
        );
        const X86_64: u32 = 0xc000_003e;
        const I386: u32 = 0x4000_0003;
        let arg_sets: [[u64; 6]; 5] = [
            [0; 6],
            [8, 0, 0, 0, 0, 0],
            [0xffff_ffff, 1, 2, 3, 4, 5],
            [0x7e02_0000, 0x10, 0, 0, 0, 0],
            [u64::MAX, u64::MAX, 0, 0, 0, 0],
        ];
        let mut allowed = 0;
        for arch in [X86_64, I386, 0x1234] {
            for nr in (0..480u32).chain((0..480).map(|n| n | 0x4000_0000)) {
                for args in &arg_sets {
                    let t = run_bpf(&tree, nr, arch, args);
                    assert_eq!(
                        t,
                        run_bpf(&chain, nr, arch, args),
                        "nr {nr} arch {arch:#x} {args:?}"
                    );
                    allowed += (t == libc::SECCOMP_RET_ALLOW) as u32;
                }
            }
        }
        // getpid (39) is allowed and kexec_load (246) refused with EPERM on x86-64.
        assert_eq!(run_bpf(&tree, 39, X86_64, &[0; 6]), libc::SECCOMP_RET_ALLOW);
        assert_eq!(
            run_bpf(&tree, 246, X86_64, &[0; 6]),
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32
        );
        assert!(allowed > 1000);
    }
}
