//! Planner: parsed Dockerfile → stages, their dependency DAG, the stages the target needs,
//! parallel-ready groups ("waves"), step numbering, cache keys and ONBUILD injection.
//!
//! A stage depends on another when its FROM names it, or a `COPY --from` / `RUN
//! --mount=from=` names it (by name or index). `--from` values are expanded with the
//! build-time ARG values known before the build (meta ARGs and `--build-arg`), which is
//! what Docker allows there. Only the target stage (default: the last) and what it
//! depends on are built; stages in one wave do not depend on each other and may run in
//! parallel.

use crate::error::{BuildError, ParseError};
use crate::instructions::{parse_instruction, Instruction};
use crate::parser::{parse, Dockerfile, Node};
use crate::shell::Lexer;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// One instruction of a stage, with what progress output needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub instruction: Instruction,
    /// The instruction as written (continuations joined): `RUN echo hi`.
    pub original: String,
    pub line: usize,
}

/// A build stage (`FROM … [AS name]` and its instructions).
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub index: usize,
    pub name: Option<String>,
    /// Base image reference as written (unexpanded).
    pub base: String,
    pub platform: Option<String>,
    /// The FROM step itself.
    pub from: Step,
    pub steps: Vec<Step>,
    /// Index of the stage FROM refers to, when it names an earlier stage.
    pub base_stage: Option<usize>,
    /// Every stage this one needs (base and `--from` sources), sorted, unique.
    pub deps: Vec<usize>,
}

/// The build plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub escape: char,
    /// ARGs before the first FROM.
    pub meta_args: Vec<(String, Option<String>)>,
    /// Steps of the meta ARG lines (printed as steps, as Docker does).
    pub meta_steps: Vec<Step>,
    pub stages: Vec<Stage>,
    pub target: usize,
    /// Stages to build, in file order.
    pub needed: Vec<usize>,
    /// `needed` grouped so each group only depends on earlier groups.
    pub waves: Vec<Vec<usize>>,
    pub warnings: Vec<String>,
}

/// Build args that need no ARG declaration.
pub const PREDEFINED_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

fn step_of(node: &Node) -> Result<Step, ParseError> {
    Ok(Step {
        instruction: parse_instruction(node)?,
        original: node.original.clone(),
        line: node.start_line,
    })
}

/// The automatic platform ARGs (`TARGETPLATFORM`, `TARGETOS`, `TARGETARCH`,
/// `TARGETVARIANT` and the `BUILD*` ones) for this machine, as `K=V`. They are visible in
/// FROM lines, and inside a stage once declared with `ARG NAME`.
pub fn platform_args() -> Vec<String> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    let mut out = Vec::new();
    for prefix in ["TARGET", "BUILD"] {
        out.push(format!("{prefix}PLATFORM=linux/{arch}"));
        out.push(format!("{prefix}OS=linux"));
        out.push(format!("{prefix}ARCH={arch}"));
        out.push(format!("{prefix}VARIANT="));
    }
    out
}

/// Values of the meta ARGs after `--build-arg` overrides, as `K=V` (unset ones omitted),
/// followed by the automatic platform ARGs (lowest precedence).
pub fn meta_env(
    meta_args: &[(String, Option<String>)],
    build_args: &BTreeMap<String, String>,
    escape: char,
) -> Vec<String> {
    let lx = Lexer::new(escape);
    let mut env: Vec<String> = Vec::new();
    for (k, default) in meta_args {
        let value = match build_args.get(k) {
            Some(v) => Some(v.clone()),
            None => default
                .as_ref()
                .map(|d| lx.word(d, &env).unwrap_or_else(|_| d.clone())),
        };
        if let Some(v) = value {
            env.retain(|e| e.split('=').next() != Some(k.as_str()));
            env.insert(0, format!("{k}={v}"));
        }
    }
    for kv in platform_args() {
        let k = kv.split('=').next().unwrap_or("");
        if let Some(v) = build_args.get(k) {
            env.push(format!("{k}={v}"));
        } else {
            env.push(kv);
        }
    }
    env
}

