//! GET /rooms/{roomId}/context/{eventId}, /relations/{eventId}[/{relType}
//! [/{eventType}]] (v1), /threads (v1), /timestamp_to_event (v1).

use actix_web::{web, HttpResponse};
use hanse_core::rooms::RelationsQuery;
use hanse_core::{Error, Homeserver};
use hanse_http::MatrixError;
use serde::Deserialize;
use serde_json::json;

use super::read::{event_filter, Dir};
use super::{event_id, room_id};
use crate::auth::Authenticated;

#[derive(Debug, Deserialize)]
pub struct ContextParams {
    limit: Option<usize>,
    filter: Option<String>,
}

/// /context returns this many events around the one asked for by default.
const DEFAULT_CONTEXT_LIMIT: usize = 10;

pub async fn context(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String)>,
    params: web::Query<ContextParams>,
) -> Result<HttpResponse, MatrixError> {
    let (room, event) = path.into_inner();
    let (filter, filter_limit) = event_filter(params.filter.as_deref())?;
    let limit = params
        .limit
        .or(filter_limit.map(|l| l as usize))
        .unwrap_or(DEFAULT_CONTEXT_LIMIT);
    let context = homeserver
        .context(
            &session,
            &room_id(&room)?,
            &event_id(&event)?,
            limit,
            filter,
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "start": context.start,
        "end": context.end,
        "events_before": context.events_before,
        "event": context.event,
        "events_after": context.events_after,
        "state": context.state,
    })))
}

#[derive(Debug, Deserialize)]
pub struct RelationsParams {
    from: Option<String>,
    dir: Option<Dir>,
    limit: Option<usize>,
    #[serde(default)]
    recurse: bool,
}

/// /relations and /threads return this many by default.
const DEFAULT_LIMIT: usize = 50;

/// One handler for the three path shapes: the relation type and event
/// type are optional trailing segments.
pub async fn relations(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String, String)>,
    params: web::Query<RelationsParams>,
) -> Result<HttpResponse, MatrixError> {
    let (room, event, rest) = path.into_inner();
    let mut segments = rest.split('/').filter(|s| !s.is_empty());
    let rel_type = segments.next().map(str::to_owned);
    let event_type = segments.next().map(str::to_owned);
    if segments.next().is_some() {
        return Err(Error::NotFound("unknown relations path".into()).into());
    }
    let params = params.into_inner();
    let query = RelationsQuery {
        rel_type,
        event_type,
        from: params.from,
        backward: !matches!(params.dir, Some(Dir::Forward)),
        limit: params.limit.unwrap_or(DEFAULT_LIMIT),
        recurse: params.recurse,
    };
    let page = homeserver
        .relations(&session, &room_id(&room)?, &event_id(&event)?, query)
        .await?;
    let mut body = json!({ "chunk": page.chunk });
    if let Some(next) = page.next_batch {
        body["next_batch"] = json!(next);
    }
    if let Some(depth) = page.recursion_depth {
        body["recursion_depth"] = json!(depth);
    }
    Ok(HttpResponse::Ok().json(body))
}

/// GET /relations/{eventId} without a relation type.
pub async fn relations_all(
    homeserver: web::Data<Homeserver>,
    session: Authenticated,
    path: web::Path<(String, String)>,
    params: web::Query<RelationsParams>,
) -> Result<HttpResponse, MatrixError> {
    let (room, event) = path.into_inner();
    relations(
        homeserver,
        session,
        web::Path::from((room, event, String::new())),
        params,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct ThreadsParams {
    include: Option<Include>,
    from: Option<String>,
    limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Include {
    All,
    Participated,
}

pub async fn threads(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
    params: web::Query<ThreadsParams>,
) -> Result<HttpResponse, MatrixError> {
    let params = params.into_inner();
    let (chunk, next) = homeserver
        .threads(
            &session,
            &room_id(&path)?,
            matches!(params.include, Some(Include::Participated)),
            params.from.as_deref(),
            params.limit.unwrap_or(DEFAULT_LIMIT),
        )
        .await?;
    let mut body = json!({ "chunk": chunk });
    if let Some(next) = next {
        body["next_batch"] = json!(next);
    }
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Debug, Deserialize)]
pub struct TimestampParams {
    ts: i64,
    dir: Dir,
}

pub async fn timestamp_to_event(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
    params: web::Query<TimestampParams>,
) -> Result<HttpResponse, MatrixError> {
    let (event_id, ts) = homeserver
        .timestamp_to_event(
            &session,
            &room_id(&path)?,
            params.ts,
            matches!(params.dir, Dir::Forward),
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "event_id": event_id.as_str(), "origin_server_ts": ts })))
}
