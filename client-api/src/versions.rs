//! GET /_matrix/client/versions

use actix_web::HttpResponse;
use serde_json::json;

/// Spec versions whose client-server API hanse implements in full. A
/// version is listed only once every endpoint it requires is served, so
/// clients never take hanse for more than it is.
pub const SUPPORTED_VERSIONS: &[&str] = &[];

pub async fn versions() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "versions": SUPPORTED_VERSIONS,
        "unstable_features": {},
    }))
}
