//! The reverse topological power ordering: the order in which the power
//! events are replayed, parents before children, and among the events whose
//! auth events are all placed, the most powerful sender first.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

use crate::power_levels::{room_creators, PowerLevels, UserPowerLevel};
use crate::room_versions::RoomVersion;

use super::graph::{EventGraph, EventIndex};
use super::StateResError;

/// Sorts `set` with Kahn's algorithm over the `auth_events` edges between
/// its members, taking the smallest ready event at each step by: greater
/// sender power level, then smaller `origin_server_ts`, then smaller event
/// ID.
///
/// Events on an `auth_events` cycle never become ready and are left out.
/// Hash-based event IDs make cycles impossible; with server-assigned ones
/// (room version 2) only a malicious server could build one.
pub(super) fn sort<K>(
    set: &BTreeSet<EventIndex>,
    version: &RoomVersion,
    graph: &EventGraph<'_, K>,
) -> Result<Vec<EventIndex>, StateResError> {
    let mut unplaced_auth_events: HashMap<EventIndex, usize> = HashMap::new();
    let mut cited_by: HashMap<EventIndex, Vec<EventIndex>> = HashMap::new();
    let mut keys = HashMap::new();
    for &id in set {
        let pdu = graph.pdu(id);
        // A set of auth events, since nothing stops an event citing one
        // twice and each must only be counted once.
        let auth_in_set: BTreeSet<EventIndex> = graph
            .auth_events(id)
            .iter()
            .copied()
            .filter(|auth_id| set.contains(auth_id))
            .collect();
        for &auth_id in &auth_in_set {
            cited_by.entry(auth_id).or_default().push(id);
        }
        unplaced_auth_events.insert(id, auth_in_set.len());
        let key = (
            Reverse(sender_power_level(id, version, graph)?),
            pdu.origin_server_ts(),
            pdu.event_id(),
            id,
        );
        keys.insert(id, key);
    }

    let mut ready: BinaryHeap<Reverse<_>> = unplaced_auth_events
        .iter()
        .filter(|(_, &count)| count == 0)
        .map(|(id, _)| Reverse(keys[id]))
        .collect();
    let mut sorted = Vec::with_capacity(set.len());
    while let Some(Reverse((_, _, _, id))) = ready.pop() {
        sorted.push(id);
        for child in cited_by.get(&id).into_iter().flatten() {
            let count = unplaced_auth_events
                .get_mut(child)
                .expect("every citing event is in the set");
            *count -= 1;
            if *count == 0 {
                ready.push(Reverse(keys[child]));
            }
        }
    }
    Ok(sorted)
}

/// The power level of the sender of the event `id` under the power levels
/// it cites, or the initial levels of the room if it cites none (or ones
/// that cannot be read, which no accepted event does).
pub(super) fn sender_power_level<K>(
    id: EventIndex,
    version: &RoomVersion,
    graph: &EventGraph<'_, K>,
) -> Result<UserPowerLevel, StateResError> {
    let mut power_levels = None;
    let mut create = None;
    for &auth_id in graph.auth_events(id) {
        let auth_event = graph.pdu(auth_id);
        match (auth_event.event_type(), auth_event.state_key()) {
            ("m.room.power_levels", Some("")) => power_levels = Some(auth_event),
            ("m.room.create", Some("")) => create = Some(auth_event),
            _ => {}
        }
    }
    // From version 12 the create event is named by the room ID instead.
    if let Some(room_create) = graph.room_create(id)? {
        create = Some(graph.pdu(room_create));
    }
    let creators = create
        .map(|create| room_creators(create, version))
        .unwrap_or_default();
    let levels = power_levels
        .and_then(|event| PowerLevels::from_content(event.content(), version).ok())
        .unwrap_or_else(|| PowerLevels::initial(&creators, version));
    let pdu = graph.pdu(id);
    Ok(levels.user_level(pdu.sender(), &creators))
}
