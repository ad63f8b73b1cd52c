//! The current session: POST /logout, /logout/all, /refresh and GET
//! /account/whoami.

use actix_web::{web, HttpResponse};
use hanse_core::Homeserver;
use hanse_http::{Json, MatrixError};
use serde::Deserialize;
use serde_json::json;

use crate::auth::Authenticated;

pub async fn logout(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
) -> Result<HttpResponse, MatrixError> {
    homeserver.logout(&session).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

pub async fn logout_all(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
) -> Result<HttpResponse, MatrixError> {
    homeserver.logout_all(&session.user_id).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

pub async fn whoami(Authenticated(session): Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "user_id": session.user_id.as_str(),
        "device_id": session.device_id,
        "is_guest": session.is_guest,
    }))
}

#[derive(Debug, Deserialize)]
pub struct RefreshBody {
    refresh_token: String,
}

pub async fn refresh(
    homeserver: web::Data<Homeserver>,
    Json(body): Json<RefreshBody>,
) -> Result<HttpResponse, MatrixError> {
    let tokens = homeserver.refresh(&body.refresh_token).await?;
    Ok(HttpResponse::Ok().json(json!({
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "expires_in_ms": tokens.expires_in_ms,
    })))
}
