//! Manifest media types, the JSON shapes of image manifests and indexes, and platform
//! selection from an index / manifest list.
//!
//! Manifest bytes are always kept verbatim next to these parsed views: their digest is
//! the sha256 of the exact bytes, so they must never be re-serialized on the way through.

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::RegistryError;

/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (multi-platform).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index (multi-platform).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image config blob.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// OCI image config blob.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// OCI plain tar layer.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd layer.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// The manifest types we accept, in the `Accept` header of manifest requests.
pub const ACCEPTED_MANIFEST_TYPES: &[&str] = &[
    DOCKER_MANIFEST_V2,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    OCI_INDEX,
];

/// Whether a media type is a multi-platform index / list.
pub fn is_index(media_type: &str) -> bool {
    media_type == DOCKER_MANIFEST_LIST || media_type == OCI_INDEX
}

/// A content descriptor (what manifests and indexes point at).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the content.
    pub media_type: String,
    /// Its digest.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// Alternate URLs (foreign layers); kept for fidelity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Map<String, serde_json::Value>>,
    /// Platform, in index entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// A plain descriptor.
    pub fn new(media_type: &str, digest: &Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: digest.to_string(),
            size,
            urls: None,
            annotations: None,
            platform: None,
        }
    }
}

/// An image manifest (Docker schema 2 or OCI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// Present in Docker schema 2, optional in OCI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The image config blob.
    pub config: Descriptor,
    /// Layer blobs, base first.
    pub layers: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

/// An index / manifest list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// Media type, if given in the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// One entry per platform (and attestations, which carry `unknown/unknown`).
    pub manifests: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A platform as written in index entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture, Go names (`amd64`, `arm64`, `arm`).
    pub architecture: String,
    /// OS (`linux`).
    pub os: String,
    /// CPU variant (`v7`, `v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// OS version (Windows).
    #[serde(
        default,
        rename = "os.version",
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// OS features.
    #[serde(
        default,
        rename = "os.features",
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
}

impl Platform {
    /// `linux/<host arch>`: the default for pulls (linux/amd64 on x86_64).
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        Platform {
            architecture: arch.to_string(),
            os: "linux".to_string(),
            variant: None,
            os_version: None,
            os_features: None,
        }
    }

    /// Parse `os[/arch[/variant]]` as given to `--platform`.
    pub fn parse(s: &str) -> Result<Platform, RegistryError> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || {
            RegistryError::InvalidReference(format!(
                "\"{s}\": unknown operating system or architecture: invalid argument"
            ))
        };
        if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        let os = parts[0].to_lowercase();
        let (architecture, variant) = match parts.len() {
            1 => (Platform::host().architecture, None),
            2 => normalize_arch(parts[1], None),
            _ => normalize_arch(parts[1], Some(parts[2])),
        };
        Ok(Platform {
            architecture,
            os,
            variant,
            os_version: None,
            os_features: None,
        })
    }

    /// Whether an index entry's platform satisfies this wanted platform.
    pub fn matches(&self, entry: &Platform) -> bool {
        let (arch, variant) = normalize_arch(&entry.architecture, entry.variant.as_deref());
        if entry.os.to_lowercase() != self.os || arch != self.architecture {
            return false;
        }
        // No wanted variant: any variant of the architecture is fine (the best one is
        // picked by `select_platform`'s ordering); otherwise it must be equal.
        match &self.variant {
            None => true,
            Some(v) => variant.as_deref() == Some(v.as_str()),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Canonical architecture and variant (`aarch64` → `arm64`, `arm` → `arm/v7`, …).
fn normalize_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let arch = arch.to_lowercase();
    let variant = variant.map(str::to_lowercase);
    match arch.as_str() {
        "x86_64" | "x86-64" | "amd64" => ("amd64".into(), variant.filter(|v| v != "v1")),
        "i386" | "386" => ("386".into(), None),
        "aarch64" | "arm64" => (
            "arm64".into(),
            match variant.as_deref() {
                None | Some("8") | Some("v8") => None,
                Some(_) => variant,
            },
        ),
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "arm" => (
            "arm".into(),
            match variant.as_deref() {
                None | Some("7") => Some("v7".into()),
                Some("5") | Some("6") | Some("8") => variant.map(|v| format!("v{v}")),
                _ => variant,
            },
        ),
        _ => (arch, variant),
    }
}

/// Pick the manifest for `want` from an index: first entry whose platform matches, an
/// entry without platform never matches. Returns Docker's "no matching manifest" error.
pub fn select_platform<'a>(
    index: &'a ImageIndex,
    want: &Platform,
) -> Result<&'a Descriptor, RegistryError> {
    let candidates: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| d.platform.as_ref().is_some_and(|p| want.matches(p)))
        .collect();
    // Without a wanted variant, prefer the baseline entry (no variant after
    // normalization: amd64, arm64/v8, …), then the first listed.
    let baseline = candidates.iter().copied().find(|d| {
        d.platform.as_ref().is_some_and(|p| {
            normalize_arch(&p.architecture, p.variant.as_deref())
                .1
                .is_none()
        })
    });
    let best = if want.variant.is_none() {
        baseline.or(candidates.first().copied())
    } else {
        candidates.first().copied()
    };
    best.ok_or_else(|| RegistryError::NoMatchingPlatform {
        platform: want.to_string(),
    })
}

