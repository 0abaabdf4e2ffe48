//! Image routes: list, inspect, remove, tag, and `POST /images/create` (import from the
//! request body; registry pulls answer a clear "not supported yet").

use crate::backend::{ImageListOptions, ImportOptions};
use crate::body::{self, json_ok, status_only, Body};
use crate::compat;
use crate::error::ApiError;
use crate::server::{Api, ReqCtx};
use hyper::body::Incoming;
use hyper::{header, Request, Response, StatusCode};

/// `GET /images/json?all=&digests=&filters=` (and the pre-1.41 `filter=` reference).
pub async fn list(api: &Api, ctx: &ReqCtx) -> Result<Response<Body>, ApiError> {
    let q = &ctx.query;
    let mut filters = q.filters()?;
    if ctx.version < (1, 41) {
        if let Some(r) = q.str("filter") {
            filters.entry("reference".into()).or_default().push(r);
        }
    }
    let opts = ImageListOptions {
        all: q.bool("all"),
        digests: q.bool("digests"),
        filters,
    };
    let mut images = api.backend.image_list(opts).await?;
    for img in &mut images {
        compat::image_summary(ctx.version, img);
    }
    Ok(json_ok(&images))
}

/// `GET /images/{name}/json`.
pub async fn inspect(api: &Api, ctx: &ReqCtx, name: String) -> Result<Response<Body>, ApiError> {
    let mut img = api.backend.image_inspect(name).await?;
    compat::image_inspect(ctx.version, &mut img);
    Ok(json_ok(&img))
}

/// `GET /images/{name}/history`.
pub async fn history(api: &Api, name: String) -> Result<Response<Body>, ApiError> {
    Ok(json_ok(&api.backend.image_history(name).await?))
}

/// `DELETE /images/{name}?force=&noprune=`.
pub async fn remove(api: &Api, ctx: &ReqCtx, name: String) -> Result<Response<Body>, ApiError> {
    let items = api
        .backend
        .image_remove(name, ctx.query.bool("force"), ctx.query.bool("noprune"))
        .await?;
    Ok(json_ok(&items))
}

/// `POST /images/{name}/tag?repo=&tag=`.
pub async fn tag(api: &Api, ctx: &ReqCtx, name: String) -> Result<Response<Body>, ApiError> {
    let repo = ctx.query.get("repo").unwrap_or("").to_string();
    if repo.is_empty() {
        return Err(ApiError::bad_request(
            "repository name must have at least one component",
        ));
    }
    api.backend
        .image_tag(name, repo, ctx.query.str("tag"))
        .await?;
    Ok(status_only(StatusCode::CREATED))
}

/// `POST /images/create`: `fromSrc=-` imports the request body; `fromImage` would pull.
pub async fn create(
    api: &Api,
    ctx: &ReqCtx,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let q = &ctx.query;
    if let Some(image) = q.str("fromImage") {
        let tag = q.str("tag");
        // Clients send a digest pull as `tag=sha256:…`.
        let reference = match tag {
            Some(t) if !image.contains('@') && t.contains(':') => format!("{image}@{t}"),
            Some(t) if !image.contains('@') => format!("{image}:{t}"),
            _ => image,
        };
        let auth = registry_auth(&req);
        let rx = api
            .backend
            .image_pull(reference, q.str("platform"), auth)
            .await?;
        return Ok(progress_response(rx));
    }
    match q.get("fromSrc") {
        Some("-") => {}
        Some(src) if !src.is_empty() => {
            return Err(ApiError::bad_request(format!(
                "importing from a URL is not supported yet: {src}"
            )))
        }
        _ => {
            return Err(ApiError::bad_request(
                "either fromImage or fromSrc must be given",
            ))
        }
    }
    let reference = match (q.str("repo"), q.str("tag")) {
        (Some(repo), Some(tag)) => Some(format!("{repo}:{tag}")),
        (Some(repo), None) => Some(repo),
        (None, _) => None,
    };
    let opts = ImportOptions {
        reference,
        changes: q
            .all("changes")
            .into_iter()
            .filter(|c| !c.is_empty())
            .collect(),
        message: q.get("message").unwrap_or("").to_string(),
        platform: q.str("platform"),
    };
    let rx = body::incoming_channel(req.into_body());
    let id = api.backend.image_import(rx, opts).await?;
    let line = serde_json::json!({ "status": id }).to_string() + "\r\n";
    let mut resp = Response::new(body::full(line));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// `POST /images/{name}/push?tag=`: progress messages as a stream.
pub async fn push(
    api: &Api,
    ctx: &ReqCtx,
    name: String,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let reference = match ctx.query.str("tag") {
        Some(t) => format!("{name}:{t}"),
        None => name,
    };
    let auth = registry_auth(&req);
    let rx = api.backend.image_push(reference, auth).await?;
    Ok(progress_response(rx))
}

/// `POST /auth`: the body is Docker's auth config JSON.
pub async fn login(api: &Api, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let auth: serde_json::Value = body::read_json(req, false).await?;
    Ok(json_ok(&api.backend.registry_login(auth).await?))
}

/// The raw `X-Registry-Auth` header (base64url JSON; decoded by the registry client).
fn registry_auth(req: &Request<Incoming>) -> Option<String> {
    req.headers()
        .get("X-Registry-Auth")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// JSON progress messages, one per line, as they come.
fn progress_response(mut rx: tokio::sync::mpsc::Receiver<serde_json::Value>) -> Response<Body> {
    let (tx, body) = body::channel(16);
    tokio::spawn(async move {
        while let Some(msg) = tokio::select! {
            m = rx.recv() => m,
            _ = tx.closed() => None,
        } {
            let mut line = serde_json::to_vec(&msg).unwrap_or_default();
            line.extend_from_slice(b"\r\n");
            if tx.send(bytes::Bytes::from(line)).await.is_err() {
                return;
            }
        }
    });
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp
}

/// The answer to a pull until registry support lands.
pub fn pull_not_supported(image: &str) -> ApiError {
    ApiError::not_found(format!(
        "pull access denied for {image}: pulling images from a registry is not supported \
         yet by Berth; import a root filesystem with `docker import` instead"
    ))
}

/// `GET /images/get?names=…` and `GET /images/{name}/get`: a `docker save` tarball.
pub async fn save(
    api: &Api,
    ctx: &ReqCtx,
    name: Option<String>,
) -> Result<Response<Body>, ApiError> {
    let names = match name {
        Some(n) => vec![n],
        None => ctx
            .query
            .all("names")
            .into_iter()
            .filter(|n| !n.is_empty())
            .collect(),
    };
    if names.is_empty() {
        return Err(ApiError::bad_request("no image names given"));
    }
    let rx = api.backend.image_save(names).await?;
    Ok(crate::handlers::files::tar_response(rx))
}

/// `POST /images/load?quiet=`: a `docker save` tarball in the body; progress lines
/// out, as JSON messages.
pub async fn load(
    api: &Api,
    _ctx: &ReqCtx,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let rx = body::incoming_channel(req.into_body());
    let lines = api.backend.image_load(rx).await?;
    let mut out = String::new();
    for l in lines {
        out.push_str(&serde_json::json!({ "stream": format!("{l}\n") }).to_string());
        out.push_str("\r\n");
    }
    let mut resp = Response::new(body::full(out));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// `POST /images/prune?filters=`.
pub async fn prune(api: &Api, ctx: &ReqCtx) -> Result<Response<Body>, ApiError> {
    Ok(json_ok(
        &api.backend.image_prune(ctx.query.filters()?).await?,
    ))
}
