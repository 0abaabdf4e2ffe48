//! Differences between API versions in what we accept and send, kept in one place.
//!
//! Handlers build the current (1.45) shape with the typed models of
//! `berth_types::docker` and call the matching function here with the request's
//! version; each rule names the API version that changed it.

use crate::version::ApiVersion;
use berth_types::docker::{
    ContainerConfig, ContainerInspect, CreateRequest, ImageInspect, ImageSummary,
};

/// `POST /containers/create` bodies from older clients mean what they meant then.
pub fn create_request(v: ApiVersion, req: &mut CreateRequest) {
    let hc = &mut req.host_config;
    // `AutoRemove` arrived in 1.25; older clients cannot have asked for it.
    if v < (1, 25) {
        hc.auto_remove = false;
    }
    // 1.40 made `private` the default IPC mode; it used to be `shareable`.
    if v < (1, 40) && hc.ipc_mode.is_empty() {
        hc.ipc_mode = "shareable".into();
    }
    // Before 1.41 containers always joined the host's cgroup namespace.
    if v < (1, 41) && hc.cgroupns_mode.is_empty() {
        hc.cgroupns_mode = "host".into();
    }
    // 1.44 made read-only binds recursively read-only; older clients keep submounts
    // writable (and cannot have sent the 1.44 fields).
    if v < (1, 44) {
        for m in hc.mounts.iter_mut().flatten() {
            if m.kind != "bind" || !m.read_only {
                continue;
            }
            let opts = m.bind_options.get_or_insert_with(|| serde_json::json!({}));
            if let Some(o) = opts.as_object_mut() {
                o.remove("ReadOnlyForceRecursive");
                o.insert("ReadOnlyNonRecursive".into(), true.into());
            }
        }
    }
}

/// `GET /images/json` entries.
pub fn image_summary(v: ApiVersion, img: &mut ImageSummary) {
    // 1.44 dropped `VirtualSize` (it always equalled `Size`).
    if v < (1, 44) {
        img.virtual_size = Some(img.size);
    } else {
        img.virtual_size = None;
    }
    // Before 1.43 untagged images listed placeholder tags and digests.
    if v < (1, 43) {
        if img.repo_tags.is_empty() {
            img.repo_tags.push("<none>:<none>".into());
        }
        if img.repo_digests.is_empty() {
            img.repo_digests.push("<none>@<none>".into());
        }
    }
}

/// `GET /images/{name}/json`.
pub fn image_inspect(v: ApiVersion, img: &mut ImageInspect) {
    if v < (1, 44) {
        img.virtual_size = Some(img.size);
    } else {
        img.virtual_size = None;
    }
    // 1.45 removed `Container` and `ContainerConfig`; older clients get the empty
    // values Docker sent for images not made by `commit`.
    if v < (1, 45) {
        img.container.get_or_insert_with(String::new);
        img.container_config
            .get_or_insert_with(ContainerConfig::default);
    } else {
        img.container = None;
        img.container_config = None;
    }
}

/// `GET /containers/{id}/json`.
pub fn container_inspect(v: ApiVersion, c: &mut ContainerInspect) {
    // Before 1.45 the short id was one of the aliases on user-defined networks.
    if v < (1, 45) {
        let short: String = c.id.chars().take(12).collect();
        for (name, ep) in c.network_settings.networks.iter_mut() {
            if matches!(name.as_str(), "bridge" | "host" | "none") || short.is_empty() {
                continue;
            }
            let aliases = ep.aliases.get_or_insert_with(Vec::new);
            if !aliases.contains(&short) {
                aliases.push(short.clone());
            }
        }
    }
}

/// `POST /containers/{id}/wait?condition=`: an unknown condition is a 400 from 1.30 on;
/// older versions fell back to `not-running`.
pub fn wait_condition_is_strict(v: ApiVersion) -> bool {
    v >= (1, 30)
}

