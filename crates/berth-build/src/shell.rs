//! Variable expansion the way Dockerfile instructions do it (not a shell: no command
//! substitution, no globbing).
//!
//! Supports `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`,
//! `${VAR:?msg}`, `${VAR?msg}`, `${VAR#pat}`/`${VAR%pat}` with a literal (or `*`-glob)
//! pattern, single quotes (literal), double quotes (expansion inside, escapes for `"`, `$`
//! and the escape character), and the escape character (`\` or `` ` ``). Quotes are
//! removed from the result, as Docker does for ENV/LABEL/WORKDIR/COPY/… arguments.
//! [`Lexer::words`] additionally splits on unquoted whitespace (FROM/EXPOSE words).

/// Expansion error (`${X:?msg}`, bad modifier, missing `}`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExpandError(pub String);

/// Variable environment: `KEY=value` strings, first match wins (ENV shadows ARG by being
/// listed first).
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

impl Env for [String] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter().find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
            (k == name).then(|| v.to_string())
        })
    }
}

impl Env for Vec<String> {
    fn get(&self, name: &str) -> Option<String> {
        Env::get(self.as_slice(), name)
    }
}

/// The expander; `escape` is the Dockerfile's escape character.
#[derive(Debug, Clone, Copy)]
pub struct Lexer {
    pub escape: char,
}

struct Scan<'a> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    env: &'a dyn Env,
}

impl Lexer {
    pub fn new(escape: char) -> Self {
        Lexer { escape }
    }

    /// Expands `word` into one string (whitespace kept, quotes removed).
    pub fn word(&self, word: &str, env: &dyn Env) -> Result<String, ExpandError> {
        Ok(self.run(word, env)?.0)
    }

    /// Expands and splits on unquoted whitespace.
    pub fn words(&self, text: &str, env: &dyn Env) -> Result<Vec<String>, ExpandError> {
        Ok(self.run(text, env)?.1)
    }

    /// Expands an unquoted heredoc body the way a shell does: `$VAR`/`${…}` are expanded,
    /// the escape character only escapes `$` and itself, quotes are plain text.
    pub fn heredoc(&self, text: &str, env: &dyn Env) -> Result<String, ExpandError> {
        let mut s = Scan {
            chars: text.chars().collect(),
            pos: 0,
            escape: self.escape,
            env,
        };
        let mut out = String::new();
        while let Some(c) = s.next() {
            if c == '$' {
                out.push_str(&s.dollar()?);
            } else if c == self.escape
                && matches!(s.peek(), Some(n) if n == '$' || n == self.escape)
            {
                out.extend(s.next());
            } else {
                out.push(c);
            }
        }
        Ok(out)
    }

    fn run(&self, text: &str, env: &dyn Env) -> Result<(String, Vec<String>), ExpandError> {
        let mut s = Scan {
            chars: text.chars().collect(),
            pos: 0,
            escape: self.escape,
            env,
        };
        s.process(None)
    }
}

