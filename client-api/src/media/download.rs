//! GET /_matrix/client/v1/media/download/{serverName}/{mediaId}[/{fileName}]
//! and /media/config; the deprecated unauthenticated
//! /_matrix/media/v3/download, frozen: media uploaded to Hanse is served
//! only with authentication, so it answers 404 there.

use actix_web::{web, HttpRequest, HttpResponse};
use hanse_core::media::{check_filename, served_inline, Access};
use hanse_core::Homeserver;
use hanse_http::MatrixError;
use serde::Deserialize;
use serde_json::json;

use super::{serve, Wait};
use crate::auth::Authenticated;

/// `{serverName}/{mediaId}`, and `{fileName}` in the paths that have it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownloadPath {
    server_name: String,
    media_id: String,
    /// A file name to give instead of the uploaded one.
    #[serde(default)]
    file_name: Option<String>,
}

pub async fn download(
    homeserver: web::Data<Homeserver>,
    _: Authenticated,
    req: HttpRequest,
    path: web::Path<DownloadPath>,
    wait: web::Query<Wait>,
) -> Result<HttpResponse, MatrixError> {
    respond(
        &homeserver,
        &req,
        path.into_inner(),
        Access::Authenticated,
        &wait,
    )
    .await
}

pub async fn legacy_download(
    homeserver: web::Data<Homeserver>,
    req: HttpRequest,
    path: web::Path<DownloadPath>,
    wait: web::Query<Wait>,
) -> Result<HttpResponse, MatrixError> {
    respond(
        &homeserver,
        &req,
        path.into_inner(),
        Access::Unauthenticated,
        &wait,
    )
    .await
}

async fn respond(
    homeserver: &Homeserver,
    req: &HttpRequest,
    path: DownloadPath,
    access: Access,
    wait: &Wait,
) -> Result<HttpResponse, MatrixError> {
    if let Some(name) = &path.file_name {
        check_filename(name)?;
    }
    let (_, media) = homeserver
        .media_for_download(&path.server_name, &path.media_id, access, wait.duration())
        .await?;
    let inline = served_inline(&media.content_type);
    let filename = path.file_name.or_else(|| media.filename.clone());
    serve(req, media, inline, filename).await
}

/// GET /media/config: the upload size limit.
pub async fn config(homeserver: web::Data<Homeserver>, _: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "m.upload.size": homeserver.settings.media.max_upload_bytes,
    }))
}
