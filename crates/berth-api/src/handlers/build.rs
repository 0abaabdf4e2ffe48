//! `POST /build`: the legacy (non-BuildKit) builder protocol.
//!
//! The query becomes a `berth_build::BuildRequest` (bad values answer 400 before
//! anything streams); the body is the context tar, handed to the backend as it arrives.
//! The answer is `application/json` with Docker's JSON lines; once it started, failures
//! arrive in the stream as `{"errorDetail":…,"error":…}` with status 200, as Docker does.

use crate::body::{self, Body};
use crate::error::ApiError;
use crate::server::{Api, ReqCtx};
use hyper::body::Incoming;
use hyper::{header, Request, Response};

/// `POST /build?t=…&dockerfile=…&buildargs=…`.
pub async fn build(
    api: &Api,
    ctx: &ReqCtx,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let request = berth_build::BuildRequest::from_query(ctx.query.pairs().iter().cloned())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let context = body::incoming_channel(req.into_body());
    let rx = api.backend.image_build(context, request).await?;
    let mut resp = Response::new(body::from_receiver(rx));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}
