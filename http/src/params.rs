//! Query strings and path segments that do not parse become Matrix errors
//! (400 M_INVALID_PARAM naming the problem), not actix's plain-text 400s.

use actix_web::error::{PathError, QueryPayloadError};
use actix_web::{web, HttpRequest};

use crate::{ErrorCode, MatrixError};

/// actix's query and path extractor settings, with Matrix errors.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error: QueryPayloadError, _: &HttpRequest| {
        invalid(format!("invalid query parameters: {error}")).into()
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error: PathError, _: &HttpRequest| {
        invalid(format!("invalid path: {error}")).into()
    })
}

fn invalid(message: String) -> MatrixError {
    MatrixError::new(
        actix_web::http::StatusCode::BAD_REQUEST,
        ErrorCode::InvalidParam,
        message,
    )
}
