//! POST /rooms/{roomId}/upgrade.

use actix_web::{web, HttpResponse};
use hanse_core::Homeserver;
use hanse_http::{Json, MatrixError};
use serde::Deserialize;
use serde_json::json;

use super::{room_id, user_id};
use crate::auth::Authenticated;

#[derive(Debug, Deserialize)]
pub struct UpgradeBody {
    new_version: String,
    #[serde(default)]
    additional_creators: Vec<String>,
}

pub async fn upgrade(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
    Json(body): Json<UpgradeBody>,
) -> Result<HttpResponse, MatrixError> {
    let additional_creators = body
        .additional_creators
        .iter()
        .map(|user| user_id(user))
        .collect::<Result<Vec<_>, _>>()?;
    let replacement = homeserver
        .upgrade_room(
            &session,
            &room_id(&path)?,
            &body.new_version,
            additional_creators,
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "replacement_room": replacement.as_str() })))
}
