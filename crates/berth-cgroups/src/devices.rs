//! Device access rules: which device nodes the container may create (`m`), read (`r`)
//! and write (`w`). Docker denies every device and then allows a short list (null, zero,
//! full, random, urandom, tty, ptmx, pts, tun, and mknod of any node), plus each
//! `--device`; privileged containers may use every device.
//!
//! v1 writes the rules, in order, to `devices.deny` / `devices.allow`. v2 has no device
//! files: access is decided by an eBPF program of type `CGROUP_DEVICE` attached to the
//! cgroup, which [`program`] generates from the same rules. The rules are first reduced
//! the way the v1 kernel keeps them — a default verdict (set by the `a` rules) plus the
//! exceptions to it — and the program checks the exceptions in order, then returns the
//! default.

use crate::error::CgroupError;

/// Which device nodes a rule covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// Every device (`a`).
    All,
    /// Character devices (`c`).
    Char,
    /// Block devices (`b`).
    Block,
}

/// One rule in v1 syntax: `c 1:3 rwm`, `b *:* m`, `a`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRule {
    /// Allow (true) or deny (false) the access.
    pub allow: bool,
    pub kind: DeviceKind,
    /// `None` = any major (`*`).
    pub major: Option<u32>,
    /// `None` = any minor (`*`).
    pub minor: Option<u32>,
    /// Some of `r`, `w`, `m`.
    pub access: String,
}

impl DeviceRule {
    /// A rule for one device node (`--device`): `kind` is `'c'` or `'b'`.
    pub fn device(allow: bool, kind: char, major: u32, minor: u32, access: &str) -> DeviceRule {
        DeviceRule {
            allow,
            kind: if kind == 'b' {
                DeviceKind::Block
            } else {
                DeviceKind::Char
            },
            major: Some(major),
            minor: Some(minor),
            access: access.to_string(),
        }
    }

    /// Parse v1 syntax (as `--device-cgroup-rule` takes it): `type major:minor access`
    /// where type is `a`, `c` or `b`, numbers may be `*`, access is a subset of `rwm`.
    /// A lone `a` means every device, every access.
    pub fn parse(rule: &str, allow: bool) -> Result<DeviceRule, CgroupError> {
        let bad = || CgroupError::InvalidDeviceRule(rule.to_string());
        let parts: Vec<&str> = rule.split_whitespace().collect();
        let kind = match parts.first().copied() {
            Some("a") => DeviceKind::All,
            Some("c") => DeviceKind::Char,
            Some("b") => DeviceKind::Block,
            _ => return Err(bad()),
        };
        if parts.len() == 1 && kind == DeviceKind::All {
            return Ok(DeviceRule {
                allow,
                kind,
                major: None,
                minor: None,
                access: "rwm".into(),
            });
        }
        if parts.len() != 3 {
            return Err(bad());
        }
        let (maj, min) = parts[1].split_once(':').ok_or_else(bad)?;
        let num = |s: &str| -> Result<Option<u32>, CgroupError> {
            if s == "*" {
                Ok(None)
            } else {
                s.parse::<u32>().map(Some).map_err(|_| bad())
            }
        };
        let access = parts[2];
        if access.is_empty() || !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(bad());
        }
        Ok(DeviceRule {
            allow,
            kind,
            major: num(maj)?,
            minor: num(min)?,
            access: access.to_string(),
        })
    }

    /// The v1 text of the rule (what devices.allow/deny take).
    pub fn v1_string(&self) -> String {
        let kind = match self.kind {
            DeviceKind::All => 'a',
            DeviceKind::Char => 'c',
            DeviceKind::Block => 'b',
        };
        let n = |v: Option<u32>| v.map_or("*".to_string(), |x| x.to_string());
        format!("{kind} {}:{} {}", n(self.major), n(self.minor), self.access)
    }

    /// Access as the kernel's bit mask (mknod 1, read 2, write 4).
    fn access_mask(&self) -> u32 {
        self.access.chars().fold(0, |m, c| {
            m | match c {
                'm' => ACC_MKNOD,
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                _ => 0,
            }
        })
    }

    /// "Everything": `a *:* rwm`.
    fn is_wildcard(&self) -> bool {
        self.kind == DeviceKind::All
            && self.major.is_none()
            && self.minor.is_none()
            && self.access_mask() == ACC_ALL
    }
}

