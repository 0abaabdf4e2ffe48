//! Finding the command inside the container before parking, so a missing or
//! non-executable binary fails `create` with Docker's exit codes (127 / 126).
//!
//! Same rules as Docker: a bare name is searched in `$PATH` (the spec's env, or the
//! default PATH); a name with `/` is taken as a path, relative to the working directory.

use crate::defaults::DEFAULT_PATH;
use crate::error::RuntimeError;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The value of `PATH` in `env` (the last one wins, as in a shell).
pub fn path_var(env: &[String]) -> &str {
    env.iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
}

/// Resolve `cmd` relative to the current root (and `cwd` for relative paths).
pub fn find_executable(cmd: &str, env: &[String], cwd: &Path) -> Result<PathBuf, RuntimeError> {
    if cmd.is_empty() {
        return Err(RuntimeError::NotFound(cmd.to_string()));
    }
    if cmd.contains('/') {
        let p = if cmd.starts_with('/') {
            PathBuf::from(cmd)
        } else {
            cwd.join(cmd)
        };
        return match std::fs::metadata(&p) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                Err(RuntimeError::NotFound(cmd.to_string()))
            }
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => {
                Err(RuntimeError::PermissionDenied(cmd.to_string()))
            }
            Err(e) => Err(RuntimeError::sys(format!("exec: {cmd:?}: stat {cmd}"), e)),
            Ok(md) if md.is_dir() => Err(RuntimeError::IsDirectory(cmd.to_string())),
            Ok(md) if md.permissions().mode() & 0o111 == 0 => {
                Err(RuntimeError::PermissionDenied(cmd.to_string()))
            }
            Ok(_) => Ok(PathBuf::from(cmd)),
        };
    }
    for dir in path_var(env).split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(cmd);
        let candidate = if candidate.is_absolute() {
            candidate
        } else {
            cwd.join(candidate)
        };
        if let Ok(md) = std::fs::metadata(&candidate) {
            if md.is_file() && md.permissions().mode() & 0o111 != 0 {
                return Ok(candidate);
            }
        }
    }
    Err(RuntimeError::NotFound(cmd.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_in_path_and_reports_docker_codes() {
        let guard = crate::testutil::TempDir::new("lookup");
        let d = guard.path().to_path_buf();
        std::fs::create_dir_all(d.join("bin")).unwrap();
        std::fs::write(d.join("bin/tool"), b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(d.join("bin/tool"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::fs::write(d.join("bin/data"), b"x").unwrap();
        std::fs::set_permissions(d.join("bin/data"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let env = vec![format!("PATH=/nonexistent:{}", d.join("bin").display())];
        assert_eq!(
            find_executable("tool", &env, &d).unwrap(),
            d.join("bin/tool")
        );
        assert_eq!(
            find_executable("data", &env, &d).unwrap_err().exit_code(),
            Some(127)
        );
        assert_eq!(
            find_executable("nope", &env, &d).unwrap_err().exit_code(),
            Some(127)
        );
        let abs = d.join("bin/data").to_string_lossy().into_owned();
        assert_eq!(
            find_executable(&abs, &env, &d).unwrap_err().exit_code(),
            Some(126)
        );
        let dir = d.join("bin").to_string_lossy().into_owned();
        assert_eq!(
            find_executable(&dir, &env, &d).unwrap_err().exit_code(),
            Some(126)
        );
        assert_eq!(
            find_executable("./bin/tool", &env, &d).unwrap(),
            PathBuf::from("./bin/tool")
        );
        let e = find_executable("/nope", &env, &d).unwrap_err();
        assert_eq!(
            e.to_string(),
            "exec: \"/nope\": stat /nope: no such file or directory"
        );
    }

    #[test]
    fn default_path_when_env_has_none() {
        assert_eq!(path_var(&["A=b".into()]), DEFAULT_PATH);
        assert_eq!(path_var(&["PATH=/a".into(), "PATH=/b".into()]), "/b");
    }
}
