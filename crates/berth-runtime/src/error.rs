//! Runtime errors, worded the way Docker reports them (users grep for these texts).

/// Why creating or starting a process failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The command was not found in the container: Docker exits 127.
    #[error("exec: \"{0}\": executable file not found in $PATH")]
    NotFound(String),
    /// The command exists but cannot be run: Docker exits 126.
    #[error("exec: \"{0}\": permission denied")]
    PermissionDenied(String),
    /// A system call failed during setup; names the step.
    #[error("{step}: {source}")]
    Sys { step: String, #[source] source: std::io::Error },
    #[error("{0}")]
    Other(String),
}

impl RuntimeError {
    /// Docker's exit code for this failure, when it has one (126, 127).
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            RuntimeError::NotFound(_) => Some(127),
            RuntimeError::PermissionDenied(_) => Some(126),
            _ => None,
        }
    }
}
