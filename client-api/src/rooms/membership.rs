//! Membership: invite, join, knock, leave, forget, kick, ban, unban.

use actix_web::{web, HttpRequest, HttpResponse};
use hanse_core::accounts::Session;
use hanse_core::rooms::MembershipChange;
use hanse_core::Homeserver;
use hanse_http::{query_values, Json, MatrixError, OptionalJson};
use hanse_protocol::identifiers::{RoomAlias, RoomId, ServerName};
use serde::Deserialize;
use serde_json::json;

use super::{room_id, user_id};
use crate::auth::Authenticated;

/// Body of invite, kick, ban and unban.
#[derive(Debug, Deserialize)]
pub struct TargetBody {
    user_id: String,
    reason: Option<String>,
}

/// Body of join, knock and leave.
#[derive(Debug, Default, Deserialize)]
pub struct ReasonBody {
    reason: Option<String>,
}

/// POST /rooms/{roomId}/{invite,kick,ban,unban}: a change to another
/// user's membership.
pub async fn change_other(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String)>,
    Json(body): Json<TargetBody>,
) -> Result<HttpResponse, MatrixError> {
    let (room, action) = path.into_inner();
    let change = match action.as_str() {
        "invite" => MembershipChange::Invite,
        "kick" => MembershipChange::Kick,
        "ban" => MembershipChange::Ban,
        "unban" => MembershipChange::Unban,
        _ => unreachable!("the route only matches these four"),
    };
    let target = user_id(&body.user_id)?;
    homeserver
        .change_membership(&session, &room_id(&room)?, &target, change, body.reason)
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// A change to the user's own membership; join and knock accept aliases.
async fn change_own(
    homeserver: &Homeserver,
    session: &Session,
    room: &str,
    change: MembershipChange,
    reason: Option<String>,
) -> Result<HttpResponse, MatrixError> {
    let room_id = match change {
        MembershipChange::Join | MembershipChange::Knock => homeserver.resolve_room(room).await?,
        _ => room_id(room)?,
    };
    homeserver
        .change_membership(session, &room_id, &session.user_id, change, reason)
        .await?;
    Ok(match change {
        MembershipChange::Leave => HttpResponse::Ok().json(json!({})),
        _ => HttpResponse::Ok().json(json!({ "room_id": room_id.as_str() })),
    })
}

/// The room a join or knock names, and the servers to go through when
/// this server is not in it: `via` (or `server_name`, which `via` replaced
/// in v1.12; clients send either) and, for another server's alias, the
/// servers its directory names.
async fn room_and_via(
    homeserver: &Homeserver,
    req: &HttpRequest,
    room: &str,
) -> Result<(RoomId, Vec<ServerName>), MatrixError> {
    let mut names = query_values(req, "via")?;
    names.extend(query_values(req, "server_name")?);
    let mut via = names
        .iter()
        .map(|name| {
            ServerName::parse(name).map_err(|e| {
                MatrixError::from(hanse_core::Error::InvalidParam(format!(
                    "{name:?} is not a server name: {e}"
                )))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let room_id = match RoomAlias::parse(room) {
        Ok(alias) if alias.server_name() != &homeserver.identity.server_name => {
            let (room_id, servers) = homeserver.remote_alias_room(&alias).await?;
            via.extend(servers);
            room_id
        }
        _ => homeserver.resolve_room(room).await?,
    };
    Ok((room_id, via))
}

/// POST /join/{roomIdOrAlias} and POST /rooms/{roomId}/join.
pub async fn join(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    req: HttpRequest,
    path: web::Path<String>,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> Result<HttpResponse, MatrixError> {
    join_or_knock(
        &homeserver,
        &session,
        &req,
        &path,
        MembershipChange::Join,
        body.reason,
    )
    .await
}

/// POST /knock/{roomIdOrAlias}.
pub async fn knock(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    req: HttpRequest,
    path: web::Path<String>,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> Result<HttpResponse, MatrixError> {
    join_or_knock(
        &homeserver,
        &session,
        &req,
        &path,
        MembershipChange::Knock,
        body.reason,
    )
    .await
}

/// A join or knock: made here when this server is in the room, otherwise
/// through another server.
async fn join_or_knock(
    homeserver: &Homeserver,
    session: &Session,
    req: &HttpRequest,
    room: &str,
    change: MembershipChange,
    reason: Option<String>,
) -> Result<HttpResponse, MatrixError> {
    let (room_id, via) = room_and_via(homeserver, req, room).await?;
    if homeserver.is_in_room(&room_id).await? {
        return change_own(homeserver, session, room_id.as_str(), change, reason).await;
    }
    if change == MembershipChange::Knock {
        homeserver
            .knock_remote(session, &room_id, &via, reason)
            .await?;
    } else {
        homeserver
            .join_remote(session, &room_id, &via, reason)
            .await?;
    }
    Ok(HttpResponse::Ok().json(json!({ "room_id": room_id.as_str() })))
}

/// POST /rooms/{roomId}/leave.
pub async fn leave(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> Result<HttpResponse, MatrixError> {
    change_own(
        &homeserver,
        &session,
        &path,
        MembershipChange::Leave,
        body.reason,
    )
    .await
}

pub async fn forget(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, MatrixError> {
    homeserver.forget_room(&session, &room_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

pub async fn joined_rooms(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
) -> Result<HttpResponse, MatrixError> {
    let rooms = homeserver.joined_rooms(&session.user_id).await?;
    Ok(HttpResponse::Ok().json(json!({ "joined_rooms": rooms })))
}
