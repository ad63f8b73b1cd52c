//! GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}, and the
//! deprecated, frozen /_matrix/media/v3/thumbnail.

use actix_web::{web, HttpRequest, HttpResponse};
use hanse_core::media::{Access, ThumbnailMethod, ThumbnailRequest};
use hanse_core::Homeserver;
use hanse_http::MatrixError;
use serde::Deserialize;

use super::{serve, Wait};
use crate::auth::Authenticated;

#[derive(Debug, Deserialize)]
pub struct ThumbnailQuery {
    width: u32,
    height: u32,
    method: Option<String>,
    animated: Option<bool>,
    timeout_ms: Option<u64>,
}

pub async fn thumbnail(
    homeserver: web::Data<Homeserver>,
    _: Authenticated,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<ThumbnailQuery>,
) -> Result<HttpResponse, MatrixError> {
    respond(&homeserver, &req, &path, &query, Access::Authenticated).await
}

pub async fn legacy_thumbnail(
    homeserver: web::Data<Homeserver>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<ThumbnailQuery>,
) -> Result<HttpResponse, MatrixError> {
    respond(&homeserver, &req, &path, &query, Access::Unauthenticated).await
}

async fn respond(
    homeserver: &Homeserver,
    req: &HttpRequest,
    (server_name, media_id): &(String, String),
    query: &ThumbnailQuery,
    access: Access,
) -> Result<HttpResponse, MatrixError> {
    let method = match query.method.as_deref() {
        Some(method) => ThumbnailMethod::parse(method)?,
        None => ThumbnailMethod::Scale,
    };
    let request = ThumbnailRequest {
        width: query.width,
        height: query.height,
        method,
        animated: query.animated.unwrap_or(false),
    };
    let thumbnail = homeserver
        .thumbnail(
            server_name,
            media_id,
            request,
            access,
            Wait::from_ms(query.timeout_ms).duration(),
        )
        .await?;
    let extension = thumbnail
        .content_type
        .strip_prefix("image/")
        .unwrap_or("bin")
        .to_owned();
    serve(req, thumbnail, true, Some(format!("thumbnail.{extension}"))).await
}
