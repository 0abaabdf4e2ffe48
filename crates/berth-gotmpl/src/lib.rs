//! A subset of Go's `text/template` over `serde_json::Value`, for `--format`.
//!
//! Supported: `{{.Field}}`, chains `.A.B`, `$var` / `$x := …` / `$x = …`, pipelines,
//! parenthesised pipelines, `if`/`else if`/`else`/`with`/`range` (with `$i, $v :=`,
//! `break`, `continue`), `{{- -}}` trim markers, comments, Go's built-ins and the
//! functions Docker's CLI adds (`json split join title lower upper pad truncate`).
//! Values print as Go's `%v` prints them ([`print`]). Callers extend templates
//! through [`Hooks`]: methods like ps rows' `{{.Label "x"}}` and extra functions.
//!
//! Never panics on any input: errors are returned with Go's wording
//! (`template: :1: function "foo" not defined`).

mod exec;
mod funcs;
mod lex;
mod parse;
pub mod print;

use serde_json::Value;

pub use funcs::{go_quote, sprintf};
pub use print::{format_float, print_value};

/// Parse or execution error, worded like Go's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Parse(String),
    #[error("{0}")]
    Exec(String),
}

/// Caller-supplied extensions.
pub trait Hooks {
    /// Whether `name` is a method the caller handles (checked before map lookup).
    fn has_method(&self, _name: &str) -> bool {
        false
    }
    /// Evaluates method `name` on `recv` (the value left of the last `.Name`) with
    /// `args`; `None` falls back to a normal field lookup.
    fn method(&self, _recv: &Value, _name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }
    /// Whether `name` is an extra function (checked at parse time).
    fn has_function(&self, _name: &str) -> bool {
        false
    }
    /// How a `null` found in field `name` prints: `Some("[]")` / `Some("map[]")` for
    /// fields the caller knows to be Go slices/maps (Go prints nil ones that way);
    /// `None` prints `<nil>`.
    fn nil_repr(&self, _name: &str) -> Option<&'static str> {
        None
    }
    /// Calls extra function `name`; `None` falls back to the built-ins.
    fn function(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }
}

/// No extensions.
pub struct NoHooks;
impl Hooks for NoHooks {}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    src: String,
    nodes: Vec<parse::Node>,
}

/// Parse-depth guard: parenthesised pipelines and nested blocks deeper than this are
/// rejected so hostile input cannot overflow the stack.
const MAX_NESTING: usize = 200;

impl Template {
    /// Parses with the built-in functions only.
    pub fn parse(src: &str) -> Result<Template, Error> {
        Template::parse_with(src, &NoHooks)
    }

    /// Parses; function names must be built-ins or known to `hooks`.
    pub fn parse_with(src: &str, hooks: &dyn Hooks) -> Result<Template, Error> {
        let toks = lex::lex(src)?;
        let mut depth: usize = 0;
        let mut max_depth: usize = 0;
        for t in &toks {
            match t.tok {
                lex::Tok::LParen | lex::Tok::Left => {
                    depth += 1;
                    max_depth = max_depth.max(depth);
                }
                lex::Tok::RParen | lex::Tok::Right => depth = depth.saturating_sub(1),
                lex::Tok::Ident(ref k) if matches!(k.as_str(), "if" | "range" | "with") => {
                    depth += 1;
                    max_depth = max_depth.max(depth);
                }
                lex::Tok::Ident(ref k) if k == "end" => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        if max_depth > MAX_NESTING {
            return Err(Error::Parse(
                "template: :1: template nested too deeply".into(),
            ));
        }
        let is_func = |name: &str| funcs::NAMES.contains(&name) || hooks.has_function(name);
        let nodes = parse::Parser::new(src, toks, &is_func).parse()?;
        Ok(Template {
            src: src.to_string(),
            nodes,
        })
    }

    /// Executes over `data` with no extensions.
    pub fn execute(&self, data: &Value) -> Result<String, Error> {
        self.execute_with(data, &NoHooks)
    }

    /// Executes over `data` with `hooks`.
    pub fn execute_with(&self, data: &Value, hooks: &dyn Hooks) -> Result<String, Error> {
        let mut st = exec::State::new(&self.src, data, hooks);
        st.run(&print::Val::J(data.clone()), &self.nodes)?;
        Ok(st.out)
    }
}

/// Parses and executes in one go.
pub fn render(src: &str, data: &Value) -> Result<String, Error> {
    Template::parse(src)?.execute(data)
}

#[cfg(test)]
mod tests;
