//! Registry authentication: `WWW-Authenticate` challenge parsing, credentials, and the
//! bearer token cache shared by every clone of the client.
//!
//! Flow (driven by `client.rs`): a request goes out with whatever authorization is already
//! known for its registry and scope; a 401 carries a challenge. `Basic` → resend with the
//! credentials. `Bearer realm=…,service=…,scope=…` → GET the realm with `service` and
//! `scope` (basic credentials attached when we have some), read `token` or `access_token`,
//! cache it under (registry, user, scope) until shortly before it expires, resend once.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use base64::Engine as _;

/// A user name and password (or registry token) for one registry.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or personal access token.
    pub password: String,
}

impl Credentials {
    /// Build from parts.
    pub fn new(username: &str, password: &str) -> Credentials {
        Credentials {
            username: username.to_string(),
            password: password.to_string(),
        }
    }

    /// The `Authorization: Basic …` header value.
    pub fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", self.username, self.password))
        )
    }
}

impl fmt::Debug for Credentials {
    // Never print the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Decode the Engine API's `X-Registry-Auth` header (base64url JSON with `username`,
/// `password`, `serveraddress`): the credentials the CLI sends with a pull or push.
/// Empty or `{}` means anonymous (`Ok(None)`); garbage is an error, as in Docker.
pub fn decode_registry_auth(header: &str) -> Result<Option<Credentials>, String> {
    #[derive(serde::Deserialize)]
    struct AuthConfig {
        #[serde(default)]
        username: String,
        #[serde(default)]
        password: String,
        #[serde(default)]
        auth: String,
    }
    let header = header.trim();
    if header.is_empty() {
        return Ok(None);
    }
    // Clients differ in padding and alphabet: accept URL-safe and standard, with or
    // without padding.
    let trimmed = header.trim_end_matches('=');
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
        .map_err(|_| "invalid X-Registry-Auth header: invalid base64".to_string())?;
    let cfg: AuthConfig =
        serde_json::from_slice(&raw).map_err(|e| format!("invalid X-Registry-Auth header: {e}"))?;
    if !cfg.username.is_empty() {
        return Ok(Some(Credentials::new(&cfg.username, &cfg.password)));
    }
    if !cfg.auth.is_empty() {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(cfg.auth.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        if let Some((u, p)) = decoded.as_deref().and_then(|d| d.split_once(':')) {
            return Ok(Some(Credentials::new(u, p)));
        }
    }
    Ok(None)
}

/// One parsed authentication challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Scheme, lower-cased (`basic`, `bearer`).
    pub scheme: String,
    /// Parameters with lower-cased keys (`realm`, `service`, `scope`, `error`).
    pub params: HashMap<String, String>,
}

impl Challenge {
    /// A parameter by (lower-case) name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Parse one `WWW-Authenticate` header value into its challenges. Accepts several
/// challenges in one value (`Basic realm="x", Bearer realm="y"`) and quoted strings
/// with backslash escapes; tolerates junk by skipping it.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let b = header.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t' || b[*i] == b',') {
            *i += 1;
        }
    };
    let token = |i: &mut usize| -> String {
        let start = *i;
        while *i < b.len() && !matches!(b[*i], b' ' | b'\t' | b',' | b'=' | b'"') {
            *i += 1;
        }
        header[start..*i].to_string()
    };
    loop {
        skip_ws(&mut i);
        if i >= b.len() {
            break;
        }
        let word = token(&mut i);
        if word.is_empty() {
            // Stray quote or '=': skip one byte so the loop always advances.
            i += 1;
            continue;
        }
        // After a word: '=' makes it a parameter of the current challenge, otherwise it
        // starts a new challenge (the scheme).
        let mut j = i;
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        if j < b.len() && b[j] == b'=' && !out.is_empty() {
            i = j + 1;
            while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                i += 1;
            }
            let value = if i < b.len() && b[i] == b'"' {
                i += 1;
                let mut v = String::new();
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    // Push whole UTF-8 characters, not bytes.
                    let ch_len = utf8_len(b[i]);
                    let end = (i + ch_len).min(b.len());
                    v.push_str(&header[i..end]);
                    i = end;
                }
                i += 1; // closing quote
                v
            } else {
                token(&mut i)
            };
            if let Some(c) = out.last_mut() {
                c.params.insert(word.to_lowercase(), value);
            }
        } else {
            out.push(Challenge {
                scheme: word.to_lowercase(),
                params: HashMap::new(),
            });
        }
    }
    out
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// A token answer from a realm.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl TokenResponse {
    /// `token`, else `access_token` (both are allowed by the spec).
    pub fn into_token(self) -> Option<(String, Duration)> {
        let t = self
            .token
            .filter(|t| !t.is_empty())
            .or(self.access_token.filter(|t| !t.is_empty()))?;
        // The spec's default lifetime is 60 s when the server does not say.
        Some((t, Duration::from_secs(self.expires_in.unwrap_or(60).max(1))))
    }
}