/// Parse an image manifest, refusing schema 1 and indexes with a clear error.
pub fn parse_image_manifest(bytes: &[u8]) -> Result<ImageManifest, RegistryError> {
    let m: ImageManifest = serde_json::from_slice(bytes).map_err(|e| {
        RegistryError::InvalidManifest(format!("failed to parse image manifest: {e}"))
    })?;
    if m.schema_version != 2 {
        return Err(RegistryError::InvalidManifest(format!(
            "unsupported manifest schema version {}",
            m.schema_version
        )));
    }
    Ok(m)
}

/// Parse an index / manifest list.
pub fn parse_index(bytes: &[u8]) -> Result<ImageIndex, RegistryError> {
    serde_json::from_slice(bytes)
        .map_err(|e| RegistryError::InvalidManifest(format!("failed to parse manifest list: {e}")))
}

/// Decide a manifest's media type when the registry's Content-Type is missing or generic:
/// the body's own `mediaType`, else an index if it has `manifests`, else OCI manifest.
pub fn sniff_media_type(content_type: Option<&str>, bytes: &[u8]) -> String {
    if let Some(ct) = content_type {
        let ct = ct.split(';').next().unwrap_or("").trim();
        if ACCEPTED_MANIFEST_TYPES.contains(&ct)
            || ct == "application/vnd.docker.distribution.manifest.v1+prettyjws"
            || ct == "application/vnd.docker.distribution.manifest.v1+json"
        {
            return ct.to_string();
        }
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        schema_version: Option<u32>,
    }
    match serde_json::from_slice::<Probe>(bytes) {
        Ok(Probe {
            media_type: Some(mt),
            ..
        }) => mt,
        Ok(Probe {
            manifests: Some(_), ..
        }) => OCI_INDEX.to_string(),
        Ok(Probe {
            schema_version: Some(1),
            ..
        }) => "application/vnd.docker.distribution.manifest.v1+json".to_string(),
        _ => OCI_MANIFEST.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(arch: &str, variant: Option<&str>, n: u8) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: format!("sha256:{}", format!("{n:02x}").repeat(32)),
            size: 1,
            urls: None,
            annotations: None,
            platform: Some(Platform {
                architecture: arch.into(),
                os: "linux".into(),
                variant: variant.map(Into::into),
                os_version: None,
                os_features: None,
            }),
        }
    }

    #[test]
    fn selects_platform() {
        let idx = ImageIndex {
            schema_version: 2,
            media_type: Some(OCI_INDEX.into()),
            manifests: vec![
                entry("arm", Some("v6"), 1),
                entry("arm", Some("v7"), 2),
                entry("arm64", Some("v8"), 3),
                entry("amd64", None, 4),
            ],
            annotations: None,
        };
        let pick = |s: &str| {
            select_platform(&idx, &Platform::parse(s).unwrap()).map(|d| d.digest[7..9].to_string())
        };
        assert_eq!(pick("linux/amd64").unwrap(), "04");
        assert_eq!(pick("linux/arm64").unwrap(), "03");
        assert_eq!(pick("linux/arm").unwrap(), "02");
        assert_eq!(pick("linux/arm/v6").unwrap(), "01");
        let err = pick("linux/s390x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no matching manifest for linux/s390x in the manifest list entries"
        );
        assert!(Platform::parse("linux/").is_err());
    }

    #[test]
    fn sniffs_types() {
        assert_eq!(
            sniff_media_type(Some(DOCKER_MANIFEST_V2), b"{}"),
            DOCKER_MANIFEST_V2
        );
        assert_eq!(
            sniff_media_type(Some("application/json"), br#"{"manifests":[]}"#),
            OCI_INDEX
        );
        assert_eq!(
            sniff_media_type(None, br#"{"schemaVersion":2}"#),
            OCI_MANIFEST
        );
    }
}
