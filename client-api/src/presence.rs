//! GET/PUT /presence/{userId}/status.

use actix_web::{web, HttpResponse};
use hanse_core::presence::PresenceState;
use hanse_core::Homeserver;
use hanse_http::{Json, MatrixError};
use serde::Deserialize;
use serde_json::json;

use crate::auth::Authenticated;
use crate::rooms::user_id;

#[derive(Debug, Deserialize)]
pub struct PresenceBody {
    presence: PresenceState,
    status_msg: Option<String>,
}

pub async fn get(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, MatrixError> {
    let presence = homeserver.presence(&session, &user_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(presence))
}

pub async fn set(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
    Json(body): Json<PresenceBody>,
) -> Result<HttpResponse, MatrixError> {
    homeserver
        .set_presence(
            &session,
            &user_id(&path)?,
            body.presence,
            body.status_msg.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}
