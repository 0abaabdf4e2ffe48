//! Error types of the build front end.
//!
//! [`ParseError`] carries the position (1-based line and column) of the offending
//! instruction so the CLI can print Docker's `dockerfile parse error on line N: …` line and
//! the `Dockerfile:N` source excerpt ([`ParseError::excerpt`]). [`BuildError`] covers the
//! whole build: parse/validation errors, context problems, host failures and the failing
//! `RUN` (`The command '…' returned a non-zero code: N`).

use thiserror::Error;

/// A Dockerfile syntax or validation error, with its position.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("dockerfile parse error on line {line}: {message}")]
pub struct ParseError {
    /// 1-based line of the instruction's first line.
    pub line: usize,
    /// 1-based column (of the instruction keyword unless a finer position is known).
    pub column: usize,
    /// Last line of the instruction (continuations, heredocs).
    pub end_line: usize,
    /// Docker-worded message without the position prefix.
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(line: usize, column: usize, message: impl Into<String>) -> Self {
        ParseError {
            line,
            column,
            end_line: line,
            message: message.into(),
        }
    }

    /// Docker's excerpt of the failing lines:
    /// ```text
    /// Dockerfile:3
    /// --------------------
    ///    3 | >>> FOO bar
    /// --------------------
    /// ```
    pub fn excerpt(&self, file_name: &str, source: &str) -> String {
        let mut out = format!("{file_name}:{}\n--------------------\n", self.line);
        let lines: Vec<&str> = source.lines().collect();
        let first = self.line.saturating_sub(2).max(1);
        let last = (self.end_line + 2).min(lines.len());
        for n in first..=last {
            let text = lines.get(n - 1).copied().unwrap_or("");
            let marker = if n >= self.line && n <= self.end_line {
                ">>> "
            } else {
                ""
            };
            out.push_str(&format!("{n:>4} | {marker}{text}\n"));
        }
        out.push_str("--------------------\n");
        out
    }
}

/// Errors returned by a build host (the engine). The message is shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct HostError {
    pub message: String,
    /// True when the error means "no such image" (pull failed / not found), for callers that
    /// map errors to HTTP statuses.
    pub not_found: bool,
}

impl HostError {
    pub fn new(message: impl Into<String>) -> Self {
        HostError {
            message: message.into(),
            not_found: false,
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        HostError {
            message: message.into(),
            not_found: true,
        }
    }
}

/// Any failure of a build.
#[derive(Debug, Error)]
pub enum BuildError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Invalid request (bad `--target`, bad build context, …); Docker's wording.
    #[error("{0}")]
    Invalid(String),
    /// A `RUN` step exited non-zero: `The command '/bin/sh -c false' returned a non-zero code: 1`.
    #[error("The command '{command}' returned a non-zero code: {code}")]
    RunFailed {
        command: String,
        code: i64,
        /// The command's output when the build was quiet (`-q`), otherwise empty (it was
        /// streamed already).
        output: String,
    },
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl BuildError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        BuildError::Io {
            context: context.into(),
            source,
        }
    }
}
