//! The port through which core talks to other servers. Core builds the
//! requests of the server-server API and reads their answers; how a request
//! reaches a server (discovery, TLS, X-Matrix signing) is the federation
//! crate's business, which implements [`Remote`].

use std::fmt;

use futures_util::future::BoxFuture;
use hanse_protocol::identifiers::ServerName;

/// The HTTP methods the server-server API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteMethod {
    Get,
    Put,
    Post,
}

/// One request to another server.
#[derive(Debug, Clone)]
pub struct RemoteRequest {
    pub method: RemoteMethod,
    /// Path and query, already percent-encoded, e.g.
    /// `/_matrix/federation/v1/event/%24abc`.
    pub path: String,
    /// The JSON body; signed together with the request.
    pub body: Option<serde_json::Value>,
}

impl RemoteRequest {
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: RemoteMethod::Get,
            path: path.into(),
            body: None,
        }
    }

    pub fn put(path: impl Into<String>, body: serde_json::Value) -> Self {
        Self {
            method: RemoteMethod::Put,
            path: path.into(),
            body: Some(body),
        }
    }

    pub fn post(path: impl Into<String>, body: serde_json::Value) -> Self {
        Self {
            method: RemoteMethod::Post,
            path: path.into(),
            body: Some(body),
        }
    }
}

/// Why a request to another server brought no usable answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RemoteError {
    /// The server could not be found or reached: discovery, connection,
    /// TLS or a timeout. Worth retrying later.
    #[error("{server} could not be reached: {reason}")]
    Unreachable { server: String, reason: String },
    /// The server answered with a Matrix error.
    #[error("{server} answered {status} {errcode}: {message}")]
    Matrix {
        server: String,
        status: u16,
        errcode: String,
        message: String,
    },
    /// The server answered, but not with what the API defines (a status
    /// without a Matrix error, a body that is not JSON, too large).
    #[error("{server} gave an invalid answer: {reason}")]
    InvalidResponse { server: String, reason: String },
    /// This server could not sign or send the request as built: a body
    /// that is not canonical JSON (a float, an integer past 2^53), a path
    /// that makes no URL. A bug on this side; retrying cannot help.
    #[error("the request to {server} cannot be sent: {reason}")]
    InvalidRequest { server: String, reason: String },
    /// This server does not federate (`federation.enabled = false`), or
    /// not with that server (the federation policy).
    #[error("federation with {server} is not allowed here")]
    NotAllowed { server: String },
}

/// Signed JSON requests to other servers.
pub trait Remote: Send + Sync + fmt::Debug + 'static {
    /// Sends `request` to `destination` and returns the JSON answer of a
    /// 2xx response.
    fn request<'a>(
        &'a self,
        destination: &'a ServerName,
        request: RemoteRequest,
    ) -> BoxFuture<'a, Result<serde_json::Value, RemoteError>>;
}

/// The [`Remote`] of a server that does not federate.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFederation;

impl Remote for NoFederation {
    fn request<'a>(
        &'a self,
        destination: &'a ServerName,
        _request: RemoteRequest,
    ) -> BoxFuture<'a, Result<serde_json::Value, RemoteError>> {
        Box::pin(async move {
            Err(RemoteError::NotAllowed {
                server: destination.as_str().to_owned(),
            })
        })
    }
}
