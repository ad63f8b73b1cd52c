//! POST /createRoom.

use actix_web::{web, HttpResponse};
use hanse_core::rooms::{CreateRoom, Preset};
use hanse_core::{Error, Homeserver};
use hanse_http::{Json, MatrixError};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{content, user_id};
use crate::auth::Authenticated;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Visibility {
    Public,
    Private,
}

#[derive(Debug, Deserialize)]
struct InitialState {
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    state_key: String,
    content: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
pub struct CreateRoomBody {
    visibility: Option<Visibility>,
    room_alias_name: Option<String>,
    name: Option<String>,
    topic: Option<String>,
    #[serde(default)]
    invite: Vec<String>,
    #[serde(default)]
    invite_3pid: Vec<Value>,
    preset: Option<Preset>,
    #[serde(default)]
    is_direct: bool,
    #[serde(default)]
    initial_state: Vec<InitialState>,
    power_level_content_override: Option<Map<String, Value>>,
    creation_content: Option<Map<String, Value>>,
    room_version: Option<String>,
}

pub async fn create_room(
    homeserver: web::Data<Homeserver>,
    Authenticated(session): Authenticated,
    Json(body): Json<CreateRoomBody>,
) -> Result<HttpResponse, MatrixError> {
    if !body.invite_3pid.is_empty() {
        return Err(Error::InvalidParam(
            "`invite_3pid` needs an identity server, which this server does not use".into(),
        )
        .into());
    }
    let request = CreateRoom {
        publish: matches!(body.visibility, Some(Visibility::Public)),
        room_alias_name: body.room_alias_name,
        name: body.name,
        topic: body.topic,
        invite: body
            .invite
            .iter()
            .map(|user| user_id(user))
            .collect::<Result<_, _>>()?,
        preset: body.preset,
        is_direct: body.is_direct,
        initial_state: body
            .initial_state
            .into_iter()
            .map(|state| Ok((state.event_type, state.state_key, content(state.content)?)))
            .collect::<Result<_, MatrixError>>()?,
        power_level_content_override: body.power_level_content_override.map(content).transpose()?,
        creation_content: body.creation_content.map(content).transpose()?,
        room_version: body.room_version,
    };
    let room_id = homeserver.create_room(&session.user_id, request).await?;
    Ok(HttpResponse::Ok().json(json!({ "room_id": room_id.as_str() })))
}
