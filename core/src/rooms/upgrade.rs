//! Room upgrades (POST /rooms/{roomId}/upgrade): a replacement room in a
//! new version with the old room's transferable state, the local aliases
//! moved over, a tombstone in the old room, and the old room's power
//! levels raised so that ordinary members stop talking there.

use hanse_protocol::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use hanse_protocol::identifiers::{RoomId, UserId};
use hanse_protocol::power_levels::UserPowerLevel;
use hanse_protocol::room_versions::RoomVersionId;
use serde_json::json;

use super::create::{object, CreateRoom, Preset, CREATABLE};
use crate::accounts::Session;
use crate::{Error, Homeserver, Result};

/// State copied into the replacement room (the spec's recommendation;
/// power levels are handled apart, membership never is).
const TRANSFERABLE: [&str; 8] = [
    "m.room.server_acl",
    "m.room.encryption",
    "m.room.name",
    "m.room.avatar",
    "m.room.topic",
    "m.room.guest_access",
    "m.room.history_visibility",
    "m.room.join_rules",
];

impl Homeserver {
    /// Upgrades `room_id` to `new_version`; returns the replacement room.
    pub async fn upgrade_room(
        &self,
        session: &Session,
        room_id: &RoomId,
        new_version: &str,
        additional_creators: Vec<UserId>,
    ) -> Result<RoomId> {
        let version: RoomVersionId = new_version
            .parse()
            .ok()
            .filter(|version| CREATABLE.contains(version))
            .ok_or_else(|| Error::UnsupportedRoomVersion(new_version.to_owned()))?;
        let upgrader = &session.user_id;
        let room = self.room(room_id).await?;
        let root = self.current_root(&room).await?;
        if self.membership_at(root, upgrader).await?.as_deref() != Some("join") {
            return Err(Error::Forbidden("you are not in this room".into()));
        }
        let (levels, creators) = self.power_levels_at(&room, root).await?;
        let own_level = levels.user_level(upgrader, &creators);
        if !own_level.at_least(levels.event_level("m.room.tombstone", true)) {
            return Err(Error::Forbidden(
                "upgrading needs the power to send m.room.tombstone here".into(),
            ));
        }

        let mut pairs: Vec<(&str, &str)> = TRANSFERABLE.iter().map(|t| (*t, "")).collect();
        pairs.extend([
            ("m.room.create", ""),
            ("m.room.power_levels", ""),
            ("m.room.canonical_alias", ""),
        ]);
        let state = self.state_at(root, &pairs).await?;
        let content = |i: usize| state[i].as_ref().map(|event| event.pdu.content().clone());
        let initial_state = TRANSFERABLE
            .iter()
            .enumerate()
            .filter_map(|(i, event_type)| {
                Some((event_type.to_string(), String::new(), content(i)?))
            })
            .collect();
        let old_create = content(TRANSFERABLE.len()).unwrap_or_default();
        let old_power = content(TRANSFERABLE.len() + 1).unwrap_or_default();
        let canonical_alias = content(TRANSFERABLE.len() + 2);

        let mut creation = CanonicalJsonObject::new();
        if let Some(room_type) = old_create.get("type") {
            creation.insert("type".into(), room_type.clone());
        }
        let mut predecessor = object(json!({ "room_id": room_id.as_str() }));
        if let Some(last) = self.store.last_event_id(room.nid).await? {
            predecessor.insert("event_id".into(), CanonicalJsonValue::String(last));
        }
        creation.insert(
            "predecessor".into(),
            CanonicalJsonValue::Object(predecessor),
        );
        let new_v12 = !version.rules().create_event_has_room_id();
        if new_v12 && !additional_creators.is_empty() {
            creation.insert(
                "additional_creators".into(),
                CanonicalJsonValue::Array(
                    additional_creators
                        .iter()
                        .map(|user| CanonicalJsonValue::String(user.to_string()))
                        .collect(),
                ),
            );
        }
        let power = carried_power_levels(
            old_power.clone(),
            upgrader,
            own_level,
            new_v12,
            &additional_creators,
        );

        let replacement = self
            .create_room(
                upgrader,
                CreateRoom {
                    preset: Some(Preset::Private),
                    initial_state,
                    power_level_content_override: Some(power),
                    creation_content: Some(creation),
                    room_version: Some(version.as_str().to_owned()),
                    ..CreateRoom::default()
                },
            )
            .await?;
        let new_room = self.room(&replacement).await?;

        // Aliases follow the room, and so does its directory listing.
        self.store.move_aliases(room.nid, new_room.nid).await?;
        if let Some(alias) = canonical_alias.filter(|alias| !alias.is_empty()) {
            self.send_state(session, &replacement, "m.room.canonical_alias", "", alias)
                .await?;
        }
        if self.store.is_published(room.nid).await? {
            self.store.set_published(new_room.nid, true).await?;
            self.store.set_published(room.nid, false).await?;
        }

        self.send_state(
            session,
            room_id,
            "m.room.tombstone",
            "",
            object(json!({
                "body": "This room has been replaced",
                "replacement_room": replacement.as_str(),
            })),
        )
        .await?;
        self.silence_old_room(session, room_id, old_power).await;
        tracing::info!(old = %room_id, new = %replacement, version = version.as_str(), "room upgraded");
        Ok(replacement)
    }

    /// Raises the old room's `events_default` and `invite` to the greater
    /// of 50 and `users_default + 1`, if the upgrader may; an upgrade does
    /// not fail for want of it.
    async fn silence_old_room(
        &self,
        session: &Session,
        room_id: &RoomId,
        mut power: CanonicalJsonObject,
    ) {
        let users_default = power
            .get("users_default")
            .and_then(CanonicalJsonValue::as_integer)
            .unwrap_or(0);
        let restricted = CanonicalJsonValue::integer(50.max(users_default.saturating_add(1)))
            .expect("a small level is a valid integer");
        power.insert("events_default".into(), restricted.clone());
        power.insert("invite".into(), restricted);
        if let Err(error) = self
            .send_state(session, room_id, "m.room.power_levels", "", power)
            .await
        {
            tracing::info!(%room_id, %error, "upgraded room: the old power levels stay");
        }
    }
}

/// The old room's power levels for the new room: from version 12 on,
/// creators outrank everyone and must not be listed; before it, the
/// upgrader keeps their level (a version 12 creator's infinite level
/// becomes 100).
fn carried_power_levels(
    mut power: CanonicalJsonObject,
    upgrader: &UserId,
    own_level: UserPowerLevel,
    new_v12: bool,
    additional_creators: &[UserId],
) -> CanonicalJsonObject {
    let mut users = match power.remove("users") {
        Some(CanonicalJsonValue::Object(users)) => users,
        _ => CanonicalJsonObject::new(),
    };
    if new_v12 {
        users.remove(upgrader.as_str());
        for creator in additional_creators {
            users.remove(creator.as_str());
        }
    } else {
        let level = match own_level {
            UserPowerLevel::Finite(level) => level,
            UserPowerLevel::Infinite => 100,
        };
        users.insert(
            upgrader.to_string(),
            CanonicalJsonValue::integer(level).expect("a power level is a valid integer"),
        );
    }
    power.insert("users".into(), CanonicalJsonValue::Object(users));
    power
}
