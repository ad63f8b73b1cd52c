//! GET /capabilities: what of the optional API this server offers.

use actix_web::HttpResponse;
use hanse_core::rooms::CREATABLE;
use hanse_protocol::room_versions::RoomVersionId;
use serde_json::{json, Map, Value};

use crate::auth::Authenticated;

pub async fn capabilities(Authenticated(_): Authenticated) -> HttpResponse {
    let available: Map<String, Value> = CREATABLE
        .iter()
        .map(|version| (version.as_str().to_owned(), json!("stable")))
        .collect();
    HttpResponse::Ok().json(json!({
        "capabilities": {
            "m.change_password": { "enabled": true },
            "m.room_versions": {
                "default": RoomVersionId::DEFAULT.as_str(),
                "available": available,
            },
            "m.profile_fields": { "enabled": true },
            "m.set_displayname": { "enabled": true },
            "m.set_avatar_url": { "enabled": true },
            // No third-party identifiers, login tokens, or forgetting on
            // leave here.
            "m.3pid_changes": { "enabled": false },
            "m.get_login_token": { "enabled": false },
            "m.forget_forced_upon_leave": { "enabled": false },
        }
    }))
}
