//! Sending events: messages, state and redactions from clients.

use hanse_protocol::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use hanse_protocol::identifiers::{EventId, RoomAlias, RoomId, UserId};

use super::build::{ClientTransaction, EventDraft};
use crate::accounts::Session;
use crate::rate_limits::Action;
use crate::{Error, Homeserver, Result};

impl Homeserver {
    /// Sends a message event; the same transaction ID from the same device
    /// returns the first event instead of sending another.
    pub async fn send_message(
        &self,
        session: &Session,
        room_id: &RoomId,
        event_type: &str,
        txn_id: &str,
        content: CanonicalJsonObject,
    ) -> Result<EventId> {
        if let Some(event_id) = self.sent_in_transaction(session, txn_id).await? {
            return Ok(event_id);
        }
        self.rate_limits
            .check(Action::Message, session.user_id.as_str())?;
        let room = self.room(room_id).await?;
        let mut draft = EventDraft::new(event_type, &session.user_id, content);
        if event_type == "m.room.redaction" && !room.version.rules().redacts_in_content {
            return Err(Error::InvalidParam(
                "send redactions with PUT /rooms/{roomId}/redact/{eventId}/{txnId}".into(),
            ));
        }
        draft.transaction = Some(transaction(session, txn_id));
        let appended = self.append_events(&room, vec![draft]).await?;
        Ok(appended[0].event_id.clone())
    }

    /// Sets a piece of room state. Setting what is already there sends
    /// nothing and returns the existing event.
    pub async fn send_state(
        &self,
        session: &Session,
        room_id: &RoomId,
        event_type: &str,
        state_key: &str,
        content: CanonicalJsonObject,
    ) -> Result<EventId> {
        let room = self.room(room_id).await?;
        if event_type == "m.room.canonical_alias" {
            self.check_canonical_alias(room_id, &content).await?;
        }
        if event_type == "m.room.member"
            && content.get("membership") == Some(&CanonicalJsonValue::String("invite".into()))
        {
            if let Ok(invitee) = UserId::parse(state_key) {
                if invitee.server_name() == &self.identity.server_name {
                    self.refuse_blocked_invite(&invitee).await?;
                }
            }
        }
        let root = self.current_root(&room).await?;
        if let Some(current) = self.state_event_at(root, event_type, state_key).await? {
            if current.pdu.content() == &content && current.pdu.sender() == &session.user_id {
                return Ok(current.pdu.event_id().clone());
            }
        }
        self.rate_limits
            .check(Action::Message, session.user_id.as_str())?;
        let draft = EventDraft::state(event_type, state_key, &session.user_id, content);
        let appended = self.append_events(&room, vec![draft]).await?;
        Ok(appended[0].event_id.clone())
    }

    /// Redacts `event_id` (PUT /rooms/{roomId}/redact/{eventId}/{txnId}).
    pub async fn redact_event(
        &self,
        session: &Session,
        room_id: &RoomId,
        event_id: &EventId,
        txn_id: &str,
        reason: Option<String>,
    ) -> Result<EventId> {
        if let Some(event_id) = self.sent_in_transaction(session, txn_id).await? {
            return Ok(event_id);
        }
        self.rate_limits
            .check(Action::Message, session.user_id.as_str())?;
        let room = self.room(room_id).await?;
        let mut content = CanonicalJsonObject::new();
        if let Some(reason) = reason {
            content.insert("reason".into(), CanonicalJsonValue::String(reason));
        }
        let mut draft = EventDraft::new(
            "m.room.redaction",
            &session.user_id,
            CanonicalJsonObject::new(),
        );
        if room.version.rules().redacts_in_content {
            content.insert(
                "redacts".into(),
                CanonicalJsonValue::String(event_id.as_str().to_owned()),
            );
        } else {
            draft.redacts = Some(event_id.clone());
        }
        draft.content = content;
        draft.transaction = Some(transaction(session, txn_id));
        let appended = self.append_events(&room, vec![draft]).await?;
        Ok(appended[0].event_id.clone())
    }

    async fn sent_in_transaction(
        &self,
        session: &Session,
        txn_id: &str,
    ) -> Result<Option<EventId>> {
        let Some(event_id) = self
            .store
            .transaction_event(session.user_id.as_str(), &session.device_id, txn_id)
            .await?
        else {
            return Ok(None);
        };
        EventId::parse(&event_id)
            .map(Some)
            .map_err(|e| Error::Internal(format!("stored event ID {event_id}: {e}")))
    }

    /// The spec: every alias in `m.room.canonical_alias` must be valid and
    /// point to this room (M_BAD_ALIAS otherwise). Only local aliases can
    /// be checked without federation; remote ones are checked for grammar.
    async fn check_canonical_alias(
        &self,
        room_id: &RoomId,
        content: &CanonicalJsonObject,
    ) -> Result<()> {
        let mut aliases = Vec::new();
        match content.get("alias") {
            None => {}
            Some(CanonicalJsonValue::String(alias)) => aliases.push(alias.as_str()),
            Some(_) => return Err(Error::BadJson("`alias` must be a string".into())),
        }
        match content.get("alt_aliases") {
            None => {}
            Some(CanonicalJsonValue::Array(list)) => {
                for alias in list {
                    aliases.push(alias.as_str().ok_or_else(|| {
                        Error::BadJson("`alt_aliases` must be a list of strings".into())
                    })?);
                }
            }
            Some(_) => return Err(Error::BadJson("`alt_aliases` must be a list".into())),
        }
        for alias in aliases {
            let parsed = RoomAlias::parse(alias)
                .map_err(|_| Error::BadAlias(format!("{alias:?} is not a room alias")))?;
            if parsed.server_name() == &self.identity.server_name
                && self.store.alias_room(alias).await?.as_deref() != Some(room_id.as_str())
            {
                return Err(Error::BadAlias(format!(
                    "{alias} does not point to this room"
                )));
            }
        }
        Ok(())
    }
}

fn transaction(session: &Session, txn_id: &str) -> ClientTransaction {
    ClientTransaction {
        user_id: session.user_id.to_string(),
        device_id: session.device_id.clone(),
        txn_id: txn_id.to_owned(),
    }
}
