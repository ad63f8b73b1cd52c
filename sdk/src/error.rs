//! Errors a client sees.

use serde::Deserialize;

/// The body of a Matrix error response.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MatrixErrorBody {
    pub errcode: String,
    #[serde(default)]
    pub error: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the server answered {status} {}: {}", body.errcode, body.error)]
    Matrix { status: u16, body: MatrixErrorBody },
    #[error("the server answered {status} without a Matrix error body")]
    Unexpected { status: u16 },
}
