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
    #[error("the server's answer has an unexpected shape: {0}")]
    Shape(#[from] serde_json::Error),
    #[error("the server answered {status} {}: {}", body.errcode, body.error)]
    Matrix { status: u16, body: MatrixErrorBody },
    #[error("the server answered {status} without a Matrix error body")]
    Unexpected { status: u16 },
}

impl Error {
    /// The Matrix errcode, if the server answered with one.
    pub fn errcode(&self) -> Option<&str> {
        match self {
            Error::Matrix { body, .. } => Some(&body.errcode),
            _ => None,
        }
    }
}
