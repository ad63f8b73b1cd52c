//! Pushers (GET /pushers, POST /pushers/set): the push gateways a user's
//! devices registered to be sent notifications through.

use std::net::IpAddr;

use reqwest::Url;
use serde_json::{json, Map, Value};

use crate::accounts::Session;
use crate::store::PusherRow;
use crate::{outbound, Error, Homeserver, Result};

/// The path every HTTP pusher's URL must have.
const NOTIFY_PATH: &str = "/_matrix/push/v1/notify";
const MAX_APP_ID_CHARS: usize = 64;
const MAX_PUSHKEY_BYTES: usize = 512;
/// Longest display name, language or profile tag accepted.
const MAX_FIELD_BYTES: usize = 1024;
/// Largest `data` object accepted, as JSON text.
const MAX_DATA_BYTES: usize = 4096;

impl Homeserver {
    /// The user's pushers, as GET /pushers answers.
    pub async fn pushers(&self, session: &Session) -> Result<Value> {
        let pushers: Vec<Value> = self
            .store
            .pushers_of(session.user_id.as_str())
            .await?
            .iter()
            .map(|pusher| {
                let data: Value = serde_json::from_str(&pusher.data).unwrap_or_else(|_| json!({}));
                let mut object = json!({
                    "pushkey": pusher.pushkey,
                    "kind": pusher.kind,
                    "app_id": pusher.app_id,
                    "app_display_name": pusher.app_display_name,
                    "device_display_name": pusher.device_display_name,
                    "lang": pusher.lang,
                    "data": data,
                });
                if let Some(tag) = &pusher.profile_tag {
                    object["profile_tag"] = json!(tag);
                }
                object
            })
            .collect();
        Ok(json!({ "pushers": pushers }))
    }

    /// POST /pushers/set: creates, replaces or (`kind: null`) deletes one
    /// of the user's pushers.
    pub async fn set_pusher(&self, session: &Session, body: &Map<String, Value>) -> Result<()> {
        let user = session.user_id.as_str();
        let app_id = required_string(body, "app_id")?;
        if app_id.chars().count() > MAX_APP_ID_CHARS || app_id.is_empty() {
            return Err(Error::InvalidParam(format!(
                "app_id must be 1 to {MAX_APP_ID_CHARS} characters"
            )));
        }
        let pushkey = required_string(body, "pushkey")?;
        if pushkey.len() > MAX_PUSHKEY_BYTES || pushkey.is_empty() {
            return Err(Error::InvalidParam(format!(
                "pushkey must be 1 to {MAX_PUSHKEY_BYTES} bytes"
            )));
        }
        let kind = match body.get("kind") {
            None => return Err(Error::MissingParam("kind is required".into())),
            Some(Value::Null) => {
                self.store.delete_pusher(user, app_id, pushkey).await?;
                return Ok(());
            }
            Some(Value::String(kind)) => kind.as_str(),
            Some(_) => return Err(Error::InvalidParam("kind must be a string or null".into())),
        };
        match kind {
            "http" => {}
            "email" => {
                return Err(Error::InvalidParam(
                    "email pushers are not offered: this server sends no email".into(),
                ))
            }
            other => {
                return Err(Error::InvalidParam(format!(
                    "unknown pusher kind {other:?}"
                )))
            }
        }
        let data = match body.get("data") {
            Some(Value::Object(data)) => data,
            Some(_) => return Err(Error::InvalidParam("data must be an object".into())),
            None => return Err(Error::MissingParam("data is required".into())),
        };
        let app_display_name = required_field(body, "app_display_name")?;
        let device_display_name = required_field(body, "device_display_name")?;
        let lang = required_field(body, "lang")?;
        self.check_gateway(data).await?;
        let data_json = Value::Object(data.clone()).to_string();
        if data_json.len() > MAX_DATA_BYTES {
            return Err(Error::InvalidParam(format!(
                "data must be at most {MAX_DATA_BYTES} bytes of JSON"
            )));
        }
        let profile_tag = match body.get("profile_tag") {
            None | Some(Value::Null) => None,
            Some(Value::String(tag)) if tag.len() <= MAX_FIELD_BYTES => Some(tag.clone()),
            Some(_) => {
                return Err(Error::InvalidParam(
                    "profile_tag must be a short string".into(),
                ))
            }
        };
        let append = match body.get("append") {
            None => false,
            Some(Value::Bool(append)) => *append,
            Some(_) => return Err(Error::InvalidParam("append must be a boolean".into())),
        };
        let pusher = PusherRow {
            user_id: user.to_owned(),
            app_id: app_id.to_owned(),
            pushkey: pushkey.to_owned(),
            kind: kind.to_owned(),
            app_display_name,
            device_display_name,
            profile_tag,
            lang,
            data: data_json,
            device_id: session.device_id.clone(),
            pushkey_ts: crate::clock::now_ms(),
            // Only what happens from now on is pushed.
            delivered_upto: self.persisted_position().await?,
        };
        self.store.set_pusher(&pusher, append).await?;
        self.start_pusher(&pusher.user_id, &pusher.app_id, &pusher.pushkey);
        Ok(())
    }

    /// Refuses an HTTP pusher's `data` unless its URL is a push gateway's
    /// that this server may contact.
    async fn check_gateway(&self, data: &Map<String, Value>) -> Result<()> {
        let url = match data.get("url") {
            Some(Value::String(url)) => url,
            Some(_) => return Err(Error::InvalidParam("data.url must be a string".into())),
            None => return Err(Error::MissingParam("an http pusher needs data.url".into())),
        };
        let parsed =
            Url::parse(url).map_err(|e| Error::InvalidParam(format!("data.url {url:?}: {e}")))?;
        if parsed.path() != NOTIFY_PATH {
            return Err(Error::InvalidParam(format!(
                "data.url must have the path {NOTIFY_PATH}"
            )));
        }
        match data.get("format") {
            None | Some(Value::Null) => {}
            Some(Value::String(format)) if format == "event_id_only" => {}
            Some(_) => {
                return Err(Error::InvalidParam(
                    "data.format must be \"event_id_only\" or absent".into(),
                ))
            }
        }
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::InvalidParam(
                "data.url must be an http(s) URL".into(),
            ));
        }
        // A name is resolved (and its addresses checked) at each delivery;
        // an address given outright is checked now.
        let host = parsed
            .host_str()
            .ok_or_else(|| Error::InvalidParam("data.url has no host".into()))?;
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            if !self.settings.push.allow_private_gateways && !outbound::is_public(ip) {
                return Err(Error::InvalidParam(format!(
                    "data.url: {ip} is not a public address"
                )));
            }
        }
        Ok(())
    }
}

/// How the server introduces itself to push gateways.
pub(super) const GATEWAY_USER_AGENT: &str = "Hanse push";

fn required_string<'a>(body: &'a Map<String, Value>, name: &str) -> Result<&'a str> {
    match body.get(name) {
        Some(Value::String(value)) => Ok(value),
        Some(_) => Err(Error::InvalidParam(format!("{name} must be a string"))),
        None => Err(Error::MissingParam(format!("{name} is required"))),
    }
}

/// A required short string field of a pusher that is not deleted.
fn required_field(body: &Map<String, Value>, name: &str) -> Result<String> {
    let value = required_string(body, name)?;
    if value.len() > MAX_FIELD_BYTES {
        return Err(Error::InvalidParam(format!(
            "{name} must be at most {MAX_FIELD_BYTES} bytes"
        )));
    }
    Ok(value.to_owned())
}
