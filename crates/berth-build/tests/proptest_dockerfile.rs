//! Property tests of the Dockerfile front end (issue "Faults and abuse", fuzzing): the
//! parser, the planner (instruction typing, stages, ARG/ENV expansion), the shell-word
//! expander and `.dockerignore` matching take any input without a panic or a hang, and
//! what they accept keeps its meaning (instruction count, line numbers, escapes).
//!
//! Inputs are both raw noise and Dockerfile-shaped text built from the pieces that
//! make the grammar hard: continuations, heredocs, JSON forms, directives, flags,
//! comments, variable references and escape characters.

use berth_build::shell::Lexer;
use berth_build::{parse, DockerIgnore, Plan};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Anything one parse or plan may take; a slower one is a hang in the making.
const BUDGET: Duration = Duration::from_secs(2);

/// A piece of an argument: words, quotes, variables, escapes, JSON brackets.
fn arg_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_./-]{1,8}",
        Just(" ".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just("\\".to_string()),
        Just("`".to_string()),
        Just("$".to_string()),
        "\\$\\{?[A-Z_]{1,4}(:[-+?][a-z]{0,3})?\\}?",
        Just("[\"".to_string()),
        Just("\"]".to_string()),
        Just("\", \"".to_string()),
        Just("<<EOF".to_string()),
        Just("<<-'END'".to_string()),
        Just("=".to_string()),
        Just("#".to_string()),
        Just("\\\n".to_string()),
        Just("`\n".to_string()),
        "[\\PC]{1,3}",
    ]
}

fn keyword() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("FROM"),
        Just("RUN"),
        Just("CMD"),
        Just("ENTRYPOINT"),
        Just("COPY"),
        Just("ADD"),
        Just("ENV"),
        Just("ARG"),
        Just("LABEL"),
        Just("WORKDIR"),
        Just("USER"),
        Just("EXPOSE"),
        Just("VOLUME"),
        Just("SHELL"),
        Just("STOPSIGNAL"),
        Just("HEALTHCHECK"),
        Just("ONBUILD"),
        Just("MAINTAINER"),
        Just("from"),
        Just("Run"),
        Just("BOGUS"),
    ]
    .prop_map(str::to_string)
}

fn flag() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("--from=a".to_string()),
        Just("--chown=1:1".to_string()),
        Just("--chmod=755".to_string()),
        Just("--platform=$BUILDPLATFORM".to_string()),
        Just("--mount=type=cache,target=/c".to_string()),
        Just("--network=none".to_string()),
        Just("--interval=1s".to_string()),
        Just("--".to_string()),
        "--[a-z]{1,5}(=[a-z0-9]{0,4})?",
    ]
}

/// One line (or several, with continuations and heredoc bodies) of a Dockerfile.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (keyword(), prop::collection::vec(flag(), 0..2), prop::collection::vec(arg_piece(), 0..8))
            .prop_map(|(k, flags, args)| {
                let mut s = k;
                for f in flags {
                    s.push(' ');
                    s.push_str(&f);
                }
                s.push(' ');
                s.push_str(&args.concat());
                s
            }),
        1 => "#[ a-z=]{0,12}",
        1 => Just("# escape=`".to_string()),
        1 => Just("# syntax=docker/dockerfile:1".to_string()),
        1 => Just("".to_string()),
        1 => Just("EOF".to_string()),
        1 => Just("END".to_string()),
        1 => "[ \\t]{0,3}\\\\",
    ]
}

fn dockerfile() -> impl Strategy<Value = String> {
    (
        prop::bool::ANY,
        prop::collection::vec(line(), 0..14),
        prop_oneof![Just("\n"), Just("\r\n")],
    )
        .prop_map(|(bom, lines, eol)| {
            let mut s = String::new();
            if bom {
                s.push('\u{feff}');
            }
            s.push_str(&lines.join(eol));
            s
        })
}

#[track_caller]
fn within_budget<T>(what: &str, input: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    assert!(
        t.elapsed() < BUDGET,
        "{what} took {:?} on {input:?}",
        t.elapsed()
    );
    out
}

