//! Method + path (version prefix already removed) → [`Route`].
//!
//! A hand-written matcher: the Engine API is a fixed, small set of paths. Image names
//! may contain slashes and colons (`localhost:5000/a/b:tag`), so image routes match a
//! fixed prefix and a fixed suffix and take everything between as the name.

use crate::query::decode_path;
use hyper::Method;

/// Every route the server knows. Payloads are decoded ids or names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Ping,
    Version,
    Info,
    Events,
    SystemDf,

    ContainerCreate,
    ContainerList,
    ContainerPrune,
    ContainerInspect(String),
    ContainerStart(String),
    ContainerStop(String),
    ContainerRestart(String),
    ContainerKill(String),
    ContainerPause(String),
    ContainerUnpause(String),
    ContainerWait(String),
    ContainerRename(String),
    ContainerResize(String),
    ContainerUpdate(String),
    ContainerDelete(String),
    ContainerLogs(String),
    ContainerAttach(String),
    ContainerTop(String),
    ContainerStats(String),
    ContainerExec(String),
    ContainerChanges(String),
    ContainerExport(String),
    ArchiveStat(String),
    ArchiveGet(String),
    ArchivePut(String),
    Commit,

    ExecStart(String),
    ExecResize(String),
    ExecInspect(String),

    ImageList,
    ImageCreate,
    ImageInspect(String),
    ImageHistory(String),
    ImageTag(String),
    ImageDelete(String),
    /// `GET /images/get?names=…` (names in the query) or `/images/{name}/get`.
    ImageSave(Option<String>),
    ImageLoad,
    ImagePrune,
    ImagePush(String),
    Auth,
    /// `POST /build` (the legacy builder protocol).
    Build,

    VolumeList,
    VolumeCreate,
    VolumePrune,
    VolumeInspect(String),
    VolumeDelete(String),

    NetworkList,
    NetworkCreate,
    NetworkPrune,
    NetworkInspect(String),
    NetworkDelete(String),
    NetworkConnect(String),
    NetworkDisconnect(String),

    /// A Docker API area Berth does not serve yet; answered 501 naming it (the text is
    /// the subject of the sentence, with its verb: `volumes are`).
    Unsupported(&'static str),
}

/// Match a request. `None` means Docker's `page not found` (also for a known path with
/// the wrong method, as Docker answers).
pub fn route(method: &Method, path: &str) -> Option<Route> {
    known_route(method, path).or_else(|| unsupported(path).map(Route::Unsupported))
}

/// Docker API areas not served yet, by path prefix: a clear 501 beats `page not found`.
fn unsupported(path: &str) -> Option<&'static str> {
    const AREAS: &[(&str, &str)] = &[
        ("/session", "build sessions are"),
        ("/images/search", "image search is"),
        ("/distribution", "registry distribution is"),
        ("/plugins", "plugins are"),
        ("/swarm", "swarm mode is"),
        ("/services", "swarm mode is"),
        ("/nodes", "swarm mode is"),
        ("/tasks", "swarm mode is"),
        ("/secrets", "swarm mode is"),
        ("/configs", "swarm mode is"),
    ];
    AREAS
        .iter()
        .find(|(prefix, _)| {
            path == *prefix
                || path
                    .strip_prefix(prefix)
                    .is_some_and(|r| r.starts_with('/'))
        })
        .map(|(_, area)| *area)
}

fn known_route(method: &Method, path: &str) -> Option<Route> {
    let path = path.trim_end_matches('/');
    let is = |m: &Method| method == m;
    let get = is(&Method::GET) || is(&Method::HEAD);
    let post = is(&Method::POST);
    let delete = is(&Method::DELETE);

    match path {
        "/_ping" if get => return Some(Route::Ping),
        "/version" if get => return Some(Route::Version),
        "/info" if get => return Some(Route::Info),
        "/events" if get => return Some(Route::Events),
        "/system/df" if get => return Some(Route::SystemDf),
        "/containers/create" if post => return Some(Route::ContainerCreate),
        "/containers/json" if get => return Some(Route::ContainerList),
        "/containers/prune" if post => return Some(Route::ContainerPrune),
        "/images/json" if get => return Some(Route::ImageList),
        "/images/create" if post => return Some(Route::ImageCreate),
        "/images/get" if get => return Some(Route::ImageSave(None)),
        "/images/load" if post => return Some(Route::ImageLoad),
        "/images/prune" if post => return Some(Route::ImagePrune),
        "/commit" if post => return Some(Route::Commit),
        "/auth" if post => return Some(Route::Auth),
        "/build" if post => return Some(Route::Build),
        "/volumes" if get => return Some(Route::VolumeList),
        "/volumes/create" if post => return Some(Route::VolumeCreate),
        "/volumes/prune" if post => return Some(Route::VolumePrune),
        "/networks" if get => return Some(Route::NetworkList),
        "/networks/create" if post => return Some(Route::NetworkCreate),
        "/networks/prune" if post => return Some(Route::NetworkPrune),
        _ => {}
    }

    if let Some(rest) = path.strip_prefix("/images/") {
        return image_route(method, rest);
    }
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    match segs.as_slice() {
        ["containers", id] if delete => Some(Route::ContainerDelete(decode_path(id))),
        ["containers", id, "archive"] => {
            let id = decode_path(id);
            match *method {
                Method::HEAD => Some(Route::ArchiveStat(id)),
                Method::GET => Some(Route::ArchiveGet(id)),
                Method::PUT => Some(Route::ArchivePut(id)),
                _ => None,
            }
        }
        ["containers", id, action] => {
            let id = decode_path(id);
            Some(match (*action, get, post) {
                ("json", true, _) => Route::ContainerInspect(id),
                ("logs", true, _) => Route::ContainerLogs(id),
                ("top", true, _) => Route::ContainerTop(id),
                ("stats", true, _) => Route::ContainerStats(id),
                ("changes", true, _) => Route::ContainerChanges(id),
                ("export", true, _) => Route::ContainerExport(id),
                ("start", _, true) => Route::ContainerStart(id),
                ("stop", _, true) => Route::ContainerStop(id),
                ("restart", _, true) => Route::ContainerRestart(id),
                ("kill", _, true) => Route::ContainerKill(id),
                ("pause", _, true) => Route::ContainerPause(id),
                ("unpause", _, true) => Route::ContainerUnpause(id),
                ("wait", _, true) => Route::ContainerWait(id),
                ("rename", _, true) => Route::ContainerRename(id),
                ("resize", _, true) => Route::ContainerResize(id),
                ("update", _, true) => Route::ContainerUpdate(id),
                ("attach", _, true) => Route::ContainerAttach(id),
                ("exec", _, true) => Route::ContainerExec(id),
                _ => return None,
            })
        }
        ["volumes", name] if get => Some(Route::VolumeInspect(decode_path(name))),
        ["volumes", name] if delete => Some(Route::VolumeDelete(decode_path(name))),
        ["networks", id] if get => Some(Route::NetworkInspect(decode_path(id))),
        ["networks", id] if delete => Some(Route::NetworkDelete(decode_path(id))),
        ["networks", id, "connect"] if post => Some(Route::NetworkConnect(decode_path(id))),
        ["networks", id, "disconnect"] if post => Some(Route::NetworkDisconnect(decode_path(id))),
        ["exec", id, "start"] if post => Some(Route::ExecStart(decode_path(id))),
        ["exec", id, "resize"] if post => Some(Route::ExecResize(decode_path(id))),
        ["exec", id, "json"] if get => Some(Route::ExecInspect(decode_path(id))),
        _ => None,
    }
}

