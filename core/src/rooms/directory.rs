//! Room aliases and the published room directory.

use hanse_protocol::canonical_json::CanonicalJsonValue;
use hanse_protocol::identifiers::{RoomAlias, RoomId, UserId};
use serde_json::{json, Map, Value};

use super::build::RoomRef;
use crate::accounts::Session;
use crate::clock::now_ms;
use crate::{Error, Homeserver, Result};

/// A page of the published room directory.
#[derive(Debug, Clone)]
pub struct PublicRooms {
    pub chunk: Vec<Value>,
    pub next_batch: Option<String>,
    pub prev_batch: Option<String>,
    pub total_room_count_estimate: usize,
}

/// GET/POST /publicRooms parameters.
#[derive(Debug, Clone, Default)]
pub struct PublicRoomsQuery {
    pub limit: Option<usize>,
    pub since: Option<String>,
    pub search_term: Option<String>,
}

impl Homeserver {
    /// The room a local alias points to (GET /directory/room/{alias}).
    pub async fn alias_room(&self, alias: &RoomAlias) -> Result<RoomId> {
        if alias.server_name() != &self.identity.server_name {
            return Err(Error::NotFound(format!(
                "{alias} is on another server; this server does not federate yet"
            )));
        }
        let room_id = self
            .store
            .alias_room(alias.as_str())
            .await?
            .ok_or_else(|| Error::NotFound(format!("no room has the alias {alias}")))?;
        RoomId::parse(&room_id).map_err(|e| Error::Internal(e.to_string()))
    }

    /// Creates a local alias (PUT /directory/room/{alias}). Any member of
    /// the room may, as in Synapse; the canonical alias stays the room's
    /// decision.
    pub async fn create_alias(
        &self,
        session: &Session,
        alias: &RoomAlias,
        room_id: &RoomId,
    ) -> Result<()> {
        self.require_local_alias(alias)?;
        let room = self.room(room_id).await?;
        let root = self.current_root(&room).await?;
        if self.membership_at(root, &session.user_id).await?.as_deref() != Some("join") {
            return Err(Error::Forbidden("join the room to give it an alias".into()));
        }
        if !self
            .store
            .insert_alias(alias.as_str(), room.nid, session.user_id.as_str(), now_ms())
            .await?
        {
            return Err(Error::Conflict(format!("the alias {alias} exists already")));
        }
        Ok(())
    }

    /// Removes a local alias: its creator, a server admin, or whoever may
    /// change the room's canonical alias may.
    pub async fn delete_alias(&self, session: &Session, alias: &RoomAlias) -> Result<()> {
        self.require_local_alias(alias)?;
        let room_id = self.alias_room(alias).await?;
        let creator = self.store.alias_creator(alias.as_str()).await?;
        let allowed = session.is_admin
            || creator.as_deref() == Some(session.user_id.as_str())
            || self
                .may_send_state(
                    &self.room(&room_id).await?,
                    &session.user_id,
                    "m.room.canonical_alias",
                )
                .await?;
        if !allowed {
            return Err(Error::Forbidden(
                "only the alias's creator or a room moderator may remove it".into(),
            ));
        }
        self.store.delete_alias(alias.as_str()).await?;
        Ok(())
    }

    /// The room's local aliases, for its members or if it is world-readable.
    pub async fn room_aliases(&self, user: &UserId, room_id: &RoomId) -> Result<Vec<String>> {
        let room = self.room(room_id).await?;
        let reader = self.reader(&room, user).await?;
        self.readable_state_root(&room, &reader).await?;
        Ok(self.store.room_aliases(room.nid).await?)
    }

    /// Whether the room is in the published directory.
    pub async fn room_visibility(&self, room_id: &RoomId) -> Result<bool> {
        let room = self.room(room_id).await?;
        Ok(self.store.is_published(room.nid).await?)
    }

    /// Publishes or unpublishes the room: for those who may change its
    /// canonical alias, and server admins.
    pub async fn set_room_visibility(
        &self,
        session: &Session,
        room_id: &RoomId,
        publish: bool,
    ) -> Result<()> {
        let room = self.room(room_id).await?;
        if !session.is_admin
            && !self
                .may_send_state(&room, &session.user_id, "m.room.canonical_alias")
                .await?
        {
            return Err(Error::Forbidden(
                "only room moderators may publish or unpublish the room".into(),
            ));
        }
        self.store.set_published(room.nid, publish).await?;
        Ok(())
    }

