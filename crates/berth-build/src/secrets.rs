//! Build secrets and SSH agent sockets (`build --secret`, `build --ssh`) and how they
//! travel from the client to the daemon.
//!
//! The classic `POST /build` API has no session to ask the client for secrets while a
//! step runs, so the client sends them up front in one request header,
//! [`SECRETS_HEADER`]: base64url (no padding) of the JSON
//! `{"secrets":{"<id>":"<base64 of the bytes>"},"ssh":{"<id>":["<socket path>"]}}`.
//! The API layer decodes it into [`BuildSecrets`] on the [`crate::BuildRequest`]; the
//! builder itself only ever passes a secret's *id* (it is not part of any cache key or
//! history line), and the engine puts the bytes on a private tmpfs for the one step that
//! mounts them. SSH entries are paths of agent sockets on the daemon's host: they work
//! when the client runs on the same machine as the daemon (the usual unix-socket case).
//!
//! Client-side parsing follows Docker's flags: `--secret id=x,src=FILE`,
//! `--secret id=x,env=VAR` (`type=file|env`, `source` for `src`; with neither, the
//! variable named like the id if set, else the file named like it) and
//! `--ssh default[=SOCKET|KEY…]` (no path: `$SSH_AUTH_SOCK`).

use base64::Engine as _;
use std::collections::BTreeMap;

/// The request header carrying [`BuildSecrets`].
pub const SECRETS_HEADER: &str = "X-Berth-Build-Secrets";

/// Secrets and SSH sockets of one build. `Debug` never shows secret bytes.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct BuildSecrets {
    /// Secret id → content.
    pub secrets: BTreeMap<String, Vec<u8>>,
    /// SSH id → agent socket paths on the daemon's host (the first existing one is used).
    pub ssh: BTreeMap<String, Vec<String>>,
}

impl std::fmt::Debug for BuildSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildSecrets")
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("ssh", &self.ssh)
            .finish()
    }
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Wire {
    #[serde(default)]
    secrets: BTreeMap<String, String>,
    #[serde(default)]
    ssh: BTreeMap<String, Vec<String>>,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

impl BuildSecrets {
    /// Nothing to send.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty() && self.ssh.is_empty()
    }

    /// The [`SECRETS_HEADER`] value.
    pub fn to_header(&self) -> String {
        let std = base64::engine::general_purpose::STANDARD;
        let w = Wire {
            secrets: self
                .secrets
                .iter()
                .map(|(k, v)| (k.clone(), std.encode(v)))
                .collect(),
            ssh: self.ssh.clone(),
        };
        // Serializing maps of strings cannot fail.
        b64().encode(serde_json::to_vec(&w).unwrap_or_default())
    }

    /// Decodes a [`SECRETS_HEADER`] value (padding tolerated).
    pub fn from_header(v: &str) -> Result<BuildSecrets, String> {
        let bad = |e: &dyn std::fmt::Display| format!("invalid {SECRETS_HEADER} header: {e}");
        let raw = b64()
            .decode(v.trim().trim_end_matches('='))
            .map_err(|e| bad(&e))?;
        let w: Wire = serde_json::from_slice(&raw).map_err(|e| bad(&e))?;
        let std = base64::engine::general_purpose::STANDARD;
        let mut out = BuildSecrets {
            ssh: w.ssh,
            ..Default::default()
        };
        for (k, v) in w.secrets {
            let bytes = std.decode(v).map_err(|e| bad(&e))?;
            out.secrets.insert(k, bytes);
        }
        Ok(out)
    }

    /// Adds one `--secret` flag value, reading the file or variable it names.
    pub fn add_secret_flag(&mut self, spec: &str) -> Result<(), String> {
        let (mut id, mut typ, mut src, mut env) = (None, None, None, None);
        for field in spec.split(',') {
            let (k, v) = field
                .split_once('=')
                .ok_or_else(|| format!("invalid field '{field}' must be a key=value pair"))?;
            match k.trim().to_ascii_lowercase().as_str() {
                "id" => id = Some(v.to_string()),
                "type" => {
                    if v != "file" && v != "env" {
                        return Err(format!("unsupported secret type {v:?}"));
                    }
                    typ = Some(v.to_string())
                }
                "src" | "source" => src = Some(v.to_string()),
                "env" => env = Some(v.to_string()),
                _ => return Err(format!("unexpected key '{k}' in '{field}'")),
            }
        }
        let id = id
            .filter(|i| !i.is_empty())
            .ok_or_else(|| format!("invalid secret {spec:?}: id is required"))?;
        // `type=env,src=VAR` names the variable with src.
        if typ.as_deref() == Some("env") && env.is_none() {
            env = Some(src.take().unwrap_or_else(|| id.clone()));
        }
        if env.is_none() && src.is_none() {
            // Neither given: the variable named like the id, else the file.
            if typ.as_deref() != Some("file") && std::env::var_os(&id).is_some() {
                env = Some(id.clone());
            } else {
                src = Some(id.clone());
            }
        }
        let bytes = match (env, src) {
            (Some(var), _) => std::env::var_os(&var)
                .map(std::os::unix::ffi::OsStringExt::into_vec)
                .ok_or_else(|| format!("secret {id}: environment variable {var} is not set"))?,
            (None, Some(path)) => std::fs::read(&path)
                .map_err(|e| format!("failed to read secret {id} from {path}: {e}"))?,
            (None, None) => Vec::new(),
        };
        self.secrets.insert(id, bytes);
        Ok(())
    }

    /// Adds one `--ssh` flag value: `id[=path[,path…]]`, no path = `$SSH_AUTH_SOCK`.
    pub fn add_ssh_flag(&mut self, spec: &str) -> Result<(), String> {
        let (id, paths) = match spec.split_once('=') {
            Some((id, p)) => (
                id.to_string(),
                p.split(',')
                    .filter(|s| !s.is_empty())
                    .map(absolute)
                    .collect::<Vec<_>>(),
            ),
            None => (spec.to_string(), Vec::new()),
        };
        if id.is_empty() {
            return Err(format!("invalid ssh spec {spec:?}: id is required"));
        }
        let paths = if paths.is_empty() {
            let sock = std::env::var("SSH_AUTH_SOCK").map_err(|_| {
                format!(
                    "invalid empty ssh agent socket: make sure SSH_AUTH_SOCK is set for --ssh {id}"
                )
            })?;
            vec![absolute(&sock)]
        } else {
            paths
        };
        self.ssh.insert(id, paths);
        Ok(())
    }
}

