//! Splits a command string into words like a POSIX shell would, without expansions:
//! Compose turns `command: echo "a b"` into `["echo", "a b"]` this way.

/// Splits `s`; `None` for an unterminated quote.
pub fn split(s: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        other => cur.push(other),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            e @ ('"' | '\\' | '$' | '`') => cur.push(e),
                            '\n' => {}
                            other => {
                                cur.push('\\');
                                cur.push(other);
                            }
                        },
                        other => cur.push(other),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') | None => {}
                    Some(other) => cur.push(other),
                }
            }
            other => {
                in_word = true;
                cur.push(other);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn splits_like_a_shell() {
        let w = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(split("echo  hi"), w(&["echo", "hi"]));
        assert_eq!(
            split(r#"sh -c "echo \"a b\"; x""#),
            w(&["sh", "-c", "echo \"a b\"; x"])
        );
        assert_eq!(split("a 'b c'd e\\ f"), w(&["a", "b cd", "e f"]));
        assert_eq!(split("''"), w(&[""]));
        assert_eq!(split("   "), w(&[]));
        assert_eq!(split("'open"), None);
    }
}
