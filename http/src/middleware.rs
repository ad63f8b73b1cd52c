//! Middleware every Matrix listener runs, outermost first: request logging,
//! CORS and the body size guard around the whole app, the panic guard
//! around each endpoint (see [`crate::endpoint`]).

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, ResponseError};
use futures_util::FutureExt;

use crate::{body_limit_for, MatrixError};

/// Logs one line per request: method, path (never the query string, which
/// may carry an access token), status and duration.
pub async fn log_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let response = next.call(req).await;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    match &response {
        Ok(res) => {
            tracing::debug!(%method, %path, status = res.status().as_u16(), elapsed_ms, "request");
        }
        Err(error) => tracing::warn!(%method, %path, %error, elapsed_ms, "request failed"),
    }
    response
}

/// Lets browser clients call every endpoint: answers pre-flight OPTIONS
/// requests itself and adds the CORS headers to every response.
pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let mut response = if req.method() == Method::OPTIONS {
        req.into_response(HttpResponse::Ok().json(serde_json::json!({})))
    } else {
        next.call(req).await?.map_into_boxed_body()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, POST, PUT, DELETE, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("X-Requested-With, Content-Type, Authorization"),
    );
    Ok(response)
}

/// Refuses a body whose declared length is over the limit (the upload
/// limit on upload paths, see [`crate::UploadLimit`]) before any of it is
/// read. Bodies without a length are counted as they are read (see
/// [`crate::Json`] and the upload handlers).
pub async fn reject_oversize_bodies(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let limit = body_limit_for(req.request());
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        let response = MatrixError::too_large(limit).error_response();
        return Ok(req.into_response(response));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Turns a panic in a handler into 500 M_UNKNOWN for that one request; the
/// panic itself is logged by the panic hook the server installs.
pub async fn catch_panics(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let request = req.request().clone();
    // The call itself goes inside the guarded future: handlers may panic
    // before their future is first polled.
    let guarded = AssertUnwindSafe(async move { next.call(req).await }).catch_unwind();
    match guarded.await {
        Ok(response) => Ok(response?.map_into_boxed_body()),
        Err(_) => {
            tracing::error!(method = %request.method(), path = request.path(), "handler panicked");
            Ok(ServiceResponse::new(
                request,
                MatrixError::internal().error_response(),
            ))
        }
    }
}
