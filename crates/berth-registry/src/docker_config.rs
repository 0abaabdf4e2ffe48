//! Credentials in Docker's `config.json` format, for `login` / `logout` and for finding
//! the credentials of a pull or push.
//!
//! Layout: `{"auths": {"<key>": {"auth": base64("user:pass")}}, …}`. The key is
//! `https://index.docker.io/v1/` for Docker Hub, `host[:port]` otherwise (older files may
//! hold `https://host/v1/`-style keys; lookups strip scheme and path like Docker). Every key
//! we do not know (`credsStore`, `psFormat`, `HttpHeaders`, …) is kept as it was: the whole
//! file is held as a JSON object and only `auths` entries are touched. Saves are atomic
//! (temp file in the same directory, fsync, rename) with mode 0600.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::auth::Credentials;
use crate::error::RegistryError;
use crate::reference::{DEFAULT_DOMAIN, DOCKER_HUB_AUTH_KEY};

/// The credentials file, held as its whole JSON object.
#[derive(Debug, Clone)]
pub struct DockerConfigFile {
    path: PathBuf,
    value: Map<String, Value>,
}

/// Default location: `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
pub fn default_config_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("config.json");
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".docker").join("config.json")
}

/// The config.json key for a registry domain (`docker.io` → Docker Hub's legacy URL).
pub fn auth_key(registry: &str) -> String {
    let host = normalize_key(registry);
    if host == DEFAULT_DOMAIN || host == "index.docker.io" || host == "registry-1.docker.io" {
        DOCKER_HUB_AUTH_KEY.to_string()
    } else {
        host
    }
}

/// Strip scheme and path from a key or server address: `https://h:5000/v1/` → `h:5000`.
fn normalize_key(s: &str) -> String {
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    s.split('/').next().unwrap_or(s).to_string()
}

impl DockerConfigFile {
    /// Load from `path`; a missing or empty file is an empty config.
    pub fn load(path: &Path) -> Result<DockerConfigFile, RegistryError> {
        let value = match fs::read(path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(m)) => m,
                Ok(_) | Err(_) => {
                    return Err(RegistryError::CredentialsFile(format!(
                        "loading config file {}: invalid JSON",
                        path.display()
                    )))
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => {
                return Err(RegistryError::CredentialsFile(format!(
                    "loading config file {}: {e}",
                    path.display()
                )))
            }
        };
        Ok(DockerConfigFile {
            path: path.to_path_buf(),
            value,
        })
    }

    /// The file this was loaded from and saves to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn auths(&self) -> Option<&Map<String, Value>> {
        self.value.get("auths").and_then(Value::as_object)
    }

    /// Credentials for a registry domain (`docker.io`, `localhost:5000`), if stored.
    pub fn get(&self, registry: &str) -> Option<Credentials> {
        let want = auth_key(registry);
        let auths = self.auths()?;
        let entry = auths.get(&want).or_else(|| {
            // Older files use URLs as keys; match them by host.
            auths
                .iter()
                .find(|(k, _)| auth_key(k) == want)
                .map(|(_, v)| v)
        })?;
        decode_entry(entry)
    }

    /// Store credentials for a registry (replacing the entry, keeping its other fields).
    pub fn set(&mut self, registry: &str, creds: &Credentials) {
        let key = auth_key(registry);
        let auths = self
            .value
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        if let Value::Object(auths) = auths {
            let entry = auths
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(e) = entry {
                let encoded = base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", creds.username, creds.password));
                e.insert("auth".into(), Value::String(encoded));
                // Plain-text fields of very old files would shadow the new secret.
                e.remove("username");
                e.remove("password");
            }
        }
    }

    /// Remove a registry's credentials; returns whether there were any.
    pub fn remove(&mut self, registry: &str) -> bool {
        let want = auth_key(registry);
        let Some(Value::Object(auths)) = self.value.get_mut("auths") else {
            return false;
        };
        let keys: Vec<String> = auths
            .keys()
            .filter(|k| **k == want || auth_key(k) == want)
            .cloned()
            .collect();
        for k in &keys {
            auths.remove(k);
        }
        !keys.is_empty()
    }

    /// Write atomically with mode 0600, creating the directory (0700) if needed.
    pub fn save(&self) -> Result<(), RegistryError> {
        let err = |what: &str, e: std::io::Error| {
            RegistryError::CredentialsFile(format!("{what} {}: {e}", self.path.display()))
        };
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| err("creating directory for", e))?;
        }
        let mut bytes = serde_json::to_vec_pretty(&self.value)
            .map_err(|e| RegistryError::CredentialsFile(e.to_string()))?;
        bytes.push(b'\n');
        let file_name = self.path.file_name().map_or_else(
            || "config.json".into(),
            |n| n.to_string_lossy().into_owned(),
        );
        let tmp = dir.join(format!(".{file_name}.tmp{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)?;
            // Make the rename durable too.
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            err("saving", e)
        })
    }
}

fn decode_entry(entry: &Value) -> Option<Credentials> {
    if let Some(auth) = entry
        .get("auth")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
    {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (user, pass) = text.split_once(':')?;
        return Some(Credentials::new(user, pass.trim_end_matches('\0')));
    }
    let user = entry.get("username").and_then(Value::as_str)?;
    let pass = entry.get("password").and_then(Value::as_str)?;
    Some(Credentials::new(user, pass))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn round_trip_keeps_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("config.json");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(
            &path,
            r#"{"auths":{"other:1":{"auth":"YTpi","email":"x@y"}},"credsStore":"","psFormat":"table {{.ID}}","proxies":{"default":{"httpProxy":"p"}}}"#,
        )
        .unwrap();
        let mut cfg = DockerConfigFile::load(&path).unwrap();
        assert_eq!(cfg.get("other:1"), Some(Credentials::new("a", "b")));
        cfg.set("docker.io", &Credentials::new("hub", "pw:with:colons"));
        cfg.set("localhost:5000", &Credentials::new("me", "secret"));
        cfg.save().unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        let again = DockerConfigFile::load(&path).unwrap();
        assert_eq!(
            again.get("docker.io"),
            Some(Credentials::new("hub", "pw:with:colons"))
        );
        assert_eq!(
            again.get("localhost:5000"),
            Some(Credentials::new("me", "secret"))
        );
        let raw: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(raw["psFormat"], "table {{.ID}}");
        assert_eq!(raw["proxies"]["default"]["httpProxy"], "p");
        assert_eq!(raw["auths"]["other:1"]["email"], "x@y");
        assert!(raw["auths"]["https://index.docker.io/v1/"]["auth"].is_string());

        let mut again = again;
        assert!(again.remove("localhost:5000"));
        assert!(!again.remove("localhost:5000"));
        again.save().unwrap();
        let last = DockerConfigFile::load(&path).unwrap();
        assert_eq!(last.get("localhost:5000"), None);
        assert_eq!(last.get("other:1"), Some(Credentials::new("a", "b")));
        // No temp files left behind.
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn legacy_keys_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let cfg = DockerConfigFile::load(&path).unwrap();
        assert_eq!(cfg.get("docker.io"), None);
        fs::write(
            &path,
            r#"{"auths":{"https://reg.example:8443/v1/":{"auth":"dTpw"}}}"#,
        )
        .unwrap();
        let cfg = DockerConfigFile::load(&path).unwrap();
        assert_eq!(
            cfg.get("reg.example:8443"),
            Some(Credentials::new("u", "p"))
        );
        fs::write(&path, "[1]").unwrap();
        assert!(DockerConfigFile::load(&path).is_err());
    }
}
