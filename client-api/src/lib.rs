//! The Matrix client-server API: translates HTTP requests into hanse-core
//! calls. The route table below reads like the spec's table of contents.

mod discovery;
mod versions;

use actix_web::web;
use hanse_http::endpoint;

pub use discovery::ClientDiscovery;

/// Registers every client-server endpoint.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        // Server discovery and API versions
        .service(
            endpoint("/.well-known/matrix/client")
                .route(web::get().to(discovery::well_known_client)),
        )
        .service(endpoint("/_matrix/client/versions").route(web::get().to(versions::versions)));
}
