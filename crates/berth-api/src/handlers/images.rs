//! Image routes: list, inspect, remove, tag, and `POST /images/create` (import from the
//! request body; registry pulls answer a clear "not supported yet").

use crate::backend::{ImageListOptions, ImportOptions};
use crate::body::{self, json_ok, status_only, Body};
use crate::compat;
use crate::error::ApiError;
use crate::server::{Api, ReqCtx};
use bytes::Bytes;
use http_body_util::BodyExt;
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
        let full = match tag {
            Some(t) if !image.contains('@') => format!("{image}:{t}"),
            _ => image,
        };
        return Err(pull_not_supported(&full));
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
        changes: q.all("changes").into_iter().filter(|c| !c.is_empty()).collect(),
        message: q.get("message").unwrap_or("").to_string(),
        platform: q.str("platform"),
    };
    // Feed the body to the importer as it arrives; the import reads it synchronously
    // on its side of the channel.
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    let mut incoming = req.into_body();
    let feeder = tokio::spawn(async move {
        while let Some(frame) = incoming.frame().await {
            match frame {
                Ok(f) => {
                    if let Ok(data) = f.into_data() {
                        if tx.send(data).await.is_err() {
                            return Err(());
                        }
                    }
                }
                Err(_) => return Err(()),
            }
        }
        Ok(())
    });
    let result = api.backend.image_import(rx, opts).await;
    let body_ok = matches!(feeder.await, Ok(Ok(())));
    let id = match result {
        Ok(id) => id,
        Err(e) if !body_ok => {
            return Err(ApiError::bad_request(format!(
                "reading the image archive: {}",
                e.message
            )))
        }
        Err(e) => return Err(e),
    };
    let line = serde_json::json!({ "status": id }).to_string() + "\r\n";
    let mut resp = Response::new(body::full(line));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// The answer to a pull until registry support lands.
pub fn pull_not_supported(image: &str) -> ApiError {
    ApiError::not_found(format!(
        "pull access denied for {image}: pulling images from a registry is not supported \
         yet by Berth; import a root filesystem with `docker import` instead"
    ))
}
