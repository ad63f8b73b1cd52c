//! Creating a room (POST /createRoom): the events the spec lists, in its
//! order, authorized one by one and committed together.

use hanse_protocol::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use hanse_protocol::identifiers::{RoomAlias, RoomId, UserId};
use hanse_protocol::room_versions::RoomVersionId;
use serde_json::json;

use super::build::{Batch, EventDraft};
use crate::accounts::{AVATAR_URL, DISPLAYNAME};
use crate::clock::now_ms;
use crate::rate_limits::Action;
use crate::{Error, Homeserver, Result};

/// The state a preset sets (`private_chat`, `trusted_private_chat`,
/// `public_chat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub enum Preset {
    #[serde(rename = "private_chat")]
    Private,
    #[serde(rename = "trusted_private_chat")]
    TrustedPrivate,
    #[serde(rename = "public_chat")]
    Public,
}

/// What POST /createRoom asks for, checked for shape by the HTTP layer.
#[derive(Debug, Clone, Default)]
pub struct CreateRoom {
    /// Listed in the published room directory.
    pub publish: bool,
    pub room_alias_name: Option<String>,
    pub name: Option<String>,
    pub topic: Option<String>,
    pub invite: Vec<UserId>,
    pub preset: Option<Preset>,
    pub is_direct: bool,
    /// `(type, state_key, content)` in request order.
    pub initial_state: Vec<(String, String, CanonicalJsonObject)>,
    pub power_level_content_override: Option<CanonicalJsonObject>,
    pub creation_content: Option<CanonicalJsonObject>,
    pub room_version: Option<String>,
}

/// The versions new rooms may have: those with the current rules.
pub const CREATABLE: [RoomVersionId; 3] =
    [RoomVersionId::V10, RoomVersionId::V11, RoomVersionId::V12];

impl Homeserver {
    /// Creates a room for `creator`; returns its ID.
    pub async fn create_room(&self, creator: &UserId, mut request: CreateRoom) -> Result<RoomId> {
        self.rate_limits
            .check(Action::RoomCreation, creator.as_str())?;
        let version = match &request.room_version {
            None => RoomVersionId::DEFAULT,
            Some(wanted) => wanted
                .parse()
                .ok()
                .filter(|version| CREATABLE.contains(version))
                .ok_or_else(|| Error::UnsupportedRoomVersion(wanted.clone()))?,
        };
        let policy = &self.settings.federation.policy;
        for invitee in &request.invite {
            let server = invitee.server_name();
            if server == &self.identity.server_name {
                self.require_local_account(invitee).await?;
            } else if !policy.allows(server.as_str()) {
                return Err(Error::Forbidden(format!(
                    "cannot invite {invitee}: this server's federation policy does not allow {server}"
                )));
            }
        }
        // A user who blocks invites is left out; the room is still made.
        let mut welcome = Vec::with_capacity(request.invite.len());
        for invitee in std::mem::take(&mut request.invite) {
            match self.refuse_blocked_invite(&invitee).await {
                Ok(()) => welcome.push(invitee),
                Err(Error::InviteBlocked(why)) => tracing::info!(%creator, "createRoom: {why}"),
                Err(other) => return Err(other),
            }
        }
        request.invite = welcome;
        let alias = match &request.room_alias_name {
            Some(localpart) => Some(self.new_local_alias(localpart).await?),
            None => None,
        };
        let preset = request.preset.unwrap_or(if request.publish {
            Preset::Public
        } else {
            Preset::Private
        });
        let v12 = !version.rules().create_event_has_room_id();

        let mut creation = request.creation_content.clone().unwrap_or_default();
        creation.insert("room_version".into(), text(version.as_str()));
        if version == RoomVersionId::V10 {
            creation.insert("creator".into(), text(creator.as_str()));
        } else {
            creation.remove("creator");
        }
        if v12 && preset == Preset::TrustedPrivate {
            let mut creators = match creation.remove("additional_creators") {
                Some(CanonicalJsonValue::Array(list)) => list,
                Some(_) => {
                    return Err(Error::BadJson(
                        "`additional_creators` must be a list".into(),
                    ));
                }
                None => Vec::new(),
            };
            for invitee in &request.invite {
                let id = text(invitee.as_str());
                if !creators.contains(&id) {
                    creators.push(id);
                }
            }
            creation.insert(
                "additional_creators".into(),
                CanonicalJsonValue::Array(creators),
            );
        }
        let room_id = (!v12)
            .then(|| RoomId::new_random(&self.identity.server_name))
            .transpose()
            .map_err(|e| Error::Internal(e.to_string()))?;
        let create = EventDraft::state("m.room.create", "", creator, creation);
        let (mut batch, room, _) = Batch::create_room(self, version, room_id, create).await?;

        let mut drafts = Vec::new();
        let profile = self.store.profile_fields(creator.as_str()).await?;
        let mut join = object(json!({ "membership": "join" }));
        for field in [DISPLAYNAME, AVATAR_URL] {
            if let Some(serde_json::Value::String(value)) = profile.get(field) {
                join.insert(field.into(), text(value));
            }
        }
        drafts.push(EventDraft::state(
            "m.room.member",
            creator.as_str(),
            creator,
            join,
        ));

        let mut power_levels = default_power_levels(creator, v12, preset, &request.invite);
        if let Some(overrides) = request.power_level_content_override.clone() {
            power_levels.extend(overrides);
        }
        drafts.push(EventDraft::state(
            "m.room.power_levels",
            "",
            creator,
            power_levels,
        ));

        if let Some(alias) = &alias {
            drafts.push(EventDraft::state(
                "m.room.canonical_alias",
                "",
                creator,
                object(json!({ "alias": alias.as_str() })),
            ));
        }
        let (join_rule, guest_access) = match preset {
            Preset::Public => ("public", "forbidden"),
            Preset::Private | Preset::TrustedPrivate => ("invite", "can_join"),
        };
        for (event_type, content) in [
            ("m.room.join_rules", json!({ "join_rule": join_rule })),
            (
                "m.room.history_visibility",
                json!({ "history_visibility": "shared" }),
            ),
            (
                "m.room.guest_access",
                json!({ "guest_access": guest_access }),
            ),
        ] {
            drafts.push(EventDraft::state(event_type, "", creator, object(content)));
        }
        let federation = &self.settings.federation;
        if federation.server_acl_for_new_rooms {
            if let Some(acl) = federation.policy.server_acl(&self.identity.server_name) {
                drafts.push(EventDraft::state(
                    "m.room.server_acl",
                    "",
                    creator,
                    object(acl),
                ));
            }
        }
        for (event_type, state_key, content) in request.initial_state {
            if matches!(event_type.as_str(), "m.room.create" | "m.room.member") {
                return Err(Error::InvalidParam(format!(
                    "`initial_state` cannot contain {event_type} events"
                )));
            }
            drafts.push(EventDraft::state(&event_type, &state_key, creator, content));
        }
        if let Some(name) = &request.name {
            drafts.push(EventDraft::state(
                "m.room.name",
                "",
                creator,
                object(json!({ "name": name })),
            ));
        }
        if let Some(topic) = &request.topic {
            drafts.push(EventDraft::state(
                "m.room.topic",
                "",
                creator,
                object(json!({
                    "topic": topic,
                    "m.topic": [{ "body": topic, "mimetype": "text/plain" }],
                })),
            ));
        }
        let invite_content = || {
            let mut content = object(json!({ "membership": "invite" }));
            if request.is_direct {
                content.insert("is_direct".into(), CanonicalJsonValue::Bool(true));
            }
            content
        };
        // Users of other servers are invited once the room exists: their
        // servers must countersign each invite.
        let (local_invitees, remote_invitees): (Vec<&UserId>, Vec<&UserId>) = request
            .invite
            .iter()
            .partition(|invitee| invitee.server_name() == &self.identity.server_name);
        for invitee in local_invitees {
            drafts.push(EventDraft::state(
                "m.room.member",
                invitee.as_str(),
                creator,
                invite_content(),
            ));
        }
        for draft in drafts {
            batch.append(draft).await?;
        }
        if let Some(alias) = &alias {
            if !batch
                .write()
                .insert_alias(alias.as_str(), room.nid, creator.as_str(), now_ms())
                .await?
            {
                return Err(Error::RoomInUse(format!("the alias {alias} is taken")));
            }
        }
        if request.publish {
            batch.write().set_published(room.nid, true).await?;
        }
        batch.commit().await?;
        tracing::info!(room_id = %room.room_id, %creator, version = version.as_str(), "room created");
        for invitee in remote_invitees {
            self.invite_remote(creator, &room, invitee, invite_content())
                .await?;
        }
        Ok(room.room_id)
    }

