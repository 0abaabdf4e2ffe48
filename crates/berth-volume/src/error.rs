//! The crate's error type. Every message is worded as Docker's daemon words it, so the
//! engine and the API layer can pass `to_string()` straight to the client; `status()`
//! gives the HTTP status Docker answers with.

use std::io;
use std::path::Path;

/// Errors of parsing, the volume store, copy-up and mount resolution.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// Bad user input: a mount spec, a volume name, an option, a filter (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// The named volume does not exist: `get NAME: no such volume` (HTTP 404).
    #[error("{op} {name}: no such volume")]
    NotFound { op: &'static str, name: String },
    /// A volume driver other than `local` (HTTP 404, as Docker's plugin lookup).
    #[error(
        "create {name}: error looking up volume plugin {driver}: plugin \"{driver}\" not found"
    )]
    PluginNotFound { name: String, driver: String },
    /// Removing a volume that containers still reference (HTTP 409).
    #[error("remove {name}: volume is in use - [{}]", refs.join(", "))]
    InUse { name: String, refs: Vec<String> },
    /// Another conflict, e.g. a prune already running (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// A system call failed; `context` says what was being done.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

impl VolumeError {
    /// The HTTP status Docker answers this error with.
    pub fn status(&self) -> u16 {
        match self {
            VolumeError::Invalid(_) => 400,
            VolumeError::NotFound { .. } | VolumeError::PluginNotFound { .. } => 404,
            VolumeError::InUse { .. } | VolumeError::Conflict(_) => 409,
            VolumeError::Io { .. } => 500,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        VolumeError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn io_path(what: &str, path: &Path, source: io::Error) -> Self {
        VolumeError::Io {
            context: format!("{what} {}", path.display()),
            source,
        }
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        VolumeError::Invalid(msg.into())
    }
}

impl From<nix::Error> for VolumeError {
    fn from(e: nix::Error) -> Self {
        VolumeError::Io {
            context: "system call".into(),
            source: io::Error::from(e),
        }
    }
}

pub type Result<T, E = VolumeError> = std::result::Result<T, E>;
