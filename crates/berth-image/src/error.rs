//! The one error type of the image store. Every message is worded the way the Docker
//! daemon words it, so the API layer can pass `to_string()` through unchanged; the
//! variant tells the API layer which HTTP status to use (404, 409, 400, 500).

use std::io;

/// Errors of the image store, classified like Docker's error kinds.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The image, tag or layer does not exist (HTTP 404), e.g. `No such image: foo:latest`.
    #[error("{0}")]
    NotFound(String),
    /// The operation conflicts with the current state (HTTP 409), e.g. an image in use.
    #[error("{0}")]
    Conflict(String),
    /// The caller's input is wrong (HTTP 400): a bad reference, a bad change line, a
    /// tar that tries to escape its destination.
    #[error("{0}")]
    InvalidArgument(String),
    /// The disk said no (HTTP 500). `context` says what we were doing.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

/// The kind of an [`ImageError`] without its text, for matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Conflict,
    InvalidArgument,
    Io,
}

impl ImageError {
    /// The classification of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ImageError::NotFound(_) => ErrorKind::NotFound,
            ImageError::Conflict(_) => ErrorKind::Conflict,
            ImageError::InvalidArgument(_) => ErrorKind::InvalidArgument,
            ImageError::Io { .. } => ErrorKind::Io,
        }
    }

    /// An I/O error with what we were doing at the time.
    pub fn io(context: impl Into<String>, source: io::Error) -> ImageError {
        ImageError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> ImageError {
        ImageError::InvalidArgument(msg.into())
    }
}

/// Attach context to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, ImageError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, ImageError> {
        self.map_err(|e| ImageError::io(what(), e))
    }
}

impl<T> IoContext<T> for nix::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, ImageError> {
        self.map_err(|e| ImageError::io(what(), io::Error::from(e)))
    }
}
