//! Image references parsed and normalized the way Docker does it:
//! `busybox` → `docker.io/library/busybox` (tag `latest` added where a tag is needed),
//! `host:5000/ns/name:tag`, `name@sha256:<64 hex>`, and the short "familiar" form for
//! display (`busybox:latest`, `localhost:5000/x:1`). Errors carry Docker's texts.
//!
//! Grammar (hand-written, no regex engine):
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] component ( "/" component )*
//! domain     := host [ ":" port ]         host := label ( "." label )* | "[" ipv6 "]"
//! component  := alnum ( sep alnum )*      sep := "." | "_" | "__" | "-"+
//! tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! digest     := algorithm ":" hex{32,}
//! ```

use std::fmt;

use crate::digest::is_hex64;
use crate::error::ImageError;

/// The registry assumed when a reference names none.
pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_PREFIX: &str = "library/";
/// The tag assumed when a reference names neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
const NAME_TOTAL_MAX: usize = 255;

const ERR_FORMAT: &str = "invalid reference format";

/// A normalized image reference: always has a domain; tag and digest are optional.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl Reference {
    /// Parse and normalize like Docker's `ParseNormalizedNamed`. No default tag is added.
    pub fn parse(s: &str) -> Result<Reference, ImageError> {
        if is_hex64(s) {
            return Err(ImageError::invalid(format!(
                "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
            )));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = remainder
            .split_once(':')
            .map_or(remainder.as_str(), |(r, _)| r);
        if remote.to_lowercase() != remote {
            return Err(ImageError::invalid(format!(
                "invalid reference format: repository name ({remote}) must be lowercase"
            )));
        }
        parse_strict(&domain, &remainder, s)
    }

    /// Parse and add the `latest` tag when neither tag nor digest is given (Docker's
    /// `TagNameOnly`): the form used for tagging, lookups and removal.
    pub fn parse_tagged(s: &str) -> Result<Reference, ImageError> {
        Ok(Reference::parse(s)?.with_default_tag())
    }

    /// The reference of the API's `repo` + `tag` query parameters (`tag` may be empty,
    /// meaning `latest`), validated the way Docker does: the repository must not carry a
    /// digest, a bad tag is `invalid tag format`.
    pub fn from_repo_tag(repo: &str, tag: &str) -> Result<Reference, ImageError> {
        let r = Reference::parse(repo)?;
        if r.digest.is_some() {
            return Err(ImageError::invalid(
                "refusing to create a tag with a digest reference",
            ));
        }
        if tag.is_empty() {
            return Ok(r.with_default_tag());
        }
        r.with_tag(tag)
    }

    /// This reference with `latest` added if it has neither tag nor digest.
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// The same repository with another tag (and no digest).
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ImageError> {
        if !valid_tag(tag) {
            return Err(ImageError::invalid("invalid tag format"));
        }
        Ok(Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }

    /// The same repository with a digest (and no tag).
    pub fn with_digest(&self, digest: &str) -> Result<Reference, ImageError> {
        validate_digest(digest)?;
        Ok(Reference {
            tag: None,
            digest: Some(digest.to_string()),
            ..self.clone()
        })
    }

    /// Registry host (and port), e.g. `docker.io`, `localhost:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Repository path inside the registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// Full repository name, e.g. `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// Short repository name, e.g. `busybox`, `user/app`, `localhost:5000/x`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            if let Some(rest) = self.path.strip_prefix(OFFICIAL_PREFIX) {
                if !rest.contains('/') {
                    return rest.to_string();
                }
            }
            return self.path.clone();
        }
        self.name()
    }

    /// Short form with tag/digest, e.g. `busybox:latest`: what `docker images` shows.
    pub fn familiar(&self) -> String {
        self.render(self.familiar_name())
    }

    /// The key under which a tag store keeps this reference: digest wins over tag
    /// (Docker stores `name@digest` or `name:tag`, never both).
    pub fn store_key(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => format!("{}@{d}", self.familiar_name()),
            (None, Some(t)) => format!("{}:{t}", self.familiar_name()),
            (None, None) => format!("{}:{DEFAULT_TAG}", self.familiar_name()),
        }
    }

    fn render(&self, name: String) -> String {
        let mut out = name;
        if let Some(t) = &self.tag {
            out.push(':');
            out.push_str(t);
        }
        if let Some(d) = &self.digest {
            out.push('@');
            out.push_str(d);
        }
        out
    }
}

impl fmt::Display for Reference {
    /// The full form, e.g. `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(self.name()))
    }
}

