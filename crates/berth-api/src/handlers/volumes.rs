//! Volume routes: `GET /volumes`, `GET /volumes/{name}`, `POST /volumes/create`,
//! `DELETE /volumes/{name}?force=`, `POST /volumes/prune`. Volumes travel as JSON values
//! in Docker's shape (`Name`, `Driver`, `Mountpoint`, `CreatedAt`, `Labels`, `Scope`,
//! `Options`); the backend owns their semantics.

use crate::body::{self, json_ok, json_response, status_only, Body};
use crate::error::ApiError;
use crate::server::{Api, ReqCtx};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};

/// `GET /volumes?filters=`: `{"Volumes": [...], "Warnings": []}`.
pub async fn list(api: &Api, ctx: &ReqCtx) -> Result<Response<Body>, ApiError> {
    let filters = ctx.query.filters()?;
    let vols = api.backend.volume_list(filters).await?;
    Ok(json_ok(&json!({ "Volumes": vols, "Warnings": [] })))
}

/// `GET /volumes/{name}`.
pub async fn inspect(api: &Api, name: String) -> Result<Response<Body>, ApiError> {
    Ok(json_ok(&api.backend.volume_inspect(name).await?))
}

/// `POST /volumes/create` with `{Name, Driver, DriverOpts, Labels}` (all optional).
pub async fn create(api: &Api, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let body: Value = body::read_json(req, true).await?;
    let body = match body {
        Value::Null => json!({}),
        Value::Object(_) => body,
        _ => return Err(ApiError::bad_request("invalid JSON: expected an object")),
    };
    let v = api.backend.volume_create(body).await?;
    Ok(json_response(StatusCode::CREATED, &v))
}

/// `DELETE /volumes/{name}?force=`.
pub async fn remove(api: &Api, ctx: &ReqCtx, name: String) -> Result<Response<Body>, ApiError> {
    api.backend
        .volume_remove(name, ctx.query.bool("force"))
        .await?;
    Ok(status_only(StatusCode::NO_CONTENT))
}

/// `POST /volumes/prune?filters=`. Before API 1.42 prune removed every unused volume;
/// since then only anonymous ones unless `all=true` (the docker CLI sends it for `-a`).
pub async fn prune(api: &Api, ctx: &ReqCtx) -> Result<Response<Body>, ApiError> {
    let mut filters = ctx.query.filters()?;
    if ctx.version < (1, 42) && !filters.contains_key("all") {
        filters.insert("all".into(), vec!["true".into()]);
    }
    Ok(json_ok(&api.backend.volume_prune(filters).await?))
}
