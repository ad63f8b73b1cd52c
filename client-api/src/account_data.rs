//! GET/PUT /user/{userId}/account_data/{type},
//! /user/{userId}/rooms/{roomId}/account_data/{type}, and room tags
//! (GET /user/{userId}/rooms/{roomId}/tags, PUT/DELETE .../tags/{tag}).

use actix_web::{web, HttpResponse};
use hanse_core::Homeserver;
use hanse_http::{Json, MatrixError};
use serde_json::{json, Map, Value};

use crate::auth::Authenticated;
use crate::rooms::{room_id, user_id};

pub async fn get_global(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, MatrixError> {
    let (user, data_type) = path.into_inner();
    let content = homeserver
        .account_data(&session, &user_id(&user)?, None, &data_type)
        .await?;
    Ok(HttpResponse::Ok().json(content))
}

pub async fn set_global(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String)>,
    Json(content): Json<Map<String, Value>>,
) -> Result<HttpResponse, MatrixError> {
    let (user, data_type) = path.into_inner();
    homeserver
        .set_account_data(&session, &user_id(&user)?, None, &data_type, &content)
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

pub async fn get_in_room(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, MatrixError> {
    let (user, room, data_type) = path.into_inner();
    let content = homeserver
        .account_data(
            &session,
            &user_id(&user)?,
            Some(&room_id(&room)?),
            &data_type,
        )
        .await?;
    Ok(HttpResponse::Ok().json(content))
}

pub async fn set_in_room(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String, String)>,
    Json(content): Json<Map<String, Value>>,
) -> Result<HttpResponse, MatrixError> {
    let (user, room, data_type) = path.into_inner();
    homeserver
        .set_account_data(
            &session,
            &user_id(&user)?,
            Some(&room_id(&room)?),
            &data_type,
            &content,
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

pub async fn tags(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, MatrixError> {
    let (user, room) = path.into_inner();
    let tags = homeserver
        .room_tags(&session, &user_id(&user)?, &room_id(&room)?)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "tags": tags })))
}

pub async fn set_tag(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String, String)>,
    Json(info): Json<Map<String, Value>>,
) -> Result<HttpResponse, MatrixError> {
    let (user, room, tag) = path.into_inner();
    homeserver
        .set_room_tag(&session, &user_id(&user)?, &room_id(&room)?, &tag, info)
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

pub async fn delete_tag(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, MatrixError> {
    let (user, room, tag) = path.into_inner();
    homeserver
        .delete_room_tag(&session, &user_id(&user)?, &room_id(&room)?, &tag)
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}
