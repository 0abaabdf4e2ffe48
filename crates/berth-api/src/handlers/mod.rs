//! Request handlers, one module per API area. Each handler parses and validates its
//! query and body, calls one engine method and renders the answer; it never holds
//! daemon state itself.

pub mod system;

use crate::body::Body;
use crate::error::ApiError;
use crate::router::Route;
use crate::server::{Api, ReqCtx};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

/// Run the handler of `route`.
pub async fn dispatch(
    api: &Api,
    ctx: &ReqCtx,
    route: Route,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let _ = req;
    match route {
        Route::Ping => Ok(system::ping(ctx)),
        Route::Version => Ok(system::version(api, ctx)),
        Route::Info => Ok(system::info(api, ctx)),
        other => Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!("{other:?} is not supported yet"),
        )),
    }
}
