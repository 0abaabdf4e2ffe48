//! `POST /build` query parameters → [`BuildRequest`] (what the API layer hands the engine).
//!
//! Booleans follow Docker's rule (empty, `0`, `no`, `false`, `none` are false, anything else
//! true); `t` may repeat; `buildargs` and `labels` are JSON objects (a `null` build-arg
//! value means "declared without a value" and is dropped, so the ARG default applies).
//! Resource limits and other legacy knobs are kept as raw strings for the engine.

use crate::builder::BuildOptions;
use crate::error::BuildError;
use std::collections::BTreeMap;

/// A parsed build request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildRequest {
    pub options: BuildOptions,
    /// `dockerfile`: path inside the context (default `Dockerfile`).
    pub dockerfile: String,
    /// `remote`: a URL context instead of the uploaded tar.
    pub remote: Option<String>,
    /// `version`: `1` (this builder) or `2` (BuildKit, not provided).
    pub version: String,
    /// Parameters this builder accepts but does not interpret (memory, cpushares,
    /// extrahosts, cachefrom, shmsize, …), for the engine to apply to build containers.
    pub other: BTreeMap<String, String>,
    /// `--secret`/`--ssh` of the client, from the [`crate::SECRETS_HEADER`] header (not
    /// part of the query; the API layer fills it in).
    pub secrets: crate::secrets::BuildSecrets,
}

/// Docker's query boolean.
pub fn query_bool(v: &str) -> bool {
    let s = v.trim().to_ascii_lowercase();
    !(s.is_empty() || s == "0" || s == "no" || s == "false" || s == "none")
}

impl BuildRequest {
    /// Parses decoded query pairs.
    pub fn from_query<I, K, V>(pairs: I) -> Result<BuildRequest, BuildError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut r = BuildRequest {
            dockerfile: "Dockerfile".into(),
            version: "1".into(),
            options: BuildOptions {
                parallel: true,
                ..Default::default()
            },
            ..Default::default()
        };
        for (k, v) in pairs {
            let (k, v) = (k.as_ref(), v.as_ref());
            match k {
                "dockerfile" if !v.is_empty() => r.dockerfile = v.to_string(),
                "dockerfile" => {}
                "t" if !v.is_empty() => r.options.tags.push(v.to_string()),
                "t" => {}
                "remote" if !v.is_empty() => r.remote = Some(v.to_string()),
                "remote" => {}
                "q" => r.options.quiet = query_bool(v),
                "nocache" => r.options.no_cache = query_bool(v),
                "pull" => r.options.pull = query_bool(v),
                "rm" => r.options.keep_intermediate = !query_bool(v),
                "forcerm" => r.options.force_rm = query_bool(v),
                "target" if !v.is_empty() => r.options.target = Some(v.to_string()),
                "target" => {}
                "platform" if !v.is_empty() => r.options.platform = Some(v.to_string()),
                "platform" => {}
                "networkmode" if !v.is_empty() => r.options.network_mode = Some(v.to_string()),
                "networkmode" => {}
                "version" if !v.is_empty() => r.version = v.to_string(),
                "version" => {}
                "buildargs" if !v.is_empty() => {
                    let m: BTreeMap<String, Option<String>> =
                        serde_json::from_str(v).map_err(|e| {
                            BuildError::Invalid(format!("error reading build args: {e}"))
                        })?;
                    r.options.build_args = m
                        .into_iter()
                        .filter_map(|(k, v)| v.map(|v| (k, v)))
                        .collect();
                }
                "labels" if !v.is_empty() => {
                    r.options.labels = serde_json::from_str(v)
                        .map_err(|e| BuildError::Invalid(format!("error reading labels: {e}")))?;
                }
                "buildargs" | "labels" => {}
                other => {
                    r.other.insert(other.to_string(), v.to_string());
                }
            }
        }
        if r.version == "2" {
            return Err(BuildError::Invalid(
                "BuildKit is not supported by this daemon; use the classic builder (DOCKER_BUILDKIT=0)".into(),
            ));
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_query() {
        let r = BuildRequest::from_query([
            ("t", "a:1"),
            ("t", "b"),
            ("q", "1"),
            ("nocache", "false"),
            ("pull", "true"),
            ("rm", "0"),
            ("dockerfile", "sub/Dockerfile.dev"),
            ("buildargs", r#"{"A":"1","B":null}"#),
            ("labels", r#"{"team":"core"}"#),
            ("target", "build"),
            ("memory", "0"),
        ])
        .unwrap();
        assert_eq!(r.options.tags, vec!["a:1", "b"]);
        assert!(
            r.options.quiet && r.options.pull && !r.options.no_cache && r.options.keep_intermediate
        );
        assert_eq!(r.dockerfile, "sub/Dockerfile.dev");
        assert_eq!(r.options.build_args.len(), 1);
        assert_eq!(r.options.build_args["A"], "1");
        assert_eq!(r.options.labels["team"], "core");
        assert_eq!(r.options.target.as_deref(), Some("build"));
        assert_eq!(r.other["memory"], "0");
        let d = BuildRequest::from_query(Vec::<(String, String)>::new()).unwrap();
        assert_eq!(d.dockerfile, "Dockerfile");
        assert!(!d.options.keep_intermediate && !d.options.force_rm && d.options.parallel);
        assert!(BuildRequest::from_query([("buildargs", "{bad")]).is_err());
        assert!(BuildRequest::from_query([("version", "2")]).is_err());
    }
}
