//! End-to-end encryption keys: /keys/upload, /keys/query, /keys/claim,
//! /keys/changes, and PUT /sendToDevice.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use hanse_core::e2ee::{KeysClaim, KeysQuery};
use hanse_core::sync::SyncToken;
use hanse_core::Homeserver;
use hanse_http::{Json, MatrixError};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::auth::Authenticated;

pub async fn upload(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    Json(body): Json<Map<String, Value>>,
) -> Result<HttpResponse, MatrixError> {
    Ok(HttpResponse::Ok().json(homeserver.upload_keys(&session, &body).await?))
}

/// `timeout` (for asking remote servers) is accepted and unused: no
/// remote server is asked yet.
#[derive(Debug, Deserialize)]
pub struct QueryBody {
    device_keys: BTreeMap<String, Vec<String>>,
}

pub async fn query(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    Json(body): Json<QueryBody>,
) -> Result<HttpResponse, MatrixError> {
    let query = KeysQuery {
        device_keys: body.device_keys,
    };
    Ok(HttpResponse::Ok().json(homeserver.query_keys(&session, &query).await?))
}

#[derive(Debug, Deserialize)]
pub struct ClaimBody {
    one_time_keys: BTreeMap<String, BTreeMap<String, String>>,
}

pub async fn claim(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    Json(body): Json<ClaimBody>,
) -> Result<HttpResponse, MatrixError> {
    let claim = KeysClaim {
        one_time_keys: body.one_time_keys,
    };
    Ok(HttpResponse::Ok().json(homeserver.claim_keys(&session, &claim).await?))
}

#[derive(Debug, Deserialize)]
pub struct ChangesParams {
    from: String,
    to: String,
}

pub async fn changes(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    params: web::Query<ChangesParams>,
) -> Result<HttpResponse, MatrixError> {
    let from = SyncToken::parse(&params.from)?;
    let to = SyncToken::parse(&params.to)?;
    let changes = homeserver.key_changes(&session, from, to).await?;
    Ok(HttpResponse::Ok().json(json!({ "changed": changes.changed, "left": changes.left })))
}

#[derive(Debug, Deserialize)]
pub struct ToDeviceBody {
    messages: Map<String, Value>,
}

pub async fn send_to_device(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    path: web::Path<(String, String)>,
    Json(body): Json<ToDeviceBody>,
) -> Result<HttpResponse, MatrixError> {
    let (event_type, txn_id) = path.into_inner();
    homeserver
        .send_to_device(&session, &event_type, &txn_id, &body.messages)
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}
