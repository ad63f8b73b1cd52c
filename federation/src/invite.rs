//! PUT /_matrix/federation/v2/invite/{roomId}/{eventId}: another server
//! invites a user of this one and asks this server to countersign.

use actix_web::{web, HttpResponse};
use hanse_core::federation::invite::InviteRequest;
use hanse_core::Homeserver;
use hanse_http::{event_id, room_id, MatrixError};

use crate::auth::SignedJson;

pub async fn invite(
    homeserver: web::Data<Homeserver>,
    path: web::Path<(String, String)>,
    request: SignedJson<InviteRequest>,
) -> Result<HttpResponse, MatrixError> {
    let (room, event) = path.into_inner();
    let answer = homeserver
        .receive_invite(
            &request.origin,
            &room_id(&room)?,
            &event_id(&event)?,
            request.body,
        )
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}
