//! Exec routes: create (`POST /containers/{id}/exec`), start (hijacked like attach
//! unless detached), resize, inspect.

use crate::backend::ExecStarted;
use crate::body::{self, json_ok, json_response, status_only, Body};
use crate::error::ApiError;
use crate::handlers::{containers::resize_dims, streams};
use crate::server::{Api, ReqCtx};
use berth_types::docker::{ExecConfig, ExecStartConfig, IdResponse};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

/// `POST /containers/{id}/exec`.
pub async fn create(
    api: &Api,
    _ctx: &ReqCtx,
    container: String,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let config: ExecConfig = body::read_json(req, false).await?;
    if config.cmd.as_ref().is_none_or(|c| c.is_empty()) {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    crate::hijack::parse_detach_keys(&config.detach_keys)?;
    let id = api.backend.exec_create(container, config).await?;
    Ok(json_response(StatusCode::CREATED, &IdResponse { id }))
}

/// `POST /exec/{id}/start`.
pub async fn start(
    api: &Api,
    ctx: &ReqCtx,
    id: String,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    // Take the upgrade handle first: reading the body consumes the request.
    let upgrade = streams::Upgrade::take(&mut req);
    let raw = body::read_all(req.into_body(), 1 << 20).await?;
    let start: ExecStartConfig = body::parse_json(&raw, true)?;
    if start.detach {
        api.backend
            .exec_start(id, true, start.tty, start.console_size)
            .await?;
        return Ok(status_only(StatusCode::OK));
    }
    // Refuse what can be refused while the reply can still be an error; the process
    // itself starts once the connection is taken over.
    let info = api.backend.exec_inspect(id.clone()).await?;
    if info.running {
        return Err(ApiError::conflict(format!(
            "Error: Exec command {id} is already running"
        )));
    }
    let tty = info.process_config.tty || start.tty;
    let backend = api.backend.clone();
    let starter = Box::pin(async move {
        match backend
            .exec_start(id, false, start.tty, start.console_size)
            .await?
        {
            ExecStarted::Attached(io) => Ok(io),
            ExecStarted::Detached => Err(ApiError::internal("exec started detached")),
        }
    });
    let backend = api.backend.clone();
    let exec_id = info.id.clone();
    let finish = Box::pin(wait_exec_recorded(backend, exec_id));
    streams::hijack_deferred(ctx, upgrade, tty, starter, Some(finish))
}

/// Wait (briefly) until the exec's exit is recorded, so `GET /exec/{id}/json` right
/// after the stream ended shows its exit code, as with Docker.
async fn wait_exec_recorded(backend: std::sync::Arc<dyn crate::Backend>, id: String) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    while tokio::time::Instant::now() < deadline {
        match backend.exec_inspect(id.clone()).await {
            Ok(i) if i.running || i.exit_code.is_none() => {}
            _ => return,
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// `POST /exec/{id}/resize?h=&w=`.
pub async fn resize(api: &Api, ctx: &ReqCtx, id: String) -> Result<Response<Body>, ApiError> {
    let (h, w) = resize_dims(ctx)?;
    api.backend.exec_resize(id, h, w).await?;
    Ok(status_only(StatusCode::OK))
}

/// `GET /exec/{id}/json`.
pub async fn inspect(api: &Api, id: String) -> Result<Response<Body>, ApiError> {
    Ok(json_ok(&api.backend.exec_inspect(id).await?))
}