/// `/images/<name>[/<action>]` where `<name>` may hold slashes.
fn image_route(method: &Method, rest: &str) -> Option<Route> {
    if rest.is_empty() {
        return None;
    }
    if *method == Method::DELETE {
        return Some(Route::ImageDelete(decode_path(rest)));
    }
    let (name, action) = rest.rsplit_once('/')?;
    if name.is_empty() {
        return None;
    }
    let name = decode_path(name);
    match (action, method) {
        ("json", &Method::GET) => Some(Route::ImageInspect(name)),
        ("history", &Method::GET) => Some(Route::ImageHistory(name)),
        ("tag", &Method::POST) => Some(Route::ImageTag(name)),
        ("get", &Method::GET) => Some(Route::ImageSave(Some(name))),
        ("push", &Method::POST) => Some(Route::ImagePush(name)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_routes() {
        assert_eq!(route(&Method::GET, "/_ping"), Some(Route::Ping));
        assert_eq!(route(&Method::HEAD, "/_ping"), Some(Route::Ping));
        assert_eq!(
            route(&Method::POST, "/containers/web/start"),
            Some(Route::ContainerStart("web".into()))
        );
        assert_eq!(
            route(&Method::DELETE, "/containers/abc"),
            Some(Route::ContainerDelete("abc".into()))
        );
        assert_eq!(route(&Method::GET, "/containers/web/start"), None);
        assert_eq!(route(&Method::GET, "/nope"), None);
        assert_eq!(route(&Method::GET, "/volumes"), Some(Route::VolumeList));
        assert_eq!(
            route(&Method::DELETE, "/volumes/v1"),
            Some(Route::VolumeDelete("v1".into()))
        );
        assert_eq!(
            route(&Method::POST, "/volumes/prune"),
            Some(Route::VolumePrune)
        );
        assert_eq!(
            route(&Method::POST, "/networks/create"),
            Some(Route::NetworkCreate)
        );
        assert_eq!(
            route(&Method::POST, "/images/a/b:1/push"),
            Some(Route::ImagePush("a/b:1".into()))
        );
        assert_eq!(route(&Method::GET, "/volumesx"), None);
        assert_eq!(
            route(&Method::POST, "/exec/e1/start"),
            Some(Route::ExecStart("e1".into()))
        );
    }

    #[test]
    fn image_names_with_slashes_and_ports() {
        assert_eq!(
            route(&Method::GET, "/images/localhost:5000/a/b:tag/json"),
            Some(Route::ImageInspect("localhost:5000/a/b:tag".into()))
        );
        assert_eq!(
            route(&Method::DELETE, "/images/localhost:5000/a/b:tag"),
            Some(Route::ImageDelete("localhost:5000/a/b:tag".into()))
        );
        assert_eq!(
            route(&Method::POST, "/images/busybox/tag"),
            Some(Route::ImageTag("busybox".into()))
        );
        assert_eq!(route(&Method::GET, "/images/json"), Some(Route::ImageList));
        assert_eq!(route(&Method::GET, "/images/busybox"), None);
        assert_eq!(
            route(&Method::GET, "/images/a/b:1/get"),
            Some(Route::ImageSave(Some("a/b:1".into())))
        );
        assert_eq!(
            route(&Method::GET, "/images/get"),
            Some(Route::ImageSave(None))
        );
        assert_eq!(
            route(&Method::HEAD, "/containers/c1/archive"),
            Some(Route::ArchiveStat("c1".into()))
        );
        assert_eq!(
            route(&Method::PUT, "/containers/c1/archive"),
            Some(Route::ArchivePut("c1".into()))
        );
    }
}
