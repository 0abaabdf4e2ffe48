//! Registry credentials: `login`/`logout`, the credentials file
//! (`$BERTH_CONFIG/config.json`, default `~/.berth/config.json`, Docker's
//! `{"auths": {server: {"auth": base64(user:pass)}}}` layout), and the
//! `X-Registry-Auth` header that pull and push send. With `credsStore` / `credHelpers`
//! in the file, the secrets go through a credential helper instead (`credhelper.rs`)
//! and `auths` only keeps an empty entry per server, like Docker.

#[path = "credhelper.rs"]
mod credhelper;

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;

use berth_client::Client;
use serde_json::{json, Map, Value};

use crate::cli::{LoginArgs, LogoutArgs};
use crate::errors::{CliError, CliResult};

/// The server key Docker uses for Docker Hub.
pub const DEFAULT_SERVER: &str = "https://index.docker.io/v1/";

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding; `url` switches to the URL-safe alphabet.
pub fn base64_encode(data: &[u8], url: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let mut c = B64[((n >> (18 - 6 * i)) & 63) as usize] as char;
                if url {
                    c = match c {
                        '+' => '-',
                        '/' => '_',
                        o => o,
                    };
                }
                out.push(c);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0);
    for c in s.trim().bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => return None,
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    Some(out)
}

fn config_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("BERTH_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("config.json");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".berth").join("config.json")
}

fn load_config() -> Value {
    std::fs::read(config_path())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}))
}

fn save_config(v: &Value) -> io::Result<()> {
    let path = config_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut text = serde_json::to_string_pretty(v).map_err(io::Error::other)?;
    text.push('\n');
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(tmp, path)
}

/// The registry a reference lives in (Docker Hub's key for unqualified names).
pub fn registry_of(reference: &str) -> String {
    let first = reference.split('/').next().unwrap_or("");
    if reference.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost")
    {
        first.to_string()
    } else {
        DEFAULT_SERVER.to_string()
    }
}

/// Normalises a server argument to its key in the credentials file.
fn server_key(server: &str) -> String {
    let s = server.trim_end_matches('/');
    match s {
        ""
        | "docker.io"
        | "index.docker.io"
        | "registry-1.docker.io"
        | "https://index.docker.io/v1" => DEFAULT_SERVER.to_string(),
        _ => s
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .to_string(),
    }
}

/// `X-Registry-Auth` for pushing/pulling `reference`: stored credentials, or `{}`.
pub fn registry_auth_header(reference: &str) -> String {
    let server = registry_of(reference);
    let cfg = load_config();
    if let Some(helper) = credhelper::helper_for(&cfg, &server) {
        let body = match credhelper::get(&helper, &server) {
            Ok(Some(credhelper::Stored::Basic { username, password })) => {
                json!({"username": username, "password": password, "serveraddress": server})
            }
            Ok(Some(credhelper::Stored::Token(t))) => {
                json!({"identitytoken": t, "serveraddress": server})
            }
            Ok(None) => return "e30=".to_string(),
            Err(e) => {
                // Docker goes on anonymously after saying why.
                eprintln!("WARNING: {e}");
                return "e30=".to_string();
            }
        };
        return base64_encode(body.to_string().as_bytes(), true);
    }
    let entry = &cfg["auths"][&server];
    let creds = entry["auth"]
        .as_str()
        .and_then(base64_decode)
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(u, p)| (u.to_string(), p.to_string()))
        });
    match creds {
        Some((u, p)) => base64_encode(
            json!({"username": u, "password": p, "serveraddress": server})
                .to_string()
                .as_bytes(),
            true,
        ),
        None => "e30=".to_string(),
    }
}

fn prompt(label: &str) -> io::Result<String> {
    print!("{label}");
    io::stdout().flush()?;
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Reads a password from the terminal without echo.
fn prompt_password() -> io::Result<String> {
    use nix::sys::termios::{self, LocalFlags, SetArg};
    let stdin = io::stdin();
    let saved = termios::tcgetattr(&stdin).ok();
    if let Some(t) = &saved {
        let mut quiet = t.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &quiet);
    }
    let r = prompt("Password: ");
    if let Some(t) = &saved {
        let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, t);
    }
    println!();
    r
}

