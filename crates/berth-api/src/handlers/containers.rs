//! Container routes: create, list, inspect, lifecycle actions, wait, logs, attach,
//! top, update, rename, resize, remove, prune.

use crate::backend::{
    AttachOptions, ListOptions, LogsOptions, RemoveOptions, StopOptions, Timestamp, WaitCondition,
};
use crate::body::{self, json_ok, json_response, mux_frame, status_only, Body};
use crate::compat;
use crate::error::ApiError;
use crate::handlers::streams;
use crate::server::{Api, ReqCtx};
use berth_types::docker::{ContainerWaitResponse, CreateRequest, UpdateRequest, WaitExitError};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{header, Request, Response, StatusCode};

/// `POST /containers/create?name=&platform=`.
pub async fn create(
    api: &Api,
    ctx: &ReqCtx,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let name = ctx.query.str("name");
    let platform = ctx.query.str("platform");
    let body: Option<CreateRequest> = body::read_json(req, true).await?;
    let Some(mut body) = body else {
        return Err(ApiError::bad_request(
            "config cannot be empty in order to create a container",
        ));
    };
    compat::create_request(ctx.version, &mut body);
    let created = api.backend.container_create(name, platform, body).await?;
    Ok(json_response(StatusCode::CREATED, &created))
}

/// `GET /containers/json?all=&limit=&size=&filters=`.
pub async fn list(api: &Api, ctx: &ReqCtx) -> Result<Response<Body>, ApiError> {
    let q = &ctx.query;
    let limit = q.int("limit")?.filter(|n| *n > 0).map(|n| n as usize);
    let opts = ListOptions {
        all: q.bool("all"),
        limit,
        size: q.bool("size"),
        filters: q.filters()?,
    };
    let list = api.backend.container_list(opts).await?;
    Ok(json_ok(&list))
}

/// `GET /containers/{id}/json?size=`.
pub async fn inspect(api: &Api, ctx: &ReqCtx, id: String) -> Result<Response<Body>, ApiError> {
    let mut c = api
        .backend
        .container_inspect(id, ctx.query.bool("size"))
        .await?;
    compat::container_inspect(ctx.version, &mut c);
    Ok(json_ok(&c))
}

/// `POST /containers/{id}/start`. Since 1.24 a start body carrying a host config is
/// refused, as Docker does.
pub async fn start(
    api: &Api,
    _ctx: &ReqCtx,
    id: String,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let raw = body::read_all(req.into_body(), 1 << 20).await?;
    let text = String::from_utf8_lossy(&raw);
    if !matches!(text.trim(), "" | "{}" | "null") {
        return Err(ApiError::bad_request(
            "starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24",
        ));
    }
    api.backend.container_start(id).await?;
    Ok(status_only(StatusCode::NO_CONTENT))
}

fn stop_options(ctx: &ReqCtx) -> Result<StopOptions, ApiError> {
    let signal = if compat::stop_signal_supported(ctx.version) {
        ctx.query.str("signal")
    } else {
        None
    };
    Ok(StopOptions {
        timeout: ctx.query.int("t")?,
        signal,
    })
}

