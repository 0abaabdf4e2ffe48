//! The registry client: one [`RegistryClient`] per daemon (cheap to clone, shared by
//! threads). It owns endpoints, HTTP agents and the auth cache; the pull and push
//! primitives live on [`Repo`](crate::repo::Repo) handles (`repo.rs`).
//!
//! Every request goes through `Repo::send` → `RegistryClient::execute`: pick the
//! endpoint (probing `GET /v2/` once per host, which also learns its auth scheme), attach
//! the authorization already known for the host and scope, and on a 401 follow the
//! challenge (basic, or a bearer token from the realm) and retry once. Error statuses are
//! turned into [`RegistryError`] variants by the operation that knows what it was doing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ureq::http::{self, Response};
use ureq::{Agent, Body};

use crate::auth::{parse_challenges, AuthCache, Credentials, HostAuth, TokenKey, TokenResponse};
use crate::error::{RegistryError, RegistryErrorEntry, RegistryErrors};
use crate::reference::api_host;
use crate::transport::{
    describe_transport_error, make_agent, Endpoint, InsecurePolicy, RegistryConfig,
};

/// Largest error or token body read.
const MAX_SMALL_BODY: u64 = 1 << 20;

/// Shared client: endpoints, agents and the auth cache of all clones.
#[derive(Clone)]
pub struct RegistryClient {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    config: RegistryConfig,
    insecure: InsecurePolicy,
    endpoints: Mutex<HashMap<String, Endpoint>>,
    agents: Mutex<HashMap<String, Agent>>,
    auth: Mutex<AuthCache>,
}

