//! Request handlers, one module per API area. Each handler parses and validates its
//! query and body, calls one [`crate::backend::Backend`] method and renders the answer;
//! it never holds daemon state itself.

pub mod containers;
pub mod events;
pub mod exec;
pub mod images;
pub mod streams;
pub mod system;

use crate::body::Body;
use crate::error::ApiError;
use crate::router::Route;
use crate::server::{Api, ReqCtx};
use hyper::body::Incoming;
use hyper::{Request, Response};

/// Run the handler of `route`.
pub async fn dispatch(
    api: &Api,
    ctx: &ReqCtx,
    route: Route,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    use containers as c;
    match route {
        Route::Ping => Ok(system::ping(ctx)),
        Route::Version => Ok(system::version(api, ctx)),
        Route::Info => system::info(api, ctx).await,
        Route::Events => events::events(api, ctx).await,
        Route::SystemDf => Err(ApiError::new(
            hyper::StatusCode::NOT_IMPLEMENTED,
            "disk usage (system df) is not supported yet",
        )),

        Route::ContainerCreate => c::create(api, ctx, req).await,
        Route::ContainerList => c::list(api, ctx).await,
        Route::ContainerPrune => c::prune(api, ctx).await,
        Route::ContainerInspect(id) => c::inspect(api, ctx, id).await,
        Route::ContainerStart(id) => c::start(api, ctx, id, req).await,
        Route::ContainerStop(id) => c::stop(api, ctx, id).await,
        Route::ContainerRestart(id) => c::restart(api, ctx, id).await,
        Route::ContainerKill(id) => c::kill(api, ctx, id).await,
        Route::ContainerPause(id) => c::pause(api, id).await,
        Route::ContainerUnpause(id) => c::unpause(api, id).await,
        Route::ContainerWait(id) => c::wait(api, ctx, id).await,
        Route::ContainerRename(id) => c::rename(api, ctx, id).await,
        Route::ContainerResize(id) => c::resize(api, ctx, id).await,
        Route::ContainerUpdate(id) => c::update(api, ctx, id, req).await,
        Route::ContainerDelete(id) => c::remove(api, ctx, id).await,
        Route::ContainerLogs(id) => c::logs(api, ctx, id).await,
        Route::ContainerAttach(id) => c::attach(api, ctx, id, req).await,
        Route::ContainerTop(id) => c::top(api, ctx, id).await,
        Route::ContainerStats(_) => Err(ApiError::new(
            hyper::StatusCode::NOT_IMPLEMENTED,
            "container stats are not supported yet",
        )),
        Route::ContainerExec(id) => exec::create(api, ctx, id, req).await,

        Route::ExecStart(id) => exec::start(api, ctx, id, req).await,
        Route::ExecResize(id) => exec::resize(api, ctx, id).await,
        Route::ExecInspect(id) => exec::inspect(api, id).await,

        Route::ImageList => images::list(api, ctx).await,
        Route::ImageCreate => images::create(api, ctx, req).await,
        Route::ImageInspect(name) => images::inspect(api, ctx, name).await,
        Route::ImageHistory(_) => Err(ApiError::new(
            hyper::StatusCode::NOT_IMPLEMENTED,
            "image history is not supported yet",
        )),
        Route::ImageTag(name) => images::tag(api, ctx, name).await,
        Route::ImageDelete(name) => images::remove(api, ctx, name).await,
    }
}
