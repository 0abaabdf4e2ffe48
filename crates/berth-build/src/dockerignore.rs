//! `.dockerignore` parsing and matching, plus the glob matcher COPY/ADD sources use.
//!
//! Rules (Docker's): one pattern per line, `#` lines are comments, blank lines skipped,
//! surrounding whitespace trimmed, a leading `!` makes an exception, each pattern is
//! cleaned like a path (`./a//b/` → `a/b`) and a leading `/` is dropped. Patterns are Go
//! `filepath.Match` globs (`*`, `?`, `[a-z]`, `[^x]`, `\` escapes) plus `**`, which matches
//! any number of directories (zero included). A path is excluded when the last pattern
//! matching it, or any of its parent directories, is not an exception.

/// A parsed `.dockerignore`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    text: String,
    exception: bool,
}

impl DockerIgnore {
    /// Parses the file's text.
    pub fn parse(text: &str) -> Self {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, body) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let mut cleaned = clean_path(body);
            if cleaned.len() > 1 {
                if let Some(rest) = cleaned.strip_prefix('/') {
                    cleaned = rest.to_string();
                }
            }
            if cleaned.is_empty() {
                continue;
            }
            patterns.push(Pattern {
                text: cleaned,
                exception,
            });
        }
        DockerIgnore { patterns }
    }

    /// Patterns in Docker's form (`!` prefix for exceptions).
    pub fn patterns(&self) -> Vec<String> {
        self.patterns
            .iter()
            .map(|p| {
                if p.exception {
                    format!("!{}", p.text)
                } else {
                    p.text.clone()
                }
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// True when some pattern is an exception (then excluded directories must still be
    /// walked, as an exception may re-include something inside them).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }

    /// Whether `path` (relative to the context root, `/`-separated) is excluded.
    pub fn excludes(&self, path: &str) -> bool {
        let path = clean_path(path);
        let path = path.trim_start_matches('/');
        let parents: Vec<&str> = path.split('/').collect();
        let mut matched = false;
        for p in &self.patterns {
            // Only patterns that could flip the current state need evaluating.
            if p.exception != matched {
                continue;
            }
            let mut hit = glob_match(&p.text, path, true);
            if !hit && parents.len() > 1 {
                for i in 1..parents.len() {
                    if glob_match(&p.text, &parents[..i].join("/"), true) {
                        hit = true;
                        break;
                    }
                }
            }
            if hit {
                matched = !p.exception;
            }
        }
        matched
    }
}

/// Lexical path cleaning (Go's `path.Clean` without the `.` result for empty paths):
/// collapses `//`, removes `.` elements and resolves `..` lexically (never above the
/// root for absolute paths).
pub fn clean_path(p: &str) -> String {
    let absolute = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: any run of characters other than `/`.
    Star,
    /// `**/` (or `**` followed by more pattern): any number of leading directories.
    AnyDirs,
    /// `**` at the end: anything.
    AnyRest,
    /// Shell `*`: any run of characters, `/` included.
    Any,
    Class {
        negated: bool,
        items: Vec<(char, char)>,
    },
}

fn tokenize(pattern: &str, double_star: bool) -> Option<Vec<Tok>> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if double_star && chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    toks.push(Tok::AnyRest);
                } else {
                    toks.push(Tok::AnyDirs);
                }
            }
            '*' => toks.push(Tok::Star),
            '?' => toks.push(Tok::One),
            '\\' => {
                let n = *chars.get(i)?;
                i += 1;
                toks.push(Tok::Lit(n));
            }
            '[' => {
                let mut negated = false;
                if matches!(chars.get(i), Some('^') | Some('!')) {
                    negated = true;
                    i += 1;
                }
                let mut items = Vec::new();
                let mut first = true;
                loop {
                    let mut lo = *chars.get(i)?;
                    i += 1;
                    if lo == ']' && !first {
                        break;
                    }
                    first = false;
                    if lo == '\\' {
                        lo = *chars.get(i)?;
                        i += 1;
                    }
                    let mut hi = lo;
                    if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|c| *c != ']') {
                        hi = chars[i + 1];
                        i += 2;
                        if hi == '\\' {
                            hi = *chars.get(i)?;
                            i += 1;
                        }
                    }
                    items.push((lo, hi));
                }
                toks.push(Tok::Class { negated, items });
            }
            other => toks.push(Tok::Lit(other)),
        }
    }
    Some(toks)
}

/// Matches `name` against a glob. `double_star` enables `**` (dockerignore); COPY sources
/// use plain `filepath.Match` semantics. A malformed pattern matches nothing.
pub fn glob_match(pattern: &str, name: &str, double_star: bool) -> bool {
    let Some(toks) = tokenize(pattern, double_star) else {
        return false;
    };
    let name: Vec<char> = name.chars().collect();
    match_from(&toks, &name)
}

