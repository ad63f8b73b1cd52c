//! /_matrix/key/v2/query: this server as a notary, vouching for other
//! servers' keys with its own signature.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::{web, HttpResponse};
use hanse_core::clock::now_ms;
use hanse_core::Homeserver;
use hanse_http::{Json, MatrixError};
use hanse_protocol::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use hanse_protocol::identifiers::ServerName;
use serde::Deserialize;
use serde_json::json;

use super::server::{key_document, KEY_VALIDITY};

/// The most servers one query may ask about: each may cost a fetch.
const MAX_SERVERS_PER_QUERY: usize = 100;

#[derive(Debug, Deserialize)]
pub struct BulkQuery {
    server_keys: BTreeMap<String, BTreeMap<String, Criteria>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Criteria {
    minimum_valid_until_ts: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct SingleQuery {
    minimum_valid_until_ts: Option<i64>,
}

/// POST /_matrix/key/v2/query
pub async fn query_keys(
    homeserver: web::Data<Homeserver>,
    Json(query): Json<BulkQuery>,
) -> Result<HttpResponse, MatrixError> {
    if query.server_keys.len() > MAX_SERVERS_PER_QUERY {
        return Err(MatrixError::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            hanse_http::ErrorCode::InvalidParam,
            format!("at most {MAX_SERVERS_PER_QUERY} servers per query"),
        ));
    }
    let now = now_ms();
    let mut servers = BTreeMap::new();
    for (name, keys) in &query.server_keys {
        let server = ServerName::parse(name)
            .map_err(|e| MatrixError::bad_json(format!("{name:?} is not a server name: {e}")))?;
        let wanted = keys
            .values()
            .filter_map(|criteria| criteria.minimum_valid_until_ts)
            .max()
            .unwrap_or(now);
        servers.insert(server, wanted);
    }
    answer(&homeserver, &servers).await
}

/// GET /_matrix/key/v2/query/{serverName}
pub async fn query_server_keys(
    homeserver: web::Data<Homeserver>,
    path: web::Path<String>,
    query: web::Query<SingleQuery>,
) -> Result<HttpResponse, MatrixError> {
    let name = path.into_inner();
    let server = ServerName::parse(&name)
        .map_err(|e| MatrixError::not_found(format!("{name:?} is not a server name: {e}")))?;
    let wanted = query.minimum_valid_until_ts.unwrap_or_else(now_ms);
    answer(&homeserver, &BTreeMap::from([(server, wanted)])).await
}

async fn answer(
    homeserver: &Homeserver,
    servers: &BTreeMap<ServerName, i64>,
) -> Result<HttpResponse, MatrixError> {
    let mut documents = homeserver.notary_key_documents(servers).await?;
    if servers.contains_key(&homeserver.identity.server_name) {
        documents.push(own_document(homeserver).await?);
    }
    let identity = &homeserver.identity;
    let mut signed = Vec::with_capacity(documents.len());
    for mut document in documents {
        identity
            .signing_key
            .sign_json(identity.server_name.as_str(), &mut document)
            .map_err(|error| {
                tracing::error!(%error, "signing a key document as notary");
                MatrixError::internal()
            })?;
        signed.push(serde_json::Value::from(CanonicalJsonValue::Object(
            document,
        )));
    }
    Ok(HttpResponse::Ok().json(json!({ "server_keys": signed })))
}

async fn own_document(homeserver: &Homeserver) -> Result<CanonicalJsonObject, MatrixError> {
    let retired = homeserver
        .store
        .retired_signing_keys()
        .await
        .map_err(hanse_core::Error::from)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let document =
        key_document(&homeserver.identity, &retired, now + KEY_VALIDITY).map_err(|error| {
            tracing::error!(%error, "signing the server key document");
            MatrixError::internal()
        })?;
    hanse_protocol::canonical_json::object_from_json(document).map_err(|error| {
        tracing::error!(%error, "the server key document is not canonical");
        MatrixError::internal()
    })
}