/// Cache key of a token: registry API host, user ("" when anonymous), scopes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TokenKey {
    pub host: String,
    pub user: String,
    pub scope: String,
}

/// What a registry wants, learnt from its last challenge.
#[derive(Debug, Clone)]
pub(crate) enum HostAuth {
    Basic,
    Bearer { realm: String, service: String },
}

/// Shared auth state: per-host scheme and per-scope tokens.
#[derive(Default)]
pub(crate) struct AuthCache {
    hosts: HashMap<String, HostAuth>,
    tokens: HashMap<TokenKey, (String, Instant)>,
}

impl AuthCache {
    pub fn host(&self, host: &str) -> Option<HostAuth> {
        self.hosts.get(host).cloned()
    }

    pub fn set_host(&mut self, host: &str, auth: HostAuth) {
        self.hosts.insert(host.to_string(), auth);
    }

    /// A cached token still valid for at least a few seconds.
    pub fn token(&self, key: &TokenKey) -> Option<String> {
        self.tokens
            .get(key)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(t, _)| t.clone())
    }

    pub fn put_token(&mut self, key: TokenKey, token: String, lifetime: Duration) {
        // Renew a little early so a token does not expire mid-request.
        let margin = Duration::from_secs(5).min(lifetime / 2);
        self.tokens
            .insert(key, (token, Instant::now() + lifetime - margin));
    }

    pub fn drop_token(&mut self, key: &TokenKey) {
        self.tokens.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_and_basic() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:library/busybox:pull,push""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.example/token"));
        assert_eq!(c[0].param("service"), Some("registry.example"));
        assert_eq!(
            c[0].param("scope"),
            Some("repository:library/busybox:pull,push")
        );
        let c = parse_challenges(
            r#"Basic realm="my \"realm\"", Bearer realm=x,error=insufficient_scope"#,
        );
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].param("realm"), Some("my \"realm\""));
        assert_eq!(c[1].scheme, "bearer");
        assert_eq!(c[1].param("realm"), Some("x"));
        assert_eq!(c[1].param("error"), Some("insufficient_scope"));
        assert!(parse_challenges("").is_empty());
        // Junk never loops forever.
        let _ = parse_challenges("=\"\",,= \"");
    }

    #[test]
    fn token_fields_and_cache() {
        let t: TokenResponse = serde_json::from_str(r#"{"access_token":"a"}"#).unwrap();
        assert_eq!(t.into_token().unwrap().0, "a");
        let t: TokenResponse =
            serde_json::from_str(r#"{"token":"t","access_token":"a","expires_in":300}"#).unwrap();
        let (tok, life) = t.into_token().unwrap();
        assert_eq!((tok.as_str(), life.as_secs()), ("t", 300));
        let t: TokenResponse = serde_json::from_str(r#"{}"#).unwrap();
        assert!(t.into_token().is_none());

        let mut cache = AuthCache::default();
        let key = TokenKey {
            host: "h".into(),
            user: String::new(),
            scope: "repository:x:pull".into(),
        };
        assert!(cache.token(&key).is_none());
        cache.put_token(key.clone(), "tok".into(), Duration::from_secs(60));
        assert_eq!(cache.token(&key).as_deref(), Some("tok"));
        cache.drop_token(&key);
        assert!(cache.token(&key).is_none());
    }

    #[test]
    fn registry_auth_header() {
        let enc = |j: &str| base64::engine::general_purpose::URL_SAFE.encode(j);
        assert_eq!(
            decode_registry_auth(&enc(
                r#"{"username":"u","password":"p?>","serveraddress":"h"}"#
            )),
            Ok(Some(Credentials::new("u", "p?>")))
        );
        assert_eq!(decode_registry_auth(&enc("{}")), Ok(None));
        assert_eq!(decode_registry_auth(""), Ok(None));
        assert_eq!(
            decode_registry_auth(&enc(r#"{"auth":"dTpw"}"#)),
            Ok(Some(Credentials::new("u", "p")))
        );
        assert!(decode_registry_auth("!!!").is_err());
    }

    #[test]
    fn basic_header_encodes() {
        assert_eq!(
            Credentials::new("user", "pass").basic_header(),
            "Basic dXNlcjpwYXNz"
        );
        assert!(!format!("{:?}", Credentials::new("u", "secret")).contains("secret"));
    }
}
