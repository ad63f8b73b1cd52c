//! GET /_matrix/client/v1/media/preview_url (and the deprecated
//! /_matrix/media/v3/preview_url): a page's OpenGraph data.

use actix_web::{web, HttpResponse};
use hanse_core::Homeserver;
use hanse_http::MatrixError;
use serde::Deserialize;

use crate::auth::Authenticated;

#[derive(Debug, Deserialize)]
pub struct PreviewQuery {
    url: String,
    // `ts`, the time the client would like a preview of, is ignored:
    // previews are fetched now.
}

pub async fn preview_url(
    homeserver: web::Data<Homeserver>,
    _: Authenticated,
    query: web::Query<PreviewQuery>,
) -> Result<HttpResponse, MatrixError> {
    let preview = homeserver.preview_url(&query.url).await?;
    Ok(HttpResponse::Ok().json(preview))
}
