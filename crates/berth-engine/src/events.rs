//! Events in Docker's `/events` JSON shape, published on a broadcast channel.
//!
//! Container events carry the image and name and the container's labels as actor
//! attributes (Docker does the same), plus per-action extras (`exitCode` on `die`,
//! `signal` on `kill`, `oldName` on `rename`).

use crate::record::ContainerRecord;
use crate::Engine;
use berth_types::docker::{EventActor, EventMessage};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

impl Engine {
    /// Publishes a container event built from a record snapshot.
    pub(crate) fn container_event(
        &self,
        rec: &ContainerRecord,
        action: &str,
        extra: &[(&str, String)],
    ) {
        let mut attrs: BTreeMap<String, String> = rec.config.labels.clone().unwrap_or_default();
        attrs.insert("image".into(), rec.config.image.clone());
        attrs.insert("name".into(), rec.bare_name().to_string());
        for (k, v) in extra {
            attrs.insert(k.to_string(), v.clone());
        }
        self.publish("container", action, &rec.id, &rec.config.image, attrs);
    }

    /// Publishes an image event (`import`, `tag`, `untag`, `delete`).
    pub(crate) fn image_event(&self, action: &str, id: &str, name: &str) {
        let mut attrs = BTreeMap::new();
        attrs.insert("name".into(), name.to_string());
        self.publish("image", action, id, "", attrs);
    }

    fn publish(
        &self,
        kind: &str,
        action: &str,
        id: &str,
        from: &str,
        attributes: BTreeMap<String, String>,
    ) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let msg = EventMessage {
            status: action.to_string(),
            id: id.to_string(),
            from: from.to_string(),
            kind: kind.to_string(),
            action: action.to_string(),
            actor: EventActor {
                id: id.to_string(),
                attributes,
            },
            scope: "local".into(),
            time: now.as_secs() as i64,
            time_nano: now.as_nanos() as i64,
        };
        // No receivers is fine: nobody is listening to /events.
        let _ = self.events.send(msg);
    }
}
