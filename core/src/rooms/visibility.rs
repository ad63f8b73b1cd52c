//! History visibility: which events a user may read, decided with the
//! room state at each event, as the spec's history visibility module says.
//! Every read path filters through here.

use hanse_protocol::canonical_json::CanonicalJsonValue;
use hanse_protocol::identifiers::UserId;

use super::build::RoomRef;
use super::events::StoredEvent;
use super::membership_of;
use super::state_trie::NodeNid;
use crate::store::MembershipRow;
use crate::{Error, Homeserver, Result};

/// A user's standing in a room, read once per request.
#[derive(Debug, Clone)]
pub(crate) struct Reader {
    user: UserId,
    /// The current membership, if any.
    membership: Option<String>,
    /// When the membership is `leave` or `ban`: the stream position of that
    /// event, before which the user was (or may have been) joined.
    left_at: Option<i64>,
    /// Whether the user was joined right before leaving.
    left_from_join: bool,
}

impl Homeserver {
    /// Who is reading, and where their membership stands.
    pub(crate) async fn reader(&self, room: &RoomRef, user: &UserId) -> Result<Reader> {
        let row = self.store.membership(room.nid, user.as_str()).await?;
        self.reader_from(user, row).await
    }

    /// The reader whose membership row (if any) was already read.
    pub(crate) async fn reader_from(
        &self,
        user: &UserId,
        row: Option<MembershipRow>,
    ) -> Result<Reader> {
        let mut reader = Reader {
            user: user.clone(),
            membership: row.as_ref().map(|row| row.membership.clone()),
            left_at: None,
            left_from_join: false,
        };
        if let Some(row) = row.filter(|row| matches!(row.membership.as_str(), "leave" | "ban")) {
            let leave = self.events(&[row.event_nid]).await?.remove(0);
            reader.left_at = Some(leave.stream_ordering);
            reader.left_from_join = self
                .membership_at(leave.state_before, user)
                .await?
                .as_deref()
                == Some("join");
        }
        Ok(reader)
    }

    /// Whether `reader` may see `event`.
    pub(crate) async fn may_see(&self, reader: &Reader, event: &StoredEvent) -> Result<bool> {
        let before = self
            .state_at(
                event.state_before,
                &[
                    ("m.room.history_visibility", ""),
                    ("m.room.member", reader.user.as_str()),
                ],
            )
            .await?;
        let visibility_before = before[0]
            .as_deref()
            .map_or_else(|| "shared".to_owned(), visibility_of);
        let membership_before = before[1].as_deref().and_then(membership_of);
        let pdu = &event.pdu;
        let mut visibility_after = visibility_before.clone();
        let mut membership_after = membership_before.clone();
        if pdu.state_key() == Some("") && pdu.event_type() == "m.room.history_visibility" {
            visibility_after = visibility_of(event);
        }
        if pdu.event_type() == "m.room.member" && pdu.state_key() == Some(reader.user.as_str()) {
            membership_after = membership_of(event);
        }
        Ok(
            reader.allowed(event, &visibility_before, membership_before.as_deref())
                || reader.allowed(event, &visibility_after, membership_after.as_deref()),
        )
    }

    /// The state a reader of the room sees: the current state while they
    /// are joined (or the room is world-readable), the state when they left
    /// after leaving. Refused to those who never joined.
    pub(crate) async fn readable_state_root(
        &self,
        room: &RoomRef,
        reader: &Reader,
    ) -> Result<ReadableState> {
        let current = self.current_root(room).await?;
        if reader.membership.as_deref() == Some("join") {
            return Ok(ReadableState::Current(current));
        }
        let world_readable = self
            .state_event_at(current, "m.room.history_visibility", "")
            .await?
            .is_some_and(|event| visibility_of(&event) == "world_readable");
        if world_readable {
            return Ok(ReadableState::Current(current));
        }
        if reader.left_from_join {
            if let Some(row) = self
                .store
                .membership(room.nid, reader.user.as_str())
                .await?
            {
                return Ok(ReadableState::AtLeave(row.event_nid));
            }
        }
        Err(Error::Forbidden(
            "you are not in this room and its history is not world-readable".into(),
        ))
    }
}

/// Where a reader's view of the room state stands.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ReadableState {
    Current(NodeNid),
    /// The state right after this leave (or ban) event.
    AtLeave(i64),
}

impl Reader {
    pub fn membership(&self) -> Option<&str> {
        self.membership.as_deref()
    }

    /// The spec's rules, for one view (before or after) of the event.
    fn allowed(&self, event: &StoredEvent, visibility: &str, membership: Option<&str>) -> bool {
        match (visibility, membership) {
            ("world_readable", _) | (_, Some("join")) => true,
            ("invited", Some("invite")) => true,
            ("shared", _) => self.joined_after(event),
            _ => false,
        }
    }

    /// Whether the user joined the room at some point after `event`: they
    /// are joined now, or they left from a join that came later.
    fn joined_after(&self, event: &StoredEvent) -> bool {
        match (self.membership(), self.left_at) {
            (Some("join"), _) => true,
            (_, Some(left_at)) => self.left_from_join && event.stream_ordering < left_at,
            _ => false,
        }
    }
}

/// The `history_visibility` of such an event; unknown values mean shared.
fn visibility_of(event: &StoredEvent) -> String {
    match event
        .pdu
        .content()
        .get("history_visibility")
        .and_then(CanonicalJsonValue::as_str)
    {
        Some(value @ ("world_readable" | "shared" | "invited" | "joined")) => value.to_owned(),
        _ => "shared".to_owned(),
    }
}
