//! GET/PUT /user/{userId}/account_data/{type} and
//! /user/{userId}/rooms/{roomId}/account_data/{type}.

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