impl Plan {
    /// Parses and plans a Dockerfile.
    pub fn from_source(
        source: &str,
        build_args: &BTreeMap<String, String>,
        target: Option<&str>,
    ) -> Result<Plan, BuildError> {
        let df = parse(source)?;
        Self::new(&df, build_args, target)
    }

    pub fn new(
        df: &Dockerfile,
        build_args: &BTreeMap<String, String>,
        target: Option<&str>,
    ) -> Result<Plan, BuildError> {
        let escape = df.directives.escape;
        let mut meta_args = Vec::new();
        let mut meta_steps = Vec::new();
        let mut stages: Vec<Stage> = Vec::new();
        for node in &df.nodes {
            let step = step_of(node)?;
            match &step.instruction {
                Instruction::From {
                    image,
                    name,
                    platform,
                } => {
                    stages.push(Stage {
                        index: stages.len(),
                        name: name.clone(),
                        base: image.clone(),
                        platform: platform.clone(),
                        from: step.clone(),
                        steps: Vec::new(),
                        base_stage: None,
                        deps: Vec::new(),
                    });
                }
                Instruction::Arg(args) if stages.is_empty() => {
                    meta_args.extend(args.iter().cloned());
                    meta_steps.push(step);
                }
                _ => match stages.last_mut() {
                    Some(s) => s.steps.push(step),
                    None => {
                        return Err(ParseError::new(
                            node.start_line,
                            node.column,
                            "no build stage in current context",
                        )
                        .into())
                    }
                },
            }
        }
        if stages.is_empty() {
            return Err(BuildError::Invalid("file with no instructions".into()));
        }
        let env = meta_env(&meta_args, build_args, escape);
        let lx = Lexer::new(escape);
        // Resolve stage references.
        for i in 0..stages.len() {
            let base = lx
                .word(&stages[i].base, &env)
                .map_err(|e| ParseError::new(stages[i].from.line, 1, e.0))?;
            let base_stage = find_stage(&stages[..i], &base, false);
            let mut deps: Vec<usize> = base_stage.into_iter().collect();
            for step in &stages[i].steps {
                let from = match &step.instruction {
                    Instruction::Copy(c) => c.from.iter().cloned().collect::<Vec<_>>(),
                    Instruction::Run { mounts, .. } => {
                        mounts.iter().filter_map(|m| m.from.clone()).collect()
                    }
                    _ => Vec::new(),
                };
                for f in from {
                    let f = lx.word(&f, &env).unwrap_or(f);
                    if let Some(d) = find_stage(&stages[..i], &f, true) {
                        deps.push(d);
                    } else if f.parse::<usize>().is_ok() {
                        return Err(ParseError::new(step.line, 1, format!("invalid from flag value {f}: refers to current or future build stage")).into());
                    }
                }
            }
            deps.sort_unstable();
            deps.dedup();
            stages[i].base_stage = base_stage;
            stages[i].deps = deps;
        }
        let target_idx = match target {
            None | Some("") => stages.len() - 1,
            Some(t) => {
                let t = t.to_ascii_lowercase();
                stages
                    .iter()
                    .position(|s| s.name.as_deref() == Some(t.as_str()))
                    .ok_or_else(|| {
                        BuildError::Invalid(format!(
                            "failed to reach build target {t} in Dockerfile"
                        ))
                    })?
            }
        };
        let mut need = vec![false; stages.len()];
        mark(&stages, target_idx, &mut need);
        let needed: Vec<usize> = (0..stages.len()).filter(|i| need[*i]).collect();
        // Waves: a stage's level is one more than its deepest dependency.
        let mut level = vec![0usize; stages.len()];
        for &i in &needed {
            level[i] = stages[i]
                .deps
                .iter()
                .map(|d| level[*d] + 1)
                .max()
                .unwrap_or(0);
        }
        let depth = needed.iter().map(|i| level[*i]).max().unwrap_or(0);
        let waves = (0..=depth)
            .map(|l| needed.iter().copied().filter(|i| level[*i] == l).collect())
            .collect();
        Ok(Plan {
            escape,
            meta_args,
            meta_steps,
            stages,
            target: target_idx,
            needed,
            waves,
            warnings: df.warnings.clone(),
        })
    }

