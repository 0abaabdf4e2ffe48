//! The Docker image config JSON (`docker image inspect` shows it; the image id is the
//! sha256 of its bytes). Field names, order and null-vs-omitted behaviour follow
//! Docker's Go structs so that an imported image looks the same as one made by Docker.
//! Unknown fields (from pulled images) are kept in `extra`, but the bytes on disk are
//! always the source of truth: never re-serialize a stored config to compute an id.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An empty JSON object `{}` (Go's `struct{}` in port sets and volume sets).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// The image config file: `architecture`, `os`, `config`, `rootfs`, `history`, ….
/// Docker writes the top-level keys in byte order (its encoder goes through a map), so
/// the fields below are declared alphabetically; unknown keys from pulled images follow.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfigFile {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub architecture: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub author: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    /// Id of the container an image was committed from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub container: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub docker_version: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub os: String,
    /// Parent image id (images made by commit); empty for imported and pulled images.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub parent: String,
    #[serde(default)]
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
    /// Fields this struct does not model, kept for a faithful `inspect`.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `rootfs`: `{"type":"layers","diff_ids":[…]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            kind: "layers".into(),
            diff_ids: Vec::new(),
        }
    }
}

/// One `history` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub author: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created_by: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// The `config` object of an image (Docker's `container.Config`, capitalized keys).
/// Fields Docker always writes are plain; those it omits when empty are skipped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub domainname: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub attach_stdin: bool,
    #[serde(default)]
    pub attach_stdout: bool,
    #[serde(default)]
    pub attach_stderr: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Empty>>,
    #[serde(default)]
    pub tty: bool,
    #[serde(default)]
    pub open_stdin: bool,
    #[serde(default)]
    pub stdin_once: bool,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub args_escaped: bool,
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub volumes: Option<BTreeMap<String, Empty>>,
    #[serde(default)]
    pub working_dir: String,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub network_disabled: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
    #[serde(default)]
    pub on_build: Option<Vec<String>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `Healthcheck`: durations in nanoseconds, zero/absent means "inherit".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

impl ImageConfigFile {
    /// The image's `config`, or an empty one.
    pub fn container_config(&self) -> ContainerConfig {
        self.config.clone().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_container_config_has_dockers_shape() {
        let v = serde_json::to_value(ContainerConfig::default()).unwrap();
        assert_eq!(v["Cmd"], Value::Null);
        assert_eq!(v["Env"], Value::Null);
        assert_eq!(v["WorkingDir"], "");
        assert!(v.get("ExposedPorts").is_none());
        assert!(v.get("StopSignal").is_none());
    }

    #[test]
    fn top_level_keys_are_in_byte_order_like_dockers() {
        let c = ImageConfigFile {
            architecture: "amd64".into(),
            comment: "c".into(),
            config: Some(ContainerConfig::default()),
            created: Some("t".into()),
            history: vec![History::default()],
            os: "linux".into(),
            ..Default::default()
        };
        let v = serde_json::to_value(&c).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(
            keys,
            [
                "architecture",
                "comment",
                "config",
                "created",
                "history",
                "os",
                "rootfs"
            ]
        );
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let raw = r#"{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:x"]},
            "config":{"Env":["A=1"],"Weird":1},"os.version":"z"}"#;
        let c: ImageConfigFile = serde_json::from_str(raw).unwrap();
        assert_eq!(c.architecture, "arm64");
        assert_eq!(c.container_config().env, Some(vec!["A=1".to_string()]));
        assert_eq!(c.extra["os.version"], "z");
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(back["config"]["Weird"], 1);
    }
}