pub fn login(c: &Client, a: &LoginArgs) -> CliResult {
    let server = server_key(a.server.as_deref().unwrap_or(""));
    if a.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    if a.password.is_some() && a.password_stdin {
        return Err(CliError::msg(
            "--password and --password-stdin are mutually exclusive",
        ));
    }
    let username = match &a.username {
        Some(u) => u.clone(),
        None if io::stdin().is_terminal() => prompt("Username: ")?,
        None => {
            return Err(CliError::msg(
                "Error: Cannot perform an interactive login from a non TTY device",
            ))
        }
    };
    let password = if a.password_stdin {
        if a.username.is_none() {
            return Err(CliError::msg(
                "Must provide --username with --password-stdin",
            ));
        }
        let mut s = String::new();
        io::stdin().lock().read_line(&mut s)?;
        s.trim_end_matches(['\r', '\n']).to_string()
    } else {
        match &a.password {
            Some(p) => p.clone(),
            None if io::stdin().is_terminal() => prompt_password()?,
            None => {
                return Err(CliError::msg(
                    "Error: Cannot perform an interactive login from a non TTY device",
                ))
            }
        }
    };
    if username.is_empty() {
        return Err(CliError::msg("Error: Non-null Username Required"));
    }
    if password.is_empty() {
        return Err(CliError::msg("Error: Password Required"));
    }
    let body = json!({"username": username, "password": password, "serveraddress": server});
    let v = c.post_json("/auth", Some(&body))?;
    let mut cfg = load_config();
    if !cfg["auths"].is_object() {
        cfg["auths"] = Value::Object(Map::new());
    }
    let token = v["IdentityToken"].as_str().filter(|t| !t.is_empty());
    let helper = credhelper::helper_for(&cfg, &server);
    let mut entry = Map::new();
    match &helper {
        Some(h) => {
            let (user, secret) = match token {
                Some(t) => ("<token>", t),
                None => (username.as_str(), password.as_str()),
            };
            credhelper::store(h, &server, user, secret)
                .map_err(|e| CliError::msg(format!("Error saving credentials: {e}")))?;
        }
        None => {
            entry.insert(
                "auth".into(),
                json!(base64_encode(
                    format!("{username}:{password}").as_bytes(),
                    false
                )),
            );
            if let Some(t) = token {
                entry.insert("identitytoken".into(), json!(t));
            }
        }
    }
    cfg["auths"][&server] = Value::Object(entry);
    save_config(&cfg).map_err(|e| CliError::msg(format!("Error saving credentials: {e}")))?;
    if helper.is_none() {
        eprintln!(
            "\nWARNING! Your credentials are stored unencrypted in '{}'.\n",
            config_path().display()
        );
    }
    println!(
        "{}",
        v["Status"]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or("Login Succeeded")
    );
    Ok(())
}

pub fn logout(a: &LogoutArgs) -> CliResult {
    let server = server_key(a.server.as_deref().unwrap_or(""));
    let mut cfg = load_config();
    let removed = cfg["auths"]
        .as_object_mut()
        .and_then(|m| m.remove(&server))
        .is_some();
    if !removed {
        println!("Not logged in to {server}");
        return Ok(());
    }
    println!("Removing login credentials for {server}");
    if let Some(h) = credhelper::helper_for(&cfg, &server) {
        if let Err(e) = credhelper::erase(&h, &server) {
            eprintln!("WARNING: could not erase credentials for {server}: {e}");
        }
    }
    save_config(&cfg)
        .map_err(|e| CliError::msg(format!("WARNING: could not erase credentials: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        assert_eq!(base64_encode(b"user:pass", false), "dXNlcjpwYXNz");
        assert_eq!(base64_encode(b"{}", false), "e30=");
        assert_eq!(base64_encode(&[0xfb, 0xff], true), "-_8=");
        assert_eq!(base64_decode("dXNlcjpwYXNz").unwrap(), b"user:pass");
    }

    #[test]
    fn registries() {
        assert_eq!(registry_of("busybox"), DEFAULT_SERVER);
        assert_eq!(registry_of("me/app"), DEFAULT_SERVER);
        assert_eq!(registry_of("127.0.0.1:5055/bb:1"), "127.0.0.1:5055");
        assert_eq!(registry_of("localhost/x"), "localhost");
        assert_eq!(server_key("docker.io"), DEFAULT_SERVER);
        assert_eq!(server_key("http://127.0.0.1:5055/"), "127.0.0.1:5055");
    }
}