    /// Total steps printed for this plan (`Step i/N`): meta ARGs, then each needed
    /// stage's FROM and instructions, plus `extra` (e.g. the `--label` step).
    pub fn total_steps(&self, extra: usize) -> usize {
        self.meta_steps.len()
            + self
                .needed
                .iter()
                .map(|i| 1 + self.stages[*i].steps.len())
                .sum::<usize>()
            + extra
    }

    /// The number of the first step (FROM) of stage `idx`, 1-based.
    pub fn first_step_number(&self, idx: usize) -> usize {
        1 + self.meta_steps.len()
            + self
                .needed
                .iter()
                .take_while(|i| **i != idx)
                .map(|i| 1 + self.stages[*i].steps.len())
                .sum::<usize>()
    }

    /// Finds a stage by name or index among all stages (for `--from` at build time).
    pub fn stage_ref(&self, before: usize, name: &str) -> Option<usize> {
        find_stage(&self.stages[..before], name, true)
    }
}

fn mark(stages: &[Stage], i: usize, need: &mut [bool]) {
    if need[i] {
        return;
    }
    need[i] = true;
    for &d in &stages[i].deps {
        mark(stages, d, need);
    }
}

fn find_stage(stages: &[Stage], name: &str, allow_index: bool) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    if let Some(s) = stages
        .iter()
        .rev()
        .find(|s| s.name.as_deref() == Some(lower.as_str()))
    {
        return Some(s.index);
    }
    if allow_index {
        if let Ok(n) = name.parse::<usize>() {
            if n < stages.len() {
                return Some(n);
            }
        }
    }
    None
}

/// Parses ONBUILD trigger strings of a base image into steps to run right after FROM.
pub fn onbuild_steps(triggers: &[String], escape: char) -> Result<Vec<Step>, BuildError> {
    let mut steps = Vec::new();
    for t in triggers {
        let df = parse(t)?;
        for node in &df.nodes {
            match node.keyword.as_str() {
                "onbuild" => {
                    return Err(BuildError::Invalid(
                        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into(),
                    ))
                }
                "from" | "maintainer" => {
                    return Err(BuildError::Invalid(format!(
                        "{} isn't allowed as an ONBUILD trigger",
                        node.keyword.to_ascii_uppercase()
                    )))
                }
                _ => {}
            }
            steps.push(step_of(node)?);
        }
    }
    let _ = escape;
    Ok(steps)
}

