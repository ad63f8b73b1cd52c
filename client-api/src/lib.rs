//! The Matrix client-server API: translates HTTP requests into hanse-core
//! calls. The route table below reads like the spec's table of contents.

mod account;
mod account_data;
mod auth;
mod capabilities;
mod dehydrated_devices;
mod devices;
mod discovery;
mod filters;
mod key_backup;
mod keys;
mod media;
mod presence;
mod profile;
mod push_rules;
mod pushers;
mod rooms;
mod search;
mod sync;
mod uia;
mod user_directory;
mod versions;

use actix_web::web;
use actix_web::web::{delete, get, post, put};
use hanse_http::endpoint;

pub use discovery::ClientDiscovery;
pub use media::UPLOAD_PATH_PREFIX;

const V3: &str = "/_matrix/client/v3";
const V1: &str = "/_matrix/client/v1";
const MEDIA_V3: &str = "/_matrix/media/v3";
/// Dehydrated devices, not yet in the spec (MSC3814).
const MSC3814: &str = "/_matrix/client/unstable/org.matrix.msc3814.v1";

/// Registers every client-server endpoint.
pub fn routes(config: &mut web::ServiceConfig) {
    use account::{credentials, login, register, session};
    use media::{download, preview, thumbnail, upload};
    let v3 = |path: &str| endpoint(&format!("{V3}{path}"));
    let v1 = |path: &str| endpoint(&format!("{V1}{path}"));
    let media_v3 = |path: &str| endpoint(&format!("{MEDIA_V3}{path}"));
    config
        // Server discovery and API versions
        .service(
            endpoint("/.well-known/matrix/client").route(get().to(discovery::well_known_client)),
        )
        .service(endpoint("/_matrix/client/versions").route(get().to(versions::versions)))
        // Capabilities negotiation
        .service(v3("/capabilities").route(get().to(capabilities::capabilities)))
        // Account registration
        .service(v3("/register").route(post().to(register::register)))
        .service(v3("/register/available").route(get().to(register::available)))
        .service(
            endpoint(&format!(
                "{V1}/register/m.login.registration_token/validity"
            ))
            .route(get().to(register::token_validity)),
        )
        // Login and sessions
        .service(
            v3("/login")
                .route(get().to(login::login_flows))
                .route(post().to(login::login)),
        )
        .service(v3("/refresh").route(post().to(session::refresh)))
        .service(v3("/logout").route(post().to(session::logout)))
        .service(v3("/logout/all").route(post().to(session::logout_all)))
        .service(v3("/account/whoami").route(get().to(session::whoami)))
        // Account management
        .service(v3("/account/password").route(post().to(credentials::change_password)))
        .service(v3("/account/deactivate").route(post().to(credentials::deactivate)))
        // Device management
        .service(v3("/devices").route(get().to(devices::list)))
        .service(
            v3("/devices/{deviceId}")
                .route(get().to(devices::get))
                .route(put().to(devices::update))
                .route(delete().to(devices::delete)),
        )
        .service(v3("/delete_devices").route(post().to(devices::delete_many)))
        // Profiles
        .service(v3("/profile/{userId}").route(get().to(profile::get_profile)))
        .service(
            v3("/profile/{userId}/{keyName}")
                .route(get().to(profile::get_field))
                .route(put().to(profile::set_field))
                .route(delete().to(profile::delete_field)),
        )
        // Syncing
        .service(v3("/sync").route(get().to(sync::sync)))
        // Typing notifications
        .service(v3("/rooms/{roomId}/typing/{userId}").route(put().to(rooms::typing::typing)))
        // Push rules
        .service(v3("/pushrules/").route(get().to(push_rules::all)))
        .service(v3("/pushrules/global/").route(get().to(push_rules::global)))
        .service(
            v3("/pushrules/global/{kind}/{ruleId}")
                .route(get().to(push_rules::get))
                .route(put().to(push_rules::put))
                .route(delete().to(push_rules::delete)),
        )
        .service(
            v3("/pushrules/global/{kind}/{ruleId}/enabled")
                .route(get().to(push_rules::get_enabled))
                .route(put().to(push_rules::set_enabled)),
        )
        .service(
            v3("/pushrules/global/{kind}/{ruleId}/actions")
                .route(get().to(push_rules::get_actions))
                .route(put().to(push_rules::set_actions)),
        )
        .service(v3("/keys/upload").route(post().to(keys::upload)))
        .service(v3("/keys/query").route(post().to(keys::query)))
        .service(v3("/keys/claim").route(post().to(keys::claim)))
        .service(v3("/keys/changes").route(get().to(keys::changes)))
        .service(v3("/keys/device_signing/upload").route(post().to(keys::upload_signing_keys)))
        .service(v3("/keys/signatures/upload").route(post().to(keys::upload_signatures)))
        .service(v3("/sendToDevice/{eventType}/{txnId}").route(put().to(keys::send_to_device)))
        .service(
            endpoint(&format!("{MSC3814}/dehydrated_device"))
                .route(put().to(dehydrated_devices::put))
                .route(get().to(dehydrated_devices::get))
                .route(delete().to(dehydrated_devices::delete)),
        )
        .service(
            endpoint(&format!("{MSC3814}/dehydrated_device/{{deviceId}}/events"))
                .route(get().to(dehydrated_devices::events_get))
                .route(post().to(dehydrated_devices::events_post)),
        )
        // Server-side key backups
        .service(
            v3("/room_keys/version")
                .route(post().to(key_backup::create_version))
                .route(get().to(key_backup::current_version)),
        )
        .service(
            v3("/room_keys/version/{version}")
                .route(get().to(key_backup::get_version))
                .route(put().to(key_backup::update_version))
                .route(delete().to(key_backup::delete_version)),
        );
    for keys in [
        "/room_keys/keys",
        "/room_keys/keys/{roomId}",
        "/room_keys/keys/{roomId}/{sessionId}",
    ] {
        config.service(
            v3(keys)
                .route(put().to(key_backup::put_keys))
                .route(get().to(key_backup::get_keys))
                .route(delete().to(key_backup::delete_keys)),
        );
    }
    config
        .service(v3("/pushers").route(get().to(pushers::list)))
        .service(v3("/pushers/set").route(post().to(pushers::set)))
        .service(v3("/notifications").route(get().to(pushers::notifications)))
        // Server side search
        .service(v3("/search").route(post().to(search::search)))
        // Presence
        .service(
            v3("/presence/{userId}/status")
                .route(get().to(presence::get))
                .route(put().to(presence::set)),
        )
        // Room tagging
        .service(v3("/user/{userId}/rooms/{roomId}/tags").route(get().to(account_data::tags)))
        .service(
            v3("/user/{userId}/rooms/{roomId}/tags/{tag}")
                .route(put().to(account_data::set_tag))
                .route(delete().to(account_data::delete_tag)),
        )
        // Filtering
        .service(v3("/user/{userId}/filter").route(post().to(filters::create)))
        .service(v3("/user/{userId}/filter/{filterId}").route(get().to(filters::get)))
        // Client config (account data)
        .service(
            v3("/user/{userId}/account_data/{type}")
                .route(get().to(account_data::get_global))
                .route(put().to(account_data::set_global)),
        )
        .service(
            v3("/user/{userId}/rooms/{roomId}/account_data/{type}")
                .route(get().to(account_data::get_in_room))
                .route(put().to(account_data::set_in_room)),
        )
        // Rooms
        .service(v3("/createRoom").route(post().to(rooms::create::create_room)))
        .service(v3("/joined_rooms").route(get().to(rooms::membership::joined_rooms)))
        .service(v3("/rooms/{roomId}/upgrade").route(post().to(rooms::upgrade::upgrade)))
        // Receipts and read markers
        .service(
            v3("/rooms/{roomId}/receipt/{receiptType}/{eventId}")
                .route(post().to(rooms::receipts::receipt)),
        )
        .service(v3("/rooms/{roomId}/read_markers").route(post().to(rooms::receipts::read_markers)))
        // Membership
        .service(v3("/join/{roomIdOrAlias}").route(post().to(rooms::membership::join)))
        .service(v3("/rooms/{roomId}/join").route(post().to(rooms::membership::join)))
        .service(v3("/knock/{roomIdOrAlias}").route(post().to(rooms::membership::knock)))
        .service(v3("/rooms/{roomId}/leave").route(post().to(rooms::membership::leave)))
        .service(v3("/rooms/{roomId}/forget").route(post().to(rooms::membership::forget)))
        .service(
            v3("/rooms/{roomId}/{action:invite|kick|ban|unban}")
                .route(post().to(rooms::membership::change_other)),
        )
        // Sending events
        .service(
            v3("/rooms/{roomId}/send/{eventType}/{txnId}")
                .route(put().to(rooms::send::send_message)),
        )
        .service(
            v3("/rooms/{roomId}/state/{eventType}")
                .route(get().to(rooms::read::state_event_empty_key))
                .route(put().to(rooms::send::send_state_empty_key)),
        )
        .service(
            v3("/rooms/{roomId}/state/{eventType}/{stateKey:.*}")
                .route(get().to(rooms::read::state_event))
                .route(put().to(rooms::send::send_state)),
        )
        .service(
            v3("/rooms/{roomId}/redact/{eventId}/{txnId}").route(put().to(rooms::send::redact)),
        )
        // Reading rooms
        .service(v3("/rooms/{roomId}/event/{eventId}").route(get().to(rooms::read::event)))
        .service(v3("/rooms/{roomId}/messages").route(get().to(rooms::read::messages)))
        .service(v3("/rooms/{roomId}/state").route(get().to(rooms::read::state)))
        .service(v3("/rooms/{roomId}/members").route(get().to(rooms::read::members)))
        .service(v3("/rooms/{roomId}/joined_members").route(get().to(rooms::read::joined_members)))
        .service(v3("/rooms/{roomId}/context/{eventId}").route(get().to(rooms::relations::context)))
        .service(
            endpoint(&format!(
                "{V1}/rooms/{{roomId}}/relations/{{eventId}}/{{rest:.*}}"
            ))
            .route(get().to(rooms::relations::relations)),
        )
        .service(
            endpoint(&format!("{V1}/rooms/{{roomId}}/relations/{{eventId}}"))
                .route(get().to(rooms::relations::relations_all)),
        )
        .service(
            endpoint(&format!("{V1}/rooms/{{roomId}}/threads"))
                .route(get().to(rooms::relations::threads)),
        )
        .service(
            endpoint(&format!("{V1}/rooms/{{roomId}}/timestamp_to_event"))
                .route(get().to(rooms::relations::timestamp_to_event)),
        )
        // Room aliases and the published directory
        .service(
            v3("/directory/room/{roomAlias}")
                .route(get().to(rooms::directory::get_alias))
                .route(put().to(rooms::directory::put_alias))
                .route(delete().to(rooms::directory::delete_alias)),
        )
        .service(v3("/rooms/{roomId}/aliases").route(get().to(rooms::directory::room_aliases)))
        .service(
            v3("/directory/list/room/{roomId}")
                .route(get().to(rooms::directory::get_visibility))
                .route(put().to(rooms::directory::set_visibility)),
        )
        // User directory
        .service(v3("/user_directory/search").route(post().to(user_directory::search)))
        // Reporting content
        .service(v3("/rooms/{roomId}/report").route(post().to(rooms::reports::room)))
        .service(v3("/rooms/{roomId}/report/{eventId}").route(post().to(rooms::reports::event)))
        .service(v3("/users/{userId}/report").route(post().to(rooms::reports::user)))
        .service(
            v3("/publicRooms")
                .route(get().to(rooms::directory::list_public_rooms))
                .route(post().to(rooms::directory::search_public_rooms)),
        )
        // Content repository
        .service(media_v3("/upload").route(post().to(upload::upload)))
        .service(media_v3("/upload/{serverName}/{mediaId}").route(put().to(upload::upload_to)))
        .service(endpoint("/_matrix/media/v1/create").route(post().to(upload::create)))
        .service(v1("/media/config").route(get().to(download::config)))
        .service(v1("/media/download/{serverName}/{mediaId}").route(get().to(download::download)))
        .service(
            v1("/media/download/{serverName}/{mediaId}/{fileName}")
                .route(get().to(download::download)),
        )
        .service(
            v1("/media/thumbnail/{serverName}/{mediaId}").route(get().to(thumbnail::thumbnail)),
        )
        .service(v1("/media/preview_url").route(get().to(preview::preview_url)))
        // Content repository, deprecated paths
        .service(media_v3("/config").route(get().to(download::config)))
        .service(media_v3("/preview_url").route(get().to(preview::preview_url)))
        .service(
            media_v3("/download/{serverName}/{mediaId}").route(get().to(download::legacy_download)),
        )
        .service(
            media_v3("/download/{serverName}/{mediaId}/{fileName}")
                .route(get().to(download::legacy_download)),
        )
        .service(
            media_v3("/thumbnail/{serverName}/{mediaId}")
                .route(get().to(thumbnail::legacy_thumbnail)),
        );
}
