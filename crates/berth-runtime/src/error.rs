//! Runtime errors, worded the way Docker reports them (users grep for these texts).
//!
//! Errors raised inside the forked child travel to the parent over a pipe; see
//! [`RuntimeError::encode`] / [`RuntimeError::decode`] (used by `ipc`).

/// Why creating or starting a process failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The command was not found in the container: Docker exits 127. A bare name was
    /// searched in `$PATH`; a path with a `/` did not exist.
    #[error("{}", not_found_message(.0))]
    NotFound(String),
    /// The command exists but cannot be run: Docker exits 126.
    #[error("exec: \"{0}\": permission denied")]
    PermissionDenied(String),
    /// The command is a directory: Docker exits 126.
    #[error("exec: \"{0}\": is a directory")]
    IsDirectory(String),
    /// A system call failed during setup; names the step.
    #[error("{step}: {}", errno_text(.source))]
    Sys {
        step: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

/// An OS error the way Docker prints one: lower-case text, no "(os error N)".
pub(crate) fn errno_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    let s = s.split(" (os error").next().unwrap_or(&s).to_string();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

/// Docker words a missing bare command and a missing path differently.
fn not_found_message(cmd: &str) -> String {
    if cmd.contains('/') {
        format!("exec: \"{cmd}\": stat {cmd}: no such file or directory")
    } else {
        format!("exec: \"{cmd}\": executable file not found in $PATH")
    }
}

impl RuntimeError {
    /// Docker's exit code for this failure, when it has one (126, 127).
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            RuntimeError::NotFound(_) => Some(127),
            RuntimeError::PermissionDenied(_) | RuntimeError::IsDirectory(_) => Some(126),
            _ => None,
        }
    }

    /// A failed system call during `step`, from `errno`.
    pub(crate) fn sys(step: impl Into<String>, source: std::io::Error) -> Self {
        RuntimeError::Sys {
            step: step.into(),
            source,
        }
    }

    /// The last OS error for `step`.
    pub(crate) fn last_os(step: impl Into<String>) -> Self {
        Self::sys(step, std::io::Error::last_os_error())
    }

    /// Serialize for the child→parent pipe: a tag byte, then fields separated by NUL.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            RuntimeError::NotFound(c) => {
                out.push(b'N');
                out.extend_from_slice(c.as_bytes());
            }
            RuntimeError::PermissionDenied(c) => {
                out.push(b'P');
                out.extend_from_slice(c.as_bytes());
            }
            RuntimeError::IsDirectory(c) => {
                out.push(b'D');
                out.extend_from_slice(c.as_bytes());
            }
            RuntimeError::Sys { step, source } => match source.raw_os_error() {
                Some(errno) => {
                    out.push(b'S');
                    out.extend_from_slice(errno.to_string().as_bytes());
                    out.push(0);
                    out.extend_from_slice(step.as_bytes());
                }
                None => {
                    out.push(b'T');
                    out.extend_from_slice(source.to_string().as_bytes());
                    out.push(0);
                    out.extend_from_slice(step.as_bytes());
                }
            },
            RuntimeError::Other(m) => {
                out.push(b'O');
                out.extend_from_slice(m.as_bytes());
            }
        }
        out
    }

    /// Inverse of [`encode`](Self::encode); garbage decodes to `Other`.
    pub(crate) fn decode(buf: &[u8]) -> Self {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let split = |b: &[u8]| -> (String, String) {
            match b.iter().position(|&c| c == 0) {
                Some(i) => (text(&b[..i]), text(&b[i + 1..])),
                None => (text(b), String::new()),
            }
        };
        match buf.split_first() {
            Some((b'N', rest)) => RuntimeError::NotFound(text(rest)),
            Some((b'P', rest)) => RuntimeError::PermissionDenied(text(rest)),
            Some((b'D', rest)) => RuntimeError::IsDirectory(text(rest)),
            Some((b'S', rest)) => {
                let (errno, step) = split(rest);
                match errno.parse::<i32>() {
                    Ok(e) => Self::sys(step, std::io::Error::from_raw_os_error(e)),
                    Err(_) => RuntimeError::Other(step),
                }
            }
            Some((b'T', rest)) => {
                let (msg, step) = split(rest);
                Self::sys(step, std::io::Error::other(msg))
            }
            Some((b'O', rest)) => RuntimeError::Other(text(rest)),
            _ => RuntimeError::Other(format!("container init: bad message {:?}", text(buf))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_wording_and_exit_codes() {
        let e = RuntimeError::NotFound("foo".into());
        assert_eq!(
            e.to_string(),
            "exec: \"foo\": executable file not found in $PATH"
        );
        assert_eq!(e.exit_code(), Some(127));
        let e = RuntimeError::NotFound("/nope".into());
        assert_eq!(
            e.to_string(),
            "exec: \"/nope\": stat /nope: no such file or directory"
        );
        assert_eq!(e.exit_code(), Some(127));
        let e = RuntimeError::PermissionDenied("/etc/passwd".into());
        assert_eq!(e.to_string(), "exec: \"/etc/passwd\": permission denied");
        assert_eq!(e.exit_code(), Some(126));
    }

    #[test]
    fn sys_errors_read_like_docker() {
        let e = RuntimeError::sys(
            "setrlimit RLIMIT_NOFILE",
            std::io::Error::from_raw_os_error(libc::EPERM),
        );
        assert_eq!(
            e.to_string(),
            "setrlimit RLIMIT_NOFILE: operation not permitted"
        );
        let e = RuntimeError::sys("x", std::io::Error::other("Custom text"));
        assert_eq!(e.to_string(), "x: custom text");
    }

    #[test]
    fn encode_round_trip() {
        let cases = vec![
            RuntimeError::NotFound("x".into()),
            RuntimeError::PermissionDenied("/y".into()),
            RuntimeError::IsDirectory("/etc".into()),
            RuntimeError::sys(
                "mount /proc",
                std::io::Error::from_raw_os_error(libc::EPERM),
            ),
            RuntimeError::sys("step", std::io::Error::other("custom")),
            RuntimeError::Other("unable to find user foo".into()),
        ];
        for e in cases {
            let d = RuntimeError::decode(&e.encode());
            assert_eq!(d.to_string(), e.to_string());
            assert_eq!(d.exit_code(), e.exit_code());
        }
        let d = RuntimeError::decode(
            &RuntimeError::sys("s", std::io::Error::from_raw_os_error(2)).encode(),
        );
        match d {
            RuntimeError::Sys { source, .. } => assert_eq!(source.raw_os_error(), Some(2)),
            other => panic!("unexpected {other:?}"),
        }
    }
}