/// Docker's rules for an unprivileged container: deny everything, then allow mknod of any
/// node and the standard pseudo-devices. Append the `--device` rules to this list.
pub fn default_device_rules() -> Vec<DeviceRule> {
    let allow = |kind, major, minor: Option<u32>, access: &str| DeviceRule {
        allow: true,
        kind,
        major,
        minor,
        access: access.to_string(),
    };
    use DeviceKind::{Block, Char};
    vec![
        DeviceRule {
            allow: false,
            kind: DeviceKind::All,
            major: None,
            minor: None,
            access: "rwm".into(),
        },
        allow(Char, None, None, "m"),
        allow(Block, None, None, "m"),
        allow(Char, Some(1), Some(3), "rwm"),    // /dev/null
        allow(Char, Some(1), Some(8), "rwm"),    // /dev/random
        allow(Char, Some(1), Some(7), "rwm"),    // /dev/full
        allow(Char, Some(5), Some(0), "rwm"),    // /dev/tty
        allow(Char, Some(1), Some(5), "rwm"),    // /dev/zero
        allow(Char, Some(1), Some(9), "rwm"),    // /dev/urandom
        allow(Char, Some(136), None, "rwm"),     // /dev/pts/*
        allow(Char, Some(5), Some(2), "rwm"),    // /dev/ptmx
        allow(Char, Some(10), Some(200), "rwm"), // /dev/net/tun
    ]
}

/// A privileged container's rules: every device.
pub fn privileged_device_rules() -> Vec<DeviceRule> {
    vec![DeviceRule {
        allow: true,
        kind: DeviceKind::All,
        major: None,
        minor: None,
        access: "rwm".into(),
    }]
}

// The kernel's bpf_cgroup_dev_ctx encoding.
const ACC_MKNOD: u32 = 1;
const ACC_READ: u32 = 2;
const ACC_WRITE: u32 = 4;
const ACC_ALL: u32 = ACC_MKNOD | ACC_READ | ACC_WRITE;
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

/// The rules as the v1 kernel ends up holding them: a default verdict and the exceptions
/// to it, in order. A wildcard rule resets both; a rule agreeing with the default
/// cancels an identical earlier exception.
pub(crate) fn reduce(rules: &[DeviceRule]) -> (bool, Vec<DeviceRule>) {
    let mut default_allow = true;
    let mut exceptions: Vec<DeviceRule> = Vec::new();
    for r in rules {
        if r.is_wildcard() {
            default_allow = r.allow;
            exceptions.clear();
        } else if r.allow != default_allow {
            exceptions.push(r.clone());
        } else {
            exceptions.retain(|e| {
                (e.kind, e.major, e.minor, e.access_mask())
                    != (r.kind, r.major, r.minor, r.access_mask())
            });
        }
    }
    (default_allow, exceptions)
}

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Insn {
    code: u8,
    regs: u8, // dst in the low nibble, src in the high nibble
    off: i16,
    imm: i32,
}

// Opcodes (class | op | source), from the eBPF instruction set.
const LDX_MEM_W: u8 = 0x61;
const ALU32_AND_K: u8 = 0x54;
const ALU32_RSH_K: u8 = 0x74;
const ALU32_MOV_X: u8 = 0xbc;
const ALU64_MOV_K: u8 = 0xb7;
const JMP_JNE_K: u8 = 0x55;
const JMP_EXIT: u8 = 0x95;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