/// Docker's domain split: the first component is a registry only if it looks like one
/// (has `.` or `:`, is `localhost`, or has uppercase letters).
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.find('/') {
        Some(i) => {
            let first = &name[..i];
            if !first.contains(['.', ':']) && first != "localhost" && first.to_lowercase() == first
            {
                (DEFAULT_DOMAIN.to_string(), name.to_string())
            } else {
                (first.to_string(), name[i + 1..].to_string())
            }
        }
        None => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("{OFFICIAL_PREFIX}{remainder}");
    }
    (domain, remainder)
}

/// Validate `domain/remainder` against the grammar. `original` is what the user typed
/// (for the "must be lowercase" check Docker makes on a failed match).
fn parse_strict(domain: &str, remainder: &str, original: &str) -> Result<Reference, ImageError> {
    let fail = |lower_ok: bool| -> ImageError {
        if original.is_empty() {
            ImageError::invalid("repository name must have at least one component")
        } else if lower_ok {
            ImageError::invalid("repository name must be lowercase")
        } else {
            ImageError::invalid(ERR_FORMAT)
        }
    };
    let parsed = split_parts(domain, remainder);
    let Some((path, tag, digest)) = parsed else {
        // Docker reports "must be lowercase" when the lowercased input would match.
        let lower_ok = split_parts(&domain.to_lowercase(), &remainder.to_lowercase()).is_some();
        return Err(fail(lower_ok));
    };
    if domain.len() + 1 + path.len() > NAME_TOTAL_MAX {
        return Err(ImageError::invalid(format!(
            "repository name must not be more than {NAME_TOTAL_MAX} characters"
        )));
    }
    if let Some(d) = &digest {
        validate_digest(d)?;
    }
    Ok(Reference {
        domain: domain.to_string(),
        path,
        tag,
        digest,
    })
}

/// Split `remainder` into path, tag, digest; `None` if anything fails the grammar.
#[allow(clippy::type_complexity)]
fn split_parts(domain: &str, remainder: &str) -> Option<(String, Option<String>, Option<String>)> {
    if !valid_domain(domain) {
        return None;
    }
    let (name_tag, digest) = match remainder.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (remainder, None),
    };
    if let Some(d) = digest {
        if !digest_grammar(d) {
            return None;
        }
    }
    // The tag follows the last ':' when no '/' comes after it.
    let (path, tag) = match name_tag.rfind(':') {
        Some(i) if !name_tag[i..].contains('/') => (&name_tag[..i], Some(&name_tag[i + 1..])),
        _ => (name_tag, None),
    };
    if let Some(t) = tag {
        if !valid_tag(t) {
            return None;
        }
    }
    if path.is_empty() || !path.split('/').all(valid_component) {
        return None;
    }
    Some((
        path.to_string(),
        tag.map(str::to_string),
        digest.map(str::to_string),
    ))
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        // IPv6 literal: "[" hex/colons "]" then an optional port.
        let Some(end) = rest.find(']') else {
            return false;
        };
        let ip = &rest[..end];
        if ip.is_empty() || !ip.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match &rest[end + 1..] {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("x", Some(port)),
                None => return false,
            },
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
        })
}

/// `[a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*`
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or one or more "-".
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

/// `[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)* ":" [0-9a-fA-F]{32,}`
fn digest_grammar(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    let alg_ok = alg.split(['-', '_', '+', '.']).all(|part| {
        let b = part.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(|c| c.is_ascii_alphanumeric())
    });
    alg_ok && hex.len() >= 32 && hex.bytes().all(|c| c.is_ascii_hexdigit())
}

