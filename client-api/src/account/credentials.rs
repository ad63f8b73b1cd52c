//! Changing what an account is: POST /account/password and
//! /account/deactivate, both behind user-interactive authentication.

use actix_web::{web, HttpResponse};
use hanse_core::accounts::uia::{self, AuthData, UiaAction};
use hanse_core::Homeserver;
use hanse_http::{Json, MatrixError, OptionalJson};
use serde::Deserialize;
use serde_json::json;

use crate::auth::Authenticated;
use crate::uia::authorised;

#[derive(Debug, Deserialize)]
pub struct PasswordBody {
    auth: Option<AuthData>,
    new_password: String,
    #[serde(default = "default_true")]
    logout_devices: bool,
}

fn default_true() -> bool {
    true
}

pub async fn change_password(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    Json(body): Json<PasswordBody>,
) -> Result<HttpResponse, MatrixError> {
    let outcome = homeserver
        .user_interactive_auth(
            UiaAction::ChangePassword,
            Some(&session.user_id),
            vec![vec![uia::PASSWORD]],
            body.auth,
        )
        .await?;
    let authorised = match authorised(outcome) {
        Ok(authorised) => authorised,
        Err(challenge) => return Ok(*challenge),
    };
    homeserver
        .change_password(
            &session.user_id,
            &body.new_password,
            body.logout_devices,
            Some(&session.device_id),
        )
        .await?;
    homeserver.finish_uia(&authorised).await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

#[derive(Debug, Default, Deserialize)]
pub struct DeactivateBody {
    auth: Option<AuthData>,
}

pub async fn deactivate(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    OptionalJson(body): OptionalJson<DeactivateBody>,
) -> Result<HttpResponse, MatrixError> {
    let outcome = homeserver
        .user_interactive_auth(
            UiaAction::Deactivate,
            Some(&session.user_id),
            vec![vec![uia::PASSWORD]],
            body.auth,
        )
        .await?;
    let authorised = match authorised(outcome) {
        Ok(authorised) => authorised,
        Err(challenge) => return Ok(*challenge),
    };
    homeserver.deactivate(&session.user_id).await?;
    homeserver.finish_uia(&authorised).await?;
    Ok(HttpResponse::Ok().json(json!({ "id_server_unbind_result": "no-support" })))
}
