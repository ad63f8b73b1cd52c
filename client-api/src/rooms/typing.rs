//! PUT /rooms/{roomId}/typing/{userId}.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use hanse_core::Homeserver;
use hanse_http::{Json, MatrixError};
use serde::Deserialize;
use serde_json::json;

use super::{room_id, user_id};
use crate::auth::Authenticated;

#[derive(Debug, Deserialize)]
pub struct TypingBody {
    typing: bool,
    /// Milliseconds the notification lasts.
    timeout: Option<u64>,
}

/// How long a typing notification lasts when the client names no time.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn typing(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String)>,
    Json(body): Json<TypingBody>,
) -> Result<HttpResponse, MatrixError> {
    let (room, user) = path.into_inner();
    let timeout = body
        .typing
        .then(|| body.timeout.map_or(DEFAULT_TIMEOUT, Duration::from_millis));
    homeserver
        .set_typing(&session, &room_id(&room)?, &user_id(&user)?, timeout)
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}
