//! Reading rooms: GET /rooms/{roomId}/event/{eventId}, /messages, /state,
//! /state/{eventType}/{stateKey}, /members, /joined_members.

use actix_web::{web, HttpResponse};
use hanse_core::filters::RoomEventFilter;
use hanse_core::rooms::MessagesQuery;
use hanse_core::{Error, Homeserver};
use hanse_http::MatrixError;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{event_id, room_id};
use crate::auth::Authenticated;

pub async fn event(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, MatrixError> {
    let (room, event) = path.into_inner();
    let event = homeserver
        .room_event(&session, &room_id(&room)?, &event_id(&event)?)
        .await?;
    Ok(HttpResponse::Ok().json(event))
}

#[derive(Debug, Deserialize)]
pub enum Dir {
    #[serde(rename = "b")]
    Backward,
    #[serde(rename = "f")]
    Forward,
}

#[derive(Debug, Deserialize)]
pub struct MessagesParams {
    dir: Dir,
    from: Option<String>,
    to: Option<String>,
    limit: Option<u32>,
    filter: Option<String>,
}

/// /messages returns this many events when neither query nor filter says.
const DEFAULT_LIMIT: u32 = 10;

/// A RoomEventFilter given as JSON text in the query string, and its
/// limit.
pub fn event_filter(text: Option<&str>) -> Result<(RoomEventFilter, Option<u32>), MatrixError> {
    let filter = match text {
        Some(text) => {
            let json: Value = serde_json::from_str(text).map_err(|e| {
                Error::InvalidParam(format!("`filter` is not a room event filter: {e}"))
            })?;
            RoomEventFilter::from_json(&json)
                .map_err(|e| Error::InvalidParam(format!("`filter`: {e}")))?
        }
        None => RoomEventFilter::default(),
    };
    let limit = filter.events.limit;
    Ok((filter, limit))
}

pub async fn messages(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
    params: web::Query<MessagesParams>,
) -> Result<HttpResponse, MatrixError> {
    let params = params.into_inner();
    let (filter, filter_limit) = event_filter(params.filter.as_deref())?;
    let limit = params.limit.or(filter_limit).unwrap_or(DEFAULT_LIMIT);
    let query = MessagesQuery {
        from: params.from,
        to: params.to,
        backward: matches!(params.dir, Dir::Backward),
        limit: limit as usize,
        filter,
    };
    let page = homeserver
        .messages(&session, &room_id(&path)?, query)
        .await?;
    let mut body = json!({ "chunk": page.chunk, "start": page.start });
    if let Some(end) = page.end {
        body["end"] = json!(end);
    }
    if !page.state.is_empty() {
        body["state"] = json!(page.state);
    }
    Ok(HttpResponse::Ok().json(body))
}

pub async fn state(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, MatrixError> {
    let state = homeserver.room_state(&session, &room_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(state))
}

#[derive(Debug, Default, Deserialize)]
pub struct StateEventParams {
    format: Option<String>,
}

/// GET /rooms/{roomId}/state/{eventType}/{stateKey}: the content, or with
/// `format=event` the whole event.
pub async fn state_event(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String, String)>,
    params: web::Query<StateEventParams>,
) -> Result<HttpResponse, MatrixError> {
    let (room, event_type, state_key) = path.into_inner();
    let mut event = homeserver
        .room_state_event(&session, &room_id(&room)?, &event_type, &state_key)
        .await?;
    match params.format.as_deref() {
        None | Some("content") => Ok(HttpResponse::Ok().json(event["content"].take())),
        Some("event") => Ok(HttpResponse::Ok().json(event)),
        Some(other) => Err(Error::InvalidParam(format!("unknown format {other:?}")).into()),
    }
}

pub async fn state_event_empty_key(
    homeserver: web::Data<Homeserver>,
    session: Authenticated,
    path: web::Path<(String, String)>,
    params: web::Query<StateEventParams>,
) -> Result<HttpResponse, MatrixError> {
    let (room, event_type) = path.into_inner();
    state_event(
        homeserver,
        session,
        web::Path::from((room, event_type, String::new())),
        params,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct MembersParams {
    /// A pagination token: the members as of that point.
    at: Option<String>,
    membership: Option<String>,
    not_membership: Option<String>,
}

pub async fn members(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
    params: web::Query<MembersParams>,
) -> Result<HttpResponse, MatrixError> {
    let chunk = homeserver
        .room_members(
            &session,
            &room_id(&path)?,
            params.at.as_deref(),
            params.membership.as_deref(),
            params.not_membership.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "chunk": chunk })))
}

pub async fn joined_members(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, MatrixError> {
    let joined = homeserver
        .joined_members(&session, &room_id(&path)?)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "joined": Value::Object(joined) })))
}
