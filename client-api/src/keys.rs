//! End-to-end encryption keys: /keys/upload, /keys/query, /keys/claim,
//! /keys/changes, cross-signing (/keys/device_signing/upload,
//! /keys/signatures/upload) and PUT /sendToDevice.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use hanse_core::accounts::uia::{self, AuthData, UiaAction};
use hanse_core::e2ee::{KeysClaim, KeysQuery};
use hanse_core::sync::SyncToken;
use hanse_core::Homeserver;
use hanse_http::{Json, MatrixError};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::auth::Authenticated;
use crate::uia::authorised;

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

/// POST /keys/device_signing/upload. Publishing the first keys, or the
/// same keys again (a retry), needs no user-interactive authentication;
/// replacing keys does.
pub async fn upload_signing_keys(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    Json(mut body): Json<Map<String, Value>>,
) -> Result<HttpResponse, MatrixError> {
    let auth: Option<AuthData> = match body.remove("auth") {
        None | Some(Value::Null) => None,
        Some(auth) => Some(
            serde_json::from_value(auth)
                .map_err(|e| MatrixError::bad_json(format!("auth: {e}")))?,
        ),
    };
    let upload = homeserver
        .check_cross_signing_upload(&session, &body)
        .await?;
    let approval = if upload.replaces_keys {
        let outcome = homeserver
            .user_interactive_auth(
                UiaAction::SigningKeys,
                Some(&session.user_id),
                vec![vec![uia::PASSWORD]],
                auth,
            )
            .await?;
        match authorised(outcome) {
            Ok(authorised) => Some(authorised),
            Err(challenge) => return Ok(*challenge),
        }
    } else {
        None
    };
    homeserver
        .publish_cross_signing_keys(&session, upload)
        .await?;
    if let Some(authorised) = approval {
        homeserver.finish_uia(&authorised).await?;
    }
    Ok(HttpResponse::Ok().json(json!({})))
}

/// POST /keys/signatures/upload.
pub async fn upload_signatures(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    Json(body): Json<Map<String, Value>>,
) -> Result<HttpResponse, MatrixError> {
    Ok(HttpResponse::Ok().json(homeserver.upload_key_signatures(&session, &body).await?))
}
