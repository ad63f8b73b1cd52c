//! The Matrix server-server API: the endpoints other servers call. Each
//! request is authenticated (X-Matrix, see [`auth`]) before its handler
//! runs; what it may see or change is core's decision. [`client`] is the
//! outbound side: how this server's requests reach other servers.

mod auth;
pub mod client;
mod discovery;
mod events;
mod invite;
mod keys;
mod membership;
mod queries;
mod transactions;
mod version;

use actix_web::web;
use hanse_core::federation::resident::RemoteMembership;
use hanse_http::{endpoint, BodyLimit};

pub use client::{ClientSettings, FederationClient};
pub use discovery::FederationDiscovery;
pub use keys::server::KEY_VALIDITY;

/// The largest request body the federation listener takes: a transaction
/// of 50 PDUs of up to 64 KiB each, and its EDUs, with room to spare.
pub const BODY_LIMIT: BodyLimit = BodyLimit(8 * 1024 * 1024);

/// Registers every server-server endpoint.
pub fn routes(config: &mut web::ServiceConfig) {
    const V1: &str = "/_matrix/federation/v1";
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
        .service(endpoint("/_matrix/key/v2/query").route(web::post().to(keys::query::query_keys)))
        .service(
            endpoint("/_matrix/key/v2/query/{serverName}")
                .route(web::get().to(keys::query::query_server_keys)),
        )
        // Server implementation
        .service(endpoint(&format!("{V1}/version")).route(web::get().to(version::version)))
        // Transactions
        .service(
            endpoint(&format!("{V1}/send/{{txnId}}"))
                .route(web::put().to(transactions::send_transaction)),
        )
        // Retrieving events
        .service(
            endpoint(&format!("{V1}/event/{{eventId}}")).route(web::get().to(events::get_event)),
        )
        .service(
            endpoint(&format!("{V1}/state/{{roomId}}")).route(web::get().to(events::get_state)),
        )
        .service(
            endpoint(&format!("{V1}/state_ids/{{roomId}}"))
                .route(web::get().to(events::get_state_ids)),
        )
        .service(
            endpoint(&format!("{V1}/event_auth/{{roomId}}/{{eventId}}"))
                .route(web::get().to(events::get_event_auth)),
        )
        .service(
            endpoint(&format!("{V1}/get_missing_events/{{roomId}}"))
                .route(web::post().to(events::get_missing_events)),
        )
        .service(
            endpoint(&format!("{V1}/backfill/{{roomId}}")).route(web::get().to(events::backfill)),
        )
        // Queries
        .service(
            endpoint(&format!("{V1}/query/directory")).route(web::get().to(queries::directory)),
        )
        .service(endpoint(&format!("{V1}/query/profile")).route(web::get().to(queries::profile)))
        .service(
            endpoint("/_matrix/federation/v2/invite/{roomId}/{eventId}")
                .route(web::put().to(invite::invite)),
        )
        // Joining, leaving and knocking
        .configure(|config| {
            for (membership, make, send) in [
                (
                    RemoteMembership::Join,
                    "make_join",
                    "/_matrix/federation/v2/send_join",
                ),
                (
                    RemoteMembership::Leave,
                    "make_leave",
                    "/_matrix/federation/v2/send_leave",
                ),
                (
                    RemoteMembership::Knock,
                    "make_knock",
                    "/_matrix/federation/v1/send_knock",
                ),
            ] {
                config
                    .service(
                        endpoint(&format!("{V1}/{make}/{{roomId}}/{{userId}}"))
                            .app_data(web::Data::new(membership))
                            .route(web::get().to(membership::make_membership)),
                    )
                    .service(
                        endpoint(&format!("{send}/{{roomId}}/{{eventId}}"))
                            .app_data(web::Data::new(membership))
                            .route(web::put().to(membership::send_membership)),
                    );
            }
        });
}
