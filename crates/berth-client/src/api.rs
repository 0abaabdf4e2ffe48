//! Typed wrappers over the Engine API endpoints the CLI uses. They return
//! `serde_json::Value` (order-preserving, so `--format '{{json .}}'` keeps the daemon's
//! field order) or a [`Response`] for streaming endpoints.

use std::io::Read;

use serde_json::{json, Value};

use crate::http::{encode_component, Body, Query};
use crate::{Client, Response, Result};

/// Filters as Docker's CLI sends them: `{"key": {"value": true}}`.
#[derive(Debug, Default, Clone)]
pub struct Filters {
    pairs: Vec<(String, String)>,
}

impl Filters {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `key=value` as given to `--filter`; `None` when there is no `=`.
    pub fn add_arg(&mut self, arg: &str) -> Option<()> {
        let (k, v) = arg.split_once('=')?;
        self.add(k.trim(), v);
        Some(())
    }

    pub fn add(&mut self, key: &str, value: &str) {
        self.pairs.push((key.to_lowercase(), value.to_string()));
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Values given for `key`.
    pub fn get(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn to_json(&self) -> String {
        let mut map = serde_json::Map::new();
        for (k, v) in &self.pairs {
            let entry = map.entry(k.clone()).or_insert_with(|| json!({}));
            if let Some(obj) = entry.as_object_mut() {
                obj.insert(v.clone(), Value::Bool(true));
            }
        }
        Value::Object(map).to_string()
    }
}

/// Escapes one path segment: RFC 3986 `pchar`s other than unreserved characters,
/// `:` and `@` are percent-encoded (ids and names never need it, but a stray `?`
/// or space must not change the request).
fn esc(s: &str) -> String {
    encode_component(s).replace("%3A", ":").replace("%40", "@")
}

impl Client {
    // ---- system -------------------------------------------------------------------

    pub fn version(&self) -> Result<Value> {
        self.get_json("/version")
    }

    pub fn info(&self) -> Result<Value> {
        self.get_json("/info")
    }

    // ---- containers ---------------------------------------------------------------

    pub fn containers_list(
        &self,
        all: bool,
        limit: Option<i64>,
        size: bool,
        filters: &Filters,
    ) -> Result<Value> {
        let mut q = Query::new()
            .flag("all", all)
            .flag("size", size)
            .opt("limit", limit.map(|l| l.to_string()));
        if !filters.is_empty() {
            q = q.add("filters", filters.to_json());
        }
        self.get_json(&format!("/containers/json{}", q.to_suffix()))
    }

    pub fn container_inspect(&self, id: &str, size: bool) -> Result<Value> {
        let q = Query::new().flag("size", size);
        self.get_json(&format!("/containers/{}/json{}", esc(id), q.to_suffix()))
    }

    /// `POST /containers/create`; returns `{"Id":…, "Warnings":[…]}`.
    pub fn container_create(
        &self,
        name: Option<&str>,
        platform: Option<&str>,
        config: &Value,
    ) -> Result<Value> {
        let q = Query::new().opt("name", name).opt("platform", platform);
        self.post_json(
            &format!("/containers/create{}", q.to_suffix()),
            Some(config),
        )
    }

    pub fn container_start(&self, id: &str, detach_keys: Option<&str>) -> Result<()> {
        let q = Query::new().opt("detachKeys", detach_keys);
        self.post_json(
            &format!("/containers/{}/start{}", esc(id), q.to_suffix()),
            None,
        )?;
        Ok(())
    }

    pub fn container_stop(
        &self,
        id: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        let q = Query::new()
            .opt("t", timeout.map(|t| t.to_string()))
            .opt("signal", signal);
        self.post_json(
            &format!("/containers/{}/stop{}", esc(id), q.to_suffix()),
            None,
        )?;
        Ok(())
    }

    pub fn container_restart(
        &self,
        id: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        let q = Query::new()
            .opt("t", timeout.map(|t| t.to_string()))
            .opt("signal", signal);
        self.post_json(
            &format!("/containers/{}/restart{}", esc(id), q.to_suffix()),
            None,
        )?;
        Ok(())
    }

    pub fn container_kill(&self, id: &str, signal: Option<&str>) -> Result<()> {
        let q = Query::new().opt("signal", signal);
        self.post_json(
            &format!("/containers/{}/kill{}", esc(id), q.to_suffix()),
            None,
        )?;
        Ok(())
    }

    pub fn container_pause(&self, id: &str) -> Result<()> {
        self.post_json(&format!("/containers/{}/pause", esc(id)), None)?;
        Ok(())
    }

    pub fn container_unpause(&self, id: &str) -> Result<()> {
        self.post_json(&format!("/containers/{}/unpause", esc(id)), None)?;
        Ok(())
    }

    pub fn container_remove(&self, id: &str, force: bool, volumes: bool, link: bool) -> Result<()> {
        let q = Query::new()
            .flag("force", force)
            .flag("v", volumes)
            .flag("link", link);
        self.delete(&format!("/containers/{}{}", esc(id), q.to_suffix()))?;
        Ok(())
    }

    pub fn container_rename(&self, id: &str, new_name: &str) -> Result<()> {
        let q = Query::new().add("name", new_name);
        self.post_json(
            &format!("/containers/{}/rename{}", esc(id), q.to_suffix()),
            None,
        )?;
        Ok(())
    }

    /// Sends `POST /containers/{id}/wait` and returns once the daemon has sent the
    /// response head (it does so as soon as the wait is registered); read the body
    /// with [`Response::json`] to block until the condition is met.
    pub fn container_wait_begin(&self, id: &str, condition: Option<&str>) -> Result<Response> {
        let q = Query::new().opt("condition", condition);
        self.request(
            "POST",
            &format!("/containers/{}/wait{}", esc(id), q.to_suffix()),
            &[],
            Body::Empty,
        )
    }

    /// Blocks until the container meets `condition`; returns `{"StatusCode":…}`.
    pub fn container_wait(&self, id: &str, condition: Option<&str>) -> Result<Value> {
        self.container_wait_begin(id, condition)?.json()
    }

    /// `GET /containers/{id}/logs` with the given query; the body is the log stream.
    pub fn container_logs(&self, id: &str, query: &Query) -> Result<Response> {
        self.request(
            "GET",
            &format!("/containers/{}/logs{}", esc(id), query.to_suffix()),
            &[],
            Body::Empty,
        )
    }

    pub fn container_top(&self, id: &str, ps_args: Option<&str>) -> Result<Value> {
        let q = Query::new().opt("ps_args", ps_args);
        self.get_json(&format!("/containers/{}/top{}", esc(id), q.to_suffix()))
    }

    pub fn container_update(&self, id: &str, body: &Value) -> Result<Value> {
        self.post_json(&format!("/containers/{}/update", esc(id)), Some(body))
    }

    pub fn container_resize(&self, id: &str, height: u16, width: u16) -> Result<()> {
        let q = Query::new()
            .add("h", height.to_string())
            .add("w", width.to_string());
        self.post_json(
            &format!("/containers/{}/resize{}", esc(id), q.to_suffix()),
            None,
        )?;
        Ok(())
    }

    pub fn containers_prune(&self, filters: &Filters) -> Result<Value> {
        let mut q = Query::new();
        if !filters.is_empty() {
            q = q.add("filters", filters.to_json());
        }
        self.post_json(&format!("/containers/prune{}", q.to_suffix()), None)
    }

    /// Hijacks `POST /containers/{id}/attach` with the given streams.
    pub fn container_attach(
        &self,
        id: &str,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        detach_keys: Option<&str>,
    ) -> Result<std::os::unix::net::UnixStream> {
        let q = Query::new()
            .add("stream", "1")
            .flag("stdin", stdin)
            .flag("stdout", stdout)
            .flag("stderr", stderr)
            .opt("detachKeys", detach_keys);
        self.hijack(
            "POST",
            &format!("/containers/{}/attach{}", esc(id), q.to_suffix()),
            None,
        )
    }

    // ---- exec ---------------------------------------------------------------------

    pub fn exec_create(&self, id: &str, body: &Value) -> Result<Value> {
        self.post_json(&format!("/containers/{}/exec", esc(id)), Some(body))
    }

    /// Starts an attached exec and returns the hijacked socket.
    pub fn exec_start_attached(
        &self,
        exec_id: &str,
        tty: bool,
    ) -> Result<std::os::unix::net::UnixStream> {
        self.hijack(
            "POST",
            &format!("/exec/{}/start", esc(exec_id)),
            Some(&json!({"Detach": false, "Tty": tty})),
        )
    }

    pub fn exec_start_detached(&self, exec_id: &str) -> Result<()> {
        self.post_json(
            &format!("/exec/{}/start", esc(exec_id)),
            Some(&json!({"Detach": true, "Tty": false})),
        )?;
        Ok(())
    }

    pub fn exec_inspect(&self, exec_id: &str) -> Result<Value> {
        self.get_json(&format!("/exec/{}/json", esc(exec_id)))
    }

    pub fn exec_resize(&self, exec_id: &str, height: u16, width: u16) -> Result<()> {
        let q = Query::new()
            .add("h", height.to_string())
            .add("w", width.to_string());
        self.post_json(
            &format!("/exec/{}/resize{}", esc(exec_id), q.to_suffix()),
            None,
        )?;
        Ok(())
    }

    // ---- images -------------------------------------------------------------------

    pub fn images_list(&self, all: bool, digests: bool, filters: &Filters) -> Result<Value> {
        let mut q = Query::new().flag("all", all).flag("digests", digests);
        if !filters.is_empty() {
            q = q.add("filters", filters.to_json());
        }
        self.get_json(&format!("/images/json{}", q.to_suffix()))
    }

    pub fn image_inspect(&self, name: &str) -> Result<Value> {
        self.get_json(&format!("/images/{}/json", image_path(name)))
    }

    pub fn image_remove(&self, name: &str, force: bool, no_prune: bool) -> Result<Value> {
        let q = Query::new().flag("force", force).flag("noprune", no_prune);
        self.delete(&format!("/images/{}{}", image_path(name), q.to_suffix()))
    }

    pub fn image_tag(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        let q = Query::new().add("repo", repo).opt("tag", tag);
        self.post_json(
            &format!("/images/{}/tag{}", image_path(name), q.to_suffix()),
            None,
        )?;
        Ok(())
    }

    /// `POST /images/create?fromSrc=-` with the tar as body; returns the progress
    /// stream (JSON lines; the last holds `{"status":"sha256:…"}` or an error).
    pub fn image_import(
        &self,
        tar: &mut dyn Read,
        repo: Option<&str>,
        tag: Option<&str>,
        changes: &[String],
        message: Option<&str>,
        platform: Option<&str>,
    ) -> Result<Response> {
        let mut q = Query::new()
            .add("fromSrc", "-")
            .opt("repo", repo)
            .opt("tag", tag)
            .opt("message", message)
            .opt("platform", platform);
        for c in changes {
            q = q.add("changes", c);
        }
        self.request(
            "POST",
            &format!("/images/create{}", q.to_suffix()),
            &[],
            Body::Stream(tar, "application/x-tar"),
        )
    }

    /// `POST /images/create?fromImage=…` (pull) without credentials.
    pub fn image_pull(
        &self,
        image: &str,
        tag: Option<&str>,
        platform: Option<&str>,
    ) -> Result<Response> {
        self.image_pull_with_auth(image, tag, platform, "e30=")
    }

    /// Pull with an `X-Registry-Auth` value (base64url JSON credentials; `e30=` is `{}`);
    /// returns the progress stream.
    pub fn image_pull_with_auth(
        &self,
        image: &str,
        tag: Option<&str>,
        platform: Option<&str>,
        registry_auth: &str,
    ) -> Result<Response> {
        let q = Query::new()
            .add("fromImage", image)
            .opt("tag", tag)
            .opt("platform", platform);
        self.request(
            "POST",
            &format!("/images/create{}", q.to_suffix()),
            &[("X-Registry-Auth", registry_auth)],
            Body::Empty,
        )
    }
}

/// Image names go into the path as-is except for characters that would break it;
/// slashes stay (Docker's router accepts `/images/library/busybox/json`).
fn image_path(name: &str) -> String {
    name.split('/').map(esc).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_json_like_docker() {
        let mut f = Filters::new();
        f.add_arg("status=running").unwrap();
        f.add_arg("status=exited").unwrap();
        f.add_arg("label=a=b").unwrap();
        assert!(f.add_arg("nokey").is_none());
        assert_eq!(
            f.to_json(),
            r#"{"status":{"running":true,"exited":true},"label":{"a=b":true}}"#
        );
        assert_eq!(f.get("status"), vec!["running", "exited"]);
    }

    #[test]
    fn image_path_keeps_slashes() {
        assert_eq!(image_path("localhost:5000/a/b:1"), "localhost:5000/a/b:1");
        assert_eq!(esc("a b?"), "a%20b%3F");
    }
}
