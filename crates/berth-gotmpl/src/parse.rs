//! Parser: tokens → a tree of nodes (text, actions, if/range/with), resolving
//! function names against the built-ins and the caller's extensions like Go does
//! at parse time (`function "foo" not defined`).

use crate::lex::{line_of, Tok, Token};
use crate::Error;

#[derive(Debug, Clone)]
pub enum Node {
    Text(String),
    /// `{{pipeline}}`: printed unless it declares variables.
    Action(Pipeline),
    If(Branch),
    With(Branch),
    Range(Branch),
    Break,
    Continue,
}

#[derive(Debug, Clone)]
pub struct Branch {
    pub pipe: Pipeline,
    pub body: Vec<Node>,
    pub else_body: Option<Vec<Node>>,
}

#[derive(Debug, Clone)]
pub struct Pipeline {
    pub pos: usize,
    /// Variables declared (`:=`) or assigned (`=`).
    pub decl: Vec<String>,
    pub is_assign: bool,
    pub cmds: Vec<Command>,
}

#[derive(Debug, Clone)]
pub struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone)]
pub enum Arg {
    /// `.A.B` relative to dot (empty chain never happens; `.` is `Dot`).
    Field(Vec<String>),
    /// `$x.A.B`
    Var(String, Vec<String>),
    Dot,
    /// Function name.
    Func(String),
    Str(String),
    Num(f64, Option<i64>),
    Bool(bool),
    Nil,
    /// `(pipeline).A.B`
    Sub(Box<Pipeline>, Vec<String>),
}

/// Names of keywords / built-in functions known at parse time.
pub(crate) struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    i: usize,
    is_func: &'a dyn Fn(&str) -> bool,
    /// Declared variable names in scope (Go rejects undefined variables at parse time).
    vars: Vec<String>,
    range_depth: usize,
}

enum ListEnd {
    /// `{{end}}`
    EndKw,
    /// `{{else}}`
    Else,
    /// `{{else if …}}` / `{{else with …}}`: the keyword's chained branch.
    ElseChain(Node),
    Eof,
}

impl<'a> Parser<'a> {
    pub fn new(src: &'a str, toks: Vec<Token>, is_func: &'a dyn Fn(&str) -> bool) -> Self {
        Parser {
            src,
            toks,
            i: 0,
            is_func,
            vars: vec![String::new()],
            range_depth: 0,
        }
    }

