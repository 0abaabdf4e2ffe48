//! Events in Docker's `/events` JSON shape, published on a broadcast channel.
//!
//! Container events carry the image and name and the container's labels as actor
//! attributes (Docker does the same), plus per-action extras (`exitCode` on `die`,
//! `signal` on `kill`, `oldName` on `rename`).

use crate::record::ContainerRecord;
use crate::{lock, Engine};
use berth_types::docker::{EventActor, EventMessage};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// Events kept for `since` queries (Docker keeps a comparable window).
pub const HISTORY: usize = 1024;

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

    /// A daemon reload (SIGHUP): the insecure registries take effect for the next pull
    /// or push, and a `daemon reload` event is published with the daemon's id and the
    /// settings it now runs with as attributes, as Docker does.
    pub fn reload(
        &self,
        daemon_id: &str,
        insecure_registries: &[String],
        attributes: BTreeMap<String, String>,
    ) {
        self.dist().set_insecure_registries(insecure_registries);
        self.publish("daemon", "reload", daemon_id, "", attributes);
    }

    pub(crate) fn publish(
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
        {
            let mut h = lock(&self.history);
            if h.len() >= HISTORY {
                h.pop_front();
            }
            h.push_back(msg.clone());
        }
        // No receivers is fine: nobody is listening to /events.
        let _ = self.events.send(msg);
    }

    /// Past events (the last [`HISTORY`]) with `since <= time <= until` in nanoseconds,
    /// for `/events?since=…`. Subscribe first, then read the history, and drop live
    /// events not newer than the last replayed one to avoid duplicates.
    pub fn events_since(&self, since_nanos: i64, until_nanos: Option<i64>) -> Vec<EventMessage> {
        lock(&self.history)
            .iter()
            .filter(|e| e.time_nano >= since_nanos && until_nanos.is_none_or(|u| e.time_nano <= u))
            .cloned()
            .collect()
    }
}
