//! Stripped state: what a user outside a room is shown of it with an
//! invite or a knock (its name, topic, avatar and the like), and what
//! servers send each other for that.

use std::sync::Arc;

use hanse_protocol::pdu::Pdu;
use serde_json::{json, Value};

use super::{RoomRef, StoredEvent};
use crate::{Homeserver, Result};

/// The state events shown of a room to a user invited to it or knocking.
const STRIPPED_STATE: [&str; 7] = [
    "m.room.create",
    "m.room.join_rules",
    "m.room.name",
    "m.room.avatar",
    "m.room.canonical_alias",
    "m.room.encryption",
    "m.room.topic",
];

impl Homeserver {
    /// The events of the room's current state that are shown as its
    /// stripped state.
    pub(crate) async fn stripped_state_events(
        &self,
        room: &RoomRef,
    ) -> Result<Vec<Arc<StoredEvent>>> {
        let root = self.current_root(room).await?;
        let pairs: Vec<(&str, &str)> = STRIPPED_STATE.iter().map(|t| (*t, "")).collect();
        Ok(self
            .state_at(root, &pairs)
            .await?
            .into_iter()
            .flatten()
            .collect())
    }
}

/// A state event as stripped state: type, state key, sender, content.
pub(crate) fn stripped(pdu: &Pdu) -> Value {
    json!({
        "type": pdu.event_type(),
        "state_key": pdu.state_key().unwrap_or_default(),
        "sender": pdu.sender().as_str(),
        "content": pdu.content(),
    })
}
