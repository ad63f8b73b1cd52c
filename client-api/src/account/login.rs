//! GET and POST /login.

use actix_web::{web, HttpRequest, HttpResponse};
use hanse_core::accounts::uia::identifier_user;
use hanse_core::accounts::{DeviceRequest, LoggedIn};
use hanse_core::rate_limits::Action;
use hanse_core::{Error, Homeserver};

use crate::auth::client_address;
use hanse_http::{Json, MatrixError};
use serde::Deserialize;
use serde_json::{json, Value};

/// GET /login: the login types this server offers.
pub async fn login_flows() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "flows": [{ "type": "m.login.password" }] }))
}

#[derive(Debug, Deserialize)]
pub struct LoginBody {
    #[serde(rename = "type")]
    kind: String,
    identifier: Option<Value>,
    /// The pre-identifier way of naming the user, still sent by some clients.
    user: Option<String>,
    password: Option<String>,
    device_id: Option<String>,
    initial_device_display_name: Option<String>,
    #[serde(default)]
    refresh_token: bool,
}

pub async fn login(
    homeserver: web::Data<Homeserver>,
    req: HttpRequest,
    Json(body): Json<LoginBody>,
) -> Result<HttpResponse, MatrixError> {
    if body.kind != "m.login.password" {
        return Err(Error::Unknown(format!("unsupported login type {}", body.kind)).into());
    }
    homeserver.rate_limits.check(
        Action::Login,
        client_address(&req).as_deref().unwrap_or_default(),
    )?;
    let user = match (&body.identifier, &body.user) {
        (Some(identifier), _) => identifier_user(identifier)?,
        (None, Some(user)) => user.as_str(),
        (None, None) => return Err(Error::MissingParam("`identifier` is required".into()).into()),
    };
    let password = body
        .password
        .as_deref()
        .ok_or_else(|| Error::MissingParam("`password` is required".into()))?;
    let login = homeserver
        .password_login(
            user,
            password,
            DeviceRequest {
                device_id: body.device_id,
                initial_display_name: body.initial_device_display_name,
            },
            body.refresh_token,
        )
        .await?;
    Ok(HttpResponse::Ok().json(login_response(&login)))
}

/// The body a successful login (or registration) answers with.
pub fn login_response(login: &LoggedIn) -> Value {
    let mut body = json!({
        "user_id": login.user_id.as_str(),
        "device_id": login.device_id,
        "access_token": login.tokens.access_token,
    });
    if let Some(refresh_token) = &login.tokens.refresh_token {
        body["refresh_token"] = json!(refresh_token);
    }
    if let Some(expires_in_ms) = login.tokens.expires_in_ms {
        body["expires_in_ms"] = json!(expires_in_ms);
    }
    body
}
