//! Network routes: `GET /networks`, `GET /networks/{id}`, `POST /networks/create`,
//! `POST /networks/{id}/connect`, `POST /networks/{id}/disconnect`,
//! `DELETE /networks/{id}`, `POST /networks/prune`. Bodies and replies are Docker's
//! shapes (`berth_types::docker::Network*`); the backend does the work.

use crate::body::{self, json_ok, json_response, status_only, Body};
use crate::error::ApiError;
use crate::server::{Api, ReqCtx};
use berth_types::docker::{NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

/// `GET /networks?filters=`.
pub async fn list(api: &Api, ctx: &ReqCtx) -> Result<Response<Body>, ApiError> {
    let list = api.backend.network_list(ctx.query.filters()?).await?;
    Ok(json_ok(&list))
}

/// `GET /networks/{id}?verbose=&scope=`.
pub async fn inspect(api: &Api, ctx: &ReqCtx, id: String) -> Result<Response<Body>, ApiError> {
    if let Some(scope) = ctx.query.str("scope").filter(|s| !s.is_empty()) {
        if scope != "local" {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("network {id} not found"),
            ));
        }
    }
    let n = api.backend.network_inspect(id).await?;
    Ok(json_ok(&n))
}

/// `POST /networks/create`.
pub async fn create(api: &Api, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let body: NetworkCreateRequest = body::read_json(req, false).await?;
    let created = api.backend.network_create(body).await?;
    Ok(json_response(StatusCode::CREATED, &created))
}

/// `DELETE /networks/{id}`.
pub async fn remove(api: &Api, id: String) -> Result<Response<Body>, ApiError> {
    api.backend.network_remove(id).await?;
    Ok(status_only(StatusCode::NO_CONTENT))
}

/// `POST /networks/{id}/connect`.
pub async fn connect(
    api: &Api,
    id: String,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let body: NetworkConnectRequest = body::read_json(req, false).await?;
    if body.container.is_empty() {
        return Err(ApiError::bad_request("container is required"));
    }
    api.backend.network_connect(id, body).await?;
    Ok(status_only(StatusCode::OK))
}

/// `POST /networks/{id}/disconnect`.
pub async fn disconnect(
    api: &Api,
    id: String,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let body: NetworkDisconnectRequest = body::read_json(req, false).await?;
    if body.container.is_empty() {
        return Err(ApiError::bad_request("container is required"));
    }
    api.backend.network_disconnect(id, body).await?;
    Ok(status_only(StatusCode::OK))
}

/// `POST /networks/prune?filters=`.
pub async fn prune(api: &Api, ctx: &ReqCtx) -> Result<Response<Body>, ApiError> {
    let reply = api.backend.network_prune(ctx.query.filters()?).await?;
    Ok(json_ok(&reply))
}
