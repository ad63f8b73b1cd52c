//! The Matrix server-server API: the endpoints other servers call, and
//! the outbound side of federation (`client`).

pub mod client;
mod discovery;
mod keys;
mod version;

use actix_web::web;
use hanse_http::endpoint;

pub use client::{ClientSettings, FederationClient};
pub use discovery::FederationDiscovery;
pub use keys::server::KEY_VALIDITY;

/// Registers every server-server endpoint.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        // Server discovery
        .service(
            endpoint("/.well-known/matrix/server")
                .route(web::get().to(discovery::well_known_server)),
        )
        // Server keys
        .service(
            endpoint("/_matrix/key/v2/server").route(web::get().to(keys::server::get_server_keys)),
        )
        // Server implementation
        .service(endpoint("/_matrix/federation/v1/version").route(web::get().to(version::version)));
}