/// Lock a mutex even if a panicking thread poisoned it: the maps stay consistent because
/// every update is a single insert or remove.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RegistryClient {
    /// Build a client; validates the insecure-registry list.
    pub fn new(config: RegistryConfig) -> Result<RegistryClient, RegistryError> {
        let insecure =
            InsecurePolicy::new(&config.insecure_registries, config.loopback_is_insecure)?;
        Ok(RegistryClient {
            shared: Arc::new(Shared {
                config,
                insecure,
                endpoints: Mutex::new(HashMap::new()),
                agents: Mutex::new(HashMap::new()),
                auth: Mutex::new(AuthCache::default()),
            }),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &RegistryConfig {
        &self.shared.config
    }

    /// Whether a registry domain is treated as insecure (HTTP / unverified TLS allowed).
    pub fn is_insecure(&self, domain: &str) -> bool {
        self.shared.insecure.is_insecure(api_host(domain))
    }

    /// The auth scheme last learnt for a registry API host.
    pub(crate) fn host_auth(&self, host: &str) -> Option<HostAuth> {
        lock(&self.shared.auth).host(host)
    }

    /// Check credentials against a registry like `docker login`: ping `/v2/`, answer its
    /// challenge (basic, or a bearer token without scope), and succeed only if accepted.
    /// Failures carry Docker's login texts (`login attempt to http://h/v2/ failed with
    /// status: 401 Unauthorized`, `Get "https://h/v2/": unauthorized: incorrect username or
    /// password`).
    pub fn login(&self, domain: &str, credentials: &Credentials) -> Result<(), RegistryError> {
        let host = api_host(domain).to_string();
        let ep = self.endpoint(&host)?;
        let url = format!("{}/v2/", ep.base);
        let host_auth = lock(&self.shared.auth).host(&host);
        let header = match host_auth {
            None => return Ok(()),
            Some(HostAuth::Basic) => credentials.basic_header(),
            Some(HostAuth::Bearer { realm, service }) => {
                let (token, _) = self
                    .fetch_token(&realm, &service, &[], Some(credentials))
                    .map_err(|e| match e {
                        // The token exchange happens inside the ping, so Docker prefixes
                        // the ping request.
                        RegistryError::Unauthorized(errors) => {
                            RegistryError::Unauthorized(RegistryErrors(vec![RegistryErrorEntry {
                                code: String::new(),
                                message: format!("Get \"{url}\": {errors}"),
                            }]))
                        }
                        other => other,
                    })?;
                format!("Bearer {token}")
            }
        };
        let resp = self.raw(
            &ep.agent,
            http::Method::GET,
            &url,
            &[("authorization", header)],
            None,
        )?;
        let status = resp.status().as_u16();
        match status {
            200..=299 => Ok(()),
            401 => Err(RegistryError::Unauthorized(RegistryErrors(vec![
                RegistryErrorEntry {
                    code: String::new(),
                    message: format!(
                        "login attempt to {url} failed with status: {status} {}",
                        crate::error::reason_phrase(status)
                    ),
                },
            ]))),
            _ => Err(self.status_error("Get", &url, resp)),
        }
    }

    /// The agent for a host (created on first use with its TLS settings).
    fn agent(&self, host: &str) -> Result<Agent, RegistryError> {
        if let Some(a) = lock(&self.shared.agents).get(host) {
            return Ok(a.clone());
        }
        let insecure = self.shared.insecure.is_insecure(host);
        let agent = make_agent(&self.shared.config, host, insecure)?;
        lock(&self.shared.agents).insert(host.to_string(), agent.clone());
        Ok(agent)
    }

    /// Find how to reach `host`, probing `GET /v2/` (HTTPS first, then HTTP if insecure).
    /// The probe's 401 challenge primes the auth cache.
    pub(crate) fn endpoint(&self, host: &str) -> Result<Endpoint, RegistryError> {
        if let Some(ep) = lock(&self.shared.endpoints).get(host) {
            return Ok(ep.clone());
        }
        let agent = self.agent(host)?;
        let schemes: &[&str] = if self.shared.insecure.is_insecure(host) {
            &["https", "http"]
        } else {
            &["https"]
        };
        let mut last_err = None;
        for scheme in schemes {
            let base = format!("{scheme}://{host}");
            let url = format!("{base}/v2/");
            match agent.get(&url).call() {
                Ok(resp) => {
                    self.learn_challenge(host, &resp);
                    let ep = Endpoint { base, agent };
                    lock(&self.shared.endpoints).insert(host.to_string(), ep.clone());
                    return Ok(ep);
                }
                Err(e) => last_err = Some(describe_transport_error("Get", &url, &e)),
            }
        }
        Err(RegistryError::Connect(last_err.unwrap_or_default()))
    }

    /// Remember the auth scheme a 401 asked for; returns it.
    fn learn_challenge(&self, host: &str, resp: &Response<Body>) -> Option<HostAuth> {
        if resp.status() != 401 {
            return None;
        }
        let mut found = None;
        for value in resp.headers().get_all("www-authenticate") {
            let Ok(v) = value.to_str() else { continue };
            for c in parse_challenges(v) {
                let auth = match c.scheme.as_str() {
                    "bearer" => match c.param("realm") {
                        Some(realm) => HostAuth::Bearer {
                            realm: realm.to_string(),
                            service: c.param("service").unwrap_or("").to_string(),
                        },
                        None => continue,
                    },
                    "basic" => HostAuth::Basic,
                    _ => continue,
                };
                // Bearer wins over Basic when both are offered.
                let is_bearer = matches!(auth, HostAuth::Bearer { .. });
                if found.is_none() || is_bearer {
                    found = Some(auth);
                }
            }
        }
        if let Some(a) = &found {
            lock(&self.shared.auth).set_host(host, a.clone());
        }
        found
    }

    /// GET the realm for a token with `service` and `scopes`.
    fn fetch_token(
        &self,
        realm: &str,
        service: &str,
        scopes: &[String],
        credentials: Option<&Credentials>,
    ) -> Result<(String, Duration), RegistryError> {
        let mut url = realm.to_string();
        let mut sep = if url.contains('?') { '&' } else { '?' };
        let mut add = |url: &mut String, k: &str, v: &str| {
            url.push(sep);
            url.push_str(k);
            url.push('=');
            url.push_str(&query_escape(v));
            sep = '&';
        };
        if !service.is_empty() {
            add(&mut url, "service", service);
        }
        for s in scopes {
            add(&mut url, "scope", s);
        }
        let realm_host = url
            .split("://")
            .nth(1)
            .and_then(|r| r.split(['/', '?']).next())
            .unwrap_or("")
            .to_string();
        let agent = self.agent(&realm_host)?;
        let mut headers = Vec::new();
        if let Some(c) = credentials {
            headers.push(("authorization", c.basic_header()));
        }
        let mut resp = self.raw(&agent, http::Method::GET, &url, &headers, None)?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            let body = read_small(&mut resp);
            let errors = RegistryErrors::parse(&body);
            return Err(match (status, errors) {
                (401 | 403, Some(e)) => RegistryError::Unauthorized(e),
                (401 | 403, None) => {
                    RegistryError::Unauthorized(RegistryErrors(vec![RegistryErrorEntry {
                        code: "UNAUTHORIZED".into(),
                        message: if credentials.is_some() {
                            "incorrect username or password".into()
                        } else {
                            "authentication required".into()
                        },
                    }]))
                }
                (_, errors) => RegistryError::Status {
                    status,
                    method: "Get",
                    url: url.clone(),
                    errors,
                },
            });
        }
        let body = read_small(&mut resp);
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            RegistryError::Protocol(format!("unable to decode token response: {e}"))
        })?;
        parsed.into_token().ok_or_else(|| {
            RegistryError::Protocol(
                "authorization server did not include a token in the response".into(),
            )
        })
    }

    /// The Authorization header for a request, fetching a token if the host wants one.
    fn authorization(
        &self,
        host: &str,
        scopes: &[String],
        extra_scope: Option<&str>,
        credentials: Option<&Credentials>,
    ) -> Result<Option<String>, RegistryError> {
        let host_auth = lock(&self.shared.auth).host(host);
        match host_auth {
            None => Ok(None),
            Some(HostAuth::Basic) => Ok(credentials.map(Credentials::basic_header)),
            Some(HostAuth::Bearer { realm, service }) => {
                let key = token_key(host, scopes, credentials);
                if extra_scope.is_none() {
                    if let Some(t) = lock(&self.shared.auth).token(&key) {
                        return Ok(Some(format!("Bearer {t}")));
                    }
                }
                let mut all: Vec<String> = scopes.to_vec();
                if let Some(extra) = extra_scope {
                    if !all.iter().any(|s| s == extra) {
                        all.push(extra.to_string());
                    }
                }
                let (token, lifetime) = self.fetch_token(&realm, &service, &all, credentials)?;
                lock(&self.shared.auth).put_token(key, token.clone(), lifetime);
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    /// Send one request, no auth logic; transport failures become `Connect` errors.
    fn raw(
        &self,
        agent: &Agent,
        method: http::Method,
        url: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<Response<Body>, RegistryError> {
        let go_method = go_method(&method);
        let mut b = http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            b = b.header(*k, v.as_str());
        }
        let built = |e: http::Error| RegistryError::Protocol(format!("building request: {e}"));
        // Two arms because the body type differs (no body at all vs bytes).
        match body {
            Some(bytes) => agent.run(b.body(bytes).map_err(built)?),
            None => agent.run(b.body(()).map_err(built)?),
        }
        .map_err(|e| transport(go_method, url, &e))
    }

    /// Send with auth: known authorization first, then one retry after a 401 challenge.
    pub(crate) fn execute(
        &self,
        req: &Request<'_>,
        credentials: Option<&Credentials>,
    ) -> Result<Response<Body>, RegistryError> {
        let host = req.host.as_str();
        let ep = self.endpoint(host)?;
        let url = req.url.as_str();
        // Credentials go only to the registry itself, never to another host a Location
        // header might name.
        let same_host = url_authority(url) == host;
        let mut headers: Vec<(&str, String)> = req.headers.clone();
        let auth = if same_host {
            self.authorization(host, &req.scopes, None, credentials)?
        } else {
            None
        };
        if let Some(a) = &auth {
            headers.push(("authorization", a.clone()));
        }
        let resp = self.raw(&ep.agent, req.method.clone(), url, &headers, req.body)?;
        if resp.status() != 401 || !same_host {
            return Ok(resp);
        }
        // Challenge: learn what the registry wants now and retry once.
        let challenge_scope = challenge_scope(&resp);
        let Some(host_auth) = self.learn_challenge(host, &resp) else {
            return Ok(resp);
        };
        let retry_auth = match host_auth {
            HostAuth::Basic => match credentials {
                // Already sent these credentials: they were refused.
                Some(c) if auth.as_deref() != Some(c.basic_header().as_str()) => {
                    Some(c.basic_header())
                }
                Some(_) => None,
                None => {
                    return Err(RegistryError::Unauthorized(RegistryErrors(vec![
                        RegistryErrorEntry {
                            code: String::new(),
                            message: format!(
                                "{} \"{url}\": no basic auth credentials",
                                go_method(&req.method)
                            ),
                        },
                    ])))
                }
            },
            HostAuth::Bearer { .. } => {
                lock(&self.shared.auth).drop_token(&token_key(host, &req.scopes, credentials));
                self.authorization(host, &req.scopes, challenge_scope.as_deref(), credentials)?
            }
        };
        let Some(retry_auth) = retry_auth else {
            return Ok(resp);
        };
        let mut headers: Vec<(&str, String)> = req.headers.clone();
        headers.push(("authorization", retry_auth));
        self.raw(&ep.agent, req.method.clone(), url, &headers, req.body)
    }

    /// Turn an unexpected response into an error, reading its JSON error list.
    pub(crate) fn status_error(
        &self,
        method: &'static str,
        url: &str,
        mut resp: Response<Body>,
    ) -> RegistryError {
        let status = resp.status().as_u16();
        let body = if method == "Head" {
            Vec::new()
        } else {
            read_small(&mut resp)
        };
        let errors = RegistryErrors::parse(&body);
        match (status, errors) {
            (401, errors) => RegistryError::Unauthorized(errors.unwrap_or_else(|| {
                RegistryErrors(vec![RegistryErrorEntry {
                    code: "UNAUTHORIZED".into(),
                    message: "authentication required".into(),
                }])
            })),
            (_, errors) => RegistryError::Status {
                status,
                method,
                url: url.to_string(),
                errors,
            },
        }
    }
}

fn transport(method: &'static str, url: &str, e: &ureq::Error) -> RegistryError {
    RegistryError::Connect(describe_transport_error(method, url, e))
}

fn token_key(host: &str, scopes: &[String], credentials: Option<&Credentials>) -> TokenKey {
    let mut s = scopes.to_vec();
    s.sort();
    TokenKey {
        host: host.to_string(),
        user: credentials.map(|c| c.username.clone()).unwrap_or_default(),
        scope: s.join(" "),
    }
}

/// The `scope` a bearer challenge asks for (e.g. after `insufficient_scope`).
fn challenge_scope(resp: &Response<Body>) -> Option<String> {
    resp.headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_challenges)
        .find(|c| c.scheme == "bearer")
        .and_then(|c| c.param("scope").map(str::to_string))
}

pub(crate) fn go_method(m: &http::Method) -> &'static str {
    match *m {
        http::Method::GET => "Get",
        http::Method::HEAD => "Head",
        http::Method::POST => "Post",
        http::Method::PUT => "Put",
        http::Method::PATCH => "Patch",
        http::Method::DELETE => "Delete",
        _ => "Request",
    }
}

/// `host[:port]` of an absolute URL; the input itself when it is not one.
pub(crate) fn url_authority(url: &str) -> String {
    url.split("://")
        .nth(1)
        .and_then(|r| r.split(['/', '?']).next())
        .unwrap_or(url)
        .to_string()
}

/// Percent-encode a query value (RFC 3986 unreserved characters stay).
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn read_small(resp: &mut Response<Body>) -> Vec<u8> {
    resp.body_mut()
        .with_config()
        .limit(MAX_SMALL_BODY)
        .read_to_vec()
        .unwrap_or_default()
}

pub(crate) fn header(resp: &Response<Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// One request as the repository builds it: the registry API host it belongs to (for
/// endpoint and auth) and an absolute URL (built from the endpoint, or a Location).
pub(crate) struct Request<'a> {
    pub host: String,
    pub method: http::Method,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<&'a [u8]>,
    pub scopes: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(
            query_escape("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
        assert_eq!(
            url_authority("http://127.0.0.1:5000/v2/x"),
            "127.0.0.1:5000"
        );
    }
}
