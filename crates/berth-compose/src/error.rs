//! The one error type of the crate. Messages follow Docker Compose's wording so users
//! see what they would see with Docker; the CLI prints them as they are.

use std::path::PathBuf;

/// Everything that can go wrong while loading a project or running it.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("no configuration file provided: not found")]
    NoConfigFile,
    #[error("open {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("yaml: {file}: {message}")]
    Yaml { file: String, message: String },
    #[error("{0}")]
    Interpolation(String),
    #[error("validating {file}: {message}")]
    Schema { file: String, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error(
        "service {0:?} has neither an image nor a build context specified: invalid compose project"
    )]
    NoImage(String),
    #[error("no such service: {0}")]
    NoSuchService(String),
    #[error("dependency cycle detected: {0}")]
    Cycle(String),
    #[error("{0}")]
    Api(#[from] berth_client::Error),
    #[error("{0}")]
    Run(String),
}

impl ComposeError {
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        ComposeError::Invalid(msg.into())
    }
}

pub type Result<T> = std::result::Result<T, ComposeError>;
