//! `POST /build`: the legacy (non-BuildKit) builder protocol.
//!
//! The query becomes a `berth_build::BuildRequest` (bad values answer 400 before
//! anything streams); the body is the context tar, handed to the backend as it arrives.
//! Secrets and SSH sockets of `berth build --secret/--ssh` arrive in the
//! `X-Berth-Build-Secrets` header (see `berth_build::secrets`).
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
    let mut request = berth_build::BuildRequest::from_query(ctx.query.pairs().iter().cloned())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    // `build --secret`/`--ssh` of our own client (the classic API has no session).
    if let Some(v) = req.headers().get(berth_build::SECRETS_HEADER) {
        let v = v
            .to_str()
            .map_err(|e| ApiError::bad_request(format!("invalid build secrets header: {e}")))?;
        request.secrets =
            berth_build::BuildSecrets::from_header(v).map_err(ApiError::bad_request)?;
    }
    let context = body::incoming_channel(req.into_body());
    let rx = api.backend.image_build(context, request).await?;
    let mut resp = Response::new(body::from_receiver(rx));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}
