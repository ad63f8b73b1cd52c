//! Sending: PUT /rooms/{roomId}/send/{eventType}/{txnId},
//! PUT /rooms/{roomId}/state/{eventType}/{stateKey},
//! PUT /rooms/{roomId}/redact/{eventId}/{txnId}.

use actix_web::{web, HttpResponse};
use hanse_core::Homeserver;
use hanse_http::{Json, MatrixError, OptionalJson};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{content, event_id, room_id};
use crate::auth::Authenticated;

pub async fn send_message(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String, String)>,
    Json(body): Json<Map<String, Value>>,
) -> Result<HttpResponse, MatrixError> {
    let (room, event_type, txn_id) = path.into_inner();
    let event_id = homeserver
        .send_message(
            &session,
            &room_id(&room)?,
            &event_type,
            &txn_id,
            content(body)?,
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "event_id": event_id.as_str() })))
}

/// PUT /rooms/{roomId}/state/{eventType}/{stateKey}; the state key may be
/// empty, with or without the trailing slash.
pub async fn send_state(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String, String)>,
    Json(body): Json<Map<String, Value>>,
) -> Result<HttpResponse, MatrixError> {
    let (room, event_type, state_key) = path.into_inner();
    let event_id = homeserver
        .send_state(
            &session,
            &room_id(&room)?,
            &event_type,
            &state_key,
            content(body)?,
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "event_id": event_id.as_str() })))
}

pub async fn send_state_empty_key(
    homeserver: web::Data<Homeserver>,
    session: Authenticated,
    path: web::Path<(String, String)>,
    body: Json<Map<String, Value>>,
) -> Result<HttpResponse, MatrixError> {
    let (room, event_type) = path.into_inner();
    send_state(
        homeserver,
        session,
        web::Path::from((room, event_type, String::new())),
        body,
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
pub struct RedactBody {
    reason: Option<String>,
}

pub async fn redact(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String, String)>,
    OptionalJson(body): OptionalJson<RedactBody>,
) -> Result<HttpResponse, MatrixError> {
    let (room, event, txn_id) = path.into_inner();
    let event_id = homeserver
        .redact_event(
            &session,
            &room_id(&room)?,
            &event_id(&event)?,
            &txn_id,
            body.reason,
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "event_id": event_id.as_str() })))
}
