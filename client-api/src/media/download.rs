//! GET /_matrix/client/v1/media/download/{serverName}/{mediaId}[/{fileName}]
//! and /media/config; the deprecated unauthenticated
//! /_matrix/media/v3/download, frozen: media uploaded to Hanse is served
//! only with authentication, so it answers 404 there.

use actix_web::{web, HttpRequest, HttpResponse};
use hanse_core::media::{check_filename, served_inline, Access};
use hanse_core::Homeserver;
use hanse_http::MatrixError;
use serde_json::json;

use super::{serve, Wait};
use crate::auth::Authenticated;

pub async fn download(
    homeserver: web::Data<Homeserver>,
    _: Authenticated,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    wait: web::Query<Wait>,
) -> Result<HttpResponse, MatrixError> {
    let (server_name, media_id) = path.into_inner();
    respond(
        &homeserver,
        &req,
        (&server_name, &media_id, None),
        Access::Authenticated,
        &wait,
    )
    .await
}

pub async fn download_named(
    homeserver: web::Data<Homeserver>,
    _: Authenticated,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    wait: web::Query<Wait>,
) -> Result<HttpResponse, MatrixError> {
    let (server_name, media_id, filename) = path.into_inner();
    let target = (server_name.as_str(), media_id.as_str(), Some(filename));
    respond(&homeserver, &req, target, Access::Authenticated, &wait).await
}

pub async fn legacy_download(
    homeserver: web::Data<Homeserver>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    wait: web::Query<Wait>,
) -> Result<HttpResponse, MatrixError> {
    let (server_name, media_id) = path.into_inner();
    let target = (server_name.as_str(), media_id.as_str(), None);
    respond(&homeserver, &req, target, Access::Unauthenticated, &wait).await
}

pub async fn legacy_download_named(
    homeserver: web::Data<Homeserver>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    wait: web::Query<Wait>,
) -> Result<HttpResponse, MatrixError> {
    let (server_name, media_id, filename) = path.into_inner();
    let target = (server_name.as_str(), media_id.as_str(), Some(filename));
    respond(&homeserver, &req, target, Access::Unauthenticated, &wait).await
}

/// Serves (server name, media ID, file name to give instead of the
/// uploaded one).
async fn respond(
    homeserver: &Homeserver,
    req: &HttpRequest,
    (server_name, media_id, filename): (&str, &str, Option<String>),
    access: Access,
    wait: &Wait,
) -> Result<HttpResponse, MatrixError> {
    if let Some(name) = &filename {
        check_filename(name)?;
    }
    let (_, media) = homeserver
        .media_for_download(server_name, media_id, access, wait.duration())
        .await?;
    let inline = served_inline(&media.content_type);
    let filename = filename.or_else(|| media.filename.clone());
    serve(req, media, inline, filename).await
}

/// GET /media/config: the upload size limit.
pub async fn config(homeserver: web::Data<Homeserver>, _: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "m.upload.size": homeserver.settings.media.max_upload_bytes,
    }))
}