/// Cache key of a step: parent image id, the instruction's expanded form (what goes into
/// the image history, e.g. `|1 A=b /bin/sh -c make`), the config it produces and, for
/// COPY/ADD, the content hash of its inputs.
pub fn cache_key(
    parent: Option<&str>,
    created_by: &str,
    config_json: &str,
    content: &str,
) -> String {
    let mut h = Sha256::new();
    for field in [parent.unwrap_or(""), created_by, config_json, content] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MULTI: &str = "ARG BASE=alpine\n\
        FROM $BASE AS deps\nRUN fetch\n\
        FROM busybox AS tools\nRUN make tools\n\
        FROM deps AS build\nCOPY --from=tools /t /t\nRUN build\n\
        FROM busybox AS unused\nRUN slow\n\
        FROM scratch\nCOPY --from=build /out /out\nCOPY --from=1 /t /t\n";

    #[test]
    fn stages_and_dag() {
        let p = Plan::from_source(MULTI, &BTreeMap::new(), None).unwrap();
        assert_eq!(p.stages.len(), 5);
        assert_eq!(
            p.meta_args,
            vec![("BASE".to_string(), Some("alpine".to_string()))]
        );
        assert_eq!(p.stages[2].base_stage, Some(0));
        assert_eq!(p.stages[2].deps, vec![0, 1]);
        assert_eq!(p.stages[4].deps, vec![1, 2]);
        assert_eq!(p.target, 4);
        assert_eq!(p.needed, vec![0, 1, 2, 4]);
        assert_eq!(p.waves, vec![vec![0, 1], vec![2], vec![4]]);
        // 1 meta ARG + (2 + 2 + 3 + 3) steps.
        assert_eq!(p.total_steps(0), 11);
        assert_eq!(p.first_step_number(0), 2);
        assert_eq!(p.first_step_number(4), 9);
    }

    #[test]
    fn target_prunes() {
        let p = Plan::from_source(MULTI, &BTreeMap::new(), Some("Build")).unwrap();
        assert_eq!(p.target, 2);
        assert_eq!(p.needed, vec![0, 1, 2]);
        let p = Plan::from_source(MULTI, &BTreeMap::new(), Some("unused")).unwrap();
        assert_eq!(p.needed, vec![3]);
        assert_eq!(p.waves, vec![vec![3]]);
        let e = Plan::from_source(MULTI, &BTreeMap::new(), Some("nope")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "failed to reach build target nope in Dockerfile"
        );
    }

    #[test]
    fn build_arg_changes_base_reference() {
        let mut args = BTreeMap::new();
        args.insert("BASE".to_string(), "tools".to_string());
        let src = "ARG BASE=busybox\nFROM busybox AS tools\nFROM $BASE\n";
        let p = Plan::from_source(src, &args, None).unwrap();
        assert_eq!(p.stages[1].base_stage, Some(0));
        let p = Plan::from_source(src, &BTreeMap::new(), None).unwrap();
        assert_eq!(p.stages[1].base_stage, None);
        assert_eq!(p.needed, vec![1]);
    }

    #[test]
    fn platform_args_in_from() {
        let p = Plan::from_source(
            "FROM --platform=$BUILDPLATFORM busybox AS b\nFROM b\n",
            &BTreeMap::new(),
            None,
        )
        .unwrap();
        assert_eq!(p.stages[0].platform.as_deref(), Some("$BUILDPLATFORM"));
        let env = meta_env(&[], &BTreeMap::new(), '\\');
        assert!(env.iter().any(|e| e.starts_with("TARGETOS=linux")));
        let mut args = BTreeMap::new();
        args.insert("TARGETARCH".to_string(), "riscv64".to_string());
        let env = meta_env(&[("A".into(), Some("${TARGETARCH}".into()))], &args, '\\');
        assert!(env.contains(&"TARGETARCH=riscv64".to_string()), "{env:?}");
    }

    #[test]
    fn errors() {
        let e = Plan::from_source("RUN x\n", &BTreeMap::new(), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error on line 1: no build stage in current context"
        );
        let e = Plan::from_source("ARG A\n", &BTreeMap::new(), None).unwrap_err();
        assert_eq!(e.to_string(), "file with no instructions");
        let e =
            Plan::from_source("FROM a\nCOPY --from=0 a b\n", &BTreeMap::new(), None).unwrap_err();
        assert!(
            e.to_string()
                .contains("refers to current or future build stage"),
            "{e}"
        );
    }

    #[test]
    fn onbuild_parse() {
        let s = onbuild_steps(&["RUN echo hi".into(), "COPY . /app".into()], '\\').unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].instruction.keyword(), "COPY");
        assert!(onbuild_steps(&["FROM x".into()], '\\').is_err());
    }

    #[test]
    fn cache_keys_differ_by_each_part() {
        let base = cache_key(Some("sha256:a"), "RUN x", "{}", "");
        assert_eq!(base, cache_key(Some("sha256:a"), "RUN x", "{}", ""));
        assert_ne!(base, cache_key(Some("sha256:b"), "RUN x", "{}", ""));
        assert_ne!(base, cache_key(Some("sha256:a"), "RUN y", "{}", ""));
        assert_ne!(base, cache_key(Some("sha256:a"), "RUN x", "{}", "h"));
        assert_ne!(base, cache_key(None, "RUN x", "{}", ""));
    }
}
