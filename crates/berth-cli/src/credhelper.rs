//! Docker's credential helpers, the CLI side: when config.json names a helper for a
//! registry (`credHelpers`) or for all of them (`credsStore`), credentials live in
//! `docker-credential-<helper>` (looked up in `PATH`) instead of the file. Protocol: the
//! action (`get`, `store`, `erase`) is the only argument; `get`/`erase` read the server
//! URL on stdin, `store` reads `{"ServerURL","Username","Secret"}`; `get` prints
//! `{"ServerURL","Username","Secret"}`, a missing entry is exit 1 with
//! "credentials not found in native keychain". A `Username` of `<token>` means the
//! secret is an identity token. Used by `auth.rs` for login, logout and the
//! `X-Registry-Auth` header.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

/// What a helper answers for a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// User name and password.
    Basic { username: String, password: String },
    /// An identity token (refresh token of a token service).
    Token(String),
}

/// The helper config.json assigns to `server` (its key in `auths`), if any.
pub fn helper_for(cfg: &Value, server: &str) -> Option<String> {
    cfg["credHelpers"][server]
        .as_str()
        .or_else(|| cfg["credsStore"].as_str())
        .filter(|h| !h.is_empty())
        .map(str::to_string)
}

/// Run `docker-credential-<helper> <action>` with `input` on stdin; the trimmed stdout
/// on success, Docker's error wording otherwise.
fn call(helper: &str, action: &str, input: &str) -> Result<String, String> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!("exec: \"{program}\": executable file not found in $PATH")
            } else {
                format!("exec: \"{program}\": {e}")
            }
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is reported by its status below.
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() {
        Ok(stdout)
    } else {
        let code = out.status.code().unwrap_or(-1);
        Err(format!("exit status {code}, out: `{stdout}`"))
    }
}

/// Credentials the helper holds for `server`; `None` when it has none.
pub fn get(helper: &str, server: &str) -> Result<Option<Stored>, String> {
    let out = match call(helper, "get", server) {
        Ok(o) => o,
        Err(e) if e.contains("credentials not found") => return Ok(None),
        Err(e) => return Err(format!("error getting credentials - err: {e}")),
    };
    let v: Value = serde_json::from_str(&out)
        .map_err(|e| format!("error getting credentials - err: {e}, out: `{out}`"))?;
    let user = v["Username"].as_str().unwrap_or("").to_string();
    let secret = v["Secret"].as_str().unwrap_or("").to_string();
    Ok(match (user.as_str(), secret.is_empty()) {
        (_, true) => None,
        ("<token>", false) => Some(Stored::Token(secret)),
        (_, false) => Some(Stored::Basic {
            username: user,
            password: secret,
        }),
    })
}

/// Save `username`/`secret` for `server` in the helper.
pub fn store(helper: &str, server: &str, username: &str, secret: &str) -> Result<(), String> {
    let input = json!({"ServerURL": server, "Username": username, "Secret": secret}).to_string();
    call(helper, "store", &input)
        .map(|_| ())
        .map_err(|e| format!("error storing credentials - err: {e}"))
}

/// Forget `server` in the helper.
pub fn erase(helper: &str, server: &str) -> Result<(), String> {
    call(helper, "erase", server)
        .map(|_| ())
        .map_err(|e| format!("error erasing credentials - err: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_choice() {
        let cfg = json!({"credsStore": "pass", "credHelpers": {"reg:5000": "ecr"}});
        assert_eq!(helper_for(&cfg, "reg:5000").as_deref(), Some("ecr"));
        assert_eq!(helper_for(&cfg, "other").as_deref(), Some("pass"));
        assert_eq!(helper_for(&json!({"credsStore": ""}), "x"), None);
        assert_eq!(helper_for(&json!({}), "x"), None);
    }

    #[test]
    fn missing_helper_is_dockers_error() {
        let e = get("berth-no-such-helper-xyz", "reg:5000").unwrap_err();
        assert_eq!(
            e,
            "error getting credentials - err: exec: \"docker-credential-berth-no-such-helper-xyz\": executable file not found in $PATH"
        );
    }
}
