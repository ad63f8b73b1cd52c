//! Room aliases and the published room directory:
//! GET/PUT/DELETE /directory/room/{roomAlias}, GET /rooms/{roomId}/aliases,
//! GET/PUT /directory/list/room/{roomId}, GET/POST /publicRooms.

use actix_web::{web, HttpResponse};
use hanse_core::rooms::PublicRoomsQuery;
use hanse_core::{Error, Homeserver};
use hanse_http::{Json, MatrixError, OptionalJson};
use hanse_protocol::identifiers::RoomAlias;
use serde::Deserialize;
use serde_json::json;

use super::room_id;
use crate::auth::Authenticated;

fn alias(raw: &str) -> Result<RoomAlias, MatrixError> {
    RoomAlias::parse(raw)
        .map_err(|e| Error::InvalidParam(format!("invalid room alias {raw:?}: {e}")).into())
}

pub async fn get_alias(
    homeserver: web::Data<Homeserver>,
    path: web::Path<String>,
) -> Result<HttpResponse, MatrixError> {
    let room_id = homeserver.alias_room(&alias(&path)?).await?;
    Ok(HttpResponse::Ok().json(json!({
        "room_id": room_id.as_str(),
        "servers": [homeserver.identity.server_name.as_str()],
    })))
}

#[derive(Debug, Deserialize)]
pub struct AliasBody {
    room_id: String,
}

pub async fn put_alias(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
    Json(body): Json<AliasBody>,
) -> Result<HttpResponse, MatrixError> {
    homeserver
        .create_alias(&session, &alias(&path)?, &room_id(&body.room_id)?)
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

pub async fn delete_alias(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, MatrixError> {
    homeserver.delete_alias(&session, &alias(&path)?).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

pub async fn room_aliases(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, MatrixError> {
    let aliases = homeserver
        .room_aliases(&session.user_id, &room_id(&path)?)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "aliases": aliases })))
}

pub async fn get_visibility(
    homeserver: web::Data<Homeserver>,
    path: web::Path<String>,
) -> Result<HttpResponse, MatrixError> {
    let published = homeserver.room_visibility(&room_id(&path)?).await?;
    let visibility = if published { "public" } else { "private" };
    Ok(HttpResponse::Ok().json(json!({ "visibility": visibility })))
}

#[derive(Debug, Default, Deserialize)]
pub struct VisibilityBody {
    visibility: Option<Visibility>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Visibility {
    Public,
    Private,
}

pub async fn set_visibility(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
    OptionalJson(body): OptionalJson<VisibilityBody>,
) -> Result<HttpResponse, MatrixError> {
    let publish = matches!(body.visibility, Some(Visibility::Public));
    homeserver
        .set_room_visibility(&session, &room_id(&path)?, publish)
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

#[derive(Debug, Default, Deserialize)]
pub struct PublicRoomsParams {
    limit: Option<usize>,
    since: Option<String>,
    server: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PublicRoomsFilter {
    generic_search_term: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PublicRoomsBody {
    limit: Option<usize>,
    since: Option<String>,
    server: Option<String>,
    #[serde(default)]
    filter: PublicRoomsFilter,
}

async fn public_rooms(
    homeserver: &Homeserver,
    server: Option<&str>,
    query: PublicRoomsQuery,
) -> Result<HttpResponse, MatrixError> {
    if server.is_some_and(|server| server != homeserver.identity.server_name.as_str()) {
        return Err(Error::NotFound(
            "other servers' directories need federation, which this server does not do yet".into(),
        )
        .into());
    }
    let page = homeserver.public_rooms(query).await?;
    let mut body = json!({
        "chunk": page.chunk,
        "total_room_count_estimate": page.total_room_count_estimate,
    });
    if let Some(next) = page.next_batch {
        body["next_batch"] = json!(next);
    }
    if let Some(prev) = page.prev_batch {
        body["prev_batch"] = json!(prev);
    }
    Ok(HttpResponse::Ok().json(body))
}

/// GET /publicRooms: open to anyone.
pub async fn list_public_rooms(
    homeserver: web::Data<Homeserver>,
    params: web::Query<PublicRoomsParams>,
) -> Result<HttpResponse, MatrixError> {
    let params = params.into_inner();
    let query = PublicRoomsQuery {
        limit: params.limit,
        since: params.since,
        search_term: None,
    };
    public_rooms(&homeserver, params.server.as_deref(), query).await
}

/// POST /publicRooms: with a search filter; needs an account.
pub async fn search_public_rooms(
    homeserver: web::Data<Homeserver>,
    _session: Authenticated,
    params: web::Query<PublicRoomsParams>,
    OptionalJson(body): OptionalJson<PublicRoomsBody>,
) -> Result<HttpResponse, MatrixError> {
    let query = PublicRoomsQuery {
        limit: body.limit,
        since: body.since,
        search_term: body.filter.generic_search_term,
    };
    let server = params.server.as_deref().or(body.server.as_deref());
    public_rooms(&homeserver, server, query).await
}
