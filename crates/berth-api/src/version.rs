//! API version negotiation: the optional `/v1.NN` path prefix.
//!
//! Docker serves every route with and without the prefix. A request without one is
//! answered as the newest version we support. Versions outside
//! [`MIN_API_VERSION`]..=[`MAX_API_VERSION`] are refused with Docker's own sentences.

use crate::error::ApiError;

/// A `(major, minor)` API version; compares in the natural order.
pub type ApiVersion = (u32, u32);

/// The newest API version served (and sent in the `Api-Version` header).
pub const MAX_API_VERSION: ApiVersion = (1, 45);
/// The oldest API version served.
pub const MIN_API_VERSION: ApiVersion = (1, 24);

/// Render as `1.45`.
pub fn fmt(v: ApiVersion) -> String {
    format!("{}.{}", v.0, v.1)
}

/// Split `/v1.41/containers/json` into the version and the rest (`/containers/json`).
///
/// Returns `Ok((None, path))` when there is no version prefix. A prefix that looks like
/// a version (`v` followed by digits and dots) but is out of range is an error; one that
/// does not parse (`/v1..2/`) is left in the path so it ends as `page not found`, which
/// is what Docker's route pattern does too.
pub fn split_prefix(path: &str) -> Result<(Option<ApiVersion>, &str), ApiError> {
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok((None, path));
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let text = &rest[..end];
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Ok((None, path));
    }
    let Some(v) = parse(text) else {
        return Ok((None, path));
    };
    check(v, text)?;
    Ok((Some(v), &rest[end..]))
}

/// Parse `1.45` (also `1`, read as `1.0`).
pub fn parse(text: &str) -> Option<ApiVersion> {
    let mut parts = text.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = match parts.next() {
        Some(m) => m.parse().ok()?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    Some((major, minor))
}

/// Refuse versions outside the supported range with Docker's wording.
fn check(v: ApiVersion, text: &str) -> Result<(), ApiError> {
    if v > MAX_API_VERSION {
        return Err(ApiError::bad_request(format!(
            "client version {text} is too new. Maximum supported API version is {}",
            fmt(MAX_API_VERSION)
        )));
    }
    if v < MIN_API_VERSION {
        return Err(ApiError::bad_request(format!(
            "client version {text} is too old. Minimum supported API version is {}, \
             please upgrade your client to a newer version",
            fmt(MIN_API_VERSION)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_split_and_checked() {
        assert_eq!(
            split_prefix("/v1.41/containers/json").unwrap(),
            (Some((1, 41)), "/containers/json")
        );
        assert_eq!(split_prefix("/_ping").unwrap(), (None, "/_ping"));
        assert_eq!(split_prefix("/version").unwrap(), (None, "/version"));
        assert_eq!(
            split_prefix("/v1.24/_ping").unwrap(),
            (Some((1, 24)), "/_ping")
        );
        let e = split_prefix("/v1.50/info").unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(
            e.message,
            "client version 1.50 is too new. Maximum supported API version is 1.45"
        );
        let e = split_prefix("/v1.12/info").unwrap_err();
        assert_eq!(
            e.message,
            "client version 1.12 is too old. Minimum supported API version is 1.24, \
             please upgrade your client to a newer version"
        );
        // Not a version: routed as a plain path.
        assert_eq!(split_prefix("/volumes").unwrap(), (None, "/volumes"));
        assert_eq!(split_prefix("/v1..2/x").unwrap(), (None, "/v1..2/x"));
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(parse("1.9").unwrap() < parse("1.10").unwrap());
        assert!(parse("2").unwrap() > MAX_API_VERSION);
    }
}
