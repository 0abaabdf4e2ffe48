//! `--format` handling shared by the listing commands: Docker's `table` prefix, the
//! `json` shortcut, `\t`/`\n` escapes, header rows rendered from the same template
//! over a header object, and Go's tabwriter layout (minwidth 10, padding 3, spaces).

use berth_gotmpl::{Hooks, Template};
use serde_json::{Map, Value};

use crate::errors::CliError;

/// Go's `text/tabwriter` with Docker's settings: minwidth 10, tabwidth 1, padding 3,
/// pad char ' ', no flags. Cells end with `\t`; the last cell of a line is not aligned.
pub fn tabwrite(text: &str) -> String {
    tabwrite_with(text, MINWIDTH)
}

/// Go's tabwriter with padding 3 and the given minimum cell width (`top` uses 20).
pub fn tabwrite_with(text: &str, minwidth: usize) -> String {
    let mut lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    // A trailing newline leaves one empty "line" that Go never prints.
    let trailing_newline = text.ends_with('\n');
    if trailing_newline {
        lines.pop();
    }
    let mut out = String::new();
    let mut widths = Vec::new();
    format_block(&lines, minwidth, 0, lines.len(), &mut widths, &mut out);
    if !trailing_newline && out.ends_with('\n') {
        out.pop();
    }
    out
}

const MINWIDTH: usize = 10;
const PADDING: usize = 3;

fn width(s: &str) -> usize {
    s.chars().count()
}

fn format_block(
    lines: &[Vec<&str>],
    minwidth: usize,
    mut line0: usize,
    line1: usize,
    widths: &mut Vec<usize>,
    out: &mut String,
) {
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        write_lines(lines, line0, this, widths, out);
        line0 = this;
        let mut w = minwidth;
        while this < line1 && column + 1 < lines[this].len() {
            w = w.max(width(lines[this][column]) + PADDING);
            this += 1;
        }
        widths.push(w);
        format_block(lines, minwidth, line0, this, widths, out);
        widths.pop();
        line0 = this;
    }
    write_lines(lines, line0, line1, widths, out);
}

