//! Access tokens on requests: `Authorization: Bearer <token>`, or the
//! deprecated `access_token` query parameter some clients still send.

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use hanse_core::accounts::Session;
use hanse_core::Homeserver;
use hanse_http::{ErrorCode, MatrixError};

/// The session of an authenticated request. Extracting it fails with
/// M_MISSING_TOKEN or M_UNKNOWN_TOKEN as the spec says.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Session);

/// The address the request came from (the peer's: a reverse proxy's
/// forwarding headers are not trusted).
pub(crate) fn client_address(req: &HttpRequest) -> Option<String> {
    req.peer_addr().map(|addr| addr.ip().to_string())
}

impl FromRequest for Authenticated {
    type Error = MatrixError;
    type Future = LocalBoxFuture<'static, Result<Self, MatrixError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = access_token(req);
        let homeserver = req.app_data::<web::Data<Homeserver>>().cloned();
        let ip = client_address(req);
        Box::pin(async move {
            let token = token.ok_or_else(|| {
                MatrixError::new(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::MissingToken,
                    "Missing access token",
                )
            })?;
            let homeserver = homeserver.ok_or_else(MatrixError::internal)?;
            let session = homeserver.authenticate(&token, ip.as_deref()).await?;
            Ok(Self(session))
        })
    }
}

fn access_token(req: &HttpRequest) -> Option<String> {
    if let Some(header) = req.headers().get(AUTHORIZATION) {
        return header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(|token| token.trim().to_owned());
    }
    web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|query| query.get("access_token").cloned())
}