/// `signal` on stop and restart exists since 1.42; older clients never send it, and a
/// value sent anyway is ignored as Docker does.
pub fn stop_signal_supported(v: ApiVersion) -> bool {
    v >= (1, 42)
}

/// Content type of logs and attach streams: since 1.42 it says whether the stream is
/// multiplexed; before, every stream was labelled raw.
pub fn stream_content_type(v: ApiVersion, tty: bool) -> &'static str {
    if v < (1, 42) {
        "application/vnd.docker.raw-stream"
    } else {
        crate::hijack::stream_content_type(tty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_list_fields_by_version() {
        let base = ImageSummary {
            size: 42,
            ..Default::default()
        };
        let mut old = base.clone();
        image_summary((1, 41), &mut old);
        assert_eq!(old.virtual_size, Some(42));
        assert_eq!(old.repo_tags, vec!["<none>:<none>"]);
        assert_eq!(old.repo_digests, vec!["<none>@<none>"]);
        let mut mid = base.clone();
        image_summary((1, 43), &mut mid);
        assert_eq!(mid.virtual_size, Some(42));
        assert!(mid.repo_tags.is_empty());
        let mut new = base;
        image_summary((1, 45), &mut new);
        let json = serde_json::to_value(&new).unwrap();
        assert!(json.get("VirtualSize").is_none());
    }

    #[test]
    fn readonly_binds_of_old_clients_stay_non_recursive() {
        let bind: berth_types::docker::MountSpec = serde_json::from_value(serde_json::json!({
            "Type": "bind", "Source": "/s", "Target": "/t", "ReadOnly": true,
            "BindOptions": {"ReadOnlyForceRecursive": true}
        }))
        .unwrap();
        let mut req = CreateRequest::default();
        req.host_config.mounts = Some(vec![bind]);
        let mut new = req.clone();
        create_request((1, 43), &mut req);
        let opts = req.host_config.mounts.unwrap()[0].bind_options.clone();
        assert_eq!(
            opts,
            Some(serde_json::json!({"ReadOnlyNonRecursive": true}))
        );
        create_request((1, 44), &mut new);
        let opts = new.host_config.mounts.unwrap()[0].bind_options.clone();
        assert_eq!(
            opts,
            Some(serde_json::json!({"ReadOnlyForceRecursive": true}))
        );
    }

    #[test]
    fn create_defaults_by_version() {
        let mut old = CreateRequest::default();
        old.host_config.auto_remove = true;
        create_request((1, 24), &mut old);
        assert!(!old.host_config.auto_remove);
        assert_eq!(old.host_config.ipc_mode, "shareable");
        assert_eq!(old.host_config.cgroupns_mode, "host");
        let mut new = CreateRequest::default();
        new.host_config.auto_remove = true;
        create_request((1, 45), &mut new);
        assert!(new.host_config.auto_remove);
        assert_eq!(new.host_config.ipc_mode, "");
        assert_eq!(new.host_config.cgroupns_mode, "");
        let mut explicit = CreateRequest::default();
        explicit.host_config.ipc_mode = "private".into();
        create_request((1, 39), &mut explicit);
        assert_eq!(explicit.host_config.ipc_mode, "private");
    }

    #[test]
    fn image_inspect_fields_by_version() {
        let mut old = ImageInspect {
            size: 7,
            ..Default::default()
        };
        image_inspect((1, 44), &mut old);
        let json = serde_json::to_value(&old).unwrap();
        assert_eq!(json["Container"], "");
        assert!(json["ContainerConfig"].is_object());
        assert!(json.get("VirtualSize").is_none());
        let mut new = old.clone();
        image_inspect((1, 45), &mut new);
        let json = serde_json::to_value(&new).unwrap();
        assert!(json.get("Container").is_none());
        assert!(json.get("ContainerConfig").is_none());
        let mut older = ImageInspect::default();
        image_inspect((1, 43), &mut older);
        assert_eq!(older.virtual_size, Some(0));
    }
}
