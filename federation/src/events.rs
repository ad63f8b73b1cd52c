//! What other servers read of rooms: events, state, auth chains, backfill
//! and missing events. Core decides what a server may see.

use actix_web::{web, HttpRequest, HttpResponse};
use hanse_core::Homeserver;
use hanse_http::MatrixError;
use hanse_protocol::identifiers::EventId;
use serde::Deserialize;

use crate::auth::{Origin, SignedJson};
use hanse_http::{event_id, query_values, room_id};

/// GET /_matrix/federation/v1/event/{eventId}
pub async fn get_event(
    homeserver: web::Data<Homeserver>,
    path: web::Path<String>,
    Origin(origin): Origin,
) -> Result<HttpResponse, MatrixError> {
    let answer = homeserver
        .serve_event(&origin, &event_id(&path.into_inner())?)
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

#[derive(Debug, Deserialize)]
pub struct AtEvent {
    event_id: Option<String>,
}

impl AtEvent {
    /// The required `event_id`: M_MISSING_PARAM without it.
    fn event_id(&self) -> Result<EventId, MatrixError> {
        let id = self.event_id.as_deref().ok_or_else(|| {
            MatrixError::from(hanse_core::Error::MissingParam(
                "the event_id parameter is required".into(),
            ))
        })?;
        event_id(id)
    }
}

/// GET /_matrix/federation/v1/state/{roomId}?event_id=
pub async fn get_state(
    homeserver: web::Data<Homeserver>,
    path: web::Path<String>,
    query: web::Query<AtEvent>,
    Origin(origin): Origin,
) -> Result<HttpResponse, MatrixError> {
    let answer = homeserver
        .serve_state(&origin, &room_id(&path.into_inner())?, &query.event_id()?)
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// GET /_matrix/federation/v1/state_ids/{roomId}?event_id=
pub async fn get_state_ids(
    homeserver: web::Data<Homeserver>,
    path: web::Path<String>,
    query: web::Query<AtEvent>,
    Origin(origin): Origin,
) -> Result<HttpResponse, MatrixError> {
    let answer = homeserver
        .serve_state_ids(&origin, &room_id(&path.into_inner())?, &query.event_id()?)
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// GET /_matrix/federation/v1/event_auth/{roomId}/{eventId}
pub async fn get_event_auth(
    homeserver: web::Data<Homeserver>,
    path: web::Path<(String, String)>,
    Origin(origin): Origin,
) -> Result<HttpResponse, MatrixError> {
    let (room, event) = path.into_inner();
    let answer = homeserver
        .serve_event_auth(&origin, &room_id(&room)?, &event_id(&event)?)
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

#[derive(Debug, Deserialize)]
pub struct MissingEvents {
    earliest_events: Vec<String>,
    latest_events: Vec<String>,
    #[serde(default = "default_limit")]
    limit: usize,
    #[serde(default)]
    min_depth: u64,
}

fn default_limit() -> usize {
    10
}

/// POST /_matrix/federation/v1/get_missing_events/{roomId}
pub async fn get_missing_events(
    homeserver: web::Data<Homeserver>,
    path: web::Path<String>,
    request: SignedJson<MissingEvents>,
) -> Result<HttpResponse, MatrixError> {
    let body = &request.body;
    let ids = |list: &[String]| {
        list.iter()
            .map(|id| event_id(id))
            .collect::<Result<Vec<_>, _>>()
    };
    let answer = homeserver
        .serve_missing_events(
            &request.origin,
            &room_id(&path.into_inner())?,
            &ids(&body.earliest_events)?,
            &ids(&body.latest_events)?,
            body.limit,
            body.min_depth,
        )
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// GET /_matrix/federation/v1/backfill/{roomId}?v=...&limit=
pub async fn backfill(
    homeserver: web::Data<Homeserver>,
    req: HttpRequest,
    path: web::Path<String>,
    Origin(origin): Origin,
) -> Result<HttpResponse, MatrixError> {
    let from = query_values(&req, "v")?
        .iter()
        .map(|id| event_id(id))
        .collect::<Result<Vec<_>, _>>()?;
    let limit = match query_values(&req, "limit")?.first() {
        Some(limit) => limit.parse().map_err(|_| {
            MatrixError::from(hanse_core::Error::InvalidParam(format!(
                "limit must be a positive integer, not {limit:?}"
            )))
        })?,
        None => {
            return Err(
                hanse_core::Error::MissingParam("the limit parameter is required".into()).into(),
            )
        }
    };
    let answer = homeserver
        .serve_backfill(&origin, &room_id(&path.into_inner())?, &from, limit)
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}
