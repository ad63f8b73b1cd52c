//! POST /rooms/{roomId}/report, /rooms/{roomId}/report/{eventId},
//! /users/{userId}/report.

use actix_web::{web, HttpResponse};
use hanse_core::Homeserver;
use hanse_http::{Json, MatrixError};
use serde::Deserialize;
use serde_json::json;

use super::{event_id, room_id, user_id};
use crate::auth::Authenticated;

#[derive(Debug, Deserialize)]
pub struct ReportBody {
    reason: String,
}

/// The event report's reason is optional in the spec.
#[derive(Debug, Default, Deserialize)]
pub struct EventReportBody {
    #[serde(default)]
    reason: String,
}

pub async fn room(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
    Json(body): Json<ReportBody>,
) -> Result<HttpResponse, MatrixError> {
    homeserver
        .report_room(&session, &room_id(&path)?, &body.reason)
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

pub async fn event(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String)>,
    Json(body): Json<EventReportBody>,
) -> Result<HttpResponse, MatrixError> {
    let (room, event) = path.into_inner();
    homeserver
        .report_event(&session, &room_id(&room)?, &event_id(&event)?, &body.reason)
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

pub async fn user(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
    Json(body): Json<ReportBody>,
) -> Result<HttpResponse, MatrixError> {
    homeserver
        .report_user(&session, &user_id(&path)?, &body.reason)
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}