impl Scan<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Processes until `stop` (unquoted) or the end. Returns the joined text and the words.
    fn process(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), ExpandError> {
        let mut result = String::new();
        let mut words: Vec<String> = Vec::new();
        let mut word = String::new();
        let mut in_word = false;
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                if in_word {
                    words.push(word);
                }
                return Ok((result, words));
            }
            if c == '\'' {
                self.pos += 1;
                let part = self.single_quoted()?;
                result.push_str(&part);
                word.push_str(&part);
                in_word = true;
            } else if c == '"' {
                self.pos += 1;
                let part = self.double_quoted()?;
                result.push_str(&part);
                word.push_str(&part);
                in_word = true;
            } else if c == '$' {
                self.pos += 1;
                let part = self.dollar()?;
                result.push_str(&part);
                // An unquoted expansion is split into words on its whitespace
                // (`EXPOSE $PORTS` with PORTS="80 443" gives two ports).
                for pc in part.chars() {
                    if pc.is_whitespace() {
                        if in_word {
                            words.push(std::mem::take(&mut word));
                            in_word = false;
                        }
                    } else {
                        word.push(pc);
                        in_word = true;
                    }
                }
            } else if c == self.escape {
                self.pos += 1;
                // A trailing escape is dropped.
                if let Some(n) = self.next() {
                    result.push(n);
                    word.push(n);
                    in_word = true;
                }
            } else if c.is_whitespace() {
                self.pos += 1;
                result.push(c);
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            } else {
                self.pos += 1;
                result.push(c);
                word.push(c);
                in_word = true;
            }
        }
        if let Some(stop) = stop {
            return Err(ExpandError(format!(
                "unexpected end of statement while looking for matching {stop}"
            )));
        }
        if in_word {
            words.push(word);
        }
        Ok((result, words))
    }

    fn single_quoted(&mut self) -> Result<String, ExpandError> {
        let mut out = String::new();
        loop {
            match self.next() {
                None => {
                    return Err(ExpandError(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    ))
                }
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, ExpandError> {
        let mut out = String::new();
        loop {
            match self.next() {
                None => {
                    return Err(ExpandError(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    ))
                }
                Some('"') => return Ok(out),
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) if c == self.escape => match self.next() {
                    None => out.push(c),
                    Some(n) => {
                        if n != '"' && n != '$' && n != self.escape {
                            out.push(c);
                        }
                        out.push(n);
                    }
                },
                Some(c) => out.push(c),
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        if let Some(c) = self.peek() {
            if c.is_ascii_digit() {
                while let Some(d) = self.peek().filter(|d| d.is_ascii_digit()) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if "@*#?-$!".contains(c) {
                self.pos += 1;
                return c.to_string();
            }
        }
        while let Some(c) = self.peek() {
            if c.is_alphanumeric() || c == '_' {
                name.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        name
    }

    fn dollar(&mut self) -> Result<String, ExpandError> {
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(self.env.get(&name).unwrap_or_default());
        }
        self.pos += 1;
        let name = self.name();
        if name.is_empty() {
            return Err(ExpandError("bad substitution".into()));
        }
        let value = self.env.get(&name);
        let Some(c) = self.next() else {
            return Err(ExpandError("missing '}'".into()));
        };
        match c {
            '}' => Ok(value.unwrap_or_default()),
            ':' => {
                let m = self
                    .next()
                    .ok_or_else(|| ExpandError("missing '}'".into()))?;
                let (word, _) = self.process(Some('}'))?;
                let set = value.as_deref().is_some_and(|v| !v.is_empty());
                self.modifier(&name, m, value, set, word, true)
            }
            '-' | '+' | '?' => {
                let (word, _) = self.process(Some('}'))?;
                let set = value.is_some();
                self.modifier(&name, c, value, set, word, false)
            }
            '#' | '%' => {
                let longest = self.peek() == Some(c);
                if longest {
                    self.pos += 1;
                }
                let (pattern, _) = self.process(Some('}'))?;
                let v = value.unwrap_or_default();
                Ok(trim_pattern(&v, &pattern, c == '#', longest))
            }
            other => Err(ExpandError(format!(
                "unsupported modifier ({other}) in substitution"
            ))),
        }
    }

    fn modifier(
        &self,
        name: &str,
        m: char,
        value: Option<String>,
        set: bool,
        word: String,
        colon: bool,
    ) -> Result<String, ExpandError> {
        match m {
            '-' => Ok(if set { value.unwrap_or_default() } else { word }),
            '+' => Ok(if set { word } else { String::new() }),
            '?' => {
                if set {
                    Ok(value.unwrap_or_default())
                } else if word.is_empty() {
                    let what = if colon {
                        "is not allowed to be empty"
                    } else {
                        "is not allowed to be unset"
                    };
                    Err(ExpandError(format!("{name}: {what}")))
                } else {
                    Err(ExpandError(format!("{name}: {word}")))
                }
            }
            other => Err(ExpandError(format!(
                "unsupported modifier ({other}) in substitution"
            ))),
        }
    }
}

/// `${v#p}`, `${v##p}`, `${v%p}`, `${v%%p}` with `*`/`?` glob patterns.
fn trim_pattern(value: &str, pattern: &str, prefix: bool, longest: bool) -> String {
    let idx: Vec<usize> = value
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(value.len()))
        .collect();
    let candidates: Box<dyn Iterator<Item = &usize>> = if prefix == longest {
        // prefix+longest and suffix+shortest both want the split point furthest right first.
        Box::new(idx.iter().rev())
    } else {
        Box::new(idx.iter())
    };
    for &i in candidates {
        let (part, keep) = if prefix {
            (&value[..i], &value[i..])
        } else {
            (&value[i..], &value[..i])
        };
        if crate::dockerignore::shell_match(pattern, part) {
            return keep.to_string();
        }
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<String> {
        vec![
            "A=apple".into(),
            "EMPTY=".into(),
            "SP=a b".into(),
            "P=/usr/local/bin".into(),
            "A=shadowed".into(),
        ]
    }

    #[test]
    fn expansion_table() {
        let lx = Lexer::new('\\');
        let e = env();
        let table: &[(&str, &str)] = &[
            ("$A", "apple"),
            ("${A}", "apple"),
            ("x${A}y", "xappley"),
            ("$A-$A", "apple-apple"),
            ("$NOPE", ""),
            ("${NOPE:-def}", "def"),
            ("${EMPTY:-def}", "def"),
            ("${EMPTY-def}", ""),
            ("${NOPE-def}", "def"),
            ("${A:-def}", "apple"),
            ("${A:+alt}", "alt"),
            ("${EMPTY:+alt}", ""),
            ("${EMPTY+alt}", "alt"),
            ("${NOPE+alt}", ""),
            ("${NOPE:-${A}x}", "applex"),
            ("'$A'", "$A"),
            ("\"$A\"", "apple"),
            ("\"'$A'\"", "'apple'"),
            ("\\$A", "$A"),
            ("\"\\$A\"", "$A"),
            ("\"a\\b\"", "a\\b"),
            ("a\\ b", "a b"),
            ("$", "$"),
            ("a$", "a$"),
            ("$1x", "x"),
            ("${P#*/}", "usr/local/bin"),
            ("${P##*/}", "bin"),
            ("${P%/*}", "/usr/local"),
            ("${P%%/*}", ""),
            ("${SP}", "a b"),
            ("é$A", "éapple"),
        ];
        for (input, want) in table {
            assert_eq!(lx.word(input, &e).unwrap(), *want, "input {input:?}");
        }
    }

    #[test]
    fn backtick_escape() {
        let lx = Lexer::new('`');
        let e = env();
        assert_eq!(lx.word("`$A", &e).unwrap(), "$A");
        assert_eq!(lx.word("c:\\dir", &e).unwrap(), "c:\\dir");
    }

    #[test]
    fn errors() {
        let lx = Lexer::new('\\');
        let e = env();
        assert_eq!(
            lx.word("${NOPE:?must be set}", &e).unwrap_err().0,
            "NOPE: must be set"
        );
        assert_eq!(
            lx.word("${EMPTY:?}", &e).unwrap_err().0,
            "EMPTY: is not allowed to be empty"
        );
        assert_eq!(lx.word("${EMPTY?x}", &e).unwrap(), "");
        assert_eq!(
            lx.word("${A!x}", &e).unwrap_err().0,
            "unsupported modifier (!) in substitution"
        );
        assert!(lx.word("${A", &e).is_err());
        assert!(lx.word("'open", &e).is_err());
    }

    #[test]
    fn heredoc_bodies() {
        let lx = Lexer::new('\\');
        let e = env();
        assert_eq!(
            lx.heredoc("echo \"$A\" 'it''s' \\$A \\\\ \\n ${NOPE:-x}\n", &e)
                .unwrap(),
            "echo \"apple\" 'it''s' $A \\ \\n x\n"
        );
        assert_eq!(lx.heredoc("don't $A", &e).unwrap(), "don't apple");
    }

    #[test]
    fn word_splitting() {
        let lx = Lexer::new('\\');
        let e = env();
        assert_eq!(
            lx.words("a  \"b c\" $A", &e).unwrap(),
            vec!["a", "b c", "apple"]
        );
        assert_eq!(lx.words("''", &e).unwrap(), vec![""]);
        assert_eq!(lx.words("$SP x", &e).unwrap(), vec!["a", "b", "x"]);
        assert_eq!(lx.words("\"$SP\"", &e).unwrap(), vec!["a b"]);
    }
}
