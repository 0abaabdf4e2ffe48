//! Dockerfile lexer/parser: text → [`Dockerfile`] (a flat list of [`Node`]s with positions).
//!
//! Handles what is syntax rather than meaning: the BOM, parser directives at the top
//! (`# syntax=`, `# escape=`, `# check=`; only `escape` changes parsing), comments (also
//! between continuation lines), line continuations with the escape character, the
//! instruction keyword (case-insensitive), leading `--flag` words, JSON (exec) form
//! detection with Docker's fall-back to shell form for invalid JSON, and heredocs
//! (`<<EOF`, `<<-EOF`, quoted delimiters, several per line) for RUN/COPY/ADD.
//! Turning a node into a typed instruction (argument counts, flag names, expansion) is the
//! job of [`crate::instructions`].

use crate::error::ParseError;

/// Parser directives found at the top of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// Escape character: `\` (default) or `` ` ``.
    pub escape: char,
    pub syntax: Option<String>,
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            escape: '\\',
            syntax: None,
            check: None,
        }
    }
}

/// One heredoc attached to an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// Delimiter word without quotes (`EOF`).
    pub name: String,
    /// Body, each line ending in `\n`; with `<<-` leading tabs already stripped.
    pub content: String,
    /// False when the delimiter was quoted (`<<'EOF'`, `<<"EOF"`): no variable expansion.
    pub expand: bool,
    /// `<<-`: leading tabs stripped.
    pub chomp: bool,
    /// File descriptor prefix (`3<<EOF`), 0 when absent.
    pub fd: u32,
}

/// One instruction as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Lower-cased keyword (`run`, `from`, …). Unknown keywords are kept; validation rejects them.
    pub keyword: String,
    /// The logical line (continuations joined, comments removed), as written.
    pub original: String,
    /// Leading `--name=value` words (quotes removed).
    pub flags: Vec<String>,
    /// Text after the keyword and flags, leading whitespace removed.
    pub rest: String,
    /// `Some` when `rest` is a valid JSON array of strings (exec form) for instructions that
    /// accept one.
    pub json: Option<Vec<String>>,
    pub heredocs: Vec<Heredoc>,
    /// ONBUILD's trigger instruction.
    pub sub: Option<Box<Node>>,
    pub start_line: usize,
    pub end_line: usize,
    pub column: usize,
    /// The file's escape character (ENV/LABEL/ARG word splitting needs it).
    pub escape: char,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub directives: Directives,
    pub nodes: Vec<Node>,
    /// Docker's parser warnings (empty continuation lines).
    pub warnings: Vec<String>,
}

const JSON_NOT_STRINGS: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

/// Instructions whose argument may be a JSON array.
fn maybe_json(keyword: &str) -> bool {
    matches!(
        keyword,
        "run" | "cmd" | "entrypoint" | "shell" | "copy" | "add" | "volume"
    )
}

fn can_contain_heredoc(keyword: &str) -> bool {
    matches!(keyword, "run" | "copy" | "add")
}

/// Parses a Dockerfile.
pub fn parse(source: &str) -> Result<Dockerfile, ParseError> {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let lines = split_lines(source);
    let mut directives = Directives::default();
    let mut dir_state = DirectiveState::default();
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let raw = trim_newline(lines[i]);
        let line_no = i + 1;
        dir_state.check(raw.trim_start(), &mut directives, line_no)?;
        i += 1;
        let stripped = raw.trim_start();
        let column = raw.len() - stripped.len() + 1;
        let first = strip_comment(stripped);
        let (mut line, mut ended) = trim_continuation(first, directives.escape);
        if ended && line.trim().is_empty() {
            continue;
        }
        let mut empty_continuation = false;
        while !ended && i < lines.len() {
            let raw = trim_newline(lines[i]);
            dir_state.check(raw, &mut directives, i + 1)?;
            i += 1;
            if is_comment(raw) {
                continue;
            }
            if raw.trim().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (more, end) = trim_continuation(raw, directives.escape);
            line.push_str(&more);
            ended = end;
        }
        if empty_continuation {
            warnings.push(format!(
                "[WARNING]: Empty continuation line found in:\n    {line}"
            ));
        }
        let mut node = node_from_line(&line).map_err(|m| ParseError {
            line: line_no,
            column,
            end_line: i,
            message: m,
        })?;
        if can_contain_heredoc(&node.keyword) && line.contains("<<") {
            let docs = heredocs_from_line(&line, directives.escape).map_err(|m| ParseError {
                line: line_no,
                column,
                end_line: i,
                message: m,
            })?;
            for mut doc in docs {
                let mut terminated = false;
                while i < lines.len() {
                    let body = lines[i];
                    i += 1;
                    let mut candidate = trim_newline(body);
                    if doc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    let text = trim_newline(body);
                    let text = if doc.chomp {
                        text.trim_start_matches('\t')
                    } else {
                        text
                    };
                    doc.content.push_str(text);
                    doc.content.push('\n');
                }
                if !terminated {
                    return Err(ParseError {
                        line: line_no,
                        column,
                        end_line: i,
                        message: format!("unterminated heredoc {}", doc.name),
                    });
                }
                node.heredocs.push(doc);
            }
        }
        node.start_line = line_no;
        node.end_line = i;
        node.column = column;
        node.escape = directives.escape;
        if let Some(sub) = node.sub.as_mut() {
            sub.escape = directives.escape;
        }
        nodes.push(node);
    }
    Ok(Dockerfile {
        directives,
        nodes,
        warnings,
    })
}

