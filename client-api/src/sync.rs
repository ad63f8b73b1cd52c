//! GET /sync.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use hanse_core::presence::PresenceState;
use hanse_core::sync::SyncRequest;
use hanse_core::Homeserver;
use hanse_http::MatrixError;
use serde::Deserialize;

use crate::auth::Authenticated;

#[derive(Debug, Deserialize)]
pub struct SyncParams {
    since: Option<String>,
    filter: Option<String>,
    #[serde(default)]
    full_state: bool,
    set_presence: Option<PresenceState>,
    /// Milliseconds to wait for something to happen.
    #[serde(default)]
    timeout: u64,
}

pub async fn sync(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    params: web::Query<SyncParams>,
) -> Result<HttpResponse, MatrixError> {
    let params = params.into_inner();
    let filter = homeserver
        .sync_filter(&session, params.filter.as_deref())
        .await?;
    let request = SyncRequest {
        since: params.since,
        filter,
        full_state: params.full_state,
        // Syncing marks the user online unless told otherwise; `offline`
        // leaves their presence alone.
        set_presence: match params.set_presence {
            None => Some(PresenceState::Online),
            Some(PresenceState::Offline) => None,
            Some(state) => Some(state),
        },
        timeout: Duration::from_millis(params.timeout),
    };
    let response = homeserver.sync(&session, request).await?;
    Ok(HttpResponse::Ok().json(response))
}
