//! GET /.well-known/matrix/server: where other servers reach this one.

use actix_web::{web, HttpResponse};
use serde_json::json;

/// The `host:port` other servers are told to use for federation.
#[derive(Debug, Clone)]
pub struct FederationDiscovery {
    pub delegated_server: String,
}

pub async fn well_known_server(discovery: web::Data<FederationDiscovery>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "m.server": discovery.delegated_server }))
}
