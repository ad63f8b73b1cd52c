//! GET /_matrix/key/v2/server: this server's signing keys, self-signed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{web, HttpResponse, ResponseError};
use hanse_core::store::RetiredKey;
use hanse_core::{Homeserver, ServerIdentity};
use hanse_http::MatrixError;
use hanse_protocol::canonical_json::{object_from_json, CanonicalJsonError, CanonicalJsonValue};
use hanse_protocol::signing::SignJsonError;
use serde_json::{json, Map, Value};

/// How long other servers may cache our keys before asking again. A day,
/// as is common: short enough that a rotated key spreads quickly, long
/// enough that a brief outage of ours does not stop others verifying.
pub const KEY_VALIDITY: Duration = Duration::from_secs(24 * 60 * 60);

pub async fn get_server_keys(homeserver: web::Data<Homeserver>) -> HttpResponse {
    let retired = match homeserver.store.retired_signing_keys().await {
        Ok(retired) => retired,
        Err(error) => {
            tracing::error!(%error, "reading retired signing keys");
            return MatrixError::internal().error_response();
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    match key_document(&homeserver.identity, &retired, now + KEY_VALIDITY) {
        Ok(document) => HttpResponse::Ok().json(document),
        Err(error) => {
            tracing::error!(%error, "signing the server key document");
            MatrixError::internal().error_response()
        }
    }
}

/// The signed key document, valid until `valid_until` (since the epoch).
pub fn key_document(
    identity: &ServerIdentity,
    retired: &[RetiredKey],
    valid_until: Duration,
) -> Result<Value, KeyDocumentError> {
    let key = &identity.signing_key;
    let old_verify_keys: Map<String, Value> = retired
        .iter()
        .map(|old| {
            let entry = json!({ "key": old.public_key, "expired_ts": old.retired_ts });
            (old.key_id.clone(), entry)
        })
        .collect();
    let document = json!({
        "server_name": identity.server_name.as_str(),
        "verify_keys": { key.key_id().to_string(): { "key": key.public_key_base64() } },
        "old_verify_keys": old_verify_keys,
        "valid_until_ts": u64::try_from(valid_until.as_millis()).unwrap_or(u64::MAX),
    });
    let mut object = object_from_json(document)?;
    key.sign_json(identity.server_name.as_str(), &mut object)?;
    Ok(CanonicalJsonValue::Object(object).into())
}

/// Building the key document failed: a bug, since hanse builds it.
#[derive(Debug, thiserror::Error)]
pub enum KeyDocumentError {
    #[error("the key document is not canonical JSON: {0}")]
    Json(#[from] CanonicalJsonError),
    #[error("signing the key document: {0}")]
    Sign(#[from] SignJsonError),
}
