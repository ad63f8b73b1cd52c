//! Profiles: GET /profile/{userId}, GET/PUT/DELETE /profile/{userId}/{keyName}.

use actix_web::{web, HttpResponse};
use hanse_core::{Error, Homeserver};
use hanse_http::{Json, MatrixError};
use hanse_protocol::identifiers::UserId;
use serde_json::{json, Map, Value};

use crate::auth::Authenticated;
use crate::rooms::user_id;

pub async fn get_profile(
    homeserver: web::Data<Homeserver>,
    path: web::Path<String>,
) -> Result<HttpResponse, MatrixError> {
    let profile = homeserver.profile(&user_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(profile))
}

pub async fn get_field(
    homeserver: web::Data<Homeserver>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, MatrixError> {
    let (user, field) = path.into_inner();
    let profile = homeserver.profile(&user_id(&user)?).await?;
    let value = profile
        .get(&field)
        .ok_or_else(|| Error::NotFound(format!("{user} has no profile field {field}")))?;
    Ok(HttpResponse::Ok().json(json!({ field: value })))
}

/// Checks that the caller may change this user's profile: only their own.
fn own_profile(session_user: &UserId, user: &str) -> Result<UserId, MatrixError> {
    let target = user_id(user)?;
    if &target != session_user {
        return Err(Error::Forbidden("you may only change your own profile".into()).into());
    }
    Ok(target)
}

pub async fn set_field(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String)>,
    Json(mut body): Json<Map<String, Value>>,
) -> Result<HttpResponse, MatrixError> {
    let (user, field) = path.into_inner();
    let target = own_profile(&session.user_id, &user)?;
    let value = body
        .remove(&field)
        .ok_or_else(|| Error::MissingParam(format!("the body must hold `{field}`")))?;
    homeserver.set_profile_field(&target, &field, value).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

pub async fn delete_field(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, MatrixError> {
    let (user, field) = path.into_inner();
    let target = own_profile(&session.user_id, &user)?;
    homeserver.delete_profile_field(&target, &field).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}
