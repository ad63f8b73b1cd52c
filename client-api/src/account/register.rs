//! POST /register, GET /register/available and the registration token
//! validity check.

use actix_web::{web, HttpRequest, HttpResponse};
use hanse_core::accounts::uia::{AuthData, UiaAction};
use hanse_core::accounts::{DeviceRequest, Registration};
use hanse_core::rate_limits::Action;
use hanse_core::{Error, Homeserver, RegistrationPolicy};
use hanse_http::{Json, MatrixError};
use serde::Deserialize;
use serde_json::json;

use super::login::login_response;
use crate::auth::client_address;
use crate::uia::authorised;

#[derive(Debug, Deserialize)]
pub struct RegisterQuery {
    #[serde(default)]
    kind: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RegisterBody {
    auth: Option<AuthData>,
    username: Option<String>,
    password: Option<String>,
    device_id: Option<String>,
    initial_device_display_name: Option<String>,
    #[serde(default)]
    inhibit_login: bool,
    #[serde(default)]
    refresh_token: bool,
}

pub async fn register(
    homeserver: web::Data<Homeserver>,
    req: HttpRequest,
    query: web::Query<RegisterQuery>,
    Json(body): Json<RegisterBody>,
) -> Result<HttpResponse, MatrixError> {
    match query.kind.as_deref() {
        None | Some("user") => {}
        Some("guest") => return Err(Error::GuestAccessForbidden.into()),
        Some(other) => {
            return Err(Error::InvalidParam(format!("unknown account kind {other:?}")).into())
        }
    }
    let flows = homeserver.registration_flows()?;
    // The spec wants name problems reported before any authentication.
    if let Some(username) = &body.username {
        homeserver.available_user_id(username).await?;
    }
    let outcome = homeserver
        .user_interactive_auth(UiaAction::Register, None, flows, body.auth)
        .await?;
    let authorised = match authorised(outcome) {
        Ok(authorised) => authorised,
        Err(challenge) => return Ok(*challenge),
    };
    // Counted once authenticated: the first, challenged request of the
    // flow creates nothing.
    homeserver.rate_limits.check(
        Action::Registration,
        client_address(&req).as_deref().unwrap_or_default(),
    )?;
    if homeserver.settings.registration == RegistrationPolicy::Token {
        homeserver
            .consume_registration_token(authorised.registration_token.as_deref())
            .await?;
    }
    let registered = homeserver
        .create_account(Registration {
            username: body.username,
            password: body.password,
            is_guest: false,
            is_admin: false,
            login: (!body.inhibit_login).then_some((
                DeviceRequest {
                    device_id: body.device_id,
                    initial_display_name: body.initial_device_display_name,
                },
                body.refresh_token,
            )),
        })
        .await?;
    homeserver.finish_uia(&authorised).await?;
    Ok(HttpResponse::Ok().json(match registered.login {
        Some(login) => {
            let mut response = login_response(&login);
            response["home_server"] = json!(homeserver.identity.server_name.as_str());
            response
        }
        None => json!({
            "user_id": registered.user_id.as_str(),
            "home_server": homeserver.identity.server_name.as_str(),
        }),
    }))
}

#[derive(Debug, Deserialize)]
pub struct AvailableQuery {
    username: String,
}

/// GET /register/available: 200 when free, M_USER_IN_USE or
/// M_INVALID_USERNAME otherwise.
pub async fn available(
    homeserver: web::Data<Homeserver>,
    query: web::Query<AvailableQuery>,
) -> Result<HttpResponse, MatrixError> {
    homeserver.available_user_id(&query.username).await?;
    Ok(HttpResponse::Ok().json(json!({ "available": true })))
}

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    token: String,
}

/// GET /v1/register/m.login.registration_token/validity
pub async fn token_validity(
    homeserver: web::Data<Homeserver>,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, MatrixError> {
    if homeserver.settings.registration != RegistrationPolicy::Token {
        return Err(
            Error::Forbidden("registration tokens are not in use on this server".into()).into(),
        );
    }
    let valid = homeserver.registration_token_valid(&query.token).await?;
    Ok(HttpResponse::Ok().json(json!({ "valid": valid })))
}