fn plan(src: &str) {
    let mut args = BTreeMap::new();
    args.insert("A".to_string(), "x".to_string());
    let _ = within_budget("plan", src, || Plan::from_source(src, &args, None));
    let _ = within_budget("plan --target", src, || {
        Plan::from_source(src, &args, Some("a"))
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn dockerfile_shaped_text_never_panics(src in dockerfile()) {
        let parsed = within_budget("parse", &src, || parse(&src));
        if let Ok(df) = &parsed {
            // Positions are inside the file and in order.
            let lines = src.lines().count().max(1);
            let mut last = 0;
            for n in &df.nodes {
                prop_assert!(n.start_line >= 1 && n.start_line <= n.end_line, "{n:?}");
                prop_assert!(n.end_line <= lines + 1, "{n:?} past {lines} lines");
                prop_assert!(n.start_line >= last, "out of order: {n:?}");
                last = n.start_line;
            }
        }
        plan(&src);
    }

    #[test]
    fn arbitrary_text_never_panics(src in "[\\PC\\n\\r\\t]{0,300}") {
        let _ = within_budget("parse", &src, || parse(&src));
        plan(&src);
    }

    #[test]
    fn arbitrary_bytes_as_lossy_text_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let src = String::from_utf8_lossy(&bytes).into_owned();
        let _ = within_budget("parse", &src, || parse(&src));
        plan(&src);
    }

    /// Plain `RUN` lines keep their count and order whatever their words.
    #[test]
    fn simple_lines_are_counted(words in prop::collection::vec("[a-z0-9_./=-]{1,10}", 1..12)) {
        let mut src = String::from("FROM scratch\n");
        for w in &words {
            src.push_str(&format!("RUN echo {w}\n"));
        }
        let df = parse(&src).unwrap();
        prop_assert_eq!(df.nodes.len(), words.len() + 1);
        for (i, w) in words.iter().enumerate() {
            let n = &df.nodes[i + 1];
            prop_assert_eq!(n.keyword.to_ascii_uppercase(), "RUN");
            prop_assert_eq!(&n.rest, &format!("echo {w}"));
            prop_assert_eq!(n.start_line, i + 2);
        }
    }

    /// A continuation joins lines into one instruction, with either escape character.
    #[test]
    fn continuations_join(parts in prop::collection::vec("[a-z0-9]{1,6}", 1..6), backtick in any::<bool>()) {
        let esc = if backtick { '`' } else { '\\' };
        let mut src = String::new();
        if backtick {
            src.push_str("# escape=`\n");
        }
        src.push_str("FROM scratch\nRUN ");
        src.push_str(&parts.join(&format!(" {esc}\n  ")));
        src.push('\n');
        let df = parse(&src).unwrap();
        prop_assert_eq!(df.nodes.len(), 2);
        let words: Vec<&str> = df.nodes[1].rest.split_whitespace().collect();
        prop_assert_eq!(words, parts.iter().map(String::as_str).collect::<Vec<_>>());
    }

    /// The word expander takes any word and any environment.
    #[test]
    fn shell_expansion_never_panics(
        word in "[\\PC]{0,60}",
        pieces in prop::collection::vec(arg_piece(), 0..10),
        backtick in any::<bool>(),
    ) {
        let lexer = Lexer::new(if backtick { '`' } else { '\\' });
        let env: Vec<String> = vec!["A=1".into(), "B=two words".into(), "EMPTY=".into()];
        let joined = pieces.concat();
        for w in [&word, &joined] {
            let _ = within_budget("word", w, || lexer.word(w, &env));
            let _ = within_budget("words", w, || lexer.words(w, &env));
            let _ = within_budget("heredoc", w, || lexer.heredoc(w, &env));
        }
    }

    /// Defined variables expand to their values.
    #[test]
    fn variables_expand(name in "[A-Z][A-Z0-9_]{0,6}", value in "[a-z0-9]{0,8}") {
        let lexer = Lexer::new('\\');
        let env = vec![format!("{name}={value}")];
        prop_assert_eq!(lexer.word(&format!("${name}"), &env).unwrap(), value.clone());
        prop_assert_eq!(lexer.word(&format!("${{{name}}}-x"), &env).unwrap(), format!("{value}-x"));
        prop_assert_eq!(lexer.word(&format!("\\${name}"), &env).unwrap(), format!("${name}"));
    }

    /// `.dockerignore` patterns of any shape, matched against any path.
    #[test]
    fn dockerignore_never_panics(
        patterns in prop::collection::vec("!?[a-z*?/.\\[\\]\\\\-]{0,12}", 0..8),
        paths in prop::collection::vec("[a-z*?/.-]{0,16}", 1..8),
    ) {
        let text = patterns.join("\n");
        let ig = within_budget("dockerignore parse", &text, || DockerIgnore::parse(&text));
        for p in &paths {
            let _ = within_budget("dockerignore match", p, || ig.excludes(p));
        }
    }
}

/// Inputs that once looked dangerous for a hand-written lexer: deep nesting,
/// unterminated quotes and heredocs, escapes at the very end, huge lines.
#[test]
fn hostile_corner_cases_are_answered() {
    let long = "A".repeat(200_000);
    let cases = [
        "\\".to_string(),
        "`".to_string(),
        "# escape=`\nFROM a`".to_string(),
        "FROM a\nRUN <<EOF".to_string(),
        "FROM a\nRUN <<EOF\nno end".to_string(),
        "FROM a\nRUN <<\"EOF".to_string(),
        "FROM a\nRUN <<EOF <<EOF <<EOF\nEOF\nEOF\n".to_string(),
        "FROM a\nRUN [\"".to_string(),
        "FROM a\nCMD [\"a\", \"b\"".to_string(),
        "FROM a\nRUN ${A:-${B:-${C:-${D:-${E}}}}}".to_string(),
        format!("FROM a\nRUN {}", "${".repeat(5000)),
        format!("FROM a\nRUN {}", "\\\n".repeat(5000)),
        format!("FROM a\nLABEL {long}={long}"),
        format!("FROM {long}"),
        "ONBUILD ONBUILD RUN x".to_string(),
        "FROM a AS\nFROM b AS b AS c".to_string(),
        "ARG\nFROM $A$A$A".to_string(),
        "FROM a\nHEALTHCHECK --interval=999999999999999999h CMD x".to_string(),
        "FROM a\nEXPOSE 99999999999/tcp 0-65536 -1".to_string(),
        "FROM a\nCOPY --from=-1 --chmod=99999999999 . .".to_string(),
        "\u{feff}\u{feff}FROM a".to_string(),
        "FROM a\r\nRUN x\r\n\r\n".to_string(),
        "FROM a\0\nRUN \0".to_string(),
    ];
    for src in &cases {
        let _ = within_budget("parse", src, || parse(src));
        plan(src);
        let lexer = Lexer::new('\\');
        let env: Vec<String> = Vec::new();
        let _ = within_budget("words", src, || lexer.words(src, &env));
    }
}