    /// A page of the published directory, with an optional search over
    /// names, topics and aliases.
    pub async fn public_rooms(&self, query: PublicRoomsQuery) -> Result<PublicRooms> {
        let term = query.search_term.as_deref().map(str::to_lowercase);
        let mut summaries = Vec::new();
        for (room_id, joined) in self.store.published_rooms().await? {
            let room_id = RoomId::parse(&room_id).map_err(|e| Error::Internal(e.to_string()))?;
            let summary = self.room_summary(&room_id, joined).await?;
            let matches = term.as_ref().is_none_or(|term| {
                ["name", "topic", "canonical_alias"].iter().any(|key| {
                    summary[*key]
                        .as_str()
                        .is_some_and(|value| value.to_lowercase().contains(term))
                })
            });
            if matches {
                summaries.push(summary);
            }
        }
        let total = summaries.len();
        let offset = match &query.since {
            Some(since) => since
                .strip_prefix('p')
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| {
                    Error::InvalidParam(format!("{since:?} is not a directory token"))
                })?,
            None => 0,
        };
        let limit = query.limit.unwrap_or(total).max(1);
        let end = offset.saturating_add(limit).min(total);
        let chunk = summaries.get(offset..end).unwrap_or_default().to_vec();
        Ok(PublicRooms {
            chunk,
            next_batch: (end < total).then(|| format!("p{end}")),
            prev_batch: (offset > 0).then(|| format!("p{}", offset.saturating_sub(limit))),
            total_room_count_estimate: total,
        })
    }

    /// The directory's view of a room (PublishedRoomsChunk).
    async fn room_summary(&self, room_id: &RoomId, joined: i64) -> Result<Value> {
        let room = self.room(room_id).await?;
        let root = self.current_root(&room).await?;
        let state = self
            .state_at(
                root,
                &[
                    ("m.room.name", ""),
                    ("m.room.topic", ""),
                    ("m.room.canonical_alias", ""),
                    ("m.room.avatar", ""),
                    ("m.room.join_rules", ""),
                    ("m.room.history_visibility", ""),
                    ("m.room.guest_access", ""),
                    ("m.room.create", ""),
                ],
            )
            .await?;
        let field = |index: usize, key: &str| -> Option<String> {
            state[index]
                .as_ref()
                .and_then(|event| event.pdu.content().get(key))
                .and_then(CanonicalJsonValue::as_str)
                .map(str::to_owned)
        };
        let mut summary = Map::new();
        summary.insert("room_id".into(), json!(room_id.as_str()));
        summary.insert("num_joined_members".into(), json!(joined));
        summary.insert(
            "world_readable".into(),
            json!(field(5, "history_visibility").as_deref() == Some("world_readable")),
        );
        summary.insert(
            "guest_can_join".into(),
            json!(field(6, "guest_access").as_deref() == Some("can_join")),
        );
        summary.insert(
            "join_rule".into(),
            json!(field(4, "join_rule").unwrap_or_else(|| "public".into())),
        );
        for (index, key, name) in [
            (0, "name", "name"),
            (1, "topic", "topic"),
            (2, "alias", "canonical_alias"),
            (3, "url", "avatar_url"),
            (7, "type", "room_type"),
        ] {
            if let Some(value) = field(index, key) {
                summary.insert(name.into(), json!(value));
            }
        }
        Ok(Value::Object(summary))
    }

    fn require_local_alias(&self, alias: &RoomAlias) -> Result<()> {
        if alias.server_name() != &self.identity.server_name {
            return Err(Error::InvalidParam(format!(
                "{alias} belongs to another server; only aliases on {} can be managed here",
                self.identity.server_name
            )));
        }
        Ok(())
    }

    /// Whether `user` has the power to send state of `event_type` now.
    pub(crate) async fn may_send_state(
        &self,
        room: &RoomRef,
        user: &UserId,
        event_type: &str,
    ) -> Result<bool> {
        let root = self.current_root(room).await?;
        let (levels, creators) = self.power_levels_at(room, root).await?;
        Ok(levels
            .user_level(user, &creators)
            .at_least(levels.event_level(event_type, true)))
    }
}
