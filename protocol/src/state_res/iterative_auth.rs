//! The iterative auth checks: replaying sorted events onto a state, each
//! kept only if the authorisation rules allow it there.

use std::collections::BTreeMap;

use crate::auth::{auth_types_for_event, authorize};
use crate::identifiers::EventId;
use crate::pdu::Pdu;
use crate::room_versions::RoomVersion;

use super::events::{fetch, EventSource};
#[cfg(test)]
use super::StateMap;
use super::{PartialState, StateResError};

/// Applies `sorted` to `state` in order: each event the rules allow
/// replaces the entry for its `(type, state_key)`; the others are skipped.
#[cfg(test)]
pub(super) fn apply(
    version: &RoomVersion,
    state: StateMap,
    sorted: &[EventId],
    events: &(impl EventSource + ?Sized),
) -> Result<StateMap, StateResError> {
    let mut partial = PartialState {
        base: None,
        changes: state,
    };
    apply_to(version, &mut partial, sorted, events)?;
    Ok(partial.changes)
}

/// [`apply`] on a [`PartialState`], whose base stays as it is.
pub(super) fn apply_to(
    version: &RoomVersion,
    state: &mut PartialState<'_>,
    sorted: &[EventId],
    events: &(impl EventSource + ?Sized),
) -> Result<(), StateResError> {
    for id in sorted {
        let pdu = fetch(events, id)?;
        // Only a state event has a place in the state; a message event
        // named by mistake in a state set changes nothing.
        let Some(state_key) = pdu.state_key() else {
            continue;
        };
        let auth_state = auth_state_for(pdu, version, state, events)?;
        if authorize(pdu, version, &auth_state).is_ok() {
            state.changes.insert(
                (pdu.event_type().to_owned(), state_key.to_owned()),
                id.clone(),
            );
        }
    }
    Ok(())
}

/// The state `pdu` is checked against: for each key the rules consult, the
/// event in `state`, or failing that the event `pdu` cites for it unless
/// that one was rejected. From version 12 the create event, which is not
/// cited, comes from the room ID when `state` lacks it, as when the checks
/// start from an empty state.
fn auth_state_for(
    pdu: &Pdu,
    version: &RoomVersion,
    state: &PartialState<'_>,
    events: &(impl EventSource + ?Sized),
) -> Result<BTreeMap<(String, String), Pdu>, StateResError> {
    let mut auth_state = BTreeMap::new();
    for id in pdu.auth_events() {
        if events.is_rejected(id) {
            continue;
        }
        let auth_event = fetch(events, id)?;
        if let Some(state_key) = auth_event.state_key() {
            let key = (auth_event.event_type().to_owned(), state_key.to_owned());
            auth_state.insert(key, auth_event.clone());
        }
    }
    if let Some(create_id) = pdu.room_id().create_event_id() {
        if !events.is_rejected(&create_id) {
            let create = fetch(events, &create_id)?;
            auth_state.insert(("m.room.create".to_owned(), String::new()), create.clone());
        }
    }
    let mut required = auth_types_for_event(
        pdu.event_type(),
        pdu.state_key(),
        pdu.sender(),
        pdu.content(),
        version,
    );
    required.push(("m.room.create".to_owned(), String::new()));
    for key in required {
        if let Some(id) = state.get(&key) {
            auth_state.insert(key, fetch(events, id)?.clone());
        }
    }
    Ok(auth_state)
}
