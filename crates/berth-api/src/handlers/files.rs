//! Container file routes: `export`, the `archive` endpoints behind `docker cp`
//! (`HEAD` stat, `GET` a tar of a path, `PUT` a tar into a directory) and `commit`.

use crate::backend::{ByteStream, CommitOptions};
use crate::body::{self, json_response, status_only, Body};
use crate::error::ApiError;
use crate::server::{Api, ReqCtx};
use berth_types::docker::{ContainerConfig, IdResponse};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};

/// Header carrying the stat of the path, base64 of its JSON.
const PATH_STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

/// A `200` streaming a tar archive.
pub fn tar_response(rx: ByteStream) -> Response<Body> {
    let mut resp = Response::new(body::from_receiver(rx));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    resp
}

/// `GET /containers/{id}/export`.
pub async fn export(api: &Api, id: String) -> Result<Response<Body>, ApiError> {
    Ok(tar_response(api.backend.container_export(id).await?))
}

fn path_param(ctx: &ReqCtx) -> Result<String, ApiError> {
    match ctx.query.get("path") {
        Some(p) if !p.is_empty() => Ok(p.to_string()),
        _ => Err(ApiError::bad_request("bad parameter: path cannot be empty")),
    }
}

fn stat_header(stat_json: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(&base64(stat_json.as_bytes()))
        .map_err(|e| ApiError::internal(format!("encoding path stat: {e}")))
}

/// `HEAD /containers/{id}/archive?path=`: the stat header only.
pub async fn archive_stat(api: &Api, ctx: &ReqCtx, id: String) -> Result<Response<Body>, ApiError> {
    let stat = api.backend.archive_stat(id, path_param(ctx)?).await?;
    let mut resp = status_only(StatusCode::OK);
    resp.headers_mut()
        .insert(PATH_STAT_HEADER, stat_header(&stat)?);
    Ok(resp)
}

/// `GET /containers/{id}/archive?path=`: a tar of the path, with its stat header.
pub async fn archive_get(api: &Api, ctx: &ReqCtx, id: String) -> Result<Response<Body>, ApiError> {
    let (stat, rx) = api.backend.archive_get(id, path_param(ctx)?).await?;
    let mut resp = tar_response(rx);
    resp.headers_mut()
        .insert(PATH_STAT_HEADER, stat_header(&stat)?);
    Ok(resp)
}

/// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=`: extract the body.
pub async fn archive_put(
    api: &Api,
    ctx: &ReqCtx,
    id: String,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let path = path_param(ctx)?;
    let no_overwrite = ctx.query.bool("noOverwriteDirNonDir");
    let rx = body::incoming_channel(req.into_body());
    api.backend.archive_put(id, path, rx, no_overwrite).await?;
    Ok(status_only(StatusCode::OK))
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`; the body may
/// carry config overrides.
pub async fn commit(
    api: &Api,
    ctx: &ReqCtx,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let q = &ctx.query;
    let container = q
        .str("container")
        .ok_or_else(|| ApiError::bad_request("bad parameter: container cannot be empty"))?;
    let config: Option<ContainerConfig> = body::read_json(req, true).await?;
    let opts = CommitOptions {
        repo: q.get("repo").unwrap_or("").to_string(),
        tag: q.get("tag").unwrap_or("").to_string(),
        comment: q.get("comment").unwrap_or("").to_string(),
        author: q.get("author").unwrap_or("").to_string(),
        changes: q
            .all("changes")
            .into_iter()
            .filter(|c| !c.is_empty())
            .collect(),
        pause: q.bool_or("pause", true),
        config,
    };
    let id = api.backend.commit(container, opts).await?;
    Ok(json_response(StatusCode::CREATED, &IdResponse { id }))
}

/// Standard base64 with padding (for the stat header).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
        assert_eq!(base64(b"fooba"), "Zm9vYmE=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
