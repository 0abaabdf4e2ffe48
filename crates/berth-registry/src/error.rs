//! Typed errors of the registry client, worded like Docker's where users see them.
//!
//! Registries answer failures with a JSON body `{"errors":[{"code","message","detail"}]}`;
//! [`RegistryErrors`] keeps that list and prints it the way Docker does (`manifest unknown:
//! manifest unknown`). The client turns the interesting cases into dedicated variants
//! (`ManifestUnknown`, `PullAccessDenied`, `Unauthorized`, …) so callers can map them to
//! HTTP statuses without parsing text.

use std::fmt;

/// One entry of a registry's JSON error list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct RegistryErrorEntry {
    /// Machine code such as `MANIFEST_UNKNOWN`, `BLOB_UNKNOWN`, `DENIED`, `UNAUTHORIZED`.
    #[serde(default)]
    pub code: String,
    /// Human text from the registry.
    #[serde(default)]
    pub message: String,
}

impl fmt::Display for RegistryErrorEntry {
    /// Docker prints an error code as its name in lower case with spaces, then the message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code.to_lowercase().replace('_', " ");
        match (code.is_empty(), self.message.is_empty()) {
            (true, _) => write!(f, "{}", self.message),
            (false, true) => write!(f, "{code}"),
            (false, false) => write!(f, "{code}: {}", self.message),
        }
    }
}

/// The error list of one registry response (never empty when built by the client).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegistryErrors(pub Vec<RegistryErrorEntry>);

impl RegistryErrors {
    /// Parse a response body; `None` if it is not the registry's error JSON.
    pub fn parse(body: &[u8]) -> Option<RegistryErrors> {
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(default)]
            errors: Vec<RegistryErrorEntry>,
        }
        let parsed: Body = serde_json::from_slice(body).ok()?;
        if parsed.errors.is_empty() {
            None
        } else {
            Some(RegistryErrors(parsed.errors))
        }
    }

    /// Whether any entry carries `code`.
    pub fn has_code(&self, code: &str) -> bool {
        self.0.iter().any(|e| e.code == code)
    }

    /// The code of the first entry ("" when empty).
    pub fn first_code(&self) -> &str {
        self.0.first().map_or("", |e| e.code.as_str())
    }
}

impl fmt::Display for RegistryErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [] => write!(f, "unknown error"),
            [one] => write!(f, "{one}"),
            many => {
                // Several errors: Docker prints them on separate lines after "errors:".
                writeln!(f, "errors:")?;
                for e in many {
                    writeln!(f, "{e}")?;
                }
                Ok(())
            }
        }
    }
}