/// Only sha256 is supported, with 64 lowercase hex digits (Docker's digest texts).
fn validate_digest(d: &str) -> Result<(), ImageError> {
    if !digest_grammar(d) {
        return Err(ImageError::invalid("invalid digest format"));
    }
    let (alg, hex) = d.split_once(':').unwrap_or_default();
    if alg != "sha256" {
        return Err(ImageError::invalid("unsupported digest algorithm"));
    }
    if hex.len() != 64 {
        return Err(ImageError::invalid("invalid checksum digest length"));
    }
    if !is_hex64(hex) {
        return Err(ImageError::invalid("invalid checksum digest format"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    #[test]
    fn valid_references() {
        // (input, full, familiar) — full/familiar after adding the default tag.
        let with_d = format!("busybox@{D}");
        let cases: Vec<(&str, String, String)> = vec![
            (
                "busybox",
                "docker.io/library/busybox:latest".into(),
                "busybox:latest".into(),
            ),
            (
                "busybox:1.36",
                "docker.io/library/busybox:1.36".into(),
                "busybox:1.36".into(),
            ),
            (
                "library/busybox",
                "docker.io/library/busybox:latest".into(),
                "busybox:latest".into(),
            ),
            (
                "docker.io/library/busybox:x",
                "docker.io/library/busybox:x".into(),
                "busybox:x".into(),
            ),
            (
                "index.docker.io/busybox",
                "docker.io/library/busybox:latest".into(),
                "busybox:latest".into(),
            ),
            (
                "user/app:v1",
                "docker.io/user/app:v1".into(),
                "user/app:v1".into(),
            ),
            (
                "localhost/app",
                "localhost/app:latest".into(),
                "localhost/app:latest".into(),
            ),
            (
                "localhost:5000/x:1",
                "localhost:5000/x:1".into(),
                "localhost:5000/x:1".into(),
            ),
            (
                "host:5000/ns/name:tag",
                "host:5000/ns/name:tag".into(),
                "host:5000/ns/name:tag".into(),
            ),
            (
                "my.reg.io/a/b/c",
                "my.reg.io/a/b/c:latest".into(),
                "my.reg.io/a/b/c:latest".into(),
            ),
            (
                "[::1]:5000/x",
                "[::1]:5000/x:latest".into(),
                "[::1]:5000/x:latest".into(),
            ),
            (
                "a__b.c-d---e",
                "docker.io/library/a__b.c-d---e:latest".into(),
                "a__b.c-d---e:latest".into(),
            ),
            (
                "busybox:Tag_1.x-y",
                "docker.io/library/busybox:Tag_1.x-y".into(),
                "busybox:Tag_1.x-y".into(),
            ),
            (
                &with_d,
                format!("docker.io/library/busybox@{D}"),
                with_d.clone(),
            ),
        ];
        for (input, full, familiar) in cases {
            let r = Reference::parse_tagged(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.to_string(), full, "{input}");
            assert_eq!(r.familiar(), familiar, "{input}");
        }
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.name(), "docker.io/library/busybox");
        assert_eq!(r.familiar_name(), "busybox");
        assert_eq!(r.store_key(), "busybox:latest");
        let r = Reference::parse(&format!("x:1@{D}")).unwrap();
        assert_eq!(r.store_key(), format!("x@{D}"));
    }

    #[test]
    fn invalid_references_have_dockers_texts() {
        let hex = "a".repeat(64);
        let long = format!("{}/x", "a".repeat(260));
        let cases: Vec<(&str, String)> = vec![
            (
                "Busybox",
                "invalid reference format: repository name (library/Busybox) must be lowercase"
                    .into(),
            ),
            (
                "user/App:1",
                "invalid reference format: repository name (user/App) must be lowercase".into(),
            ),
            (
                "",
                "repository name must have at least one component".into(),
            ),
            ("busybox:", ERR_FORMAT.into()),
            (":tag", ERR_FORMAT.into()),
            ("a//b", ERR_FORMAT.into()),
            ("a/", ERR_FORMAT.into()),
            ("-abc", ERR_FORMAT.into()),
            ("abc-", ERR_FORMAT.into()),
            ("a...b", ERR_FORMAT.into()),
            ("busy box", ERR_FORMAT.into()),
            ("busybox:a:b", ERR_FORMAT.into()),
            ("busybox:.x", ERR_FORMAT.into()),
            ("busybox@sha256:abc", ERR_FORMAT.into()),
            (
                "busybox@sha256:111111111111111111111111111111111",
                "invalid checksum digest length".into(),
            ),
            (
                "busybox@md5:11111111111111111111111111111111",
                "unsupported digest algorithm".into(),
            ),
            ("host:port/x", ERR_FORMAT.into()),
            (
                &hex,
                format!(
                    "invalid repository name ({hex}), cannot specify 64-byte hexadecimal strings"
                ),
            ),
            (
                &long,
                "repository name must not be more than 255 characters".into(),
            ),
        ];
        for (input, want) in cases {
            match Reference::parse(input) {
                Ok(r) => panic!("{input:?} parsed as {r}"),
                Err(e) => {
                    assert_eq!(e.to_string(), want, "{input:?}");
                    assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument);
                }
            }
        }
        let long_tag = format!("x:{}", "t".repeat(129));
        assert!(Reference::parse(&long_tag).is_err());
        assert!(Reference::parse(&format!("x:{}", "t".repeat(128))).is_ok());
    }

    #[test]
    fn with_tag_and_digest() {
        let r = Reference::parse("localhost:5000/x:1").unwrap();
        assert_eq!(r.with_tag("2").unwrap().familiar(), "localhost:5000/x:2");
        assert!(r.with_tag("bad tag").is_err());
        assert_eq!(
            r.with_digest(D).unwrap().familiar(),
            format!("localhost:5000/x@{D}")
        );
    }
}
