//! Invites across servers (PUT /v2/invite): a user of another server
//! invited to a room here, and a user of this server invited to a room
//! elsewhere. An invite is signed by both servers before it enters the
//! room: the inviting server builds and signs it, the invited server checks
//! and countersigns it.

use hanse_protocol::canonical_json::{object_from_json, CanonicalJsonObject, CanonicalJsonValue};
use hanse_protocol::hashes::check_content_hash;
use hanse_protocol::identifiers::{EventId, RoomId, ServerName, UserId};
use hanse_protocol::path_segment::encode;
use hanse_protocol::pdu::Pdu;
use hanse_protocol::room_versions::RoomVersionId;
use serde::Deserialize;
use serde_json::{json, Value};

use super::receive::{federation_format, Intake};
use super::resident::JOINABLE;
use crate::remote::{RemoteError, RemoteRequest};
use crate::rooms::{stripped, EventDraft, OutOfBand, Receipt, RoomRef};
use crate::{Error, Homeserver, Result};

/// The body of PUT /v2/invite/{roomId}/{eventId}.
#[derive(Debug, Deserialize)]
pub struct InviteRequest {
    pub room_version: String,
    pub event: Value,
    #[serde(default)]
    pub invite_room_state: Vec<Value>,
}

impl Homeserver {
    /// Invites `target`, a user of another server, to `room`, which this
    /// server is in: the event is built here, countersigned by the target's
    /// server, then added to the room and sent to the room's other servers.
    pub(crate) async fn invite_remote(
        &self,
        sender: &UserId,
        room: &RoomRef,
        target: &UserId,
        content: CanonicalJsonObject,
    ) -> Result<()> {
        let rules = room.version.rules();
        let draft = EventDraft::state("m.room.member", target.as_str(), sender, content);
        let (mut event, allowed) = self.event_template(room, &draft).await?;
        if let Err(reason) = allowed {
            return Err(Error::Forbidden(format!(
                "{sender} may not invite {target}: {reason}"
            )));
        }
        self.identity
            .sign_event(&mut event, rules)
            .map_err(|e| Error::Internal(format!("signing an invite: {e}")))?;
        let invite =
            Pdu::from_canonical(event, rules).map_err(|e| Error::Internal(e.to_string()))?;
        let server = target.server_name();
        let path = format!(
            "/_matrix/federation/v2/invite/{}/{}",
            encode(room.room_id.as_str()),
            encode(invite.event_id().as_str())
        );
        let body = json!({
            "room_version": room.version.as_str(),
            "event": federation_format(&invite),
            "invite_room_state": self.stripped_state_pdus(room).await?,
        });
        let answer = self
            .request_server(server, RemoteRequest::put(path, body))
            .await?;

        // What comes back must be the same event, now signed by the
        // invited server too.
        let invalid = |reason: &str| -> Error {
            RemoteError::InvalidResponse {
                server: server.as_str().to_owned(),
                reason: reason.to_owned(),
            }
            .into()
        };
        let countersigned = answer
            .get("event")
            .cloned()
            .and_then(|event| object_from_json(event).ok())
            .and_then(|object| Pdu::from_canonical(object, rules).ok())
            .filter(|pdu| pdu.event_id() == invite.event_id())
            .ok_or_else(|| invalid("the invite came back changed or not at all"))?;
        if !self.signed_by(&countersigned, rules, server).await? {
            return Err(invalid(
                "the invite came back without a valid signature of its server",
            ));
        }
        let receipt = match self
            .take_in(server, room, countersigned.clone(), Intake::ForOthers)
            .await?
        {
            Ok(receipt) => receipt,
            Err(reason) => {
                return Err(Error::Forbidden(format!("the invite is refused: {reason}")))
            }
        };
        let stored = self
            .event_by_id(invite.event_id().as_str())
            .await?
            .ok_or_else(|| Error::Internal("an invite taken in is not stored".into()))?;
        if stored.stream_ordering == 0 {
            return Err(Error::Forbidden(
                "the invite is not allowed by the room's current state".into(),
            ));
        }
        // The invited server has it already; the room's others were queued
        // it in the commit that stored it, unless it was here before.
        if receipt != Receipt::Accepted {
            self.forward_event(room.nid, stored.nid, server).await?;
        }
        tracing::info!(room_id = %room.room_id, %target, "invited a user of another server");
        Ok(())
    }