/// `POST /containers/{id}/stop?t=&signal=`.
pub async fn stop(api: &Api, ctx: &ReqCtx, id: String) -> Result<Response<Body>, ApiError> {
    api.backend.container_stop(id, stop_options(ctx)?).await?;
    Ok(status_only(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/restart?t=&signal=`.
pub async fn restart(api: &Api, ctx: &ReqCtx, id: String) -> Result<Response<Body>, ApiError> {
    api.backend
        .container_restart(id, stop_options(ctx)?)
        .await?;
    Ok(status_only(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/kill?signal=`.
pub async fn kill(api: &Api, ctx: &ReqCtx, id: String) -> Result<Response<Body>, ApiError> {
    api.backend
        .container_kill(id, ctx.query.str("signal"))
        .await?;
    Ok(status_only(StatusCode::NO_CONTENT))
}

pub async fn pause(api: &Api, id: String) -> Result<Response<Body>, ApiError> {
    api.backend.container_pause(id).await?;
    Ok(status_only(StatusCode::NO_CONTENT))
}

pub async fn unpause(api: &Api, id: String) -> Result<Response<Body>, ApiError> {
    api.backend.container_unpause(id).await?;
    Ok(status_only(StatusCode::NO_CONTENT))
}

/// Parse `condition=`. Unknown values are a 400 from API 1.30 on.
pub fn wait_condition(ctx: &ReqCtx) -> Result<WaitCondition, ApiError> {
    match ctx.query.get("condition").unwrap_or("") {
        "" | "not-running" => Ok(WaitCondition::NotRunning),
        "next-exit" => Ok(WaitCondition::NextExit),
        "removed" => Ok(WaitCondition::Removed),
        other if compat::wait_condition_is_strict(ctx.version) => Err(ApiError::bad_request(
            format!("invalid condition: \"{other}\""),
        )),
        _ => Ok(WaitCondition::NotRunning),
    }
}

/// `POST /containers/{id}/wait?condition=`. The waiter is registered before the
/// headers go out (clients start the container once they have them); the JSON body
/// follows when the condition is met.
pub async fn wait(api: &Api, ctx: &ReqCtx, id: String) -> Result<Response<Body>, ApiError> {
    let condition = wait_condition(ctx)?;
    let waiting = api.backend.container_wait(id, condition).await?;
    let (tx, body) = body::channel(1);
    tokio::spawn(async move {
        let reply = match waiting.await {
            Ok(r) => r,
            Err(e) => ContainerWaitResponse {
                status_code: -1,
                error: Some(WaitExitError { message: e.message }),
            },
        };
        let mut text = serde_json::to_vec(&reply).unwrap_or_default();
        text.push(b'\n');
        let _ = tx.send(Bytes::from(text)).await;
    });
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// `POST /containers/{id}/rename?name=`.
pub async fn rename(api: &Api, ctx: &ReqCtx, id: String) -> Result<Response<Body>, ApiError> {
    let name = ctx.query.get("name").unwrap_or("").to_string();
    api.backend.container_rename(id, name).await?;
    Ok(status_only(StatusCode::NO_CONTENT))
}

/// Height and width of a resize request.
pub fn resize_dims(ctx: &ReqCtx) -> Result<(u16, u16), ApiError> {
    let dim = |k: &str| -> Result<u16, ApiError> {
        let v = ctx.query.get(k).unwrap_or("");
        v.trim().parse::<u16>().map_err(|_| {
            ApiError::bad_request(format!("strconv.Atoi: parsing \"{v}\": invalid syntax"))
        })
    };
    Ok((dim("h")?, dim("w")?))
}

/// `POST /containers/{id}/resize?h=&w=`.
pub async fn resize(api: &Api, ctx: &ReqCtx, id: String) -> Result<Response<Body>, ApiError> {
    let (h, w) = resize_dims(ctx)?;
    api.backend.container_resize(id, h, w).await?;
    Ok(status_only(StatusCode::OK))
}

/// `POST /containers/{id}/update`.
pub async fn update(
    api: &Api,
    _ctx: &ReqCtx,
    id: String,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let body: UpdateRequest = body::read_json(req, true).await?;
    let reply = api.backend.container_update(id, body).await?;
    Ok(json_ok(&reply))
}

/// `DELETE /containers/{id}?force=&v=&link=`.
pub async fn remove(api: &Api, ctx: &ReqCtx, id: String) -> Result<Response<Body>, ApiError> {
    let opts = RemoveOptions {
        force: ctx.query.bool("force"),
        volumes: ctx.query.bool("v"),
        link: ctx.query.bool("link"),
    };
    api.backend.container_remove(id, opts).await?;
    Ok(status_only(StatusCode::NO_CONTENT))
}

/// `GET /containers/{id}/top?ps_args=`.
pub async fn top(api: &Api, ctx: &ReqCtx, id: String) -> Result<Response<Body>, ApiError> {
    let reply = api
        .backend
        .container_top(id, ctx.query.str("ps_args"))
        .await?;
    Ok(json_ok(&reply))
}

/// `GET /containers/{id}/stats?stream=&one-shot=`: one JSON sample, or a stream of
/// them (one per line) until the client leaves or the container stops.
pub async fn stats(api: &Api, ctx: &ReqCtx, id: String) -> Result<Response<Body>, ApiError> {
    let stream = ctx.query.bool_or("stream", true);
    let one_shot = ctx.query.bool("one-shot");
    let mut rx = api.backend.container_stats(id, stream, one_shot).await?;
    if !stream {
        let sample = rx
            .recv()
            .await
            .ok_or_else(|| ApiError::internal("no stats sample"))?;
        return Ok(json_ok(&sample));
    }
    let (tx, body) = body::channel(4);
    tokio::spawn(async move {
        while let Some(sample) = tokio::select! {
            s = rx.recv() => s,
            _ = tx.closed() => None,
        } {
            let mut line = serde_json::to_vec(&sample).unwrap_or_default();
            line.push(b'\n');
            if tx.send(Bytes::from(line)).await.is_err() {
                return;
            }
        }
    });
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// `GET /containers/{id}/changes`.
pub async fn changes(api: &Api, id: String) -> Result<Response<Body>, ApiError> {
    Ok(json_ok(&api.backend.container_changes(id).await?))
}

/// `POST /containers/prune?filters=`.
pub async fn prune(api: &Api, ctx: &ReqCtx) -> Result<Response<Body>, ApiError> {
    let reply = api.backend.container_prune(ctx.query.filters()?).await?;
    Ok(json_ok(&reply))
}

/// Docker's `since`/`until` values: unix seconds with an optional fraction
/// (`1700000000.123456789`), or an RFC 3339 time. `0` and empty mean "not set".
pub fn parse_timestamp(key: &str, value: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let bad = || ApiError::bad_request(format!("invalid value for {key}: {v:?}"));
    if v.contains('T') {
        let t = berth_types::time::parse_rfc3339(v).ok_or_else(bad)?;
        let n = berth_types::time::unix_nanos(t);
        return Ok(Some(Timestamp {
            secs: n.div_euclid(1_000_000_000) as i64,
            nanos: n.rem_euclid(1_000_000_000) as u32,
        }));
    }
    let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().map_err(|_| bad())?
    };
    if secs == 0 && nanos == 0 {
        return Ok(None);
    }
    Ok(Some(Timestamp { secs, nanos }))
}

/// `GET /containers/{id}/logs`: a chunked stream, multiplexed unless the container has
/// a tty.
pub async fn logs(api: &Api, ctx: &ReqCtx, id: String) -> Result<Response<Body>, ApiError> {
    let q = &ctx.query;
    let opts = LogsOptions {
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
        follow: q.bool("follow"),
        since: parse_timestamp("since", q.get("since"))?,
        until: parse_timestamp("until", q.get("until"))?,
        tail: match q.get("tail").map(str::trim) {
            None | Some("") | Some("all") => None,
            Some(n) => match n.parse::<i64>() {
                Ok(n) if n >= 0 => Some(n as usize),
                // Docker reads a negative tail as "all".
                Ok(_) => None,
                Err(_) => return Err(ApiError::bad_request(format!("invalid tail value: {n:?}"))),
            },
        },
        timestamps: q.bool("timestamps"),
        details: q.bool("details"),
    };
    if !opts.stdout && !opts.stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let mut stream = api.backend.container_logs(id, opts).await?;
    let tty = stream.tty;
    // Few messages in flight: the engine sends 1 MiB batches.
    let (tx, body) = body::channel(2);
    tokio::spawn(async move {
        // Also stop when the client leaves while the log is quiet (`logs -f`).
        while let Some(chunk) = tokio::select! {
            c = stream.chunks.recv() => c,
            _ = tx.closed() => None,
        } {
            let data = if tty || chunk.framed {
                chunk.data
            } else {
                mux_frame(chunk.stream, &chunk.data)
            };
            if tx.send(data).await.is_err() {
                return; // client gone
            }
        }
    });
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(compat::stream_content_type(ctx.version, tty)),
    );
    Ok(resp)
}

/// `POST /containers/{id}/attach?stream=&logs=&stdin=&stdout=&stderr=&detachKeys=`.
pub async fn attach(
    api: &Api,
    ctx: &ReqCtx,
    id: String,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let q = &ctx.query;
    let keys = q.get("detachKeys").unwrap_or("").to_string();
    // Validate before taking the connection over.
    crate::hijack::parse_detach_keys(&keys)?;
    let opts = AttachOptions {
        stream: q.bool("stream"),
        logs: q.bool("logs"),
        stdin: q.bool("stdin"),
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
    };
    let mut io = api.backend.container_attach(id, opts).await?;
    if io.detach_keys.is_none() {
        io.detach_keys = Some(keys);
    }
    streams::hijack(ctx, streams::Upgrade::take(&mut req), io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_docker_forms() {
        let t = |v: &str| parse_timestamp("since", Some(v));
        assert_eq!(t("").unwrap(), None);
        assert_eq!(t("0").unwrap(), None);
        assert_eq!(
            t("1700000000").unwrap(),
            Some(Timestamp {
                secs: 1_700_000_000,
                nanos: 0
            })
        );
        assert_eq!(
            t("1700000000.5").unwrap(),
            Some(Timestamp {
                secs: 1_700_000_000,
                nanos: 500_000_000
            })
        );
        assert_eq!(
            t("1700000000.000000001").unwrap().unwrap().as_nanos(),
            1_700_000_000_000_000_001
        );
        assert_eq!(
            t("2023-11-14T22:13:20Z").unwrap().unwrap().secs,
            1_700_000_000
        );
        assert!(t("yesterday").is_err());
        assert!(t("1.1234567890").is_err());
    }
}
