//! Binding the API's unix sockets: parent directory, stale socket removal, and the
//! `root:<group> 0660` ownership that lets the group's members use the daemon.

use anyhow::{bail, Context, Result};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

/// Bind `path` for serving. A socket left by a dead daemon is removed; one a live
/// daemon still answers on is an error.
pub fn bind(path: &Path, group: &str, group_explicit: bool) -> Result<tokio::net::UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            bail!("{} exists and is not a socket", path.display());
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("another daemon is already listening on {}", path.display());
        }
        std::fs::remove_file(path)
            .with_context(|| format!("removing stale socket {}", path.display()))?;
    }
    let listener = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("listening on {}", path.display()))?;
    let gid = match nix::unistd::Group::from_name(group) {
        Ok(Some(g)) => Some(g.gid),
        Ok(None) if group_explicit => bail!("group {group} not found"),
        Ok(None) => None,
        Err(e) => bail!("looking up group {group}: {e}"),
    };
    // root:<group> 0660 — the group's members may talk to the daemon, nobody else.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("chmod {}", path.display()))?;
    if let Some(gid) = gid {
        nix::unistd::chown(path, Some(nix::unistd::Uid::from_raw(0)), Some(gid))
            .with_context(|| format!("chown {}", path.display()))?;
    }
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stale_socket_is_replaced_and_live_one_refused() {
        let dir = std::env::temp_dir().join(format!("berthd-sock-{}", std::process::id()));
        let path = dir.join("sub/api.sock");
        let _ = std::fs::remove_dir_all(&dir);
        {
            let l = bind(&path, "no-such-group-xyz", false).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o660);
            // Live listener: a second bind must refuse.
            assert!(bind(&path, "no-such-group-xyz", false).is_err());
            drop(l);
        }
        // The file stays after the listener is dropped: now it is stale.
        assert!(path.exists());
        let _l = bind(&path, "no-such-group-xyz", false).unwrap();
        assert!(bind(&dir.join("x.sock"), "no-such-group-xyz", true).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
