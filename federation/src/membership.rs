//! Joins, leaves and knocks through this server: GET make_{join,leave,
//! knock} and PUT v2 send_{join,leave} / v1 send_knock.

use actix_web::{web, HttpRequest, HttpResponse};
use hanse_core::federation::resident::RemoteMembership;
use hanse_core::Homeserver;
use hanse_http::{event_id, query_values, room_id, user_id, MatrixError};

use crate::auth::{Origin, SignedJson};

/// GET /_matrix/federation/v1/make_{membership}/{roomId}/{userId}
pub async fn make_membership(
    homeserver: web::Data<Homeserver>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    membership: web::Data<RemoteMembership>,
    Origin(origin): Origin,
) -> Result<HttpResponse, MatrixError> {
    let (room, user) = path.into_inner();
    let versions = match **membership {
        RemoteMembership::Leave => None,
        RemoteMembership::Join | RemoteMembership::Knock => Some(query_values(&req, "ver")?),
    };
    let answer = homeserver
        .make_membership(
            &origin,
            &room_id(&room)?,
            &user_id(&user)?,
            **membership,
            versions.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// PUT /_matrix/federation/v{1,2}/send_{membership}/{roomId}/{eventId}
pub async fn send_membership(
    homeserver: web::Data<Homeserver>,
    path: web::Path<(String, String)>,
    membership: web::Data<RemoteMembership>,
    request: SignedJson<serde_json::Value>,
) -> Result<HttpResponse, MatrixError> {
    let (room, event) = path.into_inner();
    let answer = homeserver
        .send_membership(
            &request.origin,
            &room_id(&room)?,
            &event_id(&event)?,
            **membership,
            request.body,
        )
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}
