//! The events a PDU cites as `auth_events`, checked and indexed as the
//! state to authorise it against.

use std::collections::BTreeMap;

use crate::identifiers::EventId;
use crate::pdu::Pdu;
use crate::room_versions::RoomVersion;

use super::selection::auth_types_for_event;
use super::{AuthError, AuthState};

/// A PDU's auth events, keyed by `(type, state_key)`: the state for the
/// authorisation check "based on the event's auth events".
///
/// From version 12 the create event is not cited but implied by the room
/// ID; it is included here all the same, since the rules consult it.
#[derive(Clone, Debug)]
pub struct AuthEvents {
    events: BTreeMap<(String, String), Pdu>,
}

impl AuthEvents {
    /// Fetches the events `pdu` cites through `lookup` and applies the
    /// rules about them: rule 2 in versions 1–11, rule 3 in version 12.
    ///
    /// `lookup` must return only accepted events: an event that is unknown
    /// or was rejected fails rule 2.3 / 3.3. Then 2.1 / 3.1 no two events may
    /// share a `(type, state_key)`; 2.2 / 3.2 each must be one the
    /// [selection algorithm](super::auth_types_for_event) picks for `pdu`;
    /// 2.4 (versions 1–11) the create event must be among them; 2.5 / 3.5
    /// all must be in `pdu`'s room. In version 12 `lookup` is also asked
    /// for the create event named by the room ID, failing rule 2 if it has
    /// none.
    ///
    /// A create event is decided by rule 1 alone, so for one this returns
    /// an empty set without looking at anything.
    pub fn from_cited(
        pdu: &Pdu,
        version: &RoomVersion,
        mut lookup: impl FnMut(&EventId) -> Option<Pdu>,
    ) -> Result<AuthEvents, AuthError> {
        let mut events = BTreeMap::new();
        if pdu.event_type() == "m.room.create" {
            return Ok(Self { events });
        }
        let cited = pdu
            .auth_events()
            .iter()
            .map(|id| lookup(id).ok_or_else(|| AuthError::UnknownAuthEvent(id.clone())))
            .collect::<Result<Vec<Pdu>, AuthError>>()?;

        let expected = auth_types_for_event(
            pdu.event_type(),
            pdu.state_key(),
            pdu.sender(),
            pdu.content(),
            version,
        );
        for event in &cited {
            let Some(state_key) = event.state_key() else {
                return Err(AuthError::UnexpectedAuthEvent(event.event_id().clone()));
            };
            let key = (event.event_type().to_owned(), state_key.to_owned());
            if events.contains_key(&key) {
                let (event_type, state_key) = key;
                return Err(AuthError::DuplicateAuthEvent {
                    event_type,
                    state_key,
                });
            }
            if !expected.contains(&key) {
                return Err(AuthError::UnexpectedAuthEvent(event.event_id().clone()));
            }
            events.insert(key, event.clone());
        }

        let create_key = ("m.room.create".to_owned(), String::new());
        if version.create_event_has_room_id() {
            if !events.contains_key(&create_key) {
                return Err(AuthError::MissingCreateEvent);
            }
        } else {
            let create = pdu
                .room_id()
                .create_event_id()
                .and_then(|id| lookup(&id))
                .filter(|create| create.event_type() == "m.room.create")
                .ok_or(AuthError::RoomIdNotFromCreateEvent)?;
            events.insert(create_key, create);
        }

        if let Some(foreign) = cited.iter().find(|event| event.room_id() != pdu.room_id()) {
            return Err(AuthError::AuthEventFromOtherRoom(
                foreign.event_id().clone(),
            ));
        }
        Ok(Self { events })
    }

    /// The events, in `(type, state_key)` order.
    pub fn iter(&self) -> impl Iterator<Item = &Pdu> {
        self.events.values()
    }
}

impl AuthState for AuthEvents {
    fn get(&self, event_type: &str, state_key: &str) -> Option<&Pdu> {
        // Lookups only happen for the handful of types the rules consult,
        // so the key allocation is immaterial.
        self.events
            .get(&(event_type.to_owned(), state_key.to_owned()))
    }
}
