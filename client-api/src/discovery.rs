//! GET /.well-known/matrix/client: where clients find this homeserver.

use actix_web::{web, HttpResponse};
use serde_json::json;

/// What clients are told about where to reach this server.
#[derive(Debug, Clone)]
pub struct ClientDiscovery {
    /// The URL clients use for the client-server API.
    pub base_url: String,
}

pub async fn well_known_client(discovery: web::Data<ClientDiscovery>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "m.homeserver": { "base_url": discovery.base_url },
    }))
}