fn write_lines(lines: &[Vec<&str>], from: usize, to: usize, widths: &[usize], out: &mut String) {
    for line in &lines[from..to] {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j < widths.len() {
                let pad = widths[j].saturating_sub(width(cell));
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
}

/// A resolved `--format`.
#[derive(Debug, Clone)]
pub struct Format {
    pub table: bool,
    pub template: String,
}

impl Format {
    /// Docker's rules: empty → `default_table`; `table` alone → the default table;
    /// `table …` → a table of `…`; `json` → `{{json .}}`; anything else raw.
    pub fn resolve(user: Option<&str>, default_table: &str) -> Format {
        let f = match user {
            None | Some("") => default_table,
            Some(f) => f,
        };
        let (table, body) = if f == "json" {
            (false, "{{json .}}".to_string())
        } else if let Some(rest) = f.strip_prefix("table") {
            if rest.trim().is_empty() {
                let d = default_table.strip_prefix("table").unwrap_or(default_table);
                (true, d.to_string())
            } else {
                (true, rest.to_string())
            }
        } else {
            (false, f.to_string())
        };
        let body = body
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        Format {
            table,
            template: body,
        }
    }
}

/// Parses a `--format` template the way every command reports errors.
pub fn parse_template(src: &str, hooks: &dyn Hooks) -> Result<Template, CliError> {
    Template::parse_with(src, hooks)
        .map_err(|e| CliError::msg(format!("template parsing error: {e}")))
}

/// How a command words template errors: (parse prefix, execute prefix).
pub type ErrWording = (&'static str, &'static str);
/// `ps`' wording.
pub const PS_ERRORS: ErrWording = ("failed to parse template", "failed to execute template");
/// `images`' wording.
pub const IMAGES_ERRORS: ErrWording = ("template parsing error", "template parsing error");

/// Renders `rows` (each with its own hooks) under `format`; `headers` maps field
/// names to header titles for the table header row.
pub fn render(
    wording: ErrWording,
    format: &Format,
    headers: &Map<String, Value>,
    header_hooks: &dyn Hooks,
    rows: &[(Value, Box<dyn Hooks + '_>)],
) -> Result<String, CliError> {
    let tmpl = Template::parse_with(&format.template, header_hooks)
        .map_err(|e| CliError::msg(format!("{}: {e}", wording.0)))?;
    let mut text = String::new();
    if format.table {
        let h = tmpl
            .execute_with(&Value::Object(headers.clone()), header_hooks)
            .map_err(|e| CliError::msg(format!("{}: {e}", wording.1)))?;
        text.push_str(&h);
        text.push('\n');
    }
    for (row, hooks) in rows {
        let line = tmpl
            .execute_with(row, hooks.as_ref())
            .map_err(|e| CliError::msg(format!("{}: {e}", wording.1)))?;
        text.push_str(&line);
        text.push('\n');
    }
    Ok(if format.table { tabwrite(&text) } else { text })
}

/// Go's `encoding/json` escaping of `<`, `>` and `&` (Docker's `{{json .}}` on list
/// rows goes through `json.Marshal`, which escapes them).
pub fn json_html_escape(s: &str) -> String {
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Hooks for list rows: `{{json .}}` with Go's HTML escaping, the `Label` method
/// reading from `labels`, and Go's error for fields the row type does not have.
pub struct RowHooks<'a> {
    pub labels: Option<&'a Map<String, Value>>,
    /// Go type named in "can't evaluate field" errors, e.g. `*formatter.ContainerContext`.
    pub type_name: &'static str,
}

impl Hooks for RowHooks<'_> {
    fn has_method(&self, _name: &str) -> bool {
        true
    }
    fn method(&self, recv: &Value, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        if name != "Label" {
            // Rows are typed in Docker: an unknown field is an error, not `<no value>`.
            return match recv {
                Value::Object(m) if !m.contains_key(name) => Some(Err(format!(
                    "can't evaluate field {name} in type {}",
                    self.type_name
                ))),
                _ => None,
            };
        }
        let key = match args {
            [Value::String(k)] => k,
            _ => return Some(Err("wrong number of args for Label: want 1".into())),
        };
        let v = self
            .labels
            .and_then(|l| l.get(key))
            .cloned()
            .unwrap_or(Value::String(String::new()));
        Some(Ok(v))
    }
    fn has_function(&self, name: &str) -> bool {
        name == "json"
    }
    fn function(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        if name != "json" {
            return None;
        }
        let [v] = args else {
            return Some(Err(format!(
                "wrong number of args for json: want 1 got {}",
                args.len()
            )));
        };
        // Rows themselves are escaped like json.Marshal; other values are not.
        let s = serde_json::to_string(v).unwrap_or_default();
        Some(Ok(Value::String(if v.is_object() {
            json_html_escape(&s)
        } else {
            s
        })))
    }
}

/// Hooks for header rows: `{{.Label "x"}}` prints the label name.
pub struct HeaderHooks;

impl Hooks for HeaderHooks {
    fn has_method(&self, name: &str) -> bool {
        name == "Label"
    }
    fn method(&self, _recv: &Value, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        (name == "Label").then(|| {
            Ok(args
                .first()
                .cloned()
                .unwrap_or(Value::String(String::new())))
        })
    }
    fn has_function(&self, name: &str) -> bool {
        name == "json"
    }
}

/// Builds an ordered header map from pairs.
pub fn headers(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabwriter_matches_docker_ps_layout() {
        let text = "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES\n\
                    d718ee305186\tbusybox\t\"sleep 1000\"\t2 minutes ago\tUp 2 minutes\t\tt2\n\
                    a2d60ab2dc73\tbusybox\t\"echo hello\"\t2 minutes ago\tExited (0) 2 minutes ago\t\tt1\n";
        let want = "CONTAINER ID   IMAGE     COMMAND        CREATED         STATUS                     PORTS     NAMES\n\
                    d718ee305186   busybox   \"sleep 1000\"   2 minutes ago   Up 2 minutes                         t2\n\
                    a2d60ab2dc73   busybox   \"echo hello\"   2 minutes ago   Exited (0) 2 minutes ago             t1\n";
        assert_eq!(tabwrite(text), want);
    }

    #[test]
    fn tabwriter_counts_runes_and_handles_ragged_lines() {
        assert_eq!(tabwrite("a…\tb\n"), "a…        b\n");
        // Lines without cells break the column block, as in Go.
        assert_eq!(
            tabwrite("abc\tx\nplain\nlonger cell\ty\n"),
            "abc       x\nplain\nlonger cell   y\n"
        );
    }

    #[test]
    fn format_resolution() {
        let d = "table {{.ID}}\\t{{.Image}}";
        let f = Format::resolve(None, d);
        assert!(f.table);
        assert_eq!(f.template, "{{.ID}}\t{{.Image}}");
        let f = Format::resolve(Some("table"), d);
        assert_eq!(f.template, "{{.ID}}\t{{.Image}}");
        let f = Format::resolve(Some("json"), d);
        assert!(!f.table);
        assert_eq!(f.template, "{{json .}}");
        let f = Format::resolve(Some("{{.Names}}\\n"), d);
        assert_eq!(f.template, "{{.Names}}\n");
    }

    #[test]
    fn renders_header_and_rows() {
        let f = Format::resolve(Some("table {{.ID}}\\t{{.Label \"k\"}}|{{upper .Name}}"), "");
        let h = headers(&[("ID", "CONTAINER ID"), ("Name", "NAME")]);
        let labels: Map<String, Value> = serde_json::from_str(r#"{"k":"v"}"#).unwrap();
        let rows: Vec<(Value, Box<dyn Hooks>)> = vec![(
            serde_json::json!({"ID": "abc", "Name": "x<y"}),
            Box::new(RowHooks {
                labels: Some(&labels),
                type_name: "*formatter.T",
            }),
        )];
        let out = render(PS_ERRORS, &f, &h, &HeaderHooks, &rows).unwrap();
        assert_eq!(out, "CONTAINER ID   k|NAME\nabc            v|X<Y\n");
        let f = Format::resolve(Some("{{json .}}"), "");
        let out = render(PS_ERRORS, &f, &h, &HeaderHooks, &rows).unwrap();
        assert_eq!(out, "{\"ID\":\"abc\",\"Name\":\"x\\u003cy\"}\n");
        let f = Format::resolve(Some("{{.Nope}}"), "");
        let err = render(PS_ERRORS, &f, &h, &HeaderHooks, &rows).unwrap_err();
        assert!(
            err.message
                .contains("can't evaluate field Nope in type *formatter.T"),
            "{}",
            err.message
        );
    }
}