fn match_from(toks: &[Tok], name: &[char]) -> bool {
    let Some((tok, rest)) = toks.split_first() else {
        return name.is_empty();
    };
    match tok {
        Tok::Lit(c) => name.first() == Some(c) && match_from(rest, &name[1..]),
        Tok::One => name.first().is_some_and(|c| *c != '/') && match_from(rest, &name[1..]),
        Tok::Class { negated, items } => match name.first() {
            Some(&c) if c != '/' => {
                let inside = items.iter().any(|(lo, hi)| *lo <= c && c <= *hi);
                inside != *negated && match_from(rest, &name[1..])
            }
            _ => false,
        },
        Tok::Star => {
            let mut i = 0;
            loop {
                if match_from(rest, &name[i..]) {
                    return true;
                }
                if i >= name.len() || name[i] == '/' {
                    return false;
                }
                i += 1;
            }
        }
        Tok::AnyRest => true,
        Tok::Any => (0..=name.len()).any(|i| match_from(rest, &name[i..])),
        Tok::AnyDirs => {
            // Zero directories, or any prefix ending just after a '/'.
            if match_from(rest, name) {
                return true;
            }
            (0..name.len()).any(|i| name[i] == '/' && match_from(rest, &name[i + 1..]))
        }
    }
}

/// Shell pattern match (`${v#pat}`): `*` and `?` also match `/`.
pub(crate) fn shell_match(pattern: &str, name: &str) -> bool {
    let Some(mut toks) = tokenize(pattern, false) else {
        return false;
    };
    for t in &mut toks {
        if *t == Tok::Star {
            *t = Tok::Any;
        }
    }
    let name: Vec<char> = name.chars().collect();
    match_from(&toks, &name)
}

/// True when `s` contains glob metacharacters.
pub fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_examples() {
        let ig = DockerIgnore::parse("# comment\n*/temp*\n*/*/temp*\ntemp?\n");
        let table = [
            ("somedir/temporary.txt", true),
            ("somedir/temp", true),
            ("somedir/temp/inside", true),
            ("temporary.txt", false),
            ("somedir/subdir/temporary.txt", true),
            ("a/b/c/temp", false),
            ("tempa", true),
            ("tempab", false),
            ("other", false),
        ];
        for (path, want) in table {
            assert_eq!(ig.excludes(path), want, "{path}");
        }
    }

    #[test]
    fn double_star() {
        let ig = DockerIgnore::parse("**/*.go\n");
        assert!(ig.excludes("main.go"));
        assert!(ig.excludes("a/b/c.go"));
        assert!(!ig.excludes("a/b/c.rs"));
        let ig = DockerIgnore::parse("a/**\n");
        assert!(ig.excludes("a/x"));
        assert!(ig.excludes("a/x/y"));
        assert!(!ig.excludes("b/a/x"));
        let ig = DockerIgnore::parse("a/**/z\n");
        assert!(ig.excludes("a/z"));
        assert!(ig.excludes("a/b/c/z"));
        assert!(!ig.excludes("a/b/c/zz"));
    }

    #[test]
    fn exceptions_order() {
        let ig = DockerIgnore::parse("*.md\n!README.md\n");
        assert!(ig.excludes("CHANGES.md"));
        assert!(!ig.excludes("README.md"));
        let ig = DockerIgnore::parse("*.md\n!README*.md\nREADME-secret.md\n");
        assert!(ig.excludes("README-secret.md"));
        assert!(!ig.excludes("README-public.md"));
        assert!(ig.excludes("other.md"));
        let ig = DockerIgnore::parse("docs\n!docs/keep.txt\n");
        assert!(ig.excludes("docs/x"));
        assert!(!ig.excludes("docs/keep.txt"));
        assert!(ig.has_exceptions());
    }

    #[test]
    fn cleaning_of_patterns() {
        let ig = DockerIgnore::parse("  /build/  \n./tmp//x/\n! /keep \n");
        assert_eq!(ig.patterns(), vec!["build", "tmp/x", "!keep"]);
        assert!(ig.excludes("build/out.o"));
        assert!(ig.excludes("tmp/x"));
        assert!(!ig.excludes("tmp/y"));
    }

    #[test]
    fn go_match_semantics() {
        assert!(glob_match("*.txt", "a.txt", false));
        assert!(!glob_match("*.txt", "d/a.txt", false));
        assert!(glob_match("d/*.txt", "d/a.txt", false));
        assert!(glob_match("file[0-9]", "file7", false));
        assert!(!glob_match("file[^0-9]", "file7", false));
        assert!(glob_match("file[!0-9]", "filex", false));
        assert!(glob_match("a\\*b", "a*b", false));
        assert!(!glob_match("a\\*b", "axb", false));
        assert!(glob_match("?", "x", false));
        assert!(!glob_match("?", "/", false));
        assert!(!glob_match("[", "[", false));
        assert!(has_glob("a*"));
        assert!(!has_glob("abc"));
    }

    #[test]
    fn clean() {
        assert_eq!(clean_path("./a//b/../c/"), "a/c");
        assert_eq!(clean_path("/../a"), "/a");
        assert_eq!(clean_path("../a"), "../a");
        assert_eq!(clean_path("."), "");
    }
}
