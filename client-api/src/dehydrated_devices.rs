//! Dehydrated devices (MSC3814), under its unstable prefix as Synapse and
//! the Rust SDK use it.

use actix_web::{web, HttpResponse};
use hanse_core::Homeserver;
use hanse_http::{Json, MatrixError};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::auth::Authenticated;

pub async fn put(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    Json(body): Json<Map<String, Value>>,
) -> Result<HttpResponse, MatrixError> {
    Ok(HttpResponse::Ok().json(homeserver.put_dehydrated_device(&session, &body).await?))
}

pub async fn get(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
) -> Result<HttpResponse, MatrixError> {
    Ok(HttpResponse::Ok().json(homeserver.dehydrated_device(&session).await?))
}

pub async fn delete(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
) -> Result<HttpResponse, MatrixError> {
    Ok(HttpResponse::Ok().json(homeserver.delete_dehydrated_device(&session).await?))
}

/// The MSC's GET names the position `from`; Synapse's and the Rust SDK's
/// POST send it as `next_batch` in the body.
#[derive(Debug, Deserialize)]
pub struct FromParam {
    from: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct NextBatchBody {
    next_batch: Option<String>,
}

pub async fn events_get(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    device_id: web::Path<String>,
    params: web::Query<FromParam>,
) -> Result<HttpResponse, MatrixError> {
    let answer = homeserver
        .dehydrated_device_events(&session, &device_id, params.from.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

pub async fn events_post(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    device_id: web::Path<String>,
    Json(body): Json<NextBatchBody>,
) -> Result<HttpResponse, MatrixError> {
    let answer = homeserver
        .dehydrated_device_events(&session, &device_id, body.next_batch.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}
