//! Server-side key backups: /room_keys/version and /room_keys/keys.

use actix_web::{web, HttpResponse};
use hanse_core::e2ee::BackupPath;
use hanse_core::{Error, Homeserver};
use hanse_http::{Json, MatrixError};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::auth::Authenticated;

pub async fn create_version(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    Json(body): Json<Map<String, Value>>,
) -> Result<HttpResponse, MatrixError> {
    Ok(HttpResponse::Ok().json(homeserver.create_backup_version(&session, &body).await?))
}

pub async fn current_version(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
) -> Result<HttpResponse, MatrixError> {
    Ok(HttpResponse::Ok().json(homeserver.backup_version(&session, None).await?))
}

pub async fn get_version(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    version: web::Path<String>,
) -> Result<HttpResponse, MatrixError> {
    Ok(HttpResponse::Ok().json(homeserver.backup_version(&session, Some(&version)).await?))
}

pub async fn update_version(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    version: web::Path<String>,
    Json(body): Json<Map<String, Value>>,
) -> Result<HttpResponse, MatrixError> {
    let answer = homeserver
        .update_backup_version(&session, &version, &body)
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

pub async fn delete_version(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    version: web::Path<String>,
) -> Result<HttpResponse, MatrixError> {
    Ok(HttpResponse::Ok().json(homeserver.delete_backup_version(&session, &version).await?))
}

/// `?version=`: required to write or delete keys, the current version
/// when a read leaves it out.
#[derive(Debug, Deserialize)]
pub struct VersionParam {
    version: Option<String>,
}

impl VersionParam {
    fn required(&self) -> Result<&str, MatrixError> {
        self.version
            .as_deref()
            .ok_or_else(|| Error::MissingParam("the version query parameter is required".into()))
            .map_err(MatrixError::from)
    }
}

/// The three paths below /room_keys/keys: all keys, a room's, a session's.
fn path_of(segments: &[String]) -> BackupPath<'_> {
    match segments {
        [room] => BackupPath::Room(room),
        [room, session, ..] => BackupPath::Session(room, session),
        [] => BackupPath::All,
    }
}

pub async fn put_keys(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    segments: web::Path<Vec<String>>,
    params: web::Query<VersionParam>,
    Json(body): Json<Value>,
) -> Result<HttpResponse, MatrixError> {
    let answer = homeserver
        .put_backup_keys(&session, params.required()?, path_of(&segments), &body)
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

pub async fn get_keys(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    segments: web::Path<Vec<String>>,
    params: web::Query<VersionParam>,
) -> Result<HttpResponse, MatrixError> {
    let answer = homeserver
        .backup_keys(&session, params.version.as_deref(), path_of(&segments))
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

pub async fn delete_keys(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    segments: web::Path<Vec<String>>,
    params: web::Query<VersionParam>,
) -> Result<HttpResponse, MatrixError> {
    let answer = homeserver
        .delete_backup_keys(&session, params.required()?, path_of(&segments))
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}
