//! Executor: walks the parsed tree over a JSON value, with Go's rules for dot,
//! variables, pipelines (the previous result becomes the last argument), field
//! chains, `if`/`with`/`range` and their `else` branches.

use serde_json::Value;

use crate::funcs;
use crate::lex::line_col;
use crate::parse::{Arg, Branch, Command, Node, Pipeline};
use crate::print::{go_type, print_val, truth, Val};
use crate::{Error, Hooks};

/// Output cap: a template must not be able to exhaust memory.
const MAX_OUTPUT: usize = 64 << 20;
/// Evaluation step cap (huge `range` counts, deep loops).
const MAX_STEPS: u64 = 50_000_000;

pub(crate) struct State<'a> {
    pub src: &'a str,
    pub out: String,
    vars: Vec<(String, Val)>,
    pub hooks: &'a dyn Hooks,
    steps: u64,
}

enum Flow {
    Normal,
    Break,
    Continue,
}

impl<'a> State<'a> {
    pub fn new(src: &'a str, root: &Value, hooks: &'a dyn Hooks) -> Self {
        State {
            src,
            out: String::new(),
            vars: vec![(String::new(), Val::J(root.clone()))],
            hooks,
            steps: 0,
        }
    }

    pub fn err(&self, pos: usize, at: &str, msg: impl std::fmt::Display) -> Error {
        let (line, col) = line_col(self.src, pos);
        Error::Exec(format!(
            "template: :{line}:{col}: executing \"\" at <{at}>: {msg}"
        ))
    }

    fn tick(&mut self, pos: usize) -> Result<(), Error> {
        self.steps += 1;
        if self.steps > MAX_STEPS || self.out.len() > MAX_OUTPUT {
            return Err(self.err(pos, "", "template execution limit exceeded"));
        }
        Ok(())
    }

    pub fn run(&mut self, dot: &Val, nodes: &[Node]) -> Result<(), Error> {
        self.walk(dot, nodes).map(|_| ())
    }

