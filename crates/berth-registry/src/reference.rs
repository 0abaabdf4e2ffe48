//! Image references as the registry client needs them: which registry to talk to, the
//! repository path on it, and the tag or digest.
//!
//! Normalization follows Docker: no domain (or `index.docker.io`) means `docker.io`, and a
//! single-name repository there gets the `library/` prefix. The first path component is a
//! domain when it contains `.` or `:` or is `localhost`. `docker.io` is served by the API
//! host `registry-1.docker.io`; every other domain is its own API host. The image store has
//! a fuller parser for its tags; it can build a [`Repository`] from its already normalized
//! parts with [`Repository::new`].

use std::fmt;

use crate::digest::Digest;
use crate::error::RegistryError;

/// The registry assumed when a reference names none.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The host that actually serves Docker Hub's registry API.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
/// The key Docker Hub credentials are stored under in config.json.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";
const LEGACY_DOMAIN: &str = "index.docker.io";
/// The tag assumed when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";

/// A repository on a registry: `docker.io` + `library/busybox`, `localhost:5000` + `x`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repository {
    domain: String,
    path: String,
}

impl Repository {
    /// Build from normalized parts (domain `docker.io` for Hub, path with `library/` for
    /// official images). Validates the path's characters.
    pub fn new(domain: &str, path: &str) -> Result<Repository, RegistryError> {
        let domain = if domain == LEGACY_DOMAIN {
            DEFAULT_DOMAIN
        } else {
            domain
        };
        if domain.is_empty() || !valid_path(path) {
            return Err(RegistryError::InvalidReference(
                "invalid reference format".into(),
            ));
        }
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        Ok(Repository {
            domain: domain.to_string(),
            path,
        })
    }

    /// The registry domain as users write it (`docker.io`, `localhost:5000`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path used in API URLs (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `host[:port]` of the registry API (`registry-1.docker.io` for Docker Hub).
    pub fn api_host(&self) -> &str {
        api_host(&self.domain)
    }

    /// Short form Docker shows: `busybox`, `user/app`, `localhost:5000/x`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            self.path
                .strip_prefix("library/")
                .filter(|rest| !rest.contains('/'))
                .unwrap_or(&self.path)
                .to_string()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// Fully qualified `domain/path`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.familiar_name())
    }
}

/// The API host serving a registry domain.
pub fn api_host(domain: &str) -> &str {
    if domain == DEFAULT_DOMAIN || domain == LEGACY_DOMAIN {
        DOCKER_HUB_API_HOST
    } else {
        domain
    }
}

/// A parsed reference: repository plus optional tag and digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    repository: Repository,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parse `[domain/]path[:tag][@digest]`, normalized like Docker. No tag is added.
    pub fn parse(s: &str) -> Result<Reference, RegistryError> {
        let bad = || RegistryError::InvalidReference("invalid reference format".into());
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => (
                n,
                Some(Digest::parse(d).map_err(|_| {
                    RegistryError::InvalidReference("invalid reference format".into())
                })?),
            ),
            None => (s, None),
        };
        // A tag is a ':' after the last '/', so `host:5000/x` keeps its port.
        let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&name_tag[..at], Some(&name_tag[at + 1..]))
            }
            None => (name_tag, None),
        };
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(bad());
            }
        }
        if name.is_empty() {
            return Err(bad());
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first, rest)
            }
            _ => (DEFAULT_DOMAIN, name),
        };
        if path.to_lowercase() != path {
            return Err(RegistryError::InvalidReference(format!(
                "invalid reference format: repository name ({path}) must be lowercase"
            )));
        }
        Ok(Reference {
            repository: Repository::new(domain, path)?,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// Parse and add `latest` when neither tag nor digest is given.
    pub fn parse_tagged(s: &str) -> Result<Reference, RegistryError> {
        let mut r = Reference::parse(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(r)
    }

    /// Build from parts (the image store's own parse).
    pub fn from_parts(
        repository: Repository,
        tag: Option<&str>,
        digest: Option<Digest>,
    ) -> Result<Reference, RegistryError> {
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(RegistryError::InvalidReference("invalid tag format".into()));
            }
        }
        Ok(Reference {
            repository,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The repository.
    pub fn repository(&self) -> &Repository {
        &self.repository
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What goes in `/v2/<name>/manifests/<here>`: the digest when present, else the tag
    /// (`latest` if none).
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_string(),
        }
    }

    /// Familiar string Docker prints in messages: `busybox:latest`, `localhost:5000/x@sha256:…`.
    pub fn familiar(&self) -> String {
        let mut s = self.repository.familiar_name();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d.as_str());
        }
        s
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.familiar())
    }
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Path components: lowercase alphanumerics separated by `.`, `_`, `__` or runs of `-`.
fn valid_path(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 255
        && p.split('/').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter()
                    .all(|&x| x.is_ascii_lowercase() || x.is_ascii_digit() || b"._-".contains(&x))
                && !c.contains("..")
                && !c.contains("___")
                && !c.contains("._")
                && !c.contains("_.")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_docker_hub() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.repository().domain(), "docker.io");
        assert_eq!(r.repository().path(), "library/busybox");
        assert_eq!(r.repository().api_host(), "registry-1.docker.io");
        assert_eq!(r.manifest_reference(), "latest");
        assert_eq!(r.familiar(), "busybox");
        let r = Reference::parse("index.docker.io/user/app:1.0").unwrap();
        assert_eq!(r.repository().domain(), "docker.io");
        assert_eq!(r.repository().path(), "user/app");
        assert_eq!(r.familiar(), "user/app:1.0");
    }

    #[test]
    fn keeps_other_registries() {
        let r = Reference::parse("localhost:5000/x").unwrap();
        assert_eq!(r.repository().api_host(), "localhost:5000");
        assert_eq!(r.repository().path(), "x");
        assert_eq!(r.tag(), None);
        let r = Reference::parse("reg.example:8443/ns/x:v2").unwrap();
        assert_eq!(r.repository().domain(), "reg.example:8443");
        assert_eq!(r.repository().path(), "ns/x");
        assert_eq!(r.tag(), Some("v2"));
        assert_eq!(r.familiar(), "reg.example:8443/ns/x:v2");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("127.0.0.1:5000/x@{d}")).unwrap();
        assert_eq!(r.manifest_reference(), d);
        assert_eq!(r.repository().familiar_name(), "127.0.0.1:5000/x");
    }

    #[test]
    fn rejects_bad_input() {
        assert!(Reference::parse("").is_err());
        assert!(Reference::parse("UPPER").is_err());
        assert!(Reference::parse("x:").is_err());
        assert!(Reference::parse("x@sha256:abc").is_err());
        assert!(Reference::parse("a//b").is_err());
        assert!(Reference::parse("-x").is_err());
    }
}
