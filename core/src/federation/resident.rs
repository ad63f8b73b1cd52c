//! The resident side of a join: another server's user joins a room this
//! server is in. make_join hands out an unsigned member event built on the
//! room's head; send_join takes the signed event back, adds it to the
//! room, and answers with the state the joining server needs.

use hanse_protocol::canonical_json::{object_from_json, CanonicalJsonValue};
use hanse_protocol::identifiers::{EventId, RoomId, ServerName, UserId};
use hanse_protocol::room_versions::RoomVersionId;
use serde_json::{json, Value};

use super::receive::{federation_format, Intake};
use crate::rooms::{EventDraft, Receipt};
use crate::{Error, Homeserver, Result};

/// Room versions this server joins and lets others join through it:
/// those whose event IDs are hashes (3 on).
pub const JOINABLE: [RoomVersionId; 10] = [
    RoomVersionId::V3,
    RoomVersionId::V4,
    RoomVersionId::V5,
    RoomVersionId::V6,
    RoomVersionId::V7,
    RoomVersionId::V8,
    RoomVersionId::V9,
    RoomVersionId::V10,
    RoomVersionId::V11,
    RoomVersionId::V12,
];

/// The memberships another server may ask this one to make events for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteMembership {
    Join,
    Leave,
    Knock,
}

impl RemoteMembership {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Join => "join",
            Self::Leave => "leave",
            Self::Knock => "knock",
        }
    }
}

impl Homeserver {
    /// GET /make_{join,leave,knock}/{roomId}/{userId}: a member event for
    /// `user_id` to sign, and the room's version. `supported` are the
    /// versions the asking server can handle (`ver`; none for leaves).
    pub async fn make_membership(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        user_id: &UserId,
        membership: RemoteMembership,
        supported: Option<&[String]>,
    ) -> Result<Value> {
        if user_id.server_name() != origin {
            return Err(Error::Forbidden(format!(
                "{origin} cannot make a {} for {user_id}, a user of another server",
                membership.as_str()
            )));
        }
        let room = self.room(room_id).await?;
        self.require_acl(&room, origin).await?;
        // This server must be in the room to speak for it.
        if !self
            .store
            .server_in_room(room.nid, self.identity.server_name.as_str())
            .await?
        {
            return Err(Error::NotFound(format!("this server is not in {room_id}")));
        }
        let version = room.version;
        if let Some(supported) = supported {
            // Without `ver` the asking server supports version 1 only.
            let offered = if supported.is_empty() {
                &["1".to_owned()][..]
            } else {
                supported
            };
            if !offered.iter().any(|v| v == version.as_str()) {
                return Err(Error::IncompatibleRoomVersion {
                    room_version: version.as_str().to_owned(),
                });
            }
        }
        let content = crate::rooms::object(json!({ "membership": membership.as_str() }));
        let draft = EventDraft::state("m.room.member", user_id.as_str(), user_id, content);
        let (template, allowed) = self.event_template(&room, &draft).await?;
        if let Err(reason) = allowed {
            return Err(Error::Forbidden(format!(
                "{user_id} may not {}: {reason}",
                membership.as_str()
            )));
        }
        Ok(json!({
            "event": Value::from(CanonicalJsonValue::Object(template)),
            "room_version": version.as_str(),
        }))
    }

    /// PUT /v2/send_{join,leave,knock}/{roomId}/{eventId}: adds the signed
    /// member event to the room, and sends it on to the room's other
    /// servers. A join is answered with the state before it and its auth
    /// chain, a knock with the room's stripped state (as whole events, which
    /// the knocking server can check), a leave with nothing.
    pub async fn send_membership(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &EventId,
        membership: RemoteMembership,
        event: Value,
    ) -> Result<Value> {
        let room = self.room(room_id).await?;
        self.require_acl(&room, origin).await?;
        let object = object_from_json(event)
            .map_err(|e| Error::BadJson(format!("the event is not canonical JSON: {e}")))?;
        let pdu = match self.check_pdu(object, room.version.rules()).await? {
            Ok(pdu) => pdu,
            Err(dropped) => return Err(Error::Forbidden(dropped.to_string())),
        };
        let stated = pdu
            .content()
            .get("membership")
            .and_then(CanonicalJsonValue::as_str);
        if pdu.event_id() != event_id
            || pdu.room_id() != room_id
            || pdu.event_type() != "m.room.member"
            || pdu.state_key() != Some(pdu.sender().as_str())
            || stated != Some(membership.as_str())
        {
            return Err(Error::BadJson(format!(
                "the body must be the {} event {event_id} of its sender in {room_id}",
                membership.as_str()
            )));
        }
        if pdu.sender().server_name() != origin {
            return Err(Error::Forbidden(format!(
                "{origin} cannot send a {} for {}",
                membership.as_str(),
                pdu.sender()
            )));
        }
        let receipt = match self
            .take_in(origin, &room, pdu.clone(), Intake::ForOthers)
            .await?
        {
            Ok(receipt) => receipt,
            Err(reason) => {
                return Err(Error::Forbidden(format!(
                    "the {} is refused: {reason}",
                    membership.as_str()
                )))
            }
        };
        let stored = self
            .event_by_id(event_id.as_str())
            .await?
            .ok_or_else(|| Error::Internal("an event taken in is not stored".into()))?;
        if stored.stream_ordering == 0 {
            return Err(Error::Forbidden(format!(
                "the {} is not allowed by the room's current state",
                membership.as_str()
            )));
        }
        // Queued for the room's other servers in the commit that stored it,
        // unless it was here before (a retried send_*).
        if receipt != Receipt::Accepted {
            self.forward_event(room.nid, stored.nid, origin).await?;
        }
        match membership {
            RemoteMembership::Join => {
                let state = self.full_state_at(stored.state_before).await?;
                let mut with_join = state.clone();
                with_join.push(stored.clone());
                let chain = self.auth_chain(&with_join).await?;
                let servers = self.store.joined_servers(room.nid).await?;
                let formats = |events: &[std::sync::Arc<crate::rooms::StoredEvent>]| -> Vec<Value> {
                    events.iter().map(|e| federation_format(&e.pdu)).collect()
                };
                Ok(json!({
                    "origin": self.identity.server_name.as_str(),
                    "state": formats(&state),
                    "auth_chain": formats(&chain),
                    "event": federation_format(&stored.pdu),
                    "members_omitted": false,
                    "servers_in_room": servers,
                }))
            }
            RemoteMembership::Knock => Ok(json!({
                "knock_room_state": self.stripped_state_pdus(&room).await?,
            })),
            RemoteMembership::Leave => Ok(json!({})),
        }
    }
}
