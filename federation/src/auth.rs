//! Request authentication: every request another server makes carries an
//! X-Matrix Authorization header signed with one of its keys. The
//! extractors here verify it, and the operator's federation policy, before
//! a handler runs; a handler that takes one cannot be reached unsigned.

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use hanse_core::clock::now_ms;
use hanse_core::Homeserver;
use hanse_http::{parse_json, read_body, ErrorCode, MatrixError};
use hanse_protocol::canonical_json::CanonicalJsonValue;
use hanse_protocol::identifiers::ServerName;
use hanse_protocol::x_matrix::XMatrix;
use serde::de::DeserializeOwned;

/// A request without a body, signed by `origin`.
#[derive(Debug)]
pub struct Origin(pub ServerName);

/// A request with a JSON body of type `T`, signed by `origin` together
/// with the body.
#[derive(Debug)]
pub struct SignedJson<T> {
    pub origin: ServerName,
    pub body: T,
}

impl FromRequest for Origin {
    type Error = MatrixError;
    type Future = LocalBoxFuture<'static, Result<Self, MatrixError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req, None).await.map(Origin) })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for SignedJson<T> {
    type Error = MatrixError;
    type Future = LocalBoxFuture<'static, Result<Self, MatrixError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = read_body(&req, payload);
        Box::pin(async move {
            let body = body.await?;
            // The signature covers the body as canonical JSON; a body that
            // has none (floats, huge integers) cannot have been signed.
            let content: CanonicalJsonValue = std::str::from_utf8(&body)
                .map_err(MatrixError::not_json)?
                .parse()
                .map_err(|e| {
                    MatrixError::bad_json(format!("the body is not canonical JSON: {e}"))
                })?;
            let origin = authenticate(&req, Some(&content)).await?;
            let body = parse_json(&body)?;
            Ok(SignedJson { origin, body })
        })
    }
}

fn unauthorized(why: impl Into<String>) -> MatrixError {
    MatrixError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, why)
}

/// Checks the request's X-Matrix signature over method, URI, destination
/// and `content`, then the policy; returns the origin.
async fn authenticate(
    req: &HttpRequest,
    content: Option<&CanonicalJsonValue>,
) -> Result<ServerName, MatrixError> {
    let homeserver = req
        .app_data::<web::Data<Homeserver>>()
        .expect("the homeserver is registered with the app")
        .clone();
    let headers: Vec<&str> = req
        .headers()
        .get_all(actix_web::http::header::AUTHORIZATION)
        .filter_map(|value| value.to_str().ok())
        .collect();
    if headers.is_empty() {
        return Err(unauthorized(
            "this endpoint needs an X-Matrix Authorization header",
        ));
    }
    let uri = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.path(), |p| p.as_str());
    let this_server = homeserver.identity.server_name.as_str();
    let mut last_error = String::new();
    // Several headers are allowed, one per key; the first that verifies
    // decides.
    for header in headers {
        let x_matrix = match XMatrix::parse(header) {
            Ok(parsed) => parsed,
            Err(error) => {
                last_error = format!("the Authorization header is not valid X-Matrix: {error}");
                continue;
            }
        };
        let origin = x_matrix.origin.clone();
        // Refusing needs no proof of who asks: a server outside the policy
        // is turned away before anything is fetched from it.
        if !homeserver
            .settings
            .federation
            .policy
            .allows(origin.as_str())
        {
            tracing::warn!(%origin, path = req.path(), "refused by the federation policy");
            return Err(MatrixError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                format!("this server does not federate with {origin}"),
            ));
        }
        let key = homeserver
            .server_key(&origin, &x_matrix.key, now_ms())
            .await
            .map_err(MatrixError::from)?;
        let Some(key) = key else {
            last_error = format!("no valid key {} of {origin} could be found", x_matrix.key);
            continue;
        };
        match x_matrix.verify(req.method().as_str(), uri, this_server, content, &key) {
            Ok(()) => return Ok(origin),
            Err(error) => last_error = format!("the request signature does not verify: {error}"),
        }
    }
    tracing::info!(path = req.path(), reason = %last_error, "unauthenticated federation request");
    Err(unauthorized(last_error))
}
