//! POST /rooms/{roomId}/receipt/{receiptType}/{eventId} and
//! POST /rooms/{roomId}/read_markers.

use actix_web::{web, HttpResponse};
use hanse_core::Homeserver;
use hanse_http::{Json, MatrixError};
use serde::Deserialize;
use serde_json::json;

use super::{event_id, room_id};
use crate::auth::Authenticated;

#[derive(Debug, Default, Deserialize)]
pub struct ReceiptBody {
    thread_id: Option<String>,
}

pub async fn receipt(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String, String)>,
    Json(body): Json<ReceiptBody>,
) -> Result<HttpResponse, MatrixError> {
    let (room, receipt_type, event) = path.into_inner();
    homeserver
        .send_receipt(
            &session,
            &room_id(&room)?,
            &receipt_type,
            &event_id(&event)?,
            body.thread_id.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

#[derive(Debug, Deserialize)]
pub struct ReadMarkersBody {
    #[serde(rename = "m.fully_read")]
    fully_read: Option<String>,
    #[serde(rename = "m.read")]
    read: Option<String>,
    #[serde(rename = "m.read.private")]
    read_private: Option<String>,
}

/// The read marker and the unthreaded receipts in one request.
pub async fn read_markers(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
    Json(body): Json<ReadMarkersBody>,
) -> Result<HttpResponse, MatrixError> {
    let room = room_id(&path)?;
    // Every ID is checked before anything is recorded.
    let mut markers = Vec::new();
    for (receipt_type, event) in [
        ("m.fully_read", &body.fully_read),
        ("m.read", &body.read),
        ("m.read.private", &body.read_private),
    ] {
        if let Some(event) = event {
            markers.push((receipt_type, event_id(event)?));
        }
    }
    for (receipt_type, event) in markers {
        homeserver
            .send_receipt(&session, &room, receipt_type, &event, None)
            .await?;
    }
    Ok(HttpResponse::Ok().json(json!({})))
}