/// Splits into lines keeping the terminators (so heredoc bodies keep exact content).
fn split_lines(source: &str) -> Vec<&str> {
    source.split_inclusive('\n').collect()
}

fn trim_newline(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

fn strip_comment(line: &str) -> &str {
    if is_comment(line) {
        ""
    } else {
        line
    }
}

/// Removes a trailing escape character (plus trailing blanks after it). Returns the line
/// and whether the logical line ends here.
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    if let Some(body) = trimmed.strip_suffix(escape) {
        (body.to_string(), false)
    } else {
        (line.to_string(), true)
    }
}

/// Tracks the directive section at the top of the file: it ends at the first line that
/// is not a directive (an empty line, a plain comment or an instruction).
#[derive(Default)]
struct DirectiveState {
    done: bool,
    seen: Vec<String>,
}

impl DirectiveState {
    fn check(&mut self, line: &str, d: &mut Directives, line_no: usize) -> Result<(), ParseError> {
        if self.done {
            return Ok(());
        }
        let Some((name, value)) = parse_directive(line) else {
            self.done = true;
            return Ok(());
        };
        let name = name.to_ascii_lowercase();
        if !matches!(name.as_str(), "escape" | "syntax" | "check") {
            self.done = true;
            return Ok(());
        }
        if self.seen.contains(&name) {
            return Err(ParseError::new(
                line_no,
                1,
                format!("only one {name} parser directive can be used"),
            ));
        }
        self.seen.push(name.clone());
        match name.as_str() {
            "escape" => {
                d.escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(ParseError::new(
                            line_no,
                            1,
                            format!("invalid escape token '{value}' does not match ` or \\"),
                        ))
                    }
                }
            }
            "syntax" => d.syntax = Some(value),
            _ => d.check = Some(value),
        }
        Ok(())
    }
}

/// `# name = value` → (name, value).
fn parse_directive(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let name_len = rest
        .char_indices()
        .take_while(|(i, c)| {
            if *i == 0 {
                c.is_ascii_alphabetic()
            } else {
                c.is_ascii_alphanumeric()
            }
        })
        .count();
    if name_len == 0 {
        return None;
    }
    let (name, after) = rest.split_at(name_len);
    let value = after.trim_start().strip_prefix('=')?.trim();
    if value.is_empty() {
        return None;
    }
    Some((name.to_string(), value.to_string()))
}

/// Builds a node from one logical line: keyword, flags, rest, JSON form, ONBUILD child.
fn node_from_line(line: &str) -> Result<Node, String> {
    let trimmed = line.trim();
    let (cmd, after) = match trimmed.find(char::is_whitespace) {
        Some(p) => (&trimmed[..p], trimmed[p..].trim_start()),
        None => (trimmed, ""),
    };
    let keyword = cmd.to_ascii_lowercase();
    let (rest, flags) = extract_flags(after);
    let rest = rest.trim_start().to_string();
    let mut node = Node {
        keyword: keyword.clone(),
        original: trimmed.to_string(),
        flags,
        rest: rest.clone(),
        json: None,
        heredocs: Vec::new(),
        sub: None,
        start_line: 0,
        end_line: 0,
        column: 1,
        escape: '\\',
    };
    if keyword == "onbuild" {
        // The trigger keeps its own flags; ONBUILD itself takes none, so re-split `after`.
        if !after.trim().is_empty() {
            node.sub = Some(Box::new(node_from_line(after)?));
        }
        node.flags.clear();
        node.rest = after.to_string();
        return Ok(node);
    }
    if maybe_json(&keyword) {
        node.json = parse_json_array(&rest)?;
    }
    Ok(node)
}

