//! GET /_matrix/federation/v1/version

use actix_web::HttpResponse;
use serde_json::json;

pub async fn version() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "server": { "name": "Hanse", "version": env!("CARGO_PKG_VERSION") },
    }))
}
