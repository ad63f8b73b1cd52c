//! POST /_matrix/media/v3/upload, POST /_matrix/media/v1/create and
//! PUT /_matrix/media/v3/upload/{serverName}/{mediaId}.
//!
//! Bodies are streamed to a temporary file chunk by chunk, never held
//! whole; the core refuses them past the upload limit or the user's quota
//! and removes what was written.

use actix_web::http::header::{HeaderName, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use hanse_core::media::{MediaUpload, Mxc, UploadMeta};
use hanse_core::{Error, Homeserver};
use hanse_http::{ErrorCode, MatrixError};
use serde::Deserialize;
use serde_json::json;

use crate::auth::Authenticated;

#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    filename: Option<String>,
}

pub async fn upload(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    req: HttpRequest,
    query: web::Query<UploadQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, MatrixError> {
    let upload = begin(&homeserver, &session.user_id, &req, &query, None).await?;
    let mxc = receive(&homeserver, upload, payload).await?;
    Ok(HttpResponse::Ok().json(json!({ "content_uri": mxc.to_string() })))
}

pub async fn upload_to(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<UploadQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, MatrixError> {
    let (server_name, media_id) = path.into_inner();
    let target = Mxc::from_parts(&server_name, &media_id)?;
    let upload = begin(&homeserver, &session.user_id, &req, &query, Some(target)).await?;
    receive(&homeserver, upload, payload).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

pub async fn create(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
) -> Result<HttpResponse, MatrixError> {
    let (mxc, expires_at) = homeserver.create_media(&session.user_id).await?;
    Ok(HttpResponse::Ok().json(json!({
        "content_uri": mxc.to_string(),
        "unused_expires_at": expires_at,
    })))
}

async fn begin(
    homeserver: &Homeserver,
    user_id: &hanse_protocol::identifiers::UserId,
    req: &HttpRequest,
    query: &UploadQuery,
    target: Option<Mxc>,
) -> Result<MediaUpload, MatrixError> {
    let header = |name: HeaderName| {
        req.headers()
            .get(&name)
            .map(|value| {
                value
                    .to_str()
                    .map_err(|_| Error::InvalidParam(format!("the {name} header is not ASCII")))
            })
            .transpose()
    };
    let content_type = header(CONTENT_TYPE)?;
    let declared_size = header(CONTENT_LENGTH)?.and_then(|length| length.parse().ok());
    let meta = UploadMeta::new(content_type, query.filename.as_deref())?;
    Ok(homeserver
        .begin_upload(user_id, target, meta, declared_size)
        .await?)
}

/// Writes the body into the upload and stores it.
async fn receive(
    homeserver: &Homeserver,
    mut upload: MediaUpload,
    mut payload: web::Payload,
) -> Result<Mxc, MatrixError> {
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| {
            MatrixError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::Unknown,
                format!("the upload did not arrive whole: {error}"),
            )
        })?;
        upload.write(&chunk).await?;
    }
    Ok(homeserver.finish_upload(upload).await?)
}
