//! GET /_matrix/federation/v1/query/{directory,profile}.

use actix_web::{web, HttpResponse};
use hanse_core::Homeserver;
use hanse_http::{user_id, MatrixError};
use hanse_protocol::identifiers::RoomAlias;
use serde::Deserialize;

use crate::auth::Origin;

#[derive(Debug, Deserialize)]
pub struct DirectoryQuery {
    room_alias: String,
}

pub async fn directory(
    homeserver: web::Data<Homeserver>,
    query: web::Query<DirectoryQuery>,
    _origin: Origin,
) -> Result<HttpResponse, MatrixError> {
    let alias = RoomAlias::parse(&query.room_alias).map_err(|e| {
        MatrixError::from(hanse_core::Error::InvalidParam(format!(
            "invalid room alias {:?}: {e}",
            query.room_alias
        )))
    })?;
    Ok(HttpResponse::Ok().json(homeserver.serve_directory_query(&alias).await?))
}

#[derive(Debug, Deserialize)]
pub struct ProfileQuery {
    user_id: String,
    field: Option<String>,
}

pub async fn profile(
    homeserver: web::Data<Homeserver>,
    query: web::Query<ProfileQuery>,
    _origin: Origin,
) -> Result<HttpResponse, MatrixError> {
    let user = user_id(&query.user_id)?;
    Ok(HttpResponse::Ok().json(
        homeserver
            .serve_profile_query(&user, query.field.as_deref())
            .await?,
    ))
}