/// The `CGROUP_DEVICE` program for `rules`: returns 1 to allow, 0 to deny.
///
/// Registers: r1 = ctx {u32 access_type = access << 16 | type; u32 major; u32 minor},
/// r2 = type, r3 = requested access, r4 = major, r5 = minor.
pub(crate) fn program(rules: &[DeviceRule]) -> Vec<Insn> {
    let (default_allow, exceptions) = reduce(rules);
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for e in &exceptions {
        // Conditions that skip the rule; their offsets are filled in once the block
        // length is known.
        let mut block: Vec<Insn> = Vec::new();
        match e.kind {
            DeviceKind::Char => block.push(insn(JMP_JNE_K, 2, 0, 0, DEV_CHAR)),
            DeviceKind::Block => block.push(insn(JMP_JNE_K, 2, 0, 0, DEV_BLOCK)),
            DeviceKind::All => {}
        }
        let mask = e.access_mask();
        if mask != ACC_ALL {
            // Matches only if every requested bit is in the rule: (req & !mask) == 0.
            block.push(insn(ALU32_MOV_X, 0, 3, 0, 0));
            block.push(insn(ALU32_AND_K, 0, 0, 0, (!mask & ACC_ALL) as i32));
            block.push(insn(JMP_JNE_K, 0, 0, 0, 0));
        }
        if let Some(m) = e.major {
            block.push(insn(JMP_JNE_K, 4, 0, 0, m as i32));
        }
        if let Some(m) = e.minor {
            block.push(insn(JMP_JNE_K, 5, 0, 0, m as i32));
        }
        block.push(insn(ALU64_MOV_K, 0, 0, 0, i32::from(e.allow)));
        block.push(insn(JMP_EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == JMP_JNE_K {
                // Jump past the rest of the block (offsets count from the next insn).
                ins.off = (len - i - 1) as i16;
            }
        }
        p.extend(block);
    }
    p.push(insn(ALU64_MOV_K, 0, 0, 0, i32::from(default_allow)));
    p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    p
}

/// Interpret a generated program (tests): the verdict for one access.
#[cfg(test)]
pub(crate) fn run(prog: &[Insn], dev_type: i32, access: u32, major: u32, minor: u32) -> u64 {
    let ctx = [((access << 16) | dev_type as u32), major, minor];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    loop {
        let i = prog[pc];
        let (dst, src) = ((i.regs & 0x0f) as usize, (i.regs >> 4) as usize);
        pc += 1;
        match i.code {
            LDX_MEM_W => r[dst] = u64::from(ctx[(i.off / 4) as usize]),
            ALU32_AND_K => r[dst] = u64::from((r[dst] as u32) & (i.imm as u32)),
            ALU32_RSH_K => r[dst] = u64::from((r[dst] as u32) >> i.imm),
            ALU32_MOV_X => r[dst] = u64::from(r[src] as u32),
            ALU64_MOV_K => r[dst] = i.imm as i64 as u64,
            JMP_JNE_K => {
                if r[dst] != i.imm as i64 as u64 {
                    pc += i.off as usize;
                }
            }
            JMP_EXIT => return r[0],
            c => panic!("unknown opcode {c:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print_v1_syntax() {
        let r = DeviceRule::parse("c 1:3 rwm", true).unwrap();
        assert_eq!(r, DeviceRule::device(true, 'c', 1, 3, "rwm"));
        assert_eq!(r.v1_string(), "c 1:3 rwm");
        let r = DeviceRule::parse("b *:* m", false).unwrap();
        assert_eq!((r.major, r.minor, r.allow), (None, None, false));
        assert_eq!(r.v1_string(), "b *:* m");
        assert_eq!(
            DeviceRule::parse("a", true).unwrap().v1_string(),
            "a *:* rwm"
        );
        assert_eq!(
            DeviceRule::parse("c 136:* rw", true).unwrap().v1_string(),
            "c 136:* rw"
        );
        for bad in [
            "",
            "x 1:3 rwm",
            "c 1:3",
            "c 1-3 rwm",
            "c 1:3 rwx",
            "c a:3 r",
        ] {
            let e = DeviceRule::parse(bad, true).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("invalid device cgroup format '{bad}'")
            );
        }
    }

    #[test]
    fn reduce_keeps_default_and_exceptions() {
        let (def, ex) = reduce(&default_device_rules());
        assert!(!def);
        assert_eq!(ex.len(), default_device_rules().len() - 1);
        let (def, ex) = reduce(&privileged_device_rules());
        assert!(def);
        assert!(ex.is_empty());
        // A later deny of an allowed device cancels the exception.
        let mut rules = default_device_rules();
        rules.push(DeviceRule::device(false, 'c', 1, 3, "rwm"));
        let (_, ex) = reduce(&rules);
        assert!(!ex.iter().any(|e| e.major == Some(1) && e.minor == Some(3)));
    }

    #[test]
    fn generated_program_decides_like_docker() {
        let mut rules = default_device_rules();
        rules.push(DeviceRule::device(true, 'b', 8, 0, "r")); // --device /dev/sda:/dev/sda:r
        let p = program(&rules);
        let (r, w, m) = (ACC_READ, ACC_WRITE, ACC_MKNOD);
        assert_eq!(run(&p, DEV_CHAR, r | w, 1, 3), 1, "/dev/null rw");
        assert_eq!(run(&p, DEV_CHAR, r, 136, 7), 1, "pts any minor");
        assert_eq!(run(&p, DEV_CHAR, r, 1, 1), 0, "/dev/mem");
        assert_eq!(run(&p, DEV_CHAR, m, 1, 1), 1, "mknod of anything");
        assert_eq!(run(&p, DEV_BLOCK, m, 8, 1), 1, "mknod of a block device");
        assert_eq!(run(&p, DEV_BLOCK, r, 8, 1), 0, "read of another disk");
        assert_eq!(run(&p, DEV_BLOCK, r, 8, 0), 1, "--device read");
        assert_eq!(run(&p, DEV_BLOCK, w, 8, 0), 0, "--device is read-only");
        assert_eq!(run(&p, DEV_BLOCK, r | m, 8, 0), 0, "rm needs both bits");
        assert_eq!(
            run(&p, DEV_CHAR, r, 8, 0),
            0,
            "the block rule does not match char 8:0"
        );
        let p = program(&privileged_device_rules());
        assert_eq!(p.len(), 8);
        assert_eq!(run(&p, DEV_BLOCK, r | w | m, 8, 0), 1);
    }
}
