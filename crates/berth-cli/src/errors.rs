//! The CLI's error type: a message for stderr, the exit status, and whether to add
//! Docker's "Run 'berth X --help'" hint (used by run/create and flag errors).

use std::fmt;

#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: i32,
    /// Command path (`run`, `container ls`) for the usage hint, when one is printed.
    pub hint: Option<String>,
    /// Prefix the message with `berth: ` (what Docker does for run/create errors).
    pub prefixed: bool,
}

impl CliError {
    /// Exit status 1, message as is.
    pub fn msg(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            code: 1,
            hint: None,
            prefixed: false,
        }
    }

    pub fn with_code(mut self, code: i32) -> CliError {
        self.code = code;
        self
    }

    /// Docker's run/create style: `berth: <msg>` + blank line + help hint, status 125.
    pub fn run_style(message: impl Into<String>, cmd: &str) -> CliError {
        CliError {
            message: message.into(),
            code: 125,
            hint: Some(cmd.to_string()),
            prefixed: true,
        }
    }

    /// Exit silently with `code` (the message was already printed, or there is none).
    pub fn exit(code: i32) -> CliError {
        CliError {
            message: String::new(),
            code,
            hint: None,
            prefixed: false,
        }
    }

    /// Writes the error to stderr the way Docker does.
    pub fn print(&self) {
        if self.message.is_empty() {
            return;
        }
        let mut s = String::new();
        if self.prefixed {
            s.push_str("berth: ");
        }
        s.push_str(&self.message);
        if let Some(cmd) = &self.hint {
            s.push_str(&format!(
                "\n\nRun 'berth {cmd} --help' for more information"
            ));
        }
        eprintln!("{s}");
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<berth_client::Error> for CliError {
    fn from(e: berth_client::Error) -> Self {
        CliError::msg(e.to_string())
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::msg(e.to_string())
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;
