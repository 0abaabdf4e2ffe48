//! API errors and the one place that turns an error kind into an HTTP status.
//!
//! Handlers return [`ApiError`]; [`ApiError::into_response`] renders Docker's error body
//! `{"message":"…"}` as `application/json`. Engine errors convert through the
//! `From<EngineError>` impl in `engine.rs`, which holds the kind → status table.

use crate::body::{full, Body};
use hyper::{header, Response, StatusCode};

/// An error answered to the client: a status and Docker's message text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// 400: the request itself is wrong (bad query value, malformed JSON, …).
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// What Docker answers for any path it has no route for.
    pub fn page_not_found() -> ApiError {
        ApiError::not_found("page not found")
    }

    /// Render as Docker does: JSON body with `message`, except 304 which has no body.
    pub fn into_response(self) -> Response<Body> {
        if self.status == StatusCode::NOT_MODIFIED {
            let mut resp = Response::new(crate::body::empty());
            *resp.status_mut() = self.status;
            return resp;
        }
        let body = berth_types::docker::ErrorResponse {
            message: self.message,
        };
        let mut text = serde_json::to_vec(&body).unwrap_or_default();
        text.push(b'\n');
        let mut resp = Response::new(full(text));
        *resp.status_mut() = self.status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        resp
    }
}
