//! Lexer: splits a template into text and action tokens, handling `{{- ` / ` -}}`
//! trim markers and `{{/* comments */}}` the way Go's text/template does.

use crate::Error;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Text(String),
    /// `{{` (after trimming; the flag is not needed past the lexer).
    Left,
    Right,
    Space,
    /// `.Name` (the name without the dot).
    Field(String),
    /// `$name` or `$` (name without the `$`; empty for `$`).
    Var(String),
    Dot,
    Ident(String),
    Str(String),
    Num(String),
    Char(char),
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    /// Byte offset in the source, for error positions.
    pub pos: usize,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Line number (1-based) of a byte offset.
pub fn line_of(src: &str, pos: usize) -> usize {
    1 + src.as_bytes()[..pos.min(src.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// Line and column (1-based, column counted in bytes after the last newline, as Go).
pub fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(src.len());
    let before = &src.as_bytes()[..pos];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let col = match before.iter().rposition(|&b| b == b'\n') {
        Some(nl) => pos - nl - 1,
        None => pos,
    };
    (line, col)
}

pub fn lex(src: &str) -> Result<Vec<Token>, Error> {
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0;
    let b = src.as_bytes();
    let perr =
        |pos: usize, msg: String| Error::Parse(format!("template: :{}: {msg}", line_of(src, pos)));
    // Whether the next text must have leading whitespace trimmed (after ` -}}`).
    let mut trim_next = false;
    while i < src.len() {
        let start = i;
        let next = src[i..].find("{{").map(|o| i + o).unwrap_or(src.len());
        let mut text = &src[start..next];
        if trim_next {
            text = text.trim_start_matches(is_space);
            trim_next = false;
        }
        i = next;
        if i >= src.len() {
            if !text.is_empty() {
                out.push(Token {
                    tok: Tok::Text(text.to_string()),
                    pos: start,
                });
            }
            break;
        }
        // An action starts at i.
        let mut inner = i + 2;
        if src[inner..].starts_with("- ")
            || src[inner..].starts_with("-\t")
            || src[inner..].starts_with("-\r")
            || src[inner..].starts_with("-\n")
        {
            text = text.trim_end_matches(is_space);
            inner += 1;
        }
        if !text.is_empty() {
            out.push(Token {
                tok: Tok::Text(text.to_string()),
                pos: start,
            });
        }
        // Comment: {{/* ... */}} (possibly with trim markers around).
        let after_ws = inner + src[inner..].len() - src[inner..].trim_start_matches(is_space).len();
        if src[after_ws..].starts_with("/*") {
            let Some(end) = src[after_ws + 2..].find("*/") else {
                return Err(perr(i, "unclosed comment".into()));
            };
            let mut j = after_ws + 2 + end + 2;
            let rest = &src[j..];
            let trimmed = rest.trim_start_matches(is_space);
            let ws = rest.len() - trimmed.len();
            if ws > 0 && trimmed.starts_with("-}}") {
                trim_next = true;
                j += ws + 3;
            } else if rest.starts_with("}}") {
                j += 2;
            } else {
                return Err(perr(i, "comment ends before closing delimiter".into()));
            }
            i = j;
            continue;
        }
        out.push(Token {
            tok: Tok::Left,
            pos: i,
        });
        i = inner;
        // Tokens until `}}` / ` -}}`.
        loop {
            if i >= src.len() {
                return Err(perr(i, "unclosed action".into()));
            }
            let rest = &src[i..];
            let c = rest.chars().next().unwrap_or(' ');
            if is_space(c) {
                let trimmed = rest.trim_start_matches(is_space);
                let n = rest.len() - trimmed.len();
                if trimmed.starts_with("-}}") {
                    out.push(Token {
                        tok: Tok::Right,
                        pos: i + n,
                    });
                    trim_next = true;
                    i += n + 3;
                    break;
                }
                if trimmed.starts_with("}}") {
                    out.push(Token {
                        tok: Tok::Right,
                        pos: i + n,
                    });
                    i += n + 2;
                    break;
                }
                if rest[..n].contains('\n') {
                    // Go allows newlines inside actions only since 1.16, and only
                    // between tokens: accept them like spaces.
                }
                out.push(Token {
                    tok: Tok::Space,
                    pos: i,
                });
                i += n;
                continue;
            }
            if rest.starts_with("}}") {
                out.push(Token {
                    tok: Tok::Right,
                    pos: i,
                });
                i += 2;
                break;
            }
            let pos = i;
            match c {
                '|' => {
                    out.push(Token {
                        tok: Tok::Pipe,
                        pos,
                    });
                    i += 1;
                }
                '(' => {
                    out.push(Token {
                        tok: Tok::LParen,
                        pos,
                    });
                    i += 1;
                }
                ')' => {
                    out.push(Token {
                        tok: Tok::RParen,
                        pos,
                    });
                    i += 1;
                }
                ',' => {
                    out.push(Token {
                        tok: Tok::Comma,
                        pos,
                    });
                    i += 1;
                }
                ':' => {
                    if rest.starts_with(":=") {
                        out.push(Token {
                            tok: Tok::Declare,
                            pos,
                        });
                        i += 2;
                    } else {
                        return Err(perr(pos, "expected :=".into()));
                    }
                }
                '=' => {
                    out.push(Token {
                        tok: Tok::Assign,
                        pos,
                    });
                    i += 1;
                }
                '"' => {
                    let (s, n) = lex_quoted(&rest[1..])
                        .ok_or_else(|| perr(pos, "unterminated quoted string".into()))?;
                    out.push(Token {
                        tok: Tok::Str(s),
                        pos,
                    });
                    i += 1 + n;
                }
                '`' => {
                    let Some(end) = rest[1..].find('`') else {
                        return Err(perr(pos, "unterminated raw quoted string".into()));
                    };
                    out.push(Token {
                        tok: Tok::Str(rest[1..1 + end].to_string()),
                        pos,
                    });
                    i += end + 2;
                }
                '\'' => {
                    let (s, n) = lex_char(&rest[1..])
                        .ok_or_else(|| perr(pos, "unterminated character constant".into()))?;
                    out.push(Token {
                        tok: Tok::Char(s),
                        pos,
                    });
                    i += 1 + n;
                }
                '$' => {
                    let name: String = rest[1..].chars().take_while(|&c| is_alnum(c)).collect();
                    i += 1 + name.len();
                    out.push(Token {
                        tok: Tok::Var(name),
                        pos,
                    });
                }
                '.' => {
                    let name: String = rest[1..].chars().take_while(|&c| is_alnum(c)).collect();
                    if name.is_empty() {
                        // A number like .5 or a lone dot.
                        if rest[1..].starts_with(|c: char| c.is_ascii_digit()) {
                            let n = scan_number(rest);
                            out.push(Token {
                                tok: Tok::Num(rest[..n].to_string()),
                                pos,
                            });
                            i += n;
                        } else {
                            out.push(Token { tok: Tok::Dot, pos });
                            i += 1;
                        }
                    } else {
                        i += 1 + name.len();
                        out.push(Token {
                            tok: Tok::Field(name),
                            pos,
                        });
                    }
                }
                c if c.is_ascii_digit()
                    || ((c == '-' || c == '+')
                        && rest[1..].starts_with(|d: char| d.is_ascii_digit() || d == '.')) =>
                {
                    let n = scan_number(rest);
                    out.push(Token {
                        tok: Tok::Num(rest[..n].to_string()),
                        pos,
                    });
                    i += n;
                }
                c if is_alnum(c) => {
                    let name: String = rest.chars().take_while(|&c| is_alnum(c)).collect();
                    i += name.len();
                    out.push(Token {
                        tok: Tok::Ident(name),
                        pos,
                    });
                }
                other => {
                    return Err(perr(pos, format!("unexpected {other:?} in command")));
                }
            }
        }
    }
    let _ = b;
    Ok(out)
}

/// Length in bytes of a number literal at the start of `s`.
fn scan_number(s: &str) -> usize {
    let mut n = 0;
    let bytes = s.as_bytes();
    if n < bytes.len() && (bytes[n] == b'-' || bytes[n] == b'+') {
        n += 1;
    }
    while n < bytes.len() {
        let c = bytes[n];
        let exp_sign =
            (c == b'-' || c == b'+') && n > 0 && matches!(bytes[n - 1], b'e' | b'E' | b'p' | b'P');
        if c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || exp_sign {
            n += 1;
        } else {
            break;
        }
    }
    n
}

/// Decodes a Go double-quoted string body; returns (value, bytes consumed incl. quote).
fn lex_quoted(s: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\n' => return None,
            '\\' => {
                let (_, e) = chars.next()?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    'x' | 'u' | 'U' => {
                        let len = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut hex = String::new();
                        for _ in 0..len {
                            hex.push(chars.next()?.1);
                        }
                        let v = u32::from_str_radix(&hex, 16).ok()?;
                        out.push(char::from_u32(v)?);
                    }
                    _ => return None,
                }
            }
            c => out.push(c),
        }
    }
    None
}

fn lex_char(s: &str) -> Option<(char, usize)> {
    let (v, n) = if let Some(rest) = s.strip_prefix('\\') {
        let (decoded, used) = lex_quoted(&format!("\\{}\"", rest.chars().next()?))?;
        (decoded.chars().next()?, used - 1)
    } else {
        let c = s.chars().next()?;
        (c, c.len_utf8())
    };
    if s[n..].starts_with('\'') {
        Some((v, n + 1))
    } else {
        None
    }
}