/// Exec form detection: `Ok(Some)` for a JSON string array, `Ok(None)` for anything that
/// is not valid JSON (Docker then treats the text as shell form), `Err` for valid JSON
/// with non-string elements.
pub(crate) fn parse_json_array(rest: &str) -> Result<Option<Vec<String>>, String> {
    let text = rest.trim_start();
    if !text.starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(text) else {
        return Ok(None);
    };
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(JSON_NOT_STRINGS.to_string()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Splits leading `--flag[=value]` words off `line`. Quotes inside flag words are removed
/// and `\` escapes the next character; a bare `--` ends the flags.
pub(crate) fn extract_flags(line: &str) -> (&str, Vec<String>) {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut words = Vec::new();
    let mut p = 0;
    loop {
        while p < chars.len() && chars[p].1.is_whitespace() {
            p += 1;
        }
        if p >= chars.len() {
            return ("", words);
        }
        let starts_flag = chars[p].1 == '-' && chars.get(p + 1).map(|c| c.1) == Some('-');
        if !starts_flag {
            return (&line[chars[p].0..], words);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while p < chars.len() {
            let c = chars[p].1;
            match quote {
                None if c.is_whitespace() => break,
                None if c == '\'' || c == '"' => quote = Some(c),
                Some(q) if c == q => quote = None,
                _ if c == '\\' => {
                    p += 1;
                    if let Some(&(_, n)) = chars.get(p) {
                        word.push(n);
                    }
                }
                _ => word.push(c),
            }
            p += 1;
        }
        if word == "--" {
            let at = chars.get(p).map(|c| c.0).unwrap_or(line.len());
            return (&line[at..], words);
        }
        words.push(word);
    }
}

/// Splits on unquoted whitespace keeping quotes and escapes as written (heredoc detection
/// needs to see whether a delimiter was quoted).
fn raw_words(line: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            None if c == escape => {
                word.push(c);
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                word.push(c);
            }
            Some(q) if c == q => {
                quote = None;
                word.push(c);
            }
            Some('"') if c == escape => {
                word.push(c);
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            _ => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Finds the heredoc openers (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`) on a line.
fn heredocs_from_line(line: &str, escape: char) -> Result<Vec<Heredoc>, String> {
    let mut docs = Vec::new();
    for word in raw_words(line, escape) {
        let digits = word.chars().take_while(|c| c.is_ascii_digit()).count();
        let Some(after) = word[digits..].strip_prefix("<<") else {
            continue;
        };
        let (chomp, rest) = match after.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, after),
        };
        if rest.is_empty() || rest.contains('<') {
            continue;
        }
        let mut expand = true;
        let mut name = rest.to_string();
        for q in ['\'', '"'] {
            if let Some(inner) = rest.strip_prefix(q) {
                let Some(inner) = inner.strip_suffix(q) else {
                    return Err("quoted heredoc quotes do not match".to_string());
                };
                expand = false;
                name = inner.to_string();
            }
        }
        if expand {
            // Escapes inside an unquoted delimiter also disable expansion (`<<\EOF`).
            if name.contains(escape) {
                expand = false;
                name = name.replace(escape, "");
            }
        }
        docs.push(Heredoc {
            name,
            content: String::new(),
            expand,
            chomp,
            fd: word[..digits].parse().unwrap_or(0),
        });
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(src: &str) -> Node {
        let df = parse(src).unwrap();
        assert_eq!(df.nodes.len(), 1, "{:?}", df.nodes);
        df.nodes.into_iter().next().unwrap()
    }

    #[test]
    fn keywords_are_case_insensitive_and_positions_kept() {
        let df = parse("# comment\n\nfrom busybox\n  Run echo hi\n").unwrap();
        assert_eq!(df.nodes[0].keyword, "from");
        assert_eq!(df.nodes[0].start_line, 3);
        assert_eq!(df.nodes[1].keyword, "run");
        assert_eq!(df.nodes[1].start_line, 4);
        assert_eq!(df.nodes[1].column, 3);
        assert_eq!(df.nodes[1].rest, "echo hi");
    }

    #[test]
    fn continuation_with_comments_and_blank_lines() {
        let src =
            "FROM x\nRUN echo a \\\n# inner comment\n    && echo b \\\n\n  && echo c\nCMD x\n";
        let df = parse(src).unwrap();
        assert_eq!(df.nodes[1].rest, "echo a     && echo b   && echo c");
        assert_eq!(df.nodes[1].start_line, 2);
        assert_eq!(df.nodes[1].end_line, 6);
        assert_eq!(df.nodes[2].start_line, 7);
        assert_eq!(df.warnings.len(), 1);
    }

    #[test]
    fn backtick_escape_directive() {
        let src = "# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo b\n";
        let df = parse(src).unwrap();
        assert_eq!(df.directives.escape, '`');
        assert_eq!(df.nodes[1].rest, "dir c:\\   && echo b");
    }

    #[test]
    fn directives_only_at_top() {
        let df = parse(
            "# syntax=docker/dockerfile:1\n# check=skip=all\nFROM x\n# escape=`\nRUN a \\\n b\n",
        )
        .unwrap();
        assert_eq!(df.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(df.directives.check.as_deref(), Some("skip=all"));
        assert_eq!(df.directives.escape, '\\');
        assert_eq!(df.nodes[1].rest, "a  b");
        // A comment line ends the directive block.
        let df = parse("# hello\n# escape=`\nFROM x\n").unwrap();
        assert_eq!(df.directives.escape, '\\');
        let err = parse("# escape=\\\n# escape=`\nFROM x\n").unwrap_err();
        assert_eq!(err.message, "only one escape parser directive can be used");
        let err = parse("# escape=x\nFROM x\n").unwrap_err();
        assert!(err.message.contains("invalid escape token"), "{err}");
    }

    #[test]
    fn json_and_shell_forms() {
        let n = one("CMD [\"echo\", \"hi\"]");
        assert_eq!(n.json, Some(vec!["echo".to_string(), "hi".to_string()]));
        // Invalid JSON falls back to shell form.
        let n = one("CMD [\"echo\", 'hi']");
        assert_eq!(n.json, None);
        assert_eq!(n.rest, "[\"echo\", 'hi']");
        let n = one("RUN [ \"a\" ] trailing");
        assert_eq!(n.json, None);
        let err = parse("CMD [\"a\", 1]").unwrap_err();
        assert_eq!(err.message, JSON_NOT_STRINGS);
        // LABEL never takes JSON.
        assert_eq!(one("LABEL [\"a\"]").json, None);
    }

    #[test]
    fn flags_are_split_off() {
        let n = one("COPY --from=build --chown=\"1:2\" a b");
        assert_eq!(n.flags, vec!["--from=build", "--chown=1:2"]);
        assert_eq!(n.rest, "a b");
        let n = one("RUN --mount=type=cache,target=/c -- --not-a-flag");
        assert_eq!(n.flags, vec!["--mount=type=cache,target=/c"]);
        assert_eq!(n.rest, "--not-a-flag");
    }

    #[test]
    fn heredocs() {
        let src = "FROM x\nRUN <<EOF\necho $HOME\n  indented\nEOF\nCMD y\n";
        let df = parse(src).unwrap();
        let run = &df.nodes[1];
        assert_eq!(run.heredocs.len(), 1);
        assert_eq!(run.heredocs[0].name, "EOF");
        assert_eq!(run.heredocs[0].content, "echo $HOME\n  indented\n");
        assert!(run.heredocs[0].expand);
        assert_eq!(run.end_line, 5);
        assert_eq!(df.nodes[2].keyword, "cmd");

        let n = one("RUN <<-'END' cat\n\t\tline\n\tEND\n");
        assert_eq!(n.heredocs[0].content, "line\n");
        assert!(!n.heredocs[0].expand);
        assert!(n.heredocs[0].chomp);

        let n = one("RUN cat <<A && cat 3<<\"B\"\na\nA\nb\nB\n");
        assert_eq!(n.heredocs.len(), 2);
        assert_eq!(n.heredocs[0].content, "a\n");
        assert_eq!(n.heredocs[1].content, "b\n");
        assert_eq!(n.heredocs[1].fd, 3);
        assert!(!n.heredocs[1].expand);

        let n = one("COPY <<EOF /file\nhello\nEOF\n");
        assert_eq!(n.heredocs[0].content, "hello\n");
        assert_eq!(n.rest, "<<EOF /file");

        // Quoted `<<` is not a heredoc; CMD never has heredocs.
        assert!(one("RUN echo \"<<EOF\"").heredocs.is_empty());
        assert!(one("CMD cat <<EOF").heredocs.is_empty());

        let err = parse("FROM x\nRUN <<EOF\nno end\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert_eq!(err.message, "unterminated heredoc EOF");
        let err = parse("RUN <<'EOF\nx\nEOF\n").unwrap_err();
        assert_eq!(err.message, "quoted heredoc quotes do not match");
    }

    #[test]
    fn onbuild_child() {
        let n = one("ONBUILD COPY --chown=1 . /app");
        let sub = n.sub.unwrap();
        assert_eq!(sub.keyword, "copy");
        assert_eq!(sub.flags, vec!["--chown=1"]);
        assert_eq!(n.rest, "COPY --chown=1 . /app");
    }

    #[test]
    fn crlf_and_bom() {
        let df = parse("\u{feff}FROM x\r\nRUN a \\\r\n  b\r\n").unwrap();
        assert_eq!(df.nodes[0].rest, "x");
        assert_eq!(df.nodes[1].rest, "a   b");
    }

    #[test]
    fn realistic_file() {
        let src = r#"# syntax=docker/dockerfile:1
# escape=\

ARG VERSION=1.0
FROM --platform=$BUILDPLATFORM golang:1.22 AS build
WORKDIR /src
# comment between instructions
COPY go.* ./
RUN --mount=type=cache,target=/go/pkg/mod \
    # a comment inside the continuation
    go mod download
COPY . .
RUN <<EOF
set -e
go build -o /out/app .
EOF

FROM scratch
COPY --from=build /out/app /app
ENTRYPOINT ["/app"]
CMD [ "--help" ]
HEALTHCHECK --interval=30s CMD ["/app", "health"]
"#;
        let df = parse(src).unwrap();
        let kws: Vec<&str> = df.nodes.iter().map(|n| n.keyword.as_str()).collect();
        assert_eq!(
            kws,
            vec![
                "arg",
                "from",
                "workdir",
                "copy",
                "run",
                "copy",
                "run",
                "from",
                "copy",
                "entrypoint",
                "cmd",
                "healthcheck"
            ]
        );
        let run = &df.nodes[4];
        assert_eq!(run.flags, vec!["--mount=type=cache,target=/go/pkg/mod"]);
        assert_eq!(run.rest, "go mod download");
        assert_eq!((run.start_line, run.end_line), (9, 11));
        assert_eq!(
            df.nodes[6].heredocs[0].content,
            "set -e\ngo build -o /out/app .\n"
        );
        assert_eq!(df.nodes[7].start_line, 18);
        assert_eq!(df.nodes[10].json, Some(vec!["--help".to_string()]));
        assert_eq!(df.nodes[1].flags, vec!["--platform=$BUILDPLATFORM"]);
        for n in &df.nodes {
            crate::instructions::parse_instruction(n).unwrap();
        }
    }

    #[test]
    fn comment_and_escape_edge_cases() {
        // An escaped escape at the end of a line is still a continuation marker, as in
        // Docker (only the last character is looked at).
        let df = parse("FROM x\nRUN echo a\\\\\n b\n").unwrap();
        assert_eq!(df.nodes[1].rest, "echo a\\ b");
        // `#` not at the start of a line is not a comment.
        let n = one("RUN echo a # not a comment");
        assert_eq!(n.rest, "echo a # not a comment");
        // Whitespace-only and comment-only files have no instructions.
        assert!(parse("  \n# c\n\t\n").unwrap().nodes.is_empty());
        // A continuation at end of file still makes a node.
        assert_eq!(one("RUN a \\").rest, "a");
    }

    #[test]
    fn excerpt_marks_lines() {
        let err = ParseError::new(2, 1, "unknown instruction: FOO");
        let text = err.excerpt("Dockerfile", "FROM x\nFOO bar\nRUN y\n");
        assert!(text.starts_with("Dockerfile:2\n"));
        assert!(text.contains("   2 | >>> FOO bar"));
        assert!(text.contains("   1 | FROM x"));
    }
}