    /// `#localpart:this.server`, checked for grammar and availability.
    async fn new_local_alias(&self, localpart: &str) -> Result<RoomAlias> {
        let alias = RoomAlias::parse(&format!("#{localpart}:{}", self.identity.server_name))
            .ok()
            .filter(|_| !localpart.contains(':') && !localpart.is_empty())
            .ok_or_else(|| {
                Error::InvalidParam(format!(
                    "{localpart:?} cannot be the local part of an alias"
                ))
            })?;
        if self.store.alias_room(alias.as_str()).await?.is_some() {
            return Err(Error::RoomInUse(format!("the alias {alias} is taken")));
        }
        Ok(alias)
    }
}

/// The spec's default power levels for a new room.
fn default_power_levels(
    creator: &UserId,
    v12: bool,
    preset: Preset,
    invitees: &[UserId],
) -> CanonicalJsonObject {
    let mut users = serde_json::Map::new();
    if !v12 {
        users.insert(creator.to_string(), json!(100));
        if preset == Preset::TrustedPrivate {
            for invitee in invitees {
                users.insert(invitee.to_string(), json!(100));
            }
        }
    }
    // Version 12: tombstones need more than state_default, so that only
    // creators (infinite power) can upgrade the room by default.
    let tombstone = if v12 { 150 } else { 100 };
    object(json!({
        "users": users,
        "users_default": 0,
        "events": {
            "m.room.name": 50,
            "m.room.power_levels": 100,
            "m.room.history_visibility": 100,
            "m.room.canonical_alias": 50,
            "m.room.avatar": 50,
            "m.room.tombstone": tombstone,
            "m.room.server_acl": 100,
            "m.room.encryption": 100,
        },
        "events_default": 0,
        "state_default": 50,
        "ban": 50,
        "kick": 50,
        "redact": 50,
        "invite": 0,
        "notifications": { "room": 50 },
    }))
}

fn text(value: &str) -> CanonicalJsonValue {
    CanonicalJsonValue::String(value.to_owned())
}

/// A JSON object literal as canonical JSON; the literals here are always
/// objects of strings and small integers.
pub(crate) fn object(value: serde_json::Value) -> CanonicalJsonObject {
    match CanonicalJsonValue::try_from(value) {
        Ok(CanonicalJsonValue::Object(object)) => object,
        _ => unreachable!("object() is only called with object literals"),
    }
}
