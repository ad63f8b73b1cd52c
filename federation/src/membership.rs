//! Joins through this server: GET make_join and PUT v2 send_join.

use actix_web::{web, HttpRequest, HttpResponse};
use hanse_core::Homeserver;
use hanse_http::MatrixError;

use crate::auth::{Origin, SignedJson};
use hanse_http::{event_id, query_values, room_id, user_id};

/// GET /_matrix/federation/v1/make_join/{roomId}/{userId}?ver=...
pub async fn make_join(
    homeserver: web::Data<Homeserver>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    Origin(origin): Origin,
) -> Result<HttpResponse, MatrixError> {
    let (room, user) = path.into_inner();
    let versions = query_values(&req, "ver")?;
    let answer = homeserver
        .make_join(&origin, &room_id(&room)?, &user_id(&user)?, &versions)
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

/// PUT /_matrix/federation/v2/send_join/{roomId}/{eventId}
pub async fn send_join(
    homeserver: web::Data<Homeserver>,
    path: web::Path<(String, String)>,
    request: SignedJson<serde_json::Value>,
) -> Result<HttpResponse, MatrixError> {
    let (room, event) = path.into_inner();
    let answer = homeserver
        .send_join(
            &request.origin,
            &room_id(&room)?,
            &event_id(&event)?,
            request.body,
        )
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}
