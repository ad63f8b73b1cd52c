//! Device management: GET /devices, GET/PUT/DELETE /devices/{deviceId},
//! POST /delete_devices.

use actix_web::{web, HttpResponse};
use hanse_core::accounts::uia::{self, AuthData, UiaAction};
use hanse_core::accounts::{Device, Session};
use hanse_core::Homeserver;
use hanse_http::{Json, MatrixError, OptionalJson};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Authenticated;
use crate::uia::authorised;

fn device_json(device: &Device) -> Value {
    json!({
        "device_id": device.device_id,
        "display_name": device.display_name,
        "last_seen_ip": device.last_seen_ip,
        "last_seen_ts": device.last_seen_ts,
    })
}

pub async fn list(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
) -> Result<HttpResponse, MatrixError> {
    let devices = homeserver.devices(&session.user_id).await?;
    let devices: Vec<Value> = devices.iter().map(device_json).collect();
    Ok(HttpResponse::Ok().json(json!({ "devices": devices })))
}

pub async fn get(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    device_id: web::Path<String>,
) -> Result<HttpResponse, MatrixError> {
    let device = homeserver.device(&session.user_id, &device_id).await?;
    Ok(HttpResponse::Ok().json(device_json(&device)))
}

#[derive(Debug, Deserialize)]
pub struct UpdateBody {
    display_name: Option<String>,
}

pub async fn update(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    device_id: web::Path<String>,
    Json(body): Json<UpdateBody>,
) -> Result<HttpResponse, MatrixError> {
    homeserver
        .rename_device(&session.user_id, &device_id, body.display_name.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

#[derive(Debug, Default, Deserialize)]
pub struct DeleteBody {
    auth: Option<AuthData>,
}

pub async fn delete(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    device_id: web::Path<String>,
    OptionalJson(body): OptionalJson<DeleteBody>,
) -> Result<HttpResponse, MatrixError> {
    // A device that does not exist is reported before asking for a password.
    homeserver.device(&session.user_id, &device_id).await?;
    delete_with_auth(
        &homeserver,
        &session,
        vec![device_id.into_inner()],
        body.auth,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct DeleteManyBody {
    auth: Option<AuthData>,
    devices: Vec<String>,
}

pub async fn delete_many(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    Json(body): Json<DeleteManyBody>,
) -> Result<HttpResponse, MatrixError> {
    delete_with_auth(&homeserver, &session, body.devices, body.auth).await
}

async fn delete_with_auth(
    homeserver: &Homeserver,
    session: &Session,
    device_ids: Vec<String>,
    auth: Option<AuthData>,
) -> Result<HttpResponse, MatrixError> {
    let outcome = homeserver
        .user_interactive_auth(
            UiaAction::DeleteDevices,
            Some(&session.user_id),
            vec![vec![uia::PASSWORD]],
            auth,
        )
        .await?;
    let authorised = match authorised(outcome) {
        Ok(authorised) => authorised,
        Err(challenge) => return Ok(*challenge),
    };
    homeserver
        .delete_devices(&session.user_id, &device_ids)
        .await?;
    homeserver.finish_uia(&authorised).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}