/// Everything the registry client can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A reference or repository name that does not parse.
    #[error("{0}")]
    InvalidReference(String),

    /// The registry could not be reached (dial, DNS, TLS), worded like Go's
    /// `Get "http://host/v2/": dial tcp host: connect: connection refused`.
    #[error("{0}")]
    Connect(String),

    /// The tag or digest does not exist in the repository.
    #[error("manifest for {reference} not found: {errors}")]
    ManifestUnknown {
        /// Familiar form of the reference (`localhost:5000/x:nope`).
        reference: String,
        /// The registry's error list (usually `manifest unknown: manifest unknown`).
        errors: RegistryErrors,
    },

    /// Pull refused by the registry: missing repository, or one that needs a login.
    #[error("pull access denied for {repository}, repository does not exist or may require 'docker login': {errors}")]
    PullAccessDenied {
        /// Familiar repository name (`x`, `localhost:5000/x`).
        repository: String,
        /// What the registry said (`denied: requested access to the resource is denied`).
        errors: RegistryErrors,
    },

    /// The registry does not know the repository (`NAME_UNKNOWN`).
    #[error("repository {repository} not found: {errors}")]
    RepositoryUnknown {
        /// Familiar repository name.
        repository: String,
        /// What the registry said.
        errors: RegistryErrors,
    },

    /// Push refused (Docker: `denied: requested access to the resource is denied`).
    #[error("{errors}")]
    PushAccessDenied {
        /// Familiar repository name.
        repository: String,
        /// What the registry said.
        errors: RegistryErrors,
    },

    /// Credentials missing or wrong after the auth handshake (`unauthorized: authentication
    /// required`).
    #[error("{0}")]
    Unauthorized(RegistryErrors),

    /// A blob the registry does not have.
    #[error("{errors}")]
    BlobUnknown {
        /// The digest asked for.
        digest: String,
        /// What the registry said.
        errors: RegistryErrors,
    },

    /// Content whose sha256 does not match the digest it was fetched or pushed by.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest that was asked for.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },

    /// Content whose length does not match its descriptor.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The blob's digest.
        digest: String,
        /// Size from the descriptor.
        expected: u64,
        /// Bytes received.
        actual: u64,
    },

    /// An index or manifest list without an entry for the wanted platform.
    #[error("no matching manifest for {platform} in the manifest list entries")]
    NoMatchingPlatform {
        /// `os/arch[/variant]` that was wanted.
        platform: String,
    },

    /// A manifest we cannot use (bad JSON, unknown media type, schema 1, …).
    #[error("{0}")]
    InvalidManifest(String),

    /// Any other error status from the registry, with its error list when it sent one.
    #[error("{}", status_text(*status, method, url, errors.as_ref()))]
    Status {
        /// HTTP status.
        status: u16,
        /// Go-style method name (`Get`, `Head`, …).
        method: &'static str,
        /// The URL requested.
        url: String,
        /// The registry's error list, if the body had one.
        errors: Option<RegistryErrors>,
    },

    /// A response that breaks the protocol (missing Location, bad token JSON, …).
    #[error("{0}")]
    Protocol(String),

    /// Local I/O while reading or writing content or files.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The credentials file (Docker's config.json format) could not be read or written.
    #[error("{0}")]
    CredentialsFile(String),

    /// Bad client configuration (insecure-registry entry, certificate files, …).
    #[error("{0}")]
    Config(String),
}

fn status_text(status: u16, method: &str, url: &str, errors: Option<&RegistryErrors>) -> String {
    match errors {
        Some(e) => e.to_string(),
        // Docker without an error body: `unexpected status code 500 Internal Server Error`
        // style, prefixed by the request like Go's url.Error.
        None => format!(
            "{method} \"{url}\": unexpected status code {status} {}",
            reason_phrase(status)
        ),
    }
}

/// The standard reason phrase of common statuses (Go's `http.StatusText`).
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Request Entity Too Large",
        416 => "Requested Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

impl RegistryError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> RegistryError {
        RegistryError::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether this means "the thing does not exist" (for a 404 mapping).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            RegistryError::ManifestUnknown { .. }
                | RegistryError::RepositoryUnknown { .. }
                | RegistryError::BlobUnknown { .. }
                | RegistryError::PullAccessDenied { .. }
                | RegistryError::NoMatchingPlatform { .. }
        ) || matches!(self, RegistryError::Status { status: 404, .. })
    }

    /// Whether authentication failed or access was refused.
    pub fn is_unauthorized(&self) -> bool {
        matches!(
            self,
            RegistryError::Unauthorized(_)
                | RegistryError::PullAccessDenied { .. }
                | RegistryError::PushAccessDenied { .. }
        ) || matches!(
            self,
            RegistryError::Status {
                status: 401 | 403,
                ..
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_docker() {
        let e = RegistryErrors::parse(
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"nope"}}]}"#,
        )
        .unwrap();
        let err = RegistryError::ManifestUnknown {
            reference: "localhost:5000/x:nope".into(),
            errors: e,
        };
        assert_eq!(
            err.to_string(),
            "manifest for localhost:5000/x:nope not found: manifest unknown: manifest unknown"
        );
        assert!(RegistryErrors::parse(b"not json").is_none());
        assert!(RegistryErrors::parse(br#"{"errors":[]}"#).is_none());
    }

    #[test]
    fn status_without_body() {
        let err = RegistryError::Status {
            status: 500,
            method: "Get",
            url: "http://h/v2/".into(),
            errors: None,
        };
        assert_eq!(
            err.to_string(),
            "Get \"http://h/v2/\": unexpected status code 500 Internal Server Error"
        );
    }
}
