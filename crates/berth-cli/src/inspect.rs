//! `inspect`, `container inspect`, `image inspect`: the daemon's JSON, pretty-printed
//! like Docker (4-space indent, `<>&` escaped), or a `--format` template per object.

use berth_client::Client;
use serde::Serialize;
use serde_json::Value;

use crate::cli::{ContainerInspectArgs, ImageInspectArgs, InspectArgs};
use crate::errors::{CliError, CliResult};
use crate::table::{json_html_escape, parse_template};

/// Docker's `json.MarshalIndent(v, "", "    ")` output.
pub fn pretty(v: &Value) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    if v.serialize(&mut ser).is_err() {
        return String::new();
    }
    json_html_escape(&String::from_utf8_lossy(&buf))
}

/// Inspect objects are typed Go structs in Docker: a nil slice prints `[]` and a nil
/// map `map[]`. These are the slice and map fields of container and image inspect.
struct InspectHooks;

impl berth_gotmpl::Hooks for InspectHooks {
    fn nil_repr(&self, name: &str) -> Option<&'static str> {
        match name {
            "Env"
            | "Cmd"
            | "Entrypoint"
            | "Links"
            | "Binds"
            | "Dns"
            | "DnsOptions"
            | "DnsSearch"
            | "ExtraHosts"
            | "GroupAdd"
            | "CapAdd"
            | "CapDrop"
            | "SecurityOpt"
            | "VolumesFrom"
            | "Devices"
            | "DeviceCgroupRules"
            | "DeviceRequests"
            | "Ulimits"
            | "Mounts"
            | "Args"
            | "OnBuild"
            | "Shell"
            | "Aliases"
            | "Layers"
            | "RepoTags"
            | "RepoDigests"
            | "BlkioWeightDevice"
            | "BlkioDeviceReadBps"
            | "BlkioDeviceWriteBps"
            | "BlkioDeviceReadIOps"
            | "BlkioDeviceWriteIOps"
            | "MaskedPaths"
            | "ReadonlyPaths"
            | "DNSNames"
            | "Test"
            | "ExecIDs"
            | "SecondaryIPAddresses"
            | "SecondaryIPv6Addresses"
            | "Log"
            | "ConsoleSize" => Some("[]"),
            "Labels" | "Volumes" | "ExposedPorts" | "PortBindings" | "Ports" | "Networks"
            | "Sysctls" | "Tmpfs" | "StorageOpt" | "Options" | "DriverOpts" | "Data"
            | "Annotations" => Some("map[]"),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Any,
    Container,
    Image,
    Volume,
}

/// The object, or the line to report when it does not exist.
fn lookup(
    c: &Client,
    name: &str,
    kind: Kind,
    size: bool,
) -> Result<Result<Value, String>, CliError> {
    let r = match kind {
        Kind::Container => c.container_inspect(name, size),
        Kind::Image => c.image_inspect(name),
        Kind::Volume => c.get_json(&format!("/volumes/{name}")),
        Kind::Any => match c.container_inspect(name, size) {
            Err(e) if e.is_not_found() => match c.image_inspect(name) {
                Err(e) if e.is_not_found() => c.get_json(&format!("/volumes/{name}")),
                other => other,
            },
            other => other,
        },
    };
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(e) if e.is_not_found() => Ok(Err(match kind {
            Kind::Any => format!("Error: No such object: {name}"),
            _ => e.to_string(),
        })),
        Err(e) => Err(e.into()),
    }
}

fn run(c: &Client, names: &[String], format: Option<&str>, kind: Kind, size: bool) -> CliResult {
    let tmpl = match format {
        Some(f) if !f.is_empty() && f != "json" => {
            let f = f.replace("\\t", "\t").replace("\\n", "\n");
            Some(parse_template(&f, &InspectHooks).map_err(|e| e.with_code(64))?)
        }
        _ => None,
    };
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for n in names {
        match lookup(c, n, kind, size)? {
            Ok(v) => found.push(v),
            Err(line) => errors.push(line),
        }
    }
    match tmpl {
        Some(t) => {
            let mut out = String::new();
            for v in &found {
                let s = t
                    .execute_with(v, &InspectHooks)
                    .map_err(|e| CliError::msg(format!("template parsing error: {e}")))?;
                out.push_str(&s);
                out.push('\n');
            }
            print!("{out}");
        }
        None => println!("{}", pretty(&Value::Array(found))),
    }
    if !errors.is_empty() {
        return Err(CliError::msg(errors.join("\n")));
    }
    Ok(())
}

pub fn inspect(c: &Client, a: &InspectArgs) -> CliResult {
    let kind = match a.kind.as_deref() {
        None | Some("") => Kind::Any,
        Some("container") => Kind::Container,
        Some("image") => Kind::Image,
        Some("volume") => Kind::Volume,
        Some(other) => {
            return Err(CliError::msg(format!(
                "\"{other}\" is not a valid value for --type"
            )))
        }
    };
    run(c, &a.names, a.format.as_deref(), kind, a.size)
}

pub fn inspect_containers(c: &Client, a: &ContainerInspectArgs) -> CliResult {
    run(c, &a.names, a.format.as_deref(), Kind::Container, a.size)
}

pub fn inspect_images(c: &Client, a: &ImageInspectArgs) -> CliResult {
    run(c, &a.names, a.format.as_deref(), Kind::Image, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_like_docker() {
        let v: Value = serde_json::from_str(r#"[{"Id":"x","A":{"B":"<none>"},"E":[]}]"#).unwrap();
        assert_eq!(
            pretty(&v),
            "[\n    {\n        \"Id\": \"x\",\n        \"A\": {\n            \"B\": \"\\u003cnone\\u003e\"\n        },\n        \"E\": []\n    }\n]"
        );
    }
}