/// The daemon resolves paths itself, so relative ones are made absolute here.
fn absolute(p: &str) -> String {
    let path = std::path::Path::new(p);
    if path.is_absolute() {
        return p.to_string();
    }
    std::env::current_dir()
        .map(|d| d.join(path).display().to_string())
        .unwrap_or_else(|_| p.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_debug_hides_bytes() {
        let mut s = BuildSecrets::default();
        s.secrets.insert("tok".into(), b"s3cr3t\0\xff".to_vec());
        s.ssh
            .insert("default".into(), vec!["/tmp/agent.sock".into()]);
        let h = s.to_header();
        assert!(h.bytes().all(|b| b.is_ascii_graphic()));
        assert_eq!(BuildSecrets::from_header(&h).unwrap(), s);
        assert!(!format!("{s:?}").contains("s3cr3t"));
        assert!(BuildSecrets::from_header("!!").is_err());
        assert!(BuildSecrets::default().is_empty());
    }

    #[test]
    fn secret_flags_read_files_and_variables() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("tok");
        std::fs::write(&f, b"from-file").unwrap();
        let mut s = BuildSecrets::default();
        s.add_secret_flag(&format!("id=a,src={}", f.display()))
            .unwrap();
        s.add_secret_flag(&format!("id=b,type=file,source={}", f.display()))
            .unwrap();
        std::env::set_var("BERTH_SECRETS_TEST_VAR", "from-env");
        s.add_secret_flag("id=c,env=BERTH_SECRETS_TEST_VAR")
            .unwrap();
        s.add_secret_flag("id=d,type=env,src=BERTH_SECRETS_TEST_VAR")
            .unwrap();
        s.add_secret_flag("id=BERTH_SECRETS_TEST_VAR").unwrap();
        assert_eq!(s.secrets["a"], b"from-file");
        assert_eq!(s.secrets["b"], b"from-file");
        assert_eq!(s.secrets["c"], b"from-env");
        assert_eq!(s.secrets["d"], b"from-env");
        assert_eq!(s.secrets["BERTH_SECRETS_TEST_VAR"], b"from-env");
        assert!(s
            .add_secret_flag("src=/x")
            .unwrap_err()
            .contains("id is required"));
        assert!(s
            .add_secret_flag("id=e,env=BERTH_SECRETS_TEST_UNSET")
            .unwrap_err()
            .contains("not set"));
        assert!(s
            .add_secret_flag(&format!("id=f,src={}", d.path().join("nope").display()))
            .is_err());
        assert!(s.add_secret_flag("id=g,bogus=1").is_err());

        s.add_ssh_flag("default=/run/a.sock,/run/b.sock").unwrap();
        assert_eq!(s.ssh["default"], ["/run/a.sock", "/run/b.sock"]);
        s.add_ssh_flag("rel=agent.sock").unwrap();
        assert!(s.ssh["rel"][0].starts_with('/'));
        assert!(s.add_ssh_flag("=x").is_err());
    }
}
