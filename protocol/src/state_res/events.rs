//! Resolution by event ID: states as [`StateMap`]s and events read from an
//! [`EventSource`], numbered into an [`EventGraph`] for the algorithm.

use foldhash::{HashSet, HashSetExt};

use crate::identifiers::EventId;
use crate::pdu::Pdu;

use super::graph::{EventGraph, GraphEvent};
use super::{NumberedState, StateMap, StateResError};

/// The events state resolution may need: those in the state sets and
/// everything in their auth chains.
pub trait EventSource {
    /// The event with ID `id`, if it is known.
    fn event(&self, id: &EventId) -> Option<&Pdu>;

    /// Whether the event with ID `id` was rejected. The iterative auth
    /// checks do not fall back on rejected auth events.
    fn is_rejected(&self, id: &EventId) -> bool;
}

/// A `(type, state_key)` pair, borrowed from a state map or an event.
pub(super) type StrKey<'a> = (&'a str, &'a str);

/// `state_sets` and every event in their auth chains, numbered.
pub(super) fn number<'a>(
    state_sets: &'a [StateMap],
    events: &'a (impl EventSource + ?Sized),
) -> Result<(EventGraph<'a, StrKey<'a>>, Vec<NumberedState<StrKey<'a>>>), StateResError> {
    let mut seen: HashSet<&EventId> = HashSet::new();
    let mut pending: Vec<&EventId> = state_sets
        .iter()
        .flat_map(|set| set.values())
        .filter(|id| seen.insert(id))
        .collect();
    let mut found = Vec::new();
    while let Some(id) = pending.pop() {
        let pdu = events
            .event(id)
            .ok_or_else(|| StateResError::MissingEvent(id.clone()))?;
        pending.extend(pdu.auth_events().iter().filter(|id| seen.insert(id)));
        found.push(GraphEvent {
            pdu,
            key: (pdu.event_type(), pdu.state_key().unwrap_or_default()),
            rejected: events.is_rejected(id),
        });
    }
    // From room version 12 events name the create event by their room ID
    // instead of citing it; a state set without it still needs it.
    let room_create = found
        .first()
        .and_then(|event| event.pdu.room_id().create_event_id());
    if let Some(id) = room_create.filter(|id| !seen.contains(id)) {
        let pdu = events
            .event(&id)
            .ok_or_else(|| StateResError::MissingEvent(id.clone()))?;
        found.push(GraphEvent {
            pdu,
            key: (pdu.event_type(), pdu.state_key().unwrap_or_default()),
            rejected: events.is_rejected(&id),
        });
    }
    let graph = EventGraph::new(found)?;
    let sets = state_sets
        .iter()
        .map(|set| {
            set.iter()
                .map(|((event_type, state_key), id)| {
                    let index = graph.index(id).expect("numbered above");
                    ((event_type.as_str(), state_key.as_str()), index)
                })
                .collect()
        })
        .collect();
    Ok((graph, sets))
}
