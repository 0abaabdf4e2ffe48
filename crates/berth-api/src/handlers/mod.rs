//! Request handlers, one module per API area. Each handler parses and validates its
//! query and body, calls one [`crate::backend::Backend`] method and renders the answer;
//! it never holds daemon state itself.

pub mod build;
pub mod containers;
pub mod events;
pub mod exec;
pub mod files;
pub mod images;
pub mod networks;
pub mod streams;
pub mod system;
pub mod volumes;

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
        Route::SystemDf => system::disk_usage(api).await,

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
        Route::ContainerStats(id) => c::stats(api, ctx, id).await,
        Route::ContainerExport(id) => files::export(api, id).await,
        Route::ArchiveStat(id) => files::archive_stat(api, ctx, id).await,
        Route::ArchiveGet(id) => files::archive_get(api, ctx, id).await,
        Route::ArchivePut(id) => files::archive_put(api, ctx, id, req).await,
        Route::Commit => files::commit(api, ctx, req).await,
        Route::ContainerChanges(id) => c::changes(api, id).await,
        Route::ContainerExec(id) => exec::create(api, ctx, id, req).await,

        Route::ExecStart(id) => exec::start(api, ctx, id, req).await,
        Route::ExecResize(id) => exec::resize(api, ctx, id).await,
        Route::ExecInspect(id) => exec::inspect(api, id).await,

        Route::ImageList => images::list(api, ctx).await,
        Route::ImageCreate => images::create(api, ctx, req).await,
        Route::ImageInspect(name) => images::inspect(api, ctx, name).await,
        Route::ImageHistory(name) => images::history(api, name).await,
        Route::ImageTag(name) => images::tag(api, ctx, name).await,
        Route::ImageDelete(name) => images::remove(api, ctx, name).await,
        Route::ImageSave(name) => images::save(api, ctx, name).await,
        Route::ImageLoad => images::load(api, ctx, req).await,
        Route::ImagePrune => images::prune(api, ctx).await,
        Route::ImagePush(name) => images::push(api, ctx, name, req).await,
        Route::Auth => images::login(api, req).await,
        Route::Build => build::build(api, ctx, req).await,
        Route::VolumeList => volumes::list(api, ctx).await,
        Route::VolumeCreate => volumes::create(api, req).await,
        Route::VolumePrune => volumes::prune(api, ctx).await,
        Route::VolumeInspect(name) => volumes::inspect(api, name).await,
        Route::VolumeDelete(name) => volumes::remove(api, ctx, name).await,
        Route::NetworkList => networks::list(api, ctx).await,
        Route::NetworkCreate => networks::create(api, req).await,
        Route::NetworkPrune => networks::prune(api, ctx).await,
        Route::NetworkInspect(id) => networks::inspect(api, ctx, id).await,
        Route::NetworkDelete(id) => networks::remove(api, id).await,
        Route::NetworkConnect(id) => networks::connect(api, id, req).await,
        Route::NetworkDisconnect(id) => networks::disconnect(api, id, req).await,
        Route::Unsupported(area) => Err(ApiError::new(
            hyper::StatusCode::NOT_IMPLEMENTED,
            format!("{area} not supported yet by Berth"),
        )),
    }
}
