//! Pushers and the notifications they are sent: GET /pushers, POST
//! /pushers/set, GET /notifications.

use actix_web::{web, HttpResponse};
use hanse_core::push::NotificationsQuery;
use hanse_core::Homeserver;
use hanse_http::{Json, MatrixError};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::auth::Authenticated;

pub async fn list(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
) -> Result<HttpResponse, MatrixError> {
    Ok(HttpResponse::Ok().json(homeserver.pushers(&session).await?))
}

pub async fn set(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    Json(body): Json<Map<String, Value>>,
) -> Result<HttpResponse, MatrixError> {
    homeserver.set_pusher(&session, &body).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

#[derive(Debug, Deserialize)]
pub struct NotificationsParams {
    from: Option<String>,
    limit: Option<usize>,
    only: Option<String>,
}

pub async fn notifications(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    params: web::Query<NotificationsParams>,
) -> Result<HttpResponse, MatrixError> {
    let params = params.into_inner();
    let query = NotificationsQuery {
        from: params.from,
        limit: params.limit,
        only_highlights: params.only.as_deref() == Some("highlight"),
    };
    Ok(HttpResponse::Ok().json(homeserver.notifications(&session, query).await?))
}
