//! The iterative auth checks: replaying sorted events onto a state, each
//! kept only if the authorisation rules allow it there.

use crate::auth::{auth_types_for_event, authorize, AuthState};
use crate::pdu::Pdu;
use crate::room_versions::RoomVersion;

use super::graph::{EventGraph, EventIndex};
#[cfg(test)]
use super::NumberedState;
use super::{PartialState, StateResError};

/// Applies `sorted` to `state` in order: each event the rules allow
/// replaces the entry for its `(type, state_key)`; the others are skipped.
#[cfg(test)]
pub(super) fn apply<K: Ord + Copy>(
    version: &RoomVersion,
    state: NumberedState<K>,
    sorted: &[EventIndex],
    graph: &EventGraph<'_, K>,
) -> Result<NumberedState<K>, StateResError> {
    let mut partial = PartialState {
        base: None,
        changes: state,
    };
    apply_to(version, &mut partial, sorted, graph)?;
    Ok(partial.changes)
}

/// [`apply`] on a [`PartialState`], whose base stays as it is.
pub(super) fn apply_to<K: Ord + Copy>(
    version: &RoomVersion,
    state: &mut PartialState<'_, K>,
    sorted: &[EventIndex],
    graph: &EventGraph<'_, K>,
) -> Result<(), StateResError> {
    for &id in sorted {
        let pdu = graph.pdu(id);
        // Only a state event has a place in the state; a message event
        // named by mistake in a state set changes nothing.
        if pdu.state_key().is_none() {
            continue;
        }
        let auth_state = auth_state_for(id, version, state, graph)?;
        if authorize(pdu, version, &auth_state).is_ok() {
            state.changes.insert(graph.key_of(id), id);
        }
    }
    Ok(())
}

/// The few events an event is checked against, by `(type, state_key)`.
struct CheckedAgainst<'a> {
    entries: Vec<(&'a str, &'a str, &'a Pdu)>,
}

impl<'a> CheckedAgainst<'a> {
    /// Puts `pdu` in the place of its `(type, state_key)`.
    fn set(&mut self, pdu: &'a Pdu) {
        let Some(state_key) = pdu.state_key() else {
            return;
        };
        let event_type = pdu.event_type();
        match self
            .entries
            .iter_mut()
            .find(|(t, s, _)| *t == event_type && *s == state_key)
        {
            Some(entry) => entry.2 = pdu,
            None => self.entries.push((event_type, state_key, pdu)),
        }
    }
}

impl AuthState for CheckedAgainst<'_> {
    fn get(&self, event_type: &str, state_key: &str) -> Option<&Pdu> {
        self.entries
            .iter()
            .find(|(t, s, _)| *t == event_type && *s == state_key)
            .map(|(_, _, pdu)| *pdu)
    }
}

/// The state the event `id` is checked against: for each key the rules
/// consult, the event in `state`, or failing that the event it cites for
/// it unless that one was rejected. From version 12 the create event,
/// which is not cited, comes from the room ID when `state` lacks it, as
/// when the checks start from an empty state.
fn auth_state_for<'a, K: Ord + Copy>(
    id: EventIndex,
    version: &RoomVersion,
    state: &PartialState<'_, K>,
    graph: &EventGraph<'a, K>,
) -> Result<CheckedAgainst<'a>, StateResError> {
    let pdu = graph.pdu(id);
    let mut auth_state = CheckedAgainst {
        entries: Vec::with_capacity(8),
    };
    for &auth_id in graph.auth_events(id) {
        if !graph.is_rejected(auth_id) {
            auth_state.set(graph.pdu(auth_id));
        }
    }
    if let Some(create) = graph.room_create(id)? {
        if !graph.is_rejected(create) {
            auth_state.set(graph.pdu(create));
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
    for (event_type, state_key) in &required {
        let in_state = graph
            .key(event_type, state_key)
            .and_then(|key| state.get(&key));
        if let Some(in_state) = in_state {
            auth_state.set(graph.pdu(in_state));
        }
    }
    Ok(auth_state)
}
