//! The engine's one error type: a kind (which the API maps to an HTTP status) and the
//! message text, worded as the Docker daemon words it so the API passes it through.

use berth_image::ImageError;

/// Classification of an [`EngineError`]; the API layer maps it to a status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// 404: no such container / image / exec instance.
    NotFound,
    /// 409: the object's state or a name forbids the operation (running, in use, …).
    Conflict,
    /// 400: the request is wrong (bad name, bad option, command not found at start).
    InvalidArgument,
    /// 304: nothing to do (start of a running container, stop of a stopped one).
    NotModified,
    /// 401: a registry refused the credentials (`docker login`).
    Unauthorized,
    /// 500: anything else (I/O, shim failures).
    Internal,
}

/// An error of an engine operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EngineError {
    pub kind: ErrorKind,
    pub message: String,
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

impl EngineError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> EngineError {
        EngineError {
            kind,
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> EngineError {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> EngineError {
        Self::new(ErrorKind::Conflict, message)
    }
    pub fn invalid(message: impl Into<String>) -> EngineError {
        Self::new(ErrorKind::InvalidArgument, message)
    }
    pub fn not_modified() -> EngineError {
        Self::new(ErrorKind::NotModified, "")
    }
    pub fn internal(message: impl Into<String>) -> EngineError {
        Self::new(ErrorKind::Internal, message)
    }

    /// `No such container: <name>`.
    pub fn no_such_container(name: &str) -> EngineError {
        Self::not_found(format!("No such container: {name}"))
    }
    /// `Container <id> is not running` (409).
    pub fn not_running(id: &str) -> EngineError {
        Self::conflict(format!("Container {id} is not running"))
    }
    /// `Container <id> is paused. Unpause …` (409), for stop and kill.
    pub fn paused(id: &str) -> EngineError {
        Self::conflict(format!(
            "Container {id} is paused. Unpause the container before stopping or killing"
        ))
    }

    /// An I/O failure with what we were doing.
    pub fn io(context: impl std::fmt::Display, e: std::io::Error) -> EngineError {
        Self::internal(format!("{context}: {e}"))
    }
}

impl From<ImageError> for EngineError {
    fn from(e: ImageError) -> EngineError {
        use berth_image::ErrorKind as K;
        let kind = match e.kind() {
            K::NotFound => ErrorKind::NotFound,
            K::Conflict => ErrorKind::Conflict,
            K::InvalidArgument => ErrorKind::InvalidArgument,
            K::Io => ErrorKind::Internal,
        };
        EngineError::new(kind, e.to_string())
    }
}

impl From<berth_cgroups::CgroupError> for EngineError {
    fn from(e: berth_cgroups::CgroupError) -> EngineError {
        EngineError::internal(e.to_string())
    }
}

impl From<tokio::task::JoinError> for EngineError {
    fn from(e: tokio::task::JoinError) -> EngineError {
        EngineError::internal(format!("internal task failed: {e}"))
    }
}