    /// PUT /v2/invite/{roomId}/{eventId}: `origin` invites a user of this
    /// server. The invite is checked as the spec asks, countersigned, and
    /// (unless this server is in the room, where it arrives again with the
    /// room's other events) stored as the user's membership with the
    /// room's stripped state.
    pub async fn receive_invite(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &EventId,
        request: InviteRequest,
    ) -> Result<Value> {
        let version: RoomVersionId = request
            .room_version
            .parse()
            .ok()
            .filter(|version| JOINABLE.contains(version))
            .ok_or_else(|| Error::IncompatibleRoomVersion {
                room_version: request.room_version.clone(),
            })?;
        let rules = version.rules();
        let object = object_from_json(request.event)
            .map_err(|e| Error::InvalidParam(format!("the invite is not canonical JSON: {e}")))?;
        // A countersigned copy is re-hashed: an event whose content does
        // not match its hash cannot be signed as it is.
        check_content_hash(&object)
            .map_err(|e| Error::InvalidParam(format!("the invite's content hash: {e}")))?;
        let invite = self
            .check_pdu(object, rules)
            .await?
            .map_err(|dropped| Error::InvalidParam(format!("the invite is refused: {dropped}")))?;
        let target = invite
            .state_key()
            .and_then(|key| UserId::parse(key).ok())
            .filter(|user| user.server_name() == &self.identity.server_name);
        let membership = invite
            .content()
            .get("membership")
            .and_then(CanonicalJsonValue::as_str);
        let target = match target {
            Some(target)
                if invite.event_id() == event_id
                    && invite.room_id() == room_id
                    && invite.event_type() == "m.room.member"
                    && membership == Some("invite")
                    && invite.sender().server_name() == origin =>
            {
                target
            }
            _ => {
                return Err(Error::InvalidParam(format!(
                    "{event_id} must be an invite of a user of this server to {room_id}, \
                     sent by a user of {origin}"
                )))
            }
        };
        self.require_local_account(&target).await?;
        self.refuse_blocked_invite(&target).await?;
        let stripped_state = self
            .received_stripped_state(&version, room_id, &request.invite_room_state, true)
            .await?;

        let mut countersigned = invite.as_object().clone();
        self.identity
            .sign_event(&mut countersigned, rules)
            .map_err(|e| Error::InvalidParam(format!("the invite cannot be signed: {e}")))?;
        let countersigned = Pdu::from_canonical(countersigned, rules)
            .map_err(|e| Error::Internal(format!("a countersigned invite: {e}")))?;
        let known = self.event_by_id(event_id.as_str()).await?.is_some();
        if !known && !self.is_in_room(room_id).await? {
            self.store_out_of_band(OutOfBand {
                version,
                event: countersigned.clone(),
                stripped_state,
                through: origin.clone(),
            })
            .await?;
            tracing::info!(%room_id, %target, %origin, "invited to a room on another server");
        }
        Ok(json!({ "event": federation_format(&countersigned) }))
    }

    /// A room's stripped state as whole events (invite_room_state,
    /// knock_room_state), which the receiving server can check.
    pub(crate) async fn stripped_state_pdus(&self, room: &RoomRef) -> Result<Vec<Value>> {
        let events = self.stripped_state_events(room).await?;
        Ok(events
            .iter()
            .map(|event| federation_format(&event.pdu))
            .collect())
    }

    /// The stripped state of `room_id` another server sent: each whole
    /// event checked (steps 1–3) and of this room; older servers' stripped
    /// events are taken as they are in room versions before 12. When
    /// `strict` (an invite), an entry that fails, or a version 12 list
    /// without the create event, refuses the whole (M_INVALID_PARAM);
    /// otherwise (a knock) failing entries are left out.
    pub(crate) async fn received_stripped_state(
        &self,
        version: &RoomVersionId,
        room_id: &RoomId,
        entries: &[Value],
        strict: bool,
    ) -> Result<Vec<Value>> {
        let rules = version.rules();
        let whole_events_only = *version == RoomVersionId::V12;
        let mut kept = Vec::with_capacity(entries.len());
        let mut has_create = false;
        for entry in entries {
            let outcome = if entry.get("signatures").is_some() {
                match object_from_json(entry.clone()) {
                    Ok(object) => match self.check_pdu(object, rules).await? {
                        Ok(pdu) if pdu.room_id() == room_id && pdu.is_state() => {
                            has_create |= pdu.event_type() == "m.room.create";
                            Ok(stripped(&pdu))
                        }
                        Ok(pdu) => Err(format!("{} is not state of {room_id}", pdu.event_id())),
                        Err(dropped) => Err(dropped.to_string()),
                    },
                    Err(error) => Err(format!("an entry is not canonical JSON: {error}")),
                }
            } else if whole_events_only {
                Err("an entry is not a whole event".to_owned())
            } else {
                stripped_entry(entry).ok_or_else(|| "an entry is not a state event".to_owned())
            };
            match outcome {
                Ok(event) => kept.push(event),
                Err(reason) if strict => {
                    return Err(Error::InvalidParam(format!(
                        "the room's stripped state: {reason}"
                    )))
                }
                Err(reason) => tracing::info!(%room_id, %reason, "leaving out stripped state"),
            }
        }
        if whole_events_only && !has_create {
            if strict {
                return Err(Error::InvalidParam(
                    "the room's stripped state lacks its m.room.create event".into(),
                ));
            }
            tracing::info!(%room_id, "stripped state without the room's create event");
        }
        Ok(kept)
    }
}

/// An entry an older server sent as stripped state already, reduced to
/// the four fields stripped state has; `None` unless they are well formed.
fn stripped_entry(entry: &Value) -> Option<Value> {
    let text = |name: &str| entry.get(name).and_then(Value::as_str);
    let (event_type, state_key, sender) = (text("type")?, text("state_key")?, text("sender")?);
    UserId::parse(sender).ok()?;
    let content = entry.get("content").filter(|content| content.is_object())?;
    Some(json!({
        "type": event_type,
        "state_key": state_key,
        "sender": sender,
        "content": content,
    }))
}
