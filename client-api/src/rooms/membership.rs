//! Membership: invite, join, knock, leave, forget, kick, ban, unban.

use actix_web::{web, HttpResponse};
use hanse_core::rooms::MembershipChange;
use hanse_core::Homeserver;
use hanse_http::{Json, MatrixError, OptionalJson};
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

async fn on_target(
    homeserver: &Homeserver,
    session: &hanse_core::accounts::Session,
    room: &str,
    body: TargetBody,
    change: MembershipChange,
) -> Result<HttpResponse, MatrixError> {
    let target = user_id(&body.user_id)?;
    homeserver
        .change_membership(session, &room_id(room)?, &target, change, body.reason)
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

pub async fn invite(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
    Json(body): Json<TargetBody>,
) -> Result<HttpResponse, MatrixError> {
    on_target(&homeserver, &session, &path, body, MembershipChange::Invite).await
}

pub async fn kick(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
    Json(body): Json<TargetBody>,
) -> Result<HttpResponse, MatrixError> {
    on_target(&homeserver, &session, &path, body, MembershipChange::Kick).await
}

pub async fn ban(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
    Json(body): Json<TargetBody>,
) -> Result<HttpResponse, MatrixError> {
    on_target(&homeserver, &session, &path, body, MembershipChange::Ban).await
}

pub async fn unban(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
    Json(body): Json<TargetBody>,
) -> Result<HttpResponse, MatrixError> {
    on_target(&homeserver, &session, &path, body, MembershipChange::Unban).await
}

/// POST /join/{roomIdOrAlias} and POST /rooms/{roomId}/join.
pub async fn join(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> Result<HttpResponse, MatrixError> {
    let room_id = homeserver.resolve_room(&path).await?;
    homeserver
        .change_membership(
            &session,
            &room_id,
            &session.user_id,
            MembershipChange::Join,
            body.reason,
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "room_id": room_id.as_str() })))
}

pub async fn knock(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> Result<HttpResponse, MatrixError> {
    let room_id = homeserver.resolve_room(&path).await?;
    homeserver
        .change_membership(
            &session,
            &room_id,
            &session.user_id,
            MembershipChange::Knock,
            body.reason,
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "room_id": room_id.as_str() })))
}

pub async fn leave(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<String>,
    OptionalJson(body): OptionalJson<ReasonBody>,
) -> Result<HttpResponse, MatrixError> {
    homeserver
        .change_membership(
            &session,
            &room_id(&path)?,
            &session.user_id,
            MembershipChange::Leave,
            body.reason,
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
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