    fn err(&self, pos: usize, msg: impl std::fmt::Display) -> Error {
        Error::Parse(format!("template: :{}: {msg}", line_of(self.src, pos)))
    }

    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.i)
    }

    fn peek_tok(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.tok)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.i).cloned();
        self.i += 1;
        t
    }

    fn cur_pos(&self) -> usize {
        self.peek().map(|t| t.pos).unwrap_or(self.src.len())
    }

    fn skip_space(&mut self) {
        while matches!(self.peek_tok(), Some(Tok::Space)) {
            self.i += 1;
        }
    }

    pub fn parse(mut self) -> Result<Vec<Node>, Error> {
        let (nodes, end) = self.list()?;
        match end {
            ListEnd::Eof => Ok(nodes),
            ListEnd::EndKw => Err(self.err(self.cur_pos(), "unexpected {{end}}")),
            ListEnd::Else | ListEnd::ElseChain(_) => {
                Err(self.err(self.cur_pos(), "unexpected {{else}}"))
            }
        }
    }

    /// Parses nodes until `{{end}}`, `{{else}}` or EOF.
    fn list(&mut self) -> Result<(Vec<Node>, ListEnd), Error> {
        let mut nodes = Vec::new();
        loop {
            let Some(t) = self.next() else {
                return Ok((nodes, ListEnd::Eof));
            };
            match t.tok {
                Tok::Text(s) => nodes.push(Node::Text(s)),
                Tok::Left => {
                    self.skip_space();
                    let kw = match self.peek_tok() {
                        Some(Tok::Ident(k)) => Some(k.clone()),
                        _ => None,
                    };
                    let pos = self.cur_pos();
                    match kw.as_deref() {
                        Some("end") => {
                            self.i += 1;
                            self.expect_right()?;
                            return Ok((nodes, ListEnd::EndKw));
                        }
                        Some("else") => {
                            self.i += 1;
                            self.skip_space();
                            match self.peek_tok() {
                                Some(Tok::Ident(k)) if k == "if" || k == "with" => {
                                    let k = k.clone();
                                    self.i += 1;
                                    // `else if` ends the current list; the chained branch
                                    // consumes the shared `{{end}}`.
                                    let node = self.control(&k, pos)?;
                                    return Ok((nodes, ListEnd::ElseChain(node)));
                                }
                                _ => {
                                    self.expect_right()?;
                                    return Ok((nodes, ListEnd::Else));
                                }
                            }
                        }
                        Some(k @ ("if" | "with" | "range")) => {
                            let k = k.to_string();
                            self.i += 1;
                            nodes.push(self.control(&k, pos)?);
                        }
                        Some(k @ ("break" | "continue")) => {
                            let k = k.to_string();
                            self.i += 1;
                            if self.range_depth == 0 {
                                return Err(
                                    self.err(pos, format!("{{{{{k}}}}} outside {{{{range}}}}"))
                                );
                            }
                            self.expect_right()?;
                            nodes.push(if k == "break" {
                                Node::Break
                            } else {
                                Node::Continue
                            });
                        }
                        Some(k @ ("define" | "template" | "block")) => {
                            return Err(self.err(pos, format!("{k} is not supported")));
                        }
                        _ => {
                            let pipe = self.pipeline(pos, false)?;
                            nodes.push(Node::Action(pipe));
                        }
                    }
                }
                other => return Err(self.err(t.pos, format!("unexpected {other:?}"))),
            }
        }
    }

    fn expect_right(&mut self) -> Result<(), Error> {
        self.skip_space();
        match self.next() {
            Some(Token {
                tok: Tok::Right, ..
            }) => Ok(()),
            Some(t) => Err(self.err(t.pos, format!("unexpected {} in end", describe(&t.tok)))),
            None => Err(self.err(self.src.len(), "unclosed action")),
        }
    }

    /// `if`/`with`/`range` after the keyword: pipeline, body, optional else, end.
    fn control(&mut self, kw: &str, pos: usize) -> Result<Node, Error> {
        let scope = self.vars.len();
        let pipe = self.pipeline(pos, kw == "range")?;
        if kw == "range" {
            self.range_depth += 1;
        }
        let (body, end) = self.list()?;
        if kw == "range" {
            self.range_depth -= 1;
        }
        let else_body = match end {
            ListEnd::EndKw => None,
            ListEnd::Eof => return Err(self.err(self.src.len(), "unexpected EOF")),
            ListEnd::ElseChain(node) => Some(vec![node]),
            ListEnd::Else => {
                let (eb, end2) = self.list()?;
                match end2 {
                    ListEnd::EndKw => Some(eb),
                    ListEnd::Eof => return Err(self.err(self.src.len(), "unexpected EOF")),
                    _ => return Err(self.err(self.cur_pos(), "expected end; found {{else}}")),
                }
            }
        };
        self.vars.truncate(scope);
        let b = Branch {
            pipe,
            body,
            else_body,
        };
        Ok(match kw {
            "if" => Node::If(b),
            "with" => Node::With(b),
            _ => Node::Range(b),
        })
    }

    /// Parses a pipeline up to `}}` (consumed) — or up to `)` when inside parens.
    fn pipeline(&mut self, pos: usize, allow_two_vars: bool) -> Result<Pipeline, Error> {
        self.pipeline_until(pos, allow_two_vars, false)
    }

    fn pipeline_until(
        &mut self,
        pos: usize,
        allow_two_vars: bool,
        paren: bool,
    ) -> Result<Pipeline, Error> {
        self.skip_space();
        let mut decl = Vec::new();
        let mut is_assign = false;
        // Declarations: `$x :=`, `$x =`, `$i, $v :=`.
        let save = self.i;
        if let Some(Tok::Var(name)) = self.peek_tok().cloned() {
            self.i += 1;
            self.skip_space();
            match self.peek_tok() {
                Some(Tok::Declare) | Some(Tok::Assign) => {
                    is_assign = matches!(self.peek_tok(), Some(Tok::Assign));
                    self.i += 1;
                    decl.push(name);
                }
                Some(Tok::Comma) if allow_two_vars => {
                    self.i += 1;
                    self.skip_space();
                    match (self.next().map(|t| t.tok), {
                        self.skip_space();
                        self.next().map(|t| t.tok)
                    }) {
                        (Some(Tok::Var(second)), Some(Tok::Declare)) => {
                            decl.push(name);
                            decl.push(second);
                        }
                        (Some(Tok::Var(second)), Some(Tok::Assign)) => {
                            decl.push(name);
                            decl.push(second);
                            is_assign = true;
                        }
                        _ => return Err(self.err(pos, "range can only initialize variables")),
                    }
                }
                _ => self.i = save,
            }
        }
        if is_assign {
            for d in &decl {
                if !self.vars.contains(d) {
                    return Err(self.err(pos, format!("undefined variable \"${d}\"")));
                }
            }
        }
        let mut cmds = Vec::new();
        loop {
            self.skip_space();
            let cpos = self.cur_pos();
            match self.peek_tok() {
                None => return Err(self.err(self.src.len(), "unclosed action")),
                Some(Tok::Right) if !paren => {
                    self.i += 1;
                    break;
                }
                Some(Tok::RParen) if paren => {
                    self.i += 1;
                    break;
                }
                Some(Tok::Right) => return Err(self.err(cpos, "unclosed left paren")),
                Some(Tok::RParen) => return Err(self.err(cpos, "unexpected right paren")),
                _ => {}
            }
            let cmd = self.command(paren)?;
            cmds.push(cmd);
            self.skip_space();
            if matches!(self.peek_tok(), Some(Tok::Pipe)) {
                self.i += 1;
                self.skip_space();
                if matches!(self.peek_tok(), Some(Tok::Right) | Some(Tok::RParen) | None) {
                    return Err(self.err(cpos, "missing command"));
                }
            }
        }
        if cmds.is_empty() {
            return Err(self.err(pos, "missing value for command"));
        }
        // Declared variables become visible after the pipeline.
        if !is_assign {
            self.vars.extend(decl.iter().cloned());
        }
        Ok(Pipeline {
            pos,
            decl,
            is_assign,
            cmds,
        })
    }

    fn command(&mut self, paren: bool) -> Result<Command, Error> {
        let pos = self.cur_pos();
        let mut args = Vec::new();
        loop {
            self.skip_space();
            match self.peek_tok() {
                None => return Err(self.err(self.src.len(), "unclosed action")),
                Some(Tok::Right) | Some(Tok::RParen) | Some(Tok::Pipe) => break,
                _ => {}
            }
            let a = self.operand()?;
            args.push(a);
            // Operands must be separated by spaces.
            match self.peek_tok() {
                Some(Tok::Space) | Some(Tok::Right) | Some(Tok::Pipe) => {}
                Some(Tok::RParen) if paren => {}
                Some(t) => {
                    let t = t.clone();
                    return Err(self.err(
                        self.cur_pos(),
                        format!("unexpected {} in operand", describe(&t)),
                    ));
                }
                None => {}
            }
        }
        if args.is_empty() {
            return Err(self.err(pos, "empty command"));
        }
        Ok(Command { pos, args })
    }

    fn chain(&mut self) -> Vec<String> {
        let mut fields = Vec::new();
        while let Some(Tok::Field(f)) = self.peek_tok() {
            fields.push(f.clone());
            self.i += 1;
        }
        fields
    }

    fn operand(&mut self) -> Result<Arg, Error> {
        let Some(t) = self.next() else {
            return Err(self.err(self.src.len(), "unexpected EOF"));
        };
        let pos = t.pos;
        let arg = match t.tok {
            Tok::Field(f) => {
                let mut chain = vec![f];
                chain.extend(self.chain());
                Arg::Field(chain)
            }
            Tok::Dot => {
                if matches!(self.peek_tok(), Some(Tok::Field(_))) {
                    return Err(self.err(pos, "unexpected . after term \".\""));
                }
                Arg::Dot
            }
            Tok::Var(name) => {
                if !self.vars.contains(&name) {
                    return Err(self.err(pos, format!("undefined variable \"${name}\"")));
                }
                let chain = self.chain();
                Arg::Var(name, chain)
            }
            Tok::Ident(name) => match name.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "nil" => Arg::Nil,
                "if" | "else" | "end" | "range" | "with" | "define" | "template" | "block"
                | "break" | "continue" => {
                    return Err(self.err(pos, format!("unexpected <{name}> in command")));
                }
                _ => {
                    if !(self.is_func)(&name) {
                        return Err(self.err(pos, format!("function \"{name}\" not defined")));
                    }
                    Arg::Func(name)
                }
            },
            Tok::Str(s) => Arg::Str(s),
            Tok::Char(c) => Arg::Num(c as u32 as f64, Some(c as i64)),
            Tok::Num(text) => parse_number(&text)
                .ok_or_else(|| self.err(pos, format!("bad number syntax: {text:?}")))?,
            Tok::LParen => {
                let p = self.pipeline_until(pos, false, true)?;
                let chain = self.chain();
                Arg::Sub(Box::new(p), chain)
            }
            other => {
                return Err(self.err(pos, format!("unexpected {} in operand", describe(&other))))
            }
        };
        Ok(arg)
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Text(_) => "text".into(),
        Tok::Left => "\"{{\"".into(),
        Tok::Right => "\"}}\"".into(),
        Tok::Space => "space".into(),
        Tok::Field(f) => format!("<.{f}>"),
        Tok::Var(v) => format!("<${v}>"),
        Tok::Dot => "<.>".into(),
        Tok::Ident(i) => format!("<{i}>"),
        Tok::Str(s) => format!("{s:?}"),
        Tok::Num(n) => format!("<{n}>"),
        Tok::Char(c) => format!("{c:?}"),
        Tok::Pipe => "\"|\"".into(),
        Tok::LParen => "\"(\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Comma => "\",\"".into(),
    }
}

/// Go number literals: decimal, hex/octal/binary ints, floats, with `_` separators.
fn parse_number(text: &str) -> Option<Arg> {
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b.to_string()),
        None => (false, clean.trim_start_matches('+').to_string()),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|c| c.is_ascii_digit())
    {
        i64::from_str_radix(&lower[1..], 8).ok()
    } else {
        lower.parse::<i64>().ok()
    };
    if let Some(v) = int {
        let v = if neg { -v } else { v };
        return Some(Arg::Num(v as f64, Some(v)));
    }
    let f: f64 = lower.parse().ok()?;
    if !f.is_finite() {
        return None;
    }
    let f = if neg { -f } else { f };
    Some(Arg::Num(f, None))
}