    fn walk(&mut self, dot: &Val, nodes: &[Node]) -> Result<Flow, Error> {
        for n in nodes {
            match n {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipeline(dot, p)?;
                    if p.decl.is_empty() {
                        self.out.push_str(&print_val(&v));
                    }
                }
                Node::If(b) => {
                    let flow = self.branch(dot, b, |_, v| (truth(v), None))?;
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::With(b) => {
                    let flow = self.branch(dot, b, |_, v| (truth(v), Some(v.clone())))?;
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range(b) => self.range(dot, b)?,
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
            self.tick(0)?;
        }
        Ok(Flow::Normal)
    }

    /// `if` / `with`: `pick` decides truth and the new dot.
    fn branch(
        &mut self,
        dot: &Val,
        b: &Branch,
        pick: impl Fn(&Val, &Val) -> (bool, Option<Val>),
    ) -> Result<Flow, Error> {
        let mark = self.vars.len();
        let v = self.pipeline(dot, &b.pipe)?;
        let (yes, new_dot) = pick(dot, &v);
        let flow = if yes {
            let d = new_dot.unwrap_or_else(|| dot.clone());
            self.walk(&d, &b.body)?
        } else if let Some(e) = &b.else_body {
            self.walk(dot, e)?
        } else {
            Flow::Normal
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn range(&mut self, dot: &Val, b: &Branch) -> Result<(), Error> {
        let mark = self.vars.len();
        // The declared variables receive index/element, not the whole value.
        let mut pipe = b.pipe.clone();
        let decl = std::mem::take(&mut pipe.decl);
        let v = self.pipeline(dot, &pipe)?;
        let items: Vec<(Val, Val)> = match &v {
            Val::Missing | Val::TypedNil(_) | Val::J(Value::Null) => Vec::new(),
            Val::J(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, e)| (Val::J(Value::from(i)), Val::J(e.clone())))
                .collect(),
            Val::J(Value::Object(m)) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                keys.into_iter()
                    .map(|k| (Val::str(k.clone()), Val::J(m[k].clone())))
                    .collect()
            }
            Val::J(Value::Number(n)) if n.as_i64().is_some() => {
                let count = n.as_i64().unwrap_or(0);
                if count > MAX_STEPS as i64 {
                    return Err(self.err(b.pipe.pos, "range", "range count too large"));
                }
                (0..count.max(0))
                    .map(|i| (Val::J(Value::from(i)), Val::J(Value::from(i))))
                    .collect()
            }
            other => {
                return Err(self.err(
                    b.pipe.pos,
                    "range",
                    format!("range can't iterate over {}", print_val(other)),
                ))
            }
        };
        if items.is_empty() {
            if let Some(e) = &b.else_body {
                self.walk(dot, e)?;
            }
            self.vars.truncate(mark);
            return Ok(());
        }
        for (k, e) in items {
            self.tick(b.pipe.pos)?;
            let inner = self.vars.len();
            match decl.len() {
                1 => self.set_var(&decl[0], e.clone(), pipe.is_assign),
                2 => {
                    self.set_var(&decl[0], k, pipe.is_assign);
                    self.set_var(&decl[1], e.clone(), pipe.is_assign);
                }
                _ => {}
            }
            let flow = self.walk(&e, &b.body)?;
            self.vars.truncate(inner.max(mark));
            if matches!(flow, Flow::Break) {
                break;
            }
        }
        self.vars.truncate(mark);
        Ok(())
    }

    fn set_var(&mut self, name: &str, v: Val, assign: bool) {
        if assign {
            if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                slot.1 = v;
                return;
            }
        }
        self.vars.push((name.to_string(), v));
    }

    fn var(&self, name: &str) -> Val {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or(Val::Missing)
    }

    pub fn pipeline(&mut self, dot: &Val, p: &Pipeline) -> Result<Val, Error> {
        let mut last: Option<Val> = None;
        for c in &p.cmds {
            self.tick(c.pos)?;
            last = Some(self.command(dot, c, last)?);
        }
        let v = last.unwrap_or(Val::Missing);
        for d in &p.decl {
            self.set_var(d, v.clone(), p.is_assign);
        }
        Ok(v)
    }

    fn command(&mut self, dot: &Val, c: &Command, piped: Option<Val>) -> Result<Val, Error> {
        let at = command_text(c);
        let first = &c.args[0];
        let rest = &c.args[1..];
        match first {
            Arg::Func(name) => {
                // and/or evaluate lazily and return the deciding argument.
                if name == "and" || name == "or" {
                    let mut last = Val::Missing;
                    let n = rest.len() + usize::from(piped.is_some());
                    if n == 0 {
                        return Err(self.err(
                            c.pos,
                            &at,
                            format!("wrong number of args for {name}: want at least 1 got 0"),
                        ));
                    }
                    for a in rest {
                        last = self.arg(dot, a)?;
                        if truth(&last) == (name == "or") {
                            return Ok(last);
                        }
                    }
                    if let Some(p) = piped {
                        last = p;
                    }
                    return Ok(last);
                }
                let mut args = Vec::with_capacity(rest.len() + 1);
                for a in rest {
                    args.push(self.arg(dot, a)?);
                }
                if let Some(p) = piped {
                    args.push(p);
                }
                self.call(name, &args).map_err(|m| self.err(c.pos, &at, m))
            }
            Arg::Field(chain) => {
                let args = self.call_args(dot, rest, piped)?;
                self.chain(dot.clone(), chain, &args)
                    .map_err(|m| self.err(c.pos, &at, m))
            }
            Arg::Var(name, chain) => {
                let args = self.call_args(dot, rest, piped)?;
                let base = self.var(name);
                if chain.is_empty() {
                    if !args.is_empty() {
                        return Err(self.err(
                            c.pos,
                            &at,
                            format!("can't give argument to non-function ${name}"),
                        ));
                    }
                    return Ok(base);
                }
                self.chain(base, chain, &args)
                    .map_err(|m| self.err(c.pos, &at, m))
            }
            Arg::Sub(p, chain) => {
                let args = self.call_args(dot, rest, piped)?;
                let base = self.pipeline(dot, p)?;
                if chain.is_empty() {
                    if !args.is_empty() {
                        return Err(self.err(c.pos, &at, "can't give argument to non-function"));
                    }
                    return Ok(base);
                }
                self.chain(base, chain, &args)
                    .map_err(|m| self.err(c.pos, &at, m))
            }
            lit => {
                if !rest.is_empty() || piped.is_some() {
                    return Err(self.err(
                        c.pos,
                        &at,
                        format!("can't give argument to non-function {}", arg_text(lit)),
                    ));
                }
                self.arg(dot, lit)
            }
        }
    }

    fn call_args(
        &mut self,
        dot: &Val,
        rest: &[Arg],
        piped: Option<Val>,
    ) -> Result<Vec<Val>, Error> {
        let mut args = Vec::with_capacity(rest.len() + 1);
        for a in rest {
            args.push(self.arg(dot, a)?);
        }
        if let Some(p) = piped {
            args.push(p);
        }
        Ok(args)
    }

    /// Evaluates one argument (no call arguments of its own).
    fn arg(&mut self, dot: &Val, a: &Arg) -> Result<Val, Error> {
        Ok(match a {
            Arg::Dot => dot.clone(),
            Arg::Field(chain) => self
                .chain(dot.clone(), chain, &[])
                .map_err(|m| self.err(0, &arg_text(a), m))?,
            Arg::Var(name, chain) => {
                let base = self.var(name);
                self.chain(base, chain, &[])
                    .map_err(|m| self.err(0, &arg_text(a), m))?
            }
            Arg::Func(name) => self.call(name, &[]).map_err(|m| self.err(0, name, m))?,
            Arg::Str(s) => Val::str(s.clone()),
            Arg::Num(f, Some(i)) => {
                let _ = f;
                Val::J(Value::from(*i))
            }
            Arg::Num(f, None) => Val::J(
                serde_json::Number::from_f64(*f)
                    .map(Value::Number)
                    .unwrap_or(Value::Null),
            ),
            Arg::Bool(b) => Val::J(Value::Bool(*b)),
            Arg::Nil => Val::J(Value::Null),
            Arg::Sub(p, chain) => {
                let base = self.pipeline(dot, p)?;
                self.chain(base, chain, &[])
                    .map_err(|m| self.err(p.pos, &arg_text(a), m))?
            }
        })
    }

    /// Walks `.A.B.C`; the last step receives `args` (a method call via hooks).
    fn chain(&self, mut recv: Val, chain: &[String], args: &[Val]) -> Result<Val, String> {
        for (i, name) in chain.iter().enumerate() {
            let last = i + 1 == chain.len();
            let step_args: &[Val] = if last { args } else { &[] };
            recv = self.field(&recv, name, step_args)?;
        }
        Ok(recv)
    }

    fn field(&self, recv: &Val, name: &str, args: &[Val]) -> Result<Val, String> {
        if self.hooks.has_method(name) {
            let null = Value::Null;
            let rj = recv.as_json().unwrap_or(&null);
            let jargs: Vec<Value> = args.iter().map(Val::json).collect();
            if let Some(r) = self.hooks.method(rj, name, &jargs) {
                return r.map(Val::J);
            }
        }
        match recv {
            Val::J(Value::Object(m)) => {
                if !args.is_empty() {
                    return Err(format!("{name} is not a method but has arguments"));
                }
                Ok(match m.get(name) {
                    Some(Value::Null) => match self.hooks.nil_repr(name) {
                        Some(r) => Val::TypedNil(r),
                        None => Val::J(Value::Null),
                    },
                    Some(v) => Val::J(v.clone()),
                    None => Val::Missing,
                })
            }
            Val::Missing | Val::TypedNil(_) | Val::J(Value::Null) => {
                if !args.is_empty() {
                    return Err(format!("{name} is not a method but has arguments"));
                }
                Ok(Val::Missing)
            }
            other => Err(format!(
                "can't evaluate field {name} in type {}",
                go_type(other)
            )),
        }
    }

    fn call(&self, name: &str, args: &[Val]) -> Result<Val, String> {
        if self.hooks.has_function(name) {
            let jargs: Vec<Value> = args.iter().map(Val::json).collect();
            if let Some(r) = self.hooks.function(name, &jargs) {
                return r.map(Val::J);
            }
        }
        funcs::call(name, args).map_err(|e| format!("error calling {name}: {e}"))
    }
}

fn arg_text(a: &Arg) -> String {
    match a {
        Arg::Field(c) => c.iter().map(|f| format!(".{f}")).collect(),
        Arg::Var(n, c) => format!(
            "${n}{}",
            c.iter().map(|f| format!(".{f}")).collect::<String>()
        ),
        Arg::Dot => ".".into(),
        Arg::Func(n) => n.clone(),
        Arg::Str(s) => format!("{s:?}"),
        Arg::Num(f, Some(i)) => {
            let _ = f;
            i.to_string()
        }
        Arg::Num(f, None) => crate::print::format_float(*f),
        Arg::Bool(b) => b.to_string(),
        Arg::Nil => "nil".into(),
        Arg::Sub(p, c) => format!(
            "({}){}",
            p.cmds
                .iter()
                .map(command_text)
                .collect::<Vec<_>>()
                .join(" | "),
            c.iter().map(|f| format!(".{f}")).collect::<String>()
        ),
    }
}

fn command_text(c: &Command) -> String {
    c.args.iter().map(arg_text).collect::<Vec<_>>().join(" ")
}
